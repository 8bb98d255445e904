/* libFuzzer harness of the LiteFS event stream parser (common/events.c).
 *
 * The input is used three ways:
 *   1. as one line, given to events_parse_line();
 *   2. as a stream, given to events_splitter_feed() in chunks whose sizes are the values
 *      of the input's first bytes (so a mutation of them re-cuts the same stream), with a
 *      callback that parses each line it is handed;
 *   3. as the same stream after a line of 65533 to 65540 bytes made of the input's bytes,
 *      cut the same way, so that lines around EVENTS_LINE_MAX and over it, kept or
 *      dropped up to their "\n", gathered over hundreds of chunks, are reached by
 *      inputs of ordinary size.
 *   Then the feed of (2) is done again with a callback that stops it after some lines.
 *
 * What a run without findings shows, for every input tried:
 *   - neither the parser nor the splitter reads or writes outside its buffers, leaks, or
 *     has undefined behaviour (ASan, LSan, UBSan);
 *   - the splitter hands on exactly the lines that a plain reference splitting of the whole
 *     stream gives (same bytes, same order, "\r\n" and empty lines as documented, one
 *     -EMSGSIZE per line over EVENTS_LINE_MAX, the unfinished last line kept), however the
 *     stream is cut; a callback's non-zero answer is returned at once and leaves the
 *     splitter reset;
 *   - events_parse_line() answers only 0, -EBADMSG or -ENOMEM, leaves the event all zero
 *     on error, and a parsed event meets every promise of events.h (known type, fields of
 *     other types zero, NUL-terminated names within their limits and without control
 *     characters, a db name that is one path component, a TXID that is not 0);
 *   - a trailing "\r" does not change the verdict, and an event written back as LiteFS
 *     would send it parses to the same event.
 * Any inconsistency calls abort(), which the fuzzer reports as a crash.
 *
 * No state survives an input: the splitter and every buffer are allocated per input. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How many leading bytes give the chunk sizes. */
#define CHUNK_SIZE_BYTES 8

static void fail(const char *what, long v)
{
	fprintf(stderr, "fuzz_events: %s (%ld)\n", what, v);
	abort();
}

/* ---- the parser --------------------------------------------------------------------- */

static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

