/* Which database names a request may carry. */
#ifndef FWD_DBNAME_H
#define FWD_DBNAME_H

#include <stddef.h>

/* Checks that name[0..len) (not NUL-terminated, may hold anything) is a plain file name
 * directly inside the mount: not empty, no '/' and no NUL, at most NAME_MAX bytes, not
 * beginning with '.' (".", "..", LiteFS's .primary), not ending like the files beside a
 * database (-journal, -wal, -shm, -pos). Touches no file system. Returns 0 or -EINVAL. */
int fwd_dbname_check(const char *name, size_t len);

#endif
