/* The tracking table: while this node is the primary, its forwarder records in every
 * database of the mount who it is and where it listens,
 *
 *   CREATE TABLE <table>(id INTEGER PRIMARY KEY CHECK (id = 1), hostname TEXT NOT NULL,
 *                        endpoint TEXT NOT NULL, term INTEGER NOT NULL,
 *                        updated_ms INTEGER NOT NULL)
 *
 * one row, replicated by LiteFS like any other. A replica that finds the primary's
 * hostname in .primary reads the endpoint there, which works where the hostname does not
 * resolve. The term grows by one each time another node (or another endpoint) takes the
 * row over, so that a replica can tell newer information from older. */
#ifndef FWD_TRACKING_H
#define FWD_TRACKING_H

#include <sqlite3.h>
#include <stdint.h>


/* Makes db's row name hostname at endpoint, in one IMMEDIATE transaction: kept as it is
 * (term unchanged) when it already does, else written with the term after the row's (1
 * for a new table). *term (may be NULL) gets the row's term. Returns 0, -EBUSY when the
 * write lock is taken, -EROFS when LiteFS refused the write (not the primary), -EINVAL
 * for a table name that is not plain (sqlname_is_plain()), -ENOTSUP when the file is not a
 * database, or -EIO. */
int fwd_tracking_stamp(sqlite3 *db, const char *table, const char *hostname,
		       const char *endpoint, int64_t *term);

struct fwd_tracking_opts {
	const char *mount;      /* the LiteFS mount */
	const char *table;      /* non-empty */
	const char *hostname;   /* this node's, as LiteFS names it */
	const char *endpoint;   /* where replicas reach this forwarder */
	const char *info_url;   /* LiteFS's /info, NULL or "" for none (see role.h) */
	int interval_ms;        /* how often the role and the mount are looked at */
};

struct fwd_tracking;

/* Starts the thread that, every interval_ms while this node is the primary, stamps each
 * database of the mount it has not stamped since it became the primary. The strings of o
 * must outlive it. Returns 0 with *out set, or a negative errno. */
int fwd_tracking_start(const struct fwd_tracking_opts *o, struct fwd_tracking **out);

/* Stops the thread and frees t. */
void fwd_tracking_stop(struct fwd_tracking *t);

#endif
