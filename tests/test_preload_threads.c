/* The interposer on a connection shared by threads, and its locks against SQLite's own
 * connection mutex:
 *   - no call into SQLite for a connection is made while the interposer holds that
 *     connection's lock (c->mu): a program may hold SQLite's connection mutex
 *     (sqlite3_db_mutex) while it waits in one of our hooks for c->mu, so a thread of ours
 *     holding c->mu while it waits for that mutex deadlocks both. Checked call by call,
 *     through every path of forwarding (autocommit writes and their outcome,
 *     read-your-writes, a failed write, a transaction, a statement prepared by the
 *     primary, sqlite3_exec);
 *   - threads preparing and stepping on one FULLMUTEX connection at once: every write
 *     forwarded (none run locally), acknowledged and on the primary exactly once; the same
 *     with each prepare made holding sqlite3_db_mutex (a deadlock shows as the watchdog
 *     ending the binary);
 *   - read-your-writes owes the newest TXID a connection's writes got, whatever order
 *     their replies came in (a scripted forwarder answers with TXIDs going down).
 *
 * The interposer is linked in statically, so this binary's SQLite calls (and those of the
 * in-process forwarder, on files outside the mount) go through its hooks. The "replica"
 * is a plain directory whose .primary names p (the in-process forwarder, serving the
 * "primary" directory) or q (the scripted forwarder); nothing replicates, so the rows of a
 * forwarded write are on the primary's copy only. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <sqlite3.h>

#include "tmpdir.h"

/* By path: other parts of the tree have headers of the same names on the include path. */
#include "../forwarder/log.h"
#include "../forwarder/server.h"
#include "../preload/real.h"
#include "../preload/state.h"
#include "wire.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

#define SCHEMA "CREATE TABLE k(key TEXT, thread INT); CREATE TABLE u(id INTEGER PRIMARY KEY);"
#define RYW_TIMEOUT_MS 400
/* Longer than any test takes, even under sanitizers: past it, something hangs. */
#define WATCHDOG_S 120

/* ---- directories and forwarders ---------------------------------------------------------- */

static char g_dir[PATH_MAX];
static char g_replica[PATH_MAX + 16], g_primary[PATH_MAX + 16];
static char g_url_p[PATH_MAX + 32], g_url_q[PATH_MAX + 32];
static struct fwd_server *g_server;

/* The scripted forwarder q: answers each EXEC with success and the next TXID of its
 * script. */
static struct {
	int sock;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	uint64_t txids[8];
	int ntxids, next;
} g_q = { .sock = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
	xsnprintf(buf, len, "%s/%s", dir, name);
}

/* Writes text into dir/name, in place (as LiteFS's generated files change). */
static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	size_t n = strlen(text);
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	rc = write(fd, text, n) == (ssize_t)n ? 0 : -1;
	close(fd);
	return rc;
}

static void set_pos(const char *dir, uint64_t txid)
{
	char text[64];

	xsnprintf(text, sizeof(text), "%016llx/%016llx\n", (unsigned long long)txid, 0ULL);
	assert_int_equal(write_file(dir, "t.db-pos", text), 0);
}

static void set_primary(const char *host)
{
	char text[16];

	xsnprintf(text, sizeof(text), "%s\n", host);
	assert_int_equal(write_file(g_replica, ".primary", text), 0);
}

static void *q_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct wire_msg m;
		struct wire_result r = { .flags = WIRE_RESULT_ROWID, .rc = SQLITE_DONE,
					 .xrc = SQLITE_DONE, .changes = 1,
					 .total_changes_delta = 1, .last_insert_rowid = 77 };
		struct wire_buf b = {0};
		void *req = NULL;
		int n = nn_recv(g_q.sock, &req, NN_MSG, 0);

		if (n < 0)
			return NULL;  /* closed */
		if (wire_decode(req, (size_t)n, WIRE_DEFAULT_MAX_MESSAGE, &m) == 0) {
			if (m.type == WIRE_EXEC) {
				r.request_id = m.u.exec.request_id;
				pthread_mutex_lock(&g_q.mu);
				r.txid = g_q.next < g_q.ntxids ? g_q.txids[g_q.next++] : 0;
				pthread_mutex_unlock(&g_q.mu);
				if (wire_encode_result(&b, &r, WIRE_DEFAULT_MAX_MESSAGE) == 0)
					nn_send(g_q.sock, b.p, b.len, 0);
				wire_buf_free(&b);
			}
			wire_msg_free(&m);
		}
		nn_freemsg(req);
	}
}

