/* The record of executed requests: request id -> the encoded reply, so that a request that
 * nanomsg delivers again (REQ resends it) is answered without being executed twice. */
#ifndef FWD_DEDUP_H
#define FWD_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of the record: the oldest replies go first when either is passed, and a reply
 * may go once it is older than FWD_DEDUP_MAX_AGE_MS. It answers a resend quickly and
 * catches an id reused for another request; the durable record in each database
 * (exec.c) answers what it has let go. 8192 replies are the last 1 to 4 seconds of writes
 * at full speed on the stand-in; 100000 kept the forwarder 4.7 MiB larger after a short
 * `make bench`. */
#define FWD_DEDUP_MAX_ENTRIES 8192u
#define FWD_DEDUP_MAX_BYTES ((size_t)8 << 20)
#define FWD_DEDUP_MAX_AGE_MS (10 * 60 * 1000)

struct fwd_dedup;

/* A recorded reply, shared by the record and its readers; see fwd_dedup_release(). */
struct fwd_dedup_reply {
	size_t refs;      /* guarded by the record's lock */
	size_t len;
	uint8_t bytes[];
};

/* Makes an empty record. Returns 0 or -ENOMEM. */
int fwd_dedup_create(struct fwd_dedup **out, size_t max_entries, size_t max_bytes,
		     int64_t max_age_ms);
/* Frees the record. No thread may be using it. */
void fwd_dedup_destroy(struct fwd_dedup *d);

/* Claims request id, whose request has the given fingerprint (a hash of what it asks for,
 * to notice an id reused for another request). Returns
 *   0 with *hit NULL: the id is new and now pending; the caller executes the request and
 *     must then call fwd_dedup_finish() for it, whatever happens;
 *   0 with *hit set: the request was executed before; *hit is its reply, to be released
 *     with fwd_dedup_release();
 *   -EEXIST: the id was used for another request;
 *   -ENOMEM.
 * While another thread executes the same id it waits for that thread's fwd_dedup_finish()
 * and then answers as above (or claims the id itself when that thread recorded nothing). */
int fwd_dedup_claim(struct fwd_dedup *d, uint64_t id, uint64_t fingerprint,
		    struct fwd_dedup_reply **hit);
/* Ends the claim on id taken by fwd_dedup_claim(). With reply != NULL the reply is copied
 * into the record (the request was executed); with NULL the id is forgotten (it was not,
 * and may be claimed again). Wakes the threads waiting for id. Returns 0, or -ENOMEM when
 * the copy could not be made (the id is then forgotten). */
int fwd_dedup_finish(struct fwd_dedup *d, uint64_t id, const void *reply, size_t len);
/* Drops a reference taken by fwd_dedup_claim(). */
void fwd_dedup_release(struct fwd_dedup *d, struct fwd_dedup_reply *r);

/* Number of recorded replies (pending claims not counted), for tests and logs. */
size_t fwd_dedup_count(struct fwd_dedup *d);

#endif
