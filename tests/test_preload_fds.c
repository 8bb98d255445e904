/* Descriptors the interposer keeps open in other people's programs (preload/ownfd.c, the
 * -pos descriptors of preload/forward.c, the log file of preload/log.c), against a program
 * that closes descriptors it did not open and puts files of its own on their numbers (as
 * daemons do after fork, or with close_range()): such a file is never read, written nor
 * closed by the interposer, which opens its own file again; and descriptors are not
 * leaked, however many databases are read.
 *
 * forward.c and log.c keep process-wide state (the cache of -pos descriptors, the log
 * file's records): each test uses file names no other test uses, and the counts of open
 * descriptors are compared before and after within one test. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

/* By path: the forwarder has headers of the same names on the include path. */
#include "../preload/config.h"
#include "../preload/forward.h"
#include "../preload/log.h"
#include "../preload/ownfd.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

/* --- fixture ------------------------------------------------------------------------------ */

#define FX_MAX 64

static struct {
	char dir[PATH_MAX];     /* also the mount, for forward_local_txid() */
	char cwd[PATH_MAX];
	int fd[FX_MAX];         /* the "program's" own descriptors */
} fx;

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < FX_MAX; i++)
		fx.fd[i] = -1;
	if (!getcwd(fx.cwd, sizeof(fx.cwd)) || tmpdir_make(fx.dir, sizeof(fx.dir), "test_fds"))
		return -1;
	/* realpath: the names /proc/self/fd shows */
	if (!realpath(fx.dir, fwd_config.mount))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("LITEFS_FWD_LOG");
	unsetenv("LITEFS_FWD_LOG_FILE");
	log_init();
	for (int i = 0; i < FX_MAX; i++)
		if (fx.fd[i] >= 0)
			close(fx.fd[i]);
	if (chdir(fx.cwd)) {
		/* the next test's paths are absolute anyway */
	}
	return tmpdir_remove(fx.dir);
}

/* Remembers fd as one of the program's own (closed by the teardown). */
static int fx_fd(int fd)
{
	int i;

	assert_true(fd >= 0);
	for (i = 0; i < FX_MAX && fx.fd[i] >= 0; i++)
		;
	assert_true(i < FX_MAX);
	fx.fd[i] = fd;
	return fd;
}

static void fx_path(char *buf, size_t len, const char *name)
{
	xsnprintf(buf, len, "%s/%s", fwd_config.mount, name);
}

/* Writes text as the file name in the test's directory (replaced whole). */
static void put_file(const char *name, const char *text)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
	size_t n = strlen(text);
	int fd;

	fx_path(path, sizeof(path), name);
	xsnprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* A -pos file's text for txid, as LiteFS shows it: the same file, its content changed. */
static void put_pos(const char *db, uint64_t txid)
{
	char path[PATH_MAX + 64], name[300], text[64];
	int fd, n;

	xsnprintf(name, sizeof(name), "%s-pos", db);
	fx_path(path, sizeof(path), name);
	n = snprintf(text, sizeof(text), "%016llx/%016llx\n", (unsigned long long)txid,
		     0x0123456789abcdefULL);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, text, (size_t)n, 0), n);
	assert_int_equal(close(fd), 0);
}

/* The number of the descriptor open on path in this process, or -1. */
static int fd_of(const char *path)
{
	char link[64], target[PATH_MAX];

	for (int fd = 0; fd < 4096; fd++) {
		ssize_t n;

		xsnprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, path))
			return fd;
	}
	return -1;
}

/* How many descriptors this process has open. */
static int count_fds(void)
{
	char link[64], target[PATH_MAX];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		xsnprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if (readlink(link, target, sizeof(target) - 1) > 0)
			n++;
	}
	return n;
}

/* The content of a file (malloc'ed, NUL-terminated; "" when it does not exist). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 65536);
	size_t n = 0;

	assert_non_null(buf);
	if (f) {
		n = fread(buf, 1, 65535, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static int count_lines(const char *text)
{
	int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* A file of the program's own, opened on the lowest free number with text in it. */
