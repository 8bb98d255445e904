/* PING a forwarder (see fwd_ping.h). The first PING also makes nanomsg's connection, so
 * it is not counted in the round trips. */
#include "fwd_ping.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "endpoint.h"

/* Most round trips timed. */
#define PING_MAX_SAMPLES 64

static int64_t ping_now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *fwd_ping_state_name(enum fwd_ping_state state)
{
	switch (state) {
	case FWD_PING_ANSWERED:
		return "answered";
	case FWD_PING_UNREACHABLE:
		return "unreachable";
	case FWD_PING_UNRESOLVED:
		return "unresolved";
	case FWD_PING_TIMEOUT:
		return "timeout";
	case FWD_PING_REFUSED:
		return "refused";
	case FWD_PING_NOT_AUTHENTIC:
		return "not-authentic";
	case FWD_PING_STOPPING:
		return "stopping";
	case FWD_PING_OLD:
		return "no-health-check";
	case FWD_PING_ERROR:
		break;
	}
	return "error";
}

const char *fwd_ping_role_name(uint32_t role)
{
	switch (role) {
	case WIRE_ROLE_PRIMARY:
		return "primary";
	case WIRE_ROLE_REPLICA:
		return "replica";
	case WIRE_ROLE_NO_MOUNT:
		return "no-mount";
	default:
		return "unknown";
	}
}

/* Connects fd to addr (len bytes) within timeout_ms. Returns 0 or a negative errno
 * (-ETIMEDOUT when the time ran out). */
static int ping_connect_fd(int fd, const struct sockaddr *addr, socklen_t len, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int err = 0, n;

	if (connect(fd, addr, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -errno;
	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen))
		return -errno;
	return -err;
}

/* Whether something listens at a: a plain TCP or unix socket connection, closed at once.
 * Sets r->state and r->error when not. Returns 0 when it connected. */
static int ping_probe_listener(const struct endpoint_addr *a, int timeout_ms,
			       struct fwd_ping_result *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	int rc = -ECONNREFUSED, g;

	if (a->kind == ENDPOINT_IPC) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (fd < 0)
			rc = -errno;
		else {
			memcpy(un.sun_path, a->path, strlen(a->path) + 1);
			rc = ping_connect_fd(fd, (struct sockaddr *)&un, sizeof(un), timeout_ms);
			close(fd);
		}
		if (rc) {
			r->state = FWD_PING_UNREACHABLE;
			snprintf(r->error, sizeof(r->error), "nothing listens at %s: %s", a->path,
				 strerror(-rc));
		}
		return rc;
	}
	g = getaddrinfo(a->host, a->port, &hints, &res);
	if (g) {
		r->state = FWD_PING_UNRESOLVED;
		snprintf(r->error, sizeof(r->error), "cannot resolve %s: %s", a->host,
			 gai_strerror(g));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (fd < 0) {
			rc = -errno;
			continue;
		}
		rc = ping_connect_fd(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		close(fd);
		if (!rc)
			break;
	}
	freeaddrinfo(res);
	if (rc) {
		r->state = rc == -ETIMEDOUT ? FWD_PING_TIMEOUT : FWD_PING_UNREACHABLE;
		snprintf(r->error, sizeof(r->error), "nothing listens at %s port %s: %s", a->host,
			 a->port, rc == -ETIMEDOUT ? "no answer to a connection" : strerror(-rc));
	}
	return rc;
}

static uint64_t ping_request_id(void)
{
	uint64_t id = 0;

	while (!id)
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = (uint64_t)ping_now_ns(CLOCK_MONOTONIC) ^ (uint64_t)getpid() << 32;
	return id;
}

/* Takes an ERROR reply to a PING as r's outcome. sealed_request: the PING carried a
 * seal. */
static void ping_take_error(const struct wire_error *e, bool sealed_request,
			    struct fwd_ping_result *r)
{
	int n = (int)(e->message.n > 400 ? 400 : e->message.n);

	switch (e->code) {
	case EACCES:
		r->state = FWD_PING_REFUSED;
		snprintf(r->error, sizeof(r->error), "%.*s", n, e->message.p);
		return;
	case ESHUTDOWN:
		r->state = FWD_PING_STOPPING;
		snprintf(r->error, sizeof(r->error), "%.*s", n, e->message.p);
		return;
	case EBADMSG:
		if (sealed_request) {
			/* a forwarder with a secret would have refused or answered sealed */
			r->state = FWD_PING_ERROR;
			snprintf(r->error, sizeof(r->error), "the forwarder has no secret (it took "
				 "the sealed request for a malformed one: %.*s)", n, e->message.p);
		} else {
			r->state = FWD_PING_OLD;
			snprintf(r->error, sizeof(r->error), "the forwarder answers but does not "
				 "know the health check (%.*s): an older litefs-fwd?", n,
				 e->message.p);
		}
		return;
	default:
		r->state = FWD_PING_ERROR;
		snprintf(r->error, sizeof(r->error), "the forwarder answered %s: %.*s",
			 strerror(e->code), n, e->message.p);
	}
}

