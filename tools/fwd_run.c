/* `litefs-fwd run`: the entrypoint of a container. Runs CMD with the interposer in front of
 * LD_PRELOAD beside this node's forwarder (`litefs-fwd forwarder`, this executable), which
 * it starts again with backoff whenever it dies; passes signals on to CMD; reaps orphans;
 * and once CMD has exited, stops the forwarder and exits with CMD's status.
 *
 * One thread. Every signal it acts on (those passed on to CMD, and SIGCHLD) is blocked
 * from the start and taken by sigtimedwait() in the main loop: no work is done in a signal
 * handler, and a signal that arrives at any moment, before CMD exists too, stays pending
 * until the loop takes it. The semantics are those of tini and dumb-init where they agree:
 * CMD's status comes back (128+N for signal N), 126/127 when CMD cannot be executed, and
 * run as PID 1 reaps whatever is reparented to it. */
#include "fwd_cmds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* by path: preload/ has a config.h and a log.h of its own */
#include "../forwarder/config.h"
#include "../forwarder/log.h"
#include "fwd_run_backoff.h"
#include "fwd_run_opts.h"
#include "fwd_run_preload.h"
#include "fwd_run_status.h"

/* Where `make install` puts the interposer (the Makefile defines it for this file). */
#ifdef LITEFS_FWD_LIBDIR
#define RUN_LIBDIR LITEFS_FWD_LIBDIR
#else
#define RUN_LIBDIR NULL
#endif

/* After SIGKILL, how long run still waits for the forwarder to be reaped (a process stuck
 * in the kernel, e.g. on a wedged FUSE mount, may never go) before it exits anyway. */
#define RUN_KILL_WAIT_MS 2000

extern char **environ;

/* The signals passed on to CMD: those a supervisor (docker stop, a terminal, an operator)
 * means for the application. Job control (SIGTSTP, SIGTTIN, SIGTTOU) keeps its default
 * action on run itself; SIGPIPE is ignored, as run's own writes may raise it; signals of
 * faults and resource limits are run's own. */
static const int run_passed_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGCONT,
};

struct run {
	const struct fwd_run_opts *o;
	sigset_t waited;              /* run_passed_signals and SIGCHLD: blocked, waited for */
	sigset_t child_mask;          /* the mask run was started with, restored in children */
	struct sigaction child_pipe;  /* SIGPIPE's disposition run was started with, the same */
	char **cmd_env;               /* CMD's environment: run's, with the new LD_PRELOAD */
	char **fwd_argv;              /* exe, "forwarder", the --forwarder-arg values, NULL */
	pid_t cmd_pid;                /* 0 once reaped */
	int cmd_code;                 /* run's exit status once CMD is reaped */
	pid_t fwd_pid;                /* 0 while no forwarder runs */
	long long fwd_started_ms;
	long long fwd_restart_ms;     /* when to start the forwarder (first or again); 0: not due */
	struct fwd_run_backoff backoff;
	bool stopping;                /* CMD is gone: the forwarder is being stopped */
	bool killed;                  /* ... and got SIGKILL */
	long long stop_deadline_ms;   /* SIGKILL is due, or, once sent, run stops waiting */
};

static long long run_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In a child, before exec: the signal state run was started with, so that CMD and the
 * forwarder begin as they would have without run. Async-signal-safe. */
static void run_child_restore(const struct run *r)
{
	sigaction(SIGPIPE, &r->child_pipe, NULL);
	sigprocmask(SIG_SETMASK, &r->child_mask, NULL);
}

/* Starts CMD. Returns 0 with r->cmd_pid set once CMD has been executed, or with *exec_err
 * set (an errno; the child is reaped, nothing runs) when exec failed; a negative errno when
 * run could not fork. The outcome of exec comes back through a close-on-exec pipe: end of
 * file means CMD runs. */
static int run_spawn_cmd(struct run *r, int *exec_err)
{
	char *const *cmd = r->o->cmd;
	int fds[2], err = 0, rc = 0;
	ssize_t n;
	pid_t pid;

	*exec_err = 0;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out_close;
	}
	if (pid == 0) {
		close(fds[0]);
		run_child_restore(r);
		execvpe(cmd[0], cmd, r->cmd_env);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0) {
			/* the parent sees end of file, then this exit status */
		}
		_exit(fwd_run_status_exec_code(err));
	}
	close(fds[1]);
	fds[1] = -1;
	do
		n = read(fds[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(err)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
		}
		*exec_err = err ? err : EIO;
		goto out_close;
	}
	r->cmd_pid = pid;
