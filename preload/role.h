/* This node's role, and where its primary's forwarder listens: one view fed by three
 * sources (see the README's "Primary detection"):
 *   - LiteFS's .primary file (LITEFS_FWD_PRIMARY_FILE): read when the view is older than
 *     LITEFS_FWD_CACHE_TTL_MS and no event stream keeps it current, at once after a
 *     forward failed (role_get(..., true)), and every LITEFS_FWD_POLL_MS by the event
 *     thread;
 *   - LiteFS's event stream (events_follow.c): init and primaryChange events;
 *   - the tracking table the primary's forwarder keeps in each database (tracking.c): the
 *     endpoint of a named primary, never the role.
 * Role observations are ordered by the moment they were taken: the newest wins, and one
 * taken before the view last changed is dropped (a slow read of .primary cannot undo an
 * event that arrived while it ran). The endpoint of the named primary is, in this order,
 * its entry in LITEFS_FWD_ENDPOINTS, the endpoint its forwarder recorded in the tracking
 * table (the highest term known for that hostname), or LITEFS_FWD_ENDPOINT's template. */
#ifndef ROLE_H
#define ROLE_H

#include <stdbool.h>
#include <stdint.h>

/* Where an endpoint came from. */
enum role_endpoint_source {
	ROLE_EP_NONE,     /* no primary named */
	ROLE_EP_MAP,      /* LITEFS_FWD_ENDPOINTS */
	ROLE_EP_TRACKING, /* the tracking table */
	ROLE_EP_TEMPLATE, /* LITEFS_FWD_ENDPOINT with {primary} replaced */
};

struct role_view {
	bool replica;           /* a primary is named: writes must be forwarded */
	char primary[256];      /* its hostname; "" when none is named. Also set when no
				 * endpoint can be had for it (replica then false) */
	char endpoint[512];     /* its forwarder's endpoint */
	enum role_endpoint_source source;
	uint64_t generation;    /* grows whenever the named primary changes */
};

/* Where a role observation came from. */
enum role_source {
	ROLE_SRC_FILE,    /* .primary */
	ROLE_SRC_EVENTS,  /* the event stream */
};

/* Monotonic clock, nanoseconds: the time base of observations. */
int64_t role_now_ns(void);

/* Fills *out with the current view: re-read from .primary first when fresh is set, or
 * when the view is older than the cache TTL and no live event stream keeps it current.
 * Returns 0, or -errno when .primary could not be read (then *out is the view as it was,
 * or says primary when there was none: nothing to forward). Thread-safe; takes the role
 * lock. */
int role_get(struct role_view *out, bool fresh);

/* Applies what a source saw at taken_ns (role_now_ns() when it was taken): this node is
 * the primary, or a replica whose primary is hostname (NULL or "": none known). Dropped
 * when the view holds a newer observation. Returns true when the view changed. */
bool role_observe(enum role_source src, int64_t taken_ns, bool is_primary,
		  const char *hostname);

/* The event stream is connected and has delivered its init event (live), or is not: while
 * it is live, the view needs no re-read when its TTL runs out. */
void role_set_stream_live(bool live);

/* What the tracking table of a database says: hostname's forwarder listens at endpoint
 * since term. Kept when the term is at least the one known for that hostname. Returns
 * true when the endpoint of the primary named now changed (role_get then reports it). */
bool role_note_tracking(const char *hostname, const char *endpoint, int64_t term);

/* The endpoint of the forwarder of host, resolved like the view's. Returns 0, or -ENOENT
 * when there is none (a hostname too long for the template). */
int role_endpoint_for(const char *host, char *buf, size_t len);

/* The lock taken and released around fork() by the event thread's handlers, so that a
 * child never inherits it held. */
void role_lock(void);
void role_unlock(void);

#endif
