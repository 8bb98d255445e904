/* What LiteFS's refusals look like once SQLite has made errors of them. */
#ifndef LITEFS_ERRORS_H
#define LITEFS_ERRORS_H

#include <stdbool.h>

/* Whether a failed write, with SQLite's extended code xrc and the system errno behind it
 * (sqlite3_system_errno), is LiteFS turning it away: EACCES on the journal (rollback mode:
 * SQLITE_READONLY_DIRECTORY) or on the WAL (SQLITE_IOERR_WRITE), which is how a replica,
 * or a primary being demoted, refuses writes. A database the program opened read-only
 * fails with SQLITE_READONLY and no errno: not a refusal. */
bool litefs_write_refused(int xrc, int sys_errno);

#endif
