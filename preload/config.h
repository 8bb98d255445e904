/* The interposer's settings, read once from the environment (see the README's
 * configuration reference). */
#ifndef CONFIG_H
#define CONFIG_H

#include <limits.h>
#include <stdbool.h>

#include "auth.h"
#include "sqlname.h"

struct fwd_config {
	char mount[PATH_MAX];       /* LITEFS_FWD_MOUNT, default /litefs, resolved */
	bool litefs;                /* the mount is a directory: LiteFS is present */
	char primary_file[PATH_MAX + 16]; /* LITEFS_FWD_PRIMARY_FILE, default <mount>/.primary */
	char events_url[512];       /* LITEFS_FWD_EVENTS_URL, default
	                             * http://localhost:20202/events; "" when off */
	char table[SQLNAME_MAX + 1]; /* LITEFS_FWD_TABLE, default _litefs_fwd_primary; "" when
	                             * the tracking table is not read */
	int poll_ms;                /* LITEFS_FWD_POLL_MS, default 30000; 0: no polling */
	int cache_ttl_ms;           /* LITEFS_FWD_CACHE_TTL_MS, default 5000 */
	int timeout_ms;             /* LITEFS_FWD_TIMEOUT_MS, default 15000 */
	int ryw_timeout_ms;         /* LITEFS_FWD_RYW_TIMEOUT_MS, default 5000 */
	int primary_wait_ms;        /* LITEFS_FWD_PRIMARY_WAIT_MS, default 5000: how long a
	                             * write waits for a primary when none is known */
	int txn_timeout_ms;         /* LITEFS_FWD_TXN_TIMEOUT_MS, default 5000: a transaction
	                             * idle for longer is rolled back on the primary */
	char id_file[PATH_MAX];     /* LITEFS_FWD_ID_FILE, default /dev/shm/litefs-fwd-ids.<euid>:
	                             * the request id sequence the processes of this host
	                             * share; "" when each process has its own */
	char endpoint[256];         /* LITEFS_FWD_ENDPOINT, default tcp://{primary}:20208 */
	char *endpoints;            /* LITEFS_FWD_ENDPOINTS "host=url,host=url" or NULL */
	unsigned max_message;       /* LITEFS_FWD_MAX_MESSAGE */
	struct auth_key key;        /* LITEFS_FWD_SECRET or LITEFS_FWD_SECRET_FILE; len 0:
	                             * messages are not authenticated */
	bool key_unusable;          /* a secret was given but cannot be used: nothing is
	                             * sent (key_error says why) */
	char key_error[160];
	/* LITEFS_FWD_TRACE, the target of the telemetry events, is read by trace_configure()
	 * (trace.h) when the rest is */
};

extern struct fwd_config fwd_config;

/* Reads the environment into fwd_config (once; thread-safe). */
void config_load(void);

/* The forwarder endpoint of the primary called host in LITEFS_FWD_ENDPOINTS. Returns 0,
 * -ENOENT when host has no entry there, or -ENAMETOOLONG. */
int config_endpoint_mapped(const char *host, char *buf, size_t len);

/* LITEFS_FWD_ENDPOINT with {primary} replaced by host. Returns 0, or -ENAMETOOLONG. */
int config_endpoint_template(const char *host, char *buf, size_t len);

#endif
