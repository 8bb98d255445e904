/* Telemetry events of the interposer (preload/trace.c): the exact JSON lines, the
 * statement kinds and names, and the targets: a file shared by threads and processes, a
 * FIFO and a datagram socket nobody reads (the writer never blocks, drops are counted), a
 * UDP socket, a target that cannot be opened, a descriptor the program took over. Every
 * test gets a fixture (temp dir, descriptors, children) torn down even when it fails.
 * Loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>

#include "tmpdir.h"

/* By path: the forwarder has headers of the same names on the include path. */
#include "../preload/trace.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

/* Generous: sanitizers slow everything down. */
#define SLOW_CALL_NS 200000000LL

/* --- fixture ------------------------------------------------------------------------------ */

#define FX_MAX 16

static struct {
	char dir[PATH_MAX];
	int fd[FX_MAX];
	pid_t child[FX_MAX];
} fx;

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < FX_MAX; i++) {
		fx.fd[i] = -1;
		fx.child[i] = 0;
	}
	return tmpdir_make(fx.dir, sizeof(fx.dir), "test_trace") ? -1 : 0;
}

static int teardown(void **state)
{
	int st;

	(void)state;
	trace_configure(NULL);
	for (int i = 0; i < FX_MAX; i++) {
		if (fx.child[i] > 0) {
			kill(fx.child[i], SIGKILL);
			while (waitpid(fx.child[i], &st, 0) < 0 && errno == EINTR)
				;
		}
		if (fx.fd[i] >= 0)
			close(fx.fd[i]);
	}
	return tmpdir_remove(fx.dir);
}

static int fx_fd(int fd)
{
	int i;

	assert_true(fd >= 0);
	for (i = 0; i < FX_MAX && fx.fd[i] >= 0; i++)
		;
	assert_true(i < FX_MAX);
	fx.fd[i] = fd;
	return fd;
}

static void fx_close(int fd)
{
	for (int i = 0; i < FX_MAX; i++)
		if (fx.fd[i] == fd)
			fx.fd[i] = -1;
	close(fd);
}

