/* State of one litefs-sim node daemon, shared by its modules: the FUSE file system
 * (sim_fs.c), commit tracking on the primary (sim_track.c), replication (sim_repl.c,
 * sim_apply.c), events (sim_events.c) and the HTTP API (sim_http.c). */
#ifndef SIM_STATE_H
#define SIM_STATE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sim_conf.h"
#include "sim_txlog.h"

enum sim_role { SIM_PRIMARY, SIM_REPLICA };

/* What the primary knows of a database's WAL while writers append to it. */
struct sim_wal_track {
	bool valid;              /* a WAL header has been seen since the WAL was (re)started */
	uint32_t page_size;
	uint32_t salt1, salt2;
	uint64_t next_frame_off; /* first frame not yet part of a committed transaction */
	bool txn_active;         /* frames past next_frame_off exist: a transaction is open */
	uint64_t last_txid;      /* the last transaction committed from this WAL, 0 for none */
};

struct sim_extent {
	uint64_t off, len;
};

struct sim_db {
	struct sim_db *next;
	char name[NAME_MAX + 1];
	pthread_mutex_t mu;         /* guards every field below */
	struct sim_txlog log;       /* position: log.count / log.last_checksum */
	/* primary: rollback-journal transaction in progress */
	bool journal_active;
	int64_t journal_counter;    /* file change counter when it began, -1 if none */
	struct sim_extent *dirty;
	size_t ndirty, capdirty;
	struct sim_wal_track wal;
};

#define SIM_LAG_SAMPLES 1024

struct sim_node {
	struct sim_conf conf;
	int k;
	char name[16];
	char mnt[PATH_MAX], data[PATH_MAX], ltx[PATH_MAX];
	int data_fd;                /* backing directory */

	pthread_mutex_t mu;         /* guards the fields below and the list of databases */
	pthread_cond_t cond;        /* broadcast on commits, role and connection changes */
	enum sim_role role;
	int follow;                 /* replica: the node it replicates from, 0 for none */
	int visible_primary;        /* what .primary shows: a node index, or 0 (absent) */
	bool connected;             /* replica: the stream from the primary is up */
	bool gate_closed;           /* primary being demoted: no new write transaction */
	bool stopping;
	bool mounted;               /* the FUSE connection is up: the mount is ours */
	dev_t mnt_dev;              /* device number of the mount, 0 until sim_fs.c needs it */
	uint64_t role_epoch;        /* incremented on every role or follow change */
	uint64_t commit_seq;        /* incremented on every commit or applied transaction */
	struct sim_db *dbs;
	int64_t last_sync_us;       /* replica: last time known caught up, 0 = never */
	int64_t lag_us[SIM_LAG_SAMPLES];
	uint64_t nlag;

	pthread_mutex_t apply_mu;   /* held while a replicated transaction is applied */
	struct sim_events *events;
	void *fuse;                 /* struct fuse * while mounted */
};

int64_t sim_now_us(void);

/* The database called name, created (with its log) when create is set. Returns NULL when
 * it does not exist or cannot be opened. Takes node->mu. */
struct sim_db *sim_node_db(struct sim_node *n, const char *name, bool create);
/* Records t as the next transaction of db on the primary: sets its txid, checksum and
 * time, appends it to the log, publishes the tx event and wakes the streams. db->mu held.
 * Returns 0 or -errno. */
int sim_node_commit(struct sim_node *n, struct sim_db *db, struct sim_txn *t);
/* Records an applied replicated transaction (txid and checksum already set): appends it
 * to the log unless t is NULL (the log was rewritten by the caller), samples the lag and
 * wakes waiters. db->mu held. Returns 0 or -errno. */
int sim_node_record_applied(struct sim_node *n, struct sim_db *db, const struct sim_txn *t);
/* True when the calling FUSE request comes from this daemon itself (replication). */
bool sim_node_is_self(pid_t pid);
/* The .lag value in milliseconds. node->mu held. */
int sim_node_lag_ms(const struct sim_node *n);

