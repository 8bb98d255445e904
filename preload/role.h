/* This node's role as LiteFS shows it: a replica when <mount>/.primary names a primary.
 * The view is cached for LITEFS_FWD_CACHE_TTL_MS, and read again at once after a "not
 * primary" answer or a connection failure (role_get(..., true)). */
#ifndef ROLE_H
#define ROLE_H

#include <stdbool.h>

struct role_view {
	bool replica;           /* a primary is named: writes must be forwarded */
	char primary[256];      /* its hostname */
	char endpoint[512];     /* its forwarder's endpoint */
};

/* Fills *out with the current view (re-read when stale or when fresh is set). Returns 0, or
 * -errno when .primary could not be read (then *out says primary: nothing to forward). */
int role_get(struct role_view *out, bool fresh);

#endif
