/* Descriptors of the interposer's own, checked by identity before use (see ownfd.h). */
#include "ownfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The identity of what fd is open on. Returns 0 or a negative errno (EBADF: nothing is open
 * on that number). statx() without syncing with the file system, fstat() where statx() is
 * not to be had (old kernels, seccomp filters): both give the same numbers. */
static int ownfd_identity(int fd, dev_t *dev, ino_t *ino)
{
	struct statx sx;
	struct stat st;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &sx) == 0 &&
	    (sx.stx_mask & STATX_INO)) {
		*dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
		*ino = (ino_t)sx.stx_ino;
		return 0;
	}
	if (errno == EBADF)
		return -EBADF;
	if (fstat(fd, &st))
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int ownfd_take(struct ownfd *o, int fd)
{
	int saved = errno, rc;

	*o = OWNFD_NONE;
	if (fd < 0) {
		rc = -EBADF;
		goto out;
	}
	rc = ownfd_identity(fd, &o->dev, &o->ino);
	if (!rc)
		o->fd = fd;
out:
	errno = saved;
	return rc;
}

bool ownfd_ours(const struct ownfd *o)
{
	int saved = errno;
	dev_t dev;
	ino_t ino;
	bool ours;

	ours = o->fd >= 0 && ownfd_identity(o->fd, &dev, &ino) == 0 && dev == o->dev &&
	       ino == o->ino;
	errno = saved;
	return ours;
}

void ownfd_close(struct ownfd *o)
{
	int saved = errno;

	if (ownfd_ours(o))
		close(o->fd);
	*o = OWNFD_NONE;
	errno = saved;
}
