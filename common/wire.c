/* The wire codec (format in wire.h). Encoding runs each message body twice through the same
 * code: once to measure it, once to write it, so the size checked against the caller's cap
 * is by construction the size written, and nothing is written when it is too large. Decoding
 * reads through a cursor that checks every length against the bytes that remain, so no
 * input, however crafted, makes it read outside buf[0..len) or allocate more than a small
 * multiple of len. */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of the request id that follows the header in every message type. */
#define WIRE_ID_SIZE 8
/* The smallest encoded value (a NULL: its type byte alone). A count of values is checked
 * against the remaining bytes with this before anything is allocated for them. */
#define WIRE_VALUE_MIN_SIZE 1
/* The smallest database entry of a PONG: an empty name (its u32 length) and a u64 TXID. */
#define WIRE_PONG_DB_MIN_SIZE 12

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int wire_type_known(uint8_t type)
{
	return type >= WIRE_EXEC && type <= WIRE_PONG;
}

/* --- encoding --------------------------------------------------------------------------- */

/* Output cursor. While measuring, p is NULL and only n advances. n never exceeds max: a
 * write that would pass it sets err to -EMSGSIZE instead, so sums cannot overflow. The
 * first error sticks and every later write is a no-op. */
struct wire_out {
	uint8_t *p;
	uint64_t n;
	uint64_t max;
	int err;
};

static void wire_out_bytes(struct wire_out *o, const void *src, uint64_t n)
{
	if (o->err)
		return;
	if (n > o->max - o->n) {
		o->err = -EMSGSIZE;
		return;
	}
	if (o->p && n)
		memcpy(o->p + o->n, src, (size_t)n);
	o->n += n;
}

static void wire_out_u8(struct wire_out *o, uint8_t v)
{
	wire_out_bytes(o, &v, 1);
}

static void wire_out_u16(struct wire_out *o, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	wire_out_bytes(o, b, sizeof(b));
}

static void wire_out_u32(struct wire_out *o, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	wire_out_bytes(o, b, sizeof(b));
}

static void wire_out_u64(struct wire_out *o, uint64_t v)
{
	uint8_t b[8];

	put64(b, v);
	wire_out_bytes(o, b, sizeof(b));
}

/* A str: the length must fit its u32 (-EMSGSIZE otherwise), and bytes must exist for it
 * (-EINVAL for a NULL pointer with a non-zero length; NULL with 0 is the empty string). */
static void wire_out_str(struct wire_out *o, const void *p, uint64_t n)
{
	if (o->err)
		return;
	if (n > UINT32_MAX) {
		o->err = -EMSGSIZE;
		return;
	}
	if (n && !p) {
		o->err = -EINVAL;
		return;
	}
	wire_out_u32(o, (uint32_t)n);
	wire_out_bytes(o, p, n);
}

static void wire_out_value(struct wire_out *o, const struct wire_value *v)
{
	uint64_t bits;

	switch (v->type) {
	case WIRE_NULL:
		wire_out_u8(o, v->type);
		break;
	case WIRE_INTEGER:
		wire_out_u8(o, v->type);
		wire_out_u64(o, (uint64_t)v->u.i);
		break;
	case WIRE_FLOAT:
		/* The bit pattern, not the value: -0.0 and NaN payloads must survive. */
		memcpy(&bits, &v->u.f, sizeof(bits));
		wire_out_u8(o, v->type);
		wire_out_u64(o, bits);
		break;
	case WIRE_TEXT:
	case WIRE_TEXT16:
	case WIRE_BLOB:
		wire_out_u8(o, v->type);
		wire_out_str(o, v->u.s.p, v->u.s.n);
		break;
	case WIRE_ZEROBLOB:
		wire_out_u8(o, v->type);
		wire_out_u64(o, v->u.zero);
		break;
	default:
		if (!o->err)
			o->err = -EINVAL;
		break;
	}
}

/* count values; a non-zero count needs an array (-EINVAL otherwise). Stops at the first
 * error so that a count far too large is not walked through. */
static void wire_out_values(struct wire_out *o, const struct wire_value *v, uint64_t count)
{
	if (count && !v && !o->err)
		o->err = -EINVAL;
	for (uint64_t i = 0; i < count && !o->err; i++)
		wire_out_value(o, &v[i]);
}

