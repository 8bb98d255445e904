/* Unit tests for the pure functions of the node daemon (file name classification, JSON
 * quoting) and for commit detection on the primary (tools/sim_track.c), driven without
 * FUSE: the tests make the file changes SQLite would make and report them to the tracker
 * the way the file system does. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
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

#include "sim_state.h"

/* ---- temporary directories ----------------------------------------------------------- */

static char g_dir[1024];
static unsigned g_seq;

static int group_setup(void **state)
{
	(void)state;
	return tmpdir_make(g_dir, sizeof(g_dir), "test_sim_track");
}

static int group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

/* ---- a node without FUSE ------------------------------------------------------------- */

struct fixture {
	char dir[1200];
	struct sim_node *n;
};

static int node_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sim_node *n;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/t%u", g_dir, ++g_seq);
	if (mkdir(f->dir, 0755))
		goto fail;
	n = calloc(1, sizeof(*n));
	if (!n)
		goto fail;
	f->n = n;
	n->data_fd = -1;
	snprintf(n->data, sizeof(n->data), "%s/data", f->dir);
	snprintf(n->ltx, sizeof(n->ltx), "%s/ltx", f->dir);
	if (mkdir(n->data, 0755) || mkdir(n->ltx, 0755))
		goto fail;
	n->data_fd = open(n->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (n->data_fd < 0)
		goto fail;
	n->k = 1;
	snprintf(n->name, sizeof(n->name), "node1");
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cond, NULL);
	pthread_mutex_init(&n->apply_mu, NULL);
	if (sim_events_init(n))
		goto fail;
	n->role = SIM_PRIMARY;
	*state = f;
	return 0;
fail:
	if (f->n && f->n->data_fd >= 0)
		close(f->n->data_fd);
	free(f->n);
	free(f);
	return -1;
}

static int node_teardown(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;

	while (n->dbs) {
		struct sim_db *db = n->dbs;

		n->dbs = db->next;
		sim_txlog_close(&db->log);
		free(db->dirty);
		pthread_mutex_destroy(&db->mu);
		free(db);
	}
	sim_events_free(n);
	close(n->data_fd);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->apply_mu);
	free(n);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* ---- shared code --------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void data_path(const struct sim_node *n, const char *name, char *buf, size_t len)
{
	int r = snprintf(buf, len, "%s/%s", n->data, name);

	assert_true(r > 0 && (size_t)r < len);
}

/* An INSERT of rows from..to into t(a, b) with random blobs of size bytes. */
#define ROWS(from, to, size)                                                            \
	"INSERT INTO t WITH RECURSIVE s(v) AS (SELECT " #from " UNION ALL SELECT v + 1 "   \
	"FROM s WHERE v < " #to ") SELECT v, randomblob(" #size ") FROM s;"

static void sql(sqlite3 *db, const char *stmt)
{
	char *err = NULL;

	if (sqlite3_exec(db, stmt, NULL, NULL, &err) != SQLITE_OK) {
		fail_msg("%s: %s", stmt, err ? err : "?");
	}
}

static uint32_t sql_u32(sqlite3 *db, const char *query)
{
	sqlite3_stmt *st;
	uint32_t v;

	assert_int_equal(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Reads and decodes transaction txid of db's log. */
static void log_txn(struct sim_db *db, uint64_t txid, struct sim_txn *t)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(sim_txlog_read(&db->log, txid, &buf, &len), 0);
	assert_int_equal(sim_txn_decode(buf, len, t), (long)len);
	free(buf);
	assert_int_equal(t->txid, txid);
}

/* The checksums of db's log chain as sim_txn_chain_checksum says. */
static void assert_chain(struct sim_db *db)
{
	uint64_t prev = 0;

	for (uint64_t i = 1; i <= db->log.count; i++) {
		struct sim_txn t;

		log_txn(db, i, &t);
		assert_int_equal(t.checksum, sim_txn_chain_checksum(prev, &t));
		prev = t.checksum;
		sim_txn_free(&t);
	}
	assert_int_equal(db->log.last_checksum, prev);
}

/* ---- sim_file_classify --------------------------------------------------------------- */

static void classify_is(const char *name, enum sim_file_kind kind, const char *base)
{
	char buf[NAME_MAX + 1];
	enum sim_file_kind k;

	memset(buf, 'x', sizeof(buf));
	buf[sizeof(buf) - 1] = '\0';
	k = sim_file_classify(name, buf, sizeof(buf));
	if (k != kind)
		fail_msg("\"%s\": kind %d, expected %d", name, (int)k, (int)kind);
	if (strcmp(buf, base))
		fail_msg("\"%s\": base \"%s\", expected \"%s\"", name, buf, base);
	/* base may be NULL */
	assert_int_equal(sim_file_classify(name, NULL, 0), kind);
}

static void test_classify(void **state)
{
	char small[5];

	(void)state;
	classify_is("app.db", SIM_F_DB, "app.db");
	classify_is("app.db-journal", SIM_F_JOURNAL, "app.db");
	classify_is("app.db-wal", SIM_F_WAL, "app.db");
	classify_is("app.db-shm", SIM_F_SHM, "app.db");
	classify_is("app.db-pos", SIM_F_POS, "app.db");
	classify_is("x-wal", SIM_F_WAL, "x");
	classify_is("db", SIM_F_DB, "db");
	classify_is(".primary", SIM_F_PRIMARY, "");
	classify_is(".lag", SIM_F_LAG, "");
	classify_is(".hidden", SIM_F_OTHER, "");
	classify_is(".app.db-wal", SIM_F_OTHER, "");
	classify_is(".primary2", SIM_F_OTHER, "");
	classify_is(".", SIM_F_OTHER, "");
	classify_is("", SIM_F_OTHER, "");
	/* a name that is only a suffix belongs to no database: it is a database itself */
	classify_is("-wal", SIM_F_DB, "-wal");
	classify_is("-journal", SIM_F_DB, "-journal");
	classify_is("-shm", SIM_F_DB, "-shm");
	classify_is("-pos", SIM_F_DB, "-pos");
	/* only the last suffix counts; suffixes elsewhere mean nothing */
	classify_is("a-wal-journal", SIM_F_JOURNAL, "a-wal");
	classify_is("a-walx", SIM_F_DB, "a-walx");
	classify_is("a-WAL", SIM_F_DB, "a-WAL");
	/* the base is cut to the buffer, terminated */
	memset(small, 'x', sizeof(small));
	assert_int_equal(sim_file_classify("app.db-wal", small, sizeof(small)), SIM_F_WAL);
	assert_string_equal(small, "app.");
	memset(small, 'x', sizeof(small));
	assert_int_equal(sim_file_classify("abcdefgh", small, sizeof(small)), SIM_F_DB);
	assert_string_equal(small, "abcd");
}

/* ---- sim_json_quote ------------------------------------------------------------------ */

/* Equal, with hexadecimal digits after "\u" compared without regard to case. */
static bool json_same(const char *got, const char *want)
{
	size_t n = strlen(want);

	if (strlen(got) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (got[i] == want[i])
			continue;
		if (i >= 2 && (got[i] | 0x20) == (want[i] | 0x20) && strchr("abcdef", want[i] | 0x20))
			continue;
		return false;
	}
	return true;
}

static void quote_is(const char *s, const char *want)
{
	char buf[256];
	size_t r;

	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf, sizeof(buf), s);
	if (!json_same(buf, want))
		fail_msg("quote of \"%s\": got %s, expected %s", s, buf, want);
	assert_int_equal(r, strlen(want));
}

