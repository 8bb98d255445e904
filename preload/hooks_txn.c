/* Interposed: what the program asks about its transaction. While its transaction is a
 * session on the primary (txn.c), the local connection is in autocommit mode, but the
 * program is inside a transaction: Python's sqlite3 module, for one, decides from
 * sqlite3_get_autocommit() whether to open one before a write and whether commit() has
 * anything to do. */
#include "guard.h"
#include "real.h"
#include "state.h"
#include "txn.h"

int sqlite3_get_autocommit(sqlite3 *db)
{
	struct fwd_conn *c;

	real_resolve();
	if (!atomic_load_explicit(&state_nconns, memory_order_relaxed) || guard_depth)
		return real_sqlite.get_autocommit(db);
	c = state_conn(db, false);
	if (c && txn_session_open(c))
		return 0;
	return real_sqlite.get_autocommit(db);
}
