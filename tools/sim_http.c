/* The node's HTTP API with libmicrohttpd, one thread per connection (event and replication
 * streams block between messages): LiteFS's /info and /events, the replication stream
 * /stream, and the stand-in's own control endpoints under /sim/. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_state.h"

static enum MHD_Result http_send(struct MHD_Connection *c, unsigned int code, const char *type,
				 const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result http_json(struct MHD_Connection *c, unsigned int code, const char *body)
{
	return http_send(c, code, "application/json", body);
}

static enum MHD_Result http_stream(struct MHD_Connection *c, struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return http_json(c, 500, "{\"error\":\"out of memory\"}\n");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void http_info(struct sim_node *n, char *buf, size_t len)
{
	char path[2 * PATH_MAX + 8];

	sim_json_quote(path, sizeof(path), n->mnt);
	pthread_mutex_lock(&n->mu);
	if (n->role == SIM_PRIMARY || !n->visible_primary) {
		snprintf(buf, len,
			 "{\"clusterID\":\"%s\",\"isPrimary\":%s,\"candidate\":true,\"path\":%s}\n",
			 n->conf.cluster_id, n->role == SIM_PRIMARY ? "true" : "false", path);
	} else {
		char host[16];

		sim_node_name(n->visible_primary, host, sizeof(host));
		snprintf(buf, len,
			 "{\"clusterID\":\"%s\",\"isPrimary\":false,\"candidate\":true,\"path\":%s,"
			 "\"primary\":{\"hostname\":\"%s\"}}\n",
			 n->conf.cluster_id, path, host);
	}
	pthread_mutex_unlock(&n->mu);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The /sim/status document. Returns a malloc'd string or NULL. */
static char *http_status(struct sim_node *n)
{
	int64_t samples[SIM_LAG_SAMPLES];
	size_t cap = 4096, len = 0, ns;
	struct sim_db *dbs[1024];
	size_t ndb = 0;
	char host[16], prim[16] = "";
	char *out = malloc(cap);
	int lag;
	bool connected;
	const char *role;

	if (!out)
		return NULL;
	pthread_mutex_lock(&n->mu);
	role = n->role == SIM_PRIMARY ? "primary" : "replica";
	if (n->role == SIM_PRIMARY)
		sim_node_name(n->k, prim, sizeof(prim));
	else if (n->visible_primary)
		sim_node_name(n->visible_primary, prim, sizeof(prim));
	connected = n->role == SIM_PRIMARY || n->connected;
	lag = sim_node_lag_ms(n);
	ns = n->nlag < SIM_LAG_SAMPLES ? n->nlag : SIM_LAG_SAMPLES;
	memcpy(samples, n->lag_us, ns * sizeof(samples[0]));
	for (struct sim_db *d = n->dbs; d && ndb < 1024; d = d->next)
		dbs[ndb++] = d;
	pthread_mutex_unlock(&n->mu);
	qsort(samples, ns, sizeof(samples[0]), cmp_i64);
	sim_node_name(n->k, host, sizeof(host));
	len += (size_t)snprintf(out + len, cap - len,
		"{\"name\":\"%s\",\"role\":\"%s\",\"primary\":\"%s\",\"connected\":%s,\"lag_ms\":%d,"
		"\"lag_p50_us\":%lld,\"lag_p99_us\":%lld,\"lag_samples\":%zu,\"databases\":[",
		host, role, prim, connected ? "true" : "false", lag,
		(long long)(ns ? samples[ns / 2] : 0), (long long)(ns ? samples[(ns * 99) / 100] : 0),
		ns);
	for (size_t i = 0; i < ndb; i++) {
		char name[6 * NAME_MAX + 8];
		unsigned long long txid, cks;

		pthread_mutex_lock(&dbs[i]->mu);
		txid = dbs[i]->log.count;
		cks = dbs[i]->log.last_checksum;
		pthread_mutex_unlock(&dbs[i]->mu);
		sim_json_quote(name, sizeof(name), dbs[i]->name);
		if (cap - len < sizeof(name) + 128) {
			char *nb;

			cap = cap * 2 + sizeof(name) + 128;
			nb = realloc(out, cap);
			if (!nb) {
				free(out);
				return NULL;
			}
			out = nb;
		}
		len += (size_t)snprintf(out + len, cap - len,
			"%s{\"name\":%s,\"txid\":%llu,\"checksum\":\"%016llx\"}", i ? "," : "", name,
			txid, cks);
	}
	snprintf(out + len, cap - len, "]}\n");
	return out;
}

