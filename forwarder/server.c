/* Sockets and workers. The worker that holds the receive lock polls two descriptors:
 * nanomsg's NN_RCVFD, readable while a request may be received, and an eventfd that
 * fwd_server_stop() makes readable for good. It takes a request (nn_recvmsg with
 * NN_DONTWAIT), passes the lock on, and answers the request before it looks at the stop
 * signal again, so stopping never cuts a request short. The reply goes out with the control header the
 * request came with: for a raw REP socket that header is the backtrace that routes it. */
#include "server.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "authn.h"
#include "dedup.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "role.h"
#include "session.h"
#include "wire.h"

/* Room for the control header of a request: the SP header with its backtrace (4 bytes a
 * hop) and the cmsg framing around it. */
#define SERVER_CTRL_SIZE 1024
/* How often idle sessions are looked for, while there are any. */
#define SERVER_EXPIRY_TICK_MS 100

struct server_worker {
	struct fwd_server *server;
	pthread_t thread;
	int index;
};

struct fwd_server {
	int sock;                 /* the raw REP socket */
	int rcv_fd;               /* its NN_RCVFD */
	int stop_fd;              /* eventfd, readable once stopping */
	int wake_fd;              /* eventfd: the waiting worker is to look at its timeout */
	bool ticking;             /* the waiting worker wakes up to expire sessions; atomic */
	int nworkers, started;
	struct server_worker *workers;
	pthread_mutex_t recv_lock;    /* held by the one worker waiting on the socket */
	struct fwd_dedup *dedup;
	struct fwd_exec exec;         /* zeroed until initialised */
	struct fwd_sessions *sessions;
	int64_t next_expiry_ms;       /* when idle sessions are looked at next; recv_lock */
	struct fwd_role_cache role;   /* initialised once mount is set */
	bool role_init;
	struct fwd_request_ctx req;   /* what the workers share */
	struct fwd_authn authn;       /* with authn_on */
	bool authn_on;
	char *listen, *mount;
	size_t max_message;
	int linger_ms;
	int64_t last_send_ms;     /* CLOCK_MONOTONIC; atomic */
	int executing;            /* workers between receiving a request and replying; atomic */
	bool stopping;            /* new requests are refused (not executed); atomic */
	bool exiting;             /* workers end; atomic */
};

/* Requests a replay window (AUTH_DEFAULT_WINDOW_MS) may bring: beyond that rate, about
 * 4000 a second sustained, requests are refused (a replay could not be ruled out). The
 * cache takes 4 MiB at most. */
#define FWD_SERVER_AUTH_PER_WINDOW 131072

static int64_t server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Length of the control data nn_recvmsg() put in ctrl[0..SERVER_CTRL_SIZE): its first
 * (and only) entry must be the SP header. Returns 0 when there is none. */
static size_t server_ctrl_len(const void *ctrl)
{
	const struct nn_cmsghdr *h = ctrl;

	if (h->cmsg_level != PROTO_SP || h->cmsg_type != SP_HDR ||
	    h->cmsg_len < NN_CMSG_LEN(sizeof(size_t)) || h->cmsg_len > SERVER_CTRL_SIZE)
		return 0;
	return h->cmsg_len;
}

/* One received request: its body (a nanomsg message), and the control header that routes
 * the reply back. */
struct server_request {
	void *body;
	size_t len;
	_Alignas(max_align_t) unsigned char ctrl[SERVER_CTRL_SIZE];
	size_t ctrl_len;
	bool refuse;              /* taken while stopping: answered, not executed */
	bool counted;             /* counted in s->executing */
};

/* Waits for a request and receives it into r. The caller holds s->recv_lock: only one
 * worker at a time waits on the socket (the others wait for the lock), so a request wakes
 * one thread, not all of them. Returns 0, -ECANCELED when the workers are to end, or a
 * negative errno from nanomsg or poll() that ends this worker. */
