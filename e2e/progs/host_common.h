/* What the host-safety programs (e2e/progs/host_*.c) share: their output, one line per
 * write(), and the clocks and counts they report. Header-only, as each program is built
 * from its one source file. */
#ifndef HOST_COMMON_H
#define HOST_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Writes one line to fd with a single write(), retried when a signal cuts it short:
 * nothing waits in a stdio buffer that a fork or an exec would copy or lose, and lines of
 * concurrent threads and processes never interleave. Newlines inside become spaces. */
static inline void host_vline(int fd, const char *fmt, va_list ap)
{
	char buf[4096];
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);

	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	for (const char *p = buf; n > 0;) {
		ssize_t w = write(fd, p, (size_t)n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (int)w;
	}
}

/* host_vline() on stdout. Descriptor 1 is never closed by these programs. */
static inline __attribute__((format(printf, 1, 2))) void host_out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	host_vline(STDOUT_FILENO, fmt, ap);
	va_end(ap);
}

/* Milliseconds on the monotonic clock. */
static inline int64_t host_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How many threads the process has (entries of /proc/self/task); -1 if unknown. */
static inline int host_count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

#endif
