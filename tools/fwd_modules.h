/* The modules through which interpreters load SQLite at run time (with dlopen), for
 * `litefs-fwd doctor`: an interpreter such as python3 does not link libsqlite3 itself,
 * its SQLite module does (Python's _sqlite3, PHP's sqlite3 and pdo_sqlite, Ruby's
 * sqlite3_native, Tcl's sqlite3 package). They are looked for where the interpreter's
 * own installation and Debian's packages put them. */
#ifndef FWD_MODULES_H
#define FWD_MODULES_H

#include <stddef.h>

/* Most modules reported. */
#define FWD_MODULES_MAX 16

struct fwd_modules {
	const char *family;   /* "Python", "PHP", "Ruby", "Tcl"; NULL: not an interpreter
			       * known here */
	char **paths;
	size_t n;
};

/* Finds the SQLite modules of the interpreter at path (its real path: its name and
 * directory tell the family, the version and the installation). Returns 0 (m->n may be
 * 0) or -ENOMEM. */
int fwd_modules_find(const char *path, struct fwd_modules *m);
void fwd_modules_free(struct fwd_modules *m);

#endif
