/* Database names of requests: a name is joined to the mount path, so anything that could
 * leave the mount directory or cut the path short is refused before any file is touched. */
#include "dbname.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static const char *const dbname_side[] = { "-journal", "-wal", "-shm", "-pos" };

int fwd_dbname_check(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX)
		return -EINVAL;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	/* ".", "..", and LiteFS's own files (.primary, .lag): a database is never hidden */
	if (name[0] == '.')
		return -EINVAL;
	/* SQLite's and LiteFS's files beside a database are not databases */
	for (size_t i = 0; i < sizeof(dbname_side) / sizeof(dbname_side[0]); i++) {
		size_t k = strlen(dbname_side[i]);

		if (len > k && !memcmp(name + len - k, dbname_side[i], k))
			return -EINVAL;
	}
	return 0;
}
