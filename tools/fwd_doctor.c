/* `litefs-fwd doctor [CMD [ARGS]]`: whether CMD can be interposed (fwd_program.c), and
 * whether this node is set up for forwarding: LiteFS's mount, the role and its sources,
 * the primary's endpoint and its forwarder, the secret, the interposer library. Each
 * problem comes with its fix; the exit status says whether anything blocks. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "elf_probe.h"
#include "endpoint.h"
#include "fwd_cmds.h"
#include "fwd_findings.h"
#include "fwd_node.h"
#include "fwd_ping.h"
#include "fwd_program.h"
#include "fwd_run_preload.h"
#include "version.h"

/* Where `make install` puts the interposer: the Makefile says where (LIBDIR); else its
 * default. */
#ifndef LITEFS_FWD_LIBDIR
#define LITEFS_FWD_LIBDIR "/usr/local/lib"
#endif
/* The f_type of a FUSE file system (statfs(2)). */

static const char doctor_usage[] =
	"Usage: litefs-fwd doctor [--timeout MS] [CMD [ARGS]]\n"
	"\n"
	"Says whether CMD can be interposed, from its file alone (it is not run). CMD is\n"
	"found on PATH; a script's interpreter is inspected in its place; its ELF file\n"
	"tells whether it needs libsqlite3 (itself, through a library it needs, or for\n"
	"an interpreter such as python3 through the SQLite module it loads at run time),\n"
	"has SQLite compiled in (as Go and Rust programs with a bundled SQLite do), is\n"
	"statically linked, or is set-user-ID or set-group-ID (the loader then ignores\n"
	"LD_PRELOAD).\n"
	"Then whether this node is set up for forwarding: LITEFS_FWD_MOUNT is a LiteFS\n"
	"(FUSE) mount, the role can be told, LiteFS's event stream answers, the primary's\n"
	"hostname maps to a forwarder endpoint that answers a health check, the secret is\n"
	"set and its file is not readable by others, the interposer library is found (as\n"
	"litefs-fwd run finds it). Without CMD, only the node is checked. Each problem is\n"
	"printed with its fix.\n"
	"\n"
	"Options:\n"
	"  --timeout MS   how long each network check may wait (default 2000)\n"
	"  -h, --help     show this help\n"
	"\n"
	"Environment: that of the program to run: LITEFS_FWD_MOUNT,\n"
	"LITEFS_FWD_EVENTS_URL, LITEFS_FWD_ENDPOINTS, LITEFS_FWD_ENDPOINT,\n"
	"LITEFS_FWD_TABLE, LITEFS_FWD_PRIMARY_FILE, LITEFS_FWD_HOSTNAME,\n"
	"LITEFS_FWD_SECRET_FILE, LITEFS_FWD_SECRET, LITEFS_FWD_PRELOAD, PATH,\n"
	"LD_LIBRARY_PATH.\n"
	"\n"
	"Exit status: 0 when nothing blocks forwarding, 1 when something does, 2 for bad\n"
	"arguments.\n";

/* Parses the options before CMD. Returns -1 to go on (*first: the index of CMD, argc when
 * none), else the exit status. */
static int doctor_parse(int argc, char **argv, int *timeout_ms, int *first)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*timeout_ms = FWD_NODE_DEFAULT_TIMEOUT_MS;
	optind = 1;
	opterr = 0;
	/* "+": options end at CMD, whose own options are its own */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (fwd_node_parse_timeout(optarg, timeout_ms)) {
				fprintf(stderr, "litefs-fwd: doctor: --timeout wants milliseconds, "
					"1 to 600000, not '%s'\n%s", optarg, doctor_usage);
				return 2;
			}
			break;
		case 'h':
			printf("%s", doctor_usage);
			return 0;
		default:
			fprintf(stderr, "litefs-fwd: doctor: unknown option '%s'\n%s",
				argv[optind - 1], doctor_usage);
			return 2;
		}
	}
	*first = optind;
	return -1;
}

