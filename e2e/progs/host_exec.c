/* A program that runs other programs after writing, run under the interposer on a
 * replica: its children inherit LD_PRELOAD, and their writes must be forwarded too.
 *
 *   host_exec DB PREFIX              the parent
 *   host_exec --child DB KEY         a child: writes KEY, says what LD_PRELOAD it saw
 *
 * The parent writes PREFIX-parent-1, then, one after the other and waiting for each:
 *   - fork + execvp of this same program in child mode, writing PREFIX-exec-self;
 *   - fork + execvp of the sqlite3 shell (found on PATH), writing PREFIX-exec-sqlite3;
 *   - system() running the sqlite3 shell, writing PREFIX-system, and printing the
 *     LD_PRELOAD that shell saw;
 * then writes PREFIX-parent-2.
 *
 * Lines on stdout, each one write():
 *   preload VALUE                 the parent's LD_PRELOAD at its start ("(unset)" if none)
 *   ok KEY / fail KEY CODE MSG    an INSERT made by this program (parent or child mode)
 *   child-preload VALUE           the LD_PRELOAD a child in child mode saw
 *   system-preload VALUE          the LD_PRELOAD the shell run by system() saw
 *   status WHAT STATUS            how a child ended: exec-self, exec-sqlite3, system
 *                                 (its exit status, or -SIGNAL)
 *   preload-after VALUE           the parent's LD_PRELOAD at its end
 * Exit status 0 when everything succeeded, 1 otherwise, 2 when the program could not
 * run. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_common.h"

#define BUSY_TIMEOUT_MS 10000

/* The value of LD_PRELOAD, or "(unset)". */
static const char *preload_value(void)
{
	const char *v = getenv("LD_PRELOAD");

	return v ? v : "(unset)";
}

/* Opens db_path, inserts KEY (node NODE) and closes it. Reports the outcome. True when
 * the INSERT succeeded. */
static bool write_key(const char *db_path, const char *key, const char *node)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
		rc = sqlite3_prepare_v2(db, "INSERT INTO k(key, node) VALUES (?1, ?2)", -1, &st, NULL);
	}
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (rc == SQLITE_OK)
		host_out("ok %s", key);
	else
		host_out("fail %s %d %s", key, rc, db ? sqlite3_errmsg(db) : "no memory");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc == SQLITE_OK;
}

/* Reports how a child ended (waited for here) as "status WHAT STATUS". True when it
 * exited 0. */
static bool report_status(const char *what, int status)
{
	if (status != -1 && WIFEXITED(status)) {
		host_out("status %s %d", what, WEXITSTATUS(status));
		return WEXITSTATUS(status) == 0;
	}
	host_out("status %s -%d", what, status != -1 && WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return false;
}

/* fork + execvp(argv[0], argv), then waits for the child. True when it exited 0. */
static bool run_child(const char *what, char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		host_out("fail fork-%s %d %s", what, errno, strerror(errno));
		return false;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		host_out("fail exec-%s %d %s", what, errno, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	return report_status(what, status);
}

/* This program's own path, for exec'ing itself. */
static bool self_path(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* The parent: its writes around the three children (see the top of the file). Returns
 * the exit status. */
static int parent_main(const char *db_path, const char *prefix)
{
	char key[256], sql[512], cmd[PATH_MAX + 1024], self[PATH_MAX];
	const char *before = preload_value();
	char *before_copy = strdup(before);
	bool all = true;
	int status;

	if (strchr(db_path, '\'') || strchr(prefix, '\'')) {
		fprintf(stderr, "host_exec: DB and PREFIX may not hold a quote\n");
		return 2;
	}
	host_out("preload %s", before);
	snprintf(key, sizeof(key), "%s-parent-1", prefix);
	all &= write_key(db_path, key, "parent");

	/* this program again, in child mode */
	snprintf(key, sizeof(key), "%s-exec-self", prefix);
	if (self_path(self, sizeof(self))) {
		char *argv[] = { self, "--child", (char *)db_path, key, NULL };

		all &= run_child("exec-self", argv);
	} else {
		host_out("fail readlink %d %s", errno, strerror(errno));
		all = false;
	}

	/* the sqlite3 shell */
	snprintf(sql, sizeof(sql), "INSERT INTO k(key, node) VALUES ('%s-exec-sqlite3', 'sqlite3');",
		 prefix);
	{
		char *argv[] = { "sqlite3", "-batch", "-bail", "-cmd", ".timeout 10000",
				 (char *)db_path, sql, NULL };

		all &= run_child("exec-sqlite3", argv);
	}

	/* system(): /bin/sh -c, which runs the shell, which says what it saw */
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 -batch -bail -cmd '.timeout 10000' '%s' "
		 "\"INSERT INTO k(key, node) VALUES ('%s-system', 'system');\" && "
		 "printf 'system-preload %%s\\n' \"${LD_PRELOAD-(unset)}\"",
		 db_path, prefix);
	status = system(cmd);
	all &= report_status("system", status);

	snprintf(key, sizeof(key), "%s-parent-2", prefix);
	all &= write_key(db_path, key, "parent");
	host_out("preload-after %s", preload_value());
	if (!before_copy || strcmp(before_copy, preload_value()))
		all = false;
	free(before_copy);
	return all ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--child")) {
		host_out("child-preload %s", preload_value());
		return write_key(argv[2], argv[3], "child") ? 0 : 1;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: %s DB PREFIX | %s --child DB KEY\n", argv[0], argv[0]);
		return 2;
	}
	return parent_main(argv[1], argv[2]);
}
