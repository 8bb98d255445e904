/* litefs-sim command line: `status`, the state of every node of a cluster as a table or
 * as one JSON object. */
#include "sim_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cli_http.h"
#include "sim_cli_proc.h"
#include "sim_conf.h"

#define STATUS_TIMEOUT_MS 2000

/* What is known of one node. */
struct status_node {
	pid_t pid;       /* 0 when stopped */
	json_t *st;      /* its /sim/status answer; NULL when stopped or not answering */
	char error[96];  /* why st is NULL although the node runs */
};

/* Replication lag of the cluster: the worst replica's percentiles. */
struct status_lag {
	double p50_us;
	double p99_us;
	long long samples;
};

/* Every database that some node lists, sorted by name. */
struct status_dbs {
	const char **names;  /* borrowed from the nodes' answers */
	size_t n;
};

int sim_cli_status_db_txid(const json_t *status, const char *db, long long *txid)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(status, "databases"), i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		json_t *t = json_object_get(e, "txid");

		if (name && !strcmp(name, db) && json_is_integer(t)) {
			*txid = json_integer_value(t);
			return 0;
		}
	}
	return -ENOENT;
}

/* Fills n[0..c->nodes) with what each node says of itself; a node that runs but does
 * not answer gets the reason in its error. */
static void status_query_nodes(const struct sim_conf *c, struct status_node *n)
{
	char url[128];
	long code;
	int k, rc;

	for (k = 1; k <= c->nodes; k++) {
		struct status_node *sn = &n[k - 1];

		if (sim_cli_proc_node_pid(c, k, &sn->pid)) {
			sn->pid = 0;
			continue;
		}
		sim_conf_node_url(c, k, "/sim/status", url, sizeof(url));
		rc = sim_cli_http_json("GET", url, STATUS_TIMEOUT_MS, &code, &sn->st);
		if (rc) {
			snprintf(sn->error, sizeof(sn->error), "%s", strerror(-rc));
		} else if (code != 200 || !json_is_object(sn->st)) {
			snprintf(sn->error, sizeof(sn->error),
				 "/sim/status answered HTTP status %ld%s", code,
				 code == 200 ? " without a JSON object" : "");
			json_decref(sn->st);
			sn->st = NULL;
		}
	}
}

static int status_cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects the names of the databases that the nodes list. Returns 0 or -ENOMEM. */
static int status_collect_dbs(const struct sim_conf *c, const struct status_node *n,
			      struct status_dbs *d)
{
	const char **grown;
	size_t i, j, cap = 0;
	json_t *e;
	int k;

	d->names = NULL;
	d->n = 0;
	for (k = 0; k < c->nodes; k++) {
		json_array_foreach(json_object_get(n[k].st, "databases"), i, e) {
			const char *name = json_string_value(json_object_get(e, "name"));

			if (!name)
				continue;
			for (j = 0; j < d->n && strcmp(d->names[j], name); j++)
				;
			if (j < d->n)
				continue;
			if (d->n == cap) {
				cap = cap ? cap * 2 : 8;
				grown = realloc(d->names, cap * sizeof(*grown));
				if (!grown)
					return -ENOMEM;
				d->names = grown;
			}
			d->names[d->n++] = name;
		}
	}
	if (d->n)
		qsort(d->names, d->n, sizeof(*d->names), status_cmp_names);
	return 0;
}

/* The lag over the nodes that measured some: the highest p50 and p99 among them, over
 * the largest number of transactions one of them measured. */
static void status_sum_lag(const struct sim_conf *c, const struct status_node *n,
			   struct status_lag *lag)
{
	json_t *samples;
	double v;
	int k;

	memset(lag, 0, sizeof(*lag));
	for (k = 0; k < c->nodes; k++) {
		samples = json_object_get(n[k].st, "lag_samples");
		if (!json_is_integer(samples) || json_integer_value(samples) <= 0)
			continue;
		if (json_integer_value(samples) > lag->samples)
			lag->samples = json_integer_value(samples);
		v = json_number_value(json_object_get(n[k].st, "lag_p50_us"));
		if (v > lag->p50_us)
			lag->p50_us = v;
		v = json_number_value(json_object_get(n[k].st, "lag_p99_us"));
		if (v > lag->p99_us)
			lag->p99_us = v;
	}
}

/* Formats a JSON string, number or boolean of a node's answer for the table; "-" when
 * it is absent or empty. */
static const char *status_cell(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v) && *json_string_value(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.1f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, len, "-");
	return buf;
}

static void status_print_text(const struct sim_conf *c, const struct status_node *n,
			      const struct status_dbs *d, const struct status_lag *lag)
{
	char name[16], b1[32], b2[32], b3[32], b4[32];
	int k, width = (int)strlen("DATABASE");
	long long txid;
	size_t i;

	printf("%-6s %-8s %-8s %-8s %-9s %s\n", "NODE", "STATE", "ROLE", "PRIMARY", "CONNECTED",
	       "LAG_MS");
	for (k = 1; k <= c->nodes; k++) {
		const json_t *st = n[k - 1].st;

		snprintf(name, sizeof(name), "node%d", k);
		printf("%-6s %-8s %-8s %-8s %-9s %s\n", name, n[k - 1].pid ? "running" : "stopped",
		       status_cell(json_object_get(st, "role"), b2, sizeof(b2)),
		       status_cell(json_object_get(st, "primary"), b3, sizeof(b3)),
		       status_cell(json_object_get(st, "connected"), b4, sizeof(b4)),
		       status_cell(json_object_get(st, "lag_ms"), b1, sizeof(b1)));
	}
	for (i = 0; i < d->n; i++)
		if ((int)strlen(d->names[i]) > width)
			width = (int)strlen(d->names[i]);
	/* Columns are padded but the last, so that no line ends in blanks. */
	printf("%-*s", width, "DATABASE");
	for (k = 1; k <= c->nodes; k++) {
		snprintf(name, sizeof(name), "node%d", k);
		printf(" %-*s", k < c->nodes ? 8 : 0, name);
	}
	printf("\n");
	for (i = 0; i < d->n; i++) {
		printf("%-*s", width, d->names[i]);
		for (k = 1; k <= c->nodes; k++) {
			if (sim_cli_status_db_txid(n[k - 1].st, d->names[i], &txid))
				snprintf(b1, sizeof(b1), "-");
			else
				snprintf(b1, sizeof(b1), "%lld", txid);
			printf(" %-*s", k < c->nodes ? 8 : 0, b1);
		}
		printf("\n");
	}
	if (lag->samples)
		printf("replication lag: p50 %.1f ms, p99 %.1f ms over %lld transactions\n",
		       lag->p50_us / 1000, lag->p99_us / 1000, lag->samples);
	else
		printf("replication lag: no transaction replicated yet\n");
}

