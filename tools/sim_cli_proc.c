/* litefs-sim command line: node daemon processes and their mounts. */
#include "sim_cli_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_POLL_MS 10
/* How much of a log's end is read to find its last lines. */
#define PROC_LOG_TAIL_BYTES 16384

extern char **environ;

static long long proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void proc_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Reads DIR/nodeK/pid. Returns 0 with *pid set, -ENOENT without a file, -EINVAL when it
 * does not hold a pid, or another -errno. */
static int proc_read_pid_file(const struct sim_conf *c, int k, pid_t *pid)
{
	char path[PATH_MAX + 32], buf[32], *end;
	ssize_t n;
	long v;
	int fd, rc = 0;

	sim_conf_node_path(c, k, "pid", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		rc = -errno;
		goto out_close;
	}
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || v <= 1 || v > INT32_MAX)
		rc = -EINVAL;
	else
		*pid = (pid_t)v;
out_close:
	close(fd);
	return rc;
}

/* Writes DIR/nodeK/pid atomically. Returns 0 or -errno. */
static int proc_write_pid_file(const struct sim_conf *c, int k, pid_t pid)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 48], buf[32];
	int fd, len, rc = 0;

	sim_conf_node_path(c, k, "pid", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (write(fd, buf, (size_t)len) != len)
		rc = errno ? -errno : -EIO;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int sim_cli_proc_remove_pid_file(const struct sim_conf *c, int k)
{
	char path[PATH_MAX + 32];

	sim_conf_node_path(c, k, "pid", path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Returns true when the command line of pid is `ANY node DIR nodeK` for this cluster. A
 * zombie has an empty command line and so is not a node. */
static bool proc_is_node(const struct sim_conf *c, int k, pid_t pid)
{
	char path[64], buf[PATH_MAX + 256], name[16], *arg[4];
	char rel[PATH_MAX + 64], real[PATH_MAX];
	ssize_t n, off;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (i = 0, off = 0; i < 4; i++) {
		if (off >= n)
			return false;
		arg[i] = buf + off;
		off += (ssize_t)strlen(arg[i]) + 1;
	}
	snprintf(name, sizeof(name), "node%d", k);
	if (strcmp(arg[1], "node") || strcmp(arg[3], name))
		return false;
	if (!strcmp(arg[2], c->dir))
		return true;
	/* A relative DIR is relative to the daemon's working directory. */
	if (arg[2][0] != '/') {
		if (snprintf(rel, sizeof(rel), "/proc/%ld/cwd/%s", (long)pid, arg[2]) >=
		    (int)sizeof(rel))
			return false;
		arg[2] = rel;
	}
	return realpath(arg[2], real) && !strcmp(real, c->dir);
}

int sim_cli_proc_node_pid(const struct sim_conf *c, int k, pid_t *pid)
{
	pid_t p;

	if (proc_read_pid_file(c, k, &p))
		return -ENOENT;
	if (kill(p, 0) && errno == ESRCH)
		return -ENOENT;
	if (!proc_is_node(c, k, p))
		return -ENOENT;
	*pid = p;
	return 0;
}

int sim_cli_proc_spawn_node(const struct sim_conf *c, int k, pid_t *pid, off_t *log_off)
{
	char exe[PATH_MAX], log[PATH_MAX + 32], name[16];
	char *argv[5];
	struct stat st;
	int nullfd, logfd, rc;
	ssize_t n;
	pid_t child;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	snprintf(name, sizeof(name), "node%d", k);
	sim_conf_node_path(c, k, "log", log, sizeof(log));
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0)
		return -errno;
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		rc = -errno;
		goto out_null;
	}
	if (fstat(logfd, &st)) {
		rc = -errno;
		goto out_log;
	}
	*log_off = st.st_size;
	argv[0] = exe;
	argv[1] = (char *)"node";
	argv[2] = (char *)c->dir;
	argv[3] = name;
	argv[4] = NULL;
	child = fork();
	if (child < 0) {
		rc = -errno;
		goto out_log;
	}
	if (child == 0) {
		/* Only async-signal-safe calls from here on. setsid() detaches the daemon from
		 * the terminal, so that signals meant for this command do not reach it. */
		static const char msg[] = "litefs-sim: cannot execute the node daemon\n";
		int fd;

		setsid();
		dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		for (fd = 0; fd < 3; fd++)
			fcntl(fd, F_SETFD, 0);
		if (close_range(3, ~0U, 0))
			for (fd = 3; fd < 1024; fd++)
				close(fd);
		execv("/proc/self/exe", argv);
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(127);
		_exit(127);
	}
	rc = proc_write_pid_file(c, k, child);
	if (rc) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		goto out_log;
	}
	*pid = child;
out_log:
	close(logfd);
out_null:
	close(nullfd);
	return rc;
}

