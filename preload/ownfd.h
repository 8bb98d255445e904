/* Descriptors the interposer opened for itself, and how it tells they are still its own.
 *
 * A program may close any descriptor it did not open (daemons close everything from 3 up,
 * close_range() does it in one call) and then open files of its own, which take the lowest
 * free numbers: the interposer's old numbers. A number alone therefore proves nothing. Each
 * descriptor of ours is kept with the identity (st_dev, st_ino) of the file or socket it
 * was opened on, and compared with what the number holds before each use: a descriptor
 * that is no longer ours is forgotten, never used and never closed (it is the program's
 * now). This is the rule transport.c and trace.c live by; ownfd is its shared form for the
 * -pos descriptors (forward.c), the log file (log.c) and the event thread's sockets
 * (events_follow.c).
 *
 * The identity is read with statx(AT_STATX_DONT_SYNC): on a FUSE mount (LiteFS) a plain
 * fstat() is a round trip to the file system's process whenever its attributes are not
 * cached, while device and inode numbers never change and need none. Every function keeps
 * errno and is safe from any thread on distinct records. */
#ifndef OWNFD_H
#define OWNFD_H

#include <stdbool.h>
#include <sys/types.h>

/* A descriptor of ours: fd -1 when none. */
struct ownfd {
	int fd;
	dev_t dev;
	ino_t ino;
};

#define OWNFD_NONE ((struct ownfd){ .fd = -1 })

/* Records fd, just opened by the caller, with the identity of what it is open on. Returns
 * 0, or a negative errno when that cannot be read (o is then OWNFD_NONE and fd is left
 * open: the caller closes it). */
int ownfd_take(struct ownfd *o, int fd);

/* Whether o->fd is still open on the file or socket it was recorded with. False for
 * OWNFD_NONE. */
bool ownfd_ours(const struct ownfd *o);

/* Closes o->fd if it is still ours, and forgets it either way (o becomes OWNFD_NONE). Only
 * for a descriptor no other thread may be using. */
void ownfd_close(struct ownfd *o);

#endif
