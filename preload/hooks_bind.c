/* Interposed: parameter bindings. SQLite cannot tell a bound value back, and
 * sqlite3_expanded_sql loses precision and drops large blobs, so for a statement that may be
 * forwarded every binding is recorded, exactly, before SQLite gets it. */
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "real.h"
#include "state.h"

static __attribute__((noinline)) struct fwd_stmt *bind_lookup_slow(sqlite3_stmt *stmt, int i)
{
	struct fwd_stmt *s;

	if (guard_depth)
		return NULL;
	s = state_stmt(stmt);
	if (!s || i < 1 || i > s->nparams)
		return NULL;
	return s;
}

/* The record of stmt when its parameter i is to be recorded, else NULL. Inline: with no
 * statement tracked (LiteFS absent, or only reads), a binding costs two loads here. */
static inline struct fwd_stmt *bind_lookup(sqlite3_stmt *stmt, int i)
{
	real_resolve();
	if (__builtin_expect(!atomic_load_explicit(&state_nstmts, memory_order_relaxed), 1))
		return NULL;
	return bind_lookup_slow(stmt, i);
}

/* Replaces the recorded value of parameter i (1-based). */
static void bind_set(struct fwd_stmt *s, int i, const struct wire_value *v)
{
	struct wire_value *slot = &s->params[i - 1];

	if (slot->type == WIRE_TEXT || slot->type == WIRE_TEXT16 || slot->type == WIRE_BLOB)
		free((void *)slot->u.s.p);
	*slot = *v;
}

/* Records bytes (copied; NULL stays a NULL value, as SQLite binds it). */
static void bind_bytes(struct fwd_stmt *s, int i, uint8_t type, const void *p, uint64_t n)
{
	struct wire_value v = {.type = WIRE_NULL};

	if (p) {
		void *copy = malloc(n ? n : 1);

		if (!copy) {
			/* never forward a wrong value: the next step fails with SQLITE_NOMEM */
			s->bind_failed = true;
			bind_set(s, i, &v);
			return;
		}
		memcpy(copy, p, n);
		v.type = type;
		v.u.s.p = copy;
		v.u.s.n = n;
	}
	bind_set(s, i, &v);
}

/* Records a value that owns no bytes (a struct wire_value initializer) for parameter i,
 * if stmt is tracked; the value is only built then. */
#define BIND_RECORD(stmt, i, ...)                                                          \
	do {                                                                               \
		real_resolve();                                                            \
		if (__builtin_expect(atomic_load_explicit(&state_nstmts,                    \
							  memory_order_relaxed), 0))        \
			bind_record_slow(stmt, i, (struct wire_value){__VA_ARGS__});        \
	} while (0)

static __attribute__((noinline)) void bind_record_slow(sqlite3_stmt *stmt, int i,
						       struct wire_value v)
{
	struct fwd_stmt *s = bind_lookup_slow(stmt, i);

	if (s)
		bind_set(s, i, &v);
}

int sqlite3_bind_null(sqlite3_stmt *stmt, int i)
{
	BIND_RECORD(stmt, i, .type = WIRE_NULL);
	return real_sqlite.bind_null(stmt, i);
}

int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, sqlite3_int64 x)
{
	BIND_RECORD(stmt, i, .type = WIRE_INTEGER, .u.i = x);
	return real_sqlite.bind_int64(stmt, i, x);
}

int sqlite3_bind_int(sqlite3_stmt *stmt, int i, int x)
{
	BIND_RECORD(stmt, i, .type = WIRE_INTEGER, .u.i = x);
	return real_sqlite.bind_int(stmt, i, x);
}

int sqlite3_bind_double(sqlite3_stmt *stmt, int i, double x)
{
	BIND_RECORD(stmt, i, .type = WIRE_FLOAT, .u.f = x);
	return real_sqlite.bind_double(stmt, i, x);
}

int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *p, int n, void (*d)(void *))
{
	struct fwd_stmt *s = bind_lookup(stmt, i);

	if (s)
		bind_bytes(s, i, WIRE_TEXT, p, p ? (n < 0 ? strlen(p) : (size_t)n) : 0);
	return real_sqlite.bind_text(stmt, i, p, n, d);
}

/* Length in bytes of a NUL-terminated UTF-16 string. */
static size_t bind_utf16_len(const void *p)
{
	const uint16_t *u = p;
	size_t n = 0;

	while (u[n])
		n++;
	return n * 2;
}

int sqlite3_bind_text16(sqlite3_stmt *stmt, int i, const void *p, int n, void (*d)(void *))
{
	struct fwd_stmt *s = bind_lookup(stmt, i);

	if (s)
		bind_bytes(s, i, WIRE_TEXT16, p, p ? (n < 0 ? bind_utf16_len(p) : (size_t)n & ~(size_t)1) : 0);
	return real_sqlite.bind_text16(stmt, i, p, n, d);
}

