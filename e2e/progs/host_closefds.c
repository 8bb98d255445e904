/* A program that closes every file descriptor it does not know (as daemons and process
 * supervisors do), run under the interposer on a replica, after it has forwarded writes:
 * the descriptors the interposer held (its socket to the forwarder, and whatever else it
 * keeps open) are closed under it, and their numbers are then reused by the program's own
 * files. The interposer must neither write into, read through, nor close a descriptor that
 * is no longer its own, and must go on forwarding.
 *
 *   host_closefds DB PREFIX DIR FILES WARM_MS
 *
 *  1. opens DB, writes PREFIX-before-0 and reads it back (a forwarded write, and a read
 *     that waits for it to be replicated); when WARM_MS > 0 it goes on writing and
 *     reading for WARM_MS more (PREFIX-before-N), so that the interposer's event thread
 *     runs, and waits until the process has a second thread;
 *  2. closes the connection, lists its descriptors ("fd N TARGET"), closes every
 *     descriptor from 3 up (close_range(), or one by one up to the limit);
 *  3. opens FILES regular files of its own, DIR/own-I, which take the lowest numbers
 *     (those the interposer held), and writes a first line to each;
 *  4. opens DB again, writes PREFIX-after-N (N < 3), reading each back at once and timing
 *     that read;
 *  5. writes a second line to each of its files, waits 1.5 s, and checks that each of its
 *     descriptors is still open, still the same file, at the offset it left it, with
 *     exactly what it wrote.
 *
 * Lines on stdout, each one write():
 *   threads N                     threads of the process before the closing
 *   fd N TARGET                   a descriptor open before the closing (evidence)
 *   own I fd N                    the descriptor number of file I
 *   ok KEY / fail KEY CODE MSG    an INSERT
 *   read KEY rows=N ms=T          its read-back: rows of KEY seen (1 expected), how long
 *   intact I                      file I is as the program left it
 *   damaged I WHAT                file I is not: closed, replaced, moved or altered
 * Exit status 0 when every write succeeded, was read back and every file is intact, 1
 * otherwise, 2 when the program could not run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host_common.h"

#define BUSY_TIMEOUT_MS 10000
#define MAX_FILES 64
#define AFTER_WRITES 3
#define CHECK_DELAY_US 1500000

/* A file of the program's own, and what it knows of it. */
struct own_file {
	int fd;
	dev_t dev;
	ino_t ino;
	char expect[256]; /* everything written to it so far */
	size_t len;
};

static const char *closefds_db_path;
static const char *closefds_prefix;

/* Opens DB read-write with extended codes and a busy timeout; NULL (reported) if not. */
static sqlite3 *open_db(void)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(closefds_db_path, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc != SQLITE_OK) {
		host_out("fail open %d %s", rc, db ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	return db;
}

/* Inserts KEY, then reads back how many rows hold it, timing that read (which waits for
 * the write to reach this replica). True when the INSERT succeeded and one row was read. */
static bool write_and_read(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	int64_t t0;
	int rc, n = -1;

	rc = sqlite3_prepare_v2(db, "INSERT INTO k(key, node) VALUES (?1, 'closefds')", -1, &st,
				NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		host_out("fail %s %d %s", key, rc, sqlite3_errmsg(db));
		return false;
	}
	host_out("ok %s", key);
	t0 = host_now_ms();
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM k WHERE key = ?1", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	host_out("read %s rows=%d ms=%lld", key, n, (long long)(host_now_ms() - t0));
	return n == 1;
}

/* Prints "fd N TARGET" for every open descriptor from 3 up. */
static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self = d ? dirfd(d) : -1;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[64], target[PATH_MAX];
		int fd = atoi(e->d_name);
		ssize_t n;

		if (e->d_name[0] == '.' || fd < 3 || fd == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		host_out("fd %d %s", fd, target);
	}
	closedir(d);
}

/* Closes every descriptor from 3 up, as a program that trusts no inherited descriptor
 * does. */