static void test_json_quote(void **state)
{
	char buf[64];
	size_t r;

	(void)state;
	quote_is("", "\"\"");
	quote_is("app.db", "\"app.db\"");
	quote_is("a\"b", "\"a\\\"b\"");
	quote_is("\"", "\"\\\"\"");
	quote_is("a\\b", "\"a\\\\b\"");
	quote_is("\\\"", "\"\\\\\\\"\"");
	quote_is("\x01", "\"\\u0001\"");
	quote_is("a\nb\tc\r", "\"a\\u000ab\\u0009c\\u000d\"");
	quote_is("\x1f", "\"\\u001f\"");
	quote_is("\x1b[0m", "\"\\u001b[0m\"");
	/* DEL and bytes of UTF-8 sequences pass unchanged */
	quote_is("\x7f", "\"\x7f\"");
	quote_is("caf\xc3\xa9", "\"caf\xc3\xa9\"");
	quote_is(" ~/", "\" ~/\"");

	/* a small buffer: a terminated prefix, the full length returned, nothing past it */
	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf, 4, "abcdef");
	assert_int_equal(r, 8);
	assert_string_equal(buf, "\"ab");
	assert_int_equal(buf[4], 'x');
	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf, 8, "abcdef");
	assert_int_equal(r, 8);
	assert_string_equal(buf, "\"abcdef");
	assert_int_equal(buf[8], 'x');
	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf, 9, "abcdef");
	assert_int_equal(r, 8);
	assert_string_equal(buf, "\"abcdef\"");
	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf, 1, "abcdef");
	assert_int_equal(r, 8);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], 'x');
	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf + 1, 0, "abcdef");
	assert_int_equal(r, 8);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(buf[1], 'x');
	/* escapes count in the length needed */
	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf, 5, "\x01\x02");
	assert_int_equal(r, 14);
	assert_int_equal(strlen(buf), 4);
	assert_memory_equal(buf, "\"\\u0", 4);
	assert_int_equal(buf[5], 'x');
	memset(buf, 'x', sizeof(buf));
	r = sim_json_quote(buf, 3, "\"\\");
	assert_int_equal(r, 6);
	assert_string_equal(buf, "\"\\");
	assert_int_equal(buf[3], 'x');
}

/* ---- WAL mode ------------------------------------------------------------------------ */

struct wal_frame {
	uint32_t pgno, commit;
	bool salts_ok;
	const uint8_t *page;
};

struct wal_info {
	uint32_t page_size, salt1, salt2;
	size_t nframes;
	struct wal_frame *f;
};

/* Parses the WAL image w[0..len): header and whole frames. */
static void wal_parse(const uint8_t *w, size_t len, struct wal_info *wi)
{
	size_t fsz;

	assert_true(len >= 32);
	assert_int_equal(be32(w) & 0xfffffffeu, 0x377f0682u);
	wi->page_size = be32(w + 8);
	wi->salt1 = be32(w + 16);
	wi->salt2 = be32(w + 20);
	fsz = 24 + (size_t)wi->page_size;
	wi->nframes = (len - 32) / fsz;
	wi->f = calloc(wi->nframes + 1, sizeof(*wi->f));
	assert_non_null(wi->f);
	for (size_t i = 0; i < wi->nframes; i++) {
		const uint8_t *h = w + 32 + i * fsz;

		wi->f[i].pgno = be32(h);
		wi->f[i].commit = be32(h + 4);
		wi->f[i].salts_ok = be32(h + 8) == wi->salt1 && be32(h + 12) == wi->salt2;
		wi->f[i].page = h + 24;
	}
}

/* Reports the WAL file of db to the tracker as SQLite writes it: the 32-byte header, then
 * per frame its 24-byte header and its page. Checks that a transaction is logged exactly
 * when a frame carrying a commit size with the header's salts is complete. Frames from
 * first on; the header is reported when first is 0. */
