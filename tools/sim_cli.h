/* litefs-sim command line: the commands behind `litefs-sim COMMAND`. Each sim_cli_*()
 * command takes arguments that sim_main.c has already checked for form, reports on
 * stdout (results) and stderr (errors, prefixed "litefs-sim: ") and returns the exit
 * status of the process: 0 on success, 1 on failure, 2 on an argument that the command
 * found invalid for this cluster. */
#ifndef SIM_CLI_H
#define SIM_CLI_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "sim_conf.h"

/* Options of `up`: a member left at 0 or NULL was not given and keeps the value of an
 * existing DIR/cluster.conf, or the default for a new cluster. */
struct sim_cli_up_opts {
	int nodes;
	const char *journal;        /* "wal" or "delete" */
	const char *ip_prefix;      /* "127.B.C" */
	int http_port;
	int fwd_port;
	int reconnect_delay_ms;     /* -1 when not given (0 is a valid delay) */
	const char **dbs;           /* plain file names of databases to create */
	int ndbs;
};

/* `up`: starts every node of the cluster in dir and creates o->dbs on the primary. On
 * failure nothing that it started is left running or mounted. */
int sim_cli_up(const char *dir, const struct sim_cli_up_opts *o);
/* `down`: stops every node of dir; 0 also when none runs. */
int sim_cli_down(const char *dir);
/* `exec`: replaces the process with cmd (NULL-terminated) in node's environment; returns
 * only when that fails: 126 when cmd may not be executed, 127 otherwise (1 or 2 when dir
 * or node are wrong). */
int sim_cli_exec(const char *dir, const char *node, char **cmd);
/* `promote`: fails over to node. */
int sim_cli_promote(const char *dir, const char *node);
/* `stop-node`: kills node's daemon as a crash would. */
int sim_cli_stop_node(const char *dir, const char *node);
/* `start-node`: starts node's daemon and waits until it serves. */
int sim_cli_start_node(const char *dir, const char *node);
/* `status`: prints the state of every node, as a table or as one JSON object. */
int sim_cli_status(const char *dir, bool json);
/* `node`: runs node's daemon in this process and returns its exit status. */
int sim_cli_node(const char *dir, const char *node);

/* Shared by the files of the commands. */

/* Reads DIR/cluster.conf. Returns 0, or -errno after saying on stderr what is wrong. */
int sim_cli_load_conf(struct sim_conf *c, const char *dir);
/* Loads the cluster of dir and resolves the node name. Returns 0 with *k set, or the
 * exit status for the command: 1 when dir is not a cluster, 2 when it has no such node. */
int sim_cli_open_node(struct sim_conf *c, const char *dir, const char *node, int *k);
/* Detaches node k's mount and removes its pid file, once its daemon is gone. Returns 0
 * or -errno after saying what failed. */
int sim_cli_clean_node(const struct sim_conf *c, int k);
/* Stops the daemons pids[i] of the nodes ks[i], for i < n (pids[i] <= 0: none runs):
 * SIGTERM and up to term_ms for a clean exit (skipped when term_ms is 0), then SIGKILL
 * with the mount detached and its FUSE connection aborted, as the kernel does when a
 * FUSE daemon dies (a killed daemon that still had a file of a mount open would
 * otherwise wait forever in exit for an answer nobody gives), then up to 5 s until each
 * is gone. Every node whose daemon is gone has its mount detached and pid file removed.
 * Returns 0, or -errno after saying on stderr what failed; the pids that did not exit
 * stay in pids, the others are set to 0. */
int sim_cli_stop_nodes(const struct sim_conf *c, const int *ks, pid_t *pids, int n,
		       int term_ms);

/* Says on stderr why the configuration of dir could not be read; rc is what
 * sim_conf_load() returned. */
void sim_cli_report_conf_error(const char *dir, int rc);

/* Finds database db in the "databases" array of a node's /sim/status (or /sim/demote)
 * answer. Returns 0 with *txid set, or -ENOENT when the node does not list it. */
int sim_cli_status_db_txid(const json_t *status, const char *db, long long *txid);

#endif
