/* The methods of a SQLite file that wraps another and passes a call on unchanged: the
 * forwarder's VFSes (walwrite.c, shmguard.c) each change a few methods of the default
 * VFS's files and use these for the others. */
#ifndef FWD_VFS_PASS_H
#define FWD_VFS_PASS_H

#include <stddef.h>

#include <sqlite3.h>

/* The head of a wrapping file; `real` is the wrapped one (in the space after the wrapper's
 * own struct, which SQLite allocates as the VFS's szOsFile). */
struct fwd_vfs_file {
	sqlite3_file base;
	sqlite3_file *real;
};

/* Opens name through root into the file that wraps it: `real` is placed at wrap_size bytes
 * into file (the wrapper's struct, whose other fields the caller set), and the file gets
 * io. A wrapped file whose methods are older than io's is opened again unwrapped, as
 * root's own file in file's space (methods it lacks could not be passed on). Returns
 * root's result; on failure nothing is left open. */
int fwd_vfs_open_wrapped(sqlite3_vfs *root, const char *name, sqlite3_file *file,
			 size_t wrap_size, const sqlite3_io_methods *io, int flags, int *out_flags);

/* Makes *vfs a copy of root named name whose files are wrap_size bytes of wrapper before
 * root's own, opened by open. */
void fwd_vfs_derive(sqlite3_vfs *vfs, sqlite3_vfs *root, const char *name, size_t wrap_size,
		    int (*open)(sqlite3_vfs *, const char *, sqlite3_file *, int, int *));

int fwd_vfs_pass_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off);
int fwd_vfs_pass_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off);
int fwd_vfs_pass_truncate(sqlite3_file *file, sqlite3_int64 size);
int fwd_vfs_pass_sync(sqlite3_file *file, int flags);
int fwd_vfs_pass_file_size(sqlite3_file *file, sqlite3_int64 *size);
int fwd_vfs_pass_lock(sqlite3_file *file, int level);
int fwd_vfs_pass_unlock(sqlite3_file *file, int level);
int fwd_vfs_pass_check_reserved(sqlite3_file *file, int *out);
int fwd_vfs_pass_file_control(sqlite3_file *file, int op, void *arg);
int fwd_vfs_pass_sector_size(sqlite3_file *file);
int fwd_vfs_pass_device_characteristics(sqlite3_file *file);
int fwd_vfs_pass_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp);
int fwd_vfs_pass_shm_lock(sqlite3_file *file, int offset, int n, int flags);
void fwd_vfs_pass_shm_barrier(sqlite3_file *file);
int fwd_vfs_pass_shm_unmap(sqlite3_file *file, int del);
int fwd_vfs_pass_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp);
int fwd_vfs_pass_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p);

#endif
