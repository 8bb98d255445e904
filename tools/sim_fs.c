/* The node's mount: a FUSE file system over the backing directory that behaves as LiteFS's
 * does. Only files directly in the mount exist; .primary, .lag and <db>-pos are generated;
 * on a replica, databases read as mode 0444 and every write SQLite would make fails with
 * EACCES (creating <db>-journal, writing <db>-wal or <db>) unless it comes from this daemon
 * applying replicated transactions. On the primary, file operations feed commit tracking.
 * A database's journal, WAL and shared memory are removed only by a process that holds
 * SQLite's lock on the database in this mount (fs_may_remove()). */
#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "sim_cli_proc.h"
#include "sim_state.h"

struct fs_handle {
	int fd;                  /* backing descriptor, -1 for generated files */
	bool readable;           /* fd was opened for reading too */
	enum sim_file_kind kind;
	char name[NAME_MAX + 1];
	char base[NAME_MAX + 1]; /* database the file belongs to */
	struct fs_handle *prev, *next; /* in fs_open_handles */
};

/* The handles open in this process's mount: those its users still hold when the mount
 * goes are never released by the kernel, and are freed when the file system loop ends. */
static pthread_mutex_t fs_handles_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle *fs_open_handles;

static void fs_handle_link(struct fs_handle *h)
{
	pthread_mutex_lock(&fs_handles_mu);
	h->next = fs_open_handles;
	if (h->next)
		h->next->prev = h;
	fs_open_handles = h;
	pthread_mutex_unlock(&fs_handles_mu);
}

static void fs_handle_free(struct fs_handle *h)
{
	pthread_mutex_lock(&fs_handles_mu);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs_open_handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs_handles_mu);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

static struct sim_node *fs_node(void)
{
	return fuse_get_context()->private_data;
}

static bool fs_from_self(void)
{
	return sim_node_is_self(fuse_get_context()->pid);
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t slen)
{
	return len > slen && !memcmp(s + len - slen, suffix, slen);
}

enum sim_file_kind sim_file_classify(const char *name, char *base, size_t blen)
{
	static const struct {
		const char *suffix;
		enum sim_file_kind kind;
	} sfx[] = {
		{"-journal", SIM_F_JOURNAL}, {"-wal", SIM_F_WAL}, {"-shm", SIM_F_SHM}, {"-pos", SIM_F_POS},
	};
	size_t len = strlen(name);

	if (base && blen)
		base[0] = '\0';
	if (!strcmp(name, ".primary"))
		return SIM_F_PRIMARY;
	if (!strcmp(name, ".lag"))
		return SIM_F_LAG;
	if (name[0] == '.' || len == 0)
		return SIM_F_OTHER;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t slen = strlen(sfx[i].suffix);

		if (ends_with(name, len, sfx[i].suffix, slen)) {
			if (base)
				snprintf(base, blen, "%.*s", (int)(len - slen), name);
			return sfx[i].kind;
		}
	}
	if (base)
		snprintf(base, blen, "%s", name);
	return SIM_F_DB;
}

/* Strips the leading '/' of a path in the mount. Returns NULL for the root and for paths
 * with more than one component (there are no subdirectories). */
static const char *fs_leaf(const char *path)
{
	if (path[0] == '/')
		path++;
	if (path[0] == '\0' || strchr(path, '/'))
		return NULL;
	return path;
}

/* Renders a generated file. Returns its length, or -ENOENT when it does not exist now. */
static int fs_render(struct sim_node *n, enum sim_file_kind kind, const char *base, char *buf,
		     size_t len)
{
	int r = -ENOENT;

	if (kind == SIM_F_POS) {
		struct sim_db *db = sim_node_db(n, base, false);
		struct stat st;

		if (!db && fstatat(n->data_fd, base, &st, 0) == 0 && S_ISREG(st.st_mode))
			db = sim_node_db(n, base, true);
		if (!db)
			return -ENOENT;
		pthread_mutex_lock(&db->mu);
		r = snprintf(buf, len, "%016llx/%016llx\n", (unsigned long long)db->log.count,
			     (unsigned long long)db->log.last_checksum);
		pthread_mutex_unlock(&db->mu);
		return r;
	}
	pthread_mutex_lock(&n->mu);
	if (kind == SIM_F_PRIMARY && n->role == SIM_REPLICA && n->visible_primary) {
		char host[16];

		sim_node_name(n->visible_primary, host, sizeof(host));
		r = snprintf(buf, len, "%s\n", host);
	} else if (kind == SIM_F_LAG) {
		r = snprintf(buf, len, "%+010d\n", sim_node_lag_ms(n));
	}
	pthread_mutex_unlock(&n->mu);
	return r;
}

