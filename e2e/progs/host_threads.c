/* Many threads writing at once, run under the interposer on a replica: either all through
 * ONE connection opened with SQLITE_OPEN_FULLMUTEX ("shared"), the same with every
 * sqlite3_prepare_v2() made while holding the connection's mutex (sqlite3_db_mutex), so
 * that the message of a failed prepare is the thread's own, as SQLite advises for a shared
 * connection ("locked"), or each through its OWN connection ("own"). Every thread inserts
 * ROWS rows with keys of its own, each INSERT in autocommit mode with its values bound,
 * and reads each row back right after writing it (a connection reads its own writes).
 *
 *   host_threads DB shared|locked|own THREADS ROWS PREFIX
 *
 * Lines on stdout, each one write() so that threads never mix them:
 *   ok KEY                 the INSERT of KEY succeeded
 *   fail KEY CODE MSG      it failed with SQLite's extended code CODE
 *   unseen KEY N           after its successful INSERT, the thread read N rows of KEY, not 1
 *   done ok=N fail=N unseen=N
 * Keys are PREFIX-T-R (thread T, row R). Exit status 0 when every INSERT succeeded and
 * (with its own connections) was read back, 1 otherwise, 2 when the program could not run
 * at all. On a shared connection a row not read back yet is reported but does not change
 * the status: read-your-writes holds per connection only while no other statement of it
 * is active, and another thread's statement keeps the connection's read snapshot. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host_common.h"

#define MAX_THREADS 256
#define BUSY_TIMEOUT_MS 30000

/* One writer thread and its tally. */
struct worker {
	int index;
	sqlite3 *db; /* the shared connection, or NULL: the thread opens its own */
	pthread_t thread;
	int ok, fail, unseen;
};

static const char *threads_db_path;
static const char *threads_prefix;
static bool threads_locked_prepare; /* "locked": prepares with the connection's mutex held */
static int threads_rows;
static pthread_barrier_t threads_start;

/* Opens DB read-write with the given threading flag, extended result codes and a busy
 * timeout long enough for 64 writers sharing the primary's write lock. NULL (reported)
 * when it cannot be opened. */
static sqlite3 *open_db(int mutex_flag)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(threads_db_path, &db, SQLITE_OPEN_READWRITE | mutex_flag, NULL);

	if (rc != SQLITE_OK) {
		host_out("fail open %d %s", rc, db ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	return db;
}

/* The message of the connection's last error. On a shared connection another thread may
 * have changed it meanwhile: the code comes from step's own return value, the message is
 * only evidence. */
static void errmsg_copy(sqlite3 *db, char *buf, size_t size)
{
	sqlite3_mutex *m = sqlite3_db_mutex(db);

	if (m)
		sqlite3_mutex_enter(m);
	snprintf(buf, size, "%s", sqlite3_errmsg(db));
	if (m)
		sqlite3_mutex_leave(m);
}

/* Prepares sql on db, copying the message of a failure into msg. In "locked" mode the
 * prepare and the reading of its message are made with the connection's mutex held: the
 * message is then this thread's own. SQLITE_OK or the code of the failure. */
static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *msg, size_t size)
{
	sqlite3_mutex *m = threads_locked_prepare ? sqlite3_db_mutex(db) : NULL;
	int rc;

	if (m)
		sqlite3_mutex_enter(m);
	rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	if (rc != SQLITE_OK)
		errmsg_copy(db, msg, size);
	if (m)
		sqlite3_mutex_leave(m);
	return rc;
}

/* Inserts key with its own statement; SQLITE_OK or the code step returned. */
static int insert_key(sqlite3 *db, const char *key, const char *node, char *msg, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prepare(db, "INSERT INTO k(key, node) VALUES (?1, ?2)", &st, msg, size);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		errmsg_copy(db, msg, size);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* How many rows hold key, read on db; -1 (message in msg) when the read failed. */
static int count_key(sqlite3 *db, const char *key, char *msg, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc, n = -1;

	rc = prepare(db, "SELECT count(*) FROM k WHERE key = ?1", &st, msg, size);
	if (rc != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	else
		errmsg_copy(db, msg, size);
	sqlite3_finalize(st);
	return n;
}

/* One writer: waits for every other thread, then inserts its rows one after the other,
 * each read back at once. Counts its outcomes in w. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sqlite3 *db = w->db;
	char key[128], node[32], msg[512];

	if (!db)
		db = open_db(SQLITE_OPEN_FULLMUTEX);
	pthread_barrier_wait(&threads_start);
	if (!db) {
		w->fail = threads_rows;
		return NULL;
	}
	snprintf(node, sizeof(node), "thread-%d", w->index);
	for (int r = 0; r < threads_rows; r++) {
		int rc, n;

		snprintf(key, sizeof(key), "%s-%d-%d", threads_prefix, w->index, r);
		msg[0] = '\0';
		rc = insert_key(db, key, node, msg, sizeof(msg));
		if (rc != SQLITE_OK) {
			w->fail++;
			host_out("fail %s %d %s", key, rc, msg);
			continue;
		}
		w->ok++;
		host_out("ok %s", key);
		msg[0] = '\0';
		n = count_key(db, key, msg, sizeof(msg));
		if (n != 1) {
			w->unseen++;
			host_out("unseen %s %d %s", key, n, msg);
		}
	}
	if (!w->db)
		sqlite3_close(db);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct worker workers[MAX_THREADS];
	sqlite3 *shared = NULL;
	int nthreads, ok = 0, fail = 0, unseen = 0, started = 0;
	bool own;

	if (argc != 6 ||
	    (strcmp(argv[2], "shared") && strcmp(argv[2], "locked") && strcmp(argv[2], "own"))) {
		fprintf(stderr, "usage: %s DB shared|locked|own THREADS ROWS PREFIX\n", argv[0]);
		return 2;
	}
	threads_db_path = argv[1];
	own = !strcmp(argv[2], "own");
	threads_locked_prepare = !strcmp(argv[2], "locked");
	nthreads = atoi(argv[3]);
	threads_rows = atoi(argv[4]);
	threads_prefix = argv[5];
	if (nthreads < 1 || nthreads > MAX_THREADS || threads_rows < 1) {
		fprintf(stderr, "%s: THREADS must be 1 to %d, ROWS at least 1\n", argv[0], MAX_THREADS);
		return 2;
	}
	if (!own && !(shared = open_db(SQLITE_OPEN_FULLMUTEX)))
		return 2;
	pthread_barrier_init(&threads_start, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		workers[i].index = i;
		workers[i].db = shared;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
			/* the barrier counts every thread: without them all, none would start */
			host_out("fail thread-%d %d cannot create a thread", i, SQLITE_ERROR);
			return 2;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(workers[i].thread, NULL);
		ok += workers[i].ok;
		fail += workers[i].fail;
		unseen += workers[i].unseen;
	}
	pthread_barrier_destroy(&threads_start);
	if (shared && sqlite3_close(shared) != SQLITE_OK)
		host_out("fail close %d %s", sqlite3_errcode(shared), sqlite3_errmsg(shared));
	host_out("done ok=%d fail=%d unseen=%d", ok, fail, unseen);
	return fail || (own && unseen) ? 1 : 0;
}
