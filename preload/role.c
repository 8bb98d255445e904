/* The role view of this node (see role.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "litefs_files.h"
#include "log.h"
#include "role.h"

/* Hostnames whose tracking-table entry is remembered: a cluster has a handful of
 * candidates. */
#define ROLE_TRACKED 8

struct role_tracked {
	char hostname[256];
	char endpoint[512];
	int64_t term;
};

static pthread_mutex_t role_mu = PTHREAD_MUTEX_INITIALIZER;
static struct role_view role_cached;       /* the view; its endpoint resolved */
static int64_t role_taken_ns = INT64_MIN;  /* when its newest observation was taken */
static int64_t role_read_ns = INT64_MIN;   /* when .primary was last read */
static bool role_said_primary;             /* the last observation said primary (for the
					    * log: the view runs writes here either way) */
static bool role_live;                     /* the event stream keeps the view current */
static struct role_tracked role_tracking[ROLE_TRACKED];
static unsigned role_tracking_next;        /* the entry replaced next when all are used */

int64_t role_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void role_lock(void)
{
	pthread_mutex_lock(&role_mu);
}

void role_unlock(void)
{
	pthread_mutex_unlock(&role_mu);
}

/* Reads .primary into host (size bytes): the hostname it names, or "" when there is no
 * such file (this node is the primary, or a replica that has no primary). Returns 0 or
 * -errno. */
static int role_read_file(char *host, size_t size)
{
	int rc = litefs_primary_read(fwd_config.primary_file, host, size);

	return rc == -ENOENT ? 0 : rc;
}

/* Sets v's endpoint, and whether it is a replica, for v->primary ("" when no primary is
 * named): map, then tracking table, then template. A primary named with no endpoint to be
 * had (a hostname too long for the template) leaves v a replica of nobody, with no
 * endpoint: writes then run here, where LiteFS refuses them. Role lock held. */
static void role_resolve_locked(struct role_view *v)
{
	unsigned i;

	v->endpoint[0] = '\0';
	v->source = ROLE_EP_NONE;
	v->replica = false;
	if (!v->primary[0])
		return;
	v->replica = true;
	if (!config_endpoint_mapped(v->primary, v->endpoint, sizeof(v->endpoint))) {
		v->source = ROLE_EP_MAP;
		return;
	}
	for (i = 0; i < ROLE_TRACKED; i++)
		if (role_tracking[i].hostname[0] && !strcmp(role_tracking[i].hostname, v->primary)) {
			snprintf(v->endpoint, sizeof(v->endpoint), "%s", role_tracking[i].endpoint);
			v->source = ROLE_EP_TRACKING;
			return;
		}
	if (!config_endpoint_template(v->primary, v->endpoint, sizeof(v->endpoint))) {
		v->source = ROLE_EP_TEMPLATE;
		return;
	}
	log_warn("role: no endpoint for primary %s", v->primary);
	v->endpoint[0] = '\0';
	v->replica = false;
}

/* Applies an observation with the role lock held; see role_observe(). */
static bool role_observe_locked(enum role_source src, int64_t taken_ns, bool is_primary,
				const char *hostname)
{
	bool replica = !is_primary && hostname && hostname[0];
	struct role_view v;

	if (taken_ns < role_taken_ns)
		return false;
	role_taken_ns = taken_ns;
	/* the view is keyed by the primary named ("" for none) */
	if (!strcmp(replica ? hostname : "", role_cached.primary)) {
		if (!replica && src == ROLE_SRC_EVENTS && is_primary != role_said_primary)
			log_info("role (event stream): %s",
				 is_primary ? "primary" : "replica with no primary");
		role_said_primary = is_primary;
		return false;
	}
	role_said_primary = is_primary;
	memset(&v, 0, sizeof(v));
	if (replica)
		snprintf(v.primary, sizeof(v.primary), "%s", hostname);
	v.generation = role_cached.generation + 1;
	role_resolve_locked(&v);
	role_cached = v;
	log_info("role (%s): %s%s%s%s", src == ROLE_SRC_EVENTS ? "event stream" : ".primary",
		 replica ? "replica of " : src == ROLE_SRC_FILE ? "primary, or no primary known" :
		 is_primary ? "primary" : "replica with no primary",
		 v.primary, v.endpoint[0] ? " at " : "", v.endpoint);
	return true;
}

