/* litefs-sim command line: the HTTP client that talks to the node daemons' API. */
#ifndef SIM_CLI_HTTP_H
#define SIM_CLI_HTTP_H

#include <jansson.h>

/* Prepares libcurl for the whole process; call once before any other function here.
 * Returns 0 or -ENOMEM. */
int sim_cli_http_init(void);
/* Releases what sim_cli_http_init() set up. */
void sim_cli_http_cleanup(void);

/* Sends an empty-bodied METHOD ("GET" or "POST") request to url and waits at most
 * timeout_ms for the whole answer. On 0 an HTTP answer arrived: *status holds its code
 * and *body its body parsed as JSON (NULL when the body is empty or not JSON; the caller
 * json_decref()s it). Returns -ETIMEDOUT, -ECONNREFUSED, -ENOMEM or -EIO when no answer
 * arrived; then *body is NULL. */
int sim_cli_http_json(const char *method, const char *url, long timeout_ms, long *status,
		      json_t **body);

/* Percent-encodes s for a URL query. Returns a string to free(), or NULL without memory. */
char *sim_cli_http_escape(const char *s);

/* The "error" member of a JSON error answer, or fallback when there is none. */
const char *sim_cli_http_error_text(const json_t *body, const char *fallback);

#endif
