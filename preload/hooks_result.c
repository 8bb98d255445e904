/* Interposed: what the program reads after a step, and the columns of a statement the
 * primary prepared. While a forwarded statement serves its
 * RETURNING rows, column values come from a private statement bound to the current row (so
 * SQLite's own type conversions apply); after a forwarded statement, the connection reports
 * the primary's error code and message, changes() and total_changes(). Everything else is
 * SQLite's own answer. */
#include "forward.h"
#include "guard.h"
#include "real.h"
#include "state.h"

/* The statement whose column values stand for stmt's current row. */
static __attribute__((noinline)) sqlite3_stmt *result_row_stmt_slow(sqlite3_stmt *stmt)
{
	struct fwd_stmt *s;

	if (guard_depth)
		return stmt;
	s = state_stmt(stmt);
	return s && s->state == FS_ROWS && s->rows_stmt ? s->rows_stmt : stmt;
}

/* Inline: while no forwarded statement is serving rows, one load. */
static inline sqlite3_stmt *result_row_stmt(sqlite3_stmt *stmt)
{
	if (__builtin_expect(!atomic_load_explicit(&state_serving, memory_order_relaxed), 1))
		return stmt;
	return result_row_stmt_slow(stmt);
}

#define COLUMN_HOOK(type, name)                                                           \
	type sqlite3_##name(sqlite3_stmt *stmt, int i)                                     \
	{                                                                                  \
		real_resolve();                                                            \
		return real_sqlite.name(result_row_stmt(stmt), i);                          \
	}

/* Expanded by hand (not through a list macro) so that each definition is greppable. */
COLUMN_HOOK(int, column_type)
COLUMN_HOOK(int, column_int)
COLUMN_HOOK(sqlite3_int64, column_int64)
COLUMN_HOOK(double, column_double)
COLUMN_HOOK(const unsigned char *, column_text)
COLUMN_HOOK(const void *, column_text16)
COLUMN_HOOK(const void *, column_blob)
COLUMN_HOOK(int, column_bytes)
COLUMN_HOOK(int, column_bytes16)
COLUMN_HOOK(sqlite3_value *, column_value)

/* The primary's description of a stand-in statement (prepared there only), else NULL. */
static __attribute__((noinline)) struct fwd_remote *result_remote_slow(sqlite3_stmt *stmt)
{
	struct fwd_stmt *s;

	if (guard_depth)
		return NULL;
	s = state_stmt(stmt);
	return s ? s->remote : NULL;
}

static inline struct fwd_remote *result_remote(sqlite3_stmt *stmt)
{
	if (__builtin_expect(!atomic_load_explicit(&state_nremote, memory_order_relaxed), 1))
		return NULL;
	return result_remote_slow(stmt);
}

int sqlite3_column_count(sqlite3_stmt *stmt)
{
	struct fwd_remote *r;

	real_resolve();
	r = result_remote(stmt);
	return r ? r->ncols : real_sqlite.column_count(stmt);
}

const char *sqlite3_column_name(sqlite3_stmt *stmt, int i)
{
	struct fwd_remote *r;

	real_resolve();
	r = result_remote(stmt);
	if (!r)
		return real_sqlite.column_name(stmt, i);
	return i >= 0 && i < r->ncols ? r->names[i] : NULL;
}

const char *sqlite3_column_decltype(sqlite3_stmt *stmt, int i)
{
	struct fwd_remote *r;

	real_resolve();
	r = result_remote(stmt);
	if (!r)
		return real_sqlite.column_decltype(stmt, i);
	return i >= 0 && i < r->ncols ? r->decltypes[i] : NULL;
}

/* Python's executemany() accepts only statements that are not read-only. */
int sqlite3_stmt_readonly(sqlite3_stmt *stmt)
{
	struct fwd_remote *r;

	real_resolve();
	r = result_remote(stmt);
	return r ? r->readonly : real_sqlite.stmt_readonly(stmt);
}

int sqlite3_data_count(sqlite3_stmt *stmt)
{
	real_resolve();
	return real_sqlite.data_count(result_row_stmt(stmt));
}

/* The connection's state when it shows a forwarded outcome, else NULL. */
static struct fwd_conn *result_fake_conn(sqlite3 *db)
{
	struct fwd_conn *c;

	if (!atomic_load_explicit(&forward_nfake, memory_order_relaxed) || guard_depth)
		return NULL;
	c = state_conn(db, false);
	return c && __atomic_load_n(&c->fake_err, __ATOMIC_ACQUIRE) ? c : NULL;
}

int sqlite3_errcode(sqlite3 *db)
{
	struct fwd_conn *c;
	int xrc;

	real_resolve();
	c = result_fake_conn(db);
	if (!c)
		return real_sqlite.errcode(db);
	/* as SQLite: the extended code when the program turned extended result codes on */
	xrc = __atomic_load_n(&c->err_xrc, __ATOMIC_RELAXED);
	return c->extended_codes ? xrc : xrc & 0xff;
}

int sqlite3_extended_errcode(sqlite3 *db)
{
	struct fwd_conn *c;

	real_resolve();
	c = result_fake_conn(db);
	return c ? __atomic_load_n(&c->err_xrc, __ATOMIC_RELAXED) : real_sqlite.extended_errcode(db);
}

const char *sqlite3_errmsg(sqlite3 *db)
{
	struct fwd_conn *c;
	const char *msg;

	real_resolve();
	c = result_fake_conn(db);
	msg = c ? __atomic_load_n(&c->err_msg, __ATOMIC_ACQUIRE) : NULL;
	return msg ? msg : real_sqlite.errmsg(db);
}

/* Not subject to the re-entry guard: SQL functions such as changes() and total_changes()
 * read these from inside SQLite's own step and must see what the program would. */
static struct fwd_conn *result_conn(sqlite3 *db)
{
	if (!atomic_load_explicit(&state_nconns, memory_order_relaxed))
		return NULL;
	return state_conn(db, false);
}

sqlite3_int64 sqlite3_changes64(sqlite3 *db)
{
	struct fwd_conn *c;

	real_resolve();
	c = result_conn(db);
	return c && c->fake_changes ? c->changes : real_sqlite.changes64(db);
}

int sqlite3_changes(sqlite3 *db)
{
	struct fwd_conn *c;

	real_resolve();
	c = result_conn(db);
	return c && c->fake_changes ? (int)c->changes : real_sqlite.changes(db);
}

/* sqlite3_total_changes: libsqlite3 implements it by calling sqlite3_total_changes64
 * through its exported symbol, which is ours: add the forwarded changes once, there. */

sqlite3_int64 sqlite3_total_changes64(sqlite3 *db)
{
	struct fwd_conn *c;

	real_resolve();
	c = result_conn(db);
	return real_sqlite.total_changes64(db) + (c ? c->total_changes_delta : 0);
}

int sqlite3_total_changes(sqlite3 *db)
{
	return (int)sqlite3_total_changes64(db);
}
