/* Unit tests of the wire codec (common/wire.c): round trips of every message and value type,
 * bit-exact doubles, large values, and a decoder that refuses every truncated, padded,
 * mis-versioned or lying message without reading outside its input or allocating more
 * than the input justifies. Decoding always works on an exact-size heap copy of the bytes,
 * so a read one byte too far is caught by the sanitizers and by valgrind. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "wire.h"

#define MAX WIRE_DEFAULT_MAX_MESSAGE
/* Bytes of the session fields that end an EXEC with an empty prologue. */
#define EXEC_TAIL (8 + 4 + 8 + 4 + 4)

/* --- support ---------------------------------------------------------------------------- */

static uint64_t bits_of(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double double_of(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static struct wire_str str_of(const char *s)
{
	return (struct wire_str){ .p = s, .n = (uint32_t)strlen(s) };
}

static struct wire_value val_null(void)
{
	return (struct wire_value){ .type = WIRE_NULL };
}

static struct wire_value val_int(int64_t i)
{
	return (struct wire_value){ .type = WIRE_INTEGER, .u.i = i };
}

static struct wire_value val_float_bits(uint64_t bits)
{
	return (struct wire_value){ .type = WIRE_FLOAT, .u.f = double_of(bits) };
}

static struct wire_value val_bytes(uint8_t type, const void *p, uint64_t n)
{
	return (struct wire_value){ .type = type, .u.s = { .p = p, .n = n } };
}

static struct wire_value val_zeroblob(uint64_t n)
{
	return (struct wire_value){ .type = WIRE_ZEROBLOB, .u.zero = n };
}

/* An exact-size heap copy, so that reading past its end is an error the tools see. */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Decodes a copy of p[0..n); returns the decoder's result, m empty when it failed. */
struct decoded {
	uint8_t *copy;
	size_t len;
	struct wire_msg m;
};

static int decode_copy(const void *p, size_t n, struct decoded *d)
{
	d->copy = dup_exact(p, n);
	d->len = n;
	return wire_decode(d->copy, n, MAX, &d->m);
}

static void decoded_free(struct decoded *d)
{
	wire_msg_free(&d->m);
	free(d->copy);
	d->copy = NULL;
}

/* The result of decoding a copy of p[0..n), with everything released again. */
static int decode_rc(const void *p, size_t n)
{
	struct decoded d;
	int rc = decode_copy(p, n, &d);

	if (rc) {
		/* On failure the message is empty: nothing to free, nothing dangling. */
		assert_int_equal(d.m.type, 0);
		assert_null(d.m.u.exec.params);
	}
	decoded_free(&d);
	return rc;
}

/* Decoded bytes point into the input buffer. */
static void assert_inside(const void *p, uint64_t n, const struct decoded *d)
{
	const uint8_t *q = p;

	assert_non_null(q);
	assert_true(q >= d->copy && q <= d->copy + d->len);
	assert_true(n <= (uint64_t)(d->copy + d->len - q));
}

static void assert_str_same(struct wire_str got, struct wire_str want, const struct decoded *d)
{
	assert_int_equal(got.n, want.n);
	assert_inside(got.p, got.n, d);
	if (want.n)
		assert_memory_equal(got.p, want.p, want.n);
}

static void assert_value_same(const struct wire_value *got, const struct wire_value *want,
			      const struct decoded *d)
{
	assert_int_equal(got->type, want->type);
	switch (want->type) {
	case WIRE_NULL:
		break;
	case WIRE_INTEGER:
		assert_true(got->u.i == want->u.i);
		break;
	case WIRE_FLOAT:
		assert_true(bits_of(got->u.f) == bits_of(want->u.f));
		break;
	case WIRE_TEXT:
	case WIRE_TEXT16:
	case WIRE_BLOB:
		assert_true(got->u.s.n == want->u.s.n);
		assert_inside(got->u.s.p, got->u.s.n, d);
		if (want->u.s.n)
			assert_memory_equal(got->u.s.p, want->u.s.p, want->u.s.n);
		break;
	case WIRE_ZEROBLOB:
		assert_true(got->u.zero == want->u.zero);
		break;
	default:
		fail_msg("unexpected value type %u", want->type);
	}
}


/* Encodes m, decodes an exact copy, checks the header, and hands the decoded form back. */
static void roundtrip(const struct wire_msg *m, struct decoded *d)
{
	struct wire_buf b = { 0 };

	assert_int_equal(wire_encode_msg(&b, m, MAX), 0);
	assert_true(b.len >= WIRE_HEADER_SIZE + 8);
	assert_int_equal(b.p[0], WIRE_VERSION);
	assert_int_equal(b.p[1], m->type);
	assert_int_equal(decode_copy(b.p, b.len, d), 0);
	assert_int_equal(d->m.type, m->type);
	assert_int_equal(d->m.flags, 0);
	wire_buf_free(&b);
}

static void assert_exec_same(const struct decoded *d, const struct wire_exec *want)
{
	const struct wire_exec *got = &d->m.u.exec;

	assert_true(got->request_id == want->request_id);
	assert_int_equal(got->busy_timeout_ms, want->busy_timeout_ms);
	assert_int_equal(got->conn_flags, want->conn_flags);
	assert_true(got->last_insert_rowid == want->last_insert_rowid);
	assert_str_same(got->db, want->db, d);
	assert_str_same(got->sql, want->sql, d);
	assert_int_equal(got->nparams, want->nparams);
	if (!want->nparams)
		assert_null(got->params);
	for (uint32_t i = 0; i < want->nparams; i++)
		assert_value_same(&got->params[i], &want->params[i], d);
	assert_true(got->session_id == want->session_id);
	assert_int_equal(got->session_flags, want->session_flags);
	assert_true(got->snapshot_txid == want->snapshot_txid);
	assert_int_equal(got->txn_timeout_ms, want->txn_timeout_ms);
	assert_str_same(got->prologue, want->prologue, d);
}

static void assert_result_same(const struct decoded *d, const struct wire_result *want)
{
	const struct wire_result *got = &d->m.u.result;
	uint64_t n = (uint64_t)want->ncols * want->nrows;

	assert_true(got->request_id == want->request_id);
	assert_int_equal(got->rc, want->rc);
	assert_int_equal(got->xrc, want->xrc);
	assert_str_same(got->errmsg, want->errmsg, d);
	assert_true(got->changes == want->changes);
	assert_true(got->total_changes_delta == want->total_changes_delta);
	assert_true(got->last_insert_rowid == want->last_insert_rowid);
	assert_int_equal(got->flags, want->flags);
	assert_true(got->txid == want->txid);
	assert_int_equal(got->ncols, want->ncols);
	assert_int_equal(got->nrows, want->nrows);
	if (!n)
		assert_null(got->cells);
	for (uint64_t i = 0; i < n; i++)
		assert_value_same(&got->cells[i], &want->cells[i], d);
}

/* --- sample messages -------------------------------------------------------------------- */

static const char text_nul[] = { 'a', 0, 'b', 0, 0, 'c' };
/* "hé" then NUL then "€" as UTF-16LE, the way a little-endian sender hands it over. */
static const uint8_t text16[] = { 'h', 0, 0xe9, 0, 0, 0, 0xac, 0x20 };
static const uint8_t blob3[] = { 0, 0xff, 0x80 };

/* One of each value type and each corner the codec must carry unchanged. */
static size_t sample_values(struct wire_value *v)
{
	volatile double a = 0.1, b = 0.2;
	size_t n = 0;

	v[n++] = val_null();
	v[n++] = val_int(INT64_MIN);
	v[n++] = val_int(INT64_MAX);
	v[n++] = val_int(0);
	v[n++] = val_int(-1);
	v[n++] = (struct wire_value){ .type = WIRE_FLOAT, .u.f = a + b };
	v[n++] = val_float_bits(0x8000000000000000ull);	/* -0.0 */
	v[n++] = val_float_bits(0x7ff0000000000000ull);	/* +inf */
	v[n++] = val_float_bits(0xfff0000000000000ull);	/* -inf */
	v[n++] = val_float_bits(0x7ff80000deadbeefull);	/* quiet NaN with a payload */
	v[n++] = val_float_bits(0xfff4000000c0ffeeull);	/* negative signalling NaN */
	v[n++] = val_float_bits(0x0000000000000001ull);	/* smallest subnormal */
	v[n++] = (struct wire_value){ .type = WIRE_FLOAT, .u.f = DBL_MAX };
	v[n++] = val_bytes(WIRE_TEXT, text_nul, sizeof(text_nul));
	v[n++] = val_bytes(WIRE_TEXT, "", 0);
	v[n++] = val_bytes(WIRE_TEXT, NULL, 0);
	v[n++] = val_bytes(WIRE_TEXT16, text16, sizeof(text16));
	v[n++] = val_bytes(WIRE_BLOB, blob3, sizeof(blob3));
	v[n++] = val_bytes(WIRE_BLOB, NULL, 0);
	v[n++] = val_zeroblob(0);
	v[n++] = val_zeroblob(1ull << 40);
	return n;
}

#define NSAMPLE 21

/* A small valid message of each type, for the malformed-input tests. */
static void sample_encode(uint8_t type, struct wire_buf *b)
{
	static struct wire_value v[NSAMPLE];
	struct wire_msg m = { .type = type };
	size_t n = sample_values(v);

	assert_int_equal(n, NSAMPLE);
	switch (type) {
	case WIRE_EXEC:
		m.u.exec = (struct wire_exec){
			.request_id = 0x0102030405060708ull, .busy_timeout_ms = 5000,
			.db = str_of("app.db"), .sql = str_of("INSERT INTO t VALUES(?)"),
			.nparams = (uint32_t)n, .params = v,
		};
		break;
	case WIRE_RESULT:
		m.u.result = (struct wire_result){
			.request_id = 42, .rc = 101, .xrc = 101, .errmsg = str_of("not an error"),
			.changes = 3, .total_changes_delta = 3, .last_insert_rowid = -7, .txid = 99,
			.ncols = 3, .nrows = 7, .cells = v,
		};
		break;
	case WIRE_NOT_PRIMARY:
		m.u.not_primary = (struct wire_not_primary){
			.request_id = 43, .primary = str_of("node-a"),
		};
		break;
	case WIRE_ERROR:
		m.u.error = (struct wire_error){
			.request_id = 44, .code = -ENOENT, .message = str_of("no such database"),
		};
		break;
	}
	assert_int_equal(wire_encode_msg(b, &m, MAX), 0);
}

static const uint8_t all_types[] = { WIRE_EXEC, WIRE_RESULT, WIRE_NOT_PRIMARY, WIRE_ERROR };

/* --- round trips ------------------------------------------------------------------------ */

static void test_exec_all_value_types(void **state)
{
	struct wire_value v[NSAMPLE];
	struct wire_exec e = {
		.request_id = UINT64_MAX, .busy_timeout_ms = INT32_MIN,
		.conn_flags = WIRE_CONN_FOREIGN_KEYS | 0x80000000u, .last_insert_rowid = INT64_MIN,
		.db = str_of("main.db"), .sql = { .p = "SELECT ?\0tail", .n = 13 },
		.session_id = UINT64_MAX - 1, .session_flags = WIRE_SESSION_BEGIN | 0x80000000u,
		.snapshot_txid = UINT64_MAX, .txn_timeout_ms = UINT32_MAX,
		.prologue = { .p = "BEGIN;\0SAVEPOINT a", .n = 18 },
	};
	struct wire_msg m = { .type = WIRE_EXEC };
	struct decoded d;
	const struct wire_value *p;

	(void)state;
	e.nparams = (uint32_t)sample_values(v);
	e.params = v;
	m.u.exec = e;
	roundtrip(&m, &d);
	assert_exec_same(&d, &e);

	/* Spelled out once more, so that a mistake shared by both sides cannot hide. */
	p = d.m.u.exec.params;
	assert_true(p[1].u.i == INT64_MIN);
	assert_true(p[2].u.i == INT64_MAX);
	assert_true(p[4].u.i == -1);
	assert_true(bits_of(p[5].u.f) == 0x3fd3333333333334ull);
	assert_true(p[5].u.f == 0.30000000000000004);
	assert_true(p[6].u.f == 0.0 && signbit(p[6].u.f));
	assert_true(isinf(p[7].u.f) && p[7].u.f > 0);
	assert_true(isinf(p[8].u.f) && p[8].u.f < 0);
	assert_true(isnan(p[9].u.f) && bits_of(p[9].u.f) == 0x7ff80000deadbeefull);
	assert_true(bits_of(p[10].u.f) == 0xfff4000000c0ffeeull);
	assert_true(p[11].u.f == DBL_TRUE_MIN && fpclassify(p[11].u.f) == FP_SUBNORMAL);
	assert_true(p[12].u.f == DBL_MAX);
	/* Empty text and empty blob stay empty values of their type, distinct from NULL. */
	assert_int_equal(p[0].type, WIRE_NULL);
	assert_int_equal(p[14].type, WIRE_TEXT);
	assert_true(p[14].u.s.n == 0 && p[14].u.s.p != NULL);
	assert_int_equal(p[15].type, WIRE_TEXT);
	assert_true(p[15].u.s.p != NULL);
	assert_int_equal(p[18].type, WIRE_BLOB);
	assert_true(p[18].u.s.n == 0 && p[18].u.s.p != NULL);
	assert_int_equal(p[16].type, WIRE_TEXT16);
	assert_true(p[20].u.zero == 1ull << 40);
	assert_int_equal(d.m.u.exec.sql.n, 13);
	assert_memory_equal(d.m.u.exec.sql.p, "SELECT ?\0tail", 13);
	decoded_free(&d);
}

static void test_exec_no_params(void **state)
{
	struct wire_exec e = {
		.request_id = 0, .busy_timeout_ms = 0, .db = { NULL, 0 }, .sql = { NULL, 0 },
		.nparams = 0, .params = NULL,
	};
	struct wire_msg m = { .type = WIRE_EXEC, .u.exec = e };
	struct wire_buf b = { 0 };
	struct decoded d;

	(void)state;
	roundtrip(&m, &d);
	assert_exec_same(&d, &e);
	assert_true(d.m.u.exec.request_id == 0);
	decoded_free(&d);

	/* Fixed size: header, id, timeout, connection flags, rowid, two empty strs, count,
	 * then session id, session flags, snapshot, timeout and an empty prologue. */
	assert_int_equal(wire_encode_exec(&b, &e, MAX), 0);
	assert_int_equal(b.len, WIRE_HEADER_SIZE + 8 + 4 + 4 + 8 + 4 + 4 + 4 + 8 + 4 + 8 + 4 + 4);
	wire_buf_free(&b);
}

static void test_exec_many_params(void **state)
{
	static struct wire_value v[1000];
	static char texts[1000][16];
	struct wire_exec e = {
		.request_id = 7, .busy_timeout_ms = 250, .db = str_of("x.db"),
		.sql = str_of("INSERT INTO t VALUES(?1, ...)"), .nparams = 1000, .params = v,
	};
	struct wire_msg m = { .type = WIRE_EXEC };
	struct decoded d;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(texts[i], sizeof(texts[i]), "p%d", i);

		switch (i % 6) {
		case 0: v[i] = val_null(); break;
		case 1: v[i] = val_int((int64_t)i * -1000003); break;
		case 2: v[i] = val_float_bits(0x4000000000000000ull + (uint64_t)i); break;
		case 3: v[i] = val_bytes(WIRE_TEXT, texts[i], (uint64_t)n); break;
		case 4: v[i] = val_bytes(WIRE_BLOB, texts[i], (uint64_t)n + 1); break;
		default: v[i] = val_zeroblob((uint64_t)i); break;
		}
	}
	m.u.exec = e;
	roundtrip(&m, &d);
	assert_exec_same(&d, &e);
	decoded_free(&d);
}

/* A DESCRIPTION: names of parameters and columns, NULL where there is none. */
static void test_description_roundtrip(void **state)
{
	struct wire_value params[3] = { { .type = WIRE_TEXT, .u.s = { ":a", 2 } },
					{ .type = WIRE_NULL },
					{ .type = WIRE_TEXT, .u.s = { "?3", 2 } } };
	struct wire_value cols[4] = { { .type = WIRE_TEXT, .u.s = { "a", 1 } },
				      { .type = WIRE_TEXT, .u.s = { "INTEGER", 7 } },
				      { .type = WIRE_TEXT, .u.s = { "", 0 } },
				      { .type = WIRE_NULL } };
	struct wire_description d = { .request_id = 9, .rc = 1, .xrc = 257,
				      .errmsg = { "no such table: x", 16 }, .tail = 42,
				      .flags = WIRE_DESC_READONLY, .nparams = 3, .params = params,
				      .ncols = 2, .cols = cols };
	struct wire_buf b = { 0 };
	struct wire_msg m;

	(void)state;
	assert_int_equal(wire_encode_description(&b, &d, MAX), 0);
	assert_true(wire_peek_request_id(b.p, b.len) == 9);
	assert_int_equal(wire_decode(b.p, b.len, MAX, &m), 0);
	assert_int_equal(m.type, WIRE_DESCRIPTION);
	assert_true(m.u.description.request_id == 9);
	assert_int_equal(m.u.description.rc, 1);
	assert_int_equal(m.u.description.xrc, 257);
	assert_int_equal(m.u.description.errmsg.n, 16);
	assert_int_equal(m.u.description.tail, 42);
	assert_int_equal(m.u.description.flags, WIRE_DESC_READONLY);
	assert_int_equal(m.u.description.nparams, 3);
	assert_int_equal(m.u.description.params[1].type, WIRE_NULL);
	assert_memory_equal(m.u.description.params[2].u.s.p, "?3", 2);
	assert_int_equal(m.u.description.ncols, 2);
	assert_memory_equal(m.u.description.cols[1].u.s.p, "INTEGER", 7);
	assert_int_equal(m.u.description.cols[3].type, WIRE_NULL);
	wire_msg_free(&m);
	/* every truncation is refused */
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(wire_decode(b.p, n, MAX, &m), 0);
	/* an empty one */
	b.len = 0;
	d = (struct wire_description){ .request_id = 1 };
	assert_int_equal(wire_encode_description(&b, &d, MAX), 0);
	assert_int_equal(wire_decode(b.p, b.len, MAX, &m), 0);
	assert_null(m.u.description.params);
	assert_null(m.u.description.cols);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

static void test_result_no_rows(void **state)
{
	struct wire_result r = {
		.request_id = UINT64_MAX, .rc = 101, .xrc = 101, .errmsg = { NULL, 0 },
		.changes = 0, .total_changes_delta = 0, .last_insert_rowid = 0, .txid = 0,
		.ncols = 2, .nrows = 0, .cells = NULL,
	};
	struct wire_msg m = { .type = WIRE_RESULT };
	struct decoded d;

	(void)state;
	m.u.result = r;
	roundtrip(&m, &d);
	assert_result_same(&d, &r);
	decoded_free(&d);

	/* Rows without columns carry no cells either. */
	r.ncols = 0;
	r.nrows = 5;
	m.u.result = r;
	roundtrip(&m, &d);
	assert_result_same(&d, &r);
	decoded_free(&d);
}

static void test_result_cells(void **state)
{
	struct wire_value c[12] = {
		val_int(1), val_bytes(WIRE_TEXT, "one", 3), val_float_bits(0x3ff0000000000000ull),
		val_null(),
		val_int(INT64_MIN), val_bytes(WIRE_BLOB, blob3, sizeof(blob3)),
		val_float_bits(0x8000000000000000ull), val_bytes(WIRE_TEXT, "", 0),
		val_int(INT64_MAX), val_bytes(WIRE_TEXT, text_nul, sizeof(text_nul)),
		val_zeroblob(16), val_bytes(WIRE_BLOB, NULL, 0),
	};
	struct wire_result r = {
		.request_id = 12345, .rc = 101, .xrc = 101, .errmsg = str_of(""),
		.flags = WIRE_RESULT_ROWID | 0x80000000u,
		.changes = 3, .total_changes_delta = INT64_MAX, .last_insert_rowid = INT64_MIN,
		.txid = UINT64_MAX, .ncols = 4, .nrows = 3, .cells = c,
	};
	struct wire_msg m = { .type = WIRE_RESULT };
	struct decoded d;

	(void)state;
	m.u.result = r;
	roundtrip(&m, &d);
	assert_result_same(&d, &r);
	/* Row-major: row 2, column 1 is cell 9. */
	assert_int_equal(d.m.u.result.cells[9].type, WIRE_TEXT);
	assert_memory_equal(d.m.u.result.cells[9].u.s.p, text_nul, sizeof(text_nul));
	decoded_free(&d);

	/* An error result with a message. */
	r = (struct wire_result){
		.request_id = 0, .rc = 19, .xrc = 2067,
		.errmsg = str_of("UNIQUE constraint failed: t.id"),
		.changes = -1, .total_changes_delta = -2, .last_insert_rowid = -3, .txid = 1,
	};
	m.u.result = r;
	roundtrip(&m, &d);
	assert_result_same(&d, &r);
	decoded_free(&d);
}

static void test_not_primary(void **state)
{
	static const char host[] = { 'h', 'o', 0, 's', 't' };
	struct wire_not_primary cases[] = {
		{ .request_id = 0, .primary = { NULL, 0 } },
		{ .request_id = UINT64_MAX, .primary = str_of("primary.internal") },
		{ .request_id = 1, .primary = { host, sizeof(host) } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wire_msg m = { .type = WIRE_NOT_PRIMARY, .u.not_primary = cases[i] };
		struct decoded d;

		roundtrip(&m, &d);
		assert_true(d.m.u.not_primary.request_id == cases[i].request_id);
		assert_str_same(d.m.u.not_primary.primary, cases[i].primary, &d);
		decoded_free(&d);
	}
}

static void test_error(void **state)
{
	struct wire_error cases[] = {
		{ .request_id = 0, .code = -EBADMSG, .message = { NULL, 0 } },
		{ .request_id = UINT64_MAX, .code = INT32_MIN, .message = str_of("") },
		{ .request_id = 5, .code = -EIO, .message = str_of("disk I/O error on primary") },
		{ .request_id = 6, .code = INT32_MAX, .message = { text_nul, sizeof(text_nul) } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wire_msg m = { .type = WIRE_ERROR, .u.error = cases[i] };
		struct decoded d;

		roundtrip(&m, &d);
		assert_true(d.m.u.error.request_id == cases[i].request_id);
		assert_int_equal(d.m.u.error.code, cases[i].code);
		assert_str_same(d.m.u.error.message, cases[i].message, &d);
		decoded_free(&d);
	}
}

static void test_large_blob(void **state)
{
	const size_t n = 64u << 20;
	uint8_t *blob = malloc(n);
	struct wire_value v[2];
	struct wire_exec e = {
		.request_id = 9, .db = str_of("big.db"), .sql = str_of("INSERT INTO b VALUES(?, ?)"),
		.nparams = 2, .params = v,
	};
	struct wire_buf b = { 0 };
	struct wire_msg m;
	uint32_t x = 2463534242u;

	(void)state;
	assert_non_null(blob);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		blob[i] = (uint8_t)x;
	}
	v[0] = val_bytes(WIRE_BLOB, blob, n);
	v[1] = val_bytes(WIRE_TEXT, blob, n);
	assert_int_equal(wire_encode_exec(&b, &e, MAX), 0);
	assert_true(b.len > 2 * n);
	/* The wire buffer is decoded in place here: 128 MiB are not copied once more. */
	assert_int_equal(wire_decode(b.p, b.len, MAX, &m), 0);
	assert_int_equal(m.u.exec.nparams, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(m.u.exec.params[i].u.s.n == n);
		assert_true(memcmp(m.u.exec.params[i].u.s.p, blob, n) == 0);
	}
	assert_int_equal(m.u.exec.params[0].type, WIRE_BLOB);
	assert_int_equal(m.u.exec.params[1].type, WIRE_TEXT);
	wire_msg_free(&m);

	/* The same with a cap just too small for it. */
	assert_int_equal(wire_decode(b.p, b.len, b.len - 1, &m), -EMSGSIZE);
	wire_buf_free(&b);
	assert_int_equal(wire_encode_exec(&b, &e, 2 * n), -EMSGSIZE);
	assert_null(b.p);
	free(blob);
}

/* --- malformed input -------------------------------------------------------------------- */

static void test_decode_prefixes(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof(all_types); t++) {
		struct wire_buf b = { 0 };

		sample_encode(all_types[t], &b);
		assert_int_equal(decode_rc(b.p, b.len), 0);
		for (size_t n = 0; n < b.len; n++) {
			if (decode_rc(b.p, n) != -EBADMSG)
				fail_msg("type %u: prefix of %zu of %zu bytes not -EBADMSG",
					 all_types[t], n, b.len);
		}
		wire_buf_free(&b);
	}
	/* No buffer at all. */
	assert_int_equal(wire_decode(NULL, 0, MAX, &(struct wire_msg){ 0 }), -EBADMSG);
}

static void test_decode_trailing(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof(all_types); t++) {
		struct wire_buf b = { 0 };
		uint8_t *c;

		sample_encode(all_types[t], &b);
		c = malloc(b.len + 1);
		assert_non_null(c);
		memcpy(c, b.p, b.len);
		c[b.len] = 0;
		assert_int_equal(decode_rc(c, b.len + 1), -EBADMSG);
		/* Two whole messages back to back are not one message either. */
		sample_encode(all_types[t], &b);
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
		assert_int_equal(decode_rc(b.p, b.len / 2), 0);
		free(c);
		wire_buf_free(&b);
	}
}

static void test_decode_version(void **state)
{
	static const uint8_t other[] = { 0, WIRE_VERSION - 1, WIRE_VERSION + 1, 0x7f, 0xff };
	struct wire_buf b = { 0 };

	(void)state;
	sample_encode(WIRE_EXEC, &b);
	for (size_t i = 0; i < sizeof(other); i++) {
		b.p[0] = other[i];
		assert_int_equal(decode_rc(b.p, b.len), -EPROTONOSUPPORT);
		/* The version is judged as soon as its byte is there. */
		assert_int_equal(decode_rc(b.p, 1), -EPROTONOSUPPORT);
		assert_int_equal(decode_rc(b.p, WIRE_HEADER_SIZE), -EPROTONOSUPPORT);
	}
	wire_buf_free(&b);
}

static void test_decode_unknown_type(void **state)
{
	static const uint8_t bad[] = { 0, WIRE_ERROR + 1, 0x7f, 0xff };
	struct wire_buf b = { 0 };

	(void)state;
	sample_encode(WIRE_ERROR, &b);
	for (size_t i = 0; i < sizeof(bad); i++) {
		b.p[1] = bad[i];
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
		assert_int_equal(decode_rc(b.p, WIRE_HEADER_SIZE), -EBADMSG);
	}
	wire_buf_free(&b);
}

static void test_decode_unknown_value_type(void **state)
{
	static const uint8_t bad[] = { WIRE_ZEROBLOB + 1, 0x80, 0xff };
	struct wire_value v[2] = { val_int(1), val_null() };
	struct wire_exec e = { .request_id = 1, .nparams = 2, .params = v };
	struct wire_result r = { .request_id = 2, .ncols = 2, .nrows = 1, .cells = v };
	struct wire_buf b = { 0 };

	(void)state;
	/* The NULL value is the last byte of each message: its type byte is b.len - 1. */
	assert_int_equal(wire_encode_exec(&b, &e, MAX), 0);
	assert_int_equal(decode_rc(b.p, b.len), 0);
	for (size_t i = 0; i < sizeof(bad); i++) {
		b.p[b.len - 1] = bad[i];
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
	}
	wire_buf_free(&b);
	assert_int_equal(wire_encode_result(&b, &r, MAX), 0);
	for (size_t i = 0; i < sizeof(bad); i++) {
		b.p[b.len - 1] = bad[i];
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
	}
	wire_buf_free(&b);
}

static void test_decode_header_fields(void **state)
{
	struct wire_buf b = { 0 };
	struct decoded d;

	(void)state;
	sample_encode(WIRE_NOT_PRIMARY, &b);
	/* Flags written by the encoder are 0; other flags reach the caller unchanged. */
	assert_int_equal(b.p[2] | b.p[3], 0);
	b.p[2] = 0x34;
	b.p[3] = 0x12;
	assert_int_equal(decode_copy(b.p, b.len, &d), 0);
	assert_int_equal(d.m.flags, 0x1234);
	decoded_free(&d);
	b.p[2] = b.p[3] = 0;
	/* The reserved field must be 0, in any of its bytes. */
	for (int i = 4; i < 8; i++) {
		assert_int_equal(b.p[i], 0);
		b.p[i] = 1;
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
		b.p[i] = 0;
	}
	assert_int_equal(decode_rc(b.p, b.len), 0);
	wire_buf_free(&b);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Bytes of the data segment (VmData), or 0 when unknown. */
static uint64_t vm_data_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmData: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* Runs decode_rc on p[0..n) while the data segment may grow by at most 256 MiB (where the
 * limit can be set), so that an allocation sized by a count the input cannot back fails
 * with -ENOMEM or aborts instead of passing unseen. */
static int decode_rc_limited(const void *p, size_t n)
{
	struct rlimit old, lim;
	uint64_t cur = vm_data_bytes();
	int limited = 0, rc;

	if (cur && !getrlimit(RLIMIT_DATA, &old)) {
		lim = old;
		if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > cur + (256u << 20))
			lim.rlim_cur = cur + (256u << 20);
		if (lim.rlim_max != RLIM_INFINITY && lim.rlim_cur > lim.rlim_max)
			lim.rlim_cur = lim.rlim_max;
		limited = !setrlimit(RLIMIT_DATA, &lim);
	}
	rc = decode_rc(p, n);
	if (limited)
		assert_int_equal(setrlimit(RLIMIT_DATA, &old), 0);
	return rc;
}

static void test_decode_huge_counts(void **state)
{
	struct wire_exec e = { .request_id = 1, .db = str_of("a.db"), .sql = str_of("x") };
	struct wire_result r = { .request_id = 2 };
	struct wire_buf b = { 0 };
	size_t at;

	(void)state;
	/* EXEC: nparams comes just before the session fields (28 bytes with an empty
	 * prologue). */
	assert_int_equal(wire_encode_exec(&b, &e, MAX), 0);
	at = b.len - 4 - EXEC_TAIL;
	put_le32(b.p + at, UINT32_MAX);
	assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
	wire_buf_free(&b);
	/* ... and with a few valid values behind the count. */
	{
		struct wire_value v[4] = { val_null(), val_null(), val_null(), val_null() };

		e.nparams = 4;
		e.params = v;
		assert_int_equal(wire_encode_exec(&b, &e, MAX), 0);
		put_le32(b.p + b.len - 8 - EXEC_TAIL, UINT32_MAX);
		assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
		put_le32(b.p + b.len - 8 - EXEC_TAIL, 5);
		assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
		put_le32(b.p + b.len - 8 - EXEC_TAIL, 3);
		assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
		put_le32(b.p + b.len - 8 - EXEC_TAIL, 4);
		assert_int_equal(decode_rc_limited(b.p, b.len), 0);
		wire_buf_free(&b);
	}

	/* RESULT: ncols and nrows are its last two fields when it has no cells. */
	assert_int_equal(wire_encode_result(&b, &r, MAX), 0);
	at = b.len - 8;
	put_le32(b.p + at, UINT32_MAX);
	put_le32(b.p + at + 4, UINT32_MAX);
	assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
	put_le32(b.p + at, 1);
	assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
	put_le32(b.p + at, UINT32_MAX);
	put_le32(b.p + at + 4, 1);
	assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
	/* 2^16 x 2^16 = 2^32 cells: a product that wraps to 0 in 32 bits. */
	put_le32(b.p + at, 1u << 16);
	put_le32(b.p + at + 4, 1u << 16);
	assert_int_equal(decode_rc_limited(b.p, b.len), -EBADMSG);
	put_le32(b.p + at, 0);
	put_le32(b.p + at + 4, UINT32_MAX);
	assert_int_equal(decode_rc_limited(b.p, b.len), 0);
	wire_buf_free(&b);
}

static void test_decode_string_past_end(void **state)
{
	static const uint32_t lens[] = { 7, 8, 100, 0x7fffffff, 0x80000000, UINT32_MAX };
	struct wire_value v = val_bytes(WIRE_BLOB, "abcdef", 6);
	struct wire_exec e = { .request_id = 1, .db = str_of("abcdef"), .nparams = 0 };
	struct wire_buf b = { 0 };
	size_t at;

	(void)state;
	/* NOT_PRIMARY ends with its str: "node-a" (6 bytes), length at len - 10. */
	sample_encode(WIRE_NOT_PRIMARY, &b);
	at = b.len - 10;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		put_le32(b.p + at, lens[i]);
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
	}
	put_le32(b.p + at, 5); /* shorter: the rest is trailing bytes */
	assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
	put_le32(b.p + at, 6);
	assert_int_equal(decode_rc(b.p, b.len), 0);
	wire_buf_free(&b);

	/* EXEC's db str right after id, timeout, connection flags and rowid; 14 bytes follow
	 * its length, then the session fields. */
	assert_int_equal(wire_encode_exec(&b, &e, MAX), 0);
	at = WIRE_HEADER_SIZE + 8 + 4 + 4 + 8;
	assert_int_equal(b.len - at - 4, 14 + EXEC_TAIL);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		put_le32(b.p + at, lens[i] < 15 ? lens[i] + 8 + EXEC_TAIL : lens[i]);
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
	}
	wire_buf_free(&b);

	/* A BLOB value's str, the last parameter of an EXEC: the session fields follow. */
	e.nparams = 1;
	e.params = &v;
	assert_int_equal(wire_encode_exec(&b, &e, MAX), 0);
	at = b.len - 10 - EXEC_TAIL;
	assert_int_equal(b.p[at - 1], WIRE_BLOB);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		put_le32(b.p + at, lens[i] < 15 ? lens[i] + EXEC_TAIL : lens[i]);
		assert_int_equal(decode_rc(b.p, b.len), -EBADMSG);
	}
	wire_buf_free(&b);
}

