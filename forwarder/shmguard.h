/* Keeps the forwarder alive when the shared memory SQLite maps from a mount goes with it.
 *
 * In WAL mode SQLite maps <db>-shm into memory. When the file system under it goes (a node's
 * LiteFS stops, or the file is truncated under the mapping) the next touch of that memory
 * is a SIGBUS, which kills the process. The forwarder's connections open their databases
 * through this VFS, which notes each region of shared memory SQLite maps; a SIGBUS on one
 * of them replaces the region with private zeroed memory, and from then on every lock of
 * that shared memory fails with an I/O error, so the statement fails, the forwarder closes
 * the connection (as for any I/O error) and opens another. A SIGBUS anywhere else is left
 * to the action it had before. */
#ifndef FWD_SHMGUARD_H
#define FWD_SHMGUARD_H

#include <stddef.h>

#define FWD_SHMGUARD_VFS "litefs-fwd-shmguard"

/* Registers the VFS as the process's default, over the default VFS at the time of the
 * first call, and installs the SIGBUS handler; later calls do nothing. To be called before
 * any other VFS is registered over the default one, and before threads that use SQLite
 * start. Returns 0, or a negative errno (-ENOSYS: no default VFS or SQLite refused;
 * sigaction's error): the process then runs without the guard. */
int fwd_shmguard_register(void);

/* The regions of shared memory replaced since the process started. */
size_t fwd_shmguard_rescues(void);

#endif
