/* A program whose system calls are interrupted all the time, run under the interposer on a
 * replica: a SIGALRM handler installed WITHOUT SA_RESTART and an interval timer firing
 * every INTERVAL_US microseconds, while it writes. Every blocking call of the process
 * (poll, connect, recv, sleeps) is thus cut short again and again with EINTR; a write
 * must still succeed exactly once, and never fail because of a signal.
 *
 *   host_signals DB PREFIX INSERTS TXNS INTERVAL_US
 *
 * It makes INSERTS autocommit INSERTs (keys PREFIX-a-N), then TXNS transactions of two
 * INSERTs each (keys PREFIX-t-N-0 and PREFIX-t-N-1; BEGIN for even N, BEGIN IMMEDIATE for
 * odd N), every value bound.
 *
 * Lines on stdout, each one write():
 *   ok KEY / fail KEY CODE MSG      an autocommit INSERT, or a transaction's row (ok once
 *                                   its COMMIT succeeded; fail with the first error)
 *   handler-calls N                 how many times the handler ran
 *   write-ms max=N slow=N           the longest write (a transaction: BEGIN to COMMIT), and
 *                                   how many took 200 ms or more
 *   handler-state same|changed      whether SIGALRM's disposition was still the program's
 * Exit status 0 when every write succeeded, 1 otherwise, 2 when it could not run. */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "host_common.h"

#define BUSY_TIMEOUT_MS 30000
#define SLOW_MS 200

static volatile sig_atomic_t handler_calls;

/* The handler: counts, and leaves errno as it found it. */
static void on_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	handler_calls++;
	errno = saved;
}

/* Runs one statement with an optional bound text parameter to its end. SQLITE_OK or the
 * extended code of its failure. */
static int run(sqlite3 *db, const char *sql, const char *text)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* What the writes amounted to. */
struct tally {
	int failed;
	int64_t max_ms;
	int slow;
};

/* Counts a write that took ms milliseconds in t. */
static void note_time(struct tally *t, int64_t ms)
{
	if (ms > t->max_ms)
		t->max_ms = ms;
	if (ms >= SLOW_MS)
		t->slow++;
}

/* One transaction of two rows; reports both rows. */
static void transaction(sqlite3 *db, const char *prefix, int n, struct tally *t)
{
	char key0[160], key1[160];
	int64_t t0 = host_now_ms();
	int rc;

	snprintf(key0, sizeof(key0), "%s-t-%d-0", prefix, n);
	snprintf(key1, sizeof(key1), "%s-t-%d-1", prefix, n);
	rc = run(db, n % 2 ? "BEGIN IMMEDIATE" : "BEGIN", NULL);
	if (rc == SQLITE_OK)
		rc = run(db, "INSERT INTO k(key, node) VALUES (?1, 'txn')", key0);
	if (rc == SQLITE_OK)
		rc = run(db, "INSERT INTO k(key, node) VALUES (?1, 'txn')", key1);
	if (rc == SQLITE_OK)
		rc = run(db, "COMMIT", NULL);
	note_time(t, host_now_ms() - t0);
	if (rc == SQLITE_OK) {
		host_out("ok %s", key0);
		host_out("ok %s", key1);
		return;
	}
	host_out("fail %s %d %s", key0, rc, sqlite3_errmsg(db));
	host_out("fail %s %d %s", key1, rc, sqlite3_errmsg(db));
	t->failed++;
	if (!sqlite3_get_autocommit(db))
		run(db, "ROLLBACK", NULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa, now;
	struct itimerval itv;
	struct tally t = { 0 };
	sqlite3 *db = NULL;
	int inserts, txns, interval_us, rc;
	const char *prefix;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DB PREFIX INSERTS TXNS INTERVAL_US\n", argv[0]);
		return 2;
	}
	prefix = argv[2];
	inserts = atoi(argv[3]);
	txns = atoi(argv[4]);
	interval_us = atoi(argv[5]);
	if (inserts < 0 || txns < 0 || interval_us < 100) {
		fprintf(stderr, "%s: INSERTS, TXNS at least 0, INTERVAL_US at least 100\n", argv[0]);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: interrupted calls fail with EINTR */
	if (sigaction(SIGALRM, &sa, NULL)) {
		perror("sigaction");
		return 2;
	}

	rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		host_out("fail open %d %s", rc, db ? sqlite3_errmsg(db) : "no memory");
		return 2;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);

	memset(&itv, 0, sizeof(itv));
	itv.it_interval.tv_usec = interval_us % 1000000;
	itv.it_interval.tv_sec = interval_us / 1000000;
	itv.it_value = itv.it_interval;
	if (setitimer(ITIMER_REAL, &itv, NULL)) {
		perror("setitimer");
		return 2;
	}

	for (int i = 0; i < inserts; i++) {
		char key[160];
		int64_t t0 = host_now_ms();

		snprintf(key, sizeof(key), "%s-a-%d", prefix, i);
		rc = run(db, "INSERT INTO k(key, node) VALUES (?1, 'autocommit')", key);
		note_time(&t, host_now_ms() - t0);
		if (rc == SQLITE_OK) {
			host_out("ok %s", key);
		} else {
			host_out("fail %s %d %s", key, rc, sqlite3_errmsg(db));
			t.failed++;
		}
	}
	for (int i = 0; i < txns; i++)
		transaction(db, prefix, i, &t);

	memset(&itv, 0, sizeof(itv));
	setitimer(ITIMER_REAL, &itv, NULL);
	sigaction(SIGALRM, NULL, &now);
	host_out("handler-calls %d", (int)handler_calls);
	host_out("write-ms max=%lld slow=%d", (long long)t.max_ms, t.slow);
	host_out("handler-state %s", now.sa_handler == on_alarm && !(now.sa_flags & SA_RESTART) ?
					"same" : "changed");
	if (sqlite3_close(db) != SQLITE_OK) {
		host_out("fail close %d %s", sqlite3_errcode(db), sqlite3_errmsg(db));
		t.failed++;
	}
	return t.failed ? 1 : 0;
}
