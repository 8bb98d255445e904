/* preload/transport.c against real libnanomsg REP sockets (served from threads of this
 * process) and against scripted raw servers written with plain sockets. Every test gets a
 * fixture: whatever it starts (servers, transports, children, descriptors, the temp dir)
 * is registered there and torn down even when the test fails. Loopback only. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "transport.h"

#define MAX_REPLY (128u << 20)
#define BIG (64u << 20)

/* --- time ---------------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Generous: valgrind and sanitizers slow everything down. */
#define TIMING_SLACK_MS 2500

/* --- fixture ------------------------------------------------------------------------------- */

struct nn_server;
struct raw_server;

#define FX_MAX 16

struct fx {
	char dir[80]; /* temp dir, removed with its files at teardown */
	struct nn_server *nn[FX_MAX];
	struct raw_server *raw[FX_MAX];
	struct transport *t[FX_MAX];
	pid_t child[FX_MAX];
	int fd[FX_MAX];
	void *mem[FX_MAX];
};

static struct fx *FX;

static void nn_server_stop(struct nn_server *s);
static void raw_server_stop(struct raw_server *s);

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	int i;

	FX = calloc(1, sizeof(*FX));
	if (!FX)
		return -1;
	for (i = 0; i < FX_MAX; i++)
		FX->fd[i] = -1;
	if (!tmp || !*tmp || strlen(tmp) > 50)
		tmp = "/tmp";
	snprintf(FX->dir, sizeof(FX->dir), "%s/test_transport.XXXXXX", tmp);
	if (!mkdtemp(FX->dir)) {
		free(FX);
		FX = NULL;
		return -1;
	}
	*state = FX;
	return 0;
}

static void remove_dir(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int teardown(void **state)
{
	int i, st;

	(void)state;
	if (!FX)
		return 0;
	for (i = 0; i < FX_MAX; i++) {
		if (FX->child[i] > 0) {
			kill(FX->child[i], SIGKILL);
			while (waitpid(FX->child[i], &st, 0) < 0 && errno == EINTR)
				;
		}
		if (FX->t[i])
			transport_close(FX->t[i]);
		if (FX->nn[i])
			nn_server_stop(FX->nn[i]);
		if (FX->raw[i])
			raw_server_stop(FX->raw[i]);
		if (FX->fd[i] >= 0)
			close(FX->fd[i]);
		free(FX->mem[i]);
	}
	remove_dir(FX->dir);
	free(FX);
	FX = NULL;
	return 0;
}

#define FX_ADD(field, value)                                                                \
	do {                                                                                \
		int fx_i_;                                                                  \
		for (fx_i_ = 0; fx_i_ < FX_MAX; fx_i_++) {                                  \
			if (!FX->field[fx_i_]) {                                            \
				FX->field[fx_i_] = (value);                                 \
				break;                                                      \
			}                                                                   \
		}                                                                           \
		assert_true(fx_i_ < FX_MAX);                                                \
	} while (0)

#define FX_DEL(field, value)                                                                \
	do {                                                                                \
		int fx_i_;                                                                  \
		for (fx_i_ = 0; fx_i_ < FX_MAX; fx_i_++)                                    \
			if (FX->field[fx_i_] == (value))                                    \
				FX->field[fx_i_] = 0;                                       \
	} while (0)

static void fx_add_fd(int fd)
{
	int i;

	for (i = 0; i < FX_MAX && FX->fd[i] >= 0; i++)
		;
	assert_true(i < FX_MAX);
	FX->fd[i] = fd;
}

static struct transport *open_t(const char *endpoint)
{
	struct transport *t = NULL;

	assert_int_equal(transport_open(&t, endpoint), 0);
	assert_non_null(t);
	FX_ADD(t, t);
	return t;
}

static void close_t(struct transport *t)
{
	FX_DEL(t, t);
	transport_close(t);
}

static void *fx_malloc(size_t n)
{
	void *p = malloc(n);

	assert_non_null(p);
	FX_ADD(mem, p);
	return p;
}

static char *fx_path(const char *name)
{
	char *p = fx_malloc(160);

	snprintf(p, 160, "%s/%s", FX->dir, name);
	return p;
}

static char *fx_ipc(const char *name)
{
	char *p = fx_malloc(180);

	snprintf(p, 180, "ipc://%s/%s", FX->dir, name);
	return p;
}

/* A loopback TCP port nobody listens on (now). */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static char *fx_tcp(int port)
{
	char *p = fx_malloc(64);

	snprintf(p, 64, "tcp://127.0.0.1:%d", port);
	return p;
}

/* --- libnanomsg REP servers ---------------------------------------------------------------- */

struct nn_server {
	int sock;
	int echo;     /* a thread answers each request with its body */
	int delay_ms; /* before answering */
	pthread_t thread;
	atomic_int stop;
};

static void *nn_server_main(void *arg)
{
	struct nn_server *s = arg;
	void *msg;
	int n;

	while (!atomic_load(&s->stop)) {
		msg = NULL;
		n = nn_recv(s->sock, &msg, NN_MSG, 0);
		if (n < 0) {
			if (nn_errno() == ETIMEDOUT || nn_errno() == EAGAIN || nn_errno() == EINTR)
				continue;
			break;
		}
		if (s->delay_ms)
			sleep_ms(s->delay_ms);
		if (nn_send(s->sock, &msg, NN_MSG, 0) < 0)
			nn_freemsg(msg);
	}
	return NULL;
}

/* A REP socket bound on endpoint; with echo, a thread serves it. rcvmax: NN_RCVMAXSIZE, 0
 * for libnanomsg's default (1 MiB). */
static struct nn_server *nn_server_start(const char *endpoint, int echo, int rcvmax,
					 int delay_ms)
{
	struct nn_server *s = calloc(1, sizeof(*s));
	int to = 50;

	assert_non_null(s);
	s->sock = -1;
	FX_ADD(nn, s);
	s->sock = nn_socket(AF_SP, NN_REP);
	assert_true(s->sock >= 0);
	s->delay_ms = delay_ms;
	assert_int_equal(nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof(to)), 0);
	if (rcvmax)
		assert_int_equal(nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &rcvmax,
					       sizeof(rcvmax)),
				 0);
	if (strncmp(endpoint, "tcp://[", 7) == 0) {
		int v4only = 0; /* libnanomsg binds IPv4 only unless told otherwise */

		assert_int_equal(nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_IPV4ONLY, &v4only,
					       sizeof(v4only)),
				 0);
	}
	assert_true(nn_bind(s->sock, endpoint) >= 0);
	if (echo) {
		assert_int_equal(pthread_create(&s->thread, NULL, nn_server_main, s), 0);
		s->echo = 1; /* a thread to join */
	}
	return s;
}

