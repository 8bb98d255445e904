/* The health check of a forwarder, for `litefs-fwd status` and `doctor`: whether anything
 * listens at its endpoint, then PING requests over nanomsg REQ/REP (common/wire.h), sealed
 * with the cluster's secret when there is one, as the interposer seals its requests, and
 * what the PONG says. */
#ifndef FWD_PING_H
#define FWD_PING_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "wire.h"

/* What became of the health check. */
enum fwd_ping_state {
	FWD_PING_ANSWERED,    /* a PONG came back */
	FWD_PING_UNREACHABLE, /* nothing listens there (refused, no route, no such socket) */
	FWD_PING_UNRESOLVED,  /* the endpoint is malformed or its host name does not resolve */
	FWD_PING_TIMEOUT,     /* connected, but no answer within the time allowed */
	FWD_PING_REFUSED,     /* the forwarder refused the request's authentication */
	FWD_PING_NOT_AUTHENTIC, /* an answer that is not sealed with this node's secret */
	FWD_PING_STOPPING,    /* the forwarder is stopping */
	FWD_PING_OLD,         /* it answers, but does not know the health check (an older
			       * litefs-fwd) */
	FWD_PING_ERROR,       /* it answered with another error, or the check failed here */
};

struct fwd_ping_db {
	char name[256];
	uint64_t txid;
};

struct fwd_ping_result {
	enum fwd_ping_state state;
	char error[512];        /* what went wrong, for people; "" when answered */
	bool sealed;            /* the answer was authenticated with the secret */
	int samples;            /* round trips measured (after a first one that connects) */
	double rtt_ms_min, rtt_ms_median, rtt_ms_max;
	uint32_t role;          /* enum wire_role */
	char primary[256];
	char version[64];
	uint64_t uptime_ms;
	uint64_t clock_ms;       /* the forwarder's wall clock in its last answer */
	int64_t clock_offset_ms; /* the forwarder's clock minus ours, at mid round trip */
	struct fwd_ping_db *dbs; /* with want_dbs: the forwarder's databases (malloc'd) */
	uint32_t ndbs;
};

/* Checks the forwarder at endpoint: a plain connection first (an endpoint nobody listens
 * at is told at once, without waiting for timeout_ms), then one PING to connect and
 * samples more to time, each allowed timeout_ms; the last one asks for the databases when
 * want_dbs. key may be NULL or empty (nothing sealed). Returns 0 with r filled (r->state
 * says how it went), or -ENOMEM. Release r with fwd_ping_result_free(). */
int fwd_ping_check(const char *endpoint, const struct auth_key *key, int timeout_ms, int samples,
	     bool want_dbs, struct fwd_ping_result *r);

void fwd_ping_result_free(struct fwd_ping_result *r);

/* A word for state, for JSON: "answered", "unreachable", ... */
const char *fwd_ping_state_name(enum fwd_ping_state state);

/* A word for a PONG's role: "primary", "replica", "no-mount", "unknown". */
const char *fwd_ping_role_name(uint32_t role);

#endif
