/* The role of this node. LiteFS shows the primary's hostname in <mount>/.primary on
 * replicas and no such file on the primary. A replica that lost its primary has no
 * .primary either: LiteFS's HTTP API (/info) tells them apart, when it is configured. */
#include "role.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "litefs_files.h"
#include "litefs_info.h"
#include "log.h"
#include "metrics.h"

/* How long a question to LiteFS's HTTP API may take. */
#define ROLE_INFO_TIMEOUT_MS 1000

/* Sets info->role from <mount>/.primary: REPLICA with the file's content, trimmed of
 * surrounding white space, in info->primary when it exists, PRIMARY when it does not.
 * Returns 0 or a negative errno. */
static int role_read_primary(const char *mount, struct fwd_role_info *info)
{
	char path[PATH_MAX];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/.primary", mount) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = litefs_primary_read(path, info->primary, sizeof(info->primary));
	if (rc == -ENOENT) {
		info->role = FWD_ROLE_PRIMARY;
		return 0;
	}
	if (rc)
		return rc;
	info->role = FWD_ROLE_REPLICA;
	return 0;
}

int fwd_role_check(const char *mount, struct fwd_role_info *info)
{
	struct stat st;

	memset(info, 0, sizeof(*info));
	if (stat(mount, &st) || !S_ISDIR(st.st_mode)) {
		info->role = FWD_ROLE_NO_MOUNT;
		return 0;
	}
	return role_read_primary(mount, info);
}

static int64_t role_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fwd_role_cache_init(struct fwd_role_cache *c, const char *mount, int ttl_ms,
			 const char *info_url)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->mount = mount;
	c->ttl_ms = ttl_ms;
	if (info_url)
		snprintf(c->info_url, sizeof(c->info_url), "%s", info_url);
}

/* A mount without .primary: asks LiteFS whether this node is the primary indeed. */
static void role_confirm_primary(const struct fwd_role_cache *c, struct fwd_role_info *info)
{
	bool primary = true;
	int rc;

	if (!c->info_url[0] || info->role != FWD_ROLE_PRIMARY)
		return;
	rc = fwd_litefs_is_primary(c->info_url, ROLE_INFO_TIMEOUT_MS, &primary);
	if (rc)
		fwd_log_warn("cannot ask LiteFS at %s whether this node is the primary (%s); "
			     "nothing runs here meanwhile", c->info_url, strerror(-rc));
	if (rc || !primary) {
		info->role = FWD_ROLE_REPLICA;
		info->primary[0] = '\0';
	}
}

void fwd_role_cache_destroy(struct fwd_role_cache *c)
{
	pthread_mutex_destroy(&c->lock);
}

int fwd_role_get(struct fwd_role_cache *c, bool fresh, struct fwd_role_info *info)
{
	int64_t now = role_now_ms();
	int rc;

	if (!fresh && c->ttl_ms > 0) {
		pthread_mutex_lock(&c->lock);
		if (c->valid && now - c->read_ms < c->ttl_ms) {
			*info = c->info;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		pthread_mutex_unlock(&c->lock);
	}
	rc = fwd_role_check(c->mount, info);
	if (!rc)
		role_confirm_primary(c, info);
	pthread_mutex_lock(&c->lock);
	/* A slower reader must not put back an answer older than the one cached. */
	if (rc) {
		c->valid = false;
		fwd_metrics_set_role(&fwd_metrics_process, rc, info);
	} else if (!c->valid || now >= c->read_ms) {
		c->info = *info;
		c->read_ms = now;
		c->valid = true;
		fwd_metrics_set_role(&fwd_metrics_process, 0, info);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
