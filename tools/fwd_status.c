/* `litefs-fwd status`: this node's role, its primary, the forwarder writes go to and
 * whether it answers, the databases with their TXID and lag, and the state of each source
 * of the role; for people, or as one JSON object for monitoring. The exit status says
 * whether writes can be forwarded now. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fwd_cmds.h"
#include "fwd_node.h"
#include "fwd_ping.h"
#include "version.h"

/* Round trips timed, after the first one that connects. */
#define STATUS_SAMPLES 3

static const char status_usage[] =
	"Usage: litefs-fwd status [--json] [--timeout MS]\n"
	"\n"
	"Shows this node as the interposer sees it, from the same environment: its role\n"
	"(primary, replica, replica with no primary, or LiteFS absent), the primary's\n"
	"hostname, the forwarder endpoint writes go to and whether it answers a health\n"
	"check (its round trip, role, version and uptime), each database of the mount\n"
	"with its TXID (<db>-pos) and how far it is behind the primary (.lag, and the\n"
	"primary's TXID), and what each source of the role says: .primary, LiteFS's\n"
	"event stream, the tracking table. On the primary, the forwarder checked is this\n"
	"node's own, the one the replicas send to.\n"
	"\n"
	"Options:\n"
	"  --json         print one JSON object instead\n"
	"  --timeout MS   how long each check may wait for an answer (default 2000)\n"
	"  -h, --help     show this help\n"
	"\n"
	"Environment: LITEFS_FWD_MOUNT, LITEFS_FWD_PRIMARY_FILE, LITEFS_FWD_EVENTS_URL,\n"
	"LITEFS_FWD_TABLE, LITEFS_FWD_ENDPOINTS, LITEFS_FWD_ENDPOINT,\n"
	"LITEFS_FWD_HOSTNAME, LITEFS_FWD_SECRET_FILE, LITEFS_FWD_SECRET, read as the\n"
	"interposer reads them.\n"
	"\n"
	"Exit status: 0 when writes can be forwarded now, or run locally (on the primary,\n"
	"or where LiteFS is absent); 1 when they cannot (a replica with no known primary,\n"
	"a role that cannot be told, the primary's forwarder not answering or refusing\n"
	"this node's authentication); 2 for bad arguments.\n";

/* What writes made on this node would meet now. */
struct status_verdict {
	bool ok;
	const char *writes;   /* "local", "forwarded", "blocked", "unknown" */
	char reason[PATH_MAX + 2048];
};

struct status_opts {
	bool json;
	int timeout_ms;
};

/* Parses argv into o. Returns -1 to go on, else the exit status (0 after --help). */
static int status_parse(int argc, char **argv, struct status_opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->json = false;
	o->timeout_ms = FWD_NODE_DEFAULT_TIMEOUT_MS;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 't':
			if (fwd_node_parse_timeout(optarg, &o->timeout_ms)) {
				fprintf(stderr, "litefs-fwd: status: --timeout wants milliseconds, "
					"1 to 600000, not '%s'\n%s", optarg, status_usage);
				return 2;
			}
			break;
		case 'h':
			printf("%s", status_usage);
			return 0;
		default:
			fprintf(stderr, "litefs-fwd: status: unknown option '%s'\n%s",
				argv[optind - 1], status_usage);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "litefs-fwd: status: unexpected argument '%s'\n%s", argv[optind],
			status_usage);
		return 2;
	}
	return -1;
}

/* The verdict on the forwarder at n->endpoint from its health check p. Sets v when it
 * says writes cannot be forwarded there; whose names it for the message. */
static void status_judge_forwarder(const struct fwd_node *n, const struct fwd_ping_result *p,
				   const char *whose, struct status_verdict *v)
{
	if (p->state == FWD_PING_OLD)
		return; /* it answers: the interposer's requests would reach it */
	if (p->state != FWD_PING_ANSWERED) {
		v->ok = false;
		snprintf(v->reason, sizeof(v->reason), "%s forwarder at %s: %s", whose,
			 n->endpoint, p->error);
		return;
	}
	if (p->role == WIRE_ROLE_PRIMARY)
		return;
	v->ok = false;
	if (p->role == WIRE_ROLE_REPLICA)
		snprintf(v->reason, sizeof(v->reason), "%s forwarder at %s says its node is not "
			 "the primary (it names %s)", whose, n->endpoint,
			 p->primary[0] ? p->primary : "no primary");
	else
		snprintf(v->reason, sizeof(v->reason), "%s forwarder at %s cannot tell its role "
			 "(%s)", whose, n->endpoint, fwd_ping_role_name(p->role));
}

