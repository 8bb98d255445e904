/* A chaos writer on one node, run under the interposer: a multi-threaded C program that
 * writes until SIGTERM, each thread with its own connection, half autocommit INSERTs with
 * unique tags, half transfers between accounts (BEGIN; a local read; two UPDATEs; the
 * INSERT of the transfer's tag; COMMIT), every value bound. Every FORK_EVERY operations a
 * thread forks a child that opens its own connection, makes three operations and exits:
 * the pre-fork pattern, after the parent has forwarded writes.
 *
 *   chaos_writer DB PREFIX LOG SEED THREADS FORK_EVERY
 *
 * The log format is e2e/chaos/writer.py's: "B TAG" before an operation, then
 * "E TAG CODE PHASE T0 T1 MESSAGE" (CODE: SQLite's extended result code, 0 when
 * acknowledged; PHASE "c" for the outcome of the committing statement, "b" when a statement
 * before COMMIT failed). Each line is one write() to a file opened with O_APPEND.
 *
 * SQLite is not fork-safe while another thread is inside it (its mutexes would stay locked
 * in the child): threads hold a read lock around their SQLite calls and the forking thread
 * takes the write lock, as a careful host program does. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host_common.h"

#define ACCOUNTS 100

static volatile sig_atomic_t chaos_stop;
static int chaos_log_fd = -1;
static const char *chaos_db_path;
static const char *chaos_prefix;
static pthread_rwlock_t chaos_fork_lock;

struct writer {
	int index;
	unsigned seed;
	int fork_every;
	pthread_t thread;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends one line to the log (host_vline(): lines of concurrent writers, threads or
 * processes, never interleave). */
static __attribute__((format(printf, 1, 2))) void log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	host_vline(chaos_log_fd, fmt, ap);
	va_end(ap);
}

/* A connection to the database, opened again every 100 ms until it opens (never created:
 * the directory of a node whose LiteFS is stopped is empty). NULL once SIGTERM arrived.
 * Called with chaos_fork_lock not held; takes it for reading around SQLite's calls. */
static sqlite3 *writer_connect(void)
{
	while (!chaos_stop) {
		sqlite3 *db = NULL;
		int rc;

		pthread_rwlock_rdlock(&chaos_fork_lock);
		rc = sqlite3_open_v2(chaos_db_path, &db, SQLITE_OPEN_READWRITE, NULL);
		if (rc == SQLITE_OK)
			sqlite3_busy_timeout(db, 10000);
		else
			sqlite3_close(db);
		pthread_rwlock_unlock(&chaos_fork_lock);
		if (rc == SQLITE_OK)
			return db;
		usleep(100000);
	}
	return NULL;
}

/* Runs one statement with up to five integer parameters and an optional text first
 * parameter, stepping it to the end. Returns SQLite's extended result code. */
