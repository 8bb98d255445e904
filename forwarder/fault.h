/* Fault injection for tests: LITEFS_FWD_FAULT=kill-after-commit:N makes the forwarder kill
 * itself (SIGKILL) right after the N-th write it commits, before the reply is sent: the
 * moment where only the durable record of requests keeps a resent request from running
 * twice. Unset, it costs one relaxed load per commit. */
#ifndef FWD_FAULT_H
#define FWD_FAULT_H

/* Reads LITEFS_FWD_FAULT (once, at start-up). Returns 0, or -EINVAL for a value it does not
 * know (the forwarder then refuses to start). */
int fwd_fault_init(void);

/* A write was just committed and its reply is not sent yet. */
void fwd_fault_after_commit(void);

#endif
