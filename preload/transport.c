/* SP REQ client over a socket of our own: see transport.h for the protocol and the rules
 * this code lives by (no threads, no signals, no output, errno kept, fork-safe). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "transport.h"

#define SP_PROTO_REQ 48 /* NN_PROTO_REQREP * 16 + 0 */
#define SP_PROTO_REP 49 /* NN_PROTO_REQREP * 16 + 1 */
#define SP_HEADER_SIZE 8
#define SP_IPC_MSG_NORMAL 1
#define SP_REQID_FINAL 0x80000000u /* top bit: bottom of the backtrace stack */
#define SP_REQID_SIZE 4

/* A unix domain socket whose listen queue is full refuses a non-blocking connect with
 * EAGAIN; we try again this often until the deadline. */
#define IPC_BUSY_RETRY_MS 5

enum transport_kind { KIND_TCP, KIND_IPC };

struct transport {
	enum transport_kind kind;
	char *host; /* tcp: a name to resolve at each connect; NULL when addr holds a literal */
	char port[6];
	struct sockaddr_storage addr; /* tcp literal, or the ipc path */
	socklen_t addrlen;

	int fd;    /* -1 when not connected */
	pid_t pid; /* the process that made fd */
	dev_t dev; /* fstat() identity of fd, to tell whether the number is still ours */
	ino_t ino;

	pid_t id_pid; /* the process next_id was seeded in */
	uint32_t next_id;
};

/* --- byte order, clock, errors --------------------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds left before deadline (ns, monotonic; negative: none) for poll(): -1 without
 * a deadline, 0 once it has passed, else rounded up so that we never wake early. */
static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static uint32_t random_u32(const void *salt)
{
	uint32_t v;
	ssize_t n;

	do
		n = getrandom(&v, sizeof(v), GRND_NONBLOCK);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(v))
		return v;
	/* No entropy yet (early boot) or no getrandom: anything that differs between
	 * processes will do, the id only has to differ from the previous requests'. */
	return (uint32_t)now_ns() * 2654435761u ^ (uint32_t)getpid() << 16 ^
	       (uint32_t)(uintptr_t)salt;
}

/* Errors while connecting, mapped onto the documented set. Whatever says "nothing there
 * to talk to" (no socket file, not a socket, no permission) is ECONNREFUSED. */
static int connect_error(int e)
{
	switch (e) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ETIMEDOUT:
	case ECONNRESET:
	case EPIPE:
	case EPROTO:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return -e;
	case EHOSTDOWN:
		return -EHOSTUNREACH;
	case ENETDOWN:
	case EAFNOSUPPORT: /* e.g. an IPv6 address with IPv6 disabled */
		return -ENETUNREACH;
	case ENOBUFS:
		return -ENOMEM;
	default:
		return -ECONNREFUSED;
	}
}

/* Errors on an established connection. */
static int io_error(int e)
{
	switch (e) {
	case ECONNRESET:
	case EPIPE:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EPROTO:
	case EMSGSIZE:
	case ENOMEM:
		return -e;
	case EHOSTDOWN:
		return -EHOSTUNREACH;
	case ENETDOWN:
		return -ENETUNREACH;
	case ENOBUFS:
		return -ENOMEM;
	default: /* ENOTCONN, ECONNABORTED, ENETRESET, EBADF, EIO, ... */
		return -ECONNRESET;
	}
}

/* --- waiting and moving bytes ------------------------------------------------------------- */

/* Waits until fd is ready for events (or has an error or hangup to report), retrying
 * EINTR with the time left. 0, -ETIMEDOUT, or a negative errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p;
	int ms, n;

	for (;;) {
		ms = remaining_ms(deadline);
		if (ms == 0)
			return -ETIMEDOUT;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		n = poll(&p, 1, ms);
		if (n > 0)
			return (p.revents & POLLNVAL) ? -EBADF : 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		/* n == 0 (rounding) or EINTR: compute what is left and go on */
	}
}

/* Sends every byte of iov[0..cnt) (modified as it goes). 0 or a negative errno. */
static int send_all(int fd, struct iovec *iov, int cnt, int64_t deadline)
{
	struct msghdr m;
	ssize_t n;
	size_t k;
	int rc;

	for (;;) {
		while (cnt > 0 && iov->iov_len == 0) {
			iov++;
			cnt--;
		}
		if (cnt == 0)
			return 0;
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)cnt;
		n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		for (k = (size_t)n; k > 0;) {
			size_t step = k < iov->iov_len ? k : iov->iov_len;

			iov->iov_base = (uint8_t *)iov->iov_base + step;
			iov->iov_len -= step;
			k -= step;
			if (iov->iov_len == 0 && k > 0) {
				iov++;
				cnt--;
			}
		}
	}
}