static void close_all_from_3(void)
{
	long max;

	if (close_range(3, ~0U, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
		close((int)fd);
}

/* Appends a line to f with write(), remembering it. */
static bool own_append(struct own_file *f, int index, int line)
{
	char buf[96];
	int n = snprintf(buf, sizeof(buf), "own file %d, line %d, written by the program\n", index,
			 line);

	if (n <= 0 || f->len + (size_t)n >= sizeof(f->expect) || write(f->fd, buf, (size_t)n) != n)
		return false;
	memcpy(f->expect + f->len, buf, (size_t)n);
	f->len += (size_t)n;
	return true;
}

/* Whether f is as the program left it: open, the same file, at the offset it left, with
 * exactly what it wrote. Reports "intact I" or "damaged I WHAT". */
static bool own_check(const struct own_file *f, int index)
{
	char buf[512];
	struct stat st;
	off_t off;
	ssize_t n;

	if (fcntl(f->fd, F_GETFD) < 0) {
		host_out("damaged %d descriptor %d closed (%s)", index, f->fd, strerror(errno));
		return false;
	}
	if (fstat(f->fd, &st) || st.st_dev != f->dev || st.st_ino != f->ino) {
		host_out("damaged %d descriptor %d is another file now", index, f->fd);
		return false;
	}
	off = lseek(f->fd, 0, SEEK_CUR);
	if (off != (off_t)f->len) {
		host_out("damaged %d offset %lld, expected %zu", index, (long long)off, f->len);
		return false;
	}
	n = pread(f->fd, buf, sizeof(buf), 0);
	if (n != (ssize_t)f->len || memcmp(buf, f->expect, f->len)) {
		host_out("damaged %d content: %zd bytes, expected %zu", index, n, f->len);
		return false;
	}
	host_out("intact %d", index);
	return true;
}

int main(int argc, char **argv)
{
	static struct own_file files[MAX_FILES];
	char key[160];
	int nfiles, warm_ms, n = 0;
	bool all = true;
	sqlite3 *db;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DB PREFIX DIR FILES WARM_MS\n", argv[0]);
		return 2;
	}
	closefds_db_path = argv[1];
	closefds_prefix = argv[2];
	nfiles = atoi(argv[4]);
	warm_ms = atoi(argv[5]);
	if (nfiles < 1 || nfiles > MAX_FILES || warm_ms < 0) {
		fprintf(stderr, "%s: FILES 1 to %d, WARM_MS at least 0\n", argv[0], MAX_FILES);
		return 2;
	}

	/* 1. forwarded writes, read back */
	db = open_db();
	if (!db)
		return 2;
	{
		int64_t until = host_now_ms() + warm_ms;

		do {
			snprintf(key, sizeof(key), "%s-before-%d", closefds_prefix, n++);
			all &= write_and_read(db, key);
			if (warm_ms)
				usleep(50000);
		} while (host_now_ms() < until);
		/* the event thread, once started, is given time to connect */
		for (int i = 0; warm_ms && i < 100 && host_count_threads() < 2; i++)
			usleep(20000);
		if (warm_ms)
			usleep(300000);
	}
	host_out("threads %d", host_count_threads());

	/* 2. close the connection, then every descriptor but 0, 1, 2 */
	if (sqlite3_close(db) != SQLITE_OK) {
		host_out("fail close %d %s", sqlite3_errcode(db), sqlite3_errmsg(db));
		return 2;
	}
	list_fds();
	close_all_from_3();

	/* 3. the program's own files, on the lowest numbers */
	for (int i = 0; i < nfiles; i++) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "%s/own-%d", argv[3], i);
		files[i].fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (files[i].fd < 0 || fstat(files[i].fd, &st)) {
			host_out("fail own-%d %d %s", i, errno, strerror(errno));
			return 2;
		}
		files[i].dev = st.st_dev;
		files[i].ino = st.st_ino;
		host_out("own %d fd %d", i, files[i].fd);
		if (!own_append(&files[i], i, 1)) {
			host_out("fail own-%d-write %d %s", i, errno, strerror(errno));
			return 2;
		}
	}

	/* 4. forwarded writes again, on a new connection */
	db = open_db();
	if (!db)
		return 1;
	for (int i = 0; i < AFTER_WRITES; i++) {
		snprintf(key, sizeof(key), "%s-after-%d", closefds_prefix, i);
		all &= write_and_read(db, key);
	}
	if (sqlite3_close(db) != SQLITE_OK)
		all = false;

	/* 5. the program's files are as it left them */
	for (int i = 0; i < nfiles; i++)
		if (!own_append(&files[i], i, 2)) {
			host_out("damaged %d second write failed: %s", i, strerror(errno));
			all = false;
		}
	/* longer than the interposer's event thread waits for its stream (1 s at most): it
	 * has looked at its old descriptors by then */
	usleep(CHECK_DELAY_US);
	for (int i = 0; i < nfiles; i++) {
		all &= own_check(&files[i], i);
		close(files[i].fd);
	}
	return all ? 0 : 1;
}