static bool fs_generated(enum sim_file_kind kind)
{
	return kind == SIM_F_POS || kind == SIM_F_PRIMARY || kind == SIM_F_LAG;
}

static bool fs_is_replica(struct sim_node *n)
{
	bool r;

	pthread_mutex_lock(&n->mu);
	r = n->role == SIM_REPLICA;
	pthread_mutex_unlock(&n->mu);
	return r;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct sim_node *n = fs_node();
	struct fs_handle *h = fi ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
	char base[NAME_MAX + 1], buf[64];
	const char *leaf = h ? h->name : path ? fs_leaf(path) : NULL;
	enum sim_file_kind kind;
	int r;

	if (!leaf) {
		if (!path)
			return -ENOENT;
		if (strcmp(path, "/"))
			return -ENOENT;
		if (fstat(n->data_fd, st))
			return -errno;
		return 0;
	}
	kind = sim_file_classify(leaf, base, sizeof(base));
	if (fs_generated(kind)) {
		r = fs_render(n, kind, base, buf, sizeof(buf));
		if (r < 0)
			return r;
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = r;
		st->st_uid = getuid();
		st->st_gid = getgid();
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
		st->st_atim = st->st_ctim = st->st_mtim;
		return 0;
	}
	if (h && h->fd >= 0) {
		r = fstat(h->fd, st);
	} else {
		r = fstatat(n->data_fd, leaf, st, AT_SYMLINK_NOFOLLOW);
	}
	if (r)
		return -errno;
	if (kind == SIM_F_DB && S_ISREG(st->st_mode))
		st->st_mode = (st->st_mode & ~07777u) | (fs_is_replica(n) ? 0444 : 0666);
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct sim_node *n = fs_node();
	struct dirent *de;
	DIR *d;
	int fd;

	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/"))
		return -ENOENT;
	fd = openat(n->data_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	while ((de = readdir(d))) {
		char base[NAME_MAX + 1], pos[NAME_MAX + 8];

		if (de->d_name[0] == '.')
			continue;
		fill(buf, de->d_name, NULL, 0, 0);
		if (sim_file_classify(de->d_name, base, sizeof(base)) == SIM_F_DB &&
		    de->d_type == DT_REG) {
			snprintf(pos, sizeof(pos), "%s-pos", de->d_name);
			fill(buf, pos, NULL, 0, 0);
		}
	}
	closedir(d);
	fill(buf, ".lag", NULL, 0, 0);
	{
		char tmp[64];

		if (fs_render(n, SIM_F_PRIMARY, "", tmp, sizeof(tmp)) > 0)
			fill(buf, ".primary", NULL, 0, 0);
	}
	return 0;
}

static int fs_handle_new(struct fuse_file_info *fi, int fd, const char *leaf)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->readable = (fi->flags & O_ACCMODE) != O_WRONLY;
	snprintf(h->name, sizeof(h->name), "%s", leaf);
	h->kind = sim_file_classify(leaf, h->base, sizeof(h->base));
	fs_handle_link(h);
	fi->fh = (uintptr_t)h;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct sim_node *n = fs_node();
	const char *leaf = fs_leaf(path);
	char base[NAME_MAX + 1], buf[64];
	enum sim_file_kind kind;
	int fd, rc;

	if (!leaf)
		return -ENOENT;
	kind = sim_file_classify(leaf, base, sizeof(base));
	if (fs_generated(kind)) {
		rc = fs_render(n, kind, base, buf, sizeof(buf));
		if (rc < 0)
			return rc;
		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			return -EACCES;
		fi->direct_io = 1;
		return fs_handle_new(fi, -1, leaf);
	}
	fd = openat(n->data_fd, leaf, (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fs_handle_new(fi, fd, leaf);
	if (rc)
		close(fd);
	return rc;
}

/* Whether a new write transaction may start on this node now (primary, not being demoted). */
static bool fs_may_begin_write(struct sim_node *n)
{
	bool r;

	pthread_mutex_lock(&n->mu);
	r = n->role == SIM_PRIMARY && !n->gate_closed;
	pthread_mutex_unlock(&n->mu);
	return r;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct sim_node *n = fs_node();
	const char *leaf = fs_leaf(path);
	char base[NAME_MAX + 1];
	enum sim_file_kind kind;
	struct sim_db *db = NULL;
	int fd, rc;

	if (!leaf)
		return -EACCES;
	kind = sim_file_classify(leaf, base, sizeof(base));
	if (fs_generated(kind))
		return -EACCES;
	if (kind == SIM_F_JOURNAL && !fs_from_self()) {
		db = sim_node_db(n, base, true);
		if (!db)
			return -EIO;
		pthread_mutex_lock(&db->mu);
		if (!fs_may_begin_write(n)) {
			pthread_mutex_unlock(&db->mu);
			return -EACCES;
		}
	}
	fd = openat(n->data_fd, leaf, fi->flags | O_CREAT | O_CLOEXEC, mode & 0666);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = fs_handle_new(fi, fd, leaf);
	if (rc) {
		close(fd);
		goto out;
	}
	if (db)
		sim_track_journal_begin(n, db);
	else if (kind == SIM_F_DB)
		sim_node_db(n, leaf, true);
out:
	if (db)
		pthread_mutex_unlock(&db->mu);
	return rc;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	ssize_t r;

	(void)path;
	if (h->fd < 0) {
		char tmp[64];
		int len = fs_render(fs_node(), h->kind, h->base, tmp, sizeof(tmp));

		if (len < 0)
			return len;
		if (off >= len)
			return 0;
		if (size > (size_t)(len - off))
			size = (size_t)(len - off);
		memcpy(buf, tmp + off, size);
		return (int)size;
	}
	r = pread(h->fd, buf, size, off);
	return r < 0 ? -errno : (int)r;
}

static int fs_pwrite_all(int fd, const char *buf, size_t size, off_t off)
{
	ssize_t r = pwrite(fd, buf, size, off);

	if (r < 0)
		return -errno;
	return (int)r;
}

/* A writer was refused a write to db's WAL that would have lost transaction txid, which
 * its SQLite does not know (see sim_track_wal_stale()): the writer rolls its own
 * transaction back, and makes the connections rebuild their wal-index from the WAL, which
 * holds txid. This runs while the writer still holds SQLite's WAL write lock, which a
 * rebuild takes: no connection can rebuild the index before it has been marked. */
static void fs_wal_stale(struct sim_node *n, struct sim_db *db, uint64_t txid)
{
	int rc = sim_apply_reload_wal_index(n, db);

	fprintf(stderr, "litefs-sim: %s: a writer that does not know transaction %llu (its own "
		"writer ended before SQLite made it visible) was refused a write to the WAL; "
		"%s\n", db->name, (unsigned long long)txid,
		rc ? "the wal-index could not be marked for a rebuild" :
		     "the wal-index is rebuilt from the WAL");
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct sim_node *n = fs_node();
	uint64_t lost = 0;
	struct sim_db *db;
	int r;

	(void)path;
	if (h->fd < 0)
		return -EBADF;
	if (h->kind == SIM_F_SHM || h->kind == SIM_F_OTHER)
		return fs_pwrite_all(h->fd, buf, size, off);
	if (fs_is_replica(n)) {
		if (!fs_from_self())
			return -EACCES;
		return fs_pwrite_all(h->fd, buf, size, off);
	}
	if (h->kind == SIM_F_JOURNAL)
		return fs_pwrite_all(h->fd, buf, size, off);
	db = sim_node_db(n, h->base, true);
	if (!db)
		return -EIO;
	pthread_mutex_lock(&db->mu);
	if (h->kind == SIM_F_WAL) {
		if (!db->wal.txn_active && !fs_may_begin_write(n) && !fs_from_self()) {
			r = -EACCES;
		} else if (!fs_from_self() &&
			   sim_track_wal_stale(n, db, (uint64_t)off, (uint64_t)size)) {
			r = -EIO;
			lost = db->wal.last_txid;
		} else {
			r = fs_pwrite_all(h->fd, buf, size, off);
			if (r > 0)
				sim_track_wal_write(n, db, h->readable ? h->fd : -1, (uint64_t)off,
						    (uint64_t)r);
		}
	} else {
		r = fs_pwrite_all(h->fd, buf, size, off);
		if (r > 0)
			sim_track_db_write(db, (uint64_t)off, (uint64_t)r);
	}
	pthread_mutex_unlock(&db->mu);
	if (lost)
		fs_wal_stale(n, db, lost);
	return r;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct sim_node *n = fs_node();
	struct fs_handle *h = fi ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
	const char *leaf = h ? h->name : path ? fs_leaf(path) : NULL;
	char base[NAME_MAX + 1];
	enum sim_file_kind kind;
	int r;

	if (!leaf)
		return -EACCES;
	kind = sim_file_classify(leaf, base, sizeof(base));
	if (fs_generated(kind))
		return -EACCES;
	if ((kind == SIM_F_DB || kind == SIM_F_JOURNAL) && fs_is_replica(n) && !fs_from_self())
		return -EACCES;
	if (h && h->fd >= 0)
		r = ftruncate(h->fd, size);
	else {
		int fd = openat(n->data_fd, leaf, O_WRONLY | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		r = ftruncate(fd, size);
		if (r)
			r = -errno;
		close(fd);
		if (r)
			return r;
	}
	if (r)
		return -errno;
	if (kind == SIM_F_WAL && size == 0) {
		struct sim_db *db = sim_node_db(n, base, false);

		if (db) {
			pthread_mutex_lock(&db->mu);
			sim_track_wal_reset(db);
			pthread_mutex_unlock(&db->mu);
		}
	}
	return 0;
}

/* SQLite's lock bytes in a database file (os_unix.c): the PENDING byte at 1 GiB, the
 * RESERVED byte, then the 510 bytes of the SHARED range. */
#define FS_LOCK_FIRST 0x40000000LL
#define FS_LOCK_BYTES 512

/* The device number of this node's mount, from /proc/self/mountinfo: asking the mount
 * itself from inside one of its own file operations could wait for that operation. The
 * last mount on the mount point is the one on top, ours. Returns 0 or -errno. */
static int fs_mount_dev(struct sim_node *n, dev_t *dev)
{
	char *line = NULL, *point = NULL;
	size_t cap = 0;
	dev_t found;
	FILE *f;

	pthread_mutex_lock(&n->mu);
	found = n->mnt_dev;
	pthread_mutex_unlock(&n->mu);
	if (found) {
		*dev = found;
		return 0;
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned int maj, min;

		free(point);
		point = malloc(strlen(line) + 1);
		if (!point)
			break;
		/* "36 35 0:52 / /mount/point rw,... - fuse.litefs litefs-sim rw,..." */
		if (sscanf(line, "%*d %*d %u:%u %*s %s", &maj, &min, point) != 3)
			continue;
		sim_cli_proc_unescape_mount_field(point);
		if (!strcmp(point, n->mnt))
			found = makedev(maj, min);
	}
	free(point);
	free(line);
	fclose(f);
	if (!found)
		return -ENOENT;
	pthread_mutex_lock(&n->mu);
	n->mnt_dev = found;
	pthread_mutex_unlock(&n->mu);
	*dev = found;
	return 0;
}

/* The process of the thread that made the current request (FUSE names the thread).
 * Returns its id or -errno. */
static pid_t fs_caller_process(void)
{
	char path[64], line[128];
	pid_t tgid = -ESRCH;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)fuse_get_context()->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Tgid:", 5)) {
			tgid = (pid_t)strtol(line + 5, NULL, 10);
			break;
		}
	}
	fclose(f);
	return tgid;
}

