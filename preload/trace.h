/* Telemetry events of the forwarding path, after EctoLiteFS's [:ecto_litefs, ...] telemetry
 * events: with LITEFS_FWD_TRACE set, every statement forwarded to the primary writes one
 * JSON line when it starts ("litefs_fwd.forward.start"), and one when it ends: ".stop"
 * when the primary answered (its outcome, changes, duration), ".exception" when it did not
 * (why, and what the program gets instead). Neither the statement's text nor its bound
 * values ever appear: they may hold secrets.
 *
 * Targets (LITEFS_FWD_TRACE):
 *   unix:PATH          a unix datagram socket bound at PATH (unix:@NAME: abstract name)
 *   udp://IP:PORT      UDP datagrams to an IPv4 literal, or [IPv6]:PORT
 *   anything else      a file path, opened O_APPEND (made 0644 when missing); a relative
 *                      one is taken from the directory the settings were read in
 * One line is one write(2) or one datagram, so the lines of threads and processes never mix.
 * The target is opened at the first event and never waits for a reader: its descriptor is
 * non-blocking, and an event that a socket or a pipe (a FIFO as the file) cannot take at
 * once is dropped and counted, the count reported in the log (a regular file is written as
 * a log is, through the page cache). It is opened again when its descriptor is no longer
 * this target (a program that closed it, or reused the number, e.g. after fork). A target
 * that cannot be opened is tried again at most once a second, its events dropped and
 * counted meanwhile. Every function but trace_configure() keeps errno, allocates nothing
 * and is safe from any thread. */
#ifndef TRACE_H
#define TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "classify.h"

/* Whether events are written: the one test the forwarding path makes when tracing is off.
 * Set by trace_configure() only. */
extern bool trace_enabled;

/* Why a forward ended without the primary's answer. */
enum trace_reason {
	TRACE_REASON_NONE,
	TRACE_REASON_OUTCOME_UNKNOWN,     /* sent, no answer in time: it may have run */
	TRACE_REASON_TIMEOUT,             /* connecting timed out, nothing sent */
	TRACE_REASON_CONNECTION_REFUSED,  /* nothing listens at the forwarder's address */
	TRACE_REASON_HOST_UNREACHABLE,
	TRACE_REASON_NETWORK_UNREACHABLE,
	TRACE_REASON_CONNECTION_RESET,    /* the connection broke before the whole request went */
	TRACE_REASON_PROTOCOL_ERROR,      /* the peer is no forwarder, or its reply is garbled */
	TRACE_REASON_NO_PRIMARY,          /* no primary known in time */
	TRACE_REASON_NOW_PRIMARY,         /* this node turned out to be the primary: the
	                                   * statement runs here, nothing was sent */
	TRACE_REASON_FORWARDER_STOPPING,  /* the forwarder answered that it ran nothing */
	TRACE_REASON_AUTH_REFUSED,        /* the forwarder refused this program's authentication */
	TRACE_REASON_SECRET_UNUSABLE,     /* this program's secret cannot be used */
	TRACE_REASON_REFUSED,             /* the forwarder refused the statement */
	TRACE_REASON_TOO_LARGE,           /* over LITEFS_FWD_MAX_MESSAGE */
	TRACE_REASON_OUT_OF_MEMORY,
	TRACE_REASON_ERROR,               /* any other failure to reach the forwarder */
};

enum trace_type { TRACE_FORWARD_START, TRACE_FORWARD_STOP, TRACE_FORWARD_EXCEPTION };

/* One event, as written. */
struct trace_event {
	enum trace_type type;
	struct timespec wall;       /* CLOCK_REALTIME */
	int64_t mono_ns;            /* CLOCK_MONOTONIC */
	pid_t pid, tid;
	const char *db;             /* the database's name in the mount */
	const char *kind;           /* trace_kind() */
	uint64_t request_id;        /* the first request's id */
	uint64_t session_id;        /* the transaction's session on the primary; 0: none */
	/* stop and exception */
	int64_t duration_us;
	int outcome;                /* stop: the primary's result (extended code, or
	                             * SQLITE_DONE / SQLITE_ROW); exception: what the program
	                             * gets; -1: nothing (the statement runs here) */
	unsigned busy_retries;      /* times the primary answered SQLITE_BUSY and the statement
	                             * was asked again, under a new request id */
	int64_t changes;            /* stop */
	enum trace_reason reason;   /* exception */
};

/* A forward being traced: what its start said, for its end. */
struct trace_span {
	int64_t mono_ns;
	const char *db;
	const char *kind;
	uint64_t request_id;
	uint64_t session_id;
};

/* Reads target (LITEFS_FWD_TRACE; NULL or "" for none) and sets trace_enabled; opens
 * nothing. Returns 0, or -EINVAL for a target that cannot be read (logged; tracing stays
 * off). Forgets the previous target, closing its descriptor, and the count of drops. Not
 * thread-safe: called once, from config_load() (and by tests between their cases). */
int trace_configure(const char *target);

/* The statement kind of an event: "begin", "commit", "rollback", "savepoint", "release" or
 * "rollback_to" for transaction control (txn set, from op; "other" for an op not known),
 * else from the first keyword of sql: "insert" (INSERT, REPLACE), "update", "delete",
 * "ddl" (CREATE, DROP, ALTER), "select" (SELECT, VALUES: reads inside a transaction that
 * runs on the primary), "pragma", "maintenance" (VACUUM, ANALYZE, REINDEX) or "other". A
 * WITH clause is looked past. Never NULL, a static string. */
const char *trace_kind(bool txn, enum classify_txn_op op, const char *sql);

/* SQLite's name for result code rc ("SQLITE_CONSTRAINT_UNIQUE"): the extended name when
 * known, else the primary code's; NULL for a code SQLite does not have. */
const char *trace_code_name(int rc);

/* The reason of an exception event ("connection_refused"). */
const char *trace_reason_name(enum trace_reason reason);

/* The reason for a transport error (a negative errno). */
enum trace_reason trace_reason_from_errno(int err);

/* Writes ev as one JSON line, '\n' included, to buf[0..len). Returns its length, or
 * -ENOSPC when it does not fit (a line is at most TRACE_LINE_MAX bytes for a database name
 * of at most 255 bytes). Bytes of db that are not UTF-8 are written as U+FFFD. */
#define TRACE_LINE_MAX 2048
int trace_format(char *buf, size_t len, const struct trace_event *ev);

/* Emits the start of a forward and fills sp for its end. */
void trace_forward_start(struct trace_span *sp, const char *db, const char *kind,
			 uint64_t request_id, uint64_t session_id);

/* Emits the end of the forward of sp: the primary answered outcome (extended code),
 * having changed changes rows. */
void trace_forward_stop(const struct trace_span *sp, int outcome, int64_t changes,
			unsigned busy_retries);

/* Emits the end of the forward of sp without an answer: why, and what the program gets
 * (an extended code; -1 when the statement runs here instead). */
void trace_forward_exception(const struct trace_span *sp, enum trace_reason reason,
			     int outcome, unsigned busy_retries);

/* Writes line[0..len) to the target, as one write or datagram, or drops it (counted). */
void trace_emit(const char *line, size_t len);

/* Events dropped since trace_configure(): the target could not take them at once, or could
 * not be opened. */
uint64_t trace_dropped(void);

#endif