static int own_file(const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	int fd;

	fx_path(path, sizeof(path), name);
	fd = fx_fd(open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/* fd is open on the program's file name, at offset off, holding exactly text. */
static void expect_own_intact(int fd, const char *name, off_t off, const char *text)
{
	char path[PATH_MAX + 64], buf[256];
	struct stat a, b;
	ssize_t n;

	fx_path(path, sizeof(path), name);
	assert_int_not_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), off);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, text);
}

/* --- ownfd -------------------------------------------------------------------------------- */

/* A descriptor is ours while its number holds what it was opened on: not once closed, nor
 * once another file took the number; ownfd_close() then leaves that file open. errno is
 * kept throughout. */
static void test_ownfd_identity(void **state)
{
	struct ownfd o;
	int fd, other;

	(void)state;
	errno = 4242;
	assert_int_equal(ownfd_take(&o, -1), -EBADF);
	assert_int_equal(o.fd, -1);
	assert_false(ownfd_ours(&o));
	assert_int_equal(errno, 4242);

	fd = own_file("ownfd-a", "a");
	assert_int_equal(ownfd_take(&o, fd), 0);
	assert_true(ownfd_ours(&o));
	fx.fd[0] = -1;
	close(fd);
	assert_false(ownfd_ours(&o));
	other = own_file("ownfd-b", "b");
	assert_int_equal(other, fd);
	assert_false(ownfd_ours(&o));
	ownfd_close(&o);
	assert_int_equal(o.fd, -1);
	expect_own_intact(other, "ownfd-b", 1, "b");
	assert_int_equal(errno, 4242);

	/* still ours: closed */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ownfd_take(&o, fd), 0);
	ownfd_close(&o);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* --- -pos --------------------------------------------------------------------------------- */

/* The TXID of a -pos file, read afresh each time through the cached descriptor; text that
 * is not a -pos file's, or no file, reads as 0. errno is kept. */
static void test_pos_reads(void **state)
{
	(void)state;
	put_pos("r.db", 7);
	errno = 4242;
	assert_int_equal(forward_local_txid("r.db"), 7);
	put_pos("r.db", 0x1234);
	assert_int_equal(forward_local_txid("r.db"), 0x1234);
	assert_int_equal(forward_local_txid("absent.db"), 0);
	put_file("bad.db-pos", "000000000000000x/0123456789abcdef\n");
	assert_int_equal(forward_local_txid("bad.db"), 0);
	put_file("short.db-pos", "0000000000000007/");
	assert_int_equal(forward_local_txid("short.db"), 0);
	put_file("noslash.db-pos", "00000000000000070123456789abcdef\n\n");
	assert_int_equal(forward_local_txid("noslash.db"), 0);
	assert_int_equal(errno, 4242);
}

/* The program closed the cached -pos descriptor and opened a file of its own, holding text
 * that reads as another TXID, on its number: the TXID comes from -pos again, and the
 * program's file is neither read into the answer, moved, written nor closed. Then the
 * number left free: -pos is opened again. */
static void test_pos_taken_over(void **state)
{
	static const char mine[] = "00000000000000ff/0000000000000000\n";
	char path[PATH_MAX + 64];
	int fd, other;

	(void)state;
	put_pos("t.db", 9);
	assert_int_equal(forward_local_txid("t.db"), 9);
	fx_path(path, sizeof(path), "t.db-pos");
	fd = fd_of(path);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	other = own_file("program-file", mine);
	assert_int_equal(other, fd);
	for (int i = 0; i < 3; i++)
		assert_int_equal(forward_local_txid("t.db"), 9);
	expect_own_intact(other, "program-file", (off_t)strlen(mine), mine);
	assert_true(fd_of(path) >= 0 && fd_of(path) != other);

	/* the same, the number left free: nothing to leave alone, -pos opened again */
	fd = fd_of(path);
	assert_int_equal(close(fd), 0);
	put_pos("t.db", 10);
	assert_int_equal(forward_local_txid("t.db"), 10);
	assert_true(fd_of(path) >= 0);
	expect_own_intact(other, "program-file", (off_t)strlen(mine), mine);
}

/* However many databases are read, and however often, the descriptors kept open are at
 * most one per database for the first 64; the others are read through a descriptor closed
 * after the read. After the program closed them all, the same holds again. */