static int make_sub(char *buf, size_t len, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", g_dir, name) >= len)
		return -1;
	return mkdir(buf, 0755);
}

/* Makes t.db with the schema in dir. */
static int make_db(const char *dir)
{
	char path[PATH_MAX + 64];
	sqlite3 *db = NULL;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/t.db", dir) >= sizeof(path))
		return -1;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, SCHEMA, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Copies from/t.db to to/t.db, byte for byte. */
static int copy_db(const char *from, const char *to)
{
	char a[PATH_MAX + 64], b[PATH_MAX + 64], buf[65536];
	int in, out, rc = -1;
	ssize_t n;

	if ((size_t)snprintf(a, sizeof(a), "%s/t.db", from) >= sizeof(a) ||
	    (size_t)snprintf(b, sizeof(b), "%s/t.db", to) >= sizeof(b))
		return -1;
	in = open(a, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = open(b, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	rc = n == 0 && close(out) == 0 ? 0 : -1;
	out = -1;
out:
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

static int group_setup(void **state)
{
	char made[PATH_MAX], path[PATH_MAX * 2 + 128];
	struct fwd_server_opts o = {
		.workers = 8, .max_message = WIRE_DEFAULT_MAX_MESSAGE, .linger_ms = 200,
	};
	char ryw[16];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (tmpdir_make(made, sizeof(made), "test_preload_threads"))
		return -1;
	/* SQLite reports databases by their resolved path: the mount must be spelled so too. */
	if (!realpath(made, g_dir)) {
		tmpdir_remove(made);
		return -1;
	}
	if (make_sub(g_replica, sizeof(g_replica), "replica") ||
	    make_sub(g_primary, sizeof(g_primary), "primary") ||
	    write_file(g_replica, ".primary", "p\n") ||
	    (size_t)snprintf(g_url_p, sizeof(g_url_p), "ipc://%s/p.sock", g_dir) >= sizeof(g_url_p) ||
	    (size_t)snprintf(g_url_q, sizeof(g_url_q), "ipc://%s/q.sock", g_dir) >= sizeof(g_url_q) ||
	    (size_t)snprintf(path, sizeof(path), "p=%s,q=%s", g_url_p, g_url_q) >= sizeof(path))
		goto fail;
	/* Read once, at the first SQLite call: before any. The role is read from .primary at
	 * every write (the tests change it), no event thread, the request id sequence in the
	 * test's directory. */
	snprintf(ryw, sizeof(ryw), "%d", RYW_TIMEOUT_MS);
	if (setenv("LITEFS_FWD_MOUNT", g_replica, 1) || setenv("LITEFS_FWD_ENDPOINTS", path, 1) ||
	    setenv("LITEFS_FWD_TIMEOUT_MS", "10000", 1) ||
	    setenv("LITEFS_FWD_CACHE_TTL_MS", "0", 1) || setenv("LITEFS_FWD_EVENTS_URL", "", 1) ||
	    setenv("LITEFS_FWD_POLL_MS", "0", 1) || setenv("LITEFS_FWD_RYW_TIMEOUT_MS", ryw, 1))
		goto fail;
	if ((size_t)snprintf(path, sizeof(path), "%s/request-ids", g_dir) >= sizeof(path) ||
	    setenv("LITEFS_FWD_ID_FILE", path, 1))
		goto fail;
	/* the replica's copy made outside the mount's rules: a copy of the primary's */
	if (make_db(g_primary) || copy_db(g_primary, g_replica))
		goto fail;
	fwd_log_set_level(FWD_LOG_WARN);
	o.listen = g_url_p;
	o.mount = g_primary;
	if (fwd_server_start(&o, &g_server)) {
		g_server = NULL;
		goto fail;
	}
	g_q.sock = nn_socket(AF_SP, NN_REP);
	if (g_q.sock < 0 || nn_bind(g_q.sock, g_url_q) < 0 ||
	    pthread_create(&g_q.thread, NULL, q_main, NULL))
		goto fail;
	g_q.started = true;
	return 0;
fail:
	if (g_q.sock >= 0)
		nn_close(g_q.sock);
	g_q.sock = -1;
	if (g_server)
		fwd_server_stop(g_server);
	g_server = NULL;
	tmpdir_remove(g_dir);
	g_dir[0] = '\0';
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_q.sock >= 0)
		nn_close(g_q.sock);
	if (g_q.started)
		pthread_join(g_q.thread, NULL);
	if (g_server)
		fwd_server_stop(g_server);
	g_server = NULL;
	return g_dir[0] ? tmpdir_remove(g_dir) : 0;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sqlite3 *open_in(const char *dir)
{
	char path[PATH_MAX + 64];
	sqlite3 *db = NULL;

	path_in(path, sizeof(path), dir, "t.db");
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
					 NULL), SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 30000);
	return db;
}

/* Runs sql (one statement, no rows expected) on db; returns step's code. */
static int run(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc;
}

/* The one integer sql reads on db, -1 on failure. */
static int64_t read_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The watchdog: ends the binary (a failure, with a message) when the test running takes
 * longer than WATCHDOG_S, as a deadlock would. */
static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;
	const char *what;
} g_dog = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *dog_main(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WATCHDOG_S;
	pthread_mutex_lock(&g_dog.mu);
	while (!g_dog.done)
		if (pthread_cond_timedwait(&g_dog.cond, &g_dog.mu, &ts) == ETIMEDOUT && !g_dog.done) {
			fprintf(stderr, "%s: not done after %d s: deadlocked\n", g_dog.what,
				WATCHDOG_S);
			fflush(stderr);
			_exit(3);
		}
	pthread_mutex_unlock(&g_dog.mu);
	return NULL;
}

static void dog_start(const char *what)
{
	g_dog.done = false;
	g_dog.what = what;
	assert_int_equal(pthread_create(&g_dog.thread, NULL, dog_main, NULL), 0);
}

static void dog_stop(void)
{
	pthread_mutex_lock(&g_dog.mu);
	g_dog.done = true;
	pthread_cond_signal(&g_dog.cond);
	pthread_mutex_unlock(&g_dog.mu);
	pthread_join(g_dog.thread, NULL);
}

/* ---- no SQLite call under the connection's lock ------------------------------------------ */

/* Calls into SQLite made while the calling thread held the lock of that connection's
 * state. glibc records the owner of every mutex (its thread id). */
static atomic_int g_violations;
static const char *_Atomic g_violation_fn;
static struct real_api g_real;

static void check_unlocked(sqlite3 *db, const char *fn)
{
	struct fwd_conn *c = db ? state_conn(db, false) : NULL;

	if (c && c->mu.__data.__owner == gettid()) {
		atomic_fetch_add(&g_violations, 1);
		atomic_store(&g_violation_fn, fn);
	}
}

#define CHECK_DB(db, fn) check_unlocked((db), fn)
#define CHECK_ST(st, fn) check_unlocked((st) ? g_real.db_handle(st) : NULL, fn)

static int w_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **st, const char **t)
{
	CHECK_DB(db, "prepare_v2");
	return g_real.prepare_v2(db, sql, n, st, t);
}

