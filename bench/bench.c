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
 *   bench concurrent DB THREADS MS
 *                         THREADS threads, each with a connection of its own, make
 *                         autocommit INSERTs into DB for MS milliseconds; INSERTs per second
 *                         in all, and how many failed
 * Prints one line "name value [value]" for run.sh to collect. */
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct bench_worker {
	const char *path;
	int64_t until_ns;
	long done, failed;
	pthread_t t;
};

static void *bench_worker_main(void *arg)
{
	struct bench_worker *w = arg;
	struct bench_ins b;
	long i = 0;

	if (bench_ins_open(&b, w->path)) {
		w->failed = -1;
		return NULL;
	}
	while (bench_now_ns() < w->until_ns) {
		if (bench_ins_one(&b, i++) < 0)
			w->failed++;
		else
			w->done++;
	}
	bench_ins_close(&b);
	return NULL;
}

static int bench_concurrent(const char *path, int threads, long ms)
{
	struct bench_worker *w = calloc((size_t)threads, sizeof(*w));
	int64_t start = bench_now_ns(), end;
	long done = 0, failed = 0;
	int i;

	if (!w || threads < 1)
		return 1;
	for (i = 0; i < threads; i++) {
		w[i].path = path;
		w[i].until_ns = start + ms * 1000000;
		if (pthread_create(&w[i].t, NULL, bench_worker_main, &w[i]))
			return 1;
	}
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].failed < 0)
			return 1;
		done += w[i].done;
		failed += w[i].failed;
	}
	end = bench_now_ns();
	printf("concurrent %.1f %ld\n", (double)done * 1e9 / (double)(end - start), failed);
	free(w);
	return 0;
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
	if (argc == 5 && !strcmp(argv[1], "concurrent"))
		return bench_concurrent(argv[2], atoi(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: bench reads DB N | writes DB N | rtt N | side LOCAL FWD N | "
		"txn LOCAL FWD ROWS ROUNDS | concurrent DB THREADS MS\n");
	return 2;
}