static void status_judge(const struct fwd_node *n, const struct fwd_ping_result *p,
			 bool pinged, struct status_verdict *v)
{
	v->ok = true;
	v->reason[0] = '\0';
	switch (n->role) {
	case FWD_NODE_ABSENT:
		v->writes = "local";
		snprintf(v->reason, sizeof(v->reason), "LiteFS is absent (%s is not a directory): "
			 "every write runs locally", n->env.mount);
		return;
	case FWD_NODE_UNKNOWN:
		v->ok = false;
		v->writes = "unknown";
		snprintf(v->reason, sizeof(v->reason), "cannot tell whether this node is the "
			 "primary: %s", n->role_reason);
		return;
	case FWD_NODE_NO_PRIMARY:
		v->ok = false;
		v->writes = "blocked";
		snprintf(v->reason, sizeof(v->reason), "no primary is known: writes wait up to "
			 "LITEFS_FWD_PRIMARY_WAIT_MS for one, then fail with SQLITE_BUSY");
		return;
	case FWD_NODE_PRIMARY:
		v->writes = "local";
		snprintf(v->reason, sizeof(v->reason), "this node is the primary: writes run "
			 "locally");
		break;
	case FWD_NODE_REPLICA:
		v->writes = "forwarded";
		snprintf(v->reason, sizeof(v->reason), "writes are forwarded to %s at %s",
			 n->primary, n->endpoint);
		break;
	}
	if (n->env.key_rc) {
		v->ok = false;
		snprintf(v->reason, sizeof(v->reason), "the secret cannot be used (%s): the "
			 "interposer sends nothing", n->env.key_error);
	} else if (!n->endpoint[0]) {
		v->ok = false;
		snprintf(v->reason, sizeof(v->reason), "no forwarder endpoint for %s (the template "
			 "LITEFS_FWD_ENDPOINT does not fit it)", n->primary);
	} else if (pinged) {
		status_judge_forwarder(n, p, n->role == FWD_NODE_PRIMARY ?
				       "replicas cannot forward writes here: this node's" :
				       "writes cannot be forwarded: the primary's", v);
	}
	if (!v->ok && n->role == FWD_NODE_REPLICA)
		v->writes = "blocked";
}

/* --- JSON -------------------------------------------------------------------------------- */

static json_t *status_str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* The TXID the primary's forwarder reported for db, or -1 when unknown. */
static int64_t status_primary_txid(const struct fwd_ping_result *p, const char *db)
{
	for (uint32_t i = 0; p && i < p->ndbs; i++)
		if (!strcmp(p->dbs[i].name, db))
			return p->dbs[i].txid ? (int64_t)p->dbs[i].txid : -1;
	return -1;
}

static json_t *status_json_forwarder(const struct fwd_node *n, const struct fwd_ping_result *p)
{
	json_t *f = json_object();

	json_object_set_new(f, "endpoint", json_string(n->endpoint));
	json_object_set_new(f, "state", json_string(fwd_ping_state_name(p->state)));
	json_object_set_new(f, "answers", json_boolean(p->state == FWD_PING_ANSWERED ||
						       p->state == FWD_PING_OLD));
	json_object_set_new(f, "error", status_str_or_null(p->error));
	if (p->state != FWD_PING_ANSWERED)
		return f;
	json_object_set_new(f, "authenticated", json_boolean(p->sealed));
	json_object_set_new(f, "rtt_ms", json_real(p->rtt_ms_median));
	json_object_set_new(f, "rtt_ms_min", json_real(p->rtt_ms_min));
	json_object_set_new(f, "rtt_ms_max", json_real(p->rtt_ms_max));
	json_object_set_new(f, "samples", json_integer(p->samples));
	json_object_set_new(f, "role", json_string(fwd_ping_role_name(p->role)));
	json_object_set_new(f, "primary", status_str_or_null(p->primary));
	json_object_set_new(f, "version", json_string(p->version));
	json_object_set_new(f, "uptime_s", json_real((double)p->uptime_ms / 1000.0));
	json_object_set_new(f, "clock_offset_ms", json_integer(p->clock_offset_ms));
	return f;
}

