/* The forwarder's metrics: counters, gauges and histograms that the request path updates
 * with relaxed atomic operations (no lock taken, nothing allocated, a handful of atomic
 * additions a request), and their rendering in the Prometheus text exposition format,
 * version 0.0.4 (metrics_http.h serves it). Every name begins with litefs_fwd_.
 *
 * One registry, fwd_metrics_process, holds the figures of the forwarder process; the
 * functions take the registry as an argument so that tests can fill one of their own. A
 * zeroed struct fwd_metrics is an empty registry. */
#ifndef FWD_METRICS_H
#define FWD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authn.h"
#include "role.h"

/* What became of a request: the label outcome of litefs_fwd_requests_total. */
enum fwd_metrics_outcome {
	FWD_METRICS_EXECUTED,       /* RESULT: the statement ran and succeeded */
	FWD_METRICS_SQL_ERROR,      /* RESULT: SQLite's error (constraint, syntax, ...) */
	FWD_METRICS_BUSY,           /* nothing ran, the client asks again: RESULT with
				     * SQLITE_BUSY (lock, too many transactions, stale
				     * snapshot) or ERROR EAGAIN */
	FWD_METRICS_NOT_PRIMARY,    /* NOT_PRIMARY: this node does not execute */
	FWD_METRICS_REPEAT,         /* answered from the record of executed requests */
	FWD_METRICS_DESCRIBED,      /* DESCRIPTION of a statement of a transaction */
	FWD_METRICS_PING,           /* PONG: a health check */
	FWD_METRICS_REFUSED,        /* ERROR: refused, nothing executed (invalid name, limits,
				     * an id reused, no mount, ...) */
	FWD_METRICS_PROTOCOL_ERROR, /* ERROR: not a well-formed request of this wire version */
	FWD_METRICS_UNAUTHENTICATED, /* refused by authentication (authn.h) */
	FWD_METRICS_STOPPING,       /* refused: the forwarder is stopping */
	FWD_METRICS_NO_REPLY,       /* not even an ERROR could be made (out of memory) */
	FWD_METRICS_OTHER,          /* a reply of another type */
	FWD_METRICS_NOUTCOMES,
};

/* The label role of litefs_fwd_role. */
enum fwd_metrics_role {
	FWD_METRICS_ROLE_UNKNOWN,    /* not read yet, or the mount could not be read */
	FWD_METRICS_ROLE_PRIMARY,
	FWD_METRICS_ROLE_REPLICA,    /* a replica that names its primary */
	FWD_METRICS_ROLE_NO_PRIMARY, /* a replica that knows no primary (failover) */
	FWD_METRICS_ROLE_NO_MOUNT,
	FWD_METRICS_NROLES,
};

/* Upper bounds of the buckets of the latency histogram: 100 us to 10 s. */
#define FWD_METRICS_LATENCY_BUCKETS 16
/* ... and of the group commit histogram: 1 to FWD_BATCH_MAX (64) writes. */
#define FWD_METRICS_BATCH_BUCKETS 7

/* A histogram: observations per bucket (not cumulative; the last one counts those above
 * every bound, le="+Inf"), and their sum. Its count is the sum of its buckets, so that a
 * scrape never shows a count that disagrees with them. */
struct fwd_metrics_histogram {
	uint64_t buckets[FWD_METRICS_LATENCY_BUCKETS + 1]; /* atomic */
	uint64_t sum;                                       /* atomic */
};

/* What the forwarder is, for litefs_fwd_build_info, litefs_fwd_node_info and the gauges
 * of its settings. The strings are copied (truncated to the room of struct fwd_metrics). */
struct fwd_metrics_node {
	const char *hostname;       /* this node's name as LiteFS writes it in .primary */
	const char *listen;         /* the nanomsg address served */
	const char *mount;          /* the LiteFS mount */
	const char *sqlite_version; /* of the library executing the statements */
	int workers;
	int max_sessions;
	int64_t start_time_ms;      /* wall clock, milliseconds since the epoch */
};

