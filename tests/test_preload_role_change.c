/* Forwarded writes across a change of primary, where this node is the one promoted or
 * demoted.
 *
 * A write whose outcome is unknown (it was sent, and the primary answered that it may have
 * run) when this node becomes the primary: the primary before it may have committed the
 * write, and this node, now holding every transaction of that primary, holds the record
 * committed with it. The interposer must look there before it runs the statement here:
 *   - recorded: the recorded answer is the statement's (rows changed, rowid), and the
 *     statement does not run a second time;
 *   - not recorded: nothing ran anywhere, the statement runs here, once;
 *   - a record that cannot be decoded: the outcome stays unknown (SQLITE_IOERR), and the
 *     statement does not run here.
 *
 * A transaction that wrote here while this node was the primary, which then became a
 * replica: its next write stays here (a session on the new primary would commit apart
 * from what it wrote here), and so does its end. The other way round, a transaction open
 * as a session on the old primary when this node becomes the primary is lost: none of its
 * later statements runs here, and it is rolled back on the old primary at once.
 *
 * The "replica" is a plain directory whose .primary names q, a scripted forwarder: at the
 * first send of a request it plays the old primary (commits the row and its record into
 * this node's copy, as replication would), then hands the role to this node (removes
 * .primary) and answers "it may have run"; the repeat of the request is answered "not the
 * primary", naming none. The interposer is linked in statically: the test's own SQLite
 * calls go through its hooks, the scripted forwarder's through the real API. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
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
#include "../preload/real.h"
#include "wire.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

#define SCHEMA "CREATE TABLE k(key TEXT);" \
	       "CREATE TABLE " WIRE_RECORD_TABLE "(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, " \
	       "reply BLOB NOT NULL);"

/* What the old primary did with the first send of a request. */
enum q_play {
	Q_COMMITTED,   /* committed the row and its record */
	Q_NOTHING,     /* nothing (it never got to run it) */
	Q_BAD_RECORD,  /* committed the row with a record that cannot be decoded */
	Q_SESSION,     /* opened a session: ran the statement in a transaction, kept open */
};

static char g_dir[PATH_MAX], g_url[PATH_MAX + 32];

