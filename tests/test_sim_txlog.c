/* Unit tests for the replication log (tools/sim_txlog.c): record encoding and decoding,
 * the chained checksum, and log files (append, reopen, torn tails, reset). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "sim_txlog.h"

/* ---- shared code --------------------------------------------------------------------- */

static char g_dir[1024];

static int group_setup(void **state)
{
	(void)state;
	return tmpdir_make(g_dir, sizeof(g_dir), "test_sim_txlog");
}

static int group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

static void log_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.log", g_dir, name);
}

static uint32_t rnd_next(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* A transaction with npages pages of page size ps, page numbers pgnos (or 2, 5, 8, ...
 * when pgnos is NULL), pseudo-random data from seed. */
static void txn_make(struct sim_txn *t, uint64_t txid, uint32_t ps, uint32_t npages,
		     const uint32_t *pgnos, uint32_t commit, uint32_t seed)
{
	memset(t, 0, sizeof(*t));
	t->txid = txid;
	t->checksum = 0x1122334455667788ULL ^ txid;
	t->ts_us = 1700000000123456LL + (int64_t)txid;
	t->page_size = ps;
	t->npages = npages;
	t->pgnos = calloc((size_t)npages + 1, sizeof(uint32_t));
	t->data = malloc((size_t)npages * ps + 1);
	assert_non_null(t->pgnos);
	assert_non_null(t->data);
	for (uint32_t i = 0; i < npages; i++)
		t->pgnos[i] = pgnos ? pgnos[i] : 2 + 3 * i;
	for (size_t i = 0; i < (size_t)npages * ps; i++)
		t->data[i] = (uint8_t)rnd_next(&seed);
	if (commit)
		t->commit = commit;
	else
		t->commit = npages ? t->pgnos[npages - 1] + 2 : 4;
}

static uint8_t *txn_encode_alloc(const struct sim_txn *t, size_t *len)
{
	size_t n = sim_txn_encoded_size(t);
	uint8_t *buf = malloc(n);

	assert_non_null(buf);
	sim_txn_encode(t, buf);
	*len = n;
	return buf;
}

static void txn_assert_equal(const struct sim_txn *a, const struct sim_txn *b)
{
	assert_int_equal(a->txid, b->txid);
	assert_int_equal(a->checksum, b->checksum);
	assert_true(a->ts_us == b->ts_us);
	assert_int_equal(a->page_size, b->page_size);
	assert_int_equal(a->commit, b->commit);
	assert_int_equal(a->npages, b->npages);
	if (a->npages) {
		assert_memory_equal(a->pgnos, b->pgnos, (size_t)a->npages * sizeof(uint32_t));
		assert_memory_equal(a->data, b->data, (size_t)a->npages * a->page_size);
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static uint8_t *file_read(const char *path, size_t *len)
{
	off_t sz = file_size(path);
	uint8_t *buf = malloc((size_t)sz + 1);
	int fd = open(path, O_RDONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, (size_t)sz, 0), sz);
	close(fd);
	*len = (size_t)sz;
	return buf;
}

static void file_append(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void file_pwrite(const char *path, const void *buf, size_t len, off_t off)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

#define CHAIN_MAX 8

/* n transactions with txids 1..n of page size 512 and chained checksums, of 0..4 pages. */
static void chain_make(struct sim_txn *t, int n, uint32_t seed)
{
	static const uint32_t np[CHAIN_MAX] = {1, 0, 3, 2, 4, 1, 2, 3};
	uint64_t prev = 0;

	assert_true(n <= CHAIN_MAX);
	for (int i = 0; i < n; i++) {
		txn_make(&t[i], (uint64_t)i + 1, 512, np[i], NULL, 0, seed + (uint32_t)i);
		t[i].checksum = sim_txn_chain_checksum(prev, &t[i]);
		prev = t[i].checksum;
	}
}

static void chain_free(struct sim_txn *t, int n)
{
	for (int i = 0; i < n; i++)
		sim_txn_free(&t[i]);
}

/* Makes a log at path holding t[0..n). */
static void log_write(const char *path, struct sim_txn *t, int n)
{
	struct sim_txlog l;

	unlink(path);
	assert_int_equal(sim_txlog_open(&l, path), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(sim_txlog_append(&l, &t[i]), 0);
	sim_txlog_close(&l);
}

/* The log l holds exactly t[0..n) in order, with the index a fresh reader expects. */
static void log_assert_holds(const struct sim_txlog *l, const struct sim_txn *t, int n)
{
	uint64_t off = 0;

	assert_int_equal(l->count, n);
	assert_int_equal(l->last_checksum, n ? t[n - 1].checksum : 0);
	for (int i = 0; i < n; i++) {
		size_t elen, rlen = 0;
		uint8_t *enc = txn_encode_alloc(&t[i], &elen), *rec = NULL;
		uint64_t cks = 0;
		struct sim_txn d;

		assert_int_equal(l->offsets[i], off);
		assert_int_equal(sim_txlog_read(l, (uint64_t)i + 1, &rec, &rlen), 0);
		assert_int_equal(rlen, elen);
		assert_memory_equal(rec, enc, elen);
		assert_int_equal(sim_txn_decode(rec, rlen, &d), (long)elen);
		txn_assert_equal(&d, &t[i]);
		sim_txn_free(&d);
		assert_int_equal(sim_txlog_checksum(l, (uint64_t)i + 1, &cks), 0);
		assert_int_equal(cks, t[i].checksum);
		off += elen;
		free(rec);
		free(enc);
	}
	assert_int_equal(l->size, off);
}

/* ---- records ------------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	static const uint32_t sizes[] = {512, 65536};

	(void)state;
	for (size_t s = 0; s < 2; s++) {
		uint32_t ps = sizes[s];
		uint32_t counts[] = {0, 1, ps == 512 ? 37 : 4};

		for (size_t c = 0; c < 3; c++) {
			struct sim_txn t, d;
			uint8_t *buf, *big;
			size_t len;

			txn_make(&t, 0x0102030405060708ULL + c, ps, counts[c], NULL, 0,
				 (uint32_t)(7 + c + s));
			t.ts_us = c == 1 ? -123456789012LL : 1712345678901234LL;
			buf = txn_encode_alloc(&t, &len);
			assert_int_equal(len, 48 + (size_t)counts[c] * (4 + ps) + 4);

			/* layout: little-endian header, page numbers, pages, end marker */
			assert_memory_equal(buf, "LTXR", 4);
			assert_int_equal(le32(buf + 4), counts[c]);
			assert_int_equal(le64(buf + 8), t.txid);
			assert_int_equal(le64(buf + 16), t.checksum);
			assert_true((int64_t)le64(buf + 24) == t.ts_us);
			assert_int_equal(le32(buf + 32), ps);
			assert_int_equal(le32(buf + 36), t.commit);
			for (uint32_t i = 0; i < counts[c]; i++)
				assert_int_equal(le32(buf + 48 + 4 * i), t.pgnos[i]);
			if (counts[c])
				assert_memory_equal(buf + 48 + 4 * counts[c], t.data,
						    (size_t)counts[c] * ps);
			assert_memory_equal(buf + len - 4, "END!", 4);

			memset(&d, 0xa5, sizeof(d));
			assert_int_equal(sim_txn_decode(buf, len, &d), (long)len);
			txn_assert_equal(&d, &t);
			sim_txn_free(&d);

			/* a longer buffer (the next record following) decodes the same */
			big = malloc(len + 100);
			assert_non_null(big);
			memcpy(big, buf, len);
			memset(big + len, 0x5a, 100);
			assert_int_equal(sim_txn_decode(big, len + 100, &d), (long)len);
			txn_assert_equal(&d, &t);
			sim_txn_free(&d);
			assert_null(d.pgnos);
			assert_null(d.data);
			assert_int_equal(d.npages, 0);

			free(big);
			free(buf);
			sim_txn_free(&t);
		}
	}
}

static void test_decode_truncated(void **state)
{
	struct {
		uint32_t ps, npages;
		bool exact; /* copy each prefix into a buffer of its exact size */
	} cases[] = {{512, 0, true}, {512, 3, true}, {65536, 2, false}};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct sim_txn t, d;
		size_t len;
		uint8_t *buf;

		txn_make(&t, 9, cases[c].ps, cases[c].npages, NULL, 0, 3);
		buf = txn_encode_alloc(&t, &len);
		for (size_t n = 0; n < len; n++) {
			uint8_t *p = buf;
			uint64_t txid = 0, cks = 0;
			long r;

			if (cases[c].exact) {
				p = malloc(n ? n : 1);
				assert_non_null(p);
				memcpy(p, buf, n);
			}
			memset(&d, 0, sizeof(d));
			r = sim_txn_decode(p, n, &d);
			if (r != 0)
				fail_msg("page size %u, %u pages: prefix of %zu of %zu bytes: decode "
					 "returned %ld, not 0", cases[c].ps, cases[c].npages, n, len, r);
			assert_null(d.pgnos);
			assert_null(d.data);
			r = sim_txn_peek(p, n, &txid, &cks);
			if (n < SIM_TXLOG_HDR) {
				assert_int_equal(r, 0);
			} else {
				assert_int_equal(r, (long)len);
				assert_int_equal(txid, 9);
				assert_int_equal(cks, t.checksum);
			}
			if (p != buf)
				free(p);
		}
		assert_int_equal(sim_txn_decode(buf, len, &d), (long)len);
		sim_txn_free(&d);
		free(buf);
		sim_txn_free(&t);
	}
}

