/* The forwarder's shared-memory guard (forwarder/shmguard.c): when the <db>-shm that
 * SQLite mapped goes from under it (here: truncated, which makes the mapping fault as a
 * stopped file system does), the statement fails with an I/O error instead of the process
 * dying of SIGBUS, every connection sharing that memory fails until all of them are
 * closed, a connection opened then finds every committed row; and a SIGBUS anywhere else
 * still ends the process. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "tmpdir.h"

#include "../forwarder/shmguard.h"
#include "../forwarder/walwrite.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

static char g_dir[PATH_MAX];

/* Connections a test opened, closed by the teardown even when an assertion failed. */
static struct {
	sqlite3 *db[4];
	int n;
} g_res;

/* The guard's SIGBUS action, taken in main() before cmocka runs anything: cmocka puts its
 * own handler in place while each test function runs (and its own back afterwards), so each
 * test puts the guard's back first. */
static struct sigaction g_guard;

static int sg_setup(void **state)
{
	(void)state;
	return tmpdir_make(g_dir, sizeof(g_dir), "test_shmguard");
}

static int sg_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

static int test_teardown(void **state)
{
	(void)state;
	while (g_res.n > 0)
		sqlite3_close(g_res.db[--g_res.n]);
	return 0;
}

static sqlite3 *open_db(const char *name)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;

	xsnprintf(path, sizeof(path), "%s/%s", g_dir, name);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 FWD_WALWRITE_VFS), SQLITE_OK);
	assert_true(g_res.n < 4);
	g_res.db[g_res.n++] = db;
	return db;
}

/* Closes every connection the test opened. */
static void close_all(void)
{
	while (g_res.n > 0)
		assert_int_equal(sqlite3_close(g_res.db[--g_res.n]), SQLITE_OK);
}

static void run(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
}

/* The result code of counting t's rows; *n the count when it is SQLITE_OK. */
static int count_rows(sqlite3 *db, sqlite3_int64 *n)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sqlite3_extended_errcode(db);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW ? SQLITE_OK : sqlite3_extended_errcode(db);
	sqlite3_finalize(st);
	return rc;
}

static void test_guard_is_the_default_vfs(void **state)
{
	(void)state;
	assert_string_equal(sqlite3_vfs_find(NULL)->zName, FWD_SHMGUARD_VFS);
}

static void test_lost_shm_fails_statements_not_the_process(void **state)
{
	char shm[PATH_MAX];
	sqlite3 *a, *b, *c, *d;
	sqlite3_int64 n = -1;
	size_t before = fwd_shmguard_rescues();
	int rc;

	(void)state;
	assert_int_equal(sigaction(SIGBUS, &g_guard, NULL), 0);
	a = open_db("lost.db");
	run(a, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);"
	       "INSERT INTO t VALUES (1), (2), (3);");
	b = open_db("lost.db");
	assert_int_equal(count_rows(b, &n), SQLITE_OK);
	assert_int_equal(n, 3);

	xsnprintf(shm, sizeof(shm), "%s/lost.db-shm", g_dir);
	assert_int_equal(truncate(shm, 0), 0);

	rc = count_rows(a, &n);
	assert_int_equal(rc & 0xff, SQLITE_IOERR);
	assert_int_equal(fwd_shmguard_rescues(), before + 1);
	/* the connection sharing that memory fails too, and so does one opened meanwhile */
	assert_int_equal(count_rows(b, &n) & 0xff, SQLITE_IOERR);
	c = open_db("lost.db");
	assert_int_equal(count_rows(c, &n) & 0xff, SQLITE_IOERR);
	(void)c;
	/* with all of them closed, a new connection maps the file anew and sees every row */
	close_all();
	d = open_db("lost.db");
	n = -1;
	assert_int_equal(count_rows(d, &n), SQLITE_OK);
	assert_int_equal(n, 3);
	run(d, "INSERT INTO t VALUES (4)");
	assert_int_equal(count_rows(d, &n), SQLITE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(fwd_shmguard_rescues(), before + 1);
}

/* Runs body in a child (its stderr on /dev/null) and returns its wait status; body
 * returning means it survived. */
static int in_child(void (*body)(void))
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* a sanitizer's report of the SIGBUS is expected here, and no finding */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		body();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* A fault in a mapping SQLite did not make: a file truncated under its mapping. */
static void fault_elsewhere(void)
{
	char path[PATH_MAX];
	volatile unsigned char *p;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/other.bin", g_dir) >= sizeof(path))
		_exit(3);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 4096))
		_exit(3);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || ftruncate(fd, 0))
		_exit(3);
	(void)p[0];
}

static void sent_sigbus(void)
{
	kill(getpid(), SIGBUS);
}

static void test_other_sigbus_still_ends_the_process(void **state)
{
	int status;

	(void)state;
	assert_int_equal(sigaction(SIGBUS, &g_guard, NULL), 0);
	status = in_child(fault_elsewhere);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (WIFSIGNALED(status))
		assert_int_equal(WTERMSIG(status), SIGBUS);
	status = in_child(sent_sigbus);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (WIFSIGNALED(status))
		assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard_is_the_default_vfs),
		cmocka_unit_test_teardown(test_lost_shm_fails_statements_not_the_process, test_teardown),
		cmocka_unit_test(test_other_sigbus_still_ends_the_process),
	};

	/* in the forwarder's order: the guard first, the WAL-write VFS over it */
	if (fwd_shmguard_register() || fwd_walwrite_register() || sigaction(SIGBUS, NULL, &g_guard))
		return 1;
	return cmocka_run_group_tests(tests, sg_setup, sg_teardown);
}
