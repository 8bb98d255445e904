/* The subcommands of litefs-fwd other than `forwarder` (forwarder/daemon.h), one file each
 * in tools/: each runs on argv[0..argc) (argv[0] is its name) and returns the exit status
 * (0 after --help; 2 for bad arguments). */
#ifndef FWD_CMDS_H
#define FWD_CMDS_H

/* tools/fwd_run.c: the container entrypoint. */
int fwd_run_main(int argc, char **argv);
/* tools/fwd_status.c: this node's health, for people and for monitoring. */
int fwd_status_main(int argc, char **argv);
/* tools/fwd_doctor.c: whether a program can be interposed, and the set-up. */
int fwd_doctor_main(int argc, char **argv);

#endif
