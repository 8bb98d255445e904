/* Whether a program can be interposed (see fwd_program.h). */
#include "fwd_program.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fwd_libpath.h"
#include "fwd_modules.h"

/* Interpreters of interpreters followed (Linux itself allows 4 levels). */
#define PROGRAM_MAX_DEPTH 4
/* Libraries looked at, the program's and theirs. */
#define PROGRAM_MAX_LIBS 512

struct program_ctx {
	const struct elf_probe *lib; /* the interposer's, or NULL */
	struct fwd_findings *f;
	struct fwd_libpath lp;
	bool blocked;
};

/* What a walk through the libraries needed at start found. */
struct program_deps {
	char sqlite[PATH_MAX];      /* the libsqlite3 found, "" when none */
	char sqlite_name[NAME_MAX + 1];
	char via[NAME_MAX + 1];     /* the library that needs it; "" when the program does */
	char embedder[PATH_MAX];    /* a library other than libsqlite3 that defines and exports
				     * SQLite's API, "" when none */
	char missing[NAME_MAX + 1]; /* a library that cannot be found, "" when none */
	bool dlopen;                /* the program or a library it needs imports dlopen */
	bool dlmopen;               /* ... dlmopen */
	size_t seen;
};

const char *fwd_program_machine_name(unsigned machine, char *buf, size_t size)
{
	switch (machine) {
	case EM_X86_64:
		return "x86-64";
	case EM_386:
		return "i386";
	case EM_AARCH64:
		return "aarch64";
	case EM_ARM:
		return "arm";
	case EM_RISCV:
		return "riscv";
	case EM_PPC64:
		return "ppc64";
	case EM_S390:
		return "s390";
	default:
		snprintf(buf, size, "machine %u", machine);
		return buf;
	}
}

static const char *program_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Finds cmd as execvp() would: a name with a slash as it is, else the first executable
 * file of that name in PATH. Returns 0 with out (PATH_MAX bytes) set, -EACCES when only
 * files that may not be executed were found, or -ENOENT. */