/* Whether process pid holds, on a file of the file system dev, a write lock on SQLite's
 * lock bytes (its RESERVED, PENDING or EXCLUSIVE lock on a database), from /proc/locks. */
static bool fs_holds_db_write_lock(dev_t dev, pid_t pid)
{
	char *line = NULL;
	size_t cap = 0;
	bool held = false;
	FILE *f = fopen("/proc/locks", "re");

	if (!f)
		return false;
	while (!held && getline(&line, &cap, f) > 0) {
		char type[16], rw[16], end[32];
		unsigned int maj, min;
		long long start, last;
		long owner;

		/* "1: POSIX  ADVISORY  WRITE 2292 00:34:2 1073741826 1073742335"; a request
		 * waiting for that lock follows it as " -> 1: POSIX ..." */
		if (strstr(line, "->") ||
		    sscanf(line, "%*d: %15s %*s %15s %ld %x:%x:%*u %lld %31s", type, rw, &owner,
			   &maj, &min, &start, end) != 7)
			continue;
		if (strcmp(rw, "WRITE") || owner != (long)pid || makedev(maj, min) != dev)
			continue;
		last = strcmp(end, "EOF") ? strtoll(end, NULL, 10) : LLONG_MAX;
		held = !strcmp(type, "FLOCK") ||
		       (start < FS_LOCK_FIRST + FS_LOCK_BYTES && last >= FS_LOCK_FIRST);
	}
	free(line);
	fclose(f);
	return held;
}

