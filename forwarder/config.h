/* Options of `litefs-fwd forwarder`: command line first, then the environment, then the
 * built-in defaults. */
#ifndef FWD_CONFIG_H
#define FWD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

#define FWD_DEFAULT_LISTEN "tcp://0.0.0.0:20208"
#define FWD_DEFAULT_MOUNT "/litefs"
#define FWD_DEFAULT_WORKERS 64
#define FWD_MAX_WORKERS 256
#define FWD_DEFAULT_ROLE_TTL_MS 5000
#define FWD_DEFAULT_EVENTS_URL "http://localhost:20202/events"
#define FWD_DEFAULT_TABLE "_litefs_fwd_primary"
#define FWD_DEFAULT_MAX_SESSIONS 1024
#define FWD_MAX_SESSIONS 65536
#define FWD_DEFAULT_SESSION_CACHE_KIB 2048
#define FWD_MIN_SESSION_CACHE_KIB 64
#define FWD_MAX_SESSION_CACHE_KIB 1048576
#define FWD_MAX_ROLE_TTL_MS 3600000
/* PRAGMA synchronous of the forwarder's connections: SQLite's own default, FULL. */
#define FWD_DEFAULT_SYNCHRONOUS 2
/* Bounds of --max-message: NN_RCVMAXSIZE is an int, and a cap below a few KiB would refuse
 * ordinary statements. */
#define FWD_MIN_MESSAGE 4096
#define FWD_MAX_MESSAGE 2147483647

struct fwd_config {
	const char *listen;   /* nanomsg URL; points into argv, the environment or a literal */
	const char *mount;    /* the LiteFS mount directory */
	int workers;          /* 1..FWD_MAX_WORKERS */
	size_t max_message;   /* FWD_MIN_MESSAGE..FWD_MAX_MESSAGE bytes */
	int role_ttl_ms;      /* 0..FWD_MAX_ROLE_TTL_MS */
	const char *events_url; /* LiteFS's event stream; "" for none */
	bool request_record;  /* keep the durable record of executed requests */
	const char *hostname; /* this node's name in .primary; NULL: gethostname() */
	const char *advertise; /* the endpoint replicas reach; NULL: derived from listen */
	const char *table;    /* the tracking table; "" for none */
	const char *secret_file; /* the cluster's secret, in a file; NULL: none (the secret
	                          * itself may come from LITEFS_FWD_SECRET) */
	bool insecure;        /* listen beyond loopback without a secret */
	int max_sessions;     /* 1..FWD_MAX_SESSIONS */
	int session_cache_kib; /* FWD_MIN_SESSION_CACHE_KIB..FWD_MAX_SESSION_CACHE_KIB */
	int synchronous;      /* PRAGMA synchronous: 0 off, 1 normal, 2 full, 3 extra */
	const char *metrics_addr; /* HOST:PORT of the Prometheus endpoint; NULL: none */
	enum fwd_log_level log_level;
	bool help;            /* --help was given: print fwd_config_usage and exit 0 */
};

/* Whether the nanomsg URL listen reaches only this host: ipc://, or tcp:// on a loopback
 * address (127.0.0.0/8, [::1], localhost). */
bool fwd_config_listen_is_local(const char *listen);

/* The text of `litefs-fwd forwarder --help`. */
extern const char fwd_config_usage[];

/* Fills c from argv[0..argc) (argv[0] is the command name, "forwarder"), falling back to
 * LITEFS_FWD_LISTEN, LITEFS_FWD_MOUNT, LITEFS_FWD_WORKERS, LITEFS_FWD_MAX_MESSAGE,
 * LITEFS_FWD_CACHE_TTL_MS, LITEFS_FWD_EVENTS_URL, LITEFS_FWD_REQUEST_RECORD,
 * LITEFS_FWD_HOSTNAME, LITEFS_FWD_ADVERTISE, LITEFS_FWD_TABLE, LITEFS_FWD_SECRET_FILE,
 * LITEFS_FWD_MAX_SESSIONS, LITEFS_FWD_SESSION_CACHE_KIB, LITEFS_FWD_SYNCHRONOUS,
 * LITEFS_FWD_METRICS_ADDR and then to the defaults. Returns 0, or -EINVAL with a one-line
 * reason in err (which names the option or variable at fault). Uses getopt_long(), so it
 * is not thread-safe. */
int fwd_config_parse(struct fwd_config *c, int argc, char **argv, char *err, size_t errlen);

#endif
