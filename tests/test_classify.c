/* Unit tests of statement classification (preload/classify.c), driven by real SQLite: a
 * connection on a temporary file ("main"), with two more files attached as "aux" and
 * "other" and a few temp objects; an authorizer records what SQLite reports while each
 * statement is prepared (never stepped), and the classification of those reports is
 * checked exactly. main and aux are LiteFS databases, other is not (and in one test, main
 * is not either). A second group feeds hand-made reports to cover what SQLite cannot be
 * made to produce on demand. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "classify.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- recording what the authorizer reports ------------------------------------------------ */

struct recorder {
	struct classify_event *ev;
	size_t n, cap;
	bool failed; /* out of memory while recording */
};

static const char *copy_arg(struct recorder *r, const char *s)
{
	char *c;

	if (!s)
		return NULL;
	c = strdup(s);
	if (!c)
		r->failed = true;
	return c;
}

static int record_event(void *arg, int action, const char *arg1, const char *arg2,
			const char *db, const char *trigger)
{
	struct recorder *r = arg;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 32;
		struct classify_event *ev = realloc(r->ev, cap * sizeof(*ev));

		if (!ev) {
			r->failed = true;
			return SQLITE_OK;
		}
		r->ev = ev;
		r->cap = cap;
	}
	r->ev[r->n++] = (struct classify_event){
		.action = action,
		.arg1 = copy_arg(r, arg1),
		.arg2 = copy_arg(r, arg2),
		.db = copy_arg(r, db),
		.trigger = copy_arg(r, trigger),
	};
	return SQLITE_OK;
}

static void recorder_clear(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free((void *)r->ev[i].arg1);
		free((void *)r->ev[i].arg2);
		free((void *)r->ev[i].db);
		free((void *)r->ev[i].trigger);
	}
	r->n = 0;
	r->failed = false;
}

static void recorder_free(struct recorder *r)
{
	recorder_clear(r);
	free(r->ev);
	memset(r, 0, sizeof(*r));
}

static void dump_events(const struct classify_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		print_error("    event %d (%s, %s, db=%s, trigger=%s)\n", ev[i].action,
			    ev[i].arg1 ? ev[i].arg1 : "NULL", ev[i].arg2 ? ev[i].arg2 : "NULL",
			    ev[i].db ? ev[i].db : "NULL", ev[i].trigger ? ev[i].trigger : "NULL");
}

/* --- which schemas are LiteFS ------------------------------------------------------------ */

struct litefs_ctx {
	bool main_litefs;
	unsigned calls;
	bool bad_name; /* asked about temp or a name that is no schema of the connection */
};

static bool fixture_is_litefs(void *arg, const char *schema)
{
	struct litefs_ctx *c = arg;

	c->calls++;
	if (!strcasecmp(schema, "main"))
		return c->main_litefs;
	if (!strcasecmp(schema, "aux"))
		return true;
	if (!strcasecmp(schema, "other"))
		return false;
	c->bad_name = true;
	return false;
}

/* --- the connection ----------------------------------------------------------------------- */

struct fixture {
	char dir[PATH_MAX];
	sqlite3 *db;
	struct recorder rec;
	struct litefs_ctx lf;
};

static const char attached_schema[] =
	"PRAGMA foreign_keys = ON;"
	"CREATE TABLE t(a INTEGER PRIMARY KEY, b);"
	"CREATE INDEX t_b ON t(b);"
	"CREATE TABLE plain(a, b, c);"
	"CREATE TABLE log(x);"
	"CREATE TABLE trg(a INTEGER PRIMARY KEY, b);"
	"CREATE TRIGGER trg_ins AFTER INSERT ON trg BEGIN INSERT INTO log VALUES(new.a); END;"
	"CREATE VIEW v AS SELECT a, b FROM t;"
	"CREATE TRIGGER v_ins INSTEAD OF INSERT ON v BEGIN "
	"  INSERT INTO t VALUES(new.a, new.b); END;"
	"CREATE TABLE p(a PRIMARY KEY);"
	"CREATE TABLE c(x REFERENCES p(a) ON DELETE CASCADE);"
	"CREATE VIRTUAL TABLE ft USING fts5(x);"
	"CREATE TABLE aux.u(a INTEGER PRIMARY KEY, b);"
	"CREATE INDEX aux.u_b ON u(b);"
	"CREATE TABLE other.o(a INTEGER PRIMARY KEY, b);"
	"CREATE INDEX other.o_b ON o(b);"
	"CREATE TEMP TABLE tt(a INTEGER PRIMARY KEY, b);"
	"CREATE INDEX temp.tt_b ON tt(b);"
	"CREATE TEMP VIEW tv AS SELECT 1 AS one;"
	/* Temp triggers may write any database: an UPDATE of trg.b also writes aux.u, a
	 * DELETE from trg also writes other.o, an INSERT into the temp table tt_fire also
	 * writes main.log (unqualified names in temp triggers resolve across databases). */
	"CREATE TEMP TRIGGER trg_upd AFTER UPDATE OF b ON main.trg BEGIN "
	"  INSERT INTO u(b) VALUES(new.b); END;"
	"CREATE TEMP TRIGGER trg_del AFTER DELETE ON main.trg BEGIN "
	"  INSERT INTO o(b) VALUES(old.b); END;"
	"CREATE TEMP TABLE tt_fire(a);"
	"CREATE TEMP TRIGGER tt_fire_ins AFTER INSERT ON tt_fire BEGIN "
	"  INSERT INTO log VALUES(new.a); END;";

static const char single_schema[] =
	"CREATE TABLE t(a INTEGER PRIMARY KEY, b);"
	"CREATE INDEX t_b ON t(b);"
	"CREATE TEMP TABLE tt(a INTEGER PRIMARY KEY, b);"
	"CREATE INDEX temp.tt_b ON tt(b);";

static int exec_or_report(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		print_error("setup: %s\n", err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static void remove_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dh = opendir(dir);

	if (dh) {
		while ((d = readdir(dh))) {
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir, d->d_name) < (int)sizeof(path))
				unlink(path);
		}
		closedir(dh);
	}
	rmdir(dir);
}