/* Decodes a copy of rec (len bytes) with the 32-bit field at off set to v. */
static long decode_with32(const uint8_t *rec, size_t len, size_t off, uint32_t v)
{
	uint8_t *b = malloc(len);
	struct sim_txn d;
	long r;

	assert_non_null(b);
	memcpy(b, rec, len);
	put_le32(b + off, v);
	memset(&d, 0, sizeof(d));
	r = sim_txn_decode(b, len, &d);
	if (r > 0)
		sim_txn_free(&d);
	free(b);
	return r;
}

static void test_decode_invalid(void **state)
{
	static const uint32_t pg[3] = {2, 4, 7};
	struct sim_txn t;
	uint8_t *rec;
	size_t len;
	const size_t P = SIM_TXLOG_HDR; /* first page number */

	(void)state;
	txn_make(&t, 5, 512, 3, pg, 9, 11);
	rec = txn_encode_alloc(&t, &len);
	assert_int_equal(decode_with32(rec, len, 0, SIM_TXLOG_MAGIC), (long)len);

	/* magic */
	assert_int_equal(decode_with32(rec, len, 0, SIM_TXLOG_MAGIC ^ 0x100), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 0, 0), -EINVAL);
	/* page sizes that are not powers of two, or outside SQLite's 512..65536 */
	assert_int_equal(decode_with32(rec, len, 32, 1000), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 32, 513), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 32, 65535), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 32, 0), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 32, 256), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 32, 131072), -EINVAL);
	/* whole records, consistent but for their page size */
	{
		static const uint32_t bad_ps[] = {256, 1000, 513, 4095, 131072};

		for (size_t i = 0; i < sizeof(bad_ps) / sizeof(bad_ps[0]); i++) {
			struct sim_txn u, d;
			uint8_t *b;
			size_t blen;
			long r;

			txn_make(&u, 5, bad_ps[i], 2, NULL, 0, 13);
			b = txn_encode_alloc(&u, &blen);
			memset(&d, 0, sizeof(d));
			r = sim_txn_decode(b, blen, &d);
			if (r != -EINVAL)
				fail_msg("page size %u: decode returned %ld", bad_ps[i], r);
			assert_int_equal(sim_txn_peek(b, blen, NULL, NULL), -EINVAL);
			free(b);
			sim_txn_free(&u);
		}
	}
	/* an absurd page count is corruption, not an incomplete record */
	assert_int_equal(decode_with32(rec, len, 4, 0xffffffffu), -EINVAL);
	/* pgno 0 */
	assert_int_equal(decode_with32(rec, len, P, 0), -EINVAL);
	assert_int_equal(decode_with32(rec, len, P + 4, 0), -EINVAL);
	/* pgno > commit */
	assert_int_equal(decode_with32(rec, len, P + 8, 10), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 36, 6), -EINVAL);
	assert_int_equal(decode_with32(rec, len, 36, 0), -EINVAL);
	/* pgno == commit is fine */
	assert_int_equal(decode_with32(rec, len, 36, 7), (long)len);
	/* non-ascending: equal, then smaller */
	assert_int_equal(decode_with32(rec, len, P + 4, 2), -EINVAL);
	assert_int_equal(decode_with32(rec, len, P + 4, 1), -EINVAL);
	assert_int_equal(decode_with32(rec, len, P + 8, 4), -EINVAL);
	assert_int_equal(decode_with32(rec, len, P + 8, 3), -EINVAL);
	/* end marker */
	assert_int_equal(decode_with32(rec, len, len - 4, SIM_TXLOG_END ^ 0x01000000u), -EINVAL);
	assert_int_equal(decode_with32(rec, len, len - 4, 0), -EINVAL);
	/* page data is not checked: any bytes decode */
	assert_int_equal(decode_with32(rec, len, P + 12 + 100, 0xdeadbeefu), (long)len);

	free(rec);
	sim_txn_free(&t);
}

