/* A program that forks after writing, run under the interposer on a replica.
 *
 *   host_fork DB PREFIX CHILDREN ROWS FORKS DURATION_MS
 *
 * Part one, the pre-fork server: the parent writes (forwarded, so the interposer holds a
 * live connection to the forwarder), forks CHILDREN children, each of which opens its own
 * connection, writes ROWS rows, reads them back and exits 0; the parent waits for them,
 * then writes again on the connection it kept open all along.
 *
 * Part two, fork during forwarding: a writer thread of the parent inserts rows in a loop
 * on a connection of its own while the main thread forks FORKS children one after the
 * other over about DURATION_MS (long enough for the interposer's event thread to be
 * running too), each forked while the writer is inside sqlite3_step(), i.e. somewhere in
 * its forwarding; each child opens
 * its own connection, writes one row and exits 0. A child that does not end within
 * CHILD_WAIT_MS is reported as hung and killed, so that the program itself always ends.
 * The writer reuses one prepared statement on a connection opened with
 * SQLITE_OPEN_NOMUTEX, and SQLite's memory statistics are off: SQLite itself then holds
 * no lock of its own while the writer waits for the primary, and a child can only be
 * blocked by a lock that something else left taken across fork.
 *
 * Lines on stdout, each one write() (no stdio buffer is ever inherited by a child):
 *   ok KEY / fail KEY CODE MSG     an INSERT and its outcome
 *   unseen KEY N                   a row read back N times instead of once
 *   child PART PID exit STATUS     a child ended (STATUS its exit status, or -SIGNAL)
 *   hung PART PID                  a child did not end in time (then killed)
 *   writer ok=N fail=N             the writer thread's tally
 *   forks-while-stepping N         forks of part two made while the writer was inside
 *                                  sqlite3_step() (seen just after the fork returned)
 *   threads N                      the threads of the process at the end of part two
 * Keys: PREFIX-parent-0, PREFIX-parent-1, PREFIX-child-I-R, PREFIX-writer-N,
 * PREFIX-fork-I, PREFIX-parent-2. Exit status 0 when everything succeeded, 1 otherwise,
 * 2 when the program could not run. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host_common.h"

#define BUSY_TIMEOUT_MS 20000
#define CHILD_WAIT_MS 15000
#define MAX_CHILDREN 256

static const char *fork_db_path;
static const char *fork_prefix;
static int fork_failures;           /* main thread only */
static volatile int writer_stop;    /* set by the main thread, read by the writer */
static volatile int writer_count;   /* rows the writer inserted so far */
static volatile int writer_stepping; /* the writer is inside sqlite3_step(): forwarding */

/* Opens DB read-write with extended result codes and a busy timeout; NULL (reported as
 * "fail open-WHO") when it cannot. */
static sqlite3 *open_db(int flags, const char *who)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(fork_db_path, &db, SQLITE_OPEN_READWRITE | flags, NULL);

	if (rc != SQLITE_OK) {
		host_out("fail open-%s %d %s", who, rc, db ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	return db;
}

/* Steps st (bound by the caller) to its end and resets it, reporting KEY's outcome.
 * Returns true when it succeeded. */
static bool step_insert(sqlite3 *db, sqlite3_stmt *st, const char *key)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		host_out("fail %s %d %s", key, rc, sqlite3_errmsg(db));
		return false;
	}
	host_out("ok %s", key);
	return true;
}

