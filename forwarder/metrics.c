/* The registry of the forwarder's metrics and its text rendering (see metrics.h).
 *
 * Updates are relaxed atomic additions and stores: a figure needs no ordering with any
 * other, and a scrape reads each one once. Histograms keep per-bucket counts, made
 * cumulative when rendered. Latencies are kept in integer nanoseconds and rendered as
 * exact decimal seconds, so that no floating point (and no libm) is involved. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "batch.h"
#include "version.h"
#include "wire.h"

struct fwd_metrics fwd_metrics_process;

/* Whether the request the calling thread answers was answered from the record: set deep
 * in the request path (request.c, exec.c), read by the worker when it replies. */
static _Thread_local bool metrics_repeat;

static const char *const metrics_outcome_label[FWD_METRICS_NOUTCOMES] = {
	[FWD_METRICS_EXECUTED] = "executed",
	[FWD_METRICS_SQL_ERROR] = "sql_error",
	[FWD_METRICS_BUSY] = "busy",
	[FWD_METRICS_NOT_PRIMARY] = "not_primary",
	[FWD_METRICS_REPEAT] = "repeat",
	[FWD_METRICS_DESCRIBED] = "described",
	[FWD_METRICS_PING] = "ping",
	[FWD_METRICS_REFUSED] = "refused",
	[FWD_METRICS_PROTOCOL_ERROR] = "protocol_error",
	[FWD_METRICS_UNAUTHENTICATED] = "unauthenticated",
	[FWD_METRICS_STOPPING] = "stopping",
	[FWD_METRICS_NO_REPLY] = "no_reply",
	[FWD_METRICS_OTHER] = "other",
};

static const char *const metrics_role_label[FWD_METRICS_NROLES] = {
	[FWD_METRICS_ROLE_UNKNOWN] = "unknown",
	[FWD_METRICS_ROLE_PRIMARY] = "primary",
	[FWD_METRICS_ROLE_REPLICA] = "replica",
	[FWD_METRICS_ROLE_NO_PRIMARY] = "no_primary",
	[FWD_METRICS_ROLE_NO_MOUNT] = "no_mount",
};

static const char *const metrics_auth_label[FWD_AUTHN_NREASONS] = {
	[FWD_AUTHN_NO_TRAILER] = "unsealed",
	[FWD_AUTHN_BAD_MAC] = "bad_mac",
	[FWD_AUTHN_STALE] = "stale",
	[FWD_AUTHN_REPLAY] = "replay",
	[FWD_AUTHN_FLOOD] = "flood",
};

/* Bucket bounds: the value compared (nanoseconds, writes) and its le label, spelled as
 * Prometheus clients spell them. */
struct metrics_bound {
	uint64_t value;
	const char *le;
};

static const struct metrics_bound metrics_latency_bounds[FWD_METRICS_LATENCY_BUCKETS] = {
	{ 100000, "0.0001" },      { 250000, "0.00025" },    { 500000, "0.0005" },
	{ 1000000, "0.001" },      { 2500000, "0.0025" },    { 5000000, "0.005" },
	{ 10000000, "0.01" },      { 25000000, "0.025" },    { 50000000, "0.05" },
	{ 100000000, "0.1" },      { 250000000, "0.25" },    { 500000000, "0.5" },
	{ 1000000000, "1" },       { 2500000000, "2.5" },    { 5000000000, "5" },
	{ 10000000000, "10" },
};

static const struct metrics_bound metrics_batch_bounds[FWD_METRICS_BATCH_BUCKETS] = {
	{ 1, "1" }, { 2, "2" }, { 4, "4" }, { 8, "8" }, { 16, "16" }, { 32, "32" }, { 64, "64" },
};

_Static_assert(FWD_BATCH_MAX == 64, "the last bucket of litefs_fwd_batch_size is the "
	       "largest batch");
_Static_assert(FWD_METRICS_BATCH_BUCKETS <= FWD_METRICS_LATENCY_BUCKETS,
	       "struct fwd_metrics_histogram has room for the batch buckets");

static void metrics_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