static int run_sql(sqlite3 *db, const char *sql, const char *text, int n, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc, p = 1;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite3_extended_errcode(db);
	if (text)
		sqlite3_bind_text(st, p++, text, -1, SQLITE_TRANSIENT);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		sqlite3_bind_int(st, p++, va_arg(ap, int));
	va_end(ap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		rc = sqlite3_extended_errcode(db);
	else
		rc = SQLITE_OK;
	sqlite3_finalize(st);
	return rc;
}

static int op_insert(sqlite3 *db, const char *tag)
{
	double t0;
	int rc;

	log_line("B %s", tag);
	t0 = now_s();
	rc = run_sql(db, "INSERT INTO ops(tag, kind) VALUES (?1, 'insert')", tag, 0);
	if (rc == SQLITE_OK)
		log_line("E %s 0 c %.6f %.6f", tag, t0, now_s());
	else
		log_line("E %s %d c %.6f %.6f %s", tag, rc, t0, now_s(), sqlite3_errmsg(db));
	return rc;
}

static int op_transfer(sqlite3 *db, const char *tag, unsigned *seed)
{
	int a = (int)(rand_r(seed) % ACCOUNTS) + 1, b = (int)(rand_r(seed) % (ACCOUNTS - 1)) + 1;
	int amt = (int)(rand_r(seed) % 50) + 1, rc;
	const char *phase = "b";
	double t0;

	if (b >= a)
		b++;
	log_line("B %s", tag);
	t0 = now_s();
	if ((rc = run_sql(db, "BEGIN", NULL, 0)) ||
	    (rc = run_sql(db, "SELECT bal FROM accounts WHERE id = ?1", NULL, 1, a)) ||
	    (rc = run_sql(db, "UPDATE accounts SET bal = bal - ?1 WHERE id = ?2", NULL, 2, amt, a)) ||
	    (rc = run_sql(db, "UPDATE accounts SET bal = bal + ?1 WHERE id = ?2", NULL, 2, amt, b)) ||
	    (rc = run_sql(db, "INSERT INTO ops(tag, kind, a, b, amt) VALUES (?1, 'transfer', ?2, ?3, ?4)",
			  tag, 3, a, b, amt)))
		goto fail;
	phase = "c";
	if ((rc = run_sql(db, "COMMIT", NULL, 0)))
		goto fail;
	log_line("E %s 0 c %.6f %.6f", tag, t0, now_s());
	return SQLITE_OK;
fail:
	log_line("E %s %d %s %.6f %.6f %s", tag, rc, phase, t0, now_s(), sqlite3_errmsg(db));
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* One operation, chosen at random. Returns its result code. */
static int op_any(sqlite3 *db, const char *tag, unsigned *seed)
{
	if (rand_r(seed) % 2)
		return op_insert(db, tag);
	return op_transfer(db, tag, seed);
}

/* The forked child: its own connection, three operations, then _exit (the parent's
 * atexit handlers and buffers are not the child's to run). */
static void child_run(const char *base, unsigned seed)
{
	sqlite3 *db = NULL;
	char tag[300];

	/* the node's LiteFS may be stopped: then the child has nothing to do */
	if (sqlite3_open_v2(chaos_db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		_exit(0);
	sqlite3_busy_timeout(db, 10000);
	for (int j = 0; j < 3; j++) {
		snprintf(tag, sizeof(tag), "%s-c%d", base, j);
		op_any(db, tag, &seed);
	}
	sqlite3_close(db);
	_exit(0);
}

/* Forks a child while no other thread is inside SQLite and waits for it. Returns 0, or -1
 * when fork failed or the child did not exit with status 0. */
static int writer_fork_child(const char *base, unsigned seed)
{
	pid_t pid;
	int status;

	pthread_rwlock_wrlock(&chaos_fork_lock);
	pid = fork();
	if (pid == 0) {
		pthread_rwlock_unlock(&chaos_fork_lock);
		child_run(base, seed);
	}
	pthread_rwlock_unlock(&chaos_fork_lock);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "chaos_writer: child %s ended with status 0x%x\n", base, status);
		return -1;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	sqlite3 *db = writer_connect();
	char tag[256];

	for (long i = 1; db && !chaos_stop; i++) {
		int rc;

		snprintf(tag, sizeof(tag), "%s-t%d-%ld", chaos_prefix, w->index, i);
		pthread_rwlock_rdlock(&chaos_fork_lock);
		rc = op_any(db, tag, &w->seed);
		pthread_rwlock_unlock(&chaos_fork_lock);
		if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_CONSTRAINT) {
			pthread_rwlock_rdlock(&chaos_fork_lock);
			sqlite3_close(db);
			pthread_rwlock_unlock(&chaos_fork_lock);
			usleep(50000);
			db = writer_connect();
		}
		if (w->fork_every > 0 && i % w->fork_every == 0)
			writer_fork_child(tag, w->seed + (unsigned)i);
		usleep((useconds_t)(rand_r(&w->seed) % 20000));
	}
	if (db) {
		pthread_rwlock_rdlock(&chaos_fork_lock);
		sqlite3_close(db);
		pthread_rwlock_unlock(&chaos_fork_lock);
	}
	return NULL;
}

static void on_term(int sig)
{
	(void)sig;
	chaos_stop = 1;
}

int main(int argc, char **argv)
{
	pthread_rwlockattr_t attr;
	struct sigaction sa;
	struct writer *w;
	int threads, fork_every;
	unsigned seed;

	if (argc != 7) {
		fprintf(stderr, "usage: chaos_writer DB PREFIX LOG SEED THREADS FORK_EVERY\n");
		return 2;
	}
	chaos_db_path = argv[1];
	chaos_prefix = argv[2];
	seed = (unsigned)strtoul(argv[4], NULL, 10);
	threads = atoi(argv[5]);
	fork_every = atoi(argv[6]);
	if (threads < 1 || threads > 256)
		return 2;
	chaos_log_fd = open(argv[3], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (chaos_log_fd < 0) {
		perror(argv[3]);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&chaos_fork_lock, &attr);
	w = calloc((size_t)threads, sizeof(*w));
	if (!w)
		return 1;
	for (int i = 0; i < threads; i++) {
		w[i].index = i;
		w[i].seed = seed * 7919u + (unsigned)i;
		w[i].fork_every = fork_every;
		if (pthread_create(&w[i].thread, NULL, writer_main, &w[i])) {
			fprintf(stderr, "chaos_writer: cannot start thread %d\n", i);
			chaos_stop = 1;
			threads = i;
			break;
		}
	}
	for (int i = 0; i < threads; i++)
		pthread_join(w[i].thread, NULL);
	free(w);
	return 0;
}
