/* Unit and in-process end-to-end tests of the forwarder (forwarder/): database names, the
 * role read from the mount, statement execution compared with plain local SQLite, the
 * record of executed requests, refusals (several statements, transactions), options and
 * log lines, and the server on tcp:// and ipc:// driven by libnanomsg REQ sockets. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <microhttpd.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <sqlite3.h>

/* By path: other parts of the tree have headers of the same names on the include path. */
#include "../forwarder/config.h"
#include "../forwarder/dbname.h"
#include "../forwarder/dedup.h"
#include "../forwarder/exec.h"
#include "../forwarder/fault.h"
#include "../forwarder/litefs_info.h"
#include "../forwarder/log.h"
#include "../forwarder/request.h"
#include "../common/auth.h"
#include "../forwarder/role.h"
#include "../forwarder/server.h"
#include "wire.h"

#define MAX WIRE_DEFAULT_MAX_MESSAGE

/* snprintf() that fails the test instead of cutting the text short. */
#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))
#define BIG_BLOB (64u << 20)

/* ---- temporary directory and resources released even when a test fails ------------------ */

static char g_dir[PATH_MAX];

static uint32_t g_exec_flags;  /* session flags of exec_direct()'s requests */

/* What a test holds that must not outlive it: test_teardown() releases whatever is set. */
static struct {
	struct fwd_server *server;
	int socks[32];
	int nsocks;
	sqlite3 *dbs[8];
	int ndbs;
	struct fwd_exec exec;       /* closed by the teardown when initialised */
	bool exec_open;
	struct fwd_request_ctx req; /* over exec, dedup and role when req_open */
	bool req_open;
	struct fwd_dedup *dedup;
	struct fwd_role_cache role;
	bool role_open;
	struct fwd_sessions *sessions;
	pthread_t threads[16];
	int nthreads;
} g_res;

