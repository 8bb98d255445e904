/* Statement classification: which statements must go to the primary. Pure logic over what
 * SQLite's authorizer reported while a statement was prepared (collected by the prepare
 * hook), the statement's text and its EXPLAIN flag; the caller says which schemas of the
 * connection are LiteFS databases. sqlite3_stmt_readonly() alone is wrong both ways (see the
 * design notes): BEGIN is "read-only", EXPLAIN and temp writes are not. */
#ifndef CLASSIFY_H
#define CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

/* One authorizer call: the action code and its four string arguments (any may be NULL). */
struct classify_event {
	int action;
	const char *arg1, *arg2, *db, *trigger;
};

enum classify_kind {
	CLASSIFY_LOCAL,       /* runs locally: a read, a temp write, connection-local state */
	CLASSIFY_WRITE,       /* modifies one LiteFS database: forwarded from a replica */
	CLASSIFY_TXN,         /* transaction control: BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT,
	                       * RELEASE (never forwarded on its own) */
	CLASSIFY_UNSUPPORTED, /* a write that cannot be forwarded as one statement: it modifies
	                       * LiteFS and non-LiteFS databases at once, or several LiteFS ones */
};

struct classify_result {
	enum classify_kind kind;
	/* CLASSIFY_WRITE: the schema name ("main", or an attached name) of the LiteFS database
	 * the statement modifies; points into an event or into static storage. */
	const char *schema;
	bool persistent_pragma; /* the write is a PRAGMA that changes the database file */
	bool reads_litefs;      /* CLASSIFY_LOCAL: it reads a table of a LiteFS database */
};

/* What a transaction control statement does. */
enum classify_txn_op {
	CLASSIFY_TXN_UNKNOWN,
	CLASSIFY_TXN_BEGIN,        /* BEGIN [DEFERRED] [TRANSACTION] */
	CLASSIFY_TXN_BEGIN_WRITE,  /* BEGIN IMMEDIATE / EXCLUSIVE: takes the write lock now */
	CLASSIFY_TXN_COMMIT,       /* COMMIT, END */
	CLASSIFY_TXN_ROLLBACK,     /* ROLLBACK [TRANSACTION] */
	CLASSIFY_TXN_ROLLBACK_TO,  /* ROLLBACK [TRANSACTION] TO [SAVEPOINT] name */
	CLASSIFY_TXN_SAVEPOINT,    /* SAVEPOINT name */
	CLASSIFY_TXN_RELEASE,      /* RELEASE [SAVEPOINT] name */
};

/* Asks whether schema (never "temp") of the connection is a LiteFS database (a file directly
 * inside the mount). ctx is the caller's. */
typedef bool (*classify_is_litefs_fn)(void *ctx, const char *schema);

/* Classifies one prepared statement from the authorizer events recorded while preparing it,
 * its SQL text (sqlite3_sql) and whether it is an EXPLAIN (sqlite3_stmt_isexplain > 0).
 * Never fails: anything it cannot tell apart is CLASSIFY_LOCAL only when it cannot modify a
 * database, and CLASSIFY_UNSUPPORTED otherwise. */
void classify_statement(const struct classify_event *ev, size_t nev, const char *sql,
			bool explain, classify_is_litefs_fn is_litefs, void *ctx,
			struct classify_result *out);

/* Reads the text of a statement classified CLASSIFY_TXN. */
enum classify_txn_op classify_txn_op(const char *sql);

#endif
