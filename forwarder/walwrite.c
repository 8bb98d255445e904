/* A VFS over the default one that coalesces the writes of WAL frames.
 *
 * SQLite writes a frame as two writes, its 24-byte header and then its page, at the end
 * of the WAL; a transaction is its frames, the last one carrying a commit size. Here such
 * writes are kept in a buffer while they extend it contiguously, and the buffer reaches
 * the file as one write when the page of a commit frame has been added: before SQLite
 * syncs the WAL or makes the transaction visible to readers in the wal-index, so whatever
 * the synchronous setting, nothing another connection or process may read is still here.
 * Any other operation on the file (a read, a sync, its size, a truncation, a write that
 * does not extend the buffer or is not a frame's header or page, closing it) writes the
 * buffer out first, so this connection sees its own bytes too. A failed write of the
 * buffer is returned by the operation that made it, and the buffer is dropped: SQLite
 * treats it as the I/O error of that write and rolls the transaction back.
 *
 * LiteFS reads the frames back when a write ends at the end of a commit frame, whatever
 * the write's size (db.go, WriteWAL), so a transaction in one write is committed as
 * one in two per page. Files other than WAL files are the default VFS's own. The state of
 * a file is used under its connection's mutex, as SQLite uses its files. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "vfs_pass.h"
#include "walwrite.h"

#define WW_WAL_HDR 32
#define WW_FRAME_HDR 24
/* Pending bytes beyond which the frames of a large transaction are written out before its
 * commit (a transaction that spills its page cache reads some back anyway). */
#define WW_MAX_PENDING (256 * 1024)
/* The largest write passed on: the unix VFS writes at most 128 KiB - 1 bytes of a call
 * (seekAndWriteFd() masks the length, as SQLite never writes more), and 64 KiB is more
 * than a FUSE request's default of 32 pages on many kernels anyway. */
#define WW_MAX_WRITE (64 * 1024)

struct ww_file {
	struct fwd_vfs_file vf;  /* vf.base.pMethods: &ww_io; vf.real: the default VFS's file */
	unsigned char *buf;      /* pending bytes, for file offsets [off, off + len) */
	size_t len, cap;
	sqlite3_int64 off;
	bool half_frame;         /* buf ends with a frame header whose page is to come */
	bool commit_frame;       /* ... and that header carries a commit size */
};

static sqlite3_vfs *ww_root;           /* the default VFS under this one */
static sqlite3_vfs ww_vfs;
static pthread_once_t ww_once = PTHREAD_ONCE_INIT;
static int ww_registered = -ENOSYS;
static size_t ww_writes_in, ww_writes_out;  /* atomics: fwd_walwrite_totals() */
/* What became of the last commit frame this thread wrote: fwd_walwrite_commit_state(). */
static __thread int ww_commit_state;

/* Writes out f's pending bytes, in writes of at most WW_MAX_WRITE. Returns SQLITE_OK or
 * the first failed write's error; the pending bytes are gone either way. */
static int ww_flush(struct ww_file *f)
{
	int rc = SQLITE_OK;

	for (size_t done = 0; done < f->len && rc == SQLITE_OK; done += WW_MAX_WRITE) {
		size_t n = f->len - done < WW_MAX_WRITE ? f->len - done : WW_MAX_WRITE;

		rc = f->vf.real->pMethods->xWrite(f->vf.real, f->buf + done, (int)n,
					       f->off + (sqlite3_int64)done);
		__atomic_add_fetch(&ww_writes_out, 1, __ATOMIC_RELAXED);
	}
	f->len = 0;
	f->half_frame = f->commit_frame = false;
	return rc;
}

/* Appends p[0..n) at file offset off, which extends the buffer. SQLITE_OK or
 * SQLITE_IOERR_NOMEM (nothing kept then). */
static int ww_append(struct ww_file *f, const void *p, int n, sqlite3_int64 off)
{
	size_t need = f->len + (size_t)n;

	if (need > f->cap) {
		size_t cap = f->cap ? f->cap : 8192;
		unsigned char *b;

		while (cap < need)
			cap *= 2;
		b = realloc(f->buf, cap);
		if (!b)
			return SQLITE_IOERR_NOMEM;
		f->buf = b;
		f->cap = cap;
	}
	if (!f->len)
		f->off = off;
	memcpy(f->buf + f->len, p, (size_t)n);
	f->len = need;
	return SQLITE_OK;
}

