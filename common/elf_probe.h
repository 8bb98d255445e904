/* What an ELF file says about how a program gets its SQLite, read with <elf.h> alone:
 * whether it has a dynamic loader (PT_INTERP) at all, the libraries it needs at start
 * (DT_NEEDED) and where it looks for them (DT_RPATH, DT_RUNPATH), whether SQLite's API
 * functions are defined in it (SQLite embedded) or imported (taken from a library),
 * whether it can load libraries at run time (dlopen, dlmopen imported), SQLite's own
 * strings in it (SQLite embedded in a stripped binary, or translated to another
 * language), and the toolchain that made it when that tells what to do about it.
 *
 * Both classes (32 and 64 bit) and both byte orders are read. Every offset and size read
 * from the file is checked against the file's size: a truncated or crafted file gives
 * -EBADMSG, never a read outside it. */
#ifndef ELF_PROBE_H
#define ELF_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most DT_NEEDED entries kept; more are counted in needed_dropped. */
#define ELF_PROBE_MAX_NEEDED 128

enum elf_probe_toolchain {
	ELF_TOOLCHAIN_UNKNOWN,
	ELF_TOOLCHAIN_GO,   /* a Go build id note or Go's own sections */
	ELF_TOOLCHAIN_RUST, /* paths of Rust's standard library sources */
};

struct elf_probe {
	unsigned char elf_class;  /* ELFCLASS32 or ELFCLASS64 */
	unsigned char data;       /* ELFDATA2LSB or ELFDATA2MSB */
	uint16_t type;            /* ET_EXEC, ET_DYN, ... */
	uint16_t machine;         /* EM_X86_64, ... */
	bool has_interp;          /* PT_INTERP: the dynamic loader runs it */
	char interp[256];         /* its path, when has_interp */
	bool has_dynamic;         /* PT_DYNAMIC */
	char **needed;            /* DT_NEEDED names, in order */
	size_t nneeded;
	size_t needed_dropped;    /* beyond ELF_PROBE_MAX_NEEDED */
	char *rpath, *runpath;    /* DT_RPATH, DT_RUNPATH; NULL when absent */
	unsigned sqlite_defined;  /* SQLite API functions defined and exported (.dynsym) */
	unsigned sqlite_imported; /* ... undefined in .dynsym: taken from a library */
	unsigned sqlite_local;    /* ... defined in .symtab only (not exported) */
	bool imports_dlopen;
	bool imports_dlmopen;     /* loads into a new namespace, where no preload is */
	unsigned sqlite_strings;  /* how many of ELF_PROBE_SQLITE_STRINGS it holds */
	enum elf_probe_toolchain toolchain;
};

/* SQLite's own strings looked for; this many found means SQLite's code is in the file
 * (a program that only uses SQLite holds one or two of them at most). */
#define ELF_PROBE_SQLITE_STRINGS 6
#define ELF_PROBE_SQLITE_STRINGS_EMBEDDED 4

/* Reads the ELF image buf[0..len). Returns 0 with *p filled (release with
 * elf_probe_free()), -ENOEXEC when it is not ELF, -EBADMSG when it is ELF but malformed
 * or truncated, -ENOMEM. On error *p needs no release. */
int elf_probe_buffer(const void *buf, size_t len, struct elf_probe *p);

/* elf_probe_buffer() on the file at path (mapped read-only). Returns as it does, or
 * -errno of opening or mapping the file. */
int elf_probe_file(const char *path, struct elf_probe *p);

void elf_probe_free(struct elf_probe *p);

/* Whether SQLite's code is in the file itself: its API functions defined, or its strings,
 * while it takes none of its API functions from a library. */
bool elf_probe_embeds_sqlite(const struct elf_probe *p);

/* Whether name is a libsqlite3 soname or file name ("libsqlite3.so", "libsqlite3.so.0",
 * ...). */
bool elf_probe_is_libsqlite3(const char *name);

#endif