static void fx_path(char *buf, size_t len, const char *name)
{
	xsnprintf(buf, len, "%s/%s", fx.dir, name);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The content of a file (malloc'ed, NUL-terminated; "" when it does not exist). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	buf = calloc(1, 1);
	assert_non_null(buf);
	if (!f)
		return buf;
	do {
		if (len + 4096 + 1 > cap) {
			cap = (len + 4096 + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Parses one JSON line (without its '\n'); fails the test when it is not an object. */
static json_t *parse_line(const char *line, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(line, len, 0, &err);

	if (!j || !json_is_object(j))
		fail_msg("not a JSON object: %.*s (%s)", (int)len, line, err.text);
	return j;
}

/* A known event of each type. */
static struct trace_event known_event(enum trace_type type)
{
	struct trace_event ev = {
		.type = type,
		.wall = { 1700000000, 123456789 },
		.mono_ns = 987654321012LL,
		.pid = 4242,
		.tid = 4243,
		.db = "app.db",
		.kind = "insert",
		.request_id = 0x1fULL,
		.session_id = 0,
		.duration_us = 783,
		.outcome = SQLITE_DONE,
		.busy_retries = 0,
		.changes = 1,
		.reason = TRACE_REASON_NONE,
	};

	return ev;
}

static void assert_formats_as(const struct trace_event *ev, const char *want)
{
	char buf[TRACE_LINE_MAX];
	int n = trace_format(buf, sizeof(buf), ev);

	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(want));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

/* --- the lines ---------------------------------------------------------------------------- */

static void test_format_start(void **state)
{
	struct trace_event ev = known_event(TRACE_FORWARD_START);

	(void)state;
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.start\",\"time\":\"2023-11-14T22:13:20.123456Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,\"db\":\"app.db\","
			  "\"kind\":\"insert\",\"request_id\":\"000000000000001f\",\"session_id\":null}\n");
	ev.session_id = 0xfedcba9876543210ULL;
	ev.request_id = UINT64_MAX;
	ev.kind = "begin";
	ev.wall.tv_nsec = 999;
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.start\",\"time\":\"2023-11-14T22:13:20.000000Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,\"db\":\"app.db\","
			  "\"kind\":\"begin\",\"request_id\":\"ffffffffffffffff\","
			  "\"session_id\":\"fedcba9876543210\"}\n");
}

static void test_format_stop(void **state)
{
	struct trace_event ev = known_event(TRACE_FORWARD_STOP);

	(void)state;
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.stop\",\"time\":\"2023-11-14T22:13:20.123456Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,\"db\":\"app.db\","
			  "\"kind\":\"insert\",\"request_id\":\"000000000000001f\",\"session_id\":null,"
			  "\"outcome\":\"SQLITE_DONE\",\"code\":101,\"changes\":1,\"duration_us\":783,"
			  "\"busy_retries\":0}\n");
	ev.outcome = SQLITE_CONSTRAINT_UNIQUE;
	ev.changes = 0;
	ev.busy_retries = 3;
	ev.kind = "update";
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.stop\",\"time\":\"2023-11-14T22:13:20.123456Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,\"db\":\"app.db\","
			  "\"kind\":\"update\",\"request_id\":\"000000000000001f\",\"session_id\":null,"
			  "\"outcome\":\"SQLITE_CONSTRAINT_UNIQUE\",\"code\":2067,\"changes\":0,"
			  "\"duration_us\":783,\"busy_retries\":3}\n");
}

static void test_format_exception(void **state)
{
	struct trace_event ev = known_event(TRACE_FORWARD_EXCEPTION);

	(void)state;
	ev.reason = TRACE_REASON_CONNECTION_REFUSED;
	ev.outcome = SQLITE_BUSY;
	ev.duration_us = 15000123;
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.exception\",\"time\":\"2023-11-14T22:13:20.123456Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,\"db\":\"app.db\","
			  "\"kind\":\"insert\",\"request_id\":\"000000000000001f\",\"session_id\":null,"
			  "\"reason\":\"connection_refused\",\"outcome\":\"SQLITE_BUSY\",\"code\":5,"
			  "\"duration_us\":15000123,\"busy_retries\":0}\n");
	/* the statement runs here instead: no outcome */
	ev.reason = TRACE_REASON_NOW_PRIMARY;
	ev.outcome = -1;
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.exception\",\"time\":\"2023-11-14T22:13:20.123456Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,\"db\":\"app.db\","
			  "\"kind\":\"insert\",\"request_id\":\"000000000000001f\",\"session_id\":null,"
			  "\"reason\":\"now_primary\",\"outcome\":null,\"code\":null,"
			  "\"duration_us\":15000123,\"busy_retries\":0}\n");
	/* a code SQLite does not have: the number alone */
	ev.outcome = 250;
	ev.reason = TRACE_REASON_OUTCOME_UNKNOWN;
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.exception\",\"time\":\"2023-11-14T22:13:20.123456Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,\"db\":\"app.db\","
			  "\"kind\":\"insert\",\"request_id\":\"000000000000001f\",\"session_id\":null,"
			  "\"reason\":\"outcome_unknown\",\"outcome\":null,\"code\":250,"
			  "\"duration_us\":15000123,\"busy_retries\":0}\n");
}

/* The database name is the only free text of a line: quotes, backslashes, control
 * characters are escaped, UTF-8 kept, bytes that are not UTF-8 replaced with U+FFFD. */
static void test_format_escapes_the_database_name(void **state)
{
	static const char name[] = "a\"b\\c/d\n\r\t\x01\x1f\x7f \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"
				   " \xff\xc3(\xed\xa0\x80\xe0\x80\xaf\xf4\x90\x80\x80.db";
	struct trace_event ev = known_event(TRACE_FORWARD_START);
	char buf[TRACE_LINE_MAX];
	json_t *j;
	int n;

	(void)state;
	ev.db = name;
	assert_formats_as(&ev,
			  "{\"event\":\"litefs_fwd.forward.start\",\"time\":\"2023-11-14T22:13:20.123456Z\","
			  "\"monotonic_ns\":987654321012,\"pid\":4242,\"tid\":4243,"
			  "\"db\":\"a\\\"b\\\\c/d\\n\\r\\t\\u0001\\u001f\\u007f \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"
			  " \\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd.db\","
			  "\"kind\":\"insert\",\"request_id\":\"000000000000001f\",\"session_id\":null}\n");
	/* and a JSON reader reads the name back (the valid parts exactly) */
	n = trace_format(buf, sizeof(buf), &ev);
	assert_true(n > 0);
	j = parse_line(buf, (size_t)n - 1);
	assert_string_equal(json_string_value(json_object_get(j, "db")),
			    "a\"b\\c/d\n\r\t\x01\x1f\x7f \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 "
			    "\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.db");
	json_decref(j);
}

