/* Fidelity of forwarded writes: the same statement, with the same bindings, run on a plain
 * local database and on a database in a LiteFS replica's mount (forwarded to an in-process
 * forwarder on the "primary"), must look the same to the program through every observable
 * the interposer hooks: step and reset codes, RETURNING rows through every column accessor,
 * data_count, error codes and messages, changes, total_changes, last_insert_rowid. The
 * write must land on the primary's copy and not on the replica's (nothing replicates here).
 *
 * This binary links the interposer statically, so its own SQLite calls (and the in-process
 * forwarder's) go through the hooks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "tmpdir.h"

/* By path: other parts of the tree have headers of the same names on the include path. */
#include "../forwarder/log.h"
#include "../forwarder/server.h"
#include "wire.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

#define MAX_STEPS 64

/* ---- the cases --------------------------------------------------------------------------- */

enum bind_kind {
	B_END = 0,
	B_NULL,
	B_INT,
	B_INT64,
	B_DOUBLE,
	B_TEXT,     /* p, n bytes (n may be -1) */
	B_TEXT16,   /* p, n bytes of native UTF-16 */
	B_TEXT64,   /* p, n bytes, UTF-8 */
	B_BLOB,     /* p (may be NULL), n bytes */
	B_BLOB64,
	B_ZEROBLOB, /* n */
	B_ZEROBLOB64,
};

struct bind {
	enum bind_kind kind;
	sqlite3_int64 i;
	double d;
	const void *p;
	int n;
};

struct fcase {
	const char *name;
	const char *schema;    /* run on the seed database, copied to the three places */
	const char *sql;       /* the statement (or, with exec, the SQL for sqlite3_exec) */
	struct bind binds[16];
	int ext;               /* sqlite3_extended_result_codes(db, ext) */
	bool exec;             /* sqlite3_exec instead of prepare/step/reset */
	bool finalize_only;    /* after the steps, finalize without reset */
	bool writes;           /* the statement changes the database when run */
};

/* "h", e acute, U+1F600 as a surrogate pair, "!" : native-endian UTF-16, 5 units. */
static const uint16_t text16[] = { 0x0068, 0x00e9, 0xd83d, 0xde00, 0x0021 };
static const uint16_t text16z[] = { 0x0068, 0x00e9, 0xd83d, 0xde00, 0x0021, 0x0000 };
static const char nul_text[] = "a\0b\0";
static const char blob_bytes[] = { 0x00, 0x01, (char)0xff, 0x7f, 0x00 };

#define T3 "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT UNIQUE, b INTEGER);" \
	   "INSERT INTO t VALUES(1,'x',10),(2,'y',20),(3,'z',30);"
#define V12 "CREATE TABLE v(id INTEGER PRIMARY KEY, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, " \
	    "c11, c12, c13, c14);"
#define V12_INSERT "INSERT INTO v(c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11,c12,c13,c14) " \
		   "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *"
#define W "CREATE TABLE w(id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n NUMERIC);"

