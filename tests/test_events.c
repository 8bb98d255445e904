/* Unit tests of the LiteFS event stream parser (common/events.c): the exact lines LiteFS
 * v0.5.14 sends, parsed to the right fields; every kind of malformed line refused with
 * nothing left in the output; and the line splitter fed the stream cut in every way, with
 * empty lines, "\r\n" ends and lines too long to keep. Lines and chunks are always handed
 * over as exact-size heap copies without a terminator, so a read one byte too far is
 * caught by the sanitizers and by valgrind. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"

/* The exact lines of LiteFS v0.5.14, in the order a replica could see them. */
static const char *const example_lines[] = {
	"{\"type\":\"init\",\"data\":{\"isPrimary\":true}}",
	"{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"node-a\"}}",
	"{\"type\":\"tx\",\"db\":\"app.db\",\"data\":{\"txID\":\"0000000000000002\","
	"\"postApplyChecksum\":\"e04fc44716e5272f\",\"pageSize\":4096,\"commit\":2,"
	"\"timestamp\":\"2026-11-26T04:23:33.291Z\"}}",
	"{\"type\":\"primaryChange\",\"data\":{\"isPrimary\":false}}",
	"{\"type\":\"primaryChange\",\"data\":{\"isPrimary\":false,\"hostname\":\"node-b\"}}",
	"{\"type\":\"primaryChange\",\"data\":{\"isPrimary\":true}}",
};
#define NEXAMPLES (sizeof(example_lines) / sizeof(example_lines[0]))

/* What each example line means. */
struct expect {
	enum events_type type;
	bool is_primary;
	const char *hostname; /* NULL: none */
	const char *db;       /* NULL: none */
	uint64_t txid;
};

static const struct expect example_events[NEXAMPLES] = {
	{ EVENTS_INIT, true, NULL, NULL, 0 },
	{ EVENTS_INIT, false, "node-a", NULL, 0 },
	{ EVENTS_TX, false, NULL, "app.db", 2 },
	{ EVENTS_PRIMARY_CHANGE, false, NULL, NULL, 0 },
	{ EVENTS_PRIMARY_CHANGE, false, "node-b", NULL, 0 },
	{ EVENTS_PRIMARY_CHANGE, true, NULL, NULL, 0 },
};

/* --- support ---------------------------------------------------------------------------- */

/* An exact-size heap copy, so that reading past its end is an error the tools see. */
static char *dup_exact(const void *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* events_parse_line() on an exact copy of p[0..n). */
static int parse_n(const char *p, size_t n, struct events_event *ev)
{
	char *c = dup_exact(p, n);
	int rc;

	memset(ev, 0xa5, sizeof(*ev));
	rc = events_parse_line(c, n, ev);
	free(c);
	return rc;
}

static int parse(const char *s, struct events_event *ev)
{
	return parse_n(s, strlen(s), ev);
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* p[0..n) is refused, and the output is left all zero. */
static void expect_bad_n(const char *p, size_t n)
{
	struct events_event ev;
	int rc = parse_n(p, n, &ev);

	if (rc != -EBADMSG)
		fail_msg("accepted or wrong error (%d): %.*s", rc, (int)(n > 300 ? 300 : n), p);
	if (!all_zero(&ev, sizeof(ev)))
		fail_msg("output not cleared after refusing: %.*s", (int)(n > 300 ? 300 : n), p);
}

static void expect_bad(const char *s)
{
	expect_bad_n(s, strlen(s));
}

static void expect_event(const struct events_event *ev, const struct expect *want)
{
	assert_int_equal(ev->type, want->type);
	assert_int_equal(ev->is_primary, want->is_primary);
	assert_int_equal(ev->has_hostname, want->hostname != NULL);
	assert_string_equal(ev->hostname, want->hostname ? want->hostname : "");
	assert_string_equal(ev->db, want->db ? want->db : "");
	assert_true(ev->txid == want->txid);
}

/* s parses to want. */
static void expect_good(const char *s, const struct expect *want)
{
	struct events_event ev;
	int rc = parse(s, &ev);

	if (rc)
		fail_msg("refused (%d): %s", rc, s);
	expect_event(&ev, want);
}

/* A malloc'd string made by printf. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

/* A malloc'd string of n copies of c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* An init event whose data is the given JSON text. */
static char *init_with_data(const char *data)
{
	return fmt("{\"type\":\"init\",\"data\":%s}", data);
}

/* A tx event with the given top-level db member text ("" for none) and txID member text. */
static char *tx_with(const char *db_member, const char *txid_value)
{
	return fmt("{\"type\":\"tx\"%s,\"data\":{\"txID\":%s,\"pageSize\":4096,\"commit\":2}}",
		   db_member, txid_value);
}

/* --- events_parse_line: the lines LiteFS sends ------------------------------------------ */

static void test_parse_examples(void **state)
{
	(void)state;
	for (size_t i = 0; i < NEXAMPLES; i++)
		expect_good(example_lines[i], &example_events[i]);
}

static void test_parse_crlf(void **state)
{
	(void)state;
	for (size_t i = 0; i < NEXAMPLES; i++) {
		char *s = fmt("%s\r", example_lines[i]);

		expect_good(s, &example_events[i]);
		free(s);
	}
	expect_bad("\r");
}

/* Every proper prefix of an event is an unfinished object: refused, never half-parsed. */
static void test_parse_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NEXAMPLES; i++) {
		size_t n = strlen(example_lines[i]);

		for (size_t k = 0; k < n; k++)
			expect_bad_n(example_lines[i], k);
	}
}

