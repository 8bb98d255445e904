/* Unit tests of the interposer's role view (preload/role.c): .primary read into the view
 * (hostname, template endpoint, trimmed line ends, unreadable file), observations ordered
 * by the moment they were taken (older ones dropped, generation grown only by a change of
 * the named primary), the cache TTL and the live event stream, the precedence of the
 * endpoint sources (LITEFS_FWD_ENDPOINTS map, tracking table, template) with the terms of
 * the tracking table, and the race a slow read of .primary must not win against an event
 * that arrived while it ran (a FIFO as .primary makes the read as slow as the test wants).
 *
 * role.c keeps process-global state (the view, the time of its newest observation, the
 * tracking entries), so every test is independent of the others and of their order: the
 * setup points fwd_config at a fresh directory (config_load() is never called: it reads
 * the environment once) and resets the view with a fresh read of an absent .primary, every
 * observation is dated role_now_ns(), later than anything applied before, and each test
 * names hosts no other test names (a tracking entry, once noted, stays for the process). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

/* By path: the forwarder has headers of the same names on the include path. */
#include "../preload/config.h"
#include "../preload/role.h"

#define TTL_LONG_MS 3600000 /* a TTL no test outlives: the view is never re-read by age */
#define TEMPLATE "tcp://{primary}:20208"

/* snprintf() that fails the test instead of cutting the text short. */
#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

/* ---- per-test state, released by the teardown even when a test fails --------------------- */

static char g_dir[PATH_MAX];     /* this test's directory, standing in for the mount */

/* A thread blocked in role_get() on a FIFO as .primary (test_slow_read_*). */
static struct {
	pthread_t thread;
	bool started;
	int wfd;                     /* the test's end of the FIFO, -1 when closed */
	char fifo[PATH_MAX + 16];
	struct role_view view;
	int rc;
} g_reader;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A role_now_ns() strictly later than t. */
static int64_t now_after(int64_t t)
{
	int64_t n;

	while ((n = role_now_ns()) <= t)
		;
	return n;
}

static void primary_path(char *buf, size_t len)
{
	xsnprintf(buf, len, "%s/.primary", g_dir);
}

