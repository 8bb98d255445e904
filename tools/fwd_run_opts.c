/* Command line and environment of `litefs-fwd run`. */
#include "fwd_run_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_run_backoff.h"
#include "fwd_run_preload.h"

#define OPTS_STR(x) OPTS_STR2(x)
#define OPTS_STR2(x) #x

void fwd_run_opts_usage(FILE *out, const char *libdir)
{
	fprintf(out,
		"Usage: litefs-fwd run [OPTIONS] [--] CMD [ARGS]\n"
		"\n"
		"Runs CMD with the interposer in front of LD_PRELOAD, beside this node's\n"
		"forwarder (`litefs-fwd forwarder`, started again when it dies): the entrypoint\n"
		"of a container, or the command LiteFS starts with exec. Passes signals on to\n"
		"CMD; when CMD exits, stops the forwarder and exits with CMD's status. Reaps\n"
		"orphaned processes when it is PID 1 (or with --subreaper). Logs to stderr.\n"
		"\n"
		"Options:\n"
		"  --preload PATH        the interposer (LITEFS_FWD_PRELOAD); else the first\n"
		"                        " FWD_RUN_PRELOAD_NAME " found beside this executable, then\n"
		"                        in ../lib from it%s%s\n"
		"                        None usable: exit status 2 (CMD never runs without the\n"
		"                        interposer)\n"
		"  --forwarder-arg ARG   one argument of the forwarder, repeatable, e.g.\n"
		"                        --forwarder-arg --mount --forwarder-arg /litefs\n"
		"                        (it also reads its LITEFS_FWD_* variables from the\n"
		"                        environment: 'litefs-fwd forwarder --help')\n"
		"  --no-forwarder        start no forwarder (an application-only container): only\n"
		"                        the interposer, the signals and the reaping\n"
		"  --subreaper           become the child subreaper (PR_SET_CHILD_SUBREAPER), so\n"
		"                        that orphans of CMD are reaped when run is not PID 1\n"
		"  --grace-ms MS         how long the forwarder may take to stop after SIGTERM,\n"
		"                        then SIGKILL, 0 to " OPTS_STR(FWD_RUN_MAX_GRACE_MS) "\n"
		"                        (LITEFS_FWD_RUN_GRACE_MS, default "
		OPTS_STR(FWD_RUN_DEFAULT_GRACE_MS) ")\n"
		"  --log-level LEVEL     error, warn, info or debug (default info)\n"
		"  -h, --help            show this help\n"
		"\n"
		"The existing LD_PRELOAD of CMD is kept after the interposer; the forwarder gets\n"
		"the environment unchanged.\n"
		"\n"
		"Signals: SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM\n"
		"and SIGCONT are passed on to CMD (a terminal's signal that reached CMD's\n"
		"process group already is not sent twice). The forwarder runs in a process\n"
		"group of its own and gets none of them; it gets SIGTERM when CMD has exited,\n"
		"SIGKILL after the grace period, and SIGTERM if run itself dies.\n"
		"\n"
		"The forwarder is started again after it dies, " OPTS_STR(FWD_RUN_BACKOFF_FIRST_MS)
		" ms later, the wait doubling\n"
		"with each death up to " OPTS_STR(FWD_RUN_BACKOFF_MAX_MS) " ms, back to "
		OPTS_STR(FWD_RUN_BACKOFF_FIRST_MS) " ms once it has run "
		OPTS_STR(FWD_RUN_BACKOFF_RESET_MS) " ms.\n"
		"\n"
		"Exit status: CMD's, or 128+N when CMD was killed by signal N; 127 when CMD is\n"
		"not found, 126 when it cannot be executed; 2 for bad arguments or when the\n"
		"interposer cannot be used; 1 when run itself fails.\n",
		libdir ? ", then in " : "", libdir ? libdir : "");
}

/* Parses a decimal number in [min, max] with nothing around it. Returns 0 or -EINVAL. */
static int opts_parse_number(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int opts_set_grace(struct fwd_run_opts *o, const char *val, const char *what, char *err,
			  size_t errlen)
{
	long v;

	if (opts_parse_number(val, 0, FWD_RUN_MAX_GRACE_MS, &v)) {
		snprintf(err, errlen, "%s wants 0 to %d milliseconds, not '%s'", what,
			 FWD_RUN_MAX_GRACE_MS, val);
		return -EINVAL;
	}
	o->grace_ms = (int)v;
	return 0;
}

int fwd_run_opts_parse(struct fwd_run_opts *o, int argc, char **argv, char *err,
		       size_t errlen)
{
	enum { OPT_PRELOAD = 256, OPT_FWD_ARG, OPT_NO_FWD, OPT_SUBREAPER, OPT_GRACE, OPT_LOG };
	static const struct option longopts[] = {
		{ "preload", required_argument, NULL, OPT_PRELOAD },
		{ "forwarder-arg", required_argument, NULL, OPT_FWD_ARG },
		{ "no-forwarder", no_argument, NULL, OPT_NO_FWD },
		{ "subreaper", no_argument, NULL, OPT_SUBREAPER },
		{ "grace-ms", required_argument, NULL, OPT_GRACE },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->grace_ms = FWD_RUN_DEFAULT_GRACE_MS;
	o->log_level = FWD_LOG_INFO;
	err[0] = '\0';
	/* at most every other argument is a value of --forwarder-arg */
	o->forwarder_args = calloc((size_t)argc + 1, sizeof(*o->forwarder_args));
	if (!o->forwarder_args) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	v = getenv("LITEFS_FWD_PRELOAD");
	if (v && *v) {
		o->preload = v;
		o->preload_from = "LITEFS_FWD_PRELOAD";
	}
	v = getenv("LITEFS_FWD_RUN_GRACE_MS");
	if (v && *v && opts_set_grace(o, v, "LITEFS_FWD_RUN_GRACE_MS", err, errlen))
		return -EINVAL;

	optind = 0; /* glibc: start over; argv[0] is the command name */
	opterr = 0;
	/* '+': options stop at CMD, whose own options are not ours */
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			o->help = true;
			return 0;
		case OPT_PRELOAD:
			if (!*optarg) {
				snprintf(err, errlen, "--preload wants a path, not an empty string");
				return -EINVAL;
			}
			o->preload = optarg;
			o->preload_from = "--preload";
			break;
		case OPT_FWD_ARG:
			o->forwarder_args[o->n_forwarder_args++] = optarg;
			break;
		case OPT_NO_FWD:
			o->no_forwarder = true;
			break;
		case OPT_SUBREAPER:
			o->subreaper = true;
			break;
		case OPT_GRACE:
			if (opts_set_grace(o, optarg, "--grace-ms", err, errlen))
				return -EINVAL;
			break;
		case OPT_LOG:
			if (fwd_log_parse_level(optarg, &o->log_level)) {
				snprintf(err, errlen, "--log-level wants error, warn, info or debug, "
					 "not '%s'", optarg);
				return -EINVAL;
			}
			break;
		case ':':
			snprintf(err, errlen, "missing value of '%s'", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (o->no_forwarder && o->n_forwarder_args) {
		snprintf(err, errlen, "--forwarder-arg with --no-forwarder: there is no forwarder");
		return -EINVAL;
	}
	if (optind >= argc) {
		snprintf(err, errlen, "CMD is missing: what should run? (run [OPTIONS] -- CMD "
			 "[ARGS])");
		return -EINVAL;
	}
	o->cmd = argv + optind;
	return 0;
}

void fwd_run_opts_free(struct fwd_run_opts *o)
{
	free(o->forwarder_args);
	o->forwarder_args = NULL;
	o->n_forwarder_args = 0;
}
