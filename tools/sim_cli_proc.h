/* litefs-sim command line: the node daemon processes (spawning, pid files, liveness,
 * stopping, their logs) and their FUSE mounts. */
#ifndef SIM_CLI_PROC_H
#define SIM_CLI_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "sim_conf.h"

/* Finds the daemon of node k. Returns 0 with *pid set when DIR/nodeK/pid names a live
 * process that is `litefs-sim node DIR nodeK` of this cluster's DIR; -ENOENT when no such
 * process runs (no pid file, a stale one, or a pid reused by another program). */
int sim_cli_proc_node_pid(const struct sim_conf *c, int k, pid_t *pid);

/* Starts the daemon of node k detached by setsid(), stdin from /dev/null, stdout and stderr
 * appended to DIR/nodeK/log, and writes DIR/nodeK/pid. The caller becomes the parent.
 * Returns 0 with *pid and *log_off (size of the log before the start, where the new
 * daemon's output begins) set, or -errno with nothing left running. */
int sim_cli_proc_spawn_node(const struct sim_conf *c, int k, pid_t *pid, off_t *log_off);

/* Reaps pid if it is a child of this process that has exited. Returns true (with
 * *wstatus set) when it had exited, false while it runs or when it is not a child. */
bool sim_cli_proc_reap_child(pid_t pid, int *wstatus);

/* Sends sig to every entry of pids[0..n) that is > 0. */
void sim_cli_proc_signal(const pid_t *pids, int n, int sig);

/* Waits up to timeout_ms until every entry of pids[0..n) that is > 0 is gone, meaning
 * exited with every thread, so that its files and sockets are closed. Sets the entries
 * that are gone to 0. Returns how many are left. */
int sim_cli_proc_wait_gone(pid_t *pids, int n, int timeout_ms);

/* Removes DIR/nodeK/pid. Returns 0 (also when there was none) or -errno. */
int sim_cli_proc_remove_pid_file(const struct sim_conf *c, int k);

/* Prints to stderr the last `lines` lines that node k's daemon wrote to its log at or
 * after offset from, each indented, under a line naming the log. */
void sim_cli_proc_print_log_tail(const struct sim_conf *c, int k, off_t from, int lines);

/* Returns 1 when path is a mount point in this mount namespace, 0 when not, or -errno
 * when /proc/self/mountinfo cannot be read. Does not touch path itself, so a mount
 * whose FUSE daemon died is found too. */
int sim_cli_mount_check(const char *path);

/* Detaches every mount on path lazily: as root with umount2(MNT_FORCE | MNT_DETACH),
 * which also aborts the FUSE connection so that nothing waits any more on a daemon that
 * is dead or being killed; otherwise with `fusermount3 -u -z`. Returns 0 when nothing is
 * mounted there any more, or -errno. */
int sim_cli_mount_detach(const char *path);

/* Undoes the octal escapes (\040 for a space and so on) of a /proc/self/mountinfo field in
 * place. */
void sim_cli_proc_unescape_mount_field(char *s);

#endif
