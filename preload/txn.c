/* The program's transactions on a replica (see txn.h). The state lives on the connection:
 * the session id once the transaction is on the primary; before that, the control
 * statements run here (replayed on the primary when the session opens) and the local TXID
 * the transaction read first. The fields are changed under c->mu; SQLite calls for the
 * connection are made without it, as the program's own calls would be. */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forward.h"
#include "guard.h"
#include "log.h"
#include "real.h"
#include "role.h"

bool txn_session_open(struct fwd_conn *c)
{
	bool open;

	if (!__atomic_load_n(&c->session_id, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&c->mu);
	open = c->session_id && c->session_pid == getpid();
	pthread_mutex_unlock(&c->mu);
	return open;
}

/* Forgets the local transaction's record. Caller holds c->mu. */
static void txn_forget_local(struct fwd_conn *c)
{
	__atomic_store_n(&c->txn_log_len, 0, __ATOMIC_RELAXED);
	if (c->txn_log)
		c->txn_log[0] = '\0';
	__atomic_store_n(&c->snapshot_taken, false, __ATOMIC_RELAXED);
	c->snapshot_txid = 0;
}

/* Appends sql and a ';' to c's record of control statements. Returns false when memory
 * ran out (the record is then unusable: the caller must not open a session from it).
 * Caller holds c->mu. */
static bool txn_log_append(struct fwd_conn *c, const char *sql)
{
	size_t n = strlen(sql);

	if (c->txn_log_len + n + 2 > c->txn_log_cap) {
		size_t cap = c->txn_log_cap ? c->txn_log_cap * 2 : 256;
		char *p;

		while (cap < c->txn_log_len + n + 2)
			cap *= 2;
		p = realloc(c->txn_log, cap);
		if (!p)
			return false;
		c->txn_log = p;
		c->txn_log_cap = cap;
	}
	memcpy(c->txn_log + c->txn_log_len, sql, n);
	c->txn_log[c->txn_log_len + n] = ';';
	c->txn_log[c->txn_log_len + n + 1] = '\0';
	__atomic_store_n(&c->txn_log_len, c->txn_log_len + n + 1, __ATOMIC_RELAXED);
	return true;
}

/* Ends the local transaction, which only read, so that the connection is in autocommit
 * mode while the transaction goes on as a session (a read transaction held open here
 * would hold back LiteFS applying the primary's transactions, which the program waits for
 * after its commit). COMMIT leaves the program's pending reads running. */
static void txn_end_local(struct fwd_conn *c)
{
	if (real_sqlite.get_autocommit(c->db))
		return;
	guard_depth++;
	if (real_sqlite.exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		real_sqlite.exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	guard_depth--;
}

/* Opens the session with s, its first write (or BEGIN IMMEDIATE / EXCLUSIVE when
 * begin_stmt): the control statements run here so far go first, and the snapshot the
 * transaction read, if any, is checked by the primary. Returns as txn_step(). */
static int txn_begin(struct fwd_stmt *s, const char *endpoint, bool begin_stmt)
{
	struct fwd_conn *c = s->conn;
	struct forward_ctx fc = { .session_flags = WIRE_SESSION_BEGIN };
	char *prologue = NULL;
	int rc;

	fc.session_id = forward_new_id();
	pthread_mutex_lock(&c->mu);
	if (!begin_stmt) {
		/* The transaction open here began somehow: without a record of its control
		 * statements, a plain BEGIN, never a statement run alone in autocommit mode. */
		prologue = strdup(c->txn_log_len ? c->txn_log : "BEGIN;");
		if (!prologue) {
			pthread_mutex_unlock(&c->mu);
			return SQLITE_NOMEM;
		}
	}
	if (c->snapshot_taken) {
		fc.session_flags |= WIRE_SESSION_SNAPSHOT;
		fc.snapshot_txid = c->snapshot_txid;
	}
	pthread_mutex_unlock(&c->mu);
	fc.prologue = prologue;
	rc = forward_step(s, endpoint, &fc);
	free(prologue);
	if (fc.in_txn) {
		txn_end_local(c);
		pthread_mutex_lock(&c->mu);
		__atomic_store_n(&c->session_id, fc.session_id, __ATOMIC_RELAXED);
		c->session_pid = getpid();
		snprintf(c->session_file, sizeof(c->session_file), "%s", s->file);
		snprintf(c->session_endpoint, sizeof(c->session_endpoint), "%s", fc.answered_by);
		txn_forget_local(c);
		pthread_mutex_unlock(&c->mu);
		log_debug("%s: transaction %llx continues on the primary", s->file,
			  (unsigned long long)fc.session_id);
	} else if (fc.answered && !fc.not_begun) {
		/* It began and ended in this statement: SQLite rolled it back on an error. */
		txn_end_local(c);
		pthread_mutex_lock(&c->mu);
		txn_forget_local(c);
		pthread_mutex_unlock(&c->mu);
	}
	/* Refused, or no answer: nothing ran there, and the transaction is still here. */
	return rc;
}

/* Rolls c's session back at the forwarder that opened it, whatever the role says now
 * (best effort: forward_session_abandon() waits a second at most), and forgets it. Rolled
 * back now rather than at its idle timeout, since a primary holding its write lock cannot
 * hand its role over. Takes c->mu, not held on return. */
static void txn_session_abandon(struct fwd_conn *c)
{
	char endpoint[sizeof(c->session_endpoint)];

	pthread_mutex_lock(&c->mu);
	snprintf(endpoint, sizeof(endpoint), "%s", c->session_endpoint);
	pthread_mutex_unlock(&c->mu);
	if (endpoint[0])
		forward_session_abandon(c, endpoint);
	pthread_mutex_lock(&c->mu);
	__atomic_store_n(&c->session_id, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->mu);
}

int txn_step_session_lost(struct fwd_stmt *s)
{
	struct fwd_conn *c = s->conn;
	bool rollback = s->kind == FK_TXN && s->txn_op == CLASSIFY_TXN_ROLLBACK;

	txn_session_abandon(c);
	pthread_mutex_lock(&c->mu);
	if (rollback)
		forward_clear_error(c);
	else
		forward_set_error(c, SQLITE_ABORT_ROLLBACK,
				  "litefs-fwd: the transaction was lost: this node became the "
				  "primary while it was open on the old one");
	pthread_mutex_unlock(&c->mu);
	log_info("%s: the transaction open on the old primary is lost: this node is the "
		 "primary now", s->file);
	s->state = FS_DONE;
	s->rc = rollback ? SQLITE_DONE : SQLITE_ABORT_ROLLBACK;
	return rollback ? SQLITE_DONE : forward_rc(c, SQLITE_ABORT_ROLLBACK);
}

/* A statement of the open session. */
static int txn_in_session(struct fwd_stmt *s, const char *endpoint)
{
	struct fwd_conn *c = s->conn;
	struct forward_ctx fc = {0};
	int rc;

	pthread_mutex_lock(&c->mu);
	fc.session_id = c->session_id;
	pthread_mutex_unlock(&c->mu);
	rc = forward_step(s, endpoint, &fc);
	if (rc == -1)
		return txn_step_session_lost(s);  /* the primary named none: this node is it */
	if (fc.answered && !fc.in_txn) {
		pthread_mutex_lock(&c->mu);
		__atomic_store_n(&c->session_id, 0, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&c->mu);
		/* The transaction is gone anyway: a ROLLBACK of one the primary no longer
		 * has (rolled back for idleness, or lost with its primary) succeeds, as it
		 * would where SQLite itself had rolled it back. */
		if (s->kind == FK_TXN && s->txn_op == CLASSIFY_TXN_ROLLBACK &&
		    (rc & 0xff) == SQLITE_ABORT) {
			pthread_mutex_lock(&c->mu);
			forward_clear_error(c);
			pthread_mutex_unlock(&c->mu);
			s->rc = SQLITE_DONE;
			rc = SQLITE_DONE;
		}
	}
	return rc;
}

/* Whether the transaction open on c's connection has written here: it began while this
 * node was the primary. It stays here to its end, which LiteFS refuses if this node is
 * no longer the primary; a session opened for its next write would commit the local
 * part (refused, and rolled back) apart from the rest. Unknown without
 * sqlite3_txn_state() (SQLite before 3.34): false. */
static bool txn_wrote_here(struct fwd_conn *c)
{
	return real_sqlite.txn_state && real_sqlite.txn_state(c->db, NULL) == SQLITE_TXN_WRITE;
}

int txn_step(struct fwd_stmt *s, const char *endpoint)
{
	struct fwd_conn *c = s->conn;
	bool local_autocommit = real_sqlite.get_autocommit(c->db), session;

	pthread_mutex_lock(&c->mu);
	if (c->session_id && c->session_pid != getpid())
		__atomic_store_n(&c->session_id, 0, __ATOMIC_RELAXED);  /* the parent's, in a forked child */
	session = c->session_id != 0;
	if (!session && local_autocommit && (c->txn_log_len || c->snapshot_taken))
		txn_forget_local(c);  /* ended here without us seeing it */
	pthread_mutex_unlock(&c->mu);

	if (session)
		return txn_in_session(s, endpoint);
	switch (s->kind) {
	case FK_WRITE:
	case FK_REMOTE:
		if (local_autocommit)
			return forward_step(s, endpoint, NULL);
		if (s->kind == FK_WRITE && txn_wrote_here(c))
			return TXN_RUN_LOCAL;
		return txn_begin(s, endpoint, false);
	case FK_TXN:
		if (s->txn_op == CLASSIFY_TXN_BEGIN_WRITE && local_autocommit)
			return txn_begin(s, endpoint, true);
		return TXN_RUN_LOCAL;
	case FK_READ:
	default:
		return TXN_RUN_LOCAL;
	}
}

void txn_before_local(struct fwd_stmt *s)
{
	struct fwd_conn *c = s->conn;
	uint64_t txid;

	if (s->kind != FK_READ || real_sqlite.get_autocommit(c->db) ||
	    __atomic_load_n(&c->snapshot_taken, __ATOMIC_RELAXED))
		return;
	/* Read before the step, and before c->mu is taken (a read of the mount): the snapshot
	 * SQLite takes is at least as new, so the check on the primary errs on the safe
	 * side. */
	txid = forward_local_txid(s->file);
	pthread_mutex_lock(&c->mu);
	if (!c->snapshot_taken) {
		c->snapshot_txid = txid;
		__atomic_store_n(&c->snapshot_taken, true, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&c->mu);
}

void txn_after_local(struct fwd_stmt *s, int rc)
{
	struct fwd_conn *c = s->conn;
	bool autocommit = real_sqlite.get_autocommit(c->db);
	const char *sql;

	if (s->kind != FK_TXN &&
	    (!autocommit || (!__atomic_load_n(&c->txn_log_len, __ATOMIC_RELAXED) &&
			     !__atomic_load_n(&c->snapshot_taken, __ATOMIC_RELAXED))))
		return;
	/* asked of SQLite before c->mu is taken */
	sql = !autocommit && s->kind == FK_TXN && rc == SQLITE_DONE ? real_sqlite.sql(s->stmt) : NULL;
	pthread_mutex_lock(&c->mu);
	if (autocommit) {
		txn_forget_local(c);
	} else if (sql && !txn_log_append(c, sql)) {
		/* Without the record the session could not be opened right: refuse the
		 * transaction's writes rather than run them in a different one. */
		__atomic_store_n(&c->snapshot_taken, true, __ATOMIC_RELAXED);
		c->snapshot_txid = UINT64_MAX;
	}
	pthread_mutex_unlock(&c->mu);
}

void txn_conn_closing(struct fwd_conn *c)
{
	if (txn_session_open(c))
		txn_session_abandon(c);
}