/* Writes text as this test's .primary (replaced whole, never seen half written). */
static void write_primary(const char *text)
{
	char tmp[PATH_MAX + 16], path[PATH_MAX + 16];
	size_t n = strlen(text);
	int fd;

	xsnprintf(tmp, sizeof(tmp), "%s/.primary.tmp", g_dir);
	primary_path(path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void remove_primary(void)
{
	char path[PATH_MAX + 16];

	primary_path(path, sizeof(path));
	assert_int_equal(unlink(path), 0);
}

/* Replaces the LITEFS_FWD_ENDPOINTS map (NULL: none). */
static void set_endpoints(const char *map)
{
	free(fwd_config.endpoints);
	fwd_config.endpoints = NULL;
	if (map) {
		fwd_config.endpoints = strdup(map);
		assert_non_null(fwd_config.endpoints);
	}
}

static struct role_view get_view(bool fresh)
{
	struct role_view v;

	memset(&v, 0x5a, sizeof(v));
	assert_int_equal(role_get(&v, fresh), 0);
	return v;
}

/* v is a replica of host, its endpoint ep from src. */
static void expect_replica(const struct role_view *v, const char *host, const char *ep,
			   enum role_endpoint_source src)
{
	assert_true(v->replica);
	assert_string_equal(v->primary, host);
	assert_string_equal(v->endpoint, ep);
	assert_int_equal(v->source, src);
}

/* v names no primary: writes run here. */
static void expect_not_replica(const struct role_view *v)
{
	assert_false(v->replica);
	assert_string_equal(v->primary, "");
	assert_string_equal(v->endpoint, "");
	assert_int_equal(v->source, ROLE_EP_NONE);
}

static int group_setup(void **state)
{
	(void)state;
	/* The view reads fwd_config only; config_load() is never called, so this is all the
	 * configuration there is. */
	memset(&fwd_config, 0, sizeof(fwd_config));
	return 0;
}

static int test_setup(void **state)
{
	struct role_view v;

	(void)state;
	if (tmpdir_make(g_dir, sizeof(g_dir), "test_preload_role"))
		return -1;
	snprintf(fwd_config.mount, sizeof(fwd_config.mount), "%s", g_dir);
	fwd_config.litefs = true;
	snprintf(fwd_config.primary_file, sizeof(fwd_config.primary_file), "%s/.primary", g_dir);
	snprintf(fwd_config.endpoint, sizeof(fwd_config.endpoint), "%s", TEMPLATE);
	snprintf(fwd_config.table, sizeof(fwd_config.table), "_litefs_fwd_primary");
	free(fwd_config.endpoints);
	fwd_config.endpoints = NULL;
	fwd_config.cache_ttl_ms = TTL_LONG_MS;
	role_set_stream_live(false);
	/* A fresh read of the absent .primary, dated now: the view names no primary, and its
	 * last read is recent (no test sees a re-read by age it did not ask for). */
	if (role_get(&v, true) || v.replica)
		return -1;
	memset(&g_reader, 0, sizeof(g_reader));
	g_reader.wfd = -1;
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	if (g_reader.wfd >= 0)
		close(g_reader.wfd);
	g_reader.wfd = -1;
	if (g_reader.started) {
		/* A reader still blocked opening the FIFO: open its other end and close it, so
		 * that it reads an empty file and returns. */
		for (int i = 0; i < 5000; i++) {
			int fd = open(g_reader.fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

			if (fd >= 0) {
				close(fd);
				break;
			}
			if (!pthread_tryjoin_np(g_reader.thread, NULL)) {
				g_reader.started = false;
				break;
			}
			sleep_ms(1);
		}
		if (g_reader.started)
			pthread_join(g_reader.thread, NULL);
		g_reader.started = false;
	}
	role_set_stream_live(false);
	free(fwd_config.endpoints);
	fwd_config.endpoints = NULL;
	return tmpdir_remove(g_dir);
}

/* ---- .primary ---------------------------------------------------------------------------- */

/* A .primary that names node-a makes a replica of node-a, whose forwarder is found by the
 * template; no .primary makes no replica (the primary, or a replica without a primary:
 * either way writes run here, with no endpoint). */
static void test_file_names_primary(void **state)
{
	struct role_view v;

	(void)state;
	write_primary("node-a\n");
	v = get_view(true);
	expect_replica(&v, "node-a", "tcp://node-a:20208", ROLE_EP_TEMPLATE);

	remove_primary();
	v = get_view(true);
	expect_not_replica(&v);
}

/* The line end LiteFS writes, and trailing spaces and CRs, are not part of the hostname;
 * a .primary holding nothing else names no primary. */
static void test_file_trailing_whitespace(void **state)
{
	static const struct {
		const char *text;
		const char *host; /* NULL: no primary named */
	} cases[] = {
		{ "node-b", "node-b" },
		{ "node-c \r\n", "node-c" },
		{ "node-d\n\n  \r\n", "node-d" },
		{ "", NULL },
		{ "\n", NULL },
		{ " \r\n", NULL },
		{ "node-e\n", "node-e" },
	};
	char ep[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct role_view v;

		write_primary(cases[i].text);
		v = get_view(true);
		if (cases[i].host) {
			xsnprintf(ep, sizeof(ep), "tcp://%s:20208", cases[i].host);
			expect_replica(&v, cases[i].host, ep, ROLE_EP_TEMPLATE);
		} else {
			expect_not_replica(&v);
		}
	}
}

/* A .primary that cannot be read (here a directory: EISDIR) is an error, and the view
 * stays what it was: an unreadable file says nothing about the role. */
static void test_file_unreadable(void **state)
{
	char dir[PATH_MAX + 16];
	struct role_view v, before;

	(void)state;
	write_primary("node-f\n");
	before = get_view(true);
	expect_replica(&before, "node-f", "tcp://node-f:20208", ROLE_EP_TEMPLATE);

	xsnprintf(dir, sizeof(dir), "%s/primary-dir", g_dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(fwd_config.primary_file, sizeof(fwd_config.primary_file), "%s", dir);
	memset(&v, 0, sizeof(v));
	assert_int_equal(role_get(&v, true), -EISDIR);
	expect_replica(&v, "node-f", "tcp://node-f:20208", ROLE_EP_TEMPLATE);
	assert_true(v.generation == before.generation);
}

/* ---- ordering and generation -------------------------------------------------------------- */

/* Observations apply in the order they were taken, not the order they arrive: one older
 * than the last applied is dropped and changes nothing; a newer one applies. The
 * generation grows when the named primary changes, never when an observation repeats
 * what the view says. */
static void test_observe_order_and_generation(void **state)
{
	struct role_view v, a;
	int64_t t0, t1;

	(void)state;
	t0 = role_now_ns();
	assert_true(role_observe(ROLE_SRC_EVENTS, t0, false, "ord-a"));
	a = get_view(false);
	expect_replica(&a, "ord-a", "tcp://ord-a:20208", ROLE_EP_TEMPLATE);

	/* older: dropped, whatever it says and whichever source it comes from */
	assert_false(role_observe(ROLE_SRC_FILE, t0 - 1, false, "ord-b"));
	assert_false(role_observe(ROLE_SRC_EVENTS, t0 - 1000000000, true, NULL));
	v = get_view(false);
	expect_replica(&v, "ord-a", "tcp://ord-a:20208", ROLE_EP_TEMPLATE);
	assert_true(v.generation == a.generation);

	/* the same, newer: nothing changes, the generation neither */
	t1 = now_after(t0);
	assert_false(role_observe(ROLE_SRC_FILE, t1, false, "ord-a"));
	v = get_view(false);
	assert_true(v.generation == a.generation);
	assert_false(role_observe(ROLE_SRC_EVENTS, now_after(t1), false, "ord-a"));
	assert_true(get_view(false).generation == a.generation);

	/* another primary, newer: applies, one generation later */
	assert_true(role_observe(ROLE_SRC_FILE, role_now_ns(), false, "ord-b"));
	v = get_view(false);
	expect_replica(&v, "ord-b", "tcp://ord-b:20208", ROLE_EP_TEMPLATE);
	assert_true(v.generation == a.generation + 1);

	/* and back: another generation */
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, "ord-a"));
	v = get_view(false);
	expect_replica(&v, "ord-a", "tcp://ord-a:20208", ROLE_EP_TEMPLATE);
	assert_true(v.generation == a.generation + 2);

	/* the dropped observation above did not move the time of the view back: one dated
	 * between t0 and now is still too old */
	assert_false(role_observe(ROLE_SRC_FILE, t1, false, "ord-c"));
	assert_string_equal(get_view(false).primary, "ord-a");
}

/* "This node is the primary" names no primary even with a hostname, and neither does a
 * replica with no hostname (NULL or ""): none of them is forwarded to. Going from "no
 * primary named" to "no primary named" by another way is no change. */
static void test_primary_and_no_hostname(void **state)
{
	struct role_view v, a;

	(void)state;
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, "pri-a"));
	a = get_view(false);
	expect_replica(&a, "pri-a", "tcp://pri-a:20208", ROLE_EP_TEMPLATE);

	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), true, "pri-a"));
	v = get_view(false);
	expect_not_replica(&v);
	assert_true(v.generation == a.generation + 1);

	assert_false(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, NULL));
	assert_false(role_observe(ROLE_SRC_FILE, role_now_ns(), false, ""));
	assert_false(role_observe(ROLE_SRC_EVENTS, role_now_ns(), true, NULL));
	v = get_view(false);
	expect_not_replica(&v);
	assert_true(v.generation == a.generation + 1);

	assert_true(role_observe(ROLE_SRC_FILE, role_now_ns(), false, "pri-a"));
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, NULL));
	v = get_view(false);
	expect_not_replica(&v);
	assert_true(v.generation == a.generation + 3);

	assert_true(role_observe(ROLE_SRC_FILE, role_now_ns(), false, "pri-a"));
	assert_true(role_observe(ROLE_SRC_FILE, role_now_ns(), false, ""));
	v = get_view(false);
	expect_not_replica(&v);
}

