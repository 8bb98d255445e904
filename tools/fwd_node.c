/* This node's view (see fwd_node.h). */
#include "fwd_node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "endpoint.h"
#include "litefs_files.h"

/* How long a database's lock may keep the tracking table from being read. */
#define NODE_TRACKING_BUSY_MS 1000

static const char *node_getenv(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void fwd_node_env_load(struct fwd_node_env *e)
{
	const char *mount = node_getenv("LITEFS_FWD_MOUNT");
	const char *pf = node_getenv("LITEFS_FWD_PRIMARY_FILE");
	const char *url = getenv("LITEFS_FWD_EVENTS_URL");
	const char *table = getenv("LITEFS_FWD_TABLE");
	const char *tmpl = node_getenv("LITEFS_FWD_ENDPOINT");
	const char *host = node_getenv("LITEFS_FWD_HOSTNAME");
	struct stat st;

	memset(e, 0, sizeof(*e));
	if (!mount)
		mount = "/litefs";
	if (!realpath(mount, e->mount))
		snprintf(e->mount, sizeof(e->mount), "%s", mount);
	e->litefs = stat(e->mount, &st) == 0 && S_ISDIR(st.st_mode);
	if (pf)
		snprintf(e->primary_file, sizeof(e->primary_file), "%s", pf);
	else
		snprintf(e->primary_file, sizeof(e->primary_file), "%s/.primary", e->mount);
	/* set but empty: the stream is not followed */
	snprintf(e->events_url, sizeof(e->events_url), "%s",
		 url ? url : "http://localhost:20202/events");
	if (!table)
		table = "_litefs_fwd_primary";
	if (!*table || sqlname_is_plain(table)) {
		snprintf(e->table, sizeof(e->table), "%s", table);
	} else {
		e->table_invalid = true;
		snprintf(e->table, sizeof(e->table), "_litefs_fwd_primary");
	}
	snprintf(e->endpoint_template, sizeof(e->endpoint_template), "%s",
		 tmpl ? tmpl : ENDPOINT_DEFAULT_TEMPLATE);
	e->endpoints = node_getenv("LITEFS_FWD_ENDPOINTS");
	if (host)
		snprintf(e->hostname, sizeof(e->hostname), "%s", host);
	else if (gethostname(e->hostname, sizeof(e->hostname) - 1))
		snprintf(e->hostname, sizeof(e->hostname), "localhost");
	e->secret_file = node_getenv("LITEFS_FWD_SECRET_FILE");
	e->secret_env = node_getenv("LITEFS_FWD_SECRET") != NULL;
	e->key_rc = auth_key_load(&e->key, getenv("LITEFS_FWD_SECRET"), e->secret_file,
				  e->key_error, sizeof(e->key_error));
	if (e->key_rc)
		auth_key_clear(&e->key);
}

const char *fwd_node_role_name(enum fwd_node_role role)
{
	switch (role) {
	case FWD_NODE_ABSENT:
		return "absent";
	case FWD_NODE_PRIMARY:
		return "primary";
	case FWD_NODE_REPLICA:
		return "replica";
	case FWD_NODE_NO_PRIMARY:
		return "no-primary";
	case FWD_NODE_UNKNOWN:
		break;
	}
	return "unknown";
}

const char *fwd_node_source_name(enum fwd_node_source source)
{
	switch (source) {
	case FWD_NODE_EP_MAP:
		return "LITEFS_FWD_ENDPOINTS";
	case FWD_NODE_EP_TRACKING:
		return "tracking table";
	case FWD_NODE_EP_TEMPLATE:
		return "LITEFS_FWD_ENDPOINT";
	case FWD_NODE_EP_NONE:
		break;
	}
	return "none";
}


/* --- the event stream ------------------------------------------------------------------- */

struct node_stream {
	struct events_splitter split;
	struct fwd_node_events *ev;
	bool got;
};

static int node_on_line(const char *line, size_t len, int err, void *ctx)
{
	struct node_stream *s = ctx;
	struct events_event e;
	int rc;

	if (err) {
		s->ev->rc = err;
		snprintf(s->ev->error, sizeof(s->ev->error), "its first line is too long for an "
			 "event");
		return 1;
	}
	rc = events_parse_line(line, len, &e);
	if (rc) {
		s->ev->rc = rc;
		snprintf(s->ev->error, sizeof(s->ev->error), "its first line is not an event");
		return 1;
	}
	if (e.type != EVENTS_INIT) {
		s->ev->rc = -EPROTO;
		snprintf(s->ev->error, sizeof(s->ev->error), "its first event is not init");
		return 1;
	}
	s->ev->rc = 0;
	s->ev->is_primary = e.is_primary;
	s->ev->has_hostname = e.has_hostname;
	snprintf(s->ev->hostname, sizeof(s->ev->hostname), "%s", e.hostname);
	s->got = true;
	return 1; /* enough: stop the transfer */
}

static size_t node_on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct node_stream *s = userdata;
	size_t n = size * nmemb;

	if (events_splitter_feed(&s->split, ptr, n, node_on_line, s))
		return 0; /* the first event was read (or was not one): stop here */
	return n;
}

