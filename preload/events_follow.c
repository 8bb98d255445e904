/* The event thread of the interposer (see events_follow.h). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "events.h"
#include "events_follow.h"
#include "log.h"
#include "ownfd.h"
#include "role.h"

#define EV_BACKOFF_MIN_MS 50
#define EV_BACKOFF_MAX_MS 5000
#define EV_CONNECT_TIMEOUT_MS 2000
/* Databases whose last TXID is remembered; beyond that the oldest entry is reused. */
#define EV_DBS 32

/* Sockets libcurl may hold at once (a connection, and a second address tried beside it). */
#define EV_SOCKS 8

/* libcurl, loaded by the thread's starter. Only what the event thread calls: not
 * curl_multi_cleanup() nor curl_easy_cleanup() (which close descriptors they made long ago
 * with close(), whatever the program has put on those numbers since), nor curl_multi_poll(),
 * curl_multi_wait() or curl_multi_perform() (see ev_follow_once()). */
struct ev_curl {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	const char *(*easy_strerror)(CURLcode);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	void (*url_cleanup)(CURLU *);
	void (*free)(void *);
};

struct ev_db {
	char name[EVENTS_DB_MAX + 1];
	uint64_t txid;
};

/* The thread's state. */
struct ev_stream {
	bool stream;              /* libcurl is loaded and a URL is set: follow the stream */
	struct events_splitter split;
	bool got_init;
	int64_t next_poll_ns;
	/* libcurl's handles: made once and kept for the thread's life (never cleaned up),
	 * so that curl never closes the wakeup socket pair each multi handle makes at its
	 * creation. Every connection is made again on these. */
	CURLM *multi;
	CURL *easy;
	struct curl_slist *resolve; /* CURLOPT_RESOLVE of the current connection */
	int64_t timer_ns;         /* when curl asked for its timeout action; -1: not */
};

/* A socket made for libcurl (ev_open_socket()), with what curl waits for on it. */
struct ev_sock {
	bool used;
	struct ownfd fd;
	int what;                 /* CURL_POLL_IN, _OUT, _INOUT; 0: nothing */
};

/* Guards every ev_ variable below; never held while the role lock is taken, except by
 * the fork handlers, which take it first. */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond;           /* tx events and role changes; CLOCK_MONOTONIC */
static pthread_cond_t ev_nap_cond;       /* a waiter came: the thread stops napping */
static int ev_waiters;                   /* threads in events_wait_tx() */
static pid_t ev_pid;                     /* the process whose thread runs (0: none) */
static bool ev_live;
static struct ev_db ev_dbs[EV_DBS];
static unsigned ev_dbs_next;
static bool ev_atfork_done;
static pid_t ev_first_write_pid;         /* the process whose first write was at: */
static int64_t ev_first_write_ns;
static struct ev_curl ev_curl;
/* The sockets libcurl has from us. Only a socket still ours (ownfd.h) is ever given back to
 * curl to act on, or closed. */
static struct ev_sock ev_socks[EV_SOCKS];

static void ev_cond_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&ev_cond, &a);
	pthread_cond_init(&ev_nap_cond, &a);
	pthread_condattr_destroy(&a);
}

/* Wakes the waiters of events_wait_tx(). */
static void ev_wake(void)
{
	pthread_mutex_lock(&ev_mu);
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_mu);
}

static void ev_set_live(bool live)
{
	role_set_stream_live(live);
	pthread_mutex_lock(&ev_mu);
	ev_live = live;
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_mu);
}

static void ev_note_tx(const char *db, uint64_t txid)
{
	struct ev_db *d = NULL;
	unsigned i;

	pthread_mutex_lock(&ev_mu);
	for (i = 0; i < EV_DBS && !d; i++)
		if (!strcmp(ev_dbs[i].name, db))
			d = &ev_dbs[i];
	if (!d) {
		d = &ev_dbs[ev_dbs_next++ % EV_DBS];
		snprintf(d->name, sizeof(d->name), "%s", db);
	}
	/* after a failover TXIDs may go back: the last one is the truth */
	d->txid = txid;
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_mu);
}

