/* Unit tests of the health check: PING and PONG in the wire codec (common/wire.c), round
 * trips and every malformed form refused without reading outside the input, and the
 * forwarder's answer to a PING (forwarder/request.c): its role read from the mount, its
 * version, uptime and clock, the databases with the TXIDs of their -pos files, nothing
 * recorded (the same PING may come again). Decoding works on exact-size heap copies. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "request.h"
#include "role.h"
#include "tmpdir.h"
#include "version.h"
#include "wire.h"

#define MAX WIRE_DEFAULT_MAX_MESSAGE

static struct wire_str str_of(const char *s)
{
	return (struct wire_str){ .p = s, .n = (uint32_t)strlen(s) };
}

/* Decodes an exact-size heap copy of p[0..n) into m; *copy must be freed after m. */
static int decode_copy(const void *p, size_t n, struct wire_msg *m, uint8_t **copy)
{
	*copy = malloc(n ? n : 1);
	assert_non_null(*copy);
	memcpy(*copy, p, n);
	return wire_decode(*copy, n, MAX, m);
}

static void assert_str(struct wire_str got, const char *want)
{
	assert_int_equal(got.n, strlen(want));
	assert_memory_equal(got.p, want, got.n);
}

static const struct wire_pong_db sample_dbs[] = {
	{ .name = { "app.db", 6 }, .txid = 42 },
	{ .name = { "", 0 }, .txid = UINT64_MAX },
	{ .name = { "x\0y", 3 }, .txid = 0 },
};

static void sample_pong(struct wire_pong *p)
{
	*p = (struct wire_pong){
		.request_id = 0x0102030405060708ull, .role = WIRE_ROLE_REPLICA,
		.primary = str_of("node-a"), .version = str_of("9.8.7"),
		.uptime_ms = 123456789, .clock_ms = 1795690000000ull,
		.ndbs = 3, .dbs = (struct wire_pong_db *)sample_dbs,
	};
}

static void test_ping_round_trip(void **state)
{
	struct wire_ping ping = { .request_id = UINT64_MAX, .flags = WIRE_PING_DATABASES | 0x80000000u };
	struct wire_buf b = { 0 };
	struct wire_msg m;
	uint8_t *copy;

	(void)state;
	assert_int_equal(wire_encode_ping(&b, &ping, MAX), 0);
	assert_int_equal(b.len, WIRE_HEADER_SIZE + 8 + 4);
	assert_int_equal(b.p[0], WIRE_VERSION);
	assert_int_equal(b.p[1], WIRE_PING);
	assert_true(wire_peek_request_id(b.p, b.len) == UINT64_MAX);
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), 0);
	assert_int_equal(m.type, WIRE_PING);
	assert_true(m.u.ping.request_id == UINT64_MAX);
	assert_int_equal(m.u.ping.flags, WIRE_PING_DATABASES | 0x80000000u);
	wire_msg_free(&m);
	free(copy);
	/* the generic encoder knows it */
	b.len = 0;
	m = (struct wire_msg){ .type = WIRE_PING, .u.ping = { .request_id = 7 } };
	assert_int_equal(wire_encode_msg(&b, &m, MAX), 0);
	assert_true(wire_peek_request_id(b.p, b.len) == 7);
	/* every truncation and a trailing byte are refused */
	for (size_t n = 0; n < b.len; n++) {
		assert_int_equal(decode_copy(b.p, n, &m, &copy), -EBADMSG);
		assert_int_equal(m.type, 0);
		free(copy);
	}
	assert_int_equal(wire_buf_append(&b, "", 1), 0);
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), -EBADMSG);
	free(copy);
	wire_buf_free(&b);
}

static void test_pong_round_trip(void **state)
{
	struct wire_buf b = { 0 };
	struct wire_pong p;
	struct wire_msg m;
	uint8_t *copy;

	(void)state;
	sample_pong(&p);
	assert_int_equal(wire_encode_pong(&b, &p, MAX), 0);
	assert_int_equal(b.p[1], WIRE_PONG);
	assert_true(wire_peek_request_id(b.p, b.len) == p.request_id);
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), 0);
	assert_int_equal(m.type, WIRE_PONG);
	assert_true(m.u.pong.request_id == p.request_id);
	assert_int_equal(m.u.pong.role, WIRE_ROLE_REPLICA);
	assert_str(m.u.pong.primary, "node-a");
	assert_str(m.u.pong.version, "9.8.7");
	assert_true(m.u.pong.uptime_ms == 123456789);
	assert_true(m.u.pong.clock_ms == 1795690000000ull);
	assert_int_equal(m.u.pong.ndbs, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(m.u.pong.dbs[i].name.n, sample_dbs[i].name.n);
		assert_memory_equal(m.u.pong.dbs[i].name.p, sample_dbs[i].name.p,
				    sample_dbs[i].name.n);
		/* strings point into the input */
		assert_true((const uint8_t *)m.u.pong.dbs[i].name.p >= copy &&
			    (const uint8_t *)m.u.pong.dbs[i].name.p <= copy + b.len);
		assert_true(m.u.pong.dbs[i].txid == sample_dbs[i].txid);
	}
	wire_msg_free(&m);
	assert_int_equal(m.type, 0);
	free(copy);

	/* no databases: no array */
	b.len = 0;
	p.ndbs = 0;
	p.dbs = NULL;
	p.role = 77; /* a role a newer forwarder may send is carried as it is */
	assert_int_equal(wire_encode_pong(&b, &p, MAX), 0);
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), 0);
	assert_int_equal(m.u.pong.ndbs, 0);
	assert_null(m.u.pong.dbs);
	assert_int_equal(m.u.pong.role, 77);
	wire_msg_free(&m);
	free(copy);
	wire_buf_free(&b);
}