static void wal_replay(struct sim_node *n, struct sim_db *db, const struct wal_info *wi,
		       size_t first)
{
	uint64_t fsz = 24 + (uint64_t)wi->page_size;

	pthread_mutex_lock(&db->mu);
	if (first == 0) {
		uint64_t before = db->log.count;

		assert_int_equal(sim_track_wal_write(n, db, -1, 0, 32), 0);
		assert_true(db->wal.valid);
		assert_int_equal(db->wal.page_size, wi->page_size);
		assert_int_equal(db->wal.salt1, wi->salt1);
		assert_int_equal(db->wal.salt2, wi->salt2);
		assert_false(db->wal.txn_active);
		assert_int_equal(db->log.count, before);
	}
	for (size_t i = first; i < wi->nframes; i++) {
		uint64_t off = 32 + i * fsz, before = db->log.count;
		bool commit = wi->f[i].commit && wi->f[i].salts_ok;

		assert_int_equal(sim_track_wal_write(n, db, -1, off, 24), 0);
		if (db->log.count != before)
			fail_msg("frame %zu: a transaction was logged on its header alone", i);
		assert_int_equal(sim_track_wal_write(n, db, -1, off + 24, wi->page_size), 0);
		if (db->log.count != before + (commit ? 1 : 0))
			fail_msg("frame %zu (commit %u, salts %s): %llu transactions logged, "
				 "expected %d", i, wi->f[i].commit, wi->f[i].salts_ok ? "ok" : "bad",
				 (unsigned long long)(db->log.count - before), commit ? 1 : 0);
		assert_int_equal(db->wal.txn_active, !commit);
	}
	pthread_mutex_unlock(&db->mu);
}

/* Checks that log transaction txid is the WAL transaction of frames [from, to]: every
 * page written that is within the database size of frame to, once, with the content of
 * its last frame; commit from frame to. */
static void assert_wal_txn(struct sim_db *db, uint64_t txid, const struct wal_info *wi,
			   size_t from, size_t to)
{
	struct sim_txn t;
	uint32_t expect = 0, prev = 0;

	log_txn(db, txid, &t);
	assert_int_equal(t.page_size, wi->page_size);
	assert_int_equal(t.commit, wi->f[to].commit);
	for (;;) {
		/* the next page number after prev written in the range */
		uint32_t next = 0;
		size_t last = 0;

		for (size_t i = from; i <= to; i++)
			if (wi->f[i].pgno > prev && wi->f[i].pgno <= wi->f[to].commit &&
			    (!next || wi->f[i].pgno <= next)) {
				next = wi->f[i].pgno;
				last = i;
			}
		if (!next)
			break;
		assert_true(expect < t.npages);
		assert_int_equal(t.pgnos[expect], next);
		assert_memory_equal(t.data + (size_t)expect * t.page_size, wi->f[last].page,
				    t.page_size);
		expect++;
		prev = next;
	}
	assert_int_equal(t.npages, expect);
	sim_txn_free(&t);
}

/* Applies the log transactions [from, to] of db to the image *img of *npg pages. */
static void apply_log(struct sim_db *db, uint64_t from, uint64_t to, uint8_t **img,
		      uint32_t *npg, uint32_t ps)
{
	for (uint64_t x = from; x <= to; x++) {
		struct sim_txn t;

		log_txn(db, x, &t);
		assert_int_equal(t.page_size, ps);
		*img = realloc(*img, (size_t)t.commit * ps + 1);
		assert_non_null(*img);
		if (t.commit > *npg)
			memset(*img + (size_t)*npg * ps, 0, (size_t)(t.commit - *npg) * ps);
		*npg = t.commit;
		for (uint32_t i = 0; i < t.npages; i++)
			memcpy(*img + (size_t)(t.pgnos[i] - 1) * ps, t.data + (size_t)i * ps, ps);
		sim_txn_free(&t);
	}
}