static void test_decode_too_large(void **state)
{
	struct wire_msg m;
	struct wire_buf b = { 0 };

	(void)state;
	/* Refused before a byte is read: the buffer is not even there. */
	assert_int_equal(wire_decode(NULL, 100, 99, &m), -EMSGSIZE);
	assert_int_equal(m.type, 0);
	assert_int_equal(wire_decode(NULL, SIZE_MAX, MAX, &m), -EMSGSIZE);
	sample_encode(WIRE_RESULT, &b);
	assert_int_equal(wire_decode(b.p, b.len, b.len - 1, &m), -EMSGSIZE);
	assert_int_equal(wire_decode(b.p, b.len, 0, &m), -EMSGSIZE);
	assert_int_equal(wire_decode(b.p, b.len, b.len, &m), 0);
	wire_msg_free(&m);
	/* Even a wrong version is not looked at when the length is too large. */
	b.p[0] = WIRE_VERSION + 1;
	assert_int_equal(wire_decode(b.p, b.len, b.len - 1, &m), -EMSGSIZE);
	wire_buf_free(&b);
}

/* Decodes many damaged variants of the sample messages (bytes changed, cut short): the
 * decoder answers each with one of its documented results, and whatever it accepts
 * encodes back to exactly the same bytes. */
static void test_decode_mutations(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (size_t t = 0; t < sizeof(all_types); t++) {
		struct wire_buf b = { 0 };

		sample_encode(all_types[t], &b);
		for (int round = 0; round < 3000; round++) {
			uint8_t *c = dup_exact(b.p, b.len);
			size_t n = b.len;
			int edits = 1 + round % 4;
			struct wire_msg m;
			int rc;

			for (int k = 0; k < edits; k++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				c[x % b.len] = (uint8_t)(x >> 32);
			}
			if (round % 5 == 0)
				n = (size_t)(x >> 40) % (b.len + 1);
			rc = wire_decode(c, n, MAX, &m);
			assert_true(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT);
			if (rc == 0 && m.flags == 0) {
				struct wire_buf r = { 0 };

				assert_int_equal(wire_encode_msg(&r, &m, MAX), 0);
				assert_int_equal(r.len, n);
				assert_memory_equal(r.p, c, n);
				wire_buf_free(&r);
			}
			wire_msg_free(&m);
			free(c);
		}
		wire_buf_free(&b);
	}
}