static void test_parse_other_types(void **state)
{
	static const struct expect other = { EVENTS_OTHER, false, NULL, NULL, 0 };

	(void)state;
	/* LiteFS may add event types; their data is not looked at, and may be absent. */
	expect_good("{\"type\":\"dbChange\",\"db\":\"app.db\",\"data\":{\"x\":1}}", &other);
	expect_good("{\"type\":\"heartbeat\"}", &other);
	expect_good("{\"type\":\"heartbeat\",\"data\":null}", &other);
	expect_good("{\"type\":\"heartbeat\",\"data\":[1,2,3]}", &other);
	/* Fields of known types are not read from another type. */
	expect_good("{\"type\":\"initial\",\"data\":{\"isPrimary\":true,\"hostname\":\"h\"}}",
		    &other);
	/* Type names are matched exactly. */
	expect_good("{\"type\":\"INIT\",\"data\":{\"isPrimary\":true}}", &other);
	expect_good("{\"type\":\"init \",\"data\":{\"isPrimary\":true}}", &other);
	expect_good("{\"type\":\"primarychange\",\"data\":{\"isPrimary\":true}}", &other);
	expect_good("{\"type\":\"txs\",\"db\":\"a\",\"data\":{\"txID\":\"0000000000000001\"}}",
		    &other);
	/* jansson decodes escapes: this is "init" spelled differently. */
	expect_good("{\"type\":\"\\u0069nit\",\"data\":{\"isPrimary\":true}}",
		    &(struct expect){ EVENTS_INIT, true, NULL, NULL, 0 });
}

static void test_parse_extra_fields(void **state)
{
	(void)state;
	expect_good("{\"type\":\"init\",\"id\":7,\"data\":{\"isPrimary\":false,"
		    "\"hostname\":\"node-a\",\"advertiseURL\":\"http://node-a:20202\","
		    "\"nested\":{\"a\":[1,{\"b\":null}]}},\"more\":[true,false]}",
		    &(struct expect){ EVENTS_INIT, false, "node-a", NULL, 0 });
	expect_good("{\"data\":{\"isPrimary\":true,\"x\":1.5e300},\"type\":\"primaryChange\"}",
		    &(struct expect){ EVENTS_PRIMARY_CHANGE, true, NULL, NULL, 0 });
	expect_good("{\"type\":\"tx\",\"db\":\"app.db\",\"data\":{\"txID\":\"0000000000000009\"},"
		    "\"extra\":\"x\"}",
		    &(struct expect){ EVENTS_TX, false, NULL, "app.db", 9 });
	/* A "db" on a role event is not one of its fields. */
	expect_good("{\"type\":\"init\",\"db\":\"x/y\",\"data\":{\"isPrimary\":true}}",
		    &(struct expect){ EVENTS_INIT, true, NULL, NULL, 0 });
	/* JSON whitespace anywhere between tokens. */
	expect_good(" \t{ \"type\" : \"init\" ,\r\"data\" : { \"isPrimary\" : true } }\t ",
		    &(struct expect){ EVENTS_INIT, true, NULL, NULL, 0 });
}

/* A hostname given to a primary is kept, not invented or dropped. */
static void test_parse_hostname_on_primary(void **state)
{
	(void)state;
	expect_good("{\"type\":\"init\",\"data\":{\"isPrimary\":true,\"hostname\":\"self\"}}",
		    &(struct expect){ EVENTS_INIT, true, "self", NULL, 0 });
}

/* --- events_parse_line: malformed lines ------------------------------------------------- */

static void test_parse_not_json(void **state)
{
	static const char *const bad[] = {
		"", " ", "\t", "null", "true", "false", "0", "1", "-1", "1.5", "\"init\"",
		"[]", "{}", "{ }", "[{\"type\":\"init\",\"data\":{\"isPrimary\":true}}]",
		"{", "}", "{\"type\"", "{\"type\":}", "{\"type\":\"init\",}", "{type:\"init\"}",
		"{'type':'init','data':{'isPrimary':true}}", "garbage", "data: {}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":true}}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":true}}x",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":true}}{\"type\":\"init\"}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":TRUE}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":tru}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":true,}}",
		"{\"type\":\"init\" \"data\":{\"isPrimary\":true}}",
		/* a raw control character inside a string */
		"{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"a\tb\"}}",
		/* bad escapes and lone surrogates */
		"{\"type\":\"in\\xit\",\"data\":{\"isPrimary\":true}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"\\ud800\"}}",
		/* invalid UTF-8 */
		"{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"\xff\"}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"\xc3\"}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"\xc0\xaf\"}}",
		/* a "\n" inside the line, wherever it is */
		"{\"type\":\"init\",\n\"data\":{\"isPrimary\":true}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":true}}\n",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":true}}\r\n",
		"\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
}

static void test_parse_nul_bytes(void **state)
{
	static const char line[] = "{\"type\":\"init\",\"data\":{\"isPrimary\":true}}";
	char buf[sizeof(line) + 1];
	size_t n = sizeof(line) - 1;

	(void)state;
	/* A NUL byte anywhere in the line, in place of a byte or added. */
	for (size_t i = 0; i < n; i++) {
		memcpy(buf, line, n);
		buf[i] = '\0';
		expect_bad_n(buf, n);
		memcpy(buf, line, i);
		buf[i] = '\0';
		memcpy(buf + i + 1, line + i, n - i);
		expect_bad_n(buf, n + 1);
	}
	memcpy(buf, line, n);
	buf[n] = '\0';
	expect_bad_n(buf, n + 1);
	/* An escaped NUL is refused by the decoder, in any string. */
	expect_bad("{\"type\":\"init\\u0000\",\"data\":{\"isPrimary\":true}}");
	expect_bad("{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"a\\u0000b\"}}");
	expect_bad("{\"type\":\"tx\",\"db\":\"a\\u0000b\",\"data\":{\"txID\":\"0000000000000001\"}}");
}