static const struct fcase cases[] = {
	{ .name = "insert", .schema = T3, .sql = "INSERT INTO t(a, b) VALUES(?, ?)",
	  .binds = { { B_TEXT, .p = "new", .n = -1 }, { B_INT, .i = 42 } }, .ext = 0,
	  .writes = true },
	{ .name = "insert_ext", .schema = T3, .sql = "INSERT INTO t(a, b) VALUES(?, ?)",
	  .binds = { { B_TEXT, .p = "new", .n = -1 }, { B_INT64, .i = 7 } }, .ext = 1,
	  .writes = true },
	{ .name = "insert_select_returning", .schema = T3,
	  .sql = "INSERT INTO t(a, b) SELECT a || '2', b + ? FROM t ORDER BY id RETURNING *",
	  .binds = { { B_INT, .i = 1 } }, .ext = 1, .writes = true },
	{ .name = "insert_returning_exprs", .schema = T3,
	  .sql = "INSERT INTO t(a, b) SELECT a || '3', b * 2 FROM t ORDER BY id "
		 "RETURNING id, a, b / 3.0, typeof(b), x'00ff', NULL",
	  .ext = 0, .writes = true },
	{ .name = "update_rows", .schema = T3, .sql = "UPDATE t SET b = b * 2 WHERE b >= ?",
	  .binds = { { B_INT, .i = 20 } }, .ext = 0, .writes = true },
	{ .name = "update_returning", .schema = T3,
	  .sql = "UPDATE t SET b = b + 1 RETURNING id, b", .ext = 1, .writes = true },
	{ .name = "delete", .schema = T3, .sql = "DELETE FROM t WHERE id < ?",
	  .binds = { { B_INT, .i = 3 } }, .ext = 1, .writes = true },
	{ .name = "delete_none", .schema = T3, .sql = "DELETE FROM t WHERE id > 100", .ext = 0 },
	{ .name = "upsert", .schema = T3,
	  .sql = "INSERT INTO t(id, a, b) VALUES(?, ?, ?) "
		 "ON CONFLICT(id) DO UPDATE SET b = b + excluded.b RETURNING id, a, b",
	  .binds = { { B_INT, .i = 2 }, { B_TEXT, .p = "q", .n = -1 }, { B_INT, .i = 5 } },
	  .ext = 0, .writes = true },
	{ .name = "upsert_insert", .schema = T3,
	  .sql = "INSERT INTO t(id, a, b) VALUES(?, ?, ?) "
		 "ON CONFLICT(id) DO UPDATE SET b = b + excluded.b",
	  .binds = { { B_INT, .i = 9 }, { B_TEXT, .p = "q", .n = -1 }, { B_INT, .i = 5 } },
	  .ext = 1, .writes = true },
	{ .name = "replace", .schema = T3, .sql = "REPLACE INTO t(id, a, b) VALUES(1, 'r', 99)",
	  .ext = 0, .writes = true },
	{ .name = "replace_unique", .schema = T3, .sql = "REPLACE INTO t(id, a, b) VALUES(7, 'y', 1)",
	  .ext = 1, .writes = true },
	{ .name = "create_table", .schema = T3, .sql = "CREATE TABLE u(x INTEGER, y TEXT)",
	  .ext = 1, .writes = true },
	{ .name = "create_table_plain", .schema = T3, .sql = "CREATE TABLE u(x, y)", .ext = 0,
	  .writes = true },
	{ .name = "unique_violation", .schema = T3, .sql = "INSERT INTO t(a, b) VALUES('x', 1)",
	  .ext = 0 },
	{ .name = "unique_violation_ext", .schema = T3, .sql = "INSERT INTO t(a, b) VALUES('x', 1)",
	  .ext = 1 },
	{ .name = "primary_key_violation_ext", .schema = T3,
	  .sql = "INSERT INTO t(id, a) VALUES(1, 'new')", .ext = 1 },
	{ .name = "not_null_violation",
	  .schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT NOT NULL);",
	  .sql = "INSERT INTO t(a) VALUES(?)", .binds = { { B_NULL } }, .ext = 0 },
	{ .name = "not_null_violation_ext",
	  .schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT NOT NULL);",
	  .sql = "INSERT INTO t(a) VALUES(?)", .binds = { { B_NULL } }, .ext = 1 },
	{ .name = "check_violation",
	  .schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, n INT CHECK(n > 0));",
	  .sql = "INSERT INTO t(n) VALUES(?)", .binds = { { B_INT, .i = -5 } }, .ext = 0 },
	{ .name = "check_violation_ext",
	  .schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, n INT CONSTRAINT positive CHECK(n > 0));",
	  .sql = "INSERT INTO t(n) VALUES(?)", .binds = { { B_INT, .i = -5 } }, .ext = 1 },
	{ .name = "syntax_error", .schema = T3, .sql = "INSERT INTO t VALUES(", .ext = 1 },
	{ .name = "syntax_error_plain", .schema = T3, .sql = "INSERT INTO nosuch VALUES(1)",
	  .ext = 0 },
	{ .name = "bind_every_type", .schema = V12, .sql = V12_INSERT,
	  .binds = {
		  { B_INT64, .i = INT64_MIN },
		  { B_INT64, .i = INT64_MAX },
		  { B_INT, .i = INT_MIN },
		  { B_DOUBLE, .d = 0.30000000000000004 },
		  { B_DOUBLE, .d = -0.0 },
		  { B_TEXT, .p = nul_text, .n = 3 },
		  { B_ZEROBLOB, .n = 5 },
		  { B_BLOB, .p = "", .n = 0 },
		  { B_BLOB, .p = NULL, .n = 0 },
		  { B_TEXT16, .p = text16, .n = (int)sizeof(text16) },
		  { B_NULL },
		  { B_TEXT, .p = "", .n = 0 },
		  { B_BLOB, .p = blob_bytes, .n = (int)sizeof(blob_bytes) },
		  { B_DOUBLE, .d = 1.7976931348623157e308 },
	  },
	  .ext = 1, .writes = true },
	{ .name = "bind_every_type_64", .schema = V12, .sql = V12_INSERT,
	  .binds = {
		  { B_INT64, .i = -1 },
		  { B_INT, .i = INT_MAX },
		  { B_DOUBLE, .d = 4.9406564584124654e-324 },
		  { B_DOUBLE, .d = -1.5 },
		  { B_DOUBLE, .d = 1e15 },
		  { B_TEXT64, .p = nul_text, .n = 4 },
		  { B_ZEROBLOB64, .n = 0 },
		  { B_BLOB64, .p = blob_bytes, .n = (int)sizeof(blob_bytes) },
		  { B_TEXT, .p = NULL, .n = 0 },
		  { B_TEXT16, .p = text16z, .n = -1 },
		  { B_TEXT, .p = "-0", .n = -1 },
		  { B_TEXT, .p = "9223372036854775808", .n = -1 },
		  { B_TEXT, .p = "0x10", .n = -1 },
		  { B_INT64, .i = 0 },
	  },
	  .ext = 0, .writes = true },
	{ .name = "bind_affinity", .schema = W,
	  .sql = "INSERT INTO w(i, r, t, b, n) VALUES(?, ?, ?, ?, ?) RETURNING *, typeof(i), "
		 "typeof(r), typeof(t), typeof(b), typeof(n)",
	  .binds = {
		  { B_TEXT, .p = "12", .n = -1 },
		  { B_INT64, .i = INT64_MAX },
		  { B_DOUBLE, .d = -0.0 },
		  { B_TEXT, .p = "3.0", .n = -1 },
		  { B_TEXT, .p = "1e3", .n = -1 },
	  },
	  .ext = 0, .writes = true },
	{ .name = "bind_real_minus_zero", .schema = W,
	  .sql = "INSERT INTO w(r) VALUES(?) RETURNING r, 1/r",
	  .binds = { { B_DOUBLE, .d = -0.0 } }, .ext = 1, .writes = true },
	{ .name = "exec_two_inserts", .schema = T3, .exec = true,
	  .sql = "INSERT INTO t(a, b) VALUES('e1', 1); INSERT INTO t(a, b) VALUES('e2', 2)",
	  .ext = 0, .writes = true },
	{ .name = "exec_two_inserts_ext", .schema = T3, .exec = true,
	  .sql = "INSERT INTO t(a, b) VALUES('e1', 1); INSERT INTO t(a, b) VALUES('e2', 2);",
	  .ext = 1, .writes = true },
	{ .name = "exec_second_fails", .schema = T3, .exec = true,
	  .sql = "INSERT INTO t(a, b) VALUES('e1', 1); INSERT INTO t(a, b) VALUES('x', 2)",
	  .ext = 1, .writes = true },
	/* transactions: from the first write on, a session on the primary */
	{ .name = "txn_commit", .schema = T3, .exec = true,
	  .sql = "BEGIN; INSERT INTO t(a, b) VALUES('n1', 1); UPDATE t SET b = b + 1 WHERE id = 1; "
		 "SELECT count(*) FROM t; INSERT INTO t(a, b) VALUES('n2', 2); COMMIT",
	  .ext = 0, .writes = true },
	{ .name = "txn_rollback", .schema = T3, .exec = true,
	  .sql = "BEGIN; INSERT INTO t(a, b) VALUES('n1', 1); DELETE FROM t WHERE id = 2; ROLLBACK",
	  .ext = 1 },
	{ .name = "txn_savepoints", .schema = T3, .exec = true,
	  .sql = "SAVEPOINT s; INSERT INTO t(a, b) VALUES('n1', 1); SAVEPOINT s2; "
		 "INSERT INTO t(a, b) VALUES('n2', 2); ROLLBACK TO s2; INSERT INTO t(a, b) "
		 "VALUES('n3', 3); RELEASE s",
	  .ext = 1, .writes = true },
	{ .name = "txn_error_keeps_it_open", .schema = T3, .exec = true,
	  .sql = "BEGIN; INSERT INTO t(a, b) VALUES('n1', 1); INSERT INTO t(a, b) VALUES('x', 2); "
		 "COMMIT",
	  .ext = 1 },
	{ .name = "txn_read_then_write", .schema = T3, .exec = true,
	  .sql = "BEGIN; SELECT * FROM t; UPDATE t SET b = (SELECT max(b) FROM t) + 1 WHERE id = 1; "
		 "SELECT * FROM t; END",
	  .ext = 0, .writes = true },
	{ .name = "txn_immediate", .schema = T3, .exec = true,
	  .sql = "BEGIN IMMEDIATE; INSERT INTO t(a, b) VALUES('n1', 1) RETURNING id; COMMIT",
	  .ext = 1, .writes = true },
	{ .name = "txn_migration", .schema = T3, .exec = true,
	  .sql = "BEGIN; CREATE TABLE u(x INTEGER); INSERT INTO u VALUES (1), (2); "
		 "CREATE INDEX ux ON u(x); ALTER TABLE u ADD COLUMN y; UPDATE u SET y = x * 2; "
		 "INSERT INTO t(a, b) SELECT 'u' || x, y FROM u; PRAGMA user_version = 5; COMMIT",
	  .ext = 1, .writes = true },
	{ .name = "txn_rolled_back_by_sqlite", .exec = true,
	  .schema = T3 "CREATE TRIGGER no_big BEFORE INSERT ON t WHEN new.b > 100 "
		  "BEGIN SELECT RAISE(ROLLBACK, 'too big'); END;",
	  .sql = "BEGIN; INSERT INTO t(a, b) VALUES('n1', 1); INSERT INTO t(a, b) VALUES('n2', 101); "
		 "COMMIT",
	  .ext = 1 },
	{ .name = "txn_read_only_stays_here", .schema = T3, .exec = true,
	  .sql = "BEGIN; SELECT * FROM t; SELECT count(*) FROM t; COMMIT", .ext = 0 },
	{ .name = "txn_nested_savepoints", .schema = T3, .exec = true,
	  .sql = "BEGIN; SAVEPOINT a; INSERT INTO t(a, b) VALUES('n1', 1); SAVEPOINT b; "
		 "UPDATE t SET b = 0; ROLLBACK TO a; INSERT INTO t(a, b) VALUES('n2', 2); "
		 "RELEASE a; SAVEPOINT c; DELETE FROM t WHERE id = 1; RELEASE c; COMMIT",
	  .ext = 1, .writes = true },
	{ .name = "finalize_after_error", .schema = T3, .finalize_only = true,
	  .sql = "INSERT INTO t(a, b) VALUES('x', 1)", .ext = 0 },
	{ .name = "finalize_after_error_ext", .schema = T3, .finalize_only = true,
	  .sql = "INSERT INTO t(a, b) VALUES('x', 1)", .ext = 1 },
	{ .name = "finalize_after_check_ext",
	  .schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, n INT CHECK(n > 0));",
	  .finalize_only = true, .sql = "INSERT INTO t(n) VALUES(0)", .ext = 1 },
	{ .name = "finalize_after_success", .schema = T3, .finalize_only = true,
	  .sql = "INSERT INTO t(a, b) VALUES('f', 1)", .ext = 1, .writes = true },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ---- directories, forwarder, resources released even when a test fails -------------------- */