/* --- the encoder's cap and buffer ------------------------------------------------------- */

static void test_encode_max(void **state)
{
	static const uint8_t head[] = "transport header";

	(void)state;
	for (size_t t = 0; t < sizeof(all_types); t++) {
		struct wire_buf exact = { 0 }, b = { 0 };
		struct decoded d;
		uint8_t *before;
		size_t size;

		sample_encode(all_types[t], &exact);
		size = exact.len;
		assert_int_equal(decode_copy(exact.p, exact.len, &d), 0);

		/* Empty buffer: nothing is allocated for a message that does not fit. */
		assert_int_equal(wire_encode_msg(&b, &d.m, size - 1), -EMSGSIZE);
		assert_null(b.p);
		assert_int_equal(b.len, 0);
		assert_int_equal(b.cap, 0);
		assert_int_equal(wire_encode_msg(&b, &d.m, 0), -EMSGSIZE);
		assert_int_equal(wire_encode_msg(&b, &d.m, WIRE_HEADER_SIZE), -EMSGSIZE);
		assert_null(b.p);

		/* A buffer holding bytes: pointer, length, capacity and content untouched. */
		assert_int_equal(wire_encode_error(&b, &(struct wire_error){ .code = 1 }, MAX), 0);
		memcpy(b.p, head, sizeof(head) < b.len ? sizeof(head) : b.len);
		before = dup_exact(b.p, b.len);
		{
			struct wire_buf saved = b;

			assert_int_equal(wire_encode_msg(&b, &d.m, size - 1), -EMSGSIZE);
			assert_ptr_equal(b.p, saved.p);
			assert_int_equal(b.len, saved.len);
			assert_int_equal(b.cap, saved.cap);
			assert_memory_equal(b.p, before, b.len);
			/* max bounds the message, not the buffer: exactly size fits. */
			assert_int_equal(wire_encode_msg(&b, &d.m, size), 0);
			assert_int_equal(b.len, saved.len + size);
			assert_memory_equal(b.p, before, saved.len);
			assert_memory_equal(b.p + saved.len, exact.p, size);
		}
		free(before);
		decoded_free(&d);
		wire_buf_free(&b);
		wire_buf_free(&exact);
	}
}

