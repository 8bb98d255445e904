/* A program that leaves SIGPIPE at its default action (death), run under the interposer on
 * a replica while the connections the interposer writes to break under it. A write must
 * then either succeed or fail with SQLITE_BUSY ("nothing was sent"), never kill the
 * program, and the program's signal state must be as it set it.
 *
 *   host_sigpipe DB PREFIX DIR
 *
 * The program and the test take turns through files in DIR: the program writes
 * DIR/ready-N when it has finished phase N, and waits for DIR/go-N (at most 30 s) before
 * phase N+1.
 *   phase 1: writes PREFIX-1 (the interposer connects to the forwarder);
 *   phase 2: writes PREFIX-2 (the forwarder was killed and started again meanwhile: the
 *            interposer's idle connection is broken); a write failing with SQLITE_BUSY
 *            is tried again, up to 20 times; then writes PREFIX-big, a row with a
 *            BIG_BYTES blob (a forwarder that takes no message that large drops the
 *            connection while it is being written);
 *   phase 3: writes PREFIX-3 (the forwarder is down: SQLITE_BUSY expected);
 *   phase 4: writes PREFIX-3 again if it failed (the forwarder is back).
 * Every phase ends with a check of SIGPIPE: its disposition still SIG_DFL, the signal
 * mask the one the program set, SIGPIPE not pending.
 *
 * Lines on stdout, each one write():
 *   ok KEY / fail KEY CODE MSG      each attempt at a write
 *   signals PHASE disposition=default|changed mask=same|changed pending=no|yes
 * Exit status 0 when phases 1, 2 and 4 wrote their rows and the signal state never
 * changed, 1 otherwise, 2 when the program could not run. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_common.h"

#define BUSY_TIMEOUT_MS 5000
#define BIG_BYTES (16 << 20)
#define GO_WAIT_S 30
#define BUSY_RETRIES 20

static const char *sigpipe_dir;
static sigset_t sigpipe_mask; /* the mask the program set */

/* Creates DIR/ready-N: phase N is over. */
static void say_ready(int phase)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/ready-%d", sigpipe_dir, phase);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

/* Waits for DIR/go-N to exist. False after GO_WAIT_S seconds. */
static bool wait_go(int phase)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/go-%d", sigpipe_dir, phase);
	for (int i = 0; i < GO_WAIT_S * 100; i++) {
		if (stat(path, &st) == 0)
			return true;
		usleep(10000);
	}
	host_out("fail go-%d %d no go file after %d s", phase, SQLITE_ERROR, GO_WAIT_S);
	return false;
}

/* Reports SIGPIPE's state after phase N. True when it is as the program set it. */
static bool check_signals(int phase)
{
	struct sigaction sa;
	sigset_t mask, pending;
	bool dfl, same = true, pend;

	sigaction(SIGPIPE, NULL, &sa);
	dfl = sa.sa_handler == SIG_DFL && !(sa.sa_flags & SA_SIGINFO);
	sigprocmask(SIG_BLOCK, NULL, &mask);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&mask, s) != sigismember(&sigpipe_mask, s))
			same = false;
	sigpending(&pending);
	pend = sigismember(&pending, SIGPIPE) == 1;
	host_out("signals %d disposition=%s mask=%s pending=%s", phase, dfl ? "default" : "changed",
	    same ? "same" : "changed", pend ? "yes" : "no");
	return dfl && same && !pend;
}

/* Inserts KEY with VALUE bound (a blob of size bytes when blob is not NULL). Reports the
 * outcome; returns SQLITE_OK or the extended code. */
static int insert(sqlite3 *db, const char *key, const void *blob, int size)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO k(key, node) VALUES (?1, ?2)", -1, &st, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		if (blob)
			sqlite3_bind_blob(st, 2, blob, size, SQLITE_STATIC);
		else
			sqlite3_bind_text(st, 2, "sigpipe", -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc == SQLITE_OK)
		host_out("ok %s", key);
	else
		host_out("fail %s %d %s", key, rc, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* Inserts KEY, trying again while it fails with SQLITE_BUSY. SQLITE_OK or the last code. */
static int insert_retrying(sqlite3 *db, const char *key)
{
	int rc = SQLITE_BUSY;

	for (int i = 0; i < BUSY_RETRIES && (rc & 0xff) == SQLITE_BUSY; i++) {
		if (i)
			usleep(250000);
		rc = insert(db, key, NULL, 0);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	char key[160];
	unsigned char *big;
	bool all = true;
	sqlite3 *db = NULL;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: %s DB PREFIX DIR\n", argv[0]);
		return 2;
	}
	sigpipe_dir = argv[3];

	/* SIGPIPE at its default action and not blocked, whatever was inherited */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_BLOCK, NULL, &sigpipe_mask);
	sigdelset(&sigpipe_mask, SIGPIPE);
	sigprocmask(SIG_SETMASK, &sigpipe_mask, NULL);

	big = malloc(BIG_BYTES);
	if (!big)
		return 2;
	for (size_t i = 0; i < BIG_BYTES; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);

	rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		host_out("fail open %d %s", rc, db ? sqlite3_errmsg(db) : "no memory");
		return 2;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);

	/* phase 1 */
	snprintf(key, sizeof(key), "%s-1", argv[2]);
	all &= insert(db, key, NULL, 0) == SQLITE_OK;
	all &= check_signals(1);
	say_ready(1);

	/* phase 2: the connection broke while it was idle */
	if (!wait_go(1))
		return 1;
	snprintf(key, sizeof(key), "%s-2", argv[2]);
	all &= insert_retrying(db, key) == SQLITE_OK;
	snprintf(key, sizeof(key), "%s-big", argv[2]);
	insert(db, key, big, BIG_BYTES);
	all &= check_signals(2);
	say_ready(2);

	/* phase 3: the forwarder is down */
	if (!wait_go(2))
		return 1;
	snprintf(key, sizeof(key), "%s-3", argv[2]);
	rc = insert(db, key, NULL, 0);
	all &= check_signals(3);
	say_ready(3);

	/* phase 4: it is back */
	if (!wait_go(3))
		return 1;
	if (rc != SQLITE_OK)
		all &= insert_retrying(db, key) == SQLITE_OK;
	all &= check_signals(4);

	free(big);
	if (sqlite3_close(db) != SQLITE_OK)
		all = false;
	return all ? 0 : 1;
}