out_close:
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return rc;
}

/* Starts the forwarder: this executable again, in a process group of its own (a
 * terminal's ^C meant for CMD must not stop it), stdin from /dev/null, with SIGTERM when
 * run dies (PR_SET_PDEATHSIG), so that it never outlives its supervisor. Returns 0 with
 * r->fwd_pid set, or a negative errno when run could not fork. */
static int run_spawn_forwarder(struct run *r)
{
	static const char msg[] = "litefs-fwd: run: cannot execute the forwarder "
				  "(/proc/self/exe)\n";
	pid_t parent = getpid(), pid;
	int fd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1); /* run died before the line above */
		run_child_restore(r);
		fd = open("/dev/null", O_RDONLY);
		if (fd > 0) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		execv("/proc/self/exe", r->fwd_argv);
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nowhere to report it; the exit status says it */
		}
		_exit(127);
	}
	/* also from here, so that it holds before anyone signals the group */
	setpgid(pid, pid);
	r->fwd_pid = pid;
	r->fwd_started_ms = run_now_ms();
	fwd_log_info("run: forwarder started (pid %ld)", (long)pid);
	return 0;
}

/* Starts the forwarder, or, when that fails, schedules the next attempt. */
static void run_start_forwarder(struct run *r)
{
	int rc, wait_ms;

	rc = run_spawn_forwarder(r);
	if (!rc)
		return;
	wait_ms = fwd_run_backoff_next(&r->backoff, 0);
	r->fwd_restart_ms = run_now_ms() + wait_ms;
	fwd_log_error("run: cannot start the forwarder: %s; trying again in %d ms",
		      strerror(-rc), wait_ms);
}

/* Collects every child that has ended: CMD, the forwarder (whose restart is scheduled
 * unless run is stopping), and orphans reparented to run (PID 1, or --subreaper). */
static void run_reap(struct run *r)
{
	char how[96];
	long long now;
	int st, wait_ms;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &st, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		fwd_run_status_describe(st, how, sizeof(how));
		if (pid == r->cmd_pid) {
			r->cmd_pid = 0;
			r->cmd_code = fwd_run_status_exit_code(st);
			fwd_log_info("run: %s (pid %ld) %s", r->o->cmd[0], (long)pid, how);
		} else if (pid == r->fwd_pid) {
			r->fwd_pid = 0;
			now = run_now_ms();
			if (r->stopping) {
				fwd_log_info("run: the forwarder (pid %ld) %s", (long)pid, how);
				continue;
			}
			wait_ms = fwd_run_backoff_next(&r->backoff, now - r->fwd_started_ms);
			r->fwd_restart_ms = now + wait_ms;
			fwd_log_warn("run: the forwarder (pid %ld) %s after %lld ms; starting it "
				     "again in %d ms", (long)pid, how, now - r->fwd_started_ms,
				     wait_ms);
		} else {
			fwd_log_debug("run: reaped orphan pid %ld, which %s", (long)pid, how);
		}
	}
}

/* Passes the signal described by si on to CMD. A terminal sends ^C, ^\ and window size
 * changes to its whole foreground process group: when CMD is still in run's group it has
 * had that signal already and must not get it twice. */
static void run_pass_signal(const struct run *r, const siginfo_t *si)
{
	int sig = si->si_signo;

	if (!r->cmd_pid) {
		fwd_log_debug("run: SIG%s: no program to pass it to", sigabbrev_np(sig));
		return;
	}
	if (si->si_code == SI_KERNEL && (sig == SIGINT || sig == SIGQUIT || sig == SIGWINCH) &&
	    getpgid(r->cmd_pid) == getpgrp()) {
		fwd_log_debug("run: SIG%s from the terminal reached %s already",
			      sigabbrev_np(sig), r->o->cmd[0]);
		return;
	}
	if (kill(r->cmd_pid, sig)) {
		if (errno != ESRCH)
			fwd_log_warn("run: cannot pass SIG%s on to %s (pid %ld): %s",
				     sigabbrev_np(sig), r->o->cmd[0], (long)r->cmd_pid,
				     strerror(errno));
		return;
	}
	fwd_log_debug("run: SIG%s passed on to %s (pid %ld)", sigabbrev_np(sig), r->o->cmd[0],
		      (long)r->cmd_pid);
}