/* Receives exactly n bytes. End of stream is -ECONNRESET. */
static int recv_all(int fd, void *buf, size_t n, int64_t deadline)
{
	uint8_t *p = buf;
	ssize_t r;
	int rc;

	while (n > 0) {
		r = recv(fd, p, n, MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reads and throws away n bytes (a reply that is not for us). */
static int discard(int fd, uint64_t n, int64_t deadline)
{
	uint8_t scratch[4096];
	size_t step;
	int rc;

	while (n > 0) {
		step = n < sizeof(scratch) ? (size_t)n : sizeof(scratch);
		rc = recv_all(fd, scratch, step, deadline);
		if (rc < 0)
			return rc;
		n -= step;
	}
	return 0;
}

/* --- the connection ----------------------------------------------------------------------- */

/* Whether t->fd still is the socket we made: a program may have closed it and put another
 * file on its number since. */
static int fd_is_ours(const struct transport *t)
{
	struct stat st;

	if (t->fd < 0 || fstat(t->fd, &st) != 0)
		return 0;
	return S_ISSOCK(st.st_mode) && st.st_dev == t->dev && st.st_ino == t->ino;
}

/* Forgets the connection. The descriptor is closed only if it is still ours, and shut down
 * only by the process that made it: a forked child's shutdown() would end the parent's
 * connection too (both descriptors are one socket). */
static void drop_connection(struct transport *t, pid_t self)
{
	if (t->fd >= 0 && fd_is_ours(t)) {
		if (t->pid == self)
			shutdown(t->fd, SHUT_RDWR);
		close(t->fd);
	}
	t->fd = -1;
}

/* An idle connection must have nothing to read: a readable socket between two requests
 * has been closed by the peer (forwarder restarted) or holds bytes nobody asked for. */
static int idle_connection_ok(int fd)
{
	struct pollfd p;
	int n;

	do {
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		n = poll(&p, 1, 0);
	} while (n < 0 && errno == EINTR);
	return n <= 0;
}

/* A TCP connect to a local port nobody listens on can connect the socket to itself
 * (simultaneous open); that is "nothing there". */
static int is_self_connected(int fd)
{
	struct sockaddr_storage a, b;
	socklen_t al = sizeof(a), bl = sizeof(b);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (getsockname(fd, (struct sockaddr *)&a, &al) != 0 ||
	    getpeername(fd, (struct sockaddr *)&b, &bl) != 0)
		return 0;
	return al == bl && memcmp(&a, &b, al) == 0;
}

/* Sends our SP header and checks the peer's: it must be a REP. */
static int exchange_headers(int fd, int64_t deadline)
{
	uint8_t ours[SP_HEADER_SIZE] = { 0x00, 'S', 'P', 0x00, 0, 0, 0, 0 };
	uint8_t theirs[SP_HEADER_SIZE];
	struct iovec iov;
	int rc;

	put_be16(ours + 4, SP_PROTO_REQ);
	iov.iov_base = ours;
	iov.iov_len = sizeof(ours);
	rc = send_all(fd, &iov, 1, deadline);
	if (rc == 0)
		rc = recv_all(fd, theirs, sizeof(theirs), deadline);
	if (rc < 0)
		return rc;
	/* Bytes 6-7 are reserved; libnanomsg ignores them, and so do we. */
	if (memcmp(theirs, "\0SP\0", 4) != 0 || get_be16(theirs + 4) != SP_PROTO_REP)
		return -EPROTO;
	return 0;
}

/* Connects one address and exchanges headers. The new descriptor in *fdp, or an error. */
static int connect_one(const struct sockaddr *sa, socklen_t salen, int64_t deadline, int *fdp)
{
	int fd, rc, err, one = 1;
	socklen_t errlen;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return connect_error(errno);
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	for (;;) {
		if (connect(fd, sa, salen) == 0)
			break;
		if (errno == EINPROGRESS || errno == EINTR) {
			/* EINTR: the connection goes on in the background, as with EINPROGRESS */
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc < 0)
				goto fail;
			err = 0;
			errlen = sizeof(err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0)
				err = errno;
			if (err != 0) {
				rc = -err;
				goto fail;
			}
			break;
		}
		if (errno == EAGAIN && sa->sa_family == AF_UNIX) {
			int ms = remaining_ms(deadline);

			if (ms == 0) {
				rc = -ETIMEDOUT;
				goto fail;
			}
			poll(NULL, 0, ms < 0 || ms > IPC_BUSY_RETRY_MS ? IPC_BUSY_RETRY_MS : ms);
			continue;
		}
		rc = -errno;
		goto fail;
	}
	if (sa->sa_family != AF_UNIX && is_self_connected(fd)) {
		rc = -ECONNREFUSED;
		goto fail;
	}
	rc = exchange_headers(fd, deadline);
	if (rc < 0)
		goto fail;
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return connect_error(-rc);
}

static int resolve_error(int gai)
{
	switch (gai) {
	case EAI_MEMORY:
		return -ENOMEM;
	default: /* EAI_NONAME, EAI_AGAIN, EAI_FAIL, EAI_NODATA, EAI_SYSTEM, ... */
		return -EHOSTUNREACH;
	}
}

/* Makes a new connection to the endpoint, and records it in t. */
static int connect_endpoint(struct transport *t, pid_t self, int64_t deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct stat st;
	int fd = -1, rc, gai;

	if (!t->host) {
		rc = connect_one((const struct sockaddr *)&t->addr, t->addrlen, deadline, &fd);
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		gai = getaddrinfo(t->host, t->port, &hints, &res);
		if (gai != 0)
			return resolve_error(gai);
		rc = -EHOSTUNREACH;
		for (ai = res; ai; ai = ai->ai_next) {
			if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
				continue;
			rc = connect_one(ai->ai_addr, ai->ai_addrlen, deadline, &fd);
			if (rc == 0 || rc == -ETIMEDOUT || rc == -ENOMEM || rc == -EMFILE ||
			    rc == -ENFILE)
				break;
		}
		freeaddrinfo(res);
	}
	if (rc < 0)
		return rc;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -ECONNRESET;
	}
	t->fd = fd;
	t->pid = self;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	return 0;
}

/* Sends one request on the connection and reads frames until the reply to it. */
static int exchange(struct transport *t, uint32_t wire_id, const void *req, size_t len,
		    void **reply, size_t *reply_len, size_t max_reply, int64_t deadline, int *sent)
{
	int ipc = t->kind == KIND_IPC;
	size_t framelen = ipc ? 9 : 8;
	uint8_t head[9 + SP_REQID_SIZE], frame[9], id[SP_REQID_SIZE];
	struct iovec iov[2];
	uint64_t size, body;
	void *buf;
	int rc;

	if (ipc)
		head[0] = SP_IPC_MSG_NORMAL;
	put_be64(head + framelen - 8, (uint64_t)len + SP_REQID_SIZE);
	put_be32(head + framelen, wire_id);
	iov[0].iov_base = head;
	iov[0].iov_len = framelen + SP_REQID_SIZE;
	iov[1].iov_base = (void *)req;
	iov[1].iov_len = len;
	rc = send_all(t->fd, iov, 2, deadline);
	if (rc < 0)
		return io_error(-rc);
	*sent = 1;

	for (;;) {
		rc = recv_all(t->fd, frame, framelen, deadline);
		if (rc < 0)
			return io_error(-rc);
		if (ipc && frame[0] != SP_IPC_MSG_NORMAL)
			return -EPROTO;
		size = get_be64(frame + framelen - 8);
		if (size < SP_REQID_SIZE) {
			/* no request id: malformed, skipped as libnanomsg's REQ does */
			rc = discard(t->fd, size, deadline);
			if (rc < 0)
				return io_error(-rc);
			continue;
		}
		rc = recv_all(t->fd, id, sizeof(id), deadline);
		if (rc < 0)
			return io_error(-rc);
		body = size - SP_REQID_SIZE;
		if (get_be32(id) != wire_id) {
			/* the reply to an earlier request, or not a reply at all */
			rc = discard(t->fd, body, deadline);
			if (rc < 0)
				return io_error(-rc);
			continue;
		}
		if (body > max_reply || body > SIZE_MAX)
			return -EMSGSIZE;
		buf = malloc(body ? (size_t)body : 1);
		if (!buf)
			return -ENOMEM;
		rc = recv_all(t->fd, buf, (size_t)body, deadline);
		if (rc < 0) {
			free(buf);
			return io_error(-rc);
		}
		*reply = buf;
		*reply_len = (size_t)body;
		return 0;
	}
}

int transport_request(struct transport *t, const void *req, size_t len, void **reply,
		      size_t *reply_len, int timeout_ms, size_t max_reply, int *sent)
{
	int saved_errno = errno;
	int64_t deadline;
	int sent_here = 0, rc, reused, attempt;
	uint32_t wire_id;
	pid_t self;

	if (sent)
		*sent = 0;
	if (reply)
		*reply = NULL;
	if (reply_len)
		*reply_len = 0;
	if (!t || !reply || !reply_len || (!req && len > 0)) {
		errno = saved_errno;
		return -EINVAL;
	}
	if (len > SIZE_MAX - SP_REQID_SIZE) {
		errno = saved_errno;
		return -EMSGSIZE;
	}
	deadline = timeout_ms < 0 ? -1 : now_ns() + (int64_t)timeout_ms * 1000000;
	self = getpid();

	if (t->fd >= 0) {
		if (t->pid != self) {
			/* Inherited across fork: the stream belongs to the parent. Close our
			 * copy (if the number is still that socket) without shutdown(). */
			if (fd_is_ours(t))
				close(t->fd);
			t->fd = -1;
		} else if (!fd_is_ours(t)) {
			t->fd = -1; /* someone else's file now: leave it alone */
		} else if (!idle_connection_ok(t->fd)) {
			drop_connection(t, self);
		}
	}
	if (t->id_pid != self) {
		t->next_id = random_u32(t);
		t->id_pid = self;
	}
	wire_id = (t->next_id++ & ~SP_REQID_FINAL) | SP_REQID_FINAL;

	for (attempt = 0;; attempt++) {
		reused = t->fd >= 0;
		if (!reused) {
			rc = connect_endpoint(t, self, deadline);
			if (rc < 0)
				break;
		}
		rc = exchange(t, wire_id, req, len, reply, reply_len, max_reply, deadline,
			      &sent_here);
		if (rc == 0)
			break;
		drop_connection(t, self);
		/* A connection that was fine when the call began broke before the request was
		 * completely written: the peer cannot have it, so try once on a new one. */
		if (!(reused && !sent_here && attempt == 0 && (rc == -EPIPE || rc == -ECONNRESET)))
			break;
	}
	if (sent)
		*sent = sent_here;
	errno = saved_errno;
	return rc;
}

/* --- opening and closing ------------------------------------------------------------------ */

static int parse_port(const char *s, char out[6])
{
	unsigned long v = 0;
	size_t i;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int valid_host_name(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

static int parse_tcp(struct transport *t, const char *rest)
{
	char buf[300];
	const char *colon;
	char *host;
	size_t n;
	int rc;

	n = strlen(rest);
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, rest, n + 1);

	if (buf[0] == '[') {
		struct addrinfo hints, *res = NULL;
		char *close_br = strchr(buf, ']');

		if (!close_br || close_br[1] != ':' || close_br == buf + 1)
			return -EINVAL;
		*close_br = '\0';
		host = buf + 1;
		rc = parse_port(close_br + 2, t->port);
		if (rc < 0)
			return rc;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_INET6;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		rc = getaddrinfo(host, t->port, &hints, &res);
		if (rc != 0)
			return rc == EAI_MEMORY ? -ENOMEM : -EINVAL;
		if (res->ai_addrlen > sizeof(t->addr)) {
			freeaddrinfo(res);
			return -EINVAL;
		}
		memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
		t->addrlen = res->ai_addrlen;
		freeaddrinfo(res);
		return 0;
	}

	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	host = buf;
	buf[colon - buf] = '\0';
	rc = parse_port(colon + 1, t->port);
	if (rc < 0)
		return rc;
	if (!strchr(host, ':')) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t->addr;

		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)atoi(t->port));
			t->addrlen = sizeof(*sin);
			return 0;
		}
	}
	/* "*" (bind only), "iface;host" and unbracketed IPv6 are not for a client */
	if (!valid_host_name(host))
		return -EINVAL;
	t->host = strdup(host);
	return t->host ? 0 : -ENOMEM;
}

