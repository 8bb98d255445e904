/* Replication between nodes. A replica GETs /stream from its primary, naming its position
 * in every database (hex name : TXID : checksum); the primary answers with a chunked
 * stream of frames [u8 type][u32 length, little-endian][payload]:
 *   'T' u16 name length, name, log record  - the next transaction of a database
 *   'R' u16 name length, name              - the replica's copy diverged: rebuild from TXID 1
 *   'H' u64 primary time in microseconds   - everything committed so far has been sent
 * The stream ends when the primary stops being primary, after everything it committed has
 * been sent. A replica applies each transaction atomically (sim_apply.c); a rebuild is
 * staged in memory and applied at once when the stream says it has caught up, so that
 * readers never see a partial state. */
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_state.h"

#define FRAME_HDR 5u

/* ---- primary side ---------------------------------------------------------------------- */

struct rs_want {
	char name[NAME_MAX + 1];
	uint64_t txid, checksum;
};

struct rs_cursor {
	struct sim_db *db;
	uint64_t next;
};

struct repl_stream {
	struct sim_node *n;
	struct rs_want *want;
	size_t nwant;
	struct rs_cursor *cur;
	size_t ncur, capcur;
	uint8_t *buf;
	size_t len, off, cap;
	bool sent_since_heartbeat;
	int64_t last_send_us;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses "hexname:txid:checksum,..." into s->want. Malformed entries are skipped: the
 * database is then rebuilt, which is always safe. */
static void rs_parse_spec(struct repl_stream *s, const char *spec)
{
	const char *p = spec;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[2 * NAME_MAX + 64];
		char *c1, *c2;
		struct rs_want w = {0};
		size_t hl;

		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			c1 = strchr(item, ':');
			c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			hl = c1 ? (size_t)(c1 - item) : 0;
			if (c2 && hl % 2 == 0 && hl / 2 <= NAME_MAX && hl) {
				bool ok = true;

				for (size_t i = 0; i < hl / 2; i++) {
					int a = hexval(item[2 * i]), b = hexval(item[2 * i + 1]);

					if (a < 0 || b < 0 || (a == 0 && b == 0)) {
						ok = false;
						break;
					}
					w.name[i] = (char)(a * 16 + b);
				}
				w.txid = strtoull(c1 + 1, NULL, 10);
				w.checksum = strtoull(c2 + 1, NULL, 16);
				if (ok) {
					struct rs_want *nw = realloc(s->want, (s->nwant + 1) * sizeof(*nw));

					if (nw) {
						s->want = nw;
						s->want[s->nwant++] = w;
					}
				}
			}
		}
		p += len;
		if (*p == ',')
			p++;
	}
}