void fwd_metrics_set_node(struct fwd_metrics *m, const struct fwd_metrics_node *n)
{
	metrics_copy(m->hostname, sizeof(m->hostname), n->hostname);
	metrics_copy(m->listen, sizeof(m->listen), n->listen);
	metrics_copy(m->mount, sizeof(m->mount), n->mount);
	metrics_copy(m->sqlite_version, sizeof(m->sqlite_version), n->sqlite_version);
	m->workers = n->workers;
	m->max_sessions = n->max_sessions;
	m->start_time_ms = n->start_time_ms;
}

static int64_t metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void metrics_add(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static uint64_t metrics_get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void fwd_metrics_request_begin(struct fwd_metrics *m, struct fwd_metrics_timer *t)
{
	metrics_repeat = false;
	__atomic_add_fetch(&m->in_flight, 1, __ATOMIC_RELAXED);
	t->start_ns = metrics_now_ns();
}

void fwd_metrics_count_request(struct fwd_metrics *m, enum fwd_metrics_outcome outcome,
			       size_t received, size_t sent)
{
	if ((unsigned)outcome >= FWD_METRICS_NOUTCOMES)
		outcome = FWD_METRICS_OTHER;
	metrics_add(&m->requests[outcome], 1);
	metrics_add(&m->received_bytes, received);
	if (sent)
		metrics_add(&m->sent_bytes, sent);
}

void fwd_metrics_request_end(struct fwd_metrics *m, const struct fwd_metrics_timer *t,
			     enum fwd_metrics_outcome outcome, size_t received, size_t sent)
{
	int64_t ns = metrics_now_ns() - t->start_ns;

	fwd_metrics_count_request(m, outcome, received, sent);
	fwd_metrics_observe_latency(m, ns > 0 ? (uint64_t)ns : 0);
	__atomic_sub_fetch(&m->in_flight, 1, __ATOMIC_RELAXED);
}

void fwd_metrics_note_repeat(void)
{
	metrics_repeat = true;
}

bool fwd_metrics_noted_repeat(void)
{
	return metrics_repeat;
}

enum fwd_metrics_outcome fwd_metrics_classify_reply(const void *msg, size_t len)
{
	uint8_t type;
	int32_t code;

	if (wire_peek_code(msg, len, &type, &code))
		return FWD_METRICS_OTHER;
	switch (type) {
	case WIRE_RESULT:
		if (code == SQLITE_DONE || code == SQLITE_ROW || code == SQLITE_OK)
			return FWD_METRICS_EXECUTED;
		return (code & 0xff) == SQLITE_BUSY ? FWD_METRICS_BUSY : FWD_METRICS_SQL_ERROR;
	case WIRE_NOT_PRIMARY:
		return FWD_METRICS_NOT_PRIMARY;
	case WIRE_DESCRIPTION:
		return FWD_METRICS_DESCRIBED;
	case WIRE_PONG:
		return FWD_METRICS_PING;
	case WIRE_ERROR:
		switch (code) {
		case EBADMSG:
		case EPROTONOSUPPORT:
		case EMSGSIZE:
			return FWD_METRICS_PROTOCOL_ERROR;
		case EAGAIN:
			return FWD_METRICS_BUSY;
		case ESHUTDOWN:
			return FWD_METRICS_STOPPING;
		default:
			return FWD_METRICS_REFUSED;
		}
	default:
		return FWD_METRICS_OTHER;
	}
}

/* Counts value in the first bucket of h whose bound (of bounds[0..n)) is at least value,
 * or in the last one, and adds it to the sum. */
static void metrics_observe(struct fwd_metrics_histogram *h, const struct metrics_bound *bounds,
			    size_t n, uint64_t value)
{
	size_t i = 0;

	while (i < n && value > bounds[i].value)
		i++;
	metrics_add(&h->buckets[i], 1);
	metrics_add(&h->sum, value);
}

void fwd_metrics_observe_latency(struct fwd_metrics *m, uint64_t ns)
{
	metrics_observe(&m->latency, metrics_latency_bounds, FWD_METRICS_LATENCY_BUCKETS, ns);
}

void fwd_metrics_observe_batch(struct fwd_metrics *m, size_t n)
{
	metrics_observe(&m->batch, metrics_batch_bounds, FWD_METRICS_BATCH_BUCKETS, n);
}

void fwd_metrics_add_sessions(struct fwd_metrics *m, int64_t delta)
{
	__atomic_add_fetch(&m->sessions_open, delta, __ATOMIC_RELAXED);
}

void fwd_metrics_count_session_expired(struct fwd_metrics *m)
{
	metrics_add(&m->sessions_expired, 1);
}

void fwd_metrics_count_auth_failure(struct fwd_metrics *m, enum fwd_authn_reason reason)
{
	if ((unsigned)reason < FWD_AUTHN_NREASONS)
		metrics_add(&m->auth_failures[reason], 1);
}

void fwd_metrics_set_role(struct fwd_metrics *m, int rc, const struct fwd_role_info *info)
{
	int role = FWD_METRICS_ROLE_UNKNOWN;

	if (!rc) {
		switch (info->role) {
		case FWD_ROLE_PRIMARY:
			role = FWD_METRICS_ROLE_PRIMARY;
			break;
		case FWD_ROLE_REPLICA:
			role = info->primary[0] ? FWD_METRICS_ROLE_REPLICA :
			       FWD_METRICS_ROLE_NO_PRIMARY;
			break;
		case FWD_ROLE_NO_MOUNT:
			role = FWD_METRICS_ROLE_NO_MOUNT;
			break;
		}
	}
	__atomic_store_n(&m->role, role, __ATOMIC_RELAXED);
}

/* Writes s escaped for the exposition format: a backslash and a line feed always, a
 * double quote in a label value (in_label). */
static void metrics_put_escaped(FILE *f, const char *s, bool in_label)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && in_label)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

