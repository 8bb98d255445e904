/* litefs-sim: a local stand-in for a LiteFS cluster. This file holds the usage texts
 * (quoted by the README) and turns the command line into a call of a sim_cli_*()
 * command, which gives the exit status. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cli.h"
#include "sim_cli_http.h"
#include "sim_conf.h"

#define MAIN_STR(x) MAIN_STR2(x)
#define MAIN_STR2(x) #x

/* How a command's arguments turned out. */
enum main_args {
	MAIN_ARGS_OK,
	MAIN_ARGS_HELP,  /* the usage was printed on stdout: exit 0 */
	MAIN_ARGS_BAD,   /* the usage was printed on stderr: exit 2 */
};

struct main_cmd {
	const char *name;
	const char *usage;
	bool uses_http;
	/* Runs the command on argv[0..argc) (argv[0] is its name); returns the exit status. */
	int (*run)(const struct main_cmd *cmd, int argc, char **argv);
};

static const char main_usage[] =
	"Usage: litefs-sim COMMAND [ARGUMENTS]\n"
	"\n"
	"A local stand-in for a LiteFS cluster. Node K of a cluster in DIR is a\n"
	"process that serves the FUSE mount DIR/nodeK/mnt and the LiteFS HTTP API on\n"
	"http://127.0.0.K:20202, and replicates the primary's databases to the replicas.\n"
	"\n"
	"Commands:\n"
	"  up DIR [OPTIONS]              start a cluster in DIR, creating it if needed\n"
	"  down DIR                      stop every node of DIR; the data stays\n"
	"  status DIR [--json]           role, position and lag of every node\n"
	"  promote DIR nodeK             fail over: make nodeK the primary\n"
	"  stop-node DIR nodeK           kill one node as if LiteFS had crashed\n"
	"  start-node DIR nodeK          start a stopped node again\n"
	"  exec DIR nodeK -- CMD [ARG]...  run CMD with the environment of a program on nodeK\n"
	"  node DIR nodeK                run the daemon of one node in the foreground\n"
	"\n"
	"Run 'litefs-sim COMMAND --help' for the details of a command.\n";

static const char main_usage_up[] =
	"Usage: litefs-sim up DIR [OPTIONS]\n"
	"\n"
	"Starts every node of the cluster in DIR (created if needed) and waits until\n"
	"each one serves. A DIR that holds a cluster.conf (a cluster that was brought\n"
	"down) keeps its settings and data, and the options given override them; a new\n"
	"cluster gets node1 as its primary. Prints one line per node:\n"
	"  nodeK ROLE MOUNT EVENTS_URL\n"
	"\n"
	"Options:\n"
	"  --nodes N                number of nodes, 1 to " MAIN_STR(SIM_MAX_NODES) " (default 2)\n"
	"  --journal wal|delete     journal mode of the databases made by --db\n"
	"                           (default delete)\n"
	"  --ip-prefix 127.B.C      node K listens on 127.B.C.K (default 127.0.0)\n"
	"  --http-port P            port of every node's LiteFS HTTP API (default 20202)\n"
	"  --fwd-port P             port of the forwarder on every node (default 20208)\n"
	"  --reconnect-delay-ms N   how long a replica that lost its primary waits\n"
	"                           before it tries again (default 1000)\n"
	"  --db NAME                create database NAME on the primary and wait until\n"
	"                           every replica has it; may be given more than once\n"
	"  -h, --help               show this help\n"
	"\n"
	"Fails (exit status 1) when a node of DIR is already running, or when a node\n"
	"does not serve within 10 s; then it stops every node it started.\n";

static const char main_usage_down[] =
	"Usage: litefs-sim down DIR\n"
	"\n"
	"Stops every node of DIR (SIGTERM, then SIGKILL after 5 s), detaches their\n"
	"mounts and removes their pid files. The data stays, for the next `up`.\n"
	"Nothing happens when no node runs.\n";

static const char main_usage_status[] =
	"Usage: litefs-sim status DIR [--json]\n"
	"\n"
	"Shows for every node whether it runs, its role, the primary it follows,\n"
	"whether it is connected to it and its lag in ms; then the TXID of every\n"
	"database on every node ('-' where the node lacks it or is stopped); then the\n"
	"replication lag: the highest p50 and p99 among the nodes, over the largest\n"
	"number of transactions that one node measured.\n"
	"\n"
	"Options:\n"
	"  --json       print the same as one JSON object\n"
	"  -h, --help   show this help\n";

