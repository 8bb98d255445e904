/* The forwarder's side of authentication (common/auth.h): every request must be sealed
 * with the cluster's secret, recent, and not seen before; every reply is sealed. What is
 * refused is not executed, is counted by reason, and is logged at most once a second (with
 * the count of the refusals not logged). */
#ifndef FWD_AUTHN_H
#define FWD_AUTHN_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "wire.h"

enum fwd_authn_reason {
	FWD_AUTHN_NO_TRAILER,   /* not sealed: a client without the secret */
	FWD_AUTHN_BAD_MAC,      /* sealed with another secret, or altered */
	FWD_AUTHN_STALE,        /* its time is outside the window (or the clocks disagree) */
	FWD_AUTHN_REPLAY,       /* the same sealed message again */
	FWD_AUTHN_FLOOD,        /* more messages within a window than the replay cache holds */
	FWD_AUTHN_NREASONS,
};

struct fwd_authn {
	struct auth_key key;
	struct auth_replay replay;
	int window_ms;
	uint64_t refused[FWD_AUTHN_NREASONS]; /* atomic */
	int64_t logged_ms;                    /* atomic: when a refusal was last logged */
	uint64_t unlogged;                    /* atomic: refusals since */
};

/* Takes the key (copied; k may be cleared afterwards) and prepares the replay cache for
 * up to max_per_window requests a window. Returns 0 or -ENOMEM. */
int fwd_authn_init(struct fwd_authn *a, const struct auth_key *k, int window_ms,
		   size_t max_per_window);
void fwd_authn_destroy(struct fwd_authn *a);

/* Checks the sealed request msg[0..len). Returns 0 with *body_len, the length of the wire
 * message before the trailer; or a negative errno (the request is refused: counted, logged
 * at a limited rate) with out holding the unsealed ERROR (EACCES) to send back. */
int fwd_authn_check(struct fwd_authn *a, const void *msg, size_t len, size_t *body_len,
		    struct wire_buf *out, size_t max);

/* Appends the trailer to the reply in out. Returns 0, -ENOMEM or -EIO. */
int fwd_authn_seal(struct fwd_authn *a, struct wire_buf *out);

/* The refusals counted for reason. */
uint64_t fwd_authn_refused(struct fwd_authn *a, enum fwd_authn_reason reason);

#endif
