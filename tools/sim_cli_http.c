/* litefs-sim command line: HTTP requests to the node daemons, answers parsed as JSON. */
#include "sim_cli_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Answers of the API are small; a larger one means something else answered. */
#define HTTP_MAX_BODY (4 << 20)

struct http_buf {
	char *data;
	size_t len;
	size_t cap;
};

int sim_cli_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void sim_cli_http_cleanup(void)
{
	curl_global_cleanup();
}

/* libcurl write callback: appends to the http_buf; returning less than asked aborts. */
static size_t http_collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_buf *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n + 1 > HTTP_MAX_BODY)
		return 0;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Maps a libcurl transfer failure to the errno that describes it for a user. */
static int http_curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int sim_cli_http_json(const char *method, const char *url, long timeout_ms, long *status,
		      json_t **body)
{
	struct http_buf buf = { 0 };
	CURLcode cc;
	CURL *h;
	int rc = 0;

	*body = NULL;
	*status = 0;
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	/* The nodes live on loopback addresses: a proxy from the environment would only
	 * get in the way, and timeouts must not raise signals in this process. */
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rc = http_curl_errno(cc);
		goto out_free;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (buf.len)
		*body = json_loadb(buf.data, buf.len, 0, NULL);
out_free:
	free(buf.data);
	curl_easy_cleanup(h);
	return rc;
}

char *sim_cli_http_escape(const char *s)
{
	char *esc, *copy = NULL;
	CURL *h;

	h = curl_easy_init();
	if (!h)
		return NULL;
	esc = curl_easy_escape(h, s, 0);
	if (esc) {
		copy = strdup(esc);
		curl_free(esc);
	}
	curl_easy_cleanup(h);
	return copy;
}

const char *sim_cli_http_error_text(const json_t *body, const char *fallback)
{
	const char *s = json_string_value(json_object_get(body, "error"));

	return s ? s : fallback;
}