static void test_peek(void **state)
{
	struct sim_txn t;
	uint64_t txid = 0, cks = 0;
	uint8_t *rec, hdr[SIM_TXLOG_HDR];
	size_t len;

	(void)state;
	txn_make(&t, 0xabcdef0123ULL, 4096, 3, NULL, 0, 5);
	t.checksum = 0x8877665544332211ULL;
	rec = txn_encode_alloc(&t, &len);

	assert_int_equal(sim_txn_peek(rec, len, &txid, &cks), (long)len);
	assert_int_equal(txid, 0xabcdef0123ULL);
	assert_int_equal(cks, 0x8877665544332211ULL);
	assert_int_equal(sim_txn_peek(rec, len, NULL, NULL), (long)len);
	/* the header alone tells the size */
	memcpy(hdr, rec, sizeof(hdr));
	txid = cks = 0;
	assert_int_equal(sim_txn_peek(hdr, sizeof(hdr), &txid, &cks), (long)len);
	assert_int_equal(txid, 0xabcdef0123ULL);
	assert_int_equal(cks, 0x8877665544332211ULL);
	assert_int_equal(sim_txn_peek(hdr, sizeof(hdr) - 1, &txid, &cks), 0);
	/* a header that is not one */
	hdr[1] ^= 0x40;
	txid = 77;
	assert_int_equal(sim_txn_peek(hdr, sizeof(hdr), &txid, NULL), -EINVAL);
	hdr[1] ^= 0x40;
	put_le32(hdr + 32, 3000);
	assert_int_equal(sim_txn_peek(hdr, sizeof(hdr), NULL, NULL), -EINVAL);
	/* size follows npages and page size */
	put_le32(hdr + 32, 65536);
	put_le32(hdr + 4, 10);
	assert_int_equal(sim_txn_peek(hdr, sizeof(hdr), NULL, NULL),
			 48 + 10 * (4 + 65536) + 4);

	free(rec);
	sim_txn_free(&t);
}

