/* The restart schedule of the forwarder under `litefs-fwd run`: exponential, capped, and
 * forgotten once the forwarder has stayed up for a while, so that a forwarder that cannot
 * start (a port taken, a bad secret file) does not spin, and one that crashes once a day
 * comes back at once. */
#include "fwd_run_backoff.h"

void fwd_run_backoff_init(struct fwd_run_backoff *b)
{
	b->next_ms = FWD_RUN_BACKOFF_FIRST_MS;
}

int fwd_run_backoff_next(struct fwd_run_backoff *b, long long ran_ms)
{
	int wait_ms;

	if (ran_ms >= FWD_RUN_BACKOFF_RESET_MS)
		b->next_ms = FWD_RUN_BACKOFF_FIRST_MS;
	wait_ms = b->next_ms;
	b->next_ms = b->next_ms > FWD_RUN_BACKOFF_MAX_MS / 2 ? FWD_RUN_BACKOFF_MAX_MS
							       : b->next_ms * 2;
	return wait_ms;
}
