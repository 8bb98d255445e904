/* Replication log records: little-endian header, page numbers, page data, end marker.
 *   u32 magic, u32 npages, u64 txid, u64 checksum, i64 ts_us, u32 page_size, u32 commit,
 *   u64 reserved, u32 pgno[npages], page data[npages][page_size], u32 end marker */
#include "sim_txlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void sim_txn_free(struct sim_txn *t)
{
	free(t->pgnos);
	free(t->data);
	t->pgnos = NULL;
	t->data = NULL;
	t->npages = 0;
}

size_t sim_txn_encoded_size(const struct sim_txn *t)
{
	return SIM_TXLOG_HDR + (size_t)t->npages * (4 + (size_t)t->page_size) + 4;
}

void sim_txn_encode(const struct sim_txn *t, uint8_t *buf)
{
	uint8_t *p = buf;

	put32(p, SIM_TXLOG_MAGIC);
	put32(p + 4, t->npages);
	put64(p + 8, t->txid);
	put64(p + 16, t->checksum);
	put64(p + 24, (uint64_t)t->ts_us);
	put32(p + 32, t->page_size);
	put32(p + 36, t->commit);
	put64(p + 40, 0);
	p += SIM_TXLOG_HDR;
	for (uint32_t i = 0; i < t->npages; i++, p += 4)
		put32(p, t->pgnos[i]);
	memcpy(p, t->data, (size_t)t->npages * t->page_size);
	p += (size_t)t->npages * t->page_size;
	put32(p, SIM_TXLOG_END);
}

static int txn_page_size_ok(uint32_t ps)
{
	return ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0;
}

long sim_txn_peek(const uint8_t *buf, size_t len, uint64_t *txid, uint64_t *checksum)
{
	uint32_t npages, ps;
	uint64_t size;

	if (len < SIM_TXLOG_HDR)
		return 0;
	if (get32(buf) != SIM_TXLOG_MAGIC)
		return -EINVAL;
	npages = get32(buf + 4);
	ps = get32(buf + 32);
	if (!txn_page_size_ok(ps) || npages > (1u << 24))
		return -EINVAL;
	size = SIM_TXLOG_HDR + (uint64_t)npages * (4 + (uint64_t)ps) + 4;
	if (size > (uint64_t)1 << 40)
		return -EINVAL;
	if (txid)
		*txid = get64(buf + 8);
	if (checksum)
		*checksum = get64(buf + 16);
	return (long)size;
}

long sim_txn_decode(const uint8_t *buf, size_t len, struct sim_txn *t)
{
	long size = sim_txn_peek(buf, len, NULL, NULL);
	const uint8_t *p;

	if (size <= 0)
		return size;
	if ((size_t)size > len)
		return 0;
	if (get32(buf + size - 4) != SIM_TXLOG_END)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	t->npages = get32(buf + 4);
	t->txid = get64(buf + 8);
	t->checksum = get64(buf + 16);
	t->ts_us = (int64_t)get64(buf + 24);
	t->page_size = get32(buf + 32);
	t->commit = get32(buf + 36);
	t->pgnos = malloc((size_t)t->npages * 4 + 1);
	t->data = malloc((size_t)t->npages * t->page_size + 1);
	if (!t->pgnos || !t->data) {
		sim_txn_free(t);
		return -ENOMEM;
	}
	p = buf + SIM_TXLOG_HDR;
	for (uint32_t i = 0; i < t->npages; i++, p += 4) {
		t->pgnos[i] = get32(p);
		if (t->pgnos[i] == 0 || t->pgnos[i] > t->commit ||
		    (i > 0 && t->pgnos[i] <= t->pgnos[i - 1])) {
			sim_txn_free(t);
			return -EINVAL;
		}
	}
	memcpy(t->data, p, (size_t)t->npages * t->page_size);
	return size;
}