static const char main_usage_promote[] =
	"Usage: litefs-sim promote DIR nodeK\n"
	"\n"
	"Fails over to nodeK, which must be running. When the current primary runs, it\n"
	"is demoted first: it stops taking writes and reports the last TXID of each\n"
	"database, and nodeK becomes primary once it has caught up with them. If nodeK\n"
	"cannot catch up within 10 s, the old primary takes over again and the command\n"
	"fails (exit status 1). Then cluster.conf names nodeK as the primary and every\n"
	"other running node, the old primary too, follows nodeK.\n";

static const char main_usage_stop_node[] =
	"Usage: litefs-sim stop-node DIR nodeK\n"
	"\n"
	"Kills the daemon of nodeK with SIGKILL, as if LiteFS had crashed, and detaches\n"
	"its mount. Its data stays; `litefs-sim start-node` brings it back.\n";

static const char main_usage_start_node[] =
	"Usage: litefs-sim start-node DIR nodeK\n"
	"\n"
	"Starts the daemon of a stopped nodeK, with the role that cluster.conf gives it,\n"
	"and waits until it serves (at most 10 s). Prints\n"
	"  nodeK ROLE MOUNT EVENTS_URL\n";

static const char main_usage_exec[] =
	"Usage: litefs-sim exec DIR nodeK -- CMD [ARG]...\n"
	"\n"
	"Runs CMD, in place of litefs-sim, with the environment that tells a program\n"
	"which node of the cluster it runs on (LD_PRELOAD is left as it is):\n"
	"  LITEFS_FWD_MOUNT       the node's mount, DIR/nodeK/mnt\n"
	"  LITEFS_FWD_EVENTS_URL  http://ADDR:HTTP_PORT/events of the node\n"
	"  LITEFS_FWD_HOSTNAME    nodeK\n"
	"  LITEFS_FWD_LISTEN      tcp://ADDR:FWD_PORT, where the node's forwarder listens\n"
	"  LITEFS_FWD_ENDPOINTS   node1=tcp://127.0.0.1:20208,node2=... for every node\n"
	"  LITEFS_SIM_DIR         DIR as an absolute path\n"
	"  LITEFS_SIM_NODE        nodeK\n"
	"The exit status is CMD's, or 127 when CMD cannot be found and 126 when it\n"
	"may not be executed.\n";

static const char main_usage_node[] =
	"Usage: litefs-sim node DIR nodeK\n"
	"\n"
	"Runs the daemon of nodeK in the foreground: mounts DIR/nodeK/mnt, serves the\n"
	"LiteFS HTTP API and replicates, until SIGTERM or SIGINT. `up` and `start-node`\n"
	"run it in the background with its output appended to DIR/nodeK/log.\n";

static bool main_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* Prints the usage of cmd on stderr, after a line saying what is wrong. Returns
 * MAIN_ARGS_BAD. */
static enum main_args main_bad_args(const struct main_cmd *cmd, const char *what,
				    const char *arg)
{
	if (arg)
		fprintf(stderr, "litefs-sim: %s: %s '%s'\n", cmd->name, what, arg);
	else
		fprintf(stderr, "litefs-sim: %s: %s\n", cmd->name, what);
	fprintf(stderr, "%s", cmd->usage);
	return MAIN_ARGS_BAD;
}

static int main_args_exit(enum main_args a)
{
	return a == MAIN_ARGS_HELP ? 0 : 2;
}

/* Parses the arguments of a command that takes exactly n operands, and --json when
 * json is not NULL. Operands go to ops[0..n). */
static enum main_args main_parse_operands(const struct main_cmd *cmd, int argc, char **argv,
					  int n, const char **ops, bool *json)
{
	bool only_operands = false;
	int i, got = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_operands && main_is_help(a)) {
			printf("%s", cmd->usage);
			return MAIN_ARGS_HELP;
		}
		if (!only_operands && !strcmp(a, "--")) {
			only_operands = true;
		} else if (!only_operands && json && !strcmp(a, "--json")) {
			*json = true;
		} else if (!only_operands && a[0] == '-' && a[1]) {
			return main_bad_args(cmd, "unknown option", a);
		} else {
			if (got == n)
				return main_bad_args(cmd, "unexpected argument", a);
			ops[got++] = a;
		}
	}
	if (got < n)
		return main_bad_args(cmd, got == 0 && n == 2 ? "DIR and nodeK are missing" :
				     got == 0 ? "DIR is missing" : "nodeK is missing", NULL);
	return MAIN_ARGS_OK;
}

