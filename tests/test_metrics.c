/* Unit tests of the forwarder's metrics (forwarder/metrics.c, metrics_http.c): the exact
 * text of a registry with known observations (escaping, cumulative buckets, +Inf, sums),
 * the outcome read from each kind of reply, the figures the request path's parts record
 * (sessions, group commit, authentication, role), exact totals under concurrent updates,
 * the HTTP endpoint (GET, HEAD, 404, 405, an address in use) and the option. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "auth.h"
#include "authn.h"
#include "batch.h"
#include "../forwarder/config.h"
#include "dedup.h"
#include "exec.h"
#include "metrics.h"
#include "metrics_http.h"
#include "request.h"
#include "../forwarder/role.h"
#include "session.h"
#include "tmpdir.h"
#include "version.h"
#include "wire.h"

_Static_assert(WIRE_VERSION == 2, "update wire_version in the expected text");

/* A registry with one of everything, its strings needing every escape. */
static void fill(struct fwd_metrics *m)
{
	struct fwd_metrics_node node = {
		.hostname = "node\"1",
		.listen = "tcp://127.0.0.1:20208",
		.mount = "/mnt/a\\b\nc",
		.sqlite_version = "3.40.1",
		.workers = 8,
		.max_sessions = 16,
		.start_time_ms = 1700000000123,
	};
	struct fwd_role_info replica = { .role = FWD_ROLE_REPLICA, .primary = "node2" };

	memset(m, 0, sizeof(*m));
	fwd_metrics_set_node(m, &node);
	fwd_metrics_set_role(m, 0, &replica);
	fwd_metrics_count_request(m, FWD_METRICS_EXECUTED, 100, 50);
	fwd_metrics_count_request(m, FWD_METRICS_EXECUTED, 100, 50);
	fwd_metrics_count_request(m, FWD_METRICS_SQL_ERROR, 120, 60);
	fwd_metrics_count_request(m, FWD_METRICS_REPEAT, 100, 50);
	fwd_metrics_count_request(m, FWD_METRICS_UNAUTHENTICATED, 90, 0);
	fwd_metrics_observe_latency(m, 50000);        /* 50 us */
	fwd_metrics_observe_latency(m, 100000);       /* exactly the first bound: le is <= */
	fwd_metrics_observe_latency(m, 100001);
	fwd_metrics_observe_latency(m, 1500000);      /* 1.5 ms */
	fwd_metrics_observe_latency(m, 20000000000);  /* 20 s: above every bound */
	fwd_metrics_add_sessions(m, 3);
	fwd_metrics_add_sessions(m, -1);
	fwd_metrics_count_session_expired(m);
	fwd_metrics_observe_batch(m, 1);
	fwd_metrics_observe_batch(m, 1);
	fwd_metrics_observe_batch(m, 3);
	fwd_metrics_observe_batch(m, 64);
	fwd_metrics_count_auth_failure(m, FWD_AUTHN_BAD_MAC);
}