static int server_receive(struct server_worker *w, struct server_request *r)
{
	struct fwd_server *s = w->server;
	struct pollfd pfd[3] = {
		{ .fd = s->stop_fd, .events = POLLIN },
		{ .fd = s->rcv_fd, .events = POLLIN },
		{ .fd = s->wake_fd, .events = POLLIN },
	};

	for (;;) {
		bool stopping = __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
		struct nn_iovec iov = { .iov_base = &r->body, .iov_len = NN_MSG };
		struct nn_msghdr hdr = { .msg_iov = &iov, .msg_iovlen = 1,
					 .msg_control = r->ctrl,
					 .msg_controllen = sizeof(r->ctrl) };
		int n, rc;

		int64_t now = server_now_ms();

		if (__atomic_load_n(&s->exiting, __ATOMIC_ACQUIRE))
			return -ECANCELED;
		if (now >= s->next_expiry_ms) {
			size_t gone = fwd_sessions_expire(s->sessions, now);

			if (gone)
				fwd_log_info("%zu idle transaction%s rolled back", gone,
					     gone == 1 ? "" : "s");
			s->next_expiry_ms = now + SERVER_EXPIRY_TICK_MS;
		}
		/* stopping: only the socket, and a timeout to notice the end; with sessions
		 * open, a tick to roll back the idle ones (a worker that opens the first one
		 * wakes this one up through wake_fd) */
		if (stopping) {
			rc = poll(pfd + 1, 1, 50);
		} else {
			bool tick = fwd_sessions_count(s->sessions) > 0;

			__atomic_store_n(&s->ticking, tick, __ATOMIC_RELEASE);
			rc = poll(pfd, 3, tick ? SERVER_EXPIRY_TICK_MS : -1);
			if (rc > 0 && pfd[2].revents) {
				uint64_t v;

				if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					fwd_log_warn("worker %d: wake: %s", w->index,
						     strerror(errno));
				continue;
			}
		}
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			fwd_log_error("worker %d: poll: %s", w->index, strerror(errno));
			return rc;
		}
		if (!stopping && pfd[0].revents) {
			/* take nothing new: requests from now on are refused */
			__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
			continue;
		}
		if (pfd[1].revents & (POLLERR | POLLNVAL)) {
			fwd_log_error("worker %d: socket descriptor failed", w->index);
			return -EBADF;
		}
		if (!(pfd[1].revents & POLLIN))
			continue;
		memset(r->ctrl, 0, sizeof(r->ctrl));
		r->body = NULL;
		r->refuse = stopping;
		/* counted from before the receive, so that stopping never misses a request */
		r->counted = !stopping;
		if (r->counted)
			__atomic_add_fetch(&s->executing, 1, __ATOMIC_ACQ_REL);
		n = nn_recvmsg(s->sock, &hdr, NN_DONTWAIT);
		if (n >= 0) {
			r->len = (size_t)n;
			r->ctrl_len = server_ctrl_len(r->ctrl);
			if (r->ctrl_len)
				return 0;
			/* Without its backtrace a reply cannot find its way back. */
			fwd_log_warn("worker %d: request without a routable header dropped",
				     w->index);
			nn_freemsg(r->body);
		}
		rc = n < 0 ? -nn_errno() : 0;
		if (r->counted)
			__atomic_sub_fetch(&s->executing, 1, __ATOMIC_ACQ_REL);
		if (rc == -EBADF || rc == -ETERM)
			return rc;
		if (rc && rc != -EAGAIN && rc != -EINTR)
			fwd_log_warn("worker %d: receive: %s", w->index, nn_strerror(-rc));
	}
}

/* What became of request r, answered with reply (rc 0) or not at all. */
static enum fwd_metrics_outcome server_outcome(const struct server_request *r, bool refused,
					       int rc, const struct wire_buf *reply)
{
	if (refused)
		return FWD_METRICS_UNAUTHENTICATED;
	if (r->refuse)
		return FWD_METRICS_STOPPING;
	if (rc)
		return FWD_METRICS_NO_REPLY;
	if (fwd_metrics_noted_repeat())
		return FWD_METRICS_REPEAT;
	return fwd_metrics_classify_reply(reply->p, reply->len);
}

/* Answers r and sends the reply; frees r's body. A request that gets no reply (not even
 * an ERROR could be made) is left to the client's resend. */