static void test_parse_type_member(void **state)
{
	static const char *const bad[] = {
		"{\"data\":{\"isPrimary\":true}}",
		"{\"type\":null,\"data\":{\"isPrimary\":true}}",
		"{\"type\":1,\"data\":{\"isPrimary\":true}}",
		"{\"type\":true,\"data\":{\"isPrimary\":true}}",
		"{\"type\":[\"init\"],\"data\":{\"isPrimary\":true}}",
		"{\"type\":{\"init\":1},\"data\":{\"isPrimary\":true}}",
		"{\"type\":\"\",\"data\":{\"isPrimary\":true}}",
		"{\"Type\":\"init\",\"data\":{\"isPrimary\":true}}",
		/* duplicate members are refused, whichever value would win */
		"{\"type\":\"init\",\"type\":\"init\",\"data\":{\"isPrimary\":true}}",
		"{\"type\":\"other\",\"type\":\"init\",\"data\":{\"isPrimary\":true}}",
		"{\"type\":\"init\",\"data\":{\"isPrimary\":true},\"data\":{\"isPrimary\":true}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
}

static void test_parse_data_member(void **state)
{
	static const char *const types[] = { "init", "primaryChange", "tx" };
	static const char *const data[] = {
		NULL, "null", "true", "0", "\"x\"", "[]", "[{\"isPrimary\":true}]",
	};

	(void)state;
	for (size_t t = 0; t < 3; t++) {
		for (size_t d = 0; d < sizeof(data) / sizeof(data[0]); d++) {
			char *s = data[d] ? fmt("{\"type\":\"%s\",\"db\":\"a.db\",\"data\":%s}",
						types[t], data[d])
					  : fmt("{\"type\":\"%s\",\"db\":\"a.db\"}", types[t]);

			expect_bad(s);
			free(s);
		}
	}
	/* "Data" is not "data", nor is a member nested one level too deep. */
	expect_bad("{\"type\":\"init\",\"Data\":{\"isPrimary\":true}}");
	expect_bad("{\"type\":\"init\",\"data\":{\"data\":{\"isPrimary\":true}}}");
	expect_bad("{\"type\":\"init\",\"isPrimary\":true,\"data\":{}}");
}

static void test_parse_is_primary(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"hostname\":\"node-a\"}",
		"{\"isPrimary\":null}",
		"{\"isPrimary\":0}",
		"{\"isPrimary\":1}",
		"{\"isPrimary\":-1}",
		"{\"isPrimary\":0.0}",
		"{\"isPrimary\":1e999}",
		"{\"isPrimary\":-1e999}",
		"{\"isPrimary\":123456789012345678901234567890}",
		"{\"isPrimary\":9223372036854775808}",
		"{\"isPrimary\":\"true\"}",
		"{\"isPrimary\":\"false\"}",
		"{\"isPrimary\":[]}",
		"{\"isPrimary\":[true]}",
		"{\"isPrimary\":{}}",
		"{\"IsPrimary\":true}",
		"{\"is_primary\":true}",
		"{\"isPrimary\":true,\"isPrimary\":true}",
		"{\"isPrimary\":true,\"isPrimary\":false}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *a = init_with_data(bad[i]);
		char *b = fmt("{\"type\":\"primaryChange\",\"data\":%s}", bad[i]);

		expect_bad(a);
		expect_bad(b);
		free(a);
		free(b);
	}
	/* A number the decoder cannot hold is refused even where nothing reads it. */
	expect_bad("{\"type\":\"init\",\"data\":{\"isPrimary\":true,\"x\":1e999}}");
	expect_bad("{\"type\":\"init\",\"data\":{\"isPrimary\":true,\"x\":99999999999999999999}}");
}

static void test_parse_hostname(void **state)
{
	static const char *const bad[] = {
		"null", "true", "false", "0", "42", "[]", "[\"node-a\"]", "{}",
		"{\"hostname\":\"node-a\"}", "\"\"",
		/* control characters, escaped: C0, DEL, C1 */
		"\"\\u0001node\"", "\"node\\t\"", "\"no\\nde\"", "\"node\\r\"", "\"\\u001f\"",
		"\"node\\u007f\"", "\"node\\u0080\"", "\"\\u0085node\"", "\"node\\u009f\"",
		/* the same, raw (DEL and C1 are legal raw in JSON strings) */
		"\"node\x7f\"", "\"node\xc2\x85\"", "\"\xc2\x9f\"",
	};
	char *max = repeat('h', EVENTS_HOSTNAME_MAX);
	char *over = repeat('h', EVENTS_HOSTNAME_MAX + 1);
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *d = fmt("{\"isPrimary\":false,\"hostname\":%s}", bad[i]);
		char *a = init_with_data(d);
		char *b = fmt("{\"type\":\"primaryChange\",\"data\":%s}", d);

		expect_bad(a);
		expect_bad(b);
		free(a);
		free(b);
		free(d);
	}
	s = fmt("{\"type\":\"primaryChange\",\"data\":{\"isPrimary\":false,\"hostname\":\"%s\"}}",
		over);
	expect_bad(s);
	free(s);
	s = fmt("{\"type\":\"primaryChange\",\"data\":{\"isPrimary\":false,\"hostname\":\"%s\"}}",
		max);
	expect_good(s, &(struct expect){ EVENTS_PRIMARY_CHANGE, false, max, NULL, 0 });
	free(s);
	/* Two-byte characters count as two bytes: 127 of them are 254 bytes. */
	{
		char host[2 * 127 + 1];

		for (int i = 0; i < 127; i++)
			memcpy(host + 2 * i, "\xc3\xa9", 2);
		host[2 * 127] = '\0';
		s = fmt("{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"%s\"}}",
			host);
		expect_bad(s);
		free(s);
		host[2 * 126] = '\0';
		s = fmt("{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"%s\"}}",
			host);
		expect_good(s, &(struct expect){ EVENTS_INIT, false, host, NULL, 0 });
		free(s);
	}
	/* Printable text of any script, escaped or raw, is kept as UTF-8. */
	expect_good("{\"type\":\"init\",\"data\":{\"isPrimary\":false,"
		    "\"hostname\":\"n\\u0153ud-1\"}}",
		    &(struct expect){ EVENTS_INIT, false, "n\xc5\x93ud-1", NULL, 0 });
	expect_good("{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"n\xc5\x93ud\"}}",
		    &(struct expect){ EVENTS_INIT, false, "n\xc5\x93ud", NULL, 0 });
	expect_good("{\"type\":\"init\",\"data\":{\"isPrimary\":false,\"hostname\":\"\xc2\xa0\"}}",
		    &(struct expect){ EVENTS_INIT, false, "\xc2\xa0", NULL, 0 });
	expect_good("{\"type\":\"init\",\"data\":{\"isPrimary\":false,"
		    "\"hostname\":\"node-a.vm.app.internal:20202\"}}",
		    &(struct expect){ EVENTS_INIT, false, "node-a.vm.app.internal:20202", NULL, 0 });
	free(max);
	free(over);
}

