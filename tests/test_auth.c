/* Unit tests of common/auth: the secret's loading, sealing and opening messages (a wrong
 * secret, altered bytes, a missing trailer, a time outside the window) and the replay
 * cache. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "tmpdir.h"

#define T0 1795690000000ull /* a time in milliseconds since the epoch */

static void key_of(struct auth_key *k, const char *secret)
{
	char err[256];

	assert_int_equal(auth_key_load(k, secret, NULL, err, sizeof(err)), 0);
	assert_int_equal(k->len, strlen(secret));
}

/* A sealed copy of msg: msg then its trailer, in buf (at least len + trailer bytes). */
static size_t seal(const struct auth_key *k, const char *msg, uint64_t at, unsigned char *buf)
{
	size_t len = strlen(msg);

	memcpy(buf, msg, len);
	assert_int_equal(auth_seal(k, msg, len, at, buf + len), 0);
	return len + AUTH_TRAILER_BYTES;
}

static void test_key_load(void **state)
{
	struct auth_key k;
	char err[256], dir[PATH_MAX], path[PATH_MAX + 16];
	FILE *f;

	(void)state;
	assert_int_equal(auth_key_load(&k, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(k.len, 0);
	assert_int_equal(auth_key_load(&k, "", "", err, sizeof(err)), 0);
	assert_int_equal(k.len, 0);
	/* too short: refused, and the reason does not show the secret */
	assert_int_equal(auth_key_load(&k, "short-secret", NULL, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "short-secret"));
	assert_non_null(strstr(err, "16"));
	key_of(&k, "0123456789abcdef");
	/* from a file: one final newline is not part of it; the variable wins over the file */
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "auth"), 0);
	snprintf(path, sizeof(path), "%s/secret", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("a secret in a file, long enough\n", f);
	fclose(f);
	assert_int_equal(auth_key_load(&k, NULL, path, err, sizeof(err)), 0);
	assert_int_equal(k.len, strlen("a secret in a file, long enough"));
	assert_memory_equal(k.bytes, "a secret in a file, long enough", k.len);
	assert_int_equal(auth_key_load(&k, "the variable's secret", path, err, sizeof(err)), 0);
	assert_memory_equal(k.bytes, "the variable's secret", k.len);
	auth_key_clear(&k);
	assert_int_equal(k.len, 0);
	/* a missing file: its errno, and a reason */
	unlink(path);
	assert_int_equal(auth_key_load(&k, NULL, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "secret file"));
	assert_int_equal(tmpdir_remove(dir), 0);
}

static void test_seal_open(void **state)
{
	struct auth_key k, other;
	unsigned char buf[256], mac[AUTH_MAC_BYTES], mac2[AUTH_MAC_BYTES];
	size_t n, body;
	uint64_t sent;

	(void)state;
	key_of(&k, "the cluster's shared secret");
	key_of(&other, "another cluster's secret!");
	n = seal(&k, "hello, forwarder", T0, buf);
	assert_int_equal(auth_open(&k, buf, n, T0 + 10, 1000, &body, &sent, mac), 0);
	assert_int_equal(body, strlen("hello, forwarder"));
	assert_int_equal(sent, T0);
	/* the same message sealed at another time has another HMAC */
	n = seal(&k, "hello, forwarder", T0 + 1, buf);
	assert_int_equal(auth_open(&k, buf, n, T0, 1000, &body, NULL, mac2), 0);
	assert_memory_not_equal(mac, mac2, AUTH_MAC_BYTES);
	/* another secret */
	assert_int_equal(auth_open(&other, buf, n, T0, 1000, &body, NULL, NULL), -EPERM);
	/* every byte matters: the message, the time, the HMAC */
	for (size_t i = 0; i < n; i++) {
		if (i >= n - AUTH_TRAILER_BYTES && i < n - AUTH_TRAILER_BYTES + 4)
			continue; /* the magic: no trailer at all, below */
		buf[i] ^= 0x01;
		assert_int_equal(auth_open(&k, buf, n, T0, 1000, &body, NULL, NULL), -EPERM);
		buf[i] ^= 0x01;
	}
	buf[n - AUTH_TRAILER_BYTES] = 'X';
	assert_int_equal(auth_open(&k, buf, n, T0, 1000, &body, NULL, NULL), -EBADMSG);
	/* no trailer: a message from a client without the secret */
	assert_int_equal(auth_open(&k, "plain wire message", 18, T0, 1000, &body, NULL, NULL),
			 -EBADMSG);
	assert_int_equal(auth_open(&k, "", 0, T0, 1000, &body, NULL, NULL), -EBADMSG);
	/* truncated: the trailer is not where it should be */
	n = seal(&k, "hello, forwarder", T0, buf);
	assert_int_not_equal(auth_open(&k, buf, n - 1, T0, 1000, &body, NULL, NULL), 0);
	auth_key_clear(&k);
	auth_key_clear(&other);
}

static void test_window(void **state)
{
	struct auth_key k;
	unsigned char buf[256];
	size_t n, body;

	(void)state;
	key_of(&k, "the cluster's shared secret");
	n = seal(&k, "m", T0, buf);
	assert_int_equal(auth_open(&k, buf, n, T0 + 30000, 30000, &body, NULL, NULL), 0);
	assert_int_equal(auth_open(&k, buf, n, T0 - 30000, 30000, &body, NULL, NULL), 0);
	assert_int_equal(auth_open(&k, buf, n, T0 + 30001, 30000, &body, NULL, NULL), -ETIME);
	assert_int_equal(auth_open(&k, buf, n, T0 - 30001, 30000, &body, NULL, NULL), -ETIME);
	auth_key_clear(&k);
}

static void mac_of(unsigned char mac[AUTH_MAC_BYTES], unsigned i)
{
	/* distinct, uniformly spread like HMACs */
	for (int j = 0; j < AUTH_MAC_BYTES; j++)
		mac[j] = (unsigned char)((i * 2654435761u) >> (j % 4 * 8)) ^ (unsigned char)j;
	mac[31] = 1;
}

static void test_replay(void **state)
{
	struct auth_replay r;
	unsigned char a[AUTH_MAC_BYTES], b[AUTH_MAC_BYTES];

	(void)state;
	assert_int_equal(auth_replay_init(&r, 100), 0);
	mac_of(a, 1);
	mac_of(b, 2);
	assert_int_equal(auth_replay_check(&r, a, T0, 1000), 0);
	assert_int_equal(auth_replay_check(&r, a, T0 + 1, 1000), -EALREADY);
	assert_int_equal(auth_replay_check(&r, b, T0 + 2, 1000), 0);
	/* after one window it is still remembered (the set before) */
	assert_int_equal(auth_replay_check(&r, a, T0 + 1500, 1000), -EALREADY);
	/* after two windows it is forgotten: its time is refused by auth_open() by then */
	assert_int_equal(auth_replay_check(&r, b, T0 + 5000, 1000), 0);
	assert_int_equal(auth_replay_check(&r, a, T0 + 5001, 1000), 0);
	auth_replay_destroy(&r);
}

static void test_replay_full(void **state)
{
	struct auth_replay r;
	unsigned char m[AUTH_MAC_BYTES];
	unsigned i;
	int rc = 0;

	(void)state;
	assert_int_equal(auth_replay_init(&r, 50), 0);
	for (i = 0; i < 10000 && rc == 0; i++) {
		mac_of(m, i + 10);
		rc = auth_replay_check(&r, m, T0, 1000);
	}
	/* more than it can hold within one window: refused, never forgotten silently */
	assert_int_equal(rc, -ENOSPC);
	assert_true(i > 50);
	mac_of(m, 10);
	assert_int_equal(auth_replay_check(&r, m, T0 + 1, 1000), -EALREADY);
	/* the next window has room again */
	mac_of(m, 99999);
	assert_int_equal(auth_replay_check(&r, m, T0 + 1000, 1000), 0);
	auth_replay_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_load),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