int sqlite3_bind_text64(sqlite3_stmt *stmt, int i, const char *p, sqlite3_uint64 n,
			void (*d)(void *), unsigned char enc)
{
	struct fwd_stmt *s = bind_lookup(stmt, i);

	if (s) {
		if (enc == SQLITE_UTF8)
			bind_bytes(s, i, WIRE_TEXT, p, n);
		else if (enc == WIRE_UTF16_NATIVE || enc == SQLITE_UTF16)
			bind_bytes(s, i, WIRE_TEXT16, p, n & ~(sqlite3_uint64)1);
		else {
			/* the other byte order: recorded in ours */
			uint8_t *copy = p ? malloc(n ? n : 1) : NULL;
			struct wire_value v = {.type = WIRE_NULL};

			if (copy) {
				for (sqlite3_uint64 k = 0; k + 1 < n; k += 2) {
					copy[k] = (uint8_t)p[k + 1];
					copy[k + 1] = (uint8_t)p[k];
				}
				v.type = WIRE_TEXT16;
				v.u.s.p = copy;
				v.u.s.n = n & ~(sqlite3_uint64)1;
			}
			bind_set(s, i, &v);
		}
	}
	return real_sqlite.bind_text64(stmt, i, p, n, d, enc);
}

int sqlite3_bind_blob(sqlite3_stmt *stmt, int i, const void *p, int n, void (*d)(void *))
{
	struct fwd_stmt *s = bind_lookup(stmt, i);

	if (s)
		bind_bytes(s, i, WIRE_BLOB, p, n > 0 ? (uint64_t)n : 0);
	return real_sqlite.bind_blob(stmt, i, p, n, d);
}

int sqlite3_bind_blob64(sqlite3_stmt *stmt, int i, const void *p, sqlite3_uint64 n,
			void (*d)(void *))
{
	struct fwd_stmt *s = bind_lookup(stmt, i);

	if (s)
		bind_bytes(s, i, WIRE_BLOB, p, n);
	return real_sqlite.bind_blob64(stmt, i, p, n, d);
}

int sqlite3_bind_zeroblob(sqlite3_stmt *stmt, int i, int n)
{
	BIND_RECORD(stmt, i, .type = WIRE_ZEROBLOB, .u.zero = n > 0 ? (uint64_t)n : 0);
	return real_sqlite.bind_zeroblob(stmt, i, n);
}

int sqlite3_bind_zeroblob64(sqlite3_stmt *stmt, int i, sqlite3_uint64 n)
{
	BIND_RECORD(stmt, i, .type = WIRE_ZEROBLOB, .u.zero = n);
	return real_sqlite.bind_zeroblob64(stmt, i, n);
}

int sqlite3_bind_value(sqlite3_stmt *stmt, int i, const sqlite3_value *val)
{
	struct fwd_stmt *s = bind_lookup(stmt, i);

	if (s) {
		sqlite3_value *v = (sqlite3_value *)val;
		struct wire_value w = {.type = WIRE_NULL};

		switch (real_sqlite.value_type(v)) {
		case SQLITE_INTEGER:
			w.type = WIRE_INTEGER;
			w.u.i = real_sqlite.value_int64(v);
			bind_set(s, i, &w);
			break;
		case SQLITE_FLOAT:
			w.type = WIRE_FLOAT;
			w.u.f = real_sqlite.value_double(v);
			bind_set(s, i, &w);
			break;
		case SQLITE_TEXT: {
			const unsigned char *t = real_sqlite.value_text(v);

			bind_bytes(s, i, WIRE_TEXT, t, (uint64_t)real_sqlite.value_bytes(v));
			break;
		}
		case SQLITE_BLOB: {
			const void *b = real_sqlite.value_blob(v);
			int n = real_sqlite.value_bytes(v);

			bind_bytes(s, i, WIRE_BLOB, b ? b : "", (uint64_t)n);
			break;
		}
		default:
			bind_set(s, i, &w);
		}
	}
	return real_sqlite.bind_value(stmt, i, val);
}

int sqlite3_bind_pointer(sqlite3_stmt *stmt, int i, void *p, const char *type,
			 void (*d)(void *))
{
	/* a pointer binding is NULL to SQL; only extension functions can see it */
	BIND_RECORD(stmt, i, .type = WIRE_NULL);
	return real_sqlite.bind_pointer(stmt, i, p, type, d);
}

int sqlite3_clear_bindings(sqlite3_stmt *stmt)
{
	struct fwd_stmt *s;

	real_resolve();
	if (atomic_load_explicit(&state_nstmts, memory_order_relaxed) && !guard_depth &&
	    (s = state_stmt(stmt))) {
		state_stmt_free_params(s);
		s->bind_failed = false;
	}
	return real_sqlite.clear_bindings(stmt);
}