/* Subscribes to url and reads its first event, within timeout_ms, into ev. */
static void node_read_events(const char *url, int timeout_ms, struct fwd_node_events *ev)
{
	struct node_stream *s = calloc(1, sizeof(*s));
	struct timespec t0, t1;
	long status = 0;
	CURLcode cc;
	CURL *h;

	ev->rc = -EHOSTUNREACH;
	if (!s || curl_global_init(CURL_GLOBAL_DEFAULT)) {
		ev->rc = -ENOMEM;
		snprintf(ev->error, sizeof(ev->error), "out of memory");
		free(s);
		return;
	}
	events_splitter_init(&s->split);
	s->ev = ev;
	h = curl_easy_init();
	if (!h) {
		ev->rc = -ENOMEM;
		snprintf(ev->error, sizeof(ev->error), "out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, node_on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cc = curl_easy_perform(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ev->ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (s->got || (cc == CURLE_WRITE_ERROR && ev->rc != -EHOSTUNREACH))
		goto out_easy; /* stopped by us: ev says what came */
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_HTTP_RETURNED_ERROR) {
		ev->rc = -EPROTO;
		snprintf(ev->error, sizeof(ev->error), "HTTP status %ld", status);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		ev->rc = -ETIMEDOUT;
		snprintf(ev->error, sizeof(ev->error), "no event within %d ms", timeout_ms);
	} else if (cc == CURLE_OK) {
		ev->rc = -EPROTO;
		snprintf(ev->error, sizeof(ev->error), "the stream ended without an event");
	} else {
		ev->rc = -EHOSTUNREACH;
		snprintf(ev->error, sizeof(ev->error), "%s", curl_easy_strerror(cc));
	}
out_easy:
	curl_easy_cleanup(h);
out:
	curl_global_cleanup();
	free(s);
}

/* --- the tracking table ----------------------------------------------------------------- */

/* Reads the row of table in the database path into t. */
static void node_read_tracking(const char *path, const char *table, struct fwd_node_tracked *t)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	char sql[160];

	t->rc = -EIO;
	snprintf(sql, sizeof(sql), "SELECT hostname, endpoint, term FROM %s WHERE id = 1", table);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, NODE_TRACKING_BUSY_MS);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		/* no such table: the primary's forwarder has not recorded itself here */
		if (strstr(sqlite3_errmsg(db), "no such table"))
			t->rc = -ENOENT;
		goto out;
	}
	switch (sqlite3_step(st)) {
	case SQLITE_ROW: {
		const char *h = (const char *)sqlite3_column_text(st, 0);
		const char *e = (const char *)sqlite3_column_text(st, 1);

		if (!h || !e)
			break;
		snprintf(t->hostname, sizeof(t->hostname), "%s", h);
		snprintf(t->endpoint, sizeof(t->endpoint), "%s", e);
		t->term = sqlite3_column_int64(st, 2);
		t->rc = 0;
		break;
	}
	case SQLITE_DONE:
		t->rc = -ENOENT;
		break;
	default:
		break;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int fwd_node_endpoint_for(const struct fwd_node *n, const char *host, char *buf, size_t len,
			  enum fwd_node_source *source, int64_t *term)
{
	const struct fwd_node_tracked *best = NULL;

	*source = FWD_NODE_EP_NONE;
	*term = 0;
	if (!host[0])
		return -ENOENT;
	if (!endpoint_mapped(n->env.endpoints, host, buf, len)) {
		*source = FWD_NODE_EP_MAP;
		return 0;
	}
	for (size_t i = 0; n->tracked && i < n->ndbs; i++) {
		const struct fwd_node_tracked *t = &n->tracked[i];

		if (!t->rc && !strcmp(t->hostname, host) && t->endpoint[0] &&
		    (!best || t->term > best->term))
			best = t;
	}
	if (best && strlen(best->endpoint) < len) {
		memcpy(buf, best->endpoint, strlen(best->endpoint) + 1);
		*source = FWD_NODE_EP_TRACKING;
		*term = best->term;
		return 0;
	}
	if (!endpoint_from_template(n->env.endpoint_template, host, buf, len)) {
		*source = FWD_NODE_EP_TEMPLATE;
		return 0;
	}
	return -ENOENT;
}

/* Decides n->role from .primary and the event stream, as the interposer and the forwarder
 * would: .primary naming a host makes a replica of it; without .primary, LiteFS's own
 * word (the init event) tells a primary from a replica that lost its primary; when the
 * stream is off the node counts as the primary, as it does for the interposer. */
static void node_decide_role(struct fwd_node *n)
{
	const struct fwd_node_events *ev = &n->events;
	bool stream = n->env.events_url[0] != '\0';

	if (!n->env.litefs) {
		n->role = FWD_NODE_ABSENT;
		snprintf(n->role_reason, sizeof(n->role_reason), "%s is not a directory",
			 n->env.mount);
		return;
	}
	if (n->primary_file_rc == 0 && n->primary_file_host[0]) {
		n->role = FWD_NODE_REPLICA;
		snprintf(n->primary, sizeof(n->primary), "%s", n->primary_file_host);
		snprintf(n->role_reason, sizeof(n->role_reason), "%s names %s",
			 n->env.primary_file, n->primary);
		return;
	}
	if (n->primary_file_rc && n->primary_file_rc != -ENOENT) {
		n->role = FWD_NODE_UNKNOWN;
		snprintf(n->role_reason, sizeof(n->role_reason), "cannot read %s: %s",
			 n->env.primary_file, strerror(-n->primary_file_rc));
		return;
	}
	if (!stream) {
		n->role = FWD_NODE_PRIMARY;
		snprintf(n->primary, sizeof(n->primary), "%s", n->env.hostname);
		snprintf(n->role_reason, sizeof(n->role_reason), "no %s, and no event stream to "
			 "tell a primary from a replica that lost its primary (LITEFS_FWD_EVENTS_URL "
			 "is empty)", n->env.primary_file);
		return;
	}
	if (ev->rc) {
		n->role = FWD_NODE_UNKNOWN;
		snprintf(n->role_reason, sizeof(n->role_reason), "no %s, and LiteFS's event "
			 "stream does not answer (%s): a primary or a replica that lost its primary",
			 n->env.primary_file, ev->error);
		return;
	}
	if (ev->is_primary) {
		n->role = FWD_NODE_PRIMARY;
		snprintf(n->primary, sizeof(n->primary), "%s", n->env.hostname);
		snprintf(n->role_reason, sizeof(n->role_reason), "no %s, and LiteFS's event "
			 "stream says primary", n->env.primary_file);
	} else if (ev->has_hostname) {
		/* .primary is absent a moment while a replica reconnects */
		n->role = FWD_NODE_REPLICA;
		snprintf(n->primary, sizeof(n->primary), "%s", ev->hostname);
		snprintf(n->role_reason, sizeof(n->role_reason), "no %s, but LiteFS's event "
			 "stream names %s", n->env.primary_file, ev->hostname);
	} else {
		n->role = FWD_NODE_NO_PRIMARY;
		snprintf(n->role_reason, sizeof(n->role_reason), "no %s, and LiteFS's event "
			 "stream says replica with no primary", n->env.primary_file);
	}
}

int fwd_node_inspect(struct fwd_node *n, int timeout_ms)
{
	char path[PATH_MAX + NAME_MAX + 2];

	n->primary_file_rc = litefs_primary_read(n->env.primary_file, n->primary_file_host,
						     sizeof(n->primary_file_host));
	/* where LiteFS is absent there is nobody to ask */
	n->events.rc = -ENOENT;
	snprintf(n->events.error, sizeof(n->events.error), "not asked: LiteFS is absent");
	if (n->env.litefs && n->env.events_url[0])
		node_read_events(n->env.events_url, timeout_ms, &n->events);
	if (n->env.litefs) {
		n->dbs_rc = litefs_dbs_list(n->env.mount, FWD_NODE_MAX_DBS, &n->dbs, &n->ndbs,
					    &n->dbs_truncated);
		if (n->dbs_rc == -ENOMEM)
			return -ENOMEM;
		n->lag_rc = litefs_lag_read(n->env.mount, &n->lag_ms);
	} else {
		n->dbs_rc = -ENOENT;
		n->lag_rc = -ENOENT;
	}
	if (n->env.table[0] && n->ndbs) {
		n->tracked = calloc(n->ndbs, sizeof(*n->tracked));
		if (!n->tracked)
			return -ENOMEM;
		for (size_t i = 0; i < n->ndbs; i++) {
			snprintf(n->tracked[i].db, sizeof(n->tracked[i].db), "%s", n->dbs[i].name);
			snprintf(path, sizeof(path), "%s/%s", n->env.mount, n->dbs[i].name);
			node_read_tracking(path, n->env.table, &n->tracked[i]);
		}
	}
	node_decide_role(n);
	if ((n->role == FWD_NODE_REPLICA || n->role == FWD_NODE_PRIMARY) &&
	    fwd_node_endpoint_for(n, n->primary, n->endpoint, sizeof(n->endpoint),
				  &n->endpoint_source, &n->endpoint_term))
		n->endpoint[0] = '\0';
	return 0;
}

void fwd_node_free(struct fwd_node *n)
{
	free(n->dbs);
	free(n->tracked);
	n->dbs = NULL;
	n->tracked = NULL;
	n->ndbs = 0;
	auth_key_clear(&n->env.key);
}

int fwd_node_parse_timeout(const char *arg, int *ms)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 1 || v > FWD_NODE_MAX_TIMEOUT_MS)
		return -EINVAL;
	*ms = (int)v;
	return 0;
}