static void wire_out_header(struct wire_out *o, uint8_t type)
{
	wire_out_u8(o, WIRE_VERSION);
	wire_out_u8(o, type);
	wire_out_u16(o, 0); /* flags: none defined */
	wire_out_u32(o, 0); /* reserved */
}

static void wire_out_exec(struct wire_out *o, const void *msg)
{
	const struct wire_exec *m = msg;

	wire_out_u64(o, m->request_id);
	wire_out_u32(o, (uint32_t)m->busy_timeout_ms);
	wire_out_u32(o, m->conn_flags);
	wire_out_u64(o, (uint64_t)m->last_insert_rowid);
	wire_out_str(o, m->db.p, m->db.n);
	wire_out_str(o, m->sql.p, m->sql.n);
	wire_out_u32(o, m->nparams);
	wire_out_values(o, m->params, m->nparams);
	wire_out_u64(o, m->session_id);
	wire_out_u32(o, m->session_flags);
	wire_out_u64(o, m->snapshot_txid);
	wire_out_u32(o, m->txn_timeout_ms);
	wire_out_str(o, m->prologue.p, m->prologue.n);
}

static void wire_out_result(struct wire_out *o, const void *msg)
{
	const struct wire_result *m = msg;

	wire_out_u64(o, m->request_id);
	wire_out_u32(o, m->flags);
	wire_out_u32(o, (uint32_t)m->rc);
	wire_out_u32(o, (uint32_t)m->xrc);
	wire_out_str(o, m->errmsg.p, m->errmsg.n);
	wire_out_u64(o, (uint64_t)m->changes);
	wire_out_u64(o, (uint64_t)m->total_changes_delta);
	wire_out_u64(o, (uint64_t)m->last_insert_rowid);
	wire_out_u64(o, m->txid);
	wire_out_u32(o, m->ncols);
	wire_out_u32(o, m->nrows);
	/* At most (2^32-1)^2: no overflow in 64 bits. */
	wire_out_values(o, m->cells, (uint64_t)m->ncols * m->nrows);
}

static void wire_out_not_primary(struct wire_out *o, const void *msg)
{
	const struct wire_not_primary *m = msg;

	wire_out_u64(o, m->request_id);
	wire_out_str(o, m->primary.p, m->primary.n);
}

static void wire_out_error(struct wire_out *o, const void *msg)
{
	const struct wire_error *m = msg;

	wire_out_u64(o, m->request_id);
	wire_out_u32(o, (uint32_t)m->code);
	wire_out_str(o, m->message.p, m->message.n);
}

static void wire_out_description(struct wire_out *o, const void *msg)
{
	const struct wire_description *m = msg;

	wire_out_u64(o, m->request_id);
	wire_out_u32(o, (uint32_t)m->rc);
	wire_out_u32(o, (uint32_t)m->xrc);
	wire_out_str(o, m->errmsg.p, m->errmsg.n);
	wire_out_u32(o, m->tail);
	wire_out_u32(o, m->flags);
	wire_out_u32(o, m->nparams);
	wire_out_values(o, m->params, m->nparams);
	wire_out_u32(o, m->ncols);
	wire_out_values(o, m->cols, (uint64_t)m->ncols * 2);
}

static void wire_out_ping(struct wire_out *o, const void *msg)
{
	const struct wire_ping *m = msg;

	wire_out_u64(o, m->request_id);
	wire_out_u32(o, m->flags);
}

static void wire_out_pong(struct wire_out *o, const void *msg)
{
	const struct wire_pong *m = msg;

	wire_out_u64(o, m->request_id);
	wire_out_u32(o, m->role);
	wire_out_str(o, m->primary.p, m->primary.n);
	wire_out_str(o, m->version.p, m->version.n);
	wire_out_u64(o, m->uptime_ms);
	wire_out_u64(o, m->clock_ms);
	wire_out_u32(o, m->ndbs);
	if (m->ndbs && !m->dbs && !o->err)
		o->err = -EINVAL;
	for (uint32_t i = 0; i < m->ndbs && !o->err; i++) {
		wire_out_str(o, m->dbs[i].name.p, m->dbs[i].name.n);
		wire_out_u64(o, m->dbs[i].txid);
	}
}

