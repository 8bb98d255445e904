/* Request ids (preload/request_id.c): unique across processes, consecutive across the
 * processes of one host that share the sequence file, and unique still when the file
 * cannot be used. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

/* By path: the forwarder has headers of the same names on the include path. */
#include "../preload/request_id.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

#define PROCS 4
#define EACH 500

static char g_dir[PATH_MAX];

static int group_setup(void **state)
{
	(void)state;
	return tmpdir_make(g_dir, sizeof(g_dir), "test_request_id") ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	request_id_reset("");
	return tmpdir_remove(g_dir);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Takes EACH ids in this process and in PROCS forked children at once, all after the
 * sequence at path was opened (or not) in the parent or in each child (open_first).
 * ids gets PROCS + 1 times EACH ids, sorted. */
static void take_ids(uint64_t *ids, bool open_first)
{
	int fds[PROCS][2];
	pid_t pids[PROCS];
	size_t n = 0;

	if (open_first)
		ids[n++] = request_id_next();
	for (int p = 0; p < PROCS; p++) {
		assert_int_equal(pipe(fds[p]), 0);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			uint64_t mine[EACH];

			close(fds[p][0]);
			for (int i = 0; i < EACH; i++)
				mine[i] = request_id_next();
			_exit(write(fds[p][1], mine, sizeof(mine)) == (ssize_t)sizeof(mine) ? 0 : 1);
		}
		close(fds[p][1]);
	}
	while (n < EACH)
		ids[n++] = request_id_next();
	for (int p = 0; p < PROCS; p++) {
		size_t got = 0;
		int status;

		while (got < EACH * sizeof(uint64_t)) {
			ssize_t r = read(fds[p][0], (char *)(ids + n) + got,
					 EACH * sizeof(uint64_t) - got);

			assert_true(r > 0);
			got += (size_t)r;
		}
		close(fds[p][0]);
		n += EACH;
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	qsort(ids, n, sizeof(*ids), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		assert_true(ids[i] != 0);
		if (i)
			assert_true(ids[i] != ids[i - 1]);
	}
}

/* The processes sharing the file take consecutive ids: one run of (PROCS + 1) * EACH. */
static void test_shared_sequence(void **state)
{
	static uint64_t ids[(PROCS + 1) * EACH];
	char path[PATH_MAX + 16];
	struct stat st;

	(void)state;
	xsnprintf(path, sizeof(path), "%s/ids", g_dir);
	request_id_reset(path);
	take_ids(ids, true);
	assert_true(ids[(PROCS + 1) * EACH - 1] - ids[0] == (PROCS + 1) * EACH - 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a process that comes later goes on from there */
	request_id_reset(path);
	assert_true(request_id_next() == ids[(PROCS + 1) * EACH - 1] + 1);
}

/* Without a usable file every process has its own random start: still unique, each
 * process's ids consecutive, and errno untouched. */
static void test_own_sequences(void **state)
{
	static uint64_t ids[(PROCS + 1) * EACH];
	char path[PATH_MAX + 32];
	uint64_t a, b;
	int fd;

	(void)state;
	xsnprintf(path, sizeof(path), "%s/missing/ids", g_dir);
	request_id_reset(path);
	take_ids(ids, false);
	assert_true(ids[(PROCS + 1) * EACH - 1] - ids[0] > (PROCS + 1) * EACH);
	errno = ENOTTY;
	a = request_id_next();
	b = request_id_next();
	assert_int_equal(errno, ENOTTY);
	assert_true(b == a + 1);

	/* a file others may write is not used */
	xsnprintf(path, sizeof(path), "%s/open-ids", g_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(ftruncate(fd, 16), 0);
	close(fd);
	request_id_reset(path);
	request_id_next();
	{
		uint64_t words[2] = { 1, 1 };

		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_int_equal(read(fd, words, sizeof(words)), (ssize_t)sizeof(words));
		close(fd);
		assert_true(words[0] == 0 && words[1] == 0);
	}
	/* nor no file at all when none is wanted */
	request_id_reset("");
	a = request_id_next();
	assert_true(request_id_next() == a + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_sequence),
		cmocka_unit_test(test_own_sequences),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
