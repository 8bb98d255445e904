/* Log lines, in the forwarder's format: "TIME liblitefs_fwd[PID] LEVEL: message", TIME in
 * UTC to the millisecond (RFC 3339), one write(2) per line so that the lines of threads and
 * processes sharing a file never mix. errno is preserved. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_level log_level = LOG_OFF;
static int log_fd = 2;

void log_init(void)
{
	const char *v = getenv("LITEFS_FWD_LOG");
	const char *file = getenv("LITEFS_FWD_LOG_FILE");

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
	if (file && *file) {
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		if (fd >= 0)
			log_fd = fd;
	}
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
	if (write(log_fd, line, (size_t)n) < 0) {
		/* nothing else to tell */
	}
	errno = saved;
}
