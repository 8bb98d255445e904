/* Commit detection on the primary. SQLite's own file operations mark the commit points:
 * in rollback-journal mode the deletion of <db>-journal (the pages written to the database
 * since the journal was created form the transaction, unless the file change counter shows
 * a rollback); in WAL mode the write that completes a frame carrying a commit size. Each
 * commit is turned into a whole-page transaction before the committing call returns, so
 * <db>-pos shows it by the time COMMIT returns to the writer. A writer that would lose a
 * transaction committed that way but never made visible by its SQLite is stopped
 * (sim_track_wal_stale()). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_state.h"

#define WAL_HDR 32u
#define WAL_FRAME_HDR 24u

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int track_open(struct sim_node *n, const char *name)
{
	int fd = openat(n->data_fd, name, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int track_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t r = pread(fd, buf, len, (off_t)off);

	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -ENODATA;
}

void sim_track_journal_begin(struct sim_node *n, struct sim_db *db)
{
	uint8_t b[4];
	int fd;

	db->journal_active = true;
	db->ndirty = 0;
	db->journal_counter = -1;
	fd = track_open(n, db->name);
	if (fd < 0)
		return;
	if (!track_pread(fd, b, 4, 24))
		db->journal_counter = be32(b);
	close(fd);
}

void sim_track_db_write(struct sim_db *db, uint64_t off, uint64_t len)
{
	struct sim_extent *last;

	if (!db->journal_active || len == 0)
		return;
	last = db->ndirty ? &db->dirty[db->ndirty - 1] : NULL;
	if (last && last->off + last->len == off) {
		last->len += len;
		return;
	}
	if (db->ndirty == db->capdirty) {
		size_t cap = db->capdirty ? db->capdirty * 2 : 64;
		struct sim_extent *e = realloc(db->dirty, cap * sizeof(*e));

		if (!e) {
			/* Without memory the transaction cannot be tracked page by page: mark
			 * the whole file so the commit ships every page. */
			if (db->ndirty) {
				db->dirty[0].off = 0;
				db->dirty[0].len = UINT64_MAX / 2;
				db->ndirty = 1;
			}
			return;
		}
		db->dirty = e;
		db->capdirty = cap;
	}
	db->dirty[db->ndirty].off = off;
	db->dirty[db->ndirty].len = len;
	db->ndirty++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Reads pages pgnos[0..count) (sorted, unique) of the file fd into a transaction. */
static int track_read_pages(int fd, struct sim_txn *t, uint32_t *pgnos, uint32_t count)
{
	t->pgnos = pgnos;
	t->npages = count;
	t->data = malloc((size_t)count * t->page_size + 1);
	if (!t->data)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		int rc = track_pread(fd, t->data + (size_t)i * t->page_size, t->page_size,
				     (uint64_t)(pgnos[i] - 1) * t->page_size);
		if (rc)
			return rc;
	}
	return 0;
}

/* The page size in a database header, or 0 when the header holds no valid one (not an
 * SQLite database: nothing to replicate). */
static uint32_t page_size_of(const uint8_t *hdr)
{
	uint32_t ps = (uint32_t)hdr[16] << 8 | hdr[17];

	if (ps == 1)
		return 65536;
	return ps >= 512 && (ps & (ps - 1)) == 0 ? ps : 0;
}

/* Reads the header of the database file fd into hdr and its geometry into t (page size and
 * size in pages). Returns 1 when it is an SQLite database, 0 when the file is too short to
 * hold one (nothing to replicate yet), -EINVAL for an invalid page size, or -errno. */
static int track_read_geometry(int fd, uint8_t hdr[100], struct sim_txn *t)
{
	struct stat st;
	int rc;

	if (fstat(fd, &st))
		return -errno;
	if (st.st_size < 100)
		return 0;
	rc = track_pread(fd, hdr, 100, 0);
	if (rc)
		return rc;
	t->page_size = page_size_of(hdr);
	if (!t->page_size)
		return -EINVAL;
	t->commit = (uint32_t)(st.st_size / t->page_size);
	return 1;
}