static void test_wal_commits(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;
	char path[2048], walpath[2100];
	uint32_t pages[8];
	struct wal_info wi;
	struct sim_db *db;
	sqlite3 *c;
	uint8_t *wal, *img = NULL, *file;
	size_t wlen, flen, ncommit = 0, commits[16];
	uint32_t npg;

	data_path(n, "t.db", path, sizeof(path));
	snprintf(walpath, sizeof(walpath), "%s-wal", path);
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	sql(c, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;");
	/* the file as WAL mode left it, before any transaction went to the WAL */
	file = read_file(path, &flen);
	assert_int_equal(flen % 1024, 0);
	npg = (uint32_t)(flen / 1024);
	img = file;
	file = NULL;

	sql(c, "CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB)");
	pages[0] = sql_u32(c, "PRAGMA page_count");
	sql(c, "BEGIN; " ROWS(1, 12, 300) " COMMIT");
	pages[1] = sql_u32(c, "PRAGMA page_count");
	sql(c, "BEGIN; UPDATE t SET b = randomblob(310) WHERE a % 3 = 0; " ROWS(13, 20, 700)
	       " COMMIT");
	pages[2] = sql_u32(c, "PRAGMA page_count");
	assert_true(pages[2] > pages[1] && pages[1] > pages[0]);

	/* the WAL as the connection (still open) left it */
	wal = read_file(walpath, &wlen);
	wal_parse(wal, wlen, &wi);
	assert_int_equal(wi.page_size, 1024);
	for (size_t i = 0; i < wi.nframes; i++) {
		assert_true(wi.f[i].salts_ok);
		if (wi.f[i].commit)
			commits[ncommit++] = i;
		assert_true(ncommit < 16);
	}
	assert_int_equal(ncommit, 3);
	assert_int_equal(commits[2], wi.nframes - 1);
	/* the second transaction is more than one frame: page 1 and the table's pages */
	assert_true(commits[1] - commits[0] >= 3);

	db = sim_node_db(n, "t.db", true);
	assert_non_null(db);
	assert_int_equal(db->log.count, 0);
	wal_replay(n, db, &wi, 0);
	assert_int_equal(db->log.count, 3);
	assert_chain(db);
	assert_wal_txn(db, 1, &wi, 0, commits[0]);
	assert_wal_txn(db, 2, &wi, commits[0] + 1, commits[1]);
	assert_wal_txn(db, 3, &wi, commits[1] + 1, commits[2]);
	for (uint64_t x = 1; x <= 3; x++) {
		struct sim_txn t;

		log_txn(db, x, &t);
		assert_int_equal(t.commit, pages[x - 1]); /* the database size in pages */
		assert_true(t.npages >= 1);
		sim_txn_free(&t);
	}
	{
		/* the second insert touched pages of the first: its record holds page 1 and
		 * pages that grew the file */
		struct sim_txn t;
		bool has1 = false, grown = false;

		log_txn(db, 3, &t);
		for (uint32_t i = 0; i < t.npages; i++) {
			has1 |= t.pgnos[i] == 1;
			grown |= t.pgnos[i] > pages[1];
		}
		assert_true(has1);
		assert_true(grown);
		sim_txn_free(&t);
	}

	/* the log rebuilds what a checkpoint writes into the database file */
	apply_log(db, 1, 3, &img, &npg, 1024);
	sql(c, "PRAGMA wal_checkpoint(TRUNCATE)");
	file = read_file(path, &flen);
	assert_int_equal(flen, (size_t)npg * 1024);
	assert_memory_equal(file, img, flen);
	free(file);

	/* the WAL starts over (truncated, then a new header with new salts) */
	pthread_mutex_lock(&db->mu);
	sim_track_wal_reset(db);
	pthread_mutex_unlock(&db->mu);
	assert_false(db->wal.valid);
	sql(c, "DELETE FROM t WHERE a > 15; INSERT INTO t VALUES (100, x'00112233')");
	free(wal);
	free(wi.f);
	wal = read_file(walpath, &wlen);
	wal_parse(wal, wlen, &wi);
	assert_true(wi.nframes >= 1);
	assert_int_not_equal(wi.f[wi.nframes - 1].commit, 0);
	wal_replay(n, db, &wi, 0);
	assert_int_equal(db->log.count, 5);
	assert_chain(db);
	apply_log(db, 4, 5, &img, &npg, 1024);
	sql(c, "PRAGMA wal_checkpoint(TRUNCATE)");
	file = read_file(path, &flen);
	assert_int_equal(flen, (size_t)npg * 1024);
	assert_memory_equal(file, img, flen);
	free(file);

	/* the log, reopened, holds what was logged */
	{
		struct sim_txlog l;
		char lp[2400];

		snprintf(lp, sizeof(lp), "%s/ltx/t.db.log", f->dir);
		assert_int_equal(sim_txlog_open(&l, lp), 0);
		assert_int_equal(l.count, 5);
		assert_int_equal(l.last_checksum, db->log.last_checksum);
		sim_txlog_close(&l);
	}

	sqlite3_close(c);
	free(img);
	free(wal);
	free(wi.f);
}

/* A copy of the WAL of a database with three write transactions, and where its commit
 * frames are. */
static uint8_t *wal_sample(struct sim_node *n, size_t *len, size_t commits[3])
{
	char path[2048], walpath[2100];
	struct wal_info wi;
	sqlite3 *c;
	uint8_t *wal;
	size_t k = 0;

	data_path(n, "sample.db", path, sizeof(path));
	snprintf(walpath, sizeof(walpath), "%s-wal", path);
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	sql(c, "PRAGMA page_size=512; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
	       "CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);" ROWS(1, 5, 200) ROWS(6, 9, 200));
	wal = read_file(walpath, len);
	sqlite3_close(c);
	wal_parse(wal, *len, &wi);
	for (size_t i = 0; i < wi.nframes; i++)
		if (wi.f[i].commit) {
			assert_true(k < 3);
			commits[k++] = i;
		}
	assert_int_equal(k, 3);
	free(wi.f);
	return wal;
}

/* A writer that writes each transaction's frames as one write (the forwarder does), the
 * first one with the WAL header, through the descriptor it wrote with: each write that
 * ends on a commit frame logs exactly its transaction; a write that ends inside a frame or
 * on a frame without a commit size logs nothing. */
static void test_wal_transaction_per_write(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;
	char path[2048];
	size_t len, commits[3], fsz = 24 + 512;
	uint8_t *wal = wal_sample(n, &len, commits);
	struct wal_info wi;
	struct sim_db *db;
	uint64_t end;
	int fd;

	data_path(n, "w.db-wal", path, sizeof(path));
	write_file(path, wal, len);
	wal_parse(wal, len, &wi);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	db = sim_node_db(n, "w.db", true);
	assert_non_null(db);
	pthread_mutex_lock(&db->mu);
	/* header and the first transaction */
	end = 32 + (commits[0] + 1) * fsz;
	assert_int_equal(sim_track_wal_write(n, db, fd, 0, end), 0);
	assert_int_equal(db->log.count, 1);
	assert_false(db->wal.txn_active);
	/* the second, in two writes: the first ends in the middle of a frame */
	assert_int_equal(sim_track_wal_write(n, db, fd, end, fsz + 100), 0);
	assert_int_equal(db->log.count, 1);
	assert_true(db->wal.txn_active);
	assert_int_equal(sim_track_wal_write(n, db, fd, end + fsz + 100,
					     32 + (commits[1] + 1) * fsz - end - fsz - 100), 0);
	assert_int_equal(db->log.count, 2);
	/* the third, whole */
	end = 32 + (commits[1] + 1) * fsz;
	assert_int_equal(sim_track_wal_write(n, db, fd, end, 32 + (commits[2] + 1) * fsz - end), 0);
	assert_int_equal(db->log.count, 3);
	assert_false(db->wal.txn_active);
	pthread_mutex_unlock(&db->mu);
	close(fd);
	assert_wal_txn(db, 1, &wi, 0, commits[0]);
	assert_wal_txn(db, 2, &wi, commits[0] + 1, commits[1]);
	assert_wal_txn(db, 3, &wi, commits[1] + 1, commits[2]);
	assert_chain(db);
	free(wi.f);
	free(wal);
}

static void test_wal_salt_mismatch(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;
	char path[2048];
	size_t len, commits[3], fsz = 24 + 512;
	uint8_t *wal = wal_sample(n, &len, commits);
	struct wal_info wi;
	struct sim_db *db;

	/* the last commit frame with a stale salt-1: that transaction stays open */
	data_path(n, "a.db-wal", path, sizeof(path));
	put_be32(wal + 32 + commits[2] * fsz + 8, be32(wal + 16) + 1);
	write_file(path, wal, len);
	wal_parse(wal, len, &wi);
	assert_false(wi.f[commits[2]].salts_ok);
	db = sim_node_db(n, "a.db", true);
	assert_non_null(db);
	wal_replay(n, db, &wi, 0);
	assert_int_equal(db->log.count, 2);
	assert_true(db->wal.txn_active);
	assert_wal_txn(db, 1, &wi, 0, commits[0]);
	assert_wal_txn(db, 2, &wi, commits[0] + 1, commits[1]);
	free(wi.f);
	put_be32(wal + 32 + commits[2] * fsz + 8, be32(wal + 16));

	/* a middle commit frame with another salt-2 is no commit either */
	data_path(n, "b.db-wal", path, sizeof(path));
	put_be32(wal + 32 + commits[1] * fsz + 12, be32(wal + 20) ^ 0x80000000u);
	write_file(path, wal, len);
	wal_parse(wal, len, &wi);
	assert_false(wi.f[commits[1]].salts_ok);
	db = sim_node_db(n, "b.db", true);
	assert_non_null(db);
	wal_replay(n, db, &wi, 0); /* checks there is no commit at commits[1] */
	assert_wal_txn(db, 1, &wi, 0, commits[0]);
	free(wi.f);

	/* frames of a WAL whose header was never seen are not transactions */
	data_path(n, "c.db-wal", path, sizeof(path));
	put_be32(wal + 32 + commits[1] * fsz + 12, be32(wal + 20));
	write_file(path, wal, len);
	db = sim_node_db(n, "c.db", true);
	assert_non_null(db);
	pthread_mutex_lock(&db->mu);
	for (size_t i = 0; i <= commits[0]; i++) {
		assert_int_equal(sim_track_wal_write(n, db, -1, 32 + i * fsz, 24), 0);
		assert_int_equal(sim_track_wal_write(n, db, -1, 32 + i * fsz + 24, 512), 0);
	}
	assert_int_equal(db->log.count, 0);
	pthread_mutex_unlock(&db->mu);
	/* a WAL file that is not there: an error, nothing logged */
	db = sim_node_db(n, "none.db", true);
	assert_non_null(db);
	pthread_mutex_lock(&db->mu);
	assert_int_equal(sim_track_wal_write(n, db, -1, 0, 32), -ENOENT);
	assert_int_equal(db->log.count, 0);
	pthread_mutex_unlock(&db->mu);
	free(wal);
}

/* A WAL written frame by frame: page size 512, the given salts. */
struct wal_build {
	uint8_t *buf;
	size_t len;
	uint32_t salt1, salt2;
};

static void wb_header(struct wal_build *w, uint32_t salt1, uint32_t salt2)
{
	w->buf = calloc(1, 32);
	assert_non_null(w->buf);
	w->len = 32;
	w->salt1 = salt1;
	w->salt2 = salt2;
	put_be32(w->buf, 0x377f0682u);
	put_be32(w->buf + 4, 3007000);
	put_be32(w->buf + 8, 512);
	put_be32(w->buf + 16, salt1);
	put_be32(w->buf + 20, salt2);
}

/* Appends a frame for page pgno filled with fill; commit is the size after a commit. */
static void wb_frame(struct wal_build *w, uint32_t pgno, uint32_t commit, uint8_t fill)
{
	w->buf = realloc(w->buf, w->len + 24 + 512);
	assert_non_null(w->buf);
	memset(w->buf + w->len, 0, 24);
	put_be32(w->buf + w->len, pgno);
	put_be32(w->buf + w->len + 4, commit);
	put_be32(w->buf + w->len + 8, w->salt1);
	put_be32(w->buf + w->len + 12, w->salt2);
	memset(w->buf + w->len + 24, fill, 512);
	w->buf[w->len + 24] = (uint8_t)pgno; /* pages differ even with one fill */
	w->len += 24 + 512;
}

/* Checks the pages of log transaction txid: pgnos[i] filled with fills[i]. */
static void assert_pages(struct sim_db *db, uint64_t txid, uint32_t commit, uint32_t n,
			 const uint32_t *pgnos, const uint8_t *fills)
{
	struct sim_txn t;

	log_txn(db, txid, &t);
	assert_int_equal(t.page_size, 512);
	assert_int_equal(t.commit, commit);
	assert_int_equal(t.npages, n);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(t.pgnos[i], pgnos[i]);
		assert_int_equal(t.data[(size_t)i * 512], (uint8_t)pgnos[i]);
		for (size_t j = 1; j < 512; j++)
			if (t.data[(size_t)i * 512 + j] != fills[i])
				fail_msg("txn %llu page %u byte %zu: %02x, expected %02x",
					 (unsigned long long)txid, pgnos[i], j,
					 t.data[(size_t)i * 512 + j], fills[i]);
	}
	sim_txn_free(&t);
}

