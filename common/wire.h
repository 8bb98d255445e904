/* The wire format shared by the interposer (preload/) and the forwarder (forwarder/): one
 * codec, one header, one version byte. Every integer is little-endian. A message is
 *
 *   u8 version (WIRE_VERSION), u8 type (enum wire_type), u16 flags, u32 reserved (0),
 *   then the body of its type.
 *
 * EXEC request body:
 *   u64 request id        unique per client process and statement execution; a repeat of
 *                         an id is answered from the forwarder's record, never re-executed
 *   i32 busy timeout (ms) the program's busy_timeout, applied on the primary
 *   u32 connection flags  settings of the program's connection that change what a write
 *                         does (WIRE_CONN_*), applied on the primary for this statement
 *   i64 last insert rowid the program's connection's: the statement sees it (a statement
 *                         may read last_insert_rowid()), and it tells whether it changed
 *   str db                file name of the database, directly inside the mount
 *   str sql               the statement's text as prepared by the program
 *   u32 nparams, then nparams values: parameter i+1 of the statement
 *   u64 session id        0: the statement runs on its own, in autocommit mode; else the
 *                         program's transaction it belongs to (a session on the primary,
 *                         with its own connection, kept open between requests)
 *   u32 session flags     WIRE_SESSION_*, and WIRE_EXEC_REPEAT
 *   u64 snapshot txid     with WIRE_SESSION_SNAPSHOT: the TXID of the replica's state the
 *                         transaction has read; the session is refused with
 *                         SQLITE_BUSY_SNAPSHOT when the primary is past it
 *   u32 txn timeout (ms)  how long the session may stay idle before it is rolled back
 *   str prologue          with WIRE_SESSION_BEGIN: the transaction control statements the
 *                         program ran locally before (BEGIN, SAVEPOINT ...), run first
 * RESULT reply body:
 *   u64 request id, u32 result flags (WIRE_RESULT_*), i32 rc (the last sqlite3_step result:
 *   SQLITE_DONE, or the primary's error code), i32 extended rc (sqlite3_extended_errcode),
 *   str errmsg, i64 changes, i64 total changes delta, i64 last insert rowid,
 *   u64 txid (the database's TXID on the primary after the commit, 0 if unknown),
 *   u32 ncols, u32 nrows, then nrows * ncols values (the rows, row-major)
 * NOT_PRIMARY reply body: u64 request id, str primary hostname as the forwarder knows it
 * ERROR reply body: u64 request id (0 if the request could not be read), i32 errno-style
 *   code, str message. The request was not executed, except with EINPROGRESS: its outcome
 *   is unknown there (an I/O error met after it ran, which may follow its commit), and the
 *   client asks again, the same request flagged WIRE_EXEC_REPEAT, which the record of
 *   executed requests answers once it can be read. EAGAIN and ESHUTDOWN: ask again.
 * DESCRIPTION reply body (to an EXEC with WIRE_SESSION_DESCRIBE: the statement is prepared
 *   in the session, not run): u64 request id, i32 rc, i32 extended rc, str errmsg (SQLite's
 *   verdict on preparing it), u32 tail (bytes of sql the statement takes), u32 flags
 *   (WIRE_DESC_*), u32 nparams,
 *   then nparams values (each parameter's name as TEXT, or NULL for an anonymous "?"),
 *   u32 ncols, then ncols * 2 values (each column's name as TEXT, then its declared type
 *   as TEXT or NULL).
 * PING request body (a health check: nothing is executed, nothing is recorded; sealed like
 *   every request when the cluster has a secret): u64 request id, u32 flags (WIRE_PING_*)
 * PONG reply body: u64 request id, u32 role (enum wire_role: the forwarder's view of its
 *   node, read afresh for the answer), str primary (with WIRE_ROLE_REPLICA: the hostname
 *   its .primary names, "" when none), str version (the forwarder's LITEFS_FWD_VERSION),
 *   u64 uptime (milliseconds the forwarder process has been running), u64 clock (the
 *   forwarder's wall clock when it answered, milliseconds since the epoch: sealed messages
 *   must be within the window of it), u32 ndbs, then ndbs times: str name, u64 txid (with
 *   WIRE_PING_DATABASES: each database of its mount with the TXID of its <db>-pos, 0 when
 *   unreadable; without, ndbs is 0).
 *
 * str: u32 length + bytes (no terminator; may hold NULs).
 * value: u8 type (enum wire_value_type) then
 *   NULL: nothing; INTEGER: i64; FLOAT: u64 (IEEE-754 bits, so -0.0, NaN payloads and
 *   subnormals survive); TEXT: str (UTF-8); TEXT16: str (UTF-16 in the sender's native
 *   byte order, as given to sqlite3_bind_text16); BLOB: str; ZEROBLOB: u64 length. */
