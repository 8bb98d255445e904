/* Interposed: statement preparation, the authorizer, and the per-connection settings the
 * forwarder needs (busy timeout, extended result codes); connection close.
 *
 * While a statement is prepared, our authorizer (installed once per connection, in front of
 * the program's own, which it calls) records what SQLite reports the statement will touch;
 * classify.c then decides whether it writes to a LiteFS database. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "config.h"
#include "forward.h"
#include "guard.h"
#include "real.h"
#include "role.h"
#include "state.h"
#include "txn.h"

GUARD_TLS int guard_depth;

/* Authorizer events kept per prepare, at most; a statement with more is classified from
 * what it cannot be (see prep_end()). */
#define PREP_MAX_EVENTS 256

/* What SQLite's authorizer reports while this thread prepares a statement. It belongs to
 * the thread, not to the connection: the authorizer runs in the thread that prepares,
 * inside its call to SQLite, so threads preparing on one connection at once each record
 * their own statement's events, and no lock of ours is held across the real prepare (a
 * program may hold the connection's mutex around its prepare while another of its threads
 * waits in SQLite for it). Allocated at a thread's first prepare on a LiteFS connection and
 * freed when the thread exits. */
struct prep_capture {
	const struct fwd_conn *conn;   /* the connection being prepared on; NULL: none */
	struct classify_event events[PREP_MAX_EVENTS];
	size_t nevents;
	bool overflow;                 /* events were dropped: too many, or no memory */
	bool transient;                /* freed by prep_end() (no thread-exit destructor) */
	char *strings;                 /* copies of the events' strings */
	size_t strings_len, strings_cap;
};

/* The capture of the prepare under way in this thread (NULL: none), which the authorizer
 * fills; and this thread's capture, kept between its prepares. */
static GUARD_TLS struct prep_capture *prep_active;
static GUARD_TLS struct prep_capture *prep_cached;
static pthread_once_t prep_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t prep_key;  /* its destructor frees a thread's kept capture */
static bool prep_key_ok;

static void prep_capture_free(void *p)
{
	struct prep_capture *cap = p;

	if (cap == prep_cached)
		prep_cached = NULL;  /* a destructor run later in this thread may still prepare */
	if (cap)
		free(cap->strings);
	free(cap);
}

static void prep_key_create(void)
{
	prep_key_ok = pthread_key_create(&prep_key, prep_capture_free) == 0;
}

/* This thread's capture, made on first use (kept until the thread exits, or, when no
 * thread-exit destructor can be had, for this prepare only); NULL when memory ran out.
 * Not re-entrant per thread, and needs not be: while SQLite prepares, our hooks pass
 * straight through. */
static struct prep_capture *prep_capture_get(void)
{
	struct prep_capture *cap = prep_cached;

	if (cap)
		return cap;
	cap = calloc(1, sizeof(*cap));
	if (!cap)
		return NULL;
	pthread_once(&prep_key_once, prep_key_create);
	if (prep_key_ok && pthread_setspecific(prep_key, cap) == 0)
		prep_cached = cap;
	else
		cap->transient = true;
	return cap;
}

/* Copies s into cap's strings; events hold offsets until capture ends (the buffer may
 * move). Returns the offset + 1 as a pointer (NULL stays NULL), or NULL when memory ran out
 * (the event is then marked lost). */
static const char *prep_copy(struct prep_capture *cap, const char *s)
{
	size_t n;
	char *dst;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	if (cap->strings_len + n > cap->strings_cap) {
		size_t ncap = cap->strings_cap ? cap->strings_cap * 2 : 1024;
		char *ns;

		while (ncap < cap->strings_len + n)
			ncap *= 2;
		ns = realloc(cap->strings, ncap);
		if (!ns) {
			cap->overflow = true;
			return NULL;
		}
		cap->strings = ns;
		cap->strings_cap = ncap;
	}
	dst = cap->strings + cap->strings_len;
	memcpy(dst, s, n);
	cap->strings_len += n;
	return (const char *)(uintptr_t)(dst - cap->strings + 1);
}