static const char expected_text[] =
	"# HELP litefs_fwd_build_info Versions of the forwarder, of its wire protocol and of "
	"the SQLite library it executes statements with; always 1.\n"
	"# TYPE litefs_fwd_build_info gauge\n"
	"litefs_fwd_build_info{sqlite_version=\"3.40.1\",version=\"" LITEFS_FWD_VERSION "\","
	"wire_version=\"2\"} 1\n"
	"# HELP litefs_fwd_node_info The node this forwarder serves: its hostname as LiteFS "
	"names it, the address served and the LiteFS mount; always 1.\n"
	"# TYPE litefs_fwd_node_info gauge\n"
	"litefs_fwd_node_info{hostname=\"node\\\"1\",listen=\"tcp://127.0.0.1:20208\","
	"mount=\"/mnt/a\\\\b\\nc\"} 1\n"
	"# HELP litefs_fwd_start_time_seconds When the forwarder started, in seconds since the "
	"epoch.\n"
	"# TYPE litefs_fwd_start_time_seconds gauge\n"
	"litefs_fwd_start_time_seconds 1700000000.123\n"
	"# HELP litefs_fwd_role The role of this node as the forwarder last read it: 1 for the "
	"current one, 0 for the others.\n"
	"# TYPE litefs_fwd_role gauge\n"
	"litefs_fwd_role{role=\"unknown\"} 0\n"
	"litefs_fwd_role{role=\"primary\"} 0\n"
	"litefs_fwd_role{role=\"replica\"} 1\n"
	"litefs_fwd_role{role=\"no_primary\"} 0\n"
	"litefs_fwd_role{role=\"no_mount\"} 0\n"
	"# HELP litefs_fwd_workers Requests the forwarder answers at once at most (--workers).\n"
	"# TYPE litefs_fwd_workers gauge\n"
	"litefs_fwd_workers 8\n"
	"# HELP litefs_fwd_requests_in_flight Requests being answered now.\n"
	"# TYPE litefs_fwd_requests_in_flight gauge\n"
	"litefs_fwd_requests_in_flight 0\n"
	"# HELP litefs_fwd_requests_total Requests answered, by outcome.\n"
	"# TYPE litefs_fwd_requests_total counter\n"
	"litefs_fwd_requests_total{outcome=\"executed\"} 2\n"
	"litefs_fwd_requests_total{outcome=\"sql_error\"} 1\n"
	"litefs_fwd_requests_total{outcome=\"busy\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"not_primary\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"repeat\"} 1\n"
	"litefs_fwd_requests_total{outcome=\"described\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"ping\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"refused\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"protocol_error\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"unauthenticated\"} 1\n"
	"litefs_fwd_requests_total{outcome=\"stopping\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"no_reply\"} 0\n"
	"litefs_fwd_requests_total{outcome=\"other\"} 0\n"
	"# HELP litefs_fwd_request_duration_seconds Time from receiving a request to sending "
	"its reply.\n"
	"# TYPE litefs_fwd_request_duration_seconds histogram\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.0001\"} 2\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.00025\"} 3\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.0005\"} 3\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.001\"} 3\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.0025\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.005\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.01\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.025\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.05\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.1\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.25\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"0.5\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"1\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"2.5\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"5\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"10\"} 4\n"
	"litefs_fwd_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"
	"litefs_fwd_request_duration_seconds_sum 20.001750001\n"
	"litefs_fwd_request_duration_seconds_count 5\n"
	"# HELP litefs_fwd_received_bytes_total Bytes of requests received.\n"
	"# TYPE litefs_fwd_received_bytes_total counter\n"
	"litefs_fwd_received_bytes_total 510\n"
	"# HELP litefs_fwd_sent_bytes_total Bytes of replies sent.\n"
	"# TYPE litefs_fwd_sent_bytes_total counter\n"
	"litefs_fwd_sent_bytes_total 210\n"
	"# HELP litefs_fwd_sessions_open Transactions of programs on replicas open on this "
	"node.\n"
	"# TYPE litefs_fwd_sessions_open gauge\n"
	"litefs_fwd_sessions_open 2\n"
	"# HELP litefs_fwd_sessions_max Transactions of programs on replicas allowed open at "
	"once (--max-sessions).\n"
	"# TYPE litefs_fwd_sessions_max gauge\n"
	"litefs_fwd_sessions_max 16\n"
	"# HELP litefs_fwd_sessions_expired_total Transactions rolled back for staying idle "
	"longer than their timeout.\n"
	"# TYPE litefs_fwd_sessions_expired_total counter\n"
	"litefs_fwd_sessions_expired_total 1\n"
	"# HELP litefs_fwd_batch_size Autocommit writes that shared one commit (group commit).\n"
	"# TYPE litefs_fwd_batch_size histogram\n"
	"litefs_fwd_batch_size_bucket{le=\"1\"} 2\n"
	"litefs_fwd_batch_size_bucket{le=\"2\"} 2\n"
	"litefs_fwd_batch_size_bucket{le=\"4\"} 3\n"
	"litefs_fwd_batch_size_bucket{le=\"8\"} 3\n"
	"litefs_fwd_batch_size_bucket{le=\"16\"} 3\n"
	"litefs_fwd_batch_size_bucket{le=\"32\"} 3\n"
	"litefs_fwd_batch_size_bucket{le=\"64\"} 4\n"
	"litefs_fwd_batch_size_bucket{le=\"+Inf\"} 4\n"
	"litefs_fwd_batch_size_sum 69\n"
	"litefs_fwd_batch_size_count 4\n"
	"# HELP litefs_fwd_auth_failures_total Requests refused by authentication, by reason.\n"
	"# TYPE litefs_fwd_auth_failures_total counter\n"
	"litefs_fwd_auth_failures_total{reason=\"unsealed\"} 0\n"
	"litefs_fwd_auth_failures_total{reason=\"bad_mac\"} 1\n"
	"litefs_fwd_auth_failures_total{reason=\"stale\"} 0\n"
	"litefs_fwd_auth_failures_total{reason=\"replay\"} 0\n"
	"litefs_fwd_auth_failures_total{reason=\"flood\"} 0\n";

static void test_render_exact(void **state)
{
	struct fwd_metrics m;
	char *text;
	size_t len;

	(void)state;
	fill(&m);
	assert_int_equal(fwd_metrics_render(&m, &text, &len), 0);
	assert_int_equal(len, strlen(text));
	assert_string_equal(text, expected_text);
	free(text);
}

/* The value of the sample line that begins with prefix (name and labels), or -1. */
static long long sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

/* An empty registry renders every metric at zero, role unknown, and histograms whose
 * buckets are all 0 with +Inf, sum and count present. */