/* Whether the calling process may remove a database's journal, WAL or shared memory.
 * SQLite removes them holding a write lock on the database: RESERVED or EXCLUSIVE at the
 * end of a rollback-journal transaction, and in WAL mode the EXCLUSIVE lock that the last
 * connection to close takes to prove that no other connection uses the WAL and the
 * wal-index. A connection made on a previous mount of this node (before a stop-node and a
 * start-node) takes that lock on the previous mount's file, where nobody else holds any
 * any more, yet names the files by path: it would remove the ones that the connections of
 * this mount are using. Those would carry on with the removed files while new connections
 * made new ones, two groups of writers unaware of each other, and the database would be
 * corrupt on every node. LiteFS cannot be locked once its mount is gone, so there that
 * removal never comes. Returns 0, or -EBUSY when the process holds no such lock in this
 * mount (it is allowed when that cannot be found out). */
static int fs_may_remove(struct sim_node *n, const char *leaf)
{
	pid_t pid = fs_caller_process();
	dev_t dev = 0;

	if (pid <= 0 || fs_mount_dev(n, &dev) || fs_holds_db_write_lock(dev, pid))
		return 0;
	fprintf(stderr, "litefs-sim: %s: not removed for process %ld, which holds no lock on "
		"the database in this mount (a connection made before the node started?)\n",
		leaf, (long)pid);
	return -EBUSY;
}