static int ping_take_pong(const struct wire_pong *p, struct fwd_ping_result *r)
{
	r->state = FWD_PING_ANSWERED;
	r->error[0] = '\0';
	r->role = p->role;
	snprintf(r->primary, sizeof(r->primary), "%.*s", (int)(p->primary.n > 255 ? 255 :
		 p->primary.n), p->primary.p);
	snprintf(r->version, sizeof(r->version), "%.*s", (int)(p->version.n > 63 ? 63 :
		 p->version.n), p->version.p);
	r->uptime_ms = p->uptime_ms;
	r->clock_ms = p->clock_ms;
	if (!p->ndbs)
		return 0;
	free(r->dbs);
	r->ndbs = 0;
	r->dbs = calloc(p->ndbs, sizeof(*r->dbs));
	if (!r->dbs)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->ndbs; i++) {
		snprintf(r->dbs[i].name, sizeof(r->dbs[i].name), "%.*s",
			 (int)(p->dbs[i].name.n > 255 ? 255 : p->dbs[i].name.n), p->dbs[i].name.p);
		r->dbs[i].txid = p->dbs[i].txid;
	}
	r->ndbs = p->ndbs;
	return 0;
}

/* Reads the reply reply[0..len) to a PING into r: opened with key when there is one.
 * Returns 0 (r->state says what it was) or -ENOMEM. */
static int ping_take_reply(const void *reply, size_t len, const struct auth_key *key,
			   size_t max, struct fwd_ping_result *r)
{
	bool keyed = key && key->len;
	size_t body = len;
	struct wire_msg m;
	int rc;

	r->sealed = false;
	if (keyed) {
		rc = auth_open(key, reply, len, (uint64_t)(ping_now_ns(CLOCK_REALTIME) / 1000000),
			       AUTH_DEFAULT_WINDOW_MS, &body, NULL, NULL);
		if (rc == 0) {
			r->sealed = true;
		} else {
			/* a refusal comes unsealed: only an ERROR may be read so */
			body = len;
			if (wire_decode(reply, len, max, &m) == 0) {
				if (m.type == WIRE_ERROR)
					ping_take_error(&m.u.error, true, r);
				else {
					r->state = FWD_PING_NOT_AUTHENTIC;
					snprintf(r->error, sizeof(r->error), "the answer is not "
						 "sealed with this node's secret");
				}
				wire_msg_free(&m);
				return 0;
			}
			r->state = FWD_PING_NOT_AUTHENTIC;
			snprintf(r->error, sizeof(r->error), "the answer is not sealed with this "
				 "node's secret (%s): the forwarder has another secret, or its clock "
				 "is more than %d s away", rc == -ETIME ? "outside the time window" :
				 "wrong seal", AUTH_DEFAULT_WINDOW_MS / 1000);
			return 0;
		}
	}
	rc = wire_decode(reply, body, max, &m);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		r->state = FWD_PING_ERROR;
		snprintf(r->error, sizeof(r->error), "an answer that cannot be read (%s)%s",
			 strerror(-rc), keyed ? "" : ": does the forwarder seal its answers "
			 "with a secret this node does not have?");
		return 0;
	}
	rc = 0;
	if (m.type == WIRE_PONG)
		rc = ping_take_pong(&m.u.pong, r);
	else if (m.type == WIRE_ERROR)
		ping_take_error(&m.u.error, keyed, r);
	else {
		r->state = FWD_PING_ERROR;
		snprintf(r->error, sizeof(r->error), "unexpected answer of type %u", m.type);
	}
	wire_msg_free(&m);
	return rc;
}

/* One PING on sock. Returns 0 with r updated and *rtt_ns, *sent_ns (wall clock at send)
 * set; -ETIMEDOUT, or another negative errno of the socket. */
static int ping_once(int sock, const struct auth_key *key, uint32_t flags, size_t max,
		     struct fwd_ping_result *r, int64_t *rtt_ns, int64_t *sent_ns)
{
	struct wire_ping ping = { .request_id = ping_request_id(), .flags = flags };
	struct wire_buf b = { 0 };
	void *reply = NULL;
	int64_t t0;
	int n, rc;

	rc = wire_encode_ping(&b, &ping, max);
	if (rc)
		return rc;
	if (key && key->len) {
		unsigned char t[AUTH_TRAILER_BYTES];

		rc = auth_seal(key, b.p, b.len, (uint64_t)(ping_now_ns(CLOCK_REALTIME) / 1000000), t);
		if (!rc)
			rc = wire_buf_append(&b, t, sizeof(t));
		if (rc)
			goto out;
	}
	*sent_ns = ping_now_ns(CLOCK_REALTIME);
	t0 = ping_now_ns(CLOCK_MONOTONIC);
	if (nn_send(sock, b.p, b.len, 0) < 0) {
		rc = -nn_errno();
		goto out;
	}
	n = nn_recv(sock, &reply, NN_MSG, 0);
	if (n < 0) {
		rc = -nn_errno();
		goto out;
	}
	*rtt_ns = ping_now_ns(CLOCK_MONOTONIC) - t0;
	rc = ping_take_reply(reply, (size_t)n, key, max, r);
	nn_freemsg(reply);
out:
	wire_buf_free(&b);
	return rc;
}