/* The # HELP and # TYPE lines of a metric. */
static void metrics_put_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	metrics_put_escaped(f, help, false);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

/* A metric of one sample without labels. */
static void metrics_put_u64(FILE *f, const char *name, const char *type, const char *help,
			    uint64_t v)
{
	metrics_put_header(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void metrics_put_i64(FILE *f, const char *name, const char *type, const char *help,
			    int64_t v)
{
	metrics_put_header(f, name, type, help);
	fprintf(f, "%s %" PRId64 "\n", name, v);
}

/* A sample with one label: name{label="value"} v. */
static void metrics_put_labelled(FILE *f, const char *name, const char *label,
				 const char *value, uint64_t v)
{
	fprintf(f, "%s{%s=\"", name, label);
	metrics_put_escaped(f, value, true);
	fprintf(f, "\"} %" PRIu64 "\n", v);
}

/* A histogram: cumulative buckets, +Inf, sum (scaled: sum / scale, with digits decimals,
 * exactly), and count. */
static void metrics_put_histogram(FILE *f, const char *name, const char *help,
				  const struct fwd_metrics_histogram *h,
				  const struct metrics_bound *bounds, size_t n, uint64_t scale,
				  int digits)
{
	uint64_t total = 0, sum = metrics_get(&h->sum);
	size_t i;

	metrics_put_header(f, name, "histogram", help);
	for (i = 0; i < n; i++) {
		total += metrics_get(&h->buckets[i]);
		fprintf(f, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, bounds[i].le, total);
	}
	total += metrics_get(&h->buckets[n]);
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, total);
	if (scale > 1)
		fprintf(f, "%s_sum %" PRIu64 ".%0*" PRIu64 "\n", name, sum / scale, digits,
			sum % scale);
	else
		fprintf(f, "%s_sum %" PRIu64 "\n", name, sum);
	fprintf(f, "%s_count %" PRIu64 "\n", name, total);
}

int fwd_metrics_render(const struct fwd_metrics *m, char **text, size_t *len)
{
	int role = __atomic_load_n(&m->role, __ATOMIC_RELAXED);
	char *buf = NULL;
	size_t size = 0;
	FILE *f;
	int i;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;

	metrics_put_header(f, "litefs_fwd_build_info", "gauge",
			   "Versions of the forwarder, of its wire protocol and of the SQLite "
			   "library it executes statements with; always 1.");
	fprintf(f, "litefs_fwd_build_info{sqlite_version=\"");
	metrics_put_escaped(f, m->sqlite_version, true);
	fprintf(f, "\",version=\"");
	metrics_put_escaped(f, LITEFS_FWD_VERSION, true);
	fprintf(f, "\",wire_version=\"%d\"} 1\n", WIRE_VERSION);

	metrics_put_header(f, "litefs_fwd_node_info", "gauge",
			   "The node this forwarder serves: its hostname as LiteFS names it, the "
			   "address served and the LiteFS mount; always 1.");
	fprintf(f, "litefs_fwd_node_info{hostname=\"");
	metrics_put_escaped(f, m->hostname, true);
	fprintf(f, "\",listen=\"");
	metrics_put_escaped(f, m->listen, true);
	fprintf(f, "\",mount=\"");
	metrics_put_escaped(f, m->mount, true);
	fprintf(f, "\"} 1\n");

	metrics_put_header(f, "litefs_fwd_start_time_seconds", "gauge",
			   "When the forwarder started, in seconds since the epoch.");
	fprintf(f, "litefs_fwd_start_time_seconds %" PRId64 ".%03" PRId64 "\n",
		m->start_time_ms / 1000, m->start_time_ms % 1000);

	metrics_put_header(f, "litefs_fwd_role", "gauge",
			   "The role of this node as the forwarder last read it: 1 for the "
			   "current one, 0 for the others.");
	for (i = 0; i < FWD_METRICS_NROLES; i++)
		metrics_put_labelled(f, "litefs_fwd_role", "role", metrics_role_label[i],
				     i == role);

	metrics_put_i64(f, "litefs_fwd_workers", "gauge",
			"Requests the forwarder answers at once at most (--workers).", m->workers);
	metrics_put_i64(f, "litefs_fwd_requests_in_flight", "gauge",
			"Requests being answered now.",
			__atomic_load_n(&m->in_flight, __ATOMIC_RELAXED));

	metrics_put_header(f, "litefs_fwd_requests_total", "counter",
			   "Requests answered, by outcome.");
	for (i = 0; i < FWD_METRICS_NOUTCOMES; i++)
		metrics_put_labelled(f, "litefs_fwd_requests_total", "outcome",
				     metrics_outcome_label[i], metrics_get(&m->requests[i]));

	metrics_put_histogram(f, "litefs_fwd_request_duration_seconds",
			      "Time from receiving a request to sending its reply.", &m->latency,
			      metrics_latency_bounds, FWD_METRICS_LATENCY_BUCKETS, 1000000000, 9);

	metrics_put_u64(f, "litefs_fwd_received_bytes_total", "counter",
			"Bytes of requests received.", metrics_get(&m->received_bytes));
	metrics_put_u64(f, "litefs_fwd_sent_bytes_total", "counter", "Bytes of replies sent.",
			metrics_get(&m->sent_bytes));

	metrics_put_i64(f, "litefs_fwd_sessions_open", "gauge",
			"Transactions of programs on replicas open on this node.",
			__atomic_load_n(&m->sessions_open, __ATOMIC_RELAXED));
	metrics_put_i64(f, "litefs_fwd_sessions_max", "gauge",
			"Transactions of programs on replicas allowed open at once "
			"(--max-sessions).", m->max_sessions);
	metrics_put_u64(f, "litefs_fwd_sessions_expired_total", "counter",
			"Transactions rolled back for staying idle longer than their timeout.",
			metrics_get(&m->sessions_expired));

	metrics_put_histogram(f, "litefs_fwd_batch_size",
			      "Autocommit writes that shared one commit (group commit).", &m->batch,
			      metrics_batch_bounds, FWD_METRICS_BATCH_BUCKETS, 1, 0);

	metrics_put_header(f, "litefs_fwd_auth_failures_total", "counter",
			   "Requests refused by authentication, by reason.");
	for (i = 0; i < FWD_AUTHN_NREASONS; i++)
		metrics_put_labelled(f, "litefs_fwd_auth_failures_total", "reason",
				     metrics_auth_label[i], metrics_get(&m->auth_failures[i]));

	if (ferror(f)) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*text = buf;
	*len = size;
	return 0;
}