static void test_parse_tx_db(void **state)
{
	static const char *const bad[] = {
		"", ",\"db\":null", ",\"db\":1", ",\"db\":true", ",\"db\":[\"app.db\"]",
		",\"db\":{}", ",\"db\":\"\"", ",\"db\":\"/\"", ",\"db\":\"/app.db\"",
		",\"db\":\"app.db/\"", ",\"db\":\"a/b\"", ",\"db\":\"\\/etc\"", ",\"db\":\".\"",
		",\"db\":\"..\"", ",\"db\":\"app\\u0001.db\"", ",\"db\":\"app.db\\n\"",
		",\"db\":\"app\\u007f\"", ",\"db\":\"app\\u0085\"", ",\"db\":\"a\",\"db\":\"a\"",
		",\"DB\":\"app.db\"",
	};
	static const char *const good[] = {
		"app.db", "...", ".app.db", "..db", "a", "app db", "app\\\\db", "n\xc5\x93ud.db",
	};
	char *max = repeat('d', EVENTS_DB_MAX);
	char *over = repeat('d', EVENTS_DB_MAX + 1);
	char *s, *member;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = tx_with(bad[i], "\"0000000000000001\"");
		expect_bad(s);
		free(s);
	}
	/* db belongs beside type, not inside data. */
	expect_bad("{\"type\":\"tx\",\"data\":{\"db\":\"app.db\",\"txID\":\"0000000000000001\"}}");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char want[64];
		size_t k = 0;

		/* the JSON text decoded: only "\\\\" is an escape here */
		for (const char *p = good[i]; *p; p++) {
			if (p[0] == '\\' && p[1] == '\\')
				p++;
			want[k++] = *p;
		}
		want[k] = '\0';
		member = fmt(",\"db\":\"%s\"", good[i]);
		s = tx_with(member, "\"0000000000000001\"");
		expect_good(s, &(struct expect){ EVENTS_TX, false, NULL, want, 1 });
		free(s);
		free(member);
	}
	member = fmt(",\"db\":\"%s\"", max);
	s = tx_with(member, "\"00000000000000ff\"");
	expect_good(s, &(struct expect){ EVENTS_TX, false, NULL, max, 255 });
	free(s);
	free(member);
	member = fmt(",\"db\":\"%s\"", over);
	s = tx_with(member, "\"00000000000000ff\"");
	expect_bad(s);
	free(s);
	free(member);
	free(max);
	free(over);
}

static void test_parse_tx_txid(void **state)
{
	static const char *const bad[] = {
		"null", "2", "2.0", "true", "[]", "{}", "[\"0000000000000002\"]",
		"\"\"", "\"2\"", "\"000000000000002\"", "\"00000000000000002\"",
		"\"000000000000000g\"", "\"000000000000000G\"", "\"00000000 0000002\"",
		"\" 000000000000002\"", "\"000000000000002 \"", "\"-000000000000002\"",
		"\"+000000000000002\"", "\"0x00000000000002\"", "\"0X00000000000002\"",
		"\"00000000000000\\u0032\\u0000\"", "\"000000000000000\\n\"",
		"\"10000000000000000\"", "\"ffffffffffffffff0\"",
		"\"0000000000000000\"", "\"000000000000000\xc3\xa9\"",
		"18446744073709551616", "1e999",
	};
	static const struct {
		const char *text;
		uint64_t txid;
	} good[] = {
		{ "\"0000000000000001\"", 1 },
		{ "\"0000000000000002\"", 2 },
		{ "\"00000000000000ff\"", 255 },
		{ "\"00000000000000FF\"", 255 },
		{ "\"00000000000000fF\"", 255 },
		{ "\"0123456789abcdef\"", UINT64_C(0x0123456789abcdef) },
		{ "\"fedcba9876543210\"", UINT64_C(0xfedcba9876543210) },
		{ "\"8000000000000000\"", UINT64_C(0x8000000000000000) },
		{ "\"ffffffffffffffff\"", UINT64_MAX },
		{ "\"000000000000000\\u0041\"", 10 }, /* an escaped 'A' is an 'A' */
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = tx_with(",\"db\":\"app.db\"", bad[i]);
		expect_bad(s);
		free(s);
	}
	expect_bad("{\"type\":\"tx\",\"db\":\"app.db\",\"data\":{\"pageSize\":4096}}");
	expect_bad("{\"type\":\"tx\",\"db\":\"app.db\",\"data\":{\"txid\":\"0000000000000002\"}}");
	expect_bad("{\"type\":\"tx\",\"db\":\"app.db\",\"txID\":\"0000000000000002\",\"data\":{}}");
	expect_bad("{\"type\":\"tx\",\"db\":\"app.db\",\"data\":{\"txID\":\"0000000000000002\","
		   "\"txID\":\"0000000000000002\"}}");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		s = tx_with(",\"db\":\"app.db\"", good[i].text);
		expect_good(s, &(struct expect){ EVENTS_TX, false, NULL, "app.db", good[i].txid });
		free(s);
	}
	/* The other members of a tx event are not read: their types do not matter. */
	expect_good("{\"type\":\"tx\",\"db\":\"app.db\",\"data\":{\"txID\":\"0000000000000003\","
		    "\"postApplyChecksum\":7,\"pageSize\":\"big\",\"commit\":null,\"timestamp\":[]}}",
		    &(struct expect){ EVENTS_TX, false, NULL, "app.db", 3 });
	/* isPrimary or hostname in a tx event is no role. */
	expect_good("{\"type\":\"tx\",\"db\":\"app.db\",\"data\":{\"txID\":\"0000000000000004\","
		    "\"isPrimary\":true,\"hostname\":\"h\"}}",
		    &(struct expect){ EVENTS_TX, false, NULL, "app.db", 4 });
}

