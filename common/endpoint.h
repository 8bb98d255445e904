/* Forwarder endpoints: how the primary's hostname becomes the address of its forwarder,
 * by the rules of the interposer (README, "Primary detection"): the hostname's entry in
 * LITEFS_FWD_ENDPOINTS ("host=url,host=url"), else the endpoint the primary's forwarder
 * recorded in the tracking table, else the template LITEFS_FWD_ENDPOINT with "{primary}"
 * replaced by the hostname; and the parts of an endpoint URL, as the interposer's
 * transport accepts them, to tell whether it can be reached. */
#ifndef ENDPOINT_H
#define ENDPOINT_H

#include <stddef.h>

/* The interposer's default LITEFS_FWD_ENDPOINT. */
#define ENDPOINT_DEFAULT_TEMPLATE "tcp://{primary}:20208"

/* The URL of host in map ("host=url,host=url"; NULL or "" for none) into buf (len bytes).
 * The first entry whose name is exactly host wins. Returns 0, -ENOENT when host has no
 * entry, or -ENAMETOOLONG. */
int endpoint_mapped(const char *map, const char *host, char *buf, size_t len);

/* tmpl with every "{primary}" replaced by host, into buf (len bytes). Returns 0 or
 * -ENAMETOOLONG. */
int endpoint_from_template(const char *tmpl, const char *host, char *buf, size_t len);

/* Checks the form of map: each comma-separated entry is NAME=URL with a non-empty NAME
 * and a URL endpoint_parse() accepts. Returns 0, or -EINVAL with the first bad entry
 * (cut to fit) in bad (badlen bytes). */
int endpoint_map_check(const char *map, char *bad, size_t badlen);

enum endpoint_kind {
	ENDPOINT_TCP, /* tcp://HOST:PORT */
	ENDPOINT_IPC, /* ipc:///ABS/PATH */
};

struct endpoint_addr {
	enum endpoint_kind kind;
	char host[256]; /* TCP: a name, an IPv4 literal, or an IPv6 literal without brackets
			 * (a zone kept: fe80::1%eth0) */
	char port[6];   /* TCP: 1 to 65535 */
	char path[108]; /* IPC: the socket's absolute path */
};

/* Splits url into a. Returns 0, or -EINVAL for anything else than the two forms above
 * (an empty host or path, a port out of range, a relative or too long path). */
int endpoint_parse(const char *url, struct endpoint_addr *a);

#endif