static int rs_reserve(struct repl_stream *s, size_t more)
{
	if (s->len + more <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 65536;
	while (cap < s->len + more)
		cap *= 2;
	uint8_t *b = realloc(s->buf, cap);
	if (!b)
		return -ENOMEM;
	s->buf = b;
	s->cap = cap;
	return 0;
}

static int rs_frame(struct repl_stream *s, char type, const char *name, const uint8_t *payload,
		    size_t plen)
{
	size_t nlen = name ? strlen(name) : 0;
	size_t len = (name ? 2 + nlen : 0) + plen;
	uint8_t *p;

	if (rs_reserve(s, FRAME_HDR + len))
		return -ENOMEM;
	p = s->buf + s->len;
	p[0] = (uint8_t)type;
	for (int i = 0; i < 4; i++)
		p[1 + i] = (uint8_t)(len >> (8 * i));
	p += FRAME_HDR;
	if (name) {
		p[0] = (uint8_t)nlen;
		p[1] = (uint8_t)(nlen >> 8);
		memcpy(p + 2, name, nlen);
		p += 2 + nlen;
	}
	if (plen)
		memcpy(p, payload, plen);
	s->len += FRAME_HDR + len;
	return 0;
}

/* The cursor of db, made on first sight: where the replica's copy continues, or a rebuild. */
static struct rs_cursor *rs_cursor(struct repl_stream *s, struct sim_db *db)
{
	struct rs_cursor *c;
	uint64_t next = 1;

	for (size_t i = 0; i < s->ncur; i++)
		if (s->cur[i].db == db)
			return &s->cur[i];
	if (s->ncur == s->capcur) {
		size_t cap = s->capcur ? s->capcur * 2 : 16;
		struct rs_cursor *nc = realloc(s->cur, cap * sizeof(*nc));

		if (!nc)
			return NULL;
		s->cur = nc;
		s->capcur = cap;
	}
	for (size_t i = 0; i < s->nwant; i++) {
		uint64_t cks;

		if (strcmp(s->want[i].name, db->name))
			continue;
		pthread_mutex_lock(&db->mu);
		if (s->want[i].txid > 0 && s->want[i].txid <= db->log.count &&
		    !sim_txlog_checksum(&db->log, s->want[i].txid, &cks) &&
		    cks == s->want[i].checksum)
			next = s->want[i].txid + 1;
		pthread_mutex_unlock(&db->mu);
	}
	if (next == 1 && rs_frame(s, 'R', db->name, NULL, 0))
		return NULL;
	c = &s->cur[s->ncur++];
	c->db = db;
	c->next = next;
	return c;
}

/* Fills s->buf with what the replica is missing. Returns 1 when something was queued, 0 when
 * there is nothing now, -ESHUTDOWN when the stream must end, or -errno. */
static int rs_fill(struct repl_stream *s)
{
	struct sim_node *n = s->n;
	struct sim_db *dbs[1024];
	size_t ndb = 0;
	bool primary, stopping;
	int queued = 0;

	pthread_mutex_lock(&n->mu);
	primary = n->role == SIM_PRIMARY;
	stopping = n->stopping;
	for (struct sim_db *d = n->dbs; d && ndb < 1024; d = d->next)
		dbs[ndb++] = d;
	pthread_mutex_unlock(&n->mu);
	if (stopping)
		return -ESHUTDOWN;
	for (size_t i = 0; i < ndb && s->len < (1u << 20); i++) {
		struct rs_cursor *c = rs_cursor(s, dbs[i]);
		uint8_t *rec;
		size_t rlen;
		int rc;

		if (!c)
			return -ENOMEM;
		pthread_mutex_lock(&c->db->mu);
		if (c->next > c->db->log.count) {
			pthread_mutex_unlock(&c->db->mu);
			continue;
		}
		rc = sim_txlog_read(&c->db->log, c->next, &rec, &rlen);
		pthread_mutex_unlock(&c->db->mu);
		if (rc)
			return rc;
		rc = rs_frame(s, 'T', c->db->name, rec, rlen);
		free(rec);
		if (rc)
			return rc;
		c->next++;
		queued = 1;
		i--; /* keep draining this database */
	}
	if (queued)
		s->sent_since_heartbeat = true;
	if (!queued && !primary)
		return -ESHUTDOWN;
	return queued;
}

static ssize_t rs_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct repl_stream *s = cls;
	struct sim_node *n = s->n;

	(void)pos;
	while (s->off == s->len) {
		uint64_t seq;
		int rc;

		s->off = s->len = 0;
		pthread_mutex_lock(&n->mu);
		seq = n->commit_seq + n->role_epoch;
		pthread_mutex_unlock(&n->mu);
		rc = rs_fill(s);
		if (rc == -ESHUTDOWN)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (rc < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (rc > 0)
			break;
		int64_t now = sim_now_us();
		if (s->sent_since_heartbeat || now - s->last_send_us >= 250000) {
			uint8_t hb[8];

			for (int i = 0; i < 8; i++)
				hb[i] = (uint8_t)((uint64_t)now >> (8 * i));
			if (rs_frame(s, 'H', NULL, hb, sizeof(hb)))
				return MHD_CONTENT_READER_END_WITH_ERROR;
			s->sent_since_heartbeat = false;
			break;
		}
		/* Wait for a commit, a role change, or the next heartbeat. */
		pthread_mutex_lock(&n->mu);
		if (n->commit_seq + n->role_epoch == seq && !n->stopping) {
			struct timespec ts;
			int64_t until = s->last_send_us + 250000;

			ts.tv_sec = (time_t)(until / 1000000);
			ts.tv_nsec = (long)(until % 1000000) * 1000;
			pthread_cond_timedwait(&n->cond, &n->mu, &ts);
		}
		pthread_mutex_unlock(&n->mu);
	}
	size_t len = s->len - s->off;
	if (len > max)
		len = max;
	memcpy(out, s->buf + s->off, len);
	s->off += len;
	s->last_send_us = sim_now_us();
	return (ssize_t)len;
}

static void rs_free(void *cls)
{
	struct repl_stream *s = cls;

	free(s->want);
	free(s->cur);
	free(s->buf);
	free(s);
}

struct MHD_Response *sim_repl_response(struct sim_node *n, const char *pos_spec)
{
	struct repl_stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *r;

	if (!s)
		return NULL;
	s->n = n;
	s->last_send_us = sim_now_us();
	rs_parse_spec(s, pos_spec);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, rs_read, s, rs_free);
	if (!r) {
		rs_free(s);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	return r;
}

/* ---- replica side ---------------------------------------------------------------------- */

/* A database being rebuilt from TXID 1: pages staged until the stream has caught up. */
struct rc_stage {
	struct sim_db *db;
	uint8_t **pages;     /* indexed by page number - 1 */
	uint32_t npages_cap;
	uint32_t page_size, commit;
	struct sim_txn last; /* header of the last staged transaction (no pages) */
	uint8_t **records;   /* encoded records to append to the log once applied */
	size_t *rec_len;
	size_t nrec;
};

struct repl_client {
	struct sim_node *n;
	uint64_t epoch;
	uint8_t *buf;
	size_t len, cap;
	int err;
	struct rc_stage *stage;
	size_t nstage;
};

static void rc_stage_free(struct rc_stage *st)
{
	for (uint32_t i = 0; i < st->npages_cap; i++)
		free(st->pages[i]);
	free(st->pages);
	for (size_t i = 0; i < st->nrec; i++)
		free(st->records[i]);
	free(st->records);
	free(st->rec_len);
	memset(st, 0, sizeof(*st));
}

static struct rc_stage *rc_stage_find(struct repl_client *c, struct sim_db *db, bool create)
{
	for (size_t i = 0; i < c->nstage; i++)
		if (c->stage[i].db == db)
			return &c->stage[i];
	if (!create)
		return NULL;
	struct rc_stage *ns = realloc(c->stage, (c->nstage + 1) * sizeof(*ns));
	if (!ns)
		return NULL;
	c->stage = ns;
	memset(&ns[c->nstage], 0, sizeof(ns[0]));
	ns[c->nstage].db = db;
	return &ns[c->nstage++];
}

static int rc_stage_add(struct rc_stage *st, const struct sim_txn *t, const uint8_t *rec,
			size_t rlen)
{
	uint8_t *copy;

	if (st->page_size && st->page_size != t->page_size) {
		/* a new page size rewrites every page: start the image again */
		for (uint32_t i = 0; i < st->npages_cap; i++) {
			free(st->pages[i]);
			st->pages[i] = NULL;
		}
	}
	st->page_size = t->page_size;
	st->commit = t->commit;
	if (t->commit > st->npages_cap) {
		uint8_t **np = realloc(st->pages, (size_t)t->commit * sizeof(*np));

		if (!np)
			return -ENOMEM;
		memset(np + st->npages_cap, 0, (t->commit - st->npages_cap) * sizeof(*np));
		st->pages = np;
		st->npages_cap = t->commit;
	}
	for (uint32_t i = 0; i < t->npages; i++) {
		uint32_t pg = t->pgnos[i] - 1;

		if (!st->pages[pg]) {
			st->pages[pg] = malloc(t->page_size);
			if (!st->pages[pg])
				return -ENOMEM;
		}
		memcpy(st->pages[pg], t->data + (size_t)i * t->page_size, t->page_size);
	}
	copy = malloc(rlen);
	uint8_t **nr = realloc(st->records, (st->nrec + 1) * sizeof(*nr));
	if (nr)
		st->records = nr;
	size_t *nl = realloc(st->rec_len, (st->nrec + 1) * sizeof(*nl));
	if (nl)
		st->rec_len = nl;
	if (!copy || !nr || !nl) {
		free(copy);
		return -ENOMEM;
	}
	memcpy(copy, rec, rlen);
	st->records[st->nrec] = copy;
	st->rec_len[st->nrec] = rlen;
	st->nrec++;
	st->last = *t;
	st->last.pgnos = NULL;
	st->last.data = NULL;
	return 0;
}

/* Applies a staged rebuild as one transaction, then rewrites the log with its records. */
static int rc_stage_flush(struct repl_client *c, struct rc_stage *st)
{
	struct sim_node *n = c->n;
	struct sim_txn t = st->last;
	uint32_t count = 0;
	int rc;

	if (!st->nrec)
		return 0;
	t.pgnos = malloc(((size_t)st->commit + 1) * sizeof(uint32_t));
	t.data = malloc((size_t)st->commit * st->page_size + 1);
	if (!t.pgnos || !t.data) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < st->commit && i < st->npages_cap; i++) {
		if (!st->pages[i])
			continue;
		t.pgnos[count] = i + 1;
		memcpy(t.data + (size_t)count * st->page_size, st->pages[i], st->page_size);
		count++;
	}
	t.npages = count;
	rc = sim_apply_txn(n, st->db, &t);
	if (rc)
		goto out;
	pthread_mutex_lock(&st->db->mu);
	rc = sim_txlog_reset(&st->db->log);
	for (size_t i = 0; !rc && i < st->nrec; i++) {
		struct sim_txn rt;

		if (sim_txn_decode(st->records[i], st->rec_len[i], &rt) <= 0) {
			rc = -EINVAL;
			break;
		}
		rc = sim_txlog_append(&st->db->log, &rt);
		sim_txn_free(&rt);
	}
	if (!rc)
		rc = sim_node_record_applied(n, st->db, NULL);
	pthread_mutex_unlock(&st->db->mu);
	if (!rc)
		sim_events_publish_tx(n, st->db->name, &st->last);
out:
	free(t.pgnos);
	free(t.data);
	rc_stage_free(st);
	st->db = NULL;
	return rc;
}