static void nn_server_stop(struct nn_server *s)
{
	atomic_store(&s->stop, 1);
	if (s->echo)
		pthread_join(s->thread, NULL);
	if (s->sock >= 0)
		nn_close(s->sock);
	free(s);
}

static void nn_server_kill(struct nn_server *s)
{
	FX_DEL(nn, s);
	nn_server_stop(s);
}

static uint64_t accepted(const struct nn_server *s)
{
	return nn_get_statistic(s->sock, NN_STAT_ACCEPTED_CONNECTIONS);
}

/* --- raw servers (plain sockets, scripted misbehaviour) -------------------------------------- */

enum raw_mode {
	RAW_SILENT,       /* listens, never accepts: connects complete, no header ever */
	RAW_STALE,        /* answers junk and a wrong id before the right reply */
	RAW_BAD_PROTO,    /* sends the header of a REQ */
	RAW_GARBAGE,      /* sends something that is not SP at all */
	RAW_HUGE,         /* announces a 1 TiB reply to the right id */
	RAW_BAD_IPC_TYPE, /* ipc message type 2 */
	RAW_HANG_UP,      /* reads the request and closes */
};

struct raw_server {
	enum raw_mode mode;
	int ipc;
	int lfd;
	int stop[2]; /* pipe: readable when the thread must stop */
	pthread_t thread;
	atomic_int requests;
	char endpoint[200];
};

/* Waits for fd (or the stop pipe), 10 s at most. 0 when fd is ready. */
static int raw_wait(struct raw_server *s, int fd, short events)
{
	struct pollfd p[2] = { { fd, events, 0 }, { s->stop[0], POLLIN, 0 } };
	int n;

	do
		n = poll(p, 2, 10000);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || p[1].revents)
		return -1;
	return 0;
}

