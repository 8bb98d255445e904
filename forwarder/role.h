/* Whether this node is the LiteFS primary, read from the mount on every call. */
#ifndef FWD_ROLE_H
#define FWD_ROLE_H

#include <stddef.h>

enum fwd_role {
	FWD_ROLE_PRIMARY,   /* the mount is a directory without .primary */
	FWD_ROLE_REPLICA,   /* .primary exists; primary holds the hostname it names */
	FWD_ROLE_NO_MOUNT,  /* the mount is missing or not a directory */
};

/* Longest hostname kept from .primary (a DNS name is at most 253 bytes). */
#define FWD_ROLE_HOSTNAME_MAX 255

struct fwd_role_info {
	enum fwd_role role;
	char primary[FWD_ROLE_HOSTNAME_MAX + 1]; /* REPLICA: NUL-terminated, trimmed */
};

/* Looks at mount: a stat of the directory, then an open of <mount>/.primary (two LiteFS
 * round trips). Returns 0 with info filled, or a negative errno when the answer cannot be
 * known (e.g. -EIO reading .primary, -ENAMETOOLONG for the path). */
int fwd_role_check(const char *mount, struct fwd_role_info *info);

#endif
