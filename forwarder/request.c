/* One request, from bytes received to bytes to send. The order of the checks matters:
 * nothing about a request that is not well formed reaches the file system, and a repeat
 * of an executed request is answered from the record before the role is looked at, since
 * it was executed whatever this node is now. */
#include "request.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbname.h"
#include "litefs_files.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "role.h"
#include "session.h"
#include "version.h"

static uint64_t request_fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A hash of what req asks for, to notice a request id reused for another request (a REQ
 * resend is the same message byte for byte). Database, statement, the message's length
 * and the parameter types: cheap even for a message of hundreds of MiB. */
static uint64_t request_fingerprint(const struct wire_exec *req, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint64_t n = len;

	h = request_fnv(h, &n, sizeof(n));
	h = request_fnv(h, req->db.p, req->db.n);
	h = request_fnv(h, "\0", 1);
	h = request_fnv(h, req->sql.p, req->sql.n);
	h = request_fnv(h, &req->nparams, sizeof(req->nparams));
	for (uint32_t i = 0; i < req->nparams; i++)
		h = request_fnv(h, &req->params[i].type, 1);
	return h;
}

/* Maps a wire_decode() failure to the ERROR reply that tells the client. */
static int request_reply_undecodable(const struct fwd_request_ctx *c, const void *msg, size_t len,
				     int rc, struct wire_buf *out)
{
	uint64_t id = wire_peek_request_id(msg, len);

	switch (rc) {
	case -EPROTONOSUPPORT:
		return fwd_reply_error(out, c->max_message, id, EPROTONOSUPPORT,
				       "unsupported wire version %u (this forwarder speaks %u)",
				       len ? ((const uint8_t *)msg)[0] : 0u, WIRE_VERSION);
	case -EMSGSIZE:
		return fwd_reply_error(out, c->max_message, id, EMSGSIZE,
				       "request of %zu bytes exceeds %zu", len, c->max_message);
	case -ENOMEM:
		return fwd_reply_error(out, c->max_message, id, ENOMEM,
				       "out of memory decoding the request");
	default:
		return fwd_reply_error(out, c->max_message, id, EBADMSG, "malformed request");
	}
}

/* The reply of a node that does not execute, for role (not PRIMARY). No mount is the
 * state of a node whose LiteFS is stopping or starting: the client asks again (EAGAIN)
 * until its timeout. Returns as fwd_reply_error(). */
static int request_refuse(const struct fwd_request_ctx *c, const struct wire_exec *req,
			  const struct fwd_role_info *role, struct wire_buf *out)
{
	if (role->role == FWD_ROLE_NO_MOUNT)
		return fwd_reply_error(out, c->max_message, req->request_id, EAGAIN,
				       "no LiteFS mount at %s; nothing was executed", c->mount);
	return fwd_reply_not_primary(out, c->max_message, req->request_id, role->primary);
}

/* Whether the reply at out[start..] tells the client to ask again: EAGAIN (an ERROR:
 * nothing was executed), EINPROGRESS (it may have run: ask again flagged as a repeat), or
 * 0 for any other reply. */
static int request_asks_again(const struct wire_buf *out, size_t start)
{
	uint8_t type;
	int32_t code;

	if (wire_peek_code(out->p + start, out->len - start, &type, &code) == 0 &&
	    type == WIRE_ERROR && (code == EAGAIN || code == EINPROGRESS))
		return code;
	return 0;
}

/* Answers a well-formed, claimed EXEC by the role of this node. *executed is set when the
 * statement ran and its outcome stands. Returns 0 or a negative errno (no reply made).
 *
 * The role is read from the mount only when it matters. A node believed to be the primary
 * executes at once; a statement that then wrote and succeeded needs no check, since
 * LiteFS lets only the primary write. One that failed, or changed nothing (an UPDATE that
 * matched no row, say), could have run on a node demoted a moment ago, where the data may
 * be behind the new primary's: its outcome stands only if the node is still the primary
 * when it is read again. Otherwise nothing happened here, and the client is sent to the
 * primary. A node believed to be a replica looks again before it refuses. */
static int request_run(const struct fwd_request_ctx *c, const struct wire_exec *req,
		       struct wire_buf *out, bool *executed)
{
	struct fwd_role_info role;
	size_t start = out->len;
	bool wrote = false, refused = false;
	int rc;