static void test_encode_appends(void **state)
{
	static const char head[] = { 'N', 'N', 0, 'M' };
	struct wire_not_primary np = { .request_id = 77, .primary = str_of("node-b") };
	struct wire_buf b = { 0 };
	struct decoded d;
	size_t first;

	(void)state;
	b.p = malloc(sizeof(head));
	assert_non_null(b.p);
	memcpy(b.p, head, sizeof(head));
	b.len = b.cap = sizeof(head);
	sample_encode(WIRE_EXEC, &b);
	first = b.len;
	assert_memory_equal(b.p, head, sizeof(head));
	assert_int_equal(decode_copy(b.p + sizeof(head), b.len - sizeof(head), &d), 0);
	assert_int_equal(d.m.type, WIRE_EXEC);
	assert_true(d.m.u.exec.request_id == 0x0102030405060708ull);
	assert_int_equal(d.m.u.exec.nparams, NSAMPLE);
	decoded_free(&d);
	assert_true(wire_peek_request_id(b.p + sizeof(head), b.len - sizeof(head)) ==
		    0x0102030405060708ull);

	/* A second message after the first. */
	assert_int_equal(wire_encode_not_primary(&b, &np, MAX), 0);
	assert_int_equal(decode_copy(b.p + first, b.len - first, &d), 0);
	assert_int_equal(d.m.type, WIRE_NOT_PRIMARY);
	assert_true(d.m.u.not_primary.request_id == 77);
	assert_str_same(d.m.u.not_primary.primary, np.primary, &d);
	decoded_free(&d);
	assert_int_equal(decode_rc(b.p + sizeof(head), first - sizeof(head)), 0);
	wire_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	wire_buf_free(&b);
}