/* Called by the splitter for each line of the stream. Returns 0 (malformed lines are
 * skipped: one bad line says nothing of the next). */
static int ev_on_line(const char *line, size_t len, int err, void *ctx)
{
	struct ev_stream *st = ctx;
	struct events_event e;
	int rc;

	if (err) {
		log_warn("events: a line longer than %d bytes was dropped", EVENTS_LINE_MAX);
		return 0;
	}
	rc = events_parse_line(line, len, &e);
	if (rc) {
		log_debug("events: line not understood (%s)", strerror(-rc));
		return 0;
	}
	switch (e.type) {
	case EVENTS_INIT:
	case EVENTS_PRIMARY_CHANGE:
		if (role_observe(ROLE_SRC_EVENTS, role_now_ns(), e.is_primary,
				 e.has_hostname ? e.hostname : NULL))
			ev_wake();
		if (e.type == EVENTS_INIT && !st->got_init) {
			st->got_init = true;
			ev_set_live(true);
			log_info("events: following %s", fwd_config.events_url);
		}
		break;
	case EVENTS_TX:
		ev_note_tx(e.db, e.txid);
		break;
	default:
		break;
	}
	return 0;
}

static size_t ev_on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct ev_stream *st = ctx;

	return events_splitter_feed(&st->split, data, size * n, ev_on_line, st) ? 0 : size * n;
}

/* Loads and initialises libcurl, once per process image (a forked child keeps it). Called
 * by the thread that starts the event thread, never by the event thread itself: libcurl's
 * initialisation initialises OpenSSL, whose clean-up runs at exit(), and an
 * initialisation still running in another thread when the program exits crashes it.
 * Returns 0 or -ENOENT (logged). Called with ev_mu held. */
static int ev_load_curl(void)
{
	static int loaded; /* 0: not tried, 1: loaded, -1: failed */
	void *h;
	struct ev_curl c;

	if (loaded)
		return loaded > 0 ? 0 : -ENOENT;
	loaded = -1;
	h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_warn("events: libcurl cannot be loaded (%s); polling %s only", dlerror(),
			 fwd_config.primary_file);
		return -ENOENT;
	}
#define EV_SYM(field, name) (*(void **)&c.field = dlsym(h, name))
	if (!EV_SYM(global_init, "curl_global_init") || !EV_SYM(easy_init, "curl_easy_init") ||
	    !EV_SYM(easy_setopt, "curl_easy_setopt") ||
	    !EV_SYM(easy_strerror, "curl_easy_strerror") ||
	    !EV_SYM(multi_init, "curl_multi_init") || !EV_SYM(multi_setopt, "curl_multi_setopt") ||
	    !EV_SYM(multi_add_handle, "curl_multi_add_handle") ||
	    !EV_SYM(multi_remove_handle, "curl_multi_remove_handle") ||
	    !EV_SYM(multi_socket_action, "curl_multi_socket_action") ||
	    !EV_SYM(multi_info_read, "curl_multi_info_read") ||
	    !EV_SYM(slist_append, "curl_slist_append") ||
	    !EV_SYM(slist_free_all, "curl_slist_free_all") || !EV_SYM(url, "curl_url") ||
	    !EV_SYM(url_set, "curl_url_set") || !EV_SYM(url_get, "curl_url_get") ||
	    !EV_SYM(url_cleanup, "curl_url_cleanup") || !EV_SYM(free, "curl_free")) {
		log_warn("events: this libcurl lacks functions the event thread needs; polling %s "
			 "only", fwd_config.primary_file);
		return -ENOENT;
	}
#undef EV_SYM
	/* thread-safe since libcurl 7.84, and reference-counted with the program's own */
	if (c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warn("events: libcurl cannot be initialised; polling %s only",
			 fwd_config.primary_file);
		return -ENOENT;
	}
	ev_curl = c;
	loaded = 1;
	return 0;
}

