/* Writes the seed corpora of fuzz_wire and fuzz_request: real messages made with the
 * wire_encode_* functions, one file each, into DIR/wire/ and DIR/request/ (which must
 * exist). Deterministic: the same files on every run.
 *
 *   make_seeds DIR        (what `make fuzz-seeds` runs, with DIR = fuzz/corpus)
 *
 * The request seeds are what a replica's interposer sends, against the database a.db
 * that fuzz_request makes (tables t, child and log): statements in autocommit mode with
 * parameters of every type, RETURNING rows, a session's first statement, a repeat, and
 * requests the forwarder refuses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define MAX WIRE_DEFAULT_MAX_MESSAGE
#define STR(text) ((struct wire_str){ (text), (uint32_t)strlen(text) })
#define TEXT(lit) { .type = WIRE_TEXT, .u.s = { (lit), sizeof(lit) - 1 } }
#define BLOB(lit) { .type = WIRE_BLOB, .u.s = { (lit), sizeof(lit) - 1 } }

static const char *g_dir;
static int g_failed;

static void save(const char *sub, const char *name, const struct wire_buf *b, int rc)
{
	char path[4096];
	FILE *f;

	if (rc) {
		fprintf(stderr, "make_seeds: encoding %s/%s: %s\n", sub, name, strerror(-rc));
		g_failed = 1;
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", g_dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f)) {
		fprintf(stderr, "make_seeds: cannot write %s\n", path);
		g_failed = 1;
	}
}

static void save_exec(const char *sub, const char *name, const struct wire_exec *e)
{
	struct wire_buf b = { 0 };

	save(sub, name, &b, wire_encode_exec(&b, e, MAX));
	wire_buf_free(&b);
}

/* One value of each type, as parameters or cells. */
static const uint16_t utf16[] = { 'h', 0xe9, 'l', 'l', 'o' };
static const struct wire_value all_types[] = {
	{ .type = WIRE_NULL },
	{ .type = WIRE_INTEGER, .u.i = -42 },
	{ .type = WIRE_FLOAT, .u.f = -0.0 },
	TEXT("caf\xc3\xa9"),
	{ .type = WIRE_TEXT16, .u.s = { utf16, sizeof(utf16) } },
	BLOB("\x00\x01\xfe\xff"),
	{ .type = WIRE_ZEROBLOB, .u.zero = 16 },
};
#define NALL ((uint32_t)(sizeof(all_types) / sizeof(all_types[0])))

