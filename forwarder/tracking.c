/* The tracking table and the thread that keeps it (see tracking.h). */
#include "tracking.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "litefs_errors.h"
#include "log.h"
#include "role.h"
#include "sqlname.h"

/* How long a stamp waits for the write lock before it is tried again at the next look. */
#define TRACKING_BUSY_MS 100

struct fwd_tracking {
	struct fwd_tracking_opts o;
	struct fwd_role_cache role;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;   /* CLOCK_MONOTONIC */
	bool stop;
	/* the databases stamped since this node last became the primary */
	char (*stamped)[NAME_MAX + 1];
	size_t nstamped, cap;
	bool was_primary;
};

static int64_t tracking_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The errno of SQLite's outcome rc on db (the SQLite boundary of this file). */
static int tracking_errno(sqlite3 *db, int rc)
{
	int xrc = sqlite3_extended_errcode(db);

	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return -EBUSY;
	if (litefs_write_refused(xrc, sqlite3_system_errno(db)))
		return -EROFS;
	if ((rc & 0xff) == SQLITE_NOTADB)
		return -ENOTSUP;
	return -EIO;
}

int fwd_tracking_stamp(sqlite3 *db, const char *table, const char *hostname,
		       const char *endpoint, int64_t *term)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	int64_t t = 1;
	bool same = false;
	int rc, err;

	if (!sqlname_is_plain(table))
		return -EINVAL;
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return tracking_errno(db, rc);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s(id INTEGER PRIMARY KEY CHECK (id = 1), "
		 "hostname TEXT NOT NULL, endpoint TEXT NOT NULL, term INTEGER NOT NULL, "
		 "updated_ms INTEGER NOT NULL)", table);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "SELECT hostname, endpoint, term FROM %s WHERE id = 1", table);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 0);
		const char *e = (const char *)sqlite3_column_text(st, 1);

		t = sqlite3_column_int64(st, 2);
		same = h && e && !strcmp(h, hostname) && !strcmp(e, endpoint);
		if (!same)
			t++;
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto fail;
	if (!same) {
		snprintf(sql, sizeof(sql),
			 "INSERT OR REPLACE INTO %s(id, hostname, endpoint, term, updated_ms) "
			 "VALUES (1, ?1, ?2, ?3, ?4)", table);
		rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(st, 1, hostname, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, endpoint, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, t);
		sqlite3_bind_int64(st, 4, tracking_wall_ms());
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE)
			goto fail;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	if (term)
		*term = t;
	return 0;
fail:
	err = tracking_errno(db, rc);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/* Whether name, a file of the mount, may be a database: not LiteFS's or SQLite's side files,
 * a regular file, not empty (an empty file being created is not one yet, and SQLite would
 * make one of it). Its header is left to SQLite: this process must never open and close a
 * database file itself, since closing any descriptor of a file drops every POSIX lock the
 * process holds on it, its SQLite connections' included, and another process could then
 * checkpoint and delete a WAL that this one still writes to. */
static bool tracking_may_be_database(const char *mount, const char *name)
{
	static const char *const side[] = { "-journal", "-wal", "-shm", "-pos" };
	char path[PATH_MAX];
	size_t n = strlen(name), i;
	struct stat st;

	if (name[0] == '.')
		return false;
	for (i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		size_t k = strlen(side[i]);

		if (n > k && !strcmp(name + n - k, side[i]))
			return false;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", mount, name) >= sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static bool tracking_was_stamped(struct fwd_tracking *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nstamped; i++)
		if (!strcmp(t->stamped[i], name))
			return true;
	return false;
}

/* Stamps one database. Returns 0 or a negative errno. */
static int tracking_stamp_file(struct fwd_tracking *t, const char *name)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	int64_t term = 0;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", t->o.mount, name) >= sizeof(path))
		return -ENAMETOOLONG;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, TRACKING_BUSY_MS);
	rc = fwd_tracking_stamp(db, t->o.table, t->o.hostname, t->o.endpoint, &term);
	sqlite3_close(db);
	if (rc == 0) {
		if (t->nstamped == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			void *p = realloc(t->stamped, cap * sizeof(*t->stamped));

			if (!p)
				return -ENOMEM;
			t->stamped = p;
			t->cap = cap;
		}
		snprintf(t->stamped[t->nstamped++], sizeof(*t->stamped), "%s", name);
		fwd_log_info("tracking: %s names %s at %s, term %lld", name, t->o.hostname,
			     t->o.endpoint, (long long)term);
	}
	return rc;
}

/* One look: while primary, stamps the databases not stamped yet. */
static void tracking_look(struct fwd_tracking *t)
{
	struct fwd_role_info info;
	struct dirent *de;
	DIR *dir;

	if (fwd_role_get(&t->role, true, &info) || info.role != FWD_ROLE_PRIMARY) {
		if (t->was_primary)
			fwd_log_debug("tracking: not the primary any more");
		t->was_primary = false;
		t->nstamped = 0;
		return;
	}
	t->was_primary = true;
	dir = opendir(t->o.mount);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		int rc;

		if (tracking_was_stamped(t, de->d_name) ||
		    !tracking_may_be_database(t->o.mount, de->d_name))
			continue;
		rc = tracking_stamp_file(t, de->d_name);
		if (rc)
			fwd_log_debug("tracking: %s not stamped yet: %s", de->d_name,
				      strerror(-rc));
	}
	closedir(dir);
}

static void *tracking_main(void *arg)
{
	struct fwd_tracking *t = arg;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&t->mu);
		tracking_look(t);
		pthread_mutex_lock(&t->mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += t->o.interval_ms / 1000;
		ts.tv_nsec += (long)(t->o.interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!t->stop)
			pthread_cond_timedwait(&t->cond, &t->mu, &ts);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int fwd_tracking_start(const struct fwd_tracking_opts *o, struct fwd_tracking **out)
{
	struct fwd_tracking *t;
	pthread_condattr_t ca;
	int rc;

	if (!sqlname_is_plain(o->table) || o->interval_ms <= 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->o = *o;
	fwd_role_cache_init(&t->role, o->mount, 0, o->info_url);
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&t->thread, NULL, tracking_main, t);
	if (rc)
		goto fail;
	*out = t;
	return 0;
fail:
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->mu);
	fwd_role_cache_destroy(&t->role);
	free(t);
	return -rc;
}

void fwd_tracking_stop(struct fwd_tracking *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->mu);
	fwd_role_cache_destroy(&t->role);
	free(t->stamped);
	free(t);
}
