/* The daemon: options, signals, metrics endpoint, server. SIGTERM and SIGINT are blocked
 * in every thread (the mask is inherited by the workers and the metrics server) and taken
 * by sigwait() in the main thread, which does nothing else: no work ever happens in a
 * signal handler. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth.h"
#include "config.h"
#include "fault.h"
#include "litefs_info.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "server.h"
#include "shmguard.h"
#include "tracking.h"

/* How often the tracking thread looks at the role and the mount. */
#define DAEMON_TRACKING_INTERVAL_MS 500

/* The endpoint replicas reach: listen, with a wildcard host replaced by hostname. Returns
 * 0 or -ENAMETOOLONG. */
static int daemon_advertised(const char *listen, const char *hostname, char *out, size_t size)
{
	static const char *const wild[] = { "tcp://0.0.0.0:", "tcp://*:", "tcp://[::]:" };
	size_t i;

	for (i = 0; i < sizeof(wild) / sizeof(wild[0]); i++)
		if (!strncmp(listen, wild[i], strlen(wild[i]))) {
			if ((size_t)snprintf(out, size, "tcp://%s:%s", hostname,
					     listen + strlen(wild[i])) >= size)
				return -ENAMETOOLONG;
			return 0;
		}
	if ((size_t)snprintf(out, size, "%s", listen) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* Starts the metrics endpoint at addr for the registry of this process, describing this
 * forwarder in it first. Returns 0 with *out set, or a negative errno (logged). */
static int daemon_start_metrics(const struct fwd_config *c, const char *hostname,
				struct fwd_metrics_http **out)
{
	struct timespec now;
	struct fwd_metrics_node node;
	char err[512];
	const char *colon;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	node = (struct fwd_metrics_node){
		.hostname = hostname,
		.listen = c->listen,
		.mount = c->mount,
		.sqlite_version = sqlite3_libversion(),
		.workers = c->workers,
		.max_sessions = c->max_sessions,
		.start_time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
	};
	fwd_metrics_set_node(&fwd_metrics_process, &node);
	rc = fwd_metrics_http_start(c->metrics_addr, &fwd_metrics_process, out, err, sizeof(err));
	if (rc) {
		fwd_log_error("%s", err);
		return rc;
	}
	colon = strrchr(c->metrics_addr, ':');
	fwd_log_info("serving Prometheus metrics at http://%.*s:%u/metrics",
		     colon == c->metrics_addr ? 7 : (int)(colon - c->metrics_addr),
		     colon == c->metrics_addr ? "0.0.0.0" : c->metrics_addr,
		     fwd_metrics_http_port(*out));
	return 0;
}

int fwd_daemon_main(int argc, char **argv)
{
	struct fwd_server_opts opts;
	struct fwd_server *server;
	struct fwd_tracking *tracking = NULL;
	struct fwd_metrics_http *metrics = NULL;
	static struct auth_key key;   /* large: not on the stack */
	bool authenticated;
	struct fwd_config c;
	char hostname[256], advertised[600];
	sigset_t set;
	char err[512], info_url[600] = "";
	int rc, sig;

	if (fwd_config_parse(&c, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "litefs-fwd: forwarder: %s\n%s", err, fwd_config_usage);
		return 2;
	}
	if (c.help) {
		printf("%s", fwd_config_usage);
		return 0;
	}
	fwd_log_set_level(c.log_level);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc) {
		fwd_log_error("cannot block signals: %s", strerror(rc));
		return 1;
	}
	/* A peer that goes away must not kill the process through a write. */
	signal(SIGPIPE, SIG_IGN);

	if (fwd_fault_init()) {
		fwd_log_error("LITEFS_FWD_FAULT: unknown fault '%s'", getenv("LITEFS_FWD_FAULT"));
		return 1;
	}
	/* before any connection maps shared memory, and under the VFS the connections use */
	rc = fwd_shmguard_register();
	if (rc)
		fwd_log_warn("no guard of shared memory: a file system going under a mapped "
			     "<db>-shm will kill the forwarder (%s)", strerror(-rc));
	rc = auth_key_load(&key, getenv("LITEFS_FWD_SECRET"), c.secret_file, err, sizeof(err));
	if (rc) {
		fwd_log_error("%s", err);
		return 2;
	}
	if (!key.len && !fwd_config_listen_is_local(c.listen) && !c.insecure) {
		fwd_log_error("refusing to serve %s without a secret: anyone reaching it could run "
			      "SQL on this node's databases. Give the cluster's secret "
			      "(LITEFS_FWD_SECRET or --secret-file), listen on a loopback address, "
			      "or say --insecure", c.listen);
		return 2;
	}
	if (!key.len && !fwd_config_listen_is_local(c.listen))
		fwd_log_warn("serving %s without a secret (--insecure)", c.listen);
	if (*c.events_url && fwd_litefs_info_url(c.events_url, info_url, sizeof(info_url))) {
		fwd_log_error("cannot make the /info URL of %s", c.events_url);
		return 1;
	}
	opts = (struct fwd_server_opts){
		.listen = c.listen,
		.mount = c.mount,
		.workers = c.workers,
		.role_ttl_ms = c.role_ttl_ms,
		.info_url = info_url,
		.no_request_record = !c.request_record,
		.max_message = c.max_message,
		.key = &key,
		.max_sessions = c.max_sessions,
		.session_cache_kib = c.session_cache_kib,
		.synchronous = c.synchronous + 1,
	};
	authenticated = key.len != 0;
	if (c.hostname)
		snprintf(hostname, sizeof(hostname), "%s", c.hostname);
	else if (gethostname(hostname, sizeof(hostname) - 1))
		snprintf(hostname, sizeof(hostname), "localhost");
	hostname[sizeof(hostname) - 1] = '\0';
	/* before the server, so that an address that cannot be served stops the start */
	if (c.metrics_addr && daemon_start_metrics(&c, hostname, &metrics)) {
		auth_key_clear(&key);
		return 1;
	}
	rc = fwd_server_start(&opts, &server);
	auth_key_clear(&key); /* the server keeps its copy */
	if (rc) {
		fwd_log_error("cannot serve %s: %s", c.listen, strerror(-rc));
		fwd_metrics_http_stop(metrics);
		return 1;
	}
	fwd_log_info("serving %s for the databases in %s, %d workers, messages up to %zu bytes, "
		     "%s", c.listen, c.mount, c.workers, c.max_message,
		     authenticated ? "requests authenticated" : "no authentication");
	if (*c.table) {
		struct fwd_tracking_opts to = {
			.mount = c.mount,
			.table = c.table,
			.hostname = hostname,
			.endpoint = advertised,
			.info_url = info_url,
			.interval_ms = DAEMON_TRACKING_INTERVAL_MS,
		};

		if (c.advertise)
			snprintf(advertised, sizeof(advertised), "%s", c.advertise);
		else if (daemon_advertised(c.listen, hostname, advertised, sizeof(advertised)))
			advertised[0] = '\0';
		rc = advertised[0] ? fwd_tracking_start(&to, &tracking) : -ENAMETOOLONG;
		if (rc)
			fwd_log_warn("no tracking table: %s", strerror(-rc));
		else
			fwd_log_info("while primary, recording %s at %s in table %s", hostname,
				     advertised, c.table);
	}

	do
		rc = sigwait(&set, &sig);
	while (rc == EINTR);
	if (rc)
		fwd_log_error("sigwait: %s; stopping", strerror(rc));
	else
		fwd_log_info("%s: answering the requests in flight, then stopping",
			     sig == SIGTERM ? "SIGTERM" : "SIGINT");
	fwd_tracking_stop(tracking);
	fwd_server_stop(server);
	fwd_metrics_http_stop(metrics);
	fwd_log_info("stopped");
	return 0;
}