/* Reads .primary when a poll is due. */
static void ev_poll_if_due(struct ev_stream *st)
{
	struct role_view v;
	int64_t now = role_now_ns();

	if (!fwd_config.poll_ms || now < st->next_poll_ns)
		return;
	st->next_poll_ns = now + (int64_t)fwd_config.poll_ms * 1000000;
	role_get(&v, true);
	ev_wake();
}

/* Milliseconds until the next poll, at most cap. */
static int ev_until_poll_ms(const struct ev_stream *st, int cap)
{
	int64_t left;

	if (!fwd_config.poll_ms)
		return cap;
	left = (st->next_poll_ns - role_now_ns()) / 1000000;
	return left < 0 ? 0 : left > cap ? cap : (int)left;
}

/* While no thread waits for a tx event, the event thread reads the stream at most once per
 * EV_NAP_MS: LiteFS sends an event per transaction, and waking up for each one (thousands a
 * second, in every process that writes) cost more than the forwarded writes themselves
 * with 16 writer processes. What arrives meanwhile waits in the socket; a role change is
 * learnt at most EV_NAP_MS later (a failed write looks at .primary at once anyway). */
#define EV_NAP_MS 20

/* Naps for EV_NAP_MS, or not at all while a thread waits for a tx event; a thread that
 * starts waiting ends the nap. */
static void ev_nap(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)EV_NAP_MS * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&ev_mu);
	while (!ev_waiters && pthread_cond_timedwait(&ev_nap_cond, &ev_mu, &ts) == 0)
		;
	pthread_mutex_unlock(&ev_mu);
}

/* --- libcurl's sockets ------------------------------------------------------------------
 *
 * A program may close every descriptor it did not open while the event thread is between
 * two reads of its stream (daemons do, after fork), then open files and sockets of its own
 * on those numbers. libcurl keeps numbers, not identities: left alone, it would poll the
 * program's descriptors, read from them, and close them (its connection's socket, and the
 * socket pair every multi handle makes for curl_multi_wakeup(), closed by
 * curl_multi_cleanup()). So:
 *   - curl's sockets are made and closed by us (CURLOPT_OPENSOCKETFUNCTION and
 *     CLOSESOCKETFUNCTION), and recorded with their identity: one that is no longer ours
 *     is never closed;
 *   - the thread waits with poll() on those sockets itself, through curl's socket API
 *     (curl_multi_socket_action()), having checked before every call into curl that each
 *     of them is still ours: curl never waits on, reads from nor writes to a descriptor
 *     that stopped being its socket. When one did, the transfer is dropped
 *     (curl_multi_remove_handle(): for plain HTTP, no I/O; the close comes back to us and
 *     is not made) and a new connection made;
 *   - one multi handle and one easy handle serve every connection for the thread's life
 *     and are never cleaned up: the multi handle's socket pair, made once at its creation
 *     and used by curl only in calls the thread never makes (curl_multi_poll(),
 *     curl_multi_wait(), curl_multi_wakeup()), is never closed by curl;
 *   - host names are resolved here (getaddrinfo(), in this thread) and handed to curl
 *     (CURLOPT_RESOLVE), and proxies are not used: curl starts no resolver thread, which
 *     would make and close a socket pair of its own for each resolution. */

/* The slot of fd among our sockets, or NULL. ev_mu held. */
static struct ev_sock *ev_sock_find(curl_socket_t fd)
{
	for (int i = 0; i < EV_SOCKS; i++)
		if (ev_socks[i].used && ev_socks[i].fd.fd == fd)
			return &ev_socks[i];
	return NULL;
}

