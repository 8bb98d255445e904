/* The session table. One mutex guards the hash of sessions, their reference counts and the
 * ring of sessions recently rolled back for idleness; a condition variable lets a request
 * wait for the one before it in the same session. Connections are closed outside the lock:
 * closing rolls back, which is file system work. */
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

#define SESSION_BUCKETS 256
/* Ids of sessions rolled back for idleness, remembered so that their clients are told. */
#define SESSION_EXPIRED_RING 1024

struct fwd_session {
	uint64_t id;
	struct fwd_session *next;   /* hash chain */
	struct fwd_exec_conn *conn;
	uint32_t timeout_ms;
	int64_t idle_since_ms;      /* CLOCK_MONOTONIC; meaningful while not held */
	bool held;                  /* a request is using it */
	uint64_t last_id;           /* the last request answered in it, 0 for none */
	struct wire_buf last_reply; /* ... and its reply */
};

struct fwd_sessions {
	pthread_mutex_t lock;
	pthread_cond_t released;
	struct fwd_session *buckets[SESSION_BUCKETS];
	size_t count, max;
	uint64_t expired[SESSION_EXPIRED_RING];
	size_t expired_next;
};

static int64_t session_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t session_bucket(uint64_t id)
{
	id ^= id >> 31;
	id *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(id >> 56) % SESSION_BUCKETS;
}

/* Caller holds ss->lock. */
static struct fwd_session **session_find(struct fwd_sessions *ss, uint64_t id)
{
	struct fwd_session **pp = &ss->buckets[session_bucket(id)];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

/* Caller holds ss->lock. */
static bool session_expired(const struct fwd_sessions *ss, uint64_t id)
{
	for (size_t i = 0; i < SESSION_EXPIRED_RING; i++)
		if (ss->expired[i] == id)
			return true;
	return false;
}

static void session_free(struct fwd_session *s)
{
	if (s->conn)
		fwd_exec_conn_close(s->conn);
	wire_buf_free(&s->last_reply);
	free(s);
}

int fwd_sessions_create(struct fwd_sessions **out, size_t max)
{
	struct fwd_sessions *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return -ENOMEM;
	pthread_mutex_init(&ss->lock, NULL);
	pthread_cond_init(&ss->released, NULL);
	ss->max = max;
	*out = ss;
	return 0;
}

void fwd_sessions_destroy(struct fwd_sessions *ss)
{
	if (!ss)
		return;
	fwd_metrics_add_sessions(&fwd_metrics_process, -(int64_t)ss->count);
	for (size_t b = 0; b < SESSION_BUCKETS; b++) {
		struct fwd_session *s, *next;

		for (s = ss->buckets[b]; s; s = next) {
			next = s->next;
			session_free(s);
		}
	}
	pthread_cond_destroy(&ss->released);
	pthread_mutex_destroy(&ss->lock);
	free(ss);
}

int fwd_session_reserve(struct fwd_sessions *ss, uint64_t id, uint32_t timeout_ms,
			struct fwd_session **out)
{
	struct fwd_session **pp, *s;
	int rc = 0;

	pthread_mutex_lock(&ss->lock);
	pp = session_find(ss, id);
	if (*pp || session_expired(ss, id)) {
		rc = -EEXIST;
		goto out;
	}
	if (ss->count >= ss->max) {
		rc = -EBUSY;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	s->id = id;
	s->timeout_ms = timeout_ms;
	s->held = true;
	*pp = s;
	ss->count++;
	fwd_metrics_add_sessions(&fwd_metrics_process, 1);
	*out = s;
out:
	pthread_mutex_unlock(&ss->lock);
	return rc;
}

/* Takes the idle session *pp out of the table as rolled back for idleness, and returns it
 * (to be freed outside the lock). Caller holds ss->lock. */
static struct fwd_session *session_expire(struct fwd_sessions *ss, struct fwd_session **pp)
{
	struct fwd_session *s = *pp;

