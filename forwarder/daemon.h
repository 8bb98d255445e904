/* `litefs-fwd forwarder`: the daemon's life from the command line to the exit status. */
#ifndef FWD_DAEMON_H
#define FWD_DAEMON_H

/* Runs the forwarder subcommand on argv[0..argc) (argv[0] is "forwarder"). Returns the
 * exit status: 0 after --help or an orderly stop on SIGTERM/SIGINT, 1 when the server
 * cannot start, 2 for bad arguments. Must be called before any other thread exists: it
 * blocks SIGTERM and SIGINT for the whole process and waits for them with sigwait(). */
int fwd_daemon_main(int argc, char **argv);

#endif