bool sim_cli_proc_reap_child(pid_t pid, int *wstatus)
{
	/* waitpid() would take 0 or -1 as "any child". */
	return pid > 0 && waitpid(pid, wstatus, WNOHANG) == pid;
}

/* Returns the number of threads still listed for pid, 0 when the process is gone. */
static int proc_count_tasks(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Returns true once pid has exited completely. A zombie counts as gone when only its
 * main thread is left: by then every thread has exited and its files and sockets are
 * closed, which is what a restart of the node needs. */
static bool proc_is_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	if (sim_cli_proc_reap_child(pid, NULL))
		return true;
	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return false;
	if (p[2] != 'Z' && p[2] != 'X')
		return false;
	return proc_count_tasks(pid) <= 1;
}

int sim_cli_proc_wait_gone(pid_t *pids, int n, int timeout_ms)
{
	long long deadline = proc_now_ms() + timeout_ms;
	int i, left;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			if (pids[i] <= 0)
				continue;
			if (proc_is_gone(pids[i]))
				pids[i] = 0;
			else
				left++;
		}
		if (!left || proc_now_ms() >= deadline)
			return left;
		proc_sleep_ms(PROC_POLL_MS);
	}
}

void sim_cli_proc_signal(const pid_t *pids, int n, int sig)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], sig);
}

void sim_cli_proc_print_log_tail(const struct sim_conf *c, int k, off_t from, int lines)
{
	char path[PATH_MAX + 32], buf[PROC_LOG_TAIL_BYTES + 1], *start, *p;
	struct stat st;
	ssize_t n;
	off_t off;
	int fd, seen = 0;

	sim_conf_node_path(c, k, "log", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "litefs-sim: cannot read %s: %s\n", path, strerror(errno));
		goto out_close;
	}
	off = from;
	if (st.st_size - off > PROC_LOG_TAIL_BYTES)
		off = st.st_size - PROC_LOG_TAIL_BYTES;
	n = off < st.st_size ? pread(fd, buf, (size_t)(st.st_size - off), off) : 0;
	if (n <= 0) {
		fprintf(stderr, "litefs-sim: node%d wrote nothing to %s\n", k, path);
		goto out_close;
	}
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	start = buf;
	for (p = buf + n; p > buf; p--) {
		if (p[-1] == '\n' && ++seen == lines) {
			start = p;
			break;
		}
	}
	fprintf(stderr, "litefs-sim: last lines of %s:\n", path);
	for (p = strtok(start, "\n"); p; p = strtok(NULL, "\n"))
		fprintf(stderr, "    %s\n", p);
out_close:
	if (fd >= 0)
		close(fd);
}

void sim_cli_proc_unescape_mount_field(char *s)
{
	char *w = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
}

int sim_cli_mount_check(const char *path)
{
	char *line = NULL, *save, *field;
	size_t cap = 0;
	FILE *f;
	int i, found = 0;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0) {
		/* The fifth field is the mount point. */
		field = strtok_r(line, " \n", &save);
		for (i = 1; field && i < 5; i++)
			field = strtok_r(NULL, " \n", &save);
		if (!field)
			continue;
		sim_cli_proc_unescape_mount_field(field);
		found = !strcmp(field, path);
	}
	free(line);
	fclose(f);
	return found;
}

/* Runs `fusermount3 -u -z path` with its output discarded. Returns 0 when it succeeded,
 * -EIO when it failed, or -errno when it could not run. */
static int proc_run_fusermount(const char *path)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)"fusermount3", (char *)"-u", (char *)"-z", (char *)path,
			 NULL };
	int rc, status;
	pid_t pid;

	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return -rc;
	rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (!rc)
		rc = posix_spawnp(&pid, "fusermount3", &fa, NULL, argv, environ);
	if (rc) {
		rc = -rc;
		goto out_destroy;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = -errno;
			goto out_destroy;
		}
	}
	rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
out_destroy:
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

int sim_cli_mount_detach(const char *path)
{
	int rc, tries;

	/* Mounts can be stacked on one directory; detach until none is left. */
	for (tries = 0; tries < 8; tries++) {
		rc = sim_cli_mount_check(path);
		if (rc <= 0)
			return rc;
		/* MNT_FORCE makes FUSE abort the connection first, as when its daemon dies. */
		if (geteuid() == 0 && !umount2(path, MNT_FORCE | MNT_DETACH))
			continue;
		if (geteuid() == 0 && errno != EPERM)
			return -errno;
		rc = proc_run_fusermount(path);
		if (rc)
			return rc;
	}
	return sim_cli_mount_check(path) > 0 ? -EBUSY : 0;
}