/* Our authorizer, in front of the program's: records the event when this thread is
 * preparing a statement on c, then asks the program's own. */
static int prep_authorizer(void *arg, int action, const char *a1, const char *a2,
			   const char *db, const char *trigger)
{
	struct fwd_conn *c = arg;
	struct prep_capture *cap = prep_active;

	if (cap && cap->conn == c) {
		if (cap->nevents < PREP_MAX_EVENTS) {
			struct classify_event *e = &cap->events[cap->nevents++];

			e->action = action;
			e->arg1 = prep_copy(cap, a1);
			e->arg2 = prep_copy(cap, a2);
			e->db = prep_copy(cap, db);
			e->trigger = prep_copy(cap, trigger);
		} else {
			cap->overflow = true;
		}
	}
	if (c->user_auth)
		return c->user_auth(c->user_auth_arg, action, a1, a2, db, trigger);
	return SQLITE_OK;
}

/* The connection's state, made (with our authorizer installed) on first sight. NULL when
 * LiteFS is absent: then nothing is ever forwarded and every hook passes through. */
static struct fwd_conn *prep_conn(sqlite3 *db)
{
	struct fwd_conn *c;

	config_load();
	if (!fwd_config.litefs || !real_resolve() || !db)
		return NULL;
	c = state_conn(db, false);
	if (c)
		return c;
	c = state_conn(db, true);
	if (c) {
		guard_depth++;
		real_sqlite.set_authorizer(db, prep_authorizer, c);
		guard_depth--;
	}
	return c;
}

struct prep_ctx {
	sqlite3 *db;
	bool litefs_only;
};

/* True when the program asked for db's main database read-only (URI mode=ro): its writes
 * get SQLite's own refusal, as without the interposer. sqlite3_db_readonly() cannot tell
 * this from a replica's file that SQLite fell back to opening read-only because LiteFS
 * refused a writable open; those writes are forwarded. */
static bool prep_opened_readonly(sqlite3 *db)
{
	const char *mode = real_sqlite.uri_parameter(real_sqlite.db_filename(db, "main"), "mode");

	return mode && !strcmp(mode, "ro");
}

/* Whether schema of the connection is a file directly inside the LiteFS mount. */
static bool prep_is_litefs(void *arg, const char *schema)
{
	struct prep_ctx *ctx = arg;
	const char *path = real_sqlite.db_filename(ctx->db, schema);
	const char *slash;
	size_t mlen = strlen(fwd_config.mount);

	if (!path || !*path)
		return false;
	slash = strrchr(path, '/');
	return slash && (size_t)(slash - path) == mlen && !strncmp(path, fwd_config.mount, mlen) &&
	       slash[1] != '\0';
}

/* Before the real prepare of a statement on c: the read-your-writes wait the connection
 * owes (a prepare may read the schema), the end of a forwarded outcome's error state, and
 * this thread's capture started. Returns the capture (NULL when memory ran out: the
 * statement is then classified from nothing, see prep_end()). c->mu is taken only around
 * the error state, never across the real prepare. */
static struct prep_capture *prep_begin(struct fwd_conn *c)
{
	struct prep_capture *cap;

	forward_ryw_wait(c);
	if (__atomic_load_n(&c->fake_err, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&c->mu);
		forward_clear_error(c);
		pthread_mutex_unlock(&c->mu);
	}
	cap = prep_capture_get();
	if (cap) {
		cap->nevents = 0;
		cap->overflow = false;
		cap->strings_len = 0;
		cap->conn = c;
	}
	prep_active = cap;
	return cap;
}

/* After the real prepare returned rc and stmt: ends this thread's capture, classifies the
 * statement from it, and registers the statement when it writes to a LiteFS database (or
 * reads one, or is transaction control). Takes no lock of the connection's: the capture is
 * this thread's, and the statement is not the program's to use until this returns. */
