/* Log lines on stderr: level, ISO-8601 time in UTC and pid on every line. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = FWD_LOG_INFO;

static const char *const log_names[] = {
	[FWD_LOG_ERROR] = "error",
	[FWD_LOG_WARN] = "warn",
	[FWD_LOG_INFO] = "info",
	[FWD_LOG_DEBUG] = "debug",
};

void fwd_log_set_level(enum fwd_log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

int fwd_log_enabled(enum fwd_log_level level)
{
	return (int)level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int fwd_log_parse_level(const char *s, enum fwd_log_level *level)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (!strcmp(s, log_names[i])) {
			*level = (enum fwd_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void fwd_log_write(enum fwd_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;
	int saved = errno, len;

	if (!fwd_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	len = snprintf(line + n, sizeof(line) - n, ".%03ldZ litefs-fwd[%ld] %s: ",
		       ts.tv_nsec / 1000000, (long)getpid(), log_names[level]);
	if (len > 0)
		n += (size_t)len;
	va_start(ap, fmt);
	len = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (len > 0)
		n += (size_t)len;
	/* A long message is cut, the line is still ended. */
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}