/* The interposer library, found as `litefs-fwd run` finds it (tools/fwd_run_preload.c):
 * LITEFS_FWD_PRELOAD when set, else next to this executable, in ../lib beside it, or where
 * `make install` puts it. Returns 0 with out (PATH_MAX bytes) set, or a negative errno
 * with the places looked at in err. */
static int doctor_find_lib(char *out, char *err, size_t errlen)
{
	const char *given = getenv("LITEFS_FWD_PRELOAD");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0)
		exe[n] = '\0';
	return fwd_run_preload_find(given && *given ? given : NULL, "LITEFS_FWD_PRELOAD",
				    n > 0 ? exe : NULL, LITEFS_FWD_LIBDIR, out, PATH_MAX, err,
				    errlen);
}

/* The file system type of the mount point at exactly dir ("fuse.litefs", ...) from
 * /proc/self/mountinfo, into out; "" when dir is not a mount point. */
static void doctor_mount_type(const char *dir, char *out, size_t size)
{
	char line[PATH_MAX * 2 + 256];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], type[128];
		const char *dash = strstr(line, " - ");

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - TYPE SOURCE OPTIONS */
		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(dash + 3, "%127s", type) != 1)
			continue;
		/* the kernel writes a space in a path as \040: such a path is not compared */
		if (!strcmp(mp, dir))
			snprintf(out, size, "%s", type); /* the last one is on top */
	}
	fclose(f);
}

static void doctor_check_mount(const struct fwd_node *n, struct fwd_findings *f)
{
	char type[128];
	struct statfs sf;

	if (!n->env.litefs) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "LITEFS_FWD_MOUNT %s is not a directory: LiteFS "
				 "is absent here as far as the interposer can tell, and it runs every "
				 "write locally", n->env.mount);
		fwd_findings_fix(f, "set LITEFS_FWD_MOUNT to LiteFS's fuse.dir (default /litefs), "
				 "or start LiteFS");
		return;
	}
	doctor_mount_type(n->env.mount, type, sizeof(type));
	if (statfs(n->env.mount, &sf) == 0 && (unsigned long)sf.f_type == LITEFS_FUSE_SUPER_MAGIC) {
		fwd_findings_add(f, FWD_FINDING_OK, "LITEFS_FWD_MOUNT %s is a FUSE mount (%s)",
				 n->env.mount, type[0] ? type : "fuse");
		return;
	}
	fwd_findings_add(f, FWD_FINDING_FAIL, "LITEFS_FWD_MOUNT %s is %s, not a FUSE mount: LiteFS "
			 "is not mounted there; the interposer counts LiteFS present (a directory) "
			 "and runs writes there, where nothing replicates them", n->env.mount,
			 type[0] ? type : "a plain directory");
	fwd_findings_fix(f, "start LiteFS with this directory as its fuse.dir, or point "
			 "LITEFS_FWD_MOUNT at LiteFS's mount");
}

static void doctor_check_role(const struct fwd_node *n, struct fwd_findings *f)
{
	switch (n->role) {
	case FWD_NODE_ABSENT:
		return; /* said with the mount */
	case FWD_NODE_PRIMARY:
		fwd_findings_add(f, FWD_FINDING_OK, "this node (%s) is the primary (%s): its "
				 "programs write locally", n->env.hostname, n->role_reason);
		return;
	case FWD_NODE_REPLICA:
		fwd_findings_add(f, FWD_FINDING_OK, "this node is a replica of %s (%s)", n->primary,
				 n->role_reason);
		return;
	case FWD_NODE_NO_PRIMARY:
		fwd_findings_add(f, FWD_FINDING_FAIL, "this node is a replica that knows no primary "
				 "(%s): writes wait, then fail with SQLITE_BUSY", n->role_reason);
		fwd_findings_fix(f, "look at LiteFS: its lease (Consul, or the static primary) must "
				 "give the cluster a primary");
		return;
	case FWD_NODE_UNKNOWN:
		fwd_findings_add(f, FWD_FINDING_FAIL, "the role cannot be told: %s", n->role_reason);
		fwd_findings_fix(f, "make sure LiteFS runs, and that LITEFS_FWD_EVENTS_URL is its HTTP "
				 "API's /events (http.addr, default http://localhost:20202/events)");
		return;
	}
}

