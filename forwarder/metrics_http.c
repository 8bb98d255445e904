/* The metrics endpoint on libmicrohttpd. The listening socket is made here rather than by
 * libmicrohttpd so that a failure to bind comes with its errno (the forwarder then refuses
 * to start, saying why); libmicrohttpd serves it from its own polling thread and closes it
 * when stopped. A scrape renders the registry afresh: nothing is cached, and the request
 * path never waits for a scrape. */
#include "metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"

/* Scrapers connected at once, at most; and how long an idle one is kept (seconds). */
#define METRICS_HTTP_CONNECTIONS 16
#define METRICS_HTTP_IDLE_S 10
#define METRICS_HTTP_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct fwd_metrics_http {
	struct MHD_Daemon *daemon;
	struct fwd_metrics *metrics;
	unsigned port;
};

int fwd_metrics_http_split_addr(const char *addr, char *host, unsigned *port)
{
	const char *colon, *h = addr, *hend;
	unsigned long v;
	char *end;

	if (addr[0] == '[') {
		hend = strchr(addr, ']');
		if (!hend || hend[1] != ':' || hend == addr + 1)
			return -EINVAL;
		h = addr + 1;
		colon = hend + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL;  /* none, or an IPv6 literal without brackets */
		hend = colon;
	}
	if ((size_t)(hend - h) > FWD_METRICS_HOST_MAX || memchr(h, '/', (size_t)(hend - h)))
		return -EINVAL;
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*port = (unsigned)v;
	return 0;
}

/* Resolves host (a literal or a name; "" for every IPv4 address) and port into *sa.
 * Returns 0 or -EINVAL with the reason in err. */
static int metrics_http_resolve(const char *addr, const char *host, unsigned port,
				struct sockaddr_storage *sa, socklen_t *salen, char *err,
				size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char service[8];
	int rc;

	snprintf(service, sizeof(service), "%u", port);
	if (!*host) {
		hints.ai_family = AF_INET;
		hints.ai_flags |= AI_PASSIVE;
	}
	rc = getaddrinfo(*host ? host : NULL, service, &hints, &res);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
		/* AI_ADDRCONFIG hides loopback-only families on a host without other
		 * addresses: ask again without it */
		hints.ai_flags &= ~AI_ADDRCONFIG;
		rc = getaddrinfo(*host ? host : NULL, service, &hints, &res);
	}
	if (rc) {
		snprintf(err, errlen, "cannot resolve the metrics address %s: %s", addr,
			 gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* A listening TCP socket bound to sa. Returns it, or a negative errno with the reason in
 * err. */
static int metrics_http_listen(const char *addr, const struct sockaddr_storage *sa,
			       socklen_t salen, char *err, size_t errlen)
{
	int fd, one = 1, rc;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* a restart is not refused for the connections of the last run in TIME_WAIT */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)sa, salen) || listen(fd, METRICS_HTTP_CONNECTIONS)) {
		rc = -errno;
		goto fail_close;
	}
	return fd;

fail_close:
	close(fd);
fail:
	snprintf(err, errlen, "cannot serve metrics on %s: %s", addr, strerror(-rc));
	return rc;
}

/* Queues a response of status with body (a static string) and the Content-Type of the
 * exposition format or of plain text. */
static enum MHD_Result metrics_http_reply(struct MHD_Connection *c, unsigned status,
					  const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* libmicrohttpd's handler, in its polling thread: answers at the first call, whatever
 * body the request may carry. */
static enum MHD_Result metrics_http_handle(void *cls, struct MHD_Connection *c, const char *url,
					   const char *method, const char *version,
					   const char *upload_data, size_t *upload_data_size,
					   void **con_cls)
{
	struct fwd_metrics_http *h = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;
	size_t len;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return metrics_http_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "only GET and HEAD are served\n");
	if (strcmp(url, "/metrics"))
		return metrics_http_reply(c, MHD_HTTP_NOT_FOUND,
					  "not found: the metrics are at /metrics\n");
	if (fwd_metrics_render(h->metrics, &text, &len))
		return metrics_http_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_HTTP_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* libmicrohttpd's complaints (a connection that failed, ...) go to the log. */
static void metrics_http_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	fwd_log_warn("metrics server: %s", line);
}

int fwd_metrics_http_start(const char *addr, struct fwd_metrics *m,
			   struct fwd_metrics_http **out, char *err, size_t errlen)
{
	struct fwd_metrics_http *h;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	char host[FWD_METRICS_HOST_MAX + 1];
	unsigned port;
	int fd, rc;

	if (fwd_metrics_http_split_addr(addr, host, &port)) {
		snprintf(err, errlen, "the metrics address wants HOST:PORT, [IPV6]:PORT or "
			 ":PORT, not '%s'", addr);
		return -EINVAL;
	}
	rc = metrics_http_resolve(addr, host, port, &sa, &salen, err, errlen);
	if (rc)
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->metrics = m;
	fd = metrics_http_listen(addr, &sa, salen, err, errlen);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	salen = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &salen)) {
		rc = -errno;
		snprintf(err, errlen, "cannot serve metrics on %s: %s", addr, strerror(-rc));
		goto fail_close;
	}
	h->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port :
			((struct sockaddr_in *)&sa)->sin_port);
	h->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
				     (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				     0, NULL, NULL, metrics_http_handle, h,
				     MHD_OPTION_EXTERNAL_LOGGER, metrics_http_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_IDLE_S,
				     MHD_OPTION_END);
	if (!h->daemon) {
		/* the socket is libmicrohttpd's once given, closed by it on failure too */
		rc = -ENOMEM;
		snprintf(err, errlen, "cannot serve metrics on %s: the HTTP server does not start",
			 addr);
		goto fail;
	}
	*out = h;
	return 0;

fail_close:
	close(fd);
fail:
	free(h);
	return rc;
}

unsigned fwd_metrics_http_port(const struct fwd_metrics_http *h)
{
	return h->port;
}

void fwd_metrics_http_stop(struct fwd_metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}
