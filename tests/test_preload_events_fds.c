/* The interposer's event thread (preload/events_follow.c) in a program that closes every
 * descriptor it does not know while the thread follows LiteFS's event stream, then puts
 * files and sockets of its own on those numbers (as daemons do): libcurl must never wait
 * on, read from, write to nor close any of them (its connection's old number, the socket
 * pair every multi handle makes), and the thread joins the stream again. A forked child
 * closes its copy of the thread's connection and leaves the program's descriptors alone.
 * The URL names a host (localhost), which the thread resolves itself: libcurl's resolver
 * thread would make and close a socket pair of its own at each connection.
 *
 * A stand-in for LiteFS's /events runs in a child process: chunked HTTP/1.1, an init
 * event, then a tx event of t.db every 2 ms, as on a busy primary (the TXID is its
 * CLOCK_MONOTONIC time in milliseconds, so that the test can tell events sent after a
 * given moment). The event thread is started once and never stops: one test. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

/* By path: the forwarder has headers of the same names on the include path. */
#include "../preload/config.h"
#include "../preload/events_follow.h"

#define xsnprintf(buf, size, ...) \
	assert_true((size_t)snprintf((buf), (size), __VA_ARGS__) < (size_t)(size))

#define OWN_FILES 12
#define CLIENTS 16

static char g_dir[PATH_MAX];
static pid_t g_server;
static int g_port;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the stand-in for LiteFS's event stream (child process) ------------------------------ */

static void srv_send(int *fd, const char *p, size_t n)
{
	while (*fd >= 0 && n) {
		ssize_t w = send(*fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = { .fd = *fd, .events = POLLOUT };

			if (poll(&pf, 1, 1000) <= 0) {
				close(*fd);
				*fd = -1;
			}
		} else {
			close(*fd);
			*fd = -1;
		}
	}
}

static void srv_chunk(int *fd, const char *line)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%zx\r\n%s\r\n", strlen(line), line);

	srv_send(fd, buf, (size_t)n);
}

/* Serves /events to every client until killed; appends a byte to DIR/conns per
 * connection accepted. */
static void srv_main(int lfd)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	int cfd[CLIENTS];
	bool started[CLIENTS];
	char conns[PATH_MAX + 16];
	int64_t next = now_ms();

	snprintf(conns, sizeof(conns), "%s/conns", g_dir);
	for (int i = 0; i < CLIENTS; i++)
		cfd[i] = -1;
	for (;;) {
		struct pollfd p[CLIENTS + 1];
		int n = 0, map[CLIENTS];

		p[n].fd = lfd;
		p[n++].events = POLLIN;
		for (int i = 0; i < CLIENTS; i++) {
			if (cfd[i] < 0)
				continue;
			map[n - 1] = i;
			p[n].fd = cfd[i];
			p[n++].events = POLLIN;
		}
		poll(p, (nfds_t)n, 2);
		if (p[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			int slot = -1, cf;

			for (int i = 0; i < CLIENTS && slot < 0; i++)
				if (cfd[i] < 0)
					slot = i;
			if (fd >= 0 && slot < 0)
				close(fd);
			else if (fd >= 0) {
				cfd[slot] = fd;
				started[slot] = false;
				cf = open(conns, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
				if (cf >= 0) {
					if (write(cf, "c", 1) != 1) {
						/* counted or not, the test sees */
					}
					close(cf);
				}
			}
		}
		for (int k = 1; k < n; k++) {
			int i = map[k - 1];
			char buf[4096];
			ssize_t r;

			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(cfd[i], buf, sizeof(buf), MSG_DONTWAIT);
			if (r <= 0) {
				close(cfd[i]);
				cfd[i] = -1;
				continue;
			}
			if (!started[i]) {
				started[i] = true;
				srv_send(&cfd[i], head, sizeof(head) - 1);
				srv_chunk(&cfd[i], "{\"type\":\"init\",\"data\":{\"isPrimary\":true}}\n");
			}
		}
		if (now_ms() >= next) {
			char line[400];

			next = now_ms() + 2;
			snprintf(line, sizeof(line),
				 "{\"type\":\"tx\",\"db\":\"t.db\",\"data\":{\"txID\":\"%016llx\","
				 "\"postApplyChecksum\":\"e04fc44716e5272f\",\"pageSize\":4096,"
				 "\"commit\":2,\"timestamp\":\"2026-11-26T04:23:33.291Z\"}}\n",
				 (unsigned long long)now_ms());
			for (int i = 0; i < CLIENTS; i++)
				if (cfd[i] >= 0 && started[i])
					srv_chunk(&cfd[i], line);
		}
	}
}

static int group_setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lfd;

	(void)state;
	if (tmpdir_make(g_dir, sizeof(g_dir), "test_preload_events_fds"))
		return -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 16) ||
	    getsockname(lfd, (struct sockaddr *)&a, &al))
		goto fail;
	g_port = ntohs(a.sin_port);
	g_server = fork();
	if (g_server < 0)
		goto fail;
	if (g_server == 0) {
		signal(SIGPIPE, SIG_IGN);
		srv_main(lfd);
		_exit(0);
	}
	close(lfd);
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	tmpdir_remove(g_dir);
	g_dir[0] = '\0';
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_server > 0) {
		kill(g_server, SIGKILL);
		while (waitpid(g_server, NULL, 0) < 0 && errno == EINTR)
			;
	}
	return g_dir[0] ? tmpdir_remove(g_dir) : 0;
}