/* The longest line parses, one byte more is refused; the "\r" does not count. */
static void test_parse_line_max(void **state)
{
	static const char ev[] = "{\"type\":\"init\",\"data\":{\"isPrimary\":true}}";
	static const struct expect want = { EVENTS_INIT, true, NULL, NULL, 0 };
	size_t n = sizeof(ev) - 1;
	char *buf = malloc(EVENTS_LINE_MAX + 2);
	struct events_event out;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, ev, n);
	memset(buf + n, ' ', EVENTS_LINE_MAX + 2 - n);
	assert_int_equal(parse_n(buf, EVENTS_LINE_MAX, &out), 0);
	expect_event(&out, &want);
	buf[EVENTS_LINE_MAX] = '\r';
	assert_int_equal(parse_n(buf, EVENTS_LINE_MAX + 1, &out), 0);
	expect_event(&out, &want);
	buf[EVENTS_LINE_MAX] = ' ';
	expect_bad_n(buf, EVENTS_LINE_MAX + 1);
	buf[EVENTS_LINE_MAX + 1] = '\r';
	expect_bad_n(buf, EVENTS_LINE_MAX + 2);
	free(buf);
}

/* Deep nesting is refused by the decoder's depth limit, not by running out of stack. */
static void test_parse_deep_nesting(void **state)
{
	size_t depth = EVENTS_LINE_MAX / 2 - 64;
	char *buf = malloc(EVENTS_LINE_MAX);
	size_t n = 0;

	(void)state;
	assert_non_null(buf);
	n += (size_t)sprintf(buf, "{\"type\":\"init\",\"data\":{\"isPrimary\":true},\"x\":");
	memset(buf + n, '[', depth);
	n += depth;
	memset(buf + n, ']', depth);
	n += depth;
	buf[n++] = '}';
	assert_true(n <= EVENTS_LINE_MAX);
	expect_bad_n(buf, n);
	free(buf);
}

static void test_parse_invalid_arguments(void **state)
{
	struct events_event ev;

	(void)state;
	memset(&ev, 0xa5, sizeof(ev));
	assert_int_equal(events_parse_line(NULL, 5, &ev), -EINVAL);
	assert_true(all_zero(&ev, sizeof(ev)));
	memset(&ev, 0xa5, sizeof(ev));
	assert_int_equal(events_parse_line(NULL, 0, &ev), -EBADMSG);
	assert_true(all_zero(&ev, sizeof(ev)));
	assert_int_equal(events_parse_line("{}", 2, NULL), -EINVAL);
}

/* Parsing one event after another into the same struct leaves nothing of the one before. */
static void test_parse_reuse(void **state)
{
	struct events_event ev;

	(void)state;
	assert_int_equal(events_parse_line(example_lines[2], strlen(example_lines[2]), &ev), 0);
	assert_int_equal(events_parse_line(example_lines[4], strlen(example_lines[4]), &ev), 0);
	expect_event(&ev, &example_events[4]);
	assert_int_equal(events_parse_line(example_lines[2], strlen(example_lines[2]), &ev), 0);
	expect_event(&ev, &example_events[2]);
	assert_int_equal(events_parse_line(example_lines[0], strlen(example_lines[0]), &ev), 0);
	expect_event(&ev, &example_events[0]);
}

/* --- events_splitter -------------------------------------------------------------------- */

#define MAX_SEEN 64

/* What the callback saw, in order: lines (malloc'd copies) and oversize reports (NULL). */
struct seen {
	size_t n;
	char *line[MAX_SEEN];
	size_t len[MAX_SEEN];
	int err[MAX_SEEN];
	size_t stop_at;   /* the callback returns stop_rc on this call (1-based); 0: never */
	int stop_rc;
};

static int seen_line(const char *line, size_t len, int err, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < MAX_SEEN);
	if (err) {
		assert_int_equal(err, -EMSGSIZE);
		assert_null(line);
		assert_int_equal(len, 0);
		s->line[s->n] = NULL;
	} else {
		assert_non_null(line);
		assert_true(len > 0 && len <= EVENTS_LINE_MAX);
		assert_null(memchr(line, '\n', len));
		s->line[s->n] = dup_exact(line, len);
	}
	s->len[s->n] = len;
	s->err[s->n] = err;
	s->n++;
	return s->stop_at == s->n ? s->stop_rc : 0;
}

static void seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->line[i]);
	memset(s, 0, sizeof(*s));
}

static struct events_splitter *splitter_new(void)
{
	struct events_splitter *sp = malloc(sizeof(*sp));

	assert_non_null(sp);
	memset(sp, 0xa5, sizeof(*sp));
	events_splitter_init(sp);
	return sp;
}

/* Feeds an exact copy of p[0..n) as one chunk. */
static int feed(struct events_splitter *sp, const void *p, size_t n, struct seen *s)
{
	char *c = dup_exact(p, n);
	int rc = events_splitter_feed(sp, c, n, seen_line, s);

	free(c);
	return rc;
}

/* Feeds p[0..n) in chunks of at most step bytes. */
static void feed_by(struct events_splitter *sp, const char *p, size_t n, size_t step,
		    struct seen *s)
{
	for (size_t off = 0; off < n; off += step)
		assert_int_equal(feed(sp, p + off, n - off < step ? n - off : step, s), 0);
}

static void expect_seen_line(const struct seen *s, size_t i, const char *want)
{
	assert_true(i < s->n);
	assert_int_equal(s->err[i], 0);
	assert_int_equal(s->len[i], strlen(want));
	assert_memory_equal(s->line[i], want, s->len[i]);
}

static void expect_seen_oversize(const struct seen *s, size_t i)
{
	assert_true(i < s->n);
	assert_int_equal(s->err[i], -EMSGSIZE);
	assert_null(s->line[i]);
}