static void test_encode_invalid(void **state)
{
	static const char dummy[4] = "abc";
	struct wire_value v[2] = { val_int(1), val_null() };
	struct wire_exec e = { .request_id = 1, .nparams = 2, .params = v };
	struct wire_result r = { .request_id = 2, .ncols = 2, .nrows = 2, .cells = NULL };
	struct wire_error er = { .request_id = 3, .message = { NULL, 3 } };
	struct wire_buf b = { 0 };

	(void)state;
	v[1].type = WIRE_ZEROBLOB + 1;
	assert_int_equal(wire_encode_exec(&b, &e, MAX), -EINVAL);
	v[1] = val_bytes(WIRE_TEXT, NULL, 1);
	assert_int_equal(wire_encode_exec(&b, &e, MAX), -EINVAL);
	/* A str longer than its u32 length can say: too large, and never read. */
	v[1] = val_bytes(WIRE_BLOB, dummy, (uint64_t)UINT32_MAX + 1);
	assert_int_equal(wire_encode_exec(&b, &e, UINT64_MAX), -EMSGSIZE);
	v[1] = val_bytes(WIRE_TEXT16, dummy, UINT64_MAX);
	assert_int_equal(wire_encode_exec(&b, &e, UINT64_MAX), -EMSGSIZE);
	e.params = NULL;
	assert_int_equal(wire_encode_exec(&b, &e, MAX), -EINVAL);
	assert_int_equal(wire_encode_result(&b, &r, MAX), -EINVAL);
	assert_int_equal(wire_encode_error(&b, &er, MAX), -EINVAL);
	assert_int_equal(wire_encode_error(&b, NULL, MAX), -EINVAL);
	assert_int_equal(wire_encode_error(NULL, &er, MAX), -EINVAL);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

/* --- peek and free ---------------------------------------------------------------------- */

static void test_peek(void **state)
{
	static const uint64_t ids[] = { 0x0102030405060708ull, 42, 43, 44 };
	struct wire_not_primary np = { .request_id = UINT64_MAX, .primary = str_of("p") };
	struct wire_buf b = { 0 };

	(void)state;
	for (size_t t = 0; t < sizeof(all_types); t++) {
		sample_encode(all_types[t], &b);
		assert_true(wire_peek_request_id(b.p, b.len) == ids[t]);
		for (size_t n = 0; n <= b.len; n++) {
			uint8_t *c = dup_exact(b.p, n);
			uint64_t id = wire_peek_request_id(c, n);

			/* The id needs header and id only; the rest is not looked at. */
			assert_true(id == (n < WIRE_HEADER_SIZE + 8 ? 0 : ids[t]));
			free(c);
		}
		b.p[0] = WIRE_VERSION + 1;
		assert_true(wire_peek_request_id(b.p, b.len) == 0);
		b.p[0] = WIRE_VERSION;
		b.p[1] = 0;
		assert_true(wire_peek_request_id(b.p, b.len) == 0);
		b.p[1] = 9;
		assert_true(wire_peek_request_id(b.p, b.len) == 0);
		wire_buf_free(&b);
	}
	assert_true(wire_peek_request_id(NULL, 0) == 0);
	assert_true(wire_peek_request_id(NULL, 100) == 0);
	assert_int_equal(wire_encode_not_primary(&b, &np, MAX), 0);
	assert_true(wire_peek_request_id(b.p, b.len) == UINT64_MAX);
	wire_buf_free(&b);
}

static void test_msg_free(void **state)
{
	struct wire_msg m = { 0 };
	struct wire_buf b = { 0 };

	(void)state;
	wire_msg_free(&m);
	wire_msg_free(&m);
	wire_msg_free(NULL);
	wire_buf_free(NULL);
	wire_buf_free(&b);

	/* A failed decode leaves nothing behind, even in a struct that held garbage, and
	 * even when it failed after its array was allocated. */
	sample_encode(WIRE_EXEC, &b);
	for (size_t n = 0; n <= b.len; n++) {
		uint8_t *c = dup_exact(b.p, b.len);

		memset(&m, 0xa5, sizeof(m));
		/* The last value (a ZEROBLOB: type byte, u64) gets an unknown type. */
		assert_int_equal(c[b.len - 9 - EXEC_TAIL], WIRE_ZEROBLOB);
		c[b.len - 9 - EXEC_TAIL] = 0xee;
		assert_int_not_equal(wire_decode(c, n, MAX, &m), 0);
		assert_int_equal(m.type, 0);
		assert_null(m.u.exec.params);
		wire_msg_free(&m);
		wire_msg_free(&m);
		free(c);
	}
	wire_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_all_value_types),
		cmocka_unit_test(test_exec_no_params),
		cmocka_unit_test(test_exec_many_params),
		cmocka_unit_test(test_result_no_rows),
		cmocka_unit_test(test_description_roundtrip),
		cmocka_unit_test(test_result_cells),
		cmocka_unit_test(test_not_primary),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_large_blob),
		cmocka_unit_test(test_decode_prefixes),
		cmocka_unit_test(test_decode_trailing),
		cmocka_unit_test(test_decode_version),
		cmocka_unit_test(test_decode_unknown_type),
		cmocka_unit_test(test_decode_unknown_value_type),
		cmocka_unit_test(test_decode_header_fields),
		cmocka_unit_test(test_decode_huge_counts),
		cmocka_unit_test(test_decode_string_past_end),
		cmocka_unit_test(test_decode_too_large),
		cmocka_unit_test(test_decode_mutations),
		cmocka_unit_test(test_encode_max),
		cmocka_unit_test(test_encode_appends),
		cmocka_unit_test(test_encode_invalid),
		cmocka_unit_test(test_peek),
		cmocka_unit_test(test_msg_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
