/* Forwarding one statement to the primary, and read-your-writes. */
#ifndef FORWARD_H
#define FORWARD_H

#include "state.h"

/* Runs s on the primary (the node is a replica) and stores the outcome on s and its
 * connection. Returns what sqlite3_step must return: SQLITE_ROW when RETURNING rows came
 * back (the first is being served), SQLITE_DONE, or an error code (SQLITE_BUSY when nothing
 * could be sent, SQLITE_IOERR when the outcome is unknown, or the primary's own error). */
int forward_step(struct fwd_stmt *s, const char *endpoint);

/* Serves the next forwarded row of s: SQLITE_ROW, or the statement's final code. */
int forward_next_row(struct fwd_stmt *s);

/* Waits until the local copy of the database c last wrote through the primary has caught
 * up with that write (bounded by LITEFS_FWD_RYW_TIMEOUT_MS, then a warning). c->mu held. */
void forward_ryw_wait(struct fwd_conn *c);

/* Records the outcome "error xrc with message msg" as the connection's error state. */
void forward_set_error(struct fwd_conn *c, int xrc, const char *msg);
/* Ends the fake error state (the program made a call that resets SQLite's). */
void forward_clear_error(struct fwd_conn *c);

/* What step/reset/finalize return for extended code xrc on connection c. */
int forward_rc(struct fwd_conn *c, int xrc);

extern atomic_int forward_nfake;

#endif
