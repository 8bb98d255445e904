/* Replies the forwarder makes without executing anything: ERROR, NOT_PRIMARY, and the
 * RESULT of a statement that could not run in its transaction. */
#ifndef FWD_REPLY_H
#define FWD_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Appends an ERROR reply for request id (0 when unknown) to out: code is a positive errno
 * value saying what kind of refusal it is, the message is formatted from fmt. Returns 0,
 * -ENOMEM or -EMSGSIZE (out unchanged). */
int fwd_reply_error(struct wire_buf *out, size_t max, uint64_t id, int code, const char *fmt,
		    ...) __attribute__((format(printf, 5, 6)));

/* Appends a NOT_PRIMARY reply naming primary (a hostname, may be empty). Returns 0,
 * -ENOMEM or -EMSGSIZE (out unchanged). */
int fwd_reply_not_primary(struct wire_buf *out, size_t max, uint64_t id, const char *primary);

/* Appends a RESULT reply with SQLite code xrc (extended; rc is its primary code), result
 * flags and a message formatted from fmt, and nothing else: what the program sees when
 * its statement could not run. Returns 0, -ENOMEM or -EMSGSIZE (out unchanged). */
int fwd_reply_result(struct wire_buf *out, size_t max, uint64_t id, int xrc, uint32_t flags,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