static void test_chain_checksum(void **state)
{
	static const uint64_t prev = 0x0123456789abcdefULL;
	struct sim_txn t, u;
	uint64_t c;
	uint32_t seed = 99;

	(void)state;
	txn_make(&t, 42, 512, 2, NULL, 0, 21);
	txn_make(&u, 42, 512, 2, NULL, 0, 21);
	t.checksum = 1;
	u.checksum = 2;
	u.ts_us = t.ts_us + 5;
	c = sim_txn_chain_checksum(prev, &t);
	assert_int_not_equal(c, 0);
	assert_int_equal(sim_txn_chain_checksum(prev, &t), c);
	/* same content in other memory, other checksum field and time: same result */
	assert_int_equal(sim_txn_chain_checksum(prev, &u), c);

	/* any page byte */
	for (size_t i = 0; i < 2 * 512; i++) {
		uint8_t save = t.data[i];

		for (int bit = 0; bit < 8; bit += 7) {
			t.data[i] = (uint8_t)(save ^ (1u << bit));
			if (sim_txn_chain_checksum(prev, &t) == c)
				fail_msg("checksum unchanged after flipping bit %d of byte %zu", bit, i);
		}
		t.data[i] = save;
	}
	assert_int_equal(sim_txn_chain_checksum(prev, &t), c);
	/* page numbers */
	t.pgnos[0]++;
	assert_int_not_equal(sim_txn_chain_checksum(prev, &t), c);
	t.pgnos[0]--;
	t.pgnos[1]++;
	assert_int_not_equal(sim_txn_chain_checksum(prev, &t), c);
	t.pgnos[1]--;
	/* txid, commit, previous checksum */
	t.txid++;
	assert_int_not_equal(sim_txn_chain_checksum(prev, &t), c);
	t.txid--;
	t.commit++;
	assert_int_not_equal(sim_txn_chain_checksum(prev, &t), c);
	t.commit--;
	assert_int_not_equal(sim_txn_chain_checksum(prev + 1, &t), c);
	assert_int_not_equal(sim_txn_chain_checksum(prev ^ (1ULL << 63), &t), c);
	assert_int_not_equal(sim_txn_chain_checksum(0, &t), c);
	/* fewer pages */
	t.npages = 1;
	assert_int_not_equal(sim_txn_chain_checksum(prev, &t), c);
	t.npages = 2;
	assert_int_equal(sim_txn_chain_checksum(prev, &t), c);

	/* never 0 (0 means "no transaction"), including for empty transactions */
	sim_txn_free(&u);
	txn_make(&u, 0, 512, 0, NULL, 0, 1);
	u.commit = 0;
	assert_int_not_equal(sim_txn_chain_checksum(0, &u), 0);
	for (int i = 0; i < 20000; i++) {
		u.txid = rnd_next(&seed);
		u.commit = rnd_next(&seed);
		if (sim_txn_chain_checksum((uint64_t)rnd_next(&seed) << 32 | rnd_next(&seed), &u) == 0)
			fail_msg("checksum 0 at iteration %d", i);
	}
	sim_txn_free(&u);
	sim_txn_free(&t);
}