static void test_render_empty(void **state)
{
	struct fwd_metrics m;
	char *text;
	size_t len;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(fwd_metrics_render(&m, &text, &len), 0);
	assert_int_equal(sample(text, "litefs_fwd_role{role=\"unknown\"}"), 1);
	assert_int_equal(sample(text, "litefs_fwd_role{role=\"primary\"}"), 0);
	assert_int_equal(sample(text, "litefs_fwd_requests_total{outcome=\"executed\"}"), 0);
	assert_int_equal(sample(text, "litefs_fwd_request_duration_seconds_bucket{le=\"+Inf\"}"),
			 0);
	assert_int_equal(sample(text, "litefs_fwd_request_duration_seconds_count"), 0);
	assert_non_null(strstr(text, "\nlitefs_fwd_request_duration_seconds_sum 0.000000000\n"));
	assert_int_equal(sample(text, "litefs_fwd_batch_size_sum"), 0);
	assert_non_null(strstr(text, "litefs_fwd_node_info{hostname=\"\",listen=\"\",mount=\"\"} 1\n"));
	free(text);
}

/* Buckets are cumulative whatever the order of observations: each bucket counts every
 * observation up to its bound, the count is the +Inf bucket. */
static void test_histogram_cumulative(void **state)
{
	static const char *const les[] = { "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
					   "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
					   "0.5", "1", "2.5", "5", "10", "+Inf" };
	static const uint64_t bounds_ns[] = { 100000, 250000, 500000, 1000000, 2500000,
					      5000000, 10000000, 25000000, 50000000,
					      100000000, 250000000, 500000000, 1000000000,
					      2500000000, 5000000000, 10000000000, UINT64_MAX };
	struct fwd_metrics m;
	char *text, name[128];
	size_t len;
	uint64_t sum = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	/* 1000 values spread over 0 .. 12.5 s, in a scrambled order */
	for (uint64_t i = 0; i < 1000; i++) {
		uint64_t v = (i * 7919 % 1000) * 12500000;

		fwd_metrics_observe_latency(&m, v);
		sum += v;
	}
	assert_int_equal(fwd_metrics_render(&m, &text, &len), 0);
	for (size_t b = 0; b < sizeof(les) / sizeof(les[0]); b++) {
		long long want = 0;

		for (uint64_t i = 0; i < 1000; i++)
			want += i * 12500000 <= bounds_ns[b];
		snprintf(name, sizeof(name),
			 "litefs_fwd_request_duration_seconds_bucket{le=\"%s\"}", les[b]);
		assert_int_equal(sample(text, name), want);
	}
	assert_int_equal(sample(text, "litefs_fwd_request_duration_seconds_count"), 1000);
	snprintf(name, sizeof(name), "\nlitefs_fwd_request_duration_seconds_sum %llu.%09llu\n",
		 (unsigned long long)(sum / 1000000000), (unsigned long long)(sum % 1000000000));
	assert_non_null(strstr(text, name));
	free(text);
}

/* Encodes a RESULT with rc and returns its outcome. */
static enum fwd_metrics_outcome outcome_of_result(int rc, int xrc)
{
	struct wire_result res = { .request_id = 7, .rc = rc, .xrc = xrc,
				   .errmsg = { .p = "x", .n = 1 } };
	struct wire_buf b = { 0 };
	enum fwd_metrics_outcome o;

	assert_int_equal(wire_encode_result(&b, &res, 1 << 20), 0);
	o = fwd_metrics_classify_reply(b.p, b.len);
	wire_buf_free(&b);
	return o;
}

static enum fwd_metrics_outcome outcome_of_error(int code)
{
	struct wire_error e = { .request_id = 7, .code = code, .message = { .p = "x", .n = 1 } };
	struct wire_buf b = { 0 };
	enum fwd_metrics_outcome o;

	assert_int_equal(wire_encode_error(&b, &e, 1 << 20), 0);
	o = fwd_metrics_classify_reply(b.p, b.len);
	wire_buf_free(&b);
	return o;
}