/* CMD has exited: SIGTERM to the forwarder (if one runs), SIGKILL after the grace
 * period. */
static void run_stop_begin(struct run *r, long long now)
{
	r->stopping = true;
	r->fwd_restart_ms = 0;
	if (!r->fwd_pid)
		return;
	fwd_log_info("run: stopping the forwarder (pid %ld)", (long)r->fwd_pid);
	kill(r->fwd_pid, SIGTERM);
	r->stop_deadline_ms = now + r->o->grace_ms;
}

/* The supervision loop, entered with CMD running. Returns run's exit status once CMD has
 * exited and the forwarder is gone. */
static int run_loop(struct run *r)
{
	struct timespec ts;
	long long now, due;
	siginfo_t si;
	int sig;

	for (;;) {
		run_reap(r);
		now = run_now_ms();
		if (!r->cmd_pid && !r->stopping)
			run_stop_begin(r, now);
		if (r->stopping && !r->fwd_pid)
			return r->cmd_code;
		if (r->stopping && now >= r->stop_deadline_ms) {
			if (r->killed) {
				fwd_log_error("run: the forwarder (pid %ld) is still there %d ms "
					      "after SIGKILL; leaving it", (long)r->fwd_pid,
					      RUN_KILL_WAIT_MS);
				return r->cmd_code;
			}
			fwd_log_warn("run: the forwarder (pid %ld) did not stop within %d ms of "
				     "SIGTERM: SIGKILL", (long)r->fwd_pid, r->o->grace_ms);
			kill(r->fwd_pid, SIGKILL);
			r->killed = true;
			r->stop_deadline_ms = now + RUN_KILL_WAIT_MS;
		}
		if (!r->stopping && r->fwd_restart_ms && now >= r->fwd_restart_ms) {
			r->fwd_restart_ms = 0;
			run_start_forwarder(r);
			continue; /* it may have died already */
		}

		due = r->stopping ? r->stop_deadline_ms : r->fwd_restart_ms;
		if (due) {
			ts.tv_sec = (due - now) / 1000;
			ts.tv_nsec = (long)((due - now) % 1000) * 1000000;
			sig = sigtimedwait(&r->waited, &si, &ts);
		} else {
			sig = sigwaitinfo(&r->waited, &si);
		}
		if (sig < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fwd_log_error("run: waiting for signals: %s", strerror(errno));
			return 1;
		}
		if (sig != SIGCHLD)
			run_pass_signal(r, &si);
	}
}

/* Checks the forwarder's arguments as the forwarder will, with the same environment, so
 * that a mistake is an exit status 2 now rather than a forwarder failing at every restart.
 * Returns 0, -EINVAL or -ENOMEM, reported on stderr. */
static int run_check_forwarder_args(struct run *r)
{
	struct fwd_config c;
	char **copy, err[512];
	int n = r->o->n_forwarder_args + 1, rc;

	/* getopt_long() may reorder what it parses: a copy */
	copy = calloc((size_t)n + 1, sizeof(*copy));
	if (!copy) {
		fprintf(stderr, "litefs-fwd: run: out of memory\n");
		return -ENOMEM;
	}
	memcpy(copy, r->fwd_argv + 1, (size_t)n * sizeof(*copy));
	rc = fwd_config_parse(&c, n, copy, err, sizeof(err));
	if (!rc && c.help) {
		snprintf(err, sizeof(err), "--help is not an argument of a forwarder to keep "
			 "running (see 'litefs-fwd forwarder --help')");
		rc = -EINVAL;
	}
	if (rc)
		fprintf(stderr, "litefs-fwd: run: forwarder: %s\n", err);
	free(copy);
	return rc;
}

/* Builds the forwarder's argv: the path of this executable (as ps shows it), then
 * "forwarder" and the --forwarder-arg values. Returns 0 or -ENOMEM. */
static int run_build_forwarder_argv(struct run *r, const char *exe)
{
	int i, n = r->o->n_forwarder_args;

	r->fwd_argv = calloc((size_t)n + 3, sizeof(*r->fwd_argv));
	if (!r->fwd_argv)
		return -ENOMEM;
	r->fwd_argv[0] = (char *)(*exe ? exe : "litefs-fwd");
	r->fwd_argv[1] = (char *)"forwarder";
	for (i = 0; i < n; i++)
		r->fwd_argv[i + 2] = r->o->forwarder_args[i];
	return 0;
}

