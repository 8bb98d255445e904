/* Reading an ELF file for elf_probe.h. Fields are read at the offsets <elf.h>'s structures
 * give (offsetof), in the file's byte order, through a cursor that checks every access
 * against the image's size. The dynamic section is found through the program headers, so
 * that a binary without section headers still tells its loader and libraries; symbols
 * come from the section headers (.dynsym, .symtab). */
#include "elf_probe.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* SQLite API functions whose definition or import is looked for. */
static const char *const elf_sqlite_api[] = {
	"sqlite3_open", "sqlite3_open_v2", "sqlite3_prepare_v2", "sqlite3_prepare_v3",
	"sqlite3_step", "sqlite3_exec", "sqlite3_finalize", "sqlite3_close",
	"sqlite3_libversion", "sqlite3_initialize",
};

/* Strings of SQLite's own code (its schema table, messages, file header) that programs
 * merely using SQLite seldom hold: the sqlite3 shell holds "SQLite format 3" only. */
static const char *const elf_sqlite_strings[ELF_PROBE_SQLITE_STRINGS] = {
	"CREATE TABLE x(type text,name text,tbl_name text,rootpage int,sql text)",
	"database disk image is malformed",
	"unable to open database file",
	"%s at line %d of [%.10s]",
	"unsupported file format",
	"SQLite format 3",
};

/* The image and how to read it. */
struct elf_img {
	const uint8_t *p;
	size_t len;
	bool be;       /* ELFDATA2MSB */
	bool is64;
};

/* Whether [off, off + n) lies inside the image. */
static bool elf_in(const struct elf_img *e, uint64_t off, uint64_t n)
{
	return off <= e->len && n <= e->len - off;
}

static uint64_t elf_get(const struct elf_img *e, uint64_t off, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = e->p[off + (e->be ? i : n - 1 - i)];

		v = v << 8 | b;
	}
	return v;
}

/* A field of a structure at base: its offset and size differ by class. The caller has
 * checked the whole structure with elf_in(). */