/* Parses a decimal number in [min, max]. Returns 0 with *out set, or -1. */
static int main_parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	if (!*s || *s == '+' || *s == '-' || *s == ' ')
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Returns true for "127.B.C" with B and C decimal octets: node addresses must stay on
 * the loopback network. Leading zeros are refused, as some parsers read them as octal. */
static bool main_valid_ip_prefix(const char *s)
{
	int octet[3], i, v, digits;
	const char *p = s;

	for (i = 0; i < 3; i++) {
		if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
			return false;
		for (v = 0, digits = 0; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
			v = v * 10 + (*p - '0');
		if (!digits || digits > 3 || v > 255)
			return false;
		octet[i] = v;
		if (i < 2 && *p++ != '.')
			return false;
	}
	return !*p && octet[0] == 127 && strlen(s) < sizeof(((struct sim_conf *)0)->ip_prefix);
}

/* Returns true for a plain file name that can name a database in a mount directory. */
static bool main_valid_db_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && strlen(s) < 256;
}

static int main_run_up(const struct main_cmd *cmd, int argc, char **argv)
{
	enum { OPT_NODES = 256, OPT_JOURNAL, OPT_IP_PREFIX, OPT_HTTP_PORT, OPT_FWD_PORT,
	       OPT_RECONNECT, OPT_DB };
	static const struct option longopts[] = {
		{ "nodes", required_argument, NULL, OPT_NODES },
		{ "journal", required_argument, NULL, OPT_JOURNAL },
		{ "ip-prefix", required_argument, NULL, OPT_IP_PREFIX },
		{ "http-port", required_argument, NULL, OPT_HTTP_PORT },
		{ "fwd-port", required_argument, NULL, OPT_FWD_PORT },
		{ "reconnect-delay-ms", required_argument, NULL, OPT_RECONNECT },
		{ "db", required_argument, NULL, OPT_DB },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_cli_up_opts o = { .reconnect_delay_ms = -1 };
	enum main_args a = MAIN_ARGS_OK;
	const char **dbs;
	int opt, rc;

	dbs = calloc((size_t)argc, sizeof(*dbs));
	if (!dbs) {
		fprintf(stderr, "litefs-sim: out of memory\n");
		return 1;
	}
	o.dbs = dbs;
	optind = 0;  /* glibc: start over, argv[0] is the command name */
	opterr = 0;
	while (a == MAIN_ARGS_OK && (opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			printf("%s", cmd->usage);
			a = MAIN_ARGS_HELP;
			break;
		case OPT_NODES:
			if (main_parse_int(optarg, 1, SIM_MAX_NODES, &o.nodes))
				a = main_bad_args(cmd, "--nodes wants 1 to "
						  MAIN_STR(SIM_MAX_NODES) ", not", optarg);
			break;
		case OPT_JOURNAL:
			if (strcmp(optarg, "wal") && strcmp(optarg, "delete"))
				a = main_bad_args(cmd, "--journal wants wal or delete, not",
						  optarg);
			o.journal = optarg;
			break;
		case OPT_IP_PREFIX:
			if (!main_valid_ip_prefix(optarg))
				a = main_bad_args(cmd, "--ip-prefix wants three octets starting "
						  "with 127 (like 127.0.0), not", optarg);
			o.ip_prefix = optarg;
			break;
		case OPT_HTTP_PORT:
			if (main_parse_int(optarg, 1, 65535, &o.http_port))
				a = main_bad_args(cmd, "--http-port wants a port, not", optarg);
			break;
		case OPT_FWD_PORT:
			if (main_parse_int(optarg, 1, 65535, &o.fwd_port))
				a = main_bad_args(cmd, "--fwd-port wants a port, not", optarg);
			break;
		case OPT_RECONNECT:
			if (main_parse_int(optarg, 0, 60000, &o.reconnect_delay_ms))
				a = main_bad_args(cmd, "--reconnect-delay-ms wants 0 to 60000, not",
						  optarg);
			break;
		case OPT_DB:
			if (!main_valid_db_name(optarg))
				a = main_bad_args(cmd, "--db wants a plain file name, not", optarg);
			dbs[o.ndbs++] = optarg;
			break;
		case ':':
			a = main_bad_args(cmd, "missing value of", argv[optind - 1]);
			break;
		default:
			a = main_bad_args(cmd, "unknown option", argv[optind - 1]);
			break;
		}
	}
	/* getopt_long() has moved the operands behind the options: DIR must be alone. */
	if (a == MAIN_ARGS_OK && argc - optind > 1)
		a = main_bad_args(cmd, "unexpected argument", argv[optind + 1]);
	else if (a == MAIN_ARGS_OK && argc - optind < 1)
		a = main_bad_args(cmd, "DIR is missing", NULL);
	rc = a == MAIN_ARGS_OK ? sim_cli_up(argv[optind], &o) : main_args_exit(a);
	free(dbs);
	return rc;
}

static int main_run_down(const struct main_cmd *cmd, int argc, char **argv)
{
	const char *ops[1];
	enum main_args a = main_parse_operands(cmd, argc, argv, 1, ops, NULL);

	return a == MAIN_ARGS_OK ? sim_cli_down(ops[0]) : main_args_exit(a);
}

static int main_run_status(const struct main_cmd *cmd, int argc, char **argv)
{
	const char *ops[1];
	bool json = false;
	enum main_args a = main_parse_operands(cmd, argc, argv, 1, ops, &json);

	return a == MAIN_ARGS_OK ? sim_cli_status(ops[0], json) : main_args_exit(a);
}

/* Runs a command of the form `CMD DIR nodeK`. */
static int main_run_node_cmd(const struct main_cmd *cmd, int argc, char **argv)
{
	const char *ops[2];
	enum main_args a = main_parse_operands(cmd, argc, argv, 2, ops, NULL);

	if (a != MAIN_ARGS_OK)
		return main_args_exit(a);
	if (!strcmp(cmd->name, "promote"))
		return sim_cli_promote(ops[0], ops[1]);
	if (!strcmp(cmd->name, "stop-node"))
		return sim_cli_stop_node(ops[0], ops[1]);
	if (!strcmp(cmd->name, "start-node"))
		return sim_cli_start_node(ops[0], ops[1]);
	return sim_cli_node(ops[0], ops[1]);
}

static int main_run_exec(const struct main_cmd *cmd, int argc, char **argv)
{
	int first = 3;

	if (argc > 1 && main_is_help(argv[1])) {
		printf("%s", cmd->usage);
		return 0;
	}
	if (argc > 3 && !strcmp(argv[3], "--"))
		first = 4;
	if (argc <= first)
		return main_args_exit(main_bad_args(cmd, argc < 3 ? "DIR and nodeK are missing" :
						    "CMD is missing", NULL));
	return sim_cli_exec(argv[1], argv[2], argv + first);
}

static const struct main_cmd main_cmds[] = {
	{ "up", main_usage_up, true, main_run_up },
	{ "down", main_usage_down, true, main_run_down },
	{ "status", main_usage_status, true, main_run_status },
	{ "promote", main_usage_promote, true, main_run_node_cmd },
	{ "stop-node", main_usage_stop_node, true, main_run_node_cmd },
	{ "start-node", main_usage_start_node, true, main_run_node_cmd },
	{ "exec", main_usage_exec, false, main_run_exec },
	{ "node", main_usage_node, false, main_run_node_cmd },
};

static const struct main_cmd *main_find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		if (!strcmp(main_cmds[i].name, name))
			return &main_cmds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct main_cmd *cmd;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "%s", main_usage);
		return 2;
	}
	if (main_is_help(argv[1]) || !strcmp(argv[1], "help")) {
		cmd = argc > 2 ? main_find_cmd(argv[2]) : NULL;
		printf("%s", cmd ? cmd->usage : main_usage);
		return 0;
	}
	cmd = main_find_cmd(argv[1]);
	if (!cmd) {
		fprintf(stderr, "litefs-sim: unknown command '%s'\n%s", argv[1], main_usage);
		return 2;
	}
	if (cmd->uses_http && sim_cli_http_init()) {
		fprintf(stderr, "litefs-sim: cannot initialise libcurl\n");
		return 1;
	}
	rc = cmd->run(cmd, argc - 1, argv + 1);
	if (cmd->uses_http)
		sim_cli_http_cleanup();
	return rc;
}
