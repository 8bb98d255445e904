/* The cached role of this node (see role.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "role.h"

static pthread_mutex_t role_mu = PTHREAD_MUTEX_INITIALIZER;
static struct role_view role_cached;
static int64_t role_read_at_ms = INT64_MIN;

static int64_t role_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads <mount>/.primary into v. Returns 0 or -errno (-ENOENT: this node is the primary, or
 * has none). */
static int role_read(struct role_view *v)
{
	char path[PATH_MAX + 16], buf[256];
	ssize_t n;
	size_t len;
	int fd, rc;

	memset(v, 0, sizeof(*v));
	snprintf(path, sizeof(path), "%s/.primary", fwd_config.mount);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc)
		return rc;
	len = (size_t)n < sizeof(buf) - 1 ? (size_t)n : sizeof(buf) - 1;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (len == 0)
		return -ENOENT;
	snprintf(v->primary, sizeof(v->primary), "%s", buf);
	rc = config_endpoint_for(v->primary, v->endpoint, sizeof(v->endpoint));
	if (rc)
		return rc;
	v->replica = true;
	return 0;
}

int role_get(struct role_view *out, bool fresh)
{
	int64_t now = role_now_ms();
	int saved = errno, rc = 0;

	pthread_mutex_lock(&role_mu);
	if (fresh || role_read_at_ms == INT64_MIN ||
	    now - role_read_at_ms >= fwd_config.cache_ttl_ms) {
		struct role_view v;

		rc = role_read(&v);
		if (rc == -ENOENT)
			rc = 0;
		if (v.replica != role_cached.replica || strcmp(v.primary, role_cached.primary))
			log_info("role: %s%s", v.replica ? "replica of " : "primary (or none known)",
				 v.primary);
		role_cached = v;
		role_read_at_ms = now;
	}
	*out = role_cached;
	pthread_mutex_unlock(&role_mu);
	errno = saved;
	return rc;
}
