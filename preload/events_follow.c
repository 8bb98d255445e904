/* The event thread of the interposer (see events_follow.h). */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "events.h"
#include "events_follow.h"
#include "log.h"
#include "role.h"

#define EV_BACKOFF_MIN_MS 50
#define EV_BACKOFF_MAX_MS 5000
#define EV_CONNECT_TIMEOUT_MS 2000
/* Databases whose last TXID is remembered; beyond that the oldest entry is reused. */
#define EV_DBS 32

/* libcurl, loaded by the thread. */
struct ev_curl {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	void (*easy_cleanup)(CURL *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	const char *(*easy_strerror)(CURLcode);
};

struct ev_db {
	char name[EVENTS_DB_MAX + 1];
	uint64_t txid;
};

/* One connection's worth of state, owned by the thread. */
struct ev_stream {
	bool stream;              /* libcurl is loaded and a URL is set: follow the stream */
	struct events_splitter split;
	bool got_init;
	int64_t next_poll_ns;
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
	    !EV_SYM(easy_cleanup, "curl_easy_cleanup") || !EV_SYM(multi_init, "curl_multi_init") ||
	    !EV_SYM(multi_add_handle, "curl_multi_add_handle") ||
	    !EV_SYM(multi_remove_handle, "curl_multi_remove_handle") ||
	    !EV_SYM(multi_perform, "curl_multi_perform") ||
	    !EV_SYM(multi_poll, "curl_multi_poll") ||
	    !EV_SYM(multi_info_read, "curl_multi_info_read") ||
	    !EV_SYM(multi_cleanup, "curl_multi_cleanup") ||
	    !EV_SYM(easy_strerror, "curl_easy_strerror")) {
		log_warn("events: this libcurl lacks curl_multi_poll (7.66 or later is needed); "
			 "polling %s only", fwd_config.primary_file);
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

/* Follows the stream until it ends. Returns 0 when it delivered its init (the backoff
 * starts over), -ECONNREFUSED or -ENOMEM otherwise. */
static int ev_follow_once(struct ev_stream *st)
{
	CURLM *m = ev_curl.multi_init();
	CURL *e = ev_curl.easy_init();
	CURLcode result = CURLE_OK;
	int running = 1, rc = -ENOMEM;

	if (!m || !e)
		goto out;
	events_splitter_init(&st->split);
	st->got_init = false;
	ev_curl.easy_setopt(e, CURLOPT_URL, fwd_config.events_url);
	ev_curl.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	ev_curl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	ev_curl.easy_setopt(e, CURLOPT_FAILONERROR, 1L);
	ev_curl.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)EV_CONNECT_TIMEOUT_MS);
	ev_curl.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	ev_curl.easy_setopt(e, CURLOPT_WRITEFUNCTION, ev_on_data);
	ev_curl.easy_setopt(e, CURLOPT_WRITEDATA, st);
	if (ev_curl.multi_add_handle(m, e) != CURLM_OK)
		goto out;
	while (running) {
		CURLMsg *msg;
		int left;

		if (ev_curl.multi_perform(m, &running) != CURLM_OK)
			break;
		while ((msg = ev_curl.multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE)
				result = msg->data.result;
		if (!running)
			break;
		ev_poll_if_due(st);
		ev_nap();
		ev_curl.multi_poll(m, NULL, 0, ev_until_poll_ms(st, 1000), NULL);
	}
	ev_curl.multi_remove_handle(m, e);
	rc = st->got_init ? 0 : -ECONNREFUSED;
	if (st->got_init)
		log_info("events: stream ended (%s); reconnecting", ev_curl.easy_strerror(result));
	else
		log_debug("events: %s: %s", fwd_config.events_url, ev_curl.easy_strerror(result));
out:
	if (e)
		ev_curl.easy_cleanup(e);
	if (m)
		ev_curl.multi_cleanup(m);
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

/* The child has no event thread: it follows no stream, and the view is re-read. */
static void ev_atfork_child(void)
{
	role_unlock();
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
