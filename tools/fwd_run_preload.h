/* `litefs-fwd run`: finding the interposer and putting it in front of LD_PRELOAD. */
#ifndef FWD_RUN_PRELOAD_H
#define FWD_RUN_PRELOAD_H

#include <stddef.h>

#define FWD_RUN_PRELOAD_NAME "liblitefs_fwd.so"

/* Checks that path names an interposer ld.so can preload: a readable regular file that
 * starts like an ELF object, whose canonical absolute path (written to out) holds none of
 * LD_PRELOAD's separators (space, tab, ':'). A relative path is taken from the working
 * directory. Returns 0, or a negative errno with the reason in err (without the path). */
int fwd_run_preload_check(const char *path, char *out, size_t size, char *err, size_t errlen);

/* Finds the interposer and writes its canonical absolute path to out. When given is not
 * NULL (the path from an option or the environment, named by given_from in messages), it
 * alone is checked. Otherwise the first usable of, in order: FWD_RUN_PRELOAD_NAME in the
 * directory of exe (the executable: a build tree), in exe's ../lib (an install under any
 * prefix), in libdir (the install location built in); exe or libdir NULL: not looked at.
 * The library that sits with this very executable comes before a copy installed
 * elsewhere, which may be of another version. Returns 0, or -ENOENT (or the check's
 * error for given) with a message in err that names every place looked at. */
int fwd_run_preload_find(const char *given, const char *given_from, const char *exe,
			 const char *libdir, char *out, size_t size, char *err, size_t errlen);

/* The value of LD_PRELOAD for the program: lib, then existing exactly as it was (after a
 * ':'), or lib alone when existing is NULL or empty. Returns 0 with *out allocated (free()
 * it), or -ENOMEM. */
int fwd_run_preload_value(const char *lib, const char *existing, char **out);

/* A copy of the environment env (NULL-terminated) with every LD_PRELOAD entry replaced by
 * one LD_PRELOAD=value at the end; the other entries keep their order. Returns 0 with *out
 * set to one allocation holding the array and the new entry (free() it), or -ENOMEM. */
int fwd_run_preload_environ(char *const *env, const char *value, char ***out);

#endif
