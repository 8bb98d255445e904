/* The forwarder's authentication gate (see authn.h). */
#include "authn.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "reply.h"

static const char *const authn_reason_text[FWD_AUTHN_NREASONS] = {
	[FWD_AUTHN_NO_TRAILER] = "not authenticated (no secret on the client?)",
	[FWD_AUTHN_BAD_MAC] = "wrong authentication (another secret, or altered)",
	[FWD_AUTHN_STALE] = "outside the time window (clocks apart?)",
	[FWD_AUTHN_REPLAY] = "replayed",
	[FWD_AUTHN_FLOOD] = "too many requests within the window to rule out a replay",
};

static int64_t authn_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fwd_authn_init(struct fwd_authn *a, const struct auth_key *k, int window_ms,
		   size_t max_per_window)
{
	memset(a, 0, sizeof(*a));
	a->key = *k;
	a->window_ms = window_ms;
	a->logged_ms = INT64_MIN / 2;
	return auth_replay_init(&a->replay, max_per_window);
}

void fwd_authn_destroy(struct fwd_authn *a)
{
	auth_replay_destroy(&a->replay);
	auth_key_clear(&a->key);
}

/* Counts a refusal and logs it unless one was logged less than a second ago. */
static void authn_refuse(struct fwd_authn *a, enum fwd_authn_reason why, uint64_t id)
{
	int64_t now = authn_mono_ms(), last = __atomic_load_n(&a->logged_ms, __ATOMIC_RELAXED);

	__atomic_add_fetch(&a->refused[why], 1, __ATOMIC_RELAXED);
	fwd_metrics_count_auth_failure(&fwd_metrics_process, why);
	if (now - last < 1000 ||
	    !__atomic_compare_exchange_n(&a->logged_ms, &last, now, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&a->unlogged, 1, __ATOMIC_RELAXED);
		return;
	}
	fwd_log_warn("request %llu refused, nothing executed: %s (%llu more refused since the "
		     "last such line)", (unsigned long long)id, authn_reason_text[why],
		     (unsigned long long)__atomic_exchange_n(&a->unlogged, 0, __ATOMIC_RELAXED));
}

int fwd_authn_check(struct fwd_authn *a, const void *msg, size_t len, size_t *body_len,
		    struct wire_buf *out, size_t max)
{
	unsigned char mac[AUTH_MAC_BYTES];
	uint64_t now = auth_now_ms(), id;
	enum fwd_authn_reason why;
	int rc;

	rc = auth_open(&a->key, msg, len, now, a->window_ms, body_len, NULL, mac);
	if (rc == 0) {
		rc = auth_replay_check(&a->replay, mac, now, a->window_ms);
		if (rc == 0)
			return 0;
		why = rc == -EALREADY ? FWD_AUTHN_REPLAY : FWD_AUTHN_FLOOD;
	} else {
		why = rc == -EBADMSG ? FWD_AUTHN_NO_TRAILER :
		      rc == -ETIME ? FWD_AUTHN_STALE : FWD_AUTHN_BAD_MAC;
	}
	/* the id as the request claims it, for the client to match the answer */
	id = wire_peek_request_id(msg, len);
	authn_refuse(a, why, id);
	if (fwd_reply_error(out, max, id, EACCES, "refused by the forwarder: %s; nothing was "
			    "executed", authn_reason_text[why]))
		return -ENOMEM;
	return rc == 0 ? -EACCES : rc;
}

int fwd_authn_seal(struct fwd_authn *a, struct wire_buf *out)
{
	unsigned char t[AUTH_TRAILER_BYTES];
	int rc = auth_seal(&a->key, out->p, out->len, auth_now_ms(), t);

	if (rc)
		return rc;
	return wire_buf_append(out, t, sizeof(t));
}

uint64_t fwd_authn_refused(struct fwd_authn *a, enum fwd_authn_reason reason)
{
	return __atomic_load_n(&a->refused[reason], __ATOMIC_RELAXED);
}
