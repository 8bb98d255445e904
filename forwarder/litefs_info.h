/* Asking LiteFS's HTTP API (GET /info) whether this node is the primary. */
#ifndef FWD_LITEFS_INFO_H
#define FWD_LITEFS_INFO_H

#include <stdbool.h>
#include <stddef.h>

/* The /info URL next to an events URL ("http://host:port/events"). Returns 0, -EINVAL when
 * events_url does not end in "/events", or -ENAMETOOLONG. */
int fwd_litefs_info_url(const char *events_url, char *out, size_t size);

/* GET info_url within timeout_ms and reads its "isPrimary". Returns 0 with *is_primary
 * set; -EHOSTUNREACH when LiteFS did not answer, -EPROTO for another HTTP status, -EBADMSG
 * for an answer without a boolean isPrimary, -ENOMEM. Thread-safe. */
int fwd_litefs_is_primary(const char *info_url, int timeout_ms, bool *is_primary);

#endif
