/* Log lines, in the forwarder's format: "TIME liblitefs_fwd[PID] LEVEL: message", TIME in
 * UTC to the millisecond (RFC 3339), one write(2) per line so that the lines of threads and
 * processes sharing a file never mix. errno is preserved.
 *
 * LITEFS_FWD_LOG_FILE's descriptor is published as an immutable record {fd, dev, ino}
 * (ownfd.h): a writer loads the record, checks that the descriptor is still that file (the
 * program may have closed it and put a file of its own on its number, which must never get
 * our lines) and writes. A descriptor that stopped being ours is forgotten, never closed,
 * and the file opened again; a record, once published, is never reused nor its descriptor
 * closed by us, since another thread may be writing through it. No lock is taken, so a
 * fork at any moment leaves the child a usable log. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ownfd.h"

/* Openings of the log file published per process; past this, each line opens the file,
 * writes and closes it. */
#define LOG_MAX_OPENS 16

enum log_level log_level = LOG_OFF;
static char log_path[PATH_MAX];         /* LITEFS_FWD_LOG_FILE, absolute; "" for stderr */
static struct ownfd log_files[LOG_MAX_OPENS];
static unsigned log_nfiles;             /* atomic: records handed out */
static struct ownfd *log_file;          /* atomic: the current record, NULL: none */

/* Opens the log file. A descriptor, or -1 (errno set). */
static int log_open(void)
{
	return open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

/* Publishes fd, just opened, as the log file's descriptor in place of cur (what the caller
 * found). Returns the record to write through, or NULL when fd was not published (no record
 * left, its identity unreadable, or another thread published one meanwhile): the caller
 * then writes through fd and closes it. */
static struct ownfd *log_publish(struct ownfd *cur, int fd)
{
	unsigned i = __atomic_fetch_add(&log_nfiles, 1, __ATOMIC_RELAXED);
	struct ownfd *rec;

	if (i >= LOG_MAX_OPENS)
		return NULL;
	rec = &log_files[i];
	if (ownfd_take(rec, fd))
		return NULL;
	if (!__atomic_compare_exchange_n(&log_file, &cur, rec, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return NULL;  /* never seen by anyone: fd is still the caller's alone */
	return rec;
}

/* Writes line[0..len) to the log file: through its published descriptor while that is
 * still the file, else through a new one. */
static void log_write_file(const char *line, size_t len)
{
	struct ownfd *cur = __atomic_load_n(&log_file, __ATOMIC_ACQUIRE), *rec;
	int fd;

	if (cur && ownfd_ours(cur)) {
		if (write(cur->fd, line, len) < 0) {
			/* nothing else to tell */
		}
		return;
	}
	fd = log_open();
	if (fd < 0)
		return;
	rec = log_publish(cur, fd);
	if (write(fd, line, len) < 0) {
		/* nothing else to tell */
	}
	if (!rec)
		close(fd);
}

void log_init(void)
{
	const char *v = getenv("LITEFS_FWD_LOG");
	const char *file = getenv("LITEFS_FWD_LOG_FILE");
	struct ownfd *cur = __atomic_exchange_n(&log_file, NULL, __ATOMIC_ACQ_REL);
	char cwd[PATH_MAX];
	int fd;

	/* called again (tests): the previous file is let go */
	if (cur)
		ownfd_close(cur);
	__atomic_store_n(&log_nfiles, 0, __ATOMIC_RELAXED);
	log_path[0] = '\0';
	log_level = LOG_OFF;
	if (!v || !*v || !strcmp(v, "0") || !strcmp(v, "off"))
		return;
	if (!strcmp(v, "error"))
		log_level = LOG_ERROR;
	else if (!strcmp(v, "warn"))
		log_level = LOG_WARN;
	else if (!strcmp(v, "debug"))
		log_level = LOG_DEBUG;
	else
		log_level = LOG_INFO;
	if (!file || !*file)
		return;
	/* relative to the directory the program was in when the settings were read, wherever
	 * it goes afterwards */
	if ((file[0] != '/' && getcwd(cwd, sizeof(cwd)) ?
	     (size_t)snprintf(log_path, sizeof(log_path), "%s/%s", cwd, file) :
	     (size_t)snprintf(log_path, sizeof(log_path), "%s", file)) >= sizeof(log_path)) {
		log_path[0] = '\0';
		return;
	}
	/* a file that cannot be opened now: stderr, as before the file was asked for */
	fd = log_open();
	if (fd < 0) {
		log_path[0] = '\0';
		return;
	}
	if (!log_publish(NULL, fd))
		close(fd);
}

void log_write(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = {"off", "error", "warn", "info", "debug"};
	int saved = errno;
	char line[1024], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ liblitefs_fwd[%ld] %s: ", ts,
		     now.tv_nsec / 1000000, (long)getpid(), names[level]);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (log_path[0])
		log_write_file(line, (size_t)n);
	else if (write(2, line, (size_t)n) < 0) {
		/* nothing else to tell */
	}
	errno = saved;
}