static int w_step(sqlite3_stmt *st)
{
	CHECK_ST(st, "step");
	return g_real.step(st);
}

static int w_reset(sqlite3_stmt *st)
{
	CHECK_ST(st, "reset");
	return g_real.reset(st);
}

static int w_finalize(sqlite3_stmt *st)
{
	CHECK_ST(st, "finalize");
	return g_real.finalize(st);
}

static int w_bind_parameter_count(sqlite3_stmt *st)
{
	CHECK_ST(st, "bind_parameter_count");
	return g_real.bind_parameter_count(st);
}

static const char *w_sql(sqlite3_stmt *st)
{
	CHECK_ST(st, "sql");
	return g_real.sql(st);
}

static int w_stmt_isexplain(sqlite3_stmt *st)
{
	CHECK_ST(st, "stmt_isexplain");
	return g_real.stmt_isexplain(st);
}

static int w_stmt_readonly(sqlite3_stmt *st)
{
	CHECK_ST(st, "stmt_readonly");
	return g_real.stmt_readonly(st);
}

static sqlite3_int64 w_last_insert_rowid(sqlite3 *db)
{
	CHECK_DB(db, "last_insert_rowid");
	return g_real.last_insert_rowid(db);
}

static void w_set_last_insert_rowid(sqlite3 *db, sqlite3_int64 v)
{
	CHECK_DB(db, "set_last_insert_rowid");
	g_real.set_last_insert_rowid(db, v);
}

static int w_get_autocommit(sqlite3 *db)
{
	CHECK_DB(db, "get_autocommit");
	return g_real.get_autocommit(db);
}

