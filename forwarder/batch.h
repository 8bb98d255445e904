/* Group commit's queue: jobs that arrive while a batch of their kind is running wait
 * together, and one of them runs them all as the next batch. No thread is added and no job
 * is delayed on purpose: a batch is whatever arrived while the one before it ran, so a lone
 * client sees a batch of one, and many clients share each commit. */
#ifndef FWD_BATCH_H
#define FWD_BATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Jobs one batch takes at most; the rest wait for the next. */
#define FWD_BATCH_MAX 64

/* A job, embedded in the submitter's own structure; the batch only links it. */
struct fwd_batch_job {
	struct fwd_batch_job *next;
	int state;                /* private to batch.c; under fwd_batch.lock */
	pthread_cond_t wake;      /* private to batch.c: its state changed */
};

/* Runs jobs[0..n) (1 <= n <= FWD_BATCH_MAX), in arrival order, in the calling thread;
 * when it returns every one of them is finished. */
typedef void fwd_batch_run_fn(struct fwd_batch_job **jobs, size_t n);

/* The queue of one kind of job (for group commit: one database's connection).
 * Thread-safe. */
struct fwd_batch {
	pthread_mutex_t lock;
	struct fwd_batch_job *head, *tail;  /* waiting, first come first */
	bool running;                 /* a job is leading; while false, head is NULL */
	size_t batches, jobs;         /* totals, for tests and figures */
};

void fwd_batch_init(struct fwd_batch *b);
/* No job may be waiting. */
void fwd_batch_destroy(struct fwd_batch *b);

/* Queues j and returns once run() has run it, in this thread (which then led its batch,
 * and runs at most that one) or in another. Blocks while another batch runs. */
void fwd_batch_submit(struct fwd_batch *b, struct fwd_batch_job *j, fwd_batch_run_fn *run);

/* Batches run and jobs in them so far, and jobs waiting for a batch now. */
void fwd_batch_totals(struct fwd_batch *b, size_t *batches, size_t *jobs, size_t *waiting);

#endif