/* The example lines, each ended by eol; malloc'd. */
static char *example_stream(const char *eol, size_t *len)
{
	size_t n = 0, el = strlen(eol);
	char *buf;

	for (size_t i = 0; i < NEXAMPLES; i++)
		n += strlen(example_lines[i]) + el;
	buf = malloc(n + 1);
	assert_non_null(buf);
	n = 0;
	for (size_t i = 0; i < NEXAMPLES; i++) {
		size_t k = strlen(example_lines[i]);

		memcpy(buf + n, example_lines[i], k);
		memcpy(buf + n + k, eol, el);
		n += k + el;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* s holds exactly the example lines, and each parses to its event. */
static void expect_examples(const struct seen *s)
{
	assert_int_equal(s->n, NEXAMPLES);
	for (size_t i = 0; i < NEXAMPLES; i++) {
		struct events_event ev;

		expect_seen_line(s, i, example_lines[i]);
		assert_int_equal(parse_n(s->line[i], s->len[i], &ev), 0);
		expect_event(&ev, &example_events[i]);
	}
}

static void test_split_one_chunk(void **state)
{
	static const char *const eols[] = { "\n", "\r\n" };

	(void)state;
	for (size_t e = 0; e < 2; e++) {
		struct events_splitter *sp = splitter_new();
		struct seen s = { 0 };
		size_t n;
		char *stream = example_stream(eols[e], &n);

		assert_int_equal(feed(sp, stream, n, &s), 0);
		expect_examples(&s);
		assert_int_equal(sp->len, 0);
		seen_clear(&s);
		free(stream);
		free(sp);
	}
}

static void test_split_byte_by_byte(void **state)
{
	static const char *const eols[] = { "\n", "\r\n" };

	(void)state;
	for (size_t e = 0; e < 2; e++) {
		struct events_splitter *sp = splitter_new();
		struct seen s = { 0 };
		size_t n;
		char *stream = example_stream(eols[e], &n);

		for (size_t i = 0; i < n; i++) {
			size_t before = s.n;

			assert_int_equal(feed(sp, stream + i, 1, &s), 0);
			/* A line is delivered by the byte that ends it, not before. */
			assert_int_equal(s.n, before + (stream[i] == '\n'));
		}
		expect_examples(&s);
		seen_clear(&s);
		free(stream);
		free(sp);
	}
}

/* Chunks of every size from 1 to the whole stream. */
static void test_split_chunk_sizes(void **state)
{
	size_t n;
	char *stream = example_stream("\n", &n);

	(void)state;
	for (size_t step = 1; step <= n; step++) {
		struct events_splitter *sp = splitter_new();
		struct seen s = { 0 };

		feed_by(sp, stream, n, step, &s);
		expect_examples(&s);
		seen_clear(&s);
		free(sp);
	}
	free(stream);
}

/* A two-line chunk cut in two, and in three, at every position (empty pieces included). */
static void test_split_every_position(void **state)
{
	static const char *const eols[] = { "\n", "\r\n" };

	(void)state;
	for (size_t e = 0; e < 2; e++) {
		char *chunk = fmt("%s%s%s%s", example_lines[1], eols[e], example_lines[2],
				  eols[e]);
		size_t n = strlen(chunk);

		for (size_t i = 0; i <= n; i++) {
			for (size_t j = i; j <= n; j++) {
				struct events_splitter *sp = splitter_new();
				struct seen s = { 0 };

				assert_int_equal(feed(sp, chunk, i, &s), 0);
				assert_int_equal(feed(sp, chunk + i, j - i, &s), 0);
				assert_int_equal(feed(sp, chunk + j, n - j, &s), 0);
				assert_int_equal(s.n, 2);
				expect_seen_line(&s, 0, example_lines[1]);
				expect_seen_line(&s, 1, example_lines[2]);
				seen_clear(&s);
				free(sp);
			}
		}
		free(chunk);
	}
}

static void test_split_empty_lines(void **state)
{
	static const char stream[] = "\n\n\r\nfirst\n\n\r\n\r\nsecond\r\n\n\nthird\n\r\n";
	struct events_splitter *sp = splitter_new();
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(feed(sp, stream, sizeof(stream) - 1, &s), 0);
	assert_int_equal(s.n, 3);
	expect_seen_line(&s, 0, "first");
	expect_seen_line(&s, 1, "second");
	expect_seen_line(&s, 2, "third");
	seen_clear(&s);
	feed_by(sp, stream, sizeof(stream) - 1, 1, &s);
	assert_int_equal(s.n, 3);
	expect_seen_line(&s, 0, "first");
	expect_seen_line(&s, 2, "third");
	seen_clear(&s);
	/* Feeding nothing does nothing, with or without a pointer. */
	assert_int_equal(events_splitter_feed(sp, NULL, 0, seen_line, &s), 0);
	assert_int_equal(events_splitter_feed(sp, "x", 0, seen_line, &s), 0);
	assert_int_equal(s.n, 0);
	free(sp);
}

/* A line is held until its "\n" arrives, however many feeds that takes; only one "\r"
 * right before the "\n" is taken off, and a "\r" elsewhere is part of the line. */
static void test_split_pending_and_cr(void **state)
{
	static const char rest[] = "\nd\re\r\r\n\rf\n";
	struct events_splitter *sp = splitter_new();
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(feed(sp, "ab", 2, &s), 0);
	assert_int_equal(feed(sp, "", 0, &s), 0);
	assert_int_equal(feed(sp, "c\r", 2, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(feed(sp, rest, sizeof(rest) - 1, &s), 0);
	assert_int_equal(s.n, 3);
	expect_seen_line(&s, 0, "abc");
	expect_seen_line(&s, 1, "d\re\r");
	expect_seen_line(&s, 2, "\rf");
	seen_clear(&s);
	/* Bytes after the last "\n" wait; a new stream starts clean after init. */
	assert_int_equal(feed(sp, "tail", 4, &s), 0);
	events_splitter_init(sp);
	assert_int_equal(feed(sp, "g\n", 2, &s), 0);
	assert_int_equal(s.n, 1);
	expect_seen_line(&s, 0, "g");
	seen_clear(&s);
	free(sp);
}

/* NUL bytes are bytes: the line is delivered whole, and the parser refuses it. */
static void test_split_nul_bytes(void **state)
{
	static const char stream[] = "a\0b\n\0\n";
	struct events_splitter *sp = splitter_new();
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(feed(sp, stream, sizeof(stream) - 1, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.len[0], 3);
	assert_memory_equal(s.line[0], "a\0b", 3);
	assert_int_equal(s.len[1], 1);
	assert_memory_equal(s.line[1], "\0", 1);
	seen_clear(&s);
	free(sp);
}

/* valid line, a line of size bytes (all 'x'), valid line: malloc'd. */
static char *sandwich(size_t size, const char *eol, size_t *len)
{
	size_t a = strlen(example_lines[1]), b = strlen(example_lines[2]), el = strlen(eol);
	size_t n = a + el + size + el + b + el;
	char *buf = malloc(n);
	char *p = buf;

	assert_non_null(buf);
	memcpy(p, example_lines[1], a);
	p += a;
	memcpy(p, eol, el);
	p += el;
	memset(p, 'x', size);
	p += size;
	memcpy(p, eol, el);
	p += el;
	memcpy(p, example_lines[2], b);
	p += b;
	memcpy(p, eol, el);
	*len = n;
	return buf;
}

static void expect_sandwich_oversized(const struct seen *s)
{
	assert_int_equal(s->n, 3);
	expect_seen_line(s, 0, example_lines[1]);
	expect_seen_oversize(s, 1);
	expect_seen_line(s, 2, example_lines[2]);
}

/* A 70000-byte line between two events: both events arrive, the long line is reported
 * once, whatever the chunks. */
static void test_split_oversized(void **state)
{
	static const size_t steps[] = {
		1, 2, 3, 7, 100, 4096, 16384, EVENTS_LINE_MAX - 1, EVENTS_LINE_MAX,
		EVENTS_LINE_MAX + 1, EVENTS_LINE_MAX + 2, 69999, 70000, 70001, 1u << 20,
	};
	static const char *const eols[] = { "\n", "\r\n" };

	(void)state;
	for (size_t e = 0; e < 2; e++) {
		size_t n;
		char *stream = sandwich(70000, eols[e], &n);

		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			struct events_splitter *sp = splitter_new();
			struct seen s = { 0 };

			feed_by(sp, stream, n, steps[k], &s);
			expect_sandwich_oversized(&s);
			seen_clear(&s);
			free(sp);
		}
		free(stream);
	}
}

/* Around the limit: EVENTS_LINE_MAX bytes pass (with or without a "\r"), one more does
 * not, wherever the chunks are cut, including where buf is exactly full. */
static void test_split_limit(void **state)
{
	static const size_t sizes[] = {
		EVENTS_LINE_MAX - 1, EVENTS_LINE_MAX, EVENTS_LINE_MAX + 1, EVENTS_LINE_MAX + 2,
		3 * EVENTS_LINE_MAX + 5,
	};
	static const char *const eols[] = { "\n", "\r\n" };

	(void)state;
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		for (size_t e = 0; e < 2; e++) {
			size_t n, a = strlen(example_lines[1]) + strlen(eols[e]);
			char *stream = sandwich(sizes[z], eols[e], &n);
			/* cut points: the stream's start, around the long line's end and the
			 * end of the room in buf (the long line starts at a) */
			size_t cuts[] = {
				0, a, a + 1, a + sizes[z] - 1, a + sizes[z], a + sizes[z] + 1,
				a + EVENTS_LINE_MAX, a + EVENTS_LINE_MAX + 1,
				a + EVENTS_LINE_MAX + 2, n,
			};

			for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
				struct events_splitter *sp = splitter_new();
				struct seen s = { 0 };
				size_t cut = cuts[c] < n ? cuts[c] : n;

				assert_int_equal(feed(sp, stream, cut, &s), 0);
				assert_int_equal(feed(sp, stream + cut, n - cut, &s), 0);
				assert_int_equal(s.n, 3);
				expect_seen_line(&s, 0, example_lines[1]);
				if (sizes[z] <= EVENTS_LINE_MAX) {
					assert_int_equal(s.err[1], 0);
					assert_int_equal(s.len[1], sizes[z]);
					assert_non_null(s.line[1]);
					assert_int_equal(s.line[1][0], 'x');
					assert_int_equal(s.line[1][sizes[z] - 1], 'x');
				} else {
					expect_seen_oversize(&s, 1);
				}
				expect_seen_line(&s, 2, example_lines[2]);
				seen_clear(&s);
				free(sp);
			}
			free(stream);
		}
	}
}

/* A runaway line is reported as soon as it is too long, before its end, and only once. */
static void test_split_oversized_reported_early(void **state)
{
	struct events_splitter *sp = splitter_new();
	struct seen s = { 0 };
	char *junk = repeat('x', 4096);

	(void)state;
	for (size_t i = 0; i < 17; i++)
		assert_int_equal(feed(sp, junk, 4096, &s), 0);
	assert_int_equal(s.n, 1);
	expect_seen_oversize(&s, 0);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(feed(sp, junk, 4096, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(feed(sp, "x\nnext\n", 7, &s), 0);
	assert_int_equal(s.n, 2);
	expect_seen_line(&s, 1, "next");
	seen_clear(&s);
	/* Two long lines in a row are two reports. */
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(feed(sp, junk, 4096, &s), 0);
	assert_int_equal(feed(sp, "\n", 1, &s), 0);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(feed(sp, junk, 4096, &s), 0);
	assert_int_equal(feed(sp, "\nlast\n", 6, &s), 0);
	assert_int_equal(s.n, 3);
	expect_seen_oversize(&s, 0);
	expect_seen_oversize(&s, 1);
	expect_seen_line(&s, 2, "last");
	seen_clear(&s);
	free(junk);
	free(sp);
}

/* A callback's non-zero return stops the feed there and resets the splitter. */
static void test_split_stop(void **state)
{
	static const char two[] = "one\ntwo\nthr";
	struct events_splitter *sp = splitter_new();
	struct seen s = { 0 };
	size_t n;
	char *big;

	(void)state;
	s.stop_at = 1;
	s.stop_rc = -ECANCELED;
	assert_int_equal(feed(sp, two, sizeof(two) - 1, &s), -ECANCELED);
	assert_int_equal(s.n, 1);
	expect_seen_line(&s, 0, "one");
	assert_int_equal(sp->len, 0);
	assert_false(sp->discarding);
	seen_clear(&s);
	/* nothing of "two" or "thr" is left over */
	assert_int_equal(feed(sp, "four\n", 5, &s), 0);
	assert_int_equal(s.n, 1);
	expect_seen_line(&s, 0, "four");
	seen_clear(&s);
	/* a positive value stops too, and stopping on a held line works the same */
	s.stop_at = 1;
	s.stop_rc = 1;
	assert_int_equal(feed(sp, "fi", 2, &s), 0);
	assert_int_equal(feed(sp, "ve\nsix\n", 7, &s), 1);
	assert_int_equal(s.n, 1);
	expect_seen_line(&s, 0, "five");
	seen_clear(&s);
	/* stopping on an oversize report leaves no discarding behind */
	big = sandwich(70000, "\n", &n);
	s.stop_at = 2;
	s.stop_rc = -EMSGSIZE;
	assert_int_equal(feed(sp, big, EVENTS_LINE_MAX + 1000, &s), -EMSGSIZE);
	assert_int_equal(s.n, 2);
	expect_seen_oversize(&s, 1);
	assert_false(sp->discarding);
	assert_int_equal(sp->len, 0);
	seen_clear(&s);
	assert_int_equal(feed(sp, "seven\n", 6, &s), 0);
	assert_int_equal(s.n, 1);
	expect_seen_line(&s, 0, "seven");
	seen_clear(&s);
	free(big);
	free(sp);
}

static void test_split_invalid_arguments(void **state)
{
	struct events_splitter *sp = splitter_new();
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(events_splitter_feed(NULL, "a\n", 2, seen_line, &s), -EINVAL);
	assert_int_equal(events_splitter_feed(sp, "a\n", 2, NULL, &s), -EINVAL);
	assert_int_equal(events_splitter_feed(sp, NULL, 2, seen_line, &s), -EINVAL);
	assert_int_equal(s.n, 0);
	assert_int_equal(feed(sp, "a\n", 2, &s), 0);
	assert_int_equal(s.n, 1);
	seen_clear(&s);
	free(sp);
}

/* The two layers together: a stream cut at pseudo-random places, with noise between the
 * events (an oversized line, an unknown event, a malformed line), parsed line by line. */
static void test_stream_pipeline(void **state)
{
	size_t n;
	char *events = example_stream("\r\n", &n);
	char *noise = repeat('y', EVENTS_LINE_MAX + 10);
	char *stream = fmt("{\"type\":\"future\"}\n%s\n%s\nnot json\n", noise, events);
	size_t len = strlen(stream);
	uint32_t x = 12345;

	(void)state;
	for (int round = 0; round < 200; round++) {
		struct events_splitter *sp = splitter_new();
		struct seen s = { 0 };
		size_t off = 0, good = 0;

		while (off < len) {
			size_t step;

			x = x * 1103515245u + 12345u;
			step = 1 + (x >> 8) % (round % 2 ? 64 : 70000);
			if (step > len - off)
				step = len - off;
			assert_int_equal(feed(sp, stream + off, step, &s), 0);
			off += step;
		}
		assert_int_equal(s.n, NEXAMPLES + 3);
		assert_int_equal(s.err[0], 0);
		expect_seen_oversize(&s, 1);
		for (size_t i = 0; i < s.n; i++) {
			struct events_event ev;
			int rc;

			if (s.err[i])
				continue;
			rc = parse_n(s.line[i], s.len[i], &ev);
			if (i == 0) {
				assert_int_equal(rc, 0);
				assert_int_equal(ev.type, EVENTS_OTHER);
			} else if (i == s.n - 1) {
				assert_int_equal(rc, -EBADMSG);
			} else {
				assert_int_equal(rc, 0);
				expect_event(&ev, &example_events[good++]);
			}
		}
		assert_int_equal(good, NEXAMPLES);
		seen_clear(&s);
		free(sp);
	}
	free(stream);
	free(noise);
	free(events);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_examples),
		cmocka_unit_test(test_parse_crlf),
		cmocka_unit_test(test_parse_prefixes),
		cmocka_unit_test(test_parse_other_types),
		cmocka_unit_test(test_parse_extra_fields),
		cmocka_unit_test(test_parse_hostname_on_primary),
		cmocka_unit_test(test_parse_not_json),
		cmocka_unit_test(test_parse_nul_bytes),
		cmocka_unit_test(test_parse_type_member),
		cmocka_unit_test(test_parse_data_member),
		cmocka_unit_test(test_parse_is_primary),
		cmocka_unit_test(test_parse_hostname),
		cmocka_unit_test(test_parse_tx_db),
		cmocka_unit_test(test_parse_tx_txid),
		cmocka_unit_test(test_parse_line_max),
		cmocka_unit_test(test_parse_deep_nesting),
		cmocka_unit_test(test_parse_invalid_arguments),
		cmocka_unit_test(test_parse_reuse),
		cmocka_unit_test(test_split_one_chunk),
		cmocka_unit_test(test_split_byte_by_byte),
		cmocka_unit_test(test_split_chunk_sizes),
		cmocka_unit_test(test_split_every_position),
		cmocka_unit_test(test_split_empty_lines),
		cmocka_unit_test(test_split_pending_and_cr),
		cmocka_unit_test(test_split_nul_bytes),
		cmocka_unit_test(test_split_oversized),
		cmocka_unit_test(test_split_limit),
		cmocka_unit_test(test_split_oversized_reported_early),
		cmocka_unit_test(test_split_stop),
		cmocka_unit_test(test_split_invalid_arguments),
		cmocka_unit_test(test_stream_pipeline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
