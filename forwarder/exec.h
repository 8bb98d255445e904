/* Running one forwarded statement on SQLite, in autocommit mode, and turning everything a
 * program could observe of it into a RESULT reply. */
#ifndef FWD_EXEC_H
#define FWD_EXEC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

/* Connections one struct fwd_exec keeps open; the least recently used one that no worker
 * holds goes beyond it. */
#define FWD_EXEC_MAX_CONNS 64

struct fwd_exec_conn;

/* The connections of the forwarder, shared by its workers: one per database, opened on
 * first use and kept. Statements on one database run one at a time, on its connection;
 * statements on different databases run at once. Thread-safe. */
struct fwd_exec {
	pthread_mutex_t lock;         /* guards conns and nconns */
	char *mount;
	bool no_record;               /* no durable record of executed requests */
	bool fuse_seen;               /* the mount was seen as a FUSE file system (atomic) */
	int session_cache_kib;        /* page cache of each session's connection; 0: SQLite's */
	int synchronous;              /* PRAGMA synchronous of every connection (0-3); -1:
	                               * SQLite's default (fwd_exec_init()) */
	struct fwd_exec_conn *conns;  /* most recently used first */
	size_t nconns;
};

/* Prepares x for databases in mount (copied). Returns 0 or -ENOMEM. */
int fwd_exec_init(struct fwd_exec *x, const char *mount);
/* Closes every connection of x and frees it; no fwd_exec_run() may be running. Does
 * nothing to an x never initialised or already closed (zeroed). */
void fwd_exec_close(struct fwd_exec *x);

/* Executes req, whose database name has passed fwd_dbname_check(), on <mount>/<db> and
 * appends the reply to out:
 *   RESULT: the statement was prepared (and, when *executed is set, stepped): rc, extended
 *     rc and message exactly as SQLite gave them, changes, total changes delta, the rowid
 *     (with WIRE_RESULT_ROWID when the statement set it), the TXID in <db>-pos and every
 *     row it returned. A prepare or open error is a RESULT too, with *executed false.
 *   ERROR: refused, nothing executed (more than one statement, a parameter that cannot be
 *     bound, an empty statement, a statement that left a transaction open, which is rolled
 *     back); EAGAIN for a request sent again whose record of execution cannot be read now
 *     (it may have run: the client asks again, the same request).
 * The connection is in autocommit mode again on return, with its last_insert_rowid as
 * the statement left it (or as it was before, when the statement set none). *wrote is set
 * when the statement committed pages of a database file (it succeeded, or failed a
 * constraint under ON CONFLICT FAIL after changing rows): LiteFS refuses every write on
 * a replica, so this proves the node was the primary when it committed. *refused is set
 * when the statement failed because LiteFS turned the write away (EACCES behind SQLite's
 * read-only or I/O error): the node is not the primary, whatever .primary says. Returns
 * 0, or -ENOMEM / -EMSGSIZE when no reply could be made (out unchanged; *executed and
 * *wrote still say what the statement did). */
int fwd_exec_run(struct fwd_exec *x, const struct wire_exec *req, size_t max,
		 struct wire_buf *out, bool *executed, bool *wrote, bool *refused);

/* What a session request did. */
struct fwd_exec_report {
	bool executed;  /* the statement ran (and its outcome stands) */
	bool wrote;     /* as for fwd_exec_run() */
	bool in_txn;    /* the session's transaction is open afterwards */
};

/* Runs req, a request of session req->session_id, on the session's own connection *c,
 * which the caller holds, and appends the reply as fwd_exec_run() does, with
 * WIRE_RESULT_IN_TXN while the transaction stays open. With WIRE_SESSION_BEGIN, *c must
 * be NULL: a connection is opened for the session, the prologue runs, then the statement;
 * the reply has WIRE_RESULT_NOT_BEGUN when the statement could not take the write lock
 * (SQLITE_BUSY) or the primary is past the snapshot the transaction read (with
 * WIRE_SESSION_SNAPSHOT: SQLITE_BUSY_SNAPSHOT), all of it undone; *c is the session's
 * connection while its transaction is open, else NULL. The TXID of the reply is that of
 * the statement that ended the transaction. Returns 0, or -ENOMEM / -EMSGSIZE when no
 * reply could be made. */
int fwd_exec_run_session(struct fwd_exec *x, struct fwd_exec_conn **c,
			 const struct wire_exec *req, size_t max, struct wire_buf *out,
			 struct fwd_exec_report *rep);

/* Prepares req's statement on session connection c, which the caller holds, without
 * running it, and appends a DESCRIPTION of it (SQLite's verdict, the bytes of sql it
 * takes, its parameters' names, its columns' names and declared types). Returns 0, or
 * -ENOMEM / -EMSGSIZE (no reply made). */
int fwd_exec_describe(struct fwd_exec_conn *c, const struct wire_exec *req, size_t max,
		      struct wire_buf *out);

/* Answers req from the durable record of its database when it was executed before (by
 * this forwarder, or by another primary before a failover). Returns 1 (the recorded reply
 * appended to out), 0 (not recorded, or no record kept), -EAGAIN when the record cannot
 * be read now (the request must not run: it may have), or another negative errno. */
int fwd_exec_lookup(struct fwd_exec *x, const struct wire_exec *req, struct wire_buf *out);

/* Closes a session's connection (rolling back its transaction). NULL is fine. */
void fwd_exec_conn_close(struct fwd_exec_conn *c);

/* The connection x keeps to database name (NUL-terminated), or NULL when none is open:
 * for tests and diagnostics, which may only look at it between two fwd_exec_run(). */
struct sqlite3 *fwd_exec_handle(struct fwd_exec *x, const char *name);

/* Group commit on the database name (NUL-terminated) so far: batches committed or tried,
 * writes in them, and writes waiting for the next batch now; all 0 when x keeps no
 * connection to it. */
void fwd_exec_batch_totals(struct fwd_exec *x, const char *name, size_t *batches,
			   size_t *writes, size_t *waiting);

/* Parses the content of a LiteFS <db>-pos file, "%016x/%016x\n" (34 bytes): returns the
 * TXID, or 0 when buf is anything else. */
uint64_t fwd_exec_parse_pos(const char *buf, size_t len);

#endif