static void test_wal_frames_by_hand(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;
	struct wal_build w;
	struct wal_info wi;
	struct sim_db *db;
	char path[2048];
	const uint64_t fsz = 24 + 512;

	wb_header(&w, 0x01020304u, 0xa0b0c0d0u);
	wb_frame(&w, 2, 0, 0x20);
	wb_frame(&w, 3, 0, 0x30);
	wb_frame(&w, 2, 0, 0x21); /* page 2 again in the same transaction */
	wb_frame(&w, 1, 3, 0x10); /* commit: 3 pages */
	wb_frame(&w, 4, 0, 0x40);
	wb_frame(&w, 5, 0, 0x50); /* beyond the size the transaction commits */
	wb_frame(&w, 2, 4, 0x22); /* commit: 4 pages */
	wb_frame(&w, 3, 4, 0x31); /* commit: a transaction of one frame */
	data_path(n, "h.db-wal", path, sizeof(path));
	write_file(path, w.buf, w.len);
	wal_parse(w.buf, w.len, &wi);
	assert_int_equal(wi.nframes, 8);

	db = sim_node_db(n, "h.db", true);
	assert_non_null(db);
	wal_replay(n, db, &wi, 0);
	assert_int_equal(db->log.count, 3);
	{
		static const uint32_t p1[] = {1, 2, 3}, p2[] = {2, 4}, p3[] = {3};
		static const uint8_t f1[] = {0x10, 0x21, 0x30}, f2[] = {0x22, 0x40}, f3[] = {0x31};

		assert_pages(db, 1, 3, 3, p1, f1);
		assert_pages(db, 2, 4, 2, p2, f2);
		assert_pages(db, 3, 4, 1, p3, f3);
	}
	assert_wal_txn(db, 1, &wi, 0, 3);
	assert_wal_txn(db, 2, &wi, 4, 6);
	assert_wal_txn(db, 3, &wi, 7, 7);
	assert_chain(db);

	pthread_mutex_lock(&db->mu);
	/* frames already committed, written again, are no new transaction */
	assert_int_equal(sim_track_wal_write(n, db, -1, 32 + 7 * fsz + 24, 512), 0);
	assert_int_equal(sim_track_wal_write(n, db, -1, 32 + 6 * fsz + 24, 512), 0);
	assert_int_equal(sim_track_wal_write(n, db, -1, 32 + 3 * fsz, fsz), 0);
	assert_int_equal(db->log.count, 3);
	assert_false(db->wal.txn_active);
	/* a frame written in one piece, header and page, completes a commit too */
	wb_frame(&w, 1, 4, 0x11);
	write_file(path, w.buf, w.len);
	assert_int_equal(sim_track_wal_write(n, db, -1, 32 + 8 * fsz, fsz), 0);
	assert_int_equal(db->log.count, 4);
	{
		static const uint32_t p4[] = {1};
		static const uint8_t f4[] = {0x11};

		assert_pages(db, 4, 4, 1, p4, f4);
	}
	/* a part of a page is no complete frame */
	wb_frame(&w, 2, 4, 0x23);
	write_file(path, w.buf, w.len);
	assert_int_equal(sim_track_wal_write(n, db, -1, 32 + 9 * fsz, 24), 0);
	assert_int_equal(sim_track_wal_write(n, db, -1, 32 + 9 * fsz + 24, 100), 0);
	assert_int_equal(db->log.count, 4);
	assert_true(db->wal.txn_active);
	assert_int_equal(sim_track_wal_write(n, db, -1, 32 + 9 * fsz + 124, 412), 0);
	assert_int_equal(db->log.count, 5);
	assert_false(db->wal.txn_active);
	pthread_mutex_unlock(&db->mu);

	free(wi.f);
	free(w.buf);
}

