/* Unit tests of the ELF inspection (common/elf_probe.c): images built here, in both
 * classes and byte orders, with a loader or none, needed libraries, SQLite's API imported,
 * defined and exported, or defined only, SQLite's strings, a toolchain's marks; every
 * truncation and a set of lies about offsets refused without reading outside the image
 * (each image is probed from an exact-size heap copy, so that the sanitizers see a read
 * one byte too far); and the real files of this test: the program and its libsqlite3. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "elf_probe.h"
#include "tmpdir.h"

#define VADDR_BASE 0x400000u

/* --- an ELF image builder ----------------------------------------------------------------- */

struct sym_spec {
	const char *name;
	bool defined;   /* else undefined: imported */
	unsigned type;  /* STT_FUNC, STT_OBJECT */
};

struct elf_spec {
	bool is64, be;
	uint16_t type;             /* ET_EXEC, ET_DYN */
	uint16_t machine;
	const char *interp;        /* NULL: no PT_INTERP */
	bool dynamic;              /* PT_DYNAMIC */
	const char *needed[4];
	const char *runpath, *rpath;
	struct sym_spec dynsym[4];
	struct sym_spec symtab[4];
	const char *section;       /* an extra empty section of that name, NULL: none */
	const char *blob[8];       /* strings stored in the image (e.g. SQLite's) */
};

struct img {
	uint8_t *p;
	size_t len, cap;
	bool is64, be;
};

static void img_reserve(struct img *m, size_t n)
{
	if (m->len + n <= m->cap)
		return;
	m->cap = (m->len + n) * 2;
	m->p = realloc(m->p, m->cap);
	assert_non_null(m->p);
}

/* Appends n zero bytes, aligned to 8; returns their offset. */
static size_t img_grow(struct img *m, size_t n)
{
	size_t off = (m->len + 7) & ~(size_t)7;

	img_reserve(m, off - m->len + n);
	memset(m->p + m->len, 0, off - m->len + n);
	m->len = off + n;
	return off;
}

static size_t img_bytes(struct img *m, const void *p, size_t n)
{
	size_t off = img_grow(m, n);

	memcpy(m->p + off, p, n);
	return off;
}

static void img_put(struct img *m, size_t off, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		m->p[off + (m->be ? n - 1 - i : i)] = (uint8_t)(v >> (8 * i));
}

