/* litefs-sim node daemon: one process per node of the stand-in cluster. */
#ifndef SIM_NODE_H
#define SIM_NODE_H

/* Runs node k of the cluster in dir in the foreground: mounts DIR/nodeK/mnt, serves the
 * LiteFS HTTP API, replicates. Returns the process exit status (0 after SIGTERM/SIGINT,
 * 1 when it could not start; the reason is on stderr). */
int sim_node_main(const char *dir, int k);

#endif