static int rc_flush_all(struct repl_client *c)
{
	int rc = 0;

	for (size_t i = 0; i < c->nstage; i++) {
		if (c->stage[i].db) {
			int r = rc_stage_flush(c, &c->stage[i]);

			if (r && !rc)
				rc = r;
		}
	}
	c->nstage = 0;
	return rc;
}

/* Whether the frame at buf is a transaction of database name. */
static bool rc_frame_is_txn_of(const uint8_t *buf, const char *name)
{
	size_t nlen = (size_t)buf[FRAME_HDR] | (size_t)buf[FRAME_HDR + 1] << 8;

	return buf[0] == 'T' && nlen == strlen(name) && !memcmp(buf + FRAME_HDR + 2, name, nlen);
}

/* Applies consecutive transactions of one database that arrived together as one atomic
 * change (readers go from the state before the first to the state after the last), then
 * records each of them. frames[i] points at a complete 'T' frame. */
static int rc_apply_batch(struct repl_client *c, struct sim_db *db, const uint8_t **frames,
			  size_t count)
{
	struct sim_node *n = c->n;
	struct sim_txn *txns = calloc(count, sizeof(*txns));
	struct rc_stage merged = {.db = db};
	struct sim_txn t = {0};
	int rc = 0;

	if (!txns)
		return -ENOMEM;
	for (size_t i = 0; i < count && !rc; i++) {
		const uint8_t *f = frames[i];
		uint32_t flen = (uint32_t)f[1] | (uint32_t)f[2] << 8 | (uint32_t)f[3] << 16 |
				(uint32_t)f[4] << 24;
		size_t nlen = (size_t)f[FRAME_HDR] | (size_t)f[FRAME_HDR + 1] << 8;
		const uint8_t *rec = f + FRAME_HDR + 2 + nlen;
		size_t rlen = flen - 2 - nlen;
		long r = sim_txn_decode(rec, rlen, &txns[i]);
		uint64_t expect;

		if (r <= 0 || (size_t)r != rlen) {
			rc = -EPROTO;
			break;
		}
		pthread_mutex_lock(&db->mu);
		expect = db->log.count + 1 + i;
		pthread_mutex_unlock(&db->mu);
		if (txns[i].txid != expect)
			rc = -EPROTO;
		else if (count > 1)
			rc = rc_stage_add(&merged, &txns[i], rec, rlen);
	}
	if (rc)
		goto out;
	if (count == 1) {
		rc = sim_apply_txn(n, db, &txns[0]);
	} else {
		uint32_t k = 0;

		t = txns[count - 1];
		t.pgnos = malloc(((size_t)merged.commit + 1) * sizeof(uint32_t));
		t.data = malloc((size_t)merged.commit * merged.page_size + 1);
		if (!t.pgnos || !t.data) {
			rc = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < merged.commit && i < merged.npages_cap; i++) {
			if (!merged.pages[i])
				continue;
			t.pgnos[k] = i + 1;
			memcpy(t.data + (size_t)k * merged.page_size, merged.pages[i], merged.page_size);
			k++;
		}
		t.npages = k;
		t.page_size = merged.page_size;
		t.commit = merged.commit;
		rc = sim_apply_txn(n, db, &t);
	}
	for (size_t i = 0; i < count && !rc; i++) {
		pthread_mutex_lock(&db->mu);
		rc = sim_node_record_applied(n, db, &txns[i]);
		pthread_mutex_unlock(&db->mu);
		if (!rc)
			sim_events_publish_tx(n, db->name, &txns[i]);
	}
out:
	if (count > 1) {
		free(t.pgnos);
		free(t.data);
	}
	rc_stage_free(&merged);
	for (size_t i = 0; i < count; i++)
		sim_txn_free(&txns[i]);
	free(txns);
	return rc;
}