static json_t *status_json_sources(const struct fwd_node *n)
{
	json_t *s = json_object(), *pf = json_object(), *ev = json_object(), *tt = json_object();
	json_t *rows = json_array();

	json_object_set_new(pf, "path", json_string(n->env.primary_file));
	json_object_set_new(pf, "state", json_string(n->primary_file_rc == 0 ? "present" :
				n->primary_file_rc == -ENOENT ? "absent" : "error"));
	json_object_set_new(pf, "hostname", n->primary_file_rc ? json_null() :
			    json_string(n->primary_file_host));
	json_object_set_new(pf, "error", n->primary_file_rc && n->primary_file_rc != -ENOENT ?
			    json_string(strerror(-n->primary_file_rc)) : json_null());
	json_object_set_new(s, "primary_file", pf);

	json_object_set_new(ev, "url", status_str_or_null(n->env.events_url));
	if (!n->env.events_url[0]) {
		json_object_set_new(ev, "state", json_string("off"));
	} else if (!n->env.litefs) {
		json_object_set_new(ev, "state", json_string("not-asked"));
	} else if (n->events.rc) {
		json_object_set_new(ev, "state", json_string("unreachable"));
		json_object_set_new(ev, "error", json_string(n->events.error));
	} else {
		json_object_set_new(ev, "state", json_string("answers"));
		json_object_set_new(ev, "ms", json_real(n->events.ms));
		json_object_set_new(ev, "is_primary", json_boolean(n->events.is_primary));
		json_object_set_new(ev, "hostname", n->events.has_hostname ?
				    json_string(n->events.hostname) : json_null());
	}
	json_object_set_new(s, "event_stream", ev);

	json_object_set_new(tt, "table", status_str_or_null(n->env.table));
	json_object_set_new(tt, "state", json_string(!n->env.table[0] ? "off" :
				n->env.table_invalid ? "invalid-name" : "read"));
	for (size_t i = 0; n->tracked && i < n->ndbs; i++) {
		const struct fwd_node_tracked *t = &n->tracked[i];
		json_t *r = json_object();

		json_object_set_new(r, "db", json_string(t->db));
		json_object_set_new(r, "state", json_string(t->rc == 0 ? "present" :
					t->rc == -ENOENT ? "absent" : "error"));
		if (!t->rc) {
			json_object_set_new(r, "hostname", json_string(t->hostname));
			json_object_set_new(r, "endpoint", json_string(t->endpoint));
			json_object_set_new(r, "term", json_integer(t->term));
		}
		json_array_append_new(rows, r);
	}
	json_object_set_new(tt, "entries", rows);
	json_object_set_new(s, "tracking_table", tt);
	return s;
}

static json_t *status_json_databases(const struct fwd_node *n, const struct fwd_ping_result *p)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n->ndbs; i++) {
		const struct litefs_db *d = &n->dbs[i];
		int64_t ptx = n->role == FWD_NODE_REPLICA ? status_primary_txid(p, d->name) : -1;
		json_t *o = json_object();
		char sum[17];

		json_object_set_new(o, "name", json_string(d->name));
		if (d->pos_rc) {
			json_object_set_new(o, "txid", json_null());
			json_object_set_new(o, "error", json_string(strerror(-d->pos_rc)));
		} else {
			snprintf(sum, sizeof(sum), "%016" PRIx64, d->checksum);
			json_object_set_new(o, "txid", json_integer((json_int_t)d->txid));
			json_object_set_new(o, "checksum", json_string(sum));
		}
		json_object_set_new(o, "lag_ms", n->lag_rc ? json_null() : json_integer(n->lag_ms));
		json_object_set_new(o, "primary_txid", ptx < 0 ? json_null() : json_integer(ptx));
		json_object_set_new(o, "behind", ptx < 0 || d->pos_rc ? json_null() :
				    json_integer(ptx > (int64_t)d->txid ?
						 ptx - (int64_t)d->txid : 0));
		json_array_append_new(a, o);
	}
	return a;
}