/* ---- log files ----------------------------------------------------------------------- */

static void test_log_open_missing_dir(void **state)
{
	struct sim_txlog l;
	char path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such-dir/x.log", g_dir);
	assert_int_equal(sim_txlog_open(&l, path), -ENOENT);
	assert_int_equal(l.count, 0);
	assert_null(l.offsets);
}

static void test_log_append_reopen(void **state)
{
	struct sim_txn t[6];
	struct sim_txlog l;
	char path[PATH_MAX];
	uint8_t *rec = NULL;
	uint64_t cks = 1, off = 0;
	size_t rlen;

	(void)state;
	log_path("append", path, sizeof(path));
	chain_make(t, 6, 100);

	assert_int_equal(sim_txlog_open(&l, path), 0);
	assert_true(l.fd >= 0);
	assert_int_equal(l.count, 0);
	assert_int_equal(l.size, 0);
	assert_int_equal(l.last_checksum, 0);
	assert_int_equal(file_size(path), 0);
	assert_int_equal(sim_txlog_checksum(&l, 0, &cks), 0);
	assert_int_equal(cks, 0);
	assert_int_not_equal(sim_txlog_read(&l, 1, &rec, &rlen), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(sim_txlog_append(&l, &t[i]), 0);
		assert_int_equal(l.count, i + 1);
		assert_int_equal(l.last_checksum, t[i].checksum);
		assert_int_equal(l.offsets[i], off);
		off += sim_txn_encoded_size(&t[i]);
		assert_int_equal(l.size, off);
		assert_int_equal(file_size(path), (off_t)off);
	}
	log_assert_holds(&l, t, 5);
	sim_txlog_close(&l);
	assert_int_equal(l.fd, -1);
	assert_null(l.offsets);

	/* a fresh open finds the same index */
	assert_int_equal(sim_txlog_open(&l, path), 0);
	log_assert_holds(&l, t, 5);
	assert_int_equal(file_size(path), (off_t)off);
	/* out of range */
	rec = NULL;
	assert_int_equal(sim_txlog_read(&l, 0, &rec, &rlen), -ERANGE);
	assert_int_equal(sim_txlog_read(&l, 6, &rec, &rlen), -ERANGE);
	assert_null(rec);
	assert_int_equal(sim_txlog_checksum(&l, 0, &cks), 0);
	assert_int_equal(cks, 0);
	assert_int_not_equal(sim_txlog_checksum(&l, 6, &cks), 0);
	/* appending goes on after a reopen */
	assert_int_equal(sim_txlog_append(&l, &t[5]), 0);
	sim_txlog_close(&l);
	assert_int_equal(sim_txlog_open(&l, path), 0);
	log_assert_holds(&l, t, 6);
	sim_txlog_close(&l);
	chain_free(t, 6);
}