/* ---- the cache TTL and the live event stream ---------------------------------------------- */

/* With a long TTL and no live stream the view is trusted: a change of .primary is not
 * seen by role_get(.., false), and is by role_get(.., true) (what a failed forward asks
 * for). */
static void test_ttl_long(void **state)
{
	struct role_view v;

	(void)state;
	fwd_config.cache_ttl_ms = TTL_LONG_MS;
	write_primary("ttl-a\n");
	v = get_view(true);
	expect_replica(&v, "ttl-a", "tcp://ttl-a:20208", ROLE_EP_TEMPLATE);

	write_primary("ttl-b\n");
	v = get_view(false);
	expect_replica(&v, "ttl-a", "tcp://ttl-a:20208", ROLE_EP_TEMPLATE);
	remove_primary();
	v = get_view(false);
	expect_replica(&v, "ttl-a", "tcp://ttl-a:20208", ROLE_EP_TEMPLATE);

	write_primary("ttl-b\n");
	v = get_view(true);
	expect_replica(&v, "ttl-b", "tcp://ttl-b:20208", ROLE_EP_TEMPLATE);
}

/* With a TTL of 0 every role_get() reads .primary: a change is seen at once. */
static void test_ttl_zero(void **state)
{
	struct role_view v;

	(void)state;
	fwd_config.cache_ttl_ms = 0;
	write_primary("ttl0-a\n");
	v = get_view(false);
	expect_replica(&v, "ttl0-a", "tcp://ttl0-a:20208", ROLE_EP_TEMPLATE);
	write_primary("ttl0-b\n");
	v = get_view(false);
	expect_replica(&v, "ttl0-b", "tcp://ttl0-b:20208", ROLE_EP_TEMPLATE);
	remove_primary();
	v = get_view(false);
	expect_not_replica(&v);
}