static char g_dir[PATH_MAX];
static char g_replica[PATH_MAX + 16], g_primary[PATH_MAX + 16], g_local[PATH_MAX + 16],
	g_seed[PATH_MAX + 16], g_url[PATH_MAX + 32];
static struct fwd_server *g_server;

static struct {
	sqlite3 *dbs[8];
	int ndbs;
	char *bufs[8];
	int nbufs;
} g_res;

static int make_sub(char *buf, size_t len, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", g_dir, name) >= len)
		return -1;
	return mkdir(buf, 0755);
}

static int group_setup(void **state)
{
	char made[PATH_MAX], path[PATH_MAX + 64];
	struct fwd_server_opts o = {
		.workers = 2, .max_message = WIRE_DEFAULT_MAX_MESSAGE, .linger_ms = 200,
	};
	int fd, rc;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (tmpdir_make(made, sizeof(made), "test_preload_fidelity"))
		return -1;
	/* SQLite reports databases by their resolved path: the mount must be spelled so too. */
	if (!realpath(made, g_dir)) {
		tmpdir_remove(made);
		return -1;
	}
	if (make_sub(g_replica, sizeof(g_replica), "replica") ||
	    make_sub(g_primary, sizeof(g_primary), "primary") ||
	    make_sub(g_local, sizeof(g_local), "local") ||
	    make_sub(g_seed, sizeof(g_seed), "seed"))
		goto fail;
	snprintf(path, sizeof(path), "%s/.primary", g_replica);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	rc = (int)write(fd, "p\n", 2);
	close(fd);
	if (rc != 2)
		goto fail;
	if ((size_t)snprintf(g_url, sizeof(g_url), "ipc://%s/fwd.sock", g_dir) >= sizeof(g_url))
		goto fail;
	if ((size_t)snprintf(path, sizeof(path), "p=%s", g_url) >= sizeof(path))
		goto fail;
	/* Read once, at the first SQLite call: before any. The request id sequence in the
	 * test's directory, not in /dev/shm. */
	if (setenv("LITEFS_FWD_MOUNT", g_replica, 1) || setenv("LITEFS_FWD_ENDPOINTS", path, 1) ||
	    setenv("LITEFS_FWD_TIMEOUT_MS", "5000", 1))
		goto fail;
	if ((size_t)snprintf(path, sizeof(path), "%s/request-ids", g_dir) >= sizeof(path) ||
	    setenv("LITEFS_FWD_ID_FILE", path, 1))
		goto fail;
	fwd_log_set_level(FWD_LOG_WARN);
	o.listen = g_url;
	o.mount = g_primary;
	if (fwd_server_start(&o, &g_server)) {
		g_server = NULL;
		goto fail;
	}
	return 0;
fail:
	tmpdir_remove(g_dir);
	g_dir[0] = '\0';
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_server)
		fwd_server_stop(g_server);
	g_server = NULL;
	return g_dir[0] ? tmpdir_remove(g_dir) : 0;
}