static void prep_end(struct fwd_conn *c, struct prep_capture *cap, int rc, sqlite3_stmt *stmt)
{
	struct classify_result res = {0};
	struct prep_ctx ctx = {.db = c->db};
	const char *sql;
	bool dml = false, overflow = !cap;
	size_t nevents = 0;

	prep_active = NULL;
	if (cap) {
		cap->conn = NULL;
		nevents = cap->nevents;
		overflow = cap->overflow;
	}
	if (rc != SQLITE_OK || !stmt)
		goto out;
	for (size_t i = 0; i < nevents; i++) {
		struct classify_event *e = &cap->events[i];

#define FIX(f) e->f = e->f ? cap->strings + ((uintptr_t)e->f - 1) : NULL
		FIX(arg1);
		FIX(arg2);
		FIX(db);
		FIX(trigger);
#undef FIX
		/* changes() counts the statement's own INSERT/UPDATE/DELETE, not the schema
		 * table writes SQLite reports for CREATE and friends */
		if ((e->action == SQLITE_INSERT || e->action == SQLITE_UPDATE ||
		     e->action == SQLITE_DELETE) && !e->trigger && e->arg1 &&
		    strncmp(e->arg1, "sqlite_", 7))
			dml = true;
	}
	sql = real_sqlite.sql(stmt);
	classify_statement(cap ? cap->events : NULL, nevents, sql ? sql : "",
			   real_sqlite.stmt_isexplain(stmt) > 0, prep_is_litefs, &ctx, &res);
	/* events were lost: what could write cannot be told apart, and is not forwarded */
	if (overflow && res.kind == CLASSIFY_LOCAL && !real_sqlite.stmt_readonly(stmt))
		res.kind = CLASSIFY_UNSUPPORTED;
	/* Only the connection's main database is forwarded to (the forwarder opens each
	 * database as main): its writes, unless the program opened it read-only, reads of it
	 * (forwarded inside a transaction that has written), and transaction control. Writes
	 * to other databases run locally, where LiteFS refuses them. */
	if ((res.kind == CLASSIFY_WRITE && !strcmp(res.schema, "main") &&
	     !prep_opened_readonly(c->db)) ||
	    ((res.kind == CLASSIFY_TXN || (res.kind == CLASSIFY_LOCAL && res.reads_litefs)) &&
	     prep_is_litefs(&ctx, "main"))) {
		const char *path = real_sqlite.db_filename(c->db, "main");
		const char *base = path ? strrchr(path, '/') : NULL;
		struct fwd_stmt *s = base ? state_stmt_add(stmt, c, base + 1) : NULL;

		if (s) {
			s->dml = dml;
			s->kind = res.kind == CLASSIFY_WRITE ? FK_WRITE :
				  res.kind == CLASSIFY_TXN ? FK_TXN : FK_READ;
			if (s->kind == FK_TXN)
				s->txn_op = classify_txn_op(sql ? sql : "");
		}
	}
out:
	if (cap && cap->transient)
		prep_capture_free(cap);
}

/* Copies the DESCRIPTION d of a statement as the primary prepared it. NULL when memory
 * ran out. */
static struct fwd_remote *prep_remote_copy(const struct wire_description *d, const char *sql)
{
	struct fwd_remote *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->sql = strndup(sql, d->tail);
	r->readonly = (d->flags & WIRE_DESC_READONLY) != 0;
	r->names = calloc((size_t)d->ncols + 1, sizeof(*r->names));
	r->decltypes = calloc((size_t)d->ncols + 1, sizeof(*r->decltypes));
	if (!r->sql || !r->names || !r->decltypes)
		goto fail;
	for (uint32_t i = 0; i < d->ncols; i++, r->ncols++) {
		const struct wire_value *name = &d->cols[i * 2], *type = &d->cols[i * 2 + 1];

		r->names[i] = strndup(name->type == WIRE_TEXT ? name->u.s.p : "",
				      name->type == WIRE_TEXT ? name->u.s.n : 0);
		if (type->type == WIRE_TEXT)
			r->decltypes[i] = strndup(type->u.s.p, type->u.s.n);
		if (!r->names[i] || (type->type == WIRE_TEXT && !r->decltypes[i])) {
			r->ncols++;
			goto fail;
		}
	}
	return r;
fail:
	state_remote_free(r);
	return NULL;
}