struct fwd_metrics {
	uint64_t requests[FWD_METRICS_NOUTCOMES];         /* atomic */
	struct fwd_metrics_histogram latency;             /* sum in nanoseconds */
	struct fwd_metrics_histogram batch;               /* sum in writes */
	uint64_t received_bytes, sent_bytes;              /* atomic */
	int64_t in_flight;                                /* atomic */
	int64_t sessions_open;                            /* atomic */
	uint64_t sessions_expired;                        /* atomic */
	uint64_t auth_failures[FWD_AUTHN_NREASONS];       /* atomic */
	int role;                                         /* atomic; enum fwd_metrics_role */
	/* set by fwd_metrics_set_node() before the registry is served */
	char hostname[256], listen[512], mount[1024], sqlite_version[64];
	int workers, max_sessions;
	int64_t start_time_ms;
};

/* The registry of this process. */
extern struct fwd_metrics fwd_metrics_process;

/* A request being answered: when it began. */
struct fwd_metrics_timer {
	int64_t start_ns; /* CLOCK_MONOTONIC */
};

/* Records what the forwarder is. Call before the registry is served (not thread-safe). */
void fwd_metrics_set_node(struct fwd_metrics *m, const struct fwd_metrics_node *n);

/* A worker takes a request: starts its timer, counts it in flight, and forgets a
 * fwd_metrics_note_repeat() of the calling thread's previous request. */
void fwd_metrics_request_begin(struct fwd_metrics *m, struct fwd_metrics_timer *t);
/* ... and has answered it (received bytes in, sent bytes out, 0 when nothing was sent):
 * fwd_metrics_count_request(), its latency since fwd_metrics_request_begin(), and it is
 * no longer in flight. */
void fwd_metrics_request_end(struct fwd_metrics *m, const struct fwd_metrics_timer *t,
			     enum fwd_metrics_outcome outcome, size_t received, size_t sent);
/* Counts one request answered with outcome, and its bytes. */
void fwd_metrics_count_request(struct fwd_metrics *m, enum fwd_metrics_outcome outcome,
			       size_t received, size_t sent);

/* Says that the request the calling thread is answering was answered from the record of
 * executed requests (its reply is the recorded one, not run again). Thread-local: it must
 * be called by the thread between fwd_metrics_request_begin() and the reply. */
void fwd_metrics_note_repeat(void);
/* Whether fwd_metrics_note_repeat() was called by this thread since its last
 * fwd_metrics_request_begin(). */
bool fwd_metrics_noted_repeat(void);

/* The outcome a reply msg[0..len) (a wire message, possibly followed by its trailer) says,
 * from its type and, for RESULT and ERROR, its code: FWD_METRICS_EXECUTED to
 * FWD_METRICS_STOPPING but FWD_METRICS_REPEAT and FWD_METRICS_UNAUTHENTICATED, which the
 * reply does not show; FWD_METRICS_OTHER for what is not a reply. Reads the fixed header
 * only: cheap whatever the size of the reply. */
enum fwd_metrics_outcome fwd_metrics_classify_reply(const void *msg, size_t len);

/* One observation of the request latency histogram, in nanoseconds. */
void fwd_metrics_observe_latency(struct fwd_metrics *m, uint64_t ns);
/* One group commit of n writes (1 <= n <= FWD_BATCH_MAX). */
void fwd_metrics_observe_batch(struct fwd_metrics *m, size_t n);
/* Sessions (transactions of replicas) opened (delta > 0) or ended (delta < 0). */
void fwd_metrics_add_sessions(struct fwd_metrics *m, int64_t delta);
/* A session rolled back for having been idle longer than its timeout. */
void fwd_metrics_count_session_expired(struct fwd_metrics *m);
/* A request refused by authentication, for reason. */
void fwd_metrics_count_auth_failure(struct fwd_metrics *m, enum fwd_authn_reason reason);
/* The role of this node as just read: rc 0 with info, or the negative errno of the read
 * (the role is then unknown). */
void fwd_metrics_set_role(struct fwd_metrics *m, int rc, const struct fwd_role_info *info);

/* Renders every metric of m in the text exposition format, version 0.0.4, into a new
 * NUL-terminated buffer: 0 with *text (to free()) and *len set, or -ENOMEM. Safe while
 * other threads update m: each value is read once, atomically (a scrape may see one
 * request counted and its latency not yet). */
int fwd_metrics_render(const struct fwd_metrics *m, char **text, size_t *len);

#endif