/* A writer whose SQLite does not know the last transaction committed from the WAL (its
 * own writer ended between writing the commit frame and publishing it in the wal-index)
 * would lose it: by writing frames below its end, or by starting the WAL again while the
 * database file lacks it. */
static void test_wal_stale_writer(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;
	struct wal_build w;
	struct wal_info wi;
	struct sim_db *db;
	char path[2048];
	uint8_t file[2 * 512];
	const uint64_t fsz = 24 + 512;

	wb_header(&w, 0x0a0b0c0du, 0x11223344u);
	wb_frame(&w, 2, 0, 0x20);
	wb_frame(&w, 1, 2, 0x10); /* transaction 1: pages 1 and 2 */
	wb_frame(&w, 2, 2, 0x21); /* transaction 2: page 2 */
	data_path(n, "s.db-wal", path, sizeof(path));
	write_file(path, w.buf, w.len);
	wal_parse(w.buf, w.len, &wi);
	db = sim_node_db(n, "s.db", true);
	assert_non_null(db);

	pthread_mutex_lock(&db->mu);
	/* no transaction committed from this WAL yet */
	assert_int_equal(sim_track_wal_stale(n, db, 32, 24), 0);
	assert_int_equal(sim_track_wal_write(n, db, -1, 0, 32), 0);
	assert_int_equal(sim_track_wal_stale(n, db, 32, 24), 0);
	assert_int_equal(sim_track_wal_stale(n, db, 0, 32), 0);
	pthread_mutex_unlock(&db->mu);
	wal_replay(n, db, &wi, 0);
	assert_int_equal(db->log.count, 2);

	pthread_mutex_lock(&db->mu);
	/* frames written where committed ones are, in pieces or at once */
	assert_int_equal(sim_track_wal_stale(n, db, 32 + 2 * fsz, 24), 1);
	assert_int_equal(sim_track_wal_stale(n, db, 32 + 2 * fsz + 24, 512), 1);
	assert_int_equal(sim_track_wal_stale(n, db, 32, 3 * fsz), 1);
	/* after them: the writer knows every transaction */
	assert_int_equal(sim_track_wal_stale(n, db, 32 + 3 * fsz, 24), 0);
	assert_int_equal(sim_track_wal_stale(n, db, 32 + 3 * fsz, 2 * fsz), 0);
	/* a new header, the database file with transaction 1 only: 2 would be lost */
	memcpy(file, wi.f[1].page, 512);
	memcpy(file + 512, wi.f[0].page, 512);
	data_path(n, "s.db", path, sizeof(path));
	write_file(path, file, sizeof(file));
	assert_int_equal(sim_track_wal_stale(n, db, 0, 32), 1);
	/* ... with page 2 missing */
	write_file(path, file, 512);
	assert_int_equal(sim_track_wal_stale(n, db, 0, 32), 1);
	/* ... once transaction 2 is in it (checkpointed), the WAL may start again */
	memcpy(file + 512, wi.f[2].page, 512);
	write_file(path, file, sizeof(file));
	assert_int_equal(sim_track_wal_stale(n, db, 0, 32), 0);
	assert_int_equal(sim_track_wal_write(n, db, -1, 0, 32), 0);
	assert_int_equal(db->wal.last_txid, 0);
	assert_int_equal(sim_track_wal_stale(n, db, 32, 24), 0);
	/* nor is anything stale once the WAL is gone */
	sim_track_wal_reset(db);
	assert_int_equal(sim_track_wal_stale(n, db, 32, 24), 0);
	pthread_mutex_unlock(&db->mu);
	free(wi.f);
	free(w.buf);
}

