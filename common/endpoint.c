/* Forwarder endpoints (see endpoint.h). The forms accepted are the interposer's transport's
 * (preload/transport.c): a client connects to a host name, an IPv4 literal or a bracketed
 * IPv6 literal, never to a wildcard or a "iface;host" pair, which only a server binds. */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int endpoint_mapped(const char *map, const char *host, char *buf, size_t len)
{
	size_t hl = strlen(host);
	const char *p;

	for (p = map; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > hl && !strncmp(p, host, hl) && p[hl] == '=') {
			if (n - hl - 1 >= len)
				return -ENAMETOOLONG;
			memcpy(buf, p + hl + 1, n - hl - 1);
			buf[n - hl - 1] = '\0';
			return 0;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return -ENOENT;
}

int endpoint_from_template(const char *tmpl, const char *host, char *buf, size_t len)
{
	static const char key[] = "{primary}";
	size_t hl = strlen(host), kl = sizeof(key) - 1, o = 0;

	if (!len)
		return -ENAMETOOLONG;
	while (*tmpl) {
		if (!strncmp(tmpl, key, kl)) {
			if (hl >= len - o)
				return -ENAMETOOLONG;
			memcpy(buf + o, host, hl);
			o += hl;
			tmpl += kl;
		} else {
			if (o + 1 >= len)
				return -ENAMETOOLONG;
			buf[o++] = *tmpl++;
		}
	}
	buf[o] = '\0';
	return 0;
}

int endpoint_map_check(const char *map, char *bad, size_t badlen)
{
	const char *p;

	for (p = map; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		struct endpoint_addr a;
		char url[600];
		bool ok = eq && eq > p && (size_t)(p + n - eq - 1) < sizeof(url);

		if (ok) {
			memcpy(url, eq + 1, (size_t)(p + n - eq - 1));
			url[p + n - eq - 1] = '\0';
			ok = endpoint_parse(url, &a) == 0;
		}
		if (!ok) {
			if (badlen)
				snprintf(bad, badlen, "%.*s", (int)n, p);
			return -EINVAL;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Decimal 1..65535 with nothing around it, into out. Returns 0 or -EINVAL. */
static int endpoint_parse_port(const char *s, char out[6])
{
	unsigned long v = 0;
	size_t i, n = strlen(s);

	if (!n || n > 5)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	memcpy(out, s, n + 1);
	return 0;
}

static bool endpoint_host_name_ok(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

static int endpoint_parse_tcp(const char *rest, struct endpoint_addr *a)
{
	char buf[300], *colon, *close_br;
	size_t n = strlen(rest);
	struct in6_addr a6;
	char plain[256];

	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, rest, n + 1);
	if (buf[0] == '[') {
		close_br = strchr(buf, ']');
		if (!close_br || close_br[1] != ':' || close_br == buf + 1)
			return -EINVAL;
		*close_br = '\0';
		n = strlen(buf + 1);
		if (n >= sizeof(plain))
			return -EINVAL;
		memcpy(plain, buf + 1, n + 1);
		memcpy(a->host, plain, n + 1);
		/* the zone, if any, is not part of the address inet_pton reads */
		if (strchr(plain, '%'))
			*strchr(plain, '%') = '\0';
		if (inet_pton(AF_INET6, plain, &a6) != 1)
			return -EINVAL;
		return endpoint_parse_port(close_br + 2, a->port);
	}
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (endpoint_parse_port(colon + 1, a->port))
		return -EINVAL;
	/* at most 253 bytes: it fits a->host */
	if (!endpoint_host_name_ok(buf))
		return -EINVAL;
	memcpy(a->host, buf, strlen(buf) + 1);
	return 0;
}

int endpoint_parse(const char *url, struct endpoint_addr *a)
{
	size_t n;

	memset(a, 0, sizeof(*a));
	if (!url)
		return -EINVAL;
	if (!strncmp(url, "tcp://", 6)) {
		a->kind = ENDPOINT_TCP;
		return endpoint_parse_tcp(url + 6, a);
	}
	if (!strncmp(url, "ipc://", 6)) {
		n = strlen(url + 6);
		if (url[6] != '/' || n < 2 || n >= sizeof(a->path))
			return -EINVAL;
		a->kind = ENDPOINT_IPC;
		memcpy(a->path, url + 6, n + 1);
		return 0;
	}
	return -EINVAL;
}