/* FNV-1a, 64 bits: the stand-in's checksum only has to be identical on every node. */
static uint64_t fnv64(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t sim_txn_chain_checksum(uint64_t prev, const struct sim_txn *t)
{
	uint8_t hdr[24];
	uint64_t h = 0xcbf29ce484222325ULL;

	put64(hdr, prev);
	put64(hdr + 8, t->txid);
	put32(hdr + 16, t->commit);
	put32(hdr + 20, t->page_size);
	h = fnv64(h, hdr, sizeof(hdr));
	for (uint32_t i = 0; i < t->npages; i++) {
		uint8_t pg[4];

		put32(pg, t->pgnos[i]);
		h = fnv64(h, pg, 4);
		h = fnv64(h, t->data + (size_t)i * t->page_size, t->page_size);
	}
	return h ? h : 1;
}

static int txlog_index_push(struct sim_txlog *l, uint64_t off)
{
	if (l->count == l->cap) {
		uint64_t cap = l->cap ? l->cap * 2 : 256;
		uint64_t *n = realloc(l->offsets, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->offsets = n;
		l->cap = cap;
	}
	l->offsets[l->count++] = off;
	return 0;
}

int sim_txlog_open(struct sim_txlog *l, const char *path)
{
	uint8_t hdr[SIM_TXLOG_HDR], end[4];
	struct stat st;
	uint64_t off = 0;
	int rc;

	memset(l, 0, sizeof(*l));
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (l->fd < 0)
		return -errno;
	if (fstat(l->fd, &st)) {
		rc = -errno;
		goto fail;
	}
	while (off + SIM_TXLOG_HDR <= (uint64_t)st.st_size) {
		uint64_t txid, cks;
		long size;

		if (pread(l->fd, hdr, sizeof(hdr), (off_t)off) != (ssize_t)sizeof(hdr))
			break;
		size = sim_txn_peek(hdr, sizeof(hdr), &txid, &cks);
		if (size <= 0 || off + (uint64_t)size > (uint64_t)st.st_size || txid != l->count + 1)
			break;
		if (pread(l->fd, end, 4, (off_t)(off + (uint64_t)size - 4)) != 4 ||
		    get32(end) != SIM_TXLOG_END)
			break;
		rc = txlog_index_push(l, off);
		if (rc)
			goto fail;
		l->last_checksum = cks;
		off += (uint64_t)size;
	}
	if (off != (uint64_t)st.st_size && ftruncate(l->fd, (off_t)off)) {
		rc = -errno;
		goto fail;
	}
	l->size = off;
	return 0;
fail:
	sim_txlog_close(l);
	return rc;
}

void sim_txlog_close(struct sim_txlog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	free(l->offsets);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

int sim_txlog_append(struct sim_txlog *l, const struct sim_txn *t)
{
	size_t len = sim_txn_encoded_size(t);
	uint8_t *buf;
	ssize_t n;
	int rc;

	if (t->txid != l->count + 1 || !txn_page_size_ok(t->page_size))
		return -EINVAL;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	sim_txn_encode(t, buf);
	n = pwrite(l->fd, buf, len, (off_t)l->size);
	free(buf);
	if (n != (ssize_t)len) {
		rc = n < 0 ? -errno : -EIO;
		if (ftruncate(l->fd, (off_t)l->size)) {
			/* the torn tail is cut when the log is next opened */
		}
		return rc;
	}
	rc = txlog_index_push(l, l->size);
	if (rc)
		return rc;
	l->size += len;
	l->last_checksum = t->checksum;
	return 0;
}

int sim_txlog_read(const struct sim_txlog *l, uint64_t txid, uint8_t **buf, size_t *len)
{
	uint64_t off, end;
	uint8_t *b;

	if (txid == 0 || txid > l->count)
		return -ERANGE;
	off = l->offsets[txid - 1];
	end = txid < l->count ? l->offsets[txid] : l->size;
	b = malloc(end - off);
	if (!b)
		return -ENOMEM;
	if (pread(l->fd, b, end - off, (off_t)off) != (ssize_t)(end - off)) {
		free(b);
		return -EIO;
	}
	*buf = b;
	*len = end - off;
	return 0;
}

int sim_txlog_checksum(const struct sim_txlog *l, uint64_t txid, uint64_t *checksum)
{
	uint8_t hdr[SIM_TXLOG_HDR];

	if (txid == 0) {
		*checksum = 0;
		return 0;
	}
	if (txid > l->count)
		return -ERANGE;
	if (pread(l->fd, hdr, sizeof(hdr), (off_t)l->offsets[txid - 1]) != (ssize_t)sizeof(hdr))
		return -EIO;
	*checksum = get64(hdr + 16);
	return 0;
}

int sim_txlog_reset(struct sim_txlog *l)
{
	if (ftruncate(l->fd, 0))
		return -errno;
	l->size = 0;
	l->count = 0;
	l->last_checksum = 0;
	return 0;
}

/* pread() of exactly len bytes. Returns 0, -EIO at a short read, or -errno. */
static int txlog_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int sim_txlog_materialize(const struct sim_txlog *l, int fd)
{
	uint8_t hdr[SIM_TXLOG_HDR];
	uint64_t *where = NULL;
	uint32_t *pgnos = NULL, commit, ps, cap = 0;
	uint8_t *page = NULL;
	int rc;

	if (!l->count)
		return 0;
	rc = txlog_pread_all(l->fd, hdr, sizeof(hdr), l->offsets[l->count - 1]);
	if (rc)
		return rc;
	ps = get32(hdr + 32);
	commit = get32(hdr + 36);
	where = calloc((size_t)commit + 1, sizeof(*where));
	page = malloc(ps);
	if (!where || !page) {
		rc = -ENOMEM;
		goto out;
	}
	/* the offset of the latest version of every page, oldest record first */
	for (uint64_t txid = 1; txid <= l->count; txid++) {
		uint64_t off = l->offsets[txid - 1];
		uint32_t npages;

		rc = txlog_pread_all(l->fd, hdr, sizeof(hdr), off);
		if (rc)
			goto out;
		npages = get32(hdr + 4);
		if (get32(hdr + 32) != ps) {
			/* another page size: a later record rewrote every page */
			memset(where, 0, ((size_t)commit + 1) * sizeof(*where));
			continue;
		}
		if (npages > cap) {
			uint32_t *bigger = realloc(pgnos, (size_t)npages * sizeof(*pgnos));

			if (!bigger) {
				rc = -ENOMEM;
				goto out;
			}
			pgnos = bigger;
			cap = npages;
		}
		rc = txlog_pread_all(l->fd, pgnos, (size_t)npages * 4, off + SIM_TXLOG_HDR);
		if (rc)
			goto out;
		for (uint32_t i = 0; i < npages; i++) {
			uint32_t pg = get32((const uint8_t *)&pgnos[i]);

			if (pg >= 1 && pg <= commit)
				where[pg] = off + SIM_TXLOG_HDR + (uint64_t)npages * 4 +
					    (uint64_t)i * ps;
		}
	}
	for (uint32_t pg = 1; pg <= commit; pg++) {
		if (where[pg]) {
			rc = txlog_pread_all(l->fd, page, ps, where[pg]);
			if (rc)
				goto out;
		} else {
			memset(page, 0, ps);
		}
		if (pwrite(fd, page, ps, (off_t)(pg - 1) * ps) != (ssize_t)ps) {
			rc = errno ? -errno : -EIO;
			goto out;
		}
	}
	if (ftruncate(fd, (off_t)commit * ps) || fsync(fd))
		rc = -errno;
out:
	free(page);
	free(pgnos);
	free(where);
	return rc;
}
