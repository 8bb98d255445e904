/* Statement classification: which statements must go to the primary.
 *
 * The input is what SQLite's authorizer reported while the statement was prepared. What
 * SQLite 3.40.1 reports, and how each report is read here:
 *
 * - INSERT/UPDATE/DELETE, CREATE/DROP of tables, indexes, triggers, views and virtual
 *   tables, ANALYZE and REINDEX name the database they modify in the `db` argument (NULL is
 *   read as "main"). Writes made by triggers carry the trigger's name and count like any
 *   other: they are reported at prepare time whether or not a row will change, and the
 *   statement that fires them is what must be forwarded. Foreign key actions (ON DELETE
 *   CASCADE) are reported the same way.
 * - CREATE_TEMP_* / DROP_TEMP_* and any write to database "temp" are connection-local.
 * - ALTER TABLE reports the schema in arg1; its `db` argument is NULL, except for
 *   DROP COLUMN where it holds the name of the dropped column. arg1 is what counts.
 * - PRAGMA reports the pragma name (as written) in arg1, its value (or NULL) in arg2 and
 *   the schema (or NULL for "main") in `db`.
 * - BEGIN/COMMIT/END/ROLLBACK and SAVEPOINT/RELEASE/ROLLBACK TO are transaction control.
 * - VACUUM reports nothing at all: it is recognised from the statement text.
 * - REINDEX of an object with no index to rebuild reports nothing, and changes nothing.
 *
 * Two reports are echoes of work that does not belong to the statement, and are skipped:
 * - The first use of an eponymous virtual table on a connection (json_each, pragma_*,
 *   dbstat, ...) declares its columns with a CREATE TABLE that SQLite parses for real, and
 *   the end of that parse reports UPDATE of sqlite_master columns type, name, tbl_name,
 *   rootpage and sql, then READ of its ROWID, in database "main", from any statement
 *   (a SELECT included). A real CREATE reports that same sequence, but it also reports
 *   its own CREATE_* event (and an INSERT into sqlite_master), which are what count.
 * - CREATE TEMP TRIGGER on a table of another database reports, right after
 *   CREATE_TEMP_TRIGGER, an INSERT into that database's sqlite_master, although the
 *   trigger is stored in sqlite_temp_master (which is reported next).
 *
 * PRAGMAs that change the database file (persistent_pragma):
 * - With a value only (without one they read): application_id, auto_vacuum,
 *   default_cache_size, encoding, journal_mode, page_size, schema_version, user_version.
 *   encoding and page_size only take effect on a database not created yet (page_size also
 *   at the next VACUUM): they go where the database is written, like auto_vacuum.
 * - With or without a value (they act rather than set): incremental_vacuum (with no
 *   value it frees every free page), wal_checkpoint (copies the WAL into the database
 *   file, which only the primary can do: a replica's files are not writable) and optimize
 *   (runs ANALYZE where statistics are stale).
 * - An unqualified journal_mode, wal_checkpoint or optimize applies to every database of
 *   the connection; like any write with no schema, it is read as a write to "main".
 * Every other pragma is connection-local or reads, whatever its value (unknown pragmas are
 * no-ops in SQLite).
 *
 * The written schemas (temp excluded) decide: none, or only non-LiteFS ones: LOCAL;
 * exactly one, a LiteFS one: WRITE; LiteFS and non-LiteFS, or two LiteFS ones:
 * UNSUPPORTED. Transaction control: TXN, or UNSUPPORTED if the statement also writes
 * anything (SQLite never reports both for one statement). An action code this file does
 * not know makes the statement UNSUPPORTED (unless it is an EXPLAIN). Tables a write reads
 * do not matter. */
#include "classify.h"
#include "sqltext.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Distinct written schemas of one statement: "main" plus at most SQLITE_MAX_ATTACHED (125)
 * attached databases; more is impossible and makes the statement UNSUPPORTED. */
