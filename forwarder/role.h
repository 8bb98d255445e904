/* Whether this node is the LiteFS primary: read from the mount, and remembered for a while
 * by a cache the workers share. */
#ifndef FWD_ROLE_H
#define FWD_ROLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fwd_role {
	FWD_ROLE_PRIMARY,   /* the mount is a directory without .primary */
	FWD_ROLE_REPLICA,   /* .primary exists; primary holds the hostname it names */
	FWD_ROLE_NO_MOUNT,  /* the mount is missing or not a directory */
};

/* Longest hostname kept from .primary (a DNS name is at most 253 bytes). */
#define FWD_ROLE_HOSTNAME_MAX 255

struct fwd_role_info {
	enum fwd_role role;
	char primary[FWD_ROLE_HOSTNAME_MAX + 1]; /* REPLICA: NUL-terminated, trimmed; empty
						  * when no primary is known */
};

/* Looks at mount: a stat of the directory, then an open of <mount>/.primary (two LiteFS
 * round trips). Returns 0 with info filled, or a negative errno when the answer cannot be
 * known (e.g. -EIO reading .primary, -ENAMETOOLONG for the path). */
int fwd_role_check(const char *mount, struct fwd_role_info *info);

/* The last answer of fwd_role_check(), trusted for ttl_ms. Callers decide when an answer
 * must be fresh: the cache only saves the file system round trips of the common case. */
struct fwd_role_cache {
	pthread_mutex_t lock;
	const char *mount;        /* not owned */
	int ttl_ms;
	bool valid;
	int64_t read_ms;          /* CLOCK_MONOTONIC of the last read */
	struct fwd_role_info info;
	char info_url[512];       /* LiteFS's GET /info, "" when not asked */
};

/* Prepares c for mount (which must outlive it); ttl_ms 0 reads the mount on every call.
 * With info_url (LiteFS's /info; NULL or "" for none), a mount without .primary is a
 * primary only if LiteFS says so: otherwise it is a replica that has no primary (REPLICA
 * with an empty hostname). So is a node whose LiteFS does not answer: its mount may be
 * a bare directory without LiteFS on it, where nothing must be written. */
void fwd_role_cache_init(struct fwd_role_cache *c, const char *mount, int ttl_ms,
			 const char *info_url);
void fwd_role_cache_destroy(struct fwd_role_cache *c);

/* Copies the role into info: the cached one, unless fresh is set or it is older than the
 * TTL, in which case the mount is read again (outside the lock) and the cache updated.
 * Returns 0, or the negative errno of fwd_role_check() (the cache then forgets). */
int fwd_role_get(struct fwd_role_cache *c, bool fresh, struct fwd_role_info *info);

#endif