static int test_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < g_res.ndbs; i++)
		sqlite3_close_v2(g_res.dbs[i]);
	for (int i = 0; i < g_res.nbufs; i++)
		free(g_res.bufs[i]);
	memset(&g_res, 0, sizeof(g_res));
	return 0;
}

static sqlite3 *db_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_true(g_res.ndbs < (int)(sizeof(g_res.dbs) / sizeof(g_res.dbs[0])));
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	g_res.dbs[g_res.ndbs++] = db;
	return db;
}

static void db_close(sqlite3 *db)
{
	for (int i = 0; i < g_res.ndbs; i++) {
		if (g_res.dbs[i] == db) {
			g_res.dbs[i] = g_res.dbs[--g_res.ndbs];
			assert_int_equal(sqlite3_close_v2(db), SQLITE_OK);
			return;
		}
	}
	fail_msg("connection not tracked");
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(close(out), 0);
}

/* ---- the observation log: one line per observable ------------------------------------------ */

struct olog {
	FILE *f;
	char *buf;
	size_t len;
};

static void olog_open(struct olog *l)
{
	assert_true(g_res.nbufs < (int)(sizeof(g_res.bufs) / sizeof(g_res.bufs[0])));
	l->buf = NULL;
	l->len = 0;
	l->f = open_memstream(&l->buf, &l->len);
	assert_non_null(l->f);
	g_res.nbufs++; /* slot filled at close, when the buffer is final */
	g_res.bufs[g_res.nbufs - 1] = NULL;
}

