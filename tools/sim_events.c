/* LiteFS's event stream: GET /events answers chunked HTTP/1.1 with one JSON object per
 * line, `init` first. Each subscriber has its own queue; like LiteFS, one that falls 1024
 * events behind is disconnected and must reconnect (and then gets a fresh init). */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_state.h"

#define EV_QUEUE 1024

struct ev_sub {
	struct ev_sub *next;
	struct sim_node *node;
	char *lines[EV_QUEUE];
	size_t head, count;
	bool overflow;
	char *cur;        /* line being sent, with its newline */
	size_t cur_len, cur_off;
};

struct sim_events {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct ev_sub *subs;
};

int sim_events_init(struct sim_node *n)
{
	struct sim_events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cond, NULL);
	n->events = e;
	return 0;
}

void sim_events_free(struct sim_node *n)
{
	free(n->events);
	n->events = NULL;
}

size_t sim_json_quote(char *buf, size_t len, const char *s)
{
	size_t o = 0;

#define EMIT(c)                                                                         \
	do {                                                                            \
		if (o + 1 < len)                                                        \
			buf[o] = (c);                                                   \
		o++;                                                                    \
	} while (0)
	EMIT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			EMIT('\\');
			EMIT((char)*p);
		} else if (*p < 0x20) {
			char esc[8];

			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			for (char *q = esc; *q; q++)
				EMIT(*q);
		} else {
			EMIT((char)*p);
		}
	}
	EMIT('"');
#undef EMIT
	if (len)
		buf[o < len ? o : len - 1] = '\0';
	return o;
}

/* Queues a copy of line for s. events->mu held. */
static void ev_push(struct ev_sub *s, const char *line)
{
	char *copy;

	if (s->overflow)
		return;
	if (s->count == EV_QUEUE) {
		s->overflow = true;
		return;
	}
	copy = strdup(line);
	if (!copy) {
		s->overflow = true;
		return;
	}
	s->lines[(s->head + s->count) % EV_QUEUE] = copy;
	s->count++;
}

void sim_events_publish(struct sim_node *n, const char *json)
{
	struct sim_events *e = n->events;

	pthread_mutex_lock(&e->mu);
	for (struct ev_sub *s = e->subs; s; s = s->next)
		ev_push(s, json);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->mu);
}

void sim_events_wake_all(struct sim_node *n)
{
	pthread_mutex_lock(&n->events->mu);
	pthread_cond_broadcast(&n->events->cond);
	pthread_mutex_unlock(&n->events->mu);
}

/* The init/primaryChange payload for the node's current role. node->mu held. */
static void ev_role_json(struct sim_node *n, const char *type, char *buf, size_t len)
{
	if (n->role == SIM_PRIMARY) {
		snprintf(buf, len, "{\"type\":\"%s\",\"data\":{\"isPrimary\":true}}", type);
	} else if (n->visible_primary) {
		char host[16];

		sim_node_name(n->visible_primary, host, sizeof(host));
		snprintf(buf, len, "{\"type\":\"%s\",\"data\":{\"isPrimary\":false,\"hostname\":\"%s\"}}",
			 type, host);
	} else {
		snprintf(buf, len, "{\"type\":\"%s\",\"data\":{\"isPrimary\":false}}", type);
	}
}

void sim_events_publish_role(struct sim_node *n)
{
	char buf[128];

	ev_role_json(n, "primaryChange", buf, sizeof(buf));
	sim_events_publish(n, buf);
}

void sim_events_publish_tx(struct sim_node *n, const char *db, const struct sim_txn *t)
{
	char name[6 * NAME_MAX + 8], ts[40], buf[6 * NAME_MAX + 256];
	time_t secs = (time_t)(t->ts_us / 1000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	sim_json_quote(name, sizeof(name), db);
	snprintf(buf, sizeof(buf),
		 "{\"type\":\"tx\",\"db\":%s,\"data\":{\"txID\":\"%016llx\",\"postApplyChecksum\":"
		 "\"%016llx\",\"pageSize\":%u,\"commit\":%u,\"timestamp\":\"%s.%03dZ\"}}",
		 name, (unsigned long long)t->txid, (unsigned long long)t->checksum, t->page_size,
		 t->commit, ts, (int)((t->ts_us / 1000) % 1000));
	sim_events_publish(n, buf);
}

static ssize_t ev_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct ev_sub *s = cls;
	struct sim_node *n = s->node;
	struct sim_events *e = n->events;
	size_t len;

	(void)pos;
	if (!s->cur) {
		pthread_mutex_lock(&e->mu);
		while (!s->count && !s->overflow) {
			struct timespec ts;
			bool stop;

			/* n->mu is taken before e->mu everywhere else (a new subscriber's
			 * init is made under both): never the other way round */
			pthread_mutex_unlock(&e->mu);
			pthread_mutex_lock(&n->mu);
			stop = n->stopping;
			pthread_mutex_unlock(&n->mu);
			pthread_mutex_lock(&e->mu);
			if (stop)
				break;
			if (s->count || s->overflow)
				break;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&e->cond, &e->mu, &ts);
		}
		if (!s->count) {
			bool overflow = s->overflow;

			pthread_mutex_unlock(&e->mu);
			return overflow ? MHD_CONTENT_READER_END_WITH_ERROR
					: MHD_CONTENT_READER_END_OF_STREAM;
		}
		{
			char *line = s->lines[s->head];

			s->head = (s->head + 1) % EV_QUEUE;
			s->count--;
			pthread_mutex_unlock(&e->mu);
			len = strlen(line);
			s->cur = realloc(line, len + 2);
			if (!s->cur) {
				free(line);
				return MHD_CONTENT_READER_END_WITH_ERROR;
			}
			s->cur[len] = '\n';
			s->cur[len + 1] = '\0';
			s->cur_len = len + 1;
			s->cur_off = 0;
		}
	}
	len = s->cur_len - s->cur_off;
	if (len > max)
		len = max;
	memcpy(buf, s->cur + s->cur_off, len);
	s->cur_off += len;
	if (s->cur_off == s->cur_len) {
		free(s->cur);
		s->cur = NULL;
	}
	return (ssize_t)len;
}

static void ev_free(void *cls)
{
	struct ev_sub *s = cls;
	struct sim_events *e = s->node->events;

	pthread_mutex_lock(&e->mu);
	for (struct ev_sub **pp = &e->subs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&e->mu);
	while (s->count) {
		free(s->lines[s->head]);
		s->head = (s->head + 1) % EV_QUEUE;
		s->count--;
	}
	free(s->cur);
	free(s);
}

struct MHD_Response *sim_events_response(struct sim_node *n)
{
	struct sim_events *e = n->events;
	struct MHD_Response *r;
	struct ev_sub *s;
	char init[128];

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->node = n;
	pthread_mutex_lock(&n->mu);
	ev_role_json(n, "init", init, sizeof(init));
	pthread_mutex_lock(&e->mu);
	ev_push(s, init);
	s->next = e->subs;
	e->subs = s;
	pthread_mutex_unlock(&e->mu);
	pthread_mutex_unlock(&n->mu);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, ev_read, s, ev_free);
	if (!r) {
		ev_free(s);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	return r;
}