static int raw_read(struct raw_server *s, int fd, void *buf, size_t n)
{
	uint8_t *b = buf;
	ssize_t r;

	while (n > 0) {
		if (raw_wait(s, fd, POLLIN) < 0)
			return -1;
		r = recv(fd, b, n, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int raw_write(struct raw_server *s, int fd, const void *buf, size_t n)
{
	const uint8_t *b = buf;
	ssize_t r;

	while (n > 0) {
		if (raw_wait(s, fd, POLLOUT) < 0)
			return -1;
		r = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Sends one framed message: type byte on ipc, u64 length, the 4-byte id, body. */
static int raw_send_msg(struct raw_server *s, int fd, int type, const uint8_t *id, size_t idlen,
			const char *body, uint64_t announced)
{
	uint8_t h[9];
	size_t hl = 0;
	size_t blen = body ? strlen(body) : 0;

	if (s->ipc)
		h[hl++] = (uint8_t)type;
	be64(h + hl, announced ? announced : idlen + blen);
	hl += 8;
	if (raw_write(s, fd, h, hl) < 0 || raw_write(s, fd, id, idlen) < 0)
		return -1;
	return blen ? raw_write(s, fd, body, blen) : 0;
}

/* Reads our REQ's header and one request; the request id in id[4]. */
static int raw_read_request(struct raw_server *s, int fd, uint8_t id[4])
{
	uint8_t hdr[8], frame[9], body[4096];
	size_t fl = s->ipc ? 9 : 8;
	uint64_t size;

	if (raw_read(s, fd, hdr, 8) < 0 || memcmp(hdr, "\0SP\0\0\x30\0\0", 8) != 0)
		return -1;
	if (raw_read(s, fd, frame, fl) < 0)
		return -1;
	if (s->ipc && frame[0] != 1)
		return -1;
	size = get64(frame + fl - 8);
	if (size < 4 || size - 4 > sizeof(body))
		return -1;
	if (raw_read(s, fd, id, 4) < 0 || raw_read(s, fd, body, (size_t)size - 4) < 0)
		return -1;
	if (!(id[0] & 0x80))
		return -1;
	atomic_fetch_add(&s->requests, 1);
	return 0;
}

static void *raw_server_main(void *arg)
{
	static const uint8_t rep_hdr[8] = { 0, 'S', 'P', 0, 0, 49, 0, 0 };
	static const uint8_t req_hdr[8] = { 0, 'S', 'P', 0, 0, 48, 0, 0 };
	struct raw_server *s = arg;
	uint8_t id[4], other[4];
	int fd;

	if (s->mode == RAW_SILENT) {
		raw_wait(s, s->stop[0], POLLIN);
		return NULL;
	}
	if (raw_wait(s, s->lfd, POLLIN) < 0)
		return NULL;
	fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;

	switch (s->mode) {
	case RAW_BAD_PROTO:
		raw_write(s, fd, req_hdr, 8);
		break;
	case RAW_GARBAGE:
		raw_write(s, fd, "HTTP/1.0 400 Bad Request\r\n\r\n", 28);
		break;
	case RAW_STALE:
		if (raw_write(s, fd, rep_hdr, 8) < 0 || raw_read_request(s, fd, id) < 0)
			break;
		/* too short to hold an id */
		raw_send_msg(s, fd, 1, id, 2, NULL, 0);
		/* the id without its top bit */
		memcpy(other, id, 4);
		other[0] &= 0x7f;
		raw_send_msg(s, fd, 1, other, 4, "no top bit", 0);
		/* the previous request's id: a stale reply */
		be32(other, (((uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 |
			      (uint32_t)id[2] << 8 | id[3]) - 1) | 0x80000000u);
		raw_send_msg(s, fd, 1, other, 4, "stale", 0);
		raw_send_msg(s, fd, 1, id, 4, "fresh", 0);
		break;
	case RAW_HUGE:
		if (raw_write(s, fd, rep_hdr, 8) < 0 || raw_read_request(s, fd, id) < 0)
			break;
		raw_send_msg(s, fd, 1, id, 4, NULL, (uint64_t)1 << 40);
		break;
	case RAW_BAD_IPC_TYPE:
		if (raw_write(s, fd, rep_hdr, 8) < 0 || raw_read_request(s, fd, id) < 0)
			break;
		raw_send_msg(s, fd, 2, id, 4, "x", 0);
		break;
	case RAW_HANG_UP:
		if (raw_write(s, fd, rep_hdr, 8) < 0 || raw_read_request(s, fd, id) < 0)
			break;
		close(fd);
		fd = -1;
		break;
	case RAW_SILENT:
		break;
	}
	/* keep the connection open until told to stop */
	if (fd >= 0) {
		raw_wait(s, s->stop[0], POLLIN);
		close(fd);
	}
	return NULL;
}

static struct raw_server *raw_server_start(enum raw_mode mode, int ipc)
{
	struct raw_server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->mode = mode;
	s->ipc = ipc;
	s->lfd = -1;
	s->stop[0] = s->stop[1] = -1;
	FX_ADD(raw, s);
	assert_int_equal(pipe2(s->stop, O_CLOEXEC), 0);
	if (ipc) {
		struct sockaddr_un a;

		memset(&a, 0, sizeof(a));
		a.sun_family = AF_UNIX;
		snprintf(a.sun_path, sizeof(a.sun_path), "%s/raw%d.sock", FX->dir, (int)mode);
		snprintf(s->endpoint, sizeof(s->endpoint), "ipc://%s", a.sun_path);
		s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(s->lfd >= 0);
		assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	} else {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);

		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(s->lfd >= 0);
		assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
		snprintf(s->endpoint, sizeof(s->endpoint), "tcp://127.0.0.1:%d",
			 ntohs(a.sin_port));
	}
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, raw_server_main, s), 0);
	return s;
}

static void raw_server_stop(struct raw_server *s)
{
	if (s->stop[1] >= 0) {
		if (s->thread) {
			ssize_t w = write(s->stop[1], "x", 1);

			(void)w;
			pthread_join(s->thread, NULL);
		}
		close(s->stop[0]);
		close(s->stop[1]);
	}
	if (s->lfd >= 0)
		close(s->lfd);
	free(s);
}

/* --- requests and descriptors ---------------------------------------------------------------- */

/* One request expected to succeed with its body echoed. */
static void echo_ok(struct transport *t, const void *body, size_t len)
{
	void *reply = (void *)1;
	size_t rlen = 12345;
	int sent = -1, rc;

	rc = transport_request(t, body, len, &reply, &rlen, 60000, MAX_REPLY, &sent);
	assert_int_equal(rc, 0);
	assert_int_equal(sent, 1);
	assert_non_null(reply);
	FX_ADD(mem, reply);
	assert_int_equal(rlen, len);
	assert_true(len == 0 || memcmp(reply, body, len) == 0);
	FX_DEL(mem, reply);
	free(reply);
}

static int request_rc(struct transport *t, const char *body, int timeout_ms, size_t max_reply,
		      int *sent)
{
	void *reply = (void *)1;
	size_t rlen = 12345;
	int rc;

	rc = transport_request(t, body, strlen(body), &reply, &rlen, timeout_ms, max_reply, sent);
	if (rc != 0) {
		assert_null(reply);
		assert_int_equal(rlen, 0);
	} else {
		free(reply);
	}
	return rc;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* The descriptor of this process's client socket connected to the given server. */
static int client_fd_to(const struct sockaddr *server, socklen_t len)
{
	struct sockaddr_storage a;
	socklen_t al;
	int fd;

	for (fd = 3; fd < 1024; fd++) {
		al = sizeof(a);
		memset(&a, 0, sizeof(a));
		if (getpeername(fd, (struct sockaddr *)&a, &al) == 0 && al == len &&
		    memcmp(&a, server, len) == 0)
			return fd;
	}
	return -1;
}

static int client_fd_tcp(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return client_fd_to((struct sockaddr *)&a, sizeof(a));
}

/* waitpid with a bound; the exit status, or -1. */
static int wait_child(pid_t pid, int ms)
{
	int st;
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			FX_DEL(child, pid);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		if (r < 0 && errno != EINTR)
			return -1;
		sleep_ms(5);
	}
	return -1;
}

/* --- tests --------------------------------------------------------------------------------- */

static void test_open_parsing(void **state)
{
	static const char *good[] = {
		"tcp://127.0.0.1:5555", "tcp://[::1]:5555", "tcp://localhost:1",
		"tcp://host-name.example_x:65535", "tcp://[fe80::1%1]:80", "ipc:///x",
		"ipc:///some/dir/forwarder.sock",
	};
	static const char *bad[] = {
		"", "tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:0",
		"tcp://127.0.0.1:65536", "tcp://127.0.0.1:12ab", "tcp://127.0.0.1:-1",
		"tcp://127.0.0.1:+80", "tcp://:80", "tcp://[::1:80", "tcp://[::1]80",
		"tcp://[]:80", "tcp://::1:80", "tcp://[not-v6]:80", "tcp://*:80",
		"tcp://eth0;127.0.0.1:80", "tcp://a b:80", "ipc://", "ipc://relative.sock",
		"ipc:///", "inproc://x", "ws://127.0.0.1:80", "TCP://127.0.0.1:80",
	};
	char longpath[200];
	struct transport *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = NULL;
		assert_int_equal(transport_open(&t, good[i]), 0);
		assert_non_null(t);
		transport_close(t);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = (struct transport *)1;
		if (transport_open(&t, bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_null(t);
	}
	/* sun_path holds 107 bytes and the terminator */
	memcpy(longpath, "ipc:///", 7);
	memset(longpath + 7, 'p', 106);
	longpath[113] = '\0';
	assert_int_equal(transport_open(&t, longpath), 0);
	transport_close(t);
	longpath[113] = 'p';
	longpath[114] = '\0';
	assert_int_equal(transport_open(&t, longpath), -EINVAL);
	assert_int_equal(transport_open(&t, NULL), -EINVAL);
	assert_int_equal(transport_open(NULL, "tcp://127.0.0.1:1"), -EINVAL);
	transport_close(NULL);
}

static void echo_sizes(const char *endpoint)
{
	struct transport *t;
	uint8_t *big;

	nn_server_start(endpoint, 1, -1, 0);
	t = open_t(endpoint);
	echo_ok(t, "", 0);
	echo_ok(t, "x", 1);
	big = fx_malloc(BIG);
	fill(big, BIG, 7);
	echo_ok(t, big, 100 * 1024);
	echo_ok(t, big, BIG);
	echo_ok(t, big + 3, BIG - 3);
	echo_ok(t, "after", 5);
}

static void test_echo_tcp(void **state)
{
	(void)state;
	echo_sizes(fx_tcp(free_port()));
}

static void test_echo_ipc(void **state)
{
	(void)state;
	echo_sizes(fx_ipc("x.sock"));
}

static void test_echo_ipv6(void **state)
{
	struct sockaddr_in6 a;
	socklen_t al = sizeof(a);
	char endpoint[64];
	int fd;

	(void)state;
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		if (fd >= 0)
			close(fd);
		skip(); /* no IPv6 loopback here */
	}
	close(fd);
	snprintf(endpoint, sizeof(endpoint), "tcp://[::1]:%d", ntohs(a.sin6_port));
	nn_server_start(endpoint, 1, 0, 0);
	echo_ok(open_t(endpoint), "v6", 2);
}

/* A name, resolved at connect time; whatever order localhost's addresses come in, the
 * IPv4 one must be reached. */
static void test_echo_name(void **state)
{
	int port = free_port();
	char endpoint[64];

	(void)state;
	nn_server_start(fx_tcp(port), 1, 0, 0);
	snprintf(endpoint, sizeof(endpoint), "tcp://localhost:%d", port);
	echo_ok(open_t(endpoint), "by name", 7);
}

static void test_many_requests_one_connection(void **state)
{
	char *ep[2];
	struct nn_server *s[2];
	struct transport *t;
	uint8_t buf[3000];
	int i, k;

	(void)state;
	ep[0] = fx_tcp(free_port());
	ep[1] = fx_ipc("many.sock");
	for (k = 0; k < 2; k++) {
		s[k] = nn_server_start(ep[k], 1, 0, 0);
		t = open_t(ep[k]);
		for (i = 0; i < 1000; i++) {
			size_t n = (size_t)(i * 37) % sizeof(buf);

			fill(buf, n, (uint32_t)i);
			echo_ok(t, buf, n);
		}
		assert_int_equal(accepted(s[k]), 1);
	}
}

static void test_two_transports(void **state)
{
	char *tcp = fx_tcp(free_port()), *ipc = fx_ipc("two.sock");
	struct nn_server *st, *si;
	struct transport *a, *b, *c;
	char msg[32];
	int i;

	(void)state;
	st = nn_server_start(tcp, 1, 0, 0);
	si = nn_server_start(ipc, 1, 0, 0);
	a = open_t(tcp);
	b = open_t(ipc);
	c = open_t(tcp);
	for (i = 0; i < 50; i++) {
		snprintf(msg, sizeof(msg), "a%d", i);
		echo_ok(a, msg, strlen(msg));
		snprintf(msg, sizeof(msg), "b%d", i);
		echo_ok(b, msg, strlen(msg));
		snprintf(msg, sizeof(msg), "c%d", i);
		echo_ok(c, msg, strlen(msg));
	}
	assert_int_equal(accepted(st), 2);
	assert_int_equal(accepted(si), 1);
}

static void test_refused(void **state)
{
	struct transport *t;
	int sent = -1, fd;
	struct sockaddr_un a;

	(void)state;
	t = open_t(fx_tcp(free_port()));
	assert_int_equal(request_rc(t, "x", 2000, 100, &sent), -ECONNREFUSED);
	assert_int_equal(sent, 0);
	/* again: no state left behind */
	sent = -1;
	assert_int_equal(request_rc(t, "x", 2000, 100, &sent), -ECONNREFUSED);
	assert_int_equal(sent, 0);

	/* ipc: no such file */
	t = open_t(fx_ipc("missing.sock"));
	sent = -1;
	assert_int_equal(request_rc(t, "x", 2000, 100, &sent), -ECONNREFUSED);
	assert_int_equal(sent, 0);

	/* ipc: a regular file */
	fd = open(fx_path("plain"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	t = open_t(fx_ipc("plain"));
	assert_int_equal(request_rc(t, "x", 2000, 100, &sent), -ECONNREFUSED);
	assert_int_equal(sent, 0);

	/* ipc: a socket file nobody listens on */
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/stale.sock", FX->dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	fx_add_fd(fd);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	t = open_t(fx_ipc("stale.sock"));
	assert_int_equal(request_rc(t, "x", 2000, 100, &sent), -ECONNREFUSED);
	assert_int_equal(sent, 0);

	/* a name that does not resolve */
	t = open_t("tcp://no-such-host.invalid:80");
	sent = -1;
	assert_int_equal(request_rc(t, "x", 2000, 100, &sent), -EHOSTUNREACH);
	assert_int_equal(sent, 0);
}

static void timeout_no_reply(const char *endpoint)
{
	struct transport *t;
	int64_t t0, el;
	int sent = -1;

	nn_server_start(endpoint, 0, 0, 0); /* bound, nobody receives */
	t = open_t(endpoint);
	t0 = mono_ms();
	assert_int_equal(request_rc(t, "hello?", 300, 100, &sent), -ETIMEDOUT);
	el = mono_ms() - t0;
	assert_int_equal(sent, 1);
	assert_true(el >= 300);
	assert_true(el < 300 + TIMING_SLACK_MS);
}

static void test_timeout_tcp(void **state)
{
	(void)state;
	timeout_no_reply(fx_tcp(free_port()));
}

static void test_timeout_ipc(void **state)
{
	(void)state;
	timeout_no_reply(fx_ipc("slow.sock"));
}

/* A listener that never accepts: the kernel completes the connection, the SP header never
 * comes, nothing is sent. */
static void test_timeout_no_header(void **state)
{
	struct raw_server *rs;
	struct transport *t;
	int64_t t0, el;
	int sent = -1, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		rs = raw_server_start(RAW_SILENT, k);
		t = open_t(rs->endpoint);
		t0 = mono_ms();
		assert_int_equal(request_rc(t, "x", 250, 100, &sent), -ETIMEDOUT);
		el = mono_ms() - t0;
		assert_int_equal(sent, 0);
		assert_true(el >= 250 && el < 250 + TIMING_SLACK_MS);
	}
}

static void restart(const char *endpoint)
{
	struct nn_server *s;
	struct transport *t;
	int sent = -1;

	s = nn_server_start(endpoint, 1, 0, 0);
	t = open_t(endpoint);
	echo_ok(t, "one", 3);
	nn_server_kill(s);
	s = nn_server_start(endpoint, 1, 0, 0);
	echo_ok(t, "two", 3);
	assert_int_equal(accepted(s), 1);
	echo_ok(t, "three", 5);
	assert_int_equal(accepted(s), 1);

	/* stopped for good: a clean refusal, nothing sent, not a broken pipe */
	nn_server_kill(s);
	assert_int_equal(request_rc(t, "four", 2000, 100, &sent), -ECONNREFUSED);
	assert_int_equal(sent, 0);
	s = nn_server_start(endpoint, 1, 0, 0);
	echo_ok(t, "five", 4);
}

static void test_restart_tcp(void **state)
{
	(void)state;
	restart(fx_tcp(free_port()));
}

static void test_restart_ipc(void **state)
{
	(void)state;
	restart(fx_ipc("restart.sock"));
}

static void test_stale_reply_skipped(void **state)
{
	struct raw_server *rs;
	struct transport *t;
	void *reply = NULL;
	size_t rlen = 0;
	int sent = -1, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		rs = raw_server_start(RAW_STALE, k);
		t = open_t(rs->endpoint);
		assert_int_equal(transport_request(t, "q", 1, &reply, &rlen, 5000, 100, &sent), 0);
		FX_ADD(mem, reply);
		assert_int_equal(sent, 1);
		assert_int_equal(rlen, 5);
		assert_memory_equal(reply, "fresh", 5);
		assert_int_equal(atomic_load(&rs->requests), 1);
	}
}

static void test_bad_peer(void **state)
{
	struct raw_server *rs;
	struct transport *t;
	int sent = -1, k;
	int64_t t0;

	(void)state;
	for (k = 0; k < 2; k++) {
		/* a REQ is no peer for a REQ */
		rs = raw_server_start(RAW_BAD_PROTO, k);
		t = open_t(rs->endpoint);
		assert_int_equal(request_rc(t, "x", 5000, 100, &sent), -EPROTO);
		assert_int_equal(sent, 0);
		assert_int_equal(atomic_load(&rs->requests), 0);

		rs = raw_server_start(RAW_GARBAGE, k);
		t = open_t(rs->endpoint);
		assert_int_equal(request_rc(t, "x", 5000, 100, &sent), -EPROTO);
		assert_int_equal(sent, 0);

		/* announces a 1 TiB reply: refused at once, nothing allocated */
		rs = raw_server_start(RAW_HUGE, k);
		t = open_t(rs->endpoint);
		t0 = mono_ms();
		assert_int_equal(request_rc(t, "x", 5000, MAX_REPLY, &sent), -EMSGSIZE);
		assert_true(mono_ms() - t0 < 4000);
		assert_int_equal(sent, 1);

		rs = raw_server_start(RAW_HANG_UP, k);
		t = open_t(rs->endpoint);
		assert_int_equal(request_rc(t, "x", 5000, 100, &sent), -ECONNRESET);
		assert_int_equal(sent, 1);
	}
	rs = raw_server_start(RAW_BAD_IPC_TYPE, 1);
	t = open_t(rs->endpoint);
	assert_int_equal(request_rc(t, "x", 5000, 100, &sent), -EPROTO);
	assert_int_equal(sent, 1);
}

static void test_max_reply(void **state)
{
	char *ep = fx_tcp(free_port());
	struct nn_server *s;
	struct transport *t;
	uint8_t body[1000];
	void *reply = NULL;
	size_t rlen = 0;
	int sent = -1;

	(void)state;
	s = nn_server_start(ep, 1, 0, 0);
	t = open_t(ep);
	fill(body, sizeof(body), 3);
	assert_int_equal(transport_request(t, body, sizeof(body), &reply, &rlen, 5000, 999, &sent),
			 -EMSGSIZE);
	assert_null(reply);
	assert_int_equal(sent, 1);
	/* exactly max_reply is fine, on a new connection */
	assert_int_equal(
		transport_request(t, body, sizeof(body), &reply, &rlen, 5000, sizeof(body), &sent),
		0);
	FX_ADD(mem, reply);
	assert_int_equal(rlen, sizeof(body));
	assert_memory_equal(reply, body, sizeof(body));
	assert_int_equal(accepted(s), 2);
}

/* libnanomsg's REP drops the connection, without a reply, when a request's payload (body
 * and the 4-byte id) is over its NN_RCVMAXSIZE. */
static void test_server_rcvmaxsize(void **state)
{
	char *ep = fx_tcp(free_port());
	struct nn_server *s;
	struct transport *t;
	uint8_t *body = fx_malloc(BIG);
	void *reply = NULL;
	size_t rlen = 0;
	int sent = -1, rc;

	(void)state;
	s = nn_server_start(ep, 1, 0, 0); /* default: 1 MiB */
	t = open_t(ep);
	fill(body, BIG, 9);
	echo_ok(t, body, (1 << 20) - 4);
	assert_int_equal(accepted(s), 1);

	/* Far too big: the server hangs up while it is still being written, so the peer
	 * cannot have it (sent == 0). The connection was an established one, so the call
	 * tries exactly once more on a new connection, which fails the same way. */
	rc = transport_request(t, body, BIG, &reply, &rlen, 20000, MAX_REPLY, &sent);
	assert_true(rc == -ECONNRESET || rc == -EPIPE);
	assert_int_equal(sent, 0);
	assert_int_equal(accepted(s), 2);
	echo_ok(t, "still there", 11);
	assert_int_equal(accepted(s), 3);

	/* One byte over: small enough to be written whole, or not; an error either way. */
	rc = transport_request(t, body, (1 << 20) - 3, &reply, &rlen, 5000, MAX_REPLY, &sent);
	assert_true(rc == -ECONNRESET || rc == -EPIPE);
	echo_ok(t, "still there", 11);
}

static void test_fork(void **state)
{
	char *ep[2];
	struct nn_server *s;
	struct transport *t;
	pid_t pid;
	int k;

	(void)state;
	ep[0] = fx_tcp(free_port());
	ep[1] = fx_ipc("fork.sock");
	for (k = 0; k < 2; k++) {
		s = nn_server_start(ep[k], 1, 0, 0);
		t = open_t(ep[k]);
		echo_ok(t, "parent", 6);
		assert_int_equal(accepted(s), 1);

		/* a child that only closes the transport must not end the parent's connection */
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			transport_close(t);
			_exit(0);
		}
		FX_ADD(child, pid);
		assert_int_equal(wait_child(pid, 10000), 0);
		echo_ok(t, "parent again", 12);
		assert_int_equal(accepted(s), 1);

		/* a child that makes its own requests gets its own connection */
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			void *reply = NULL;
			size_t rlen = 0;
			int sent = 0, rc, i;

			for (i = 0; i < 3; i++) {
				rc = transport_request(t, "child", 5, &reply, &rlen, 10000, 100,
						       &sent);
				if (rc != 0)
					_exit(10 + (-rc % 100));
				if (rlen != 5 || memcmp(reply, "child", 5) != 0 || sent != 1)
					_exit(2);
				free(reply);
			}
			transport_close(t);
			_exit(0);
		}
		FX_ADD(child, pid);
		assert_int_equal(wait_child(pid, 20000), 0);
		assert_int_equal(accepted(s), 2);
		/* the parent's connection still works: no new connection was made */
		echo_ok(t, "parent still", 12);
		assert_int_equal(accepted(s), 2);
		nn_server_kill(s);
	}
}

/* The program closes the transport's descriptor behind its back and another file takes the
 * number: the next request must reconnect and leave that file alone. */
static void test_fd_reused_by_program(void **state)
{
	int port = free_port();
	struct nn_server *s;
	struct transport *t;
	struct stat st1, st2;
	char buf[16];
	int fd, other, sp[2];
	struct pollfd p;

	(void)state;
	s = nn_server_start(fx_tcp(port), 1, 0, 0);
	t = open_t(fx_tcp(port));
	echo_ok(t, "a", 1);
	fd = client_fd_tcp(port);
	assert_true(fd >= 0);

	/* a regular file on the number */
	other = open(fx_path("precious"), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(other >= 0);
	assert_int_equal(write(other, "precious", 8), 8);
	assert_int_equal(close(fd), 0);
	assert_int_equal(dup2(other, fd), fd);
	close(other);
	fx_add_fd(fd);
	assert_int_equal(fstat(fd, &st1), 0);
	echo_ok(t, "b", 1);
	assert_int_equal(accepted(s), 2);
	assert_int_equal(fstat(fd, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino && st1.st_dev == st2.st_dev);
	assert_int_equal(st2.st_size, 8);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 8);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 8);
	assert_memory_equal(buf, "precious", 8);
	echo_ok(t, "c", 1);
	assert_int_equal(accepted(s), 2);

	/* another socket on the number: a socket, but not ours */
	fd = client_fd_tcp(port);
	assert_true(fd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fx_add_fd(sp[1]);
	assert_int_equal(close(fd), 0);
	assert_int_equal(dup2(sp[0], fd), fd);
	close(sp[0]);
	fx_add_fd(fd);
	echo_ok(t, "d", 1);
	assert_int_equal(accepted(s), 3);
	/* nothing was written to it and it was not closed or shut down */
	p.fd = sp[1];
	p.events = POLLIN;
	p.revents = 0;
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(send(fd, "ok", 2, MSG_NOSIGNAL), 2);
	assert_int_equal(recv(sp[1], buf, sizeof(buf), 0), 2);
}

static void test_errno_preserved(void **state)
{
	char *ep = fx_tcp(free_port());
	struct transport *t = NULL, *bad = NULL;
	void *reply = NULL;
	size_t rlen;
	int sent;

	(void)state;
	errno = 1234;
	assert_int_equal(transport_open(&t, ep), 0);
	assert_int_equal(errno, 1234);
	FX_ADD(t, t);
	assert_int_equal(transport_open(&bad, "tcp://nope"), -EINVAL);
	assert_int_equal(errno, 1234);

	/* failure: refused */
	errno = 1234;
	assert_int_equal(transport_request(t, "x", 1, &reply, &rlen, 1000, 100, &sent),
			 -ECONNREFUSED);
	assert_int_equal(errno, 1234);

	/* success */
	nn_server_start(ep, 1, 0, 0);
	errno = 1234;
	assert_int_equal(transport_request(t, "x", 1, &reply, &rlen, 5000, 100, &sent), 0);
	assert_int_equal(errno, 1234);
	free(reply);

	/* failure: reply too big */
	errno = 1234;
	assert_int_equal(transport_request(t, "xyz", 3, &reply, &rlen, 5000, 2, &sent),
			 -EMSGSIZE);
	assert_int_equal(errno, 1234);

	/* bad arguments */
	errno = 1234;
	assert_int_equal(transport_request(t, NULL, 1, &reply, &rlen, 5000, 2, &sent), -EINVAL);
	assert_int_equal(transport_request(NULL, "x", 1, &reply, &rlen, 5000, 2, &sent), -EINVAL);
	assert_int_equal(errno, 1234);

	errno = 1234;
	close_t(t);
	assert_int_equal(errno, 1234);
}

/* Signals interrupting the waits: EINTR is retried with the time that is left. */
static atomic_int sig_count;
static atomic_int sig_stop;

static void on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&sig_count, 1);
}