static void server_answer(struct server_worker *w, struct server_request *r)
{
	struct fwd_server *s = w->server;
	struct wire_buf reply = { 0 };
	struct fwd_metrics_timer timer;
	enum fwd_metrics_outcome outcome;
	struct nn_iovec iov;
	struct nn_msghdr hdr;
	size_t len = r->len, sent = 0;
	bool refused = false;
	int rc;

	fwd_metrics_request_begin(&fwd_metrics_process, &timer);
	if (s->authn_on &&
	    fwd_authn_check(&s->authn, r->body, r->len, &len, &reply, s->max_message)) {
		/* refused, nothing executed: the ERROR is sent as it is (unsealed) */
		refused = true;
		rc = reply.len ? 0 : -ENOMEM;
	} else if (r->refuse) {
		/* Stopping: say so, so that the client knows nothing was executed and goes
		 * elsewhere or retries, instead of waiting for an answer that never comes. */
		struct wire_error e = {
			.request_id = wire_peek_request_id(r->body, r->len),
			.code = ESHUTDOWN,
			.message = {.p = "the forwarder is stopping; nothing was executed",
				    .n = sizeof("the forwarder is stopping; nothing was executed") - 1},
		};

		rc = wire_encode_error(&reply, &e, s->max_message);
	} else {
		rc = fwd_request_handle(&s->req, r->body, len, &reply);
	}
	if (!rc && s->authn_on && !refused)
		rc = fwd_authn_seal(&s->authn, &reply);
	outcome = server_outcome(r, refused, rc, &reply);
	nn_freemsg(r->body);
	r->body = NULL;
	if (!__atomic_load_n(&s->ticking, __ATOMIC_ACQUIRE) && fwd_sessions_count(s->sessions)) {
		uint64_t one = 1;

		if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			fwd_log_warn("worker %d: wake: %s", w->index, strerror(errno));
	}
	if (!rc) {
		iov = (struct nn_iovec){ .iov_base = reply.p, .iov_len = reply.len };
		hdr = (struct nn_msghdr){ .msg_iov = &iov, .msg_iovlen = 1,
					  .msg_control = r->ctrl, .msg_controllen = r->ctrl_len };
		/* A raw REP socket never blocks a send: a reply to a client that has gone is
		 * dropped by nanomsg. */
		if (nn_sendmsg(s->sock, &hdr, 0) < 0) {
			fwd_log_warn("worker %d: reply not sent: %s", w->index,
				     nn_strerror(nn_errno()));
		} else {
			__atomic_store_n(&s->last_send_ms, server_now_ms(), __ATOMIC_RELAXED);
			sent = reply.len;
		}
	}
	fwd_metrics_request_end(&fwd_metrics_process, &timer, outcome, r->len, sent);
	wire_buf_free(&reply);
	if (r->counted)
		__atomic_sub_fetch(&s->executing, 1, __ATOMIC_ACQ_REL);
}

/* Leader and followers: the worker holding recv_lock waits for the next request, hands
 * the lock on as soon as it has one, and answers it while another worker waits. */
static void *server_worker_main(void *arg)
{
	struct server_worker *w = arg;
	struct fwd_server *s = w->server;
	struct server_request *r = malloc(sizeof(*r));
	int rc;

	if (!r) {
		fwd_log_error("worker %d: out of memory", w->index);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&s->recv_lock);
		rc = server_receive(w, r);
		pthread_mutex_unlock(&s->recv_lock);
		if (rc)
			break;
		server_answer(w, r);
	}
	free(r);
	return NULL;
}

/* Stops and joins the started workers, lets the last reply leave, closes the socket and
 * frees s, in the reverse order of fwd_server_start(). */
static void server_teardown(struct fwd_server *s)
{
	uint64_t one = 1;
	int64_t wait_ms;

	__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
	if (s->stop_fd >= 0 && write(s->stop_fd, &one, sizeof(one)) < 0)
		fwd_log_error("cannot signal the workers: %s", strerror(errno));
	/* The requests being executed are answered; newcomers are refused meanwhile. */
	while (s->started && __atomic_load_n(&s->executing, __ATOMIC_ACQUIRE) > 0)
		usleep(5000);
	/* nn_close() drops replies still queued: give the last ones time to leave (at most
	 * linger_ms), still refusing newcomers. */
	if (s->sock >= 0 && s->started) {
		int64_t until = server_now_ms() + s->linger_ms;

		wait_ms = __atomic_load_n(&s->last_send_ms, __ATOMIC_RELAXED);
		if (!wait_ms)
			until = 0; /* nothing was ever sent */
		else if (wait_ms + s->linger_ms < until)
			until = wait_ms + s->linger_ms;
		while (server_now_ms() < until)
			usleep(10000);
	}
	__atomic_store_n(&s->exiting, true, __ATOMIC_RELEASE);
	for (int i = 0; i < s->started; i++)
		pthread_join(s->workers[i].thread, NULL);
	if (s->sock >= 0)
		nn_close(s->sock);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	fwd_sessions_destroy(s->sessions);
	fwd_exec_close(&s->exec);
	fwd_dedup_destroy(s->dedup);
	if (s->role_init)
		fwd_role_cache_destroy(&s->role);
	if (s->authn_on)
		fwd_authn_destroy(&s->authn);
	free(s->workers);
	free(s->listen);
	free(s->mount);
	pthread_mutex_destroy(&s->recv_lock);
	free(s);
}