static void test_pong_encoding_errors(void **state)
{
	struct wire_buf b = { 0 };
	struct wire_pong p;
	size_t size;

	(void)state;
	sample_pong(&p);
	assert_int_equal(wire_encode_pong(&b, &p, MAX), 0);
	size = b.len;
	/* too large for the cap: -EMSGSIZE, nothing written */
	assert_int_equal(wire_encode_pong(&b, &p, size - 1), -EMSGSIZE);
	assert_int_equal(b.len, size);
	/* databases counted but missing */
	p.dbs = NULL;
	assert_int_equal(wire_encode_pong(&b, &p, MAX), -EINVAL);
	assert_int_equal(b.len, size);
	sample_pong(&p);
	p.primary = (struct wire_str){ NULL, 3 };
	assert_int_equal(wire_encode_pong(&b, &p, MAX), -EINVAL);
	assert_int_equal(b.len, size);
	wire_buf_free(&b);
}

static void test_pong_malformed(void **state)
{
	struct wire_buf b = { 0 };
	struct wire_pong p;
	struct wire_msg m;
	uint8_t *copy;
	size_t count_at;

	(void)state;
	sample_pong(&p);
	assert_int_equal(wire_encode_pong(&b, &p, MAX), 0);
	for (size_t n = 0; n < b.len; n++) {
		assert_int_equal(decode_copy(b.p, n, &m, &copy), -EBADMSG);
		assert_int_equal(m.type, 0);
		assert_null(m.u.pong.dbs);
		free(copy);
	}
	assert_int_equal(wire_buf_append(&b, "x", 1), 0);
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), -EBADMSG);
	free(copy);
	b.len--;
	/* a database count larger than the bytes left could hold: refused before any
	 * allocation */
	count_at = WIRE_HEADER_SIZE + 8 + 4 + (4 + 6) + (4 + 5) + 8 + 8;
	assert_int_equal(b.p[count_at], 3);
	b.p[count_at] = 0xff;
	b.p[count_at + 1] = 0xff;
	b.p[count_at + 2] = 0xff;
	b.p[count_at + 3] = 0xff;
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), -EBADMSG);
	free(copy);
	/* one database more than there is */
	b.p[count_at] = 4;
	b.p[count_at + 1] = b.p[count_at + 2] = b.p[count_at + 3] = 0;
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), -EBADMSG);
	free(copy);
	/* a name longer than what follows */
	b.p[count_at] = 3;
	b.p[count_at + 4] = 0xf0;
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), -EBADMSG);
	free(copy);
	/* another version is judged first */
	b.p[count_at + 4] = 6;
	b.p[0] = WIRE_VERSION + 1;
	assert_int_equal(decode_copy(b.p, b.len, &m, &copy), -EPROTONOSUPPORT);
	free(copy);
	wire_buf_free(&b);
}

/* --- the forwarder's answer --------------------------------------------------------------- */

static char g_dir[PATH_MAX];

static int group_setup(void **state)
{
	(void)state;
	return tmpdir_make(g_dir, sizeof(g_dir), "test_wire_ping");
}

static int group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

static void write_file(const char *dir, const char *name, const char *content)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Sends a PING with flags to a request handler over mount; decodes the answer into m
 * (*buf and *copy to free after m). */
static void ask(const char *mount, uint32_t flags, uint64_t id, struct wire_msg *m,
		struct wire_buf *reply, uint8_t **copy)
{
	struct fwd_role_cache role;
	struct fwd_request_ctx ctx = { .role = &role, .mount = mount, .max_message = MAX };
	struct wire_ping ping = { .request_id = id, .flags = flags };
	struct wire_buf req = { 0 };

