/* Unit tests for the cluster configuration (tools/sim_conf.c). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "sim_conf.h"

static char g_dir[1024];  /* as made by mkdtemp */
static char g_real[1024]; /* its real path */

static int group_setup(void **state)
{
	(void)state;
	if (tmpdir_make(g_dir, sizeof(g_dir), "test_sim_conf"))
		return -1;
	return realpath(g_dir, g_real) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

/* Makes the directory g_dir/name (empty) and returns its path in buf. */
static void subdir(const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", g_dir, name);

	assert_true(n > 0 && (size_t)n < len);
	assert_int_equal(mkdir(buf, 0755), 0);
}

static void write_conf(const char *dir, const char *text)
{
	char path[2048];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cluster.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_init_defaults(void **state)
{
	struct sim_conf c, d;
	char dir[2048], odd[2100];

	(void)state;
	subdir("init", dir, sizeof(dir));
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(sim_conf_init(&c, dir), 0);
	assert_int_equal(c.nodes, 2);
	assert_string_equal(c.journal, "delete");
	assert_string_equal(c.ip_prefix, "127.0.0");
	assert_int_equal(c.http_port, 20202);
	assert_int_equal(c.fwd_port, 20208);
	assert_int_equal(c.primary, 1);
	assert_int_equal(c.reconnect_delay_ms, 1000);
	/* "LFSC" and 16 upper-case hex digits */
	assert_int_equal(strlen(c.cluster_id), 20);
	assert_memory_equal(c.cluster_id, "LFSC", 4);
	for (size_t i = 4; i < 20; i++)
		assert_true(isxdigit((unsigned char)c.cluster_id[i]) &&
			    !islower((unsigned char)c.cluster_id[i]));

	/* the directory is made absolute and canonical */
	{
		char want[2048];

		snprintf(want, sizeof(want), "%s/init", g_real);
		assert_string_equal(c.dir, want);
		snprintf(odd, sizeof(odd), "%s/init/./../init/", g_dir);
		assert_int_equal(sim_conf_init(&d, odd), 0);
		assert_string_equal(d.dir, want);
		/* relative to the working directory */
		int cwd = open(".", O_RDONLY | O_DIRECTORY);
		int rc;

		assert_true(cwd >= 0);
		assert_int_equal(chdir(g_dir), 0);
		rc = sim_conf_init(&d, "init");
		assert_int_equal(fchdir(cwd), 0);
		close(cwd);
		assert_int_equal(rc, 0);
		assert_string_equal(d.dir, want);
	}
	/* a directory that does not exist */
	snprintf(odd, sizeof(odd), "%s/no-such-dir", g_dir);
	assert_int_equal(sim_conf_init(&d, odd), -ENOENT);
}

static void test_save_load_roundtrip(void **state)
{
	struct sim_conf c, d;
	char dir[2048], path[2100];
	struct stat st;

	(void)state;
	subdir("roundtrip", dir, sizeof(dir));
	assert_int_equal(sim_conf_init(&c, dir), 0);
	c.nodes = 7;
	snprintf(c.journal, sizeof(c.journal), "wal");
	snprintf(c.ip_prefix, sizeof(c.ip_prefix), "10.20.30");
	c.http_port = 1;
	c.fwd_port = 65535;
	c.primary = 7;
	c.reconnect_delay_ms = 0;
	snprintf(c.cluster_id, sizeof(c.cluster_id), "LFSC00000000DEADBEEF");
	assert_int_equal(sim_conf_save(&c), 0);

	memset(&d, 0, sizeof(d));
	assert_int_equal(sim_conf_load(&d, dir), 0);
	assert_string_equal(d.dir, c.dir);
	assert_int_equal(d.nodes, 7);
	assert_string_equal(d.journal, "wal");
	assert_string_equal(d.ip_prefix, "10.20.30");
	assert_int_equal(d.http_port, 1);
	assert_int_equal(d.fwd_port, 65535);
	assert_int_equal(d.primary, 7);
	assert_int_equal(d.reconnect_delay_ms, 0);
	assert_string_equal(d.cluster_id, "LFSC00000000DEADBEEF");

	/* saved again over the old file, with other values; no temporary file stays */
	d.nodes = 9;
	d.primary = 0;
	snprintf(d.journal, sizeof(d.journal), "delete");
	d.reconnect_delay_ms = 60000;
	assert_int_equal(sim_conf_save(&d), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(sim_conf_load(&c, dir), 0);
	assert_int_equal(c.nodes, 9);
	assert_int_equal(c.primary, 0);
	assert_string_equal(c.journal, "delete");
	assert_int_equal(c.reconnect_delay_ms, 60000);
	assert_string_equal(c.ip_prefix, "10.20.30");
	assert_string_equal(c.cluster_id, "LFSC00000000DEADBEEF");
	snprintf(path, sizeof(path), "%s/cluster.conf.%ld.tmp", dir, (long)getpid());
	assert_int_not_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/cluster.conf", dir);
	assert_int_equal(stat(path, &st), 0);

	/* a default configuration round-trips too */
	assert_int_equal(sim_conf_init(&c, dir), 0);
	assert_int_equal(sim_conf_save(&c), 0);
	assert_int_equal(sim_conf_load(&d, dir), 0);
	assert_int_equal(d.nodes, c.nodes);
	assert_string_equal(d.journal, c.journal);
	assert_int_equal(d.http_port, c.http_port);
	assert_int_equal(d.fwd_port, c.fwd_port);
	assert_int_equal(d.primary, c.primary);
	assert_int_equal(d.reconnect_delay_ms, c.reconnect_delay_ms);
	assert_string_equal(d.cluster_id, c.cluster_id);
}

static void test_save_unwritable(void **state)
{
	struct sim_conf c;
	char dir[2048];

	(void)state;
	subdir("gone", dir, sizeof(dir));
	assert_int_equal(sim_conf_init(&c, dir), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(sim_conf_save(&c), -ENOENT);
}

static void test_load_partial_and_comments(void **state)
{
	struct sim_conf c;
	char dir[2048];

	(void)state;
	subdir("partial", dir, sizeof(dir));
	/* keys left out keep their defaults; comments and blank lines are skipped; the last
	 * line needs no newline; primary is checked against the final node count */
	write_conf(dir, "# a comment\n\nprimary=3\n#nodes=1\nnodes=3\njournal=wal");
	assert_int_equal(sim_conf_load(&c, dir), 0);
	assert_int_equal(c.nodes, 3);
	assert_int_equal(c.primary, 3);
	assert_string_equal(c.journal, "wal");
	assert_int_equal(c.http_port, 20202);
	assert_int_equal(c.fwd_port, 20208);
	assert_string_equal(c.ip_prefix, "127.0.0");
	assert_int_equal(c.reconnect_delay_ms, 1000);
	/* bounds that are allowed */
	write_conf(dir, "nodes=1\nprimary=0\nhttp_port=65535\nfwd_port=1\n");
	assert_int_equal(sim_conf_load(&c, dir), 0);
	assert_int_equal(c.nodes, 1);
	assert_int_equal(c.primary, 0);
	assert_int_equal(c.http_port, 65535);
	assert_int_equal(c.fwd_port, 1);
	write_conf(dir, "nodes=9\nprimary=9\n");
	assert_int_equal(sim_conf_load(&c, dir), 0);
	assert_int_equal(c.nodes, 9);
	assert_int_equal(c.primary, 9);
	/* an empty file is the defaults */
	write_conf(dir, "");
	assert_int_equal(sim_conf_load(&c, dir), 0);
	assert_int_equal(c.nodes, 2);
	assert_int_equal(c.primary, 1);
}

static void test_load_invalid(void **state)
{
	static const char *const bad[] = {
		"nodes\n",                       /* no '=' */
		"nodes=2\nthis is not a setting\n",
		"=2\n",
		"bogus=1\n",                     /* unknown keys */
		"nodes=0\n",                     /* out of range */
		"nodes=0\nprimary=0\n",
		"nodes=10\n",
		"nodes=-1\n",
		"http_port=0\n",
		"http_port=70000\n",
		"http_port=65536\n",
		"fwd_port=0\n",
		"fwd_port=70000\n",
		"primary=-1\n",
		"primary=10\n",
		"reconnect_delay_ms=-1\n",
		"reconnect_delay_ms=60001\n",
		"journal=foo\n",                 /* unknown journal mode */
		"journal=\n",
		"nodes=3\nprimary=4\n",          /* primary beyond the node count */
		"primary=3\n",                   /* ... the default count (2) */
		"nodes=abc\n",                   /* not numbers */
		"nodes=\n",
		"nodes=3x\n",
		"http_port=2.5\n",
		"nodes=99999999999999999999999\n",
		"ip_prefix=0123456789012345678901234567890123456789\n", /* too long */
		"nodes=2\njournal=foo\nnodes=3\n", /* a bad line anywhere */
	};
	struct sim_conf c;
	char dir[2048];

	(void)state;
	subdir("invalid", dir, sizeof(dir));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		write_conf(dir, bad[i]);
		rc = sim_conf_load(&c, dir);
		if (rc != -EINVAL)
			fail_msg("load of \"%s\" returned %d, not -EINVAL", bad[i], rc);
	}
	/* a file that is good again loads */
	write_conf(dir, "nodes=3\nprimary=2\n");
	assert_int_equal(sim_conf_load(&c, dir), 0);
	assert_int_equal(c.primary, 2);
}

static void test_load_missing(void **state)
{
	struct sim_conf c;
	char dir[2048], none[2100];

	(void)state;
	subdir("missing", dir, sizeof(dir));
	assert_int_equal(sim_conf_load(&c, dir), -ENOENT);
	snprintf(none, sizeof(none), "%s/no-such-dir", g_dir);
	assert_int_equal(sim_conf_load(&c, none), -ENOENT);
}

static void test_node_formatting(void **state)
{
	struct sim_conf c;
	char buf[2300], want[2300], small[8];

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.dir, sizeof(c.dir), "/srv/cluster");
	snprintf(c.ip_prefix, sizeof(c.ip_prefix), "127.0.0");
	c.nodes = 9;
	c.http_port = 20202;

	sim_conf_node_addr(&c, 3, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.3");
	sim_conf_node_addr(&c, 9, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.9");
	sim_conf_node_path(&c, 2, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "/srv/cluster/node2");
	sim_conf_node_path(&c, 2, "mnt", buf, sizeof(buf));
	assert_string_equal(buf, "/srv/cluster/node2/mnt");
	sim_conf_node_url(&c, 1, "", buf, sizeof(buf));
	assert_string_equal(buf, "http://127.0.0.1:20202");
	sim_conf_node_url(&c, 4, "/events", buf, sizeof(buf));
	assert_string_equal(buf, "http://127.0.0.4:20202/events");

	snprintf(c.ip_prefix, sizeof(c.ip_prefix), "10.1.2");
	c.http_port = 8080;
	sim_conf_node_addr(&c, 7, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.7");
	sim_conf_node_url(&c, 7, "/stream?pos=1", buf, sizeof(buf));
	assert_string_equal(buf, "http://10.1.2.7:8080/stream?pos=1");

	/* a small buffer holds a terminated prefix */
	memset(small, 'x', sizeof(small));
	sim_conf_node_url(&c, 7, "/events", small, sizeof(small));
	assert_string_equal(small, "http://");
	sim_conf_node_path(&c, 2, "ltx", small, sizeof(small));
	assert_string_equal(small, "/srv/cl");

	/* from a loaded configuration */
	{
		char dir[2048];
		struct sim_conf d;

		subdir("fmt", dir, sizeof(dir));
		assert_int_equal(sim_conf_init(&d, dir), 0);
		sim_conf_node_path(&d, 5, "data", buf, sizeof(buf));
		snprintf(want, sizeof(want), "%s/fmt/node5/data", g_real);
		assert_string_equal(buf, want);
	}
}

static void test_parse_node(void **state)
{
	static const char *const bad[] = {
		"node0", "node10", "nodeX", "node", "xnode1", "node1x", "", "NODE1", "node-1",
		"node99999999999999999999", "node1.5", "nod1", "nodx1", " node1",
	};
	struct sim_conf c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.nodes = 9;
	assert_int_equal(sim_conf_parse_node(&c, "node1"), 1);
	assert_int_equal(sim_conf_parse_node(&c, "node5"), 5);
	assert_int_equal(sim_conf_parse_node(&c, "node9"), 9);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int k = sim_conf_parse_node(&c, bad[i]);

		if (k != -EINVAL)
			fail_msg("\"%s\" parsed as %d with 9 nodes", bad[i], k);
	}
	/* the limit is the cluster's node count */
	c.nodes = 3;
	assert_int_equal(sim_conf_parse_node(&c, "node3"), 3);
	assert_int_equal(sim_conf_parse_node(&c, "node4"), -EINVAL);
	c.nodes = 1;
	assert_int_equal(sim_conf_parse_node(&c, "node1"), 1);
	assert_int_equal(sim_conf_parse_node(&c, "node2"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_defaults),
		cmocka_unit_test(test_save_load_roundtrip),
		cmocka_unit_test(test_save_unwritable),
		cmocka_unit_test(test_load_partial_and_comments),
		cmocka_unit_test(test_load_invalid),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_node_formatting),
		cmocka_unit_test(test_parse_node),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
