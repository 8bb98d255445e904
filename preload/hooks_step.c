/* Interposed: executing statements (step, reset, finalize) and sqlite3_exec. On a replica,
 * a statement registered as a write to a LiteFS database runs on the primary, and so does
 * every statement of a transaction that has written (txn.c); everything else runs here,
 * after any read-your-writes wait the connection owes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "events_follow.h"
#include "forward.h"
#include "guard.h"
#include "real.h"
#include "role.h"
#include "state.h"
#include "tracking.h"
#include "txn.h"

static struct fwd_stmt *step_lookup(sqlite3_stmt *stmt)
{
	if (!atomic_load_explicit(&state_nstmts, memory_order_relaxed) || guard_depth)
		return NULL;
	return state_stmt(stmt);
}

/* The prologue of a local statement on connection c (see step_local_prologue()). The wait
 * is made without c->mu (it asks SQLite about the connection, and may take a while); c->mu
 * is taken only to end the error state. */
static void step_local_prologue_conn(struct fwd_conn *c)
{
	/* the common case, nothing owed: no lock */
	if (__atomic_load_n(&c->ryw_txid, __ATOMIC_ACQUIRE))
		forward_ryw_wait(c);
	if (__atomic_load_n(&c->fake_err, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&c->mu);
		forward_clear_error(c);
		pthread_mutex_unlock(&c->mu);
	}
}

/* A statement that runs locally: the fake outcome of an earlier forward ends, and a read
 * first waits until the replica has the connection's own forwarded writes. */
static void step_local_prologue(sqlite3_stmt *stmt)
{
	struct fwd_conn *c;

	if (!atomic_load_explicit(&state_nconns, memory_order_relaxed) || guard_depth)
		return;
	c = state_conn(real_sqlite.db_handle(stmt), false);
	if (c)
		step_local_prologue_conn(c);
}

/* Steps stmt in SQLite itself. What SQLite runs inside (user functions' statements, VACUUM's
 * and schema statements, through its exported API) passes through the hooks untouched:
 * those statements are never forwarded on their own. */
static int step_guarded(sqlite3_stmt *stmt)
{
	int rc;

	guard_depth++;
	rc = real_sqlite.step(stmt);
	guard_depth--;
	return rc;
}

static int step_real(sqlite3_stmt *stmt)
{
	step_local_prologue(stmt);
	return step_guarded(stmt);
}

/* How often a write waiting for a primary tries again. */
#define STEP_PRIMARY_POLL_US 50000

/* Whether LiteFS refused the write s just attempted here: the errors SQLite gives when
 * LiteFS denies the journal (rollback mode) or the WAL (WAL mode) of a replica. Unlike the
 * forwarder's litefs_write_refused() no errno is required: a replica's file that SQLite
 * fell back to opening read-only fails with SQLITE_READONLY and no system call behind it.
 * s is a forwarded write, so the program did not ask for read-only (prep_opened_readonly). */
static bool step_refused_by_litefs(struct fwd_stmt *s)
{
	int xrc = real_sqlite.extended_errcode(s->conn->db);

	return (xrc & 0xff) == SQLITE_READONLY || xrc == SQLITE_IOERR_WRITE;
}

/* s on a node that names no primary: run here. When it is a write in autocommit mode that
 * LiteFS refuses, this node is not the primary (yet): a replica between primaries, one
 * whose .primary is late, or the primary-to-be of a failover. Nothing was applied, so the
 * write is tried again, here while no primary is named and there as soon as one is, for
 * up to LITEFS_FWD_PRIMARY_WAIT_MS; then it fails with SQLITE_BUSY. */