static void test_log_append_wrong_txid(void **state)
{
	struct sim_txn t[4], bad;
	struct sim_txlog l;
	char path[PATH_MAX];
	uint8_t *before, *after;
	size_t blen, alen;
	uint64_t size;
	static const uint64_t wrong[] = {0, 1, 3, 5, 100};

	(void)state;
	log_path("wrong-txid", path, sizeof(path));
	chain_make(t, 4, 200);
	log_write(path, t, 3);
	before = file_read(path, &blen);

	assert_int_equal(sim_txlog_open(&l, path), 0);
	size = l.size;
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		txn_make(&bad, wrong[i], 512, 1, NULL, 0, 7);
		assert_int_equal(sim_txlog_append(&l, &bad), -EINVAL);
		assert_int_equal(l.count, 3);
		assert_int_equal(l.size, size);
		assert_int_equal(l.last_checksum, t[2].checksum);
		sim_txn_free(&bad);
		after = file_read(path, &alen);
		assert_int_equal(alen, blen);
		assert_memory_equal(after, before, blen);
		free(after);
	}
	log_assert_holds(&l, t, 3);
	/* the right one still goes in */
	assert_int_equal(sim_txlog_append(&l, &t[3]), 0);
	log_assert_holds(&l, t, 4);
	sim_txlog_close(&l);
	free(before);
	chain_free(t, 4);
}

/* Reopens the log at path and checks it holds t[0..n) and the file has exactly their size. */
static void reopen_assert(const char *path, struct sim_txn *t, int n)
{
	struct sim_txlog l;

	assert_int_equal(sim_txlog_open(&l, path), 0);
	log_assert_holds(&l, t, n);
	assert_int_equal(file_size(path), (off_t)l.size);
	sim_txlog_close(&l);
}

static void test_log_torn_garbage(void **state)
{
	struct sim_txn t[4], big;
	struct sim_txlog l;
	char path[PATH_MAX];
	uint8_t junk[300];
	uint8_t *rec;
	size_t rlen;
	uint32_t seed = 5;

	(void)state;
	log_path("garbage", path, sizeof(path));
	chain_make(t, 4, 300);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd_next(&seed);

	/* fewer bytes than a header */
	log_write(path, t, 3);
	file_append(path, junk, 10);
	reopen_assert(path, t, 3);
	/* more than a header of random bytes */
	file_append(path, junk, sizeof(junk));
	reopen_assert(path, t, 3);
	/* zeros, as a crash can leave at the end of a file */
	memset(junk, 0, sizeof(junk));
	file_append(path, junk, sizeof(junk));
	reopen_assert(path, t, 3);
	/* the header of the next record and part of its body */
	txn_make(&big, 4, 512, 3, NULL, 0, 8);
	rec = txn_encode_alloc(&big, &rlen);
	file_append(path, rec, rlen - 600);
	reopen_assert(path, t, 3);
	/* the whole record but its end marker */
	file_append(path, rec, rlen - 4);
	reopen_assert(path, t, 3);
	/* and after a cut the log takes the next transaction */
	assert_int_equal(sim_txlog_open(&l, path), 0);
	assert_int_equal(sim_txlog_append(&l, &t[3]), 0);
	sim_txlog_close(&l);
	reopen_assert(path, t, 4);

	free(rec);
	sim_txn_free(&big);
	chain_free(t, 4);
}