static int group_setup(void **state)
{
	(void)state;
	if (tmpdir_make(g_dir, sizeof(g_dir), "test_forwarder"))
		return -1;
	/* Replies to clients that have gone must not end the test process. */
	signal(SIGPIPE, SIG_IGN);
	fwd_log_set_level(FWD_LOG_WARN);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

static int test_teardown(void **state)
{
	(void)state;
	/* Databases first: a lock held by the test is what a thread may be waiting for.
	 * Then the threads, which may use the server. */
	for (int i = 0; i < g_res.ndbs; i++)
		sqlite3_close_v2(g_res.dbs[i]);
	for (int i = 0; i < g_res.nthreads; i++)
		pthread_join(g_res.threads[i], NULL);
	for (int i = 0; i < g_res.nsocks; i++)
		nn_close(g_res.socks[i]);
	if (g_res.server)
		fwd_server_stop(g_res.server);
	fwd_sessions_destroy(g_res.sessions);
	fwd_exec_close(&g_res.exec);
	g_exec_flags = 0;
	fwd_dedup_destroy(g_res.dedup);
	if (g_res.role_open)
		fwd_role_cache_destroy(&g_res.role);
	memset(&g_res, 0, sizeof(g_res));
	return 0;
}

static void track_thread(pthread_t t)
{
	assert_true(g_res.nthreads < (int)(sizeof(g_res.threads) / sizeof(g_res.threads[0])));
	g_res.threads[g_res.nthreads++] = t;
}

/* Joins the most recently tracked thread that is t, and forgets it. */
static void join_thread(pthread_t t)
{
	for (int i = 0; i < g_res.nthreads; i++) {
		if (pthread_equal(g_res.threads[i], t)) {
			pthread_join(t, NULL);
			g_res.threads[i] = g_res.threads[--g_res.nthreads];
			return;
		}
	}
	fail_msg("thread not tracked");
}

/* Makes g_dir/name (and g_dir/name/mnt when mnt is not NULL). */
static void make_dir(const char *name, char *dir, size_t len, char *mnt, size_t mlen)
{
	xsnprintf(dir, len, "%s/%s", g_dir, name);
	assert_int_equal(mkdir(dir, 0755), 0);
	if (mnt) {
		xsnprintf(mnt, mlen, "%s/mnt", dir);
		assert_int_equal(mkdir(mnt, 0755), 0);
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static sqlite3 *db_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	assert_true(g_res.ndbs < (int)(sizeof(g_res.dbs) / sizeof(g_res.dbs[0])));
	g_res.dbs[g_res.ndbs++] = db;
	return db;
}

static void db_close(sqlite3 *db)
{
	for (int i = 0; i < g_res.ndbs; i++) {
		if (g_res.dbs[i] == db) {
			g_res.dbs[i] = g_res.dbs[--g_res.ndbs];
			break;
		}
	}
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void db_exec(const char *path, const char *sql)
{
	sqlite3 *db = db_open(path);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
	db_close(db);
}

/* The single integer that sql returns on the database at path. */
static int64_t db_int(const char *path, const char *sql)
{
	sqlite3 *db = db_open(path);
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	db_close(db);
	return v;
}

/* ---- values and requests ----------------------------------------------------------------- */

static struct wire_value v_int(int64_t i)
{
	struct wire_value v = { .type = WIRE_INTEGER };

	v.u.i = i;
	return v;
}

static struct wire_value v_text(const char *s)
{
	struct wire_value v = { .type = WIRE_TEXT };

	v.u.s.p = s;
	v.u.s.n = strlen(s);
	return v;
}

static struct wire_value v_blob(const void *p, uint64_t n)
{
	struct wire_value v = { .type = WIRE_BLOB };

	v.u.s.p = p;
	v.u.s.n = n;
	return v;
}

static void encode_exec(struct wire_buf *b, uint64_t id, const char *db, const char *sql,
			const struct wire_value *params, uint32_t n, int32_t busy_ms)
{
	struct wire_exec e = { .request_id = id, .busy_timeout_ms = busy_ms, .nparams = n };

	e.db.p = db;
	e.db.n = (uint32_t)strlen(db);
	e.sql.p = sql;
	e.sql.n = (uint32_t)strlen(sql);
	e.params = (struct wire_value *)params;
	b->len = 0;
	assert_int_equal(wire_encode_exec(b, &e, MAX), 0);
}

/* Runs sql through fwd_exec_run() on x and decodes the reply into m (which borrows b). */

static void exec_direct(struct fwd_exec *x, uint64_t id, const char *db, const char *sql,
			const struct wire_value *params, uint32_t n, struct wire_buf *b,
			struct wire_msg *m, bool *executed)
{
	struct wire_exec e = { .request_id = id, .busy_timeout_ms = 1000, .nparams = n,
			       .session_flags = g_exec_flags };
	bool ran = false, wrote = false, refused = false;

	e.db.p = db;
	e.db.n = (uint32_t)strlen(db);
	e.sql.p = sql;
	e.sql.n = (uint32_t)strlen(sql);
	e.params = (struct wire_value *)params;
	b->len = 0;
	assert_int_equal(fwd_exec_run(x, &e, MAX, b, &ran, &wrote, &refused), 0);
	assert_true(ran || !wrote);
	assert_int_equal(wire_decode(b->p, b->len, MAX, m), 0);
	if (executed)
		*executed = ran;
}

static void assert_error_reply(const struct wire_msg *m, uint64_t id, int code,
			       const char *text)
{
	assert_int_equal(m->type, WIRE_ERROR);
	assert_true(m->u.error.request_id == id);
	assert_int_equal(m->u.error.code, code);
	if (text && !memmem(m->u.error.message.p, m->u.error.message.n, text, strlen(text)))
		fail_msg("error message '%.*s' lacks '%s'", (int)m->u.error.message.n,
			 m->u.error.message.p, text);
}

/* ---- database names ------------------------------------------------------------------------ */

static void test_dbname_table(void **state)
{
	static char longest[NAME_MAX + 2];
	static const struct {
		const char *name;
		size_t len;   /* 0: strlen(name) */
		int want;
	} cases[] = {
		{ "app.db", 0, 0 },
		{ "a", 0, 0 },
		{ "...", 0, -EINVAL },
		{ ".hidden.db", 0, -EINVAL },
		{ ".primary", 0, -EINVAL },
		{ "app.db-wal", 0, -EINVAL },
		{ "app.db-shm", 0, -EINVAL },
		{ "app.db-journal", 0, -EINVAL },
		{ "app.db-pos", 0, -EINVAL },
		{ "-wal", 0, 0 },
		{ "app.db-walrus", 0, 0 },
		{ "app.db.wal", 0, 0 },
		{ "with space.db", 0, 0 },
		{ "-", 0, 0 },
		{ "", 0, -EINVAL },
		{ ".", 0, -EINVAL },
		{ "..", 0, -EINVAL },
		{ "a/b", 0, -EINVAL },
		{ "/etc/passwd", 0, -EINVAL },
		{ "../app.db", 0, -EINVAL },
		{ "app.db/", 0, -EINVAL },
		{ "a\0b", 3, -EINVAL },
		{ "app.db\0", 7, -EINVAL },
		{ "\0", 1, -EINVAL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].name);

		if (fwd_dbname_check(cases[i].name, len) != cases[i].want)
			fail_msg("case %zu '%s': want %d", i, cases[i].name, cases[i].want);
	}
	memset(longest, 'n', sizeof(longest));
	assert_int_equal(fwd_dbname_check(longest, NAME_MAX), 0);
	assert_int_equal(fwd_dbname_check(longest, NAME_MAX + 1), -EINVAL);
}

/* Opens g_res.req on mount with a record of max_entries requests and a role cache trusted
 * for role_ttl_ms. */
static void request_open(const char *mount, size_t max_entries, int role_ttl_ms)
{
	assert_int_equal(fwd_dedup_create(&g_res.dedup, max_entries, 1 << 20, 60000), 0);
	fwd_role_cache_init(&g_res.role, mount, role_ttl_ms, NULL);
	g_res.role_open = true;
	assert_int_equal(fwd_exec_init(&g_res.exec, mount), 0);
	assert_int_equal(fwd_sessions_create(&g_res.sessions, 4), 0);
	g_res.req = (struct fwd_request_ctx){
		.exec = &g_res.exec, .dedup = g_res.dedup, .role = &g_res.role, .mount = mount,
		.max_message = MAX, .sessions = g_res.sessions,
	};
	g_res.req_open = true;
}

/* An invalid name is refused before anything looks at the mount: with no mount at all,
 * the answer is about the name, not about the mount. */
static void test_dbname_refused_before_mount(void **state)
{
	char mount[PATH_MAX];
	struct wire_buf req = { 0 }, out = { 0 };
	struct wire_msg m;

	(void)state;
	xsnprintf(mount, sizeof(mount), "%s/no-such-mount", g_dir);
	request_open(mount, 16, 5000);
	encode_exec(&req, 5, "../escape.db", "CREATE TABLE x(a)", NULL, 0, 0);
	assert_int_equal(fwd_request_handle(&g_res.req, req.p, req.len, &out), 0);
	assert_int_equal(wire_decode(out.p, out.len, MAX, &m), 0);
	assert_error_reply(&m, 5, EINVAL, "database name");
	wire_msg_free(&m);
	assert_int_equal(access(mount, F_OK), -1);
	wire_buf_free(&req);
	wire_buf_free(&out);
}

/* ---- role ------------------------------------------------------------------------------------ */

static void role_request_sql(const char *mount, uint64_t id, const char *sql,
			     struct wire_buf *out, struct wire_msg *m);

/* Sends one CREATE TABLE IF NOT EXISTS through the request handler with mount as the mount
 * (a role cache trusted for 5 s, unless the test opened g_res.req itself); m gets the
 * reply. */
static void role_request(const char *mount, uint64_t id, struct wire_buf *out, struct wire_msg *m)
{
	role_request_sql(mount, id, "CREATE TABLE IF NOT EXISTS t(a)", out, m);
}

static void role_request_sql(const char *mount, uint64_t id, const char *sql,
			     struct wire_buf *out, struct wire_msg *m)
{
	struct wire_buf req = { 0 };

	if (!g_res.req_open)
		request_open(mount, 16, 5000);
	encode_exec(&req, id, "app.db", sql, NULL, 0, 0);
	out->len = 0;
	assert_int_equal(fwd_request_handle(&g_res.req, req.p, req.len, out), 0);
	assert_int_equal(wire_decode(out->p, out->len, MAX, m), 0);
	wire_buf_free(&req);
}

static void test_role_primary_and_replica(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	struct fwd_role_info info;
	struct wire_buf out = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("role", dir, sizeof(dir), mnt, sizeof(mnt));

	/* No .primary: primary, and the statement runs. */
	assert_int_equal(fwd_role_check(mnt, &info), 0);
	assert_int_equal(info.role, FWD_ROLE_PRIMARY);
	role_request(mnt, 1, &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	xsnprintf(path, sizeof(path), "%s/app.db", mnt);
	assert_int_equal(db_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 't'"), 1);

	/* .primary as LiteFS writes it: a replica, the hostname trimmed. */
	xsnprintf(path, sizeof(path), "%s/.primary", mnt);
	write_file(path, "node-a\n", 7);
	assert_int_equal(fwd_role_check(mnt, &info), 0);
	assert_int_equal(info.role, FWD_ROLE_REPLICA);
	assert_string_equal(info.primary, "node-a");
	role_request_sql(mnt, 2, "PRAGMA user_version", &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	assert_true(m.u.not_primary.request_id == 2);
	assert_int_equal(m.u.not_primary.primary.n, 6);
	assert_memory_equal(m.u.not_primary.primary.p, "node-a", 6);
	wire_msg_free(&m);

	/* White space around the name goes. */
	write_file(path, " \tnode-b.internal \r\n", 20);
	assert_int_equal(fwd_role_check(mnt, &info), 0);
	assert_int_equal(info.role, FWD_ROLE_REPLICA);
	assert_string_equal(info.primary, "node-b.internal");

	/* A node believed to be a replica looks again before refusing: the file gone, it is
	 * the primary again at once, whatever the cache held. */
	assert_int_equal(unlink(path), 0);
	role_request(mnt, 3, &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	wire_msg_free(&m);
	wire_buf_free(&out);
}

/* The cached role spares the file system only where the outcome proves it right. Here the
 * mount is a plain directory, which lets a "replica" write: that is how a write that was
 * trusted to the cache shows. On LiteFS such a write fails, and a failure is checked. */
static void test_role_cache(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], app[PATH_MAX + 16];
	struct wire_buf out = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("role-cache", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/.primary", mnt);
	xsnprintf(app, sizeof(app), "%s/app.db", mnt);
	role_request_sql(mnt, 1, "CREATE TABLE t(a UNIQUE)", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	write_file(path, "node-d\n", 7);

	/* A statement that wrote: the cached "primary" was trusted, no second look. */
	role_request_sql(mnt, 2, "INSERT INTO t VALUES (1)", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);

	/* One that failed (and committed nothing): looked again, so the client is sent to the
	 * primary, and the failure, which may come from data older than the primary's, is not
	 * reported. */
	role_request_sql(mnt, 3, "INSERT INTO t VALUES (abs(-9223372036854775808))", &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	assert_memory_equal(m.u.not_primary.primary.p, "node-d", 6);
	wire_msg_free(&m);

	/* One that committed nothing (a PRAGMA: not recorded): the same. A recorded
	 * statement always commits, its record at least, which proves the role. */
	write_file(path, "node-e\n", 7);
	unlink(path);
	role_request_sql(mnt, 4, "CREATE TABLE IF NOT EXISTS t(a)", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);  /* primary again: the outcome stands */
	wire_msg_free(&m);
	write_file(path, "node-e\n", 7);
	role_request_sql(mnt, 5, "PRAGMA user_version", &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	assert_memory_equal(m.u.not_primary.primary.p, "node-e", 6);
	wire_msg_free(&m);

	/* A constraint failure under ON CONFLICT FAIL keeps the rows before it: they were
	 * committed, so the outcome stands. */
	unlink(path);
	role_request_sql(mnt, 6, "UPDATE t SET a = a", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	wire_msg_free(&m);
	write_file(path, "node-f\n", 7);
	role_request_sql(mnt, 7, "INSERT OR FAIL INTO t VALUES (5), (6), (1)", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_CONSTRAINT);
	assert_true(m.u.result.changes == 2);
	wire_msg_free(&m);
	assert_int_equal(db_int(app, "SELECT count(*) FROM t"), 3);
	wire_buf_free(&out);

	/* With a TTL of 0 every request reads the role. */
	fwd_role_cache_destroy(&g_res.role);
	fwd_role_cache_init(&g_res.role, mnt, 0, NULL);
	role_request_sql(mnt, 8, "INSERT INTO t VALUES (7)", &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	wire_msg_free(&m);
	assert_int_equal(db_int(app, "SELECT count(*) FROM t"), 3);
	wire_buf_free(&out);
}

/* The cache goes stale after its TTL: a write then reads the role first. */
static void test_role_cache_expires(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], app[PATH_MAX + 16];
	struct wire_buf out = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("role-ttl", dir, sizeof(dir), mnt, sizeof(mnt));
	request_open(mnt, 16, 50);
	xsnprintf(path, sizeof(path), "%s/.primary", mnt);
	xsnprintf(app, sizeof(app), "%s/app.db", mnt);
	role_request_sql(mnt, 1, "CREATE TABLE t(a)", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	write_file(path, "node-g\n", 7);
	usleep(120 * 1000);
	role_request_sql(mnt, 2, "INSERT INTO t VALUES (1)", &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	wire_msg_free(&m);
	assert_int_equal(db_int(app, "SELECT count(*) FROM t"), 0);
	wire_buf_free(&out);
}

/* ---- LiteFS's /info: a primary, or a replica without one? ----------------------------------- */

static int free_tcp_port(void);

/* What the fake LiteFS answers on /info. */
static const char *g_info_body;

static enum MHD_Result info_handle(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *data,
				   size_t *size, void **state)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	bool ok = !strcmp(url, "/info");
	const char *body = ok ? g_info_body : "not found";

	(void)cls, (void)method, (void)version, (void)data, (void)size, (void)state;
	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, ok ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, r);
	MHD_destroy_response(r);
	return ret;
}

static void test_role_litefs_info(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], events[128], info[128], path[PATH_MAX + 16];
	struct fwd_role_info ri;
	struct MHD_Daemon *d;
	struct wire_buf out = { 0 };
	struct wire_msg m;
	bool primary = false;
	int port = 0;

	(void)state;
	make_dir("role-info", dir, sizeof(dir), mnt, sizeof(mnt));
	for (int tries = 0; tries < 5 && !port; tries++) {
		int p = free_tcp_port();

		d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)p, NULL, NULL,
				     info_handle, NULL, MHD_OPTION_END);
		if (d)
			port = p;
	}
	assert_non_null(d);
	xsnprintf(events, sizeof(events), "http://127.0.0.1:%d/events", port);
	assert_int_equal(fwd_litefs_info_url(events, info, sizeof(info)), 0);
	assert_int_equal(strcmp(strrchr(info, '/'), "/info"), 0);
	assert_int_equal(fwd_litefs_info_url("http://x:1/other", info, sizeof(info)), -EINVAL);
	assert_int_equal(fwd_litefs_info_url(events, info, sizeof(info)), 0);

	g_info_body = "{\"clusterID\":\"c\",\"isPrimary\":true,\"candidate\":true}";
	assert_int_equal(fwd_litefs_is_primary(info, 1000, &primary), 0);
	assert_true(primary);
	g_info_body = "{\"isPrimary\":false,\"primary\":{\"hostname\":\"node-a\"}}";
	assert_int_equal(fwd_litefs_is_primary(info, 1000, &primary), 0);
	assert_false(primary);
	g_info_body = "{\"isPrimary\":\"no\"}";
	assert_int_equal(fwd_litefs_is_primary(info, 1000, &primary), -EBADMSG);
	g_info_body = "<html>";
	assert_int_equal(fwd_litefs_is_primary(info, 1000, &primary), -EBADMSG);

	/* No .primary, and LiteFS says replica: a replica that lost its primary. Requests
	 * are refused as not primary, with no hostname to go to, and nothing runs. */
	g_info_body = "{\"isPrimary\":false}";
	assert_int_equal(fwd_dedup_create(&g_res.dedup, 16, 1 << 20, 60000), 0);
	fwd_role_cache_init(&g_res.role, mnt, 0, info);
	g_res.role_open = true;
	assert_int_equal(fwd_role_get(&g_res.role, true, &ri), 0);
	assert_int_equal(ri.role, FWD_ROLE_REPLICA);
	assert_string_equal(ri.primary, "");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	assert_int_equal(fwd_sessions_create(&g_res.sessions, 4), 0);
	g_res.req = (struct fwd_request_ctx){
		.exec = &g_res.exec, .dedup = g_res.dedup, .role = &g_res.role, .mount = mnt,
		.max_message = MAX, .sessions = g_res.sessions,
	};
	g_res.req_open = true;
	role_request_sql(mnt, 1, "CREATE TABLE t(a)", &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	assert_int_equal(m.u.not_primary.primary.n, 0);
	wire_msg_free(&m);
	xsnprintf(path, sizeof(path), "%s/app.db", mnt);
	assert_int_equal(access(path, F_OK), -1);

	/* LiteFS says primary: it runs. */
	g_info_body = "{\"isPrimary\":true}";
	role_request_sql(mnt, 2, "CREATE TABLE t(a)", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);

	/* LiteFS does not answer: nothing runs (the mount may be a bare directory). */
	MHD_stop_daemon(d);
	assert_int_equal(fwd_litefs_is_primary(info, 500, &primary), -EHOSTUNREACH);
	assert_int_equal(fwd_role_get(&g_res.role, true, &ri), 0);
	assert_int_equal(ri.role, FWD_ROLE_REPLICA);
	assert_string_equal(ri.primary, "");
	role_request_sql(mnt, 3, "INSERT INTO t VALUES (1)", &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 0);
	wire_buf_free(&out);
}

/* A replica executes nothing: the database is not even created. */
static void test_role_replica_executes_nothing(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	struct wire_buf out = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("role-replica", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/.primary", mnt);
	write_file(path, "node-c\n", 7);
	role_request(mnt, 9, &out, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	wire_msg_free(&m);
	xsnprintf(path, sizeof(path), "%s/app.db", mnt);
	assert_int_equal(access(path, F_OK), -1);
	wire_buf_free(&out);
}

static void test_role_no_mount(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], file[PATH_MAX + 16];
	struct fwd_role_info info;
	struct wire_buf out = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("role-none", dir, sizeof(dir), NULL, 0);
	xsnprintf(mnt, sizeof(mnt), "%s/missing", dir);
	assert_int_equal(fwd_role_check(mnt, &info), 0);
	assert_int_equal(info.role, FWD_ROLE_NO_MOUNT);
	role_request(mnt, 4, &out, &m);
	assert_error_reply(&m, 4, EAGAIN, "no LiteFS mount at");
	assert_non_null(memmem(m.u.error.message.p, m.u.error.message.n, mnt, strlen(mnt)));
	wire_msg_free(&m);
	assert_int_equal(access(mnt, F_OK), -1);

	/* A file is no mount either. */
	xsnprintf(file, sizeof(file), "%s/file", dir);
	write_file(file, "x", 1);
	assert_int_equal(fwd_role_check(file, &info), 0);
	assert_int_equal(info.role, FWD_ROLE_NO_MOUNT);
	wire_buf_free(&out);
}

/* ---- execution compared with local SQLite ---------------------------------------------------- */

/* What a program sees of one statement. */
struct observed {
	int rc, xrc;
	char *errmsg;
	int64_t changes, delta, rowid;
	bool rowid_set;
	int ncols;
	size_t ncells;
	struct wire_value cells[64];
	void *owned[64];
};

static void observed_free(struct observed *o)
{
	for (size_t i = 0; i < o->ncells; i++)
		free(o->owned[i]);
	free(o->errmsg);
	memset(o, 0, sizeof(*o));
}

/* Binds as a program would through the SQLite API. */
static void local_bind(sqlite3_stmt *st, const struct wire_value *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int idx = (int)i + 1, rc;

		switch (p[i].type) {
		case WIRE_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		case WIRE_INTEGER:
			rc = sqlite3_bind_int64(st, idx, p[i].u.i);
			break;
		case WIRE_FLOAT:
			rc = sqlite3_bind_double(st, idx, p[i].u.f);
			break;
		case WIRE_TEXT:
			rc = sqlite3_bind_text(st, idx, p[i].u.s.p ? p[i].u.s.p : "",
					       (int)p[i].u.s.n, SQLITE_TRANSIENT);
			break;
		case WIRE_TEXT16:
			rc = sqlite3_bind_text16(st, idx, p[i].u.s.p ? p[i].u.s.p : "",
						 (int)p[i].u.s.n, SQLITE_TRANSIENT);
			break;
		case WIRE_BLOB:
			rc = sqlite3_bind_blob(st, idx, p[i].u.s.p ? p[i].u.s.p : "",
					       (int)p[i].u.s.n, SQLITE_TRANSIENT);
			break;
		case WIRE_ZEROBLOB:
			rc = sqlite3_bind_zeroblob(st, idx, (int)p[i].u.zero);
			break;
		default:
			rc = SQLITE_MISUSE;
			break;
		}
		assert_int_equal(rc, SQLITE_OK);
	}
}

static void local_collect(sqlite3_stmt *st, struct observed *o)
{
	for (int i = 0; i < o->ncols; i++) {
		struct wire_value *v = &o->cells[o->ncells];
		const void *p = NULL;
		int n = 0;

		assert_true(o->ncells < sizeof(o->cells) / sizeof(o->cells[0]));
		memset(v, 0, sizeof(*v));
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			v->type = WIRE_INTEGER;
			v->u.i = sqlite3_column_int64(st, i);
			break;
		case SQLITE_FLOAT:
			v->type = WIRE_FLOAT;
			v->u.f = sqlite3_column_double(st, i);
			break;
		case SQLITE_TEXT:
			v->type = WIRE_TEXT;
			p = sqlite3_column_text(st, i);
			n = sqlite3_column_bytes(st, i);
			break;
		case SQLITE_BLOB:
			v->type = WIRE_BLOB;
			p = sqlite3_column_blob(st, i);
			n = sqlite3_column_bytes(st, i);
			break;
		default:
			v->type = WIRE_NULL;
			break;
		}
		if (v->type == WIRE_TEXT || v->type == WIRE_BLOB) {
			o->owned[o->ncells] = malloc((size_t)n + 1);
			assert_non_null(o->owned[o->ncells]);
			if (n)
				memcpy(o->owned[o->ncells], p, (size_t)n);
			v->u.s.p = o->owned[o->ncells];
			v->u.s.n = (uint64_t)n;
		}
		o->ncells++;
	}
}

/* Runs sql with params on a plain connection to path, as the program would, and notes
 * everything it can observe. */
static void local_observe(const char *path, const char *sql, const struct wire_value *params,
			  uint32_t n, struct observed *o)
{
	sqlite3 *db = db_open(path);
	sqlite3_stmt *st = NULL;
	int64_t total, rowid;
	int rc;

	memset(o, 0, sizeof(*o));
	total = sqlite3_total_changes64(db);
	rowid = sqlite3_last_insert_rowid(db);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		local_bind(st, params, n);
		o->ncols = sqlite3_column_count(st);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			local_collect(st, o);
	}
	o->rc = rc;
	o->xrc = sqlite3_extended_errcode(db);
	o->errmsg = strdup(sqlite3_errmsg(db));
	if (st) {
		o->changes = sqlite3_changes64(db);
		o->delta = sqlite3_total_changes64(db) - total;
		o->rowid = sqlite3_last_insert_rowid(db);
		o->rowid_set = o->rowid != rowid;
	}
	sqlite3_finalize(st);
	db_close(db);
}

static void assert_value_equal(const struct wire_value *a, const struct wire_value *b, size_t i)
{
	if (a->type != b->type)
		fail_msg("cell %zu: type %u vs %u", i, a->type, b->type);
	switch (a->type) {
	case WIRE_INTEGER:
		if (a->u.i != b->u.i)
			fail_msg("cell %zu: %lld vs %lld", i, (long long)a->u.i, (long long)b->u.i);
		break;
	case WIRE_FLOAT:
		/* bit for bit: -0.0 is not 0.0 here */
		if (memcmp(&a->u.f, &b->u.f, sizeof(double)))
			fail_msg("cell %zu: %.17g vs %.17g", i, a->u.f, b->u.f);
		break;
	case WIRE_TEXT:
	case WIRE_BLOB:
		if (a->u.s.n != b->u.s.n ||
		    (a->u.s.n && memcmp(a->u.s.p, b->u.s.p, (size_t)a->u.s.n)))
			fail_msg("cell %zu: bytes differ (%llu vs %llu bytes)", i,
				 (unsigned long long)a->u.s.n, (unsigned long long)b->u.s.n);
		break;
	default:
		break;
	}
}

/* Every observable of the forwarded outcome r equals the local one. */
static void assert_same_outcome(const struct observed *l, const struct wire_result *r)
{
	assert_int_equal(r->rc, l->rc);
	assert_int_equal(r->xrc, l->xrc);
	assert_int_equal(r->errmsg.n, strlen(l->errmsg));
	assert_memory_equal(r->errmsg.p, l->errmsg, r->errmsg.n);
	assert_true(r->changes == l->changes);
	assert_true(r->total_changes_delta == l->delta);
	assert_int_equal(!!(r->flags & WIRE_RESULT_ROWID), l->rowid_set);
	if (l->rowid_set)
		assert_true(r->last_insert_rowid == l->rowid);
	assert_int_equal(r->ncols, l->ncols);
	assert_int_equal((size_t)r->ncols * r->nrows, l->ncells);
	for (size_t i = 0; i < l->ncells; i++)
		assert_value_equal(&r->cells[i], &l->cells[i], i);
}

/* Everything in the database at path, values bit for bit, as one string. */
static char *dump_db(const char *path)
{
	sqlite3 *db = db_open(path);
	sqlite3_stmt *tables = NULL, *rows = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT type, name, sql FROM sqlite_schema WHERE "
					    "name NOT LIKE '\\_litefs\\_fwd\\_%' ESCAPE '\\' "
					    "ORDER BY name", -1, &tables, NULL), SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(tables, 0);
		char *q;

		fprintf(f, "%s %s: %s\n", type, sqlite3_column_text(tables, 1),
			sqlite3_column_text(tables, 2));
		if (strcmp(type, "table"))
			continue;
		q = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY rowid",
				    (const char *)sqlite3_column_text(tables, 1));
		assert_int_equal(sqlite3_prepare_v2(db, q, -1, &rows, NULL), SQLITE_OK);
		sqlite3_free(q);
		while (sqlite3_step(rows) == SQLITE_ROW) {
			for (int i = 0; i < sqlite3_column_count(rows); i++) {
				int t = sqlite3_column_type(rows, i);
				double d;
				const unsigned char *p;
				int n;

				if (t == SQLITE_INTEGER) {
					fprintf(f, " i%lld",
						(long long)sqlite3_column_int64(rows, i));
				} else if (t == SQLITE_FLOAT) {
					uint64_t bits;

					d = sqlite3_column_double(rows, i);
					memcpy(&bits, &d, sizeof(bits));
					fprintf(f, " f%016llx", (unsigned long long)bits);
				} else if (t == SQLITE_NULL) {
					fprintf(f, " n");
				} else {
					p = t == SQLITE_TEXT ? sqlite3_column_text(rows, i) :
					    sqlite3_column_blob(rows, i);
					n = sqlite3_column_bytes(rows, i);
					fprintf(f, " %c", t == SQLITE_TEXT ? 't' : 'b');
					for (int k = 0; k < n; k++)
						fprintf(f, "%02x", p[k]);
				}
			}
			fprintf(f, "\n");
		}
		sqlite3_finalize(rows);
		rows = NULL;
	}
	sqlite3_finalize(tables);
	fclose(f);
	db_close(db);
	return out;
}

#define BASE_SCHEMA \
	"CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER NOT NULL DEFAULT 0);" \
	"INSERT INTO t(name, n) VALUES('alice', 1), ('bob', 2), ('carol', 3), ('dave', 4), " \
	"('erin', 5);" \
	"CREATE TABLE v(a, b, c, d, e, f, g, h, i, j);" \
	"CREATE TABLE r(x REAL, y REAL);"

struct fcase {
	const char *name;
	const char *sql;
	struct wire_value params[10];
	uint32_t nparams;
	/* Checked on top of the comparison when want_rc is not 0. */
	int want_rc, want_xrc;
	const char *want_msg;
	int64_t want_changes;
};

static const char text_nul[] = { 'a', 0, 'b', 0, 'c' };
static const uint16_t text16[] = { 'h', 0xe9, 0, 0x20ac };  /* "hé", NUL, "€", native order */
static const uint8_t bytes4[] = { 0, 0xff, 0x80, 0x7f };

#define P_TEXT(lit) { .type = WIRE_TEXT, .u.s = { (lit), sizeof(lit) - 1 } }
#define P_INT(v) { .type = WIRE_INTEGER, .u.i = (v) }
#define P_FLOAT(v) { .type = WIRE_FLOAT, .u.f = (v) }
#define P_NULL { .type = WIRE_NULL }

static const struct fcase fcases[] = {
	{ "fidelity_insert", "INSERT INTO t(name, n) VALUES(?, ?)",
	  { P_TEXT("frank"), P_INT(6) }, 2, SQLITE_DONE, SQLITE_DONE, NULL, 1 },
	{ "fidelity_insert_returning",
	  "INSERT INTO t(name, n) VALUES(?, ?), ('gina', 8) RETURNING *",
	  { P_TEXT("frank"), P_INT(6) }, 2, SQLITE_DONE, SQLITE_DONE, NULL, 2 },
	{ "fidelity_update_many", "UPDATE t SET n = n * ? WHERE n >= ?",
	  { P_INT(10), P_INT(3) }, 2, SQLITE_DONE, SQLITE_DONE, NULL, 3 },
	{ "fidelity_delete", "DELETE FROM t WHERE n < ?", { P_INT(3) }, 1, SQLITE_DONE, SQLITE_DONE,
	  NULL, 2 },
	{ "fidelity_upsert", "INSERT INTO t(name, n) VALUES(?, ?) ON CONFLICT(name) "
	  "DO UPDATE SET n = n + excluded.n RETURNING id, name, n", { P_TEXT("bob"), P_INT(40) }, 2,
	  SQLITE_DONE, SQLITE_DONE, NULL, 1 },
	{ "fidelity_upsert_insert", "INSERT INTO t(name, n) VALUES(?, ?) ON CONFLICT(name) "
	  "DO UPDATE SET n = n + excluded.n", { P_TEXT("hal"), P_INT(40) }, 2, SQLITE_DONE, SQLITE_DONE,
	  NULL, 1 },
	{ "fidelity_replace", "REPLACE INTO t(id, name, n) VALUES(?, ?, ?)",
	  { P_INT(2), P_TEXT("carol"), P_INT(9) }, 3, SQLITE_DONE, SQLITE_DONE, NULL, 1 },
	{ "fidelity_cte_insert", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
	  "WHERE x < ?) INSERT INTO t(name, n) SELECT 'gen' || x, x FROM c", { P_INT(10) }, 1,
	  SQLITE_DONE, SQLITE_DONE, NULL, 10 },
	{ "fidelity_create_table", "CREATE TABLE u(a INTEGER PRIMARY KEY, b TEXT NOT NULL)",
	  { P_NULL }, 0, SQLITE_DONE, SQLITE_DONE, NULL, 0 },
	{ "fidelity_unique", "INSERT INTO t(name, n) VALUES(?, 1)", { P_TEXT("bob") }, 1,
	  SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: t.name", 0 },
	{ "fidelity_not_null", "INSERT INTO t(name, n) VALUES('zed', ?)", { P_NULL }, 1,
	  SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: t.n", 0 },
	{ "fidelity_syntax", "INSERT INTO t(name) VALUS('x')", { P_NULL }, 0, SQLITE_ERROR,
	  SQLITE_ERROR, "near \"VALUS\": syntax error", 0 },
	{ "fidelity_missing_table", "INSERT INTO nope VALUES(1)", { P_NULL }, 0, SQLITE_ERROR,
	  SQLITE_ERROR, "no such table: nope", 0 },
	{ "fidelity_values", "INSERT INTO v VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
	  {
		  P_INT(INT64_MIN), P_INT(INT64_MAX), P_FLOAT(0.30000000000000004),
		  P_FLOAT(-0.0),
		  { .type = WIRE_TEXT, .u.s = { text_nul, sizeof(text_nul) } },
		  { .type = WIRE_TEXT16, .u.s = { text16, sizeof(text16) } },
		  { .type = WIRE_ZEROBLOB, .u.zero = 16 },
		  { .type = WIRE_BLOB, .u.s = { NULL, 0 } },  /* empty, not NULL */
		  P_NULL,
		  { .type = WIRE_BLOB, .u.s = { bytes4, sizeof(bytes4) } },
	  }, 10, SQLITE_DONE, SQLITE_DONE, NULL, 1 },
	{ "fidelity_real_affinity", "INSERT INTO r VALUES(?, ?) RETURNING x, y, typeof(x)",
	  { P_FLOAT(-0.0), P_FLOAT(0.30000000000000004) }, 2, SQLITE_DONE, SQLITE_DONE, NULL, 1 },
};

static void fidelity_run(const struct fcase *c)
{
	char dir[PATH_MAX], mnt[PATH_MAX], local[PATH_MAX + 16], remote[PATH_MAX + 16], name[64];
	struct wire_buf b = { 0 };
	struct observed l;
	struct wire_msg m;
	char *dl, *dr;
	bool executed;

	xsnprintf(name, sizeof(name), "%s", c->name);
	make_dir(name, dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(local, sizeof(local), "%s/local.db", dir);
	xsnprintf(remote, sizeof(remote), "%s/case.db", mnt);
	db_exec(local, BASE_SCHEMA);
	db_exec(remote, BASE_SCHEMA);

	local_observe(local, c->sql, c->params, c->nparams, &l);
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	exec_direct(&g_res.exec, 1, "case.db", c->sql, c->params, c->nparams, &b, &m, &executed);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_true(m.u.result.request_id == 1);
	assert_same_outcome(&l, &m.u.result);
	if (c->want_rc) {
		assert_int_equal(m.u.result.rc, c->want_rc);
		assert_int_equal(m.u.result.xrc, c->want_xrc);
		if (c->want_msg) {
			assert_int_equal(m.u.result.errmsg.n, strlen(c->want_msg));
			assert_memory_equal(m.u.result.errmsg.p, c->want_msg, m.u.result.errmsg.n);
		}
		assert_true(m.u.result.changes == c->want_changes);
	}
	/* A prepare error runs nothing; anything that got as far as a step did run. */
	assert_int_equal(executed, c->want_rc != SQLITE_ERROR);
	wire_msg_free(&m);
	fwd_exec_close(&g_res.exec);
	g_res.exec_open = false;

	dl = dump_db(local);
	dr = dump_db(remote);
	assert_string_equal(dr, dl);
	free(dl);
	free(dr);
	observed_free(&l);
	wire_buf_free(&b);
}

static void test_fidelity(void **state)
{
	fidelity_run(*state);
}

/* The edge values come back bit for bit from a round trip through the table: in the
 * RETURNING row and read again by a later statement. */
static void test_values_roundtrip(void **state)
{
	const struct fcase *c = &fcases[13];
	char dir[PATH_MAX], mnt[PATH_MAX], remote[PATH_MAX + 16];
	struct wire_buf b = { 0 };
	struct wire_msg m;
	const struct wire_value *row;
	double want;

	(void)state;
	assert_string_equal(c->name, "fidelity_values");
	make_dir("values", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/v.db", mnt);
	db_exec(remote, BASE_SCHEMA);
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	exec_direct(&g_res.exec, 1, "v.db", c->sql, c->params, c->nparams, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);

	exec_direct(&g_res.exec, 2, "v.db", "SELECT a, b, c, d, e, f, g, h, i, j, typeof(h), "
		    "typeof(i), typeof(f) FROM v", NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_int_equal(m.u.result.ncols, 13);
	assert_int_equal(m.u.result.nrows, 1);
	row = m.u.result.cells;
	assert_int_equal(row[0].type, WIRE_INTEGER);
	assert_true(row[0].u.i == INT64_MIN);
	assert_true(row[1].u.i == INT64_MAX);
	assert_int_equal(row[2].type, WIRE_FLOAT);
	want = 0.30000000000000004;
	assert_memory_equal(&row[2].u.f, &want, sizeof(double));
	assert_true(row[2].u.f != 0.3);
	assert_int_equal(row[3].type, WIRE_FLOAT);
	want = -0.0;
	assert_memory_equal(&row[3].u.f, &want, sizeof(double));
	assert_int_equal(row[4].type, WIRE_TEXT);
	assert_int_equal(row[4].u.s.n, sizeof(text_nul));
	assert_memory_equal(row[4].u.s.p, text_nul, sizeof(text_nul));
	/* UTF-16 in, UTF-8 out: "hé", NUL, "€". */
	assert_int_equal(row[5].type, WIRE_TEXT);
	assert_int_equal(row[5].u.s.n, 7);
	assert_memory_equal(row[5].u.s.p, "h\xc3\xa9\0\xe2\x82\xac", 7);
	assert_int_equal(row[6].type, WIRE_BLOB);
	assert_int_equal(row[6].u.s.n, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(((const uint8_t *)row[6].u.s.p)[i], 0);
	assert_int_equal(row[7].type, WIRE_BLOB);
	assert_int_equal(row[7].u.s.n, 0);
	assert_int_equal(row[8].type, WIRE_NULL);
	assert_int_equal(row[9].type, WIRE_BLOB);
	assert_memory_equal(row[9].u.s.p, bytes4, sizeof(bytes4));
	assert_int_equal(row[10].u.s.n, 4);
	assert_memory_equal(row[10].u.s.p, "blob", 4);
	assert_memory_equal(row[11].u.s.p, "null", 4);
	assert_memory_equal(row[12].u.s.p, "text", 4);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

/* The rowid a statement did not set is the one the connection had before (no sentinel
 * left behind); the one it set stays. */
static void test_rowid_reported(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], remote[PATH_MAX + 16];
	struct wire_buf b = { 0 };
	struct wire_msg m;
	sqlite3 *db;

	(void)state;
	make_dir("rowid", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/r.db", mnt);
	db_exec(remote, BASE_SCHEMA);
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;

	exec_direct(&g_res.exec, 1, "r.db", "INSERT INTO t(name) VALUES('x')", NULL, 0, &b, &m,
		    NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_true(m.u.result.flags & WIRE_RESULT_ROWID);
	assert_true(m.u.result.last_insert_rowid == 6);
	wire_msg_free(&m);
	db = fwd_exec_handle(&g_res.exec, "r.db");
	assert_non_null(db);
	assert_true(sqlite3_last_insert_rowid(db) == 6);

	/* Each request carries the program's own last_insert_rowid (0 here): a statement that
	 * inserts nothing leaves it, so no flag. */
	exec_direct(&g_res.exec, 2, "r.db", "UPDATE t SET n = 7", NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_false(m.u.result.flags & WIRE_RESULT_ROWID);
	assert_true(m.u.result.changes == 6);
	wire_msg_free(&m);

	/* A failed insert sets no rowid either. */
	exec_direct(&g_res.exec, 3, "r.db", "INSERT INTO t(name) VALUES('x')", NULL, 0, &b, &m,
		    NULL);
	assert_int_equal(m.u.result.rc, SQLITE_CONSTRAINT);
	assert_false(m.u.result.flags & WIRE_RESULT_ROWID);
	wire_msg_free(&m);

	/* A statement reads the program's last_insert_rowid, not the forwarder's. */
	exec_direct(&g_res.exec, 4, "r.db", "INSERT INTO t(name, n) VALUES('y', last_insert_rowid())",
		    NULL, 0, &b, &m, NULL);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM t WHERE name = 'y' AND n = 0"), 1);
	wire_buf_free(&b);
}

static void test_one_statement(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], remote[PATH_MAX + 16];
	struct wire_buf b = { 0 };
	struct wire_msg m;
	bool executed = true;

	(void)state;
	make_dir("one-stmt", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/o.db", mnt);
	db_exec(remote, "CREATE TABLE x(a)");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;

	exec_direct(&g_res.exec, 1, "o.db", "INSERT INTO x VALUES(1); INSERT INTO x VALUES(2)",
		    NULL, 0, &b, &m, &executed);
	assert_error_reply(&m, 1, EINVAL, "one statement per request");
	assert_false(executed);
	wire_msg_free(&m);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM x"), 0);

	/* Even when the second would fail to prepare. */
	exec_direct(&g_res.exec, 2, "o.db", "INSERT INTO x VALUES(1);garbage", NULL, 0, &b, &m,
		    NULL);
	assert_error_reply(&m, 2, EINVAL, "one statement per request");
	wire_msg_free(&m);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM x"), 0);

	/* White space, comments and empty statements after it are fine. */
	exec_direct(&g_res.exec, 3, "o.db", "INSERT INTO x VALUES(3); -- done\n /* really */ ;; "
		    "\t\r\n/* open comment", NULL, 0, &b, &m, &executed);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_true(executed);
	wire_msg_free(&m);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM x"), 1);

	/* Nothing at all is no statement. */
	exec_direct(&g_res.exec, 4, "o.db", " -- nothing\n", NULL, 0, &b, &m, &executed);
	assert_error_reply(&m, 4, EINVAL, "empty statement");
	assert_false(executed);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

static void test_transaction_refused(void **state)
{
	static const char *const opens[] = { "BEGIN", "BEGIN IMMEDIATE", "SAVEPOINT s1" };
	char dir[PATH_MAX], mnt[PATH_MAX], remote[PATH_MAX + 16];
	struct wire_buf b = { 0 };
	struct wire_msg m;
	sqlite3 *db, *other;
	bool executed;
	uint64_t id = 1;

	(void)state;
	make_dir("txn", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/x.db", mnt);
	db_exec(remote, "CREATE TABLE x(a)");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;

	for (size_t i = 0; i < sizeof(opens) / sizeof(opens[0]); i++, id++) {
		executed = true;
		exec_direct(&g_res.exec, id, "x.db", opens[i], NULL, 0, &b, &m, &executed);
		assert_error_reply(&m, id, ENOTSUP, "transaction");
		assert_false(executed);
		wire_msg_free(&m);
		db = fwd_exec_handle(&g_res.exec, "x.db");
		assert_non_null(db);
		assert_int_equal(sqlite3_get_autocommit(db), 1);

		/* The next statement commits on its own, and holds no lock afterwards. */
		exec_direct(&g_res.exec, 100 + id, "x.db", "INSERT INTO x VALUES(1)", NULL, 0, &b,
			    &m, NULL);
		assert_int_equal(m.type, WIRE_RESULT);
		assert_int_equal(m.u.result.rc, SQLITE_DONE);
		wire_msg_free(&m);
		assert_int_equal(sqlite3_get_autocommit(db), 1);
		other = db_open(remote);
		assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO x VALUES(2); "
					      "COMMIT", NULL, NULL, NULL), SQLITE_OK);
		db_close(other);
		assert_int_equal(db_int(remote, "SELECT count(*) FROM x"), 2 * (int64_t)(i + 1));
	}
	wire_buf_free(&b);
}

/* A parameter that cannot be bound is refused, nothing runs. */
static void test_bind_refused(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], remote[PATH_MAX + 16];
	struct wire_value p[2] = { v_int(1), v_int(2) };
	struct wire_buf b = { 0 };
	struct wire_msg m;
	bool executed = true;

	(void)state;
	make_dir("bind", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/b.db", mnt);
	db_exec(remote, "CREATE TABLE x(a)");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	exec_direct(&g_res.exec, 1, "b.db", "INSERT INTO x VALUES(?)", p, 2, &b, &m, &executed);
	assert_error_reply(&m, 1, EINVAL, "parameter 2");
	assert_false(executed);
	wire_msg_free(&m);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM x"), 0);
	wire_buf_free(&b);
}

/* A remote client reaches only databases in the mount: no ATTACH of other files. */
/* Which listen addresses only this host reaches: without a secret the forwarder serves
 * those alone. */
static void test_listen_is_local(void **state)
{
	static const struct {
		const char *url;
		bool local;
	} cases[] = {
		{ "ipc:///run/litefs-fwd.sock", true },
		{ "tcp://127.0.0.1:20208", true },
		{ "tcp://127.1.2.3:20208", true },
		{ "tcp://[::1]:20208", true },
		{ "tcp://localhost:20208", true },
		{ "tcp://0.0.0.0:20208", false },
		{ "tcp://*:20208", false },
		{ "tcp://[::]:20208", false },
		{ "tcp://10.0.0.1:20208", false },
		{ "tcp://127.example.com:20208", false },
		{ "tcp://128.0.0.1:20208", false },
		{ "tcp://localhost.example.com:20208", false },
		{ "tcp://node-a:20208", false },
		{ "ws://127.0.0.1:20208", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (fwd_config_listen_is_local(cases[i].url) != cases[i].local)
			fail_msg("%s: expected %s", cases[i].url, cases[i].local ? "local" : "not local");
}

/* What a remote client must not reach through the forwarder: files outside the mount
 * (ATTACH, VACUUM INTO), code (load_extension, fts3_tokenizer's function pointers, bound
 * arguments included), the settings of the connection the clients share (a PRAGMA that is
 * not about the database file). The connection goes on serving its database. */
static void test_attach_refused(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], sql[PATH_MAX + 64], other[PATH_MAX + 16];
	struct wire_buf b = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("attach", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(other, sizeof(other), "%s/outside.db", dir);
	xsnprintf(sql, sizeof(sql), "ATTACH '%s' AS o", other);
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	exec_direct(&g_res.exec, 1, "a.db", sql, NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_ERROR);
	wire_msg_free(&m);
	assert_int_equal(access(other, F_OK), -1);
	/* VACUUM INTO writes a copy of the database wherever it is told: refused too */
	xsnprintf(sql, sizeof(sql), "VACUUM INTO '%s'", other);
	b.len = 0;
	exec_direct(&g_res.exec, 2, "a.db", sql, NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_ERROR);
	wire_msg_free(&m);
	assert_int_equal(access(other, F_OK), -1);
	/* no extension can be loaded: load_extension() is not authorized */
	b.len = 0;
	exec_direct(&g_res.exec, 3, "a.db", "SELECT load_extension('/nonexistent/ext.so')", NULL,
		    0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_ERROR);
	assert_non_null(memmem(m.u.result.errmsg.p, m.u.result.errmsg.n, "not authorized", 14));
	wire_msg_free(&m);
	/* fts3_tokenizer() would read or replace a function pointer of the library, even
	 * with the tokenizer turned off when its argument is bound: refused either way */
	b.len = 0;
	exec_direct(&g_res.exec, 5, "a.db", "SELECT hex(fts3_tokenizer('simple'))", NULL, 0, &b,
		    &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_ERROR);
	assert_non_null(memmem(m.u.result.errmsg.p, m.u.result.errmsg.n,
			       "not authorized to use function", 30));
	assert_int_equal(m.u.result.nrows, 0);
	wire_msg_free(&m);
	{
		static const uint8_t ptr[8] = { 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41 };
		struct wire_value p[2] = { v_text("simple"), v_blob(ptr, sizeof(ptr)) };

		b.len = 0;
		exec_direct(&g_res.exec, 6, "a.db", "SELECT fts3_tokenizer(?1, ?2)", p, 2, &b, &m,
			    NULL);
		assert_int_equal(m.type, WIRE_RESULT);
		assert_int_equal(m.u.result.rc, SQLITE_ERROR);
		assert_non_null(memmem(m.u.result.errmsg.p, m.u.result.errmsg.n,
				       "not authorized to use function", 30));
		wire_msg_free(&m);
	}
	b.len = 0;
	exec_direct(&g_res.exec, 7, "a.db", "CREATE VIRTUAL TABLE temp.f USING fts3(tokenize=simple)",
		    NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE); /* the tokenizer is the library's own */
	wire_msg_free(&m);
	/* a PRAGMA that sets the shared connection is refused (it would stay set for every
	 * client); one that changes the database file is not */
	b.len = 0;
	exec_direct(&g_res.exec, 8, "a.db", "PRAGMA query_only = 1", NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_AUTH);
	assert_non_null(memmem(m.u.result.errmsg.p, m.u.result.errmsg.n, "not authorized", 14));
	wire_msg_free(&m);
	b.len = 0;
	exec_direct(&g_res.exec, 9, "a.db", "PRAGMA user_version = 7", NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	/* the connection still serves its own database */
	b.len = 0;
	exec_direct(&g_res.exec, 4, "a.db", "CREATE TABLE t(x)", NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	xsnprintf(sql, sizeof(sql), "%s/a.db", mnt);
	assert_int_equal(db_int(sql, "PRAGMA user_version"), 7);
	wire_buf_free(&b);
}

static void test_txid(void **state)
{
	static const struct {
		const char *text;
		uint64_t want;
	} cases[] = {
		{ "0000000000000002/e04fc44716e5272f\n", 2 },
		{ "00000000000000ff/0000000000000000\n", 255 },
		{ "ffffffffffffffff/ffffffffffffffff\n", UINT64_MAX },
		{ "0000000000000002/e04fc44716e5272f", 0 },
		{ "0000000000000002/e04fc44716e5272f\n\n", 0 },
		{ "000000000000000g/e04fc44716e5272f\n", 0 },
		{ "0000000000000002-e04fc44716e5272f\n", 0 },
		{ "", 0 },
	};
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], db[PATH_MAX + 16];
	struct wire_buf b = { 0 };
	struct wire_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(fwd_exec_parse_pos(cases[i].text, strlen(cases[i].text)) ==
			    cases[i].want);

	make_dir("txid", dir, sizeof(dir), mnt, sizeof(mnt));
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	/* No -pos file: 0. */
	exec_direct(&g_res.exec, 1, "p.db", "CREATE TABLE x(a)", NULL, 0, &b, &m, NULL);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_true(m.u.result.txid == 0);
	wire_msg_free(&m);
	/* The TXID before the statement, read with the write lock held (-pos as LiteFS shows
	 * it), and one more for the statement's commit. */
	xsnprintf(path, sizeof(path), "%s/p.db-pos", mnt);
	xsnprintf(db, sizeof(db), "%s/p.db", mnt);
	write_file(path, "000000000000002a/e04fc44716e5272f\n", 34);
	exec_direct(&g_res.exec, 2, "p.db", "INSERT INTO x VALUES(1)", NULL, 0, &b, &m, NULL);
	assert_true(m.u.result.txid == 43);
	wire_msg_free(&m);

	/* Nobody else committed since: LiteFS numbers transactions one by one, so the TXID
	 * is known without reading the file (which says something else here). */
	write_file(path, "junk\n", 5);
	exec_direct(&g_res.exec, 3, "p.db", "INSERT INTO x VALUES(2)", NULL, 0, &b, &m, NULL);
	assert_true(m.u.result.txid == 44);
	wire_msg_free(&m);
	/* A write that changed nothing still commits its record. */
	exec_direct(&g_res.exec, 4, "p.db", "UPDATE x SET a = 0 WHERE a = 99", NULL, 0, &b, &m,
		    NULL);
	assert_true(m.u.result.txid == 45);
	wire_msg_free(&m);

	/* Another connection committed meanwhile: read again. */
	db_exec(db, "INSERT INTO x VALUES(10)");
	write_file(path, "0000000000000032/e04fc44716e5272f\n", 34);
	exec_direct(&g_res.exec, 5, "p.db", "INSERT INTO x VALUES(3)", NULL, 0, &b, &m, NULL);
	assert_true(m.u.result.txid == 51);
	wire_msg_free(&m);
	/* A statement that failed committed nothing: the TXID stays. */
	exec_direct(&g_res.exec, 6, "p.db", "INSERT INTO x VALUES(abs(-9223372036854775808))",
		    NULL, 0, &b, &m, NULL);
	assert_int_equal(m.u.result.rc, SQLITE_ERROR);
	assert_true(m.u.result.txid == 51);
	wire_msg_free(&m);
	exec_direct(&g_res.exec, 7, "p.db", "INSERT INTO x VALUES(4)", NULL, 0, &b, &m, NULL);
	assert_true(m.u.result.txid == 52);
	wire_msg_free(&m);

	/* Anything but the -pos format reads as 0, and nothing is inferred from it. */
	db_exec(db, "INSERT INTO x VALUES(11)");
	write_file(path, "junk\n", 5);
	exec_direct(&g_res.exec, 9, "p.db", "INSERT INTO x VALUES(6)", NULL, 0, &b, &m, NULL);
	assert_true(m.u.result.txid == 0);
	wire_msg_free(&m);
	exec_direct(&g_res.exec, 10, "p.db", "INSERT INTO x VALUES(7)", NULL, 0, &b, &m, NULL);
	assert_true(m.u.result.txid == 0);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

/* Prepared statements of db (all of them kept by the forwarder between requests). */
static int stmt_count(sqlite3 *db)
{
	int n = 0;

	assert_non_null(db);
	for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st))
		n++;
	return n;
}

/* Statements are kept prepared between requests with the same text, and a kept one
 * behaves as a fresh one: parameters left out are NULL, a schema changed by someone else
 * shows, a dropped table fails as at prepare time. */
static void test_statement_cache(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	struct wire_value two[2] = { v_int(1), v_text("a") }, one = v_int(2);
	const char *ins = "INSERT INTO t(a, b) VALUES (?1, ?2) RETURNING *";
	struct wire_buf b = { 0 };
	struct wire_msg m;
	bool executed = false;
	char sql[64];

	(void)state;
	make_dir("stmt-cache", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/s.db", mnt);
	db_exec(path, "CREATE TABLE t(a, b)");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;

	exec_direct(&g_res.exec, 1, "s.db", ins, two, 2, &b, &m, NULL);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_int_equal(m.u.result.ncols, 2);
	wire_msg_free(&m);
	/* Only ?1 this time: ?2 is NULL, not the "a" of the previous request. */
	exec_direct(&g_res.exec, 2, "s.db", ins, &one, 1, &b, &m, NULL);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_int_equal(m.u.result.nrows, 1);
	assert_int_equal(m.u.result.cells[1].type, WIRE_NULL);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t WHERE a = 2 AND b IS NULL"), 1);
	/* one statement kept for the two requests, the durable record's INSERT, and the
	 * BEGIN IMMEDIATE and COMMIT around them */
	assert_int_equal(stmt_count(fwd_exec_handle(&g_res.exec, "s.db")), 4);

	/* Another connection adds a column: RETURNING * returns three. */
	db_exec(path, "ALTER TABLE t ADD COLUMN c DEFAULT 'new'");
	exec_direct(&g_res.exec, 3, "s.db", ins, two, 2, &b, &m, NULL);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_int_equal(m.u.result.ncols, 3);
	assert_int_equal(m.u.result.nrows, 1);
	assert_int_equal(m.u.result.cells[2].type, WIRE_TEXT);
	assert_memory_equal(m.u.result.cells[2].u.s.p, "new", 3);
	wire_msg_free(&m);

	/* ... and drops the table: the same error as a statement prepared now. */
	db_exec(path, "DROP TABLE t");
	exec_direct(&g_res.exec, 4, "s.db", ins, two, 2, &b, &m, &executed);
	assert_int_equal(m.u.result.rc, SQLITE_ERROR);
	assert_int_equal(m.u.result.errmsg.n, strlen("no such table: t"));
	assert_memory_equal(m.u.result.errmsg.p, "no such table: t", m.u.result.errmsg.n);
	wire_msg_free(&m);

	/* More texts than the cache holds: each still runs, in any order. */
	db_exec(path, "CREATE TABLE u(n)");
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 40; i++) {
			xsnprintf(sql, sizeof(sql), "INSERT INTO u VALUES (%d)", i);
			exec_direct(&g_res.exec, 100 + (uint64_t)(round * 40 + i), "s.db", sql,
				    NULL, 0, &b, &m, NULL);
			assert_int_equal(m.u.result.rc, SQLITE_DONE);
			wire_msg_free(&m);
		}
	}
	assert_int_equal(db_int(path, "SELECT count(*) FROM u"), 80);
	/* no more kept than the cache holds */
	assert_int_equal(stmt_count(fwd_exec_handle(&g_res.exec, "s.db")), 16);
	assert_int_equal(db_int(path, "SELECT sum(n) FROM u"), 2 * (39 * 40 / 2));
	wire_buf_free(&b);
}

/* ---- sessions (the transactions of programs on replicas) ------------------------------------ */

/* Sends one request of session `session` (flags WIRE_SESSION_*) through the request handler
 * of g_res.req; m gets the reply, decoded from out. */
static void session_request_db(const char *db, uint64_t id, uint64_t session, uint32_t flags,
			       const char *prologue, uint64_t snapshot, uint32_t timeout_ms,
			       const char *sql, struct wire_buf *out, struct wire_msg *m)
{
	struct wire_exec e = { .request_id = id, .session_id = session, .session_flags = flags,
			       .snapshot_txid = snapshot, .txn_timeout_ms = timeout_ms };
	struct wire_buf req = { 0 };

	e.db.p = db;
	e.db.n = (uint32_t)strlen(db);
	e.sql.p = sql;
	e.sql.n = (uint32_t)strlen(sql);
	e.prologue.p = prologue;
	e.prologue.n = prologue ? (uint32_t)strlen(prologue) : 0;
	assert_int_equal(wire_encode_exec(&req, &e, MAX), 0);
	out->len = 0;
	assert_int_equal(fwd_request_handle(&g_res.req, req.p, req.len, out), 0);
	assert_int_equal(wire_decode(out->p, out->len, MAX, m), 0);
	wire_buf_free(&req);
}

/* session_request_db() on s.db. */
static void session_request(uint64_t id, uint64_t session, uint32_t flags, const char *prologue,
			    uint64_t snapshot, uint32_t timeout_ms, const char *sql,
			    struct wire_buf *out, struct wire_msg *m)
{
	session_request_db("s.db", id, session, flags, prologue, snapshot, timeout_ms, sql, out,
			   m);
}

/* Limits: beyond the most transactions open at once (4 here, one per database), a new one
 * is refused as busy with a clear message, having run nothing; once one ends, there is
 * room again. Each session's page cache is capped as configured. */
static void test_session_limits(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], db[16];
	struct wire_buf out = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("limits", dir, sizeof(dir), mnt, sizeof(mnt));
	for (int i = 0; i < 5; i++) {
		xsnprintf(path, sizeof(path), "%s/%c.db", mnt, 'a' + i);
		db_exec(path, "CREATE TABLE t(x)");
	}
	request_open(mnt, 64, 5000);
	g_res.exec.session_cache_kib = 512;
	for (int i = 0; i < 4; i++) {
		xsnprintf(db, sizeof(db), "%c.db", 'a' + i);
		session_request_db(db, 10 + (uint64_t)i, 100 + (uint64_t)i, WIRE_SESSION_BEGIN,
				   "BEGIN;", 0, 5000, "INSERT INTO t VALUES (1)", &out, &m);
		assert_int_equal(m.u.result.rc, SQLITE_DONE);
		assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
		wire_msg_free(&m);
	}
	assert_int_equal(fwd_sessions_count(g_res.sessions), 4);
	session_request_db("e.db", 20, 200, WIRE_SESSION_BEGIN, "BEGIN;", 0, 5000,
			   "INSERT INTO t VALUES (1)", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_BUSY);
	assert_true(m.u.result.flags & WIRE_RESULT_NOT_BEGUN);
	assert_non_null(memmem(m.u.result.errmsg.p, m.u.result.errmsg.n,
			       "too many open transactions", 26));
	wire_msg_free(&m);
	xsnprintf(path, sizeof(path), "%s/e.db", mnt);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 0);
	/* each session's page cache is capped */
	session_request_db("a.db", 30, 100, 0, NULL, 0, 5000, "PRAGMA cache_size", &out, &m);
	assert_int_equal(m.u.result.nrows, 1);
	assert_true(m.u.result.cells[0].u.i == -512);
	wire_msg_free(&m);
	/* one ends: room for another */
	session_request_db("a.db", 31, 100, 0, NULL, 0, 5000, "COMMIT", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	session_request_db("e.db", 32, 201, WIRE_SESSION_BEGIN, "BEGIN;", 0, 5000,
			   "INSERT INTO t VALUES (1)", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	for (int i = 1; i < 4; i++) {
		xsnprintf(db, sizeof(db), "%c.db", 'a' + i);
		session_request_db(db, 40 + (uint64_t)i, 100 + (uint64_t)i, 0, NULL, 0, 5000,
				   "ROLLBACK", &out, &m);
		wire_msg_free(&m);
	}
	session_request_db("e.db", 50, 201, 0, NULL, 0, 5000, "ROLLBACK", &out, &m);
	wire_msg_free(&m);
	wire_buf_free(&out);
}

/* A transaction: opened by its first write after the replayed BEGIN and SAVEPOINT, its
 * statements (reads included) run in it, a failed one leaves it open, a second client
 * cannot write meanwhile, and COMMIT ends it with the TXID. */
static void test_session_commit(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	struct wire_buf out = { 0 };
	struct wire_msg m;
	sqlite3 *other;

	(void)state;
	make_dir("sess", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/s.db", mnt);
	db_exec(path, "PRAGMA journal_mode=WAL; CREATE TABLE t(a UNIQUE)");
	request_open(mnt, 64, 5000);

	session_request(1, 77, WIRE_SESSION_BEGIN, "BEGIN;SAVEPOINT sp;", 0, 5000,
			"INSERT INTO t VALUES (1)", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	assert_false(m.u.result.flags & WIRE_RESULT_NOT_BEGUN);
	wire_msg_free(&m);
	assert_int_equal(fwd_sessions_count(g_res.sessions), 1);

	/* the transaction's own write is visible in it, and nowhere else yet */
	session_request(2, 77, 0, NULL, 0, 5000, "SELECT count(*) FROM t", &out, &m);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	assert_int_equal(m.u.result.nrows, 1);
	assert_true(m.u.result.cells[0].u.i == 1);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 0);

	/* the write lock is the session's: another writer is told busy at once */
	other = db_open(path);
	assert_int_equal(sqlite3_exec(other, "INSERT INTO t VALUES (9)", NULL, NULL, NULL),
			 SQLITE_BUSY);
	sqlite3_close(other);

	/* a constraint failure fails the statement, not the transaction */
	session_request(3, 77, 0, NULL, 0, 5000, "INSERT INTO t VALUES (1)", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_CONSTRAINT);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);
	session_request(4, 77, 0, NULL, 0, 5000, "RELEASE sp", &out, &m);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);
	write_file(strcat(strcpy(dir, mnt), "/s.db-pos"), "0000000000000005/e04fc44716e5272f\n",
		   34);
	session_request(5, 77, 0, NULL, 0, 5000, "COMMIT", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_false(m.u.result.flags & WIRE_RESULT_IN_TXN);
	assert_true(m.u.result.txid == 6);  /* the TXID before, and one for the commit */
	wire_msg_free(&m);
	assert_int_equal(fwd_sessions_count(g_res.sessions), 0);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 1);
	{
		/* the COMMIT asked again (its answer was lost) where its session is gone:
		 * answered from the record committed with it, not "rolled back" */
		struct wire_buf first = { 0 };

		assert_int_equal(wire_buf_append(&first, out.p, out.len), 0);
		session_request(5, 77, WIRE_EXEC_REPEAT, NULL, 0, 5000, "COMMIT", &out, &m);
		wire_msg_free(&m);
		fwd_dedup_destroy(g_res.dedup);  /* a forwarder that never saw it */
		assert_int_equal(fwd_dedup_create(&g_res.dedup, 64, 1 << 20, 60000), 0);
		g_res.req.dedup = g_res.dedup;
		session_request(5, 77, WIRE_EXEC_REPEAT, NULL, 0, 5000, "COMMIT", &out, &m);
		assert_int_equal(m.u.result.rc, SQLITE_DONE);
		assert_int_equal(out.len, first.len);
		assert_memory_equal(out.p, first.p, first.len);
		wire_msg_free(&m);
		wire_buf_free(&first);
	}

	/* the session is gone: a late statement of it is told so */
	session_request(6, 77, 0, NULL, 0, 5000, "INSERT INTO t VALUES (2)", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.xrc, SQLITE_ABORT_ROLLBACK);
	assert_false(m.u.result.flags & WIRE_RESULT_IN_TXN);
	assert_non_null(memmem(m.u.result.errmsg.p, m.u.result.errmsg.n, "does not know", 13));
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 1);
	wire_buf_free(&out);
}

/* Empties the in-memory record of replies, as though they had aged out of it. */
static void dedup_forget(void)
{
	fwd_dedup_destroy(g_res.dedup);
	assert_int_equal(fwd_dedup_create(&g_res.dedup, 64, 1 << 20, 60000), 0);
	g_res.req.dedup = g_res.dedup;
}

/* A statement of a transaction asked again (its answer was lost: the network cut, the
 * client's wait ran out) once the in-memory record of replies has let it go is answered
 * with its first answer, byte for byte, by its session, and not run a second time in the
 * transaction; so is the first statement, which opened it. A first statement asked again
 * once another has been answered cannot be answered: the transaction is rolled back and
 * the client told so. */
static void test_session_repeat(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	struct wire_buf out = { 0 }, first = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("sessrep", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/s.db", mnt);
	db_exec(path, "PRAGMA journal_mode=WAL; CREATE TABLE t(a); CREATE TABLE c(n);"
		      "INSERT INTO c VALUES (0)");
	request_open(mnt, 64, 5000);

	session_request(1, 88, WIRE_SESSION_BEGIN, "BEGIN;", 0, 5000,
			"UPDATE c SET n = n + 1", &out, &m);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	assert_int_equal(m.u.result.changes, 1);
	wire_msg_free(&m);
	assert_int_equal(wire_buf_append(&first, out.p, out.len), 0);
	dedup_forget();
	session_request(1, 88, WIRE_SESSION_BEGIN | WIRE_EXEC_REPEAT, "BEGIN;", 0, 5000,
			"UPDATE c SET n = n + 1", &out, &m);
	assert_int_equal(out.len, first.len);
	assert_memory_equal(out.p, first.p, first.len);
	wire_msg_free(&m);
	assert_int_equal(fwd_sessions_count(g_res.sessions), 1);

	session_request(2, 88, 0, NULL, 0, 5000, "UPDATE c SET n = n + 10", &out, &m);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);
	first.len = 0;
	assert_int_equal(wire_buf_append(&first, out.p, out.len), 0);
	dedup_forget();
	session_request(2, 88, WIRE_EXEC_REPEAT, NULL, 0, 5000, "UPDATE c SET n = n + 10", &out,
			&m);
	assert_int_equal(out.len, first.len);
	assert_memory_equal(out.p, first.p, first.len);
	wire_msg_free(&m);
	/* a repeat of a request that never arrived runs */
	session_request(3, 88, WIRE_EXEC_REPEAT, NULL, 0, 5000, "INSERT INTO t VALUES (3)", &out,
			&m);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_int_equal(m.u.result.changes, 1);
	wire_msg_free(&m);
	session_request(4, 88, 0, NULL, 0, 5000, "SELECT n FROM c", &out, &m);
	assert_int_equal(m.u.result.nrows, 1);
	assert_true(m.u.result.cells[0].u.i == 11);
	wire_msg_free(&m);

	/* the first statement again, now that others were answered: rolled back */
	dedup_forget();
	session_request(1, 88, WIRE_SESSION_BEGIN | WIRE_EXEC_REPEAT, "BEGIN;", 0, 5000,
			"UPDATE c SET n = n + 1", &out, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.xrc, SQLITE_ABORT_ROLLBACK);
	assert_false(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);
	assert_int_equal(fwd_sessions_count(g_res.sessions), 0);
	assert_int_equal(db_int(path, "SELECT n FROM c"), 0);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 0);
	wire_buf_free(&first);
	wire_buf_free(&out);
}

/* A transaction is not begun, and nothing of it stays, when its first write cannot get the
 * write lock, or when the primary is past what it read on the replica. */
static void test_session_not_begun(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], pos[PATH_MAX + 16];
	struct wire_buf out = { 0 };
	struct wire_msg m;
	sqlite3 *holder;

	(void)state;
	make_dir("sess-nb", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/s.db", mnt);
	xsnprintf(pos, sizeof(pos), "%s/s.db-pos", mnt);
	db_exec(path, "PRAGMA journal_mode=WAL; CREATE TABLE t(a)");
	request_open(mnt, 64, 5000);

	holder = db_open(path);
	assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	session_request(1, 5, WIRE_SESSION_BEGIN, "BEGIN;", 0, 5000, "INSERT INTO t VALUES (1)",
			&out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_BUSY);
	assert_true(m.u.result.flags & WIRE_RESULT_NOT_BEGUN);
	assert_false(m.u.result.flags & WIRE_RESULT_IN_TXN);
	assert_true(m.u.result.changes == 0);
	wire_msg_free(&m);
	session_request(2, 6, WIRE_SESSION_BEGIN, NULL, 0, 5000, "BEGIN IMMEDIATE", &out, &m);
	assert_true(m.u.result.flags & WIRE_RESULT_NOT_BEGUN);
	wire_msg_free(&m);
	assert_int_equal(fwd_sessions_count(g_res.sessions), 0);
	assert_int_equal(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(holder);

	/* the transaction read TXID 9 on the replica; the primary is at 10 */
	write_file(pos, "000000000000000a/e04fc44716e5272f\n", 34);
	session_request(3, 7, WIRE_SESSION_BEGIN | WIRE_SESSION_SNAPSHOT, "BEGIN;", 9, 5000,
			"INSERT INTO t VALUES (2) RETURNING a", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_BUSY);
	assert_int_equal(m.u.result.xrc, SQLITE_BUSY_SNAPSHOT);
	assert_true(m.u.result.flags & WIRE_RESULT_NOT_BEGUN);
	assert_true(m.u.result.txid == 10);
	assert_int_equal(m.u.result.nrows, 0);
	assert_false(m.u.result.flags & WIRE_RESULT_ROWID);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 0);
	/* ... and it is at what was read: the transaction goes on */
	session_request(4, 8, WIRE_SESSION_BEGIN | WIRE_SESSION_SNAPSHOT, "BEGIN;", 10, 5000,
			"INSERT INTO t VALUES (3)", &out, &m);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);
	session_request(5, 8, 0, NULL, 0, 5000, "ROLLBACK", &out, &m);
	assert_false(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 0);

	/* no more sessions than the table holds (4 here): the next one is busy */
	for (uint64_t i = 0; i < 5; i++) {
		session_request(10 + i, 100 + i, WIRE_SESSION_BEGIN, NULL, 0, 5000, "BEGIN", &out,
				&m);
		if (i < 4) {
			assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
		} else {
			assert_true(m.u.result.flags & WIRE_RESULT_NOT_BEGUN);
			assert_int_equal(m.u.result.rc, SQLITE_BUSY);
		}
		wire_msg_free(&m);
	}
	wire_buf_free(&out);
}

/* An idle session is rolled back after its timeout: its lock goes, and its client hears
 * why on its next statement. */
static void test_session_expires(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	struct wire_buf out = { 0 };
	struct wire_msg m;
	struct timespec ts;

	(void)state;
	make_dir("sess-exp", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/s.db", mnt);
	db_exec(path, "PRAGMA journal_mode=WAL; CREATE TABLE t(a)");
	request_open(mnt, 64, 5000);

	session_request(1, 9, WIRE_SESSION_BEGIN, "BEGIN;", 0, 100, "INSERT INTO t VALUES (1)",
			&out, &m);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_int_equal(fwd_sessions_expire(g_res.sessions, (int64_t)ts.tv_sec * 1000 +
					     ts.tv_nsec / 1000000), 0);
	usleep(200 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_int_equal(fwd_sessions_expire(g_res.sessions, (int64_t)ts.tv_sec * 1000 +
					     ts.tv_nsec / 1000000), 1);
	db_exec(path, "INSERT INTO t VALUES (2)");  /* the lock is free */
	session_request(2, 9, 0, NULL, 0, 100, "COMMIT", &out, &m);
	assert_int_equal(m.u.result.xrc, SQLITE_ABORT_ROLLBACK);
	assert_false(m.u.result.flags & WIRE_RESULT_IN_TXN);
	assert_non_null(memmem(m.u.result.errmsg.p, m.u.result.errmsg.n, "idle", 4));
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT group_concat(a) FROM t"), 2);

	/* not looked at by the timer in time: rolled back when the late statement comes */
	session_request(3, 10, WIRE_SESSION_BEGIN, "BEGIN;", 0, 100, "INSERT INTO t VALUES (3)",
			&out, &m);
	wire_msg_free(&m);
	usleep(200 * 1000);
	session_request(4, 10, 0, NULL, 0, 100, "INSERT INTO t VALUES (4)", &out, &m);
	assert_int_equal(m.u.result.xrc, SQLITE_ABORT_ROLLBACK);
	wire_msg_free(&m);
	assert_int_equal(fwd_sessions_count(g_res.sessions), 0);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 1);
	wire_buf_free(&out);
}

/* A statement prepared in the session, not run: the schema it needs exists only there. */
static void test_session_describe(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	static const char sql[] = "INSERT INTO n(a, b) VALUES (:a, ?3) RETURNING a, b; tail";
	struct wire_buf out = { 0 };
	struct wire_description *d;
	struct wire_msg m;

	(void)state;
	make_dir("sess-desc", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/s.db", mnt);
	db_exec(path, "PRAGMA journal_mode=WAL; CREATE TABLE t(a)");
	request_open(mnt, 64, 5000);
	session_request(1, 11, WIRE_SESSION_BEGIN, "BEGIN;", 0, 5000,
			"CREATE TABLE n(a INTEGER, b TEXT)", &out, &m);
	assert_true(m.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&m);

	session_request(2, 11, WIRE_SESSION_DESCRIBE, NULL, 0, 5000, sql, &out, &m);
	assert_int_equal(m.type, WIRE_DESCRIPTION);
	d = &m.u.description;
	assert_int_equal(d->rc, SQLITE_OK);
	assert_int_equal(d->tail, strchr(sql, ';') + 1 - sql);
	assert_false(d->flags & WIRE_DESC_READONLY);
	assert_int_equal(d->nparams, 3);
	assert_int_equal(d->params[0].type, WIRE_TEXT);
	assert_memory_equal(d->params[0].u.s.p, ":a", 2);
	assert_int_equal(d->params[1].type, WIRE_NULL);
	assert_memory_equal(d->params[2].u.s.p, "?3", 2);
	assert_int_equal(d->ncols, 2);
	assert_memory_equal(d->cols[0].u.s.p, "a", 1);
	assert_memory_equal(d->cols[1].u.s.p, "INTEGER", 7);
	assert_memory_equal(d->cols[2].u.s.p, "b", 1);
	assert_memory_equal(d->cols[3].u.s.p, "TEXT", 4);
	wire_msg_free(&m);

	session_request(3, 11, WIRE_SESSION_DESCRIBE, NULL, 0, 5000, "SELECT * FROM nosuch", &out,
			&m);
	assert_int_equal(m.u.description.rc, SQLITE_ERROR);
	assert_non_null(memmem(m.u.description.errmsg.p, m.u.description.errmsg.n, "nosuch", 6));
	wire_msg_free(&m);
	/* describing runs nothing, and the transaction stays */
	assert_int_equal(fwd_sessions_count(g_res.sessions), 1);
	session_request(4, 11, 0, NULL, 0, 5000, "ROLLBACK", &out, &m);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'n'"), 0);
	wire_buf_free(&out);
}

/* Exactly once: a request executed before, by a forwarder that has forgotten it since
 * (restarted) or by another node that was the primary then (its database replicated
 * here), is answered from the record in the database, byte for byte, not run again. */
static void test_record_exactly_once(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], mnt2[PATH_MAX + 16];
	char path2[PATH_MAX + 32];
	struct wire_value v = v_text("once");
	struct wire_buf b = { 0 }, first = { 0 };
	struct wire_msg m;
	struct fwd_exec other;
	bool executed = false;

	(void)state;
	make_dir("record", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/r.db", mnt);
	db_exec(path, "CREATE TABLE t(id INTEGER PRIMARY KEY, a)");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;

	exec_direct(&g_res.exec, 0xfeedULL << 40, "r.db", "INSERT INTO t(a) VALUES (?) RETURNING id",
		    &v, 1, &b, &m, &executed);
	assert_true(executed);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	/* what the program sees is the statement's alone: its row, its rowid, its count */
	assert_true(m.u.result.flags & WIRE_RESULT_ROWID);
	assert_true(m.u.result.last_insert_rowid == 1);
	assert_true(m.u.result.total_changes_delta == 1);
	assert_int_equal(m.u.result.nrows, 1);
	wire_msg_free(&m);
	assert_int_equal(wire_buf_append(&first, b.p, b.len), 0);

	/* a forwarder that never saw it, asked again (the client had no answer): answered
	 * from the record */
	fwd_exec_close(&g_res.exec);
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_exec_flags = WIRE_EXEC_REPEAT;
	exec_direct(&g_res.exec, 0xfeedULL << 40, "r.db", "INSERT INTO t(a) VALUES (?) RETURNING id",
		    &v, 1, &b, &m, &executed);
	assert_false(executed);
	assert_int_equal(b.len, first.len);
	assert_memory_equal(b.p, first.p, b.len);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 1);

	/* the same on another node, with the database as replicated there */
	xsnprintf(mnt2, sizeof(mnt2), "%s/other", dir);
	assert_int_equal(mkdir(mnt2, 0700), 0);
	xsnprintf(path2, sizeof(path2), "%s/r.db", mnt2);
	db_exec(path, "PRAGMA wal_checkpoint(TRUNCATE)");
	{
		sqlite3 *src = db_open(path), *dst = db_open(path2);
		sqlite3_backup *bk = sqlite3_backup_init(dst, "main", src, "main");

		assert_non_null(bk);
		assert_int_equal(sqlite3_backup_step(bk, -1), SQLITE_DONE);
		sqlite3_backup_finish(bk);
		sqlite3_close(src);
		sqlite3_close(dst);
	}
	assert_int_equal(fwd_exec_init(&other, mnt2), 0);
	exec_direct(&other, 0xfeedULL << 40, "r.db", "INSERT INTO t(a) VALUES (?) RETURNING id",
		    &v, 1, &b, &m, &executed);
	assert_false(executed);
	assert_memory_equal(b.p, first.p, first.len);
	wire_msg_free(&m);
	/* ... and a new request there runs */
	g_exec_flags = 0;
	exec_direct(&other, 0xfeedULL << 40 | 1, "r.db", "INSERT INTO t(a) VALUES (?)", &v, 1,
		    &b, &m, &executed);
	assert_true(executed);
	wire_msg_free(&m);
	fwd_exec_close(&other);
	assert_int_equal(db_int(path2, "SELECT count(*) FROM t"), 2);

	/* a failure that committed nothing is not recorded: asked again, it runs again */
	exec_direct(&g_res.exec, 77, "r.db", "INSERT INTO t(a) VALUES (abs(-9223372036854775808))",
		    NULL, 0, &b, &m, &executed);
	assert_int_equal(m.u.result.rc, SQLITE_ERROR);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM " "_litefs_fwd_requests WHERE id = 77"),
			 0);
	wire_buf_free(&b);
	wire_buf_free(&first);
}

/* A group commit that SQLite reports as failed with an I/O error may have reached LiteFS
 * first (LiteFS stopped after taking it): the client is told to ask again as a repeat
 * (EINPROGRESS), never that nothing ran; asked so, it is answered from the record, and the
 * write is there once. (LITEFS_FWD_FAULT=ioerr-after-commit:1 commits the write and
 * reports the error.) */
static void test_record_commit_ioerr_unsure(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16];
	struct wire_value v = v_text("unsure");
	struct wire_buf b = { 0 };
	struct wire_msg m;
	bool executed = true;

	(void)state;
	make_dir("unsure", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/r.db", mnt);
	db_exec(path, "CREATE TABLE t(id INTEGER PRIMARY KEY, a)");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	assert_int_equal(setenv("LITEFS_FWD_FAULT", "ioerr-after-commit:1", 1), 0);
	assert_int_equal(fwd_fault_init(), 0);
	unsetenv("LITEFS_FWD_FAULT");

	exec_direct(&g_res.exec, 0xabcULL << 40, "r.db", "INSERT INTO t(a) VALUES (?)", &v, 1, &b,
		    &m, &executed);
	assert_false(executed);
	assert_error_reply(&m, 0xabcULL << 40, EINPROGRESS, "ask again as a repeat");
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 1);

	g_exec_flags = WIRE_EXEC_REPEAT;
	exec_direct(&g_res.exec, 0xabcULL << 40, "r.db", "INSERT INTO t(a) VALUES (?)", &v, 1, &b,
		    &m, &executed);
	g_exec_flags = 0;
	assert_false(executed);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_true(m.u.result.changes == 1);
	wire_msg_free(&m);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 1);
	wire_buf_free(&b);
}

/* Records older than ten minutes go, a span of them at a time in id order, wherever their
 * ids are (each process starts at a random one): after enough writes to sweep the table,
 * none is left, and every recent one stays. */
static void test_record_pruned(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], sql[1024], old[256];
	int64_t first_span;
	struct wire_buf b = { 0 };
	struct wire_msg m;
	int64_t now_ms = (int64_t)time(NULL) * 1000;

	(void)state;
	make_dir("prune", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(path, sizeof(path), "%s/p.db", mnt);
	/* 1200 records from two processes, one base near each end of the id space; every
	 * third is recent, the others are 11 minutes old */
	xsnprintf(sql, sizeof(sql),
		  "PRAGMA journal_mode=WAL; CREATE TABLE t(x);"
		  "CREATE TABLE _litefs_fwd_requests(id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
		  " reply BLOB NOT NULL);"
		  "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 1199)"
		  " INSERT INTO _litefs_fwd_requests SELECT CASE WHEN i %% 2 THEN"
		  " -9000000000000000000 + i ELSE 9000000000000000000 - i END,"
		  " CASE WHEN i %% 3 = 0 THEN %lld ELSE %lld END, x'00' FROM s",
		  (long long)now_ms, (long long)(now_ms - 11 * 60 * 1000));
	db_exec(path, sql);
	/* the old records among the first 513 ids, which the first pruning looks at */
	xsnprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT at FROM _litefs_fwd_requests "
		  "ORDER BY id LIMIT 513) WHERE at < %lld", (long long)(now_ms - 10 * 60 * 1000));
	first_span = db_int(path, sql);
	xsnprintf(old, sizeof(old), "SELECT count(*) FROM _litefs_fwd_requests WHERE at < %lld",
		  (long long)(now_ms - 10 * 60 * 1000));
	assert_int_equal(db_int(path, old), 800);
	assert_true(first_span > 0 && first_span < 800);
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	/* ids between the two bases */
	for (uint64_t i = 1; i <= 1536; i++) {
		exec_direct(&g_res.exec, i, "p.db", "INSERT INTO t VALUES (1)", NULL, 0, &b, &m,
			    NULL);
		assert_int_equal(m.u.result.rc, SQLITE_DONE);
		wire_msg_free(&m);
		/* one pruning (every 256 writes) deletes within its span only */
		if (i == 256)
			assert_int_equal(db_int(path, old), 800 - first_span);
	}
	assert_int_equal(db_int(path, old), 0);
	assert_int_equal(db_int(path, "SELECT count(*) FROM _litefs_fwd_requests"), 400 + 1536);
	assert_int_equal(db_int(path, "SELECT count(*) FROM t"), 1536);
	wire_buf_free(&b);
}

/* ---- the record of executed requests --------------------------------------------------------- */

static void test_dedup_request_once(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], remote[PATH_MAX + 16];
	struct wire_value p = v_text("once");
	struct wire_buf req = { 0 }, r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct wire_msg m;

	(void)state;
	make_dir("dedup", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/d.db", mnt);
	db_exec(remote, "CREATE TABLE x(id INTEGER PRIMARY KEY, a)");
	request_open(mnt, 1000, 5000);

	encode_exec(&req, 0x1234567890abcdefULL, "d.db", "INSERT INTO x(a) VALUES(?) RETURNING id",
		    &p, 1, 0);
	assert_int_equal(fwd_request_handle(&g_res.req, req.p, req.len, &r1), 0);
	assert_int_equal(fwd_request_handle(&g_res.req, req.p, req.len, &r2), 0);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM x"), 1);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.p, r2.p, r1.len);
	assert_int_equal(wire_decode(r1.p, r1.len, MAX, &m), 0);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.nrows, 1);
	assert_true(m.u.result.cells[0].u.i == 1);
	wire_msg_free(&m);
	assert_int_equal(fwd_dedup_count(g_res.dedup), 1);

	/* The same id for another statement: refused, not executed, not the old reply. */
	encode_exec(&req, 0x1234567890abcdefULL, "d.db", "DELETE FROM x", NULL, 0, 0);
	assert_int_equal(fwd_request_handle(&g_res.req, req.p, req.len, &r3), 0);
	assert_int_equal(wire_decode(r3.p, r3.len, MAX, &m), 0);
	assert_error_reply(&m, 0x1234567890abcdefULL, EEXIST, NULL);
	wire_msg_free(&m);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM x"), 1);

	/* Refusals are not recorded: the same id may come back once it can run. */
	r3.len = 0;
	encode_exec(&req, 77, "d.db", "INSERT INTO x(a) VALUES(1); INSERT INTO x(a) VALUES(2)",
		    NULL, 0, 0);
	assert_int_equal(fwd_request_handle(&g_res.req, req.p, req.len, &r3), 0);
	assert_int_equal(fwd_dedup_count(g_res.dedup), 1);
	wire_buf_free(&req);
	wire_buf_free(&r1);
	wire_buf_free(&r2);
	wire_buf_free(&r3);
}

struct claimer {
	struct fwd_dedup *d;
	uint64_t id;
	int rc;
	struct fwd_dedup_reply *hit;
	int done;  /* atomic */
};

static void *claimer_main(void *arg)
{
	struct claimer *c = arg;

	c->rc = fwd_dedup_claim(c->d, c->id, 99, &c->hit);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* An INSERT into table t of db that takes about ms milliseconds to run (counting rows in a
 * recursive CTE, calibrated here, so that sanitizer builds get the same duration): the
 * forwarder never waits for a lock, so a request is kept in flight by the work it does. */
static void slow_insert_sql(char *buf, size_t len, const char *db, const char *table, int ms)
{
	static const char *cte = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
				 "WHERE x < %lld) ";
	char sql[256];
	struct timespec a, b;
	long long n = 200000, took_ns;
	sqlite3 *h = db_open(db);

	xsnprintf(sql, sizeof(sql), "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
		  "FROM c WHERE x < %lld) SELECT count(*) FROM c", n);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	clock_gettime(CLOCK_MONOTONIC, &b);
	sqlite3_close(h);
	took_ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	if (took_ns < 1)
		took_ns = 1;
	n = n * ms * 1000000LL / took_ns;
	xsnprintf(sql, sizeof(sql), cte, n);
	xsnprintf(buf, len, "%sINSERT INTO %s SELECT count(*) FROM c", sql, table);
}

/* A repeat that comes while the first is executing waits and gets the same reply; a first
 * that records nothing hands the id over. */
static void test_dedup_waits_for_pending(void **state)
{
	struct fwd_dedup_reply *hit = NULL;
	struct claimer c = { 0 };
	pthread_t t;

	(void)state;
	assert_int_equal(fwd_dedup_create(&g_res.dedup, 100, 1 << 20, 60000), 0);
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 7, 99, &hit), 0);
	assert_null(hit);

	c.d = g_res.dedup;
	c.id = 7;
	assert_int_equal(pthread_create(&t, NULL, claimer_main, &c), 0);
	track_thread(t);
	sleep_ms(100);
	assert_int_equal(__atomic_load_n(&c.done, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 7, "reply", 5), 0);
	join_thread(t);
	assert_int_equal(c.rc, 0);
	assert_non_null(c.hit);
	assert_int_equal(c.hit->len, 5);
	assert_memory_equal(c.hit->bytes, "reply", 5);
	fwd_dedup_release(g_res.dedup, c.hit);

	/* Abandoned: the waiter becomes the executor. */
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 8, 99, &hit), 0);
	assert_null(hit);
	memset(&c, 0, sizeof(c));
	c.d = g_res.dedup;
	c.id = 8;
	assert_int_equal(pthread_create(&t, NULL, claimer_main, &c), 0);
	track_thread(t);
	sleep_ms(50);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 8, NULL, 0), 0);
	join_thread(t);
	assert_int_equal(c.rc, 0);
	assert_null(c.hit);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 8, "r8", 2), 0);

	/* Another fingerprint for a pending or recorded id. */
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 8, 100, &hit), -EEXIST);
	assert_int_equal(fwd_dedup_count(g_res.dedup), 2);
}