	*executed = false;
	/* A repeat follows a failure that may have been this node's demotion (an I/O error
	 * at commit): the role is read afresh, so that it goes to the new primary. */
	rc = fwd_role_get(c->role, (req->session_flags & WIRE_EXEC_REPEAT) != 0, &role);
	if (!rc && role.role != FWD_ROLE_PRIMARY)
		rc = fwd_role_get(c->role, true, &role);
	if (rc)
		return fwd_reply_error(out, c->max_message, req->request_id, EAGAIN,
				       "cannot tell whether this node is the primary (%s); "
				       "nothing was executed", strerror(-rc));
	if (role.role != FWD_ROLE_PRIMARY)
		return request_refuse(c, req, &role, out);

	rc = fwd_exec_run(c->exec, req, c->max_message, out, executed, &wrote, &refused);
	if (!rc && request_asks_again(out, start) == EINPROGRESS)
		return 0;  /* it may have run here: whatever the role, asked again as a repeat */
	if (refused) {
		/* LiteFS turned the write away: this node is not the primary, even if it
		 * says so a moment longer (a primary being demoted stops writes first). */
		if (fwd_role_get(c->role, true, &role) || role.role == FWD_ROLE_PRIMARY) {
			role.role = FWD_ROLE_REPLICA;
			role.primary[0] = '\0';
		}
	} else if (wrote || fwd_role_get(c->role, true, &role) || role.role == FWD_ROLE_PRIMARY) {
		return rc;
	}
	fwd_log_info("request %llu: this node is no longer the primary; outcome discarded",
		     (unsigned long long)req->request_id);
	out->len = start;
	*executed = false;
	return request_refuse(c, req, &role, out);
}

/* Answers a claimed EXEC of a session (req->session_id set). A transaction's first request
 * reads the role afresh, once for the whole transaction: its statements then run on the
 * node that took the write lock, and a node demoted meanwhile cannot commit them (LiteFS
 * refuses), which the program hears at COMMIT. *executed as for request_run(). */
static int request_run_session(const struct fwd_request_ctx *c, const struct wire_exec *req,
			       struct wire_buf *out, bool *executed)
{
	struct fwd_exec_report rep = { 0 };
	struct fwd_exec_conn *conn = NULL;
	struct fwd_role_info role;
	struct fwd_session *s;
	uint64_t id = req->request_id;
	size_t start;
	int rc;

