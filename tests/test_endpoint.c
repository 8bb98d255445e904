/* Unit tests of forwarder endpoints (common/endpoint.c): the hostname map, the template,
 * the forms of an endpoint URL a client can reach, and the check of a whole map. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint.h"

static void test_mapped(void **state)
{
	const char *map = "node10=tcp://10.0.0.10:20208,node1=tcp://10.0.0.1:1,node1=tcp://x:2,"
			  "=tcp://y:3,odd";
	char buf[64];

	(void)state;
	assert_int_equal(endpoint_mapped(map, "node1", buf, sizeof(buf)), 0);
	/* the first exact name, not a prefix of another */
	assert_string_equal(buf, "tcp://10.0.0.1:1");
	assert_int_equal(endpoint_mapped(map, "node10", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tcp://10.0.0.10:20208");
	assert_int_equal(endpoint_mapped(map, "node", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(endpoint_mapped(map, "odd", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(endpoint_mapped(NULL, "node1", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(endpoint_mapped("", "node1", buf, sizeof(buf)), -ENOENT);
	/* the URL and its terminator must fit */
	assert_int_equal(endpoint_mapped(map, "node1", buf, 16), -ENAMETOOLONG);
	assert_int_equal(endpoint_mapped(map, "node1", buf, 17), 0);
}

static void test_template(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(endpoint_from_template(ENDPOINT_DEFAULT_TEMPLATE, "node-a", buf,
						sizeof(buf)), 0);
	assert_string_equal(buf, "tcp://node-a:20208");
	assert_int_equal(endpoint_from_template("ipc:///run/{primary}/{primary}.sock", "n",
						buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ipc:///run/n/n.sock");
	assert_int_equal(endpoint_from_template("tcp://fixed:1", "n", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tcp://fixed:1");
	assert_int_equal(endpoint_from_template("{primary", "n", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{primary");
	/* "tcp://node-a:1" and its terminator: 15 bytes */
	assert_int_equal(endpoint_from_template("tcp://{primary}:1", "node-a", buf, 15), 0);
	assert_string_equal(buf, "tcp://node-a:1");
	assert_int_equal(endpoint_from_template("tcp://{primary}:1", "node-a", buf, 14),
			 -ENAMETOOLONG);
	/* ... also when the name is what does not fit */
	assert_int_equal(endpoint_from_template("tcp://{primary}", "node-a", buf, 12),
			 -ENAMETOOLONG);
	assert_int_equal(endpoint_from_template("tcp://{primary}", "node-a", buf, 13), 0);
	assert_int_equal(endpoint_from_template("x", "n", buf, 0), -ENAMETOOLONG);
}

static void test_parse(void **state)
{
	struct endpoint_addr a;

	(void)state;
	assert_int_equal(endpoint_parse("tcp://127.0.0.1:20208", &a), 0);
	assert_int_equal(a.kind, ENDPOINT_TCP);
	assert_string_equal(a.host, "127.0.0.1");
	assert_string_equal(a.port, "20208");
	assert_int_equal(endpoint_parse("tcp://node-1.example_net:1", &a), 0);
	assert_string_equal(a.host, "node-1.example_net");
	assert_string_equal(a.port, "1");
	assert_int_equal(endpoint_parse("tcp://[::1]:65535", &a), 0);
	assert_string_equal(a.host, "::1");
	assert_string_equal(a.port, "65535");
	assert_int_equal(endpoint_parse("tcp://[fe80::1%eth0]:9", &a), 0);
	assert_string_equal(a.host, "fe80::1%eth0");
	assert_int_equal(endpoint_parse("ipc:///run/fwd.sock", &a), 0);
	assert_int_equal(a.kind, ENDPOINT_IPC);
	assert_string_equal(a.path, "/run/fwd.sock");

	static const char *const bad[] = {
		"tcp://host", "tcp://host:", "tcp://host:0", "tcp://host:65536", "tcp://host:12a",
		"tcp://:20208", "tcp://*:20208", "tcp://eth0;host:1", "tcp://::1:20208",
		"tcp://[::1]", "tcp://[]:1", "tcp://[not-v6]:1", "tcp://ho st:1", "ipc://rel.sock",
		"ipc:///", "ws://host:1", "host:1", "", NULL,
	};
	for (size_t i = 0; bad[i]; i++) {
		if (endpoint_parse(bad[i], &a) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(endpoint_parse(NULL, &a), -EINVAL);
	char longpath[200] = "ipc:///";

	memset(longpath + 7, 'a', 120);
	longpath[127] = '\0';
	assert_int_equal(endpoint_parse(longpath, &a), -EINVAL);
}

static void test_map_check(void **state)
{
	char bad[32];

	(void)state;
	assert_int_equal(endpoint_map_check(NULL, bad, sizeof(bad)), 0);
	assert_int_equal(endpoint_map_check("a=tcp://1.2.3.4:5,b=ipc:///s", bad, sizeof(bad)), 0);
	assert_int_equal(endpoint_map_check("a=tcp://1.2.3.4:5,b", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "b");
	assert_int_equal(endpoint_map_check("=tcp://x:1", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "=tcp://x:1");
	assert_int_equal(endpoint_map_check("a=tcp://x", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "a=tcp://x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapped),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_map_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
