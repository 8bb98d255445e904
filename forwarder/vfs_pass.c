/* Pass-through methods of a wrapping SQLite file (vfs_pass.h). */
#include "vfs_pass.h"

static sqlite3_file *vfs_real(sqlite3_file *file)
{
	return ((struct fwd_vfs_file *)file)->real;
}

int fwd_vfs_open_wrapped(sqlite3_vfs *root, const char *name, sqlite3_file *file,
			 size_t wrap_size, const sqlite3_io_methods *io, int flags, int *out_flags)
{
	struct fwd_vfs_file *f = (struct fwd_vfs_file *)file;
	int rc;

	f->real = (sqlite3_file *)((char *)file + wrap_size);
	rc = root->xOpen(root, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return rc;
	}
	if (f->real->pMethods->iVersion < io->iVersion) {
		f->real->pMethods->xClose(f->real);
		return root->xOpen(root, name, file, flags, out_flags);
	}
	f->base.pMethods = io;
	return SQLITE_OK;
}

void fwd_vfs_derive(sqlite3_vfs *vfs, sqlite3_vfs *root, const char *name, size_t wrap_size,
		    int (*open)(sqlite3_vfs *, const char *, sqlite3_file *, int, int *))
{
	*vfs = *root;
	vfs->szOsFile = (int)wrap_size + root->szOsFile;
	vfs->pNext = NULL;
	vfs->zName = name;
	vfs->xOpen = open;
}

int fwd_vfs_pass_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xRead(r, p, n, off);
}

int fwd_vfs_pass_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xWrite(r, p, n, off);
}

int fwd_vfs_pass_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xTruncate(r, size);
}

int fwd_vfs_pass_sync(sqlite3_file *file, int flags)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xSync(r, flags);
}

int fwd_vfs_pass_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xFileSize(r, size);
}

int fwd_vfs_pass_lock(sqlite3_file *file, int level)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xLock(r, level);
}

int fwd_vfs_pass_unlock(sqlite3_file *file, int level)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xUnlock(r, level);
}

int fwd_vfs_pass_check_reserved(sqlite3_file *file, int *out)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xCheckReservedLock(r, out);
}

int fwd_vfs_pass_file_control(sqlite3_file *file, int op, void *arg)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xFileControl(r, op, arg);
}

int fwd_vfs_pass_sector_size(sqlite3_file *file)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xSectorSize(r);
}

int fwd_vfs_pass_device_characteristics(sqlite3_file *file)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xDeviceCharacteristics(r);
}

int fwd_vfs_pass_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xShmMap(r, pg, pgsz, extend, pp);
}

int fwd_vfs_pass_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xShmLock(r, offset, n, flags);
}

void fwd_vfs_pass_shm_barrier(sqlite3_file *file)
{
	sqlite3_file *r = vfs_real(file);

	r->pMethods->xShmBarrier(r);
}

int fwd_vfs_pass_shm_unmap(sqlite3_file *file, int del)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xShmUnmap(r, del);
}

int fwd_vfs_pass_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xFetch(r, off, n, pp);
}

int fwd_vfs_pass_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	sqlite3_file *r = vfs_real(file);

	return r->pMethods->xUnfetch(r, off, p);
}
