/* Unit tests of LiteFS's generated files (common/litefs_files.c): the -pos and .lag formats
 * with their exact sizes, which names of a mount are databases, and the list of a mount's
 * databases with their positions. */
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

#include <cmocka.h>

#include "litefs_files.h"
#include "tmpdir.h"

static int parse_pos(const char *s, uint64_t *txid, uint64_t *sum)
{
	return litefs_pos_parse(s, strlen(s), txid, sum);
}

static int parse_lag(const char *s, int32_t *lag)
{
	return litefs_lag_parse(s, strlen(s), lag);
}

static void test_pos_format(void **state)
{
	uint64_t txid = 0, sum = 0;

	(void)state;
	assert_int_equal(parse_pos("0000000000000002/e04fc44716e5272f\n", &txid, &sum), 0);
	assert_true(txid == 2);
	assert_true(sum == 0xe04fc44716e5272full);
	assert_int_equal(parse_pos("FFFFFFFFFFFFFFFF/0000000000000000\n", &txid, NULL), 0);
	assert_true(txid == UINT64_MAX);
	/* exactly 34 bytes: no more, no less, the separator and newline where they belong */
	assert_int_equal(parse_pos("0000000000000002/e04fc44716e5272f", &txid, &sum), -EBADMSG);
	assert_int_equal(parse_pos("0000000000000002/e04fc44716e5272f\n\n", &txid, &sum), -EBADMSG);
	assert_int_equal(parse_pos("000000000000002/e04fc44716e5272f0\n", &txid, &sum), -EBADMSG);
	assert_int_equal(parse_pos("0000000000000002:e04fc44716e5272f\n", &txid, &sum), -EBADMSG);
	assert_int_equal(parse_pos("000000000000000g/e04fc44716e5272f\n", &txid, &sum), -EBADMSG);
	assert_int_equal(parse_pos("0000000000000002/e04fc44716e5272f ", &txid, &sum), -EBADMSG);
	assert_int_equal(parse_pos("", &txid, &sum), -EBADMSG);
	assert_int_equal(litefs_pos_parse(NULL, 34, &txid, &sum), -EBADMSG);
}

static void test_lag_format(void **state)
{
	int32_t lag = -1;

	(void)state;
	assert_int_equal(parse_lag("+000000000\n", &lag), 0);
	assert_int_equal(lag, 0);
	assert_int_equal(parse_lag("+000001500\n", &lag), 0);
	assert_int_equal(lag, 1500);
	/* before the first sync: wider than the format's width */
	assert_int_equal(parse_lag("+2147483647\n", &lag), 0);
	assert_int_equal(lag, LITEFS_LAG_NEVER);
	assert_int_equal(parse_lag("-000000003\n", &lag), 0);
	assert_int_equal(lag, -3);
	assert_int_equal(parse_lag("+2147483648\n", &lag), -EBADMSG);
	assert_int_equal(parse_lag("000000000\n", &lag), -EBADMSG);
	assert_int_equal(parse_lag("+00000000x\n", &lag), -EBADMSG);
	assert_int_equal(parse_lag("+000000000", &lag), -EBADMSG);
	assert_int_equal(parse_lag("+\n", &lag), -EBADMSG);
	assert_int_equal(parse_lag("+000000000000\n", &lag), -EBADMSG);
}

static void test_db_names(void **state)
{
	(void)state;
	assert_true(litefs_is_db_name("app.db"));
	assert_true(litefs_is_db_name("db"));
	assert_true(litefs_is_db_name("app.db-backup"));
	assert_false(litefs_is_db_name(".primary"));
	assert_false(litefs_is_db_name(".lag"));
	assert_false(litefs_is_db_name("app.db-pos"));
	assert_false(litefs_is_db_name("app.db-journal"));
	assert_false(litefs_is_db_name("app.db-wal"));
	assert_false(litefs_is_db_name("app.db-shm"));
	assert_false(litefs_is_db_name("app.db-lock"));
	assert_false(litefs_is_db_name(""));
	assert_false(litefs_is_db_name("a/b"));
	/* a suffix alone is a name like any other */
	assert_true(litefs_is_db_name("-pos"));
}

static void put(const char *dir, const char *name, const char *content)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static void test_list_and_read(void **state)
{
	char dir[PATH_MAX], sub[PATH_MAX + 8];
	struct litefs_db *dbs;
	bool truncated;
	size_t n;
	int32_t lag;
	uint64_t txid;

	(void)state;
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "test_litefs_files"), 0);
	assert_int_equal(litefs_dbs_list(dir, 10, &dbs, &n, &truncated), 0);
	assert_int_equal(n, 0);
	assert_null(dbs);
	assert_int_equal(litefs_lag_read(dir, &lag), -ENOENT);

	put(dir, "b.db", "");
	put(dir, "b.db-pos", "0000000000000003/0000000000000001\n");
	put(dir, "a.db", "");
	put(dir, "a.db-pos", "0000000000000001/");
	put(dir, "a.db-wal", "");
	put(dir, "c.db", "");
	put(dir, ".primary", "node1\n");
	put(dir, ".lag", "+000000042\n");
	snprintf(sub, sizeof(sub), "%s/sub.db", dir);
	assert_int_equal(mkdir(sub, 0755), 0);

	assert_int_equal(litefs_dbs_list(dir, 10, &dbs, &n, &truncated), 0);
	assert_false(truncated);
	assert_int_equal(n, 3);
	assert_string_equal(dbs[0].name, "a.db");
	assert_int_equal(dbs[0].pos_rc, -EBADMSG);
	assert_string_equal(dbs[1].name, "b.db");
	assert_int_equal(dbs[1].pos_rc, 0);
	assert_true(dbs[1].txid == 3);
	assert_true(dbs[1].checksum == 1);
	assert_string_equal(dbs[2].name, "c.db");
	assert_int_equal(dbs[2].pos_rc, -ENOENT);
	free(dbs);

	/* at most max of them */
	assert_int_equal(litefs_dbs_list(dir, 2, &dbs, &n, &truncated), 0);
	assert_true(truncated);
	assert_int_equal(n, 2);
	free(dbs);

	assert_int_equal(litefs_pos_read(dir, "b.db", &txid, NULL), 0);
	assert_true(txid == 3);
	assert_int_equal(litefs_pos_read(dir, "none.db", &txid, NULL), -ENOENT);
	assert_int_equal(litefs_lag_read(dir, &lag), 0);
	assert_int_equal(lag, 42);
	put(dir, ".lag", "soon\n");
	assert_int_equal(litefs_lag_read(dir, &lag), -EBADMSG);

	assert_int_equal(tmpdir_remove(dir), 0);
	assert_int_equal(litefs_dbs_list(dir, 10, &dbs, &n, &truncated), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pos_format),
		cmocka_unit_test(test_lag_format),
		cmocka_unit_test(test_db_names),
		cmocka_unit_test(test_list_and_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
