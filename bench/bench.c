/* Micro-benchmarks for the forwarding path, run by bench/run.sh under different set-ups so
 * that every figure is measured side by side in one run.
 *   bench reads DB N      N point SELECTs by key (prepare once, step/reset); ns per query
 *   bench writes DB N     N autocommit INSERTs; p50 and p99 latency in microseconds
 *   bench rtt N           N bare nanomsg REQ/REP round trips of 64 bytes on loopback TCP
 *   bench txn LOCAL FWD ROWS ROUNDS
 *                         ROUNDS rounds of: one transaction of ROWS INSERTs (one prepared
 *                         statement, stepped with new bindings) into LOCAL, then the same
 *                         into FWD; the median milliseconds of each
 *   bench side LOCAL FWD N
 *                         N rounds of: an INSERT into LOCAL, an INSERT into FWD and a bare
 *                         round trip, in turn, so that all three see the same load; p50 and
 *                         p99 of each in microseconds
 *   bench concurrent DB THREADS MS [SYNCHRONOUS]
 *                         THREADS threads, each with a connection of its own, make
 *                         autocommit INSERTs into DB for MS milliseconds; INSERTs per second
 *                         in all, how many failed, and the slowest writer's INSERTs per
 *                         second (a writer that starves shows there)
 *   bench processes DB PROCS MS [SYNCHRONOUS]
 *                         the same with PROCS processes (forked), one connection each
 * SYNCHRONOUS (off, normal, full or extra) sets PRAGMA synchronous on each connection;
 * without it SQLite's default stays. In both concurrent forms every writer opens its
 * connection first, then all start together and stop at the same deadline; the rate is the
 * sum of each writer's INSERTs over its own elapsed time (from the common start to the end of
 * its last INSERT), so the slow start of many processes on few cores is not counted as work.
 * Prints one line "name value [value]" for run.sh to collect. */
#include <limits.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void bench_percentiles(const char *name, int64_t *ns, long n)
{
	qsort(ns, (size_t)n, sizeof(*ns), bench_cmp);
	printf("%s %.1f %.1f\n", name, ns[n / 2] / 1000.0, ns[(n * 99) / 100] / 1000.0);
}

static int bench_reads(const char *path, long n)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t t0;
	long sum = 0;

	/* kv is made by run.sh: the loop is the same SQL with and without the interposer */
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	if (sqlite3_prepare_v2(db, "SELECT v FROM kv WHERE k = ?", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		int rc;

		sqlite3_bind_int64(st, 1, i % 1000);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			sum += sqlite3_column_int(st, 0);
		else if (rc != SQLITE_DONE) {
			fprintf(stderr, "select: %s (%d)\n", sqlite3_errmsg(db), rc);
			return 1;
		}
		sqlite3_reset(st);
	}
	printf("reads %.1f\n", (double)(bench_now_ns() - t0) / (double)n);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return sum < 0;
}

static int bench_writes(const char *path, long n)
{
	int64_t *lat = calloc((size_t)n, sizeof(*lat));
	sqlite3 *db;
	sqlite3_stmt *st;

	if (!lat || sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "INSERT INTO w(v) VALUES (?)", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	for (long i = 0; i < n; i++) {
		int64_t t0 = bench_now_ns();
		int rc;

		sqlite3_bind_int64(st, 1, i);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
			return 1;
		}
		lat[i] = bench_now_ns() - t0;
	}
	bench_percentiles("writes", lat, n);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(lat);
	return 0;
}

static void *bench_rep(void *arg)
{
	int s = *(int *)arg;

	for (;;) {
		char *msg = NULL;
		int n = nn_recv(s, &msg, NN_MSG, 0);

		if (n < 0)
			break;
		nn_send(s, &msg, NN_MSG, 0);
	}
	return NULL;
}

static int bench_rtt(long n)
{
	const char *url = "tcp://127.0.0.1:20299";
	int rep = nn_socket(AF_SP, NN_REP), req = nn_socket(AF_SP, NN_REQ);
	int64_t *lat = calloc((size_t)n, sizeof(*lat));
	char buf[64] = {0}, in[64];
	pthread_t t;

	if (rep < 0 || req < 0 || !lat || nn_bind(rep, url) < 0 || nn_connect(req, url) < 0)
		return 1;
	pthread_create(&t, NULL, bench_rep, &rep);
	for (long i = 0; i < n; i++) {
		int64_t t0 = bench_now_ns();

		if (nn_send(req, buf, sizeof(buf), 0) < 0 || nn_recv(req, in, sizeof(in), 0) < 0)
			return 1;
		lat[i] = bench_now_ns() - t0;
	}
	bench_percentiles("rtt", lat, n);
	nn_term();
	pthread_join(t, NULL);
	free(lat);
	return 0;
}

