/* `litefs-fwd run`: when a forwarder that died is started again. */
#ifndef FWD_RUN_BACKOFF_H
#define FWD_RUN_BACKOFF_H

/* The first restart waits this long; each quick death doubles the wait up to the cap; a
 * forwarder that ran at least FWD_RUN_BACKOFF_RESET_MS starts the schedule over. */
#define FWD_RUN_BACKOFF_FIRST_MS 100
#define FWD_RUN_BACKOFF_MAX_MS 5000
#define FWD_RUN_BACKOFF_RESET_MS 10000

struct fwd_run_backoff {
	int next_ms; /* the wait before the next restart, unless the schedule starts over */
};

void fwd_run_backoff_init(struct fwd_run_backoff *b);

/* Called when the forwarder died after running ran_ms milliseconds: returns how long to
 * wait before starting it again (FWD_RUN_BACKOFF_FIRST_MS..FWD_RUN_BACKOFF_MAX_MS) and
 * advances the schedule. */
int fwd_run_backoff_next(struct fwd_run_backoff *b, long long ran_ms);

#endif