static int step_here(struct fwd_stmt *s, sqlite3_stmt *stmt)
{
	bool autocommit = real_sqlite.get_autocommit(s->conn->db);
	int64_t deadline = role_now_ns() + (int64_t)fwd_config.primary_wait_ms * 1000000;
	struct role_view role;
	int rc = step_real(stmt);

	if (s->kind != FK_WRITE || !autocommit)
		return rc;
	while (rc != SQLITE_DONE && rc != SQLITE_ROW && step_refused_by_litefs(s)) {
		events_follow_note_write(true); /* a replica: learn of its next primary */
		guard_depth++;
		real_sqlite.reset(stmt);
		guard_depth--;
		if (role_now_ns() >= deadline) {
			pthread_mutex_lock(&s->conn->mu);
			forward_set_error(s->conn, SQLITE_BUSY,
					  "litefs-fwd: no primary is known (LiteFS refused the write "
					  "here, and no primary was named in time); nothing was "
					  "written");
			pthread_mutex_unlock(&s->conn->mu);
			s->state = FS_DONE;
			s->rc = SQLITE_BUSY;
			return forward_rc(s->conn, SQLITE_BUSY);
		}
		usleep(STEP_PRIMARY_POLL_US);
		role_get(&role, true);
		if (role.replica) {
			tracking_resolve(&role, s->file);
			rc = txn_step(s, role.endpoint);
			if (rc != TXN_RUN_LOCAL)
				return rc;
		}
		rc = step_real(stmt);
	}
	return rc;
}

static __attribute__((noinline)) int step_hooked(sqlite3_stmt *stmt)
{
	struct fwd_stmt *s;
	struct role_view role;
	int rc;

	if (guard_depth)
		return real_sqlite.step(stmt);
	s = step_lookup(stmt);
	if (!s)
		return step_real(stmt);
	if (s->state == FS_ROWS)
		return forward_next_row(s);
	if (s->state == FS_DONE)
		state_stmt_clear_result(s); /* stepping a finished statement runs it again */
	/* A read outside a session runs here: nothing to ask about the role. */
	if (s->kind == FK_READ && !__atomic_load_n(&s->conn->session_id, __ATOMIC_RELAXED)) {
		step_local_prologue_conn(s->conn);
		txn_before_local(s);
		return step_guarded(stmt);
	}
	role_get(&role, false);
	if (!role.replica && txn_session_open(s->conn))
		return txn_step_session_lost(s);
	if (!role.replica && s->kind == FK_REMOTE) {
		/* Prepared by the old primary, for a transaction that was there: a stand-in
		 * that cannot run here. */
		pthread_mutex_lock(&s->conn->mu);
		forward_set_error(s->conn, SQLITE_ERROR,
				  "litefs-fwd: this statement was prepared by the former primary; "
				  "prepare it again");
		pthread_mutex_unlock(&s->conn->mu);
		s->state = FS_DONE;
		s->rc = SQLITE_ERROR;
		return SQLITE_ERROR;
	}
	if (!role.replica) {
		rc = step_here(s, stmt);
		/* kept even here: should the node turn out to be a replica before the
		 * transaction's first write, the session replays them */
		if (s->kind == FK_TXN)
			txn_after_local(s, rc);
		return rc;
	}
	tracking_resolve(&role, s->file);
	rc = txn_step(s, role.endpoint);
	if (rc == TXN_RUN_LOCAL && s->kind == FK_WRITE)
		return step_here(s, stmt);  /* the node may have become the primary */
	if (rc == TXN_RUN_LOCAL) {
		step_local_prologue(stmt);
		txn_before_local(s);
		rc = step_guarded(stmt);
		txn_after_local(s, rc);
	}
	return rc;
}

int sqlite3_step(sqlite3_stmt *stmt)
{
	real_resolve();
	/* No LiteFS database open in this process: nothing can be forwarded, and nothing
	 * run inside this step can be either (a connection opened meanwhile registers
	 * itself and is then looked at). */
	if (__builtin_expect(!atomic_load_explicit(&state_nconns, memory_order_relaxed) &&
			     !atomic_load_explicit(&state_nstmts, memory_order_relaxed), 1))
		return real_sqlite.step(stmt);
	return step_hooked(stmt);
}

