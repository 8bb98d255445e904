/* litefs-sim cluster configuration: the file DIR/cluster.conf shared by the
 * command line and the node daemons, and the paths and addresses derived
 * from it. */
#ifndef SIM_CONF_H
#define SIM_CONF_H

#include <limits.h>
#include <stddef.h>

#define SIM_MAX_NODES 9

struct sim_conf {
	char dir[PATH_MAX];       /* absolute cluster directory */
	int nodes;                /* number of nodes, 1..SIM_MAX_NODES */
	char journal[8];          /* "delete" or "wal": mode of databases made by `up --db` */
	char ip_prefix[32];       /* first three octets of the node addresses, "127.0.0" */
	int http_port;            /* LiteFS HTTP API port on every node (20202) */
	int fwd_port;             /* forwarder port advertised to programs (20208) */
	int primary;              /* index of the current primary, 0 when none is chosen */
	int reconnect_delay_ms;   /* how long a replica stays without .primary before a retry */
	char cluster_id[40];
};

/* Fills c with the defaults for a cluster in dir (made absolute). Returns 0 or -errno. */
int sim_conf_init(struct sim_conf *c, const char *dir);
/* Reads DIR/cluster.conf. Returns 0, -ENOENT when there is no cluster there, -EINVAL on a
 * malformed file, or another -errno. */
int sim_conf_load(struct sim_conf *c, const char *dir);
/* Writes DIR/cluster.conf atomically (temporary file and rename). Returns 0 or -errno. */
int sim_conf_save(const struct sim_conf *c);

/* "127.0.0.K" for node k. */
void sim_conf_node_addr(const struct sim_conf *c, int k, char *buf, size_t len);
/* "DIR/nodeK" or "DIR/nodeK/LEAF" when leaf is not NULL. */
void sim_conf_node_path(const struct sim_conf *c, int k, const char *leaf, char *buf, size_t len);
/* "http://127.0.0.K:PORT" + path (path may be "" or start with '/'). */
void sim_conf_node_url(const struct sim_conf *c, int k, const char *path, char *buf, size_t len);
/* Parses "nodeK" into K. Returns K (1..c->nodes) or -EINVAL. */
int sim_conf_parse_node(const struct sim_conf *c, const char *name);

#endif
