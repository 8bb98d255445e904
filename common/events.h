/* LiteFS's event stream (GET /events on its HTTP API, as of LiteFS v0.5.14): an HTTP 200
 * response whose chunked body is one JSON object per line, each ended by "\n" (plain lines,
 * not server-sent events). The first event of a connection is always "init". For example:
 *
 *   {"type":"init","data":{"isPrimary":false,"hostname":"node-a"}}
 *   {"type":"tx","db":"app.db","data":{"txID":"0000000000000002",
 *    "postApplyChecksum":"e04fc44716e5272f","pageSize":4096,"commit":2,
 *    "timestamp":"2026-11-26T04:23:33.291Z"}}                        (one line on the wire)
 *   {"type":"primaryChange","data":{"isPrimary":true}}
 *
 * Every event has a string "type" and, for the types known here, an object "data":
 *   init, primaryChange  data.isPrimary (boolean): whether this node is the primary;
 *                        data.hostname (string): the primary's hostname, omitted on the
 *                        primary and while a replica has no primary
 *   tx                   db (string, beside type): the database's file name;
 *                        data.txID (16 hex digits): the database's TXID after the
 *                        transaction; the other fields of data are not used
 * Members not named here are ignored, so that LiteFS may add some. An event of another type
 * is well-formed when it is an object with a non-empty string "type"; its "data" is not
 * looked at (LiteFS omits an empty one), and callers ignore such events.
 *
 * Two layers: events_splitter cuts the byte stream, in whatever chunks it arrives, into
 * lines; events_parse_line() turns one line into a struct events_event. Neither allocates
 * beyond what the JSON decoder needs for one line, and neither keeps global state. */
#ifndef EVENTS_H
#define EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line handed on, without its "\n" (nor a "\r" before it). An event is at most a
 * few hundred bytes; a longer line is not one LiteFS meant. */
#define EVENTS_LINE_MAX 65536
/* Longest hostname accepted: a DNS name is at most 253 bytes. */
#define EVENTS_HOSTNAME_MAX 253
/* Longest database file name accepted (NAME_MAX). */
#define EVENTS_DB_MAX 255

/* 0 is no type: what a struct events_event holds after a failed parse. */
enum events_type {
	EVENTS_INIT = 1,           /* "init": the role when the connection opened */
	EVENTS_PRIMARY_CHANGE = 2, /* "primaryChange": the role changed */
	EVENTS_TX = 3,             /* "tx": a transaction was applied to a database */
	EVENTS_OTHER = 4,          /* a well-formed event of any other type, to be ignored */
};

/* A parsed event. Fields that do not belong to its type are zero (empty strings). Strings
 * are NUL-terminated and hold no control character. */
struct events_event {
	enum events_type type;
	bool is_primary;                        /* INIT, PRIMARY_CHANGE */
	bool has_hostname;                      /* INIT, PRIMARY_CHANGE: hostname was given */
	char hostname[EVENTS_HOSTNAME_MAX + 1]; /* with has_hostname: 1..253 bytes, as given
						 * (LiteFS v0.5.14 sends none to a primary) */
	char db[EVENTS_DB_MAX + 1];             /* TX: a file name, 1..255 bytes, neither "."
						 * nor "..", without '/' */
	uint64_t txid;                          /* TX: at least 1 (no transaction has TXID 0) */
};

/* Parses line[0..len), exactly one line without its "\n"; one "\r" at its end is ignored.
 * Returns 0 with *out filled, -EINVAL when line (with len > 0) or out is NULL, -ENOMEM
 * when the JSON decoder ran out of memory, or -EBADMSG for anything else than one
 * well-formed event: not a JSON object, duplicate members, a missing or ill-typed member
 * the type needs, a hostname or db name outside the limits above, a txID that is not 16
 * hex digits (either case) or is 0, a number the decoder cannot hold (anywhere in the
 * line), a line longer than EVENTS_LINE_MAX or holding a "\n" or a NUL byte. On error
 * *out (when not NULL) is all zero: it is never left with part of an event. */
int events_parse_line(const char *line, size_t len, struct events_event *out);

/* Called by events_splitter_feed() for each non-empty line, in stream order. With err 0,
 * line[0..len) is the line without its "\n" and without a "\r" just before it; it is valid
 * only during the call and is not NUL-terminated. With err -EMSGSIZE, line is NULL and len
 * 0: a line longer than EVENTS_LINE_MAX has begun, and is reported once, at the point
 * where it became too long; its bytes up to and including its "\n" are dropped, then
 * lines are delivered again. Returns 0 to go on; any other value stops the feed. */
typedef int events_line_fn(const char *line, size_t len, int err, void *ctx);

/* The part of the stream not yet handed on: a line begun in an earlier chunk, or the state
 * of dropping an oversized one. Fixed size, no heap: a line cut across any number of
 * chunks is gathered in buf. */
struct events_splitter {
	size_t len;                       /* bytes of the unfinished line held in buf */
	bool discarding;                  /* inside an oversized line, already reported */
	char buf[EVENTS_LINE_MAX + 1];    /* the unfinished line; + 1 for a "\r" */
};

/* Prepares s for a new stream (a new connection). */
void events_splitter_init(struct events_splitter *s);

/* Feeds data[0..len), the next bytes of the stream, any number (0 included) cut anywhere.
 * Calls fn for each line the bytes complete, in order, and keeps an unfinished last line
 * for the next feed; empty lines ("\n" or "\r\n" alone) are skipped. Returns 0 when all
 * of data was taken, -EINVAL when s or fn is NULL or data is NULL with len > 0, or fn's
 * non-zero return value: the rest of data is then not looked at and s is reset as by
 * events_splitter_init(), ready for a new stream. */
int events_splitter_feed(struct events_splitter *s, const void *data, size_t len,
			 events_line_fn *fn, void *ctx);

#endif
