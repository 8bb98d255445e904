/* Reading the tracking table that the primary's forwarder keeps in each database
 * (LITEFS_FWD_TABLE; see forwarder/tracking.h): the endpoint of a primary named by
 * hostname, for when LITEFS_FWD_ENDPOINTS has no entry for it and the template may not
 * resolve. */
#ifndef TRACKING_H
#define TRACKING_H

#include "role.h"

/* When v names a primary whose endpoint came from the template, reads the tracking table
 * of file (a database in the mount; at most once per TRACKING_REREAD_MS per file) and
 * feeds it to the role view; *v is then read again. Keeps errno; never fails the caller. */
void tracking_resolve(struct role_view *v, const char *file);

#endif