	fwd_role_cache_init(&role, mount, 60000, NULL);
	assert_int_equal(wire_encode_ping(&req, &ping, MAX), 0);
	*reply = (struct wire_buf){ 0 };
	assert_int_equal(fwd_request_handle(&ctx, req.p, req.len, reply), 0);
	assert_int_equal(decode_copy(reply->p, reply->len, m, copy), 0);
	wire_buf_free(&req);
	fwd_role_cache_destroy(&role);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_forwarder_answers_ping(void **state)
{
	char mnt[PATH_MAX + 8];
	struct wire_buf reply;
	struct wire_msg m;
	uint8_t *copy;
	uint64_t before, after;

	(void)state;
	snprintf(mnt, sizeof(mnt), "%s/mnt", g_dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	write_file(mnt, "b.db", "");
	write_file(mnt, "b.db-pos", "0000000000000007/00000000000000ab\n");
	write_file(mnt, "a.db", "");
	write_file(mnt, "a.db-pos", "garbage");
	write_file(mnt, "a.db-wal", "");

	/* the primary (no .primary, no /info to ask): the databases with their TXIDs */
	before = now_ms();
	ask(mnt, WIRE_PING_DATABASES, 11, &m, &reply, &copy);
	after = now_ms();
	assert_int_equal(m.type, WIRE_PONG);
	assert_true(m.u.pong.request_id == 11);
	assert_int_equal(m.u.pong.role, WIRE_ROLE_PRIMARY);
	assert_int_equal(m.u.pong.primary.n, 0);
	assert_str(m.u.pong.version, LITEFS_FWD_VERSION);
	assert_true(m.u.pong.clock_ms >= before && m.u.pong.clock_ms <= after);
	/* this test process has been running for less than a day */
	assert_true(m.u.pong.uptime_ms < 86400000ull);
	assert_int_equal(m.u.pong.ndbs, 2);
	assert_str(m.u.pong.dbs[0].name, "a.db");
	assert_true(m.u.pong.dbs[0].txid == 0); /* its -pos cannot be read */
	assert_str(m.u.pong.dbs[1].name, "b.db");
	assert_true(m.u.pong.dbs[1].txid == 7);
	wire_msg_free(&m);
	free(copy);
	wire_buf_free(&reply);

	/* the same PING again is answered again: nothing was recorded; without the flag,
	 * no databases */
	ask(mnt, 0, 11, &m, &reply, &copy);
	assert_int_equal(m.type, WIRE_PONG);
	assert_int_equal(m.u.pong.ndbs, 0);
	wire_msg_free(&m);
	free(copy);
	wire_buf_free(&reply);

	/* a replica names its primary */
	write_file(mnt, ".primary", "  node-b \n");
	ask(mnt, WIRE_PING_DATABASES, 12, &m, &reply, &copy);
	assert_int_equal(m.u.pong.role, WIRE_ROLE_REPLICA);
	assert_str(m.u.pong.primary, "node-b");
	assert_int_equal(m.u.pong.ndbs, 2);
	wire_msg_free(&m);
	free(copy);
	wire_buf_free(&reply);

	/* no mount */
	snprintf(mnt, sizeof(mnt), "%s/none", g_dir);
	ask(mnt, WIRE_PING_DATABASES, 13, &m, &reply, &copy);
	assert_int_equal(m.u.pong.role, WIRE_ROLE_NO_MOUNT);
	assert_int_equal(m.u.pong.ndbs, 0);
	wire_msg_free(&m);
	free(copy);
	wire_buf_free(&reply);
}

/* A PONG never goes to the forwarder: one sent there is refused like any non-request. */
static void test_forwarder_refuses_pong(void **state)
{
	struct fwd_role_cache role;
	struct fwd_request_ctx ctx = { .role = &role, .mount = g_dir, .max_message = MAX };
	struct wire_buf req = { 0 }, reply = { 0 };
	struct wire_pong p;
	struct wire_msg m;
	uint8_t *copy;

	(void)state;
	fwd_role_cache_init(&role, g_dir, 0, NULL);
	sample_pong(&p);
	assert_int_equal(wire_encode_pong(&req, &p, MAX), 0);
	assert_int_equal(fwd_request_handle(&ctx, req.p, req.len, &reply), 0);
	assert_int_equal(decode_copy(reply.p, reply.len, &m, &copy), 0);
	assert_int_equal(m.type, WIRE_ERROR);
	assert_int_equal(m.u.error.code, EBADMSG);
	assert_true(m.u.error.request_id == p.request_id);
	wire_msg_free(&m);
	free(copy);
	wire_buf_free(&reply);
	wire_buf_free(&req);
	fwd_role_cache_destroy(&role);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_round_trip),
		cmocka_unit_test(test_pong_round_trip),
		cmocka_unit_test(test_pong_encoding_errors),
		cmocka_unit_test(test_pong_malformed),
		cmocka_unit_test(test_forwarder_answers_ping),
		cmocka_unit_test(test_forwarder_refuses_pong),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
