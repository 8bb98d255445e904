/* litefs-sim command line: `promote`, a failover from the current primary to another
 * node. */
#include "sim_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cli_http.h"
#include "sim_cli_proc.h"
#include "sim_conf.h"

/* The daemon waits up to 10 s for a new primary to catch up; leave it room to answer. */
#define PROMOTE_FAILOVER_TIMEOUT_MS 15000
#define PROMOTE_REQUEST_TIMEOUT_MS 5000

/* POSTs path to node k and expects 200. Returns 0 with the parsed answer in *body (when
 * body is not NULL; it may be NULL for an empty answer), or -errno after saying on stderr
 * "nodeK: WHAT failed: reason" (-EPROTO for an answer other than 200). */
static int promote_post_node(const struct sim_conf *c, int k, const char *path,
			     long timeout_ms, const char *what, json_t **body)
{
	char url[PATH_MAX];
	char reason[32];
	long status;
	json_t *answer;
	int rc;

	if (body)
		*body = NULL;
	sim_conf_node_url(c, k, path, url, sizeof(url));
	rc = sim_cli_http_json("POST", url, timeout_ms, &status, &answer);
	if (rc) {
		fprintf(stderr, "litefs-sim: node%d: %s failed: %s\n", k, what, strerror(-rc));
		return rc;
	}
	if (status != 200) {
		snprintf(reason, sizeof(reason), "HTTP status %ld", status);
		fprintf(stderr, "litefs-sim: node%d: %s failed: %s\n", k, what,
			sim_cli_http_error_text(answer, reason));
		json_decref(answer);
		return -EPROTO;
	}
	if (body)
		*body = answer;
	else
		json_decref(answer);
	return 0;
}

/* Demotes node k (the primary). Returns 0 with *wait set to its final positions as the
 * `wait` argument of /sim/promote ("a.db:12,b.db:3", to free()), or -errno after saying
 * what failed. */
static int promote_demote_primary(const struct sim_conf *c, int k, char **wait)
{
	json_t *body, *dbs, *db;
	size_t i, len;
	FILE *m;
	int rc;

	*wait = NULL;
	rc = promote_post_node(c, k, "/sim/demote", PROMOTE_FAILOVER_TIMEOUT_MS, "demote", &body);
	if (rc)
		return rc;
	dbs = json_object_get(body, "databases");
	if (!json_is_array(dbs)) {
		fprintf(stderr, "litefs-sim: node%d: demote answered without its databases\n", k);
		rc = -EPROTO;
		goto out_body;
	}
	m = open_memstream(wait, &len);
	if (!m) {
		rc = -errno;
		goto out_body;
	}
	json_array_foreach(dbs, i, db) {
		const char *name = json_string_value(json_object_get(db, "name"));
		json_t *txid = json_object_get(db, "txid");
		char *esc;

		if (!name || !json_is_integer(txid)) {
			fprintf(stderr, "litefs-sim: node%d: demote answered a malformed "
				"database\n", k);
			rc = -EPROTO;
			break;
		}
		esc = sim_cli_http_escape(name);
		if (!esc) {
			rc = -ENOMEM;
			break;
		}
		fprintf(m, "%s%s:%" JSON_INTEGER_FORMAT, i ? "," : "", esc,
			json_integer_value(txid));
		free(esc);
	}
	if (fclose(m) && !rc)
		rc = -ENOMEM;
	if (rc) {
		free(*wait);
		*wait = NULL;
	}
out_body:
	json_decref(body);
	return rc;
}

/* Makes node k primary once it has caught up with wait (NULL or "" for no wait).
 * Returns 0, or -errno after saying what failed. */
static int promote_make_primary(const struct sim_conf *c, int k, const char *wait)
{
	char *path;
	int rc;

	if (asprintf(&path, "/sim/promote%s%s", wait && *wait ? "?wait=" : "",
		     wait ? wait : "") < 0)
		return -ENOMEM;
	rc = promote_post_node(c, k, path, PROMOTE_FAILOVER_TIMEOUT_MS, "promote", NULL);
	free(path);
	return rc;
}

int sim_cli_promote(const char *dir, const char *node)
{
	char path[64];
	char *wait = NULL;
	struct sim_conf c;
	int j, k, old, rc, status = 0;
	bool demoted = false;
	pid_t pid;

	rc = sim_cli_open_node(&c, dir, node, &k);
	if (rc)
		return rc;
	old = c.primary;
	if (old == k) {
		printf("node%d is already primary\n", k);
		return 0;
	}
	if (sim_cli_proc_node_pid(&c, k, &pid)) {
		fprintf(stderr, "litefs-sim: node%d is not running; start it with "
			"`litefs-sim start-node %s node%d`\n", k, c.dir, k);
		return 1;
	}
	if (old > 0 && !sim_cli_proc_node_pid(&c, old, &pid)) {
		if (promote_demote_primary(&c, old, &wait))
			goto fail_restore;
		demoted = true;
	}
	rc = promote_make_primary(&c, k, wait);
	free(wait);
	if (rc) {
		if (demoted)
			goto fail_restore;
		return 1;
	}
	c.primary = k;
	rc = sim_conf_save(&c);
	if (rc) {
		fprintf(stderr, "litefs-sim: cannot write %s/cluster.conf: %s\n", c.dir,
			strerror(-rc));
		status = 1;
	}
	snprintf(path, sizeof(path), "/sim/follow?primary=node%d", k);
	for (j = 1; j <= c.nodes; j++) {
		if (j == k || sim_cli_proc_node_pid(&c, j, &pid))
			continue;
		if (promote_post_node(&c, j, path, PROMOTE_REQUEST_TIMEOUT_MS, "follow", NULL))
			status = 1;
	}
	printf("node%d is now primary\n", k);
	return status;
fail_restore:
	/* Without a promoted node the cluster would be left with no primary at all. */
	if (promote_make_primary(&c, old, NULL))
		fprintf(stderr, "litefs-sim: node%d could not be made primary again: the "
			"cluster has no primary\n", old);
	else
		fprintf(stderr, "litefs-sim: node%d stays primary\n", old);
	return 1;
}