static void test_dedup_bounds(void **state)
{
	struct fwd_dedup_reply *hit = NULL, *other = NULL;
	char reply[8];

	(void)state;
	/* At most 3 entries. */
	assert_int_equal(fwd_dedup_create(&g_res.dedup, 3, 1 << 20, 60000), 0);
	for (uint64_t id = 1; id <= 5; id++) {
		assert_int_equal(fwd_dedup_claim(g_res.dedup, id, 1, &hit), 0);
		assert_null(hit);
		xsnprintf(reply, sizeof(reply), "r%llu", (unsigned long long)id);
		assert_int_equal(fwd_dedup_finish(g_res.dedup, id, reply, strlen(reply)), 0);
	}
	assert_int_equal(fwd_dedup_count(g_res.dedup), 3);
	/* The newest are there ... */
	for (uint64_t id = 3; id <= 5; id++) {
		assert_int_equal(fwd_dedup_claim(g_res.dedup, id, 1, &hit), 0);
		assert_non_null(hit);
		assert_int_equal(hit->bytes[1], '0' + (int)id);
		fwd_dedup_release(g_res.dedup, hit);
	}
	/* ... the oldest went first. */
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 1, 1, &hit), 0);
	assert_null(hit);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 1, NULL, 0), 0);
	fwd_dedup_destroy(g_res.dedup);

	/* A byte budget of 10: two replies of 4 bytes fit, a third pushes the first out. */
	assert_int_equal(fwd_dedup_create(&g_res.dedup, 100, 10, 60000), 0);
	for (uint64_t id = 1; id <= 3; id++) {
		assert_int_equal(fwd_dedup_claim(g_res.dedup, id, 1, &hit), 0);
		assert_int_equal(fwd_dedup_finish(g_res.dedup, id, "abcd", 4), 0);
	}
	assert_int_equal(fwd_dedup_count(g_res.dedup), 2);
	fwd_dedup_destroy(g_res.dedup);

	/* Entries older than the age bound go. */
	assert_int_equal(fwd_dedup_create(&g_res.dedup, 100, 1 << 20, 20), 0);
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 1, 1, &hit), 0);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 1, "a", 1), 0);
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 2, 1, &hit), 0);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 2, "b", 1), 0);
	sleep_ms(60);
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 1, 1, &hit), 0);
	assert_null(hit);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 1, NULL, 0), 0);
	assert_int_equal(fwd_dedup_count(g_res.dedup), 0);

	/* A reply handed out survives its eviction. */
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 3, 1, &hit), 0);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 3, "ccc", 3), 0);
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 3, 1, &hit), 0);
	assert_non_null(hit);
	sleep_ms(60);
	assert_int_equal(fwd_dedup_claim(g_res.dedup, 4, 1, &other), 0);
	assert_null(other);
	assert_int_equal(fwd_dedup_finish(g_res.dedup, 4, NULL, 0), 0);
	assert_int_equal(fwd_dedup_count(g_res.dedup), 0);
	assert_memory_equal(hit->bytes, "ccc", 3);
	fwd_dedup_release(g_res.dedup, hit);
}