static void doctor_check_sources(const struct fwd_node *n, struct fwd_findings *f)
{
	char bad[200];

	if (!n->env.litefs)
		return;
	if (!n->env.events_url[0]) {
		fwd_findings_add(f, FWD_FINDING_WARN, "LITEFS_FWD_EVENTS_URL is empty: the role comes "
				 "from .primary alone, so a failover is noticed later and a replica "
				 "that lost its primary looks like a primary");
		fwd_findings_fix(f, "set LITEFS_FWD_EVENTS_URL to LiteFS's http://HOST:PORT/events");
	} else if (n->events.rc) {
		fwd_findings_add(f, FWD_FINDING_WARN, "LiteFS's event stream %s does not answer (%s): "
				 "the role is read from .primary only, and a failover is noticed "
				 "later", n->env.events_url, n->events.error);
		fwd_findings_fix(f, "set LITEFS_FWD_EVENTS_URL to LiteFS's http.addr with /events "
				 "(default http://localhost:20202/events)");
	} else {
		fwd_findings_add(f, FWD_FINDING_OK, "LiteFS's event stream %s answers (%.1f ms)",
				 n->env.events_url, n->events.ms);
	}
	if (n->env.table_invalid) {
		fwd_findings_add(f, FWD_FINDING_WARN, "LITEFS_FWD_TABLE is not a plain SQL name: the "
				 "interposer reads %s instead", n->env.table);
		fwd_findings_fix(f, "set it to the --table of the forwarders ([A-Za-z_][A-Za-z0-9_]*)");
	}
	if (n->env.endpoints && endpoint_map_check(n->env.endpoints, bad, sizeof(bad))) {
		fwd_findings_add(f, FWD_FINDING_WARN, "LITEFS_FWD_ENDPOINTS has an entry that is not "
				 "HOST=tcp://ADDRESS:PORT or HOST=ipc:///PATH: '%s'", bad);
		fwd_findings_fix(f, "write it as host=url,host=url");
	}
}

/* What to do about a forwarder whose health check ended in state. */
static const char *doctor_ping_fix(enum fwd_ping_state state)
{
	switch (state) {
	case FWD_PING_UNREACHABLE:
	case FWD_PING_TIMEOUT:
		return "run `litefs-fwd forwarder` on that node, listening where the endpoint "
		       "points (--listen), and let this node reach it";
	case FWD_PING_UNRESOLVED:
		return "map the hostname to its forwarder: LITEFS_FWD_ENDPOINTS=HOST=tcp://ADDRESS:"
		       "20208, or make the name resolve";
	case FWD_PING_REFUSED:
	case FWD_PING_NOT_AUTHENTIC:
		return "give this node the cluster's secret, the same as the forwarder's "
		       "(LITEFS_FWD_SECRET_FILE), and keep the nodes' clocks within 30 s";
	case FWD_PING_STOPPING:
		return "start the forwarder again";
	default:
		return "look at the forwarder's log";
	}
}

