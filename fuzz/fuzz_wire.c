/* libFuzzer harness of the wire codec (common/wire.c): wire_decode() on arbitrary bytes.
 *
 * What a run without findings shows, for every input the fuzzer tried:
 *   - wire_decode() reads nothing outside buf[0..len), frees what it allocates on every
 *     error path and has no undefined behaviour (ASan, LSan and UBSan watch each call);
 *   - it answers only as documented: 0, -EPROTONOSUPPORT, -EBADMSG, -EMSGSIZE or -ENOMEM,
 *     -EMSGSIZE exactly when len exceeds the cap, and leaves the message all zero on error;
 *   - the verdict does not depend on the cap once the message fits in it;
 *   - a message it accepts is canonical: encoding the decoded message again with the
 *     wire_encode_* function of its type gives back the input byte for byte, except the
 *     header's flags, which decoding reports and encoders always write as 0; the encoding
 *     is appended after bytes already in the buffer, is refused with -EMSGSIZE (buffer
 *     unchanged) under a cap one byte too small, and decodes again to the same type;
 *   - wire_peek_request_id() agrees with the decoded request id.
 * Any inconsistency calls abort(), which the fuzzer reports as a crash.
 *
 * No state survives an input: everything is allocated and freed within the call. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Offset of the header's u16 flags. */
#define FLAGS_OFFSET 2
/* Bytes put in the output buffer before the re-encoded message, like a transport header. */
static const uint8_t prefix[5] = { 0xde, 0xad, 0xbe, 0xef, 0x00 };

static void fail(const char *what, int rc)
{
	fprintf(stderr, "fuzz_wire: %s (rc %d)\n", what, rc);
	abort();
}

static uint64_t request_id_of(const struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_EXEC:
		return m->u.exec.request_id;
	case WIRE_RESULT:
		return m->u.result.request_id;
	case WIRE_NOT_PRIMARY:
		return m->u.not_primary.request_id;
	case WIRE_ERROR:
		return m->u.error.request_id;
	case WIRE_DESCRIPTION:
		return m->u.description.request_id;
	default:
		fail("decoded message of unknown type", m->type);
		return 0;
	}
}

/* Encodes m with the encoder of its type, appending to b, capped at max: every type the
 * decoder accepts has one. */
static int encode(struct wire_buf *b, const struct wire_msg *m, size_t max)
{
	int rc = wire_encode_msg(b, m, max);

	if (rc == -EINVAL)
		fail("no encoder for the decoded type", m->type);
	return rc;
}

static int is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* m was decoded from data[0..size): re-encodes it and checks the result against data. */
static void check_round_trip(const uint8_t *data, size_t size, const struct wire_msg *m)
{
	struct wire_buf b = { 0 };
	struct wire_msg again;
	int rc;

	if (size < WIRE_HEADER_SIZE + 8)
		fail("a decoded message shorter than header and request id", (int)size);
	if (wire_peek_request_id(data, size) != request_id_of(m))
		fail("wire_peek_request_id disagrees with wire_decode", 0);

	/* Too small a cap by one byte: refused, the buffer (holding the prefix) unchanged. */
	if ((rc = wire_buf_append(&b, prefix, sizeof(prefix))))
		fail("wire_buf_append", rc);
	rc = encode(&b, m, size - 1);
	if (rc != -EMSGSIZE)
		fail("encoding under a cap one byte too small did not give -EMSGSIZE", rc);
	if (b.len != sizeof(prefix) || memcmp(b.p, prefix, sizeof(prefix)))
		fail("a refused encoding changed the buffer", rc);

	/* The exact cap: accepted, appended after the prefix, the input again. */
	rc = encode(&b, m, size);
	if (rc)
		fail("re-encoding a decoded message failed", rc);
	if (b.len != sizeof(prefix) + size)
		fail("re-encoded message has another size", (int)b.len);
	if (memcmp(b.p, prefix, sizeof(prefix)))
		fail("encoding overwrote the bytes before it", 0);
	if (memcmp(b.p + sizeof(prefix), data, FLAGS_OFFSET) ||
	    !is_zero(b.p + sizeof(prefix) + FLAGS_OFFSET, 2) ||
	    memcmp(b.p + sizeof(prefix) + FLAGS_OFFSET + 2, data + FLAGS_OFFSET + 2,
		   size - FLAGS_OFFSET - 2))
		fail("re-encoded message differs from the input", 0);

	/* And it decodes again, to the same type, with no flags. */
	rc = wire_decode(b.p + sizeof(prefix), size, size, &again);
	if (rc)
		fail("re-encoded message does not decode", rc);
	if (again.type != m->type || again.flags != 0)
		fail("re-encoded message decodes to another type or flags", again.type);
	if (request_id_of(&again) != request_id_of(m))
		fail("re-encoded message has another request id", 0);
	wire_msg_free(&again);
	wire_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Caps around the input's size and the default, with their expected effect. */
	const size_t maxes[] = {
		0, 1, WIRE_HEADER_SIZE, size ? size - 1 : 0, size, size + 1,
		WIRE_DEFAULT_MAX_MESSAGE, SIZE_MAX,
	};
	int verdict = 1; /* rc of the first decode whose cap let the message in; 1: none yet */

	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		struct wire_msg m;
		int rc;

		memset(&m, 0xa5, sizeof(m)); /* decode must clear it, whatever it held */
		rc = wire_decode(data, size, maxes[i], &m);
		if (size > maxes[i]) {
			if (rc != -EMSGSIZE)
				fail("a message above the cap was not refused with -EMSGSIZE", rc);
		} else if (rc != 0 && rc != -EPROTONOSUPPORT && rc != -EBADMSG && rc != -ENOMEM) {
			fail("wire_decode returned an undocumented code", rc);
		} else if (verdict == 1 || verdict == -ENOMEM) {
			verdict = rc;
		} else if (rc != verdict && rc != -ENOMEM) {
			fail("the verdict depends on the cap", rc);
		}
		if (rc) {
			if (!is_zero(&m, sizeof(m)))
				fail("a failed decode left bytes in the message", rc);
			continue;
		}
		if (m.type < WIRE_EXEC || m.type > WIRE_DESCRIPTION)
			fail("decoded a message of unknown type", m.type);
		check_round_trip(data, size, &m);
		wire_msg_free(&m);
		if (!is_zero(&m, sizeof(m)))
			fail("wire_msg_free did not clear the message", 0);
	}
	return 0;
}
