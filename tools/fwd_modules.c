/* Interpreters' SQLite modules (see fwd_modules.h). */
#include "fwd_modules.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a family keeps its SQLite modules: glob patterns in which "@" stands for the
 * directory above the interpreter's (its installation prefix) and "%" for the version
 * its name carries ("3.11" of python3.11; "*" when it carries none). */
struct modules_family {
	const char *family;
	const char *prefix;       /* the interpreter's name begins with it */
	const char *const *globs; /* NULL-terminated */
};

/* Each family's "@" patterns come first (see fwd_modules_find()). */
static const char *const modules_python[] = {
	"@/lib/python%/lib-dynload/_sqlite3*.so",
	"/usr/lib/python%/lib-dynload/_sqlite3*.so",
	"/usr/local/lib/python%/lib-dynload/_sqlite3*.so",
	NULL,
};

static const char *const modules_php[] = {
	"@/lib/php/extensions/*/sqlite3.so",
	"@/lib/php/extensions/*/pdo_sqlite.so",
	"/usr/lib/php/*/sqlite3.so",
	"/usr/lib/php/*/pdo_sqlite.so",
	NULL,
};

static const char *const modules_ruby[] = {
	"@/lib/ruby/gems/*/gems/sqlite3-*/lib/sqlite3/sqlite3_native.so",
	"@/lib/ruby/gems/*/gems/sqlite3-*/lib/sqlite3/*/sqlite3_native.so",
	"@/lib/ruby/gems/*/extensions/*/*/sqlite3-*/sqlite3/sqlite3_native.so",
	"/usr/lib/*/ruby/vendor_ruby/*/sqlite3/sqlite3_native.so",
	"/usr/lib/ruby/vendor_ruby/*/sqlite3/sqlite3_native.so",
	"/var/lib/gems/*/gems/sqlite3-*/lib/sqlite3/sqlite3_native.so",
	"/var/lib/gems/*/gems/sqlite3-*/lib/sqlite3/*/sqlite3_native.so",
	"/var/lib/gems/*/extensions/*/*/sqlite3-*/sqlite3/sqlite3_native.so",
	NULL,
};

static const char *const modules_tcl[] = {
	"@/lib/sqlite3*/*.so",
	"@/lib/tcl*/sqlite3*/*.so",
	"/usr/lib/tcltk/sqlite3*/*.so",
	"/usr/lib/tcltk/*/sqlite3*/*.so",
	"/usr/lib/*/tcltk/sqlite3*/*.so",
	NULL,
};

static const struct modules_family modules_families[] = {
	{ "Python", "python", modules_python },
	{ "PHP", "php", modules_php },
	{ "Ruby", "ruby", modules_ruby },
	{ "Tcl", "tclsh", modules_tcl },
	{ "Tcl", "wish", modules_tcl },
};

/* The version in an interpreter's name after its prefix ("3.11" of python3.11), into
 * out; "*" when there is none. */
static void modules_version(const char *base, const char *prefix, char *out, size_t size)
{
	const char *v = base + strlen(prefix);
	size_t n = strspn(v, "0123456789.");

	if (n && n < size && !v[n] && strchr(v, '.'))
		snprintf(out, size, "%.*s", (int)n, v);
	else
		snprintf(out, size, "%s*", n < size - 1 ? v : "");
}

/* The pattern with "@" and "%" replaced, into out (PATH_MAX bytes). Returns 0 or
 * -ENAMETOOLONG. */
static int modules_expand(const char *pattern, const char *prefix_dir, const char *version,
			  char *out)
{
	size_t o = 0;

	for (const char *p = pattern; *p; p++) {
		const char *rep = *p == '@' ? prefix_dir : *p == '%' ? version : NULL;
		size_t n = rep ? strlen(rep) : 1;

		if (o + n >= PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(out + o, rep ? rep : p, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

static int modules_add(struct fwd_modules *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->paths[i], path))
			return 0;
	if (m->n == FWD_MODULES_MAX)
		return 0;
	if (!m->paths && !(m->paths = calloc(FWD_MODULES_MAX, sizeof(*m->paths))))
		return -ENOMEM;
	m->paths[m->n] = strdup(path);
	if (!m->paths[m->n])
		return -ENOMEM;
	m->n++;
	return 0;
}

int fwd_modules_find(const char *path, struct fwd_modules *m)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	char prefix_dir[PATH_MAX], pattern[PATH_MAX], version[32];
	const struct modules_family *fam = NULL;
	bool own = false;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < sizeof(modules_families) / sizeof(modules_families[0]); i++)
		if (!strncmp(base, modules_families[i].prefix, strlen(modules_families[i].prefix)))
			fam = &modules_families[i];
	if (!fam)
		return 0;
	m->family = fam->family;
	modules_version(base, fam->prefix, version, sizeof(version));
	/* the directory above bin/ */
	snprintf(prefix_dir, sizeof(prefix_dir), "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	slash = strrchr(prefix_dir, '/');
	if (slash)
		prefix_dir[slash == prefix_dir ? 1 : slash - prefix_dir] = '\0';
	/* the interpreter's own installation ("@") first; elsewhere only when it has none */
	for (size_t i = 0; !rc && fam->globs[i]; i++) {
		glob_t g;

		if (fam->globs[i][0] != '@' && m->n && own)
			break;
		if (modules_expand(fam->globs[i], prefix_dir, version, pattern))
			continue;
		if (glob(pattern, 0, NULL, &g))
			continue;
		for (size_t j = 0; !rc && j < g.gl_pathc; j++) {
			char real[PATH_MAX];

			rc = modules_add(m, realpath(g.gl_pathv[j], real) ? real : g.gl_pathv[j]);
			own |= fam->globs[i][0] == '@';
		}
		globfree(&g);
	}
	if (rc)
		fwd_modules_free(m);
	return rc;
}

void fwd_modules_free(struct fwd_modules *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->paths[i]);
	free(m->paths);
	memset(m, 0, sizeof(*m));
}