	*executed = false;
	if ((req->session_flags & (WIRE_SESSION_BEGIN | WIRE_EXEC_REPEAT)) ==
	    (WIRE_SESSION_BEGIN | WIRE_EXEC_REPEAT) &&
	    !fwd_session_acquire(c->sessions, req->session_id, &s)) {
		/* the transaction's first statement, whose answer was lost: it began */
		rc = fwd_session_replay(s, id, out);
		/* kept when answered; otherwise its outcome is unknown: rolled back */
		fwd_session_release(c->sessions, s, rc != 1);
		if (rc == 1)
			fwd_metrics_note_repeat();
		if (rc)
			return rc == 1 ? 0 : rc;
		return fwd_reply_result(out, c->max_message, id, SQLITE_ABORT_ROLLBACK, 0,
					"litefs-fwd: the transaction's first statement was asked "
					"again and cannot be answered; it is rolled back");
	}
	if (req->session_flags & WIRE_SESSION_BEGIN) {
		rc = fwd_role_get(c->role, true, &role);
		if (rc)
			return fwd_reply_error(out, c->max_message, id, EAGAIN,
					       "cannot tell whether this node is the primary (%s); "
					       "nothing was executed", strerror(-rc));
		if (role.role != FWD_ROLE_PRIMARY)
			return request_refuse(c, req, &role, out);
		rc = fwd_session_reserve(c->sessions, req->session_id,
					 req->txn_timeout_ms ? req->txn_timeout_ms :
					 FWD_DEFAULT_TXN_TIMEOUT_MS, &s);
		if (rc == -EBUSY)
			return fwd_reply_result(out, c->max_message, id, SQLITE_BUSY,
						WIRE_RESULT_NOT_BEGUN,
						"litefs-fwd: too many open transactions on the primary");
		if (rc)
			return fwd_reply_error(out, c->max_message, id, -rc,
					       "cannot open session %llu: %s",
					       (unsigned long long)req->session_id, strerror(-rc));
	} else {
		rc = fwd_session_acquire(c->sessions, req->session_id, &s);
		/* A COMMIT asked again whose session is gone here: it may have committed. */
		if (rc && (req->session_flags & WIRE_EXEC_REPEAT)) {
			int found = fwd_exec_lookup(c->exec, req, out);

			if (found == 1) {
				fwd_metrics_note_repeat();
				return 0;
			}
			if (found == -EAGAIN)
				return fwd_reply_error(out, c->max_message, id, EAGAIN,
						       "the record of executed requests cannot "
						       "be read now; nothing was executed");
		}
		if (rc == -ETIMEDOUT)
			return fwd_reply_result(out, c->max_message, id, SQLITE_ABORT_ROLLBACK, 0,
						"litefs-fwd: the transaction was rolled back on the "
						"primary: it stayed idle for longer than its timeout "
						"(LITEFS_FWD_TXN_TIMEOUT_MS)");
		if (rc)
			return fwd_reply_result(out, c->max_message, id, SQLITE_ABORT_ROLLBACK, 0,
						"litefs-fwd: the primary does not know this "
						"transaction (its forwarder restarted, or another node "
						"became the primary): it was rolled back");
		conn = fwd_session_conn(s);
		if (req->session_flags & WIRE_EXEC_REPEAT) {
			/* its answer was lost: the same answer, never a second run */
			rc = fwd_session_replay(s, id, out);
			if (rc) {
				fwd_session_release(c->sessions, s, false);
				if (rc == 1)
					fwd_metrics_note_repeat();
				return rc == 1 ? 0 : rc;
			}
		}
		if (req->session_flags & WIRE_SESSION_DESCRIBE) {
			rc = fwd_exec_describe(conn, req, c->max_message, out);
			fwd_session_release(c->sessions, s, false);
			return rc;
		}
	}
	start = out->len;
	rc = fwd_exec_run_session(c->exec, &conn, req, c->max_message, out, &rep);
	if (req->session_flags & WIRE_SESSION_BEGIN)
		fwd_session_set_conn(s, conn);
	if (!rc && rep.in_txn)
		fwd_session_note_reply(s, id, out->p + start, out->len - start);
	fwd_session_release(c->sessions, s, !rep.in_txn);
	*executed = rep.executed;
	return rc;
}

/* Milliseconds this process has been running: its start time in clock ticks since boot
 * (field 22 of /proc/self/stat) against CLOCK_BOOTTIME. 0 when it cannot be told. */
static uint64_t request_uptime_ms(void)
{
	char buf[1024], *p;
	unsigned long long start;
	struct timespec now;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n;
	int64_t ms;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after the command name, which may hold spaces and parentheses: field 3 on */
	p = strrchr(buf, ')');
	if (!p || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
		   "%*d %*d %*d %llu", &start) != 1)
		return 0;
	ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
	     (int64_t)(start * 1000 / (unsigned long long)hz);
	return ms > 0 ? (uint64_t)ms : 0;
}

/* Answers a PING (a health check: nothing executed, nothing recorded) with a PONG: the
 * role read afresh, this forwarder's version, uptime and clock, and with
 * WIRE_PING_DATABASES the TXID of each database of the mount. Returns 0, -ENOMEM, or
 * -EMSGSIZE (out unchanged). */
static int request_pong(const struct fwd_request_ctx *c, const struct wire_ping *ping,
			struct wire_buf *out)
{
	const size_t max_dbs = 4096; /* beyond, the first ones by name */
	struct wire_pong pong = { .request_id = ping->request_id };
	struct litefs_db *dbs = NULL;
	struct fwd_role_info role;
	struct timespec now;
	bool truncated;
	size_t n = 0;
	int rc;

	if (fwd_role_get(c->role, true, &role)) {
		pong.role = WIRE_ROLE_UNKNOWN;
	} else {
		pong.role = role.role == FWD_ROLE_PRIMARY ? WIRE_ROLE_PRIMARY :
			    role.role == FWD_ROLE_REPLICA ? WIRE_ROLE_REPLICA : WIRE_ROLE_NO_MOUNT;
		if (role.role == FWD_ROLE_REPLICA)
			pong.primary = (struct wire_str){ role.primary,
							  (uint32_t)strlen(role.primary) };
	}
	pong.version = (struct wire_str){ LITEFS_FWD_VERSION, sizeof(LITEFS_FWD_VERSION) - 1 };
	pong.uptime_ms = request_uptime_ms();
	clock_gettime(CLOCK_REALTIME, &now);
	pong.clock_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	if ((ping->flags & WIRE_PING_DATABASES) && pong.role != WIRE_ROLE_NO_MOUNT &&
	    litefs_dbs_list(c->mount, max_dbs, &dbs, &n, &truncated) == 0 && n) {
		pong.dbs = calloc(n, sizeof(*pong.dbs));
		if (!pong.dbs) {
			free(dbs);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++)
			pong.dbs[i] = (struct wire_pong_db){
				.name = { dbs[i].name, (uint32_t)strlen(dbs[i].name) },
				.txid = dbs[i].pos_rc ? 0 : dbs[i].txid,
			};
		pong.ndbs = (uint32_t)n;
	}
	rc = wire_encode_pong(out, &pong, c->max_message);
	free(pong.dbs);
	free(dbs);
	return rc;
}

