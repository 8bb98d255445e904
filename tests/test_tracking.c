/* Unit tests of the forwarder's tracking table (forwarder/tracking.c), on plain SQLite
 * files in a temporary directory (no LiteFS): fwd_tracking_stamp() creates the one-row
 * table, keeps the term and writes nothing when the row already says the same, takes a
 * new term for every other hostname or endpoint, refuses table names that are not plain
 * SQL names, and leaves no transaction open when the write lock is taken (at BEGIN by a
 * writer, or at COMMIT by a reader) or the table is not its own; the tracking thread
 * (fwd_tracking_start()/fwd_tracking_stop()), on a directory standing in for the mount,
 * stamps exactly the databases while the node is the primary (a directory without
 * .primary, no LiteFS /info asked), none of the side files, hidden files and other files
 * next to them, stamps nothing while a .primary names another node, stamps everything
 * again when the node becomes the primary again, and stops at once when asked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include <sqlite3.h>

#include "tmpdir.h"

/* By path: the interposer has headers of the same names on the include path. */
#include "../forwarder/log.h"
#include "../forwarder/tracking.h"

#define TABLE "_litefs_fwd_primary"
#define HOST_A "node-a"
#define EP_A "tcp://node-a:20208"

/* snprintf() that fails the test instead of cutting the text short. */
#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

/* ---- temporary directory and resources released even when a test fails ------------------ */

static char g_dir[PATH_MAX];

static struct {
	sqlite3 *dbs[8];
	int ndbs;
	struct fwd_tracking *tracking, *tracking2;
} g_res;

static int group_setup(void **state)
{
	(void)state;
	/* the warnings expected (LiteFS at an address that does not answer) are not shown */
	fwd_log_set_level(FWD_LOG_ERROR);
	return 0;
}

static int test_setup(void **state)
{
	(void)state;
	memset(&g_res, 0, sizeof(g_res));
	return tmpdir_make(g_dir, sizeof(g_dir), "test_tracking") ? -1 : 0;
}

static int test_teardown(void **state)
{
	(void)state;
	/* The thread first: it may be using the files. */
	fwd_tracking_stop(g_res.tracking);
	fwd_tracking_stop(g_res.tracking2);
	for (int i = 0; i < g_res.ndbs; i++)
		sqlite3_close_v2(g_res.dbs[i]);
	memset(&g_res, 0, sizeof(g_res));
	return tmpdir_remove(g_dir);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- SQLite ---------------------------------------------------------------------------- */

/* Opens path (created if need be), closed by the teardown unless db_close()d. */
static sqlite3 *db_open_flags(const char *path, int flags)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, flags, NULL), SQLITE_OK);
	assert_true(g_res.ndbs < (int)(sizeof(g_res.dbs) / sizeof(g_res.dbs[0])));
	g_res.dbs[g_res.ndbs++] = db;
	sqlite3_busy_timeout(db, 2000);
	return db;
}

static sqlite3 *db_open(const char *path)
{
	return db_open_flags(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
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

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", err ? err : "?");
		sqlite3_free(err);
		fail_msg("%s: %s", sql, msg);
	}
}

/* The single integer sql returns on db. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

struct row {
	char hostname[256];
	char endpoint[256];
	int64_t term;
	int64_t updated_ms;
	int count;      /* rows in the table */
};

