/* The program's transactions on a replica. A transaction runs here, in SQLite, for as long
 * as it only reads; its first write opens a session on the primary, which replays the
 * transaction's control statements (BEGIN, SAVEPOINT ...) and runs the write, and from
 * then on every statement of the connection runs there, reads included, until the
 * transaction ends. A transaction that read here before its first write is refused with
 * SQLITE_BUSY_SNAPSHOT when the primary has moved past what it read, as SQLite refuses a
 * stale read transaction's write in WAL mode. BEGIN IMMEDIATE and EXCLUSIVE open the
 * session at once. */
#ifndef TXN_H
#define TXN_H

#include <stdbool.h>

#include "state.h"

/* txn_step(): the statement runs here; the caller calls txn_before_local(), steps it,
 * then calls txn_after_local(). */
#define TXN_RUN_LOCAL (-1)

/* What sqlite3_step does with registered statement s on a replica whose primary's
 * forwarder is at endpoint: a step result, or TXN_RUN_LOCAL. */
int txn_step(struct fwd_stmt *s, const char *endpoint);

/* What sqlite3_step does with s, a statement of a session this process opened, when this
 * node is no longer a replica: the transaction was on the old primary, which cannot commit
 * it now, and s run here would run alone, outside it. The session is rolled back there
 * (best effort, waiting at most a second) and forgotten here; s fails
 * with SQLITE_ABORT_ROLLBACK, as SQLite fails a statement whose transaction it rolled back,
 * except a ROLLBACK, which succeeds. Takes c->mu. */
int txn_step_session_lost(struct fwd_stmt *s);

/* Bookkeeping before s runs here (after any read-your-writes wait): the local TXID a
 * transaction's first read sees. */
void txn_before_local(struct fwd_stmt *s);

/* Bookkeeping after s ran here with result rc: the transaction's control statements and
 * whether it has read. */
void txn_after_local(struct fwd_stmt *s, int rc);

/* Whether c's transaction is a session on the primary (opened by this process). Takes
 * c->mu. */
bool txn_session_open(struct fwd_conn *c);

/* The program closes c: a session still open is rolled back on the primary (best effort,
 * as SQLite rolls back at close). */
void txn_conn_closing(struct fwd_conn *c);

#endif