static void doctor_check_forwarder(const struct fwd_node *n, const struct fwd_ping_result *p,
				   bool pinged, struct fwd_findings *f)
{
	const char *whose = n->role == FWD_NODE_PRIMARY ? "this node's forwarder (which the "
			    "replicas send to)" : "the primary's forwarder";

	if (n->role != FWD_NODE_PRIMARY && n->role != FWD_NODE_REPLICA)
		return;
	if (!n->endpoint[0]) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "no forwarder endpoint for %s: the template "
				 "LITEFS_FWD_ENDPOINT (%s) does not fit it", n->primary,
				 n->env.endpoint_template);
		fwd_findings_fix(f, "map it in LITEFS_FWD_ENDPOINTS (host=url)");
		return;
	}
	fwd_findings_add(f, FWD_FINDING_OK, "%s maps to %s (from %s)", n->primary, n->endpoint,
			 fwd_node_source_name(n->endpoint_source));
	if (n->env.key_rc) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "the secret cannot be used (%s): the "
				 "interposer sends nothing", n->env.key_error);
		fwd_findings_fix(f, "LITEFS_FWD_SECRET_FILE must name a readable file of 16 to 1024 "
				 "bytes (or LITEFS_FWD_SECRET hold them)");
		return;
	}
	if (!pinged)
		return;
	if (p->state == FWD_PING_OLD) {
		fwd_findings_add(f, FWD_FINDING_WARN, "%s at %s: %s", whose, n->endpoint, p->error);
		return;
	}
	if (p->state != FWD_PING_ANSWERED) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s at %s does not answer: %s", whose,
				 n->endpoint, p->error);
		fwd_findings_fix(f, "%s", doctor_ping_fix(p->state));
		return;
	}
	if (p->role != WIRE_ROLE_PRIMARY) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "%s at %s answers, but says its node is %s%s%s",
				 whose, n->endpoint, fwd_ping_role_name(p->role),
				 p->primary[0] ? " of " : "", p->primary);
		fwd_findings_fix(f, "the endpoint must lead to the forwarder of the primary's node: "
				 "check LITEFS_FWD_ENDPOINTS and the forwarders' --mount");
		return;
	}
	fwd_findings_add(f, FWD_FINDING_OK, "%s at %s answers in %.2f ms (litefs-fwd %s, %s)",
			 whose, n->endpoint, p->rtt_ms_median, p->version,
			 p->sealed ? "authenticated" : "no authentication");
}

static void doctor_check_secret(const struct fwd_node *n, struct fwd_findings *f)
{
	struct stat st;

	if (n->env.key_rc)
		return; /* said with the forwarder when it matters; said here otherwise */
	if (n->env.secret_env) {
		fwd_findings_add(f, FWD_FINDING_OK, "the secret comes from LITEFS_FWD_SECRET "
				 "(%zu bytes)", n->env.key.len);
		return;
	}
	if (!n->env.secret_file) {
		fwd_findings_add(f, FWD_FINDING_WARN, "no secret (LITEFS_FWD_SECRET_FILE, "
				 "LITEFS_FWD_SECRET): requests are not authenticated, and a "
				 "forwarder without one serves loopback addresses only (unless "
				 "--insecure)");
		fwd_findings_fix(f, "head -c 32 /dev/urandom | base64 > /etc/litefs-fwd.secret; "
				 "chmod 600 /etc/litefs-fwd.secret; the same file on every node, named "
				 "by LITEFS_FWD_SECRET_FILE for the programs and the forwarders");
		return;
	}
	if (stat(n->env.secret_file, &st))
		return; /* auth_key_load() said why */
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "the secret file %s is %s by others (mode %04o): "
				 "anyone on this host can run SQL on the primary", n->env.secret_file,
				 st.st_mode & S_IWOTH ? "writable" : "readable",
				 (unsigned)(st.st_mode & 07777));
		fwd_findings_fix(f, "chmod 600 %s (or 640 with a group of the programs' users)",
				 n->env.secret_file);
	} else if (st.st_mode & S_IWGRP) {
		fwd_findings_add(f, FWD_FINDING_WARN, "the secret file %s is writable by its group "
				 "(mode %04o)", n->env.secret_file, (unsigned)(st.st_mode & 07777));
		fwd_findings_fix(f, "chmod g-w %s", n->env.secret_file);
	} else {
		fwd_findings_add(f, FWD_FINDING_OK, "the secret comes from %s (%zu bytes, mode %04o)",
				 n->env.secret_file, n->env.key.len, (unsigned)(st.st_mode & 07777));
	}
}

static void doctor_check_key_alone(const struct fwd_node *n, struct fwd_findings *f)
{
	/* the forwarder check says it when there is a forwarder to check */
	if (n->env.key_rc && n->role != FWD_NODE_PRIMARY && n->role != FWD_NODE_REPLICA) {
		fwd_findings_add(f, FWD_FINDING_FAIL, "the secret cannot be used: %s",
				 n->env.key_error);
		fwd_findings_fix(f, "LITEFS_FWD_SECRET_FILE must name a readable file of 16 to 1024 "
				 "bytes (or LITEFS_FWD_SECRET hold them)");
	}
}