/* "SELECT p1, p2, ..." with the parameters of d, named and numbered as there, so that the
 * program binds a stand-in exactly as it would bind the statement. NULL without memory. */
static char *prep_standin_sql(const struct wire_description *d)
{
	size_t cap = 32, len;
	char *sql;

	for (uint32_t i = 0; i < d->nparams; i++)
		cap += (d->params[i].type == WIRE_TEXT ? d->params[i].u.s.n : 0) + 16;
	sql = malloc(cap);
	if (!sql)
		return NULL;
	len = (size_t)snprintf(sql, cap, "SELECT %s", d->nparams ? "" : "NULL");
	for (uint32_t i = 0; i < d->nparams; i++) {
		const struct wire_value *v = &d->params[i];

		if (v->type == WIRE_TEXT)
			len += (size_t)snprintf(sql + len, cap - len, "%s%.*s", i ? "," : "",
						(int)v->u.s.n, (const char *)v->u.s.p);
		else
			len += (size_t)snprintf(sql + len, cap - len, "%s?%u", i ? "," : "", i + 1);
	}
	return sql;
}

/* sql[0..n) failed to prepare here with rc, on connection c whose transaction is a session
 * on the primary: the schema it needs may exist only in that transaction (a migration that
 * creates a table and fills it). The primary prepares it instead; here the program gets a
 * stand-in statement with the same parameters, always forwarded, whose columns are
 * reported as the primary's. Returns SQLITE_OK with *stmt (and *tail) set, or rc when
 * the primary cannot prepare it either (the local error stands). */
static int prep_remote(struct fwd_conn *c, sqlite3 *db, const char *sql, int n,
		       sqlite3_stmt **stmt, const char **tail, int rc)
{
	struct role_view role;
	struct wire_msg m;
	struct fwd_remote *r = NULL;
	struct fwd_stmt *s;
	sqlite3_stmt *standin = NULL;
	char *text = NULL, file[sizeof(c->session_file)];
	void *reply = NULL;
	size_t len;

	if ((rc & 0xff) != SQLITE_ERROR || !sql || !stmt || !txn_session_open(c))
		return rc;
	role_get(&role, false);
	if (!role.replica)
		return rc;
	len = n < 0 ? strlen(sql) : strnlen(sql, (size_t)n);
	if (forward_describe(c, role.endpoint, sql, len, &m, &reply))
		return rc;
	if (m.u.description.rc != SQLITE_OK || !(r = prep_remote_copy(&m.u.description, sql)) ||
	    !(text = prep_standin_sql(&m.u.description)))
		goto out;
	guard_depth++;
	if (real_sqlite.prepare_v2(db, text, -1, &standin, NULL) != SQLITE_OK) {
		guard_depth--;
		goto out;
	}
	guard_depth--;
	/* copied under c->mu, registered without it (state_stmt_add() asks SQLite about the
	 * statement) */
	pthread_mutex_lock(&c->mu);
	snprintf(file, sizeof(file), "%s", c->session_file);
	pthread_mutex_unlock(&c->mu);
	s = state_stmt_add(standin, c, file);
	if (s) {
		const char *p = sql;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		s->dml = !strncasecmp(p, "insert", 6) || !strncasecmp(p, "update", 6) ||
			 !strncasecmp(p, "delete", 6) || !strncasecmp(p, "replace", 7);
		state_stmt_set_remote(s, r);
		r = NULL;
	}
	if (!s) {
		real_sqlite.finalize(standin);
		goto out;
	}
	*stmt = standin;
	if (tail)
		*tail = sql + m.u.description.tail;
	rc = SQLITE_OK;
out:
	state_remote_free(r);
	free(text);
	wire_msg_free(&m);
	free(reply);
	return rc;
}

