/* `litefs-fwd run`: how the end of a child is told, and the exit status run passes on. */
#ifndef FWD_RUN_STATUS_H
#define FWD_RUN_STATUS_H

#include <stddef.h>

/* The exit status a shell reports for a child that ended with wstatus (as waitpid() gives
 * it): its exit code, or 128 + N when it was killed by signal N. */
int fwd_run_status_exit_code(int wstatus);

/* The exit status of a program that could not be executed, from the errno of execve():
 * 127 when it was not found (ENOENT), 126 when it was found but cannot be run (anything
 * else), as a shell gives. */
int fwd_run_status_exec_code(int err);

/* Writes how a child ended, for a log line: "exited with status 3" or "was killed by
 * signal 9 (SIGKILL)", with ", core dumped" when it did. Always NUL-terminates (size > 0). */
void fwd_run_status_describe(int wstatus, char *buf, size_t size);

#endif