static void test_log_torn_cut(void **state)
{
	struct sim_txn t[5];
	struct sim_txlog l;
	char path[PATH_MAX];
	uint64_t offs[5], sizes[5];
	uint8_t b[4];

	(void)state;
	log_path("cut", path, sizeof(path));
	chain_make(t, 5, 400);
	for (int i = 0, off = 0; i < 5; i++) {
		sizes[i] = sim_txn_encoded_size(&t[i]);
		offs[i] = (uint64_t)off;
		off += (int)sizes[i];
	}
	assert_true(sizes[3] > 100); /* t[3] has pages: it can be cut in its body */

	/* the last record cut in the middle of its pages */
	log_write(path, t, 4);
	assert_int_equal(truncate(path, (off_t)(offs[3] + sizes[3] / 2)), 0);
	reopen_assert(path, t, 3);
	/* ... in its header */
	log_write(path, t, 4);
	assert_int_equal(truncate(path, (off_t)(offs[3] + 20)), 0);
	reopen_assert(path, t, 3);
	/* ... one byte short */
	log_write(path, t, 4);
	assert_int_equal(truncate(path, (off_t)(offs[3] + sizes[3] - 1)), 0);
	reopen_assert(path, t, 3);
	/* a whole last record whose end marker is damaged */
	log_write(path, t, 4);
	memcpy(b, "XND!", 4);
	file_pwrite(path, b, 4, (off_t)(offs[3] + sizes[3] - 4));
	reopen_assert(path, t, 3);
	/* a damaged record in the middle ends the log there */
	log_write(path, t, 5);
	file_pwrite(path, b, 4, (off_t)(offs[2] + sizes[2] - 4));
	reopen_assert(path, t, 2);
	/* a record whose TXID does not follow ends the log there */
	log_write(path, t, 3);
	{
		struct sim_txn skip = t[3];
		size_t len;
		uint8_t *rec;

		skip.txid = 5;
		rec = txn_encode_alloc(&skip, &len);
		file_append(path, rec, len);
		free(rec);
	}
	reopen_assert(path, t, 3);
	/* after the cut, the next transaction is appended where the torn one was */
	assert_int_equal(sim_txlog_open(&l, path), 0);
	assert_int_equal(sim_txlog_append(&l, &t[3]), 0);
	assert_int_equal(l.offsets[3], offs[3]);
	sim_txlog_close(&l);
	reopen_assert(path, t, 4);
	chain_free(t, 5);
}

static void test_log_reset(void **state)
{
	struct sim_txn t[3], u[2];
	struct sim_txlog l;
	char path[PATH_MAX];
	uint8_t *rec = NULL;
	size_t rlen;
	uint64_t cks;

	(void)state;
	log_path("reset", path, sizeof(path));
	chain_make(t, 3, 500);
	chain_make(u, 2, 600);
	log_write(path, t, 3);

	assert_int_equal(sim_txlog_open(&l, path), 0);
	assert_int_equal(l.count, 3);
	assert_int_equal(sim_txlog_reset(&l), 0);
	assert_int_equal(l.count, 0);
	assert_int_equal(l.size, 0);
	assert_int_equal(l.last_checksum, 0);
	assert_int_equal(file_size(path), 0);
	assert_int_not_equal(sim_txlog_read(&l, 1, &rec, &rlen), 0);
	assert_null(rec);
	assert_int_not_equal(sim_txlog_checksum(&l, 1, &cks), 0);
	/* numbering starts over at 1 */
	assert_int_equal(sim_txlog_append(&l, &t[2]), -EINVAL);
	assert_int_equal(sim_txlog_append(&l, &u[0]), 0);
	assert_int_equal(sim_txlog_append(&l, &u[1]), 0);
	log_assert_holds(&l, u, 2);
	sim_txlog_close(&l);
	reopen_assert(path, u, 2);
	chain_free(t, 3);
	chain_free(u, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_invalid),
		cmocka_unit_test(test_peek),
		cmocka_unit_test(test_chain_checksum),
		cmocka_unit_test(test_log_open_missing_dir),
		cmocka_unit_test(test_log_append_reopen),
		cmocka_unit_test(test_log_append_wrong_txid),
		cmocka_unit_test(test_log_torn_garbage),
		cmocka_unit_test(test_log_torn_cut),
		cmocka_unit_test(test_log_reset),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
