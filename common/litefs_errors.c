/* LiteFS's refusals as SQLite reports them (see litefs_errors.h). */
#include "litefs_errors.h"

#include <errno.h>
#include <sqlite3.h>

bool litefs_write_refused(int xrc, int sys_errno)
{
	int prim = xrc & 0xff;

	return (prim == SQLITE_READONLY || prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN) &&
	       (sys_errno == EACCES || sys_errno == EPERM || sys_errno == EROFS);
}