static void test_classify_reply(void **state)
{
	struct wire_not_primary np = { .request_id = 7, .primary = { .p = "node1", .n = 5 } };
	struct wire_description d = { .request_id = 7 };
	struct wire_pong pong = { .request_id = 7 };
	struct wire_buf b = { 0 };

	(void)state;
	assert_int_equal(outcome_of_result(SQLITE_DONE, SQLITE_DONE), FWD_METRICS_EXECUTED);
	assert_int_equal(outcome_of_result(SQLITE_ROW, SQLITE_ROW), FWD_METRICS_EXECUTED);
	assert_int_equal(outcome_of_result(SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_UNIQUE),
			 FWD_METRICS_SQL_ERROR);
	assert_int_equal(outcome_of_result(SQLITE_ERROR, SQLITE_ERROR), FWD_METRICS_SQL_ERROR);
	assert_int_equal(outcome_of_result(SQLITE_ABORT, SQLITE_ABORT_ROLLBACK),
			 FWD_METRICS_SQL_ERROR);
	assert_int_equal(outcome_of_result(SQLITE_BUSY, SQLITE_BUSY), FWD_METRICS_BUSY);
	assert_int_equal(outcome_of_result(SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_SNAPSHOT),
			 FWD_METRICS_BUSY);
	assert_int_equal(outcome_of_error(EBADMSG), FWD_METRICS_PROTOCOL_ERROR);
	assert_int_equal(outcome_of_error(EPROTONOSUPPORT), FWD_METRICS_PROTOCOL_ERROR);
	assert_int_equal(outcome_of_error(EMSGSIZE), FWD_METRICS_PROTOCOL_ERROR);
	assert_int_equal(outcome_of_error(EINVAL), FWD_METRICS_REFUSED);
	assert_int_equal(outcome_of_error(EEXIST), FWD_METRICS_REFUSED);
	assert_int_equal(outcome_of_error(EAGAIN), FWD_METRICS_BUSY);
	assert_int_equal(outcome_of_error(ESHUTDOWN), FWD_METRICS_STOPPING);

	assert_int_equal(wire_encode_not_primary(&b, &np, 1 << 20), 0);
	assert_int_equal(fwd_metrics_classify_reply(b.p, b.len), FWD_METRICS_NOT_PRIMARY);
	/* a sealed reply: its trailer follows, the header is the same */
	assert_int_equal(wire_buf_append(&b, "LFA1 and the rest of a trailer", 30), 0);
	assert_int_equal(fwd_metrics_classify_reply(b.p, b.len), FWD_METRICS_NOT_PRIMARY);
	b.len = 0;
	assert_int_equal(wire_encode_description(&b, &d, 1 << 20), 0);
	assert_int_equal(fwd_metrics_classify_reply(b.p, b.len), FWD_METRICS_DESCRIBED);
	b.len = 0;
	assert_int_equal(wire_encode_pong(&b, &pong, 1 << 20), 0);
	assert_int_equal(fwd_metrics_classify_reply(b.p, b.len), FWD_METRICS_PING);

	/* what is not a reply of this wire version */
	b.len = 0;
	assert_int_equal(wire_encode_not_primary(&b, &np, 1 << 20), 0);
	b.p[0] = WIRE_VERSION + 1;
	assert_int_equal(fwd_metrics_classify_reply(b.p, b.len), FWD_METRICS_OTHER);
	b.p[0] = WIRE_VERSION;
	b.p[1] = WIRE_EXEC;
	assert_int_equal(fwd_metrics_classify_reply(b.p, b.len), FWD_METRICS_OTHER);
	assert_int_equal(fwd_metrics_classify_reply(b.p, 3), FWD_METRICS_OTHER);
	assert_int_equal(fwd_metrics_classify_reply(NULL, 0), FWD_METRICS_OTHER);
	b.len = 0;
	{
		struct wire_result res = { .request_id = 7, .rc = SQLITE_DONE };

		assert_int_equal(wire_encode_result(&b, &res, 1 << 20), 0);
		/* cut before its rc */
		assert_int_equal(fwd_metrics_classify_reply(b.p, WIRE_HEADER_SIZE + 12),
				 FWD_METRICS_OTHER);
	}
	wire_buf_free(&b);
}

static void *note_elsewhere(void *arg)
{
	bool *seen = arg;

	*seen = fwd_metrics_noted_repeat();
	fwd_metrics_note_repeat();
	return NULL;
}