/* Makes room for n more bytes after b->len. On failure b is unchanged. */
static int wire_buf_reserve(struct wire_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (n > SIZE_MAX - b->len)
		return -ENOMEM;
	need = b->len + n;
	if (need <= b->cap && b->p)
		return 0;
	cap = b->cap > SIZE_MAX / 2 ? SIZE_MAX : b->cap * 2;
	if (cap < need)
		cap = need;
	if (cap < 64)
		cap = 64;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int wire_buf_append(struct wire_buf *b, const void *p, size_t n)
{
	int rc = wire_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Appends header and body of one message to b: measures first, so that -EMSGSIZE and
 * -EINVAL leave b exactly as it was, then grows b once and writes. */
static int wire_encode(struct wire_buf *b, uint8_t type,
		       void (*body)(struct wire_out *, const void *), const void *msg, size_t max)
{
	struct wire_out o = { .p = NULL, .n = 0, .max = max, .err = 0 };
	size_t size;
	int rc;

	if (!b || !msg)
		return -EINVAL;
	wire_out_header(&o, type);
	body(&o, msg);
	if (o.err)
		return o.err;
	size = (size_t)o.n;
	rc = wire_buf_reserve(b, size);
	if (rc)
		return rc;
	o = (struct wire_out){ .p = b->p + b->len, .n = 0, .max = size, .err = 0 };
	wire_out_header(&o, type);
	body(&o, msg);
	if (o.err || o.n != size)
		return -EIO; /* the message changed between the two passes */
	b->len += size;
	return 0;
}

int wire_encode_exec(struct wire_buf *b, const struct wire_exec *m, size_t max)
{
	return wire_encode(b, WIRE_EXEC, wire_out_exec, m, max);
}

int wire_encode_result(struct wire_buf *b, const struct wire_result *m, size_t max)
{
	return wire_encode(b, WIRE_RESULT, wire_out_result, m, max);
}

int wire_encode_not_primary(struct wire_buf *b, const struct wire_not_primary *m, size_t max)
{
	return wire_encode(b, WIRE_NOT_PRIMARY, wire_out_not_primary, m, max);
}

int wire_encode_description(struct wire_buf *b, const struct wire_description *m, size_t max)
{
	return wire_encode(b, WIRE_DESCRIPTION, wire_out_description, m, max);
}

int wire_encode_error(struct wire_buf *b, const struct wire_error *m, size_t max)
{
	return wire_encode(b, WIRE_ERROR, wire_out_error, m, max);
}

int wire_encode_ping(struct wire_buf *b, const struct wire_ping *m, size_t max)
{
	return wire_encode(b, WIRE_PING, wire_out_ping, m, max);
}

int wire_encode_pong(struct wire_buf *b, const struct wire_pong *m, size_t max)
{
	return wire_encode(b, WIRE_PONG, wire_out_pong, m, max);
}

void wire_buf_free(struct wire_buf *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

/* --- decoding --------------------------------------------------------------------------- */

/* Input cursor over p[0..len): off <= len always holds, so len - off is the number of
 * bytes that remain and never underflows. */
struct wire_in {
	const uint8_t *p;
	size_t len, off;
};

static size_t wire_in_left(const struct wire_in *in)
{
	return in->len - in->off;
}

/* Hands out the next n bytes, or -EBADMSG when fewer remain. */
static int wire_in_take(struct wire_in *in, uint64_t n, const uint8_t **out)
{
	if (n > wire_in_left(in))
		return -EBADMSG;
	*out = in->p + in->off;
	in->off += (size_t)n;
	return 0;
}

static int wire_in_u8(struct wire_in *in, uint8_t *v)
{
	const uint8_t *p;
	int rc = wire_in_take(in, 1, &p);

	if (!rc)
		*v = p[0];
	return rc;
}

static int wire_in_u16(struct wire_in *in, uint16_t *v)
{
	const uint8_t *p;
	int rc = wire_in_take(in, 2, &p);

	if (!rc)
		*v = get16(p);
	return rc;
}

static int wire_in_u32(struct wire_in *in, uint32_t *v)
{
	const uint8_t *p;
	int rc = wire_in_take(in, 4, &p);

	if (!rc)
		*v = get32(p);
	return rc;
}

static int wire_in_i32(struct wire_in *in, int32_t *v)
{
	uint32_t u;
	int rc = wire_in_u32(in, &u);

	if (!rc)
		*v = (int32_t)u;
	return rc;
}

static int wire_in_u64(struct wire_in *in, uint64_t *v)
{
	const uint8_t *p;
	int rc = wire_in_take(in, 8, &p);

	if (!rc)
		*v = get64(p);
	return rc;
}

static int wire_in_i64(struct wire_in *in, int64_t *v)
{
	uint64_t u;
	int rc = wire_in_u64(in, &u);

	if (!rc)
		*v = (int64_t)u;
	return rc;
}

/* A str: its bytes stay in the input; p is never NULL, even for an empty string. */
static int wire_in_bytes(struct wire_in *in, const void **p, uint32_t *n)
{
	const uint8_t *bytes;
	uint32_t len;
	int rc;

	rc = wire_in_u32(in, &len);
	if (rc)
		return rc;
	rc = wire_in_take(in, len, &bytes);
	if (rc)
		return rc;
	*p = bytes;
	*n = len;
	return 0;
}

static int wire_in_str(struct wire_in *in, struct wire_str *s)
{
	const void *p;
	int rc = wire_in_bytes(in, &p, &s->n);

	if (!rc)
		s->p = p;
	return rc;
}

static int wire_in_value(struct wire_in *in, struct wire_value *v)
{
	uint64_t bits;
	uint32_t n;
	int rc;

	rc = wire_in_u8(in, &v->type);
	if (rc)
		return rc;
	switch (v->type) {
	case WIRE_NULL:
		return 0;
	case WIRE_INTEGER:
		return wire_in_i64(in, &v->u.i);
	case WIRE_FLOAT:
		rc = wire_in_u64(in, &bits);
		if (!rc)
			memcpy(&v->u.f, &bits, sizeof(bits));
		return rc;
	case WIRE_TEXT:
	case WIRE_TEXT16:
	case WIRE_BLOB:
		rc = wire_in_bytes(in, &v->u.s.p, &n);
		if (!rc)
			v->u.s.n = n;
		return rc;
	case WIRE_ZEROBLOB:
		return wire_in_u64(in, &v->u.zero);
	default:
		return -EBADMSG;
	}
}

/* count values into a fresh array (NULL for none). The count is checked against what
 * remains before anything is allocated: each value takes at least WIRE_VALUE_MIN_SIZE
 * bytes, so the array is at most sizeof(struct wire_value) times the input's size. */
static int wire_in_values(struct wire_in *in, uint64_t count, struct wire_value **out)
{
	struct wire_value *v;
	int rc;

	*out = NULL;
	if (count > wire_in_left(in) / WIRE_VALUE_MIN_SIZE)
		return -EBADMSG;
	if (!count)
		return 0;
	if (count > SIZE_MAX / sizeof(*v))
		return -ENOMEM;
	v = calloc((size_t)count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		rc = wire_in_value(in, &v[i]);
		if (rc)
			goto fail;
	}
	*out = v;
	return 0;

fail:
	free(v);
	return rc;
}

static int wire_in_exec(struct wire_in *in, struct wire_exec *m)
{
	int rc;

	if ((rc = wire_in_u64(in, &m->request_id)) ||
	    (rc = wire_in_i32(in, &m->busy_timeout_ms)) ||
	    (rc = wire_in_u32(in, &m->conn_flags)) ||
	    (rc = wire_in_i64(in, &m->last_insert_rowid)) ||
	    (rc = wire_in_str(in, &m->db)) ||
	    (rc = wire_in_str(in, &m->sql)) ||
	    (rc = wire_in_u32(in, &m->nparams)) ||
	    (rc = wire_in_values(in, m->nparams, &m->params)))
		return rc;
	if ((rc = wire_in_u64(in, &m->session_id)) ||
	    (rc = wire_in_u32(in, &m->session_flags)) ||
	    (rc = wire_in_u64(in, &m->snapshot_txid)) ||
	    (rc = wire_in_u32(in, &m->txn_timeout_ms)) ||
	    (rc = wire_in_str(in, &m->prologue))) {
		free(m->params);
		m->params = NULL;
		return rc;
	}
	return 0;
}

static int wire_in_result(struct wire_in *in, struct wire_result *m)
{
	int rc;

	if ((rc = wire_in_u64(in, &m->request_id)) ||
	    (rc = wire_in_u32(in, &m->flags)) ||
	    (rc = wire_in_i32(in, &m->rc)) ||
	    (rc = wire_in_i32(in, &m->xrc)) ||
	    (rc = wire_in_str(in, &m->errmsg)) ||
	    (rc = wire_in_i64(in, &m->changes)) ||
	    (rc = wire_in_i64(in, &m->total_changes_delta)) ||
	    (rc = wire_in_i64(in, &m->last_insert_rowid)) ||
	    (rc = wire_in_u64(in, &m->txid)) ||
	    (rc = wire_in_u32(in, &m->ncols)) ||
	    (rc = wire_in_u32(in, &m->nrows)))
		return rc;
	return wire_in_values(in, (uint64_t)m->ncols * m->nrows, &m->cells);
}

static int wire_in_not_primary(struct wire_in *in, struct wire_not_primary *m)
{
	int rc;

	if ((rc = wire_in_u64(in, &m->request_id)))
		return rc;
	return wire_in_str(in, &m->primary);
}

static int wire_in_error(struct wire_in *in, struct wire_error *m)
{
	int rc;

	if ((rc = wire_in_u64(in, &m->request_id)) ||
	    (rc = wire_in_i32(in, &m->code)))
		return rc;
	return wire_in_str(in, &m->message);
}

static int wire_in_description(struct wire_in *in, struct wire_description *m)
{
	int rc;

	if ((rc = wire_in_u64(in, &m->request_id)) ||
	    (rc = wire_in_i32(in, &m->rc)) ||
	    (rc = wire_in_i32(in, &m->xrc)) ||
	    (rc = wire_in_str(in, &m->errmsg)) ||
	    (rc = wire_in_u32(in, &m->tail)) ||
	    (rc = wire_in_u32(in, &m->flags)) ||
	    (rc = wire_in_u32(in, &m->nparams)) ||
	    (rc = wire_in_values(in, m->nparams, &m->params)))
		return rc;
	if ((rc = wire_in_u32(in, &m->ncols)) ||
	    (rc = wire_in_values(in, (uint64_t)m->ncols * 2, &m->cols))) {
		free(m->params);
		m->params = NULL;
		return rc;
	}
	return 0;
}

static int wire_in_ping(struct wire_in *in, struct wire_ping *m)
{
	int rc;

	if ((rc = wire_in_u64(in, &m->request_id)))
		return rc;
	return wire_in_u32(in, &m->flags);
}

/* The database count is checked against what remains before anything is allocated, as
 * for values. */
static int wire_in_pong(struct wire_in *in, struct wire_pong *m)
{
	struct wire_pong_db *dbs;
	int rc;

	if ((rc = wire_in_u64(in, &m->request_id)) ||
	    (rc = wire_in_u32(in, &m->role)) ||
	    (rc = wire_in_str(in, &m->primary)) ||
	    (rc = wire_in_str(in, &m->version)) ||
	    (rc = wire_in_u64(in, &m->uptime_ms)) ||
	    (rc = wire_in_u64(in, &m->clock_ms)) ||
	    (rc = wire_in_u32(in, &m->ndbs)))
		return rc;
	if (m->ndbs > wire_in_left(in) / WIRE_PONG_DB_MIN_SIZE)
		return -EBADMSG;
	if (!m->ndbs)
		return 0;
	dbs = calloc(m->ndbs, sizeof(*dbs));
	if (!dbs)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->ndbs; i++) {
		if ((rc = wire_in_str(in, &dbs[i].name)) ||
		    (rc = wire_in_u64(in, &dbs[i].txid))) {
			free(dbs);
			return rc;
		}
	}
	m->dbs = dbs;
	return 0;
}

/* The version byte is judged first, as soon as it is there: a message of another version
 * may have another header, so nothing after it means anything. A non-zero reserved field
 * is malformed; flags are handed to the caller as they are. */
int wire_decode(const void *buf, size_t len, size_t max, struct wire_msg *m)
{
	struct wire_in in = { .p = buf, .len = len, .off = 0 };
	struct wire_msg d;
	uint32_t reserved;
	uint8_t version;
	int rc;

	if (!m)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	if (len > max)
		return -EMSGSIZE;
	if (!buf && len)
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	if ((rc = wire_in_u8(&in, &version)))
		return rc;
	if (version != WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if ((rc = wire_in_u8(&in, &d.type)) ||
	    (rc = wire_in_u16(&in, &d.flags)) ||
	    (rc = wire_in_u32(&in, &reserved)))
		return rc;
	if (reserved)
		return -EBADMSG;
	switch (d.type) {
	case WIRE_EXEC:
		rc = wire_in_exec(&in, &d.u.exec);
		break;
	case WIRE_RESULT:
		rc = wire_in_result(&in, &d.u.result);
		break;
	case WIRE_NOT_PRIMARY:
		rc = wire_in_not_primary(&in, &d.u.not_primary);
		break;
	case WIRE_ERROR:
		rc = wire_in_error(&in, &d.u.error);
		break;
	case WIRE_DESCRIPTION:
		rc = wire_in_description(&in, &d.u.description);
		break;
	case WIRE_PING:
		rc = wire_in_ping(&in, &d.u.ping);
		break;
	case WIRE_PONG:
		rc = wire_in_pong(&in, &d.u.pong);
		break;
	default:
		return -EBADMSG;
	}
	if (rc)
		goto fail;
	if (wire_in_left(&in)) {
		rc = -EBADMSG;
		goto fail;
	}
	*m = d;
	return 0;

fail:
	wire_msg_free(&d);
	return rc;
}

void wire_msg_free(struct wire_msg *m)
{
	if (!m)
		return;
	if (m->type == WIRE_EXEC)
		free(m->u.exec.params);
	else if (m->type == WIRE_RESULT)
		free(m->u.result.cells);
	else if (m->type == WIRE_DESCRIPTION) {
		free(m->u.description.params);
		free(m->u.description.cols);
	} else if (m->type == WIRE_PONG) {
		free(m->u.pong.dbs);
	}
	memset(m, 0, sizeof(*m));
}

/* Every message type carries its request id right after the header. */
uint64_t wire_peek_request_id(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!p || len < WIRE_HEADER_SIZE + WIRE_ID_SIZE)
		return 0;
	if (p[0] != WIRE_VERSION || !wire_type_known(p[1]))
		return 0;
	return get64(p + WIRE_HEADER_SIZE);
}

int wire_peek_code(const void *buf, size_t len, uint8_t *type, int32_t *code)
{
	/* RESULT: the id, u32 flags, then i32 rc; ERROR: the id, then i32 code */
	const size_t rc_off = WIRE_HEADER_SIZE + WIRE_ID_SIZE + 4;
	const size_t code_off = WIRE_HEADER_SIZE + WIRE_ID_SIZE;
	const uint8_t *p = buf;

	if (!p || len < WIRE_HEADER_SIZE || p[0] != WIRE_VERSION || !wire_type_known(p[1]))
		return -EBADMSG;
	*type = p[1];
	*code = 0;
	if (p[1] == WIRE_RESULT) {
		if (len < rc_off + 4)
			return -EBADMSG;
		*code = (int32_t)get32(p + rc_off);
	} else if (p[1] == WIRE_ERROR) {
		if (len < code_off + 4)
			return -EBADMSG;
		*code = (int32_t)get32(p + code_off);
	}
	return 0;
}

int wire_encode_msg(struct wire_buf *b, const struct wire_msg *m, size_t max)
{
	switch (m->type) {
	case WIRE_EXEC:
		return wire_encode_exec(b, &m->u.exec, max);
	case WIRE_RESULT:
		return wire_encode_result(b, &m->u.result, max);
	case WIRE_NOT_PRIMARY:
		return wire_encode_not_primary(b, &m->u.not_primary, max);
	case WIRE_ERROR:
		return wire_encode_error(b, &m->u.error, max);
	case WIRE_DESCRIPTION:
		return wire_encode_description(b, &m->u.description, max);
	case WIRE_PING:
		return wire_encode_ping(b, &m->u.ping, max);
	case WIRE_PONG:
		return wire_encode_pong(b, &m->u.pong, max);
	default:
		return -EINVAL;
	}
}
