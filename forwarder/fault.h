/* Fault injection for tests: LITEFS_FWD_FAULT=kill-after-commit:N makes the forwarder kill
 * itself (SIGKILL) right after the N-th write it commits, before the reply is sent: the
 * moment where only the durable record of requests keeps a resent request from running
 * twice. LITEFS_FWD_FAULT=ioerr-after-commit:N makes the N-th commit of a group of writes
 * report an I/O error although it committed, as SQLite does when LiteFS stops after it
 * took the commit. Unset, it costs one relaxed load per commit. */
#ifndef FWD_FAULT_H
#define FWD_FAULT_H

#include <stdbool.h>

/* Reads LITEFS_FWD_FAULT (once, at start-up). Returns 0, or -EINVAL for a value it does not
 * know (the forwarder then refuses to start). */
int fwd_fault_init(void);

/* A write was just committed and its reply is not sent yet. */
void fwd_fault_after_commit(void);

/* A group of writes was just committed: whether to report an I/O error instead. */
bool fwd_fault_fail_commit(void);

#endif