/* Reads table's row on db. Returns false when there is no such table. */
static bool row_read(sqlite3 *db, const char *table, struct row *r)
{
	char sql[256];
	sqlite3_stmt *st = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	xsnprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE name = '%s'",
		  table);
	if (query_int(db, sql) == 0)
		return false;
	xsnprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	r->count = (int)query_int(db, sql);
	xsnprintf(sql, sizeof(sql),
		  "SELECT hostname, endpoint, term, updated_ms FROM %s WHERE id = 1", table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(r->hostname, sizeof(r->hostname), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		snprintf(r->endpoint, sizeof(r->endpoint), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		r->term = sqlite3_column_int64(st, 2);
		r->updated_ms = sqlite3_column_int64(st, 3);
	} else {
		assert_int_equal(rc, SQLITE_DONE);
	}
	sqlite3_finalize(st);
	return true;
}

/* The same on the database at path, on a connection of its own (opened read-only: no
 * file is created). Returns false when there is no such table. */
static bool row_read_file(const char *path, const char *table, struct row *r)
{
	sqlite3 *db = db_open_flags(path, SQLITE_OPEN_READONLY);
	bool found = row_read(db, table, r);

	db_close(db);
	return found;
}

/* db's row names host at ep with term. */
static void expect_row(sqlite3 *db, const char *host, const char *ep, int64_t term)
{
	struct row r;

	assert_true(row_read(db, TABLE, &r));
	assert_int_equal(r.count, 1);
	assert_string_equal(r.hostname, host);
	assert_string_equal(r.endpoint, ep);
	assert_int_equal(r.term, term);
}

/* Stamps db and checks the term it reports. */
static void stamp_ok(sqlite3 *db, const char *host, const char *ep, int64_t want_term)
{
	int64_t term = -1;

	assert_int_equal(fwd_tracking_stamp(db, TABLE, host, ep, &term), 0);
	assert_int_equal(term, want_term);
	assert_true(sqlite3_get_autocommit(db));
	expect_row(db, host, ep, want_term);
}

/* The file change counter of the database header (bytes 24..27): grows with every
 * transaction that wrote to the file. */
static uint32_t change_counter(const char *path)
{
	unsigned char h[28];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	close(fd);
	return (uint32_t)h[24] << 24 | (uint32_t)h[25] << 16 | (uint32_t)h[26] << 8 | h[27];
}

static void db_path(char *buf, size_t len, const char *name)
{
	xsnprintf(buf, len, "%s/%s", g_dir, name);
}

/* ---- fwd_tracking_stamp() ------------------------------------------------------------------ */

/* The first stamp creates the table and its one row, term 1, dated now (wall clock, in
 * ms); the table holds one row only (id = 1). */
static void test_stamp_creates_table(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db;
	struct row r;
	int64_t before, after;

	(void)state;
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	exec(db, "CREATE TABLE t(a); INSERT INTO t VALUES (1)");
	assert_false(row_read(db, TABLE, &r));

	before = wall_ms();
	stamp_ok(db, HOST_A, EP_A, 1);
	after = wall_ms();
	assert_true(row_read(db, TABLE, &r));
	assert_true(r.updated_ms >= before && r.updated_ms <= after);

	/* the schema keeps it at one row */
	assert_int_not_equal(sqlite3_exec(db, "INSERT INTO " TABLE
					  " VALUES (2, 'x', 'y', 1, 1)", NULL, NULL, NULL),
			     SQLITE_OK);
	expect_row(db, HOST_A, EP_A, 1);
	/* the program's own data is untouched */
	assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 1);
}

/* A stamp when the row already names this host at this endpoint: the term stays, and
 * nothing is written (no row changed, no commit other connections see, the file header
 * not rewritten, the row's time unchanged). term may be NULL. */
static void test_stamp_same_writes_nothing(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db, *other;
	struct row r1, r2;
	int64_t dv, changes;
	uint32_t counter;

	(void)state;
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	other = db_open(path);
	stamp_ok(db, HOST_A, EP_A, 1);
	assert_true(row_read(db, TABLE, &r1));

	dv = query_int(other, "PRAGMA data_version");
	changes = sqlite3_total_changes(db);
	counter = change_counter(path);
	sleep_ms(5); /* a write would show another updated_ms */

	stamp_ok(db, HOST_A, EP_A, 1);
	assert_int_equal(fwd_tracking_stamp(db, TABLE, HOST_A, EP_A, NULL), 0);
	assert_true(sqlite3_get_autocommit(db));

	assert_int_equal(sqlite3_total_changes(db), changes);
	assert_int_equal(query_int(other, "PRAGMA data_version"), dv);
	assert_int_equal(change_counter(path), counter);
	assert_true(row_read(db, TABLE, &r2));
	assert_int_equal(r2.updated_ms, r1.updated_ms);

	/* whereas a stamp that changes the row is seen by the other connection */
	sleep_ms(2);
	stamp_ok(db, "node-b", EP_A, 2);
	assert_int_not_equal(query_int(other, "PRAGMA data_version"), dv);
	assert_int_not_equal(change_counter(path), counter);
	assert_true(row_read(other, TABLE, &r2));
	assert_true(r2.updated_ms > r1.updated_ms);
}