/* A database name of 255 bytes, each escaped, fits in TRACE_LINE_MAX; a buffer one byte
 * too small is refused, never overrun. */
static void test_format_bounds(void **state)
{
	struct trace_event ev = known_event(TRACE_FORWARD_EXCEPTION);
	char name[256], buf[TRACE_LINE_MAX + 1];
	int n;

	(void)state;
	memset(name, '\x01', 255);
	name[255] = '\0';
	ev.db = name;
	ev.request_id = ev.session_id = UINT64_MAX;
	ev.mono_ns = INT64_MAX;
	ev.duration_us = INT64_MAX;
	ev.busy_retries = UINT32_MAX;
	ev.pid = ev.tid = INT32_MAX;
	ev.reason = TRACE_REASON_NETWORK_UNREACHABLE;
	ev.outcome = SQLITE_CONSTRAINT_FOREIGNKEY;
	n = trace_format(buf, TRACE_LINE_MAX, &ev);
	assert_true(n > 0 && n <= TRACE_LINE_MAX);
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(trace_format(buf, (size_t)n, &ev), n);
	assert_int_equal(buf[n], 'X');
	assert_int_equal(trace_format(buf, (size_t)n - 1, &ev), -ENOSPC);
	assert_int_equal(trace_format(buf, 0, &ev), -ENOSPC);
}

static void test_kinds(void **state)
{
	static const struct {
		const char *sql, *kind;
	} cases[] = {
		{ "INSERT INTO t VALUES (1)", "insert" },
		{ "  -- note\n /* x */ insert into t values (1)", "insert" },
		{ "REPLACE INTO t VALUES (1)", "insert" },
		{ "update t set x = 1", "update" },
		{ "DELETE FROM t", "delete" },
		{ "CREATE TABLE t(x)", "ddl" },
		{ "drop index i", "ddl" },
		{ "ALTER TABLE t ADD COLUMN y", "ddl" },
		{ "SELECT count(*) FROM t", "select" },
		{ "VALUES (1)", "select" },
		{ "PRAGMA user_version = 3", "pragma" },
		{ "VACUUM", "maintenance" },
		{ "ANALYZE", "maintenance" },
		{ "REINDEX t", "maintenance" },
		{ "WITH a(x) AS (SELECT 1) INSERT INTO t SELECT x FROM a", "insert" },
		{ "with recursive c(n) as (select 1 union all select n + 1 from c where n < 9) "
		  "delete from t where x in c", "delete" },
		{ "WITH \"update\"(x) AS (SELECT ')') UPDATE t SET x = (SELECT x FROM \"update\")",
		  "update" },
		{ "WITH a AS (SELECT 1) SELECT * FROM a", "select" },
		{ "WITH", "other" },
		{ "", "other" },
		{ "INSERTED", "other" },
		{ "ATTACH 'x' AS y", "other" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = trace_kind(false, CLASSIFY_TXN_UNKNOWN, cases[i].sql);

		if (strcmp(got, cases[i].kind))
			fail_msg("%s: %s, expected %s", cases[i].sql, got, cases[i].kind);
	}
	assert_string_equal(trace_kind(false, CLASSIFY_TXN_UNKNOWN, NULL), "other");
	/* transaction control is read from what the classifier said, not the text */
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_BEGIN, "INSERT"), "begin");
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_BEGIN_WRITE, NULL), "begin");
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_COMMIT, NULL), "commit");
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_ROLLBACK, NULL), "rollback");
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_ROLLBACK_TO, NULL), "rollback_to");
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_SAVEPOINT, NULL), "savepoint");
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_RELEASE, NULL), "release");
	assert_string_equal(trace_kind(true, CLASSIFY_TXN_UNKNOWN, "COMMIT"), "other");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(trace_code_name(SQLITE_DONE), "SQLITE_DONE");
	assert_string_equal(trace_code_name(SQLITE_ROW), "SQLITE_ROW");
	assert_string_equal(trace_code_name(SQLITE_OK), "SQLITE_OK");
	assert_string_equal(trace_code_name(SQLITE_CONSTRAINT_UNIQUE), "SQLITE_CONSTRAINT_UNIQUE");
	assert_string_equal(trace_code_name(SQLITE_IOERR_WRITE), "SQLITE_IOERR_WRITE");
	assert_string_equal(trace_code_name(SQLITE_BUSY_SNAPSHOT), "SQLITE_BUSY_SNAPSHOT");
	assert_string_equal(trace_code_name(SQLITE_ABORT_ROLLBACK), "SQLITE_ABORT_ROLLBACK");
	/* an extended code this build does not know: its primary code's name */
	assert_string_equal(trace_code_name(SQLITE_IOERR | (99 << 8)), "SQLITE_IOERR");
	assert_null(trace_code_name(250));
	assert_null(trace_code_name(-1));

	assert_string_equal(trace_reason_name(TRACE_REASON_OUTCOME_UNKNOWN), "outcome_unknown");
	assert_string_equal(trace_reason_name(TRACE_REASON_AUTH_REFUSED), "authentication_refused");
	assert_string_equal(trace_reason_name(TRACE_REASON_NO_PRIMARY), "no_primary");
	assert_string_equal(trace_reason_name((enum trace_reason)1000), "error");
	assert_int_equal(trace_reason_from_errno(-ECONNREFUSED), TRACE_REASON_CONNECTION_REFUSED);
	assert_int_equal(trace_reason_from_errno(-ETIMEDOUT), TRACE_REASON_TIMEOUT);
	assert_int_equal(trace_reason_from_errno(-EHOSTUNREACH), TRACE_REASON_HOST_UNREACHABLE);
	assert_int_equal(trace_reason_from_errno(-ENETUNREACH), TRACE_REASON_NETWORK_UNREACHABLE);
	assert_int_equal(trace_reason_from_errno(-EPIPE), TRACE_REASON_CONNECTION_RESET);
	assert_int_equal(trace_reason_from_errno(-EPROTO), TRACE_REASON_PROTOCOL_ERROR);
	assert_int_equal(trace_reason_from_errno(-EACCES), TRACE_REASON_AUTH_REFUSED);
	assert_int_equal(trace_reason_from_errno(-EMSGSIZE), TRACE_REASON_TOO_LARGE);
	assert_int_equal(trace_reason_from_errno(-ENOMEM), TRACE_REASON_OUT_OF_MEMORY);
	assert_int_equal(trace_reason_from_errno(-EIO), TRACE_REASON_ERROR);
}