#define CLASSIFY_MAX_SCHEMAS 128
/* Distinct names of attached databases ever vacuumed, kept for the process lifetime. */
#define CLASSIFY_MAX_INTERNED 1024

static const char classify_main[] = "main";

/* --- names --------------------------------------------------------------------------- */

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive equality, the way SQLite compares identifiers. */
static bool name_eq(const char *a, const char *b)
{
	while (*a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b);
}

static bool is_temp(const char *schema)
{
	return name_eq(schema, "temp");
}

static bool is_schema_table(const char *name)
{
	return name && (name_eq(name, "sqlite_master") || name_eq(name, "sqlite_schema") ||
			name_eq(name, "sqlite_temp_master") || name_eq(name, "sqlite_temp_schema"));
}

static bool same_db(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* --- reports that are not the statement's own ----------------------------------------- */

/* Number of events at ev[i] that form the end-of-CREATE-TABLE echo (5 UPDATEs of
 * sqlite_master columns and a READ of its ROWID, one database, no trigger), or 0. */
static size_t declare_echo_len(const struct classify_event *ev, size_t nev, size_t i)
{
	static const char *const cols[] = { "type", "name", "tbl_name", "rootpage", "sql" };
	const size_t ncols = sizeof(cols) / sizeof(cols[0]);
	const struct classify_event *e;

	if (nev - i < ncols + 1)
		return 0;
	for (size_t k = 0; k < ncols; k++) {
		e = &ev[i + k];
		if (e->action != SQLITE_UPDATE || !is_schema_table(e->arg1) || !e->arg2 ||
		    strcmp(e->arg2, cols[k]) != 0 || e->trigger || !same_db(e->db, ev[i].db))
			return 0;
	}
	e = &ev[i + ncols];
	if (e->action != SQLITE_READ || !is_schema_table(e->arg1) || !e->arg2 ||
	    !name_eq(e->arg2, "ROWID") || e->trigger || !same_db(e->db, ev[i].db))
		return 0;
	return ncols + 1;
}

/* The INSERT into sqlite_master that CREATE TEMP TRIGGER reports for the database of the
 * trigger's table, right after CREATE_TEMP_TRIGGER. */
static bool temp_trigger_echo(const struct classify_event *ev, size_t i)
{
	return i > 0 && ev[i - 1].action == SQLITE_CREATE_TEMP_TRIGGER &&
	       ev[i].action == SQLITE_INSERT && is_schema_table(ev[i].arg1) && !ev[i].trigger;
}

/* --- pragmas ----------------------------------------------------------------------------- */

static bool pragma_changes_file(const char *name, const char *value)
{
	static const char *const with_value[] = {
		"application_id", "auto_vacuum", "default_cache_size", "encoding",
		"journal_mode",   "page_size",   "schema_version",     "user_version",
	};
	static const char *const always[] = { "incremental_vacuum", "optimize", "wal_checkpoint" };

	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (name_eq(name, always[i]))
			return true;
	if (!value)
		return false;
	for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
		if (name_eq(name, with_value[i]))
			return true;
	return false;
}

/* Whether PRAGMA name, run without a value, reports what is in the database (its header,
 * its schema, its pages) rather than a setting of the connection: inside a transaction that
 * has written, only the primary can answer it. */
static bool pragma_reads_file(const char *name)
{
	static const char *const reads[] = {
		"application_id", "data_version",  "foreign_key_check", "foreign_key_list",
		"freelist_count", "index_info",    "index_list",        "index_xinfo",
		"integrity_check", "page_count",   "quick_check",       "schema_version",
		"table_info",     "table_list",    "table_xinfo",       "user_version",
	};

	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (name_eq(name, reads[i]))
			return true;
	return false;
}

/* --- VACUUM, from the statement text ---------------------------------------------------- */

enum vacuum_kind {
	VACUUM_NONE,    /* not a VACUUM: nothing to add */
	VACUUM_INTO,    /* VACUUM ... INTO: reads the database, writes another file */
	VACUUM_SCHEMA,  /* VACUUM [schema]: rewrites that database */
	VACUUM_UNKNOWN, /* looks like a VACUUM but cannot be read */
};

/* Reads a VACUUM statement. For VACUUM_SCHEMA, *name is NULL for "main" (no schema), or a
 * malloc'ed, dequoted copy of the schema name. */
static enum vacuum_kind parse_vacuum(const char *sql, char **name)
{
	const char *p, *start;
	size_t n;
	char *copy;

	*name = NULL;
	if (!sql)
		return VACUUM_NONE;
	p = sqltext_skip_blank(sql, true);
	n = sqltext_word_len(p);
	if (!sqltext_word_eq(p, n, "VACUUM"))
		return VACUUM_NONE;
	p = sqltext_skip_blank(p + n, false);
	if (!*p || *p == ';')
		return VACUUM_SCHEMA;
	n = sqltext_word_len(p);
	if (n) {
		if (sqltext_word_eq(p, n, "INTO"))
			return VACUUM_INTO;
		copy = strndup(p, n);
		if (!copy)
			return VACUUM_UNKNOWN;
		p += n;
	} else if (*p == '"' || *p == '\'' || *p == '`' || *p == '[') {
		char close = *p == '[' ? ']' : *p;
		size_t len = 0;

		start = ++p;
		/* The dequoted name is never longer than the quoted text. */
		while (*p && (*p != close || (close != ']' && p[1] == close))) {
			p += *p == close ? 2 : 1;
		}
		if (!*p)
			return VACUUM_UNKNOWN;
		copy = malloc((size_t)(p - start) + 1);
		if (!copy)
			return VACUUM_UNKNOWN;
		for (const char *q = start; q < p; q++) {
			copy[len++] = *q;
			if (*q == close)
				q++;
		}
		copy[len] = '\0';
		p++;
	} else {
		return VACUUM_UNKNOWN;
	}
	p = sqltext_skip_blank(p, false);
	n = sqltext_word_len(p);
	if (sqltext_word_eq(p, n, "INTO")) {
		free(copy);
		return VACUUM_INTO;
	}
	*name = copy;
	return VACUUM_SCHEMA;
}

/* Attached database names that VACUUM wrote, kept for the lifetime of the process so that
 * a result can point at them: a lock-free, append-only list (a name may appear twice after
 * a race, which is harmless). */
struct interned_name {
	struct interned_name *next;
	char name[];
};

static struct interned_name *interned_head;
static unsigned interned_count;

static const char *intern_name(const char *name)
{
	struct interned_name *e, *head;
	size_t len;

	for (e = __atomic_load_n(&interned_head, __ATOMIC_ACQUIRE); e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e->name;
	if (__atomic_add_fetch(&interned_count, 1, __ATOMIC_RELAXED) > CLASSIFY_MAX_INTERNED)
		return NULL;
	len = strlen(name);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->name, name, len + 1);
	head = __atomic_load_n(&interned_head, __ATOMIC_RELAXED);
	do {
		e->next = head;
	} while (!__atomic_compare_exchange_n(&interned_head, &head, e, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	return e->name;
}

/* --- the written schemas ----------------------------------------------------------------- */

struct written {
	classify_is_litefs_fn is_litefs;
	void *ctx;
	const char *names[CLASSIFY_MAX_SCHEMAS];
	size_t n;
	const char *litefs;   /* the first LiteFS schema written */
	size_t nlitefs;       /* distinct LiteFS schemas written */
	bool other;           /* a non-LiteFS schema is written */
	bool overflow;
};

/* Returns the index of schema in w->names, or w->n. */
static size_t written_find(const struct written *w, const char *schema)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (name_eq(w->names[i], schema))
			break;
	return i;
}

/* Records a write to schema (never temp); litefs is -1 when the caller has to be asked. */
static void written_add(struct written *w, const char *schema, int litefs)
{
	if (written_find(w, schema) < w->n)
		return;
	if (w->n == CLASSIFY_MAX_SCHEMAS) {
		w->overflow = true;
		return;
	}
	w->names[w->n++] = schema;
	if (litefs < 0)
		litefs = w->is_litefs(w->ctx, schema);
	if (litefs) {
		if (!w->nlitefs)
			w->litefs = schema;
		w->nlitefs++;
	} else {
		w->other = true;
	}
}

/* The write of a VACUUM statement. Returns false when it cannot be told apart. */
static bool add_vacuum(struct written *w, const char *sql, bool *wrote)
{
	const char *stable;
	char *name;
	bool litefs;

	switch (parse_vacuum(sql, &name)) {
	case VACUUM_NONE:
	case VACUUM_INTO:
		return true;
	case VACUUM_UNKNOWN:
		return false;
	case VACUUM_SCHEMA:
		break;
	}
	*wrote = true;
	if (!name || name_eq(name, classify_main)) {
		free(name);
		written_add(w, classify_main, -1);
		return true;
	}
	if (is_temp(name)) {
		free(name);
		return true;
	}
	if (written_find(w, name) < w->n) {
		free(name);
		return true;
	}
	litefs = w->is_litefs(w->ctx, name);
	if (!litefs) {
		w->other = true;
		free(name);
		return true;
	}
	stable = intern_name(name);
	free(name);
	if (!stable)
		return false;
	written_add(w, stable, 1);
	return true;
}

/* --- the classification ----------------------------------------------------------------- */

/* The distinct schemas a statement reads (temp left out). */
#define READS_MAX 8
struct reads {
	const char *schema[READS_MAX];
	size_t n;
	bool overflow;
};

static void read_add(struct reads *r, const char *schema)
{
	/* SQLite names no schema for a table read for its rows alone (count(*)): it may be
	 * any, so it counts as a LiteFS one. */
	if (!schema) {
		r->overflow = true;
		return;
	}
	if (is_temp(schema))
		return;
	for (size_t i = 0; i < r->n; i++)
		if (same_db(r->schema[i], schema))
			return;
	if (r->n == READS_MAX)
		r->overflow = true;
	else
		r->schema[r->n++] = schema;
}

/* Whether one of the schemas read is a LiteFS database; true when there were too many to
 * keep, or one was not named (forwarding a read inside a session is the safe side). */
static bool reads_litefs(const struct reads *r, classify_is_litefs_fn is_litefs, void *ctx)
{
	if (r->overflow)
		return true;
	for (size_t i = 0; i < r->n; i++)
		if (is_litefs(ctx, r->schema[i]))
			return true;
	return false;
}

void classify_statement(const struct classify_event *ev, size_t nev, const char *sql,
			bool explain, classify_is_litefs_fn is_litefs, void *ctx,
			struct classify_result *out)
{
	struct written w = { .is_litefs = is_litefs, .ctx = ctx };
	struct reads reads = { 0 };
	bool txn = false, wrote = false, unknown = false, pragma = false;

	out->kind = CLASSIFY_LOCAL;
	out->schema = NULL;
	out->persistent_pragma = false;
	out->reads_litefs = false;
	if (explain)
		return;

	for (size_t i = 0; i < nev; i++) {
		const struct classify_event *e = &ev[i];
		const char *schema = NULL;
		bool write = false;
		size_t echo = declare_echo_len(ev, nev, i);

		if (echo) {
			i += echo - 1;
			continue;
		}
		if (temp_trigger_echo(ev, i))
			continue;
		switch (e->action) {
		case SQLITE_TRANSACTION:
		case SQLITE_SAVEPOINT:
			txn = true;
			break;
		case SQLITE_READ:
			read_add(&reads, e->db);
			break;
		case SQLITE_SELECT:
		case SQLITE_FUNCTION:
		case SQLITE_RECURSIVE:
		case SQLITE_ATTACH:
		case SQLITE_DETACH:
			break;
		case SQLITE_CREATE_TEMP_INDEX:
		case SQLITE_CREATE_TEMP_TABLE:
		case SQLITE_CREATE_TEMP_TRIGGER:
		case SQLITE_CREATE_TEMP_VIEW:
		case SQLITE_DROP_TEMP_INDEX:
		case SQLITE_DROP_TEMP_TABLE:
		case SQLITE_DROP_TEMP_TRIGGER:
		case SQLITE_DROP_TEMP_VIEW:
			wrote = true;
			break;
		case SQLITE_ALTER_TABLE:
			write = true;
			schema = e->arg1;
			break;
		case SQLITE_PRAGMA:
			if (pragma_changes_file(e->arg1, e->arg2)) {
				write = true;
				pragma = true;
				schema = e->db;
			} else if (pragma_reads_file(e->arg1)) {
				read_add(&reads, e->db ? e->db : classify_main);
			}
			break;
		case SQLITE_COPY: /* no longer reported; it was a write */
		case SQLITE_INSERT:
		case SQLITE_UPDATE:
		case SQLITE_DELETE:
		case SQLITE_CREATE_INDEX:
		case SQLITE_CREATE_TABLE:
		case SQLITE_CREATE_TRIGGER:
		case SQLITE_CREATE_VIEW:
		case SQLITE_CREATE_VTABLE:
		case SQLITE_DROP_INDEX:
		case SQLITE_DROP_TABLE:
		case SQLITE_DROP_TRIGGER:
		case SQLITE_DROP_VIEW:
		case SQLITE_DROP_VTABLE:
		case SQLITE_ANALYZE:
		case SQLITE_REINDEX:
			write = true;
			schema = e->db;
			break;
		default:
			unknown = true;
			break;
		}
		if (!write)
			continue;
		wrote = true;
		if (!schema)
			schema = classify_main;
		if (!is_temp(schema))
			written_add(&w, schema, -1);
	}
	if (!add_vacuum(&w, sql, &wrote))
		unknown = true;

	if (unknown || w.overflow || (txn && wrote)) {
		out->kind = CLASSIFY_UNSUPPORTED;
	} else if (txn) {
		out->kind = CLASSIFY_TXN;
	} else if (w.nlitefs == 0) {
		out->kind = CLASSIFY_LOCAL;
		out->reads_litefs = reads_litefs(&reads, is_litefs, ctx);
	} else if (w.nlitefs == 1 && !w.other) {
		out->kind = CLASSIFY_WRITE;
		out->schema = w.litefs;
		out->persistent_pragma = pragma;
	} else {
		out->kind = CLASSIFY_UNSUPPORTED;
	}
}

enum classify_txn_op classify_txn_op(const char *sql)
{
	const char *p = sqltext_skip_blank(sql, true);
	size_t n = sqltext_word_len(p);

	if (sqltext_word_eq(p, n, "commit") || sqltext_word_eq(p, n, "end"))
		return CLASSIFY_TXN_COMMIT;
	if (sqltext_word_eq(p, n, "savepoint"))
		return CLASSIFY_TXN_SAVEPOINT;
	if (sqltext_word_eq(p, n, "release"))
		return CLASSIFY_TXN_RELEASE;
	if (sqltext_word_eq(p, n, "begin")) {
		p = sqltext_skip_blank(p + n, false);
		n = sqltext_word_len(p);
		if (sqltext_word_eq(p, n, "immediate") || sqltext_word_eq(p, n, "exclusive"))
			return CLASSIFY_TXN_BEGIN_WRITE;
		return CLASSIFY_TXN_BEGIN;
	}
	if (sqltext_word_eq(p, n, "rollback")) {
		p = sqltext_skip_blank(p + n, false);
		n = sqltext_word_len(p);
		if (sqltext_word_eq(p, n, "transaction")) {
			p = sqltext_skip_blank(p + n, false);
			n = sqltext_word_len(p);
		}
		return sqltext_word_eq(p, n, "to") ? CLASSIFY_TXN_ROLLBACK_TO : CLASSIFY_TXN_ROLLBACK;
	}
	return CLASSIFY_TXN_UNKNOWN;
}