/* CURLOPT_OPENSOCKETFUNCTION: a socket for a connection, close-on-exec, recorded. */
static curl_socket_t ev_open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct ev_sock *slot = NULL;
	struct ownfd o;
	int fd;

	(void)ctx;
	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (ownfd_take(&o, fd)) {
		close(fd);
		return CURL_SOCKET_BAD;
	}
	pthread_mutex_lock(&ev_mu);
	for (int i = 0; i < EV_SOCKS && !slot; i++)
		if (!ev_socks[i].used)
			slot = &ev_socks[i];
	if (slot) {
		slot->used = true;
		slot->fd = o;
		slot->what = 0;
	}
	pthread_mutex_unlock(&ev_mu);
	if (!slot) {
		close(fd);
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: closes fd only if it is still the socket we made. */
static int ev_close_socket(void *ctx, curl_socket_t fd)
{
	struct ev_sock *slot;

	(void)ctx;
	pthread_mutex_lock(&ev_mu);
	slot = ev_sock_find(fd);
	if (slot) {
		ownfd_close(&slot->fd);
		slot->used = false;
		slot->what = 0;
	}
	pthread_mutex_unlock(&ev_mu);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: what curl waits for on fd. */
static int ev_on_socket(CURL *e, curl_socket_t fd, int what, void *ctx, void *sockp)
{
	struct ev_sock *slot;

	(void)e;
	(void)ctx;
	(void)sockp;
	pthread_mutex_lock(&ev_mu);
	slot = ev_sock_find(fd);
	if (slot)
		slot->what = what == CURL_POLL_REMOVE ? 0 : what;
	pthread_mutex_unlock(&ev_mu);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: when curl wants its timeout action. */
static int ev_on_timer(CURLM *m, long ms, void *ctx)
{
	struct ev_stream *st = ctx;

	(void)m;
	st->timer_ns = ms < 0 ? -1 : role_now_ns() + (int64_t)ms * 1000000;
	return 0;
}

/* Whether every socket curl has from us is still ours. */
static bool ev_socks_ours(void)
{
	bool ours = true;

	pthread_mutex_lock(&ev_mu);
	for (int i = 0; i < EV_SOCKS; i++)
		if (ev_socks[i].used && !ownfd_ours(&ev_socks[i].fd))
			ours = false;
	pthread_mutex_unlock(&ev_mu);
	return ours;
}

/* Forgets, without closing them, the sockets curl still has that are no longer ours (after
 * their transfer was dropped: curl let go of them, or will never be let near them). */
static void ev_socks_forget_stale(void)
{
	pthread_mutex_lock(&ev_mu);
	for (int i = 0; i < EV_SOCKS; i++) {
		if (ev_socks[i].used && !ownfd_ours(&ev_socks[i].fd)) {
			ev_socks[i].used = false;
			ev_socks[i].fd = OWNFD_NONE;
			ev_socks[i].what = 0;
		}
	}
	pthread_mutex_unlock(&ev_mu);
}

/* The poll set of what curl waits for, in p (EV_SOCKS entries). Returns its size. */
static int ev_pollset(struct pollfd *p)
{
	int n = 0;

	pthread_mutex_lock(&ev_mu);
	for (int i = 0; i < EV_SOCKS; i++) {
		if (!ev_socks[i].used || !ev_socks[i].what)
			continue;
		p[n].fd = ev_socks[i].fd.fd;
		p[n].events = (short)((ev_socks[i].what & CURL_POLL_IN ? POLLIN : 0) |
				      (ev_socks[i].what & CURL_POLL_OUT ? POLLOUT : 0));
		p[n].revents = 0;
		n++;
	}
	pthread_mutex_unlock(&ev_mu);
	return n;
}

/* The addresses of the events URL's host, for CURLOPT_RESOLVE: st->resolve set to
 * "-HOST:PORT" (any earlier entry forgotten) and "HOST:PORT:ADDR,...", or to NULL for an
 * IP literal, which curl does not resolve. Returns 0, -ECONNREFUSED (the URL cannot be read
 * or its host does not resolve: nothing to connect to) or -ENOMEM. */
static int ev_resolve(struct ev_stream *st)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	struct curl_slist *list = NULL, *l;
	char *host = NULL, *port = NULL, name[256], entry[1024], addr[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t len, n;
	CURLU *u;
	int rc = -ECONNREFUSED, err;

	u = ev_curl.url();
	if (!u)
		return -ENOMEM;
	/* read as CURLOPT_URL reads it: a URL without a scheme is http:// */
	if (ev_curl.url_set(u, CURLUPART_URL, fwd_config.events_url,
			    CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    ev_curl.url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    ev_curl.url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	len = strlen(host);
	if (host[0] == '[' || inet_pton(AF_INET, host, bin) == 1 ||
	    inet_pton(AF_INET6, host, bin) == 1) {
		rc = 0;  /* a literal: nothing to resolve */
		goto set;
	}
	if (len >= sizeof(name))
		goto out;
	memcpy(name, host, len + 1);
	err = getaddrinfo(name, port, &hints, &res);
	if (err) {
		log_debug("events: %s does not resolve: %s", name, gai_strerror(err));
		goto out;
	}
	n = (size_t)snprintf(entry, sizeof(entry), "%s:%s:", host, port);
	if (n >= sizeof(entry))
		goto out;
	/* every address, as many as the entry holds (IPv6 ones in brackets) */
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		const void *ip = a->ai_family == AF_INET ?
			(const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr :
			a->ai_family == AF_INET6 ?
			(const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr : NULL;
		size_t k;

		if (!ip || !inet_ntop(a->ai_family, ip, addr, sizeof(addr)))
			continue;
		k = (size_t)snprintf(entry + n, sizeof(entry) - n,
				     a->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
				     entry[n - 1] == ':' ? "" : ",", addr);
		if (k >= sizeof(entry) - n) {
			entry[n] = '\0';
			break;
		}
		n += k;
	}
	if (entry[n - 1] == ':')
		goto out;
	rc = -ENOMEM;
	snprintf(name, sizeof(name), "-%s:%s", host, port);
	l = ev_curl.slist_append(NULL, name);
	if (!l)
		goto out;
	list = l;
	l = ev_curl.slist_append(list, entry);
	if (!l)
		goto out;
	rc = 0;
set:
	if (ev_curl.easy_setopt(st->easy, CURLOPT_RESOLVE, list) != CURLE_OK && list) {
		rc = -ENOMEM;
		goto out;
	}
	/* curl reads the list when a transfer starts: the one set before is not needed any
	 * more, this one is kept until the next is set */
	ev_curl.slist_free_all(st->resolve);
	st->resolve = list;
	list = NULL;
out:
	if (res)
		freeaddrinfo(res);
	ev_curl.slist_free_all(list);
	ev_curl.free(host);
	ev_curl.free(port);
	ev_curl.url_cleanup(u);
	return rc;
}

/* Makes the thread's handles, once, and sets the addresses of this connection. Returns 0,
 * -ENOMEM, or -ECONNREFUSED when there is nothing to connect to. */
static int ev_handles(struct ev_stream *st)
{
	CURL *e;

	if (!st->multi) {
		st->multi = ev_curl.multi_init();
		if (!st->multi)
			return -ENOMEM;
		ev_curl.multi_setopt(st->multi, CURLMOPT_SOCKETFUNCTION, ev_on_socket);
		ev_curl.multi_setopt(st->multi, CURLMOPT_SOCKETDATA, st);
		ev_curl.multi_setopt(st->multi, CURLMOPT_TIMERFUNCTION, ev_on_timer);
		ev_curl.multi_setopt(st->multi, CURLMOPT_TIMERDATA, st);
	}
	if (!st->easy) {
		e = ev_curl.easy_init();
		if (!e)
			return -ENOMEM;
		ev_curl.easy_setopt(e, CURLOPT_URL, fwd_config.events_url);
		ev_curl.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		ev_curl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		ev_curl.easy_setopt(e, CURLOPT_FAILONERROR, 1L);
		ev_curl.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)EV_CONNECT_TIMEOUT_MS);
		ev_curl.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		ev_curl.easy_setopt(e, CURLOPT_WRITEFUNCTION, ev_on_data);
		ev_curl.easy_setopt(e, CURLOPT_WRITEDATA, st);
		ev_curl.easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, ev_open_socket);
		ev_curl.easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, ev_close_socket);
		/* no connection kept between transfers (a kept one is checked and closed
		 * later, by number); LiteFS's API is on this node: no proxy */
		ev_curl.easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		ev_curl.easy_setopt(e, CURLOPT_PROXY, "");
		st->easy = e;
	}
	return ev_resolve(st);
}

/* The transfer's end, if curl reports it: *result set, true returned. */
static bool ev_done(struct ev_stream *st, CURLcode *result)
{
	bool done = false;
	CURLMsg *msg;
	int left;

	while ((msg = ev_curl.multi_info_read(st->multi, &left))) {
		if (msg->msg == CURLMSG_DONE) {
			*result = msg->data.result;
			done = true;
		}
	}
	return done;
}

/* Milliseconds until curl's timer, at most cap (0: due). */
static int ev_until_timer_ms(const struct ev_stream *st, int cap)
{
	int64_t left;

	if (st->timer_ns < 0)
		return cap;
	left = (st->timer_ns - role_now_ns() + 999999) / 1000000;
	return left < 0 ? 0 : left > cap ? cap : (int)left;
}

/* Follows the stream until it ends, or until one of its sockets stops being ours. Returns
 * 0 when it delivered its init (the backoff starts over), -ECONNREFUSED or -ENOMEM
 * otherwise. */
static int ev_follow_once(struct ev_stream *st)
{
	CURLcode result = CURLE_OK;
	bool done = false, stolen = false;
	int running = 0, rc;

	rc = ev_handles(st);
	if (rc)
		goto out;
	events_splitter_init(&st->split);
	st->got_init = false;
	st->timer_ns = -1;
	if (ev_curl.multi_add_handle(st->multi, st->easy) != CURLM_OK) {
		rc = -ENOMEM;
		goto out;
	}
	while (!done) {
		struct pollfd p[EV_SOCKS];
		int n, ms;

		if (!ev_socks_ours()) {
			stolen = true;
			break;
		}
		if (st->timer_ns >= 0 && ev_until_timer_ms(st, 1) == 0) {
			st->timer_ns = -1;
			ev_curl.multi_socket_action(st->multi, CURL_SOCKET_TIMEOUT, 0, &running);
			done = ev_done(st, &result);
			continue;
		}
		ev_poll_if_due(st);
		ev_nap();
		n = ev_pollset(p);
		ms = ev_until_timer_ms(st, ev_until_poll_ms(st, 1000));
		if (poll(p, (nfds_t)n, ms) <= 0)
			continue;
		for (int i = 0; i < n && !done; i++) {
			int mask = 0;

			if (!p[i].revents)
				continue;
			/* POLLNVAL: closed under us; a socket that is not ours is not acted on */
			if (!ev_socks_ours()) {
				stolen = true;
				break;
			}
			if (p[i].revents & POLLIN)
				mask |= CURL_CSELECT_IN;
			if (p[i].revents & POLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (p[i].revents & (POLLERR | POLLHUP))
				mask |= CURL_CSELECT_ERR;
			ev_curl.multi_socket_action(st->multi, p[i].fd, mask, &running);
			done = ev_done(st, &result);
		}
		if (stolen)
			break;
	}
	ev_curl.multi_remove_handle(st->multi, st->easy);
	ev_socks_forget_stale();
	rc = st->got_init ? 0 : -ECONNREFUSED;
	if (stolen)
		log_info("events: the program closed the stream's connection; reconnecting");
	else if (st->got_init)
		log_info("events: stream ended (%s); reconnecting", ev_curl.easy_strerror(result));
	else
		log_debug("events: %s: %s", fwd_config.events_url, ev_curl.easy_strerror(result));
out:
	ev_set_live(false);
	return rc;
}

static void ev_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void *ev_main(void *arg)
{
	struct ev_stream *st = arg;
	bool stream = st->stream;
	int backoff = EV_BACKOFF_MIN_MS;

	st->next_poll_ns = role_now_ns() + (int64_t)fwd_config.poll_ms * 1000000;
	for (;;) {
		int slept = 0, wait;

		if (stream) {
			if (ev_follow_once(st) == 0)
				backoff = EV_BACKOFF_MIN_MS;
			wait = backoff;
			backoff = backoff * 2 > EV_BACKOFF_MAX_MS ? EV_BACKOFF_MAX_MS : backoff * 2;
		} else {
			wait = EV_BACKOFF_MAX_MS;
		}
		/* between connections, polling goes on */
		while (slept < wait) {
			int step = ev_until_poll_ms(st, wait - slept);

			ev_sleep_ms(step);
			slept += step;
			ev_poll_if_due(st);
		}
	}
	return NULL;
}

static void ev_atfork_prepare(void)
{
	pthread_mutex_lock(&ev_mu);
	role_lock();
}

static void ev_atfork_parent(void)
{
	role_unlock();
	pthread_mutex_unlock(&ev_mu);
}

/* The child has no event thread: it follows no stream, and the view is re-read. Its copies
 * of the thread's sockets are closed when still ours (without shutdown(): the parent's
 * connection goes on). */
static void ev_atfork_child(void)
{
	role_unlock();
	for (int i = 0; i < EV_SOCKS; i++)
		if (ev_socks[i].used)
			ownfd_close(&ev_socks[i].fd);
	memset(ev_socks, 0, sizeof(ev_socks));
	ev_pid = 0;
	ev_live = false;
	ev_waiters = 0;
	memset(ev_dbs, 0, sizeof(ev_dbs));
	ev_cond_init();
	pthread_mutex_unlock(&ev_mu);
	role_set_stream_live(false);
}

void events_follow_note_write(bool trouble)
{
	pid_t self = getpid();
	int64_t now = role_now_ns();
	struct ev_stream *st = NULL;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (__atomic_load_n(&ev_pid, __ATOMIC_ACQUIRE) == self)
		return;
	if (!fwd_config.litefs || (!fwd_config.events_url[0] && !fwd_config.poll_ms))
		return;
	pthread_mutex_lock(&ev_mu);
	if (ev_pid == self)
		goto out;
	if (ev_first_write_pid != self) {
		/* this process's first write (a forked child starts counting anew) */
		ev_first_write_pid = self;
		ev_first_write_ns = now;
	}
	if (!trouble && now - ev_first_write_ns < (int64_t)EVENTS_WARM_MS * 1000000)
		goto out;
	if (!ev_atfork_done) {
		ev_cond_init();
		if (pthread_atfork(ev_atfork_prepare, ev_atfork_parent, ev_atfork_child)) {
			log_warn("events: cannot register fork handlers; no event thread");
			goto out;
		}
		ev_atfork_done = true;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		log_warn("events: out of memory; no event thread");
		goto out;
	}
	st->stream = fwd_config.events_url[0] && ev_load_curl() == 0;
	/* Created with every signal blocked, so that none is delivered to it. The process
	 * counts as started even when creation fails: no retry on every write. */
	__atomic_store_n(&ev_pid, self, __ATOMIC_RELEASE);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, ev_main, st);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		log_warn("events: cannot start the event thread: %s", strerror(rc));
		free(st);
		goto out;
	}
	log_debug("events: thread started");
out:
	pthread_mutex_unlock(&ev_mu);
}

/* Whether a tx event of db with a TXID of at least txid was seen. ev_mu held. */
static bool ev_seen_tx(const char *db, uint64_t txid)
{
	for (unsigned i = 0; i < EV_DBS; i++)
		if (!strcmp(ev_dbs[i].name, db))
			return ev_dbs[i].txid >= txid;
	return false;
}

int events_wait_tx(const char *db, uint64_t txid, int max_ms)
{
	struct timespec ts;
	int rc = -EAGAIN;

	pthread_mutex_lock(&ev_mu);
	if (!ev_live) {
		rc = -ENOTCONN;
		goto out;
	}
	if (ev_seen_tx(db, txid)) {
		rc = 0;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += max_ms / 1000;
	ts.tv_nsec += (long)(max_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	/* one wait: any tx event, role change or stream change ends it; the event thread
	 * stops napping meanwhile */
	if (ev_waiters++ == 0)
		pthread_cond_signal(&ev_nap_cond);
	pthread_cond_timedwait(&ev_cond, &ev_mu, &ts);
	ev_waiters--;
	if (ev_seen_tx(db, txid))
		rc = 0;
out:
	pthread_mutex_unlock(&ev_mu);
	return rc;
}
