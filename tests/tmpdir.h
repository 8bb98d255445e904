/* Temporary directories for the unit tests: made under $TMPDIR (default /tmp), removed with
 * everything in them. */
#ifndef TMPDIR_H
#define TMPDIR_H

#include <stddef.h>

/* Makes ${TMPDIR:-/tmp}/NAME.XXXXXX and writes its path to buf. Returns 0 or -1. */
int tmpdir_make(char *buf, size_t len, const char *name);
/* Removes dir and everything below it; nothing when dir is empty. Returns 0 or -1. */
int tmpdir_remove(const char *dir);

#endif