/* ---- options and log lines ------------------------------------------------------------------- */

static void test_config(void **state)
{
	char *argv_ok[] = { "forwarder", "--listen", "ipc:///tmp/x.sock", "--mount=/m",
			    "--workers", "8", "--max-message", "65536", "--log-level", "debug",
			    "--role-ttl", "0", NULL };
	char *argv_help[] = { "forwarder", "--workers", "2", "--help", NULL };
	char *argv_bad[] = { "forwarder", "--workers", "0", NULL };
	char *argv_extra[] = { "forwarder", "stray", NULL };
	char *argv_unknown[] = { "forwarder", "--nope", NULL };
	char *argv_ttl[] = { "forwarder", "--role-ttl", "-1", NULL };
	char *argv_events[] = { "forwarder", "--events-url", "http://127.0.0.1:1/events", NULL };
	char *argv_events_bad[] = { "forwarder", "--events-url", "http://x:1/info", NULL };
	char *argv_none[] = { "forwarder", NULL };
	struct fwd_config c;
	char err[256];

	(void)state;
	unsetenv("LITEFS_FWD_LISTEN");
	unsetenv("LITEFS_FWD_MOUNT");
	unsetenv("LITEFS_FWD_WORKERS");
	unsetenv("LITEFS_FWD_MAX_MESSAGE");
	unsetenv("LITEFS_FWD_CACHE_TTL_MS");
	unsetenv("LITEFS_FWD_EVENTS_URL");
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_string_equal(c.listen, "tcp://0.0.0.0:20208");
	assert_string_equal(c.events_url, "http://localhost:20202/events");
	assert_int_equal(c.role_ttl_ms, 5000);
	assert_string_equal(c.mount, "/litefs");
	assert_int_equal(c.workers, 64);
	assert_int_equal(c.max_message, WIRE_DEFAULT_MAX_MESSAGE);
	assert_int_equal(c.log_level, FWD_LOG_INFO);

	assert_int_equal(fwd_config_parse(&c, 12, argv_ok, err, sizeof(err)), 0);
	assert_string_equal(c.listen, "ipc:///tmp/x.sock");
	assert_int_equal(c.role_ttl_ms, 0);
	assert_string_equal(c.mount, "/m");
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.max_message, 65536);
	assert_int_equal(c.log_level, FWD_LOG_DEBUG);
	assert_false(c.help);

	/* The environment fills what the command line leaves out. */
	setenv("LITEFS_FWD_LISTEN", "tcp://127.0.0.1:1", 1);
	setenv("LITEFS_FWD_MOUNT", "/env-mount", 1);
	setenv("LITEFS_FWD_WORKERS", "3", 1);
	setenv("LITEFS_FWD_MAX_MESSAGE", "100000", 1);
	setenv("LITEFS_FWD_CACHE_TTL_MS", "250", 1);
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_int_equal(c.role_ttl_ms, 250);
	assert_string_equal(c.listen, "tcp://127.0.0.1:1");
	assert_string_equal(c.mount, "/env-mount");
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.max_message, 100000);
	assert_int_equal(fwd_config_parse(&c, 12, argv_ok, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 8);
	setenv("LITEFS_FWD_WORKERS", "many", 1);
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "LITEFS_FWD_WORKERS"));
	unsetenv("LITEFS_FWD_LISTEN");
	unsetenv("LITEFS_FWD_MOUNT");
	unsetenv("LITEFS_FWD_WORKERS");
	unsetenv("LITEFS_FWD_MAX_MESSAGE");
	unsetenv("LITEFS_FWD_CACHE_TTL_MS");

	assert_int_equal(fwd_config_parse(&c, 4, argv_help, err, sizeof(err)), 0);
	assert_true(c.help);
	assert_int_equal(fwd_config_parse(&c, 3, argv_bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--workers"));
	assert_int_equal(fwd_config_parse(&c, 2, argv_extra, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "stray"));
	assert_int_equal(fwd_config_parse(&c, 2, argv_unknown, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--nope"));
	assert_int_equal(fwd_config_parse(&c, 3, argv_ttl, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--role-ttl"));
	assert_int_equal(fwd_config_parse(&c, 3, argv_events, err, sizeof(err)), 0);
	assert_string_equal(c.events_url, "http://127.0.0.1:1/events");
	assert_int_equal(fwd_config_parse(&c, 3, argv_events_bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--events-url"));
	/* an empty LITEFS_FWD_EVENTS_URL turns the question to LiteFS off */
	setenv("LITEFS_FWD_EVENTS_URL", "", 1);
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_string_equal(c.events_url, "");
	unsetenv("LITEFS_FWD_EVENTS_URL");
}

static void test_config_synchronous(void **state)
{
	char *argv_normal[] = { "forwarder", "--synchronous", "NORMAL", NULL };
	char *argv_bad[] = { "forwarder", "--synchronous", "2", NULL };
	char *argv_none[] = { "forwarder", NULL };
	struct fwd_config c;
	char err[256];

	(void)state;
	unsetenv("LITEFS_FWD_SYNCHRONOUS");
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_int_equal(c.synchronous, 2);
	assert_int_equal(fwd_config_parse(&c, 3, argv_normal, err, sizeof(err)), 0);
	assert_int_equal(c.synchronous, 1);
	assert_int_equal(fwd_config_parse(&c, 3, argv_bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--synchronous"));
	setenv("LITEFS_FWD_SYNCHRONOUS", "extra", 1);
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), 0);
	assert_int_equal(c.synchronous, 3);
	assert_int_equal(fwd_config_parse(&c, 3, argv_normal, err, sizeof(err)), 0);
	assert_int_equal(c.synchronous, 1);
	setenv("LITEFS_FWD_SYNCHRONOUS", "sometimes", 1);
	assert_int_equal(fwd_config_parse(&c, 1, argv_none, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "LITEFS_FWD_SYNCHRONOUS"));
	unsetenv("LITEFS_FWD_SYNCHRONOUS");
}

static void test_log_line(void **state)
{
	char path[PATH_MAX], line[512], pattern[256];
	regex_t re;
	int fd, saved;
	ssize_t n;

	(void)state;
	xsnprintf(path, sizeof(path), "%s/log.txt", g_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	dup2(fd, STDERR_FILENO);
	fwd_log_set_level(FWD_LOG_INFO);
	fwd_log_info("hello %d", 42);
	fwd_log_debug("not shown");
	fwd_log_set_level(FWD_LOG_WARN);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, line, sizeof(line) - 1, 0);
	close(fd);
	assert_true(n > 0);
	line[n] = '\0';
	xsnprintf(pattern, sizeof(pattern),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		 "litefs-fwd\\[%ld\\] info: hello 42\n$", (long)getpid());
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED), 0);
	if (regexec(&re, line, 0, NULL, 0))
		fail_msg("log line '%s' does not match", line);
	regfree(&re);
}

/* ---- the server, end to end ------------------------------------------------------------------ */

static int free_tcp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Starts the server on tcp://127.0.0.1:<a free port> (url gets it), or on url as given
 * when it is an ipc:// one. */
static void server_start(char *url, size_t len, const char *mount, int workers)
{
	struct fwd_server_opts o = {
		.mount = mount, .workers = workers, .max_message = MAX, .linger_ms = 200,
	};
	int rc = -EADDRINUSE;

	for (int tries = 0; tries < 5 && rc == -EADDRINUSE; tries++) {
		if (strncmp(url, "ipc://", 6))
			xsnprintf(url, len, "tcp://127.0.0.1:%d", free_tcp_port());
		o.listen = url;
		rc = fwd_server_start(&o, &g_res.server);
	}
	assert_int_equal(rc, 0);
}

static int client_open(const char *url, int timeout_ms)
{
	int s = nn_socket(AF_SP, NN_REQ), unlimited = -1;

	assert_true(s >= 0);
	assert_true(g_res.nsocks < (int)(sizeof(g_res.socks) / sizeof(g_res.socks[0])));
	g_res.socks[g_res.nsocks++] = s;
	assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited,
				       sizeof(unlimited)), 0);
	assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms,
				       sizeof(timeout_ms)), 0);
	assert_true(nn_connect(s, url) >= 0);
	return s;
}

/* Sends p[0..n) on REQ socket s and waits for the reply: its length, with *reply a
 * nanomsg buffer, or -errno. Safe in any thread (no assertion). */
static int client_call(int s, const void *p, size_t n, void **reply)
{
	int r;

	*reply = NULL;
	if (nn_send(s, p, n, 0) < 0)
		return -nn_errno();
	r = nn_recv(s, reply, NN_MSG, 0);
	return r < 0 ? -nn_errno() : r;
}

/* Calls the server with an EXEC and decodes the reply into m; *raw keeps the bytes. */
static void client_exec(int s, uint64_t id, const char *db, const char *sql,
			const struct wire_value *params, uint32_t n, void **raw, int *rawlen,
			struct wire_msg *m)
{
	struct wire_buf b = { 0 };
	int r;

	encode_exec(&b, id, db, sql, params, n, 5000);
	r = client_call(s, b.p, b.len, raw);
	wire_buf_free(&b);
	if (r < 0)
		fail_msg("request %llu: %s", (unsigned long long)id, nn_strerror(-r));
	*rawlen = r;
	assert_int_equal(wire_decode(*raw, (size_t)r, SIZE_MAX, m), 0);
}

static void server_smoke(const char *url, const char *mnt)
{
	char remote[PATH_MAX + 16];
	struct wire_value p[2] = { v_text("ann"), v_int(30) };
	static const char garbage[] = "this is not a message";
	/* An EXEC header and request id 42, then a body cut short. */
	static const uint8_t truncated[] = { WIRE_VERSION, WIRE_EXEC, 0, 0, 0, 0, 0, 0,
					     42, 0, 0, 0, 0, 0, 0, 0, 0xe8, 3 };
	static const uint8_t other_version[16] = { 9, WIRE_EXEC };
	struct wire_result res = { .request_id = 3 };
	struct wire_buf b = { 0 };
	struct wire_msg m;
	void *raw = NULL, *raw2 = NULL;
	int s, len, len2, r;

	s = client_open(url, 10000);
	client_exec(s, 1, "app.db", "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, age)",
		    NULL, 0, &raw, &len, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	nn_freemsg(raw);

	client_exec(s, 2, "app.db", "INSERT INTO people(name, age) VALUES(?, ?) RETURNING id, name",
		    p, 2, &raw, &len, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_true(m.u.result.changes == 1);
	assert_true(m.u.result.flags & WIRE_RESULT_ROWID);
	assert_true(m.u.result.last_insert_rowid == 1);
	assert_int_equal(m.u.result.ncols, 2);
	assert_int_equal(m.u.result.nrows, 1);
	assert_true(m.u.result.cells[0].u.i == 1);
	assert_memory_equal(m.u.result.cells[1].u.s.p, "ann", 3);
	wire_msg_free(&m);

	/* Garbage, another version, a reply sent as a request: ERROR, and serving goes on. */
	r = client_call(s, garbage, sizeof(garbage), &raw2);
	assert_true(r > 0);
	assert_int_equal(wire_decode(raw2, (size_t)r, SIZE_MAX, &m), 0);
	assert_error_reply(&m, 0, EPROTONOSUPPORT, NULL);
	wire_msg_free(&m);
	nn_freemsg(raw2);
	r = client_call(s, truncated, sizeof(truncated), &raw2);
	assert_true(r > 0);
	assert_int_equal(wire_decode(raw2, (size_t)r, SIZE_MAX, &m), 0);
	assert_error_reply(&m, 42, EBADMSG, "malformed");
	wire_msg_free(&m);
	nn_freemsg(raw2);
	r = client_call(s, other_version, sizeof(other_version), &raw2);
	assert_true(r > 0);
	assert_int_equal(wire_decode(raw2, (size_t)r, SIZE_MAX, &m), 0);
	assert_error_reply(&m, 0, EPROTONOSUPPORT, NULL);
	wire_msg_free(&m);
	nn_freemsg(raw2);
	assert_int_equal(wire_encode_result(&b, &res, MAX), 0);
	r = client_call(s, b.p, b.len, &raw2);
	assert_true(r > 0);
	assert_int_equal(wire_decode(raw2, (size_t)r, SIZE_MAX, &m), 0);
	assert_error_reply(&m, 3, EBADMSG, "not an EXEC");
	wire_msg_free(&m);
	nn_freemsg(raw2);
	wire_buf_free(&b);
	client_exec(s, 0, "app.db", "DELETE FROM people", NULL, 0, &raw2, &len2, &m);
	assert_error_reply(&m, 0, EINVAL, "request id 0");
	wire_msg_free(&m);
	nn_freemsg(raw2);
	client_exec(s, 4, "..", "DELETE FROM people", NULL, 0, &raw2, &len2, &m);
	assert_error_reply(&m, 4, EINVAL, "database name");
	wire_msg_free(&m);
	nn_freemsg(raw2);

	/* A resend of request 2 is answered from the record, byte for byte. */
	client_exec(s, 2, "app.db", "INSERT INTO people(name, age) VALUES(?, ?) RETURNING id, name",
		    p, 2, &raw2, &len2, &m);
	assert_int_equal(len2, len);
	assert_memory_equal(raw2, raw, (size_t)len);
	wire_msg_free(&m);
	nn_freemsg(raw2);
	nn_freemsg(raw);

	client_exec(s, 5, "app.db", "INSERT INTO people(name) VALUES('bo')", NULL, 0, &raw, &len,
		    &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	nn_freemsg(raw);
	xsnprintf(remote, sizeof(remote), "%s/app.db", mnt);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM people"), 2);
}

static void test_server_tcp(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], url[128] = "";

	(void)state;
	make_dir("srv-tcp", dir, sizeof(dir), mnt, sizeof(mnt));
	server_start(url, sizeof(url), mnt, 4);
	server_smoke(url, mnt);
}

/* A sealed copy of the EXEC (id, sql on a.db) in b, sealed with k at at_ms. */
static void sealed_exec(struct wire_buf *b, const struct auth_key *k, uint64_t id,
			const char *sql, uint64_t at_ms)
{
	unsigned char t[AUTH_TRAILER_BYTES];

	b->len = 0;
	encode_exec(b, id, "a.db", sql, NULL, 0, 5000);
	assert_int_equal(auth_seal(k, b->p, b->len, at_ms, t), 0);
	assert_int_equal(wire_buf_append(b, t, sizeof(t)), 0);
}

/* Sends b on s and expects the forwarder's refusal: an unsealed ERROR with EACCES. */
static void expect_refused(int s, const void *p, size_t n, uint64_t id, const char *why)
{
	struct wire_msg m;
	void *raw;
	int r = client_call(s, p, n, &raw);

	assert_true(r > 0);
	assert_int_equal(wire_decode(raw, (size_t)r, SIZE_MAX, &m), 0);
	assert_int_equal(m.type, WIRE_ERROR);
	assert_int_equal(m.u.error.code, EACCES);
	assert_int_equal(m.u.error.request_id, id);
	assert_non_null(memmem(m.u.error.message.p, m.u.error.message.n, why, strlen(why)));
	wire_msg_free(&m);
	nn_freemsg(raw);
}

/* With a secret, the server executes only requests sealed with it, recent and never seen,
 * and seals its replies; everything else is refused (EACCES), executed never, and
 * counted; valid clients are served all along. */
static void test_server_authentication(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], url[128] = "", db[PATH_MAX + 16], err[128];
	static struct auth_key key, other;
	struct fwd_server_opts o = { .workers = 2, .max_message = MAX, .linger_ms = 200 };
	struct wire_buf b = { 0 }, good = { 0 };
	struct wire_msg m;
	size_t body;
	void *raw;
	int s, r, rc = -EADDRINUSE;

	(void)state;
	make_dir("srv-auth", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(db, sizeof(db), "%s/a.db", mnt);
	db_exec(db, "CREATE TABLE t(x)");
	assert_int_equal(auth_key_load(&key, "the cluster's shared secret", NULL, err, sizeof(err)), 0);
	assert_int_equal(auth_key_load(&other, "not the cluster's secret!", NULL, err, sizeof(err)), 0);
	o.mount = mnt;
	o.key = &key;
	for (int tries = 0; tries < 5 && rc == -EADDRINUSE; tries++) {
		xsnprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_tcp_port());
		o.listen = url;
		rc = fwd_server_start(&o, &g_res.server);
	}
	assert_int_equal(rc, 0);
	s = client_open(url, 5000);

	/* a sealed request: executed, and its reply sealed with the same secret */
	sealed_exec(&good, &key, 1, "INSERT INTO t VALUES (1)", auth_now_ms());
	r = client_call(s, good.p, good.len, &raw);
	assert_true(r > 0);
	assert_int_equal(auth_open(&key, raw, (size_t)r, auth_now_ms(), 30000, &body, NULL, NULL), 0);
	assert_int_equal(wire_decode(raw, body, SIZE_MAX, &m), 0);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	nn_freemsg(raw);

	/* the same bytes again: a replay */
	expect_refused(s, good.p, good.len, 1, "replayed");
	/* not sealed */
	b.len = 0;
	encode_exec(&b, 2, "a.db", "INSERT INTO t VALUES (2)", NULL, 0, 5000);
	expect_refused(s, b.p, b.len, 2, "not authenticated");
	/* sealed with another secret */
	sealed_exec(&b, &other, 3, "INSERT INTO t VALUES (3)", auth_now_ms());
	expect_refused(s, b.p, b.len, 3, "wrong authentication");
	/* altered after sealing: the statement changed */
	sealed_exec(&b, &key, 4, "INSERT INTO t VALUES (4)", auth_now_ms());
	((char *)b.p)[b.len - AUTH_TRAILER_BYTES - 3] = '9';
	expect_refused(s, b.p, b.len, 4, "wrong authentication");
	/* sealed too long ago, or too far ahead */
	sealed_exec(&b, &key, 5, "INSERT INTO t VALUES (5)", auth_now_ms() - 120000);
	expect_refused(s, b.p, b.len, 5, "time window");
	sealed_exec(&b, &key, 6, "INSERT INTO t VALUES (6)", auth_now_ms() + 120000);
	expect_refused(s, b.p, b.len, 6, "time window");
	/* cut short: no trailer where it should be */
	sealed_exec(&b, &key, 7, "INSERT INTO t VALUES (7)", auth_now_ms());
	expect_refused(s, b.p, b.len - 1, 7, "");

	assert_int_equal(fwd_server_auth_refused(g_res.server), 7);
	/* none of them ran; a valid client is still served */
	sealed_exec(&b, &key, 8, "INSERT INTO t VALUES (8)", auth_now_ms());
	r = client_call(s, b.p, b.len, &raw);
	assert_true(r > 0);
	assert_int_equal(auth_open(&key, raw, (size_t)r, auth_now_ms(), 30000, &body, NULL, NULL), 0);
	nn_freemsg(raw);
	/* rows 1 and 8 only */
	assert_int_equal(db_int(db, "SELECT count(*) * 100 + sum(x) FROM t"), 209);
	wire_buf_free(&b);
	wire_buf_free(&good);
	auth_key_clear(&key);
	auth_key_clear(&other);
}

/* A message larger than --max-message is dropped by the socket before anything looks at
 * it: no reply, nothing executed, and the server goes on serving other clients. */
static void test_server_oversized(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], url[128] = "", db[PATH_MAX + 16];
	struct fwd_server_opts o = { .workers = 2, .max_message = 8192, .linger_ms = 200 };
	struct wire_value v;
	struct wire_buf b = { 0 };
	struct wire_msg m;
	static char big[20000];
	void *raw;
	int s, r, len, rc = -EADDRINUSE;

	(void)state;
	make_dir("srv-big-msg", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(db, sizeof(db), "%s/a.db", mnt);
	db_exec(db, "CREATE TABLE t(x)");
	o.mount = mnt;
	for (int tries = 0; tries < 5 && rc == -EADDRINUSE; tries++) {
		xsnprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_tcp_port());
		o.listen = url;
		rc = fwd_server_start(&o, &g_res.server);
	}
	assert_int_equal(rc, 0);
	memset(big, 'x', sizeof(big) - 1);
	v = v_text(big);
	encode_exec(&b, 1, "a.db", "INSERT INTO t VALUES (?)", &v, 1, 5000);
	assert_true(b.len > 8192);
	s = client_open(url, 1000);
	r = client_call(s, b.p, b.len, &raw);
	assert_int_equal(r, -ETIMEDOUT);
	wire_buf_free(&b);
	s = client_open(url, 5000);
	client_exec(s, 2, "a.db", "INSERT INTO t VALUES ('small')", NULL, 0, &raw, &len, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	nn_freemsg(raw);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 1);
}

static void test_server_ipc(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], url[PATH_MAX + 32], path[PATH_MAX + 16];
	struct wire_msg m;
	void *raw;
	int s, len;

	(void)state;
	make_dir("srv-ipc", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(url, sizeof(url), "ipc://%s/fwd.sock", dir);
	if (strlen(url) >= NN_SOCKADDR_MAX)
		skip();
	server_start(url, sizeof(url), mnt, 2);
	server_smoke(url, mnt);

	/* The role is read on every request. */
	xsnprintf(path, sizeof(path), "%s/.primary", mnt);
	write_file(path, "node-b\n", 7);
	s = client_open(url, 10000);
	client_exec(s, 10, "app.db", "DELETE FROM people", NULL, 0, &raw, &len, &m);
	assert_int_equal(m.type, WIRE_NOT_PRIMARY);
	assert_int_equal(m.u.not_primary.primary.n, 6);
	assert_memory_equal(m.u.not_primary.primary.p, "node-b", 6);
	wire_msg_free(&m);
	nn_freemsg(raw);
	assert_int_equal(unlink(path), 0);
	client_exec(s, 10, "app.db", "DELETE FROM people", NULL, 0, &raw, &len, &m);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_true(m.u.result.changes == 2);
	wire_msg_free(&m);
	nn_freemsg(raw);
}

static void test_server_big_blob(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], url[128] = "", remote[PATH_MAX + 16];
	struct wire_value p;
	struct wire_msg m;
	uint8_t *blob;
	uint32_t x = 0x9e3779b9u;
	sqlite3 *db;
	sqlite3_stmt *st;
	void *raw;
	int s, len;

	(void)state;
	make_dir("srv-big", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/big.db", mnt);
	db_exec(remote, "CREATE TABLE b(id INTEGER PRIMARY KEY, x BLOB)");
	server_start(url, sizeof(url), mnt, 2);
	blob = malloc(BIG_BLOB);
	assert_non_null(blob);
	for (size_t i = 0; i < BIG_BLOB; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		blob[i] = (uint8_t)x;
	}
	p = v_blob(blob, BIG_BLOB);
	s = client_open(url, 60000);
	client_exec(s, 1, "big.db", "INSERT INTO b(x) VALUES(?) RETURNING length(x), x", &p, 1,
		    &raw, &len, &m);
	assert_true((size_t)len > BIG_BLOB);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_int_equal(m.u.result.nrows, 1);
	assert_true(m.u.result.cells[0].u.i == BIG_BLOB);
	assert_int_equal(m.u.result.cells[1].type, WIRE_BLOB);
	assert_true(m.u.result.cells[1].u.s.n == BIG_BLOB);
	assert_memory_equal(m.u.result.cells[1].u.s.p, blob, BIG_BLOB);
	wire_msg_free(&m);
	nn_freemsg(raw);

	db = db_open(remote);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT x FROM b", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), (int)BIG_BLOB);
	assert_memory_equal(sqlite3_column_blob(st, 0), blob, BIG_BLOB);
	sqlite3_finalize(st);
	db_close(db);
	free(blob);
}

/* Many clients at once, each with its own REQ socket. */
struct worker_client {
	const char *url;
	int index, n, ok;
};

static void *worker_client_main(void *arg)
{
	struct worker_client *w = arg;
	int s = nn_socket(AF_SP, NN_REQ), tmo = 30000;

	if (s < 0)
		return NULL;
	nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
	if (nn_connect(s, w->url) < 0)
		goto out;
	for (int i = 0; i < w->n; i++) {
		struct wire_exec e = { .busy_timeout_ms = 20000, .nparams = 2 };
		struct wire_value p[2] = { v_int(w->index), v_int(i) };
		struct wire_buf b = { 0 };
		struct wire_msg m;
		void *raw;
		int r;

		e.request_id = (uint64_t)(w->index + 1) << 32 | (uint64_t)(i + 1);
		e.db.p = "c.db";
		e.db.n = 4;
		e.sql.p = "INSERT INTO c(t, i) VALUES(?, ?)";
		e.sql.n = (uint32_t)strlen(e.sql.p);
		e.params = p;
		if (wire_encode_exec(&b, &e, MAX))
			break;
		r = client_call(s, b.p, b.len, &raw);
		wire_buf_free(&b);
		if (r < 0)
			break;
		if (!wire_decode(raw, (size_t)r, SIZE_MAX, &m)) {
			if (m.type == WIRE_RESULT && m.u.result.rc == SQLITE_DONE &&
			    m.u.result.changes == 1 && m.u.result.request_id == e.request_id)
				w->ok++;
			wire_msg_free(&m);
		}
		nn_freemsg(raw);
	}
out:
	nn_close(s);
	return NULL;
}

static void test_server_many_clients(void **state)
{
	enum { NCLIENTS = 8, PER_CLIENT = 25 };
	char dir[PATH_MAX], mnt[PATH_MAX], url[128] = "", remote[PATH_MAX + 16];
	struct worker_client w[NCLIENTS];
	pthread_t t[NCLIENTS];

	(void)state;
	make_dir("srv-many", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/c.db", mnt);
	db_exec(remote, "PRAGMA journal_mode=WAL; CREATE TABLE c(t, i, UNIQUE(t, i))");
	server_start(url, sizeof(url), mnt, 4);
	for (int i = 0; i < NCLIENTS; i++) {
		w[i] = (struct worker_client){ .url = url, .index = i, .n = PER_CLIENT };
		assert_int_equal(pthread_create(&t[i], NULL, worker_client_main, &w[i]), 0);
		track_thread(t[i]);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		join_thread(t[i]);
		assert_int_equal(w[i].ok, PER_CLIENT);
	}
	assert_int_equal(db_int(remote, "SELECT count(*) FROM c"), NCLIENTS * PER_CLIENT);
}

/* One REQ call in a thread, for requests that block on the server. */
struct pending_call {
	const char *url;
	struct wire_buf req;
	int timeout_ms;
	int rc;         /* reply length or -errno */
	void *reply;
	int done;       /* atomic */
};

static void *pending_call_main(void *arg)
{
	struct pending_call *c = arg;
	int s = nn_socket(AF_SP, NN_REQ);

	c->rc = -EIO;
	if (s >= 0) {
		nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &c->timeout_ms,
			      sizeof(c->timeout_ms));
		if (nn_connect(s, c->url) >= 0)
			c->rc = client_call(s, c->req.p, c->req.len, &c->reply);
		nn_close(s);
	}
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void pending_start(struct pending_call *c, pthread_t *t)
{
	assert_int_equal(pthread_create(t, NULL, pending_call_main, c), 0);
	track_thread(*t);
}

/* A repeat of a request that is still executing waits for it and gets the same reply. */
static void test_server_repeat_while_executing(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], url[128] = "", remote[PATH_MAX + 16];
	struct pending_call a = { 0 }, b = { 0 };
	struct wire_msg m;
	pthread_t ta, tb;
	char slow[512];

	(void)state;
	make_dir("srv-repeat", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/q.db", mnt);
	db_exec(remote, "PRAGMA journal_mode=WAL; CREATE TABLE q(a)");
	slow_insert_sql(slow, sizeof(slow), remote, "q", 2000);
	server_start(url, sizeof(url), mnt, 3);

	a.url = b.url = url;
	a.timeout_ms = b.timeout_ms = 60000;
	encode_exec(&a.req, 77, "q.db", slow, NULL, 0, 20000);
	encode_exec(&b.req, 77, "q.db", slow, NULL, 0, 20000);
	pending_start(&a, &ta);
	sleep_ms(300);
	pending_start(&b, &tb);
	sleep_ms(300);
	assert_int_equal(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(__atomic_load_n(&b.done, __ATOMIC_ACQUIRE), 0);
	join_thread(ta);
	join_thread(tb);
	assert_true(a.rc > 0);
	assert_int_equal(b.rc, a.rc);
	assert_memory_equal(a.reply, b.reply, (size_t)a.rc);
	assert_int_equal(wire_decode(a.reply, (size_t)a.rc, SIZE_MAX, &m), 0);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	wire_msg_free(&m);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM q"), 1);
	nn_freemsg(a.reply);
	nn_freemsg(b.reply);
	wire_buf_free(&a.req);
	wire_buf_free(&b.req);
}

static void *stopper_main(void *arg)
{
	struct fwd_server *s = arg;

	fwd_server_stop(s);
	return NULL;
}

/* Stopping (what SIGTERM does) answers the request in flight and refuses new ones, saying
 * that nothing was executed. */
static void test_server_stop_answers_in_flight(void **state)
{
	char dir[PATH_MAX], mnt[PATH_MAX], url[128] = "", remote[PATH_MAX + 16];
	struct pending_call a = { 0 }, b = { 0 };
	struct wire_msg m;
	pthread_t ta, tb, stopper;
	char slow[512];

	(void)state;
	make_dir("srv-stop", dir, sizeof(dir), mnt, sizeof(mnt));
	xsnprintf(remote, sizeof(remote), "%s/s.db", mnt);
	db_exec(remote, "PRAGMA journal_mode=WAL; CREATE TABLE s(a)");
	slow_insert_sql(slow, sizeof(slow), remote, "s", 2000);
	server_start(url, sizeof(url), mnt, 2);

	a.url = b.url = url;
	a.timeout_ms = 60000;
	b.timeout_ms = 800;
	encode_exec(&a.req, 1, "s.db", slow, NULL, 0, 20000);
	encode_exec(&b.req, 2, "s.db", "INSERT INTO s VALUES('too late')", NULL, 0, 20000);
	pending_start(&a, &ta);
	sleep_ms(300);

	assert_int_equal(pthread_create(&stopper, NULL, stopper_main, g_res.server), 0);
	g_res.server = NULL;  /* the stopper owns it now */
	track_thread(stopper);
	sleep_ms(300);
	/* Stopping waits for the request in flight ... */
	assert_int_equal(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), 0);
	/* ... and executes no new one: it says so at once. */
	pending_start(&b, &tb);
	join_thread(tb);
	assert_true(b.rc > 0);
	assert_int_equal(wire_decode(b.reply, (size_t)b.rc, SIZE_MAX, &m), 0);
	assert_int_equal(m.type, WIRE_ERROR);
	assert_int_equal(m.u.error.code, ESHUTDOWN);
	assert_true(m.u.error.request_id == 2);
	wire_msg_free(&m);
	nn_freemsg(b.reply);

	join_thread(ta);
	assert_true(a.rc > 0);
	assert_int_equal(wire_decode(a.reply, (size_t)a.rc, SIZE_MAX, &m), 0);
	assert_int_equal(m.type, WIRE_RESULT);
	assert_int_equal(m.u.result.rc, SQLITE_DONE);
	assert_true(m.u.result.changes == 1);
	wire_msg_free(&m);
	join_thread(stopper);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM s WHERE a > 1000"), 1);
	assert_int_equal(db_int(remote, "SELECT count(*) FROM s"), 1);
	nn_freemsg(a.reply);
	wire_buf_free(&a.req);
	wire_buf_free(&b.req);
}

static void test_server_bad_listen(void **state)
{
	struct fwd_server_opts o = { .mount = "/", .workers = 1, .max_message = MAX };
	struct fwd_server *s = NULL;

	(void)state;
	o.listen = "nonsense";
	assert_true(fwd_server_start(&o, &s) < 0);
	o.listen = "tcp://127.0.0.1:99999";
	assert_true(fwd_server_start(&o, &s) < 0);
	assert_null(s);
}

#define T(f) cmocka_unit_test_teardown(f, test_teardown)
#define FID(i) { fcases[i].name, test_fidelity, NULL, test_teardown, (void *)&fcases[i] }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_dbname_table),
		T(test_dbname_refused_before_mount),
		T(test_role_primary_and_replica),
		T(test_role_cache),
		T(test_statement_cache),
		T(test_record_exactly_once),
		T(test_record_commit_ioerr_unsure),
		T(test_record_pruned),
		T(test_session_commit),
		T(test_session_repeat),
		T(test_session_not_begun),
		T(test_session_expires),
		T(test_session_describe),
		T(test_role_cache_expires),
		T(test_role_litefs_info),
		T(test_role_replica_executes_nothing),
		T(test_role_no_mount),
		FID(0), FID(1), FID(2), FID(3), FID(4), FID(5), FID(6), FID(7),
		FID(8), FID(9), FID(10), FID(11), FID(12), FID(13), FID(14),
		T(test_values_roundtrip),
		T(test_rowid_reported),
		T(test_one_statement),
		T(test_transaction_refused),
		T(test_bind_refused),
		T(test_attach_refused),
		T(test_txid),
		T(test_dedup_request_once),
		T(test_dedup_waits_for_pending),
		T(test_dedup_bounds),
		T(test_config),
		T(test_config_synchronous),
		T(test_log_line),
		T(test_server_tcp),
		T(test_server_authentication),
		T(test_session_limits),
		T(test_listen_is_local),
		T(test_server_oversized),
		T(test_server_ipc),
		T(test_server_big_blob),
		T(test_server_many_clients),
		T(test_server_repeat_while_executing),
		T(test_server_stop_answers_in_flight),
		T(test_server_bad_listen),
	};

	_Static_assert(sizeof(fcases) / sizeof(fcases[0]) == 15, "list every case in main()");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
