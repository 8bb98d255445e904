/* Handling of one received message: decode, check, answer from the record of executed
 * requests or execute, and encode the reply. No sockets here. */
#ifndef FWD_REQUEST_H
#define FWD_REQUEST_H

#include <stddef.h>

#include "dedup.h"
#include "exec.h"
#include "role.h"
#include "session.h"

/* Idle timeout of a session whose client gave none. */
#define FWD_DEFAULT_TXN_TIMEOUT_MS 5000
#include "wire.h"

/* What the workers share to answer requests; filled by the owner of those parts, which
 * must outlive every call. */
struct fwd_request_ctx {
	struct fwd_exec *exec;        /* the SQLite connections */
	struct fwd_dedup *dedup;      /* the record of executed requests */
	struct fwd_role_cache *role;  /* whether this node is the primary */
	struct fwd_sessions *sessions; /* the open transactions */
	const char *mount;
	size_t max_message;           /* cap of requests and replies */
};

/* Answers the message msg[0..len) by appending exactly one reply to out:
 *   - not a well-formed EXEC, a request id of 0, an invalid database name: ERROR;
 *   - an id already executed: the recorded reply, byte for byte (after waiting for a
 *     worker that is executing it right now);
 *   - this node a replica: NOT_PRIMARY with the primary's hostname; no mount: ERROR;
 *   - otherwise the outcome of fwd_exec_run(), recorded when the statement ran; unless
 *     it wrote nothing and the node turns out to be a replica now (NOT_PRIMARY).
 * Returns 0, or -ENOMEM when not even an ERROR reply could be made (out unchanged). */
int fwd_request_handle(const struct fwd_request_ctx *c, const void *msg, size_t len,
		       struct wire_buf *out);

#endif