static int program_resolve(const char *cmd, char *out)
{
	const char *path = getenv("PATH"), *p;
	int rc = -ENOENT;
	struct stat st;

	if (strchr(cmd, '/')) {
		if (strlen(cmd) >= PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(out, cmd, strlen(cmd) + 1);
		if (stat(cmd, &st))
			return -errno;
		return S_ISREG(st.st_mode) && !access(cmd, X_OK) ? 0 : -EACCES;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; ) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if ((size_t)snprintf(out, PATH_MAX, "%.*s/%s", (int)(n ? n : 1), n ? p : ".",
				     cmd) < PATH_MAX && !stat(out, &st) && S_ISREG(st.st_mode)) {
			if (!access(out, X_OK))
				return 0;
			rc = -EACCES;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return rc;
}

/* Walks the libraries needed at start, breadth first, from the program at path (probe
 * p), into d. Returns 0 or -ENOMEM. */
static int program_walk_deps(struct program_ctx *c, const char *path, const struct elf_probe *p,
			     struct program_deps *d)
{
	char **paths = calloc(PROGRAM_MAX_LIBS, sizeof(*paths));
	size_t n = 0, head = 0;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	if (!paths)
		return -ENOMEM;
	if (!(paths[n++] = strdup(path))) {
		rc = -ENOMEM;
		goto out;
	}
	for (; head < n && !d->sqlite[0]; head++) {
		struct elf_probe obj;
		const struct elf_probe *o = p;

		if (head > 0) {
			if (elf_probe_file(paths[head], &obj))
				continue;
			o = &obj;
			if (o->sqlite_defined && !elf_probe_is_libsqlite3(paths[head]) &&
			    !d->embedder[0])
				snprintf(d->embedder, sizeof(d->embedder), "%s", paths[head]);
		}
		d->dlopen |= o->imports_dlopen;
		d->dlmopen |= o->imports_dlmopen;
		for (size_t i = 0; i < o->nneeded && !d->sqlite[0]; i++) {
			char found[PATH_MAX];
			bool dup = false;

			if (fwd_libpath_find(&c->lp, o->needed[i], paths[head], o, p->elf_class,
					     p->machine, found)) {
				if (!d->missing[0])
					snprintf(d->missing, sizeof(d->missing), "%s", o->needed[i]);
				continue;
			}
			if (elf_probe_is_libsqlite3(o->needed[i])) {
				snprintf(d->sqlite, sizeof(d->sqlite), "%s", found);
				snprintf(d->sqlite_name, sizeof(d->sqlite_name), "%s", o->needed[i]);
				snprintf(d->via, sizeof(d->via), "%s",
					 head ? program_base(paths[head]) : "");
				break;
			}
			for (size_t j = 0; j < n && !dup; j++)
				dup = !strcmp(paths[j], found);
			if (dup || n == PROGRAM_MAX_LIBS)
				continue;
			if (!(paths[n++] = strdup(found))) {
				rc = -ENOMEM;
				break;
			}
		}
		if (head > 0)
			elf_probe_free(&obj);
		if (rc)
			break;
	}
	d->seen = n;
out:
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return rc;
}

/* What to do about SQLite compiled into a program made by toolchain. */
static const char *program_embedded_fix(enum elf_probe_toolchain toolchain)
{
	switch (toolchain) {
	case ELF_TOOLCHAIN_GO:
		return "as a Go program, build it with CGO_ENABLED=1 and github.com/mattn/go-sqlite3 "
		       "with the build tag libsqlite3 (go build -tags libsqlite3), which links the "
		       "system's libsqlite3.so; a pure-Go SQLite (modernc.org/sqlite) can never be "
		       "interposed";
	case ELF_TOOLCHAIN_RUST:
		return "as a Rust program, build rusqlite (libsqlite3-sys) without its \"bundled\" "
		       "feature, so that it links the system's libsqlite3.so";
	case ELF_TOOLCHAIN_UNKNOWN:
		break;
	}
	return "link it with the system's shared libsqlite3 (-lsqlite3, libsqlite3.so) instead "
	       "of compiling sqlite3.c or libsqlite3.a into it";
}

/* How SQLite was found compiled into p, for a message. */
static void program_embedded_why(const struct elf_probe *p, char *buf, size_t size)
{
	if (p->sqlite_defined)
		snprintf(buf, size, "%u of SQLite's API functions are defined and exported by it",
			 p->sqlite_defined);
	else if (p->sqlite_local)
		snprintf(buf, size, "%u of SQLite's API functions are defined in it",
			 p->sqlite_local);
	else
		snprintf(buf, size, "%u of SQLite's own strings are in it, and it imports none of "
			 "SQLite's functions", p->sqlite_strings);
}

static void program_block(struct program_ctx *c)
{
	c->blocked = true;
}

/* Secure-execution mode: set-user-ID, set-group-ID or file capabilities. */
static void program_check_secure(struct program_ctx *c, const char *path, const struct stat *st)
{
	struct fwd_findings *f = c->f;
	const char *what = st->st_mode & S_ISUID ? "set-user-ID" :
			   st->st_mode & S_ISGID ? "set-group-ID" : NULL;

	if (!what && getxattr(path, "security.capability", NULL, 0) > 0)
		what = "given file capabilities";
	if (!what)
		return;
	program_block(c);
	fwd_findings_add(f, FWD_FINDING_FAIL, "%s is %s (owner uid %u, group gid %u): run by "
			 "anyone but its owner it runs in secure-execution mode, where the loader "
			 "ignores LD_PRELOAD (it would only load a library named without a slash, "
			 "from the system's library directories, that is itself set-user-ID)",
			 path, what, (unsigned)st->st_uid, (unsigned)st->st_gid);
	fwd_findings_fix(f, "run a copy without the bit (chmod u-s,g-s, or setcap -r), or "
			 "give the program the rights it needs another way");
}

static int program_check_file(struct program_ctx *c, const char *path, int depth);

/* A module loaded at run time (an interpreter's SQLite module): interposed when it needs
 * libsqlite3, not when SQLite is compiled into it. */
static int program_check_module(struct program_ctx *c, const char *family, const char *path)
{
	struct fwd_findings *f = c->f;
	struct program_deps d;
	struct elf_probe p;
	char why[160];
	int rc;

	rc = elf_probe_file(path, &p);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		fwd_findings_add(f, FWD_FINDING_WARN, "%s's SQLite module %s cannot be read: %s",
				 family, path, strerror(-rc));
		return 0;
	}
	rc = program_walk_deps(c, path, &p, &d);
	if (rc)
		goto out;
	if (d.sqlite[0]) {
		fwd_findings_add(f, FWD_FINDING_OK, "%s loads SQLite at run time through its "
				 "module %s, which needs %s (%s)%s%s: the interposer stands in for it",
				 family, path, d.sqlite_name, d.sqlite, d.via[0] ? " through " : "",
				 d.via);
	} else if (elf_probe_embeds_sqlite(&p)) {
		program_block(c);
		program_embedded_why(&p, why, sizeof(why));
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s's SQLite module %s has SQLite compiled "
				 "into it (%s): its calls never reach a library the interposer "
				 "stands in for", family, path, why);
		if (!strcmp(family, "Ruby"))
			fwd_findings_fix(f, "install the sqlite3 gem built against the system's "
					 "libsqlite3: gem install sqlite3 --platform=ruby -- "
					 "--enable-system-libraries (or Debian's ruby-sqlite3)");
		else
			fwd_findings_fix(f, "use a build of the module linked with the system's "
					 "shared libsqlite3");
	} else {
		fwd_findings_add(f, FWD_FINDING_WARN, "%s's module %s names no libsqlite3 and holds "
				 "no SQLite: how it gets SQLite is not known here", family, path);
	}
out:
	elf_probe_free(&p);
	return rc;
}

