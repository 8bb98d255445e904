/* Applying a replicated transaction on a replica, atomically for its readers. The pages are
 * written through the mount (so the kernel's page cache stays coherent with every reader)
 * while holding the locks that SQLite's own writer would hold, taken as open file
 * description locks so that nothing else this process does can drop them:
 *  - rollback journal: PENDING, RESERVED and the SHARED range of the database file, i.e. an
 *    EXCLUSIVE lock: readers finish first, new readers see SQLITE_BUSY until it is done, and
 *    the new file change counter on page 1 makes them drop their cache;
 *  - WAL: the write, checkpoint, recovery and every read-mark lock of <db>-shm, so no read
 *    transaction is open; then the wal-index header's change count and page count are
 *    updated, which makes every connection drop its cache at its next read transaction. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_state.h"

#define PENDING_BYTE 0x40000000
#define WAL_LOCK_FIRST 120 /* WAL_WRITE_LOCK; read marks end at 127 */
#define WAL_LOCK_COUNT 8
#define WALHDR_SIZE 48

static int apply_lock(int fd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	while (fcntl(fd, type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW, &fl)) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Opens a file of the mount for this transaction only: a descriptor kept into our own mount
 * would have to be released by our own FUSE loop when the process ends, which it cannot do
 * once it is gone. Returns the descriptor or -errno. */
static int apply_open(struct sim_node *n, const char *leaf)
{
	char path[PATH_MAX + NAME_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", n->mnt, leaf);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

static int apply_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, buf, len, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf = (const uint8_t *)buf + w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

/* SQLite's wal-index header checksum (walChecksumBytes, native byte order). */
static void apply_walhdr_cksum(const uint8_t *hdr, uint32_t out[2])
{
	uint32_t s1 = 0, s2 = 0, w[10];

	memcpy(w, hdr, sizeof(w));
	for (int i = 0; i < 10; i += 2) {
		s1 += w[i] + s2;
		s2 += w[i + 1] + s1;
	}
	out[0] = s1;
	out[1] = s2;
}

/* Reads the wal-index header. Returns 1 when it is initialised and both copies agree,
 * 0 otherwise, -errno on error. */
static int apply_walhdr_read(int shm, uint8_t hdr[2 * WALHDR_SIZE])
{
	uint32_t ck[2];
	ssize_t r = pread(shm, hdr, 2 * WALHDR_SIZE, 0);

	if (r < 0)
		return -errno;
	if (r < 2 * WALHDR_SIZE || !hdr[12] || memcmp(hdr, hdr + WALHDR_SIZE, WALHDR_SIZE))
		return 0;
	apply_walhdr_cksum(hdr, ck);
	return !memcmp(ck, hdr + 40, 8);
}

int sim_apply_checkpoint(struct sim_node *n, struct sim_db *db)
{
	char path[PATH_MAX + NAME_MAX + 16];
	sqlite3 *conn = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", n->mnt, db->name);
	rc = sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_stmt *st = NULL;

		sqlite3_busy_timeout(conn, 5000);
		rc = sqlite3_prepare_v2(conn, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL);
		/* a checkpoint that readers kept from completing is no error to SQLite: its
		 * row says so (busy = 1) */
		if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_int(st, 0) != 0)
			rc = SQLITE_BUSY;
		if (rc == SQLITE_OK)
			rc = sqlite3_finalize(st);
		else
			sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK)
		fprintf(stderr, "litefs-sim: %s: checkpoint: %s\n", db->name,
			conn && rc != SQLITE_BUSY ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
	sqlite3_close_v2(conn);
	return rc == SQLITE_OK ? 0 : -EBUSY;
}

/* Size of db's WAL in the backing directory, 0 when there is none. */
static uint64_t apply_wal_size(struct sim_node *n, struct sim_db *db)
{
	char name[NAME_MAX + 8];
	struct stat st;

	snprintf(name, sizeof(name), "%s-wal", db->name);
	if (fstatat(n->data_fd, name, &st, 0))
		return 0;
	return (uint64_t)st.st_size;
}

int sim_apply_reload_wal_index(struct sim_node *n, struct sim_db *db)
{
	char path[PATH_MAX + NAME_MAX + 16];
	uint8_t wh[2 * WALHDR_SIZE];
	int shm, ok, rc = 0;

	snprintf(path, sizeof(path), "%s/%s-shm", n->mnt, db->name);
	shm = open(path, O_RDWR | O_CLOEXEC);
	if (shm < 0) /* no wal-index: the next connection builds one from the WAL anyway */
		return errno == ENOENT ? 0 : -errno;
	ok = apply_walhdr_read(shm, wh);
	if (ok > 0) {
		wh[8] ^= 0xff; /* the change count of the first copy only */
		rc = apply_pwrite(shm, wh, WALHDR_SIZE, 0);
	} else if (ok < 0) {
		rc = ok;
	}
	close(shm);
	return rc;
}

static int apply_pages(int fd, const struct sim_txn *t)
{
	struct stat st;
	int rc;

	for (uint32_t i = 0; i < t->npages; i++) {
		rc = apply_pwrite(fd, t->data + (size_t)i * t->page_size, t->page_size,
				  (off_t)(t->pgnos[i] - 1) * t->page_size);
		if (rc)
			return rc;
	}
	if (fstat(fd, &st))
		return -errno;
	if ((uint64_t)st.st_size != (uint64_t)t->commit * t->page_size &&
	    ftruncate(fd, (off_t)t->commit * t->page_size))
		return -errno;
	return 0;
}

/* Writes the wal-index header (both copies, second first as SQLite does) for a database of
 * npages pages, with a new change count so that every connection drops its cache. */
static int apply_walhdr_write(int shm, uint8_t wh[2 * WALHDR_SIZE], uint32_t npages)
{
	uint32_t v, ck[2];
	int rc;

	memcpy(&v, wh + 8, 4); /* iChange */
	v++;
	memcpy(wh + 8, &v, 4);
	v = 0; /* mxFrame: the WAL is empty on a replica */
	memcpy(wh + 16, &v, 4);
	memcpy(wh + 20, &npages, 4); /* nPage */
	apply_walhdr_cksum(wh, ck);
	memcpy(wh + 40, ck, 8);
	memcpy(wh + WALHDR_SIZE, wh, WALHDR_SIZE);
	rc = apply_pwrite(shm, wh + WALHDR_SIZE, WALHDR_SIZE, WALHDR_SIZE);
	if (!rc)
		rc = apply_pwrite(shm, wh, WALHDR_SIZE, 0);
	return rc;
}

/* WAL mode. Readers hold a read mark in <db>-shm only while a read transaction is open, and
 * re-take one for every transaction: waiting for the read marks alone could starve. So the
 * write and checkpoint locks are taken first and the wal-index header's first copy is made to
 * differ from the second: a reader that starts now sees a header being written, cannot take
 * the write lock to recover it, and retries inside SQLite until the new header is complete.
 * Then the read marks drain, the pages are written, and the new header is published. A SHARED
 * lock on the database file keeps the last connection to close from deleting <db>-shm under
 * us (it needs EXCLUSIVE first). */
static int apply_wal(struct sim_node *n, struct sim_db *db, int fd, const struct sim_txn *t)
{
	char shmname[NAME_MAX + 8];
	uint8_t wh[2 * WALHDR_SIZE];
	int shm, rc, ok;

	rc = apply_lock(fd, F_RDLCK, PENDING_BYTE, 1);
	if (!rc)
		rc = apply_lock(fd, F_RDLCK, PENDING_BYTE + 2, 510);
	apply_lock(fd, F_UNLCK, PENDING_BYTE, 1);
	if (rc)
		return rc;
	snprintf(shmname, sizeof(shmname), "%s-shm", db->name);
	shm = apply_open(n, shmname);
	if (shm < 0) {
		rc = shm;
		goto out_db;
	}
	/* Frames left in the WAL (this node was primary) would hide the new pages from
	 * readers, and a wal-index rebuilt from them later (the last connection gone, its
	 * shared memory made anew) would bring their old pages back over the new ones: fold
	 * them into the database and empty the WAL first, or apply nothing. */
	ok = apply_walhdr_read(shm, wh);
	if (apply_wal_size(n, db) || (ok > 0 && (wh[16] | wh[17] | wh[18] | wh[19]))) {
		rc = sim_apply_checkpoint(n, db);
		if (!rc && apply_wal_size(n, db))
			rc = -EBUSY;
		if (rc)
			goto out_shm;
	}
	rc = apply_lock(shm, F_WRLCK, WAL_LOCK_FIRST, 2); /* WAL_WRITE_LOCK, WAL_CKPT_LOCK */
	if (rc)
		goto out_shm;
	ok = apply_walhdr_read(shm, wh);
	if (ok < 0) {
		rc = ok;
		goto out_unlock;
	}
	if (ok > 0) {
		uint8_t torn[WALHDR_SIZE];

		memcpy(torn, wh, WALHDR_SIZE);
		torn[8] ^= 0xff;
		rc = apply_pwrite(shm, torn, WALHDR_SIZE, 0);
		if (rc)
			goto out_unlock;
	}
	rc = apply_lock(shm, F_WRLCK, WAL_LOCK_FIRST + 3, WAL_LOCK_COUNT - 3); /* read marks */
	if (!rc)
		rc = apply_pages(fd, t);
	if (ok > 0) {
		int wr = apply_walhdr_write(shm, wh, t->commit);

		if (!rc)
			rc = wr;
	}
out_unlock:
	apply_lock(shm, F_UNLCK, WAL_LOCK_FIRST, WAL_LOCK_COUNT);
out_shm:
	close(shm);
out_db:
	apply_lock(fd, F_UNLCK, PENDING_BYTE, 512);
	return rc;
}

int sim_apply_txn(struct sim_node *n, struct sim_db *db, const struct sim_txn *t)
{
	uint8_t hdr[100] = {0};
	int fd, rc;

	fd = apply_open(n, db->name);
	if (fd < 0)
		return fd;
	if (pread(fd, hdr, sizeof(hdr), 0) < 0) {
		rc = -errno;
		goto out;
	}
	if (hdr[18] == 2 || hdr[19] == 2) {
		rc = apply_wal(n, db, fd, t);
		goto out;
	}
	rc = apply_lock(fd, F_WRLCK, PENDING_BYTE, 1);
	if (!rc)
		rc = apply_lock(fd, F_WRLCK, PENDING_BYTE + 1, 1);
	if (!rc)
		rc = apply_lock(fd, F_WRLCK, PENDING_BYTE + 2, 510);
	if (!rc)
		rc = apply_pages(fd, t);
	apply_lock(fd, F_UNLCK, PENDING_BYTE, 512);
out:
	close(fd);
	return rc;
}
