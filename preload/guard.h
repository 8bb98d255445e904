/* Re-entry guard. Debian's libsqlite3 calls its own exported API through the PLT (schema
 * loading, sqlite3_exec, VACUUM, FTS, user functions), so those inner calls reach our hooks
 * again: while this thread is inside one of our hooks' calls into SQLite, every hook goes
 * straight through. */
#ifndef GUARD_H
#define GUARD_H

/* Initial-exec: the library is loaded at start-up (LD_PRELOAD), so its thread-local
 * variables sit in the static TLS block and cost one load, not a __tls_get_addr() call. */
#define GUARD_TLS __thread __attribute__((tls_model("initial-exec")))

extern GUARD_TLS int guard_depth;

#endif