/* The term grows by one each time the row is taken over: by another hostname, or by the
 * same hostname at another endpoint; a repeat keeps it. The next term follows the row's,
 * whoever wrote it, not anything the stamping side remembers. */
static void test_stamp_terms(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db, *db2;

	(void)state;
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	stamp_ok(db, HOST_A, EP_A, 1);
	stamp_ok(db, "node-b", "tcp://node-b:20208", 2);
	stamp_ok(db, HOST_A, EP_A, 3);
	stamp_ok(db, HOST_A, "tcp://10.0.0.1:20208", 4);
	stamp_ok(db, HOST_A, "tcp://10.0.0.1:20208", 4);
	stamp_ok(db, HOST_A, EP_A, 5);
	stamp_ok(db, "node-b", "tcp://node-b:20208", 6);

	/* a row written by another node (replicated here), then stamped on a connection of
	 * its own */
	exec(db, "UPDATE " TABLE " SET hostname = 'node-c', endpoint = 'tcp://c:1', term = 41");
	db2 = db_open(path);
	stamp_ok(db2, "node-c", "tcp://c:1", 41);
	stamp_ok(db2, HOST_A, EP_A, 42);
	expect_row(db, HOST_A, EP_A, 42);
}

/* A table name that is not a plain SQL name of at most 63 bytes is refused before
 * anything is done: no table, no transaction, no change. */
static void test_stamp_invalid_table(void **state)
{
	char path[PATH_MAX + 16], name64[65], name63[64];
	const char *bad[] = { "a b", "x;drop", "", name64, "1abc", "a-b", "t\"", "x;DROP TABLE t",
			      "a.b" };
	sqlite3 *db;
	int64_t term = 77;

	(void)state;
	memset(name64, 'n', 64);
	name64[64] = '\0';
	memset(name63, 'n', 63);
	name63[63] = '\0';
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	exec(db, "CREATE TABLE t(a)");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fwd_tracking_stamp(db, bad[i], HOST_A, EP_A, &term), -EINVAL);
		assert_true(sqlite3_get_autocommit(db));
	}
	assert_int_equal(term, 77);
	assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master"), 1);
	assert_int_equal(sqlite3_total_changes(db), 0);

	/* the longest plain name is fine */
	assert_int_equal(fwd_tracking_stamp(db, name63, HOST_A, EP_A, &term), 0);
	assert_int_equal(term, 1);
	assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master"), 2);
}

/* Another connection holds the write lock: the stamp gives up at once (busy timeout 0)
 * with -EBUSY, holds no transaction, and succeeds once the lock is released. */
static void test_stamp_busy_writer(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db, *other;
	int64_t term = 77;

	(void)state;
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	other = db_open(path);
	exec(db, "CREATE TABLE t(a)");
	sqlite3_busy_timeout(db, 0);
	exec(other, "BEGIN IMMEDIATE");
	assert_int_equal(fwd_tracking_stamp(db, TABLE, HOST_A, EP_A, &term), -EBUSY);
	assert_true(sqlite3_get_autocommit(db));
	assert_int_equal(term, 77);
	exec(other, "COMMIT");
	assert_false(row_read(other, TABLE, &(struct row){ 0 }));

	stamp_ok(db, HOST_A, EP_A, 1);

	/* the same with a row there: it stays as it was */
	exec(other, "BEGIN IMMEDIATE");
	assert_int_equal(fwd_tracking_stamp(db, TABLE, "node-b", EP_A, &term), -EBUSY);
	assert_true(sqlite3_get_autocommit(db));
	exec(other, "COMMIT");
	expect_row(other, HOST_A, EP_A, 1);
}

/* Busy later than BEGIN: in rollback-journal mode a reader's shared lock lets the stamp
 * write its row but not commit it. The stamp returns -EBUSY and rolls back: no
 * transaction left open on the connection, the row as it was. */