/* No SQLite at start: a program that loads libraries at run time may load it then. */
static int program_check_runtime(struct program_ctx *c, const char *path)
{
	struct fwd_findings *f = c->f;
	struct fwd_modules m;
	char real[PATH_MAX];
	int rc;

	rc = fwd_modules_find(realpath(path, real) ? real : path, &m);
	if (rc)
		return rc;
	if (!m.family) {
		fwd_findings_add(f, FWD_FINDING_WARN, "%s needs no libsqlite3 at start and has no "
				 "SQLite compiled in; it can load libraries at run time (it imports "
				 "dlopen): a libsqlite3 it loads then is interposed, SQLite compiled "
				 "into a module it loads is not", path);
	} else if (!m.n) {
		fwd_findings_add(f, FWD_FINDING_WARN, "%s is a %s interpreter, and no SQLite module "
				 "of it was found: a script using SQLite would fail to import it",
				 path, m.family);
		fwd_findings_fix(f, "install the %s SQLite module of this interpreter", m.family);
	}
	for (size_t i = 0; !rc && i < m.n; i++)
		rc = program_check_module(c, m.family, m.paths[i]);
	fwd_modules_free(&m);
	return rc;
}

/* The SQLite of a dynamically linked program (probe p). */
static int program_check_sqlite(struct program_ctx *c, const char *path,
				const struct elf_probe *p)
{
	struct fwd_findings *f = c->f;
	struct program_deps d;
	char why[160];
	int rc;

	rc = program_walk_deps(c, path, p, &d);
	if (rc)
		return rc;
	if (d.missing[0])
		fwd_findings_add(f, FWD_FINDING_WARN, "the library %s it needs is not where the "
				 "loader looks (RPATH, LD_LIBRARY_PATH, RUNPATH, /etc/ld.so.conf): it "
				 "may not start", d.missing);
	if (d.sqlite[0]) {
		fwd_findings_add(f, FWD_FINDING_OK, "it needs %s (%s)%s%s at start: the interposer, "
				 "loaded first, stands in for it", d.sqlite_name, d.sqlite,
				 d.via[0] ? " through " : "", d.via);
	} else if (elf_probe_embeds_sqlite(p)) {
		program_block(c);
		program_embedded_why(p, why, sizeof(why));
		fwd_findings_add(f, FWD_FINDING_FAIL, "SQLite is compiled into %s (%s): its calls "
				 "never reach a library the interposer can stand in for", path, why);
		fwd_findings_fix(f, "%s", program_embedded_fix(p->toolchain));
	} else if (d.embedder[0]) {
		fwd_findings_add(f, FWD_FINDING_WARN, "the library %s it needs has SQLite compiled "
				 "in and exports its API: calls it makes to its own SQLite may not "
				 "reach the interposer", d.embedder);
	} else if (d.dlopen) {
		rc = program_check_runtime(c, path);
		if (rc)
			return rc;
	} else {
		fwd_findings_add(f, FWD_FINDING_WARN, "%s does not use SQLite as far as its ELF file "
				 "tells (no libsqlite3 needed, none compiled in, no dlopen): nothing "
				 "to forward", path);
	}
	if (d.dlopen)
		fwd_findings_add(f, FWD_FINDING_NOTE, "it can load libraries at run time (dlopen): "
				 "the interposer also interposes dlopen and drops RTLD_DEEPBIND, "
				 "which would bind a module to its own libsqlite3 before the "
				 "interposer (PHP loads its extensions so), and passes everything "
				 "else on unchanged");
	if (d.dlmopen)
		fwd_findings_add(f, FWD_FINDING_WARN, "it imports dlmopen: a library loaded into a "
				 "new namespace sees no preloaded library, so SQLite loaded there "
				 "is not interposed");
	return 0;
}