static void *signaller(void *arg)
{
	pthread_t target = *(pthread_t *)arg;

	while (!atomic_load(&sig_stop)) {
		pthread_kill(target, SIGUSR1);
		sleep_ms(2);
	}
	return NULL;
}

static void test_eintr(void **state)
{
	char *ep = fx_tcp(free_port()), *ep2 = fx_tcp(free_port());
	struct sigaction sa, old;
	pthread_t self = pthread_self(), th;
	struct transport *t, *t2;
	int64_t t0, el;
	int sent = -1, rc1, rc2;

	(void)state;
	nn_server_start(ep, 1, 0, 300);
	nn_server_start(ep2, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	atomic_store(&sig_count, 0);
	atomic_store(&sig_stop, 0);
	t = open_t(ep);
	t2 = open_t(ep2);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(pthread_create(&th, NULL, signaller, &self), 0);

	rc1 = request_rc(t, "slow", 10000, 100, &sent);
	t0 = mono_ms();
	rc2 = request_rc(t2, "never", 300, 100, &sent);
	el = mono_ms() - t0;

	atomic_store(&sig_stop, 1);
	pthread_join(th, NULL);
	sigaction(SIGUSR1, &old, NULL);
	assert_int_equal(rc1, 0);
	assert_int_equal(rc2, -ETIMEDOUT);
	assert_true(el >= 300 && el < 300 + TIMING_SLACK_MS);
	assert_true(atomic_load(&sig_count) > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_ipc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_requests_one_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_transports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_ipc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_no_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_ipc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_reply_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_rcvmaxsize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_reused_by_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eintr, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	nn_term();
	return rc;
}