/* Signals as the loop wants them: passed ones and SIGCHLD blocked, SIGCHLD not ignored
 * (an ignored SIGCHLD inherited from run's parent would make the kernel reap CMD and lose
 * its status), SIGPIPE ignored. What the children must get back is kept in r. Returns 0
 * or a negative errno. */
static int run_setup_signals(struct run *r)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = { .sa_handler = SIG_IGN };
	size_t i;
	int rc;

	sigemptyset(&r->waited);
	for (i = 0; i < sizeof(run_passed_signals) / sizeof(run_passed_signals[0]); i++)
		sigaddset(&r->waited, run_passed_signals[i]);
	sigaddset(&r->waited, SIGCHLD);
	rc = pthread_sigmask(SIG_BLOCK, &r->waited, &r->child_mask);
	if (rc)
		return -rc;
	sigemptyset(&dfl.sa_mask);
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGCHLD, &dfl, NULL) || sigaction(SIGPIPE, &ign, &r->child_pipe))
		return -errno;
	return 0;
}

int fwd_run_main(int argc, char **argv)
{
	struct fwd_run_opts o;
	struct run r = { .o = &o };
	char exe[PATH_MAX] = "", lib[PATH_MAX], err[PATH_MAX * 4], *value = NULL;
	ssize_t n;
	int rc, exec_err, status = 1;

	rc = fwd_run_opts_parse(&o, argc, argv, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "litefs-fwd: run: %s\nTry 'litefs-fwd run --help'.\n", err);
		status = 2;
		goto out_opts;
	}
	if (o.help) {
		fwd_run_opts_usage(stdout, RUN_LIBDIR);
		status = 0;
		goto out_opts;
	}
	fwd_log_set_level(o.log_level);
	fwd_run_backoff_init(&r.backoff);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	else
		exe[0] = '\0';
	rc = fwd_run_preload_find(o.preload, o.preload_from, *exe ? exe : NULL, RUN_LIBDIR, lib,
				  sizeof(lib), err, sizeof(err));
	if (rc) {
		fwd_log_error("run: %s; not running %s without it", err, o.cmd[0]);
		status = 2;
		goto out_opts;
	}
	if (fwd_run_preload_value(lib, getenv("LD_PRELOAD"), &value) ||
	    fwd_run_preload_environ(environ, value, &r.cmd_env)) {
		fwd_log_error("run: out of memory");
		goto out_env;
	}
	if (!o.no_forwarder) {
		if (run_build_forwarder_argv(&r, exe)) {
			fwd_log_error("run: out of memory");
			goto out_env;
		}
		rc = run_check_forwarder_args(&r);
		if (rc) {
			status = rc == -EINVAL ? 2 : 1;
			goto out_argv;
		}
	}
	if (o.subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		fwd_log_error("run: cannot become the child subreaper: %s", strerror(errno));
		goto out_argv;
	}
	rc = run_setup_signals(&r);
	if (rc) {
		fwd_log_error("run: cannot set up signals: %s", strerror(-rc));
		goto out_argv;
	}

	rc = run_spawn_cmd(&r, &exec_err);
	if (rc) {
		fwd_log_error("run: cannot start %s: %s", o.cmd[0], strerror(-rc));
		goto out_argv;
	}
	if (exec_err) {
		fwd_log_error("run: cannot execute %s: %s", o.cmd[0], strerror(exec_err));
		status = fwd_run_status_exec_code(exec_err);
		goto out_argv;
	}
	fwd_log_info("run: %s started (pid %ld) with the interposer %s%s", o.cmd[0],
		     (long)r.cmd_pid, lib,
		     getpid() == 1 ? "; reaping orphans as PID 1"
				   : o.subreaper ? "; reaping orphans as the subreaper" : "");
	/* started by the loop, unless CMD has exited already */
	if (!o.no_forwarder)
		r.fwd_restart_ms = run_now_ms();
	status = run_loop(&r);
	fwd_log_info("run: exiting with status %d", status);
out_argv:
	free(r.fwd_argv);
out_env:
	free(r.cmd_env);
	free(value);
out_opts:
	fwd_run_opts_free(&o);
	return status;
}
