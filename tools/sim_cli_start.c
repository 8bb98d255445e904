/* litefs-sim command line: bringing nodes up, `up` (with its databases) and
 * `start-node`. */
#include "sim_cli.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim_cli_http.h"
#include "sim_cli_proc.h"
#include "sim_conf.h"

#define START_POLL_MS 10
#define START_READY_TIMEOUT_MS 10000
#define START_REPLICATE_TIMEOUT_MS 5000
#define START_TERM_GRACE_MS 5000
#define START_PROBE_TIMEOUT_MS 1000
#define START_LOG_TAIL_LINES 20
#define START_MODE_LEN 16

/* One node that this command starts. */
struct start_node {
	int k;
	pid_t pid;      /* 0 until spawned, and again once it is known to be gone */
	off_t log_off;  /* where its output begins in DIR/nodeK/log */
	bool ready;
};

/* Set by SIGINT, SIGTERM or SIGHUP while nodes are being started, so that an
 * interrupted start stops what it started instead of leaving it behind. */
static volatile sig_atomic_t start_interrupted;

static void start_on_signal(int sig)
{
	(void)sig;
	start_interrupted = 1;
}

static void start_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = start_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static long long start_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Creates path and its missing parents. Returns 0 when path is a directory, or -errno. */
static int start_make_dirs(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	if (stat(buf, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Returns true, after saying so, when a daemon of any node slot of the cluster in c->dir
 * runs: starting a second one would fight over the mounts and addresses. */
static bool start_refuse_running(const struct sim_conf *c)
{
	pid_t pid;
	int k;

	for (k = 1; k <= SIM_MAX_NODES; k++) {
		if (sim_cli_proc_node_pid(c, k, &pid))
			continue;
		fprintf(stderr, "litefs-sim: node%d of %s is running (pid %ld); "
			"run `litefs-sim down %s` first\n", k, c->dir, (long)pid, c->dir);
		return true;
	}
	return false;
}

/* Makes DIR/nodeK and its data, mnt and ltx directories, and detaches a mount that a
 * daemon which died left on mnt. Returns 0 or -errno after saying what failed. */
static int start_prepare_node(const struct sim_conf *c, int k)
{
	static const char *const leaves[] = { "data", "mnt", "ltx" };
	char path[PATH_MAX + 32];
	size_t i;
	int rc;

	sim_conf_node_path(c, k, NULL, path, sizeof(path));
	if (mkdir(path, 0755) && errno != EEXIST)
		goto fail_errno;
	sim_conf_node_path(c, k, "mnt", path, sizeof(path));
	rc = sim_cli_mount_detach(path);
	if (rc) {
		fprintf(stderr, "litefs-sim: cannot detach the stale mount on %s: %s\n", path,
			strerror(-rc));
		return rc;
	}
	for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		sim_conf_node_path(c, k, leaves[i], path, sizeof(path));
		if (mkdir(path, 0755) && errno != EEXIST)
			goto fail_errno;
	}
	return 0;
fail_errno:
	rc = -errno;
	fprintf(stderr, "litefs-sim: cannot create %s: %s\n", path, strerror(-rc));
	return rc;
}

/* Stops every daemon of s[0..n) that this command spawned, detaches their mounts and
 * removes their pid files (see sim_cli_stop_nodes(), which says what failed). */
static void start_stop_started(const struct sim_conf *c, struct start_node *s, int n)
{
	int ks[SIM_MAX_NODES] = { 0 }, i;
	pid_t pids[SIM_MAX_NODES] = { 0 };

	for (i = 0; i < n; i++) {
		ks[i] = s[i].k;
		pids[i] = s[i].pid;
	}
	sim_cli_stop_nodes(c, ks, pids, n, START_TERM_GRACE_MS);
	for (i = 0; i < n; i++)
		s[i].pid = pids[i];
}

/* Probes whether node k serves: its mount is in /proc/self/mountinfo, GET /sim/status
 * answers 200, and GET /info names this node's mount (so that a daemon of another
 * cluster on the same address is not taken for it). Returns 1 when ready, 0 not yet, or
 * -EADDRINUSE after saying that another daemon answers. */
static int start_probe_node(const struct sim_conf *c, int k, long long deadline)
{
	char mnt[PATH_MAX + 32], url[128];
	long status, timeout;
	json_t *body;
	const char *path;
	int rc;

	sim_conf_node_path(c, k, "mnt", mnt, sizeof(mnt));
	if (sim_cli_mount_check(mnt) != 1)
		return 0;
	timeout = (long)(deadline - start_now_ms());
	if (timeout > START_PROBE_TIMEOUT_MS)
		timeout = START_PROBE_TIMEOUT_MS;
	sim_conf_node_url(c, k, "/sim/status", url, sizeof(url));
	rc = sim_cli_http_json("GET", url, timeout, &status, &body);
	json_decref(body);
	if (rc || status != 200)
		return 0;
	sim_conf_node_url(c, k, "/info", url, sizeof(url));
	rc = sim_cli_http_json("GET", url, timeout, &status, &body);
	if (rc || status != 200) {
		json_decref(body);
		return 0;
	}
	path = json_string_value(json_object_get(body, "path"));
	rc = 1;
	if (path && strcmp(path, mnt)) {
		fprintf(stderr, "litefs-sim: %s is served by a node mounted on %s, not node%d "
			"of this cluster: is another cluster using the same addresses?\n",
			url, path, k);
		rc = -EADDRINUSE;
	}
	json_decref(body);
	return rc;
}

/* Says on stderr how a spawned daemon ended. */
static void start_report_exit(int k, int wstatus)
{
	if (WIFSIGNALED(wstatus))
		fprintf(stderr, "litefs-sim: node%d was killed by signal %d (%s) while starting\n",
			k, WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
	else
		fprintf(stderr, "litefs-sim: node%d exited with status %d while starting\n", k,
			WEXITSTATUS(wstatus));
}

/* Waits until every daemon of s[0..n) is ready (see start_probe_node()), polling every
 * START_POLL_MS. Returns 0, or -errno after saying which node failed and showing its log:
 * -ECHILD when a daemon exited, -ETIMEDOUT, -EINTR on a signal, -EADDRINUSE. */
static int start_wait_ready(const struct sim_conf *c, struct start_node *s, int n)
{
	long long deadline = start_now_ms() + START_READY_TIMEOUT_MS;
	int i, rc, left, wstatus;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			if (s[i].ready)
				continue;
			if (sim_cli_proc_reap_child(s[i].pid, &wstatus)) {
				s[i].pid = 0;
				start_report_exit(s[i].k, wstatus);
				sim_cli_clean_node(c, s[i].k);
				sim_cli_proc_print_log_tail(c, s[i].k, s[i].log_off,
							    START_LOG_TAIL_LINES);
				return -ECHILD;
			}
			rc = start_probe_node(c, s[i].k, deadline);
			if (rc < 0) {
				sim_cli_proc_print_log_tail(c, s[i].k, s[i].log_off,
							    START_LOG_TAIL_LINES);
				return rc;
			}
			if (rc)
				s[i].ready = true;
			else
				left++;
		}
		if (!left)
			return 0;
		if (start_interrupted) {
			fprintf(stderr, "litefs-sim: interrupted while starting the nodes\n");
			return -EINTR;
		}
		if (start_now_ms() >= deadline)
			break;
		start_sleep_ms(START_POLL_MS);
	}
	for (i = 0; i < n; i++) {
		if (s[i].ready)
			continue;
		fprintf(stderr, "litefs-sim: node%d did not become ready within %d s\n", s[i].k,
			START_READY_TIMEOUT_MS / 1000);
		sim_cli_proc_print_log_tail(c, s[i].k, s[i].log_off, START_LOG_TAIL_LINES);
	}
	return -ETIMEDOUT;
}

/* Spawns the daemons of s[0..n) (all first, so that they start in parallel) and waits
 * until each is ready. Returns 0, or -errno after saying what failed and stopping every
 * daemon it started, detaching their mounts and removing their pid files. */
static int start_launch_nodes(const struct sim_conf *c, struct start_node *s, int n)
{
	int i, rc;

	for (i = 0; i < n; i++) {
		rc = start_prepare_node(c, s[i].k);
		if (rc)
			goto out_stop;
		rc = sim_cli_proc_spawn_node(c, s[i].k, &s[i].pid, &s[i].log_off);
		if (rc) {
			fprintf(stderr, "litefs-sim: cannot start node%d: %s\n", s[i].k,
				strerror(-rc));
			goto out_stop;
		}
	}
	rc = start_wait_ready(c, s, n);
	if (rc)
		goto out_stop;
	return 0;
out_stop:
	start_stop_started(c, s, n);
	return rc;
}

/* Prints `nodeK ROLE MOUNT EVENTS_URL` for node k, its role as cluster.conf gives it. */
static void start_print_node_line(const struct sim_conf *c, int k)
{
	char mnt[PATH_MAX + 32], url[128];

	sim_conf_node_path(c, k, "mnt", mnt, sizeof(mnt));
	sim_conf_node_url(c, k, "/events", url, sizeof(url));
	printf("node%d %s %s %s\n", k, c->primary == k ? "primary" : "replica", mnt, url);
}

/* sqlite3_exec() callback that keeps the first column of the answer of a PRAGMA. */
static int start_db_keep_value(void *arg, int ncol, char **vals, char **names)
{
	(void)names;
	if (ncol > 0 && vals[0])
		snprintf(arg, START_MODE_LEN, "%s", vals[0]);
	return 0;
}

/* Creates or opens database name in the primary's mount, sets its journal mode to the
 * cluster's and writes page 1, so that the primary starts replicating it. Returns 0 or
 * -EIO after saying what SQLite reported. */
static int start_write_db(const struct sim_conf *c, const char *name)
{
	const char *want = strcmp(c->journal, "wal") ? "delete" : "wal";
	char mnt[PATH_MAX + 32], path[PATH_MAX + 320], sql[64], mode[START_MODE_LEN] = "";
	char *err = NULL;
	sqlite3 *db = NULL;
	int rc = 0;

	sim_conf_node_path(c, c->primary, "mnt", mnt, sizeof(mnt));
	snprintf(path, sizeof(path), "%s/%s", mnt, name);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
		fprintf(stderr, "litefs-sim: cannot open %s: %s\n", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		rc = -EIO;
		goto out_close;
	}
	sqlite3_busy_timeout(db, START_REPLICATE_TIMEOUT_MS);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", want);
	if (sqlite3_exec(db, sql, start_db_keep_value, mode, &err))
		goto fail_sql;
	if (strcasecmp(mode, want)) {
		fprintf(stderr, "litefs-sim: %s: journal_mode stayed '%s' instead of '%s'\n", path,
			mode, want);
		rc = -EIO;
		goto out_close;
	}
	if (sqlite3_exec(db, "PRAGMA user_version=0", NULL, NULL, &err))
		goto fail_sql;
	goto out_close;
fail_sql:
	fprintf(stderr, "litefs-sim: %s: %s\n", path, err ? err : sqlite3_errmsg(db));
	sqlite3_free(err);
	rc = -EIO;
out_close:
	if (sqlite3_close(db) != SQLITE_OK && !rc) {
		fprintf(stderr, "litefs-sim: %s: %s\n", path, sqlite3_errmsg(db));
		rc = -EIO;
	}
	return rc;
}

/* Fetches node k's /sim/status. Returns the parsed answer (to json_decref()), or NULL
 * when the node did not answer 200 with JSON. */
static json_t *start_get_status(const struct sim_conf *c, int k, long timeout_ms)
{
	char url[128];
	json_t *body;
	long status;

	sim_conf_node_url(c, k, "/sim/status", url, sizeof(url));
	if (sim_cli_http_json("GET", url, timeout_ms, &status, &body) || status != 200) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* Waits until every node lists each of dbs[0..n) at least at the primary's TXID. Returns
 * 0, or -ETIMEDOUT / -EINTR after saying which node lags. */
static int start_wait_replicated(const struct sim_conf *c, const char **dbs, int n)
{
	long long deadline = start_now_ms() + START_REPLICATE_TIMEOUT_MS;
	long long *want, have;
	int i, k, lag_k, lag_db, rc;
	json_t *st;

	want = calloc((size_t)n, sizeof(*want));
	if (!want)
		return -ENOMEM;
	for (;;) {
		lag_k = 0;
		lag_db = 0;
		have = -1;
		st = start_get_status(c, c->primary, START_PROBE_TIMEOUT_MS);
		for (i = 0; i < n && !lag_k; i++) {
			if (!st || sim_cli_status_db_txid(st, dbs[i], &want[i])) {
				lag_k = c->primary;
				lag_db = i;
			}
		}
		json_decref(st);
		for (k = 1; k <= c->nodes && !lag_k; k++) {
			if (k == c->primary)
				continue;
			st = start_get_status(c, k, START_PROBE_TIMEOUT_MS);
			for (i = 0; i < n && !lag_k; i++) {
				have = -1;
				if (st && !sim_cli_status_db_txid(st, dbs[i], &have) &&
				    have >= want[i])
					continue;
				lag_k = k;
				lag_db = i;
			}
			json_decref(st);
		}
		if (!lag_k) {
			rc = 0;
			break;
		}
		if (start_interrupted || start_now_ms() >= deadline) {
			rc = start_interrupted ? -EINTR : -ETIMEDOUT;
			if (lag_k == c->primary)
				fprintf(stderr, "litefs-sim: the primary node%d does not list %s\n",
					lag_k, dbs[lag_db]);
			else if (have < 0)
				fprintf(stderr, "litefs-sim: node%d does not list %s (the primary "
					"is at TXID %lld)\n", lag_k, dbs[lag_db], want[lag_db]);
			else
				fprintf(stderr, "litefs-sim: node%d has %s at TXID %lld, "
					"the primary at %lld\n", lag_k, dbs[lag_db], have,
					want[lag_db]);
			break;
		}
		start_sleep_ms(START_POLL_MS);
	}
	free(want);
	return rc;
}

int sim_cli_up(const char *dir, const struct sim_cli_up_opts *o)
{
	struct start_node starts[SIM_MAX_NODES];
	struct sim_conf c;
	int i, rc;

	rc = start_make_dirs(dir);
	if (rc) {
		fprintf(stderr, "litefs-sim: cannot create %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	rc = sim_conf_init(&c, dir);
	if (rc) {
		fprintf(stderr, "litefs-sim: %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	if (start_refuse_running(&c))
		return 1;
	/* An existing cluster.conf is a cluster that was brought down: keep its settings. */
	rc = sim_conf_load(&c, dir);
	if (rc == -ENOENT)
		rc = sim_conf_init(&c, dir);
	if (rc) {
		sim_cli_report_conf_error(dir, rc);
		return 1;
	}
	if (o->nodes)
		c.nodes = o->nodes;
	if (o->journal)
		snprintf(c.journal, sizeof(c.journal), "%s", o->journal);
	if (o->ip_prefix)
		snprintf(c.ip_prefix, sizeof(c.ip_prefix), "%s", o->ip_prefix);
	if (o->http_port)
		c.http_port = o->http_port;
	if (o->fwd_port)
		c.fwd_port = o->fwd_port;
	if (o->reconnect_delay_ms >= 0)
		c.reconnect_delay_ms = o->reconnect_delay_ms;
	if (c.primary > c.nodes) {
		fprintf(stderr, "litefs-sim: the primary of %s is node%d: it cannot have only %d "
			"node%s\n", c.dir, c.primary, c.nodes, c.nodes == 1 ? "" : "s");
		return 1;
	}
	if (c.http_port == c.fwd_port) {
		fprintf(stderr, "litefs-sim: the HTTP port and the forwarder port are both %d\n",
			c.http_port);
		return 1;
	}
	rc = sim_conf_save(&c);
	if (rc) {
		fprintf(stderr, "litefs-sim: cannot write %s/cluster.conf: %s\n", c.dir,
			strerror(-rc));
		return 1;
	}
	start_catch_signals();
	memset(starts, 0, sizeof(starts));
	for (i = 0; i < c.nodes; i++)
		starts[i].k = i + 1;
	if (start_launch_nodes(&c, starts, c.nodes))
		return 1;
	if (o->ndbs && c.primary < 1) {
		fprintf(stderr, "litefs-sim: %s has no primary to create databases on\n", c.dir);
		goto fail_stop;
	}
	for (i = 0; i < o->ndbs; i++)
		if (start_write_db(&c, o->dbs[i]))
			goto fail_stop;
	if (o->ndbs && start_wait_replicated(&c, o->dbs, o->ndbs))
		goto fail_stop;
	for (i = 1; i <= c.nodes; i++)
		start_print_node_line(&c, i);
	return 0;
fail_stop:
	start_stop_started(&c, starts, c.nodes);
	return 1;
}

int sim_cli_start_node(const char *dir, const char *node)
{
	struct start_node s;
	struct sim_conf c;
	int k, rc;
	pid_t pid;

	rc = sim_cli_open_node(&c, dir, node, &k);
	if (rc)
		return rc;
	if (!sim_cli_proc_node_pid(&c, k, &pid)) {
		fprintf(stderr, "litefs-sim: node%d of %s is already running (pid %ld)\n", k,
			c.dir, (long)pid);
		return 1;
	}
	start_catch_signals();
	memset(&s, 0, sizeof(s));
	s.k = k;
	if (start_launch_nodes(&c, &s, 1))
		return 1;
	start_print_node_line(&c, k);
	return 0;
}
