/* This node as the interposer sees it, for `litefs-fwd status` and `doctor`: the same
 * environment read by the same documented rules (preload/config.c, role.c, tracking.c;
 * the interposer's objects are not linked here, since they define the SQLite API), and
 * what each source of the role says now:
 *   - the mount (LITEFS_FWD_MOUNT, default /litefs): LiteFS counts as present when it is
 *     a directory;
 *   - .primary (LITEFS_FWD_PRIMARY_FILE): names the primary on a replica;
 *   - LiteFS's event stream (LITEFS_FWD_EVENTS_URL): its first event, init, says whether
 *     this node is the primary, and tells a primary from a replica that lost its primary
 *     (neither has .primary);
 *   - the tracking table (LITEFS_FWD_TABLE) of each database: the endpoint the primary's
 *     forwarder recorded.
 * The primary's endpoint is its LITEFS_FWD_ENDPOINTS entry, else the tracking table's
 * entry for it with the highest term, else LITEFS_FWD_ENDPOINT's template. */
#ifndef FWD_NODE_H
#define FWD_NODE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "events.h"
#include "litefs_files.h"
#include "sqlname.h"

/* The interposer's settings that tell where writes go. */
struct fwd_node_env {
	char mount[PATH_MAX];            /* resolved when it exists */
	bool litefs;                     /* the mount is a directory */
	char primary_file[PATH_MAX + 16];
	char events_url[512];            /* "" when set empty: not followed */
	char table[SQLNAME_MAX + 1];     /* "" when set empty: not read */
	bool table_invalid;              /* LITEFS_FWD_TABLE is not a plain name (the
					  * interposer uses the default instead) */
	char endpoint_template[256];
	const char *endpoints;           /* LITEFS_FWD_ENDPOINTS, NULL when unset or empty */
	char hostname[256];              /* LITEFS_FWD_HOSTNAME, else the host name */
	const char *secret_file;         /* LITEFS_FWD_SECRET_FILE, NULL when unset or empty */
	bool secret_env;                 /* LITEFS_FWD_SECRET is set (and not empty) */
	struct auth_key key;             /* len 0: none, or unusable (key_rc) */
	int key_rc;                      /* auth_key_load()'s */
	char key_error[200];
};

enum fwd_node_role {
	FWD_NODE_ABSENT,     /* no LiteFS: every write runs locally */
	FWD_NODE_PRIMARY,    /* writes run here */
	FWD_NODE_REPLICA,    /* writes are forwarded to the primary named */
	FWD_NODE_NO_PRIMARY, /* a replica that knows no primary: writes wait, then fail */
	FWD_NODE_UNKNOWN,    /* the sources cannot say (LiteFS's API does not answer, or
			      * .primary cannot be read) */
};

enum fwd_node_source {
	FWD_NODE_EP_NONE,
	FWD_NODE_EP_MAP,      /* LITEFS_FWD_ENDPOINTS */
	FWD_NODE_EP_TRACKING, /* the tracking table */
	FWD_NODE_EP_TEMPLATE, /* LITEFS_FWD_ENDPOINT */
};

struct fwd_node_events {
	int rc;                  /* 0: the init event came; -ENOENT: not asked (no LiteFS);
				  * else why not */
	char error[256];
	bool is_primary;
	bool has_hostname;
	char hostname[EVENTS_HOSTNAME_MAX + 1];
	double ms;               /* how long the first event took */
};

struct fwd_node_tracked {
	char db[NAME_MAX + 1];
	int rc;                  /* 0, -ENOENT (no table or row yet), -EIO */
	char hostname[256];
	char endpoint[512];
	int64_t term;
};

/* Most databases looked at. */
#define FWD_NODE_MAX_DBS 1024

struct fwd_node {
	struct fwd_node_env env;
	enum fwd_node_role role;
	char role_reason[PATH_MAX + 1024]; /* how the role was told */
	char primary[256];           /* REPLICA: the primary; PRIMARY: this node */
	char endpoint[512];          /* the primary's forwarder; "" when none */
	enum fwd_node_source endpoint_source;
	int64_t endpoint_term;       /* with FWD_NODE_EP_TRACKING */
	/* .primary */
	int primary_file_rc;         /* 0 read, -ENOENT absent, else why unreadable */
	char primary_file_host[256];
	/* the event stream, when env.events_url is set */
	struct fwd_node_events events;
	/* the databases, with their -pos and tracking table entry */
	struct litefs_db *dbs;
	struct fwd_node_tracked *tracked; /* one per database when env.table is set */
	size_t ndbs;
	bool dbs_truncated;
	int dbs_rc;
	/* .lag */
	int lag_rc;
	int32_t lag_ms;
};

/* Reads the environment into e. Never fails: what is wrong is recorded (key_rc,
 * table_invalid). */
void fwd_node_env_load(struct fwd_node_env *e);

/* Reads every source of n->env (loaded first), waiting at most timeout_ms for the event
 * stream, and decides the role and the endpoint. Returns 0, or -ENOMEM. Release with
 * fwd_node_free(). */
int fwd_node_inspect(struct fwd_node *n, int timeout_ms);
void fwd_node_free(struct fwd_node *n);

/* The endpoint of host's forwarder by the rules above, into buf. Returns 0 with *source
 * (and *term for the tracking table), or -ENOENT when none can be had. */
int fwd_node_endpoint_for(const struct fwd_node *n, const char *host, char *buf, size_t len,
			  enum fwd_node_source *source, int64_t *term);

/* How long a check of status and doctor may wait for an answer by default, and at most. */
#define FWD_NODE_DEFAULT_TIMEOUT_MS 2000
#define FWD_NODE_MAX_TIMEOUT_MS 600000

/* Reads a --timeout argument (milliseconds, 1 to FWD_NODE_MAX_TIMEOUT_MS) into *ms.
 * Returns 0, or -EINVAL (*ms unchanged). */
int fwd_node_parse_timeout(const char *arg, int *ms);

/* Words for JSON and people. */
const char *fwd_node_role_name(enum fwd_node_role role);
const char *fwd_node_source_name(enum fwd_node_source source);

#endif