/* Sets a field of a structure at base, at the offset and size its class gives it. */
#define PUT(m, base, type, field, v)                                                       \
	((m)->is64 ? img_put((m), (base) + offsetof(Elf64_##type, field), (v),             \
			     sizeof(((Elf64_##type *)0)->field)) :                         \
		     img_put((m), (base) + offsetof(Elf32_##type, field), (v),             \
			     sizeof(((Elf32_##type *)0)->field)))
#define SIZE(m, type) ((m)->is64 ? sizeof(Elf64_##type) : sizeof(Elf32_##type))

/* A string table: strings appended, offsets handed out. */
struct strtab {
	char buf[1024];
	size_t len;
};

static uint32_t strtab_add(struct strtab *t, const char *s)
{
	size_t n = strlen(s) + 1, off = t->len;

	if (!t->len) {
		t->buf[0] = '\0';
		t->len = off = 1;
	}
	assert_true(off + n <= sizeof(t->buf));
	memcpy(t->buf + off, s, n);
	t->len += n;
	return (uint32_t)off;
}

static size_t count_syms(const struct sym_spec *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n].name)
		n++;
	return n;
}

/* Writes the symbol table of syms (with its null symbol first) and its strings; returns
 * the table's offset, *size its size, *str_off and *str_size its string table's. */
static size_t img_symbols(struct img *m, const struct sym_spec *syms, size_t n, size_t *size,
			  size_t *str_off, size_t *str_size)
{
	struct strtab st = { .len = 0 };
	size_t entsz = SIZE(m, Sym), off;

	strtab_add(&st, "");
	off = img_grow(m, (n + 1) * entsz);
	for (size_t i = 0; i < n; i++) {
		size_t s = off + (i + 1) * entsz;

		PUT(m, s, Sym, st_name, strtab_add(&st, syms[i].name));
		PUT(m, s, Sym, st_info, ELF64_ST_INFO(STB_GLOBAL, syms[i].type ? syms[i].type :
						      STT_FUNC));
		PUT(m, s, Sym, st_shndx, syms[i].defined ? 1 : SHN_UNDEF);
		PUT(m, s, Sym, st_value, syms[i].defined ? VADDR_BASE + 0x100 : 0);
	}
	*size = (n + 1) * entsz;
	*str_off = img_bytes(m, st.buf, st.len);
	*str_size = st.len;
	return off;
}

/* Builds the image of spec into *m (m->p malloc'd). */
static void img_build(const struct elf_spec *spec, struct img *m)
{
	struct strtab dynstr = { .len = 0 }, shstr = { .len = 0 };
	size_t ehsz, phoff = 0, phnum = 0, interp_off = 0, dyn_off = 0, dyn_n = 0;
	size_t dynstr_off, dynsym_off = 0, dynsym_size = 0, dsym_str_off = 0, dsym_str_size = 0;
	size_t symtab_off = 0, symtab_size = 0, sym_str_off = 0, sym_str_size = 0, shstr_off, shoff;
	size_t ndyn = count_syms(spec->dynsym, 4), nsym = count_syms(spec->symtab, 4);
	uint32_t needed_str[4] = { 0 }, runpath_str = 0, rpath_str = 0;
	struct { uint32_t name; uint32_t type; size_t off, size, link, entsize; } sh[8];
	size_t nsh = 0;

	memset(m, 0, sizeof(*m));
	m->is64 = spec->is64;
	m->be = spec->be;
	ehsz = SIZE(m, Ehdr);
	img_grow(m, ehsz);
	phnum = (spec->interp ? 1 : 0) + 1 + (spec->dynamic ? 1 : 0);
	phoff = img_grow(m, phnum * SIZE(m, Phdr));
	if (spec->interp)
		interp_off = img_bytes(m, spec->interp, strlen(spec->interp) + 1);
	strtab_add(&dynstr, "");
	for (size_t i = 0; i < 4 && spec->needed[i]; i++)
		needed_str[i] = strtab_add(&dynstr, spec->needed[i]);
	if (spec->runpath)
		runpath_str = strtab_add(&dynstr, spec->runpath);
	if (spec->rpath)
		rpath_str = strtab_add(&dynstr, spec->rpath);
	dynstr_off = img_bytes(m, dynstr.buf, dynstr.len);
	if (spec->dynamic) {
		dyn_n = 3 + (spec->runpath ? 1 : 0) + (spec->rpath ? 1 : 0);
		for (size_t i = 0; i < 4 && spec->needed[i]; i++)
			dyn_n++;
		dyn_off = img_grow(m, dyn_n * SIZE(m, Dyn));
		size_t k = 0, e;
#define DYN(tag, val)                                                                      \
	do {                                                                               \
		e = dyn_off + k++ * SIZE(m, Dyn);                                          \
		PUT(m, e, Dyn, d_tag, (tag));                                              \
		PUT(m, e, Dyn, d_un, (val));                                               \
	} while (0)
		for (size_t i = 0; i < 4 && spec->needed[i]; i++)
			DYN(DT_NEEDED, needed_str[i]);
		if (spec->runpath)
			DYN(DT_RUNPATH, runpath_str);
		if (spec->rpath)
			DYN(DT_RPATH, rpath_str);
		DYN(DT_STRTAB, VADDR_BASE + dynstr_off);
		DYN(DT_STRSZ, dynstr.len);
		DYN(DT_NULL, 0);
#undef DYN
	}
	for (size_t i = 0; i < 8 && spec->blob[i]; i++)
		img_bytes(m, spec->blob[i], strlen(spec->blob[i]) + 1);
	if (ndyn)
		dynsym_off = img_symbols(m, spec->dynsym, ndyn, &dynsym_size, &dsym_str_off,
					 &dsym_str_size);
	if (nsym)
		symtab_off = img_symbols(m, spec->symtab, nsym, &symtab_size, &sym_str_off,
					 &sym_str_size);
	/* sections: null, then the symbol tables with their strings, the extra one, names */
	strtab_add(&shstr, "");
	sh[nsh++] = (typeof(sh[0])){ 0 };
	if (ndyn) {
		sh[nsh] = (typeof(sh[0])){ strtab_add(&shstr, ".dynsym"), SHT_DYNSYM, dynsym_off,
					  dynsym_size, nsh + 1, SIZE(m, Sym) };
		nsh++;
		sh[nsh] = (typeof(sh[0])){ strtab_add(&shstr, ".dynstr"), SHT_STRTAB, dsym_str_off,
					  dsym_str_size, 0, 0 };
		nsh++;
	}
	if (nsym) {
		sh[nsh] = (typeof(sh[0])){ strtab_add(&shstr, ".symtab"), SHT_SYMTAB, symtab_off,
					  symtab_size, nsh + 1, SIZE(m, Sym) };
		nsh++;
		sh[nsh] = (typeof(sh[0])){ strtab_add(&shstr, ".strtab"), SHT_STRTAB, sym_str_off,
					  sym_str_size, 0, 0 };
		nsh++;
	}
	if (spec->section)
		sh[nsh++] = (typeof(sh[0])){ strtab_add(&shstr, spec->section), SHT_PROGBITS,
					    0, 0, 0, 0 };
	sh[nsh].name = strtab_add(&shstr, ".shstrtab");
	shstr_off = img_bytes(m, shstr.buf, shstr.len);
	sh[nsh] = (typeof(sh[0])){ sh[nsh].name, SHT_STRTAB, shstr_off, shstr.len, 0, 0 };
	nsh++;
	shoff = img_grow(m, nsh * SIZE(m, Shdr));
	for (size_t i = 0; i < nsh; i++) {
		size_t s = shoff + i * SIZE(m, Shdr);

		PUT(m, s, Shdr, sh_name, sh[i].name);
		PUT(m, s, Shdr, sh_type, sh[i].type);
		PUT(m, s, Shdr, sh_offset, sh[i].off);
		PUT(m, s, Shdr, sh_size, sh[i].size);
		PUT(m, s, Shdr, sh_link, sh[i].link);
		PUT(m, s, Shdr, sh_entsize, sh[i].entsize);
	}
	/* program headers: INTERP, one LOAD over the whole image, DYNAMIC */
	size_t k = 0, ph;

	if (spec->interp) {
		ph = phoff + k++ * SIZE(m, Phdr);
		PUT(m, ph, Phdr, p_type, PT_INTERP);
		PUT(m, ph, Phdr, p_offset, interp_off);
		PUT(m, ph, Phdr, p_filesz, strlen(spec->interp) + 1);
	}
	ph = phoff + k++ * SIZE(m, Phdr);
	PUT(m, ph, Phdr, p_type, PT_LOAD);
	PUT(m, ph, Phdr, p_offset, 0);
	PUT(m, ph, Phdr, p_vaddr, VADDR_BASE);
	PUT(m, ph, Phdr, p_filesz, m->len);
	PUT(m, ph, Phdr, p_memsz, m->len);
	if (spec->dynamic) {
		ph = phoff + k++ * SIZE(m, Phdr);
		PUT(m, ph, Phdr, p_type, PT_DYNAMIC);
		PUT(m, ph, Phdr, p_offset, dyn_off);
		PUT(m, ph, Phdr, p_vaddr, VADDR_BASE + dyn_off);
		PUT(m, ph, Phdr, p_filesz, dyn_n * SIZE(m, Dyn));
	}
	memcpy(m->p, ELFMAG, SELFMAG);
	m->p[EI_CLASS] = spec->is64 ? ELFCLASS64 : ELFCLASS32;
	m->p[EI_DATA] = spec->be ? ELFDATA2MSB : ELFDATA2LSB;
	m->p[EI_VERSION] = EV_CURRENT;
	PUT(m, 0, Ehdr, e_type, spec->type ? spec->type : ET_DYN);
	PUT(m, 0, Ehdr, e_machine, spec->machine);
	PUT(m, 0, Ehdr, e_version, EV_CURRENT);
	PUT(m, 0, Ehdr, e_phoff, phoff);
	PUT(m, 0, Ehdr, e_shoff, shoff);
	PUT(m, 0, Ehdr, e_ehsize, ehsz);
	PUT(m, 0, Ehdr, e_phentsize, SIZE(m, Phdr));
	PUT(m, 0, Ehdr, e_phnum, phnum);
	PUT(m, 0, Ehdr, e_shentsize, SIZE(m, Shdr));
	PUT(m, 0, Ehdr, e_shnum, nsh);
	PUT(m, 0, Ehdr, e_shstrndx, nsh - 1);
}

/* Probes an exact-size heap copy of p[0..len). */
static int probe_copy(const void *p, size_t len, struct elf_probe *out)
{
	void *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, p, len);
	rc = elf_probe_buffer(copy, len, out);
	free(copy);
	return rc;
}

static int probe_spec(const struct elf_spec *spec, struct elf_probe *out)
{
	struct img m;
	int rc;

	img_build(spec, &m);
	rc = probe_copy(m.p, m.len, out);
	free(m.p);
	return rc;
}

static const char *const sqlite_strings[] = {
	"CREATE TABLE x(type text,name text,tbl_name text,rootpage int,sql text)",
	"database disk image is malformed",
	"unable to open database file",
	"%s at line %d of [%.10s]",
	"unsupported file format",
	"SQLite format 3",
};

/* A dynamically linked program that takes SQLite from libsqlite3. */
static const struct elf_spec spec_dynamic = {
	.is64 = true, .machine = EM_X86_64, .interp = "/lib64/ld-linux-x86-64.so.2",
	.dynamic = true, .needed = { "libsqlite3.so.0", "libc.so.6" },
	.runpath = "$ORIGIN/../lib",
	.dynsym = { { "sqlite3_step", false, 0 }, { "sqlite3_open_v2", false, 0 },
		    { "dlopen", false, 0 }, { "main", true, 0 } },
	/* the shell holds SQLite's file header, nothing else of SQLite's */
	.blob = { "SQLite format 3" },
};

/* --- tests -------------------------------------------------------------------------------- */

static void check_dynamic(const struct elf_probe *p, unsigned char cls, unsigned char data,
			  uint16_t machine)
{
	assert_int_equal(p->elf_class, cls);
	assert_int_equal(p->data, data);
	assert_int_equal(p->machine, machine);
	assert_int_equal(p->type, ET_DYN);
	assert_true(p->has_interp);
	assert_string_equal(p->interp, "/lib64/ld-linux-x86-64.so.2");
	assert_true(p->has_dynamic);
	assert_int_equal(p->nneeded, 2);
	assert_string_equal(p->needed[0], "libsqlite3.so.0");
	assert_string_equal(p->needed[1], "libc.so.6");
	assert_non_null(p->runpath);
	assert_string_equal(p->runpath, "$ORIGIN/../lib");
	assert_null(p->rpath);
	assert_int_equal(p->sqlite_imported, 2);
	assert_int_equal(p->sqlite_defined, 0);
	assert_int_equal(p->sqlite_local, 0);
	assert_true(p->imports_dlopen);
	assert_false(p->imports_dlmopen);
	assert_int_equal(p->sqlite_strings, 1);
	assert_int_equal(p->toolchain, ELF_TOOLCHAIN_UNKNOWN);
	assert_false(elf_probe_embeds_sqlite(p));
}

static void test_dynamic_program_every_class_and_order(void **state)
{
	struct elf_spec s = spec_dynamic;
	struct elf_probe p;

	(void)state;
	assert_int_equal(probe_spec(&s, &p), 0);
	check_dynamic(&p, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	elf_probe_free(&p);

	s.is64 = false;
	s.be = true;
	s.machine = EM_PPC;
	assert_int_equal(probe_spec(&s, &p), 0);
	check_dynamic(&p, ELFCLASS32, ELFDATA2MSB, EM_PPC);
	elf_probe_free(&p);

	s.is64 = true;
	s.machine = EM_S390;
	assert_int_equal(probe_spec(&s, &p), 0);
	check_dynamic(&p, ELFCLASS64, ELFDATA2MSB, EM_S390);
	elf_probe_free(&p);

	s.is64 = false;
	s.be = false;
	s.machine = EM_386;
	assert_int_equal(probe_spec(&s, &p), 0);
	check_dynamic(&p, ELFCLASS32, ELFDATA2LSB, EM_386);
	/* freed twice is harmless: free() leaves it empty */
	elf_probe_free(&p);
	elf_probe_free(&p);
	assert_int_equal(p.nneeded, 0);
	assert_null(p.needed);
}

static void test_static_program_with_sqlite_defined(void **state)
{
	const struct elf_spec s = {
		.is64 = true, .type = ET_EXEC, .machine = EM_X86_64,
		.symtab = { { "sqlite3_open", true, 0 }, { "sqlite3_step", true, 0 },
			    { "sqlite3_exec", true, STT_OBJECT }, { "my_sqlite3_step", true, 0 } },
	};
	struct elf_probe p;

	(void)state;
	assert_int_equal(probe_spec(&s, &p), 0);
	assert_int_equal(p.type, ET_EXEC);
	assert_false(p.has_interp);
	assert_false(p.has_dynamic);
	assert_int_equal(p.nneeded, 0);
	/* functions of SQLite's API only: an object of that name or another name is not */
	assert_int_equal(p.sqlite_local, 2);
	assert_int_equal(p.sqlite_defined, 0);
	assert_true(elf_probe_embeds_sqlite(&p));
	elf_probe_free(&p);
}

static void test_exported_and_imported_sqlite(void **state)
{
	struct elf_spec s = spec_dynamic;
	struct elf_probe p;

	(void)state;
	/* defined and exported (linked with -rdynamic, or a library embedding SQLite) */
	s.dynsym[0] = (struct sym_spec){ "sqlite3_prepare_v2", true, 0 };
	s.dynsym[1] = (struct sym_spec){ "sqlite3_libversion", true, 0 };
	s.needed[0] = "libm.so.6";
	assert_int_equal(probe_spec(&s, &p), 0);
	assert_int_equal(p.sqlite_defined, 2);
	assert_int_equal(p.sqlite_imported, 0);
	assert_true(elf_probe_embeds_sqlite(&p));
	elf_probe_free(&p);
	/* a program that takes part of the API from a library is not embedding it, whatever
	 * else it holds */
	s.dynsym[1] = (struct sym_spec){ "sqlite3_close", false, 0 };
	assert_int_equal(probe_spec(&s, &p), 0);
	assert_int_equal(p.sqlite_defined, 1);
	assert_int_equal(p.sqlite_imported, 1);
	assert_false(elf_probe_embeds_sqlite(&p));
	elf_probe_free(&p);
}

static void test_sqlite_strings_in_a_stripped_binary(void **state)
{
	struct elf_spec s = {
		.is64 = true, .machine = EM_X86_64, .interp = "/lib64/ld-linux-x86-64.so.2",
		.dynamic = true, .needed = { "libc.so.6" },
		.dynsym = { { "dlmopen", false, 0 } },
	};
	struct elf_probe p;

	(void)state;
	for (size_t n = 0; n <= 6; n++) {
		memset(s.blob, 0, sizeof(s.blob));
		for (size_t i = 0; i < n; i++)
			s.blob[i] = sqlite_strings[i];
		assert_int_equal(probe_spec(&s, &p), 0);
		assert_int_equal(p.sqlite_strings, n);
		assert_true(p.imports_dlmopen);
		assert_false(p.imports_dlopen);
		assert_int_equal(elf_probe_embeds_sqlite(&p), n >= ELF_PROBE_SQLITE_STRINGS_EMBEDDED);
		elf_probe_free(&p);
	}
}

static void test_toolchains(void **state)
{
	struct elf_spec s = spec_dynamic;
	struct elf_probe p;

	(void)state;
	s.section = ".note.go.buildid";
	assert_int_equal(probe_spec(&s, &p), 0);
	assert_int_equal(p.toolchain, ELF_TOOLCHAIN_GO);
	elf_probe_free(&p);
	s.section = ".go.buildinfo";
	assert_int_equal(probe_spec(&s, &p), 0);
	assert_int_equal(p.toolchain, ELF_TOOLCHAIN_GO);
	elf_probe_free(&p);
	s.section = NULL;
	s.blob[1] = "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/panicking.rs";
	assert_int_equal(probe_spec(&s, &p), 0);
	assert_int_equal(p.toolchain, ELF_TOOLCHAIN_RUST);
	elf_probe_free(&p);
}

static void test_rpath_and_many_needed(void **state)
{
	struct elf_spec s = spec_dynamic;
	struct elf_probe p;

	(void)state;
	s.runpath = NULL;
	s.rpath = "/opt/app/lib";
	s.needed[2] = "libz.so.1";
	s.needed[3] = "libm.so.6";
	assert_int_equal(probe_spec(&s, &p), 0);
	assert_null(p.runpath);
	assert_string_equal(p.rpath, "/opt/app/lib");
	assert_int_equal(p.nneeded, 4);
	assert_string_equal(p.needed[3], "libm.so.6");
	assert_int_equal(p.needed_dropped, 0);
	elf_probe_free(&p);
}

static void test_not_elf(void **state)
{
	static const char script[] = "#!/bin/sh\necho hi\n";
	uint8_t bad[64] = { 0x7f, 'E', 'L', 'F', 3 /* no such class */, ELFDATA2LSB };
	struct elf_probe p;

	(void)state;
	assert_int_equal(probe_copy(script, sizeof(script) - 1, &p), -ENOEXEC);
	assert_int_equal(probe_copy("", 0, &p), -ENOEXEC);
	assert_int_equal(probe_copy("\x7f" "EL", 3, &p), -ENOEXEC);
	assert_int_equal(elf_probe_buffer(NULL, 0, &p), -ENOEXEC);
	assert_int_equal(probe_copy(bad, sizeof(bad), &p), -EBADMSG);
	bad[EI_CLASS] = ELFCLASS64;
	bad[EI_DATA] = 7; /* no such byte order */
	assert_int_equal(probe_copy(bad, sizeof(bad), &p), -EBADMSG);
	/* an identification alone, without the rest of the header */
	bad[EI_DATA] = ELFDATA2LSB;
	assert_int_equal(probe_copy(bad, EI_NIDENT + 4, &p), -EBADMSG);
	assert_int_equal(p.nneeded, 0);
}

/* Every prefix of a valid image is refused or read, never read outside of. */
static void test_every_truncation(void **state)
{
	struct elf_spec s = spec_dynamic;
	struct elf_probe p;
	struct img m;
	size_t ok = 0;

	(void)state;
	s.symtab[0] = (struct sym_spec){ "sqlite3_exec", true, 0 };
	s.section = ".gopclntab";
	img_build(&s, &m);
	for (size_t n = 0; n < m.len; n++) {
		int rc = probe_copy(m.p, n, &p);

		assert_true(rc == 0 || rc == -EBADMSG || rc == -ENOEXEC);
		if (rc == 0) {
			ok++;
			elf_probe_free(&p);
		}
	}
	/* the section headers come last: any cut loses them */
	assert_int_equal(ok, 0);
	assert_int_equal(probe_copy(m.p, m.len, &p), 0);
	elf_probe_free(&p);
	free(m.p);
}

/* Offsets and sizes that lie are refused. */
static void test_lies(void **state)
{
	struct elf_probe p;
	struct img m;
	size_t phoff, shoff, entsz, dyn;
	uint8_t *orig;

	(void)state;
	img_build(&spec_dynamic, &m);
	orig = malloc(m.len);
	assert_non_null(orig);
	memcpy(orig, m.p, m.len);
	phoff = offsetof(Elf64_Ehdr, e_phoff);
	shoff = offsetof(Elf64_Ehdr, e_shoff);

	/* program headers beyond the end */
	img_put(&m, phoff, m.len - 8, 8);
	assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
	memcpy(m.p, orig, m.len);
	/* program header entries smaller than a program header */
	img_put(&m, offsetof(Elf64_Ehdr, e_phentsize), 8, 2);
	assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
	memcpy(m.p, orig, m.len);
	/* section headers beyond the end, or too many of them */
	img_put(&m, shoff, UINT64_MAX - 16, 8);
	assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
	memcpy(m.p, orig, m.len);
	img_put(&m, offsetof(Elf64_Ehdr, e_shnum), 0xffff, 2);
	assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
	memcpy(m.p, orig, m.len);

	/* the interpreter's string runs past its segment (no NUL inside it) */
	{
		size_t ph0 = (size_t)orig[phoff] | (size_t)orig[phoff + 1] << 8;

		img_put(&m, ph0 + offsetof(Elf64_Phdr, p_filesz), 4, 8);
		assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
		memcpy(m.p, orig, m.len);
		/* ... or the segment runs past the end of the file */
		img_put(&m, ph0 + offsetof(Elf64_Phdr, p_filesz), UINT64_MAX, 8);
		assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
		memcpy(m.p, orig, m.len);

		/* the dynamic section: DT_STRTAB at an address no segment maps, a DT_NEEDED
		 * beyond its string table */
		dyn = ph0 + 2 * sizeof(Elf64_Phdr);
		dyn = (size_t)orig[dyn + offsetof(Elf64_Phdr, p_offset)] |
		      (size_t)orig[dyn + offsetof(Elf64_Phdr, p_offset) + 1] << 8;
		entsz = sizeof(Elf64_Dyn);
		bool saw_strtab = false, saw_needed = false;

		for (size_t i = 0; ; i++) {
			uint64_t tag = 0;

			for (int b = 7; b >= 0; b--)
				tag = tag << 8 | orig[dyn + i * entsz + (size_t)b];
			if (tag == DT_STRTAB) {
				saw_strtab = true;
				img_put(&m, dyn + i * entsz + 8, 0x100, 8);
				assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
				memcpy(m.p, orig, m.len);
			}
			if (tag == DT_NEEDED) {
				saw_needed = true;
				img_put(&m, dyn + i * entsz + 8, 100000, 8);
				assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
				memcpy(m.p, orig, m.len);
			}
			if (tag == DT_NULL)
				break;
		}
		assert_true(saw_strtab && saw_needed);
	}
	/* a symbol table whose string table is a section that does not exist */
	{
		size_t sh = 0;

		for (int b = 7; b >= 0; b--)
			sh = sh << 8 | orig[shoff + (size_t)b];
		/* section 1 is .dynsym */
		img_put(&m, sh + sizeof(Elf64_Shdr) + offsetof(Elf64_Shdr, sh_link), 99, 4);
		assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
		memcpy(m.p, orig, m.len);
		/* ... or whose entries run past the end */
		img_put(&m, sh + sizeof(Elf64_Shdr) + offsetof(Elf64_Shdr, sh_size), m.len, 8);
		assert_int_equal(probe_copy(m.p, m.len, &p), -EBADMSG);
		memcpy(m.p, orig, m.len);
	}
	assert_int_equal(probe_copy(m.p, m.len, &p), 0);
	elf_probe_free(&p);
	free(orig);
	free(m.p);
}

static void test_is_libsqlite3(void **state)
{
	(void)state;
	assert_true(elf_probe_is_libsqlite3("libsqlite3.so.0"));
	assert_true(elf_probe_is_libsqlite3("libsqlite3.so"));
	assert_true(elf_probe_is_libsqlite3("/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"));
	assert_false(elf_probe_is_libsqlite3("libsqlite3.sox"));
	assert_false(elf_probe_is_libsqlite3("libsqlite3-tcl.so"));
	assert_false(elf_probe_is_libsqlite3("libsqlite.so.0"));
	assert_false(elf_probe_is_libsqlite3("/usr/lib/libsqlite3.so.0/x.so"));
}

/* The files of this test itself: the program needs libsqlite3, which defines SQLite. */
static void test_real_files(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct elf_probe p;
	Dl_info info;
	bool found = false;
	FILE *f;

	(void)state;
	assert_int_equal(elf_probe_file("/proc/self/exe", &p), 0);
	assert_true(p.has_interp);
	for (size_t i = 0; i < p.nneeded; i++)
		found |= elf_probe_is_libsqlite3(p.needed[i]);
	assert_true(found);
	assert_true(p.sqlite_imported > 0);
	assert_false(elf_probe_embeds_sqlite(&p));
	elf_probe_free(&p);

	assert_int_not_equal(dladdr((void *)sqlite3_libversion, &info), 0);
	assert_int_equal(elf_probe_file(info.dli_fname, &p), 0);
	assert_int_equal(p.sqlite_defined, 10);
	assert_int_equal(p.sqlite_imported, 0);
	assert_true(p.sqlite_strings >= ELF_PROBE_SQLITE_STRINGS_EMBEDDED);
	elf_probe_free(&p);

	assert_int_equal(tmpdir_make(dir, sizeof(dir), "test_elf_probe"), 0);
	assert_int_equal(elf_probe_file(dir, &p), -EINVAL);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(elf_probe_file(path, &p), -ENOENT);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(elf_probe_file(path, &p), -ENOEXEC);
	assert_int_equal(tmpdir_remove(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dynamic_program_every_class_and_order),
		cmocka_unit_test(test_static_program_with_sqlite_defined),
		cmocka_unit_test(test_exported_and_imported_sqlite),
		cmocka_unit_test(test_sqlite_strings_in_a_stripped_binary),
		cmocka_unit_test(test_toolchains),
		cmocka_unit_test(test_rpath_and_many_needed),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_lies),
		cmocka_unit_test(test_is_libsqlite3),
		cmocka_unit_test(test_real_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