/* Copies member key of a node's answer, or null when the node did not give it. */
static json_t *status_member(const json_t *st, const char *key)
{
	json_t *v = json_object_get(st, key);

	return v ? json_deep_copy(v) : json_null();
}

/* Builds the JSON form of the status. Returns a new object, or NULL without memory. */
static json_t *status_build_json(const struct sim_conf *c, const struct status_node *n,
				 const struct status_dbs *d, const struct status_lag *lag)
{
	static const char *const keys[] = { "role", "primary", "connected", "lag_ms",
					    "lag_p50_us", "lag_p99_us", "lag_samples" };
	json_t *root, *nodes, *dbs, *node, *txids, *db, *lag_obj;
	long long txid;
	size_t i, j;
	int k;

	root = json_object();
	nodes = json_array();
	dbs = json_array();
	lag_obj = json_object();
	if (!root || !nodes || !dbs || !lag_obj)
		goto fail;
	json_object_set_new(root, "dir", json_string(c->dir));
	json_object_set_new(root, "primary",
			    c->primary ? json_sprintf("node%d", c->primary) : json_null());
	for (k = 1; k <= c->nodes; k++) {
		const struct status_node *sn = &n[k - 1];

		node = json_object();
		if (!node)
			goto fail;
		json_array_append_new(nodes, node);
		json_object_set_new(node, "name", json_sprintf("node%d", k));
		json_object_set_new(node, "state", json_string(sn->pid ? "running" : "stopped"));
		json_object_set_new(node, "pid", sn->pid ? json_integer(sn->pid) : json_null());
		for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			json_object_set_new(node, keys[j], status_member(sn->st, keys[j]));
		json_object_set_new(node, "databases", sn->st ?
				    status_member(sn->st, "databases") : json_array());
		if (sn->pid && !sn->st)
			json_object_set_new(node, "error", json_string(sn->error));
	}
	for (i = 0; i < d->n; i++) {
		db = json_object();
		txids = json_object();
		if (!db || !txids) {
			json_decref(db);
			json_decref(txids);
			goto fail;
		}
		json_array_append_new(dbs, db);
		json_object_set_new(db, "name", json_string(d->names[i]));
		json_object_set_new(db, "txid", txids);
		for (k = 1; k <= c->nodes; k++) {
			char name[16];

			snprintf(name, sizeof(name), "node%d", k);
			if (sim_cli_status_db_txid(n[k - 1].st, d->names[i], &txid))
				json_object_set_new(txids, name, json_null());
			else
				json_object_set_new(txids, name, json_integer(txid));
		}
	}
	json_object_set_new(lag_obj, "p50_ms",
			    lag->samples ? json_real(lag->p50_us / 1000) : json_null());
	json_object_set_new(lag_obj, "p99_ms",
			    lag->samples ? json_real(lag->p99_us / 1000) : json_null());
	json_object_set_new(lag_obj, "samples", json_integer(lag->samples));
	json_object_set_new(root, "nodes", nodes);
	json_object_set_new(root, "databases", dbs);
	json_object_set_new(root, "lag", lag_obj);
	return root;
fail:
	json_decref(lag_obj);
	json_decref(dbs);
	json_decref(nodes);
	json_decref(root);
	return NULL;
}

int sim_cli_status(const char *dir, bool json)
{
	struct status_node n[SIM_MAX_NODES];
	struct status_dbs d = { 0 };
	struct status_lag lag;
	struct sim_conf c;
	json_t *root;
	int k, status = 0;

	if (sim_cli_load_conf(&c, dir))
		return 1;
	memset(n, 0, sizeof(n));
	status_query_nodes(&c, n);
	if (status_collect_dbs(&c, n, &d)) {
		fprintf(stderr, "litefs-sim: out of memory\n");
		status = 1;
		goto out_free;
	}
	status_sum_lag(&c, n, &lag);
	if (!json) {
		for (k = 1; k <= c.nodes; k++)
			if (n[k - 1].pid && !n[k - 1].st)
				fprintf(stderr, "litefs-sim: node%d runs (pid %ld) but its "
					"status is unknown: %s\n", k, (long)n[k - 1].pid,
					n[k - 1].error);
		status_print_text(&c, n, &d, &lag);
		goto out_free;
	}
	root = status_build_json(&c, n, &d, &lag);
	if (!root || json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) ||
	    fputc('\n', stdout) == EOF) {
		fprintf(stderr, "litefs-sim: cannot write the status\n");
		status = 1;
	}
	json_decref(root);
out_free:
	free(d.names);
	for (k = 0; k < c.nodes; k++)
		json_decref(n[k].st);
	return status;
}