/* Inserts KEY with a statement of its own. Returns true when it succeeded. */
static bool insert_key(sqlite3 *db, const char *key, const char *node)
{
	sqlite3_stmt *st = NULL;
	bool ok;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO k(key, node) VALUES (?1, ?2)", -1, &st, NULL);

	if (rc != SQLITE_OK) {
		host_out("fail %s %d %s", key, rc, sqlite3_errmsg(db));
		return false;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
	ok = step_insert(db, st, key);
	sqlite3_finalize(st);
	return ok;
}

/* Reads back how many rows hold KEY; reports anything but one. True when it is one. */
static bool read_back(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM k WHERE key = ?1", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
	}
	if (n != 1)
		host_out("unseen %s %d %s", key, n, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return n == 1;
}

/* The body of a child of part one: its own connection, ROWS rows, each read back. Never
 * returns. */
static void prefork_child(int index, int rows)
{
	char key[160], node[32];
	sqlite3 *db = open_db(0, "child");
	bool all = db != NULL;

	snprintf(node, sizeof(node), "child-%d", index);
	for (int r = 0; db && r < rows; r++) {
		snprintf(key, sizeof(key), "%s-child-%d-%d", fork_prefix, index, r);
		if (!insert_key(db, key, node) || !read_back(db, key))
			all = false;
	}
	if (db && sqlite3_close(db) != SQLITE_OK)
		all = false;
	exit(all ? 0 : 1);
}

/* Waits for child pid at most CHILD_WAIT_MS and reports how it ended; one that does not
 * end is reported as hung and killed. True when it exited 0. */
static bool wait_child(const char *part, pid_t pid)
{
	int64_t deadline = host_now_ms() + CHILD_WAIT_MS;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			host_out("fail waitpid-%d %d %s", (int)pid, errno, strerror(errno));
			return false;
		}
		if (host_now_ms() >= deadline) {
			host_out("hung %s %d", part, (int)pid);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return false;
		}
		usleep(2000);
	}
	if (WIFEXITED(status)) {
		host_out("child %s %d exit %d", part, (int)pid, WEXITSTATUS(status));
		return WEXITSTATUS(status) == 0;
	}
	host_out("child %s %d exit -%d", part, (int)pid, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return false;
}

/* Part one, the pre-fork server: the parent's write, CHILDREN children each writing on a
 * connection of its own, the parent's write after them on the connection it kept. Counts
 * failures in fork_failures. */
static void part_prefork(int children, int rows)
{
	static pid_t pids[MAX_CHILDREN];
	char key[160];
	sqlite3 *db = open_db(0, "parent");

	if (!db) {
		fork_failures++;
		return;
	}
	snprintf(key, sizeof(key), "%s-parent-0", fork_prefix);
	if (!insert_key(db, key, "parent") || !read_back(db, key))
		fork_failures++;
	for (int i = 0; i < children; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			prefork_child(i, rows);
		if (pids[i] < 0) {
			host_out("fail fork %d %s", errno, strerror(errno));
			fork_failures++;
		}
	}
	for (int i = 0; i < children; i++)
		if (pids[i] > 0 && !wait_child("prefork", pids[i]))
			fork_failures++;
	/* the parent's connection, kept open across every fork, goes on */
	snprintf(key, sizeof(key), "%s-parent-1", fork_prefix);
	if (!insert_key(db, key, "parent") || !read_back(db, key))
		fork_failures++;
	if (sqlite3_close(db) != SQLITE_OK)
		fork_failures++;
}

/* The writer of part two: one prepared INSERT, bound and stepped again and again until
 * told to stop. Its tally is printed, its failure count returned through arg. */
