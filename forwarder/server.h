/* The forwarder's socket and its workers: a raw nanomsg REP socket served by a pool of
 * threads, each receiving a request, answering it and sending the reply back along the
 * request's backtrace, so that many clients are served at once. */
#ifndef FWD_SERVER_H
#define FWD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct fwd_server_opts {
	const char *listen;     /* nanomsg URL to bind, e.g. tcp://0.0.0.0:20208 */
	const char *mount;      /* the LiteFS mount directory */
	int workers;            /* threads, at least 1 */
	size_t max_message;     /* largest request or reply, at most INT_MAX */
	int role_ttl_ms;        /* how long the role read from the mount is trusted; 0: never */
	const char *info_url;   /* LiteFS's GET /info, NULL or "" for none (see role.h) */
	bool no_request_record; /* no durable record of executed requests (see exec.c) */
	/* The cluster's secret (authn.h): requests must be sealed with it, replies are. NULL
	 * or an empty key: no authentication. Copied. */
	const struct auth_key *key;
	int max_sessions;       /* transactions open at once; 0: FWD_SESSIONS_MAX */
	int session_cache_kib;  /* page cache of each transaction's connection; 0: SQLite's */
	/* PRAGMA synchronous of every connection, plus one: 1 OFF, 2 NORMAL, 3 FULL, 4 EXTRA;
	 * 0 leaves SQLite's default. */
	int synchronous;
	/* How long the socket stays open after the last reply was sent, when stopping, so
	 * that the reply leaves this process (nanomsg drops what is still queued at close).
	 * 0 picks FWD_SERVER_DEFAULT_LINGER_MS. */
	int linger_ms;
};

#define FWD_SERVER_DEFAULT_LINGER_MS 1000

struct fwd_server;

/* Opens the socket, binds it and starts the workers. Returns 0 with *out set, or a
 * negative errno (nothing left behind): e.g. -EADDRINUSE, -EINVAL for a bad URL. */
int fwd_server_start(const struct fwd_server_opts *o, struct fwd_server **out);

/* Requests refused by authentication so far, for every reason together (0 without a
 * secret). */
uint64_t fwd_server_auth_refused(struct fwd_server *s);

/* Stops s: no request is taken any more, the ones being executed are answered, then the
 * socket closes and everything is freed. Blocks until that is done. Must not be called
 * from a worker; safe to call from any other thread, once. */
void fwd_server_stop(struct fwd_server *s);

#endif