static int w_txn_state(sqlite3 *db, const char *schema)
{
	CHECK_DB(db, "txn_state");
	return g_real.txn_state(db, schema);
}

static const char *w_db_filename(sqlite3 *db, const char *schema)
{
	CHECK_DB(db, "db_filename");
	return g_real.db_filename(db, schema);
}

static int w_extended_errcode(sqlite3 *db)
{
	CHECK_DB(db, "extended_errcode");
	return g_real.extended_errcode(db);
}

static const char *w_errmsg(sqlite3 *db)
{
	CHECK_DB(db, "errmsg");
	return g_real.errmsg(db);
}

static int w_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
		  void *arg, char **err)
{
	CHECK_DB(db, "exec");
	return g_real.exec(db, sql, cb, arg, err);
}

static int w_set_authorizer(sqlite3 *db, int (*cb)(void *, int, const char *, const char *,
						   const char *, const char *), void *arg)
{
	CHECK_DB(db, "set_authorizer");
	return g_real.set_authorizer(db, cb, arg);
}

static void wrap_real(void)
{
	assert_true(real_resolve());
	g_real = real_sqlite;
	real_sqlite.prepare_v2 = w_prepare_v2;
	real_sqlite.step = w_step;
	real_sqlite.reset = w_reset;
	real_sqlite.finalize = w_finalize;
	real_sqlite.bind_parameter_count = w_bind_parameter_count;
	real_sqlite.sql = w_sql;
	real_sqlite.stmt_isexplain = w_stmt_isexplain;
	real_sqlite.stmt_readonly = w_stmt_readonly;
	real_sqlite.last_insert_rowid = w_last_insert_rowid;
	real_sqlite.set_last_insert_rowid = w_set_last_insert_rowid;
	real_sqlite.get_autocommit = w_get_autocommit;
	if (g_real.txn_state)
		real_sqlite.txn_state = w_txn_state;
	real_sqlite.db_filename = w_db_filename;
	real_sqlite.extended_errcode = w_extended_errcode;
	real_sqlite.errmsg = w_errmsg;
	real_sqlite.exec = w_exec;
	real_sqlite.set_authorizer = w_set_authorizer;
}

static void unwrap_real(void)
{
	real_sqlite = g_real;
}

/* Every path of forwarding, one thread: no call into SQLite for the connection with its
 * state's lock held. */
static void test_no_sqlite_call_under_conn_lock(void **state)
{
	sqlite3 *db;
	struct fwd_conn *c;
	char *err = NULL;

	(void)state;
	set_primary("p");
	set_pos(g_primary, 5);      /* the primary's TXIDs: 5, 6, ... */
	set_pos(g_replica, 0xfff);  /* the replica is always caught up */
	wrap_real();
	db = open_in(g_replica);

	/* an autocommit write, its outcome, then a read owing read-your-writes */
	assert_int_equal(run(db, "INSERT INTO k(key, thread) VALUES('nolock-1', 0)"), SQLITE_DONE);
	c = state_conn(db, false);
	assert_non_null(c);
	assert_true(__atomic_load_n(&c->ryw_txid, __ATOMIC_RELAXED) != 0);
	assert_int_equal(sqlite3_changes(db), 1);
	assert_int_equal(read_int(db, "SELECT count(*) FROM k WHERE key = 'nolock-1'"), 0);
	assert_int_equal(__atomic_load_n(&c->ryw_txid, __ATOMIC_RELAXED), 0);

	/* a write the primary refuses: its error shown, then ended by the next prepare */
	assert_int_equal(run(db, "INSERT INTO u(id) VALUES(1)"), SQLITE_DONE);
	assert_int_equal(run(db, "INSERT INTO u(id) VALUES(1)"), SQLITE_CONSTRAINT_PRIMARYKEY);
	assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_PRIMARYKEY);
	assert_non_null(strstr(sqlite3_errmsg(db), "UNIQUE"));
	assert_int_equal(read_int(db, "SELECT 1"), 1);

	/* a transaction: a read here, its first write opens the session, a read there (the
	 * replica has what the primary has: the read's snapshot is current) */
	set_pos(g_primary, 0xfff);
	assert_int_equal(run(db, "BEGIN"), SQLITE_DONE);
	assert_int_equal(read_int(db, "SELECT count(*) FROM k"), 0);
	assert_int_equal(run(db, "INSERT INTO k(key, thread) VALUES('nolock-2', 0)"), SQLITE_DONE);
	assert_int_equal(sqlite3_get_autocommit(db), 0);
	assert_int_equal(read_int(db, "SELECT count(*) FROM k WHERE key LIKE 'nolock-%'"), 2);
	assert_int_equal(run(db, "COMMIT"), SQLITE_DONE);
	assert_int_equal(sqlite3_get_autocommit(db), 1);

	/* a statement only the primary can prepare (its table exists only there, in the
	 * open transaction) */
	assert_int_equal(run(db, "BEGIN"), SQLITE_DONE);
	assert_int_equal(run(db, "CREATE TABLE only_there(a)"), SQLITE_DONE);
	assert_int_equal(run(db, "INSERT INTO only_there(a) VALUES(1)"), SQLITE_DONE);
	assert_int_equal(run(db, "ROLLBACK"), SQLITE_DONE);

	/* sqlite3_exec, statement by statement */
	assert_int_equal(sqlite3_exec(db, "INSERT INTO k(key, thread) VALUES('nolock-3', 0); "
				      "SELECT count(*) FROM k", NULL, NULL, &err), SQLITE_OK);
	sqlite3_free(err);

	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	unwrap_real();
	if (atomic_load(&g_violations))
		fail_msg("%d call(s) into SQLite with the connection's lock held, the last %s",
			 atomic_load(&g_violations), atomic_load(&g_violation_fn));

	db = open_in(g_primary);
	assert_int_equal(read_int(db, "SELECT count(*) FROM k WHERE key LIKE 'nolock-%'"), 3);
	assert_int_equal(read_int(db, "SELECT count(*) FROM u"), 1);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* ---- threads on one connection ----------------------------------------------------------- */

