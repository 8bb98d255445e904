/* ERROR and NOT_PRIMARY replies. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fwd_reply_error(struct wire_buf *out, size_t max, uint64_t id, int code, const char *fmt,
		    ...)
{
	struct wire_error e = { .request_id = id, .code = code };
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	e.message.p = msg;
	e.message.n = (uint32_t)((size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	return wire_encode_error(out, &e, max);
}

int fwd_reply_not_primary(struct wire_buf *out, size_t max, uint64_t id, const char *primary)
{
	struct wire_not_primary np = { .request_id = id };

	np.primary.p = primary;
	np.primary.n = (uint32_t)strlen(primary);
	return wire_encode_not_primary(out, &np, max);
}