static void test_stamp_busy_at_commit(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db, *reader;
	sqlite3_stmt *st = NULL;

	(void)state;
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	reader = db_open(path);
	assert_int_equal(query_int(db, "SELECT count(*) FROM pragma_journal_mode "
				       "WHERE journal_mode = 'delete'"), 1);
	stamp_ok(db, HOST_A, EP_A, 1);
	sqlite3_busy_timeout(db, 0);

	/* a read transaction holding its shared lock */
	exec(reader, "BEGIN");
	assert_int_equal(sqlite3_prepare_v2(reader, "SELECT term FROM " TABLE, -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	sqlite3_finalize(st);

	assert_int_equal(fwd_tracking_stamp(db, TABLE, "node-b", EP_A, NULL), -EBUSY);
	assert_true(sqlite3_get_autocommit(db));
	exec(reader, "COMMIT");
	expect_row(reader, HOST_A, EP_A, 1);
	expect_row(db, HOST_A, EP_A, 1);

	stamp_ok(db, "node-b", EP_A, 2);
}

/* A table of that name that is not the tracking table: -EIO, rolled back, the table as it
 * was. */
static void test_stamp_foreign_table(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db;

	(void)state;
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	exec(db, "CREATE TABLE " TABLE "(x); INSERT INTO " TABLE " VALUES ('mine')");
	assert_int_equal(fwd_tracking_stamp(db, TABLE, HOST_A, EP_A, NULL), -EIO);
	assert_true(sqlite3_get_autocommit(db));
	assert_int_equal(query_int(db, "SELECT count(*) FROM " TABLE " WHERE x = 'mine'"), 1);
	assert_int_equal(query_int(db, "SELECT count(*) FROM " TABLE), 1);
}

/* A connection opened read-only: the write fails with SQLite's READONLY and no errno,
 * which is not LiteFS refusing it (-EROFS) but an error (-EIO); nothing is left open. */
static void test_stamp_read_only(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db, *ro;
	struct row r;

	(void)state;
	db_path(path, sizeof(path), "app.db");
	db = db_open(path);
	exec(db, "CREATE TABLE t(a)");
	ro = db_open_flags(path, SQLITE_OPEN_READONLY);
	assert_int_equal(fwd_tracking_stamp(ro, TABLE, HOST_A, EP_A, NULL), -EIO);
	assert_true(sqlite3_get_autocommit(ro));
	assert_false(row_read(db, TABLE, &r));
}

/* ---- the tracking thread ------------------------------------------------------------------ */

/* Makes a database with a table of the program's at g_dir/name (outside the mount). */
static void make_db(const char *name)
{
	char path[PATH_MAX + 16];
	sqlite3 *db;

	db_path(path, sizeof(path), name);
	db = db_open(path);
	exec(db, "CREATE TABLE t(a); INSERT INTO t VALUES (42)");
	db_close(db);
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

/* The whole content of path, malloc'd, its size in *n. */
static char *read_all(const char *path, size_t *n)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), (ssize_t)st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return buf;
}

/* Puts a copy of g_dir/src into the mount as name, complete at once (renamed into
 * place: the thread never sees it half written). */
static void put_copy(const char *mnt, const char *src, const char *name)
{
	char from[PATH_MAX + 16], tmp[PATH_MAX + 16], to[PATH_MAX + 300];
	size_t n;
	char *buf;

	db_path(from, sizeof(from), src);
	db_path(tmp, sizeof(tmp), "copy.tmp");
	xsnprintf(to, sizeof(to), "%s/%s", mnt, name);
	buf = read_all(from, &n);
	write_file(tmp, buf, n);
	free(buf);
	assert_int_equal(rename(tmp, to), 0);
}

/* Whether the database at path holds the tracking table. */
static bool has_table(const char *path)
{
	struct row r;

	return row_read_file(path, TABLE, &r);
}

/* Waits up to 5 s until the database at path has its row naming host at ep, and returns
 * its term. */
static int64_t wait_stamped(const char *path, const char *host, const char *ep)
{
	int64_t end = mono_ms() + 5000;
	struct row r;

	for (;;) {
		if (row_read_file(path, TABLE, &r) && r.count == 1 && !strcmp(r.hostname, host) &&
		    !strcmp(r.endpoint, ep))
			return r.term;
		if (mono_ms() > end)
			fail_msg("%s: not stamped with %s at %s within 5 s (row: %s at %s)", path,
				 host, ep, r.hostname, r.endpoint);
		sleep_ms(10);
	}
}

/* The names in dir, sorted, joined with '/', in buf. */
static void list_dir(const char *dir, char *buf, size_t len)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t o = 0;

	assert_true(n >= 0);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(buf + o, len - o, "%s/", names[i]->d_name);

		assert_true(w > 0 && (size_t)w < len - o);
		o += (size_t)w;
		free(names[i]);
	}
	free(names);
}