static void olog_close(struct olog *l)
{
	assert_int_equal(fclose(l->f), 0);
	l->f = NULL;
	for (int i = 0; i < g_res.nbufs; i++) {
		if (!g_res.bufs[i]) {
			g_res.bufs[i] = l->buf;
			return;
		}
	}
}

static void hex(FILE *f, const void *p, int n)
{
	const unsigned char *b = p;

	if (!p) {
		fputs("(null)", f);
		return;
	}
	fputc('x', f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

static void log_conn(FILE *f, sqlite3 *db, const char *when)
{
	const char *msg = sqlite3_errmsg(db);

	fprintf(f, "%s: errcode=%d\n", when, sqlite3_errcode(db));
	fprintf(f, "%s: extended_errcode=%d\n", when, sqlite3_extended_errcode(db));
	fprintf(f, "%s: errmsg=%s\n", when, msg ? msg : "(null)");
	fprintf(f, "%s: changes=%d\n", when, sqlite3_changes(db));
	fprintf(f, "%s: changes64=%lld\n", when, (long long)sqlite3_changes64(db));
	fprintf(f, "%s: total_changes=%d\n", when, sqlite3_total_changes(db));
	fprintf(f, "%s: total_changes64=%lld\n", when, (long long)sqlite3_total_changes64(db));
	fprintf(f, "%s: last_insert_rowid=%lld\n", when, (long long)sqlite3_last_insert_rowid(db));
	fprintf(f, "%s: get_autocommit=%d\n", when, sqlite3_get_autocommit(db));
}

/* Every accessor on every column of the current row, in one fixed order (conversions made
 * by one accessor are visible to the next, the same on both sides). */
static void log_row(FILE *f, sqlite3_stmt *st, const char *when)
{
	int ncol = sqlite3_column_count(st);

	fprintf(f, "%s: data_count=%d column_count=%d\n", when, sqlite3_data_count(st), ncol);
	for (int i = 0; i < ncol; i++) {
		int n;
		double d;
		uint64_t bits;
		const unsigned char *t;
		const void *p;
		sqlite3_value *v;
		int type = sqlite3_column_type(st, i);

		fprintf(f, "%s: col %d name=%s type=%d\n", when, i, sqlite3_column_name(st, i), type);
		v = sqlite3_column_value(st, i);
		fprintf(f, "%s: col %d value_type=%d\n", when, i, v ? sqlite3_value_type(v) : -1);
		fprintf(f, "%s: col %d int=%d\n", when, i, sqlite3_column_int(st, i));
		fprintf(f, "%s: col %d int64=%lld\n", when, i, (long long)sqlite3_column_int64(st, i));
		d = sqlite3_column_double(st, i);
		memcpy(&bits, &d, sizeof(bits));
		fprintf(f, "%s: col %d double=%016llx (%.17g)\n", when, i, (unsigned long long)bits, d);
		t = sqlite3_column_text(st, i);
		n = sqlite3_column_bytes(st, i);
		fprintf(f, "%s: col %d text=", when, i);
		hex(f, t, n);
		fprintf(f, " bytes=%d\n", n);
		p = sqlite3_column_blob(st, i);
		n = sqlite3_column_bytes(st, i);
		fprintf(f, "%s: col %d blob=", when, i);
		hex(f, p, n);
		fprintf(f, " bytes=%d\n", n);
		p = sqlite3_column_text16(st, i);
		n = sqlite3_column_bytes16(st, i);
		fprintf(f, "%s: col %d text16=", when, i);
		hex(f, p, n);
		fprintf(f, " bytes16=%d\n", n);
		fprintf(f, "%s: col %d type_after=%d\n", when, i, sqlite3_column_type(st, i));
	}
}

static int do_bind(sqlite3_stmt *st, int i, const struct bind *b)
{
	switch (b->kind) {
	case B_NULL:
		return sqlite3_bind_null(st, i);
	case B_INT:
		return sqlite3_bind_int(st, i, (int)b->i);
	case B_INT64:
		return sqlite3_bind_int64(st, i, b->i);
	case B_DOUBLE:
		return sqlite3_bind_double(st, i, b->d);
	case B_TEXT:
		return sqlite3_bind_text(st, i, b->p, b->n, SQLITE_TRANSIENT);
	case B_TEXT16:
		return sqlite3_bind_text16(st, i, b->p, b->n, SQLITE_TRANSIENT);
	case B_TEXT64:
		return sqlite3_bind_text64(st, i, b->p, (sqlite3_uint64)b->n, SQLITE_TRANSIENT,
					   SQLITE_UTF8);
	case B_BLOB:
		return sqlite3_bind_blob(st, i, b->p, b->n, SQLITE_TRANSIENT);
	case B_BLOB64:
		return sqlite3_bind_blob64(st, i, b->p, (sqlite3_uint64)b->n, SQLITE_TRANSIENT);
	case B_ZEROBLOB:
		return sqlite3_bind_zeroblob(st, i, b->n);
	case B_ZEROBLOB64:
		return sqlite3_bind_zeroblob64(st, i, (sqlite3_uint64)b->n);
	case B_END:
		break;
	}
	fail_msg("bad binding kind %d", (int)b->kind);
	return -1;
}

/* Runs the case on a fresh connection to path and logs everything observable. */
static void run_on(const struct fcase *c, const char *path, struct olog *l)
{
	sqlite3 *db = db_open(path);
	FILE *f = l->f;

	fprintf(f, "extended_result_codes rc=%d\n", sqlite3_extended_result_codes(db, c->ext));
	log_conn(f, db, "start");
	if (c->exec) {
		char *err = NULL;
		int rc = sqlite3_exec(db, c->sql, NULL, NULL, &err);

		fprintf(f, "exec rc=%d\n", rc);
		fprintf(f, "exec errmsg=%s\n", err ? err : "(null)");
		sqlite3_free(err);
		log_conn(f, db, "after exec");
	} else {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		int rc = sqlite3_prepare_v2(db, c->sql, -1, &st, &tail);

		fprintf(f, "prepare rc=%d stmt=%s tail=%td\n", rc, st ? "set" : "NULL",
			tail ? tail - c->sql : (ptrdiff_t)-1);
		log_conn(f, db, "after prepare");
		if (st) {
			int k;

			fprintf(f, "bind_parameter_count=%d\n", sqlite3_bind_parameter_count(st));
			for (int i = 0; c->binds[i].kind != B_END; i++)
				fprintf(f, "bind %d rc=%d\n", i + 1, do_bind(st, i + 1, &c->binds[i]));
			for (k = 0; k < MAX_STEPS; k++) {
				char when[32];

				rc = sqlite3_step(st);
				fprintf(f, "step %d rc=%d\n", k, rc);
				if (rc != SQLITE_ROW)
					break;
				snprintf(when, sizeof(when), "row %d", k);
				log_row(f, st, when);
			}
			assert_true(k < MAX_STEPS);
			fprintf(f, "after steps: data_count=%d\n", sqlite3_data_count(st));
			log_conn(f, db, "after steps");
			if (!c->finalize_only) {
				fprintf(f, "reset rc=%d\n", sqlite3_reset(st));
				log_conn(f, db, "after reset");
				fprintf(f, "reset again rc=%d\n", sqlite3_reset(st));
				log_conn(f, db, "after reset again");
			}
			fprintf(f, "finalize rc=%d\n", sqlite3_finalize(st));
			log_conn(f, db, "after finalize");
		}
	}
	db_close(db);
	fflush(f);
}

/* Every table of the database at path, schema and rows, through the same accessors. */
static void dump_db(const char *path, struct olog *l)
{
	sqlite3 *db = db_open(path);
	sqlite3_stmt *st = NULL, *rows = NULL;
	int rc;

	/* the forwarder's record of requests is not the program's */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_schema "
					    "WHERE type = 'table' AND name NOT LIKE "
					    "'\\_litefs\\_fwd\\_%' ESCAPE '\\' ORDER BY name",
					    -1, &st, NULL),
			 SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char q[256];
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int k = 0;

		fprintf(l->f, "table %s: %s\n", name, (const char *)sqlite3_column_text(st, 1));
		xsnprintf(q, sizeof(q), "SELECT rowid, * FROM \"%s\" ORDER BY rowid", name);
		assert_int_equal(sqlite3_prepare_v2(db, q, -1, &rows, NULL), SQLITE_OK);
		while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
			char when[300];

			snprintf(when, sizeof(when), "%s row %d", name, k++);
			log_row(l->f, rows, when);
		}
		assert_int_equal(rc, SQLITE_DONE);
		assert_int_equal(sqlite3_finalize(rows), SQLITE_OK);
		rows = NULL;
	}
	assert_int_equal(rc, SQLITE_DONE);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	db_close(db);
	fflush(l->f);
}