#define PREPARE_HOOK(call, remote)                                                         \
	do {                                                                               \
		struct prep_capture *cap;                                                  \
		struct fwd_conn *c;                                                        \
		int rc;                                                                    \
                                                                                           \
		if (guard_depth || !(c = prep_conn(db)))                                  \
			return call;                                                       \
		cap = prep_begin(c);                                                       \
		guard_depth++;                                                             \
		rc = call;                                                                 \
		guard_depth--;                                                             \
		prep_end(c, cap, rc, stmt ? *stmt : NULL);                                 \
		if (rc != SQLITE_OK && (remote))                                           \
			rc = prep_remote(c, db, (const char *)sql, n, stmt,                \
					 (const char **)tail, rc);                         \
		return rc;                                                                 \
	} while (0)

int sqlite3_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail)
{
	real_resolve();
	PREPARE_HOOK(real_sqlite.prepare(db, sql, n, stmt, tail), true);
}

int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt,
		       const char **tail)
{
	real_resolve();
	PREPARE_HOOK(real_sqlite.prepare_v2(db, sql, n, stmt, tail), true);
}

int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned int flags,
		       sqlite3_stmt **stmt, const char **tail)
{
	real_resolve();
	PREPARE_HOOK(real_sqlite.prepare_v3(db, sql, n, flags, stmt, tail), true);
}

int sqlite3_prepare16_v2(sqlite3 *db, const void *sql, int n, sqlite3_stmt **stmt,
			 const void **tail)
{
	real_resolve();
	PREPARE_HOOK(real_sqlite.prepare16_v2(db, sql, n, stmt, tail), false);
}

int sqlite3_prepare16_v3(sqlite3 *db, const void *sql, int n, unsigned int flags,
			 sqlite3_stmt **stmt, const void **tail)
{
	real_resolve();
	PREPARE_HOOK(real_sqlite.prepare16_v3(db, sql, n, flags, stmt, tail), false);
}

int sqlite3_set_authorizer(sqlite3 *db,
			   int (*cb)(void *, int, const char *, const char *, const char *,
				     const char *),
			   void *arg)
{
	struct fwd_conn *c;

	real_resolve();
	if (guard_depth || !(c = prep_conn(db)))
		return real_sqlite.set_authorizer(db, cb, arg);
	pthread_mutex_lock(&c->mu);
	c->user_auth = cb;
	c->user_auth_arg = arg;
	pthread_mutex_unlock(&c->mu);
	/* set again so that SQLite expires the prepared statements, as it does for the
	 * program's own call */
	return real_sqlite.set_authorizer(db, prep_authorizer, c);
}

int sqlite3_busy_timeout(sqlite3 *db, int ms)
{
	struct fwd_conn *c;

	real_resolve();
	if (!guard_depth && (c = prep_conn(db)))
		c->busy_timeout_ms = ms > 0 ? ms : 0;
	return real_sqlite.busy_timeout(db, ms);
}

int sqlite3_extended_result_codes(sqlite3 *db, int on)
{
	struct fwd_conn *c;

	real_resolve();
	if (!guard_depth && (c = prep_conn(db)))
		c->extended_codes = on != 0;
	return real_sqlite.extended_result_codes(db, on);
}

static void prep_forget(sqlite3 *db)
{
	struct fwd_conn *c = atomic_load_explicit(&state_nconns, memory_order_relaxed)
				     ? state_conn(db, false)
				     : NULL;

	if (c) {
		txn_conn_closing(c);
		pthread_mutex_lock(&c->mu);
		forward_clear_error(c);
		pthread_mutex_unlock(&c->mu);
		state_conn_drop(db);
	}
}

int sqlite3_close(sqlite3 *db)
{
	int rc;

	real_resolve();
	rc = real_sqlite.close(db);
	if (rc == SQLITE_OK && db)
		prep_forget(db);
	return rc;
}

int sqlite3_close_v2(sqlite3 *db)
{
	real_resolve();
	if (db)
		prep_forget(db);
	return real_sqlite.close_v2(db);
}
