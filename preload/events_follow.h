/* Following LiteFS's event stream (LITEFS_FWD_EVENTS_URL) from inside the program: one
 * thread, started by the first write this process makes on a replica, never before. It
 * feeds init and primaryChange events to the role view, remembers the TXID of each
 * database's last tx event and wakes the read-your-writes waits with it, and reads
 * .primary every LITEFS_FWD_POLL_MS in case the stream missed something. When the stream
 * drops (LiteFS restarted, or it disconnected a slow reader) it reconnects with backoff
 * (50 ms doubling to 5 s) and gets a fresh init.
 *
 * Host safety: libcurl is loaded with dlopen() by the thread itself, so a program that
 * never writes on a replica loads nothing more; the thread blocks every signal, is
 * detached and holds nothing the program's exit waits for; a forked child has no such
 * thread, and starts its own when it writes on a replica in its turn. */
#ifndef EVENTS_FOLLOW_H
#define EVENTS_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

/* Starts the thread for this process if it has none and the configuration asks for it (a
 * LiteFS mount, and an events URL or a poll interval). Cheap once started: one getpid()
 * and one load. Never fails the caller: a thread that cannot be started is logged. */
void events_follow_start(void);

/* Waits at most max_ms for a tx event of db (a file name in the mount) with a TXID of at
 * least txid, or for a change of the role view. Returns 0 when such an event has been
 * seen (before the call or during it), -EAGAIN when the role changed or max_ms passed,
 * -ENOTCONN at once when no live stream is followed by this process (poll instead). */
int events_wait_tx(const char *db, uint64_t txid, int max_ms);

/* Whether this process's event stream is connected and has delivered its init. */
bool events_live(void);

#endif
