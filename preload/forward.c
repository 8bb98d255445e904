/* Forwarding a statement: request, transport, reply, and the outcome kept for the program
 * (see forward.h). Failure semantics:
 *   nothing was sent (no forwarder reachable)     SQLITE_BUSY, safe to retry
 *   sent, no answer within LITEFS_FWD_TIMEOUT_MS  SQLITE_IOERR, "may have been applied"
 *   the primary's own error                       exactly its code and message */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "events_follow.h"
#include "forward.h"
#include "log.h"
#include "ownfd.h"
#include "real.h"
#include "record.h"
#include "request_id.h"
#include "role.h"
#include "trace.h"
#include "tracking.h"
#include "transport.h"

atomic_int forward_nfake;

/* Each thread has its own connection to the forwarder: one REQ stream carries one request
 * at a time. It is closed and freed when the thread exits (a program that starts a thread
 * per task would otherwise keep a socket per thread it ever had). */
static __thread struct transport *fwd_transport;
static __thread char fwd_transport_ep[512];
static pthread_once_t fwd_transport_once = PTHREAD_ONCE_INIT;
static pthread_key_t fwd_transport_key;
static bool fwd_transport_key_ok;

/* At a thread's exit: its connection, closed if its socket is still ours. */
static void fwd_transport_exit(void *p)
{
	if (p == fwd_transport)
		fwd_transport = NULL;
	transport_close(p);
}

static void fwd_transport_key_create(void)
{
	fwd_transport_key_ok = pthread_key_create(&fwd_transport_key, fwd_transport_exit) == 0;
}

/* How long closing a connection waits for the rollback of its open transaction. */
#define FWD_ABANDON_TIMEOUT_MS 1000

static int64_t fwd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int forward_rc(struct fwd_conn *c, int xrc)
{
	if (xrc == SQLITE_DONE || xrc == SQLITE_ROW)
		return xrc;
	return c->extended_codes ? xrc : (xrc & 0xff);
}

void forward_set_error(struct fwd_conn *c, int xrc, const char *msg)
{
	char *buf = c->err_msg == c->err_bufs[0] ? c->err_bufs[1] : c->err_bufs[0];

	snprintf(buf, sizeof(c->err_bufs[0]), "%s", msg ? msg : "");
	if (!c->fake_err)
		atomic_fetch_add(&forward_nfake, 1);
	__atomic_store_n(&c->err_xrc, xrc, __ATOMIC_RELAXED);
	__atomic_store_n(&c->err_msg, buf, __ATOMIC_RELEASE);
	__atomic_store_n(&c->fake_err, true, __ATOMIC_RELEASE);
}

void forward_clear_error(struct fwd_conn *c)
{
	if (!c->fake_err)
		return;
	__atomic_store_n(&c->fake_err, false, __ATOMIC_RELEASE);
	atomic_fetch_sub(&forward_nfake, 1);
}

static struct transport *fwd_transport_for(const char *endpoint)
{
	if (fwd_transport && strcmp(fwd_transport_ep, endpoint)) {
		if (fwd_transport_key_ok)
			pthread_setspecific(fwd_transport_key, NULL);
		transport_close(fwd_transport);
		fwd_transport = NULL;
	}
	if (!fwd_transport) {
		if (transport_open(&fwd_transport, endpoint))
			return NULL;
		snprintf(fwd_transport_ep, sizeof(fwd_transport_ep), "%s", endpoint);
		pthread_once(&fwd_transport_once, fwd_transport_key_create);
		if (fwd_transport_key_ok)
			pthread_setspecific(fwd_transport_key, fwd_transport);
	}
	return fwd_transport;
}

/* Sends msg[0..len) on t and waits up to timeout_ms for the reply, as transport_request()
 * does; with a secret, the request is sealed here, at each sending (so that a request sent
 * again is a new message, never a replay), and the reply must be sealed with it too.
 * Returns as transport_request(), and also -EACCES when the forwarder refused this
 * program's authentication (nothing was executed), or -EBADMSG for a reply that is not
 * authentic (dropped: as if no answer had come). */