int fwd_request_handle(const struct fwd_request_ctx *c, const void *msg, size_t len,
		       struct wire_buf *out)
{
	struct fwd_dedup_reply *hit = NULL;
	const struct wire_exec *req;
	struct wire_msg m;
	size_t start = out->len;
	bool executed = false;
	uint64_t id;
	int rc;

	rc = wire_decode(msg, len, c->max_message, &m);
	if (rc)
		return request_reply_undecodable(c, msg, len, rc, out);
	req = &m.u.exec;
	id = req->request_id;
	if (m.type == WIRE_PING) {
		rc = request_pong(c, &m.u.ping, out);
		if (rc == -EMSGSIZE)
			rc = fwd_reply_error(out, c->max_message, m.u.ping.request_id, EMSGSIZE,
					     "the answer to the health check exceeds %zu bytes",
					     c->max_message);
		goto out;
	}
	if (m.type != WIRE_EXEC) {
		rc = fwd_reply_error(out, c->max_message, wire_peek_request_id(msg, len), EBADMSG,
				     "not an EXEC request (type %u)", m.type);
		goto out;
	}
	if (id == 0) {
		rc = fwd_reply_error(out, c->max_message, 0, EINVAL, "request id 0");
		goto out;
	}
	if (fwd_dbname_check(req->db.p, req->db.n)) {
		rc = fwd_reply_error(out, c->max_message, id, EINVAL,
				     "invalid database name: a plain file name in the mount "
				     "is needed");
		goto out;
	}

	rc = fwd_dedup_claim(c->dedup, id, request_fingerprint(req, len), &hit);
	if (rc == -EEXIST) {
		fwd_log_warn("request %llu: id reused for another request",
			     (unsigned long long)id);
		rc = fwd_reply_error(out, c->max_message, id, EEXIST,
				     "request id %llu was used for another request",
				     (unsigned long long)id);
		goto out;
	}
	if (rc) {
		rc = fwd_reply_error(out, c->max_message, id, -rc, "cannot record the request");
		goto out;
	}
	if (hit) {
		fwd_log_debug("request %llu: repeat, answered from the record",
			      (unsigned long long)id);
		fwd_metrics_note_repeat();
		rc = wire_buf_append(out, hit->bytes, hit->len);
		fwd_dedup_release(c->dedup, hit);
		goto out;
	}

	if (req->session_id)
		rc = request_run_session(c, req, out, &executed);
	else
		rc = request_run(c, req, out, &executed);
	if (rc && !executed && out->len == start)
		rc = fwd_reply_error(out, c->max_message, id, -rc, "cannot execute: %s",
				     strerror(-rc));
	if (!rc && executed) {
		if (fwd_dedup_finish(c->dedup, id, out->p + start, out->len - start))
			fwd_log_error("request %llu: out of memory recording the reply; a "
				      "repeat would execute again", (unsigned long long)id);
	} else {
		if (rc && executed)
			fwd_log_error("request %llu: executed but no reply could be made: %s",
				      (unsigned long long)id, strerror(-rc));
		fwd_dedup_finish(c->dedup, id, NULL, 0);
	}
	if (fwd_log_enabled(FWD_LOG_DEBUG) && !rc)
		fwd_log_debug("request %llu on %.*s: reply type %u, %zu bytes%s",
			      (unsigned long long)id, (int)req->db.n, req->db.p,
			      out->p[start + 1], out->len - start, executed ? ", executed" : "");
out:
	wire_msg_free(&m);
	if (rc && out->len == start)
		fwd_log_error("request %llu: no reply: %s", (unsigned long long)id,
			      strerror(-rc));
	return rc;
}