static void test_configure(void **state)
{
	char path[PATH_MAX + 8], longpath[200];

	(void)state;
	assert_int_equal(trace_configure(NULL), 0);
	assert_false(trace_enabled);
	assert_int_equal(trace_configure(""), 0);
	assert_false(trace_enabled);
	static const char *const bad[] = {
		"unix:", "udp://", "udp://localhost:9", "udp://127.0.0.1", "udp://127.0.0.1:0",
		"udp://127.0.0.1:65536", "udp://127.0.0.1:9x", "udp://[::1:9", "udp://::1:9",
		"udp://[::1]", "udp://[nope]:9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (trace_configure(bad[i]) != -EINVAL || trace_enabled)
			fail_msg("%s was accepted", bad[i]);
	}
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	memcpy(longpath, "unix:/", 6);
	assert_int_equal(trace_configure(longpath), -EINVAL);
	assert_false(trace_enabled);
	static const char *const good[] = {
		"udp://127.0.0.1:9", "udp://[::1]:65535", "unix:/run/x.sock", "unix:@name",
		"trace.jsonl",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (trace_configure(good[i]) != 0 || !trace_enabled)
			fail_msg("%s was refused", good[i]);
	}
	fx_path(path, sizeof(path), "t.jsonl");
	assert_int_equal(trace_configure(path), 0);
	assert_true(trace_enabled);
	/* configured is not opened: nothing exists before the first event */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(trace_configure(NULL), 0);
	assert_false(trace_enabled);
}

/* --- targets ------------------------------------------------------------------------------ */

#define THREADS 8
#define PROCS 3
#define EACH 200

/* EACH start/stop pairs; ids are (base + i). Keeps errno, or says otherwise. */
static void *emit_pairs(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg;
	struct trace_span sp;

	for (int i = 0; i < EACH; i++) {
		errno = 4321;
		trace_forward_start(&sp, "app.db", "insert", base + (uint64_t)i, 0);
		trace_forward_stop(&sp, SQLITE_DONE, 1, 0);
		if (errno != 4321)
			return (void *)1;
	}
	return NULL;
}

