/* SQL names the interposer and the forwarder put into statement text themselves (the
 * tracking table's): only plain names, which need no quoting and cannot carry SQL. */
#ifndef SQLNAME_H
#define SQLNAME_H

#include <stdbool.h>

/* Longest plain name, in bytes. */
#define SQLNAME_MAX 63

/* Whether s is a plain SQL name: [A-Za-z_][A-Za-z0-9_]*, 1 to SQLNAME_MAX bytes. */
bool sqlname_is_plain(const char *s);

#endif