/* The repeat note is the calling thread's, and a new request forgets it. */
static void test_repeat_note(void **state)
{
	struct fwd_metrics m;
	struct fwd_metrics_timer t;
	pthread_t th;
	bool seen = true;
	uint64_t observed = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	fwd_metrics_request_begin(&m, &t);
	assert_false(fwd_metrics_noted_repeat());
	fwd_metrics_note_repeat();
	assert_true(fwd_metrics_noted_repeat());
	assert_int_equal(pthread_create(&th, NULL, note_elsewhere, &seen), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(seen);
	assert_int_equal(m.in_flight, 1);
	fwd_metrics_request_end(&m, &t, FWD_METRICS_REPEAT, 10, 20);
	assert_int_equal(m.in_flight, 0);
	assert_int_equal(m.requests[FWD_METRICS_REPEAT], 1);
	assert_int_equal(m.received_bytes, 10);
	assert_int_equal(m.sent_bytes, 20);
	fwd_metrics_request_begin(&m, &t);
	assert_false(fwd_metrics_noted_repeat());
	/* an outcome out of range is counted as other, not outside the array */
	fwd_metrics_request_end(&m, &t, (enum fwd_metrics_outcome)1000, 0, 0);
	assert_int_equal(m.requests[FWD_METRICS_OTHER], 1);
	for (int i = 0; i <= FWD_METRICS_LATENCY_BUCKETS; i++)
		observed += m.latency.buckets[i];
	assert_int_equal(observed, 2);
}

#define THREADS 8
#define ROUNDS 20000

struct hammer {
	struct fwd_metrics *m;
	pthread_t th;
	int index;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	struct fwd_metrics_timer t;

	for (int i = 0; i < ROUNDS; i++) {
		fwd_metrics_request_begin(h->m, &t);
		fwd_metrics_request_end(h->m, &t, (enum fwd_metrics_outcome)(i % 3), 3, 5);
		fwd_metrics_observe_batch(h->m, (size_t)(i % 64) + 1);
		fwd_metrics_add_sessions(h->m, i % 2 ? -1 : 1);
		fwd_metrics_count_auth_failure(h->m, FWD_AUTHN_REPLAY);
		if (i % 1000 == 0) {
			char *text;
			size_t len;

			assert_int_equal(fwd_metrics_render(h->m, &text, &len), 0);
			free(text);
		}
	}
	return NULL;
}

/* Updates from many threads at once, with scrapes in between, lose nothing. */
static void test_concurrent_updates(void **state)
{
	static struct fwd_metrics m;
	struct hammer h[THREADS];
	uint64_t n = (uint64_t)THREADS * ROUNDS, total = 0, batch = 0;
	char *text;
	size_t len;

	(void)state;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < THREADS; i++) {
		h[i] = (struct hammer){ .m = &m, .index = i };
		assert_int_equal(pthread_create(&h[i].th, NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(h[i].th, NULL), 0);
	for (int i = 0; i < FWD_METRICS_NOUTCOMES; i++)
		total += m.requests[i];
	assert_int_equal(total, n);
	assert_int_equal(m.received_bytes, 3 * n);
	assert_int_equal(m.sent_bytes, 5 * n);
	assert_int_equal(m.in_flight, 0);
	assert_int_equal(m.sessions_open, 0);
	assert_int_equal(m.auth_failures[FWD_AUTHN_REPLAY], n);
	for (int i = 0; i <= FWD_METRICS_BATCH_BUCKETS; i++)
		batch += m.batch.buckets[i];
	assert_int_equal(batch, n);
	assert_int_equal(m.batch.sum, (uint64_t)THREADS * (ROUNDS / 64 * (64 * 65 / 2) +
							   (ROUNDS % 64) * (ROUNDS % 64 + 1) / 2));
	assert_int_equal(fwd_metrics_render(&m, &text, &len), 0);
	assert_int_equal(sample(text, "litefs_fwd_request_duration_seconds_count"), (long long)n);
	assert_int_equal(sample(text, "litefs_fwd_batch_size_count"), (long long)n);
	free(text);
}

static void batch_run_nothing(struct fwd_batch_job **jobs, size_t n)
{
	(void)jobs;
	(void)n;
}

/* What the parts of the request path record in the registry of the process: sessions
 * opened, ended and expired; a group commit; a refused request; the role read. */
static void test_recorded_by_the_request_path(void **state)
{
	struct fwd_metrics *m = &fwd_metrics_process;
	struct fwd_sessions *ss;
	struct fwd_session *s1, *s2, *s3;
	int64_t open0 = m->sessions_open;
	uint64_t expired0 = m->sessions_expired, one0 = m->batch.buckets[0];
	uint64_t unsealed0 = m->auth_failures[FWD_AUTHN_NO_TRAILER];
	struct fwd_batch b;
	struct fwd_batch_job job;
	struct fwd_authn a;
	struct auth_key key;
	struct wire_buf out = { 0 };
	struct fwd_role_cache rc;
	struct fwd_role_info info;
	char dir[PATH_MAX], path[PATH_MAX + 16], err[256];
	size_t body;
	FILE *f;

	(void)state;
	assert_int_equal(fwd_sessions_create(&ss, 2), 0);
	assert_int_equal(fwd_session_reserve(ss, 1, 1, &s1), 0);
	assert_int_equal(fwd_session_reserve(ss, 2, 1, &s2), 0);
	assert_int_equal(m->sessions_open, open0 + 2);
	assert_int_equal(fwd_session_reserve(ss, 3, 1, &s3), -EBUSY);
	assert_int_equal(m->sessions_open, open0 + 2);
	fwd_session_release(ss, s1, true);
	assert_int_equal(m->sessions_open, open0 + 1);
	fwd_session_release(ss, s2, false);
	assert_int_equal(fwd_sessions_expire(ss, INT64_MAX / 2), 1);
	assert_int_equal(m->sessions_open, open0);
	assert_int_equal(m->sessions_expired, expired0 + 1);
	assert_int_equal(fwd_session_reserve(ss, 4, 1000000, &s1), 0);
	fwd_session_release(ss, s1, false);
	assert_int_equal(m->sessions_open, open0 + 1);
	fwd_sessions_destroy(ss);  /* rolls back what is open */
	assert_int_equal(m->sessions_open, open0);

	fwd_batch_init(&b);
	fwd_batch_submit(&b, &job, batch_run_nothing);
	fwd_batch_destroy(&b);
	assert_int_equal(m->batch.buckets[0], one0 + 1);

	assert_int_equal(auth_key_load(&key, "0123456789abcdef0123", NULL, err, sizeof(err)), 0);
	assert_int_equal(fwd_authn_init(&a, &key, AUTH_DEFAULT_WINDOW_MS, 64), 0);
	assert_true(fwd_authn_check(&a, "not sealed at all", 17, &body, &out, 1 << 20) < 0);
	assert_int_equal(m->auth_failures[FWD_AUTHN_NO_TRAILER], unsealed0 + 1);
	wire_buf_free(&out);
	fwd_authn_destroy(&a);

	assert_int_equal(tmpdir_make(dir, sizeof(dir), "metrics"), 0);
	fwd_role_cache_init(&rc, dir, 0, NULL);
	assert_int_equal(fwd_role_get(&rc, true, &info), 0);
	assert_int_equal(m->role, FWD_METRICS_ROLE_PRIMARY);
	snprintf(path, sizeof(path), "%s/.primary", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("node7\n", f);
	fclose(f);
	assert_int_equal(fwd_role_get(&rc, true, &info), 0);
	assert_int_equal(m->role, FWD_METRICS_ROLE_REPLICA);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(fwd_role_get(&rc, true, &info), 0);
	assert_int_equal(m->role, FWD_METRICS_ROLE_NO_PRIMARY);
	fwd_role_cache_destroy(&rc);
	assert_int_equal(tmpdir_remove(dir), 0);
	fwd_role_cache_init(&rc, dir, 0, NULL);
	assert_int_equal(fwd_role_get(&rc, true, &info), 0);
	assert_int_equal(m->role, FWD_METRICS_ROLE_NO_MOUNT);
	fwd_role_cache_destroy(&rc);
}

/* The outcome the worker would count for msg: fwd_request_handle() between the begin and
 * the reply, as server.c does. */
static enum fwd_metrics_outcome handle(const struct fwd_request_ctx *c, const struct wire_buf *msg)
{
	struct fwd_metrics m;
	struct fwd_metrics_timer t;
	struct wire_buf out = { 0 };
	enum fwd_metrics_outcome o;

	memset(&m, 0, sizeof(m));
	fwd_metrics_request_begin(&m, &t);
	assert_int_equal(fwd_request_handle(c, msg->p, msg->len, &out), 0);
	o = fwd_metrics_noted_repeat() ? FWD_METRICS_REPEAT :
	    fwd_metrics_classify_reply(out.p, out.len);
	fwd_metrics_request_end(&m, &t, o, msg->len, out.len);
	wire_buf_free(&out);
	return o;
}

/* Requests answered from the record are told apart from executed ones, whether the answer
 * comes from the record in memory (a resend) or from the durable record in the database
 * (a request sent again to a forwarder that restarted, through group commit); an SQL
 * error, a malformed message and a health check each get their own outcome. */
static void test_repeat_outcomes(void **state)
{
	struct fwd_exec x;
	struct fwd_dedup *dedup;
	struct fwd_role_cache role;
	struct fwd_sessions *ss;
	struct fwd_request_ctx c;
	struct wire_exec e = {
		.request_id = 41, .busy_timeout_ms = 1000,
		.db = { .p = "a.db", .n = 4 },
		.sql = { .p = "CREATE TABLE t(x UNIQUE)", .n = 24 },
	};
	struct wire_buf msg = { 0 };
	char dir[PATH_MAX];

	(void)state;
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "metrics-repeat"), 0);
	assert_int_equal(fwd_exec_init(&x, dir), 0);
	assert_int_equal(fwd_dedup_create(&dedup, FWD_DEDUP_MAX_ENTRIES, FWD_DEDUP_MAX_BYTES,
					  FWD_DEDUP_MAX_AGE_MS), 0);
	fwd_role_cache_init(&role, dir, 0, NULL);
	assert_int_equal(fwd_sessions_create(&ss, 4), 0);
	c = (struct fwd_request_ctx){ .exec = &x, .dedup = dedup, .role = &role, .mount = dir,
				      .max_message = 1 << 20, .sessions = ss };

	assert_int_equal(wire_encode_exec(&msg, &e, 1 << 20), 0);
	assert_int_equal(handle(&c, &msg), FWD_METRICS_EXECUTED);
	assert_int_equal(handle(&c, &msg), FWD_METRICS_REPEAT);  /* from memory */

	e.request_id = 42;
	e.sql = (struct wire_str){ .p = "INSERT INTO t VALUES (1)", .n = 24 };
	msg.len = 0;
	assert_int_equal(wire_encode_exec(&msg, &e, 1 << 20), 0);
	assert_int_equal(handle(&c, &msg), FWD_METRICS_EXECUTED);
	/* a forwarder that restarted knows only the durable record */
	fwd_dedup_destroy(dedup);
	assert_int_equal(fwd_dedup_create(&dedup, FWD_DEDUP_MAX_ENTRIES, FWD_DEDUP_MAX_BYTES,
					  FWD_DEDUP_MAX_AGE_MS), 0);
	c.dedup = dedup;
	e.session_flags = WIRE_EXEC_REPEAT;
	msg.len = 0;
	assert_int_equal(wire_encode_exec(&msg, &e, 1 << 20), 0);
	assert_int_equal(handle(&c, &msg), FWD_METRICS_REPEAT);
	/* the same statement under a new id runs, and fails */
	e.request_id = 43;
	msg.len = 0;
	assert_int_equal(wire_encode_exec(&msg, &e, 1 << 20), 0);
	assert_int_equal(handle(&c, &msg), FWD_METRICS_SQL_ERROR);
	/* a malformed message */
	msg.p[1] = 99;
	assert_int_equal(handle(&c, &msg), FWD_METRICS_PROTOCOL_ERROR);
	/* a health check */
	msg.len = 0;
	assert_int_equal(wire_encode_ping(&msg, &(struct wire_ping){ .request_id = 44 },
					  1 << 20), 0);
	assert_int_equal(handle(&c, &msg), FWD_METRICS_PING);

	wire_buf_free(&msg);
	fwd_sessions_destroy(ss);
	fwd_role_cache_destroy(&role);
	fwd_dedup_destroy(dedup);
	fwd_exec_close(&x);
	assert_int_equal(tmpdir_remove(dir), 0);
}

static void test_split_addr(void **state)
{
	static const struct {
		const char *addr;
		int rc;
		const char *host;
		unsigned port;
	} cases[] = {
		{ "127.0.0.1:9464", 0, "127.0.0.1", 9464 },
		{ "localhost:1", 0, "localhost", 1 },
		{ "[::1]:65535", 0, "::1", 65535 },
		{ ":9464", 0, "", 9464 },
		{ "127.0.0.1:0", 0, "127.0.0.1", 0 },
		{ "127.0.0.1", -EINVAL, NULL, 0 },
		{ "127.0.0.1:", -EINVAL, NULL, 0 },
		{ "127.0.0.1:65536", -EINVAL, NULL, 0 },
		{ "127.0.0.1:-1", -EINVAL, NULL, 0 },
		{ "127.0.0.1:+1", -EINVAL, NULL, 0 },
		{ "127.0.0.1:80x", -EINVAL, NULL, 0 },
		{ "::1:80", -EINVAL, NULL, 0 },
		{ "[::1]80", -EINVAL, NULL, 0 },
		{ "[]:80", -EINVAL, NULL, 0 },
		{ "[::1:80", -EINVAL, NULL, 0 },
		{ "http://127.0.0.1:80", -EINVAL, NULL, 0 },
		{ "", -EINVAL, NULL, 0 },
	};
	char host[FWD_METRICS_HOST_MAX + 1], longest[FWD_METRICS_HOST_MAX + 16];
	unsigned port;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = fwd_metrics_http_split_addr(cases[i].addr, host, &port);

		if (rc != cases[i].rc)
			fail_msg("'%s': %d, expected %d", cases[i].addr, rc, cases[i].rc);
		if (!rc && (strcmp(host, cases[i].host) || port != cases[i].port))
			fail_msg("'%s': host '%s' port %u", cases[i].addr, host, port);
	}
	memset(longest, 'h', FWD_METRICS_HOST_MAX);
	strcpy(longest + FWD_METRICS_HOST_MAX, ":80");
	assert_int_equal(fwd_metrics_http_split_addr(longest, host, &port), 0);
	memset(longest, 'h', FWD_METRICS_HOST_MAX + 1);
	strcpy(longest + FWD_METRICS_HOST_MAX + 1, ":80");
	assert_int_equal(fwd_metrics_http_split_addr(longest, host, &port), -EINVAL);
}