/* Compares two logs line by line; prints every difference with both values. Returns the
 * number of differing lines. */
static int compare(const char *what, const char *a_name, const char *a, const char *b_name,
		   const char *b)
{
	int diffs = 0, line = 1;

	while (*a || *b) {
		size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");

		if (na != nb || memcmp(a, b, na)) {
			diffs++;
			print_message("%s: line %d differs\n    %-8s %.*s\n    %-8s %.*s\n", what, line,
				      a_name, (int)na, a, b_name, (int)nb, b);
		}
		a += na + (a[na] == '\n');
		b += nb + (b[nb] == '\n');
		line++;
	}
	return diffs;
}

static void test_case(void **state)
{
	const struct fcase *c = *state;
	char name[32], seed[PATH_MAX + 64], local[PATH_MAX + 64], replica[PATH_MAX + 64],
		primary[PATH_MAX + 64];
	struct olog ol, orep, dseed, dlocal, drep, dprim;
	sqlite3 *db;
	char *err = NULL;
	int diffs = 0;

	/* A name of its own per case: the forwarder keeps its databases open. */
	xsnprintf(name, sizeof(name), "c%02d.db", (int)(c - cases));
	xsnprintf(seed, sizeof(seed), "%s/%s", g_seed, name);
	xsnprintf(local, sizeof(local), "%s/%s", g_local, name);
	xsnprintf(replica, sizeof(replica), "%s/%s", g_replica, name);
	xsnprintf(primary, sizeof(primary), "%s/%s", g_primary, name);

	/* The schema, made outside every mount, then copied byte for byte. */
	db = db_open(seed);
	if (sqlite3_exec(db, c->schema, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("schema: %s", err ? err : "?");
	db_close(db);
	copy_file(seed, local);
	copy_file(seed, replica);
	copy_file(seed, primary);

	olog_open(&ol);
	run_on(c, local, &ol);
	olog_open(&orep);
	run_on(c, replica, &orep);
	olog_close(&ol);
	olog_close(&orep);
	diffs += compare(c->name, "local", ol.buf, "replica", orep.buf);

	olog_open(&dseed);
	dump_db(seed, &dseed);
	olog_close(&dseed);
	olog_open(&dlocal);
	dump_db(local, &dlocal);
	olog_close(&dlocal);
	olog_open(&drep);
	dump_db(replica, &drep);
	olog_close(&drep);
	olog_open(&dprim);
	dump_db(primary, &dprim);
	olog_close(&dprim);
	/* the write landed on the primary, as it did locally */
	diffs += compare("primary file vs local file", "local", dlocal.buf, "primary", dprim.buf);
	/* and not on the replica, which nothing replicates to here */
	diffs += compare("replica file vs seed", "seed", dseed.buf, "replica", drep.buf);
	if (diffs)
		fail_msg("%s: %d observable(s) differ", c->name, diffs);
	/* the case tests something: a writing statement changed the local database */
	if (c->writes)
		assert_true(strcmp(dseed.buf, dlocal.buf) != 0);
	else
		assert_string_equal(dseed.buf, dlocal.buf);
}

int main(void)
{
	struct CMUnitTest tests[NCASES];

	for (size_t i = 0; i < NCASES; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = cases[i].name;
		tests[i].test_func = test_case;
		tests[i].teardown_func = test_teardown;
		tests[i].initial_state = (void *)&cases[i];
	}
	return _cmocka_run_group_tests("preload_fidelity", tests, NCASES, group_setup,
				       group_teardown);
}