static void wire_seeds(void)
{
	struct wire_exec e = {
		.request_id = 0x0102030405060708ULL, .busy_timeout_ms = 5000,
		.conn_flags = WIRE_CONN_FOREIGN_KEYS, .last_insert_rowid = 7,
		.db = STR("app.db"), .sql = STR("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
		.nparams = NALL, .params = (struct wire_value *)all_types,
	};
	struct wire_value cells[] = {
		{ .type = WIRE_INTEGER, .u.i = 1 }, TEXT("a"),
		{ .type = WIRE_INTEGER, .u.i = 2 }, { .type = WIRE_NULL },
	};
	struct wire_result r = {
		.request_id = 9, .flags = WIRE_RESULT_ROWID, .rc = 101, .xrc = 101,
		.errmsg = STR("no more rows available"), .changes = 2, .total_changes_delta = 3,
		.last_insert_rowid = 2, .txid = 5, .ncols = 2, .nrows = 2, .cells = cells,
	};
	struct wire_not_primary np = { .request_id = 10, .primary = STR("node-a") };
	struct wire_error er = { .request_id = 11, .code = EBADMSG,
				 .message = STR("malformed request") };
	struct wire_value desc[] = {
		TEXT(":name"), { .type = WIRE_NULL },
		TEXT("id"), TEXT("INTEGER"), TEXT("v"), { .type = WIRE_NULL },
	};
	struct wire_description d = {
		.request_id = 12, .errmsg = STR(""), .tail = 30, .flags = WIRE_DESC_READONLY,
		.nparams = 2, .params = desc, .ncols = 2, .cols = desc + 2,
	};
	struct wire_buf b = { 0 };

	save_exec("wire", "exec-all-types", &e);
	e = (struct wire_exec){
		.request_id = 13, .db = STR("app.db"), .sql = STR("UPDATE t SET v = 1"),
		.session_id = 77, .session_flags = WIRE_SESSION_BEGIN | WIRE_SESSION_SNAPSHOT,
		.snapshot_txid = 4, .txn_timeout_ms = 5000, .prologue = STR("BEGIN IMMEDIATE"),
	};
	save_exec("wire", "exec-session-begin", &e);
	save("wire", "result-rows", &b, wire_encode_result(&b, &r, MAX));
	b.len = 0;
	save("wire", "not-primary", &b, wire_encode_not_primary(&b, &np, MAX));
	b.len = 0;
	save("wire", "error", &b, wire_encode_error(&b, &er, MAX));
	b.len = 0;
	save("wire", "description", &b, wire_encode_description(&b, &d, MAX));
	wire_buf_free(&b);
}

static void request_seeds(void)
{
	static const struct wire_value insert_params[] = {
		TEXT("fuzz"), BLOB("\x00\x01\x02"), { .type = WIRE_FLOAT, .u.f = 2.5 },
	};
	static const struct wire_value update_params[] = {
		TEXT("renamed"), { .type = WIRE_INTEGER, .u.i = 2 },
	};
	struct wire_exec e;
	struct wire_result r = { .request_id = 1, .errmsg = STR("") };
	struct wire_buf b = { 0 };

	e = (struct wire_exec){ .request_id = 1, .busy_timeout_ms = 1000, .db = STR("a.db"),
		.sql = STR("INSERT INTO t(v, b, n) VALUES (?1, ?2, ?3)"), .nparams = 3,
		.params = (struct wire_value *)insert_params };
	save_exec("request", "insert-params", &e);

	e = (struct wire_exec){ .request_id = 2, .busy_timeout_ms = 1000, .db = STR("a.db"),
		.sql = STR("UPDATE t SET v = ?1 WHERE id = ?2 RETURNING id, v, b, n"),
		.nparams = 2, .params = (struct wire_value *)update_params };
	save_exec("request", "update-returning", &e);

	e = (struct wire_exec){ .request_id = 3, .db = STR("a.db"),
		.sql = STR("SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"), .nparams = NALL,
		.params = (struct wire_value *)all_types };
	save_exec("request", "select-all-types", &e);

	e = (struct wire_exec){ .request_id = 4, .conn_flags = WIRE_CONN_FOREIGN_KEYS,
		.last_insert_rowid = 3, .db = STR("a.db"),
		.sql = STR("INSERT INTO child(t_id) VALUES (99)") };
	save_exec("request", "foreign-key", &e);

	e = (struct wire_exec){ .request_id = 5, .db = STR("a.db"),
		.sql = STR("INSERT INTO t(v) VALUES ('a') ON CONFLICT(v) DO UPDATE SET n = n + 1 "
			   "RETURNING *") };
	save_exec("request", "upsert", &e);

	e = (struct wire_exec){ .request_id = 6, .db = STR("b.db"),
		.sql = STR("CREATE TABLE IF NOT EXISTS u(a INTEGER PRIMARY KEY, b TEXT)") };
	save_exec("request", "create-other-db", &e);

	e = (struct wire_exec){ .request_id = 7, .busy_timeout_ms = 1000, .db = STR("a.db"),
		.sql = STR("INSERT INTO t(v) VALUES ('in a session')"), .session_id = 70,
		.session_flags = WIRE_SESSION_BEGIN | WIRE_SESSION_SNAPSHOT, .snapshot_txid = 3,
		.txn_timeout_ms = 2000, .prologue = STR("BEGIN IMMEDIATE") };
	save_exec("request", "session-begin", &e);

	e = (struct wire_exec){ .request_id = 8, .db = STR("a.db"), .sql = STR("COMMIT"),
		.session_id = 70, .session_flags = WIRE_EXEC_REPEAT };
	save_exec("request", "session-commit-repeat", &e);

	e = (struct wire_exec){ .request_id = 9, .db = STR("a.db"), .sql = STR("SELECT * FROM t"),
		.session_id = 71, .session_flags = WIRE_SESSION_DESCRIBE };
	save_exec("request", "session-describe", &e);

	e = (struct wire_exec){ .request_id = 10, .db = STR("a.db"),
		.sql = STR("DELETE FROM log WHERE x > 100"), .session_flags = WIRE_EXEC_REPEAT };
	save_exec("request", "delete-repeat", &e);

	e = (struct wire_exec){ .request_id = 11, .db = STR("a.db"),
		.sql = STR("SELECT 1; SELECT 2") };
	save_exec("request", "two-statements", &e);

	e = (struct wire_exec){ .request_id = 12, .db = STR("a.db"), .sql = STR("BEGIN") };
	save_exec("request", "begin-outside-session", &e);

	e = (struct wire_exec){ .request_id = 13, .db = STR("../a.db"), .sql = STR("SELECT 1") };
	save_exec("request", "bad-db-name", &e);

	save("request", "result-not-a-request", &b, wire_encode_result(&b, &r, MAX));
	if (!g_failed) {
		b.p[0] = WIRE_VERSION - 1; /* the same bytes from an older client */
		save("request", "old-version", &b, 0);
	}
	wire_buf_free(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	g_dir = argv[1];
	wire_seeds();
	request_seeds();
	return g_failed;
}