/* A short TTL: a change of .primary is seen by role_get(.., false) once the TTL has run
 * out since the last read, never before. */
static void test_ttl_expires(void **state)
{
	const int ttl_ms = 100;
	struct role_view v;
	int64_t read_at, seen_at;

	(void)state;
	fwd_config.cache_ttl_ms = ttl_ms;
	write_primary("ttlx-a\n");
	read_at = role_now_ns();       /* no later than the read role_get() dates */
	v = get_view(true);
	expect_replica(&v, "ttlx-a", "tcp://ttlx-a:20208", ROLE_EP_TEMPLATE);
	write_primary("ttlx-b\n");
	for (int i = 0;; i++) {
		assert_true(i < 5000);
		v = get_view(false);
		seen_at = role_now_ns(); /* no earlier than the read that saw it */
		if (strcmp(v.primary, "ttlx-a"))
			break;
		sleep_ms(1);
	}
	expect_replica(&v, "ttlx-b", "tcp://ttlx-b:20208", ROLE_EP_TEMPLATE);
	assert_true(seen_at - read_at >= (int64_t)ttl_ms * 1000000);
}

/* While the event stream is live it keeps the view current: no re-read when the TTL runs
 * out (even a TTL of 0), the events apply, and role_get(.., true) still reads .primary.
 * Once the stream is not live any more, the TTL applies again. */
static void test_stream_live(void **state)
{
	struct role_view v;

	(void)state;
	fwd_config.cache_ttl_ms = 0;
	write_primary("live-a\n");
	v = get_view(true);
	expect_replica(&v, "live-a", "tcp://live-a:20208", ROLE_EP_TEMPLATE);

	role_set_stream_live(true);
	write_primary("live-b\n");
	v = get_view(false);
	expect_replica(&v, "live-a", "tcp://live-a:20208", ROLE_EP_TEMPLATE);

	/* an event applies */
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, "live-c"));
	v = get_view(false);
	expect_replica(&v, "live-c", "tcp://live-c:20208", ROLE_EP_TEMPLATE);

	/* a fresh read is taken after the event: it wins */
	v = get_view(true);
	expect_replica(&v, "live-b", "tcp://live-b:20208", ROLE_EP_TEMPLATE);

	remove_primary();
	v = get_view(false);
	expect_replica(&v, "live-b", "tcp://live-b:20208", ROLE_EP_TEMPLATE);

	role_set_stream_live(false);
	v = get_view(false);
	expect_not_replica(&v);
}

/* ---- endpoints ------------------------------------------------------------------------ */

/* The map (LITEFS_FWD_ENDPOINTS) beats the tracking table, which beats the template, in
 * the view and in role_endpoint_for() alike. A map entry is the whole hostname: one that
 * is a prefix of another's name is not it. */