/* A script: its interpreter is inspected in its place. */
static int program_check_script(struct program_ctx *c, const char *path, const char *head,
				size_t len, int depth)
{
	struct fwd_findings *f = c->f;
	char line[256], interp[PATH_MAX], *p, *arg, *end;
	const char *base;
	size_t n = strcspn(head, "\n");
	bool shell;
	int rc;

	if (n > len)
		n = len;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, head + 2, n > 2 ? n - 2 : 0);
	line[n > 2 ? n - 2 : 0] = '\0';
	for (p = line; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strcspn(p, " \t");
	arg = *end ? end + 1 : end;
	*end = '\0';
	while (*arg == ' ' || *arg == '\t')
		arg++;
	if (!*p) {
		program_block(c);
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s begins with #! but names no interpreter",
				 path);
		return 0;
	}
	if (!strcmp(program_base(p), "env")) {
		/* env [-S] [OPTIONS] NAME: the program env looks up on PATH */
		char *name = arg;

		while (*name == '-') {
			name += strcspn(name, " \t");
			while (*name == ' ' || *name == '\t')
				name++;
		}
		name[strcspn(name, " \t")] = '\0';
		if (!*name) {
			program_block(c);
			fwd_findings_add(f, FWD_FINDING_FAIL, "%s runs env with no program to run",
					 path);
			return 0;
		}
		rc = program_resolve(name, interp);
		if (rc) {
			program_block(c);
			fwd_findings_add(f, FWD_FINDING_FAIL, "%s is a script for %s, which is not "
					 "on PATH", path, name);
			return 0;
		}
	} else {
		snprintf(interp, sizeof(interp), "%s", p);
	}
	base = program_base(interp);
	shell = !strcmp(base, "sh") || !strcmp(base, "bash") || !strcmp(base, "dash") ||
		!strcmp(base, "zsh") || !strcmp(base, "ksh") || !strcmp(base, "mksh") ||
		!strcmp(base, "ash") || !strcmp(base, "busybox");
	if (shell) {
		fwd_findings_add(f, FWD_FINDING_NOTE, "%s is a shell script (%s): the programs it "
				 "starts inherit LD_PRELOAD; whether they can be interposed is told by "
				 "litefs-fwd doctor on each of them", path, interp);
		if (memmem(head, len, "pyenv", 5) || memmem(head, len, "rbenv", 5) ||
		    memmem(head, len, "asdf", 4))
			fwd_findings_fix(f, "it looks like a version manager's shim: inspect the "
					 "program it runs, e.g. litefs-fwd doctor \"$(pyenv which "
					 "%s)\"", program_base(path));
		return 0;
	}
	fwd_findings_add(f, FWD_FINDING_OK, "%s is a script for %s: the interpreter is what "
			 "loads SQLite", path, interp);
	return program_check_file(c, interp, depth + 1);
}