static int status_print_json(const struct fwd_node *n, const struct fwd_ping_result *p,
			     bool pinged, const struct status_verdict *v)
{
	json_t *o = json_object(), *ep = json_object(), *sec = json_object();
	char *text;

	json_object_set_new(o, "version", json_string(LITEFS_FWD_VERSION));
	json_object_set_new(o, "ok", json_boolean(v->ok));
	json_object_set_new(o, "writes", json_string(v->writes));
	json_object_set_new(o, "reason", json_string(v->reason));
	json_object_set_new(o, "role", json_string(fwd_node_role_name(n->role)));
	json_object_set_new(o, "role_reason", json_string(n->role_reason));
	json_object_set_new(o, "hostname", json_string(n->env.hostname));
	json_object_set_new(o, "primary", n->role == FWD_NODE_REPLICA ||
			    n->role == FWD_NODE_PRIMARY ? json_string(n->primary) : json_null());
	json_object_set_new(o, "mount", json_string(n->env.mount));
	json_object_set_new(o, "litefs", json_boolean(n->env.litefs));
	json_object_set_new(o, "lag_ms", n->lag_rc ? json_null() : json_integer(n->lag_ms));
	if (n->endpoint[0]) {
		json_object_set_new(ep, "url", json_string(n->endpoint));
		json_object_set_new(ep, "source",
				    json_string(fwd_node_source_name(n->endpoint_source)));
		if (n->endpoint_source == FWD_NODE_EP_TRACKING)
			json_object_set_new(ep, "term", json_integer(n->endpoint_term));
		json_object_set_new(o, "endpoint", ep);
	} else {
		json_decref(ep);
		json_object_set_new(o, "endpoint", json_null());
	}
	json_object_set_new(o, "forwarder", pinged ? status_json_forwarder(n, p) : json_null());
	json_object_set_new(o, "databases", status_json_databases(n, pinged ? p : NULL));
	json_object_set_new(o, "databases_truncated", json_boolean(n->dbs_truncated));
	json_object_set_new(o, "sources", status_json_sources(n));
	json_object_set_new(sec, "state", json_string(n->env.key_rc ? "unusable" :
				n->env.key.len ? "loaded" : "none"));
	json_object_set_new(sec, "source", json_string(n->env.secret_env ? "LITEFS_FWD_SECRET" :
				n->env.secret_file ? "LITEFS_FWD_SECRET_FILE" : "none"));
	json_object_set_new(sec, "error", n->env.key_rc ? json_string(n->env.key_error) :
			    json_null());
	json_object_set_new(o, "secret", sec);
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

/* --- people ------------------------------------------------------------------------------ */

static void status_print_uptime(uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		printf("%.1f s", (double)ms / 1000.0);
	else if (s < 3600)
		printf("%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
	else
		printf("%" PRIu64 " h %" PRIu64 " min", s / 3600, s / 60 % 60);
}

static void status_print_forwarder(const struct fwd_node *n, const struct fwd_ping_result *p)
{
	printf("forwarder:    %s (%s)\n", n->endpoint, fwd_node_source_name(n->endpoint_source));
	if (p->state == FWD_PING_OLD) {
		printf("              answers; %s\n", p->error);
		return;
	}
	if (p->state != FWD_PING_ANSWERED) {
		printf("              does not answer: %s\n", p->error);
		return;
	}
	printf("              answers in %.2f ms (%.2f to %.2f ms over %d round trips), %s\n",
	       p->rtt_ms_median, p->rtt_ms_min, p->rtt_ms_max, p->samples,
	       p->sealed ? "authenticated" : "not authenticated (no secret)");
	printf("              its node: %s%s%s; litefs-fwd %s, up ", fwd_ping_role_name(p->role),
	       p->primary[0] ? " of " : "", p->primary, p->version);
	status_print_uptime(p->uptime_ms);
	printf("; clock %+" PRId64 " ms from ours\n", p->clock_offset_ms);
}

static void status_print_sources(const struct fwd_node *n)
{
	printf("sources:\n  .primary        %s: ", n->env.primary_file);
	if (n->primary_file_rc == 0)
		printf("names %s\n", n->primary_file_host[0] ? n->primary_file_host : "nobody");
	else if (n->primary_file_rc == -ENOENT)
		printf("absent\n");
	else
		printf("unreadable: %s\n", strerror(-n->primary_file_rc));
	if (!n->env.events_url[0])
		printf("  event stream    off (LITEFS_FWD_EVENTS_URL is empty)\n");
	else if (n->events.rc)
		printf("  event stream    %s: does not answer: %s\n", n->env.events_url,
		       n->events.error);
	else
		printf("  event stream    %s: answers in %.1f ms: %s%s%s\n", n->env.events_url,
		       n->events.ms, n->events.is_primary ? "primary" : "replica",
		       n->events.is_primary ? "" : n->events.has_hostname ? " of " :
		       " with no primary", n->events.has_hostname ? n->events.hostname : "");
	if (!n->env.table[0]) {
		printf("  tracking table  off (LITEFS_FWD_TABLE is empty)\n");
		return;
	}
	printf("  tracking table  %s%s:%s\n", n->env.table,
	       n->env.table_invalid ? " (LITEFS_FWD_TABLE is not a plain name: the default)" : "",
	       n->ndbs ? "" : " no database");
	for (size_t i = 0; n->tracked && i < n->ndbs; i++) {
		const struct fwd_node_tracked *t = &n->tracked[i];

		if (!t->rc)
			printf("    %-20s %s at %s (term %" PRId64 ")\n", t->db, t->hostname,
			       t->endpoint, t->term);
		else
			printf("    %-20s %s\n", t->db, t->rc == -ENOENT ? "no entry yet" :
			       "unreadable");
	}
}

static void status_print_text(const struct fwd_node *n, const struct fwd_ping_result *p,
			      bool pinged, const struct status_verdict *v)
{
	printf("litefs-fwd status %s\n", LITEFS_FWD_VERSION);
	printf("node:         %s\n", n->env.hostname);
	printf("mount:        %s%s\n", n->env.mount, n->env.litefs ? "" : " (absent)");
	printf("role:         %s: %s\n", fwd_node_role_name(n->role), n->role_reason);
	if (n->role == FWD_NODE_REPLICA)
		printf("primary:      %s\n", n->primary);
	printf("writes:       %s: %s\n", v->writes, v->reason);
	if (pinged)
		status_print_forwarder(n, p);
	if (n->env.litefs) {
		if (n->lag_rc)
			printf("lag:          unknown (.lag: %s)\n", strerror(-n->lag_rc));
		else if (n->lag_ms == LITEFS_LAG_NEVER)
			printf("lag:          never in sync with the primary yet (.lag)\n");
		else
			printf("lag:          %" PRId32 " ms behind the primary (.lag)\n", n->lag_ms);
		printf("databases:    %zu%s\n", n->ndbs, n->dbs_truncated ? " (more not shown)" : "");
		for (size_t i = 0; i < n->ndbs; i++) {
			const struct litefs_db *d = &n->dbs[i];
			int64_t ptx = n->role == FWD_NODE_REPLICA && pinged ?
				      status_primary_txid(p, d->name) : -1;

			if (d->pos_rc) {
				printf("  %-20s TXID unknown (%s-pos: %s)\n", d->name, d->name,
				       strerror(-d->pos_rc));
				continue;
			}
			printf("  %-20s TXID %" PRIu64, d->name, d->txid);
			if (ptx >= 0)
				printf(", %" PRId64 " behind the primary (TXID %" PRId64 ")",
				       ptx > (int64_t)d->txid ? ptx - (int64_t)d->txid : 0, ptx);
			printf("\n");
		}
		status_print_sources(n);
	}
	printf("secret:       %s\n", n->env.key_rc ? n->env.key_error : n->env.key.len ?
	       (n->env.secret_env ? "from LITEFS_FWD_SECRET" : "from LITEFS_FWD_SECRET_FILE") :
	       "none: requests are not authenticated");
	if (!v->ok)
		printf("NOT OK: %s\n", v->reason);
}

int fwd_status_main(int argc, char **argv)
{
	struct fwd_ping_result ping = { 0 };
	struct status_verdict verdict;
	struct status_opts o;
	struct fwd_node *n;
	bool pinged = false;
	int rc;

	rc = status_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	n = calloc(1, sizeof(*n));
	if (!n) {
		fprintf(stderr, "litefs-fwd: status: out of memory\n");
		return 1;
	}
	fwd_node_env_load(&n->env);
	rc = fwd_node_inspect(n, o.timeout_ms);
	if (rc)
		goto fail;
	if ((n->role == FWD_NODE_REPLICA || n->role == FWD_NODE_PRIMARY) && n->endpoint[0] &&
	    !n->env.key_rc) {
		rc = fwd_ping_check(n->endpoint, &n->env.key, o.timeout_ms, STATUS_SAMPLES,
			      n->role == FWD_NODE_REPLICA, &ping);
		if (rc)
			goto fail;
		pinged = true;
	}
	status_judge(n, &ping, pinged, &verdict);
	rc = o.json ? status_print_json(n, &ping, pinged, &verdict) :
		      (status_print_text(n, &ping, pinged, &verdict), 0);
	if (rc)
		goto fail;
	fflush(stdout);
	fwd_ping_result_free(&ping);
	fwd_node_free(n);
	free(n);
	return verdict.ok ? 0 : 1;

fail:
	fprintf(stderr, "litefs-fwd: status: %s\n", strerror(-rc));
	fwd_ping_result_free(&ping);
	fwd_node_free(n);
	free(n);
	return 1;
}