static int fs_unlink(const char *path)
{
	struct sim_node *n = fs_node();
	const char *leaf = fs_leaf(path);
	char base[NAME_MAX + 1];
	enum sim_file_kind kind;
	struct sim_db *db;
	int rc = 0;

	if (!leaf)
		return -EACCES;
	kind = sim_file_classify(leaf, base, sizeof(base));
	if (fs_generated(kind))
		return -EACCES;
	if (kind == SIM_F_DB && fs_is_replica(n) && !fs_from_self())
		return -EACCES;
	if ((kind == SIM_F_JOURNAL || kind == SIM_F_WAL || kind == SIM_F_SHM) && !fs_from_self()) {
		rc = fs_may_remove(n, leaf);
		if (rc)
			return rc;
	}
	if (kind != SIM_F_JOURNAL && kind != SIM_F_WAL)
		return unlinkat(n->data_fd, leaf, 0) ? -errno : 0;
	db = sim_node_db(n, base, kind == SIM_F_JOURNAL);
	if (!db)
		return unlinkat(n->data_fd, leaf, 0) ? -errno : 0;
	pthread_mutex_lock(&db->mu);
	if (unlinkat(n->data_fd, leaf, 0)) {
		rc = -errno;
	} else if (kind == SIM_F_WAL) {
		sim_track_wal_reset(db);
	} else if (db->journal_active) {
		int crc = sim_track_journal_end(n, db);

		if (crc)
			fprintf(stderr, "litefs-sim: %s: commit tracking failed: %s\n", db->name,
				strerror(-crc));
	}
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	(void)path;
	if (h)
		fs_handle_free(h);
	return 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	(void)path;
	if (!h || h->fd < 0)
		return 0;
	return (datasync ? fdatasync(h->fd) : fsync(h->fd)) ? -errno : 0;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	return fstatvfs(fs_node()->data_fd, st) ? -errno : 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct sim_node *n = fs_node();
	struct fs_handle *h = fi ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
	const char *leaf = path ? fs_leaf(path) : NULL;

	if (h && h->fd >= 0)
		return futimens(h->fd, tv) ? -errno : 0;
	if (!leaf)
		return 0;
	if (fs_generated(sim_file_classify(leaf, NULL, 0)))
		return 0;
	return utimensat(n->data_fd, leaf, tv, 0) ? -errno : 0;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return 0;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return 0;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EPERM;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EPERM;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct sim_node *n = fuse_get_context()->private_data;

	(void)conn;
	pthread_mutex_lock(&n->mu);
	n->mounted = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->hard_remove = 1;
	cfg->nullpath_ok = 0;
	cfg->use_ino = 0;
	return n;
}

