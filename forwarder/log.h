/* Logging of the forwarder: one line per event on stderr,
 *   2024-05-01T12:34:56.789Z litefs-fwd[1234] info: message
 * with the time in UTC. Lines below the chosen level are dropped. Safe from any thread. */
#ifndef FWD_LOG_H
#define FWD_LOG_H

enum fwd_log_level {
	FWD_LOG_ERROR = 0,
	FWD_LOG_WARN = 1,
	FWD_LOG_INFO = 2,
	FWD_LOG_DEBUG = 3,
};

/* Sets the most verbose level that is written (FWD_LOG_INFO until then). */
void fwd_log_set_level(enum fwd_log_level level);
/* True when lines of level are written: lets callers skip preparing a costly message. */
int fwd_log_enabled(enum fwd_log_level level);
/* Parses "error", "warn", "info" or "debug". Returns 0 with *level set, or -EINVAL. */
int fwd_log_parse_level(const char *s, enum fwd_log_level *level);
/* Writes one line (a trailing newline in fmt is not needed) with a single write(2), so
 * that lines of concurrent threads do not interleave. Keeps errno. */
void fwd_log_write(enum fwd_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define fwd_log_error(...) fwd_log_write(FWD_LOG_ERROR, __VA_ARGS__)
#define fwd_log_warn(...) fwd_log_write(FWD_LOG_WARN, __VA_ARGS__)
#define fwd_log_info(...) fwd_log_write(FWD_LOG_INFO, __VA_ARGS__)
#define fwd_log_debug(...) fwd_log_write(FWD_LOG_DEBUG, __VA_ARGS__)

#endif