static void start_tracking(const struct fwd_tracking_opts *o)
{
	assert_null(g_res.tracking);
	assert_int_equal(fwd_tracking_start(o, &g_res.tracking), 0);
	assert_non_null(g_res.tracking);
}

/* Files next to the databases that are not to be stamped: SQLite's and LiteFS's side
 * files and hidden files (each a complete SQLite database here, so that only its name
 * keeps it from being stamped), a text file, an empty file (a database being created),
 * a directory. */
static const char *const skipped[] = {
	"other.db-wal", "other.db-shm", "other.db-journal", "other.db-pos", ".hidden.db",
	"notes.txt", "empty.db",
};
#define NSKIPPED (sizeof(skipped) / sizeof(skipped[0]))

/* While primary (a directory with no .primary, no /info asked) the thread stamps every
 * database of the mount and nothing else; one that appears later is stamped too. When a
 * .primary names another node, nothing is stamped any more; when the node is the primary
 * again, every database is stamped again, also those it stamped before (their row may
 * name another node by then). */
static void test_thread_stamps_while_primary(void **state)
{
	char mnt[PATH_MAX], app[PATH_MAX + 16], second[PATH_MAX + 16], late[PATH_MAX + 16],
	     later[PATH_MAX + 16], pf[PATH_MAX + 16], path[PATH_MAX + 300];
	char before[4096], after[4096];
	char *content[NSKIPPED];
	size_t size[NSKIPPED];
	struct fwd_tracking_opts o = {
		.table = TABLE, .hostname = HOST_A, .endpoint = EP_A, .info_url = NULL,
		.interval_ms = 50,
	};
	sqlite3 *db;
	int64_t t_primary;

	(void)state;
	memset(content, 0, sizeof(content));
	xsnprintf(mnt, sizeof(mnt), "%s/mnt", g_dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	xsnprintf(app, sizeof(app), "%s/app.db", mnt);
	xsnprintf(second, sizeof(second), "%s/second.db", mnt);
	xsnprintf(late, sizeof(late), "%s/late.db", mnt);
	xsnprintf(later, sizeof(later), "%s/later.db", mnt);
	xsnprintf(pf, sizeof(pf), "%s/.primary", mnt);
	make_db("src.db");
	put_copy(mnt, "src.db", "app.db");
	put_copy(mnt, "src.db", "second.db");
	for (size_t i = 0; i < 5; i++)
		put_copy(mnt, "src.db", skipped[i]);
	xsnprintf(path, sizeof(path), "%s/notes.txt", mnt);
	write_file(path, "SQLite format 2 is not this; some text\n", 39);
	xsnprintf(path, sizeof(path), "%s/empty.db", mnt);
	write_file(path, "", 0);
	xsnprintf(path, sizeof(path), "%s/sub", mnt);
	assert_int_equal(mkdir(path, 0755), 0);
	for (size_t i = 0; i < NSKIPPED; i++) {
		xsnprintf(path, sizeof(path), "%s/%s", mnt, skipped[i]);
		content[i] = read_all(path, &size[i]);
	}
	list_dir(mnt, before, sizeof(before));

	o.mount = mnt;
	start_tracking(&o);
	assert_int_equal(wait_stamped(app, HOST_A, EP_A), 1);
	assert_int_equal(wait_stamped(second, HOST_A, EP_A), 1);
	/* the program's data is still there */
	db = db_open_flags(app, SQLITE_OPEN_READONLY);
	assert_int_equal(query_int(db, "SELECT a FROM t"), 42);
	db_close(db);

	/* a few more looks, then: nothing else touched, no file made */
	sleep_ms(200);
	for (size_t i = 0; i < NSKIPPED; i++) {
		size_t n;
		char *now;

		xsnprintf(path, sizeof(path), "%s/%s", mnt, skipped[i]);
		now = read_all(path, &n);
		if (n != size[i] || memcmp(now, content[i], n)) {
			free(now);
			for (size_t j = 0; j < NSKIPPED; j++)
				free(content[j]);
			fail_msg("%s was changed", skipped[i]);
		}
		free(now);
	}
	for (size_t i = 0; i < NSKIPPED; i++)
		free(content[i]);
	list_dir(mnt, after, sizeof(after));
	assert_string_equal(after, before);

	/* a database that appears later: stamped too */
	put_copy(mnt, "src.db", "late.db");
	assert_int_equal(wait_stamped(late, HOST_A, EP_A), 1);

	/* a replica now: a database that appears is not stamped, nor is the row that
	 * another primary wrote meanwhile put back. 250 ms first for a look that began
	 * before .primary was written. */
	write_file(pf, "node-b\n", 7);
	sleep_ms(250);
	db = db_open(app);
	exec(db, "UPDATE " TABLE " SET hostname = 'node-b', endpoint = 'tcp://b:1', term = 7");
	db_close(db);
	put_copy(mnt, "src.db", "later.db");
	sleep_ms(400);
	assert_false(has_table(later));
	{
		struct row r;

		assert_true(row_read_file(app, TABLE, &r));
		assert_string_equal(r.hostname, "node-b");
		assert_int_equal(r.term, 7);
	}

	/* the primary again: every database stamped, the ones stamped before included */
	assert_int_equal(unlink(pf), 0);
	t_primary = mono_ms();
	assert_int_equal(wait_stamped(later, HOST_A, EP_A), 1);
	assert_int_equal(wait_stamped(app, HOST_A, EP_A), 8);
	assert_int_equal(wait_stamped(second, HOST_A, EP_A), 1);
	assert_true(mono_ms() - t_primary < 5000);

	fwd_tracking_stop(g_res.tracking);
	g_res.tracking = NULL;
	for (size_t i = 0; i < 5; i++) {
		xsnprintf(path, sizeof(path), "%s/%s", mnt, skipped[i]);
		assert_false(has_table(path));
	}
}

/* A .primary that names no host (a replica that lost its primary), and a /info that
 * LiteFS does not answer (a mount without .primary is then no proof of being the
 * primary): nothing is stamped. */
static void test_thread_not_primary(void **state)
{
	char mnt[PATH_MAX], mnt2[PATH_MAX], app[PATH_MAX + 16], app2[PATH_MAX + 16],
	     pf[PATH_MAX + 16];
	struct fwd_tracking_opts o = {
		.table = TABLE, .hostname = HOST_A, .endpoint = EP_A, .info_url = "",
		.interval_ms = 50,
	};
	struct fwd_tracking_opts o2;

	(void)state;
	xsnprintf(mnt, sizeof(mnt), "%s/mnt", g_dir);
	xsnprintf(mnt2, sizeof(mnt2), "%s/mnt2", g_dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	assert_int_equal(mkdir(mnt2, 0755), 0);
	xsnprintf(app, sizeof(app), "%s/app.db", mnt);
	xsnprintf(app2, sizeof(app2), "%s/app.db", mnt2);
	xsnprintf(pf, sizeof(pf), "%s/.primary", mnt);
	write_file(pf, "\n", 1);
	make_db("src.db");
	put_copy(mnt, "src.db", "app.db");
	put_copy(mnt2, "src.db", "app.db");

	o.mount = mnt;
	start_tracking(&o);
	/* port 1 on the loopback: refused at once */
	o2 = o;
	o2.mount = mnt2;
	o2.info_url = "http://127.0.0.1:1/info";
	assert_int_equal(fwd_tracking_start(&o2, &g_res.tracking2), 0);
	sleep_ms(400);
	fwd_tracking_stop(g_res.tracking2);
	g_res.tracking2 = NULL;
	assert_false(has_table(app2));
	assert_false(has_table(app));

	/* with .primary gone (and no /info asked), the same mount is the primary's */
	assert_int_equal(unlink(pf), 0);
	assert_int_equal(wait_stamped(app, HOST_A, EP_A), 1);
}

/* A mount that is not there yet: nothing happens until it appears, then it is looked at
 * like any other. */
static void test_thread_mount_appears(void **state)
{
	char mnt[PATH_MAX], app[PATH_MAX + 16];
	struct fwd_tracking_opts o = {
		.table = "tracking_t", .hostname = "node-z", .endpoint = "ipc:///tmp/z.ipc",
		.info_url = NULL, .interval_ms = 50,
	};
	struct row r;

	(void)state;
	xsnprintf(mnt, sizeof(mnt), "%s/mnt", g_dir);
	xsnprintf(app, sizeof(app), "%s/app.db", mnt);
	make_db("src.db");
	o.mount = mnt;
	start_tracking(&o);
	sleep_ms(150);
	assert_int_equal(mkdir(mnt, 0755), 0);
	put_copy(mnt, "src.db", "app.db");
	for (int64_t end = mono_ms() + 5000;; sleep_ms(10)) {
		if (row_read_file(app, "tracking_t", &r) && r.count == 1)
			break;
		assert_true(mono_ms() < end);
	}
	assert_string_equal(r.hostname, "node-z");
	assert_string_equal(r.endpoint, "ipc:///tmp/z.ipc");
	assert_int_equal(r.term, 1);
	assert_false(has_table(app)); /* only the table it was given */
}

/* fwd_tracking_stop() wakes the thread: it returns at once, not after the interval. */
static void test_thread_stops_at_once(void **state)
{
	char mnt[PATH_MAX], app[PATH_MAX + 16];
	struct fwd_tracking_opts o = {
		.table = TABLE, .hostname = HOST_A, .endpoint = EP_A, .info_url = NULL,
		.interval_ms = 20000, /* a stop that waited for it would fail the test */
	};
	int64_t t0;

	(void)state;
	xsnprintf(mnt, sizeof(mnt), "%s/mnt", g_dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	xsnprintf(app, sizeof(app), "%s/app.db", mnt);
	make_db("src.db");
	put_copy(mnt, "src.db", "app.db");
	o.mount = mnt;
	start_tracking(&o);
	/* the first look is at once */
	assert_int_equal(wait_stamped(app, HOST_A, EP_A), 1);
	t0 = mono_ms();
	fwd_tracking_stop(g_res.tracking);
	g_res.tracking = NULL;
	assert_true(mono_ms() - t0 < 3000);

	/* and at once when stopped right after starting */
	start_tracking(&o);
	t0 = mono_ms();
	fwd_tracking_stop(g_res.tracking);
	g_res.tracking = NULL;
	assert_true(mono_ms() - t0 < 3000);
}

/* Options refused: a table that is not a plain name, an interval that is not positive.
 * Nothing is started; stopping nothing is harmless. */
static void test_start_invalid(void **state)
{
	struct fwd_tracking_opts o = {
		.mount = g_dir, .table = TABLE, .hostname = HOST_A, .endpoint = EP_A,
		.info_url = NULL, .interval_ms = 50,
	};
	struct fwd_tracking *t = NULL;

	(void)state;
	o.table = "a b";
	assert_int_equal(fwd_tracking_start(&o, &t), -EINVAL);
	o.table = "";
	assert_int_equal(fwd_tracking_start(&o, &t), -EINVAL);
	o.table = TABLE;
	o.interval_ms = 0;
	assert_int_equal(fwd_tracking_start(&o, &t), -EINVAL);
	o.interval_ms = -5;
	assert_int_equal(fwd_tracking_start(&o, &t), -EINVAL);
	assert_null(t);
	fwd_tracking_stop(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_stamp_creates_table),
		T(test_stamp_same_writes_nothing),
		T(test_stamp_terms),
		T(test_stamp_invalid_table),
		T(test_stamp_busy_writer),
		T(test_stamp_busy_at_commit),
		T(test_stamp_foreign_table),
		T(test_stamp_read_only),
		T(test_thread_stamps_while_primary),
		T(test_thread_not_primary),
		T(test_thread_mount_appears),
		T(test_thread_stops_at_once),
		T(test_start_invalid),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
