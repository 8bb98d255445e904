/* Resolution of the real SQLite API (see real.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "real.h"

struct real_api real_sqlite;
int real_ready;

static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static bool real_ok;

struct real_entry {
	const char *name;
	size_t offset;
};

#define E(field, sym) {#sym, offsetof(struct real_api, field)}
static const struct real_entry real_entries[] = {
	E(prepare, sqlite3_prepare), E(prepare_v2, sqlite3_prepare_v2),
	E(prepare_v3, sqlite3_prepare_v3), E(prepare16_v2, sqlite3_prepare16_v2),
	E(prepare16_v3, sqlite3_prepare16_v3), E(step, sqlite3_step), E(reset, sqlite3_reset),
	E(finalize, sqlite3_finalize), E(clear_bindings, sqlite3_clear_bindings),
	E(bind_null, sqlite3_bind_null), E(bind_int, sqlite3_bind_int),
	E(bind_int64, sqlite3_bind_int64), E(bind_double, sqlite3_bind_double),
	E(bind_text, sqlite3_bind_text), E(bind_text16, sqlite3_bind_text16),
	E(bind_text64, sqlite3_bind_text64), E(bind_blob, sqlite3_bind_blob),
	E(bind_blob64, sqlite3_bind_blob64), E(bind_zeroblob, sqlite3_bind_zeroblob),
	E(bind_zeroblob64, sqlite3_bind_zeroblob64), E(bind_value, sqlite3_bind_value),
	E(bind_pointer, sqlite3_bind_pointer),
	E(bind_parameter_count, sqlite3_bind_parameter_count),
	E(column_count, sqlite3_column_count), E(column_name, sqlite3_column_name),
	E(column_decltype, sqlite3_column_decltype), E(data_count, sqlite3_data_count),
	E(column_type, sqlite3_column_type), E(column_int, sqlite3_column_int),
	E(column_int64, sqlite3_column_int64), E(column_double, sqlite3_column_double),
	E(column_text, sqlite3_column_text), E(column_text16, sqlite3_column_text16),
	E(column_blob, sqlite3_column_blob), E(column_bytes, sqlite3_column_bytes),
	E(column_bytes16, sqlite3_column_bytes16), E(column_value, sqlite3_column_value),
	E(changes, sqlite3_changes), E(changes64, sqlite3_changes64),
	E(total_changes, sqlite3_total_changes), E(total_changes64, sqlite3_total_changes64),
	E(last_insert_rowid, sqlite3_last_insert_rowid),
	E(set_last_insert_rowid, sqlite3_set_last_insert_rowid),
	E(errcode, sqlite3_errcode), E(extended_errcode, sqlite3_extended_errcode),
	E(errmsg, sqlite3_errmsg), E(errmsg16, sqlite3_errmsg16),
	E(error_offset, sqlite3_error_offset), E(get_autocommit, sqlite3_get_autocommit), E(db_config, sqlite3_db_config),
	E(extended_result_codes, sqlite3_extended_result_codes),
	E(busy_timeout, sqlite3_busy_timeout), E(set_authorizer, sqlite3_set_authorizer),
	E(exec, sqlite3_exec), E(close, sqlite3_close), E(close_v2, sqlite3_close_v2),
	E(db_handle, sqlite3_db_handle), E(sql, sqlite3_sql),
	E(stmt_isexplain, sqlite3_stmt_isexplain), E(stmt_readonly, sqlite3_stmt_readonly),
	E(uri_parameter, sqlite3_uri_parameter),
	E(db_filename, sqlite3_db_filename), E(open_v2, sqlite3_open_v2),
	E(errstr, sqlite3_errstr), E(malloc64, sqlite3_malloc64), E(free, sqlite3_free),
	E(mprintf, sqlite3_mprintf), E(value_type, sqlite3_value_type),
	E(value_int64, sqlite3_value_int64), E(value_double, sqlite3_value_double),
	E(value_blob, sqlite3_value_blob), E(value_text, sqlite3_value_text),
	E(value_bytes, sqlite3_value_bytes),
};
#undef E

static void real_resolve_once(void)
{
	void *lib = dlopen("libsqlite3.so.0", RTLD_LAZY | RTLD_NOLOAD);
	bool ok = true;

	for (size_t i = 0; i < sizeof(real_entries) / sizeof(real_entries[0]); i++) {
		void *sym = lib ? dlsym(lib, real_entries[i].name) : NULL;

		if (!sym)
			sym = dlsym(RTLD_NEXT, real_entries[i].name);
		if (!sym) {
			ok = false;
			continue;
		}
		*(void **)((char *)&real_sqlite + real_entries[i].offset) = sym;
	}
	real_sqlite.txn_state = lib ? dlsym(lib, "sqlite3_txn_state") : NULL;
	if (!real_sqlite.txn_state)
		real_sqlite.txn_state = dlsym(RTLD_NEXT, "sqlite3_txn_state");
	/* The handle stays open: the library must outlive every call through the table. */
	real_ok = ok;
	if (ok)
		__atomic_store_n(&real_ready, 1, __ATOMIC_RELEASE);
}

bool real_resolve_slow(void)
{
	pthread_once(&real_once, real_resolve_once);
	return real_ok;
}