static int fwd_exchange(struct transport *t, const void *msg, size_t len, void **reply,
			size_t *rlen, int timeout_ms, int *sent)
{
	unsigned char *sealed;
	size_t body = 0;
	int rc;

	if (fwd_config.key_unusable) {
		*reply = NULL;
		*rlen = 0;
		*sent = 0;
		return -EACCES;
	}
	if (!fwd_config.key.len)
		return transport_request(t, msg, len, reply, rlen, timeout_ms,
					 fwd_config.max_message, sent);
	sealed = malloc(len + AUTH_TRAILER_BYTES);
	if (!sealed)
		return -ENOMEM;
	memcpy(sealed, msg, len);
	rc = auth_seal(&fwd_config.key, msg, len, auth_now_ms(), sealed + len);
	if (!rc)
		rc = transport_request(t, sealed, len + AUTH_TRAILER_BYTES, reply, rlen, timeout_ms,
				       (size_t)fwd_config.max_message + AUTH_TRAILER_BYTES, sent);
	free(sealed);
	if (rc)
		return rc;
	rc = auth_open(&fwd_config.key, *reply, *rlen, auth_now_ms(), AUTH_DEFAULT_WINDOW_MS,
		       &body, NULL, NULL);
	if (rc) {
		struct wire_msg m;

		/* A forwarder that refuses the request answers unsealed: an ERROR, which
		 * can only make this write fail, never pass for an outcome. */
		if (!wire_decode(*reply, *rlen, fwd_config.max_message, &m)) {
			if (m.type == WIRE_ERROR) {
				log_warn("the forwarder refused this program's request: %.*s",
					 (int)m.u.error.message.n, m.u.error.message.p);
				rc = -EACCES;
			}
			wire_msg_free(&m);
		}
		if (rc != -EACCES)
			log_warn("a reply that is not authentic was dropped (%s)", strerror(-rc));
		free(*reply);
		*reply = NULL;
		*rlen = 0;
		return rc == -EACCES ? -EACCES : -EBADMSG;
	}
	*rlen = body;
	return 0;
}

/* Binds the cells of row r to s's row statement and steps it, so that every column_*
 * call is answered by SQLite itself, with its own type conversions. */
static int fwd_load_row(struct fwd_stmt *s, uint32_t r)
{
	sqlite3_stmt *rs = s->rows_stmt;

	real_sqlite.reset(rs);
	for (uint32_t i = 0; i < s->ncols; i++) {
		const struct wire_value *v = &s->cells[(size_t)r * s->ncols + i];
		int col = (int)i + 1;

		switch (v->type) {
		case WIRE_INTEGER:
			real_sqlite.bind_int64(rs, col, v->u.i);
			break;
		case WIRE_FLOAT:
			real_sqlite.bind_double(rs, col, v->u.f);
			break;
		case WIRE_TEXT:
			real_sqlite.bind_text64(rs, col, v->u.s.p, v->u.s.n, SQLITE_STATIC, SQLITE_UTF8);
			break;
		case WIRE_TEXT16:
			real_sqlite.bind_text64(rs, col, v->u.s.p, v->u.s.n, SQLITE_STATIC,
						WIRE_UTF16_NATIVE);
			break;
		case WIRE_BLOB:
			real_sqlite.bind_blob64(rs, col, v->u.s.p, v->u.s.n, SQLITE_STATIC);
			break;
		case WIRE_ZEROBLOB:
			real_sqlite.bind_zeroblob64(rs, col, v->u.zero);
			break;
		default:
			real_sqlite.bind_null(rs, col);
		}
	}
	return real_sqlite.step(rs) == SQLITE_ROW ? 0 : -EIO;
}

