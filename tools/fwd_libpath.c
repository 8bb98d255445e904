/* The dynamic loader's library search, approximated (see fwd_libpath.h). */
#include "fwd_libpath.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIBPATH_CONF "/etc/ld.so.conf"
/* How deep include lines of ld.so.conf are followed. */
#define LIBPATH_MAX_INCLUDE_DEPTH 4

static const char *const libpath_default[] = { "/lib64", "/usr/lib64", "/lib", "/usr/lib" };

static int libpath_add(struct fwd_libpath *lp, const char *dir)
{
	char **grown;

	for (size_t i = 0; i < lp->n; i++)
		if (!strcmp(lp->dirs[i], dir))
			return 0;
	if (lp->n == lp->cap) {
		size_t cap = lp->cap ? lp->cap * 2 : 16;

		grown = realloc(lp->dirs, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		lp->dirs = grown;
		lp->cap = cap;
	}
	lp->dirs[lp->n] = strdup(dir);
	if (!lp->dirs[lp->n])
		return -ENOMEM;
	lp->n++;
	return 0;
}

/* Reads the ld.so.conf file path: a directory per line, "include GLOB" lines (relative
 * globs are relative to the file's directory), "#" comments. */
static int libpath_read_conf(struct fwd_libpath *lp, const char *path, int depth)
{
	char line[PATH_MAX + 16];
	FILE *f;
	int rc = 0;

	if (depth > LIBPATH_MAX_INCLUDE_DEPTH)
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if ((end = strchr(p, '#')))
			*end = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t' ||
				   end[-1] == '\r'))
			*--end = '\0';
		if (!*p)
			continue;
		if (!strncmp(p, "include", 7) && (p[7] == ' ' || p[7] == '\t')) {
			char pattern[PATH_MAX * 2];
			glob_t g;

			for (p += 8; *p == ' ' || *p == '\t'; p++)
				;
			if (*p == '/') {
				snprintf(pattern, sizeof(pattern), "%s", p);
			} else {
				const char *slash = strrchr(path, '/');

				snprintf(pattern, sizeof(pattern), "%.*s/%s",
					 slash ? (int)(slash - path) : 1, slash ? path : ".", p);
			}
			if (glob(pattern, 0, NULL, &g) == 0) {
				for (size_t i = 0; !rc && i < g.gl_pathc; i++)
					rc = libpath_read_conf(lp, g.gl_pathv[i], depth + 1);
				globfree(&g);
			}
			continue;
		}
		if (*p == '/')
			rc = libpath_add(lp, p);
	}
	fclose(f);
	return rc;
}

int fwd_libpath_load(struct fwd_libpath *lp)
{
	memset(lp, 0, sizeof(*lp));
	return libpath_read_conf(lp, LIBPATH_CONF, 0);
}

void fwd_libpath_free(struct fwd_libpath *lp)
{
	for (size_t i = 0; i < lp->n; i++)
		free(lp->dirs[i]);
	free(lp->dirs);
	memset(lp, 0, sizeof(*lp));
}

/* dir/name into out with $ORIGIN and ${ORIGIN} replaced by origin_dir. Returns 0, or
 * -ENAMETOOLONG. */
static int libpath_join(const char *dir, size_t dirlen, const char *origin_dir,
			const char *name, char *out)
{
	size_t o = 0, i = 0;

	while (i < dirlen) {
		const char *rep = NULL;
		size_t skip = 0;

		if (!strncmp(dir + i, "$ORIGIN", 7)) {
			rep = origin_dir;
			skip = 7;
		} else if (!strncmp(dir + i, "${ORIGIN}", 9)) {
			rep = origin_dir;
			skip = 9;
		}
		if (rep) {
			size_t n = strlen(rep);

			if (o + n >= PATH_MAX)
				return -ENAMETOOLONG;
			memcpy(out + o, rep, n);
			o += n;
			i += skip;
		} else {
			if (o + 1 >= PATH_MAX)
				return -ENAMETOOLONG;
			out[o++] = dir[i++];
		}
	}
	if (o + 1 + strlen(name) >= PATH_MAX)
		return -ENAMETOOLONG;
	out[o++] = '/';
	memcpy(out + o, name, strlen(name) + 1);
	return 0;
}

/* Whether path is a library the program can load: a regular ELF file of its class and
 * machine (read from the identification bytes and e_machine alone). */
static bool libpath_fits(const char *path, unsigned char elf_class, unsigned machine)
{
	unsigned char h[EI_NIDENT + 4];
	unsigned m;
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = fstat(fd, &st) || !S_ISREG(st.st_mode) ? -1 : pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, ELFMAG, SELFMAG) || h[EI_CLASS] != elf_class)
		return false;
	/* e_machine follows e_type, right after the identification, in either class */
	m = h[EI_DATA] == ELFDATA2MSB ? (unsigned)h[EI_NIDENT + 2] << 8 | h[EI_NIDENT + 3] :
					(unsigned)h[EI_NIDENT + 3] << 8 | h[EI_NIDENT + 2];
	return m == machine;
}

/* Tries each directory of the colon-separated list dirs. */
static int libpath_try_list(const char *dirs, const char *origin_dir, const char *name,
			    unsigned char elf_class, unsigned machine, char *out)
{
	const char *p = dirs;

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		/* an empty entry is the current directory, as for the loader */
		if (!libpath_join(n ? p : ".", n ? n : 1, origin_dir, name, out) &&
		    libpath_fits(out, elf_class, machine))
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	return -ENOENT;
}

int fwd_libpath_find(const struct fwd_libpath *lp, const char *name, const char *origin_path,
		     const struct elf_probe *obj, unsigned char elf_class, unsigned machine,
		     char *out)
{
	char origin_dir[PATH_MAX];
	const char *slash = strrchr(origin_path, '/');
	const char *env = getenv("LD_LIBRARY_PATH");

	snprintf(origin_dir, sizeof(origin_dir), "%.*s", slash ? (int)(slash - origin_path) : 1,
		 slash ? origin_path : ".");
	if (strchr(name, '/')) {
		if (strlen(name) >= PATH_MAX || !libpath_fits(name, elf_class, machine))
			return -ENOENT;
		memcpy(out, name, strlen(name) + 1);
		return 0;
	}
	if (obj->rpath && !obj->runpath &&
	    !libpath_try_list(obj->rpath, origin_dir, name, elf_class, machine, out))
		return 0;
	if (env && !libpath_try_list(env, origin_dir, name, elf_class, machine, out))
		return 0;
	if (obj->runpath &&
	    !libpath_try_list(obj->runpath, origin_dir, name, elf_class, machine, out))
		return 0;
	for (size_t i = 0; i < lp->n; i++)
		if (!libpath_join(lp->dirs[i], strlen(lp->dirs[i]), origin_dir, name, out) &&
		    libpath_fits(out, elf_class, machine))
			return 0;
	for (size_t i = 0; i < sizeof(libpath_default) / sizeof(libpath_default[0]); i++)
		if (!libpath_join(libpath_default[i], strlen(libpath_default[i]), origin_dir, name,
				  out) && libpath_fits(out, elf_class, machine))
			return 0;
	return -ENOENT;
}
