/* The tracking table, read through the real SQLite API on a connection of our own. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "guard.h"
#include "log.h"
#include "real.h"
#include "tracking.h"

/* A table the primary has not stamped yet is read again after this long. */
#define TRACKING_REREAD_MS 250
/* Files whose last read time is kept. */
#define TRACKING_FILES 16

struct tracking_read {
	char file[256];
	int64_t at_ns;
};

static pthread_mutex_t tracking_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tracking_read tracking_reads[TRACKING_FILES];
static unsigned tracking_next;

/* Whether file is due for a read (and marks it read now). */
static bool tracking_due(const char *file)
{
	int64_t now = role_now_ns();
	struct tracking_read *r = NULL;
	bool due = true;
	unsigned i;

	pthread_mutex_lock(&tracking_mu);
	for (i = 0; i < TRACKING_FILES && !r; i++)
		if (!strcmp(tracking_reads[i].file, file))
			r = &tracking_reads[i];
	if (r)
		due = now - r->at_ns >= (int64_t)TRACKING_REREAD_MS * 1000000;
	else {
		r = &tracking_reads[tracking_next++ % TRACKING_FILES];
		snprintf(r->file, sizeof(r->file), "%s", file);
	}
	if (due)
		r->at_ns = now;
	pthread_mutex_unlock(&tracking_mu);
	return due;
}

/* Reads the row of file's table into the role view. Returns 0, -ENOENT when there is no
 * row (or no table), or -EIO. */
static int tracking_read_file(const char *file)
{
	char path[PATH_MAX + 300], sql[160];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	snprintf(path, sizeof(path), "%s/%s", fwd_config.mount, file);
	snprintf(sql, sizeof(sql), "SELECT hostname, endpoint, term FROM %s WHERE id = 1",
		 fwd_config.table);
	guard_depth++;
	if (real_sqlite.open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	if (real_sqlite.prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = -ENOENT; /* no such table: not stamped yet */
		goto out;
	}
	if (real_sqlite.step(st) == SQLITE_ROW) {
		const char *h = (const char *)real_sqlite.column_text(st, 0);
		const char *e = (const char *)real_sqlite.column_text(st, 1);
		int64_t term = real_sqlite.column_int64(st, 2);

		if (h && e) {
			log_debug("tracking: %s names %s at %s, term %lld", file, h, e,
				  (long long)term);
			role_note_tracking(h, e, term);
			rc = 0;
		}
	} else {
		rc = -ENOENT;
	}
out:
	if (st)
		real_sqlite.finalize(st);
	if (db)
		real_sqlite.close(db);
	guard_depth--;
	return rc;
}

void tracking_resolve(struct role_view *v, const char *file)
{
	int saved = errno;

	if (!v->replica || v->source != ROLE_EP_TEMPLATE || !fwd_config.table[0] || !file[0] ||
	    !tracking_due(file))
		return;
	if (tracking_read_file(file) == 0)
		role_get(v, false);
	errno = saved;
}