/* Many threads and processes append to one file: every line whole, every pair there. */
static void test_file_shared_by_threads_and_processes(void **state)
{
	char path[PATH_MAX + 8];
	pthread_t th[THREADS];
	char *text, *line, *save = NULL;
	size_t n = 0, starts = 0;
	uint8_t *seen;
	int st;

	(void)state;
	fx_path(path, sizeof(path), "shared.jsonl");
	assert_int_equal(trace_configure(path), 0);
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			_exit(emit_pairs((void *)(uintptr_t)(1000000 * (p + 1))) ? 1 : 0);
		fx.child[p] = pid;
	}
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, emit_pairs,
						(void *)(uintptr_t)(1000000 * (PROCS + 1 + t))), 0);
	for (int t = 0; t < THREADS; t++) {
		void *r;

		assert_int_equal(pthread_join(th[t], &r), 0);
		assert_null(r);
	}
	for (int p = 0; p < PROCS; p++) {
		assert_int_equal(waitpid(fx.child[p], &st, 0), fx.child[p]);
		fx.child[p] = 0;
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(trace_dropped(), 0);
	text = slurp(path);
	assert_int_equal(count_lines(text), (size_t)(PROCS + THREADS) * EACH * 2);
	seen = calloc((size_t)(PROCS + THREADS + 1) * EACH, 1);
	assert_non_null(seen);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		json_t *j = parse_line(line, strlen(line));
		const char *ev = json_string_value(json_object_get(j, "event"));
		const char *id = json_string_value(json_object_get(j, "request_id"));
		uint64_t v;
		size_t slot;

		assert_non_null(ev);
		assert_non_null(id);
		v = strtoull(id, NULL, 16);
		slot = (size_t)(v / 1000000 - 1) * EACH + (size_t)(v % 1000000);
		assert_true(slot < (size_t)(PROCS + THREADS) * EACH);
		if (!strcmp(ev, "litefs_fwd.forward.start")) {
			assert_int_equal(seen[slot] & 1, 0);
			seen[slot] |= 1;
			starts++;
		} else {
			assert_string_equal(ev, "litefs_fwd.forward.stop");
			assert_int_equal(seen[slot], 1); /* its start came first */
			seen[slot] |= 2;
			assert_true(json_integer_value(json_object_get(j, "duration_us")) >= 1);
		}
		json_decref(j);
	}
	assert_int_equal(starts, (size_t)(PROCS + THREADS) * EACH);
	for (size_t i = 0; i < (size_t)(PROCS + THREADS) * EACH; i++)
		assert_int_equal(seen[i], 3);
	free(seen);
	free(text);
}

/* A line of about 300 bytes. */
static void emit_line(void)
{
	char line[301];

	memset(line, 'x', sizeof(line) - 1);
	line[0] = '{';
	line[sizeof(line) - 2] = '}';
	line[sizeof(line) - 1] = '\n';
	trace_emit(line, sizeof(line));
}

/* Emits n lines; each call must return at once. Returns the slowest call, in ns. */
static int64_t emit_lines(int n)
{
	int64_t slowest = 0;

	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns(), dt;

		errno = 777;
		emit_line();
		assert_int_equal(errno, 777);
		dt = now_ns() - t0;
		if (dt > slowest)
			slowest = dt;
	}
	return slowest;
}

/* A datagram socket nobody reads: its queue fills, the writer goes on, and every event
 * that did not fit is counted. */
static void test_unix_datagram_nobody_reads(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char target[PATH_MAX + 16], buf[512];
	int rx, got = 0;
	int64_t slowest;

	(void)state;
	xsnprintf(a.sun_path, sizeof(a.sun_path), "%s/trace.sock", fx.dir);
	rx = fx_fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	xsnprintf(target, sizeof(target), "unix:%s", a.sun_path);
	assert_int_equal(trace_configure(target), 0);
	slowest = emit_lines(2000);
	assert_true(slowest < SLOW_CALL_NS);
	assert_true(trace_dropped() > 0);
	while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) == 301)
		got++;
	assert_true(got > 0);
	assert_int_equal((uint64_t)got + trace_dropped(), 2000);
	/* the reader is back: events go through again */
	emit_lines(1);
	assert_int_equal(recv(rx, buf, sizeof(buf), MSG_DONTWAIT), 301);
	assert_int_equal((uint64_t)got + 1 + trace_dropped(), 2001);
}

