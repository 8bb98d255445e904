/* The daemon: options, signals, server. SIGTERM and SIGINT are blocked in every thread
 * (the mask is inherited by the workers) and taken by sigwait() in the main thread, which
 * does nothing else: no work ever happens in a signal handler. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fault.h"
#include "litefs_info.h"
#include "log.h"
#include "server.h"

int fwd_daemon_main(int argc, char **argv)
{
	struct fwd_server_opts opts;
	struct fwd_server *server;
	struct fwd_config c;
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
	};
	rc = fwd_server_start(&opts, &server);
	if (rc) {
		fwd_log_error("cannot serve %s: %s", c.listen, strerror(-rc));
		return 1;
	}
	fwd_log_info("serving %s for the databases in %s, %d workers, messages up to %zu bytes",
		     c.listen, c.mount, c.workers, c.max_message);

	do
		rc = sigwait(&set, &sig);
	while (rc == EINTR);
	if (rc)
		fwd_log_error("sigwait: %s; stopping", strerror(rc));
	else
		fwd_log_info("%s: answering the requests in flight, then stopping",
			     sig == SIGTERM ? "SIGTERM" : "SIGINT");
	fwd_server_stop(server);
	fwd_log_info("stopped");
	return 0;
}
