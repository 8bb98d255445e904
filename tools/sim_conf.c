/* Cluster configuration file: key=value lines, one per setting. */
#include "sim_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sim_conf_init(struct sim_conf *c, const char *dir)
{
	memset(c, 0, sizeof(*c));
	if (!realpath(dir, c->dir))
		return -errno;
	c->nodes = 2;
	snprintf(c->journal, sizeof(c->journal), "delete");
	snprintf(c->ip_prefix, sizeof(c->ip_prefix), "127.0.0");
	c->http_port = 20202;
	c->fwd_port = 20208;
	c->primary = 1;
	c->reconnect_delay_ms = 1000;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(c->cluster_id, sizeof(c->cluster_id), "LFSC%08lX%08lX",
		 (unsigned long)(ts.tv_nsec ^ getpid()) & 0xffffffffUL,
		 (unsigned long)ts.tv_sec & 0xffffffffUL);
	return 0;
}

static int conf_set(struct sim_conf *c, const char *key, const char *val)
{
	char *end;
	long n;

	if (!strcmp(key, "journal")) {
		if (strcmp(val, "wal") && strcmp(val, "delete"))
			return -EINVAL;
		snprintf(c->journal, sizeof(c->journal), "%s", val);
		return 0;
	}
	if (!strcmp(key, "ip_prefix")) {
		if (strlen(val) >= sizeof(c->ip_prefix))
			return -EINVAL;
		snprintf(c->ip_prefix, sizeof(c->ip_prefix), "%s", val);
		return 0;
	}
	if (!strcmp(key, "cluster_id")) {
		snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", val);
		return 0;
	}
	errno = 0;
	n = strtol(val, &end, 10);
	if (errno || *end || end == val)
		return -EINVAL;
	if (!strcmp(key, "nodes") && n >= 1 && n <= SIM_MAX_NODES)
		c->nodes = (int)n;
	else if (!strcmp(key, "http_port") && n > 0 && n < 65536)
		c->http_port = (int)n;
	else if (!strcmp(key, "fwd_port") && n > 0 && n < 65536)
		c->fwd_port = (int)n;
	else if (!strcmp(key, "primary") && n >= 0 && n <= SIM_MAX_NODES)
		c->primary = (int)n;
	else if (!strcmp(key, "reconnect_delay_ms") && n >= 0 && n <= 60000)
		c->reconnect_delay_ms = (int)n;
	else
		return -EINVAL;
	return 0;
}

int sim_conf_load(struct sim_conf *c, const char *dir)
{
	char path[PATH_MAX + 32], line[256];
	FILE *f;
	int rc;

	rc = sim_conf_init(c, dir);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/cluster.conf", c->dir);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	rc = 0;
	while (fgets(line, sizeof(line), f)) {
		char *eq, *nl;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		rc = conf_set(c, line, eq + 1);
		if (rc)
			break;
	}
	fclose(f);
	if (!rc && c->primary > c->nodes)
		rc = -EINVAL;
	return rc;
}

int sim_conf_save(const struct sim_conf *c)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/cluster.conf", c->dir);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f,
		"# litefs-sim cluster\n"
		"nodes=%d\njournal=%s\nip_prefix=%s\nhttp_port=%d\nfwd_port=%d\n"
		"primary=%d\nreconnect_delay_ms=%d\ncluster_id=%s\n",
		c->nodes, c->journal, c->ip_prefix, c->http_port, c->fwd_port, c->primary,
		c->reconnect_delay_ms, c->cluster_id);
	if (fflush(f) || fsync(fileno(f)))
		rc = -errno;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

void sim_conf_node_addr(const struct sim_conf *c, int k, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%d", c->ip_prefix, k);
}

void sim_conf_node_path(const struct sim_conf *c, int k, const char *leaf, char *buf, size_t len)
{
	if (leaf)
		snprintf(buf, len, "%s/node%d/%s", c->dir, k, leaf);
	else
		snprintf(buf, len, "%s/node%d", c->dir, k);
}

void sim_conf_node_url(const struct sim_conf *c, int k, const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "http://%s.%d:%d%s", c->ip_prefix, k, c->http_port, path);
}

int sim_conf_parse_node(const struct sim_conf *c, const char *name)
{
	char *end;
	long k;

	if (strncmp(name, "node", 4))
		return -EINVAL;
	errno = 0;
	k = strtol(name + 4, &end, 10);
	if (errno || *end || end == name + 4 || k < 1 || k > c->nodes)
		return -EINVAL;
	return (int)k;
}
