/* litefs-sim command line: the commands that stop nodes or use a cluster without
 * starting anything (`down`, `stop-node`, `exec`, `node`), and the functions that
 * all commands share. `up` and `start-node` are in sim_cli_start.c, `promote` in
 * sim_cli_promote.c, `status` in sim_cli_status.c. */
#include "sim_cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_cli_proc.h"
#include "sim_conf.h"
#include "sim_node.h"

#define CLI_TERM_GRACE_MS 5000
#define CLI_KILL_WAIT_MS 5000

void sim_cli_report_conf_error(const char *dir, int rc)
{
	if (rc == -ENOENT)
		fprintf(stderr, "litefs-sim: %s is not a litefs-sim cluster (no cluster.conf)\n",
			dir);
	else if (rc == -EINVAL)
		fprintf(stderr, "litefs-sim: %s/cluster.conf is malformed\n", dir);
	else
		fprintf(stderr, "litefs-sim: %s: %s\n", dir, strerror(-rc));
}

int sim_cli_load_conf(struct sim_conf *c, const char *dir)
{
	int rc = sim_conf_load(c, dir);

	if (rc)
		sim_cli_report_conf_error(dir, rc);
	return rc;
}

int sim_cli_open_node(struct sim_conf *c, const char *dir, const char *node, int *k)
{
	if (sim_cli_load_conf(c, dir))
		return 1;
	*k = sim_conf_parse_node(c, node);
	if (*k < 0) {
		fprintf(stderr, "litefs-sim: %s has no node '%s' (its nodes are node1 to node%d)\n",
			c->dir, node, c->nodes);
		return 2;
	}
	return 0;
}

int sim_cli_clean_node(const struct sim_conf *c, int k)
{
	char mnt[PATH_MAX + 32];
	int rc;

	sim_conf_node_path(c, k, "mnt", mnt, sizeof(mnt));
	rc = sim_cli_mount_detach(mnt);
	if (rc)
		fprintf(stderr, "litefs-sim: cannot detach %s: %s\n", mnt, strerror(-rc));
	sim_cli_proc_remove_pid_file(c, k);
	return rc;
}

int sim_cli_stop_nodes(const struct sim_conf *c, const int *ks, pid_t *pids, int n,
		       int term_ms)
{
	char mnt[PATH_MAX + 32];
	int i, rc = 0;

	if (term_ms > 0) {
		sim_cli_proc_signal(pids, n, SIGTERM);
		sim_cli_proc_wait_gone(pids, n, term_ms);
	}
	sim_cli_proc_signal(pids, n, SIGKILL);
	for (i = 0; i < n; i++) {
		if (pids[i] <= 0)
			continue;
		sim_conf_node_path(c, ks[i], "mnt", mnt, sizeof(mnt));
		sim_cli_mount_detach(mnt);
	}
	sim_cli_proc_wait_gone(pids, n, CLI_KILL_WAIT_MS);
	for (i = 0; i < n; i++) {
		if (pids[i] > 0) {
			fprintf(stderr, "litefs-sim: node%d (pid %ld) did not exit after SIGKILL\n",
				ks[i], (long)pids[i]);
			rc = -ETIMEDOUT;
		} else if (sim_cli_clean_node(c, ks[i]) && !rc) {
			rc = -EBUSY;
		}
	}
	return rc;
}

int sim_cli_down(const char *dir)
{
	int ks[SIM_MAX_NODES], k, rc;
	pid_t pids[SIM_MAX_NODES];
	struct sim_conf c;
	struct stat st;

	if (stat(dir, &st) && errno == ENOENT) {
		printf("litefs-sim: %s is down\n", dir);
		return 0;
	}
	rc = sim_conf_init(&c, dir);
	if (!rc && stat(c.dir, &st))
		rc = -errno;
	if (!rc && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc) {
		fprintf(stderr, "litefs-sim: %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	/* Every node slot, not only those of cluster.conf: it may have had more nodes. */
	for (k = 1; k <= SIM_MAX_NODES; k++) {
		ks[k - 1] = k;
		if (sim_cli_proc_node_pid(&c, k, &pids[k - 1]))
			pids[k - 1] = 0;
	}
	if (sim_cli_stop_nodes(&c, ks, pids, SIM_MAX_NODES, CLI_TERM_GRACE_MS))
		return 1;
	printf("litefs-sim: %s is down\n", c.dir);
	return 0;
}

int sim_cli_exec(const char *dir, const char *node, char **cmd)
{
	char mnt[PATH_MAX + 32], url[128], addr[48], buf[128], name[16];
	char endpoints[SIM_MAX_NODES * 80] = "";
	struct sim_conf c;
	size_t len = 0;
	int j, k, rc;

	rc = sim_cli_open_node(&c, dir, node, &k);
	if (rc)
		return rc;
	for (j = 1; j <= c.nodes && len < sizeof(endpoints); j++) {
		sim_conf_node_addr(&c, j, addr, sizeof(addr));
		len += (size_t)snprintf(endpoints + len, sizeof(endpoints) - len,
					"%snode%d=tcp://%s:%d", j > 1 ? "," : "", j, addr,
					c.fwd_port);
	}
	snprintf(name, sizeof(name), "node%d", k);
	sim_conf_node_path(&c, k, "mnt", mnt, sizeof(mnt));
	sim_conf_node_url(&c, k, "/events", url, sizeof(url));
	sim_conf_node_addr(&c, k, addr, sizeof(addr));
	snprintf(buf, sizeof(buf), "tcp://%s:%d", addr, c.fwd_port);
	if (setenv("LITEFS_FWD_MOUNT", mnt, 1) || setenv("LITEFS_FWD_EVENTS_URL", url, 1) ||
	    setenv("LITEFS_FWD_HOSTNAME", name, 1) || setenv("LITEFS_FWD_LISTEN", buf, 1) ||
	    setenv("LITEFS_FWD_ENDPOINTS", endpoints, 1) || setenv("LITEFS_SIM_DIR", c.dir, 1) ||
	    setenv("LITEFS_SIM_NODE", name, 1)) {
		fprintf(stderr, "litefs-sim: cannot set the environment: %s\n", strerror(errno));
		return 1;
	}
	fflush(NULL);
	execvp(cmd[0], cmd);
	rc = errno;
	fprintf(stderr, "litefs-sim: cannot execute %s: %s\n", cmd[0], strerror(rc));
	return rc == EACCES || rc == EPERM ? 126 : 127;
}

int sim_cli_stop_node(const char *dir, const char *node)
{
	struct sim_conf c;
	int k, rc;
	pid_t pid;

	rc = sim_cli_open_node(&c, dir, node, &k);
	if (rc)
		return rc;
	if (sim_cli_proc_node_pid(&c, k, &pid)) {
		fprintf(stderr, "litefs-sim: node%d of %s is not running\n", k, c.dir);
		return 1;
	}
	if (sim_cli_stop_nodes(&c, &k, &pid, 1, 0))
		return 1;
	printf("node%d stopped\n", k);
	return 0;
}

int sim_cli_node(const char *dir, const char *node)
{
	struct sim_conf c;
	int k, rc;

	rc = sim_cli_open_node(&c, dir, node, &k);
	if (rc)
		return rc;
	return sim_node_main(c.dir, k);
}