static int ww_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off)
{
	struct ww_file *f = (struct ww_file *)file;
	const unsigned char *b = p;
	bool page = f->half_frame;
	int rc;

	__atomic_add_fetch(&ww_writes_in, 1, __ATOMIC_RELAXED);
	if (f->len && off != f->off + (sqlite3_int64)f->len) {
		page = false;
		rc = ww_flush(f);
		if (rc != SQLITE_OK)
			return rc;
	}
	if (n == WW_FRAME_HDR) {
		rc = ww_append(f, p, n, off);
		if (rc != SQLITE_OK)
			return rc;
		f->half_frame = true;
		f->commit_frame = (b[4] | b[5] | b[6] | b[7]) != 0;
		return SQLITE_OK;
	}
	if (page || (off == 0 && n == WW_WAL_HDR)) {
		rc = ww_append(f, p, n, off);
		if (rc != SQLITE_OK)
			return rc;
		if (page && f->commit_frame) {
			rc = ww_flush(f);
			ww_commit_state = rc == SQLITE_OK ? 1 : -1;
			return rc;
		}
		if (page && f->len >= WW_MAX_PENDING)
			return ww_flush(f);
		f->half_frame = false;
		return SQLITE_OK;
	}
	rc = ww_flush(f);
	if (rc != SQLITE_OK)
		return rc;
	__atomic_add_fetch(&ww_writes_out, 1, __ATOMIC_RELAXED);
	return f->vf.real->pMethods->xWrite(f->vf.real, p, n, off);
}

static int ww_close(sqlite3_file *file)
{
	struct ww_file *f = (struct ww_file *)file;
	int rc = ww_flush(f);
	int crc = f->vf.real->pMethods->xClose(f->vf.real);

	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	return rc != SQLITE_OK ? rc : crc;
}

static int ww_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off)
{
	struct ww_file *f = (struct ww_file *)file;
	int rc = ww_flush(f);

	return rc != SQLITE_OK ? rc : fwd_vfs_pass_read(file, p, n, off);
}

static int ww_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct ww_file *f = (struct ww_file *)file;
	int rc = ww_flush(f);

	return rc != SQLITE_OK ? rc : fwd_vfs_pass_truncate(file, size);
}

static int ww_sync(sqlite3_file *file, int flags)
{
	struct ww_file *f = (struct ww_file *)file;
	int rc = ww_flush(f);

	return rc != SQLITE_OK ? rc : fwd_vfs_pass_sync(file, flags);
}

static int ww_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct ww_file *f = (struct ww_file *)file;
	int rc = ww_flush(f);

	return rc != SQLITE_OK ? rc : fwd_vfs_pass_file_size(file, size);
}

/* A WAL file is never mapped or given shared memory by SQLite; the methods for it pass on
 * all the same, for the methods' version to be the underlying file's. */
static int ww_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp)
{
	struct ww_file *f = (struct ww_file *)file;
	int rc = ww_flush(f);

	return rc != SQLITE_OK ? rc : fwd_vfs_pass_fetch(file, off, n, pp);
}

static const sqlite3_io_methods ww_io = {
	.iVersion = 3,
	.xClose = ww_close,
	.xRead = ww_read,
	.xWrite = ww_write,
	.xTruncate = ww_truncate,
	.xSync = ww_sync,
	.xFileSize = ww_file_size,
	.xLock = fwd_vfs_pass_lock,
	.xUnlock = fwd_vfs_pass_unlock,
	.xCheckReservedLock = fwd_vfs_pass_check_reserved,
	.xFileControl = fwd_vfs_pass_file_control,
	.xSectorSize = fwd_vfs_pass_sector_size,
	.xDeviceCharacteristics = fwd_vfs_pass_device_characteristics,
	.xShmMap = fwd_vfs_pass_shm_map,
	.xShmLock = fwd_vfs_pass_shm_lock,
	.xShmBarrier = fwd_vfs_pass_shm_barrier,
	.xShmUnmap = fwd_vfs_pass_shm_unmap,
	.xFetch = ww_fetch,
	.xUnfetch = fwd_vfs_pass_unfetch,
};

/* WAL files get ww_io over the default VFS's file; any other file is the default VFS's
 * file itself, opened in the space SQLite gives (which is larger than it needs). The
 * default VFS is given its own sqlite3_vfs, whose pAppData it may use. */
static int ww_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
		   int *out_flags)
{
	struct ww_file *f = (struct ww_file *)file;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return ww_root->xOpen(ww_root, name, file, flags, out_flags);
	memset(f, 0, sizeof(*f));
	return fwd_vfs_open_wrapped(ww_root, name, file, sizeof(*f), &ww_io, flags, out_flags);
}

static void ww_register_once(void)
{
	sqlite3_vfs *root = sqlite3_vfs_find(NULL);

	if (!root || root->iVersion < 1)
		return;
	ww_root = root;
	fwd_vfs_derive(&ww_vfs, root, FWD_WALWRITE_VFS, sizeof(struct ww_file), ww_open);
	if (sqlite3_vfs_register(&ww_vfs, 0) == SQLITE_OK)
		ww_registered = 0;
}

int fwd_walwrite_register(void)
{
	pthread_once(&ww_once, ww_register_once);
	return ww_registered;
}

void fwd_walwrite_totals(size_t *writes_in, size_t *writes_out)
{
	*writes_in = __atomic_load_n(&ww_writes_in, __ATOMIC_RELAXED);
	*writes_out = __atomic_load_n(&ww_writes_out, __ATOMIC_RELAXED);
}

void fwd_walwrite_commit_reset(void)
{
	ww_commit_state = 0;
}

int fwd_walwrite_commit_state(void)
{
	return ww_commit_state;
}
