/* Sealing and opening authenticated messages, and the replay cache (see auth.h). */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t auth_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int auth_sodium_ready(void)
{
	/* thread-safe, and cheap once done */
	return sodium_init() < 0 ? -EIO : 0;
}

static int auth_key_set(struct auth_key *k, const void *p, size_t n, char *err, size_t errlen)
{
	if (n < AUTH_SECRET_MIN || n > AUTH_SECRET_MAX) {
		snprintf(err, errlen, "the secret must be %d to %d bytes long, not %zu",
			 AUTH_SECRET_MIN, AUTH_SECRET_MAX, n);
		return -EINVAL;
	}
	memcpy(k->bytes, p, n);
	k->len = n;
	return 0;
}

int auth_key_load(struct auth_key *k, const char *secret, const char *secret_file, char *err,
		  size_t errlen)
{
	unsigned char buf[AUTH_SECRET_MAX + 2];
	size_t n = 0;
	ssize_t got;
	int fd, rc;

	memset(k, 0, sizeof(*k));
	err[0] = '\0';
	if (secret && *secret)
		return auth_key_set(k, secret, strlen(secret), err, errlen);
	if (!secret_file || !*secret_file)
		return 0;
	fd = open(secret_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read the secret file %s: %s", secret_file,
			 strerror(-rc));
		return rc;
	}
	while (n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			close(fd);
			sodium_memzero(buf, sizeof(buf));
			snprintf(err, errlen, "cannot read the secret file %s: %s", secret_file,
				 strerror(-rc));
			return rc;
		}
		n += (size_t)got;
	}
	close(fd);
	/* one final newline is the file's, not the secret's */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	rc = auth_key_set(k, buf, n, err, errlen);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

void auth_key_clear(struct auth_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

/* The HMAC of msg[0..len) followed by head[0..12) (magic and time). */
static void auth_mac(const struct auth_key *k, const void *msg, size_t len,
		     const unsigned char head[12], unsigned char out[AUTH_MAC_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, k->bytes, k->len);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_update(&st, head, 12);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int auth_seal(const struct auth_key *k, const void *msg, size_t len, uint64_t now_ms,
	      unsigned char out[AUTH_TRAILER_BYTES])
{
	int i;

	if (auth_sodium_ready())
		return -EIO;
	memcpy(out, AUTH_MAGIC, 4);
	for (i = 0; i < 8; i++)
		out[4 + i] = (unsigned char)(now_ms >> (56 - 8 * i));
	auth_mac(k, msg, len, out, out + 12);
	return 0;
}

int auth_open(const struct auth_key *k, const void *msg, size_t len, uint64_t now_ms,
	      int window_ms, size_t *body_len, uint64_t *sent_ms,
	      unsigned char mac[AUTH_MAC_BYTES])
{
	const unsigned char *t;
	unsigned char want[AUTH_MAC_BYTES];
	uint64_t sent = 0;
	int i, same;

	if (auth_sodium_ready())
		return -EIO;
	if (len < AUTH_TRAILER_BYTES)
		return -EBADMSG;
	t = (const unsigned char *)msg + len - AUTH_TRAILER_BYTES;
	if (memcmp(t, AUTH_MAGIC, 4))
		return -EBADMSG;
	auth_mac(k, msg, len - AUTH_TRAILER_BYTES, t, want);
	same = sodium_memcmp(want, t + 12, AUTH_MAC_BYTES) == 0;
	sodium_memzero(want, sizeof(want));
	if (!same)
		return -EPERM;
	for (i = 0; i < 8; i++)
		sent = sent << 8 | t[4 + i];
	if ((sent > now_ms ? sent - now_ms : now_ms - sent) > (uint64_t)window_ms)
		return -ETIME;
	*body_len = len - AUTH_TRAILER_BYTES;
	if (sent_ms)
		*sent_ms = sent;
	if (mac)
		memcpy(mac, t + 12, AUTH_MAC_BYTES);
	return 0;
}

int auth_replay_init(struct auth_replay *r, size_t max_per_window)
{
	size_t cap = 16;

	memset(r, 0, sizeof(*r));
	while (cap < max_per_window * 2)
		cap *= 2;
	r->set[0] = calloc(cap, sizeof(uint64_t));
	r->set[1] = calloc(cap, sizeof(uint64_t));
	if (!r->set[0] || !r->set[1]) {
		free(r->set[0]);
		free(r->set[1]);
		return -ENOMEM;
	}
	r->cap = cap;
	pthread_mutex_init(&r->mu, NULL);
	return 0;
}

void auth_replay_destroy(struct auth_replay *r)
{
	if (!r->cap)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->set[0]);
	free(r->set[1]);
	memset(r, 0, sizeof(*r));
}

/* Empties set s: a fresh zeroed allocation, whose pages take no memory until used. Keeps
 * the old one when memory runs out. */
static void auth_replay_clear(struct auth_replay *r, int s)
{
	uint64_t *fresh = calloc(r->cap, sizeof(uint64_t));

	if (fresh) {
		free(r->set[s]);
		r->set[s] = fresh;
	} else {
		memset(r->set[s], 0, r->cap * sizeof(uint64_t));
	}
	r->count[s] = 0;
}

/* The slot of key in set s: where it is, or the empty slot where it would go. */
static size_t auth_slot(const struct auth_replay *r, int s, uint64_t key)
{
	size_t i;

	for (i = (size_t)key & (r->cap - 1);; i = (i + 1) & (r->cap - 1))
		if (r->set[s][i] == key || r->set[s][i] == 0)
			return i;
}

int auth_replay_check(struct auth_replay *r, const unsigned char mac[AUTH_MAC_BYTES],
		      uint64_t now_ms, int window_ms)
{
	uint64_t key;
	int prev, rc = 0;
	size_t i;

	memcpy(&key, mac, sizeof(key)); /* an HMAC is uniformly distributed */
	if (!key)
		key = 1;
	pthread_mutex_lock(&r->mu);
	if (now_ms - r->cur_since_ms >= (uint64_t)window_ms || now_ms < r->cur_since_ms) {
		/* the set before is older than a window: emptied, and becomes the current */
		prev = r->cur;
		r->cur = !r->cur;
		auth_replay_clear(r, r->cur);
		/* two windows without a message: the other set is stale too */
		if (now_ms - r->cur_since_ms >= 2 * (uint64_t)window_ms)
			auth_replay_clear(r, prev);
		r->cur_since_ms = now_ms;
	}
	prev = !r->cur;
	if (r->set[prev][auth_slot(r, prev, key)] == key) {
		rc = -EALREADY;
		goto out;
	}
	i = auth_slot(r, r->cur, key);
	if (r->set[r->cur][i] == key) {
		rc = -EALREADY;
		goto out;
	}
	if (r->count[r->cur] * 2 >= r->cap) {
		rc = -ENOSPC;
		goto out;
	}
	r->set[r->cur][i] = key;
	r->count[r->cur]++;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}