#define THREADS 16
#define ROWS 25

struct worker {
	int index;
	sqlite3 *db;
	const char *prefix;
	bool locked;        /* each prepare made holding sqlite3_db_mutex */
	pthread_barrier_t *start;
	int ok, fail;
	char first_fail[256];
};

/* Prepares sql on w's connection, as the program does in its mode. */
static int worker_prepare(struct worker *w, const char *sql, sqlite3_stmt **st)
{
	sqlite3_mutex *m = w->locked ? sqlite3_db_mutex(w->db) : NULL;
	int rc;

	if (m)
		sqlite3_mutex_enter(m);
	rc = sqlite3_prepare_v2(w->db, sql, -1, st, NULL);
	if (m)
		sqlite3_mutex_leave(m);
	return rc;
}

/* Inserts its rows one after the other, each read back at once (the count is not checked:
 * on a shared connection read-your-writes is not promised), with errors read as a program
 * on a shared connection reads them, holding the connection's mutex. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->start);
	for (int r = 0; r < ROWS; r++) {
		char key[64];
		sqlite3_stmt *st = NULL;
		int rc;

		snprintf(key, sizeof(key), "%s-%d-%d", w->prefix, w->index, r);
		rc = worker_prepare(w, "INSERT INTO k(key, thread) VALUES(?1, ?2)", &st);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int(st, 2, w->index);
			rc = sqlite3_step(st);
		}
		if (rc != SQLITE_DONE) {
			sqlite3_mutex *m = sqlite3_db_mutex(w->db);

			sqlite3_mutex_enter(m);
			if (!w->fail)
				snprintf(w->first_fail, sizeof(w->first_fail), "%s: %d %s", key, rc,
					 sqlite3_errmsg(w->db));
			sqlite3_mutex_leave(m);
			w->fail++;
		} else {
			w->ok++;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (worker_prepare(w, "SELECT count(*) FROM k WHERE key = ?1", &st) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
	}
	return NULL;
}

/* THREADS threads on one connection, in the mode asked: every INSERT acknowledged, each on
 * the primary exactly once, none run on the replica's file. */