int sim_track_journal_end(struct sim_node *n, struct sim_db *db)
{
	struct sim_txn t = {0};
	uint8_t hdr[100];
	uint32_t *pgnos = NULL, count = 0, cap = 0;
	int fd, rc;

	if (!db->journal_active)
		return 0;
	db->journal_active = false;
	fd = track_open(n, db->name);
	if (fd < 0)
		return fd;
	rc = track_read_geometry(fd, hdr, &t);
	if (rc <= 0)
		goto out;
	rc = 0;
	if (db->journal_counter >= 0 && be32(hdr + 24) == (uint32_t)db->journal_counter)
		goto out; /* rolled back: the change counter is back where it was */
	for (size_t i = 0; i <= db->ndirty; i++) {
		uint64_t first, last;

		if (i == db->ndirty) {
			first = last = 1; /* page 1 always changes with the change counter */
		} else {
			first = db->dirty[i].off / t.page_size + 1;
			last = (db->dirty[i].off + db->dirty[i].len - 1) / t.page_size + 1;
		}
		if (last > t.commit)
			last = t.commit;
		for (uint64_t p = first; p <= last; p++) {
			if (count == cap) {
				uint32_t *np;

				cap = cap ? cap * 2 : 64;
				np = realloc(pgnos, cap * sizeof(*np));
				if (!np) {
					rc = -ENOMEM;
					goto out;
				}
				pgnos = np;
			}
			pgnos[count++] = (uint32_t)p;
		}
	}
	qsort(pgnos, count, sizeof(*pgnos), cmp_u32);
	{
		uint32_t u = 0;

		for (uint32_t i = 0; i < count; i++)
			if (u == 0 || pgnos[u - 1] != pgnos[i])
				pgnos[u++] = pgnos[i];
		count = u;
	}
	rc = track_read_pages(fd, &t, pgnos, count);
	pgnos = NULL;
	if (!rc)
		rc = sim_node_commit(n, db, &t);
out:
	free(pgnos);
	sim_txn_free(&t);
	db->ndirty = 0;
	close(fd);
	return rc;
}

void sim_track_wal_reset(struct sim_db *db)
{
	memset(&db->wal, 0, sizeof(db->wal));
}

struct wal_frame_ref {
	uint32_t pgno;
	uint64_t off;
};

