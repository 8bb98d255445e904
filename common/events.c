/* LiteFS's event stream (format in events.h). JSON is decoded by jansson, which checks the
 * syntax, UTF-8, number ranges and nesting depth; this file checks what the decoded values
 * must be, and copies them out only once the whole event is known to be good. */
#include "events.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

/* Exactly the JSON string s (no prefix, no suffix, no embedded NUL). */
static bool events_string_is(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_string_length(v) == n && !memcmp(json_string_value(v), s, n);
}

/* Whether p[0..n) holds a control character: C0 (NUL included), DEL, or C1 (U+0080 to
 * U+009F, "\xc2\x80" to "\xc2\x9f" in UTF-8, which jansson has already checked). Such a
 * name would be echoed into logs and replies. */
static bool events_has_control(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f)
			return true;
		if (c == 0xc2 && i + 1 < n && (unsigned char)p[i + 1] >= 0x80 &&
		    (unsigned char)p[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

/* Copies the JSON string v into out[0..max] when it is a string of 1..max bytes without
 * control characters. Returns 0, or -EBADMSG (out untouched). */
static int events_copy_text(const json_t *v, char *out, size_t max)
{
	const char *p;
	size_t n;

	if (!json_is_string(v))
		return -EBADMSG;
	p = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > max || events_has_control(p, n))
		return -EBADMSG;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* A database name must stay inside the mount: a single path component. */
static int events_copy_db(const json_t *v, char *out)
{
	int rc = events_copy_text(v, out, EVENTS_DB_MAX);

	if (rc)
		return rc;
	if (strchr(out, '/') || !strcmp(out, ".") || !strcmp(out, "..")) {
		out[0] = '\0';
		return -EBADMSG;
	}
	return 0;
}

/* An ltx TXID: exactly 16 hex digits, as LiteFS formats it (%016x); ltx's own parser takes
 * either case, so does this one. 0 names no transaction. Returns 0 or -EBADMSG. */
static int events_parse_txid(const json_t *v, uint64_t *txid)
{
	const char *p;
	uint64_t x = 0;

	if (!json_is_string(v) || json_string_length(v) != 16)
		return -EBADMSG;
	p = json_string_value(v);
	for (int i = 0; i < 16; i++) {
		char c = p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -EBADMSG;
		x = x << 4 | d;
	}
	if (x == 0)
		return -EBADMSG;
	*txid = x;
	return 0;
}

/* init and primaryChange: data.isPrimary, and data.hostname when present. */
static int events_parse_role(const json_t *data, struct events_event *ev)
{
	const json_t *primary = json_object_get(data, "isPrimary");
	const json_t *host = json_object_get(data, "hostname");

	if (!json_is_boolean(primary))
		return -EBADMSG;
	ev->is_primary = json_is_true(primary);
	if (host) {
		if (events_copy_text(host, ev->hostname, EVENTS_HOSTNAME_MAX))
			return -EBADMSG;
		ev->has_hostname = true;
	}
	return 0;
}

static int events_parse_tx(const json_t *root, const json_t *data, struct events_event *ev)
{
	if (events_copy_db(json_object_get(root, "db"), ev->db))
		return -EBADMSG;
	return events_parse_txid(json_object_get(data, "txID"), &ev->txid);
}

/* The event in root, a decoded JSON value, into ev (all zero on entry). */
static int events_parse_root(const json_t *root, struct events_event *ev)
{
	const json_t *type, *data;

	if (!json_is_object(root))
		return -EBADMSG;
	type = json_object_get(root, "type");
	if (!json_is_string(type) || json_string_length(type) == 0)
		return -EBADMSG;
	if (events_string_is(type, "init"))
		ev->type = EVENTS_INIT;
	else if (events_string_is(type, "primaryChange"))
		ev->type = EVENTS_PRIMARY_CHANGE;
	else if (events_string_is(type, "tx"))
		ev->type = EVENTS_TX;
	else {
		ev->type = EVENTS_OTHER;
		return 0;
	}
	data = json_object_get(root, "data");
	if (!json_is_object(data))
		return -EBADMSG;
	if (ev->type == EVENTS_TX)
		return events_parse_tx(root, data, ev);
	return events_parse_role(data, ev);
}

int events_parse_line(const char *line, size_t len, struct events_event *out)
{
	struct events_event ev = { 0 };
	json_error_t err;
	json_t *root;
	int rc;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!line && len)
		return -EINVAL;
	if (len && line[len - 1] == '\r')
		len--;
	/* A raw NUL byte is never valid JSON (outside strings it is no token, inside them a
	 * control character must be escaped), but jansson 2.14 skips one that follows a
	 * literal: it accepts {"isPrimary":true<NUL>}. */
	if (len == 0 || len > EVENTS_LINE_MAX || memchr(line, '\n', len) ||
	    memchr(line, '\0', len))
		return -EBADMSG;
	/* Without JSON_DECODE_ANY the text must be an object or array; without
	 * JSON_ALLOW_NUL a "\u0000" is refused; trailing bytes are refused too. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
	rc = events_parse_root(root, &ev);
	json_decref(root);
	if (rc)
		return rc;
	*out = ev;
	return 0;
}

void events_splitter_init(struct events_splitter *s)
{
	s->len = 0;
	s->discarding = false;
}

/* A line of n bytes is complete (its "\n" seen): hands it to fn unless it is empty.
 * Returns fn's verdict, or 0. */
static int events_splitter_emit(const char *line, size_t n, events_line_fn *fn, void *ctx)
{
	if (n && line[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	if (n > EVENTS_LINE_MAX)
		return fn(NULL, 0, -EMSGSIZE, ctx);
	return fn(line, n, 0, ctx);
}

int events_splitter_feed(struct events_splitter *s, const void *data, size_t len,
			 events_line_fn *fn, void *ctx)
{
	const char *p = data, *end;
	int rc = 0;

	if (!s || !fn || (!data && len))
		return -EINVAL;
	if (!len)
		return 0;
	end = p + len;
	/* One pass over data: each step takes the bytes up to the next "\n" (or the end). A
	 * line wholly inside data is handed on from data itself; only a line cut by the end
	 * of a chunk is copied into buf, bounded by its size. */
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (s->discarding) {
			s->discarding = !nl;
		} else if (n > sizeof(s->buf) - s->len) {
			s->len = 0;
			s->discarding = !nl;
			rc = fn(NULL, 0, -EMSGSIZE, ctx);
		} else if (!nl) {
			memcpy(s->buf + s->len, p, n);
			s->len += n;
		} else if (s->len == 0) {
			rc = events_splitter_emit(p, n, fn, ctx);
		} else {
			memcpy(s->buf + s->len, p, n);
			n += s->len;
			s->len = 0;
			rc = events_splitter_emit(s->buf, n, fn, ctx);
		}
		p = nl ? nl + 1 : end;
	}
	if (rc)
		events_splitter_init(s);
	return rc;
}
