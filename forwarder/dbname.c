/* Database names of requests: a name is joined to the mount path, so anything that could
 * leave the mount directory or cut the path short is refused before any file is touched. */
#include "dbname.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

int fwd_dbname_check(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX)
		return -EINVAL;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	return 0;
}