/* ---- rollback-journal mode ----------------------------------------------------------- */

static void pwrite_at(int fd, const void *buf, size_t len, uint64_t off)
{
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
}

static void test_journal_commit_and_rollback(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;
	char path[2048];
	uint8_t *orig, *now, cnt[4], patch[16], page3[1024], grown[1024];
	uint32_t ps, counter, npg;
	struct sim_txn t;
	struct sim_db *db;
	size_t len, nlen;
	sqlite3 *c;
	int fd;

	data_path(n, "j.db", path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	sql(c, "PRAGMA page_size=1024; PRAGMA journal_mode=DELETE;"
	       "CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);" ROWS(1, 12, 500));
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	orig = read_file(path, &len);
	ps = (uint32_t)orig[16] << 8 | orig[17];
	assert_int_equal(ps, 1024);
	npg = (uint32_t)(len / ps);
	assert_true(npg >= 6);
	counter = be32(orig + 24);

	db = sim_node_db(n, "j.db", true);
	assert_non_null(db);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);

	/* a commit: page 2 changed, the change counter incremented */
	pthread_mutex_lock(&db->mu);
	sim_track_journal_begin(n, db);
	assert_true(db->journal_active);
	assert_int_equal(db->journal_counter, counter);
	pthread_mutex_unlock(&db->mu);
	memset(patch, 0xab, sizeof(patch));
	pwrite_at(fd, patch, sizeof(patch), ps + 100);
	put_be32(cnt, counter + 1);
	pwrite_at(fd, cnt, 4, 24);
	pthread_mutex_lock(&db->mu);
	sim_track_db_write(db, ps + 100, sizeof(patch));
	sim_track_db_write(db, 24, 4);
	assert_int_equal(sim_track_journal_end(n, db), 0);
	assert_false(db->journal_active);
	pthread_mutex_unlock(&db->mu);
	assert_int_equal(db->log.count, 1);
	now = read_file(path, &nlen);
	log_txn(db, 1, &t);
	assert_int_equal(t.page_size, ps);
	assert_int_equal(t.commit, npg);
	assert_int_equal(t.npages, 2);
	assert_int_equal(t.pgnos[0], 1);
	assert_int_equal(t.pgnos[1], 2);
	assert_memory_equal(t.data, now, 2 * (size_t)ps);
	assert_memory_equal(t.data + ps + 100, patch, sizeof(patch));
	assert_int_equal(be32(t.data + 24), counter + 1);
	sim_txn_free(&t);
	free(now);
	assert_chain(db);

	/* a rollback: page 3 and the counter changed, then put back as they were */
	pthread_mutex_lock(&db->mu);
	sim_track_journal_begin(n, db);
	assert_int_equal(db->journal_counter, counter + 1);
	pthread_mutex_unlock(&db->mu);
	memset(page3, 0xcd, sizeof(page3));
	pwrite_at(fd, page3, ps, 2 * (uint64_t)ps);
	put_be32(cnt, counter + 2);
	pwrite_at(fd, cnt, 4, 24);
	pthread_mutex_lock(&db->mu);
	sim_track_db_write(db, 2 * (uint64_t)ps, ps);
	sim_track_db_write(db, 24, 4);
	pthread_mutex_unlock(&db->mu);
	pwrite_at(fd, orig + 2 * ps, ps, 2 * (uint64_t)ps);
	put_be32(cnt, counter + 1);
	pwrite_at(fd, cnt, 4, 24);
	pthread_mutex_lock(&db->mu);
	sim_track_db_write(db, 2 * (uint64_t)ps, ps);
	sim_track_db_write(db, 24, 4);
	assert_int_equal(sim_track_journal_end(n, db), 0);
	assert_false(db->journal_active);
	assert_int_equal(db->ndirty, 0);
	pthread_mutex_unlock(&db->mu);
	assert_int_equal(db->log.count, 1);

	/* writes outside a transaction are not tracked, and an end without a begin does
	 * nothing */
	pthread_mutex_lock(&db->mu);
	sim_track_db_write(db, 0, 4096);
	assert_int_equal(db->ndirty, 0);
	assert_int_equal(sim_track_journal_end(n, db), 0);
	pthread_mutex_unlock(&db->mu);
	assert_int_equal(db->log.count, 1);

	/* several ranges out of order, one spanning two pages, one growing the file */
	pthread_mutex_lock(&db->mu);
	sim_track_journal_begin(n, db);
	pthread_mutex_unlock(&db->mu);
	memset(grown, 0x77, sizeof(grown));
	pwrite_at(fd, patch, sizeof(patch), 4 * (uint64_t)ps - 8); /* pages 4 and 5 */
	pwrite_at(fd, patch, 3, 2 * (uint64_t)ps + 1);             /* page 3 */
	pwrite_at(fd, grown, ps, (uint64_t)npg * ps);              /* a new last page */
	put_be32(cnt, counter + 2);
	pwrite_at(fd, cnt, 4, 24);
	pthread_mutex_lock(&db->mu);
	sim_track_db_write(db, 4 * (uint64_t)ps - 8, sizeof(patch));
	sim_track_db_write(db, 2 * (uint64_t)ps + 1, 3);
	sim_track_db_write(db, (uint64_t)npg * ps, ps);
	sim_track_db_write(db, 24, 4);
	assert_int_equal(sim_track_journal_end(n, db), 0);
	pthread_mutex_unlock(&db->mu);
	assert_int_equal(db->log.count, 2);
	now = read_file(path, &nlen);
	assert_int_equal(nlen, ((size_t)npg + 1) * ps);
	log_txn(db, 2, &t);
	assert_int_equal(t.commit, npg + 1);
	{
		uint32_t want[5] = {1, 3, 4, 5, npg + 1};

		assert_int_equal(t.npages, 5);
		for (uint32_t i = 0; i < 5; i++) {
			assert_int_equal(t.pgnos[i], want[i]);
			assert_memory_equal(t.data + (size_t)i * ps, now + (size_t)(want[i] - 1) * ps,
					    ps);
		}
	}
	sim_txn_free(&t);
	free(now);

	/* page 1 goes with every commit, its write seen or not: it holds the counter */
	pthread_mutex_lock(&db->mu);
	sim_track_journal_begin(n, db);
	pthread_mutex_unlock(&db->mu);
	pwrite_at(fd, patch, sizeof(patch), 5 * (uint64_t)ps + 7);
	put_be32(cnt, counter + 3);
	pwrite_at(fd, cnt, 4, 24);
	pthread_mutex_lock(&db->mu);
	sim_track_db_write(db, 5 * (uint64_t)ps + 7, sizeof(patch));
	assert_int_equal(sim_track_journal_end(n, db), 0);
	pthread_mutex_unlock(&db->mu);
	assert_int_equal(db->log.count, 3);
	now = read_file(path, &nlen);
	log_txn(db, 3, &t);
	assert_int_equal(t.npages, 2);
	assert_int_equal(t.pgnos[0], 1);
	assert_int_equal(t.pgnos[1], 6);
	assert_memory_equal(t.data, now, ps);
	assert_memory_equal(t.data + ps, now + 5 * (size_t)ps, ps);
	sim_txn_free(&t);
	free(now);

	/* a transaction that shrinks the file: pages written past its new end are left out */
	pthread_mutex_lock(&db->mu);
	sim_track_journal_begin(n, db);
	pthread_mutex_unlock(&db->mu);
	pwrite_at(fd, patch, sizeof(patch), (uint64_t)npg * ps + 50); /* the last page */
	pwrite_at(fd, patch, sizeof(patch), 2 * (uint64_t)ps + 50);   /* page 3 */
	put_be32(cnt, counter + 4);
	pwrite_at(fd, cnt, 4, 24);
	assert_int_equal(ftruncate(fd, (off_t)npg * ps - ps), 0);    /* 2 pages fewer */
	pthread_mutex_lock(&db->mu);
	sim_track_db_write(db, (uint64_t)npg * ps + 50, sizeof(patch));
	sim_track_db_write(db, 2 * (uint64_t)ps + 50, sizeof(patch));
	sim_track_db_write(db, 24, 4);
	assert_int_equal(sim_track_journal_end(n, db), 0);
	pthread_mutex_unlock(&db->mu);
	assert_int_equal(db->log.count, 4);
	now = read_file(path, &nlen);
	log_txn(db, 4, &t);
	assert_int_equal(t.commit, npg - 1);
	assert_int_equal(t.npages, 2);
	assert_int_equal(t.pgnos[0], 1);
	assert_int_equal(t.pgnos[1], 3);
	assert_memory_equal(t.data, now, ps);
	assert_memory_equal(t.data + ps, now + 2 * (size_t)ps, ps);
	sim_txn_free(&t);
	free(now);
	assert_chain(db);

	close(fd);
	free(orig);
}

