/* Where the dynamic loader (glibc's ld.so) would find the libraries a program needs, for
 * `litefs-fwd doctor`: an approximation of its search, without running it:
 *   DT_RPATH of the object (when it has no DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH,
 *   the directories of /etc/ld.so.conf (its include lines followed), then /lib64,
 *   /usr/lib64, /lib and /usr/lib;
 * $ORIGIN in a path is the directory of the object that names it; a library of another
 * ELF class or machine than the program's is passed over, as the loader does. */
#ifndef FWD_LIBPATH_H
#define FWD_LIBPATH_H

#include <limits.h>
#include <stddef.h>

#include "elf_probe.h"

/* The directories of /etc/ld.so.conf, read once per search. */
struct fwd_libpath {
	char **dirs;
	size_t n, cap;
};

/* Reads /etc/ld.so.conf (and what it includes) into lp. Returns 0 or -ENOMEM; a file
 * that cannot be read adds nothing. */
int fwd_libpath_load(struct fwd_libpath *lp);
void fwd_libpath_free(struct fwd_libpath *lp);

/* Finds the library name needed by the object at origin_path (whose probe is obj) for a
 * program of class elf_class and machine machine. Returns 0 with its path in out (size
 * PATH_MAX), or -ENOENT. */
int fwd_libpath_find(const struct fwd_libpath *lp, const char *name, const char *origin_path,
		     const struct elf_probe *obj, unsigned char elf_class, unsigned machine,
		     char *out);

#endif