/* The positions of every database as {"databases":[{"name":..,"txid":..}]}. */
static char *http_positions(struct sim_node *n)
{
	char *s = http_status(n), *p;

	if (!s)
		return NULL;
	p = strstr(s, "\"databases\":");
	if (p) {
		memmove(s + 1, p, strlen(p) + 1);
		s[0] = '{';
	}
	return s;
}

static enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **state)
{
	static int first_call;
	struct sim_node *n = cls;
	bool post = !strcmp(method, "POST");
	char buf[2 * PATH_MAX + 256];
	int rc;

	(void)version;
	(void)upload;
	if (post && *state == NULL) {
		*state = &first_call;
		return MHD_YES;
	}
	if (post && *upload_size) {
		*upload_size = 0; /* bodies are ignored: arguments come in the query */
		return MHD_YES;
	}
	if (!post && strcmp(method, "GET") && strcmp(method, "HEAD"))
		return http_json(c, 405, "{\"error\":\"method not allowed\"}\n");
	if (!post && !strcmp(url, "/info")) {
		http_info(n, buf, sizeof(buf));
		return http_json(c, 200, buf);
	}
	if (!post && !strcmp(url, "/events"))
		return http_stream(c, sim_events_response(n));
	if (!post && !strcmp(url, "/stream")) {
		const char *pos = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pos");
		bool primary;

		pthread_mutex_lock(&n->mu);
		primary = n->role == SIM_PRIMARY && !n->gate_closed;
		pthread_mutex_unlock(&n->mu);
		if (!primary)
			return http_json(c, 503, "{\"error\":\"not primary\"}\n");
		return http_stream(c, sim_repl_response(n, pos ? pos : ""));
	}
	if (!post && !strcmp(url, "/sim/status")) {
		char *s = http_status(n);
		enum MHD_Result ret;

		if (!s)
			return http_json(c, 500, "{\"error\":\"out of memory\"}\n");
		ret = http_json(c, 200, s);
		free(s);
		return ret;
	}
	if (post && !strcmp(url, "/sim/demote")) {
		char *s;
		enum MHD_Result ret;

		rc = sim_node_demote(n);
		if (rc) {
			snprintf(buf, sizeof(buf), "{\"error\":\"%s\"}\n", strerror(-rc));
			return http_json(c, 500, buf);
		}
		s = http_positions(n);
		if (!s)
			return http_json(c, 500, "{\"error\":\"out of memory\"}\n");
		ret = http_json(c, 200, s);
		free(s);
		return ret;
	}
	if (post && !strcmp(url, "/sim/promote")) {
		const char *wait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");

		rc = sim_node_promote(n, wait ? wait : "", 10000);
		if (rc == -ETIMEDOUT)
			return http_json(c, 504, "{\"error\":\"could not catch up with the old primary\"}\n");
		if (rc) {
			snprintf(buf, sizeof(buf), "{\"error\":\"%s\"}\n", strerror(-rc));
			return http_json(c, 400, buf);
		}
		return http_json(c, 200, "{\"ok\":true}\n");
	}
	if (post && !strcmp(url, "/sim/follow")) {
		const char *p = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "primary");
		int k = p ? sim_conf_parse_node(&n->conf, p) : -EINVAL;

		rc = k < 0 ? k : sim_node_follow(n, k);
		if (rc) {
			snprintf(buf, sizeof(buf), "{\"error\":\"%s\"}\n", strerror(-rc));
			return http_json(c, 400, buf);
		}
		return http_json(c, 200, "{\"ok\":true}\n");
	}
	return http_json(c, 404, "{\"error\":\"not found\"}\n");
}

struct MHD_Daemon *sim_http_start(struct sim_node *n)
{
	struct sockaddr_in sa;
	char addr[40];

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)n->conf.http_port);
	sim_conf_node_addr(&n->conf, n->k, addr, sizeof(addr));
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return NULL;
	return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_ERROR_LOG,
				(uint16_t)n->conf.http_port, NULL, NULL, http_handle, n,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_TIMEOUT, 0, MHD_OPTION_END);
}