/* Role changes requested through the HTTP API. Each returns 0 or -errno. */
int sim_node_demote(struct sim_node *n);
int sim_node_promote(struct sim_node *n, const char *wait_spec, int timeout_ms);
int sim_node_follow(struct sim_node *n, int k);
/* Node hostname for index k ("node2"). */
void sim_node_name(int k, char *buf, size_t len);

/* Events (sim_events.c). */
struct MHD_Response;
int sim_events_init(struct sim_node *n);
void sim_events_free(struct sim_node *n);
/* Publishes one JSON line (without newline) to every subscriber. */
void sim_events_publish(struct sim_node *n, const char *json);
void sim_events_publish_role(struct sim_node *n);
void sim_events_publish_tx(struct sim_node *n, const char *db, const struct sim_txn *t);
struct MHD_Response *sim_events_response(struct sim_node *n);
void sim_events_wake_all(struct sim_node *n);
/* Appends s to buf as a JSON string (with quotes). Returns the length written or needed. */
size_t sim_json_quote(char *buf, size_t len, const char *s);

/* Commit tracking on the primary (sim_track.c); db->mu held for each. */
void sim_track_journal_begin(struct sim_node *n, struct sim_db *db);
void sim_track_db_write(struct sim_db *db, uint64_t off, uint64_t len);
int sim_track_journal_end(struct sim_node *n, struct sim_db *db);
/* wfd: the writer's descriptor of <db>-wal when it may be read, else -1 (one is opened). */
int sim_track_wal_write(struct sim_node *n, struct sim_db *db, int wfd, uint64_t off,
			uint64_t len);
void sim_track_wal_reset(struct sim_db *db);
/* Whether a writer's write of len bytes at off into db's WAL would lose a transaction
 * already committed from it, which that writer's SQLite does not know (see sim_track.c).
 * Returns 1 when it would, 0 otherwise. */
int sim_track_wal_stale(struct sim_node *n, struct sim_db *db, uint64_t off, uint64_t len);
/* A synthetic transaction holding every page of a database that has no log yet. */
int sim_track_snapshot(struct sim_node *n, struct sim_db *db);

/* Replication (sim_repl.c): the primary's stream and the replica's client thread. */
struct MHD_Response *sim_repl_response(struct sim_node *n, const char *pos_spec);
void *sim_repl_thread(void *node);

/* Applying on a replica (sim_apply.c), called from the replication thread. */
int sim_apply_txn(struct sim_node *n, struct sim_db *db, const struct sim_txn *t);
/* Checkpoints db's WAL into the database file through the mount (TRUNCATE). */
int sim_apply_checkpoint(struct sim_node *n, struct sim_db *db);
/* Makes the connections to db rebuild their wal-index from the WAL at their next
 * transaction, by making the two copies of the wal-index header differ. Returns 0 or
 * -errno. */
int sim_apply_reload_wal_index(struct sim_node *n, struct sim_db *db);

/* HTTP API (sim_http.c). */
struct MHD_Daemon;
struct MHD_Daemon *sim_http_start(struct sim_node *n);

/* FUSE (sim_fs.c): mounts and serves until sim_fs_stop(). Returns 0 or -errno. */
int sim_fs_run(struct sim_node *n);
/* Ends the FUSE loop of sim_fs_run (from another thread). */
void sim_fs_stop(struct sim_node *n);

/* File name kinds in the mount. */
enum sim_file_kind {
	SIM_F_DB, SIM_F_JOURNAL, SIM_F_WAL, SIM_F_SHM, SIM_F_POS, SIM_F_PRIMARY, SIM_F_LAG,
	SIM_F_OTHER
};
/* Classifies a name in the mount; base receives the database name for
 * journal/wal/shm/pos. */
enum sim_file_kind sim_file_classify(const char *name, char *base, size_t len);

#endif
