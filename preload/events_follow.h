/* Following LiteFS's event stream (LITEFS_FWD_EVENTS_URL) from inside the program: one
 * thread, started once the process has been writing on a replica for EVENTS_WARM_MS, or at
 * once when one of its writes meets a failover (no answer, "not primary", a refusal by
 * LiteFS), never before: a short program that writes once pays nothing (loading libcurl
 * and initialising it costs a few milliseconds). It feeds init and primaryChange events
 * to the role view, remembers the TXID of each database's last tx event and wakes the
 * read-your-writes waits with it, and reads .primary every LITEFS_FWD_POLL_MS in case the
 * stream missed something. When the stream drops (LiteFS restarted, or it disconnected a
 * slow reader) it reconnects with backoff (50 ms doubling to 5 s) and gets a fresh init.
 *
 * Host safety: libcurl is loaded with dlopen() and initialised when the thread is started,
 * in the starting thread (its initialisation must not race with the program's exit), so a
 * program that never writes on a replica loads nothing more; the thread blocks every
 * signal, is detached and holds nothing the program's exit waits for; a forked child has
 * no such thread, and starts its own when it writes on a replica in its turn. libcurl's
 * sockets are made and closed by the thread, which checks before every call into libcurl
 * that each of them is still its own: a program that closes every descriptor it does not
 * know (and opens files of its own on their numbers) never has a descriptor waited on,
 * read, written or closed by libcurl; the stream is then joined again. No host name is
 * resolved by libcurl (no resolver thread) and no proxy is used. */
#ifndef EVENTS_FOLLOW_H
#define EVENTS_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

/* How long a process writes on a replica before its event thread starts. */
#define EVENTS_WARM_MS 1000

/* Notes that this process is about to forward a write (trouble: a write that met a
 * failover), and starts the thread when the time has come, if this process has none and
 * the configuration asks for one (a LiteFS mount, and an events URL or a poll interval).
 * Cheap once started: one getpid() and one load. Never fails the caller: a thread that
 * cannot be started is logged. */
void events_follow_note_write(bool trouble);

/* Waits at most max_ms for a tx event of db (a file name in the mount) with a TXID of at
 * least txid, or for a change of the role view. Returns 0 when such an event has been
 * seen (before the call or during it), -EAGAIN when the role changed or max_ms passed,
 * -ENOTCONN at once when no live stream is followed by this process (poll instead). */
int events_wait_tx(const char *db, uint64_t txid, int max_ms);

#endif