static int fixture_open(void **state, bool attach)
{
	const char *tmp = getenv("TMPDIR");
	struct fixture *f = calloc(1, sizeof(*f));
	char path[PATH_MAX + 16];
	char *sql;
	int rc;

	if (!f)
		return -1;
	f->lf.main_litefs = true;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s/litefs-fwd-classify.XXXXXX", tmp);
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/main.db", f->dir);
	if (sqlite3_open(path, &f->db) != SQLITE_OK)
		goto fail;
	if (attach) {
		char aux[PATH_MAX + 16], other[PATH_MAX + 16];

		snprintf(aux, sizeof(aux), "%s/aux.db", f->dir);
		snprintf(other, sizeof(other), "%s/other.db", f->dir);
		sql = sqlite3_mprintf("ATTACH %Q AS aux; ATTACH %Q AS other;", aux, other);
		if (!sql)
			goto fail;
		rc = exec_or_report(f->db, sql);
		sqlite3_free(sql);
		if (rc || exec_or_report(f->db, attached_schema))
			goto fail;
	} else if (exec_or_report(f->db, single_schema)) {
		goto fail;
	}
	sqlite3_set_authorizer(f->db, record_event, &f->rec);
	*state = f;
	return 0;

fail:
	sqlite3_close_v2(f->db);
	remove_dir(f->dir);
	free(f);
	return -1;
}

static int setup_attached(void **state)
{
	return fixture_open(state, true);
}