#ifndef WIRE_H
#define WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 2
#define WIRE_HEADER_SIZE 8
/* Default cap of one message; values up to 64 MiB must fit with room to spare. */
#define WIRE_DEFAULT_MAX_MESSAGE (256u << 20)

enum wire_type {
	WIRE_EXEC = 1,
	WIRE_RESULT = 2,
	WIRE_NOT_PRIMARY = 3,
	WIRE_ERROR = 4,
	WIRE_DESCRIPTION = 5,
	WIRE_PING = 6,
	WIRE_PONG = 7,
};

enum wire_value_type {
	WIRE_NULL = 0,
	WIRE_INTEGER = 1,
	WIRE_FLOAT = 2,
	WIRE_TEXT = 3,
	WIRE_TEXT16 = 4,
	WIRE_BLOB = 5,
	WIRE_ZEROBLOB = 6,
};

/* The SQLite text encoding of TEXT16 values: this machine's byte order. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define WIRE_UTF16_NATIVE 3 /* SQLITE_UTF16BE */
#else
#define WIRE_UTF16_NATIVE 2 /* SQLITE_UTF16LE */
#endif

/* A value. Byte strings point into memory owned elsewhere: the caller's when encoding, the
 * decoded message buffer when decoding. */
struct wire_value {
	uint8_t type;
	union {
		int64_t i;
		double f;
		struct {
			const void *p;
			uint64_t n;
		} s;          /* TEXT, TEXT16, BLOB */
		uint64_t zero; /* ZEROBLOB length */
	} u;
};

struct wire_str {
	const char *p;
	uint32_t n;
};

/* Connection flags of an EXEC request. */
#define WIRE_CONN_FOREIGN_KEYS 0x1u /* foreign key constraints are enforced */
#define WIRE_CONN_NO_TRIGGERS 0x2u  /* triggers are disabled (SQLITE_DBCONFIG_ENABLE_TRIGGER 0) */

/* Session flags of an EXEC request. */
#define WIRE_SESSION_BEGIN 0x1u    /* open the session: run the prologue, then the statement */
#define WIRE_SESSION_SNAPSHOT 0x2u /* snapshot_txid is set */
#define WIRE_SESSION_DESCRIBE 0x4u /* prepare the statement in the session and describe it */
/* The client sends this request id again after an attempt with no answer: it may have run
 * already, by this forwarder or by a primary before a failover, so the database's durable
 * record of executed requests is looked at first. */
#define WIRE_EXEC_REPEAT 0x8u
/* That record: a table of each database, written by the primary's forwarder in the
 * transaction of the request it records and replicated with it, (id INTEGER PRIMARY KEY,
 * at INTEGER, reply BLOB), reply the encoded RESULT message. A client that finds its own
 * node primary reads it there. */
#define WIRE_RECORD_TABLE "_litefs_fwd_requests"

struct wire_exec {
	uint64_t request_id;
	int32_t busy_timeout_ms;
	uint32_t conn_flags;
	int64_t last_insert_rowid;
	struct wire_str db, sql;
	uint32_t nparams;
	struct wire_value *params;
	uint64_t session_id;
	uint32_t session_flags;
	uint64_t snapshot_txid;
	uint32_t txn_timeout_ms;
	struct wire_str prologue;
};

/* Result flags. */
#define WIRE_RESULT_ROWID 0x1u /* last_insert_rowid is no longer the request's: it inserted */
#define WIRE_RESULT_IN_TXN 0x2u /* a session request: its transaction is open afterwards */
#define WIRE_RESULT_NOT_BEGUN 0x4u /* WIRE_SESSION_BEGIN refused, nothing was run: rc says
				    * why (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT) */

struct wire_result {
	uint64_t request_id;
	uint32_t flags;
	int32_t rc, xrc;
	struct wire_str errmsg;
	int64_t changes, total_changes_delta, last_insert_rowid;
	uint64_t txid;
	uint32_t ncols, nrows;
	struct wire_value *cells; /* nrows * ncols */
};

struct wire_not_primary {
	uint64_t request_id;
	struct wire_str primary;
};

struct wire_error {
	uint64_t request_id;
	int32_t code;
	struct wire_str message;
};

