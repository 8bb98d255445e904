/* The record of executed requests, read through the real SQLite API on a connection of
 * our own. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "guard.h"
#include "log.h"
#include "real.h"
#include "record.h"
#include "wire.h"

/* A wal-index being rebuilt holds readers back briefly; longer means the node is in
 * trouble, and the statement's outcome is reported unknown. */
#define RECORD_BUSY_MS 2000

int record_lookup(const char *file, uint64_t id, void **reply, size_t *len)
{
	char path[PATH_MAX + 300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int saved = errno, rc = -EIO, step;

	*reply = NULL;
	*len = 0;
	snprintf(path, sizeof(path), "%s/%s", fwd_config.mount, file);
	guard_depth++;
	if (real_sqlite.open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	real_sqlite.busy_timeout(db, RECORD_BUSY_MS);
	if (real_sqlite.prepare_v2(db, "SELECT reply FROM " WIRE_RECORD_TABLE " WHERE id = ?1",
				   -1, &st, NULL) != SQLITE_OK) {
		/* no such table: no forwarder ever recorded a request in this database */
		if (strstr(real_sqlite.errmsg(db), "no such table"))
			rc = 0;
		goto out;
	}
	real_sqlite.bind_int64(st, 1, (sqlite3_int64)id);
	step = real_sqlite.step(st);
	if (step == SQLITE_DONE) {
		rc = 0;
	} else if (step == SQLITE_ROW) {
		const void *p = real_sqlite.column_blob(st, 0);
		int n = real_sqlite.column_bytes(st, 0);

		if (p && n > 0 && (*reply = malloc((size_t)n))) {
			memcpy(*reply, p, (size_t)n);
			*len = (size_t)n;
			rc = 1;
		}
	}
out:
	if (rc < 0)
		log_warn("the record of request %llu in %s cannot be read: %s",
			 (unsigned long long)id, file,
			 db ? real_sqlite.errmsg(db) : "cannot open the database");
	if (st)
		real_sqlite.finalize(st);
	if (db)
		real_sqlite.close(db);
	guard_depth--;
	errno = saved;
	return rc;
}
