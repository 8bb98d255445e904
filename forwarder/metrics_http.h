/* The forwarder's metrics endpoint: an HTTP server (libmicrohttpd, one thread of its own)
 * that answers GET and HEAD /metrics with the registry rendered in the Prometheus text
 * exposition format, version 0.0.4; 404 for any other path, 405 for any other method. */
#ifndef FWD_METRICS_HTTP_H
#define FWD_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

/* Longest host of an address, brackets of an IPv6 literal excluded. */
#define FWD_METRICS_HOST_MAX 255

/* Splits addr, HOST:PORT, [IPV6]:PORT or :PORT (every IPv4 address), into host (size
 * FWD_METRICS_HOST_MAX + 1; "" for :PORT) and *port (0 to 65535; 0: any free port).
 * Returns 0, or -EINVAL when addr is not of that form. Resolves nothing. */
int fwd_metrics_http_split_addr(const char *addr, char *host, unsigned *port);

struct fwd_metrics_http;

/* Binds addr (as fwd_metrics_http_split_addr(); a host name is resolved, its first
 * address taken) and serves m there until fwd_metrics_http_stop(); m must outlive the
 * server. Signals blocked in the calling thread stay blocked in the server's. Returns 0
 * with *out set, or a negative errno with a one-line reason in err (naming addr): -EINVAL
 * for an address of another form or a host that does not resolve, bind()'s error
 * (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES, ...), or -ENOMEM. */
int fwd_metrics_http_start(const char *addr, struct fwd_metrics *m,
			   struct fwd_metrics_http **out, char *err, size_t errlen);

/* The port h is bound to (the one picked for port 0). */
unsigned fwd_metrics_http_port(const struct fwd_metrics_http *h);

/* Stops serving (a scrape under way is cut short), closes the socket and frees h.
 * NULL is fine. */
void fwd_metrics_http_stop(struct fwd_metrics_http *h);

#endif
