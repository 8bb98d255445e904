/* Re-entry guard. Debian's libsqlite3 calls its own exported API through the PLT (schema
 * loading, sqlite3_exec, VACUUM, FTS, user functions), so those inner calls reach our hooks
 * again: while this thread is inside one of our hooks' calls into SQLite, every hook goes
 * straight through. */
#ifndef GUARD_H
#define GUARD_H

extern __thread int guard_depth;

#endif