static int rc_handle_frame(struct repl_client *c, uint8_t type, const uint8_t *p, size_t len)
{
	struct sim_node *n = c->n;
	char name[NAME_MAX + 1];
	struct sim_db *db;
	struct sim_txn t;
	size_t nlen;
	long r;
	int rc;

	if (type == 'H') {
		rc = rc_flush_all(c);
		pthread_mutex_lock(&n->mu);
		n->last_sync_us = sim_now_us();
		pthread_mutex_unlock(&n->mu);
		return rc;
	}
	if (len < 2)
		return -EPROTO;
	nlen = (size_t)p[0] | (size_t)p[1] << 8;
	if (nlen == 0 || nlen > NAME_MAX || 2 + nlen > len)
		return -EPROTO;
	memcpy(name, p + 2, nlen);
	name[nlen] = '\0';
	if (memchr(name, '/', nlen) || strlen(name) != nlen)
		return -EPROTO;
	db = sim_node_db(n, name, true);
	if (!db)
		return -EIO;
	p += 2 + nlen;
	len -= 2 + nlen;
	if (type == 'R') {
		struct rc_stage *st = rc_stage_find(c, db, true);

		if (!st)
			return -ENOMEM;
		rc_stage_free(st);
		st->db = db;
		return 0;
	}
	if (type != 'T')
		return -EPROTO;
	{
		struct rc_stage *st = rc_stage_find(c, db, false);
		const uint8_t *frame = p - 2 - nlen - FRAME_HDR;

		if (!st) /* applied at once (rc_write batches consecutive ones) */
			return rc_apply_batch(c, db, &frame, 1);
		r = sim_txn_decode(p, len, &t);
		if (r <= 0 || (size_t)r != len)
			return -EPROTO;
		rc = rc_stage_add(st, &t, p, len);
		sim_txn_free(&t);
		return rc;
	}
}

