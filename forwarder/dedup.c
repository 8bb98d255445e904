/* The record of executed requests. One mutex guards everything: the hash of ids (pending
 * and recorded), the FIFO of recorded replies (oldest first, for eviction) and the
 * reference counts of replies. Replies are copied outside the lock; under it only pointers
 * move, so a large reply does not hold up the other workers. */
#include "dedup.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dedup_entry {
	uint64_t id;
	uint64_t fingerprint;
	struct fwd_dedup_reply *reply;  /* NULL while the request executes */
	int64_t done_ms;                /* CLOCK_MONOTONIC time of fwd_dedup_finish() */
	struct dedup_entry *hnext;      /* hash chain */
	struct dedup_entry *qnext;      /* FIFO of recorded entries */
};

struct fwd_dedup {
	pthread_mutex_t lock;
	pthread_cond_t done;            /* broadcast whenever a claim ends */
	struct dedup_entry **buckets;
	size_t mask;                    /* number of buckets - 1, a power of two minus one */
	struct dedup_entry *head, *tail;
	size_t count, bytes;            /* recorded entries and the bytes of their replies */
	size_t max_entries, max_bytes;
	int64_t max_age_ms;
};

static int64_t dedup_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Request ids are often a counter in the high or low bits: mix every bit into the index. */
static size_t dedup_bucket(const struct fwd_dedup *d, uint64_t id)
{
	id ^= id >> 30;
	id *= 0xbf58476d1ce4e5b9ULL;
	id ^= id >> 27;
	id *= 0x94d049bb133111ebULL;
	id ^= id >> 31;
	return (size_t)id & d->mask;
}

/* Caller holds d->lock. */
static struct dedup_entry *dedup_find(struct fwd_dedup *d, uint64_t id)
{
	struct dedup_entry *e;

	for (e = d->buckets[dedup_bucket(d, id)]; e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

/* Takes e out of the hash. Caller holds d->lock. */
static void dedup_unlink(struct fwd_dedup *d, struct dedup_entry *e)
{
	struct dedup_entry **pp = &d->buckets[dedup_bucket(d, e->id)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
}

/* Drops one reference of r, freeing it with the last. Caller holds d->lock. */
static void dedup_unref(struct fwd_dedup_reply *r)
{
	if (r && --r->refs == 0)
		free(r);
}

/* Evicts the oldest recorded entries while the record is over its bounds, and those older
 * than max_age_ms. The newest entry stays unless it is too old itself: a single reply
 * larger than max_bytes is still recorded. Caller holds d->lock. */
static void dedup_prune(struct fwd_dedup *d, int64_t now)
{
	struct dedup_entry *e;

	while ((e = d->head) && e != d->tail &&
	       (d->count > d->max_entries || d->bytes > d->max_bytes ||
		now - e->done_ms > d->max_age_ms)) {
		d->head = e->qnext;
		d->count--;
		d->bytes -= e->reply->len;
		dedup_unlink(d, e);
		dedup_unref(e->reply);
		free(e);
	}
	if (e && e == d->tail && now - e->done_ms > d->max_age_ms) {
		d->head = d->tail = NULL;
		d->count = 0;
		d->bytes = 0;
		dedup_unlink(d, e);
		dedup_unref(e->reply);
		free(e);
	}
}

int fwd_dedup_create(struct fwd_dedup **out, size_t max_entries, size_t max_bytes,
		     int64_t max_age_ms)
{
	struct fwd_dedup *d;
	size_t n = 64;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* Chains of one or two entries at the bound (the pending claims come on top). */
	while (n < max_entries && n < ((size_t)1 << 24))
		n <<= 1;
	d->buckets = calloc(n, sizeof(*d->buckets));
	if (!d->buckets) {
		rc = -ENOMEM;
		goto fail_buckets;
	}
	d->mask = n - 1;
	d->max_entries = max_entries ? max_entries : 1;
	d->max_bytes = max_bytes;
	d->max_age_ms = max_age_ms;
	rc = -pthread_mutex_init(&d->lock, NULL);
	if (rc)
		goto fail_lock;
	rc = -pthread_cond_init(&d->done, NULL);
	if (rc)
		goto fail_cond;
	*out = d;
	return 0;

fail_cond:
	pthread_mutex_destroy(&d->lock);
fail_lock:
	free(d->buckets);
fail_buckets:
	free(d);
	return rc;
}

void fwd_dedup_destroy(struct fwd_dedup *d)
{
	if (!d)
		return;
	for (size_t i = 0; i <= d->mask; i++) {
		struct dedup_entry *e, *next;

		for (e = d->buckets[i]; e; e = next) {
			next = e->hnext;
			dedup_unref(e->reply);
			free(e);
		}
	}
	pthread_cond_destroy(&d->done);
	pthread_mutex_destroy(&d->lock);
	free(d->buckets);
	free(d);
}

int fwd_dedup_claim(struct fwd_dedup *d, uint64_t id, uint64_t fingerprint,
		    struct fwd_dedup_reply **hit)
{
	struct dedup_entry *e, *fresh;
	size_t b;

	*hit = NULL;
	/* Allocated before taking the lock; usually needed, freed when not. */
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	pthread_mutex_lock(&d->lock);
	dedup_prune(d, dedup_now_ms());
	for (;;) {
		e = dedup_find(d, id);
		if (!e)
			break;
		if (e->fingerprint != fingerprint) {
			pthread_mutex_unlock(&d->lock);
			free(fresh);
			return -EEXIST;
		}
		if (e->reply) {
			e->reply->refs++;
			*hit = e->reply;
			pthread_mutex_unlock(&d->lock);
			free(fresh);
			return 0;
		}
		/* Executing in another thread: its fwd_dedup_finish() broadcasts. */
		pthread_cond_wait(&d->done, &d->lock);
	}
	fresh->id = id;
	fresh->fingerprint = fingerprint;
	b = dedup_bucket(d, id);
	fresh->hnext = d->buckets[b];
	d->buckets[b] = fresh;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int fwd_dedup_finish(struct fwd_dedup *d, uint64_t id, const void *reply, size_t len)
{
	struct fwd_dedup_reply *r = NULL;
	struct dedup_entry *e;
	int rc = 0;

	if (reply) {
		r = malloc(sizeof(*r) + len);
		if (r) {
			r->refs = 1;  /* the record's */
			r->len = len;
			memcpy(r->bytes, reply, len);
		} else {
			rc = -ENOMEM;
		}
	}
	pthread_mutex_lock(&d->lock);
	e = dedup_find(d, id);
	if (e && !e->reply) {
		if (r) {
			e->reply = r;
			e->done_ms = dedup_now_ms();
			if (d->tail)
				d->tail->qnext = e;
			else
				d->head = e;
			d->tail = e;
			d->count++;
			d->bytes += len;
			dedup_prune(d, e->done_ms);
			r = NULL;
		} else {
			dedup_unlink(d, e);
			free(e);
		}
	}
	pthread_cond_broadcast(&d->done);
	pthread_mutex_unlock(&d->lock);
	free(r);  /* only when id was not pending: a caller's mistake */
	return rc;
}

void fwd_dedup_release(struct fwd_dedup *d, struct fwd_dedup_reply *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&d->lock);
	dedup_unref(r);
	pthread_mutex_unlock(&d->lock);
}

size_t fwd_dedup_count(struct fwd_dedup *d)
{
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->count;
	pthread_mutex_unlock(&d->lock);
	return n;
}