static int parse_ipc(struct transport *t, const char *path)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&t->addr;
	size_t n = strlen(path);

	if (path[0] != '/' || n < 2 || n >= sizeof(un->sun_path))
		return -EINVAL;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n + 1);
	t->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

int transport_open(struct transport **tp, const char *endpoint)
{
	int saved_errno = errno;
	struct transport *t;
	int rc;

	if (!tp) {
		errno = saved_errno;
		return -EINVAL;
	}
	*tp = NULL;
	if (!endpoint) {
		errno = saved_errno;
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		errno = saved_errno;
		return -ENOMEM;
	}
	t->fd = -1;
	if (strncmp(endpoint, "tcp://", 6) == 0) {
		t->kind = KIND_TCP;
		rc = parse_tcp(t, endpoint + 6);
	} else if (strncmp(endpoint, "ipc://", 6) == 0) {
		t->kind = KIND_IPC;
		rc = parse_ipc(t, endpoint + 6);
	} else {
		rc = -EINVAL;
	}
	if (rc < 0) {
		free(t->host);
		free(t);
		errno = saved_errno;
		return rc;
	}
	t->id_pid = getpid();
	t->next_id = random_u32(t);
	*tp = t;
	errno = saved_errno;
	return 0;
}

void transport_close(struct transport *t)
{
	int saved_errno = errno;

	if (t) {
		drop_connection(t, getpid());
		free(t->host);
		free(t);
	}
	errno = saved_errno;
}