static void *writer_main(void *arg)
{
	int *failed = arg, ok = 0;
	bool ok_step;
	sqlite3 *db = open_db(SQLITE_OPEN_NOMUTEX, "writer");
	sqlite3_stmt *st = NULL;
	char key[160];

	if (!db || sqlite3_prepare_v2(db, "INSERT INTO k(key, node) VALUES (?1, 'writer')", -1,
				      &st, NULL) != SQLITE_OK) {
		host_out("fail writer-setup %d %s", db ? sqlite3_errcode(db) : 0,
		    db ? sqlite3_errmsg(db) : "");
		*failed = 1;
		writer_stop = 1;
		sqlite3_close(db);
		return NULL;
	}
	for (int n = 0; !__atomic_load_n(&writer_stop, __ATOMIC_ACQUIRE); n++) {
		snprintf(key, sizeof(key), "%s-writer-%d", fork_prefix, n);
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		__atomic_store_n(&writer_stepping, 1, __ATOMIC_RELEASE);
		ok_step = step_insert(db, st, key);
		__atomic_store_n(&writer_stepping, 0, __ATOMIC_RELEASE);
		if (ok_step)
			ok++;
		else
			(*failed)++;
		__atomic_store_n(&writer_count, n + 1, __ATOMIC_RELEASE);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	host_out("writer ok=%d fail=%d", ok, *failed);
	return NULL;
}

/* Part two: FORKS forks spread over DURATION_MS, each while the writer thread is inside
 * sqlite3_step(); each child writes one row. Counts failures in fork_failures. */
static void part_fork_while_writing(int forks, int duration_ms)
{
	pthread_t writer;
	int writer_failed = 0, in_step = 0;
	int64_t deadline = host_now_ms() + 10000;

	if (pthread_create(&writer, NULL, writer_main, &writer_failed)) {
		host_out("fail writer-thread %d cannot create a thread", SQLITE_ERROR);
		fork_failures++;
		return;
	}
	/* the writer is forwarding once its first rows are in */
	while (__atomic_load_n(&writer_count, __ATOMIC_ACQUIRE) < 3 && !writer_stop &&
	       host_now_ms() < deadline)
		usleep(1000);
	for (int i = 0; i < forks && !writer_stop; i++) {
		int64_t spin_until;
		pid_t pid;

		/* the forks spread over the duration, each at a random point of a forward */
		usleep((useconds_t)(duration_ms * 1000 / (forks ? forks : 1)));
		usleep((useconds_t)(rand() % 1000));
		spin_until = host_now_ms() + 100;
		while (!__atomic_load_n(&writer_stepping, __ATOMIC_ACQUIRE) && host_now_ms() < spin_until)
			;
		pid = fork();
		if (pid > 0 && __atomic_load_n(&writer_stepping, __ATOMIC_ACQUIRE))
			in_step++;
		if (pid == 0) {
			char key[160];
			sqlite3 *db = open_db(0, "fork-child");
			bool ok;

			snprintf(key, sizeof(key), "%s-fork-%d", fork_prefix, i);
			ok = db && insert_key(db, key, "fork-child");
			sqlite3_close(db);
			exit(ok ? 0 : 1);
		}
		if (pid < 0) {
			host_out("fail fork %d %s", errno, strerror(errno));
			fork_failures++;
			continue;
		}
		if (!wait_child("during", pid))
			fork_failures++;
	}
	host_out("threads %d", host_count_threads());
	__atomic_store_n(&writer_stop, 1, __ATOMIC_RELEASE);
	pthread_join(writer, NULL);
	host_out("forks-while-stepping %d", in_step);
	fork_failures += writer_failed;
}

int main(int argc, char **argv)
{
	int children, rows, forks, duration_ms;
	char key[160];
	sqlite3 *db;

	if (argc != 7) {
		fprintf(stderr, "usage: %s DB PREFIX CHILDREN ROWS FORKS DURATION_MS\n", argv[0]);
		return 2;
	}
	fork_db_path = argv[1];
	fork_prefix = argv[2];
	children = atoi(argv[3]);
	rows = atoi(argv[4]);
	forks = atoi(argv[5]);
	duration_ms = atoi(argv[6]);
	if (children < 0 || children > MAX_CHILDREN || rows < 1 || forks < 0 || duration_ms < 0) {
		fprintf(stderr, "%s: CHILDREN 0 to %d, ROWS at least 1, FORKS and DURATION_MS at "
			"least 0\n", argv[0], MAX_CHILDREN);
		return 2;
	}
	/* SQLite's memory statistics take a global mutex around each allocation; off, as a
	 * host program that forks from a threaded process keeps it (before any other call) */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	srand((unsigned)getpid());

	part_prefork(children, rows);
	part_fork_while_writing(forks, duration_ms);

	/* the parent writes once more, after everything */
	db = open_db(0, "parent-end");
	snprintf(key, sizeof(key), "%s-parent-2", fork_prefix);
	if (!db || !insert_key(db, key, "parent") || !read_back(db, key))
		fork_failures++;
	sqlite3_close(db);
	host_out("done failures=%d", fork_failures);
	return fork_failures ? 1 : 0;
}
