/* The forwarder's SQLite VFS: the default VFS, except that the frames of a transaction
 * written to a <db>-wal file reach the file as one write, when its commit frame is
 * complete, instead of two writes per page (frame header, then page). On LiteFS every
 * write to the mount is a FUSE request, a round trip through the kernel to the LiteFS
 * process; the forwarder's transactions carry the record of requests and, under group
 * commit, the pages of many statements, so most of their writes are WAL frames. */
#ifndef FWD_WALWRITE_H
#define FWD_WALWRITE_H

#include <stddef.h>

#define FWD_WALWRITE_VFS "litefs-fwd-walwrite"

/* Registers the VFS (not as the default) over the default VFS at the time of the first
 * call; later calls do nothing. Thread-safe. Returns 0, or -ENOSYS when there is no default
 * VFS or SQLite refuses the registration (the caller then uses the default VFS). */
int fwd_walwrite_register(void);

/* Since the process started, the writes SQLite made to <db>-wal files through this VFS,
 * and the writes that reached those files (for tests and figures). */
void fwd_walwrite_totals(size_t *writes_in, size_t *writes_out);

/* Forgets, for the calling thread, what became of the last commit frame it wrote. */
void fwd_walwrite_commit_reset(void);
/* What became of the commit frame the calling thread wrote to a WAL through this VFS since
 * fwd_walwrite_commit_reset(): 1 its write succeeded; -1 it failed, so the transaction
 * never reached the file (nor LiteFS); 0 none was written (a transaction that failed
 * before, or a rollback journal). */
int fwd_walwrite_commit_state(void);

#endif