static int setup_single(void **state)
{
	return fixture_open(state, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sqlite3_close_v2(f->db);
	recorder_free(&f->rec);
	remove_dir(f->dir);
	free(f);
	return 0;
}

/* --- running cases -------------------------------------------------------------------------- */

struct expect {
	const char *sql;
	enum classify_kind kind;
	const char *schema;
	bool persistent;
};

#define LOCAL(s)  { (s), CLASSIFY_LOCAL, NULL, false }
#define WRITE(s, db) { (s), CLASSIFY_WRITE, (db), false }
#define PWRITE(s, db) { (s), CLASSIFY_WRITE, (db), true }
#define TXN(s)    { (s), CLASSIFY_TXN, NULL, false }
#define UNSUP(s)  { (s), CLASSIFY_UNSUPPORTED, NULL, false }

static const char *kind_name(enum classify_kind k)
{
	switch (k) {
	case CLASSIFY_LOCAL:
		return "LOCAL";
	case CLASSIFY_WRITE:
		return "WRITE";
	case CLASSIFY_TXN:
		return "TXN";
	case CLASSIFY_UNSUPPORTED:
		return "UNSUPPORTED";
	}
	return "?";
}

static bool result_matches(const struct classify_result *r, const struct expect *e)
{
	if (r->kind != e->kind || r->persistent_pragma != e->persistent)
		return false;
	if (!e->schema || !r->schema)
		return e->schema == r->schema;
	return strcmp(e->schema, r->schema) == 0;
}

/* The schema of a WRITE is "main" or one of the strings of the events (which it must not
 * outlive); only VACUUM, which reports no event, may name another one from elsewhere. */
static bool schema_from_events(const struct classify_result *r, const struct recorder *rec)
{
	if (r->kind != CLASSIFY_WRITE || !strcmp(r->schema, "main") || rec->n == 0)
		return true;
	for (size_t i = 0; i < rec->n; i++) {
		const struct classify_event *e = &rec->ev[i];

		if (r->schema == e->arg1 || r->schema == e->arg2 || r->schema == e->db ||
		    r->schema == e->trigger)
			return true;
	}
	return false;
}

static void run_case(struct fixture *f, const struct expect *e)
{
	struct classify_result r;
	sqlite3_stmt *stmt = NULL;
	int rc;

	recorder_clear(&f->rec);
	f->lf.bad_name = false;
	rc = sqlite3_prepare_v2(f->db, e->sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK || !stmt) {
		print_error("%s: prepare failed: %s\n", e->sql, sqlite3_errmsg(f->db));
		fail();
	}
	assert_false(f->rec.failed);
	memset(&r, 0xa5, sizeof(r));
	classify_statement(f->rec.ev, f->rec.n, sqlite3_sql(stmt), sqlite3_stmt_isexplain(stmt) > 0,
			   fixture_is_litefs, &f->lf, &r);
	if (!result_matches(&r, e) || f->lf.bad_name || !schema_from_events(&r, &f->rec)) {
		print_error("%s:\n  expected %s %s%s, got %s %s%s%s%s\n", e->sql, kind_name(e->kind),
			    e->schema ? e->schema : "-", e->persistent ? " (pragma)" : "",
			    kind_name(r.kind), r.schema ? r.schema : "-",
			    r.persistent_pragma ? " (pragma)" : "",
			    f->lf.bad_name ? "; is_litefs asked about another name" : "",
			    schema_from_events(&r, &f->rec) ? "" : "; schema not from the events");
		dump_events(f->rec.ev, f->rec.n);
		fail();
	}
	sqlite3_finalize(stmt);
}

static void run_cases(void **state, const struct expect *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(*state, &cases[i]);
}

/* --- real SQLite: one group of statements per test ---------------------------------------- */

static void test_reads(void **state)
{
	static const struct expect cases[] = {
		LOCAL("SELECT * FROM t"),
		LOCAL("SELECT abs(b), count(*), group_concat(b) FROM t"),
		LOCAL("SELECT * FROM aux.u JOIN other.o USING (a)"),
		LOCAL("SELECT * FROM v"),
		LOCAL("SELECT * FROM tt, tv"),
		LOCAL("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) "
		      "SELECT x FROM c"),
		LOCAL("SELECT * FROM ft WHERE ft MATCH 'x'"),
		LOCAL("SELECT 1"),
		LOCAL("VALUES(1)"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_dml(void **state)
{
	static const struct expect cases[] = {
		WRITE("INSERT INTO t VALUES(NULL, 1)", "main"),
		WRITE("INSERT INTO main.t(b) VALUES(1)", "main"),
		WRITE("INSERT INTO aux.u(b) VALUES(1)", "aux"),
		LOCAL("INSERT INTO other.o(b) VALUES(1)"),
		LOCAL("INSERT INTO tt(b) VALUES(1)"),
		LOCAL("INSERT INTO temp.tt(b) VALUES(1)"),
		WRITE("UPDATE t SET b = 2", "main"),
		WRITE("UPDATE aux.u SET b = 2", "aux"),
		LOCAL("UPDATE other.o SET b = 2"),
		LOCAL("UPDATE tt SET b = 2"),
		WRITE("DELETE FROM t WHERE a = 1", "main"),
		WRITE("DELETE FROM aux.u", "aux"),
		LOCAL("DELETE FROM other.o"),
		LOCAL("DELETE FROM tt"),
		WRITE("INSERT INTO t(b) VALUES(1) RETURNING a", "main"),
		WRITE("DELETE FROM aux.u RETURNING *", "aux"),
		WRITE("INSERT INTO t VALUES(1, 2) ON CONFLICT(a) DO UPDATE SET b = excluded.b", "main"),
		WRITE("INSERT INTO t VALUES(1, 2) ON CONFLICT DO NOTHING", "main"),
		WRITE("REPLACE INTO t VALUES(1, 2)", "main"),
		WRITE("INSERT OR REPLACE INTO aux.u VALUES(1, 2)", "aux"),
		WRITE("INSERT OR IGNORE INTO t VALUES(1, 2)", "main"),
		/* What a write reads does not matter, only what it writes. */
		WRITE("INSERT INTO t(b) SELECT b FROM other.o", "main"),
		LOCAL("INSERT INTO other.o(b) SELECT b FROM t"),
		LOCAL("INSERT INTO tt(b) SELECT b FROM aux.u"),
		WRITE("UPDATE t SET b = (SELECT max(b) FROM other.o)", "main"),
		WRITE("UPDATE t SET b = o.b FROM other.o AS o WHERE o.a = t.a", "main"),
		WRITE("WITH x(v) AS (VALUES(1), (2)) INSERT INTO t(b) SELECT v FROM x", "main"),
		WRITE("WITH x AS (SELECT a FROM other.o) DELETE FROM aux.u WHERE a IN x", "aux"),
		LOCAL("WITH x AS (SELECT b FROM t) INSERT INTO other.o(b) SELECT b FROM x"),
		WRITE("INSERT INTO ft VALUES('text')", "main"),
		WRITE("INSERT INTO ft(ft) VALUES('optimize')", "main"),
		WRITE("DELETE FROM p", "main"),  /* ON DELETE CASCADE into c */
		WRITE("INSERT INTO v VALUES(1, 2)", "main"),  /* INSTEAD OF trigger */
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_triggers(void **state)
{
	static const struct expect cases[] = {
		/* trg_ins (main) writes main.log */
		WRITE("INSERT INTO trg(b) VALUES(1)", "main"),
		/* trg_upd (temp) writes aux.u: two LiteFS databases */
		UNSUP("UPDATE trg SET b = 1"),
		/* reported at prepare time even when no row can change */
		UNSUP("UPDATE trg SET b = b WHERE 0"),
		/* trg_upd only fires on updates of b */
		WRITE("UPDATE trg SET a = a + 1", "main"),
		/* trg_del (temp) writes other.o: LiteFS and non-LiteFS */
		UNSUP("DELETE FROM trg"),
		/* a temp table whose temp trigger writes main.log */
		WRITE("INSERT INTO tt_fire VALUES(1)", "main"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_ddl(void **state)
{
	static const struct expect cases[] = {
		WRITE("CREATE TABLE n(x)", "main"),
		WRITE("CREATE TABLE aux.n(x)", "aux"),
		LOCAL("CREATE TABLE other.n(x)"),
		LOCAL("CREATE TEMP TABLE n(x)"),
		LOCAL("CREATE TABLE temp.n(x)"),
		WRITE("CREATE TABLE n AS SELECT * FROM other.o", "main"),
		LOCAL("CREATE TEMP TABLE n AS SELECT * FROM t"),
		WRITE("CREATE INDEX n ON t(a, b)", "main"),
		WRITE("CREATE UNIQUE INDEX aux.n ON u(b)", "aux"),
		LOCAL("CREATE INDEX other.n ON o(b)"),
		LOCAL("CREATE INDEX n ON tt(a)"),
		WRITE("CREATE VIEW n AS SELECT * FROM t", "main"),
		LOCAL("CREATE TEMP VIEW n AS SELECT * FROM t"),
		WRITE("CREATE TRIGGER n AFTER INSERT ON t BEGIN DELETE FROM log; END", "main"),
		WRITE("CREATE TRIGGER aux.n AFTER INSERT ON u BEGIN DELETE FROM u; END", "aux"),
		/* SQLite also reports an INSERT into main's sqlite_master for this one */
		LOCAL("CREATE TEMP TRIGGER n AFTER INSERT ON main.t BEGIN DELETE FROM log; END"),
		LOCAL("CREATE TEMP TRIGGER n AFTER INSERT ON aux.u BEGIN SELECT 1; END"),
		WRITE("CREATE VIRTUAL TABLE n USING fts5(x)", "main"),
		WRITE("CREATE VIRTUAL TABLE aux.n USING fts5(x)", "aux"),
		LOCAL("CREATE VIRTUAL TABLE other.n USING fts5(x)"),
		LOCAL("CREATE VIRTUAL TABLE temp.n USING fts5(x)"),
		WRITE("DROP TABLE t", "main"),
		WRITE("DROP TABLE aux.u", "aux"),
		LOCAL("DROP TABLE other.o"),
		LOCAL("DROP TABLE tt"),
		WRITE("DROP TABLE trg", "main"),  /* drops its temp triggers too */
		WRITE("DROP TABLE ft", "main"),   /* a virtual table */
		WRITE("DROP INDEX t_b", "main"),
		WRITE("DROP INDEX aux.u_b", "aux"),
		LOCAL("DROP INDEX other.o_b"),
		LOCAL("DROP INDEX tt_b"),
		WRITE("DROP VIEW v", "main"),
		LOCAL("DROP VIEW tv"),
		WRITE("DROP TRIGGER trg_ins", "main"),
		LOCAL("DROP TRIGGER trg_upd"),
		LOCAL("DROP TABLE IF EXISTS nosuch"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_alter(void **state)
{
	static const struct expect cases[] = {
		WRITE("ALTER TABLE t RENAME TO t2", "main"),
		WRITE("ALTER TABLE t ADD COLUMN c", "main"),
		WRITE("ALTER TABLE t RENAME COLUMN b TO bb", "main"),
		/* reported with the column name where the database name would be */
		WRITE("ALTER TABLE plain DROP COLUMN c", "main"),
		WRITE("ALTER TABLE aux.u RENAME TO u2", "aux"),
		WRITE("ALTER TABLE aux.u ADD COLUMN c", "aux"),
		WRITE("ALTER TABLE aux.u RENAME COLUMN b TO bb", "aux"),
		LOCAL("ALTER TABLE other.o ADD COLUMN c"),
		LOCAL("ALTER TABLE tt ADD COLUMN c"),
		LOCAL("ALTER TABLE tt RENAME TO tt2"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_transactions(void **state)
{
	static const struct expect cases[] = {
		TXN("BEGIN"),
		TXN("BEGIN TRANSACTION"),
		TXN("BEGIN DEFERRED"),
		TXN("BEGIN IMMEDIATE"),
		TXN("BEGIN EXCLUSIVE TRANSACTION"),
		TXN("COMMIT"),
		TXN("COMMIT TRANSACTION"),
		TXN("END"),
		TXN("END TRANSACTION"),
		TXN("ROLLBACK"),
		TXN("SAVEPOINT s"),
		TXN("RELEASE s"),
		TXN("RELEASE SAVEPOINT s"),
		TXN("ROLLBACK TO s"),
		TXN("ROLLBACK TRANSACTION TO SAVEPOINT s"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_explain(void **state)
{
	static const struct expect cases[] = {
		LOCAL("EXPLAIN INSERT INTO t VALUES(1, 2)"),
		LOCAL("EXPLAIN QUERY PLAN UPDATE t SET b = 1"),
		LOCAL("EXPLAIN DELETE FROM aux.u"),
		LOCAL("EXPLAIN QUERY PLAN UPDATE trg SET b = 1"),
		LOCAL("EXPLAIN VACUUM"),
		LOCAL("EXPLAIN BEGIN IMMEDIATE"),
		LOCAL("EXPLAIN PRAGMA user_version = 3"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_pragmas(void **state)
{
	static const struct expect cases[] = {
		LOCAL("PRAGMA user_version"),
		PWRITE("PRAGMA user_version = 3", "main"),
		PWRITE("PRAGMA aux.user_version = 3", "aux"),
		LOCAL("PRAGMA other.user_version = 3"),
		LOCAL("PRAGMA temp.user_version = 3"),
		PWRITE("PRAGMA USER_VERSION = 4", "main"),
		PWRITE("PRAGMA Main.User_Version = 5", "main"),
		PWRITE("PRAGMA user_version(6)", "main"),
		PWRITE("PRAGMA application_id = 7", "main"),
		LOCAL("PRAGMA application_id"),
		PWRITE("PRAGMA schema_version = 7", "main"),
		LOCAL("PRAGMA schema_version"),
		LOCAL("PRAGMA journal_mode"),
		LOCAL("PRAGMA aux.journal_mode"),
		PWRITE("PRAGMA journal_mode = WAL", "main"),
		PWRITE("PRAGMA journal_mode = DELETE", "main"),
		PWRITE("PRAGMA aux.journal_mode = wal", "aux"),
		LOCAL("PRAGMA other.journal_mode = WAL"),
		PWRITE("PRAGMA page_size = 8192", "main"),
		LOCAL("PRAGMA page_size"),
		PWRITE("PRAGMA auto_vacuum = INCREMENTAL", "main"),
		LOCAL("PRAGMA auto_vacuum"),
		PWRITE("PRAGMA encoding = 'UTF-8'", "main"),
		LOCAL("PRAGMA encoding"),
		PWRITE("PRAGMA default_cache_size = 100", "main"),
		PWRITE("PRAGMA incremental_vacuum", "main"),
		PWRITE("PRAGMA aux.incremental_vacuum(10)", "aux"),
		PWRITE("PRAGMA wal_checkpoint", "main"),
		PWRITE("PRAGMA wal_checkpoint(TRUNCATE)", "main"),
		LOCAL("PRAGMA other.wal_checkpoint"),
		PWRITE("PRAGMA optimize", "main"),
		PWRITE("PRAGMA aux.optimize", "aux"),
		LOCAL("PRAGMA foreign_keys = ON"),
		LOCAL("PRAGMA foreign_keys"),
		LOCAL("PRAGMA busy_timeout = 100"),
		LOCAL("PRAGMA cache_size = -2000"),
		LOCAL("PRAGMA aux.cache_size = -2000"),
		LOCAL("PRAGMA synchronous = NORMAL"),
		LOCAL("PRAGMA temp_store = MEMORY"),
		LOCAL("PRAGMA recursive_triggers = 1"),
		LOCAL("PRAGMA case_sensitive_like = 1"),
		LOCAL("PRAGMA query_only = 1"),
		LOCAL("PRAGMA defer_foreign_keys = 1"),
		LOCAL("PRAGMA locking_mode = EXCLUSIVE"),
		LOCAL("PRAGMA secure_delete = 1"),
		LOCAL("PRAGMA mmap_size = 0"),
		LOCAL("PRAGMA wal_autocheckpoint = 100"),
		LOCAL("PRAGMA journal_size_limit = 1000"),
		LOCAL("PRAGMA max_page_count = 100000"),
		LOCAL("PRAGMA writable_schema = 1"),
		LOCAL("PRAGMA table_info(t)"),
		LOCAL("PRAGMA aux.index_list(u)"),
		LOCAL("PRAGMA integrity_check"),
		LOCAL("PRAGMA quick_check"),
		LOCAL("PRAGMA foreign_key_check"),
		LOCAL("PRAGMA data_version"),
		LOCAL("PRAGMA page_count"),
		LOCAL("PRAGMA freelist_count"),
		LOCAL("PRAGMA legacy_file_format = 1"),
		LOCAL("PRAGMA no_such_pragma = 1"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_vacuum(void **state)
{
	static const struct expect cases[] = {
		WRITE("VACUUM", "main"),
		WRITE("vacuum aux", "aux"),
		WRITE("/* c */ VACUUM", "main"),
		WRITE("-- c\nVACUUM aux;", "aux"),
		WRITE("VACUUM/**/aux", "aux"),
		WRITE("VACUUM \"aux\"", "aux"),
		WRITE("VACUUM [aux]", "aux"),
		WRITE("VACUUM `aux`", "aux"),
		WRITE("VACUUM 'aux'", "aux"),
		WRITE("VACUUM AUX", "AUX"),  /* as written: SQLite's names ignore case */
		WRITE("VACUUM main", "main"),
		WRITE("VACUUM MAIN", "main"),
		WRITE(";VACUUM", "main"),
		LOCAL("VACUUM INTO 'backup.db'"),
		LOCAL("VACUUM aux INTO 'backup.db'"),
		LOCAL("VACUUM \"main\" INTO ?"),
		LOCAL("VACUUM other"),
		LOCAL("VACUUM temp"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_attach(void **state)
{
	static const struct expect cases[] = {
		LOCAL("ATTACH ':memory:' AS m"),
		LOCAL("ATTACH DATABASE ? AS m"),
		LOCAL("DETACH other"),
		LOCAL("DETACH DATABASE aux"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

static void test_analyze_reindex(void **state)
{
	static const struct expect cases[] = {
		UNSUP("ANALYZE"),  /* main, aux and other */
		WRITE("ANALYZE main", "main"),
		WRITE("ANALYZE t", "main"),
		WRITE("ANALYZE aux", "aux"),
		WRITE("ANALYZE aux.u", "aux"),
		LOCAL("ANALYZE other"),
		LOCAL("ANALYZE temp"),
		UNSUP("REINDEX"),  /* indexes in main, aux, other and temp */
		WRITE("REINDEX t_b", "main"),
		WRITE("REINDEX t", "main"),
		WRITE("REINDEX aux.u_b", "aux"),
		LOCAL("REINDEX other.o_b"),
		LOCAL("REINDEX temp.tt_b"),
		UNSUP("REINDEX binary"),  /* every index, in every database */
		LOCAL("REINDEX nocase"),  /* no index uses it: nothing rebuilt, nothing reported */
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

/* A connection with no attached database. */
static void test_single_database(void **state)
{
	static const struct expect cases[] = {
		WRITE("ANALYZE", "main"),
		WRITE("REINDEX", "main"),  /* the temp index too, which does not count */
		WRITE("VACUUM", "main"),
		WRITE("INSERT INTO t(b) VALUES(1)", "main"),
		LOCAL("INSERT INTO tt(b) VALUES(1)"),
		PWRITE("PRAGMA journal_mode = WAL", "main"),
		LOCAL("PRAGMA journal_mode"),
	};

	run_cases(state, cases, ARRAY_SIZE(cases));
}

/* The same connection when main is not a LiteFS database (aux still is). */
static void test_main_not_litefs(void **state)
{
	static const struct expect cases[] = {
		LOCAL("INSERT INTO t VALUES(NULL, 1)"),
		LOCAL("UPDATE t SET b = 1"),
		LOCAL("CREATE TABLE n(x)"),
		LOCAL("DROP TABLE t"),
		LOCAL("ALTER TABLE t ADD COLUMN c"),
		LOCAL("PRAGMA user_version = 3"),
		LOCAL("PRAGMA journal_mode = WAL"),
		LOCAL("VACUUM"),
		LOCAL("ANALYZE main"),
		LOCAL("DELETE FROM trg"),         /* main and other: neither is LiteFS */
		UNSUP("UPDATE trg SET b = 1"),    /* main (not LiteFS) and aux (LiteFS) */
		UNSUP("ANALYZE"),
		WRITE("INSERT INTO aux.u(b) VALUES(1)", "aux"),
		WRITE("INSERT INTO aux.u(b) SELECT b FROM t", "aux"),
		WRITE("VACUUM aux", "aux"),
		PWRITE("PRAGMA aux.user_version = 1", "aux"),
		TXN("BEGIN IMMEDIATE"),
		LOCAL("SELECT * FROM t"),
	};
	struct fixture *f = *state;

	f->lf.main_litefs = false;
	run_cases(state, cases, ARRAY_SIZE(cases));
}

/* The first use of an eponymous virtual table on a connection makes SQLite 3.40.1 report
 * UPDATEs of main's sqlite_master (a CREATE TABLE that declares its columns), from any
 * statement: they are not writes of the statement. Each statement here is the first use
 * of its table on this connection. */
static void test_eponymous_tables(void **state)
{
	static const struct expect cases[] = {
		LOCAL("SELECT value FROM json_each('[1, 2]')"),
		WRITE("INSERT INTO aux.u(b) SELECT value FROM json_tree('[1, 2]')", "aux"),
		LOCAL("INSERT INTO other.o(b) SELECT name FROM pragma_table_info('t')"),
		LOCAL("SELECT * FROM pragma_user_version"),
		LOCAL("SELECT count(*) FROM dbstat"),
	};
	struct fixture *f = *state;
	size_t echoes = 0;

	run_case(f, &cases[0]);
	for (size_t i = 0; i < f->rec.n; i++)
		if (f->rec.ev[i].action == SQLITE_UPDATE && !strcmp(f->rec.ev[i].arg1, "sqlite_master"))
			echoes++;
	/* The reports this test is about, as measured with SQLite 3.40.1. */
	if (sqlite3_libversion_number() == 3040001)
		assert_int_equal(echoes, 5);
	run_cases(state, cases + 1, ARRAY_SIZE(cases) - 1);
}

/* The schema named by VACUUM outlives the statement and its text. */
static void test_vacuum_schema_lifetime(void **state)
{
	struct fixture *f = *state;
	struct classify_result r1, r2;
	sqlite3_stmt *stmt;

	for (int i = 0; i < 2; i++) {
		struct classify_result *r = i ? &r2 : &r1;

		recorder_clear(&f->rec);
		assert_int_equal(sqlite3_prepare_v2(f->db, "VACUUM \"aux\"", -1, &stmt, NULL),
				 SQLITE_OK);
		assert_int_equal(f->rec.n, 0);
		classify_statement(f->rec.ev, f->rec.n, sqlite3_sql(stmt), false,
				   fixture_is_litefs, &f->lf, r);
		sqlite3_finalize(stmt);
	}
	assert_int_equal(r1.kind, CLASSIFY_WRITE);
	assert_int_equal(r2.kind, CLASSIFY_WRITE);
	assert_ptr_equal(r1.schema, r2.schema);
	assert_string_equal(r1.schema, "aux");
	assert_false(r1.persistent_pragma);
}

/* --- hand-made reports ----------------------------------------------------------------------- */

struct names_ctx {
	const char *const *litefs; /* NULL-terminated */
	unsigned calls;
	char last[64];
};

static bool names_is_litefs(void *arg, const char *schema)
{
	struct names_ctx *c = arg;

	c->calls++;
	snprintf(c->last, sizeof(c->last), "%s", schema);
	assert_true(strcasecmp(schema, "temp") != 0);
	for (const char *const *n = c->litefs; *n; n++)
		if (!strcmp(*n, schema))
			return true;
	return false;
}

static const char *const main_aux[] = { "main", "aux", NULL };

#define EV(a, x, y, d, t) { .action = (a), .arg1 = (x), .arg2 = (y), .db = (d), .trigger = (t) }

static struct classify_result classify_events(const struct classify_event *ev, size_t n,
					      const char *sql, bool explain,
					      struct names_ctx *c)
{
	struct classify_result r;

	memset(&r, 0x5a, sizeof(r));
	classify_statement(ev, n, sql, explain, names_is_litefs, c, &r);
	return r;
}

static void assert_result(const struct classify_result *r, enum classify_kind kind,
			  const char *schema, bool persistent)
{
	assert_int_equal(r->kind, kind);
	if (schema)
		assert_string_equal(r->schema, schema);
	else
		assert_null(r->schema);
	assert_int_equal(r->persistent_pragma, persistent);
}

static void test_null_database_is_main(void **state)
{
	static const struct classify_event ev[] = { EV(SQLITE_INSERT, "t", NULL, NULL, NULL) };
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(ev, 1, "INSERT INTO t VALUES(1)", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "main", false);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.last, "main");
}

static void test_alter_schema_is_arg1(void **state)
{
	/* ALTER TABLE aux.u DROP COLUMN c: the db argument holds the column name */
	static const struct classify_event drop[] = {
		EV(SQLITE_ALTER_TABLE, "aux", "u", "c", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "sql", "aux", NULL),
	};
	static const struct classify_event unnamed[] = { EV(SQLITE_ALTER_TABLE, NULL, "t", NULL, NULL) };
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(drop, ARRAY_SIZE(drop), "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "aux", false);
	assert_ptr_equal(r.schema, drop[0].arg1);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.last, "aux");

	c.calls = 0;
	r = classify_events(unnamed, 1, "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "main", false);
	assert_int_equal(c.calls, 1);
}

static void test_unknown_action(void **state)
{
	static const struct classify_event ev[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(99, "x", NULL, "main", NULL),
	};
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(ev, ARRAY_SIZE(ev), "", false, &c);
	assert_result(&r, CLASSIFY_UNSUPPORTED, NULL, false);
	r = classify_events(ev, ARRAY_SIZE(ev), "", true, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
}

static void test_transaction_and_write(void **state)
{
	static const struct classify_event txn_write[] = {
		EV(SQLITE_TRANSACTION, "BEGIN", NULL, NULL, NULL),
		EV(SQLITE_INSERT, "t", NULL, "main", NULL),
	};
	static const struct classify_event txn_temp[] = {
		EV(SQLITE_SAVEPOINT, "BEGIN", "s", NULL, NULL),
		EV(SQLITE_CREATE_TEMP_TABLE, "x", NULL, "temp", NULL),
	};
	static const struct classify_event txn[] = { EV(SQLITE_SAVEPOINT, "RELEASE", "s", NULL, NULL) };
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(txn_write, ARRAY_SIZE(txn_write), "", false, &c);
	assert_result(&r, CLASSIFY_UNSUPPORTED, NULL, false);
	r = classify_events(txn_temp, ARRAY_SIZE(txn_temp), "", false, &c);
	assert_result(&r, CLASSIFY_UNSUPPORTED, NULL, false);
	c.calls = 0;
	r = classify_events(txn, 1, "RELEASE s", false, &c);
	assert_result(&r, CLASSIFY_TXN, NULL, false);
	assert_int_equal(c.calls, 0);
}

static void test_nothing_reported(void **state)
{
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(NULL, 0, NULL, false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	r = classify_events(NULL, 0, "", false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	r = classify_events(NULL, 0, "REINDEX nocase", false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	assert_int_equal(c.calls, 0);
}

static void test_schemas_combined(void **state)
{
	static const struct classify_event two_other[] = {
		EV(SQLITE_INSERT, "a", NULL, "x", NULL),
		EV(SQLITE_INSERT, "b", NULL, "y", "tr"),
		EV(SQLITE_DELETE, "a", NULL, "x", NULL),
	};
	static const struct classify_event two_litefs[] = {
		EV(SQLITE_INSERT, "t", NULL, "main", NULL),
		EV(SQLITE_INSERT, "u", NULL, "aux", "tr"),
	};
	static const struct classify_event with_temp[] = {
		EV(SQLITE_INSERT, "tt", NULL, "temp", NULL),
		EV(SQLITE_UPDATE, "u", "b", "aux", "tr"),
		EV(SQLITE_INSERT, "tt", NULL, "TEMP", "tr2"),
	};
	struct classify_event many[64];
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(two_other, ARRAY_SIZE(two_other), "", false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	assert_int_equal(c.calls, 2);

	r = classify_events(two_litefs, ARRAY_SIZE(two_litefs), "", false, &c);
	assert_result(&r, CLASSIFY_UNSUPPORTED, NULL, false);

	c.calls = 0;
	r = classify_events(with_temp, ARRAY_SIZE(with_temp), "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "aux", false);
	assert_ptr_equal(r.schema, with_temp[1].db);
	assert_int_equal(c.calls, 1);

	/* is_litefs is asked once per schema */
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct classify_event)EV(i % 2 ? SQLITE_UPDATE : SQLITE_READ, "t", "b",
						    "main", NULL);
	c.calls = 0;
	r = classify_events(many, ARRAY_SIZE(many), "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "main", false);
	assert_int_equal(c.calls, 1);
}

static void test_declare_echo(void **state)
{
	/* SELECT value FROM json_each(?), first use on the connection (SQLite 3.40.1) */
	static const struct classify_event select[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "type", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "name", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "tbl_name", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "rootpage", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "sql", "main", NULL),
		EV(SQLITE_READ, "sqlite_master", "ROWID", "main", NULL),
		EV(SQLITE_READ, "json_each", "value", "main", NULL),
	};
	/* the same inside an INSERT into aux */
	static const struct classify_event insert[] = {
		EV(SQLITE_INSERT, "u", NULL, "aux", NULL),
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "type", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "name", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "tbl_name", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "rootpage", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "sql", "main", NULL),
		EV(SQLITE_READ, "sqlite_master", "ROWID", "main", NULL),
	};
	/* not the whole sequence: a write */
	static const struct classify_event partial[] = {
		EV(SQLITE_UPDATE, "sqlite_master", "type", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "name", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "tbl_name", "main", NULL),
		EV(SQLITE_UPDATE, "sqlite_master", "rootpage", "main", NULL),
		EV(SQLITE_READ, "sqlite_master", "ROWID", "main", NULL),
	};
	/* UPDATE sqlite_master SET sql = ... (writable_schema): a write */
	static const struct classify_event user[] = {
		EV(SQLITE_UPDATE, "sqlite_master", "sql", "aux", NULL),
		EV(SQLITE_READ, "sqlite_master", "name", "aux", NULL),
	};
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(select, ARRAY_SIZE(select), "", false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	/* a read of main: looked at once, to know it reads a LiteFS database */
	assert_int_equal(c.calls, 1);
	assert_true(r.reads_litefs);
	r = classify_events(insert, ARRAY_SIZE(insert), "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "aux", false);
	r = classify_events(partial, ARRAY_SIZE(partial), "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "main", false);
	r = classify_events(user, ARRAY_SIZE(user), "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "aux", false);
}

static void test_temp_trigger_echo(void **state)
{
	/* CREATE TEMP TRIGGER x AFTER INSERT ON aux.u ... (SQLite 3.40.1) */
	static const struct classify_event temp[] = {
		EV(SQLITE_CREATE_TEMP_TRIGGER, "x", "u", "temp", NULL),
		EV(SQLITE_INSERT, "sqlite_master", NULL, "aux", NULL),
		EV(SQLITE_INSERT, "sqlite_temp_master", NULL, "temp", NULL),
	};
	/* CREATE TRIGGER aux.x AFTER INSERT ON u ... */
	static const struct classify_event real[] = {
		EV(SQLITE_CREATE_TRIGGER, "x", "u", "aux", NULL),
		EV(SQLITE_INSERT, "sqlite_master", NULL, "aux", NULL),
		EV(SQLITE_INSERT, "sqlite_master", NULL, "aux", NULL),
	};
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(temp, ARRAY_SIZE(temp), "", false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	assert_int_equal(c.calls, 0);
	r = classify_events(real, ARRAY_SIZE(real), "", false, &c);
	assert_result(&r, CLASSIFY_WRITE, "aux", false);
}

static void test_pragma_events(void **state)
{
	static const struct {
		struct classify_event ev;
		enum classify_kind kind;
		const char *schema;
	} cases[] = {
		{ EV(SQLITE_PRAGMA, "User_Version", "1", NULL, NULL), CLASSIFY_WRITE, "main" },
		{ EV(SQLITE_PRAGMA, "JOURNAL_MODE", "wal", "aux", NULL), CLASSIFY_WRITE, "aux" },
		{ EV(SQLITE_PRAGMA, "journal_mode", NULL, "aux", NULL), CLASSIFY_LOCAL, NULL },
		{ EV(SQLITE_PRAGMA, "incremental_vacuum", NULL, "aux", NULL), CLASSIFY_WRITE, "aux" },
		{ EV(SQLITE_PRAGMA, "optimize", "0xfffe", NULL, NULL), CLASSIFY_WRITE, "main" },
		{ EV(SQLITE_PRAGMA, "wal_checkpoint", "TRUNCATE", NULL, NULL), CLASSIFY_WRITE, "main" },
		{ EV(SQLITE_PRAGMA, "user_version", "3", "temp", NULL), CLASSIFY_LOCAL, NULL },
		{ EV(SQLITE_PRAGMA, "user_version", "3", "other", NULL), CLASSIFY_LOCAL, NULL },
		{ EV(SQLITE_PRAGMA, "table_info", "t", NULL, NULL), CLASSIFY_LOCAL, NULL },
		{ EV(SQLITE_PRAGMA, "user_versions", "3", NULL, NULL), CLASSIFY_LOCAL, NULL },
		{ EV(SQLITE_PRAGMA, NULL, "3", NULL, NULL), CLASSIFY_LOCAL, NULL },
	};
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		r = classify_events(&cases[i].ev, 1, "", false, &c);
		assert_result(&r, cases[i].kind, cases[i].schema, cases[i].kind == CLASSIFY_WRITE);
	}
}

static void test_vacuum_text(void **state)
{
	static const char *const litefs[] = { "main", "aux", "AUX", "a\"b", "x y", "into", "c]", NULL };
	static const struct expect cases[] = {
		WRITE("VACUUM", "main"),
		WRITE("vacuum\n", "main"),
		WRITE("VaCuUm;", "main"),
		WRITE("/* a */ -- b\n ; ;VACUUM -- c", "main"),
		WRITE("\t\r\n\fVACUUM/* unterminated", "main"),
		WRITE("VACUUM AUX", "AUX"),
		WRITE("VACUUM \"a\"\"b\"", "a\"b"),
		WRITE("VACUUM [x y]", "x y"),
		WRITE("VACUUM `c]` ;", "c]"),
		WRITE("VACUUM \"into\"", "into"),
		WRITE("VACUUM main INTOX", "main"), /* INTO is a word of its own */
		LOCAL("VACUUM INTO 'f'"),
		LOCAL("VACUUM\tinto ?"),
		LOCAL("VACUUM/**/INTO/**/'f'"),
		LOCAL("VACUUM 'aux' INTO 'f'"),
		LOCAL("VACUUM temp"),
		LOCAL("VACUUM \"TEMP\""),
		LOCAL("VACUUM other"),
		LOCAL("VACUUMX"),
		LOCAL("VACUUM_"),
		LOCAL("EXPLAIN VACUUM"),
		LOCAL("SELECT 'VACUUM'"),
		LOCAL("/* VACUUM */ SELECT 1"),
		LOCAL("-- VACUUM"),
		LOCAL("  /* unterminated"),
		UNSUP("VACUUM \"unterminated"),
		UNSUP("VACUUM [unterminated"),
		UNSUP("VACUUM + 1"),
	};
	struct names_ctx c = { .litefs = litefs };
	struct classify_result r;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		r = classify_events(NULL, 0, cases[i].sql, false, &c);
		if (!result_matches(&r, &cases[i])) {
			print_error("%s: expected %s %s, got %s %s\n", cases[i].sql,
				    kind_name(cases[i].kind),
				    cases[i].schema ? cases[i].schema : "-", kind_name(r.kind),
				    r.schema ? r.schema : "-");
			fail();
		}
	}
}

/* Which reads are of a LiteFS database: inside a transaction that has written, those run on
 * the primary. */
static void test_reads_litefs(void **state)
{
	static const struct classify_event main_read[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_READ, "t", "a", "main", NULL),
		EV(SQLITE_READ, "t", "b", "main", NULL),
	};
	static const struct classify_event temp_read[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_READ, "x", "a", "temp", NULL),
	};
	static const struct classify_event other_read[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_READ, "y", "a", "other", NULL),
		EV(SQLITE_READ, "x", "a", "temp", NULL),
	};
	static const struct classify_event mixed[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_READ, "y", "a", "other", NULL),
		EV(SQLITE_READ, "t", "a", "aux", NULL),
	};
	/* PRAGMA user_version / PRAGMA aux.table_info(t) / PRAGMA foreign_keys */
	static const struct classify_event pragma_main[] = {
		EV(SQLITE_PRAGMA, "user_version", NULL, NULL, NULL),
	};
	static const struct classify_event pragma_aux[] = {
		EV(SQLITE_PRAGMA, "table_info", "t", "aux", NULL),
	};
	static const struct classify_event pragma_other[] = {
		EV(SQLITE_PRAGMA, "TABLE_INFO", "t", "other", NULL),
	};
	static const struct classify_event pragma_setting[] = {
		EV(SQLITE_PRAGMA, "foreign_keys", NULL, NULL, NULL),
	};
	/* SELECT count(*) FROM t: the table, no column, no schema */
	static const struct classify_event rows_only[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_FUNCTION, NULL, "count", NULL, NULL),
		EV(SQLITE_READ, "t", "", NULL, NULL),
	};
	static const struct classify_event no_table[] = {
		EV(SQLITE_SELECT, NULL, NULL, NULL, NULL),
		EV(SQLITE_FUNCTION, NULL, "abs", NULL, NULL),
	};
	struct names_ctx c = { .litefs = main_aux };
	struct classify_result r;

	(void)state;
	r = classify_events(main_read, ARRAY_SIZE(main_read), "", false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	assert_true(r.reads_litefs);
	assert_int_equal(c.calls, 1);  /* once per schema */
	r = classify_events(temp_read, ARRAY_SIZE(temp_read), "", false, &c);
	assert_false(r.reads_litefs);
	r = classify_events(other_read, ARRAY_SIZE(other_read), "", false, &c);
	assert_false(r.reads_litefs);
	r = classify_events(mixed, ARRAY_SIZE(mixed), "", false, &c);
	assert_true(r.reads_litefs);
	r = classify_events(rows_only, ARRAY_SIZE(rows_only), "", false, &c);
	assert_true(r.reads_litefs);
	r = classify_events(pragma_main, ARRAY_SIZE(pragma_main), "", false, &c);
	assert_result(&r, CLASSIFY_LOCAL, NULL, false);
	assert_true(r.reads_litefs);
	r = classify_events(pragma_aux, ARRAY_SIZE(pragma_aux), "", false, &c);
	assert_true(r.reads_litefs);
	r = classify_events(pragma_other, ARRAY_SIZE(pragma_other), "", false, &c);
	assert_false(r.reads_litefs);
	r = classify_events(pragma_setting, ARRAY_SIZE(pragma_setting), "", false, &c);
	assert_false(r.reads_litefs);
	r = classify_events(no_table, ARRAY_SIZE(no_table), "SELECT abs(-1)", false, &c);
	assert_false(r.reads_litefs);
	/* a write's reads are not its kind */
	r = classify_events(main_read, ARRAY_SIZE(main_read), "", true, &c);
	assert_false(r.reads_litefs);
}

/* The transaction control statements, as SQLite's grammar spells them. */
static void test_txn_op(void **state)
{
	static const struct {
		const char *sql;
		enum classify_txn_op op;
	} cases[] = {
		{ "BEGIN", CLASSIFY_TXN_BEGIN },
		{ "begin transaction", CLASSIFY_TXN_BEGIN },
		{ "  BEGIN DEFERRED TRANSACTION;", CLASSIFY_TXN_BEGIN },
		{ "BEGIN IMMEDIATE", CLASSIFY_TXN_BEGIN_WRITE },
		{ "/* c */ begin -- x\n exclusive", CLASSIFY_TXN_BEGIN_WRITE },
		{ "BEGIN IMMEDIATEX", CLASSIFY_TXN_BEGIN },
		{ "COMMIT", CLASSIFY_TXN_COMMIT },
		{ "commit transaction", CLASSIFY_TXN_COMMIT },
		{ "END", CLASSIFY_TXN_COMMIT },
		{ "ROLLBACK", CLASSIFY_TXN_ROLLBACK },
		{ "ROLLBACK TRANSACTION", CLASSIFY_TXN_ROLLBACK },
		{ "ROLLBACK TO sp", CLASSIFY_TXN_ROLLBACK_TO },
		{ "rollback transaction to savepoint sp", CLASSIFY_TXN_ROLLBACK_TO },
		{ "SAVEPOINT sp", CLASSIFY_TXN_SAVEPOINT },
		{ "RELEASE sp", CLASSIFY_TXN_RELEASE },
		{ "RELEASE SAVEPOINT sp", CLASSIFY_TXN_RELEASE },
		{ ";BEGIN", CLASSIFY_TXN_BEGIN },
		{ "", CLASSIFY_TXN_UNKNOWN },
		{ "SELECT 1", CLASSIFY_TXN_UNKNOWN },
		{ "BEGINNING", CLASSIFY_TXN_UNKNOWN },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (classify_txn_op(cases[i].sql) != cases[i].op)
			fail_msg("'%s': %d, want %d", cases[i].sql, classify_txn_op(cases[i].sql),
				 cases[i].op);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_dml, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_triggers, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_ddl, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_alter, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_explain, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_pragmas, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_vacuum, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_attach, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_analyze_reindex, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_single_database, setup_single, teardown),
		cmocka_unit_test_setup_teardown(test_main_not_litefs, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_eponymous_tables, setup_attached, teardown),
		cmocka_unit_test_setup_teardown(test_vacuum_schema_lifetime, setup_attached,
						teardown),
		cmocka_unit_test(test_null_database_is_main),
		cmocka_unit_test(test_alter_schema_is_arg1),
		cmocka_unit_test(test_unknown_action),
		cmocka_unit_test(test_transaction_and_write),
		cmocka_unit_test(test_nothing_reported),
		cmocka_unit_test(test_schemas_combined),
		cmocka_unit_test(test_declare_echo),
		cmocka_unit_test(test_temp_trigger_echo),
		cmocka_unit_test(test_pragma_events),
		cmocka_unit_test(test_vacuum_text),
		cmocka_unit_test(test_reads_litefs),
		cmocka_unit_test(test_txn_op),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