/* A datagram socket whose reader went away: events are dropped, the program goes on. */
static void test_unix_datagram_nobody_there(void **state)
{
	char target[PATH_MAX + 16];

	(void)state;
	xsnprintf(target, sizeof(target), "unix:%s/nobody.sock", fx.dir);
	assert_int_equal(trace_configure(target), 0);
	assert_true(emit_lines(50) < SLOW_CALL_NS);
	assert_int_equal(trace_dropped(), 50);
}

/* A FIFO as the file: no reader, then a reader that does not read; never a block. */
static void test_fifo_never_blocks(void **state)
{
	char path[PATH_MAX + 8];
	char *buf;
	ssize_t n;
	size_t got = 0;
	int rx;

	(void)state;
	fx_path(path, sizeof(path), "trace.fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(trace_configure(path), 0);
	/* no reader: the open fails (ENXIO), the event is dropped */
	assert_true(emit_lines(3) < SLOW_CALL_NS);
	assert_int_equal(trace_dropped(), 3);
	rx = fx_fd(open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC));
	/* tried again at most once a second */
	usleep(1100 * 1000);
	assert_true(emit_lines(1000) < SLOW_CALL_NS);  /* 300 kB into a 64 kB pipe */
	assert_true(trace_dropped() > 3);
	buf = malloc(1 << 20);
	assert_non_null(buf);
	while ((n = read(rx, buf + got, (1 << 20) - got)) > 0)
		got += (size_t)n;
	/* whole lines only */
	assert_int_equal(got % 301, 0);
	assert_int_equal(got / 301 + trace_dropped(), 1003);
	for (size_t i = 0; i < got; i += 301) {
		assert_int_equal(buf[i], '{');
		assert_int_equal(buf[i + 300], '\n');
	}
	/* the reader goes away: no SIGPIPE (it would kill this process), a drop */
	fx_close(rx);
	{
		uint64_t before = trace_dropped();

		assert_true(emit_lines(2) < SLOW_CALL_NS);
		assert_int_equal(trace_dropped(), before + 2);
	}
	free(buf);
}

static void test_udp(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	char target[64], buf[TRACE_LINE_MAX], want[TRACE_LINE_MAX];
	struct trace_span sp;
	ssize_t n;
	int rx;
	json_t *j;

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rx = fx_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &alen), 0);
	xsnprintf(target, sizeof(target), "udp://127.0.0.1:%u", ntohs(a.sin_port));
	assert_int_equal(trace_configure(target), 0);
	trace_forward_start(&sp, "udp.db", "delete", 77, 78);
	trace_forward_exception(&sp, TRACE_REASON_OUTCOME_UNKNOWN, SQLITE_IOERR, 2);
	n = recv(rx, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	assert_int_equal(buf[n - 1], '\n');
	j = parse_line(buf, (size_t)n - 1);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "litefs_fwd.forward.start");
	assert_string_equal(json_string_value(json_object_get(j, "db")), "udp.db");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "delete");
	assert_string_equal(json_string_value(json_object_get(j, "request_id")), "000000000000004d");
	assert_string_equal(json_string_value(json_object_get(j, "session_id")), "000000000000004e");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), getpid());
	assert_int_equal(json_integer_value(json_object_get(j, "tid")), gettid());
	json_decref(j);
	n = recv(rx, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	j = parse_line(buf, (size_t)n - 1);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
			    "litefs_fwd.forward.exception");
	assert_string_equal(json_string_value(json_object_get(j, "reason")), "outcome_unknown");
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "SQLITE_IOERR");
	assert_int_equal(json_integer_value(json_object_get(j, "code")), SQLITE_IOERR);
	assert_int_equal(json_integer_value(json_object_get(j, "busy_retries")), 2);
	assert_true(json_integer_value(json_object_get(j, "duration_us")) >= 1);
	assert_null(json_object_get(j, "changes"));
	json_decref(j);
	/* the same line as trace_format() makes of the same event */
	{
		struct trace_event ev = known_event(TRACE_FORWARD_START);

		ev.request_id = 5;
		n = trace_format(want, sizeof(want), &ev);
		assert_true(n > 0);
		trace_emit(want, (size_t)n);
		assert_int_equal(recv(rx, buf, sizeof(buf), 0), n);
		assert_memory_equal(buf, want, (size_t)n);
	}
	assert_int_equal(trace_dropped(), 0);
}

/* A file that cannot be opened: nothing fails, events are counted as dropped; once it can
 * be, after the retry interval, events arrive. */