/* Inspects the executable file at path; depth counts the interpreters followed. */
static int program_check_file(struct program_ctx *c, const char *path, int depth)
{
	struct fwd_findings *f = c->f;
	char head[512], mbuf[32], lbuf[32];
	struct elf_probe p;
	struct stat st;
	ssize_t n;
	int fd, rc;

	if (depth > PROGRAM_MAX_DEPTH) {
		program_block(c);
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s: more than %d interpreters in a row",
				 path, PROGRAM_MAX_DEPTH);
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		program_block(c);
		fwd_findings_add(f, FWD_FINDING_FAIL, "cannot read %s: %s", path, strerror(-rc));
		return 0;
	}
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	head[n > 0 ? n : 0] = '\0';
	if (n >= 2 && head[0] == '#' && head[1] == '!')
		return program_check_script(c, path, head, (size_t)n, depth);
	rc = elf_probe_file(path, &p);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		program_block(c);
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s is neither an ELF executable nor a "
				 "script: %s", path, rc == -ENOEXEC ? "unknown format" :
				 strerror(-rc));
		return 0;
	}
	program_check_secure(c, path, &st);
	if (c->lib && (p.elf_class != c->lib->elf_class || p.machine != c->lib->machine)) {
		program_block(c);
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s is a %d-bit %s program, the interposer a "
				 "%d-bit %s library: the loader cannot load it there", path,
				 p.elf_class == ELFCLASS64 ? 64 : 32,
				 fwd_program_machine_name(p.machine, mbuf, sizeof(mbuf)),
				 c->lib->elf_class == ELFCLASS64 ? 64 : 32,
				 fwd_program_machine_name(c->lib->machine, lbuf, sizeof(lbuf)));
		fwd_findings_fix(f, "use an interposer built for that machine");
		goto out;
	}
	if (!p.has_interp) {
		program_block(c);
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s is statically linked: no dynamic loader "
				 "runs it, so LD_PRELOAD is never read%s", path,
				 elf_probe_embeds_sqlite(&p) ? ", and SQLite is compiled into it" : "");
		if (elf_probe_embeds_sqlite(&p))
			fwd_findings_fix(f, "link it dynamically (without -static), and %s",
					 program_embedded_fix(p.toolchain));
		else
			fwd_findings_fix(f, "link it dynamically (without -static), with SQLite as "
					 "the system's shared libsqlite3");
		goto out;
	}
	if (strstr(program_base(p.interp), "musl")) {
		program_block(c);
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s runs on musl (loader %s): the interposer "
				 "is built for glibc and cannot be loaded there", path, p.interp);
		fwd_findings_fix(f, "run a glibc build of the program, or build the interposer "
				 "against musl");
		goto out;
	}
	fwd_findings_add(f, FWD_FINDING_OK, "%s: ELF %d-bit %s, dynamically linked (loader %s)",
			 path, p.elf_class == ELFCLASS64 ? 64 : 32,
			 fwd_program_machine_name(p.machine, mbuf, sizeof(mbuf)), p.interp);
	rc = program_check_sqlite(c, path, &p);
out:
	elf_probe_free(&p);
	return rc;
}

int fwd_program_inspect(const char *cmd, const struct elf_probe *lib, struct fwd_findings *f)
{
	struct program_ctx c = { .lib = lib, .f = f };
	char path[PATH_MAX];
	int rc;

	rc = program_resolve(cmd, path);
	if (rc) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s: %s", cmd, rc == -EACCES ?
				 "found, but not an executable file" : strchr(cmd, '/') ?
				 strerror(-rc) : "not found on PATH");
		return 1;
	}
	rc = fwd_libpath_load(&c.lp);
	if (!rc)
		rc = program_check_file(&c, path, 0);
	fwd_libpath_free(&c.lp);
	if (rc)
		return rc;
	return c.blocked ? 1 : 0;
}
