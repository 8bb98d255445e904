/* The shared-memory guard (shmguard.h): a VFS over the default one whose database files note
 * the regions SQLite maps with xShmMap in a table the SIGBUS handler can read without a
 * lock, and fail their shared-memory locks once one of their regions was replaced.
 *
 * Why the lock: every path of SQLite's WAL code that finds the wal-index changed or
 * unreadable (a zeroed header is such) takes a shared-memory lock before it trusts or
 * rebuilds it, so failing that lock turns the lost memory into SQLITE_IOERR_SHMLOCK for the
 * statement, never into a read of zeros taken for data. Unlocks pass, so that a connection
 * can always let go of what it held. Regions are shared by all the connections of the
 * process to one file (the unix VFS maps them once per inode), hence a reference count per
 * region; a connection opened later on the same file meets the replaced region at its
 * first xShmMap and fails there. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "shmguard.h"
#include "vfs_pass.h"

/* Far more than the forwarder maps: one region covers 4096 WAL frames, and every
 * connection of a process to a database shares its regions. A region beyond it is not
 * guarded (logged once). */
#define SG_MAX_REGIONS 512

/* A mapped region. start is written last when a slot is taken and first when it is freed,
 * so the handler, which reads start then len without the lock, never pairs a start with
 * another region's length for long enough to matter (a slot changes only at xShmMap and
 * xShmUnmap, not while SQLite reads the region). */
struct sg_region {
	void *start;     /* NULL: a free slot */
	size_t len;
	unsigned refs;   /* files holding it: under sg_lock */
	int lost;        /* replaced by the handler */
};

struct sg_file {
	struct fwd_vfs_file vf;  /* vf.base.pMethods: &sg_io; vf.real: the default VFS's file */
	const char *name;        /* SQLite keeps it until xClose */
	int *slots;              /* slots[pg]: the table slot of region pg, or -1 */
	int nslots;
	bool told;               /* the loss was logged */
};

static struct sg_region sg_regions[SG_MAX_REGIONS];
static pthread_mutex_t sg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sg_full_told;
static size_t sg_rescues;              /* atomic */
static uintptr_t sg_page = 4096;
static struct sigaction sg_prior;
static sqlite3_vfs *sg_root;
static sqlite3_vfs sg_vfs;
static pthread_once_t sg_once = PTHREAD_ONCE_INIT;
static int sg_registered = -ENOSYS;

/* A SIGBUS in a guarded region: private zeroed pages take the place of the region's, and
 * the access that faulted runs again on them. Any other SIGBUS: the prior action is put
 * back and the access faults again under it (a SIGBUS sent by a process is raised again
 * under it). Async-signal-safe (mmap, sigaction, raise). */
static void sg_on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved = errno;

	(void)sig;
	(void)uctx;
	for (int i = 0; i < SG_MAX_REGIONS; i++) {
		uintptr_t s = (uintptr_t)__atomic_load_n(&sg_regions[i].start, __ATOMIC_ACQUIRE);
		size_t len = __atomic_load_n(&sg_regions[i].len, __ATOMIC_ACQUIRE);
		uintptr_t lo, hi;

		if (!s || a < s || a - s >= len)
			continue;
		lo = s & ~(sg_page - 1);
		hi = (s + len + sg_page - 1) & ~(sg_page - 1);
		if (mmap((void *)lo, hi - lo, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			break;
		__atomic_store_n(&sg_regions[i].lost, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&sg_rescues, 1, __ATOMIC_RELAXED);
		errno = saved;
		return;
	}
	sigaction(SIGBUS, &sg_prior, NULL);
	if (si->si_code <= 0)
		raise(SIGBUS);  /* sent, not a fault: nothing would send it again */
	errno = saved;
}

/* Takes a reference to the slot of the region at p, the first one taking a free slot.
 * Returns the slot, or -1 when the table is full. */
static int sg_region_hold(void *p, size_t len)
{
	int slot = -1;

	pthread_mutex_lock(&sg_lock);
	for (int i = 0; i < SG_MAX_REGIONS; i++) {
		if (sg_regions[i].start == p) {
			sg_regions[i].refs++;
			slot = i;
			goto out;
		}
		if (slot < 0 && !sg_regions[i].start)
			slot = i;
	}
	if (slot < 0) {
		if (!sg_full_told)
			fwd_log_warn("more than %d regions of shared memory mapped: the others are "
				     "not guarded against their file system going", SG_MAX_REGIONS);
		sg_full_told = true;
		goto out;
	}
	sg_regions[slot].refs = 1;
	__atomic_store_n(&sg_regions[slot].lost, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sg_regions[slot].len, len, __ATOMIC_RELEASE);
	__atomic_store_n(&sg_regions[slot].start, p, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&sg_lock);
	return slot;
}

/* Gives back a reference taken by sg_region_hold(); the last one frees the slot. */
static void sg_region_release(int slot)
{
	pthread_mutex_lock(&sg_lock);
	if (--sg_regions[slot].refs == 0) {
		__atomic_store_n(&sg_regions[slot].start, NULL, __ATOMIC_RELEASE);
		__atomic_store_n(&sg_regions[slot].len, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&sg_lock);
}

/* Whether a region f holds was replaced; the first time it is seen, says so in the log. */
static bool sg_file_lost(struct sg_file *f)
{
	for (int i = 0; i < f->nslots; i++) {
		if (f->slots[i] < 0 || !__atomic_load_n(&sg_regions[f->slots[i]].lost, __ATOMIC_ACQUIRE))
			continue;
		if (!f->told)
			fwd_log_warn("the shared memory of %s went with its file system: its "
				     "statements fail with an I/O error until the connection is "
				     "opened again", f->name ? f->name : "a database");
		f->told = true;
		return true;
	}
	return false;
}

/* Lets go of every region f holds. */
static void sg_file_release(struct sg_file *f)
{
	for (int i = 0; i < f->nslots; i++)
		if (f->slots[i] >= 0)
			sg_region_release(f->slots[i]);
	free(f->slots);
	f->slots = NULL;
	f->nslots = 0;
}

/* Records that f maps region pg at p. Returns false when it cannot (no memory, table
 * full): the region is then unguarded for f, as without this VFS. */
static bool sg_file_note(struct sg_file *f, int pg, void *p, size_t len)
{
	if (pg >= f->nslots) {
		int n = pg + 4;
		int *s = realloc(f->slots, (size_t)n * sizeof(*s));

		if (!s)
			return false;
		for (int i = f->nslots; i < n; i++)
			s[i] = -1;
		f->slots = s;
		f->nslots = n;
	}
	if (f->slots[pg] < 0)
		f->slots[pg] = sg_region_hold(p, len);
	return f->slots[pg] >= 0;
}

static int sg_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
	struct sg_file *f = (struct sg_file *)file;
	int rc = f->vf.real->pMethods->xShmMap(f->vf.real, pg, pgsz, extend, pp);

	if (rc != SQLITE_OK || !*pp)
		return rc;
	sg_file_note(f, pg, (void *)*pp, (size_t)pgsz);
	if (sg_file_lost(f)) {
		*pp = NULL;
		return SQLITE_IOERR_SHMMAP;
	}
	return SQLITE_OK;
}

static int sg_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct sg_file *f = (struct sg_file *)file;

	if (!(flags & SQLITE_SHM_UNLOCK) && sg_file_lost(f))
		return SQLITE_IOERR_SHMLOCK;
	return f->vf.real->pMethods->xShmLock(f->vf.real, offset, n, flags);
}