int fwd_doctor_main(int argc, char **argv)
{
	struct fwd_findings f = { 0 };
	struct fwd_ping_result ping = { 0 };
	struct elf_probe lib = { 0 };
	struct fwd_node *n = NULL;
	char libpath[PATH_MAX], liberr[PATH_MAX * 3 + 256];
	bool have_lib = false, pinged = false;
	int lib_rc;
	int timeout_ms, first, rc, program_rc = 0;
	size_t node_first;

	rc = doctor_parse(argc, argv, &timeout_ms, &first);
	if (rc >= 0)
		return rc;
	printf("litefs-fwd doctor %s\n", LITEFS_FWD_VERSION);
	lib_rc = doctor_find_lib(libpath, liberr, sizeof(liberr));
	if (!lib_rc && !elf_probe_file(libpath, &lib))
		have_lib = true;
	else if (elf_probe_file("/proc/self/exe", &lib) == 0)
		have_lib = true; /* this build's class and machine, the interposer's too */
	if (first < argc) {
		printf("program %s:\n", argv[first]);
		program_rc = fwd_program_inspect(argv[first], have_lib ? &lib : NULL, &f);
		if (program_rc < 0)
			goto oom;
		fwd_findings_print(&f, 0, stdout);
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto oom;
	fwd_node_env_load(&n->env);
	if (fwd_node_inspect(n, timeout_ms))
		goto oom;
	if ((n->role == FWD_NODE_REPLICA || n->role == FWD_NODE_PRIMARY) && n->endpoint[0] &&
	    !n->env.key_rc) {
		if (fwd_ping_check(n->endpoint, &n->env.key, timeout_ms, 1, false, &ping))
			goto oom;
		pinged = true;
	}
	node_first = f.n;
	doctor_check_mount(n, &f);
	doctor_check_role(n, &f);
	doctor_check_sources(n, &f);
	doctor_check_forwarder(n, &ping, pinged, &f);
	doctor_check_secret(n, &f);
	doctor_check_key_alone(n, &f);
	if (!lib_rc) {
		fwd_findings_add(&f, FWD_FINDING_OK, "the interposer library is %s%s", libpath,
				 getenv("LITEFS_FWD_PRELOAD") && *getenv("LITEFS_FWD_PRELOAD") ?
				 " (LITEFS_FWD_PRELOAD)" : "");
	} else {
		fwd_findings_add(&f, FWD_FINDING_FAIL, "%s", liberr);
		fwd_findings_fix(&f, "make install puts it in %s; keep it next to litefs-fwd, or "
				 "name it in LITEFS_FWD_PRELOAD", LITEFS_FWD_LIBDIR);
	}
	if (f.oom)
		goto oom;
	printf("node %s:\n", n->env.hostname);
	fwd_findings_print(&f, node_first, stdout);
	rc = fwd_findings_count(&f, FWD_FINDING_FAIL) ? 1 : 0;
	if (rc)
		printf("%zu problem%s block%s forwarding\n", fwd_findings_count(&f, FWD_FINDING_FAIL),
		       fwd_findings_count(&f, FWD_FINDING_FAIL) == 1 ? "" : "s",
		       fwd_findings_count(&f, FWD_FINDING_FAIL) == 1 ? "s" : "");
	else if (first < argc)
		printf("nothing blocks: run it as LD_PRELOAD=%s %s ..., or as litefs-fwd run -- "
		       "%s ...\n", libpath, argv[first], argv[first]);
	else
		printf("nothing blocks\n");
	goto out;

oom:
	fprintf(stderr, "litefs-fwd: doctor: out of memory\n");
	rc = 1;
out:
	fflush(stdout);
	fwd_ping_result_free(&ping);
	if (n)
		fwd_node_free(n);
	free(n);
	elf_probe_free(&lib);
	fwd_findings_free(&f);
	return rc;
}
