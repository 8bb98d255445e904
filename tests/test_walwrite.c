/* The forwarder's VFS that writes the frames of a transaction to <db>-wal as one write
 * (forwarder/walwrite.c): one write per commit, and nothing a reader or a recovery needs
 * is ever still in memory: after each commit, another connection (through the default
 * VFS) sees it, and a copy of the files taken then recovers it, at every synchronous
 * level; a transaction that spills its cache and rolls part of itself back ends as the
 * same database as through the default VFS. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "tmpdir.h"

#include "../forwarder/walwrite.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

static char g_dir[PATH_MAX];

/* Connections a test opened, closed by the teardown even when an assertion failed. */
static struct {
	sqlite3 *db[4];
	int n;
} g_res;

static int ww_setup(void **state)
{
	(void)state;
	if (tmpdir_make(g_dir, sizeof(g_dir), "test_walwrite"))
		return -1;
	return fwd_walwrite_register() == 0 ? 0 : -1;
}

static int ww_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

static int test_teardown(void **state)
{
	(void)state;
	while (g_res.n > 0)
		sqlite3_close(g_res.db[--g_res.n]);
	return 0;
}

/* Opens dir/name through vfs (NULL: the default VFS), kept for the teardown. */
static sqlite3 *open_db(const char *name, const char *vfs)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;

	xsnprintf(path, sizeof(path), "%s/%s", g_dir, name);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
			 SQLITE_OK);
	assert_true(g_res.n < 4);
	g_res.db[g_res.n++] = db;
	return db;
}

static void run(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
}

static sqlite3_int64 one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	sqlite3_int64 v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t r;

	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	while ((r = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)r), r);
	assert_int_equal(r, 0);
	close(in);
	close(out);
}

/* The rows of a.db as recovered from a copy of its files taken now: what is in the
 * files themselves (the copy has no wal-index: SQLite rebuilds it from the WAL). */
static sqlite3_int64 rows_in_copy(const char *name)
{
	char from[PATH_MAX], to[PATH_MAX];
	sqlite3 *db;
	sqlite3_int64 n;

	xsnprintf(from, sizeof(from), "%s/%s", g_dir, name);
	xsnprintf(to, sizeof(to), "%s/copy.db", g_dir);
	copy_file(from, to);
	xsnprintf(from, sizeof(from), "%s/%s-wal", g_dir, name);
	xsnprintf(to, sizeof(to), "%s/copy.db-wal", g_dir);
	copy_file(from, to);
	xsnprintf(to, sizeof(to), "%s/copy.db-shm", g_dir);
	unlink(to);
	db = open_db("copy.db", NULL);
	n = one_int(db, "SELECT count(*) FROM t");
	sqlite3_close(db);
	g_res.n--;
	xsnprintf(to, sizeof(to), "%s/copy.db", g_dir);
	unlink(to);
	xsnprintf(to, sizeof(to), "%s/copy.db-wal", g_dir);
	unlink(to);
	return n;
}

/* Commits of one row into each of two tables (two pages, four writes of SQLite's) reach
 * the WAL as one write each, and each is in the files when its COMMIT returns: seen by
 * another connection and by a recovery from a copy, at each synchronous level (OFF and
 * NORMAL never sync the WAL at a commit: nothing may wait for a sync there). */
static void test_one_write_per_commit(void **state)
{
	static const char *levels[] = { "OFF", "NORMAL", "FULL", "EXTRA" };
	char sql[128], name[32];

	(void)state;
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		sqlite3 *w, *r;
		size_t in0, out0, in1, out1;

		xsnprintf(name, sizeof(name), "commits-%zu.db", l);
		w = open_db(name, FWD_WALWRITE_VFS);
		run(w, "PRAGMA journal_mode = WAL");
		xsnprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", levels[l]);
		run(w, sql);
		run(w, "CREATE TABLE t(x); CREATE TABLE u(y)");
		r = open_db(name, NULL);
		fwd_walwrite_totals(&in0, &out0);
		for (int i = 1; i <= 40; i++) {
			xsnprintf(sql, sizeof(sql), "BEGIN; INSERT INTO t VALUES (%d); "
				  "INSERT INTO u VALUES (%d); COMMIT", i, i);
			run(w, sql);
			assert_int_equal(one_int(r, "SELECT count(*) FROM t"), i);
			assert_int_equal(one_int(r, "SELECT sum(y) FROM u"), i * (i + 1) / 2);
			if (i % 10 == 0)
				assert_int_equal(rows_in_copy(name), i);
		}
		fwd_walwrite_totals(&in1, &out1);
		/* each commit: two frames, a header and a page each */
		assert_int_equal(in1 - in0, 40 * 4);
		assert_int_equal(out1 - out0, 40);
		sqlite3_close(r);
		sqlite3_close(w);
		g_res.n -= 2;
	}
}

/* Fills name through vfs with a transaction larger than its page cache (SQLite writes
 * frames before the commit and reads some back), part of it rolled back to a savepoint,
 * a transaction rolled back whole after spilling, and checkpoints that restart the WAL.
 * Returns a hash of the database's content (and of the rows read inside the first
 * transaction), after an integrity check. */
static sqlite3_int64 fill(const char *name, const char *vfs)
{
	sqlite3 *db = open_db(name, vfs);
	sqlite3_stmt *st;
	sqlite3_int64 h, mid;

	run(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = 8;"
		"CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)");
	run(db, "BEGIN;"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)"
		" INSERT INTO t SELECT i, zeroblob(300 + i % 200) FROM n");
	/* every page again, most of them out of the cache: read back from the WAL */
	mid = one_int(db, "SELECT sum(k * length(v)) FROM t");
	run(db, "SAVEPOINT s;"
		"UPDATE t SET v = zeroblob(700) WHERE k % 3 = 0;"
		"ROLLBACK TO s;"
		"UPDATE t SET v = zeroblob(100) WHERE k % 5 = 0;"
		"RELEASE s; COMMIT");
	run(db, "BEGIN; DELETE FROM t WHERE k % 2 = 0;"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 800)"
		" INSERT INTO t SELECT 10000 + i, zeroblob(900) FROM n; ROLLBACK");
	run(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	for (int i = 0; i < 30; i++)
		run(db, "INSERT INTO t(v) VALUES (zeroblob(50))");
	run(db, "PRAGMA wal_checkpoint(RESTART)");
	run(db, "UPDATE t SET v = zeroblob(60) WHERE k > 1490");
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	h = one_int(db, "SELECT sum(k * 7919 + length(v) * 31) + count(*) FROM t") * 31 + mid;
	assert_int_equal(rows_in_copy(name), one_int(db, "SELECT count(*) FROM t"));
	sqlite3_close(db);
	g_res.n--;
	return h;
}

static void test_spilled_transactions_same_as_default(void **state)
{
	(void)state;
	assert_int_equal(fill("through-walwrite.db", FWD_WALWRITE_VFS), fill("plain.db", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_one_write_per_commit, test_teardown),
		cmocka_unit_test_teardown(test_spilled_transactions_same_as_default, test_teardown),
	};

	return cmocka_run_group_tests(tests, ww_setup, ww_teardown);
}