#define WIRE_DESC_READONLY 0x1u /* sqlite3_stmt_readonly() is true of it */

struct wire_description {
	uint64_t request_id;
	int32_t rc, xrc;
	struct wire_str errmsg;
	uint32_t tail;
	uint32_t flags;
	uint32_t nparams;
	struct wire_value *params;  /* nparams: TEXT or NULL */
	uint32_t ncols;
	struct wire_value *cols;    /* ncols * 2: name TEXT, declared type TEXT or NULL */
};

/* Flags of a PING. */
#define WIRE_PING_DATABASES 0x1u /* the PONG lists the databases of the mount and TXIDs */

struct wire_ping {
	uint64_t request_id;
	uint32_t flags;
};

/* The role a PONG reports. */
enum wire_role {
	WIRE_ROLE_PRIMARY = 0,  /* writes are executed here */
	WIRE_ROLE_REPLICA = 1,  /* requests are answered NOT_PRIMARY */
	WIRE_ROLE_NO_MOUNT = 2, /* the forwarder's mount is missing or not a directory */
	WIRE_ROLE_UNKNOWN = 3,  /* the mount could not be read */
};

struct wire_pong_db {
	struct wire_str name;
	uint64_t txid;
};

struct wire_pong {
	uint64_t request_id;
	uint32_t role;                 /* enum wire_role; other values may come from newer
					* forwarders */
	struct wire_str primary;
	struct wire_str version;
	uint64_t uptime_ms;
	uint64_t clock_ms;
	uint32_t ndbs;
	struct wire_pong_db *dbs;      /* ndbs */
};

/* A decoded message. Arrays (params, cells, dbs) are malloc'd by wire_decode and released by
 * wire_msg_free; strings point into the buffer given to wire_decode, which must outlive it. */
struct wire_msg {
	uint8_t type;
	uint16_t flags;
	union {
		struct wire_exec exec;
		struct wire_result result;
		struct wire_not_primary not_primary;
		struct wire_error error;
		struct wire_description description;
		struct wire_ping ping;
		struct wire_pong pong;
	} u;
};

/* A growable output buffer. */
struct wire_buf {
	uint8_t *p;
	size_t len, cap;
};

void wire_buf_free(struct wire_buf *b);
/* Appends n bytes at p to b. Returns 0 or -ENOMEM (b unchanged). */
int wire_buf_append(struct wire_buf *b, const void *p, size_t n);

/* Encoders append one whole message to b (which may already hold bytes, e.g. a transport
 * header). Each returns 0, -ENOMEM, or -EMSGSIZE when the message would exceed max bytes. */
int wire_encode_exec(struct wire_buf *b, const struct wire_exec *m, size_t max);
int wire_encode_result(struct wire_buf *b, const struct wire_result *m, size_t max);
int wire_encode_not_primary(struct wire_buf *b, const struct wire_not_primary *m, size_t max);
int wire_encode_error(struct wire_buf *b, const struct wire_error *m, size_t max);
int wire_encode_description(struct wire_buf *b, const struct wire_description *m, size_t max);
int wire_encode_ping(struct wire_buf *b, const struct wire_ping *m, size_t max);
int wire_encode_pong(struct wire_buf *b, const struct wire_pong *m, size_t max);
/* The encoder of m's type; -EINVAL for a type that has none. */
int wire_encode_msg(struct wire_buf *b, const struct wire_msg *m, size_t max);

/* Decodes the message in buf[0..len), which must be exactly one message. Returns 0, or
 * -EPROTONOSUPPORT for another version, -EBADMSG for a malformed or truncated message or
 * trailing bytes, -EMSGSIZE when len exceeds max, -ENOMEM. On error m needs no freeing. */
int wire_decode(const void *buf, size_t len, size_t max, struct wire_msg *m);
void wire_msg_free(struct wire_msg *m);

/* Reads the request id of any message without decoding the rest; 0 when unreadable. */
uint64_t wire_peek_request_id(const void *buf, size_t len);
/* The type of the message in buf[0..len) in *type and, in *code, a RESULT's rc or an
 * ERROR's code (0 for the other types), read from the fixed fields after the header
 * without decoding the rest (a reply about to be sent, for the forwarder's figures).
 * Returns 0, or -EBADMSG when buf does not start a message of this version and of a known
 * type, with those fields. */
int wire_peek_code(const void *buf, size_t len, uint8_t *type, int32_t *code);

#endif
