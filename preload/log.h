/* Logging, off unless LITEFS_FWD_LOG asks for it (error, warn, info or debug); to stderr,
 * or to LITEFS_FWD_LOG_FILE. Never to stdout: the interposer lives in other programs. The
 * file's descriptor is used only while it is still that file: after the program closed it
 * (and perhaps put a file of its own on its number) the file is opened again, and the old
 * number is left alone. */
#ifndef LOG_H
#define LOG_H

enum log_level { LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_level;

/* Reads LITEFS_FWD_LOG and LITEFS_FWD_LOG_FILE (a relative path is taken from the current
 * directory) and opens the file; one that cannot be opened then leaves the log on stderr.
 * Called once, from config_load() (tests call it again between cases: the previous file is
 * let go). Not thread-safe. */
void log_init(void);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) do { if (log_level >= LOG_ERROR) log_write(LOG_ERROR, __VA_ARGS__); } while (0)
#define log_warn(...) do { if (log_level >= LOG_WARN) log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...) do { if (log_level >= LOG_INFO) log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level >= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
