/* Leader and followers over one mutex, each job waiting on a condition variable of its own
 * (so that the end of a batch wakes exactly its jobs and the next leader, not every job
 * queued: wake-ups are most of the forwarder's CPU time here). A job arriving when no
 * batch runs leads at once. Otherwise it waits; when the running batch ends, its leader
 * marks its jobs done and makes the first waiting job the next leader, which takes every
 * job waiting then (up to FWD_BATCH_MAX) as its batch. Each leader runs one batch only, so
 * that its own reply is never held back by later arrivals. */
#include "batch.h"

#include "metrics.h"

enum { BATCH_WAITING, BATCH_LEAD, BATCH_DONE };

void fwd_batch_init(struct fwd_batch *b)
{
	pthread_mutex_init(&b->lock, NULL);
	b->head = b->tail = NULL;
	b->running = false;
	b->batches = b->jobs = 0;
}

void fwd_batch_destroy(struct fwd_batch *b)
{
	pthread_mutex_destroy(&b->lock);
}

void fwd_batch_submit(struct fwd_batch *b, struct fwd_batch_job *j, fwd_batch_run_fn *run)
{
	struct fwd_batch_job *jobs[FWD_BATCH_MAX];
	size_t n = 0;

	pthread_cond_init(&j->wake, NULL);
	pthread_mutex_lock(&b->lock);
	j->next = NULL;
	j->state = BATCH_WAITING;
	if (b->tail)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	if (!b->running) {
		/* nobody leads: then nobody else waits either */
		b->running = true;
		j->state = BATCH_LEAD;
	}
	while (j->state == BATCH_WAITING)
		pthread_cond_wait(&j->wake, &b->lock);
	if (j->state == BATCH_DONE) {
		pthread_mutex_unlock(&b->lock);
		pthread_cond_destroy(&j->wake);
		return;
	}
	/* leading: j is at the head of the queue */
	while (b->head && n < FWD_BATCH_MAX) {
		jobs[n++] = b->head;
		b->head = b->head->next;
	}
	if (!b->head)
		b->tail = NULL;
	b->batches++;
	b->jobs += n;
	pthread_mutex_unlock(&b->lock);

	fwd_metrics_observe_batch(&fwd_metrics_process, n);
	run(jobs, n);

	pthread_mutex_lock(&b->lock);
	/* j itself is jobs[0]: nobody waits on it */
	for (size_t i = 1; i < n; i++) {
		jobs[i]->state = BATCH_DONE;
		pthread_cond_signal(&jobs[i]->wake);
	}
	if (b->head) {
		b->head->state = BATCH_LEAD;
		pthread_cond_signal(&b->head->wake);
	} else {
		b->running = false;
	}
	pthread_mutex_unlock(&b->lock);
	pthread_cond_destroy(&j->wake);
}

void fwd_batch_totals(struct fwd_batch *b, size_t *batches, size_t *jobs, size_t *waiting)
{
	size_t n = 0;

	pthread_mutex_lock(&b->lock);
	for (struct fwd_batch_job *j = b->head; j; j = j->next)
		n++;
	*batches = b->batches;
	*jobs = b->jobs;
	*waiting = n;
	pthread_mutex_unlock(&b->lock);
}
