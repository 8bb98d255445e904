/* Command line and environment of `litefs-fwd forwarder`. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics_http.h"
#include "sqlname.h"
#include "wire.h"

/* The usage text spells the default out. */
_Static_assert(WIRE_DEFAULT_MAX_MESSAGE == 268435456u,
	       "update the --max-message default in the usage");

#define CONFIG_STR(x) CONFIG_STR2(x)
#define CONFIG_STR2(x) #x

const char fwd_config_usage[] =
	"Usage: litefs-fwd forwarder [OPTIONS]\n"
	"\n"
	"Executes the statements that programs on LiteFS replicas forward, while this\n"
	"node is the primary, and answers each with its outcome. On a replica every\n"
	"request is answered with the hostname of the primary (from MOUNT/.primary).\n"
	"Runs in the foreground, logs to stderr, and stops on SIGTERM or SIGINT after\n"
	"answering the requests it is executing.\n"
	"\n"
	"Options (each falls back to the environment variable shown, then to the default):\n"
	"  --listen URL          nanomsg address to serve, tcp://HOST:PORT or ipc://PATH\n"
	"                        (LITEFS_FWD_LISTEN, default " FWD_DEFAULT_LISTEN ")\n"
	"  --mount DIR           the LiteFS mount directory holding the databases\n"
	"                        (LITEFS_FWD_MOUNT, default " FWD_DEFAULT_MOUNT ")\n"
	"  --workers N           requests executed at once, 1 to "
	CONFIG_STR(FWD_MAX_WORKERS) "\n"
	"                        (LITEFS_FWD_WORKERS, default "
	CONFIG_STR(FWD_DEFAULT_WORKERS) ")\n"
	"  --max-message BYTES   largest request or reply, " CONFIG_STR(FWD_MIN_MESSAGE) " to "
	CONFIG_STR(FWD_MAX_MESSAGE) "\n"
	"                        (LITEFS_FWD_MAX_MESSAGE, default 268435456)\n"
	"  --role-ttl MS         how long the role read from MOUNT/.primary is trusted;\n"
	"                        it is read again at once when a statement fails or\n"
	"                        writes nothing, and before a request is refused; 0\n"
	"                        reads it for every request\n"
	"                        (LITEFS_FWD_CACHE_TTL_MS, default "
	CONFIG_STR(FWD_DEFAULT_ROLE_TTL_MS) ")\n"
	"  --events-url URL      LiteFS's event stream, http://HOST:PORT/events; its /info\n"
	"                        tells a primary from a replica that lost its primary\n"
	"                        (neither has MOUNT/.primary); empty: not asked\n"
	"                        (LITEFS_FWD_EVENTS_URL, default " FWD_DEFAULT_EVENTS_URL ")\n"
	"  --request-record on|off\n"
	"                        record each executed request in its database, in the\n"
	"                        same transaction, so that a request asked again after\n"
	"                        a lost answer or a failover is never run twice\n"
	"                        (LITEFS_FWD_REQUEST_RECORD, default on)\n"
	"  --hostname NAME       this node's name, as LiteFS writes it in .primary on the\n"
	"                        replicas (LITEFS_FWD_HOSTNAME, default the host name)\n"
	"  --advertise URL       the endpoint replicas send to, recorded in the tracking\n"
	"                        table while this node is the primary (LITEFS_FWD_ADVERTISE,\n"
	"                        default --listen, its wildcard address replaced by NAME)\n"
	"  --table NAME          the tracking table written in each database while this\n"
	"                        node is the primary: hostname, endpoint and term, so that\n"
	"                        replicas find the primary's forwarder; empty: none\n"
	"                        (LITEFS_FWD_TABLE, default " FWD_DEFAULT_TABLE ")\n"
	"  --max-sessions N      transactions of replicas open at once, 1 to "
	CONFIG_STR(FWD_MAX_SESSIONS) "; beyond,\n"
	"                        a new one is refused as busy, nothing run\n"
	"                        (LITEFS_FWD_MAX_SESSIONS, default "
	CONFIG_STR(FWD_DEFAULT_MAX_SESSIONS) ")\n"
	"  --session-cache KIB   page cache of each open transaction's connection, "
	CONFIG_STR(FWD_MIN_SESSION_CACHE_KIB) " to\n"
	"                        " CONFIG_STR(FWD_MAX_SESSION_CACHE_KIB)
	" (LITEFS_FWD_SESSION_CACHE_KIB, default "
	CONFIG_STR(FWD_DEFAULT_SESSION_CACHE_KIB) ")\n"
	"  --synchronous MODE    PRAGMA synchronous of every connection that executes\n"
	"                        forwarded statements: off, normal, full or extra; what a\n"
	"                        commit waits for before the program gets its answer\n"
	"                        (LITEFS_FWD_SYNCHRONOUS, default full)\n"
	"  --secret-file FILE    the cluster's shared secret (16 to 1024 bytes; a final\n"
	"                        newline is not part of it): every request must carry its\n"
	"                        HMAC, every reply does (LITEFS_FWD_SECRET_FILE; or the\n"
	"                        secret itself in LITEFS_FWD_SECRET, never on the command\n"
	"                        line). Without one, only loopback addresses are served\n"
	"  --metrics-addr HOST:PORT\n"
	"                        serve Prometheus metrics at http://HOST:PORT/metrics\n"
	"                        ([IPV6]:PORT for an IPv6 address, :PORT for every IPv4\n"
	"                        address, port 0 for any free port); the forwarder does\n"
	"                        not start when it cannot be bound. Nothing secret is\n"
	"                        shown there, and nothing is authenticated\n"
	"                        (LITEFS_FWD_METRICS_ADDR, default none: not served)\n"
	"  --insecure            serve a non-loopback address without a secret: anyone who\n"
	"                        reaches the port can run SQL on the primary's databases\n"
	"  --log-level LEVEL     error, warn, info or debug (default info)\n"
	"  -h, --help            show this help\n";