static int sg_shm_unmap(sqlite3_file *file, int del)
{
	struct sg_file *f = (struct sg_file *)file;
	int rc = f->vf.real->pMethods->xShmUnmap(f->vf.real, del);

	sg_file_release(f);
	return rc;
}

static int sg_close(sqlite3_file *file)
{
	struct sg_file *f = (struct sg_file *)file;

	sg_file_release(f);
	return f->vf.real->pMethods->xClose(f->vf.real);
}

static const sqlite3_io_methods sg_io = {
	.iVersion = 3,
	.xClose = sg_close,
	.xRead = fwd_vfs_pass_read,
	.xWrite = fwd_vfs_pass_write,
	.xTruncate = fwd_vfs_pass_truncate,
	.xSync = fwd_vfs_pass_sync,
	.xFileSize = fwd_vfs_pass_file_size,
	.xLock = fwd_vfs_pass_lock,
	.xUnlock = fwd_vfs_pass_unlock,
	.xCheckReservedLock = fwd_vfs_pass_check_reserved,
	.xFileControl = fwd_vfs_pass_file_control,
	.xSectorSize = fwd_vfs_pass_sector_size,
	.xDeviceCharacteristics = fwd_vfs_pass_device_characteristics,
	.xShmMap = sg_shm_map,
	.xShmLock = sg_shm_lock,
	.xShmBarrier = fwd_vfs_pass_shm_barrier,
	.xShmUnmap = sg_shm_unmap,
	.xFetch = fwd_vfs_pass_fetch,
	.xUnfetch = fwd_vfs_pass_unfetch,
};

/* Main database files (the ones SQLite maps shared memory for) get sg_io over the default
 * VFS's file; any other file is the default VFS's file itself, in the space SQLite gives. */
static int sg_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
		   int *out_flags)
{
	struct sg_file *f = (struct sg_file *)file;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_MAIN_DB))
		return sg_root->xOpen(sg_root, name, file, flags, out_flags);
	memset(f, 0, sizeof(*f));
	f->name = name;
	return fwd_vfs_open_wrapped(sg_root, name, file, sizeof(*f), &sg_io, flags, out_flags);
}

static void sg_register_once(void)
{
	sqlite3_vfs *root = sqlite3_vfs_find(NULL);
	struct sigaction sa;
	long page = sysconf(_SC_PAGESIZE);

	if (!root || root->iVersion < 1)
		return;
	if (page > 0 && (page & (page - 1)) == 0)
		sg_page = (uintptr_t)page;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sg_on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &sg_prior)) {
		sg_registered = -errno;
		return;
	}
	sg_root = root;
	fwd_vfs_derive(&sg_vfs, root, FWD_SHMGUARD_VFS, sizeof(struct sg_file), sg_open);
	if (sqlite3_vfs_register(&sg_vfs, 1) != SQLITE_OK) {
		sigaction(SIGBUS, &sg_prior, NULL);
		return;
	}
	sg_registered = 0;
}

int fwd_shmguard_register(void)
{
	pthread_once(&sg_once, sg_register_once);
	return sg_registered;
}

size_t fwd_shmguard_rescues(void)
{
	return __atomic_load_n(&sg_rescues, __ATOMIC_RELAXED);
}