static const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.truncate = fs_truncate,
	.unlink = fs_unlink,
	.release = fs_release,
	.fsync = fs_fsync,
	.flush = fs_flush,
	.statfs = fs_statfs,
	.utimens = fs_utimens,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.mkdir = fs_mkdir,
	.rename = fs_rename,
};

int sim_fs_run(struct sim_node *n)
{
	char *argv[] = {"litefs-sim", "-o", "fsname=litefs-sim,subtype=litefs", NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_loop_config *cfg = NULL;
	struct fuse *f;
	int rc = 0;

	if (geteuid() == 0) {
		argv[3] = "-oallow_other";
		args.argc = 4;
	}
	f = fuse_new(&args, &fs_ops, sizeof(fs_ops), n);
	if (!f) {
		rc = -EINVAL;
		goto out_args;
	}
	if (fuse_mount(f, n->mnt)) {
		rc = -EIO;
		goto out_new;
	}
	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		rc = -ENOMEM;
		goto out_mount;
	}
	fuse_loop_cfg_set_max_threads(cfg, 64);
	/* Keep idle workers: without a bound here libfuse ends a worker after each request and
	 * starts another for the next one. */
	fuse_loop_cfg_set_idle_threads(cfg, 16);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	pthread_mutex_lock(&n->mu);
	n->fuse = f;
	pthread_mutex_unlock(&n->mu);
	if (fuse_loop_mt(f, cfg))
		rc = -EIO;
	pthread_mutex_lock(&n->mu);
	n->fuse = NULL;
	n->mounted = false;
	pthread_mutex_unlock(&n->mu);
	fuse_loop_cfg_destroy(cfg);
out_mount:
	fuse_unmount(f);
out_new:
	fuse_destroy(f);
	while (fs_open_handles)
		fs_handle_free(fs_open_handles);
out_args:
	fuse_opt_free_args(&args);
	return rc;
}

void sim_fs_stop(struct sim_node *n)
{
	struct stat st;
	struct fuse *f;

	pthread_mutex_lock(&n->mu);
	f = n->fuse;
	if (f)
		fuse_exit(f);
	pthread_mutex_unlock(&n->mu);
	/* The loop notices the exit flag after its next request: make one. */
	if (f)
		stat(n->mnt, &st);
}
