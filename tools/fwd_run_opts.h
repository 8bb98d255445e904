/* Command line and environment of `litefs-fwd run`. */
#ifndef FWD_RUN_OPTS_H
#define FWD_RUN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../forwarder/log.h" /* by path: preload/ has a log.h too */

/* How long the forwarder may take to stop after SIGTERM before it gets SIGKILL. */
#define FWD_RUN_DEFAULT_GRACE_MS 5000
#define FWD_RUN_MAX_GRACE_MS 3600000

struct fwd_run_opts {
	const char *preload;      /* --preload, else LITEFS_FWD_PRELOAD; NULL: searched */
	const char *preload_from; /* "--preload" or "LITEFS_FWD_PRELOAD", for messages */
	char **forwarder_args;    /* the --forwarder-arg values in order (into argv); allocated */
	int n_forwarder_args;
	bool no_forwarder;        /* --no-forwarder */
	bool subreaper;           /* --subreaper */
	int grace_ms;             /* --grace-ms, else LITEFS_FWD_RUN_GRACE_MS; 0..MAX */
	enum fwd_log_level log_level; /* --log-level */
	char **cmd;               /* CMD and its arguments, NULL-terminated (into argv) */
	bool help;                /* --help was given: print the usage and exit 0 */
};

/* Fills o from argv[0..argc) (argv[0] is "run") and the environment. Options end at the
 * first argument that is not one, or after "--"; what follows is CMD. Returns 0 (o->help
 * set, or o->cmd non-empty), or -EINVAL / -ENOMEM with a one-line reason in err. Call
 * fwd_run_opts_free() in both cases. Uses getopt_long(): not thread-safe. */
int fwd_run_opts_parse(struct fwd_run_opts *o, int argc, char **argv, char *err,
		       size_t errlen);

/* Releases what fwd_run_opts_parse() allocated; o may be zeroed or parsed. */
void fwd_run_opts_free(struct fwd_run_opts *o);

/* Writes the text of `litefs-fwd run --help`; libdir is the install location searched for
 * the interposer (NULL: none). */
void fwd_run_opts_usage(FILE *out, const char *libdir);

#endif