static void test_unopenable_file(void **state)
{
	char dir[PATH_MAX + 8], path[PATH_MAX + 32];
	struct trace_span sp;
	char *text;

	(void)state;
	fx_path(dir, sizeof(dir), "later");
	xsnprintf(path, sizeof(path), "%s/trace.jsonl", dir);
	assert_int_equal(trace_configure(path), 0);
	errno = 99;
	trace_forward_start(&sp, "app.db", "insert", 1, 0);
	trace_forward_stop(&sp, SQLITE_DONE, 1, 0);
	assert_int_equal(errno, 99);
	assert_int_equal(trace_dropped(), 2);
	assert_int_equal(mkdir(dir, 0700), 0);
	trace_forward_start(&sp, "app.db", "insert", 2, 0);
	assert_int_equal(trace_dropped(), 3); /* not tried again yet */
	usleep(1100 * 1000);
	trace_forward_stop(&sp, SQLITE_DONE, 1, 0);
	assert_int_equal(trace_dropped(), 3);
	text = slurp(path);
	assert_int_equal(count_lines(text), 1);
	assert_non_null(strstr(text, "\"event\":\"litefs_fwd.forward.stop\""));
	free(text);
	/* a directory as the target */
	assert_int_equal(trace_configure(dir), 0);
	emit_lines(2);
	assert_int_equal(trace_dropped(), 2);
}

/* A relative path is the file in the directory the program was in when tracing was set
 * up, wherever the program goes afterwards. */
static void test_relative_path(void **state)
{
	char cwd[PATH_MAX], path[PATH_MAX + 8];
	char *text;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx.dir), 0);
	assert_int_equal(trace_configure("rel.jsonl"), 0);
	assert_int_equal(chdir("/"), 0);
	emit_lines(1);
	assert_int_equal(chdir(cwd), 0);
	fx_path(path, sizeof(path), "rel.jsonl");
	text = slurp(path);
	assert_int_equal(count_lines(text), 1);
	free(text);
	assert_int_equal(trace_dropped(), 0);
}

/* The number of the descriptor open on path in this process, or -1. */
static int fd_of(const char *path)
{
	char link[64], target[PATH_MAX];

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t n;

		xsnprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, path))
			return fd;
	}
	return -1;
}

/* The program closed the target's descriptor and opened a file of its own that got the
 * same number: that file never gets a line; the target is opened again. */
static void test_descriptor_taken_over(void **state)
{
	char path[PATH_MAX + 8], other[PATH_MAX + 8], real[PATH_MAX];
	char *text;
	int fd, mine;

	(void)state;
	fx_path(path, sizeof(path), "trace.jsonl");
	fx_path(other, sizeof(other), "program.txt");
	assert_int_equal(trace_configure(path), 0);
	emit_lines(1);
	assert_non_null(realpath(path, real));
	fd = fd_of(real);
	assert_true(fd >= 0);
	close(fd);
	mine = fx_fd(open(other, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	assert_int_equal(mine, fd);
	emit_lines(2);
	text = slurp(other);
	assert_string_equal(text, "");
	free(text);
	text = slurp(path);
	assert_int_equal(count_lines(text), 3);
	free(text);
	assert_int_equal(trace_dropped(), 0);

	/* a forked child that closes the descriptors it inherited (as daemons do) opens the
	 * target again; the parent's stays as it was */
	fx.child[0] = fork();
	assert_true(fx.child[0] >= 0);
	if (fx.child[0] == 0) {
		char line[] = "{\"child\":1}\n";

		fd = fd_of(real);
		if (fd < 0 || close(fd))
			_exit(2);
		trace_emit(line, sizeof(line) - 1);
		_exit(fd_of(real) >= 0 && trace_dropped() == 0 ? 0 : 1);
	}
	{
		int st;

		assert_int_equal(waitpid(fx.child[0], &st, 0), fx.child[0]);
		fx.child[0] = 0;
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	emit_lines(1);
	text = slurp(path);
	assert_int_equal(count_lines(text), 5);
	assert_non_null(strstr(text, "{\"child\":1}\n"));
	free(text);
	assert_int_equal(trace_dropped(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_start),
		cmocka_unit_test(test_format_stop),
		cmocka_unit_test(test_format_exception),
		cmocka_unit_test(test_format_escapes_the_database_name),
		cmocka_unit_test(test_format_bounds),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_configure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_shared_by_threads_and_processes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unix_datagram_nobody_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_datagram_nobody_there, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_never_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unopenable_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptor_taken_over, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
