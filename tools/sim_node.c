/* The node daemon: its state, databases, commits, role changes, and main(). */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim_node.h"
#include "sim_state.h"

int64_t sim_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sim_node_name(int k, char *buf, size_t len)
{
	snprintf(buf, len, "node%d", k);
}

bool sim_node_is_self(pid_t pid)
{
	char path[64];

	if (pid == getpid())
		return true;
	snprintf(path, sizeof(path), "/proc/self/task/%ld", (long)pid);
	return access(path, F_OK) == 0;
}

static struct sim_db *node_db_open(struct sim_node *n, const char *name)
{
	char path[PATH_MAX + NAME_MAX + 8];
	struct sim_db *db = calloc(1, sizeof(*db));
	int rc;

	if (!db)
		return NULL;
	snprintf(db->name, sizeof(db->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s.log", n->ltx, name);
	rc = sim_txlog_open(&db->log, path);
	if (rc) {
		fprintf(stderr, "litefs-sim: %s: %s\n", path, strerror(-rc));
		free(db);
		return NULL;
	}
	pthread_mutex_init(&db->mu, NULL);
	return db;
}

struct sim_db *sim_node_db(struct sim_node *n, const char *name, bool create)
{
	struct sim_db *db;

	if (!name[0] || strchr(name, '/') || strlen(name) > NAME_MAX - 8)
		return NULL;
	pthread_mutex_lock(&n->mu);
	for (db = n->dbs; db; db = db->next)
		if (!strcmp(db->name, name))
			break;
	if (!db && create) {
		db = node_db_open(n, name);
		if (db) {
			db->next = n->dbs;
			n->dbs = db;
		}
	}
	pthread_mutex_unlock(&n->mu);
	return db;
}

int sim_node_commit(struct sim_node *n, struct sim_db *db, struct sim_txn *t)
{
	int rc;

	t->txid = db->log.count + 1;
	t->ts_us = sim_now_us();
	t->checksum = sim_txn_chain_checksum(db->log.last_checksum, t);
	rc = sim_txlog_append(&db->log, t);
	if (rc) {
		fprintf(stderr, "litefs-sim: %s: cannot log transaction %llu: %s\n", db->name,
			(unsigned long long)t->txid, strerror(-rc));
		return rc;
	}
	sim_events_publish_tx(n, db->name, t);
	pthread_mutex_lock(&n->mu);
	n->commit_seq++;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	return 0;
}

int sim_node_record_applied(struct sim_node *n, struct sim_db *db, const struct sim_txn *t)
{
	int rc = 0;

	if (t)
		rc = sim_txlog_append(&db->log, t);
	pthread_mutex_lock(&n->mu);
	if (!rc && t) {
		n->lag_us[n->nlag % SIM_LAG_SAMPLES] = sim_now_us() - t->ts_us;
		n->nlag++;
	}
	n->commit_seq++;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	return rc;
}

int sim_node_lag_ms(const struct sim_node *n)
{
	int64_t ms;

	if (n->role == SIM_PRIMARY)
		return 0;
	if (!n->last_sync_us)
		return INT_MAX;
	ms = (sim_now_us() - n->last_sync_us) / 1000;
	if (ms < 0)
		ms = 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Snapshot of the database list (databases are never freed while the node runs). */
static size_t node_dbs(struct sim_node *n, struct sim_db **out, size_t max)
{
	size_t count = 0;

	pthread_mutex_lock(&n->mu);
	for (struct sim_db *d = n->dbs; d && count < max; d = d->next)
		out[count++] = d;
	pthread_mutex_unlock(&n->mu);
	return count;
}

static bool node_writes_in_flight(struct sim_node *n)
{
	struct sim_db *dbs[1024];
	size_t count = node_dbs(n, dbs, 1024);
	bool busy = false;

	for (size_t i = 0; i < count && !busy; i++) {
		pthread_mutex_lock(&dbs[i]->mu);
		busy = dbs[i]->journal_active || dbs[i]->wal.txn_active;
		pthread_mutex_unlock(&dbs[i]->mu);
	}
	return busy;
}

static bool node_is_wal(struct sim_node *n, struct sim_db *db)
{
	uint8_t hdr[20];
	bool wal = false;
	int fd = openat(n->data_fd, db->name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr))
		wal = hdr[18] == 2 || hdr[19] == 2;
	close(fd);
	return wal;
}

int sim_node_demote(struct sim_node *n)
{
	struct sim_db *dbs[1024];
	size_t count;
	int64_t deadline = sim_now_us() + 5000000;

	pthread_mutex_lock(&n->mu);
	if (n->role != SIM_PRIMARY) {
		pthread_mutex_unlock(&n->mu);
		return 0;
	}
	n->gate_closed = true;
	pthread_mutex_unlock(&n->mu);
	/* Transactions already writing may finish; no new one starts. */
	while (node_writes_in_flight(n) && sim_now_us() < deadline)
		usleep(1000);
	count = node_dbs(n, dbs, 1024);
	for (size_t i = 0; i < count; i++)
		if (node_is_wal(n, dbs[i]))
			sim_apply_checkpoint(n, dbs[i]);
	pthread_mutex_lock(&n->apply_mu);
	pthread_mutex_lock(&n->mu);
	n->role = SIM_REPLICA;
	n->follow = 0;
	n->visible_primary = 0;
	n->connected = false;
	n->gate_closed = false;
	n->last_sync_us = 0;
	n->role_epoch++;
	sim_events_publish_role(n);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	pthread_mutex_unlock(&n->apply_mu);
	return 0;
}

/* Whether every "name:txid" of spec has been reached. Returns 1, 0, or -EINVAL. */
static int node_reached(struct sim_node *n, const char *spec)
{
	const char *p = spec;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[NAME_MAX + 32], *colon;
		unsigned long long want;
		struct sim_db *db;
		uint64_t have = 0;

		if (len >= sizeof(item))
			return -EINVAL;
		memcpy(item, p, len);
		item[len] = '\0';
		colon = strrchr(item, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		want = strtoull(colon + 1, NULL, 10);
		db = sim_node_db(n, item, false);
		if (db) {
			pthread_mutex_lock(&db->mu);
			have = db->log.count;
			pthread_mutex_unlock(&db->mu);
		}
		if (have < want)
			return 0;
		p += len;
		if (*p == ',')
			p++;
	}
	return 1;
}

int sim_node_promote(struct sim_node *n, const char *wait_spec, int timeout_ms)
{
	int64_t deadline = sim_now_us() + (int64_t)timeout_ms * 1000;
	struct sim_db *dbs[1024];
	size_t count;
	int r;

	while ((r = node_reached(n, wait_spec)) == 0) {
		if (sim_now_us() >= deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
	if (r < 0)
		return r;
	pthread_mutex_lock(&n->apply_mu);
	pthread_mutex_lock(&n->mu);
	if (n->role == SIM_PRIMARY) {
		pthread_mutex_unlock(&n->mu);
		pthread_mutex_unlock(&n->apply_mu);
		return 0;
	}
	n->role = SIM_PRIMARY;
	n->follow = 0;
	n->visible_primary = 0;
	n->connected = false;
	n->role_epoch++;
	pthread_mutex_unlock(&n->mu);
	count = node_dbs(n, dbs, 1024);
	for (size_t i = 0; i < count; i++) {
		pthread_mutex_lock(&dbs[i]->mu);
		sim_track_wal_reset(dbs[i]);
		dbs[i]->journal_active = false;
		pthread_mutex_unlock(&dbs[i]->mu);
	}
	pthread_mutex_lock(&n->mu);
	sim_events_publish_role(n);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	pthread_mutex_unlock(&n->apply_mu);
	return 0;
}

int sim_node_follow(struct sim_node *n, int k)
{
	int rc;

	if (k == n->k)
		return -EINVAL;
	pthread_mutex_lock(&n->mu);
	if (n->role == SIM_PRIMARY) {
		pthread_mutex_unlock(&n->mu);
		rc = sim_node_demote(n);
		if (rc)
			return rc;
		pthread_mutex_lock(&n->mu);
	}
	if (n->follow != k) {
		n->follow = k;
		n->role_epoch++;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->mu);
	return 0;
}

/* Rewrites the backing file of db, at path, from its log, and removes its WAL, shared
 * memory and journal files: the file then holds exactly the transactions of the log,
 * whatever the node was doing when it stopped (a commit written but not yet logged, a
 * checkpoint half done, a hot journal). Returns 0 or -errno. */
static int node_restore_db(struct sim_node *n, struct sim_db *db, const char *path)
{
	static const char *const side[] = { "-wal", "-shm", "-journal" };
	char tmp[PATH_MAX + NAME_MAX + 16], other[PATH_MAX + NAME_MAX + 16];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s/.%s.restore", n->data, db->name);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = sim_txlog_materialize(&db->log, fd);
	close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		fprintf(stderr, "litefs-sim: cannot restore %s from its log: %s\n", path,
			strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		snprintf(other, sizeof(other), "%s%s", path, side[i]);
		if (unlink(other) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Brings the backing files to a clean state before the mount exists: rebuilds every
 * database that has a log from it, then rolls back hot journals and checkpoints WALs
 * (SQLite on the backing files), registers every database, and on the primary logs a
 * database that has content but no log yet. */
static int node_load(struct sim_node *n)
{
	DIR *d = opendir(n->data);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char base[NAME_MAX + 1], path[PATH_MAX + NAME_MAX + 8];
		struct sim_db *db;
		sqlite3 *conn = NULL;

		if (de->d_type != DT_REG ||
		    sim_file_classify(de->d_name, base, sizeof(base)) != SIM_F_DB)
			continue;
		snprintf(path, sizeof(path), "%s/%s", n->data, de->d_name);
		db = sim_node_db(n, de->d_name, true);
		if (db && db->log.count) {
			int rc = node_restore_db(n, db, path);

			if (rc) {
				closedir(d);
				return rc;
			}
		}
		/* SQLite recovers what is left (a hot journal, a WAL) and, in WAL mode, makes
		 * the shared memory anew, with the header every reader and the replication
		 * of the next transactions go by */
		if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
			sqlite3_exec(conn, "SELECT count(*) FROM sqlite_schema;"
				     "PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
		}
		sqlite3_close_v2(conn);
		if (!db)
			continue;
		if (n->role == SIM_PRIMARY && db->log.count == 0) {
			pthread_mutex_lock(&db->mu);
			sim_track_snapshot(n, db);
			pthread_mutex_unlock(&db->mu);
		}
	}
	closedir(d);
	/* logs of databases whose file is gone (a replica that never received the file) */
	d = opendir(n->ltx);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char name[NAME_MAX + 1];

		if (len > 4 && !strcmp(de->d_name + len - 4, ".log")) {
			snprintf(name, sizeof(name), "%.*s", (int)(len - 4), de->d_name);
			sim_node_db(n, name, true);
		}
	}
	closedir(d);
	return 0;
}

static int node_mkdir(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

struct node_signals {
	struct sim_node *n;
	sigset_t set;
	pthread_t repl;
	bool repl_started;
};

/* Waits for SIGTERM, SIGINT or SIGHUP (blocked in every other thread), then stops the node
 * in order: replication first, while the mount still serves its file operations, then the
 * FUSE loop. */
static void *node_signal_thread(void *arg)
{
	struct node_signals *s = arg;
	struct sim_node *n = s->n;
	int sig;

	while (sigwait(&s->set, &sig))
		;
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	n->role_epoch++;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	sim_events_wake_all(n);
	if (s->repl_started)
		pthread_join(s->repl, NULL);
	s->repl_started = false;
	sim_fs_stop(n);
	return NULL;
}

int sim_node_main(const char *dir, int k)
{
	struct sim_node *n = calloc(1, sizeof(*n));
	struct node_signals sigs = {.n = n};
	struct MHD_Daemon *http = NULL;
	pthread_t sigthr;
	int rc, status = 1;

	if (!n)
		return 1;
	/* Every thread started from here on inherits this mask. */
	sigemptyset(&sigs.set);
	sigaddset(&sigs.set, SIGTERM);
	sigaddset(&sigs.set, SIGINT);
	sigaddset(&sigs.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs.set, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = sim_conf_load(&n->conf, dir);
	if (rc) {
		fprintf(stderr, "litefs-sim: %s: cannot read cluster.conf: %s\n", dir, strerror(-rc));
		goto out_free;
	}
	if (k < 1 || k > n->conf.nodes) {
		fprintf(stderr, "litefs-sim: no node%d in %s\n", k, dir);
		goto out_free;
	}
	n->k = k;
	sim_node_name(k, n->name, sizeof(n->name));
	sim_conf_node_path(&n->conf, k, "mnt", n->mnt, sizeof(n->mnt));
	sim_conf_node_path(&n->conf, k, "data", n->data, sizeof(n->data));
	sim_conf_node_path(&n->conf, k, "ltx", n->ltx, sizeof(n->ltx));
	{
		char top[PATH_MAX];

		sim_conf_node_path(&n->conf, k, NULL, top, sizeof(top));
		rc = node_mkdir(top);
	}
	if (rc || (rc = node_mkdir(n->data)) || (rc = node_mkdir(n->ltx)) || (rc = node_mkdir(n->mnt))) {
		fprintf(stderr, "litefs-sim: cannot make node directories: %s\n", strerror(-rc));
		goto out_free;
	}
	n->data_fd = open(n->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (n->data_fd < 0) {
		fprintf(stderr, "litefs-sim: %s: %s\n", n->data, strerror(errno));
		goto out_free;
	}
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cond, NULL);
	pthread_mutex_init(&n->apply_mu, NULL);
	if (n->conf.primary == k) {
		n->role = SIM_PRIMARY;
	} else {
		n->role = SIM_REPLICA;
		n->follow = n->conf.primary;
		n->visible_primary = n->conf.primary;
	}
	rc = sim_events_init(n);
	if (rc)
		goto out_fd;
	rc = node_load(n);
	if (rc) {
		fprintf(stderr, "litefs-sim: cannot load %s: %s\n", n->data, strerror(-rc));
		goto out_events;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	http = sim_http_start(n);
	if (!http) {
		fprintf(stderr, "litefs-sim: node%d: cannot serve HTTP on %s.%d:%d\n", k,
			n->conf.ip_prefix, k, n->conf.http_port);
		goto out_curl;
	}
	if (pthread_create(&sigs.repl, NULL, sim_repl_thread, n) == 0)
		sigs.repl_started = true;
	if (pthread_create(&sigthr, NULL, node_signal_thread, &sigs)) {
		fprintf(stderr, "litefs-sim: node%d: cannot start: %s\n", k, strerror(errno));
		goto out_http;
	}
	fprintf(stderr, "litefs-sim: node%d %s, mount %s\n", k,
		n->role == SIM_PRIMARY ? "primary" : "replica", n->mnt);
	rc = sim_fs_run(n);
	if (rc)
		fprintf(stderr, "litefs-sim: node%d: FUSE: %s\n", k, strerror(-rc));
	else
		status = 0;
	/* Ended by a signal, or by an unmount from outside: either way the signal thread
	 * finishes the job. */
	pthread_kill(sigthr, SIGTERM);
	pthread_join(sigthr, NULL);
out_http:
	if (sigs.repl_started) {
		pthread_mutex_lock(&n->mu);
		n->stopping = true;
		pthread_cond_broadcast(&n->cond);
		pthread_mutex_unlock(&n->mu);
		pthread_join(sigs.repl, NULL);
	}
	MHD_stop_daemon(http);
out_curl:
	curl_global_cleanup();
out_events:
	while (n->dbs) {
		struct sim_db *db = n->dbs;

		n->dbs = db->next;
		sim_txlog_close(&db->log);
		free(db->dirty);
		pthread_mutex_destroy(&db->mu);
		free(db);
	}
	sim_events_free(n);
out_fd:
	close(n->data_fd);
out_free:
	free(n);
	return status;
}