/* What reset and finalize return after a forwarded execution: its error, else OK. Like
 * SQLite's, they leave the connection's error state at that error, or clear it. */
static int step_forwarded_rc(struct fwd_stmt *s)
{
	if (s->state == FS_DONE && s->rc != SQLITE_DONE && s->rc != SQLITE_ROW)
		return forward_rc(s->conn, s->rc);
	if (s->state != FS_IDLE) {
		pthread_mutex_lock(&s->conn->mu);
		forward_clear_error(s->conn);
		pthread_mutex_unlock(&s->conn->mu);
	}
	return SQLITE_OK;
}

int sqlite3_reset(sqlite3_stmt *stmt)
{
	struct fwd_stmt *s;
	int rc, real_rc;

	real_resolve();
	s = step_lookup(stmt);
	if (!s || s->state == FS_IDLE)  /* nothing forwarded to undo */
		return real_sqlite.reset(stmt);
	rc = step_forwarded_rc(s);
	state_stmt_clear_result(s);
	real_rc = real_sqlite.reset(stmt);
	return rc != SQLITE_OK ? rc : real_rc;
}

int sqlite3_finalize(sqlite3_stmt *stmt)
{
	struct fwd_stmt *s;
	int rc = SQLITE_OK, real_rc;

	real_resolve();
	s = step_lookup(stmt);
	if (s) {
		rc = step_forwarded_rc(s);
		state_stmt_drop(stmt);
	}
	real_rc = real_sqlite.finalize(stmt);
	return rc != SQLITE_OK ? rc : real_rc;
}

/* sqlite3_exec, statement by statement through the hooks above, so that each statement is
 * classified and forwarded as the program's own would be. Same contract as SQLite's: the
 * callback gets each row as text (and the column names), a non-zero return aborts with
 * SQLITE_ABORT, *errmsg gets a copy of the error message from sqlite3_malloc. */
int sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
		 void *arg, char **errmsg)
{
	const char *tail = sql;
	int rc = SQLITE_OK;

	real_resolve();
	config_load();
	if (!fwd_config.litefs || guard_depth)
		return real_sqlite.exec(db, sql, cb, arg, errmsg);
	if (errmsg)
		*errmsg = NULL;
	while (rc == SQLITE_OK && tail && *tail) {
		sqlite3_stmt *stmt = NULL;
		bool header_done = false;
		char **cols = NULL;
		int ncols;

		rc = sqlite3_prepare_v2(db, tail, -1, &stmt, &tail);
		if (rc != SQLITE_OK)
			break;
		if (!stmt)
			continue; /* whitespace or a comment */
		ncols = sqlite3_column_count(stmt);
		for (;;) {
			int src = sqlite3_step(stmt);

			if (src == SQLITE_ROW && cb) {
				if (!cols) {
					cols = calloc((size_t)ncols * 2 + 1, sizeof(char *));
					if (!cols) {
						rc = SQLITE_NOMEM;
						break;
					}
				}
				if (!header_done) {
					for (int i = 0; i < ncols; i++)
						cols[i] = (char *)sqlite3_column_name(stmt, i);
					header_done = true;
				}
				for (int i = 0; i < ncols; i++)
					cols[ncols + i] = (char *)sqlite3_column_text(stmt, i);
				if (cb(arg, ncols, cols + ncols, cols)) {
					rc = SQLITE_ABORT;
					break;
				}
				continue;
			}
			if (src == SQLITE_ROW)
				continue;
			break;
		}
		free(cols);
		if (rc == SQLITE_ABORT) {
			sqlite3_finalize(stmt);
			break;
		}
		rc = sqlite3_finalize(stmt);
	}
	if (rc != SQLITE_OK && errmsg) {
		const char *msg = rc == SQLITE_ABORT ? "query aborted" : sqlite3_errmsg(db);

		*errmsg = real_sqlite.mprintf("%s", msg);
	}
	return rc;
}