/* Prepares "SELECT ?1, ..., ?n" on a private in-memory connection for serving rows. */
static int fwd_rows_prepare(struct fwd_stmt *s)
{
	char *sql;
	size_t len = 16 + (size_t)s->ncols * 12;
	size_t o;
	int rc;

	if (!s->rows_db &&
	    real_sqlite.open_v2(":memory:", &s->rows_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return -ENOMEM;
	sql = malloc(len);
	if (!sql)
		return -ENOMEM;
	o = (size_t)snprintf(sql, len, "SELECT ");
	for (uint32_t i = 0; i < s->ncols; i++)
		o += (size_t)snprintf(sql + o, len - o, "%s?%u", i ? "," : "", i + 1);
	rc = real_sqlite.prepare_v2(s->rows_db, sql, -1, &s->rows_stmt, NULL);
	free(sql);
	return rc == SQLITE_OK ? 0 : -EIO;
}

int forward_next_row(struct fwd_stmt *s)
{
	if (s->state != FS_ROWS)
		return s->rc;
	if (++s->row < s->nrows && !fwd_load_row(s, s->row))
		return SQLITE_ROW;
	state_stmt_clear_result(s);
	s->state = FS_DONE;
	s->rc = SQLITE_DONE;
	return SQLITE_DONE;
}

/* Stores a RESULT on s and its connection; ep is the forwarder that answered. Returns
 * what step returns. Takes c->mu for the connection's fields only: SQLite's own calls on
 * the connection (which take its mutex) are made without it, since a program may hold that
 * mutex while it waits for c->mu in one of our hooks (sqlite3_db_mutex around a prepare). */
static int fwd_take_result(struct fwd_stmt *s, struct wire_msg *m, void *reply, const char *ep)
{
	struct wire_result *r = &m->u.result;
	struct fwd_conn *c = s->conn;
	char msg[1024];

	snprintf(msg, sizeof(msg), "%.*s", (int)r->errmsg.n, r->errmsg.p);
	pthread_mutex_lock(&c->mu);
	forward_set_error(c, r->xrc, msg);
	/* changes() is the count of the last INSERT/UPDATE/DELETE to complete, failed or not
	 * (a failed one leaves 0, as the primary reports) */
	if (s->dml) {
		c->fake_changes = true;
		c->changes = r->changes;
	}
	c->total_changes_delta += r->total_changes_delta;
	/* Read-your-writes owes the newest TXID this connection wrote, whichever thread's
	 * reply comes last; a TXID of another primary (or database) replaces it, since TXIDs
	 * of different primaries cannot be compared. */
	if (r->txid && (!c->ryw_txid || r->txid > c->ryw_txid || strcmp(c->ryw_primary, ep) ||
			strcmp(c->ryw_file, s->file))) {
		snprintf(c->ryw_file, sizeof(c->ryw_file), "%s", s->file);
		snprintf(c->ryw_primary, sizeof(c->ryw_primary), "%s", ep);
		__atomic_store_n(&c->ryw_txid, r->txid, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->mu);
	if (r->flags & WIRE_RESULT_ROWID)
		real_sqlite.set_last_insert_rowid(c->db, r->last_insert_rowid);
	/* the extended code: forward_rc() narrows it unless the program asked for extended
	 * result codes */
	s->rc = r->rc == SQLITE_DONE || r->rc == SQLITE_ROW ? r->rc : r->xrc;
	if (r->nrows && r->ncols) {
		s->ncols = r->ncols;
		s->nrows = r->nrows;
		s->cells = r->cells;
		r->cells = NULL;
		s->reply = reply;
		s->row = 0;
		if (!s->rows_stmt && fwd_rows_prepare(s)) {
			state_stmt_clear_result(s);
			return SQLITE_NOMEM;
		}
		s->state = FS_ROWS;
		atomic_fetch_add(&state_serving, 1);
		if (fwd_load_row(s, 0)) {
			state_stmt_clear_result(s);
			return SQLITE_NOMEM;
		}
		return SQLITE_ROW;
	}
	free(reply);
	s->state = FS_DONE;
	return forward_rc(c, s->rc);
}

static int fwd_fail(struct fwd_stmt *s, int xrc, const char *msg)
{
	pthread_mutex_lock(&s->conn->mu);
	forward_set_error(s->conn, xrc, msg);
	pthread_mutex_unlock(&s->conn->mu);
	s->state = FS_DONE;
	s->rc = xrc;
	log_warn("%s: %s", s->file, msg);
	return forward_rc(s->conn, xrc);
}

/* What became of one forward, for its trace. Filled on every path (a few stores), read
 * only when tracing. */
struct fwd_outcome {
	bool answered;            /* the primary's RESULT came back: */
	int xrc;                  /* ... its extended code, or SQLITE_DONE / SQLITE_ROW */
	int64_t changes;          /* ... the rows it changed (INSERT, UPDATE, DELETE) */
	enum trace_reason reason; /* not answered: why, as last seen */
	unsigned busy_retries;    /* the primary answered SQLITE_BUSY, asked again */
};

/* The statement's outcome from m, the primary's RESULT (taking reply, the buffer m was
 * decoded from): what forward_step() returns. */
static int fwd_answered(struct fwd_stmt *s, struct forward_ctx *fc, struct fwd_outcome *o,
			struct wire_msg *m, void *reply, const char *ep)
{
	const struct wire_result *r = &m->u.result;
	int result;

	o->answered = true;
	o->xrc = r->rc == SQLITE_DONE || r->rc == SQLITE_ROW ? r->rc : r->xrc;
	o->changes = s->dml ? r->changes : 0;
	fc->answered = true;
	fc->in_txn = (r->flags & WIRE_RESULT_IN_TXN) != 0;
	fc->not_begun = (r->flags & WIRE_RESULT_NOT_BEGUN) != 0;
	snprintf(fc->answered_by, sizeof(fc->answered_by), "%s", ep);
	result = fwd_take_result(s, m, reply, ep);
	wire_msg_free(m);
	return result;
}

/* Request id of s was sent and never answered, and this node may now be the primary:
 * returns the answer recorded with it on this node (it ran on a primary before), -1 when
 * there is none (it did not run: s runs here), or fails s with its outcome unknown when
 * the record cannot be read. */
static int fwd_answer_from_record(struct fwd_stmt *s, struct forward_ctx *fc,
				  struct fwd_outcome *o, uint64_t id, const char *ep)
{
	struct wire_msg m;
	void *reply = NULL;
	size_t len = 0;
	int rc = record_lookup(s->file, id, &reply, &len);

	if (rc == 0)
		return -1;
	if (rc == 1 && !wire_decode(reply, len, fwd_config.max_message, &m)) {
		if (m.type == WIRE_RESULT && m.u.result.request_id == id) {
			log_info("request %llu: answered from this node's record",
				 (unsigned long long)id);
			return fwd_answered(s, fc, o, &m, reply, ep);
		}
		wire_msg_free(&m);
	}
	free(reply);
	o->reason = TRACE_REASON_OUTCOME_UNKNOWN;
	return fwd_fail(s, SQLITE_IOERR,
			"litefs-fwd: the primary did not answer in time; the write may have been applied");
}

/* Milliseconds to wait before asking again after the primary answered SQLITE_BUSY for the
 * attempt-th time: SQLite's own busy handler's steps, so that a program's busy_timeout
 * means here what it means there. */
static int fwd_busy_delay_ms(int attempt)
{
	static const unsigned char delays[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 };

	return attempt < (int)sizeof(delays) ? delays[attempt] : 100;
}

uint64_t forward_new_id(void)
{
	return request_id_next();
}

/* Encodes req, with its request id, into buf (emptied first). Returns 0 or a negative
 * errno. */
static int fwd_encode(struct wire_exec *req, struct wire_buf *buf)
{
	buf->len = 0;
	return wire_encode_exec(buf, req, fwd_config.max_message);
}


/* forward_step(), its first request with id id; o says what became of it. */
static int fwd_step_run(struct fwd_stmt *s, const char *endpoint, struct forward_ctx *fc,
			uint64_t id, struct fwd_outcome *o)
{
	struct forward_ctx none = {0};
	struct wire_exec req = {0};
	struct wire_buf buf = {0};
	char ep[512];
	int64_t start = fwd_now_ms(), deadline = start + fwd_config.timeout_ms;
	bool unknown = false; /* a request was sent and never answered: it may have run */
	int64_t no_primary_since = 0; /* a forwarder said no primary is known, since then */
	int rc, result, busy_attempt = 0;

	if (!fc)
		fc = &none;
	events_follow_note_write(false);
	fc->in_txn = fc->not_begun = fc->answered = false;
	if (s->bind_failed) {
		o->reason = TRACE_REASON_OUT_OF_MEMORY;
		return fwd_fail(s, SQLITE_NOMEM, "litefs-fwd: out of memory recording a binding");
	}
	snprintf(ep, sizeof(ep), "%s", endpoint);
	req.busy_timeout_ms = s->conn->busy_timeout_ms;
	req.last_insert_rowid = real_sqlite.last_insert_rowid(s->conn->db);
	{
		int fk = 0, trig = 1;

		real_sqlite.db_config(s->conn->db, SQLITE_DBCONFIG_ENABLE_FKEY, -1, &fk);
		real_sqlite.db_config(s->conn->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, -1, &trig);
		req.conn_flags = (fk ? WIRE_CONN_FOREIGN_KEYS : 0) | (trig ? 0 : WIRE_CONN_NO_TRIGGERS);
	}
	req.db.p = s->file;
	req.db.n = (uint32_t)strlen(s->file);
	req.sql.p = s->remote ? s->remote->sql : real_sqlite.sql(s->stmt);
	req.sql.n = req.sql.p ? (uint32_t)strlen(req.sql.p) : 0;
	req.nparams = (uint32_t)s->nparams;
	req.params = s->params;
	req.session_id = fc->session_id;
	req.session_flags = fc->session_flags;
	req.snapshot_txid = fc->snapshot_txid;
	req.txn_timeout_ms = (uint32_t)fwd_config.txn_timeout_ms;
	req.prologue.p = fc->prologue;
	req.prologue.n = fc->prologue ? (uint32_t)strlen(fc->prologue) : 0;
	req.request_id = id;
	rc = fwd_encode(&req, &buf);
	if (rc) {
		o->reason = trace_reason_from_errno(rc);
		return fwd_fail(s, rc == -EMSGSIZE ? SQLITE_TOOBIG : SQLITE_NOMEM,
				rc == -EMSGSIZE ? "litefs-fwd: statement too large to forward"
						: "litefs-fwd: out of memory");
	}
	for (;;) {
		int64_t left = deadline - fwd_now_ms();
		struct transport *t = fwd_transport_for(ep);
		void *reply = NULL;
		size_t rlen = 0;
		int sent = 0;

		if (left <= 0)
			break;
		if (!t) {
			rc = -ENOMEM;
			o->reason = TRACE_REASON_OUT_OF_MEMORY;
			break;
		}
		rc = fwd_exchange(t, buf.p, buf.len, &reply, &rlen, (int)left, &sent);
		if (rc == -EACCES) {
			o->reason = fwd_config.key_unusable ? TRACE_REASON_SECRET_UNUSABLE
							    : TRACE_REASON_AUTH_REFUSED;
			wire_buf_free(&buf);
			return fwd_fail(s, SQLITE_AUTH,
					fwd_config.key_unusable ?
					"litefs-fwd: LITEFS_FWD_SECRET or LITEFS_FWD_SECRET_FILE "
					"cannot be used; nothing was sent" :
					"litefs-fwd: the forwarder refused this program's "
					"authentication (LITEFS_FWD_SECRET); nothing was executed");
		}
		if (rc != 0 && sent) {
			unknown = true;
			if (!(req.session_flags & WIRE_EXEC_REPEAT)) {
				/* the same id, flagged: wherever it lands, it is looked up first */
				req.session_flags |= WIRE_EXEC_REPEAT;
				buf.len = 0;
				if (wire_encode_exec(&buf, &req, fwd_config.max_message))
					break;
			}
		}
		if (rc == 0) {
			struct wire_msg m;

			rc = wire_decode(reply, rlen, fwd_config.max_message, &m);
			if (rc) {
				free(reply);
				log_warn("undecodable reply from %s: %d", ep, rc);
				o->reason = TRACE_REASON_PROTOCOL_ERROR;
				continue;
			}
			if (m.type == WIRE_RESULT && m.u.result.request_id == req.request_id) {
				const struct wire_result *r = &m.u.result;
				int waited = (int)(fwd_now_ms() - start);
				int delay = fwd_busy_delay_ms(busy_attempt);

				/* The primary never waits for a lock: the program's busy timeout
				 * is spent here, asking again. Nothing ran (a statement that
				 * cannot get its lock has no effect), so a new id is taken. */
				if ((r->rc & 0xff) == SQLITE_BUSY && r->xrc != SQLITE_BUSY_SNAPSHOT &&
				    waited + delay <= s->conn->busy_timeout_ms) {
					wire_msg_free(&m);
					free(reply);
					usleep((useconds_t)delay * 1000);
					busy_attempt++;
					o->busy_retries++;
					unknown = false;
					req.session_flags &= ~WIRE_EXEC_REPEAT;
					deadline = fwd_now_ms() + fwd_config.timeout_ms;
					req.request_id = request_id_next();
					if (fwd_encode(&req, &buf)) {
						o->reason = TRACE_REASON_OUT_OF_MEMORY;
						break;
					}
					continue;
				}
				result = fwd_answered(s, fc, o, &m, reply, ep);
				wire_buf_free(&buf);
				return result;
			}
			if (m.type == WIRE_NOT_PRIMARY) {
				struct role_view v;
				char named[256] = "";

				events_follow_note_write(true);
				o->reason = TRACE_REASON_NO_PRIMARY;
				if (m.u.not_primary.primary.n < sizeof(named))
					memcpy(named, m.u.not_primary.primary.p,
					       m.u.not_primary.primary.n);
				wire_msg_free(&m);
				free(reply);
				role_get(&v, true);
				tracking_resolve(&v, s->file);
				if (named[0] && !role_endpoint_for(named, ep, sizeof(ep))) {
					/* that forwarder knows the primary, perhaps before this node */
					no_primary_since = 0;
				} else if (!v.replica) {
					/* No primary named here: this node may be the new primary.
					 * Run here; if LiteFS refuses, the write waits for one. A
					 * send that was never answered may have run on the primary
					 * before, whose transactions this node holds now: its record
					 * says so first. */
					wire_buf_free(&buf);
					return unknown ? fwd_answer_from_record(s, fc, o, req.request_id,
									      ep) : -1;
				} else if (!no_primary_since) {
					no_primary_since = fwd_now_ms();
					snprintf(ep, sizeof(ep), "%s", v.endpoint);
				} else if (fwd_now_ms() - no_primary_since >= fwd_config.primary_wait_ms) {
					/* the node named as primary is not, and names none */
					wire_buf_free(&buf);
					return fwd_fail(s, SQLITE_BUSY,
							"litefs-fwd: no primary is known; nothing was "
							"sent");
				} else {
					snprintf(ep, sizeof(ep), "%s", v.endpoint);
				}
				usleep(20000);
				continue;
			}
			if (m.type == WIRE_ERROR && m.u.error.code == EINPROGRESS) {
				/* It may have run there: the same id, flagged, until the record
				 * answers (or the time is up: outcome unknown). */
				o->reason = TRACE_REASON_OUTCOME_UNKNOWN;
				wire_msg_free(&m);
				free(reply);
				unknown = true;
				if (!(req.session_flags & WIRE_EXEC_REPEAT)) {
					req.session_flags |= WIRE_EXEC_REPEAT;
					buf.len = 0;
					if (wire_encode_exec(&buf, &req, fwd_config.max_message))
						break;
				}
				usleep(50000);
				continue;
			}
			if (m.type == WIRE_ERROR &&
			    (m.u.error.code == ESHUTDOWN || m.u.error.code == EAGAIN)) {
				/* That forwarder is stopping, or cannot read its record of
				 * requests yet, and ran nothing: ask again, the same request (it
				 * may be back, or another node may have become the primary). */
				struct role_view v;

				o->reason = TRACE_REASON_FORWARDER_STOPPING;
				wire_msg_free(&m);
				free(reply);
				role_get(&v, true);
				tracking_resolve(&v, s->file);
				if (v.replica)
					snprintf(ep, sizeof(ep), "%s", v.endpoint);
				usleep(50000);
				continue;
			}
			if (m.type == WIRE_ERROR) {
				char msg[600];
				int32_t code;

				snprintf(msg, sizeof(msg), "litefs-fwd: the forwarder refused the statement: %.*s",
					 (int)m.u.error.message.n, m.u.error.message.p);
				code = m.u.error.code;
				o->reason = code == EACCES ? TRACE_REASON_AUTH_REFUSED : TRACE_REASON_REFUSED;
				wire_msg_free(&m);
				free(reply);
				wire_buf_free(&buf);
				/* EACCES: refused by authentication (this program holds no secret
				 * while the forwarder does) */
				return fwd_fail(s, code == EACCES ? SQLITE_AUTH : SQLITE_ERROR, msg);
			}
			wire_msg_free(&m);
			free(reply);
			o->reason = TRACE_REASON_PROTOCOL_ERROR;
			continue;
		}
		log_info("forward to %s: %s (%s)", ep, strerror(-rc), sent ? "sent" : "not sent");
		o->reason = trace_reason_from_errno(rc);
		events_follow_note_write(true);
		if (!unknown) {
			struct role_view v;

			role_get(&v, true);
			tracking_resolve(&v, s->file);
			if (v.replica)
				snprintf(ep, sizeof(ep), "%s", v.endpoint);
		}
		usleep(50000);
	}
	wire_buf_free(&buf);
	if (unknown) {
		o->reason = TRACE_REASON_OUTCOME_UNKNOWN;
		return fwd_fail(s, SQLITE_IOERR,
				"litefs-fwd: the primary did not answer in time; the write may have been applied");
	}
	if (o->reason == TRACE_REASON_NONE)
		o->reason = TRACE_REASON_TIMEOUT;
	return fwd_fail(s, SQLITE_BUSY, "litefs-fwd: no primary reachable; nothing was sent");
}

/* forward_step() with its start and end traced. */
static int fwd_step_traced(struct fwd_stmt *s, const char *endpoint, struct forward_ctx *fc,
			   uint64_t id)
{
	struct fwd_outcome o = {0};
	struct trace_span sp;
	const char *sql = s->remote ? s->remote->sql : real_sqlite.sql(s->stmt);
	int rc;

	trace_forward_start(&sp, s->file, trace_kind(s->kind == FK_TXN, s->txn_op, sql), id,
			    fc ? fc->session_id : 0);
	rc = fwd_step_run(s, endpoint, fc, id, &o);
	if (rc == -1)
		trace_forward_exception(&sp, TRACE_REASON_NOW_PRIMARY, -1, o.busy_retries);
	else if (o.answered)
		trace_forward_stop(&sp, o.xrc, o.changes, o.busy_retries);
	else
		trace_forward_exception(&sp, o.reason, s->rc, o.busy_retries);
	return rc;
}

int forward_step(struct fwd_stmt *s, const char *endpoint, struct forward_ctx *fc)
{
	struct fwd_outcome o = {0};
	uint64_t id = request_id_next();

	if (__builtin_expect(!trace_enabled, 1))
		return fwd_step_run(s, endpoint, fc, id, &o);
	return fwd_step_traced(s, endpoint, fc, id);
}

/* Sends sql[0..len) with flags in c's session to endpoint, once, as request id, and waits
 * up to timeout_ms for the answer: *reply (freed by the caller) of *rlen bytes. Returns 0
 * or a negative errno (*reply NULL). */
static int fwd_session_exchange(struct fwd_conn *c, const char *endpoint, const char *sql,
				size_t len, uint32_t flags, int timeout_ms, uint64_t id,
				void **reply, size_t *rlen)
{
	struct wire_exec req = {0};
	struct wire_buf buf = {0};
	struct transport *t = fwd_transport_for(endpoint);
	int sent = 0, rc;

	*reply = NULL;
	req.db.p = c->session_file;
	req.db.n = (uint32_t)strlen(c->session_file);
	req.sql.p = sql;
	req.sql.n = (uint32_t)len;
	req.session_id = c->session_id;
	req.session_flags = flags;
	req.txn_timeout_ms = (uint32_t)fwd_config.txn_timeout_ms;
	req.request_id = id;
	if (!t)
		return -ENOMEM;
	rc = fwd_encode(&req, &buf);
	if (!rc)
		rc = fwd_exchange(t, buf.p, buf.len, reply, rlen, timeout_ms, &sent);
	wire_buf_free(&buf);
	return rc;
}

int forward_describe(struct fwd_conn *c, const char *endpoint, const char *sql, size_t len,
		     struct wire_msg *m, void **reply)
{
	size_t rlen = 0;
	uint64_t id = request_id_next();
	int rc = fwd_session_exchange(c, endpoint, sql, len, WIRE_SESSION_DESCRIBE,
				      fwd_config.timeout_ms, id, reply, &rlen);

	if (!rc)
		rc = wire_decode(*reply, rlen, fwd_config.max_message, m);
	if (!rc && (m->type != WIRE_DESCRIPTION || m->u.description.request_id != id)) {
		wire_msg_free(m);
		rc = -EPROTO;
	}
	if (rc) {
		free(*reply);
		*reply = NULL;
	}
	return rc;
}

/* The end of the trace of sp, the rollback of a session at close: rc and reply[0..rlen)
 * as fwd_session_exchange() gave them. */
static void fwd_trace_abandon(const struct trace_span *sp, int rc, const void *reply,
			      size_t rlen)
{
	struct wire_msg m;

	if (rc) {
		trace_forward_exception(sp, trace_reason_from_errno(rc), -1, 0);
		return;
	}
	if (wire_decode(reply, rlen, fwd_config.max_message, &m)) {
		trace_forward_exception(sp, TRACE_REASON_PROTOCOL_ERROR, -1, 0);
		return;
	}
	if (m.type == WIRE_RESULT && m.u.result.request_id == sp->request_id)
		trace_forward_stop(sp, m.u.result.rc == SQLITE_DONE ? SQLITE_DONE : m.u.result.xrc,
				   0, 0);
	else if (m.type == WIRE_ERROR)
		trace_forward_exception(sp, m.u.error.code == EACCES ? TRACE_REASON_AUTH_REFUSED
								     : TRACE_REASON_REFUSED, -1, 0);
	else
		trace_forward_exception(sp, TRACE_REASON_PROTOCOL_ERROR, -1, 0);
	wire_msg_free(&m);
}

void forward_session_abandon(struct fwd_conn *c, const char *endpoint)
{
	static const char rollback[] = "ROLLBACK";
	uint64_t id = request_id_next();
	struct trace_span sp = {0};
	void *reply = NULL;
	size_t rlen = 0;
	int rc;

	if (__builtin_expect(trace_enabled, 0))
		trace_forward_start(&sp, c->session_file, "rollback", id,
				    __atomic_load_n(&c->session_id, __ATOMIC_RELAXED));
	rc = fwd_session_exchange(c, endpoint, rollback, sizeof(rollback) - 1, 0,
				  FWD_ABANDON_TIMEOUT_MS, id, &reply, &rlen);
	if (rc)
		log_info("%s: the open transaction could not be rolled back on the primary; it "
			 "will be when it times out", c->session_file);
	if (__builtin_expect(trace_enabled, 0))
		fwd_trace_abandon(&sp, rc, reply, rlen);
	free(reply);
}

/* The -pos descriptor of each database, kept open: LiteFS serves every open as a round trip.
 * A cached descriptor is used only while it is still that file (ownfd.h): once the program
 * has closed it, and perhaps put a file of its own on its number, it is forgotten, never
 * closed, and the file opened again. Cached descriptors are never closed by us at all, so
 * no thread can find the number it is reading through closed under it (and reused) by
 * another thread of ours. A database beyond the FWD_POS_SLOTS cached is read through a
 * descriptor of its own, closed after the read. fwd_pos_mu guards the table and is held for
 * no system call (a fork while it is held would leave the child without -pos). */
#define FWD_POS_SLOTS 64

static pthread_mutex_t fwd_pos_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char file[256];         /* "" for a free slot */
	struct ownfd pos;
} fwd_pos[FWD_POS_SLOTS];

/* The cached descriptor of file's -pos in *pos, or OWNFD_NONE. */
static void fwd_pos_cached(const char *file, struct ownfd *pos)
{
	*pos = OWNFD_NONE;
	pthread_mutex_lock(&fwd_pos_mu);
	for (int i = 0; i < FWD_POS_SLOTS; i++) {
		if (!strcmp(fwd_pos[i].file, file)) {
			*pos = fwd_pos[i].pos;
			break;
		}
	}
	pthread_mutex_unlock(&fwd_pos_mu);
}

/* Forgets file's cached descriptor when it is still stale (the record *stale the caller
 * found no longer ours); the descriptor is not closed. */
static void fwd_pos_forget(const char *file, const struct ownfd *stale)
{
	pthread_mutex_lock(&fwd_pos_mu);
	for (int i = 0; i < FWD_POS_SLOTS; i++) {
		if (!strcmp(fwd_pos[i].file, file) && fwd_pos[i].pos.fd == stale->fd &&
		    fwd_pos[i].pos.dev == stale->dev && fwd_pos[i].pos.ino == stale->ino) {
			fwd_pos[i].file[0] = '\0';
			fwd_pos[i].pos = OWNFD_NONE;
			break;
		}
	}
	pthread_mutex_unlock(&fwd_pos_mu);
}

/* Caches o as file's descriptor if file has none and a slot is free. Returns whether it
 * was cached (else the caller closes it after use). */
static bool fwd_pos_keep(const char *file, const struct ownfd *o)
{
	int slot = -1;

	pthread_mutex_lock(&fwd_pos_mu);
	for (int i = 0; i < FWD_POS_SLOTS; i++) {
		if (!strcmp(fwd_pos[i].file, file)) {
			slot = -1;   /* another thread cached one meanwhile */
			break;
		}
		if (slot < 0 && !fwd_pos[i].file[0])
			slot = i;
	}
	if (slot >= 0) {
		snprintf(fwd_pos[slot].file, sizeof(fwd_pos[slot].file), "%s", file);
		fwd_pos[slot].pos = *o;
	}
	pthread_mutex_unlock(&fwd_pos_mu);
	return slot >= 0;
}

/* A descriptor of file's -pos that is ours, in *pos: the cached one, or a new one (cached
 * when there is room: *cached says whether; if not, the caller closes it). Returns 0 or a
 * negative errno. */
static int fwd_pos_get(const char *file, struct ownfd *pos, bool *cached)
{
	char path[PATH_MAX + 300];
	int fd, rc;

	fwd_pos_cached(file, pos);
	if (pos->fd >= 0) {
		if (ownfd_ours(pos)) {
			*cached = true;
			return 0;
		}
		fwd_pos_forget(file, pos);
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s-pos", fwd_config.mount, file) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	rc = ownfd_take(pos, fd);
	if (rc) {
		close(fd);
		return rc;
	}
	*cached = fwd_pos_keep(file, pos);
	return 0;
}

/* The TXID of a -pos file's text, "%016x/%016x\n" (TXID, '/', checksum); 0 for anything
 * else. */
static uint64_t fwd_pos_parse(const char *buf, size_t len)
{
	uint64_t txid = 0;

	if (len < 17 || buf[16] != '/')
		return 0;
	for (int i = 0; i < 16; i++) {
		char ch = buf[i];
		int d = ch >= '0' && ch <= '9' ? ch - '0' :
			ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
			ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;

		if (d < 0)
			return 0;
		txid = txid << 4 | (uint64_t)d;
	}
	return txid;
}

uint64_t forward_local_txid(const char *file)
{
	int saved = errno;
	struct ownfd pos;
	bool cached = false;
	uint64_t txid = 0;
	char buf[34];
	ssize_t n;

	if (fwd_pos_get(file, &pos, &cached))
		goto out;
	n = pread(pos.fd, buf, sizeof(buf), 0);
	/* still ours after the read: what was read is the file's */
	if (n == (ssize_t)sizeof(buf) && ownfd_ours(&pos))
		txid = fwd_pos_parse(buf, (size_t)n);
	if (!cached)
		ownfd_close(&pos);
out:
	errno = saved;
	return txid;
}

/* Whether c holds a read transaction: an open transaction that has read, or a statement
 * still stepping (another thread's, on a shared connection). An SQLite call: c->mu must not
 * be held. */
static bool fwd_conn_reading(struct fwd_conn *c)
{
	if (real_sqlite.txn_state)
		return real_sqlite.txn_state(c->db, NULL) != SQLITE_TXN_NONE;
	return __atomic_load_n(&c->snapshot_taken, __ATOMIC_RELAXED);
}

void forward_ryw_wait(struct fwd_conn *c)
{
	char file[sizeof(c->ryw_file)], primary[sizeof(c->ryw_primary)];
	int64_t deadline;
	uint64_t txid;
	int saved = errno, rc;

	if (!__atomic_load_n(&c->ryw_txid, __ATOMIC_ACQUIRE))
		return;
	/* A connection that holds a read transaction keeps reading what it read: waiting
	 * could not change that, and its read lock may be what holds LiteFS back. The wait is
	 * owed until the connection lets go of it. (On a connection shared by threads,
	 * another thread's statement may be what holds it: read-your-writes cannot hold
	 * there until that statement ends.) */
	if (fwd_conn_reading(c))
		goto out;
	pthread_mutex_lock(&c->mu);
	txid = c->ryw_txid;
	memcpy(file, c->ryw_file, sizeof(file));
	memcpy(primary, c->ryw_primary, sizeof(primary));
	pthread_mutex_unlock(&c->mu);
	if (!txid)
		goto out;
	deadline = fwd_now_ms() + fwd_config.ryw_timeout_ms;
	while (forward_local_txid(file) < txid) {
		struct role_view v;

		/* After a failover TXIDs start over from what the new primary had: a TXID of
		 * the old one may never come. The wait ends with the primary that wrote. */
		role_get(&v, false);
		if (!v.replica || strcmp(v.endpoint, primary)) {
			log_info("%s: the primary changed; not waiting for TXID %llu of %s", file,
				 (unsigned long long)txid, primary);
			break;
		}
		if (fwd_now_ms() >= deadline) {
			log_warn("%s: the replica did not reach TXID %llu within %d ms", file,
				 (unsigned long long)txid, fwd_config.ryw_timeout_ms);
			break;
		}
		/* the event stream's tx events wake the wait; without one, -pos is polled */
		rc = events_wait_tx(file, txid, 50);
		if (rc == -ENOTCONN || rc == 0)
			usleep(rc == 0 ? 50 : 200);
	}
	/* Paid: unless a newer write of the connection came meanwhile (another thread's),
	 * which is owed in its turn. */
	pthread_mutex_lock(&c->mu);
	if (c->ryw_txid == txid && !strcmp(c->ryw_file, file) && !strcmp(c->ryw_primary, primary))
		__atomic_store_n(&c->ryw_txid, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->mu);
out:
	errno = saved;
}