bool role_observe(enum role_source src, int64_t taken_ns, bool is_primary, const char *hostname)
{
	bool changed;

	pthread_mutex_lock(&role_mu);
	changed = role_observe_locked(src, taken_ns, is_primary, hostname);
	pthread_mutex_unlock(&role_mu);
	return changed;
}

void role_set_stream_live(bool live)
{
	pthread_mutex_lock(&role_mu);
	role_live = live;
	pthread_mutex_unlock(&role_mu);
}

int role_get(struct role_view *out, bool fresh)
{
	int saved = errno, rc = 0;
	int64_t now = role_now_ns();
	bool stale;

	pthread_mutex_lock(&role_mu);
	/* No observation yet: read, even while another thread's first read is under way
	 * (the view would be the empty one, which runs writes here). */
	stale = role_taken_ns == INT64_MIN || role_read_ns == INT64_MIN ||
		(!role_live && now - role_read_ns >= (int64_t)fwd_config.cache_ttl_ms * 1000000);
	if (fresh || stale) {
		char host[256];

		/* read outside the lock; the observation is dated before the read began */
		role_read_ns = now;
		pthread_mutex_unlock(&role_mu);
		rc = role_read_file(host, sizeof(host));
		pthread_mutex_lock(&role_mu);
		if (rc == 0) {
			/* No .primary: the primary, or a replica that lost its primary. Both
			 * run writes here, where LiteFS refuses them on a replica. */
			role_observe_locked(ROLE_SRC_FILE, now, host[0] == '\0', host);
		} else {
			log_warn("role: cannot read %s: %s", fwd_config.primary_file,
				 strerror(-rc));
		}
	}
	*out = role_cached;
	pthread_mutex_unlock(&role_mu);
	errno = saved;
	return rc;
}

int role_endpoint_for(const char *host, char *buf, size_t len)
{
	struct role_view v;

	memset(&v, 0, sizeof(v));
	snprintf(v.primary, sizeof(v.primary), "%s", host);
	pthread_mutex_lock(&role_mu);
	role_resolve_locked(&v);
	pthread_mutex_unlock(&role_mu);
	if (!v.replica)
		return -ENOENT;
	if (strlen(v.endpoint) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, v.endpoint, strlen(v.endpoint) + 1);
	return 0;
}

bool role_note_tracking(const char *hostname, const char *endpoint, int64_t term)
{
	struct role_tracked *t = NULL;
	bool changed = false;
	unsigned i;

	if (!hostname[0] || !endpoint[0] || strlen(hostname) >= sizeof(t->hostname) ||
	    strlen(endpoint) >= sizeof(t->endpoint))
		return false;
	pthread_mutex_lock(&role_mu);
	for (i = 0; i < ROLE_TRACKED && !t; i++)
		if (!strcmp(role_tracking[i].hostname, hostname))
			t = &role_tracking[i];
	if (t && term < t->term)
		goto out; /* older than what is known: a database that has not caught up */
	if (!t) {
		for (i = 0; i < ROLE_TRACKED && !t; i++)
			if (!role_tracking[i].hostname[0])
				t = &role_tracking[i];
		if (!t)
			t = &role_tracking[role_tracking_next++ % ROLE_TRACKED];
		snprintf(t->hostname, sizeof(t->hostname), "%s", hostname);
	}
	t->term = term;
	if (strcmp(t->endpoint, endpoint)) {
		snprintf(t->endpoint, sizeof(t->endpoint), "%s", endpoint);
		if (role_cached.primary[0] && !strcmp(role_cached.primary, hostname)) {
			char before[512];

			snprintf(before, sizeof(before), "%s", role_cached.endpoint);
			role_resolve_locked(&role_cached);
			changed = strcmp(before, role_cached.endpoint) != 0;
			if (changed)
				log_info("role: primary %s at %s (tracking table, term %lld)",
					 hostname, role_cached.endpoint, (long long)term);
		}
	}
out:
	pthread_mutex_unlock(&role_mu);
	return changed;
}