static void test_endpoint_precedence(void **state)
{
	char ep[512];
	struct role_view v;

	(void)state;
	set_endpoints("prec-m=tcp://map-m:1,prec-x=ipc:///tmp/prec-x.ipc,prec-mt=tcp://map-mt:3");
	/* tracking entries for hosts not named: nothing changes in the view */
	assert_false(role_note_tracking("prec-t", "tcp://track-t:2", 1));
	assert_false(role_note_tracking("prec-mt", "tcp://track-mt:2", 1));

	assert_int_equal(role_endpoint_for("prec-m", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://map-m:1");
	assert_int_equal(role_endpoint_for("prec-x", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "ipc:///tmp/prec-x.ipc");
	assert_int_equal(role_endpoint_for("prec-mt", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://map-mt:3");
	assert_int_equal(role_endpoint_for("prec-t", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://track-t:2");
	assert_int_equal(role_endpoint_for("prec-n", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://prec-n:20208");
	assert_int_equal(role_endpoint_for("prec", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://prec:20208");

	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, "prec-mt"));
	v = get_view(false);
	expect_replica(&v, "prec-mt", "tcp://map-mt:3", ROLE_EP_MAP);
	/* a newer tracking entry of the named primary does not move it off its map entry */
	assert_false(role_note_tracking("prec-mt", "tcp://track-mt:9", 2));
	v = get_view(false);
	expect_replica(&v, "prec-mt", "tcp://map-mt:3", ROLE_EP_MAP);

	assert_true(role_observe(ROLE_SRC_FILE, role_now_ns(), false, "prec-t"));
	v = get_view(false);
	expect_replica(&v, "prec-t", "tcp://track-t:2", ROLE_EP_TRACKING);

	assert_true(role_observe(ROLE_SRC_FILE, role_now_ns(), false, "prec-n"));
	v = get_view(false);
	expect_replica(&v, "prec-n", "tcp://prec-n:20208", ROLE_EP_TEMPLATE);

	/* .primary naming a mapped host: the map, from a file read too */
	write_primary("prec-m\n");
	v = get_view(true);
	expect_replica(&v, "prec-m", "tcp://map-m:1", ROLE_EP_MAP);

	/* without the map, the tracking entry of prec-mt shows (the newest term's) */
	set_endpoints(NULL);
	assert_int_equal(role_endpoint_for("prec-mt", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://track-mt:9");
	assert_int_equal(role_endpoint_for("prec-m", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://prec-m:20208");
}

/* Tracking entries are kept by term, per hostname: a lower term than the one known is
 * ignored (a database that has not caught up), an equal or higher one taken.
 * role_note_tracking() returns true exactly when the endpoint of the named primary
 * changed. */
static void test_tracking_terms(void **state)
{
	char ep[512];
	struct role_view v, a;

	(void)state;
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, "term-h"));
	a = get_view(false);
	expect_replica(&a, "term-h", "tcp://term-h:20208", ROLE_EP_TEMPLATE);

	assert_true(role_note_tracking("term-h", "tcp://e1:1", 5));
	v = get_view(false);
	expect_replica(&v, "term-h", "tcp://e1:1", ROLE_EP_TRACKING);
	/* the primary named did not change: neither did the generation */
	assert_true(v.generation == a.generation);

	/* the same again: no change */
	assert_false(role_note_tracking("term-h", "tcp://e1:1", 5));
	assert_false(role_note_tracking("term-h", "tcp://e1:1", 6));
	/* equal term (6 now), another endpoint: taken */
	assert_true(role_note_tracking("term-h", "tcp://e2:2", 6));
	v = get_view(false);
	expect_replica(&v, "term-h", "tcp://e2:2", ROLE_EP_TRACKING);
	/* lower term: ignored, in the view and for role_endpoint_for() */
	assert_false(role_note_tracking("term-h", "tcp://e3:3", 5));
	v = get_view(false);
	expect_replica(&v, "term-h", "tcp://e2:2", ROLE_EP_TRACKING);
	assert_int_equal(role_endpoint_for("term-h", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://e2:2");
	/* higher term: taken */
	assert_true(role_note_tracking("term-h", "tcp://e4:4", 9));
	v = get_view(false);
	expect_replica(&v, "term-h", "tcp://e4:4", ROLE_EP_TRACKING);

	/* another host's entry: kept, but the view's endpoint did not change */
	assert_false(role_note_tracking("term-g", "tcp://g1:1", 1));
	v = get_view(false);
	expect_replica(&v, "term-h", "tcp://e4:4", ROLE_EP_TRACKING);
	assert_int_equal(role_endpoint_for("term-g", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://g1:1");

	/* terms are per hostname: term-g's 1 does not hide term-h's 9 */
	assert_false(role_note_tracking("term-h", "tcp://e5:5", 8));
	assert_int_equal(role_endpoint_for("term-h", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://e4:4");

	/* the view moves to term-g: its tracking entry */
	assert_true(role_observe(ROLE_SRC_FILE, role_now_ns(), false, "term-g"));
	v = get_view(false);
	expect_replica(&v, "term-g", "tcp://g1:1", ROLE_EP_TRACKING);
	assert_true(v.generation == a.generation + 1);
	assert_true(role_note_tracking("term-g", "tcp://g2:2", 2));
	assert_string_equal(get_view(false).endpoint, "tcp://g2:2");

	/* nothing named: nothing changes */
	assert_false(role_note_tracking("", "tcp://x:1", 100));
	assert_false(role_note_tracking("term-g", "", 100));
	assert_string_equal(get_view(false).endpoint, "tcp://g2:2");

	/* not a replica: an entry is kept but no view endpoint changes */
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), true, NULL));
	assert_false(role_note_tracking("term-g", "tcp://g3:3", 3));
	v = get_view(false);
	expect_not_replica(&v);
	assert_int_equal(role_endpoint_for("term-g", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://g3:3");
}

/* role_endpoint_for(): -ENAMETOOLONG when the caller's buffer is too short, -ENOENT when
 * the template cannot hold the hostname. */
static void test_endpoint_errors(void **state)
{
	char ep[512], host[201];

	(void)state;
	assert_int_equal(role_endpoint_for("err-a", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://err-a:20208");
	/* "tcp://err-a:20208" is 17 bytes: 18 with the NUL fit, 17 do not */
	assert_int_equal(role_endpoint_for("err-a", ep, 18), 0);
	assert_int_equal(role_endpoint_for("err-a", ep, 17), -ENAMETOOLONG);

	memset(host, 'e', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(fwd_config.endpoint, sizeof(fwd_config.endpoint),
		 "tcp://{primary}.{primary}.{primary}:1");
	assert_int_equal(role_endpoint_for(host, ep, sizeof(ep)), -ENOENT);
	assert_int_equal(role_endpoint_for("err-b", ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://err-b.err-b.err-b:1");
}

/* A primary whose hostname the template cannot hold: nowhere to send writes, so the view
 * is not a replica (writes run here, where LiteFS refuses them), says so consistently (no
 * endpoint, source NONE), and seeing that same primary again is no change. */
static void test_endpoint_unresolvable_primary(void **state)
{
	char host[201];
	struct role_view v, a;

	(void)state;
	memset(host, 'u', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(fwd_config.endpoint, sizeof(fwd_config.endpoint),
		 "tcp://{primary}.{primary}.{primary}:1");
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, "unres-a"));
	a = get_view(false);
	expect_replica(&a, "unres-a", "tcp://unres-a.unres-a.unres-a:1", ROLE_EP_TEMPLATE);

	role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, host);
	v = get_view(false);
	assert_false(v.replica);
	assert_int_equal(v.source, ROLE_EP_NONE);
	assert_string_equal(v.endpoint, "");
	assert_true(v.generation == a.generation + 1);

	assert_false(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, host));
	v = get_view(false);
	assert_false(v.replica);
	assert_true(v.generation == a.generation + 1);
}

/* ---- races ------------------------------------------------------------------------------ */

/* An observation taken before a newer event was applied must not undo it: t1 is taken,
 * an event dated t2 > t1 applied, then the observation dated t1 arrives. */
static void test_older_observation_cannot_undo_event(void **state)
{
	struct role_view v, e;
	int64_t t1, t2;

	(void)state;
	t1 = role_now_ns();
	t2 = now_after(t1);
	assert_true(role_observe(ROLE_SRC_EVENTS, t2, false, "race-new"));
	e = get_view(false);
	expect_replica(&e, "race-new", "tcp://race-new:20208", ROLE_EP_TEMPLATE);

	assert_false(role_observe(ROLE_SRC_FILE, t1, false, "race-old"));
	assert_false(role_observe(ROLE_SRC_FILE, t1, true, NULL));
	assert_false(role_observe(ROLE_SRC_FILE, t1, false, NULL));
	v = get_view(false);
	expect_replica(&v, "race-new", "tcp://race-new:20208", ROLE_EP_TEMPLATE);
	assert_true(v.generation == e.generation);

	/* the reverse: the primary (event at t4) is not undone by a replica read at t3 */
	{
		int64_t t3 = role_now_ns(), t4 = now_after(t3);

		assert_true(role_observe(ROLE_SRC_EVENTS, t4, true, NULL));
		assert_false(role_observe(ROLE_SRC_FILE, t3, false, "race-new"));
		v = get_view(false);
	expect_not_replica(&v);
	}
}

static void *reader_main(void *arg)
{
	(void)arg;
	memset(&g_reader.view, 0, sizeof(g_reader.view));
	g_reader.rc = role_get(&g_reader.view, true);
	return NULL;
}

/* Makes .primary a FIFO and starts a thread in role_get(.., true): it blocks opening it.
 * Returns once the thread has opened the FIFO (so it has dated its read already), with
 * g_reader.wfd the write end. */
static void start_slow_read(void)
{
	int fd = -1;

	xsnprintf(g_reader.fifo, sizeof(g_reader.fifo), "%s/primary.fifo", g_dir);
	(void)unlink(g_reader.fifo);
	assert_int_equal(mkfifo(g_reader.fifo, 0644), 0);
	snprintf(fwd_config.primary_file, sizeof(fwd_config.primary_file), "%s", g_reader.fifo);
	assert_int_equal(pthread_create(&g_reader.thread, NULL, reader_main, NULL), 0);
	g_reader.started = true;
	/* O_NONBLOCK: ENXIO until the reader has the FIFO open, instead of waiting forever if
	 * it never opens it */
	for (int i = 0; i < 5000 && fd < 0; i++) {
		fd = open(g_reader.fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			assert_int_equal(errno, ENXIO);
			sleep_ms(1);
		}
	}
	assert_true(fd >= 0);
	g_reader.wfd = fd;
}

/* Writes text to the FIFO, closes it and waits for the reader's role_get(). */
static void finish_slow_read(const char *text)
{
	size_t n = strlen(text);
	int fd = g_reader.wfd;

	g_reader.wfd = -1;
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(pthread_join(g_reader.thread, NULL), 0);
	g_reader.started = false;
}

/* The same race through role_get(): a read of .primary that is slow (a FIFO, held open by
 * the test) is dated when it began, so an event applied while it ran wins over what it
 * reads; without such an event, what it reads applies (the FIFO is read like a file). */
static void test_slow_read_cannot_undo_event(void **state)
{
	struct role_view v;

	(void)state;
	/* no event meanwhile: the read applies */
	start_slow_read();
	finish_slow_read("slow-first\n");
	assert_int_equal(g_reader.rc, 0);
	expect_replica(&g_reader.view, "slow-first", "tcp://slow-first:20208",
		       ROLE_EP_TEMPLATE);

	/* an event while the read runs: the event stays */
	start_slow_read();
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), false, "slow-event"));
	finish_slow_read("slow-old\n");
	assert_int_equal(g_reader.rc, 0);
	expect_replica(&g_reader.view, "slow-event", "tcp://slow-event:20208",
		       ROLE_EP_TEMPLATE);
	v = get_view(false);
	expect_replica(&v, "slow-event", "tcp://slow-event:20208", ROLE_EP_TEMPLATE);

	/* the same when the event says primary and the slow read an old primary's name */
	start_slow_read();
	assert_true(role_observe(ROLE_SRC_EVENTS, role_now_ns(), true, NULL));
	finish_slow_read("slow-event\n");
	assert_int_equal(g_reader.rc, 0);
	expect_not_replica(&g_reader.view);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_file_names_primary),
		T(test_file_trailing_whitespace),
		T(test_file_unreadable),
		T(test_observe_order_and_generation),
		T(test_primary_and_no_hostname),
		T(test_ttl_long),
		T(test_ttl_zero),
		T(test_ttl_expires),
		T(test_stream_live),
		T(test_endpoint_precedence),
		T(test_tracking_terms),
		T(test_endpoint_errors),
		T(test_endpoint_unresolvable_primary),
		T(test_older_observation_cannot_undo_event),
		T(test_slow_read_cannot_undo_event),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