struct bench_ins {
	sqlite3 *db;
	sqlite3_stmt *st;
};

static int bench_ins_open(struct bench_ins *b, const char *path)
{
	if (sqlite3_open(path, &b->db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(b->db, 5000);
	if (sqlite3_prepare_v2(b->db, "INSERT INTO w(v) VALUES (?)", -1, &b->st, NULL) != SQLITE_OK) {
		fprintf(stderr, "prepare %s: %s\n", path, sqlite3_errmsg(b->db));
		return -1;
	}
	return 0;
}

/* One INSERT; its latency in ns, or -1. */
static int64_t bench_ins_one(struct bench_ins *b, long i)
{
	int64_t t0 = bench_now_ns();
	int rc;

	sqlite3_bind_int64(b->st, 1, i);
	rc = sqlite3_step(b->st);
	sqlite3_reset(b->st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "insert: %s\n", sqlite3_errmsg(b->db));
		return -1;
	}
	return bench_now_ns() - t0;
}

static void bench_ins_close(struct bench_ins *b)
{
	sqlite3_finalize(b->st);
	sqlite3_close(b->db);
}

/* One transaction of rows INSERTs into b; milliseconds, or -1. */
static double bench_txn_one(struct bench_ins *b, long rows)
{
	int64_t t0 = bench_now_ns();

	if (sqlite3_exec(b->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	for (long i = 0; i < rows; i++)
		if (bench_ins_one(b, i) < 0)
			return -1;
	if (sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "commit: %s\n", sqlite3_errmsg(b->db));
		return -1;
	}
	return (double)(bench_now_ns() - t0) / 1e6;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int bench_txn(const char *local, const char *fwd, long rows, long rounds)
{
	double *l = calloc((size_t)rounds, sizeof(*l)), *f = calloc((size_t)rounds, sizeof(*f));
	struct bench_ins bl, bf;

	if (!l || !f || rounds < 1 || bench_ins_open(&bl, local) || bench_ins_open(&bf, fwd))
		return 1;
	for (long r = 0; r < rounds; r++) {
		l[r] = bench_txn_one(&bl, rows);
		f[r] = bench_txn_one(&bf, rows);
		if (l[r] < 0 || f[r] < 0)
			return 1;
	}
	qsort(l, (size_t)rounds, sizeof(*l), bench_cmp_double);
	qsort(f, (size_t)rounds, sizeof(*f), bench_cmp_double);
	printf("txn %.2f %.2f\n", l[rounds / 2], f[rounds / 2]);
	bench_ins_close(&bf);
	bench_ins_close(&bl);
	free(l);
	free(f);
	return 0;
}

static int bench_side(const char *local, const char *fwd, long n)
{
	const char *url = "tcp://127.0.0.1:20298";
	int64_t *lat = calloc((size_t)n * 3, sizeof(*lat));
	int rep = nn_socket(AF_SP, NN_REP), req = nn_socket(AF_SP, NN_REQ);
	struct bench_ins l, f;
	char buf[64] = {0}, in[64];
	pthread_t t;

	if (!lat || rep < 0 || req < 0 || nn_bind(rep, url) < 0 || nn_connect(req, url) < 0 ||
	    bench_ins_open(&l, local) || bench_ins_open(&f, fwd))
		return 1;
	pthread_create(&t, NULL, bench_rep, &rep);
	for (long i = 0; i < n; i++) {
		for (int k = 0; k < 3; k++) {
			int which = (int)((i + k) % 3);
			int64_t t0 = bench_now_ns(), d;

			if (which == 0) {
				d = bench_ins_one(&l, i);
			} else if (which == 1) {
				d = bench_ins_one(&f, i);
			} else {
				if (nn_send(req, buf, sizeof(buf), 0) < 0 ||
				    nn_recv(req, in, sizeof(in), 0) < 0)
					return 1;
				d = bench_now_ns() - t0;
			}
			if (d < 0)
				return 1;
			lat[(size_t)which * (size_t)n + (size_t)i] = d;
		}
	}
	printf("side");
	for (int k = 0; k < 3; k++) {
		int64_t *a = lat + (size_t)k * (size_t)n;

		qsort(a, (size_t)n, sizeof(*a), bench_cmp);
		printf(" %.1f %.1f", a[n / 2] / 1000.0, a[(n * 99) / 100] / 1000.0);
	}
	printf("\n");
	bench_ins_close(&f);
	bench_ins_close(&l);
	nn_term();
	pthread_join(t, NULL);
	free(lat);
	return 0;
}

/* One writer of the concurrent forms: its connection, then what it did in the window. */
struct bench_writer {
	struct bench_ins b;
	long done, failed;
	int64_t end_ns;
};

/* Opens w's connection to path with PRAGMA synchronous=sync unless sync is NULL. */
static int bench_writer_open(struct bench_writer *w, const char *path, const char *sync)
{
	char sql[64];

	memset(w, 0, sizeof(*w));
	if (bench_ins_open(&w->b, path))
		return -1;
	if (!sync)
		return 0;
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", sync);
	if (sqlite3_exec(w->b.db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(w->b.db));
		return -1;
	}
	return 0;
}

/* Autocommit INSERTs until the deadline; the connection is closed afterwards. */
static void bench_writer_run(struct bench_writer *w, int64_t until_ns)
{
	long i = 0;

	while (bench_now_ns() < until_ns) {
		if (bench_ins_one(&w->b, i++) < 0)
			w->failed++;
		else
			w->done++;
	}
	w->end_ns = bench_now_ns();
	bench_ins_close(&w->b);
}

/* This writer's INSERTs per second over its own window, from the common start. */
static double bench_writer_rate(const struct bench_writer *w, int64_t start_ns)
{
	return w->end_ns > start_ns ? (double)w->done * 1e9 / (double)(w->end_ns - start_ns) : 0;
}

struct bench_thread {
	struct bench_writer w;
	const char *path, *sync;
	int open_failed;
	pthread_barrier_t *ready, *go;
	const int64_t *until_ns;   /* written by the main thread between the two barriers */
	pthread_t t;
};

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;

	t->open_failed = bench_writer_open(&t->w, t->path, t->sync) != 0;
	/* every thread reaches both barriers, even one that failed, or the others would hang */
	pthread_barrier_wait(t->ready);
	pthread_barrier_wait(t->go);
	if (!t->open_failed)
		bench_writer_run(&t->w, *t->until_ns);
	return NULL;
}

static int bench_concurrent(const char *path, int threads, long ms, const char *sync)
{
	struct bench_thread *t = threads > 0 ? calloc((size_t)threads, sizeof(*t)) : NULL;
	pthread_barrier_t ready, go;
	int64_t start, until;
	long failed = 0;
	double rate = 0, slowest = -1;
	int i, bad = 0;

	if (!t || pthread_barrier_init(&ready, NULL, (unsigned)threads + 1) ||
	    pthread_barrier_init(&go, NULL, (unsigned)threads + 1))
		return 1;
	for (i = 0; i < threads; i++) {
		t[i].path = path;
		t[i].sync = sync;
		t[i].ready = &ready;
		t[i].go = &go;
		t[i].until_ns = &until;
		if (pthread_create(&t[i].t, NULL, bench_thread_main, &t[i])) {
			fprintf(stderr, "bench: cannot start thread %d\n", i);
			exit(1);  /* the threads started wait at a barrier that will never fill */
		}
	}
	pthread_barrier_wait(&ready);
	start = bench_now_ns();
	until = start + ms * 1000000;
	pthread_barrier_wait(&go);
	for (i = 0; i < threads; i++) {
		double r;

		pthread_join(t[i].t, NULL);
		r = bench_writer_rate(&t[i].w, start);
		bad |= t[i].open_failed;
		rate += r;
		if (slowest < 0 || r < slowest)
			slowest = r;
		failed += t[i].w.failed;
	}
	pthread_barrier_destroy(&ready);
	pthread_barrier_destroy(&go);
	free(t);
	if (bad)
		return 1;
	printf("concurrent %.1f %ld %.1f\n", rate, failed, slowest);
	return 0;
}

/* What a child of bench_processes() reports through the result pipe (one write, well under
 * PIPE_BUF, so the children's reports never interleave). */
struct bench_report {
	long done, failed;
	int64_t end_ns;
	int open_failed;
};

static int bench_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int bench_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A forked writer: opens its own connection (after the fork, so nothing of SQLite or the
 * interposer is shared with the parent), says it is ready, waits for the common start time,
 * writes until the common deadline and reports. */
static void bench_child(const char *path, const char *sync, long ms, int ready, int go, int res)
{
	struct bench_writer w;
	struct bench_report r = {0};
	int64_t start;
	char c = 0;

	r.open_failed = bench_writer_open(&w, path, sync) != 0;
	/* once ready, the end is closed: should a child die before it is ready, the parent then
	 * reads end-of-file instead of waiting forever, and its exit releases the others */
	if (bench_write_full(ready, &c, 1) || close(ready) ||
	    bench_read_full(go, &start, sizeof(start)))
		_exit(1);
	if (!r.open_failed) {
		bench_writer_run(&w, start + ms * 1000000);
		r.done = w.done;
		r.failed = w.failed;
		r.end_ns = w.end_ns;
	}
	_exit(bench_write_full(res, &r, sizeof(r)) ? 1 : 0);
}

static int bench_processes(const char *path, int procs, long ms, const char *sync)
{
	int ready[2], go[2], res[2];
	int64_t start, *starts;
	long failed = 0;
	double rate = 0, slowest = -1;
	int i, bad = 0;

	/* all the start times go out in one write, which must not block or split */
	if (procs < 1 || (size_t)procs * sizeof(start) > PIPE_BUF) {
		fprintf(stderr, "bench: 1 to %zu processes\n", PIPE_BUF / sizeof(start));
		return 1;
	}
	if (pipe(ready) || pipe(go) || pipe(res))
		return 1;
	fflush(NULL);
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			/* the children forked so far see the start pipe close and exit */
			return 1;
		}
		if (pid == 0) {
			close(ready[0]);
			close(go[1]);
			close(res[0]);
			bench_child(path, sync, ms, ready[1], go[0], res[1]);
		}
	}
	close(ready[1]);
	close(go[0]);
	close(res[1]);
	for (i = 0; i < procs; i++) {
		char c;

		if (bench_read_full(ready[0], &c, 1))
			return 1;
	}
	starts = calloc((size_t)procs, sizeof(*starts));
	if (!starts)
		return 1;
	start = bench_now_ns();
	for (i = 0; i < procs; i++)
		starts[i] = start;
	if (bench_write_full(go[1], starts, (size_t)procs * sizeof(*starts)))
		return 1;
	for (i = 0; i < procs; i++) {
		struct bench_report r;
		struct bench_writer w = {0};
		double one;

		if (bench_read_full(res[0], &r, sizeof(r)))
			return 1;
		bad |= r.open_failed;
		w.done = r.done;
		w.end_ns = r.end_ns;
		one = bench_writer_rate(&w, start);
		rate += one;
		if (slowest < 0 || one < slowest)
			slowest = one;
		failed += r.failed;
	}
	for (i = 0; i < procs; i++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	}
	free(starts);
	close(ready[0]);
	close(go[1]);
	close(res[0]);
	if (bad)
		return 1;
	printf("processes %.1f %ld %.1f\n", rate, failed, slowest);
	return 0;
}