static int cmp_frame_ref(const void *a, const void *b)
{
	const struct wal_frame_ref *x = a, *y = b;

	if (x->pgno != y->pgno)
		return x->pgno < y->pgno ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Builds and commits the transaction of the frames [wal.next_frame_off, end). */
static int track_wal_commit(struct sim_node *n, struct sim_db *db, int fd, uint64_t end,
			    uint32_t commit)
{
	uint64_t fsz = WAL_FRAME_HDR + db->wal.page_size;
	uint64_t nframes = (end - db->wal.next_frame_off) / fsz;
	struct wal_frame_ref *refs;
	struct sim_txn t = {0};
	uint32_t *pgnos = NULL, count = 0;
	int rc = 0;

	refs = calloc(nframes + 1, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (uint64_t i = 0; i < nframes; i++) {
		uint8_t fh[WAL_FRAME_HDR];

		refs[i].off = db->wal.next_frame_off + i * fsz;
		rc = track_pread(fd, fh, sizeof(fh), refs[i].off);
		if (rc)
			goto out;
		refs[i].pgno = be32(fh);
	}
	qsort(refs, nframes, sizeof(*refs), cmp_frame_ref);
	pgnos = malloc((nframes + 1) * sizeof(*pgnos));
	t.data = malloc(nframes * db->wal.page_size + 1);
	if (!pgnos || !t.data) {
		rc = -ENOMEM;
		goto out;
	}
	t.page_size = db->wal.page_size;
	t.commit = commit;
	for (uint64_t i = 0; i < nframes; i++) {
		/* the last frame of a page wins: it is the newest version within the txn */
		if (i + 1 < nframes && refs[i + 1].pgno == refs[i].pgno)
			continue;
		if (refs[i].pgno == 0 || refs[i].pgno > commit)
			continue;
		rc = track_pread(fd, t.data + (size_t)count * t.page_size, t.page_size,
				 refs[i].off + WAL_FRAME_HDR);
		if (rc)
			goto out;
		pgnos[count++] = refs[i].pgno;
	}
	t.pgnos = pgnos;
	t.npages = count;
	pgnos = NULL;
	rc = sim_node_commit(n, db, &t);
out:
	free(refs);
	free(pgnos);
	sim_txn_free(&t);
	return rc;
}

int sim_track_wal_write(struct sim_node *n, struct sim_db *db, int wfd, uint64_t off,
			uint64_t len)
{
	char walname[NAME_MAX + 8];
	uint8_t h[WAL_HDR];
	uint64_t fsz, end = off + len;
	int fd = wfd, rc = 0;

	if (fd < 0) {
		snprintf(walname, sizeof(walname), "%s-wal", db->name);
		fd = track_open(n, walname);
		if (fd < 0)
			return fd;
	}
	if (off == 0 && len >= WAL_HDR) {
		rc = track_pread(fd, h, WAL_HDR, 0);
		if (rc)
			goto out;
		if ((be32(h) & 0xfffffffeu) != 0x377f0682u)
			goto out;
		db->wal.valid = true;
		db->wal.page_size = be32(h + 8);
		db->wal.salt1 = be32(h + 16);
		db->wal.salt2 = be32(h + 20);
		db->wal.next_frame_off = WAL_HDR;
		db->wal.txn_active = false;
		db->wal.last_txid = 0;
	}
	if (!db->wal.valid || end <= WAL_HDR)
		goto out;
	fsz = WAL_FRAME_HDR + db->wal.page_size;
	if (end > db->wal.next_frame_off)
		db->wal.txn_active = true;
	if ((end - WAL_HDR) % fsz == 0 && end - fsz >= db->wal.next_frame_off) {
		uint8_t fh[WAL_FRAME_HDR];
		uint32_t commit;

		rc = track_pread(fd, fh, sizeof(fh), end - fsz);
		if (rc)
			goto out;
		commit = be32(fh + 4);
		if (commit && be32(fh + 8) == db->wal.salt1 && be32(fh + 12) == db->wal.salt2) {
			rc = track_wal_commit(n, db, fd, end, commit);
			if (!rc)
				db->wal.last_txid = db->log.count;
			db->wal.next_frame_off = end;
			db->wal.txn_active = false;
		}
	}
out:
	if (fd != wfd)
		close(fd);
	return rc;
}

/* Whether the database file holds every page of transaction txid of db's log as the
 * transaction left it. Returns 1, 0, or -errno. */
static int track_txn_in_db(struct sim_node *n, struct sim_db *db, uint64_t txid)
{
	struct sim_txn t = {0};
	uint8_t *rec = NULL, *page = NULL;
	size_t len = 0;
	int fd, rc;

	rc = sim_txlog_read(&db->log, txid, &rec, &len);
	if (rc)
		return rc;
	if (sim_txn_decode(rec, len, &t) <= 0) {
		free(rec);
		return -EINVAL;
	}
	free(rec);
	fd = track_open(n, db->name);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	page = malloc(t.page_size);
	rc = page ? 1 : -ENOMEM;
	for (uint32_t i = 0; rc == 1 && i < t.npages; i++) {
		int r = track_pread(fd, page, t.page_size, (uint64_t)(t.pgnos[i] - 1) * t.page_size);

		if (r == -ENODATA || (!r && memcmp(page, t.data + (size_t)i * t.page_size,
						   t.page_size)))
			rc = 0;
		else if (r)
			rc = r;
	}
	free(page);
	close(fd);
out:
	sim_txn_free(&t);
	return rc;
}

/* A transaction is committed here when its commit frame is written (so that -pos shows it
 * when COMMIT returns); SQLite makes it visible to the other connections just after, in
 * the wal-index. A writer that ends in between (killed, say) leaves a transaction that is
 * logged, and on its way to the replicas, but that the primary's SQLite does not know: the
 * next writer starts from the state before it and writes its frames over it, or, when the
 * WAL has been checkpointed as far as that writer knows, starts the WAL again without the
 * transaction ever reaching the database file. Either way the primary loses a transaction
 * every other node has, and writes the next ones over a state that no log describes. Such
 * a write is one below the end of the last transaction committed from this WAL, or a new
 * WAL header while the database file lacks that transaction. */
int sim_track_wal_stale(struct sim_node *n, struct sim_db *db, uint64_t off, uint64_t len)
{
	if (!db->wal.valid || !db->wal.last_txid)
		return 0;
	if (off >= WAL_HDR)
		return off < db->wal.next_frame_off;
	if (off == 0 && len >= WAL_HDR)
		return track_txn_in_db(n, db, db->wal.last_txid) == 0;
	return 0;
}

int sim_track_snapshot(struct sim_node *n, struct sim_db *db)
{
	struct sim_txn t = {0};
	uint8_t hdr[100];
	uint32_t *pgnos;
	int fd, rc;

	fd = track_open(n, db->name);
	if (fd < 0)
		return fd;
	rc = track_read_geometry(fd, hdr, &t);
	if (rc <= 0)
		goto out;
	pgnos = malloc(((size_t)t.commit + 1) * sizeof(*pgnos));
	if (!pgnos) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < t.commit; i++)
		pgnos[i] = i + 1;
	rc = track_read_pages(fd, &t, pgnos, t.commit);
	if (!rc)
		rc = sim_node_commit(n, db, &t);
out:
	sim_txn_free(&t);
	close(fd);
	return rc;
}