/* Length of the NUL-terminated string in buf[0..size), failing when there is no NUL. */
static size_t bounded_len(const char *buf, size_t size, const char *what)
{
	const char *nul = memchr(buf, '\0', size);

	if (!nul)
		fail(what, (long)size);
	return (size_t)(nul - buf);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void check_event(const struct events_event *ev)
{
	size_t hn = bounded_len(ev->hostname, sizeof(ev->hostname), "hostname not terminated");
	size_t dn = bounded_len(ev->db, sizeof(ev->db), "db not terminated");

	switch (ev->type) {
	case EVENTS_INIT:
	case EVENTS_PRIMARY_CHANGE:
		if (dn || ev->txid)
			fail("a role event with tx fields", ev->type);
		if (ev->has_hostname != (hn > 0))
			fail("has_hostname disagrees with hostname", (long)hn);
		if (hn > EVENTS_HOSTNAME_MAX || has_control(ev->hostname, hn))
			fail("bad hostname accepted", (long)hn);
		break;
	case EVENTS_TX:
		if (ev->is_primary || ev->has_hostname || hn)
			fail("a tx event with role fields", 0);
		if (dn == 0 || dn > EVENTS_DB_MAX || has_control(ev->db, dn) ||
		    memchr(ev->db, '/', dn) || !strcmp(ev->db, ".") || !strcmp(ev->db, ".."))
			fail("bad db name accepted", (long)dn);
		if (ev->txid == 0)
			fail("TXID 0 accepted", 0);
		break;
	case EVENTS_OTHER:
		if (ev->is_primary || ev->has_hostname || hn || dn || ev->txid)
			fail("an event of another type with fields", 0);
		break;
	default:
		fail("parsed event of no known type", ev->type);
	}
	/* Nothing after the terminators: the strings were copied, not left over. */
	if (!all_zero(ev->hostname + hn, sizeof(ev->hostname) - hn) ||
	    !all_zero(ev->db + dn, sizeof(ev->db) - dn))
		fail("bytes after a name's terminator", 0);
}

static bool same_event(const struct events_event *a, const struct events_event *b)
{
	return a->type == b->type && a->is_primary == b->is_primary &&
	       a->has_hostname == b->has_hostname && a->txid == b->txid &&
	       !memcmp(a->hostname, b->hostname, sizeof(a->hostname)) &&
	       !memcmp(a->db, b->db, sizeof(a->db));
}

/* Writes ev back as the JSON line LiteFS would send, and checks it parses to ev. */
static void check_rewrite(const struct events_event *ev)
{
	static const char *const names[] = { [EVENTS_INIT] = "init",
					      [EVENTS_PRIMARY_CHANGE] = "primaryChange" };
	struct events_event again;
	json_t *root = NULL;
	char txid[17];
	char *text;
	int rc;

	if (ev->type == EVENTS_TX) {
		snprintf(txid, sizeof(txid), "%016" PRIx64, ev->txid);
		root = json_pack("{s:s, s:s, s:{s:s, s:i}}", "type", "tx", "db", ev->db, "data",
				 "txID", txid, "pageSize", 4096);
	} else if (ev->type == EVENTS_INIT || ev->type == EVENTS_PRIMARY_CHANGE) {
		root = ev->has_hostname ?
			json_pack("{s:s, s:{s:b, s:s}}", "type", names[ev->type], "data",
				  "isPrimary", ev->is_primary, "hostname", ev->hostname) :
			json_pack("{s:s, s:{s:b}}", "type", names[ev->type], "data",
				  "isPrimary", ev->is_primary);
	} else {
		return; /* the type's name is not kept */
	}
	if (!root)
		return; /* out of memory */
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		return;
	rc = events_parse_line(text, strlen(text), &again);
	if (rc == -ENOMEM) {
		free(text);
		return;
	}
	if (rc || !same_event(ev, &again)) {
		fprintf(stderr, "fuzz_events: rewritten as %s\n", text);
		fail("an event written back does not parse to itself", rc);
	}
	free(text);
}

/* Parses line[0..len) and checks the outcome. */
static void parse_and_check(const char *line, size_t len)
{
	struct events_event ev, ev_cr;
	char *with_cr;
	int rc, rc_cr;

	memset(&ev, 0x5a, sizeof(ev)); /* must be cleared whatever it held */
	rc = events_parse_line(line, len, &ev);
	if (rc && rc != -EBADMSG && rc != -ENOMEM)
		fail("events_parse_line returned an undocumented code", rc);
	if (rc) {
		if (!all_zero(&ev, sizeof(ev)))
			fail("a failed parse left bytes in the event", rc);
	} else {
		check_event(&ev);
		check_rewrite(&ev);
	}

	/* The same line with a "\r" at its end: one is ignored, whatever the line holds
	 * (a "\r" before it is JSON white space). */
	with_cr = malloc(len + 1);
	if (!with_cr)
		return;
	if (len)
		memcpy(with_cr, line, len);
	with_cr[len] = '\r';
	rc_cr = events_parse_line(with_cr, len + 1, &ev_cr);
	free(with_cr);
	if (rc == -ENOMEM || rc_cr == -ENOMEM)
		return;
	if (rc_cr != rc || (!rc && !same_event(&ev, &ev_cr)))
		fail("a trailing \\r changed the verdict", rc_cr);
}

/* ---- the splitter ------------------------------------------------------------------- */

/* A line the splitter must hand on: stream[off..off+len), or err -EMSGSIZE. */
struct ref_line {
	size_t off, len;
	int err;
};

/* The lines of stream[0..n) by the contract of events.h, worked out on the whole stream:
 * each "\n" ends a line; a "\r" before it is dropped; empty lines are skipped; a line
 * longer than EVENTS_LINE_MAX is one -EMSGSIZE, reported as soon as it exceeds what the
 * splitter can hold (EVENTS_LINE_MAX + 1 bytes with the "\r"), even before its "\n";
 * an unfinished last line is not handed on. Returns the number of lines in *out. */
static size_t reference_split(const char *stream, size_t n, struct ref_line **out)
{
	struct ref_line *lines;
	size_t count = 0, p = 0, max = 1;

	for (const char *q = stream, *end = stream + n; q && q < end; max++) {
		q = memchr(q, '\n', (size_t)(end - q));
		if (q)
			q++;
	}
	lines = malloc(max * sizeof(*lines));
	if (!lines)
		fail("out of memory", 0);
	while (p < n) {
		const char *nl = memchr(stream + p, '\n', n - p);
		size_t len = (size_t)((nl ? nl : stream + n) - (stream + p));

		if (len > EVENTS_LINE_MAX + 1) {
			lines[count++] = (struct ref_line){ 0, 0, -EMSGSIZE };
		} else if (nl) {
			if (len && stream[p + len - 1] == '\r')
				len--;
			if (len > EVENTS_LINE_MAX)
				lines[count++] = (struct ref_line){ 0, 0, -EMSGSIZE };
			else if (len)
				lines[count++] = (struct ref_line){ p, len, 0 };
		}
		p = nl ? (size_t)(nl - stream) + 1 : n;
	}
	*out = lines;
	return count;
}

struct feed_state {
	const char *stream;
	const struct ref_line *want;
	size_t nwant;
	size_t seen;          /* callbacks so far */
	size_t stop_at;       /* return STOP_RC from this callback (1-based); 0: never */
	bool parse;           /* parse each line */
};

#define STOP_RC 17

static int on_line(const char *line, size_t len, int err, void *ctx)
{
	struct feed_state *st = ctx;
	const struct ref_line *w;

	if (st->seen >= st->nwant)
		fail("the splitter handed on more lines than the stream holds", (long)st->seen);
	w = &st->want[st->seen++];
	if (err != w->err)
		fail("the splitter reported another error than the reference", err);
	if (err) {
		if (line || len)
			fail("an -EMSGSIZE report with a line", (long)len);
	} else {
		if (!line || len != w->len || memcmp(line, st->stream + w->off, len))
			fail("the splitter handed on another line than the reference",
			     (long)(st->seen - 1));
		if (st->parse)
			parse_and_check(line, len);
	}
	return st->stop_at && st->seen == st->stop_at ? STOP_RC : 0;
}

/* Feeds stream[0..n) to a fresh splitter in chunks of the sizes sizes[0..nsizes), taken in
 * turn (a size 0 is a feed of no bytes), and checks every line against the reference.
 * With stop_at, the callback stops the feed there. */
static void feed(const char *stream, size_t n, const uint8_t *sizes, size_t nsizes,
		 bool parse, size_t stop_at)
{
	struct events_splitter *s = malloc(sizeof(*s));
	struct feed_state st = { .stream = stream, .parse = parse, .stop_at = stop_at };
	struct ref_line *want;
	size_t p = 0, i = 0;
	int rc = 0;
	bool any = false;

	if (!s)
		fail("out of memory", 0);
	for (size_t k = 0; k < nsizes; k++)
		any |= sizes[k] != 0;
	st.nwant = reference_split(stream, n, &want);
	st.want = want;
	events_splitter_init(s);
	while (p < n && !rc) {
		size_t chunk = any ? sizes[i++ % nsizes] : n - p;

		if (chunk > n - p)
			chunk = n - p;
		rc = events_splitter_feed(s, stream + p, chunk, on_line, &st);
		p += chunk;
	}
	if (stop_at && stop_at <= st.nwant) {
		if (rc != STOP_RC || st.seen != stop_at)
			fail("a callback's stop was not obeyed", rc);
		if (s->len != 0 || s->discarding)
			fail("a stopped splitter was not reset", (long)s->len);
	} else {
		if (rc)
			fail("events_splitter_feed failed", rc);
		if (st.seen != st.nwant)
			fail("the splitter handed on fewer lines than the stream holds",
			     (long)st.seen);
	}
	/* Feeding nothing is allowed and changes nothing. */
	if (events_splitter_feed(s, NULL, 0, on_line, &st) != 0)
		fail("a feed of no bytes failed", 0);
	free(want);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t nsizes = size < CHUNK_SIZE_BYTES ? size : CHUNK_SIZE_BYTES;
	size_t long_len;
	char *repeated;
	struct ref_line *lines;
	size_t nlines;

	/* 1. The whole input as one line. */
	parse_and_check(size ? text : NULL, size);

	/* 2. The input as a stream, each line parsed. */
	feed(text, size, data, nsizes, true, 0);

	/* 3. A line about as long as the splitter keeps, then the input: the line is the
	 *    input's bytes over and over with its "\n" made spaces, 65533 to 65540 bytes
	 *    by the last input byte, and is ended by the input's first "\n", if any. */
	if (size) {
		size_t t = EVENTS_LINE_MAX - 3 + data[size - 1] % 8;

		long_len = t + size;
		repeated = malloc(long_len);
		if (!repeated)
			fail("out of memory", 0);
		for (size_t i = 0; i < t; i++)
			repeated[i] = data[i % size] == '\n' ? ' ' : (char)data[i % size];
		memcpy(repeated + t, data, size);
		feed(repeated, long_len, data, nsizes, false, 0);
		free(repeated);
	}

	/* 4. A callback that stops the feed after about half of the lines. */
	nlines = reference_split(text, size, &lines);
	free(lines);
	if (nlines)
		feed(text, size, data, nsizes, false, nlines / 2 + 1);
	return 0;
}