/* Parses a decimal number in [min, max] with nothing around it. Returns 0 or -EINVAL. */
static int config_parse_number(const char *s, unsigned long long min, unsigned long long max,
			       unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Applies one value of an option to c; what names its source for the message in err.
 * Returns 0 or -EINVAL. */
static int config_set_option(struct fwd_config *c, int opt, const char *val, const char *what,
			     char *err, size_t errlen)
{
	unsigned long long v;
	enum fwd_log_level level;

	switch (opt) {
	case 'l':
		if (!*val) {
			snprintf(err, errlen, "%s wants a nanomsg URL, not an empty string", what);
			return -EINVAL;
		}
		c->listen = val;
		return 0;
	case 'm':
		/* room for "/" NAME "-journal" after it in a PATH_MAX buffer */
		if (!*val || strlen(val) > PATH_MAX - NAME_MAX - 16) {
			snprintf(err, errlen, "%s wants a directory, not '%s'", what, val);
			return -EINVAL;
		}
		c->mount = val;
		return 0;
	case 'w':
		if (config_parse_number(val, 1, FWD_MAX_WORKERS, &v)) {
			snprintf(err, errlen, "%s wants 1 to %d, not '%s'", what, FWD_MAX_WORKERS,
				 val);
			return -EINVAL;
		}
		c->workers = (int)v;
		return 0;
	case 'x':
		if (config_parse_number(val, FWD_MIN_MESSAGE, FWD_MAX_MESSAGE, &v)) {
			snprintf(err, errlen, "%s wants %d to %d bytes, not '%s'", what,
				 FWD_MIN_MESSAGE, FWD_MAX_MESSAGE, val);
			return -EINVAL;
		}
		c->max_message = (size_t)v;
		return 0;
	case 't':
		if (config_parse_number(val, 0, FWD_MAX_ROLE_TTL_MS, &v)) {
			snprintf(err, errlen, "%s wants 0 to %d milliseconds, not '%s'", what,
				 FWD_MAX_ROLE_TTL_MS, val);
			return -EINVAL;
		}
		c->role_ttl_ms = (int)v;
		return 0;
	case 'e':
		if (*val && (strncmp(val, "http://", 7) || strlen(val) < 14 ||
			     strcmp(val + strlen(val) - 7, "/events"))) {
			snprintf(err, errlen, "%s wants http://HOST:PORT/events or nothing, not '%s'",
				 what, val);
			return -EINVAL;
		}
		c->events_url = val;
		return 0;
	case 'r':
		if (strcmp(val, "on") && strcmp(val, "off")) {
			snprintf(err, errlen, "%s wants on or off, not '%s'", what, val);
			return -EINVAL;
		}
		c->request_record = !strcmp(val, "on");
		return 0;
	case 'n':
		if (!*val || strlen(val) > 253 || strpbrk(val, " /\t\n")) {
			snprintf(err, errlen, "%s wants a hostname, not '%s'", what, val);
			return -EINVAL;
		}
		c->hostname = val;
		return 0;
	case 'a':
		if (strncmp(val, "tcp://", 6) && strncmp(val, "ipc://", 6)) {
			snprintf(err, errlen, "%s wants tcp://HOST:PORT or ipc://PATH, not '%s'",
				 what, val);
			return -EINVAL;
		}
		c->advertise = val;
		return 0;
	case 'T':
		/* empty: no tracking table */
		if (*val && !sqlname_is_plain(val)) {
			snprintf(err, errlen, "%s wants a plain SQL name, not '%s'", what, val);
			return -EINVAL;
		}
		c->table = val;
		return 0;
	case 'M':
		if (config_parse_number(val, 1, FWD_MAX_SESSIONS, &v)) {
			snprintf(err, errlen, "%s wants 1 to %d, not '%s'", what, FWD_MAX_SESSIONS,
				 val);
			return -EINVAL;
		}
		c->max_sessions = (int)v;
		return 0;
	case 'C':
		if (config_parse_number(val, FWD_MIN_SESSION_CACHE_KIB, FWD_MAX_SESSION_CACHE_KIB,
					&v)) {
			snprintf(err, errlen, "%s wants %d to %d KiB, not '%s'", what,
				 FWD_MIN_SESSION_CACHE_KIB, FWD_MAX_SESSION_CACHE_KIB, val);
			return -EINVAL;
		}
		c->session_cache_kib = (int)v;
		return 0;
	case 'y': {
		static const char *const modes[] = { "off", "normal", "full", "extra" };

		for (int i = 0; i < 4; i++) {
			if (!strcasecmp(val, modes[i])) {
				c->synchronous = i;
				return 0;
			}
		}
		snprintf(err, errlen, "%s wants off, normal, full or extra, not '%s'", what, val);
		return -EINVAL;
	}
	case 'S':
		if (!*val) {
			snprintf(err, errlen, "%s wants a file", what);
			return -EINVAL;
		}
		c->secret_file = val;
		return 0;
	case 'P': {
		char host[FWD_METRICS_HOST_MAX + 1];
		unsigned port;

		if (fwd_metrics_http_split_addr(val, host, &port)) {
			snprintf(err, errlen, "%s wants HOST:PORT, [IPV6]:PORT or :PORT, not '%s'",
				 what, val);
			return -EINVAL;
		}
		c->metrics_addr = val;
		return 0;
	}
	case 'g':
		if (fwd_log_parse_level(val, &level)) {
			snprintf(err, errlen, "%s wants error, warn, info or debug, not '%s'", what,
				 val);
			return -EINVAL;
		}
		c->log_level = level;
		return 0;
	default:
		snprintf(err, errlen, "internal error: option %d", opt);
		return -EINVAL;
	}
}

int fwd_config_parse(struct fwd_config *c, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "mount", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "max-message", required_argument, NULL, 'x' },
		{ "role-ttl", required_argument, NULL, 't' },
		{ "events-url", required_argument, NULL, 'e' },
		{ "request-record", required_argument, NULL, 'r' },
		{ "hostname", required_argument, NULL, 'n' },
		{ "advertise", required_argument, NULL, 'a' },
		{ "table", required_argument, NULL, 'T' },
		{ "max-sessions", required_argument, NULL, 'M' },
		{ "session-cache", required_argument, NULL, 'C' },
		{ "synchronous", required_argument, NULL, 'y' },
		{ "secret-file", required_argument, NULL, 'S' },
		{ "metrics-addr", required_argument, NULL, 'P' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "log-level", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* Environment first, so that the command line overrides it. */
	static const struct {
		int opt;
		const char *name;
	} envs[] = {
		{ 'l', "LITEFS_FWD_LISTEN" },
		{ 'm', "LITEFS_FWD_MOUNT" },
		{ 'w', "LITEFS_FWD_WORKERS" },
		{ 'x', "LITEFS_FWD_MAX_MESSAGE" },
		{ 't', "LITEFS_FWD_CACHE_TTL_MS" },
		{ 'e', "LITEFS_FWD_EVENTS_URL" },
		{ 'r', "LITEFS_FWD_REQUEST_RECORD" },
		{ 'n', "LITEFS_FWD_HOSTNAME" },
		{ 'a', "LITEFS_FWD_ADVERTISE" },
		{ 'T', "LITEFS_FWD_TABLE" },
		{ 'S', "LITEFS_FWD_SECRET_FILE" },
		{ 'M', "LITEFS_FWD_MAX_SESSIONS" },
		{ 'C', "LITEFS_FWD_SESSION_CACHE_KIB" },
		{ 'y', "LITEFS_FWD_SYNCHRONOUS" },
		{ 'P', "LITEFS_FWD_METRICS_ADDR" },
	};
	char what[64];
	int opt, rc;

	memset(c, 0, sizeof(*c));
	c->listen = FWD_DEFAULT_LISTEN;
	c->mount = FWD_DEFAULT_MOUNT;
	c->workers = FWD_DEFAULT_WORKERS;
	c->max_message = WIRE_DEFAULT_MAX_MESSAGE;
	c->role_ttl_ms = FWD_DEFAULT_ROLE_TTL_MS;
	c->events_url = FWD_DEFAULT_EVENTS_URL;
	c->request_record = true;
	c->table = FWD_DEFAULT_TABLE;
	c->max_sessions = FWD_DEFAULT_MAX_SESSIONS;
	c->session_cache_kib = FWD_DEFAULT_SESSION_CACHE_KIB;
	c->synchronous = FWD_DEFAULT_SYNCHRONOUS;
	c->log_level = FWD_LOG_INFO;
	err[0] = '\0';

	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		const char *v = getenv(envs[i].name);

		/* empty means unset, except for the events URL and the table: it turns them off */
		if (!v || (!*v && envs[i].opt != 'e' && envs[i].opt != 'T'))
			continue;
		rc = config_set_option(c, envs[i].opt, v, envs[i].name, err, errlen);
		if (rc)
			return rc;
	}

	optind = 0;  /* glibc: start over; argv[0] is the command name */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			c->help = true;
			return 0;
		case 'I':
			c->insecure = true;
			continue;
		case ':':
			snprintf(err, errlen, "missing value of '%s'", argv[optind - 1]);
			return -EINVAL;
		case '?':
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		default:
			for (size_t i = 0; longopts[i].name; i++)
				if (longopts[i].val == opt)
					snprintf(what, sizeof(what), "--%s", longopts[i].name);
			rc = config_set_option(c, opt, optarg, what, err, errlen);
			if (rc)
				return rc;
			break;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

bool fwd_config_listen_is_local(const char *listen)
{
	const char *host, *end;

	if (!strncmp(listen, "ipc://", 6))
		return true;
	if (strncmp(listen, "tcp://", 6))
		return false;
	host = listen + 6;
	if (!strncmp(host, "[::1]:", 6))
		return true;
	end = strrchr(host, ':');
	if (!end)
		return false;
	if ((size_t)(end - host) == 9 && !strncmp(host, "localhost", 9))
		return true;
	/* 127.0.0.0/8, as a dotted quad of digits */
	if (strncmp(host, "127.", 4))
		return false;
	for (const char *p = host + 4; p < end; p++)
		if (!(*p == '.' || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}