	*pp = s->next;
	ss->count--;
	fwd_metrics_add_sessions(&fwd_metrics_process, -1);
	fwd_metrics_count_session_expired(&fwd_metrics_process);
	ss->expired[ss->expired_next] = s->id;
	ss->expired_next = (ss->expired_next + 1) % SESSION_EXPIRED_RING;
	return s;
}

/* A session past its idle timeout is rolled back here at the latest, whatever the timer
 * did: its client hears it on the statement that comes too late. */
int fwd_session_acquire(struct fwd_sessions *ss, uint64_t id, struct fwd_session **out)
{
	struct fwd_session **pp, *s, *gone = NULL;
	int rc = 0;

	pthread_mutex_lock(&ss->lock);
	for (;;) {
		pp = session_find(ss, id);
		s = *pp;
		if (!s) {
			rc = session_expired(ss, id) ? -ETIMEDOUT : -ENOENT;
			break;
		}
		if (!s->held && session_now_ms() - s->idle_since_ms >= (int64_t)s->timeout_ms) {
			gone = session_expire(ss, pp);
			rc = -ETIMEDOUT;
			break;
		}
		if (!s->held) {
			s->held = true;
			*out = s;
			break;
		}
		pthread_cond_wait(&ss->released, &ss->lock);
	}
	pthread_mutex_unlock(&ss->lock);
	if (gone)
		session_free(gone);
	return rc;
}

struct fwd_exec_conn *fwd_session_conn(struct fwd_session *s)
{
	return s->conn;
}

void fwd_session_set_conn(struct fwd_session *s, struct fwd_exec_conn *c)
{
	s->conn = c;
}

uint32_t fwd_session_timeout_ms(const struct fwd_session *s)
{
	return s->timeout_ms;
}

void fwd_session_note_reply(struct fwd_session *s, uint64_t request_id, const void *reply,
			    size_t len)
{
	s->last_reply.len = 0;
	s->last_id = wire_buf_append(&s->last_reply, reply, len) ? 0 : request_id;
}

int fwd_session_replay(const struct fwd_session *s, uint64_t request_id, struct wire_buf *out)
{
	if (!s->last_id || s->last_id != request_id)
		return 0;
	return wire_buf_append(out, s->last_reply.p, s->last_reply.len) ? -ENOMEM : 1;
}

void fwd_session_release(struct fwd_sessions *ss, struct fwd_session *s, bool ended)
{
	pthread_mutex_lock(&ss->lock);
	if (ended) {
		struct fwd_session **pp = session_find(ss, s->id);

		if (*pp == s) {
			*pp = s->next;
			ss->count--;
			fwd_metrics_add_sessions(&fwd_metrics_process, -1);
		}
	} else {
		s->held = false;
		s->idle_since_ms = session_now_ms();
	}
	pthread_cond_broadcast(&ss->released);
	pthread_mutex_unlock(&ss->lock);
	if (ended)
		session_free(s);
}

size_t fwd_sessions_expire(struct fwd_sessions *ss, int64_t now_ms)
{
	struct fwd_session *gone = NULL, *s, **pp;
	size_t n = 0;

	pthread_mutex_lock(&ss->lock);
	if (!ss->count) {
		pthread_mutex_unlock(&ss->lock);
		return 0;
	}
	for (size_t b = 0; b < SESSION_BUCKETS; b++) {
		for (pp = &ss->buckets[b]; (s = *pp);) {
			if (s->held || now_ms - s->idle_since_ms < (int64_t)s->timeout_ms) {
				pp = &s->next;
				continue;
			}
			s = session_expire(ss, pp);
			s->next = gone;
			gone = s;
			n++;
		}
	}
	pthread_mutex_unlock(&ss->lock);
	while ((s = gone)) {
		gone = s->next;
		session_free(s);
	}
	return n;
}

size_t fwd_sessions_count(struct fwd_sessions *ss)
{
	size_t n;

	pthread_mutex_lock(&ss->lock);
	n = ss->count;
	pthread_mutex_unlock(&ss->lock);
	return n;
}
