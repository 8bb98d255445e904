/* Forwarding one statement to the primary, and read-your-writes. */
#ifndef FORWARD_H
#define FORWARD_H

#include "state.h"

/* How a statement travels, and what its reply said of its transaction. */
struct forward_ctx {
	uint64_t session_id;     /* 0: alone, in autocommit mode */
	uint32_t session_flags;  /* WIRE_SESSION_* */
	uint64_t snapshot_txid;  /* with WIRE_SESSION_SNAPSHOT */
	const char *prologue;    /* with WIRE_SESSION_BEGIN; NULL for none */
	bool answered;           /* out: the primary's RESULT came back */
	bool in_txn;             /* out: ... saying the session's transaction is open */
	bool not_begun;          /* out: ... saying the session was refused, nothing ran */
	char answered_by[512];   /* out: the endpoint of the forwarder that answered */
};

/* Runs s on the primary (the node is a replica), as fc says (NULL: in autocommit mode),
 * and stores the outcome on s and its connection. While the primary answers SQLITE_BUSY
 * (it never waits for a lock) the statement is asked again, as SQLite's busy handler
 * would, within the connection's busy timeout. Returns what sqlite3_step must return:
 * SQLITE_ROW when rows came back (the first is being served), SQLITE_DONE, or an error code
 * (SQLITE_BUSY when nothing could be sent, SQLITE_IOERR when the outcome is unknown, or the
 * primary's own error); or -1 when this node turned out to be the primary (nothing sent
 * anywhere: run it locally). */
int forward_step(struct fwd_stmt *s, const char *endpoint, struct forward_ctx *fc);

/* Rolls back c's session on the primary (the program closes the connection), without
 * waiting long; the primary rolls it back by itself when it times out anyway. */
void forward_session_abandon(struct fwd_conn *c, const char *endpoint);

/* Asks the primary to prepare sql[0..len) in c's session and describe it: *m is the
 * DESCRIPTION, whose strings point into *reply (both freed by the caller). Returns 0 or a
 * negative errno (nothing to free). */
int forward_describe(struct fwd_conn *c, const char *endpoint, const char *sql, size_t len,
		     struct wire_msg *m, void **reply);

/* A new id, unique across processes (for sessions). */
uint64_t forward_new_id(void);

/* The local TXID of file (from its -pos in the mount), or 0 (no -pos, or not readable as
 * one). Takes no lock of the connection's; errno is preserved. */
uint64_t forward_local_txid(const char *file);

/* Serves the next forwarded row of s: SQLITE_ROW, or the statement's final code. */
int forward_next_row(struct fwd_stmt *s);

/* Waits until the local copy of the database c last wrote through the primary has caught
 * up with the newest TXID the connection's writes got (bounded by LITEFS_FWD_RYW_TIMEOUT_MS,
 * then a warning), unless the connection holds a read transaction (its snapshot cannot
 * move: the wait stays owed). Called with c->mu NOT held: it asks SQLite about the
 * connection, which takes the connection's mutex, and it may wait; it takes c->mu only
 * to read and settle what is owed. errno is preserved. */
void forward_ryw_wait(struct fwd_conn *c);

/* Records the outcome "error xrc with message msg" as the connection's error state. c->mu
 * held. */
void forward_set_error(struct fwd_conn *c, int xrc, const char *msg);
/* Ends the fake error state (the program made a call that resets SQLite's). c->mu held. */
void forward_clear_error(struct fwd_conn *c);

/* What step/reset/finalize return for extended code xrc on connection c. */
int forward_rc(struct fwd_conn *c, int xrc);

extern atomic_int forward_nfake;

#endif