static size_t rc_write(char *data, size_t size, size_t nmemb, void *cls)
{
	struct repl_client *c = cls;
	size_t len = size * nmemb, off = 0;

	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : 65536;
		while (cap < c->len + len)
			cap *= 2;
		uint8_t *b = realloc(c->buf, cap);
		if (!b) {
			c->err = -ENOMEM;
			return 0;
		}
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	pthread_mutex_lock(&c->n->mu);
	c->n->connected = true;
	pthread_mutex_unlock(&c->n->mu);
	while (c->len - off >= FRAME_HDR) {
		uint32_t flen = (uint32_t)c->buf[off + 1] | (uint32_t)c->buf[off + 2] << 8 |
				(uint32_t)c->buf[off + 3] << 16 | (uint32_t)c->buf[off + 4] << 24;
		int rc;

		if (c->len - off < FRAME_HDR + (size_t)flen)
			break;
		pthread_mutex_lock(&c->n->apply_mu);
		if (c->buf[off] == 'T' && flen >= 2) {
			const uint8_t *frames[256];
			size_t count = 0, next = off;
			char name[NAME_MAX + 1];
			size_t nlen = (size_t)c->buf[off + FRAME_HDR] |
				      (size_t)c->buf[off + FRAME_HDR + 1] << 8;
			struct sim_db *db = NULL;

			if (nlen && nlen <= NAME_MAX && 2 + nlen <= flen) {
				memcpy(name, c->buf + off + FRAME_HDR + 2, nlen);
				name[nlen] = '\0';
				if (strlen(name) == nlen && !strchr(name, '/'))
					db = sim_node_db(c->n, name, true);
			}
			/* Transactions of a database being rebuilt are staged one by one. */
			if (db && !rc_stage_find(c, db, false)) {
				while (count < 256 && c->len - next >= FRAME_HDR) {
					uint32_t l = (uint32_t)c->buf[next + 1] |
						     (uint32_t)c->buf[next + 2] << 8 |
						     (uint32_t)c->buf[next + 3] << 16 |
						     (uint32_t)c->buf[next + 4] << 24;

					if (c->len - next < FRAME_HDR + (size_t)l || l < 2 + nlen ||
					    !rc_frame_is_txn_of(c->buf + next, name))
						break;
					frames[count++] = c->buf + next;
					next += FRAME_HDR + l;
				}
				rc = rc_apply_batch(c, db, frames, count);
				pthread_mutex_unlock(&c->n->apply_mu);
				if (rc) {
					fprintf(stderr, "litefs-sim: replication: %s\n", strerror(-rc));
					c->err = rc;
					return 0;
				}
				off = next;
				continue;
			}
		}
		rc = rc_handle_frame(c, c->buf[off], c->buf + off + FRAME_HDR, flen);
		pthread_mutex_unlock(&c->n->apply_mu);
		if (rc) {
			fprintf(stderr, "litefs-sim: replication: %s\n", strerror(-rc));
			c->err = rc;
			return 0;
		}
		off += FRAME_HDR + flen;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return len;
}

static int rc_progress(void *cls, curl_off_t a, curl_off_t b, curl_off_t d, curl_off_t e)
{
	struct repl_client *c = cls;
	int stop;

	(void)a;
	(void)b;
	(void)d;
	(void)e;
	pthread_mutex_lock(&c->n->mu);
	stop = c->n->stopping || c->n->role_epoch != c->epoch;
	pthread_mutex_unlock(&c->n->mu);
	return stop;
}

/* Builds the /stream URL naming this node's position in every database. */
static char *rc_url(struct sim_node *n, int primary)
{
	size_t cap = 256, len;
	char *url = malloc(cap), base[128];
	struct sim_db *dbs[1024];
	size_t ndb = 0;

	if (!url)
		return NULL;
	sim_conf_node_url(&n->conf, primary, "/stream?pos=", base, sizeof(base));
	len = (size_t)snprintf(url, cap, "%s", base);
	pthread_mutex_lock(&n->mu);
	for (struct sim_db *d = n->dbs; d && ndb < 1024; d = d->next)
		dbs[ndb++] = d;
	pthread_mutex_unlock(&n->mu);
	for (size_t i = 0; i < ndb; i++) {
		size_t need = 2 * strlen(dbs[i]->name) + 64;

		if (len + need >= cap) {
			char *nu;

			cap = (cap + need) * 2;
			nu = realloc(url, cap);
			if (!nu) {
				free(url);
				return NULL;
			}
			url = nu;
		}
		if (i)
			url[len++] = ',';
		for (const unsigned char *p = (const unsigned char *)dbs[i]->name; *p; p++)
			len += (size_t)snprintf(url + len, cap - len, "%02x", *p);
		pthread_mutex_lock(&dbs[i]->mu);
		len += (size_t)snprintf(url + len, cap - len, ":%llu:%016llx",
					(unsigned long long)dbs[i]->log.count,
					(unsigned long long)dbs[i]->log.last_checksum);
		pthread_mutex_unlock(&dbs[i]->mu);
	}
	return url;
}

/* Sets what .primary shows and publishes primaryChange when it changes. node->mu held. */
static void rc_show_primary(struct sim_node *n, int k)
{
	if (n->visible_primary == k)
		return;
	n->visible_primary = k;
	sim_events_publish_role(n);
}

/* Streams from primary until the stream ends. Returns whether data was received. */
static bool rc_stream_once(struct sim_node *n, int primary, uint64_t epoch)
{
	struct repl_client c = {.n = n, .epoch = epoch};
	char *url = rc_url(n, primary);
	bool got = false;
	CURL *h = curl_easy_init();
	long code = 0;

	if (!url || !h)
		goto out;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rc_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, rc_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &c);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	/* from the node's own address, as a node's traffic comes from its own interface: a
	 * network cut between two nodes can be made by filtering their addresses */
	char src[64];
	snprintf(src, sizeof(src), "host!%s.%d", n->conf.ip_prefix, n->k);
	curl_easy_setopt(h, CURLOPT_INTERFACE, src);
	/* a primary that stops answering (frozen, cut off) is given up after 2 s without data;
	 * it sends a heartbeat every 250 ms */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 2L);
	curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	got = code == 200;
	if (c.err)
		fprintf(stderr, "litefs-sim: stream from node%d ended: %s\n", primary,
			strerror(-c.err));
