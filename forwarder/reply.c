/* ERROR, NOT_PRIMARY and bare RESULT replies. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Formats into msg[0..1024) and points str at it. */
static void reply_format(struct wire_str *str, char *msg, const char *fmt, va_list ap)
{
	int n = vsnprintf(msg, 1024, fmt, ap);

	if (n < 0)
		n = 0;
	str->p = msg;
	str->n = (uint32_t)(n < 1024 ? n : 1023);
}

int fwd_reply_error(struct wire_buf *out, size_t max, uint64_t id, int code, const char *fmt,
		    ...)
{
	struct wire_error e = { .request_id = id, .code = code };
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	reply_format(&e.message, msg, fmt, ap);
	va_end(ap);
	return wire_encode_error(out, &e, max);
}

int fwd_reply_result(struct wire_buf *out, size_t max, uint64_t id, int xrc, uint32_t flags,
		     const char *fmt, ...)
{
	struct wire_result r = { .request_id = id, .rc = xrc & 0xff, .xrc = xrc,
				 .flags = flags };
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	reply_format(&r.errmsg, msg, fmt, ap);
	va_end(ap);
	return wire_encode_result(out, &r, max);
}

int fwd_reply_not_primary(struct wire_buf *out, size_t max, uint64_t id, const char *primary)
{
	struct wire_not_primary np = { .request_id = id };

	np.primary.p = primary;
	np.primary.n = (uint32_t)strlen(primary);
	return wire_encode_not_primary(out, &np, max);
}