static void test_pos_no_leak(void **state)
{
	char name[32];
	int before, after, again;

	(void)state;
	for (int i = 0; i < 100; i++) {
		xsnprintf(name, sizeof(name), "leak%d.db", i);
		put_pos(name, (uint64_t)i + 1);
	}
	before = count_fds();
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 100; i++) {
			xsnprintf(name, sizeof(name), "leak%d.db", i);
			assert_int_equal(forward_local_txid(name), (uint64_t)i + 1);
		}
		if (round == 0)
			after = count_fds();
	}
	assert_true(after - before <= 64);
	assert_int_equal(count_fds(), after);

	/* the program closes every descriptor of ours */
	for (int i = 0; i < 100; i++) {
		char path[PATH_MAX + 64];
		int fd;

		xsnprintf(name, sizeof(name), "leak%d.db-pos", i);
		fx_path(path, sizeof(path), name);
		fd = fd_of(path);
		if (fd >= 0)
			close(fd);
	}
	again = count_fds();
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++) {
			xsnprintf(name, sizeof(name), "leak%d.db", i);
			assert_int_equal(forward_local_txid(name), (uint64_t)i + 1);
		}
	}
	assert_true(count_fds() - again <= 64);
}

/* --- the log file ------------------------------------------------------------------------- */

static void log_to(const char *file)
{
	assert_int_equal(setenv("LITEFS_FWD_LOG", "info", 1), 0);
	assert_int_equal(setenv("LITEFS_FWD_LOG_FILE", file, 1), 0);
	log_init();
}

/* The program closed the log file's descriptor and opened a file of its own on its
 * number: that file never gets a line, and is not closed; the log file is opened again.
 * Again and again, beyond the records the log keeps: no line lost, no descriptor leaked. */
static void test_log_taken_over(void **state)
{
	char path[PATH_MAX + 64], name[32];
	char *text;
	int fd, other, before, owned[30], nowned = 0;

	(void)state;
	fx_path(path, sizeof(path), "fwd.log");
	log_to(path);
	errno = 4242;
	log_warn("line %d", 1);
	assert_int_equal(errno, 4242);
	fd = fd_of(path);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	other = own_file("own-0", "");
	assert_int_equal(other, fd);
	log_warn("line %d", 2);
	expect_own_intact(other, "own-0", 0, "");
	text = slurp(path);
	assert_int_equal(count_lines(text), 2);
	assert_non_null(strstr(text, "warn: line 1\n"));
	assert_non_null(strstr(text, "warn: line 2\n"));
	free(text);

	before = count_fds();
	for (int i = 1; i <= 30; i++) {
		fd = fd_of(path);
		if (fd >= 0) {
			/* still the log's own (not yet past its records): taken over */
			assert_int_equal(close(fd), 0);
			xsnprintf(name, sizeof(name), "own-%d", i);
			assert_int_equal(own_file(name, ""), fd);
			owned[nowned++] = fd;
		}
		log_warn("line %d", 2 + i);
	}
	assert_true(nowned > 10);
	for (int i = 0; i < nowned; i++) {
		xsnprintf(name, sizeof(name), "own-%d", i + 1);
		expect_own_intact(owned[i], name, 0, "");
	}
	text = slurp(path);
	assert_int_equal(count_lines(text), 32);
	free(text);
	/* the program's files, and at most the log's own descriptor */
	assert_true(count_fds() <= before + nowned + 1);
}

/* A relative LITEFS_FWD_LOG_FILE is the one in the directory the settings were read in,
 * wherever the program goes afterwards. */
static void test_log_relative_path(void **state)
{
	char path[PATH_MAX + 64];
	char *text;
	int fd;

	(void)state;
	assert_int_equal(chdir(fwd_config.mount), 0);
	log_to("rel.log");
	assert_int_equal(chdir("/"), 0);
	fx_path(path, sizeof(path), "rel.log");
	/* taken over, so that the line is written through a new opening */
	fd = fd_of(path);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	log_warn("relative");
	text = slurp(path);
	assert_int_equal(count_lines(text), 1);
	free(text);
	assert_int_equal(chdir(fx.cwd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ownfd_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pos_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pos_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pos_no_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_relative_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