static struct {
	int sock;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	enum q_play play;
	const char *key;
	int firsts, repeats; /* sends seen, without and with WIRE_EXEC_REPEAT */
	int rollbacks;       /* Q_SESSION: ROLLBACKs of the session among the firsts */
	uint64_t session;    /* Q_SESSION: the session the first statement opened */
} g_q = { .sock = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

static int write_primary(const char *text)
{
	char path[PATH_MAX + 16];
	size_t n = strlen(text);
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/.primary", g_dir) >= sizeof(path))
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	rc = write(fd, text, n) == (ssize_t)n ? 0 : -1;
	close(fd);
	return rc;
}

/* The old primary's commit of the row key and of reply as the record of id, made through
 * the real API into this node's copy. Returns 0 or -1. */
static int q_commit(const char *key, uint64_t id, const void *reply, size_t len)
{
	char path[PATH_MAX + 16];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	xsnprintf(path, sizeof(path), "%s/t.db", g_dir);
	if (real_sqlite.open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    real_sqlite.exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    real_sqlite.prepare_v2(db, "INSERT INTO k(key) VALUES(?1)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	real_sqlite.bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (real_sqlite.step(st) != SQLITE_DONE)
		goto out;
	real_sqlite.finalize(st);
	st = NULL;
	if (real_sqlite.prepare_v2(db, "INSERT INTO " WIRE_RECORD_TABLE "(id, at, reply) "
				   "VALUES(?1, 0, ?2)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	real_sqlite.bind_int64(st, 1, (sqlite3_int64)id);
	real_sqlite.bind_blob(st, 2, reply, (int)len, SQLITE_STATIC);
	if (real_sqlite.step(st) != SQLITE_DONE)
		goto out;
	rc = real_sqlite.exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
out:
	if (st)
		real_sqlite.finalize(st);
	if (db)
		real_sqlite.close(db);
	return rc;
}

/* Plays the old primary for the first send of request id, then hands the role over.
 * Returns 0 or -1. */
static int q_first(uint64_t id)
{
	struct wire_result r = { .request_id = id, .flags = WIRE_RESULT_ROWID, .rc = SQLITE_DONE,
				 .xrc = SQLITE_DONE, .changes = 1, .total_changes_delta = 1,
				 .last_insert_rowid = 77 };
	static const char garbage[] = "not a message";
	struct wire_buf b = {0};
	int rc = 0;

	if (g_q.play == Q_COMMITTED) {
		rc = wire_encode_result(&b, &r, WIRE_DEFAULT_MAX_MESSAGE);
		if (!rc)
			rc = q_commit(g_q.key, id, b.p, b.len);
	} else if (g_q.play == Q_BAD_RECORD) {
		rc = q_commit(g_q.key, id, garbage, sizeof(garbage));
	}
	wire_buf_free(&b);
	if (!rc) {
		char path[PATH_MAX + 16];

		xsnprintf(path, sizeof(path), "%s/.primary", g_dir);
		rc = unlink(path);
	}
	return rc;
}

static void *q_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct wire_msg m;
		struct wire_buf b = {0};
		void *req = NULL;
		int n = nn_recv(g_q.sock, &req, NN_MSG, 0);

		if (n < 0)
			return NULL;  /* closed */
		if (wire_decode(req, (size_t)n, WIRE_DEFAULT_MAX_MESSAGE, &m) == 0) {
			if (m.type == WIRE_EXEC) {
				uint64_t id = m.u.exec.request_id;

				pthread_mutex_lock(&g_q.mu);
				if (g_q.play == Q_SESSION) {
					struct wire_result r = {
						.request_id = id, .flags = WIRE_RESULT_IN_TXN,
						.rc = SQLITE_DONE, .xrc = SQLITE_DONE, .changes = 1,
						.total_changes_delta = 1,
					};

					g_q.firsts++;
					if (m.u.exec.session_flags & WIRE_SESSION_BEGIN)
						g_q.session = m.u.exec.session_id;
					else if (m.u.exec.session_id == g_q.session &&
						 m.u.exec.sql.n == 8 &&
						 !memcmp(m.u.exec.sql.p, "ROLLBACK", 8))
						g_q.rollbacks++;
					wire_encode_result(&b, &r, WIRE_DEFAULT_MAX_MESSAGE);
				} else if (!(m.u.exec.session_flags & WIRE_EXEC_REPEAT)) {
					struct wire_error e = {
						.request_id = id, .code = EINPROGRESS,
						.message = { .p = "may have run", .n = 12 },
					};

					g_q.firsts++;
					if (q_first(id) == 0)
						wire_encode_error(&b, &e, WIRE_DEFAULT_MAX_MESSAGE);
				} else {
					struct wire_not_primary np = { .request_id = id };

					g_q.repeats++;
					wire_encode_not_primary(&b, &np, WIRE_DEFAULT_MAX_MESSAGE);
				}
				pthread_mutex_unlock(&g_q.mu);
				nn_send(g_q.sock, b.p, b.len, 0);
				wire_buf_free(&b);
			}
			wire_msg_free(&m);
		}
		nn_freemsg(req);
	}
}

static int group_setup(void **state)
{
	char made[PATH_MAX], path[PATH_MAX * 2 + 64];
	sqlite3 *db = NULL;
	int rc;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (tmpdir_make(made, sizeof(made), "test_preload_role_change"))
		return -1;
	/* SQLite reports databases by their resolved path: the mount must be spelled so too. */
	if (!realpath(made, g_dir)) {
		tmpdir_remove(made);
		return -1;
	}
	if ((size_t)snprintf(g_url, sizeof(g_url), "ipc://%s/q.sock", g_dir) >= sizeof(g_url) ||
	    (size_t)snprintf(path, sizeof(path), "q=%s", g_url) >= sizeof(path))
		goto fail;
	/* Read once, at the first SQLite call: before any. The role is read from .primary at
	 * every write, no event thread, the request id sequence in the test's directory. */
	if (setenv("LITEFS_FWD_MOUNT", g_dir, 1) || setenv("LITEFS_FWD_ENDPOINTS", path, 1) ||
	    setenv("LITEFS_FWD_TIMEOUT_MS", "10000", 1) ||
	    setenv("LITEFS_FWD_CACHE_TTL_MS", "0", 1) || setenv("LITEFS_FWD_EVENTS_URL", "", 1) ||
	    setenv("LITEFS_FWD_POLL_MS", "0", 1))
		goto fail;
	if ((size_t)snprintf(path, sizeof(path), "%s/request-ids", g_dir) >= sizeof(path) ||
	    setenv("LITEFS_FWD_ID_FILE", path, 1))
		goto fail;
	/* made while this node is the primary (no .primary yet), so locally */
	xsnprintf(path, sizeof(path), "%s/t.db", g_dir);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, SCHEMA, NULL, NULL, NULL);
	sqlite3_close(db);
	if (rc != SQLITE_OK)
		goto fail;
	g_q.sock = nn_socket(AF_SP, NN_REP);
	if (g_q.sock < 0 || nn_bind(g_q.sock, g_url) < 0 ||
	    pthread_create(&g_q.thread, NULL, q_main, NULL))
		goto fail;
	g_q.started = true;
	return 0;
fail:
	if (g_q.sock >= 0)
		nn_close(g_q.sock);
	g_q.sock = -1;
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
	return g_dir[0] ? tmpdir_remove(g_dir) : 0;
}

/* The rows of k holding key, read on a connection of db's file (a read: local). */
static int64_t count_key(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM k WHERE key = ?1", -1, &st,
					    NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Makes this node a replica of q, scripted to play for key (counts reset), and opens *db
 * on t.db with extended result codes. */
static void open_as_replica(enum q_play play, const char *key, sqlite3 **db)
{
	char path[PATH_MAX + 16];

	pthread_mutex_lock(&g_q.mu);
	g_q.play = play;
	g_q.key = key;
	g_q.firsts = g_q.repeats = g_q.rollbacks = 0;
	g_q.session = 0;
	pthread_mutex_unlock(&g_q.mu);
	assert_int_equal(write_primary("q\n"), 0);
	xsnprintf(path, sizeof(path), "%s/t.db", g_dir);
	assert_int_equal(sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_extended_result_codes(*db, 1);
}

/* Makes this node a replica of q, scripted to play, and inserts key through the
 * interposer: returns step's code; *db is left open for the checks. */
static int insert_as_replica(enum q_play play, const char *key, sqlite3 **db)
{
	sqlite3_stmt *st = NULL;
	int rc;

	open_as_replica(play, key, db);
	sqlite3_set_last_insert_rowid(*db, 5);
	assert_int_equal(sqlite3_prepare_v2(*db, "INSERT INTO k(key) VALUES(?1)", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	pthread_mutex_lock(&g_q.mu);
	assert_int_equal(g_q.firsts, 1);
	assert_true(g_q.repeats >= 1);
	pthread_mutex_unlock(&g_q.mu);
	return rc;
}

/* The old primary committed it: answered from the record, not run again here. */
static void test_recorded_write_not_run_again(void **state)
{
	sqlite3 *db = NULL;

	(void)state;
	assert_int_equal(insert_as_replica(Q_COMMITTED, "committed", &db), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	assert_int_equal(sqlite3_last_insert_rowid(db), 77);
	assert_int_equal(count_key(db, "committed"), 1);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The old primary never ran it: it runs here, once. */
static void test_unrecorded_write_runs_here(void **state)
{
	sqlite3 *db = NULL;

	(void)state;
	assert_int_equal(insert_as_replica(Q_NOTHING, "not-run", &db), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	assert_int_equal(count_key(db, "not-run"), 1);
	assert_int_not_equal(sqlite3_last_insert_rowid(db), 5);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A record that cannot be read as an answer: the outcome stays unknown, and the
 * statement is not run here as well. */
static void test_unreadable_record_outcome_unknown(void **state)
{
	sqlite3 *db = NULL;
	int rc;

	(void)state;
	rc = insert_as_replica(Q_BAD_RECORD, "bad-record", &db);
	assert_int_equal(rc & 0xff, SQLITE_IOERR);
	assert_non_null(strstr(sqlite3_errmsg(db), "may have been applied"));
	assert_int_equal(count_key(db, "bad-record"), 1);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Inserts key on db through the interposer; returns step's code. */
static int insert_key(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO k(key) VALUES(?1)", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc;
}

/* Begun and written here as the primary, then the node is a replica of q: the
 * transaction's next write and its COMMIT run here (nothing reaches q), and both writes
 * commit together (nothing refuses them in this plain directory). */
static void test_txn_that_wrote_here_stays(void **state)
{
	char path[PATH_MAX + 16];
	sqlite3 *db = NULL;

	(void)state;
	pthread_mutex_lock(&g_q.mu);
	g_q.play = Q_NOTHING;
	g_q.firsts = g_q.repeats = 0;
	pthread_mutex_unlock(&g_q.mu);
	xsnprintf(path, sizeof(path), "%s/.primary", g_dir);
	assert_true(unlink(path) == 0 || errno == ENOENT);
	xsnprintf(path, sizeof(path), "%s/t.db", g_dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(insert_key(db, "stays-1"), SQLITE_DONE);
	assert_int_equal(write_primary("q\n"), 0);
	assert_int_equal(insert_key(db, "stays-2"), SQLITE_DONE);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_true(sqlite3_get_autocommit(db));
	pthread_mutex_lock(&g_q.mu);
	assert_int_equal(g_q.firsts + g_q.repeats, 0);
	pthread_mutex_unlock(&g_q.mu);
	assert_int_equal(count_key(db, "stays-1"), 1);
	assert_int_equal(count_key(db, "stays-2"), 1);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Opens db's transaction as a session on q (BEGIN, then an INSERT of key that q takes
 * into the transaction it keeps open), then makes this node the primary. */
static void session_then_promoted(sqlite3 **db, const char *key)
{
	char path[PATH_MAX + 16];

	open_as_replica(Q_SESSION, key, db);
	assert_int_equal(sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(insert_key(*db, key), SQLITE_DONE);
	pthread_mutex_lock(&g_q.mu);
	assert_int_equal(g_q.firsts, 1);
	pthread_mutex_unlock(&g_q.mu);
	xsnprintf(path, sizeof(path), "%s/.primary", g_dir);
	assert_int_equal(unlink(path), 0);
}

/* A transaction open as a session on q when this node becomes the primary: it is lost
 * with q, and its next statements must not run here on their own, in autocommit mode (a
 * transfer's second UPDATE committed without its first). The next write fails with
 * SQLITE_ABORT_ROLLBACK and writes nothing; COMMIT then finds no transaction; nothing more
 * reaches q. */
static void test_session_lost_when_promoted(void **state)
{
	sqlite3 *db = NULL;

	(void)state;
	session_then_promoted(&db, "lost-1");
	assert_int_equal(insert_key(db, "lost-2"), SQLITE_ABORT_ROLLBACK);
	assert_non_null(strstr(sqlite3_errmsg(db), "transaction was lost"));
	assert_true(sqlite3_get_autocommit(db));
	assert_int_not_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(count_key(db, "lost-1"), 0);
	assert_int_equal(count_key(db, "lost-2"), 0);
	/* q got the first write, then the session's ROLLBACK (so that the old primary lets
	 * go of its write lock at once), and nothing else */
	pthread_mutex_lock(&g_q.mu);
	assert_int_equal(g_q.firsts + g_q.repeats, 2);
	assert_int_equal(g_q.rollbacks, 1);
	pthread_mutex_unlock(&g_q.mu);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The same transaction's COMMIT, its next statement: it fails (never reported committed);
 * a ROLLBACK instead succeeds, as the transaction is gone as asked. */
static void test_session_lost_commit_fails_rollback_succeeds(void **state)
{
	sqlite3 *db = NULL;

	(void)state;
	session_then_promoted(&db, "lost-3");
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_ABORT_ROLLBACK);
	assert_true(sqlite3_get_autocommit(db));
	pthread_mutex_lock(&g_q.mu);
	assert_int_equal(g_q.firsts + g_q.repeats, 2);  /* the write, the ROLLBACK; no COMMIT */
	assert_int_equal(g_q.rollbacks, 1);
	pthread_mutex_unlock(&g_q.mu);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	session_then_promoted(&db, "lost-4");
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_true(sqlite3_get_autocommit(db));
	/* the connection goes on in autocommit mode, here, the primary */
	assert_int_equal(insert_key(db, "after-lost"), SQLITE_DONE);
	assert_int_equal(count_key(db, "after-lost"), 1);
	assert_int_equal(count_key(db, "lost-3") + count_key(db, "lost-4"), 0);
	pthread_mutex_lock(&g_q.mu);
	assert_int_equal(g_q.firsts + g_q.repeats, 2);
	assert_int_equal(g_q.rollbacks, 1);
	pthread_mutex_unlock(&g_q.mu);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_write_not_run_again),
		cmocka_unit_test(test_unrecorded_write_runs_here),
		cmocka_unit_test(test_unreadable_record_outcome_unknown),
		cmocka_unit_test(test_txn_that_wrote_here_stays),
		cmocka_unit_test(test_session_lost_when_promoted),
		cmocka_unit_test(test_session_lost_commit_fails_rollback_succeeds),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