out:
	for (size_t i = 0; i < c.nstage; i++)
		rc_stage_free(&c.stage[i]);
	free(c.stage);
	free(c.buf);
	free(url);
	if (h)
		curl_easy_cleanup(h);
	return got;
}

void *sim_repl_thread(void *arg)
{
	struct sim_node *n = arg;

	uint64_t last_epoch = UINT64_MAX;
	int64_t epoch_start = 0, hidden_since = 0;

	for (;;) {
		uint64_t epoch;
		int primary;

		pthread_mutex_lock(&n->mu);
		while (!n->stopping && (n->role != SIM_REPLICA || !n->follow || !n->mounted))
			pthread_cond_wait(&n->cond, &n->mu);
		if (n->stopping) {
			pthread_mutex_unlock(&n->mu);
			break;
		}
		if (!n->visible_primary && hidden_since) {
			/* As LiteFS: a replica that lost its primary shows none for about the
			 * reconnect delay, even when the next primary is already known. */
			int64_t until = hidden_since + (int64_t)n->conf.reconnect_delay_ms * 1000;
			struct timespec ts = {.tv_sec = (time_t)(until / 1000000),
					      .tv_nsec = (long)(until % 1000000) * 1000};

			while (!n->stopping && sim_now_us() < until &&
			       pthread_cond_timedwait(&n->cond, &n->mu, &ts) != ETIMEDOUT)
				;
			hidden_since = 0;
			pthread_mutex_unlock(&n->mu);
			continue;
		}
		primary = n->follow;
		epoch = n->role_epoch;
		if (epoch != last_epoch) {
			last_epoch = epoch;
			epoch_start = sim_now_us();
		}
		rc_show_primary(n, primary);
		pthread_mutex_unlock(&n->mu);

		bool was_connected = rc_stream_once(n, primary, epoch);

		pthread_mutex_lock(&n->mu);
		n->connected = false;
		if (!was_connected && sim_now_us() - epoch_start < 3000000) {
			/* The primary is not listening yet (the cluster is starting, or it was
			 * just promoted): try again soon, without flapping .primary. */
			pthread_mutex_unlock(&n->mu);
			usleep(20000);
			continue;
		}
		if (n->role_epoch == epoch && !n->stopping) {
			struct timespec ts;
			int64_t until = sim_now_us() + (int64_t)n->conf.reconnect_delay_ms * 1000;

			rc_show_primary(n, 0);
			hidden_since = sim_now_us();
			ts.tv_sec = (time_t)(until / 1000000);
			ts.tv_nsec = (long)(until % 1000000) * 1000;
			while (n->role_epoch == epoch && !n->stopping &&
			       pthread_cond_timedwait(&n->cond, &n->mu, &ts) != ETIMEDOUT)
				;
		}
		pthread_mutex_unlock(&n->mu);
	}
	return NULL;
}