/* A database file that SQLite writes in rollback-journal mode, with the tracker told of
 * the writes afterwards: the logged transaction rebuilds the file. */
static void test_journal_sqlite_rebuild(void **state)
{
	struct fixture *f = *state;
	struct sim_node *n = f->n;
	char path[2048];
	uint8_t *before, *after, *img;
	size_t blen, alen;
	uint32_t npg;
	struct sim_db *db;
	sqlite3 *c;

	data_path(n, "r.db", path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	sql(c, "PRAGMA page_size=512; CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);"
	    ROWS(1, 30, 100));
	before = read_file(path, &blen);
	db = sim_node_db(n, "r.db", true);
	assert_non_null(db);
	pthread_mutex_lock(&db->mu);
	sim_track_journal_begin(n, db);
	pthread_mutex_unlock(&db->mu);
	sql(c, "UPDATE t SET b = randomblob(150) WHERE a % 4 = 1;" ROWS(31, 40, 100));
	after = read_file(path, &alen);
	assert_true(alen >= blen);
	/* report every page whose bytes differ, one write per page */
	pthread_mutex_lock(&db->mu);
	for (size_t off = 0; off < alen; off += 512)
		if (off >= blen || memcmp(before + off, after + off, 512))
			sim_track_db_write(db, off, 512);
	assert_int_equal(sim_track_journal_end(n, db), 0);
	pthread_mutex_unlock(&db->mu);
	assert_int_equal(db->log.count, 1);
	img = before;
	npg = (uint32_t)(blen / 512);
	apply_log(db, 1, 1, &img, &npg, 512);
	assert_int_equal((size_t)npg * 512, alen);
	assert_memory_equal(img, after, alen);
	sqlite3_close(c);
	free(img);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_json_quote),
		cmocka_unit_test_setup_teardown(test_wal_commits, node_setup, node_teardown),
		cmocka_unit_test_setup_teardown(test_wal_salt_mismatch, node_setup, node_teardown),
		cmocka_unit_test_setup_teardown(test_wal_transaction_per_write, node_setup,
						node_teardown),
		cmocka_unit_test_setup_teardown(test_wal_frames_by_hand, node_setup, node_teardown),
		cmocka_unit_test_setup_teardown(test_wal_stale_writer, node_setup, node_teardown),
		cmocka_unit_test_setup_teardown(test_journal_commit_and_rollback, node_setup,
						node_teardown),
		cmocka_unit_test_setup_teardown(test_journal_sqlite_rebuild, node_setup,
						node_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
