/* What the interposer keeps per connection and per statement. Only connections to which a
 * LiteFS database is attached and statements that may be forwarded get an entry: every
 * other call goes straight to SQLite after one relaxed atomic load. */
#ifndef STATE_H
#define STATE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "classify.h"
#include "wire.h"

/* Per connection. */
struct fwd_conn {
	sqlite3 *db;
	int refs;               /* statements pointing here (state lock) */
	bool closed;            /* the program closed the connection: freed with its last
				 * statement */
	/* Guards the fields below. Held only for a few loads and stores: never across a
	 * call into SQLite for db (which takes the connection's mutex, and a program may
	 * hold that mutex while one of our hooks waits for this one: sqlite3_db_mutex around
	 * a prepare), never across a wait or a round trip. */
	pthread_mutex_t mu;
	/* the program's own authorizer, called from ours */
	int (*user_auth)(void *, int, const char *, const char *, const char *, const char *);
	void *user_auth_arg;
	/* the outcome of the last forwarded statement, shown by errcode/errmsg until the
	 * program makes its next call that sets the connection's error state */
	bool fake_err;
	int err_xrc;
	/* The message: one of two buffers of the connection's, the other one written next.
	 * errcode/errmsg read these three without the lock (atomic loads): on a connection
	 * shared by threads, a message the program got stays readable memory while another
	 * thread's outcome replaces it, for as long as the connection lives. */
	char *err_msg;
	char err_bufs[2][1024];
	bool fake_changes;      /* changes(): the last forwarded write's count */
	int64_t changes;
	int64_t total_changes_delta;
	bool extended_codes;    /* sqlite3_extended_result_codes(db, 1) was called */
	int busy_timeout_ms;
	/* read-your-writes: the newest TXID this connection's forwarded writes got, which it
	 * must see locally before its next read (0: nothing owed; atomic loads without mu) */
	char ryw_file[256];
	uint64_t ryw_txid;
	char ryw_primary[512];  /* the endpoint of the primary that wrote it: a TXID of
				 * another primary means nothing */
	/* The program's transaction (see txn.c). While it only reads it is SQLite's, here;
	 * from its first write on it is a session on the primary, and the local connection
	 * is back in autocommit mode. */
	uint64_t session_id;    /* 0: no session open */
	pid_t session_pid;      /* the process that opened it (not a forked child) */
	char session_file[256]; /* its database, in the mount */
	char session_endpoint[512]; /* the forwarder that opened it */
	char *txn_log;          /* the control statements run here since the local
				 * transaction began, ';'-separated (the session's prologue) */
	size_t txn_log_len, txn_log_cap;
	bool snapshot_taken;    /* the local transaction has read: */
	uint64_t snapshot_txid; /* the local TXID before its first read */
};

enum fwd_stmt_state { FS_IDLE, FS_ROWS, FS_DONE };

/* What a registered statement is. */
enum fwd_stmt_kind {
	FK_WRITE,  /* modifies the LiteFS database: forwarded from a replica */
	FK_READ,   /* reads it: forwarded only inside a transaction that has written */
	FK_TXN,    /* transaction control */
	FK_REMOTE, /* prepared on the primary only (it needs a schema that exists only in the
	            * open transaction there): a stand-in here, always forwarded */
};

/* What the primary said of a FK_REMOTE statement: its text and its columns. */
struct fwd_remote {
	char *sql;              /* the program's statement, as forwarded */
	int ncols;
	char **names;           /* ncols column names */
	char **decltypes;       /* ncols declared types, each may be NULL */
	bool readonly;          /* sqlite3_stmt_readonly() of it */
};

/* Per statement on a LiteFS database that may be forwarded: writes, reads of it, and
 * transaction control. */
struct fwd_stmt {
	sqlite3_stmt *stmt;
	struct fwd_conn *conn;
	enum fwd_stmt_kind kind;
	enum classify_txn_op txn_op; /* FK_TXN */
	char file[256];         /* the database's file name inside the mount */
	struct fwd_remote *remote; /* FK_REMOTE */
	bool dml;               /* INSERT, UPDATE or DELETE: sets changes() */
	bool bind_failed;       /* a binding could not be recorded (out of memory) */
	int nparams;
	struct wire_value *params; /* recorded bindings, owned copies of bytes */
	/* a forwarded execution being served */
	enum fwd_stmt_state state;
	int rc;                 /* what step returned last (SQLITE_DONE or an error) */
	uint32_t ncols, nrows, row;
	sqlite3 *rows_db;       /* private in-memory connection serving the current row */
	sqlite3_stmt *rows_stmt; /* "SELECT ?1, ?2, ..." bound to the current row */
	struct wire_value *cells;
	void *reply;            /* the reply message the cells point into */
};

/* Number of entries in each table: zero means every hook can pass straight through. */
extern atomic_int state_nconns, state_nstmts, state_serving, state_nremote;

struct fwd_conn *state_conn(sqlite3 *db, bool create);
void state_conn_drop(sqlite3 *db);
struct fwd_stmt *state_stmt(sqlite3_stmt *stmt);
struct fwd_stmt *state_stmt_add(sqlite3_stmt *stmt, struct fwd_conn *conn, const char *file);
void state_stmt_drop(sqlite3_stmt *stmt);
/* Ends the serving of forwarded rows (the statement goes back to FS_IDLE). */
void state_stmt_clear_result(struct fwd_stmt *s);
void state_stmt_free_params(struct fwd_stmt *s);
/* Makes s a FK_REMOTE statement described by r (which it owns from then on). */
void state_stmt_set_remote(struct fwd_stmt *s, struct fwd_remote *r);
void state_remote_free(struct fwd_remote *r);

#endif