/* The optional SYNCHRONOUS argument: NULL when absent, or argv's word when it is valid. */
static int bench_sync_arg(int argc, char **argv, int at, const char **sync)
{
	static const char *const ok[] = {"off", "normal", "full", "extra"};

	*sync = NULL;
	if (argc <= at)
		return 0;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcasecmp(argv[at], ok[i])) {
			*sync = ok[i];
			return 0;
		}
	fprintf(stderr, "bench: synchronous wants off, normal, full or extra, not '%s'\n", argv[at]);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "reads"))
		return bench_reads(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "writes"))
		return bench_writes(argv[2], atol(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "txn"))
		return bench_txn(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "side"))
		return bench_side(argv[2], argv[3], atol(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "rtt"))
		return bench_rtt(atol(argv[2]));
	if ((argc == 5 || argc == 6) &&
	    (!strcmp(argv[1], "concurrent") || !strcmp(argv[1], "processes"))) {
		const char *sync;

		if (bench_sync_arg(argc, argv, 5, &sync))
			return 2;
		if (!strcmp(argv[1], "concurrent"))
			return bench_concurrent(argv[2], atoi(argv[3]), atol(argv[4]), sync);
		return bench_processes(argv[2], atoi(argv[3]), atol(argv[4]), sync);
	}
	fprintf(stderr, "usage: bench reads DB N | writes DB N | rtt N | side LOCAL FWD N | "
		"txn LOCAL FWD ROWS ROUNDS | concurrent DB THREADS MS [SYNCHRONOUS] | "
		"processes DB PROCS MS [SYNCHRONOUS]\n");
	return 2;
}
