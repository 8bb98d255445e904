/* litefs-fwd: the command of the forwarding side of litefs-fwd. This file holds the
 * top-level usage and hands the command line to the subcommand named first, which gives
 * the exit status. */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "fwd_cmds.h"

struct main_cmd {
	const char *name;
	/* Runs the command on argv[0..argc) (argv[0] is its name); returns the exit status. */
	int (*run)(int argc, char **argv);
};

static const char main_usage[] =
	"Usage: litefs-fwd COMMAND [ARGUMENTS]\n"
	"\n"
	"Write forwarding for SQLite programs on a LiteFS cluster.\n"
	"\n"
	"Commands:\n"
	"  run [OPTIONS] -- CMD [ARGS]\n"
	"                        run CMD with the interposer, beside this node's forwarder\n"
	"                        (the entrypoint of a container)\n"
	"  forwarder [OPTIONS]   execute the statements forwarded by programs on the\n"
	"                        replicas while this node is the primary\n"
	"  status [--json]       this node's role, primary, forwarder and databases; exit\n"
	"                        status 1 when writes cannot be forwarded now\n"
	"  doctor [CMD [ARGS]]   whether CMD can be interposed, and whether this node is set\n"
	"                        up for forwarding; each problem with its fix\n"
	"\n"
	"Run 'litefs-fwd COMMAND --help' for the details of a command.\n";

static const struct main_cmd main_cmds[] = {
	{ "run", fwd_run_main },
	{ "forwarder", fwd_daemon_main },
	{ "status", fwd_status_main },
	{ "doctor", fwd_doctor_main },
};

static int main_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "litefs-fwd: COMMAND is missing\n%s", main_usage);
		return 2;
	}
	if (main_is_help(argv[1])) {
		printf("%s", main_usage);
		return 0;
	}
	for (i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		if (!strcmp(main_cmds[i].name, argv[1]))
			return main_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "litefs-fwd: unknown command '%s'\n%s", argv[1], main_usage);
	return 2;
}