static void run_threads(const char *prefix, bool locked)
{
	static struct worker w[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t start;
	char sql[256];
	sqlite3 *db;
	int ok = 0;

	set_primary("p");
	set_pos(g_replica, 1ULL << 40);  /* beyond any TXID the primary answers */
	dog_start(prefix);
	db = open_in(g_replica);
	assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].index = i;
		w[i].db = db;
		w[i].prefix = prefix;
		w[i].locked = locked;
		w[i].start = &start;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
		if (w[i].fail)
			print_message("thread %d: %d failed, the first %s\n", i, w[i].fail,
				      w[i].first_fail);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	dog_stop();
	assert_int_equal(ok, THREADS * ROWS);

	/* each row once on the primary; none on the replica's own file */
	xsnprintf(sql, sizeof(sql), "SELECT count(*) FROM k WHERE key LIKE '%s-%%'", prefix);
	db = open_in(g_primary);
	assert_int_equal(read_int(db, sql), THREADS * ROWS);
	xsnprintf(sql, sizeof(sql),
		  "SELECT count(DISTINCT key) FROM k WHERE key LIKE '%s-%%'", prefix);
	assert_int_equal(read_int(db, sql), THREADS * ROWS);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	db = open_in(g_replica);
	xsnprintf(sql, sizeof(sql), "SELECT count(*) FROM k WHERE key LIKE '%s-%%'", prefix);
	assert_int_equal(read_int(db, sql), 0);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Threads preparing at once on one connection: each prepare is classified from its own
 * statement's authorizer events (a write is never taken for a read, nor run here). */
static void test_shared_connection(void **state)
{
	(void)state;
	run_threads("shared", false);
}

/* The same with every prepare made holding SQLite's connection mutex, while other threads
 * take their forwarded outcome: no deadlock. */
static void test_prepare_holding_db_mutex(void **state)
{
	(void)state;
	run_threads("locked", true);
}

/* ---- read-your-writes owes the newest TXID ----------------------------------------------- */

static void q_script(const uint64_t *txids, int n)
{
	pthread_mutex_lock(&g_q.mu);
	memcpy(g_q.txids, txids, (size_t)n * sizeof(*txids));
	g_q.ntxids = n;
	g_q.next = 0;
	pthread_mutex_unlock(&g_q.mu);
}

/* How long a read on db took: the read-your-writes wait it owed, if any. */
static int64_t read_ms(sqlite3 *db)
{
	int64_t t0 = now_ms();

	assert_true(read_int(db, "SELECT count(*) FROM k") >= 0);
	return now_ms() - t0;
}

/* Two INSERTs prepared, then stepped one after the other (a prepare would pay what the
 * connection owes first). */
static void two_writes(sqlite3 *db, const char *k1, const char *k2)
{
	sqlite3_stmt *a = NULL, *b = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO k(key, thread) VALUES(?1, 0)", -1,
					    &a, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO k(key, thread) VALUES(?1, 0)", -1,
					    &b, NULL), SQLITE_OK);
	sqlite3_bind_text(a, 1, k1, -1, SQLITE_STATIC);
	sqlite3_bind_text(b, 1, k2, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(a), SQLITE_DONE);
	assert_int_equal(sqlite3_step(b), SQLITE_DONE);
	assert_int_equal(sqlite3_finalize(a), SQLITE_OK);
	assert_int_equal(sqlite3_finalize(b), SQLITE_OK);
}

/* Two writes of a connection whose replies came with TXIDs 11 then 10 (as when two
 * threads' replies cross): the connection owes TXID 11, not 10. A replica at 10 makes the
 * next read wait its full bound; the wait, once made, is not owed again. Then writes
 * answered 12 and 13 and a replica at 13: no wait. */
static void test_ryw_newest_txid(void **state)
{
	static const uint64_t down[] = { 11, 10 }, up[] = { 12, 13 };
	struct fwd_conn *c;
	sqlite3 *db;
	int64_t ms;

	(void)state;
	set_primary("q");
	set_pos(g_replica, 10);
	db = open_in(g_replica);
	q_script(down, 2);
	two_writes(db, "ryw-1", "ryw-2");
	c = state_conn(db, false);
	assert_non_null(c);
	assert_int_equal(__atomic_load_n(&c->ryw_txid, __ATOMIC_RELAXED), 11);
	ms = read_ms(db);
	assert_true(ms >= RYW_TIMEOUT_MS - 50);
	assert_int_equal(__atomic_load_n(&c->ryw_txid, __ATOMIC_RELAXED), 0);
	assert_true(read_ms(db) < RYW_TIMEOUT_MS / 2);

	set_pos(g_replica, 13);
	q_script(up, 2);
	two_writes(db, "ryw-3", "ryw-4");
	assert_int_equal(__atomic_load_n(&c->ryw_txid, __ATOMIC_RELAXED), 13);
	assert_true(read_ms(db) < RYW_TIMEOUT_MS / 2);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	set_primary("p");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_sqlite_call_under_conn_lock),
		cmocka_unit_test(test_shared_connection),
		cmocka_unit_test(test_prepare_holding_db_mutex),
		cmocka_unit_test(test_ryw_newest_txid),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
