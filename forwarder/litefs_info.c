/* LiteFS's own word on the node's role: GET /info on its HTTP API. `.primary` alone cannot
 * tell a primary from a replica that lost its primary (neither has the file). */
#include "litefs_info.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* /info is a few hundred bytes; anything much larger is not LiteFS answering. */
#define INFO_MAX_BODY 65536

struct info_buf {
	char data[INFO_MAX_BODY];
	size_t len;
};

static pthread_once_t info_once = PTHREAD_ONCE_INIT;
static int info_init_rc;

static void info_global_init(void)
{
	info_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

/* libcurl write callback: keeps the body; returning less than given aborts the transfer. */
static size_t info_collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct info_buf *b = userdata;
	size_t n = size * nmemb;

	if (n > sizeof(b->data) - b->len)
		return 0;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	return n;
}

int fwd_litefs_info_url(const char *events_url, char *out, size_t size)
{
	static const char suffix[] = "/events";
	size_t n = strlen(events_url), slen = sizeof(suffix) - 1;

	if (n < slen || strcmp(events_url + n - slen, suffix))
		return -EINVAL;
	if (n - slen + sizeof("/info") > size)
		return -ENAMETOOLONG;
	memcpy(out, events_url, n - slen);
	memcpy(out + n - slen, "/info", sizeof("/info"));
	return 0;
}

int fwd_litefs_is_primary(const char *info_url, int timeout_ms, bool *is_primary)
{
	struct info_buf *b;
	json_t *root = NULL, *v;
	CURL *h;
	long status = 0;
	int rc;

	pthread_once(&info_once, info_global_init);
	if (info_init_rc)
		return info_init_rc;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	h = curl_easy_init();
	if (!h) {
		rc = -ENOMEM;
		goto out_buf;
	}
	curl_easy_setopt(h, CURLOPT_URL, info_url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, info_collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	if (curl_easy_perform(h) != CURLE_OK) {
		rc = -EHOSTUNREACH;
		goto out_curl;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		rc = -EPROTO;
		goto out_curl;
	}
	root = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, NULL);
	v = root ? json_object_get(root, "isPrimary") : NULL;
	if (!json_is_boolean(v)) {
		rc = -EBADMSG;
		goto out_json;
	}
	*is_primary = json_is_true(v);
	rc = 0;
out_json:
	json_decref(root);
out_curl:
	curl_easy_cleanup(h);
out_buf:
	free(b);
	return rc;
}