struct http_reply {
	long status;
	char type[128];
	char allow[64];
	char *body;
	size_t len;
};

static size_t http_collect(char *p, size_t size, size_t n, void *arg)
{
	struct http_reply *r = arg;
	char *nb = realloc(r->body, r->len + size * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + r->len, p, size * n);
	r->body = nb;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t http_header(char *p, size_t size, size_t n, void *arg)
{
	struct http_reply *r = arg;
	size_t len = size * n;

	if (len > 7 && !strncasecmp(p, "Allow: ", 7))
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9), p + 7);
	return len;
}

/* method on http://127.0.0.1:port/path (loopback only). */
static void http_do(unsigned port, const char *method, const char *path, struct http_reply *r)
{
	CURL *c = curl_easy_init();
	char url[128];
	char *type = NULL;

	assert_non_null(c);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "POST"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
	snprintf(r->type, sizeof(r->type), "%s", type ? type : "");
	curl_easy_cleanup(c);
}

static void test_http_endpoint(void **state)
{
	struct fwd_metrics m;
	struct fwd_metrics_http *h, *h2 = NULL;
	struct http_reply r;
	char addr[64], err[256];
	unsigned port;

	(void)state;
	fill(&m);
	assert_int_equal(fwd_metrics_http_start("127.0.0.1:0", &m, &h, err, sizeof(err)), 0);
	port = fwd_metrics_http_port(h);
	assert_true(port > 0);

	http_do(port, "GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(r.body);
	assert_string_equal(r.body, expected_text);
	free(r.body);
	/* a scrape sees the figures of the moment */
	fwd_metrics_count_request(&m, FWD_METRICS_NOT_PRIMARY, 1, 1);
	http_do(port, "GET", "/metrics?x=1", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(sample(r.body, "litefs_fwd_requests_total{outcome=\"not_primary\"}"), 1);
	free(r.body);

	http_do(port, "HEAD", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
	assert_null(r.body);

	http_do(port, "GET", "/", &r);
	assert_int_equal(r.status, 404);
	free(r.body);
	http_do(port, "GET", "/metrics/", &r);
	assert_int_equal(r.status, 404);
	free(r.body);
	http_do(port, "GET", "/metricsx", &r);
	assert_int_equal(r.status, 404);
	free(r.body);
	http_do(port, "POST", "/metrics", &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD");
	free(r.body);
	http_do(port, "DELETE", "/metrics", &r);
	assert_int_equal(r.status, 405);
	free(r.body);

	/* the same address again: refused with bind()'s reason, naming the address */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(fwd_metrics_http_start(addr, &m, &h2, err, sizeof(err)), -EADDRINUSE);
	assert_null(h2);
	assert_non_null(strstr(err, addr));
	assert_non_null(strstr(err, strerror(EADDRINUSE)));
	assert_int_equal(fwd_metrics_http_start("127.0.0.1", &m, &h2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_null(h2);

	fwd_metrics_http_stop(h);
	fwd_metrics_http_stop(NULL);
	/* stopped: the port is free again */
	assert_int_equal(fwd_metrics_http_start(addr, &m, &h, err, sizeof(err)), 0);
	assert_int_equal(fwd_metrics_http_port(h), port);
	fwd_metrics_http_stop(h);
}

static void test_config_option(void **state)
{
	char cmd[] = "forwarder", opt[] = "--metrics-addr", val[] = "127.0.0.1:9464";
	char bad[] = "9464", bad2[] = "[::1]9464";
	char *argv_ok[] = { cmd, opt, val, NULL };
	char *argv_none[] = { cmd, NULL };
	char *argv_bad[] = { cmd, opt, bad, NULL };
	char *argv_bad2[] = { cmd, opt, bad2, NULL };
	struct fwd_config c;
	char err[256];

	(void)state;
	unsetenv("LITEFS_FWD_METRICS_ADDR");
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_null(c.metrics_addr);
	assert_int_equal(fwd_config_parse(&c, 3, argv_ok, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_addr, "127.0.0.1:9464");
	assert_int_equal(fwd_config_parse(&c, 3, argv_bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--metrics-addr"));
	assert_non_null(strstr(err, "'9464'"));
	assert_int_equal(fwd_config_parse(&c, 3, argv_bad2, err, sizeof(err)), -EINVAL);

	setenv("LITEFS_FWD_METRICS_ADDR", "[::1]:9100", 1);
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_addr, "[::1]:9100");
	/* the command line wins */
	assert_int_equal(fwd_config_parse(&c, 3, argv_ok, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_addr, "127.0.0.1:9464");
	setenv("LITEFS_FWD_METRICS_ADDR", "", 1);  /* empty: unset */
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_null(c.metrics_addr);
	setenv("LITEFS_FWD_METRICS_ADDR", "nowhere", 1);
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "LITEFS_FWD_METRICS_ADDR"));
	unsetenv("LITEFS_FWD_METRICS_ADDR");
	assert_non_null(strstr(fwd_config_usage, "--metrics-addr HOST:PORT"));
	assert_non_null(strstr(fwd_config_usage, "LITEFS_FWD_METRICS_ADDR"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_exact),
		cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_classify_reply),
		cmocka_unit_test(test_repeat_note),
		cmocka_unit_test(test_concurrent_updates),
		cmocka_unit_test(test_recorded_by_the_request_path),
		cmocka_unit_test(test_repeat_outcomes),
		cmocka_unit_test(test_split_addr),
		cmocka_unit_test(test_http_endpoint),
		cmocka_unit_test(test_config_option),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
