/* The real SQLite functions behind the interposed ones, and the few others the interposer
 * calls. Resolved once, from the libsqlite3 the program actually loaded: a program that
 * loads it privately (Python, Tcl: RTLD_LOCAL) hides it from dlsym(RTLD_NEXT), so the
 * library is looked up by name with RTLD_NOLOAD first. Like SQLite's own table of system
 * calls, every entry can be replaced (tests inject faults through it). */
#ifndef REAL_H
#define REAL_H

#include <sqlite3.h>
#include <stdbool.h>

struct real_api {
	int (*prepare)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
	int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
	int (*prepare_v3)(sqlite3 *, const char *, int, unsigned int, sqlite3_stmt **,
			  const char **);
	int (*prepare16_v2)(sqlite3 *, const void *, int, sqlite3_stmt **, const void **);
	int (*prepare16_v3)(sqlite3 *, const void *, int, unsigned int, sqlite3_stmt **,
			    const void **);
	int (*step)(sqlite3_stmt *);
	int (*reset)(sqlite3_stmt *);
	int (*finalize)(sqlite3_stmt *);
	int (*clear_bindings)(sqlite3_stmt *);
	int (*bind_null)(sqlite3_stmt *, int);
	int (*bind_int)(sqlite3_stmt *, int, int);
	int (*bind_int64)(sqlite3_stmt *, int, sqlite3_int64);
	int (*bind_double)(sqlite3_stmt *, int, double);
	int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
	int (*bind_text16)(sqlite3_stmt *, int, const void *, int, void (*)(void *));
	int (*bind_text64)(sqlite3_stmt *, int, const char *, sqlite3_uint64, void (*)(void *),
			   unsigned char);
	int (*bind_blob)(sqlite3_stmt *, int, const void *, int, void (*)(void *));
	int (*bind_blob64)(sqlite3_stmt *, int, const void *, sqlite3_uint64, void (*)(void *));
	int (*bind_zeroblob)(sqlite3_stmt *, int, int);
	int (*bind_zeroblob64)(sqlite3_stmt *, int, sqlite3_uint64);
	int (*bind_value)(sqlite3_stmt *, int, const sqlite3_value *);
	int (*bind_pointer)(sqlite3_stmt *, int, void *, const char *, void (*)(void *));
	int (*bind_parameter_count)(sqlite3_stmt *);
	int (*column_count)(sqlite3_stmt *);
	const char *(*column_name)(sqlite3_stmt *, int);
	const char *(*column_decltype)(sqlite3_stmt *, int);
	int (*data_count)(sqlite3_stmt *);
	int (*column_type)(sqlite3_stmt *, int);
	int (*column_int)(sqlite3_stmt *, int);
	sqlite3_int64 (*column_int64)(sqlite3_stmt *, int);
	double (*column_double)(sqlite3_stmt *, int);
	const unsigned char *(*column_text)(sqlite3_stmt *, int);
	const void *(*column_text16)(sqlite3_stmt *, int);
	const void *(*column_blob)(sqlite3_stmt *, int);
	int (*column_bytes)(sqlite3_stmt *, int);
	int (*column_bytes16)(sqlite3_stmt *, int);
	sqlite3_value *(*column_value)(sqlite3_stmt *, int);
	int (*changes)(sqlite3 *);
	sqlite3_int64 (*changes64)(sqlite3 *);
	int (*total_changes)(sqlite3 *);
	sqlite3_int64 (*total_changes64)(sqlite3 *);
	sqlite3_int64 (*last_insert_rowid)(sqlite3 *);
	void (*set_last_insert_rowid)(sqlite3 *, sqlite3_int64);
	int (*errcode)(sqlite3 *);
	int (*extended_errcode)(sqlite3 *);
	const char *(*errmsg)(sqlite3 *);
	const void *(*errmsg16)(sqlite3 *);
	int (*error_offset)(sqlite3 *);
	int (*get_autocommit)(sqlite3 *);
	int (*db_config)(sqlite3 *, int, ...);
	int (*extended_result_codes)(sqlite3 *, int);
	int (*busy_timeout)(sqlite3 *, int);
	int (*set_authorizer)(sqlite3 *, int (*)(void *, int, const char *, const char *,
						   const char *, const char *),
			      void *);
	int (*exec)(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *,
		    char **);
	int (*close)(sqlite3 *);
	int (*close_v2)(sqlite3 *);
	/* not interposed, only called */
	sqlite3 *(*db_handle)(sqlite3_stmt *);
	const char *(*sql)(sqlite3_stmt *);
	int (*stmt_isexplain)(sqlite3_stmt *);
	int (*stmt_readonly)(sqlite3_stmt *);  /* interposed */
	const char *(*uri_parameter)(sqlite3_filename, const char *);
	const char *(*db_filename)(sqlite3 *, const char *);
	int (*open_v2)(const char *, sqlite3 **, int, const char *);
	const char *(*errstr)(int);
	void *(*malloc64)(sqlite3_uint64);
	void (*free)(void *);
	char *(*mprintf)(const char *, ...);
	int (*value_type)(sqlite3_value *);
	sqlite3_int64 (*value_int64)(sqlite3_value *);
	double (*value_double)(sqlite3_value *);
	const void *(*value_blob)(sqlite3_value *);
	const unsigned char *(*value_text)(sqlite3_value *);
	int (*value_bytes)(sqlite3_value *);
	/* optional (SQLite 3.34 and later): NULL when the library has none */
	int (*txn_state)(sqlite3 *, const char *);
};

/* The table; every entry is set once real_resolve() has returned true. */
extern struct real_api real_sqlite;

/* Set once the table is resolved. */
extern int real_ready;

/* Resolves the table (once; thread-safe). Returns false when libsqlite3 cannot be found,
 * which cannot happen while a program calls into it through us. */
bool real_resolve_slow(void);

/* Every hook calls this first: after the first call, one load. */
static inline bool real_resolve(void)
{
	if (__builtin_expect(__atomic_load_n(&real_ready, __ATOMIC_ACQUIRE), 1))
		return true;
	return real_resolve_slow();
}

#endif