/* ---- helpers ----------------------------------------------------------------------------- */

/* Connections the stand-in accepted so far. */
static int connections(void)
{
	char path[PATH_MAX + 16];
	struct stat st;

	xsnprintf(path, sizeof(path), "%s/conns", g_dir);
	return stat(path, &st) ? 0 : (int)st.st_size;
}

/* Waits up to ms for a tx event sent after this call began: the stream is live. */
static bool stream_delivers(int ms)
{
	uint64_t after = (uint64_t)now_ms() + 1;
	int64_t deadline = now_ms() + ms;

	while (now_ms() < deadline)
		if (events_wait_tx("t.db", after, 100) == 0)
			return true;
		else
			usleep(10000);
	return false;
}

/* A file or socket of the program's own, and what it knows of it. */
struct own {
	int fd;
	dev_t dev;
	ino_t ino;
	bool sock;
	off_t off;
	char text[64];
};

static void own_take(struct own *o, int fd, bool sock)
{
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	o->fd = fd;
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->sock = sock;
}

/* o is as the program left it: open, the same file, at its offset, with its text (a
 * socket: with exactly the bytes its peer sent, unread). */
static void own_check(const struct own *o)
{
	char buf[128];
	struct stat st;
	ssize_t n;

	if (fcntl(o->fd, F_GETFD) < 0)
		fail_msg("descriptor %d of the program was closed", o->fd);
	assert_int_equal(fstat(o->fd, &st), 0);
	if (st.st_dev != o->dev || st.st_ino != o->ino)
		fail_msg("descriptor %d of the program is another file now", o->fd);
	if (o->sock) {
		n = recv(o->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK);
		if (n != (ssize_t)strlen(o->text) || memcmp(buf, o->text, (size_t)n))
			fail_msg("socket %d of the program: %zd bytes waiting, %zu expected", o->fd,
				 n, strlen(o->text));
		return;
	}
	assert_int_equal(lseek(o->fd, 0, SEEK_CUR), o->off);
	n = pread(o->fd, buf, sizeof(buf), 0);
	if (n != (ssize_t)strlen(o->text) || memcmp(buf, o->text, (size_t)n))
		fail_msg("file %d of the program: %zd bytes, %zu expected", o->fd, n,
			 strlen(o->text));
}

/* ---- the test ---------------------------------------------------------------------------- */

static void test_program_closes_every_descriptor(void **state)
{
	struct own own[OWN_FILES + 2];
	int sp[2], conns, status;
	pid_t child;

	(void)state;
	/* the configuration a node's program has, without reading the environment */
	fwd_config.litefs = true;
	/* a host name: resolved by the thread, not by libcurl */
	xsnprintf(fwd_config.events_url, sizeof(fwd_config.events_url),
		  "http://localhost:%d/events", g_port);
	fwd_config.poll_ms = 0;
	xsnprintf(fwd_config.primary_file, sizeof(fwd_config.primary_file), "%s/.primary",
		  g_dir);
	events_follow_note_write(true);
	if (!stream_delivers(10000))
		fail_msg("the event thread does not follow the stream");
	conns = connections();
	assert_true(conns >= 1);
	/* between two reads of its stream, as it mostly is */
	usleep(300000);

	/* the program closes every descriptor from 3 up, then opens its own on the lowest
	 * numbers: a socket pair with bytes waiting in it first, then files */
	assert_int_equal(close_range(3, ~0U, 0), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	own_take(&own[0], sp[0], true);
	own_take(&own[1], sp[1], true);
	assert_int_equal(send(sp[0], "to-1!", 5, 0), 5);
	assert_int_equal(send(sp[1], "to-0!", 5, 0), 5);
	snprintf(own[0].text, sizeof(own[0].text), "to-0!");
	snprintf(own[1].text, sizeof(own[1].text), "to-1!");
	for (int i = 2; i < OWN_FILES + 2; i++) {
		char path[PATH_MAX + 32];

		xsnprintf(path, sizeof(path), "%s/own-%d", g_dir, i);
		own_take(&own[i], open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), false);
		xsnprintf(own[i].text, sizeof(own[i].text), "own file %d\n", i);
		assert_int_equal(write(own[i].fd, own[i].text, strlen(own[i].text)),
				 (ssize_t)strlen(own[i].text));
		own[i].off = (off_t)strlen(own[i].text);
	}
	assert_int_equal(own[0].fd, 3);

	/* the thread notices, and joins the stream again on a connection of its own */
	if (!stream_delivers(10000))
		fail_msg("the event thread did not join the stream again");
	assert_true(connections() > conns);
	/* longer than the thread waits on its stream (1 s at most) */
	usleep(1500000);
	for (int i = 0; i < OWN_FILES + 2; i++)
		own_check(&own[i]);
	assert_true(stream_delivers(5000));

	/* a forked child: its copy of the thread's connection is closed, the program's
	 * descriptors are left as they are */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int sockets = 0;

		for (int fd = 3; fd < 1024; fd++) {
			struct stat st;

			if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
				sockets++;
		}
		for (int i = 0; i < OWN_FILES + 2; i++)
			if (fcntl(own[i].fd, F_GETFD) < 0)
				_exit(2);
		_exit(sockets == 2 ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int i = 0; i < OWN_FILES + 2; i++)
		own_check(&own[i]);
	assert_true(stream_delivers(5000));
	for (int i = 0; i < OWN_FILES + 2; i++)
		close(own[i].fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_program_closes_every_descriptor),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