static int ping_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Opens a REQ socket to endpoint with timeout_ms on each send and receive; ipv6: the
 * endpoint's host is an IPv6 literal (nanomsg connects over IPv4 only unless told). Returns
 * the socket or a negative errno. */
static int ping_socket(const char *endpoint, bool ipv6, int timeout_ms, size_t max)
{
	int sock = nn_socket(AF_SP, NN_REQ), ipv4only = 0, rc;
	int maxsize = (int)max;

	if (sock < 0)
		return -nn_errno();
	if (nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout_ms, sizeof(timeout_ms)) ||
	    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof(timeout_ms)) ||
	    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof(maxsize)) ||
	    (ipv6 && nn_setsockopt(sock, NN_SOL_SOCKET, NN_IPV4ONLY, &ipv4only,
				   sizeof(ipv4only))) ||
	    nn_connect(sock, endpoint) < 0) {
		rc = -nn_errno();
		nn_close(sock);
		return rc;
	}
	return sock;
}

int fwd_ping_check(const char *endpoint, const struct auth_key *key, int timeout_ms, int samples,
	     bool want_dbs, struct fwd_ping_result *r)
{
	/* a PONG listing many databases: room for it, within what a forwarder sends */
	size_t max = WIRE_DEFAULT_MAX_MESSAGE + AUTH_TRAILER_BYTES;
	double rtt[PING_MAX_SAMPLES];
	struct endpoint_addr a;
	int64_t rtt_ns = 0, sent_ns = 0, best_ns = 0;
	int sock, rc = 0, i, total;

	memset(r, 0, sizeof(*r));
	r->state = FWD_PING_ERROR;
	if (samples < 0)
		samples = 0;
	if (samples > PING_MAX_SAMPLES)
		samples = PING_MAX_SAMPLES;
	if (endpoint_parse(endpoint, &a)) {
		r->state = FWD_PING_UNRESOLVED;
		snprintf(r->error, sizeof(r->error), "not an endpoint the interposer can reach "
			 "(tcp://HOST:PORT or ipc:///PATH): %s", endpoint);
		return 0;
	}
	if (ping_probe_listener(&a, timeout_ms, r))
		return 0;
	sock = ping_socket(endpoint, a.kind == ENDPOINT_TCP && strchr(a.host, ':'), timeout_ms,
			   max);
	if (sock < 0) {
		snprintf(r->error, sizeof(r->error), "cannot open a nanomsg socket to %s: %s",
			 endpoint, nn_strerror(-sock));
		return 0;
	}
	/* one to connect, samples timed, one for the databases */
	total = 1 + samples + (want_dbs ? 1 : 0);
	for (i = 0; i < total; i++) {
		bool dbs = want_dbs && i == total - 1;

		rc = ping_once(sock, key, dbs ? WIRE_PING_DATABASES : 0, max, r, &rtt_ns, &sent_ns);
		if (rc == -ENOMEM)
			goto out;
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			r->state = FWD_PING_TIMEOUT;
			snprintf(r->error, sizeof(r->error), "no answer within %d ms", timeout_ms);
			rc = 0;
			goto out;
		}
		if (rc) {
			r->state = FWD_PING_ERROR;
			snprintf(r->error, sizeof(r->error), "the health check failed: %s",
				 nn_strerror(-rc));
			rc = 0;
			goto out;
		}
		if (r->state != FWD_PING_ANSWERED)
			goto out;
		if (i >= 1 && i <= samples)
			rtt[r->samples++] = (double)rtt_ns / 1e6;
		/* the clocks compared over the quickest round trip: the least uncertain */
		if (i == 0 || rtt_ns < best_ns) {
			best_ns = rtt_ns;
			r->clock_offset_ms = (int64_t)r->clock_ms -
					     (sent_ns + rtt_ns / 2) / 1000000;
		}
	}
	if (r->samples) {
		qsort(rtt, (size_t)r->samples, sizeof(rtt[0]), ping_cmp_double);
		r->rtt_ms_min = rtt[0];
		r->rtt_ms_max = rtt[r->samples - 1];
		r->rtt_ms_median = rtt[r->samples / 2];
	} else {
		r->rtt_ms_min = r->rtt_ms_max = r->rtt_ms_median = (double)rtt_ns / 1e6;
	}
out:
	nn_close(sock);
	return rc;
}

void fwd_ping_result_free(struct fwd_ping_result *r)
{
	if (!r)
		return;
	free(r->dbs);
	r->dbs = NULL;
	r->ndbs = 0;
}