#define ELF_FIELD(e, base, type, field)                                                   \
	((e)->is64 ? elf_get((e), (base) + offsetof(Elf64_##type, field),                 \
			     sizeof(((Elf64_##type *)0)->field)) :                        \
		     elf_get((e), (base) + offsetof(Elf32_##type, field),                 \
			     sizeof(((Elf32_##type *)0)->field)))
#define ELF_SIZE(e, type) ((e)->is64 ? sizeof(Elf64_##type) : sizeof(Elf32_##type))

/* A NUL-terminated string at off inside [lo, hi) of the image (a string table). Returns
 * it or NULL. */
static const char *elf_str(const struct elf_img *e, uint64_t lo, uint64_t hi, uint64_t off)
{
	const uint8_t *nul;

	if (hi > e->len || lo > hi || off >= hi - lo)
		return NULL;
	nul = memchr(e->p + lo + off, '\0', (size_t)(hi - lo - off));
	return nul ? (const char *)e->p + lo + off : NULL;
}

/* The file offset of virtual address vaddr, through the PT_LOAD segments. Returns 0 with
 * *off set, or -EBADMSG. */
static int elf_vaddr_off(const struct elf_img *e, uint64_t phoff, uint64_t phnum,
			 uint64_t phentsize, uint64_t vaddr, uint64_t *off)
{
	for (uint64_t i = 0; i < phnum; i++) {
		uint64_t ph = phoff + i * phentsize, va, fsz;

		if (ELF_FIELD(e, ph, Phdr, p_type) != PT_LOAD)
			continue;
		va = ELF_FIELD(e, ph, Phdr, p_vaddr);
		fsz = ELF_FIELD(e, ph, Phdr, p_filesz);
		if (vaddr >= va && vaddr - va < fsz) {
			*off = ELF_FIELD(e, ph, Phdr, p_offset) + (vaddr - va);
			return 0;
		}
	}
	return -EBADMSG;
}

static int elf_add_needed(struct elf_probe *p, const char *name)
{
	char *copy;

	if (p->nneeded == ELF_PROBE_MAX_NEEDED) {
		p->needed_dropped++;
		return 0;
	}
	if (!p->needed) {
		p->needed = calloc(ELF_PROBE_MAX_NEEDED, sizeof(*p->needed));
		if (!p->needed)
			return -ENOMEM;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	p->needed[p->nneeded++] = copy;
	return 0;
}

/* Reads the dynamic section (file range [off, off + size)): DT_NEEDED, DT_RPATH and
 * DT_RUNPATH, whose strings are in DT_STRTAB (a virtual address, DT_STRSZ bytes). */
static int elf_read_dynamic(const struct elf_img *e, struct elf_probe *p, uint64_t off,
			    uint64_t size, uint64_t phoff, uint64_t phnum, uint64_t phentsize)
{
	uint64_t entsz = ELF_SIZE(e, Dyn), n = size / entsz, strtab = 0, strsz = 0, stroff;
	bool have_strtab = false;
	int rc;

	if (!elf_in(e, off, n * entsz))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t tag = ELF_FIELD(e, off + i * entsz, Dyn, d_tag);
		uint64_t val = ELF_FIELD(e, off + i * entsz, Dyn, d_un);

		if (tag == DT_NULL)
			break;
		if (tag == DT_STRTAB) {
			strtab = val;
			have_strtab = true;
		} else if (tag == DT_STRSZ) {
			strsz = val;
		}
	}
	if (!have_strtab)
		return 0; /* nothing named */
	if (elf_vaddr_off(e, phoff, phnum, phentsize, strtab, &stroff) ||
	    !elf_in(e, stroff, strsz))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t tag = ELF_FIELD(e, off + i * entsz, Dyn, d_tag);
		uint64_t val = ELF_FIELD(e, off + i * entsz, Dyn, d_un);
		const char *s;
		char **dst = NULL;

		if (tag == DT_NULL)
			break;
		if (tag != DT_NEEDED && tag != DT_RPATH && tag != DT_RUNPATH)
			continue;
		s = elf_str(e, stroff, stroff + strsz, val);
		if (!s)
			return -EBADMSG;
		if (tag == DT_NEEDED) {
			rc = elf_add_needed(p, s);
			if (rc)
				return rc;
			continue;
		}
		dst = tag == DT_RPATH ? &p->rpath : &p->runpath;
		if (!*dst && !(*dst = strdup(s)))
			return -ENOMEM;
	}
	return 0;
}

static bool elf_is_sqlite_api(const char *name)
{
	for (size_t i = 0; i < sizeof(elf_sqlite_api) / sizeof(elf_sqlite_api[0]); i++)
		if (!strcmp(name, elf_sqlite_api[i]))
			return true;
	return false;
}

/* Reads the symbol table section sh (.dynsym when dynamic, else .symtab) whose strings
 * are in the section its sh_link names. */
static int elf_read_symbols(const struct elf_img *e, struct elf_probe *p, uint64_t shoff,
			    uint64_t shnum, uint64_t shentsize, uint64_t sh, bool dynamic)
{
	uint64_t off = ELF_FIELD(e, sh, Shdr, sh_offset), size = ELF_FIELD(e, sh, Shdr, sh_size);
	uint64_t link = ELF_FIELD(e, sh, Shdr, sh_link), entsz = ELF_SIZE(e, Sym), str, stroff,
		 strsz;

	if (link >= shnum || !elf_in(e, off, size))
		return -EBADMSG;
	str = shoff + link * shentsize;
	stroff = ELF_FIELD(e, str, Shdr, sh_offset);
	strsz = ELF_FIELD(e, str, Shdr, sh_size);
	if (!elf_in(e, stroff, strsz))
		return -EBADMSG;
	for (uint64_t i = 1; i < size / entsz; i++) {
		uint64_t sym = off + i * entsz;
		uint64_t shndx = ELF_FIELD(e, sym, Sym, st_shndx);
		unsigned type = ELF64_ST_TYPE((unsigned char)ELF_FIELD(e, sym, Sym, st_info));
		const char *name = elf_str(e, stroff, stroff + strsz,
					   ELF_FIELD(e, sym, Sym, st_name));

		if (!name || !*name)
			continue;
		if (shndx == SHN_UNDEF) {
			if (!dynamic)
				continue;
			if (elf_is_sqlite_api(name))
				p->sqlite_imported++;
			else if (!strcmp(name, "dlopen"))
				p->imports_dlopen = true;
			else if (!strcmp(name, "dlmopen"))
				p->imports_dlmopen = true;
			continue;
		}
		if (type != STT_FUNC || !elf_is_sqlite_api(name))
			continue;
		if (dynamic)
			p->sqlite_defined++;
		else
			p->sqlite_local++;
	}
	return 0;
}

/* Walks the section headers: symbol tables, and the sections that name a toolchain. */
static int elf_read_sections(const struct elf_img *e, struct elf_probe *p, uint64_t shoff,
			     uint64_t shnum, uint64_t shentsize, uint64_t shstrndx)
{
	uint64_t names_off = 0, names_size = 0;
	uint64_t dynsym = 0, symtab = 0;
	bool have_names = false;
	int rc;

	if (!shnum)
		return 0;
	if (shentsize < ELF_SIZE(e, Shdr) || !elf_in(e, shoff, shnum * shentsize) ||
	    shnum > e->len / shentsize)
		return -EBADMSG;
	if (shstrndx != SHN_UNDEF && shstrndx < shnum) {
		uint64_t sh = shoff + shstrndx * shentsize;

		names_off = ELF_FIELD(e, sh, Shdr, sh_offset);
		names_size = ELF_FIELD(e, sh, Shdr, sh_size);
		have_names = elf_in(e, names_off, names_size);
	}
	for (uint64_t i = 0; i < shnum; i++) {
		uint64_t sh = shoff + i * shentsize;
		uint64_t type = ELF_FIELD(e, sh, Shdr, sh_type);
		const char *name = have_names ?
			elf_str(e, names_off, names_off + names_size,
				ELF_FIELD(e, sh, Shdr, sh_name)) : NULL;

		if (type == SHT_DYNSYM && !dynsym)
			dynsym = sh;
		else if (type == SHT_SYMTAB && !symtab)
			symtab = sh;
		if (name && (!strcmp(name, ".go.buildinfo") || !strcmp(name, ".note.go.buildid") ||
			     !strcmp(name, ".gopclntab")))
			p->toolchain = ELF_TOOLCHAIN_GO;
	}
	/* section 0 is never a symbol table: 0 means none */
	if (dynsym && (rc = elf_read_symbols(e, p, shoff, shnum, shentsize, dynsym, true)))
		return rc;
	if (symtab && (rc = elf_read_symbols(e, p, shoff, shnum, shentsize, symtab, false)))
		return rc;
	return 0;
}

static void elf_scan_strings(const struct elf_img *e, struct elf_probe *p)
{
	for (size_t i = 0; i < ELF_PROBE_SQLITE_STRINGS; i++)
		if (memmem(e->p, e->len, elf_sqlite_strings[i], strlen(elf_sqlite_strings[i])))
			p->sqlite_strings++;
	if (p->toolchain == ELF_TOOLCHAIN_UNKNOWN && memmem(e->p, e->len, "/rustc/", 7))
		p->toolchain = ELF_TOOLCHAIN_RUST;
}

int elf_probe_buffer(const void *buf, size_t len, struct elf_probe *p)
{
	struct elf_img e = { .p = buf, .len = len };
	uint64_t phoff, phnum, phentsize, shoff, shnum, shentsize, shstrndx;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!buf || len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG))
		return -ENOEXEC;
	p->elf_class = e.p[EI_CLASS];
	p->data = e.p[EI_DATA];
	if ((p->elf_class != ELFCLASS32 && p->elf_class != ELFCLASS64) ||
	    (p->data != ELFDATA2LSB && p->data != ELFDATA2MSB))
		return -EBADMSG;
	e.is64 = p->elf_class == ELFCLASS64;
	e.be = p->data == ELFDATA2MSB;
	if (!elf_in(&e, 0, ELF_SIZE(&e, Ehdr)))
		return -EBADMSG;
	p->type = (uint16_t)ELF_FIELD(&e, 0, Ehdr, e_type);
	p->machine = (uint16_t)ELF_FIELD(&e, 0, Ehdr, e_machine);
	phoff = ELF_FIELD(&e, 0, Ehdr, e_phoff);
	phnum = ELF_FIELD(&e, 0, Ehdr, e_phnum);
	phentsize = ELF_FIELD(&e, 0, Ehdr, e_phentsize);
	shoff = ELF_FIELD(&e, 0, Ehdr, e_shoff);
	shnum = ELF_FIELD(&e, 0, Ehdr, e_shnum);
	shentsize = ELF_FIELD(&e, 0, Ehdr, e_shentsize);
	shstrndx = ELF_FIELD(&e, 0, Ehdr, e_shstrndx);
	if (phnum && (phentsize < ELF_SIZE(&e, Phdr) || !elf_in(&e, phoff, phnum * phentsize)))
		return -EBADMSG;
	for (uint64_t i = 0; i < phnum; i++) {
		uint64_t ph = phoff + i * phentsize;
		uint64_t type = ELF_FIELD(&e, ph, Phdr, p_type);
		uint64_t off = ELF_FIELD(&e, ph, Phdr, p_offset);
		uint64_t size = ELF_FIELD(&e, ph, Phdr, p_filesz);

		if (type == PT_INTERP) {
			const char *s = elf_str(&e, off, off + size, 0);

			if (!elf_in(&e, off, size) || !s || strlen(s) >= sizeof(p->interp)) {
				rc = -EBADMSG;
				goto fail;
			}
			p->has_interp = true;
			memcpy(p->interp, s, strlen(s) + 1);
		} else if (type == PT_DYNAMIC && !p->has_dynamic) {
			p->has_dynamic = true;
			rc = elf_read_dynamic(&e, p, off, size, phoff, phnum, phentsize);
			if (rc)
				goto fail;
		}
	}
	rc = elf_read_sections(&e, p, shoff, shnum, shentsize, shstrndx);
	if (rc)
		goto fail;
	elf_scan_strings(&e, p);
	return 0;

fail:
	elf_probe_free(p);
	return rc;
}

int elf_probe_file(const char *path, struct elf_probe *p)
{
	struct stat st;
	void *map;
	int fd, rc;

	memset(p, 0, sizeof(*p));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out_fd;
	}
	if (st.st_size == 0) {
		rc = -ENOEXEC;
		goto out_fd;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out_fd;
	}
	rc = elf_probe_buffer(map, (size_t)st.st_size, p);
	munmap(map, (size_t)st.st_size);
out_fd:
	close(fd);
	return rc;
}

void elf_probe_free(struct elf_probe *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nneeded; i++)
		free(p->needed[i]);
	free(p->needed);
	free(p->rpath);
	free(p->runpath);
	memset(p, 0, sizeof(*p));
}

bool elf_probe_embeds_sqlite(const struct elf_probe *p)
{
	if (p->sqlite_imported)
		return false;
	return p->sqlite_defined || p->sqlite_local ||
	       p->sqlite_strings >= ELF_PROBE_SQLITE_STRINGS_EMBEDDED;
}

bool elf_probe_is_libsqlite3(const char *name)
{
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	return !strncmp(base, "libsqlite3.so", 13) && (base[13] == '\0' || base[13] == '.');
}