/* Opens the raw REP socket of s, with the size cap set before bind, and binds it.
 * Returns 0 or a negative errno. */
static int server_open_socket(struct fwd_server *s)
{
	int maxsize = (int)s->max_message + (s->authn_on ? AUTH_TRAILER_BYTES : 0);
	size_t sz = sizeof(s->rcv_fd);

	s->sock = nn_socket(AF_SP_RAW, NN_REP);
	if (s->sock < 0)
		return -nn_errno();
	/* nanomsg drops a message of 1 MiB or more without a word unless this is raised. */
	if (nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof(maxsize)))
		return -nn_errno();
	if (nn_getsockopt(s->sock, NN_SOL_SOCKET, NN_RCVFD, &s->rcv_fd, &sz))
		return -nn_errno();
	/* nanomsg binds IPv4 addresses only unless told otherwise; IPv6 (tcp://[::]:PORT)
	 * is what private networks such as Fly.io's offer. */
	if (nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_IPV4ONLY, &(int){ 0 }, sizeof(int)))
		return -nn_errno();
	if (nn_bind(s->sock, s->listen) < 0)
		return -nn_errno();
	return 0;
}

int fwd_server_start(const struct fwd_server_opts *o, struct fwd_server **out)
{
	struct fwd_server *s;
	int rc;

	if (o->workers < 1 || o->max_message > INT_MAX - AUTH_TRAILER_BYTES ||
	    o->max_message < WIRE_HEADER_SIZE)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->recv_lock, NULL);
	s->sock = -1;
	s->stop_fd = -1;
	s->wake_fd = -1;
	s->nworkers = o->workers;
	s->max_message = o->max_message;
	s->linger_ms = o->linger_ms > 0 ? o->linger_ms : FWD_SERVER_DEFAULT_LINGER_MS;
	s->listen = strdup(o->listen);
	s->mount = strdup(o->mount);
	s->workers = calloc((size_t)o->workers, sizeof(*s->workers));
	if (!s->listen || !s->mount || !s->workers) {
		rc = -ENOMEM;
		goto fail;
	}
	fwd_role_cache_init(&s->role, s->mount, o->role_ttl_ms, o->info_url);
	s->role_init = true;
	rc = fwd_dedup_create(&s->dedup, FWD_DEDUP_MAX_ENTRIES, FWD_DEDUP_MAX_BYTES,
			      FWD_DEDUP_MAX_AGE_MS);
	if (rc)
		goto fail;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0) {
		rc = -errno;
		goto fail;
	}
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (o->key && o->key->len) {
		rc = fwd_authn_init(&s->authn, o->key, AUTH_DEFAULT_WINDOW_MS,
				    FWD_SERVER_AUTH_PER_WINDOW);
		if (rc)
			goto fail;
		s->authn_on = true;
	}
	rc = fwd_exec_init(&s->exec, s->mount);
	if (rc)
		goto fail;
	s->exec.no_record = o->no_request_record;
	s->exec.session_cache_kib = o->session_cache_kib;
	s->exec.synchronous = o->synchronous - 1;
	rc = fwd_sessions_create(&s->sessions, o->max_sessions > 0 ? (size_t)o->max_sessions :
			       FWD_SESSIONS_MAX);
	if (rc)
		goto fail;
	s->req = (struct fwd_request_ctx){
		.exec = &s->exec, .dedup = s->dedup, .role = &s->role, .mount = s->mount,
		.max_message = s->max_message, .sessions = s->sessions,
	};
	for (int i = 0; i < s->nworkers; i++) {
		s->workers[i].server = s;
		s->workers[i].index = i;
	}
	rc = server_open_socket(s);
	if (rc)
		goto fail;
	for (; s->started < s->nworkers; s->started++) {
		rc = -pthread_create(&s->workers[s->started].thread, NULL, server_worker_main,
				     &s->workers[s->started]);
		if (rc)
			goto fail;
	}
	*out = s;
	return 0;

fail:
	server_teardown(s);
	return rc;
}

uint64_t fwd_server_auth_refused(struct fwd_server *s)
{
	uint64_t n = 0;

	if (s->authn_on)
		for (int i = 0; i < FWD_AUTHN_NREASONS; i++)
			n += fwd_authn_refused(&s->authn, (enum fwd_authn_reason)i);
	return n;
}

void fwd_server_stop(struct fwd_server *s)
{
	if (s)
		server_teardown(s);
}
