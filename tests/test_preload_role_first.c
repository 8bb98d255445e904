/* Unit test of the interposer's role view before its first observation (preload/role.c),
 * in a process of its own, since any earlier read would be that observation: threads
 * that ask for the view while the first read of .primary is under way must not be given
 * the empty view (which runs writes here, as on the primary); each reads .primary itself.
 * A FIFO as .primary keeps the first read waiting for as long as the test wants. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

/* By path: the forwarder has headers of the same names on the include path. */
#include "../preload/config.h"
#include "../preload/role.h"

static char g_dir[PATH_MAX];
static char g_fifo[PATH_MAX + 16];

struct reader {
	pthread_t thread;
	struct role_view view;
	int rc;
	bool done;                   /* atomic */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->rc = role_get(&r->view, false);
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Writes text to the FIFO for one reader: opens its write end (which lets a reader
 * blocked in open() go on), writes, closes (the reader then sees the end of the file). */
static void fifo_feed(const char *text)
{
	int fd = -1;

	for (int i = 0; i < 5000 && fd < 0; i++) {
		fd = open(g_fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			sleep_ms(1);
	}
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	if (tmpdir_make(g_dir, sizeof(g_dir), "test_preload_role_first"))
		return -1;
	memset(&fwd_config, 0, sizeof(fwd_config));
	snprintf(fwd_config.mount, sizeof(fwd_config.mount), "%s", g_dir);
	fwd_config.litefs = true;
	snprintf(fwd_config.primary_file, sizeof(fwd_config.primary_file), "%s/.primary", g_dir);
	snprintf(fwd_config.endpoint, sizeof(fwd_config.endpoint), "tcp://{primary}:20208");
	fwd_config.cache_ttl_ms = 3600000;
	snprintf(g_fifo, sizeof(g_fifo), "%s", fwd_config.primary_file);
	return mkfifo(g_fifo, 0600) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

/* The first reader waits in its read of .primary; a second thread asking meanwhile waits
 * for a view too (its own read) instead of returning the empty one at once. */
static void test_no_view_before_the_first_observation(void **state)
{
	struct reader a = { 0 }, b = { 0 };

	(void)state;
	assert_int_equal(pthread_create(&a.thread, NULL, reader_main, &a), 0);
	sleep_ms(100);
	assert_false(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE));
	assert_int_equal(pthread_create(&b.thread, NULL, reader_main, &b), 0);
	sleep_ms(200);
	assert_false(__atomic_load_n(&b.done, __ATOMIC_ACQUIRE));
	/* one reader at a time gets the text of one open of the write end */
	fifo_feed("node7\n");
	for (int i = 0; i < 5000 && !(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE) &&
				      __atomic_load_n(&b.done, __ATOMIC_ACQUIRE)); i++) {
		if (!__atomic_load_n(&a.done, __ATOMIC_ACQUIRE) ||
		    !__atomic_load_n(&b.done, __ATOMIC_ACQUIRE))
			fifo_feed("node7\n");
		sleep_ms(1);
	}
	pthread_join(a.thread, NULL);
	pthread_join(b.thread, NULL);
	/* (which of the two opens gets the text, and so which view stands, is the FIFO's
	 * choice: a file read twice would give both the same) */
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_view_before_the_first_observation, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
