/* The open transactions of programs on replicas ("sessions"): each holds a connection of
 * its own on which its statements run, one request after the other, until the transaction
 * ends. A session left idle for longer than its client asked is rolled back, so that a
 * client that died or hangs does not hold the primary's write lock; the client hears why
 * on its next statement. */
#ifndef FWD_SESSION_H
#define FWD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec.h"

/* Sessions open at once, at most (beyond, a new transaction is refused as busy). */
#define FWD_SESSIONS_MAX 1024

struct fwd_sessions;
struct fwd_session;

/* Makes an empty table. Returns 0 or -ENOMEM. */
int fwd_sessions_create(struct fwd_sessions **out, size_t max);
/* Rolls back and closes every session, and frees the table. No request may be running. */
void fwd_sessions_destroy(struct fwd_sessions *ss);

/* Reserves session id for a transaction about to begin, and holds it (as
 * fwd_session_acquire() does). Returns 0 with *out set; -EEXIST when the id is taken (or
 * was, recently); -EBUSY when ss is full; -ENOMEM. */
int fwd_session_reserve(struct fwd_sessions *ss, uint64_t id, uint32_t timeout_ms,
			struct fwd_session **out);

/* Holds the open session id for one request. Returns 0 with *out set; -ENOENT when no such
 * session is known; -ETIMEDOUT when it was rolled back for being idle too long. Blocks
 * while another request of the same session runs. */
int fwd_session_acquire(struct fwd_sessions *ss, uint64_t id, struct fwd_session **out);

/* The connection of a held session (NULL until fwd_session_set_conn()). */
struct fwd_exec_conn *fwd_session_conn(struct fwd_session *s);
/* Gives a held, reserved session its connection, which it owns from then on. */
void fwd_session_set_conn(struct fwd_session *s, struct fwd_exec_conn *c);
/* The idle timeout the session was reserved with. */
uint32_t fwd_session_timeout_ms(const struct fwd_session *s);

/* Keeps reply (len bytes), the answer to request_id in held session s, in place of the
 * previous one: a statement of a transaction asked again (its answer was lost) is answered
 * with it rather than run a second time. A copy that cannot be made leaves none. */
void fwd_session_note_reply(struct fwd_session *s, uint64_t request_id, const void *reply,
			    size_t len);
/* Appends to out the reply kept for request_id in held session s. Returns 1 when there
 * was one, 0 when the last request answered in s was another, or -ENOMEM. */
int fwd_session_replay(const struct fwd_session *s, uint64_t request_id, struct wire_buf *out);

/* Lets go of a held session. With ended set (its transaction is over, or never began) the
 * session goes: its connection, if any, is closed. Otherwise its idle time starts now. */
void fwd_session_release(struct fwd_sessions *ss, struct fwd_session *s, bool ended);

/* Rolls back and closes the sessions idle for longer than their timeout, as of now_ms
 * (CLOCK_MONOTONIC). Returns how many went. Cheap when nothing is due. */
size_t fwd_sessions_expire(struct fwd_sessions *ss, int64_t now_ms);

/* Sessions open (or reserved) now. */
size_t fwd_sessions_count(struct fwd_sessions *ss);

#endif
