/* Group commit in the forwarder (forwarder/batch.c, and its use in forwarder/exec.c):
 * writes to one database that arrive while another commit runs share the next commit, and
 * each keeps exactly the outcome it would have had alone in autocommit mode. The outcomes
 * of a batch are compared with the same statements run one by one by plain SQLite, in the
 * order the batch ran them; the statements SQLite cannot keep apart in one transaction run
 * alone after it. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
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

#include <sqlite3.h>

#include "tmpdir.h"

/* By path: other parts of the tree have headers of the same names on the include path. */
#include "../forwarder/batch.h"
#include "../forwarder/exec.h"
#include "../forwarder/log.h"
#include "wire.h"

#define MAX WIRE_DEFAULT_MAX_MESSAGE
#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

static char g_dir[PATH_MAX];

/* What a test holds that must not outlive it: released by test_teardown(). */
static struct {
	struct fwd_exec exec;
	bool exec_open;
	sqlite3 *holder;          /* a connection holding the write lock */
	pthread_t threads[64];
	int nthreads;
} g_res;

static int group_setup(void **state)
{
	(void)state;
	fwd_log_set_level(FWD_LOG_ERROR);
	return tmpdir_make(g_dir, sizeof(g_dir), "test_group_commit") ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

static int test_teardown(void **state)
{
	(void)state;
	/* the lock first: the threads may be waiting for it */
	if (g_res.holder)
		sqlite3_close_v2(g_res.holder);
	for (int i = 0; i < g_res.nthreads; i++)
		pthread_join(g_res.threads[i], NULL);
	if (g_res.exec_open)
		fwd_exec_close(&g_res.exec);
	memset(&g_res, 0, sizeof(g_res));
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void db_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

/* Every row of every table of path, in order, as text (the record of requests left out). */
static char *dump_db(const char *path)
{
	static const char *const q[] = {
		"SELECT 't', id, k, v FROM t ORDER BY id",
		"SELECT 'ch', id, pid, NULL FROM ch ORDER BY id",
		"SELECT 'made', rowid, x, NULL FROM made_in_batch ORDER BY rowid",
	};
	size_t cap = 4096, len = 0;
	char *out = calloc(1, cap);
	sqlite3 *db;

	assert_non_null(out);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) != SQLITE_OK) {
			len += (size_t)snprintf(out + len, cap - len, "%s: none\n", q[i]);
			continue;
		}
		while (sqlite3_step(st) == SQLITE_ROW) {
			assert_true(len + 256 < cap);
			len += (size_t)snprintf(out + len, cap - len, "%s %lld %s %s\n",
						sqlite3_column_text(st, 0),
						sqlite3_column_int64(st, 1),
						sqlite3_column_text(st, 2) ?
						(const char *)sqlite3_column_text(st, 2) : "NULL",
						sqlite3_column_text(st, 3) ?
						(const char *)sqlite3_column_text(st, 3) : "NULL");
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return out;
}

/* ---- the queue alone ---------------------------------------------------------------------- */

#define QUEUE_JOBS 48

struct queue_job {
	struct fwd_batch_job base;
	int index;
	int runs;                 /* how many times a batch ran it */
	size_t batch_size;
};

static struct fwd_batch g_queue;
static atomic_int g_queue_running;  /* batches running at once */
static int g_queue_overlap;

static void queue_run(struct fwd_batch_job **jobs, size_t n)
{
	if (atomic_fetch_add(&g_queue_running, 1) != 0)
		g_queue_overlap++;
	for (size_t i = 0; i < n; i++) {
		struct queue_job *j = (struct queue_job *)jobs[i];

		j->runs++;
		j->batch_size = n;
	}
	sleep_ms(2);  /* a commit: the others arrive meanwhile */
	atomic_fetch_sub(&g_queue_running, 1);
}

static void *queue_thread(void *arg)
{
	fwd_batch_submit(&g_queue, arg, queue_run);
	return NULL;
}

/* Every job runs exactly once, one batch at a time, and jobs that arrive during a batch
 * share the next. */
static void test_queue(void **state)
{
	struct queue_job jobs[QUEUE_JOBS] = { 0 };
	size_t batches, total, waiting, largest = 0;

	(void)state;
	fwd_batch_init(&g_queue);
	for (int i = 0; i < QUEUE_JOBS; i++) {
		jobs[i].index = i;
		assert_int_equal(pthread_create(&g_res.threads[g_res.nthreads++], NULL,
						queue_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < g_res.nthreads; i++)
		pthread_join(g_res.threads[i], NULL);
	g_res.nthreads = 0;
	for (int i = 0; i < QUEUE_JOBS; i++) {
		assert_int_equal(jobs[i].runs, 1);
		if (jobs[i].batch_size > largest)
			largest = jobs[i].batch_size;
	}
	assert_int_equal(g_queue_overlap, 0);
	fwd_batch_totals(&g_queue, &batches, &total, &waiting);
	assert_int_equal(total, QUEUE_JOBS);
	assert_int_equal(waiting, 0);
	assert_true(largest > 1);
	assert_true(batches < QUEUE_JOBS);
	fwd_batch_destroy(&g_queue);
}

/* ---- one batch, compared with SQLite one statement at a time ------------------------------- */

#define SCHEMA "PRAGMA journal_mode=WAL;" \
	"CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v);" \
	"INSERT INTO t(id, k) VALUES (100, 'dup');" \
	"CREATE TABLE p(id INTEGER PRIMARY KEY);" \
	"CREATE TABLE ch(id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p(id) " \
	"DEFERRABLE INITIALLY DEFERRED);"

struct gjob {
	const char *sql;
	uint32_t conn_flags;
	bool alone;               /* SQLite cannot keep it apart: runs after the batch */
	bool kept;                /* committed with its record */
	/* filled by the thread */
	uint64_t id;
	uint32_t flags;
	struct wire_buf reply;
	int rc;
	bool executed, wrote, done;
};

/* Request 1 leads a batch of its own (it waits for the lock the test holds) while the rest
 * queue behind it and then run as one batch. */
static struct gjob g_jobs[] = {
	{ .sql = "INSERT INTO t(k, v) VALUES ('lead', 0)", .kept = true },
	{ .sql = "INSERT INTO t(k, v) VALUES ('a', 1)", .kept = true },
	/* a constraint failure is committed with its record (ON CONFLICT FAIL keeps rows) */
	{ .sql = "INSERT INTO t(k) VALUES ('dup')", .kept = true },
	{ .sql = "INSERT OR ROLLBACK INTO t(k) VALUES ('dup')", .alone = true },
	{ .sql = "INSERT INTO t(k, v) VALUES ('b', 2)", .kept = true },
	{ .sql = "INSERT INTO ch(pid) VALUES (999)", .conn_flags = WIRE_CONN_FOREIGN_KEYS,
	  .alone = true },
	{ .sql = "INSERT OR FAIL INTO t(k) VALUES ('c'), ('dup'), ('d')", .kept = true },
	{ .sql = "UPDATE t SET v = v + 10 WHERE k IN ('a', 'b') RETURNING id, v", .kept = true },
	{ .sql = "INSERT INTO nosuch VALUES (1)" },
	{ .sql = "DELETE FROM t WHERE k = 'b'", .kept = true },
	{ .sql = "CREATE TABLE made_in_batch(x)", .kept = true },
	{ .sql = "INSERT INTO made_in_batch VALUES (last_insert_rowid())", .kept = true },
	{ .sql = "INSERT INTO ch(pid) VALUES (NULL)", .conn_flags = WIRE_CONN_FOREIGN_KEYS,
	  .kept = true },
	{ .sql = "INSERT INTO t(k) VALUES ('after'), ('after')", .kept = true },
	/* request 1 again: answered from its record */
	{ .sql = "INSERT INTO t(k, v) VALUES ('lead', 0)", .flags = WIRE_EXEC_REPEAT },
};
#define NJOBS (sizeof(g_jobs) / sizeof(g_jobs[0]))

static void *gjob_thread(void *arg)
{
	struct gjob *j = arg;
	struct wire_exec e = { .request_id = j->id, .busy_timeout_ms = 5000,
			       .session_flags = j->flags, .conn_flags = j->conn_flags };
	bool refused;

	e.db.p = "g.db";
	e.db.n = 4;
	e.sql.p = j->sql;
	e.sql.n = (uint32_t)strlen(j->sql);
	j->rc = fwd_exec_run(&g_res.exec, &e, MAX, &j->reply, &j->executed, &j->wrote, &refused);
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Writes in the queue of g.db now, plus the one leading the first batch. */
static size_t queued_now(void)
{
	size_t batches, writes, waiting;

	fwd_exec_batch_totals(&g_res.exec, "g.db", &batches, &writes, &waiting);
	return waiting + batches;
}

/* What plain SQLite shows of sql run alone in autocommit mode on db. */
struct seen {
	int rc, xrc;
	char msg[256];
	int64_t changes, rowid;
	char rows[256];
};

static void local_run(sqlite3 *db, const struct gjob *j, struct seen *s)
{
	sqlite3_stmt *st = NULL;
	size_t len = 0;

	memset(s, 0, sizeof(*s));
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FKEY,
			  (j->conn_flags & WIRE_CONN_FOREIGN_KEYS) ? 1 : 0, (int *)NULL);
	sqlite3_set_last_insert_rowid(db, 0);
	s->rc = sqlite3_prepare_v2(db, j->sql, -1, &st, NULL);
	if (s->rc == SQLITE_OK) {
		while ((s->rc = sqlite3_step(st)) == SQLITE_ROW)
			for (int c = 0; c < sqlite3_column_count(st); c++)
				len += (size_t)snprintf(s->rows + len, sizeof(s->rows) - len,
							"%lld,", sqlite3_column_int64(st, c));
	}
	s->xrc = sqlite3_extended_errcode(db);
	snprintf(s->msg, sizeof(s->msg), "%s", s->rc == SQLITE_DONE ? "" : sqlite3_errmsg(db));
	s->changes = sqlite3_changes64(db);
	s->rowid = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);
}

static void assert_same(const struct gjob *j, const struct seen *s, uint64_t txid_kept)
{
	struct wire_msg m;
	const struct wire_result *r;
	char rows[256] = "";
	size_t len = 0;

	assert_int_equal(j->rc, 0);
	assert_int_equal(wire_decode(j->reply.p, j->reply.len, MAX, &m), 0);
	assert_int_equal(m.type, WIRE_RESULT);
	r = &m.u.result;
	if (r->rc != s->rc || r->xrc != s->xrc)
		fail_msg("'%s': codes %d/%d, alone %d/%d (%.*s)", j->sql, r->rc, r->xrc, s->rc,
			 s->xrc, (int)r->errmsg.n, r->errmsg.p);
	if (s->rc != SQLITE_DONE) {
		assert_int_equal(r->errmsg.n, strlen(s->msg));
		assert_memory_equal(r->errmsg.p, s->msg, r->errmsg.n);
	}
	if (s->rc != SQLITE_ERROR || strncmp(s->msg, "no such table", 13)) {
		/* prepared: the counts as SQLite gave them */
		if (r->changes != s->changes || !!(r->flags & WIRE_RESULT_ROWID) != (s->rowid != 0))
			fail_msg("'%s': changes %lld rowid %s%lld, alone %lld %lld", j->sql,
				 (long long)r->changes, r->flags & WIRE_RESULT_ROWID ? "" : "unset ",
				 (long long)r->last_insert_rowid, (long long)s->changes,
				 (long long)s->rowid);
		if (s->rowid && r->last_insert_rowid != s->rowid)
			fail_msg("'%s': rowid %lld, alone %lld", j->sql,
				 (long long)r->last_insert_rowid, (long long)s->rowid);
	}
	for (uint32_t i = 0; i < r->nrows * r->ncols; i++)
		len += (size_t)snprintf(rows + len, sizeof(rows) - len, "%lld,",
					(long long)r->cells[i].u.i);
	assert_string_equal(rows, s->rows);
	if (j->kept)
		assert_true(r->txid == txid_kept);
	assert_int_equal(j->wrote, j->kept);
	wire_msg_free(&m);
}

static void test_batch_fidelity(void **state)
{
	char mnt[PATH_MAX], path[PATH_MAX + 16], pos[PATH_MAX + 16], local[PATH_MAX + 16];
	size_t batches, writes, waiting, order[NJOBS], norder = 0;
	struct seen seen[NJOBS];
	sqlite3 *ref;
	char *da, *db;

	(void)state;
	xsnprintf(mnt, sizeof(mnt), "%s/fidelity", g_dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	xsnprintf(path, sizeof(path), "%s/g.db", mnt);
	xsnprintf(pos, sizeof(pos), "%s/g.db-pos", mnt);
	xsnprintf(local, sizeof(local), "%s/local.db", g_dir);
	assert_int_equal(sqlite3_open(path, &g_res.holder), SQLITE_OK);
	db_exec(g_res.holder, SCHEMA);
	assert_int_equal(sqlite3_open(local, &ref), SQLITE_OK);
	db_exec(ref, SCHEMA);
	{
		FILE *f = fopen(pos, "w");

		assert_non_null(f);
		fputs("0000000000000010/e04fc44716e5272f\n", f);
		fclose(f);
	}
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;

	/* The leader waits for the lock; the others queue behind it, one after the other. */
	db_exec(g_res.holder, "BEGIN IMMEDIATE");
	for (size_t i = 0; i < NJOBS; i++) {
		struct gjob *j = &g_jobs[i];

		j->id = i == NJOBS - 1 ? 1 : i + 1;
		assert_int_equal(pthread_create(&g_res.threads[g_res.nthreads++], NULL,
						gjob_thread, j), 0);
		for (int k = 0; k < 2000 && queued_now() != i + 1; k++)
			sleep_ms(1);
		assert_int_equal(queued_now(), i + 1);
	}
	assert_false(__atomic_load_n(&g_jobs[0].done, __ATOMIC_ACQUIRE));
	db_exec(g_res.holder, "COMMIT");
	for (int i = 0; i < g_res.nthreads; i++)
		pthread_join(g_res.threads[i], NULL);
	g_res.nthreads = 0;
	fwd_exec_batch_totals(&g_res.exec, "g.db", &batches, &writes, &waiting);
	assert_int_equal(batches, 2);
	assert_int_equal(writes, NJOBS);
	assert_int_equal(waiting, 0);

	/* The order they ran in: the leader, the batch, then those run alone after it. */
	order[norder++] = 0;
	for (size_t i = 1; i < NJOBS - 1; i++)
		if (!g_jobs[i].alone)
			order[norder++] = i;
	for (size_t i = 1; i < NJOBS - 1; i++)
		if (g_jobs[i].alone)
			order[norder++] = i;
	for (size_t k = 0; k < norder; k++)
		local_run(ref, &g_jobs[order[k]], &seen[order[k]]);
	sqlite3_close(ref);
	assert_same(&g_jobs[0], &seen[0], 0x11);
	for (size_t i = 1; i < NJOBS - 1; i++)
		assert_same(&g_jobs[i], &seen[i], 0x12);

	/* request 1 asked again: its recorded reply, byte for byte, nothing run */
	assert_int_equal(g_jobs[NJOBS - 1].rc, 0);
	assert_false(g_jobs[NJOBS - 1].executed);
	assert_int_equal(g_jobs[NJOBS - 1].reply.len, g_jobs[0].reply.len);
	assert_memory_equal(g_jobs[NJOBS - 1].reply.p, g_jobs[0].reply.p, g_jobs[0].reply.len);

	/* the same data as SQLite one statement at a time, and a record of exactly the
	 * statements whose changes stayed */
	da = dump_db(path);
	db = dump_db(local);
	assert_string_equal(da, db);
	free(da);
	free(db);
	{
		sqlite3_stmt *st;
		size_t n = 0;

		assert_int_equal(sqlite3_prepare_v2(g_res.holder, "SELECT id FROM "
						    "_litefs_fwd_requests ORDER BY id", -1, &st,
						    NULL), SQLITE_OK);
		for (size_t i = 0; i < NJOBS - 1; i++) {
			if (!g_jobs[i].kept)
				continue;
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			assert_true((uint64_t)sqlite3_column_int64(st, 0) == g_jobs[i].id);
			n++;
		}
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		assert_true(n > 5);
	}
	for (size_t i = 0; i < NJOBS; i++)
		wire_buf_free(&g_jobs[i].reply);
}

/* ---- many writers at once ------------------------------------------------------------------ */

#define STRESS_THREADS 8
#define STRESS_EACH 60

struct stress {
	int index;
	int ok, failed;
	char err[256];
};

static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	struct wire_buf b = { 0 };

	for (int i = 0; i < STRESS_EACH; i++) {
		/* every fifth key is taken already: UNIQUE fails, nothing written */
		int64_t key = i % 5 == 4 ? 0 : (int64_t)s->index * 1000 + i;
		struct wire_value v = { .type = WIRE_INTEGER, .u.i = key };
		struct wire_exec e = {
			.request_id = (uint64_t)s->index * 1000 + (uint64_t)i + 1,
			.busy_timeout_ms = 5000, .nparams = 1, .params = &v,
			.last_insert_rowid = -1,
		};
		bool executed, wrote, refused;
		struct wire_msg m;

		e.db.p = "s.db";
		e.db.n = 4;
		e.sql.p = "INSERT INTO s(id, k) VALUES (?1 * 2, ?1)";
		e.sql.n = (uint32_t)strlen(e.sql.p);
		b.len = 0;
		if (fwd_exec_run(&g_res.exec, &e, MAX, &b, &executed, &wrote, &refused) ||
		    wire_decode(b.p, b.len, MAX, &m) || m.type != WIRE_RESULT) {
			snprintf(s->err, sizeof(s->err), "request %d: no result", i);
			break;
		}
		if (key == 0) {
			/* committed with its record all the same (see exec_outcome_keeps()) */
			if (m.u.result.xrc != SQLITE_CONSTRAINT_UNIQUE || !wrote ||
			    m.u.result.changes != 0 || (m.u.result.flags & WIRE_RESULT_ROWID))
				snprintf(s->err, sizeof(s->err), "duplicate %d: %d", i,
					 m.u.result.xrc);
			s->failed++;
		} else {
			/* the rowid is that of the row, which holds the key times two */
			if (m.u.result.rc != SQLITE_DONE || !wrote || m.u.result.changes != 1 ||
			    !(m.u.result.flags & WIRE_RESULT_ROWID) ||
			    m.u.result.last_insert_rowid != key * 2)
				snprintf(s->err, sizeof(s->err), "insert %d: rc %d rowid %lld",
					 i, m.u.result.rc,
					 (long long)m.u.result.last_insert_rowid);
			s->ok++;
		}
		wire_msg_free(&m);
		if (s->err[0])
			break;
	}
	wire_buf_free(&b);
	return NULL;
}

static void test_many_writers(void **state)
{
	char mnt[PATH_MAX], path[PATH_MAX + 16];
	struct stress st[STRESS_THREADS] = { 0 };
	size_t batches, writes, waiting;
	int ok = 0;

	(void)state;
	xsnprintf(mnt, sizeof(mnt), "%s/many", g_dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	xsnprintf(path, sizeof(path), "%s/s.db", mnt);
	assert_int_equal(sqlite3_open(path, &g_res.holder), SQLITE_OK);
	/* the rowid is derived from the key, so that each reply's rowid can be checked */
	db_exec(g_res.holder, "PRAGMA journal_mode=WAL;"
		"CREATE TABLE s(id INTEGER PRIMARY KEY, k INTEGER UNIQUE);"
		"INSERT INTO s(id, k) VALUES (-1, 0);");
	assert_int_equal(fwd_exec_init(&g_res.exec, mnt), 0);
	g_res.exec_open = true;
	for (int i = 0; i < STRESS_THREADS; i++) {
		st[i].index = i + 1;
		assert_int_equal(pthread_create(&g_res.threads[g_res.nthreads++], NULL,
						stress_thread, &st[i]), 0);
	}
	for (int i = 0; i < g_res.nthreads; i++)
		pthread_join(g_res.threads[i], NULL);
	g_res.nthreads = 0;
	for (int i = 0; i < STRESS_THREADS; i++) {
		if (st[i].err[0])
			fail_msg("writer %d: %s", i, st[i].err);
		ok += st[i].ok;
	}
	fwd_exec_batch_totals(&g_res.exec, "s.db", &batches, &writes, &waiting);
	assert_int_equal(writes, STRESS_THREADS * STRESS_EACH);
	assert_true(batches < writes);
	{
		sqlite3_stmt *q;

		assert_int_equal(sqlite3_prepare_v2(g_res.holder, "SELECT (SELECT count(*) FROM s), "
						    "(SELECT count(*) FROM _litefs_fwd_requests)",
						    -1, &q, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(q, 0), ok + 1);
		assert_int_equal(sqlite3_column_int(q, 1), STRESS_THREADS * STRESS_EACH);
		sqlite3_finalize(q);
	}
	print_message("%d writes in %zu batches\n", STRESS_THREADS * STRESS_EACH, batches);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_queue, test_teardown),
		cmocka_unit_test_teardown(test_batch_fidelity, test_teardown),
		cmocka_unit_test_teardown(test_many_writers, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
