/* Tables of per-connection and per-statement state, keyed by SQLite's pointers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"
#include "state.h"
#include "guard.h"

#define STATE_BUCKETS 1024

atomic_int state_nconns, state_nstmts, state_serving, state_nremote;

/* Each thread remembers the last connection it looked up; any drop of a connection
 * invalidates every thread's memory (a closed connection's address may be reused). */
static atomic_uint state_conn_gen;
static GUARD_TLS sqlite3 *state_cached_db;
static GUARD_TLS struct fwd_conn *state_cached_conn;
static GUARD_TLS unsigned state_cached_gen;

struct state_node {
	struct state_node *next;
	const void *key;
	void *value;
};

static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static struct state_node *conn_table[STATE_BUCKETS], *stmt_table[STATE_BUCKETS];

static size_t state_hash(const void *p)
{
	uintptr_t x = (uintptr_t)p;

	x ^= x >> 17;
	x *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(x >> 40) % STATE_BUCKETS;
}

static void *state_find(struct state_node **table, const void *key)
{
	for (struct state_node *n = table[state_hash(key)]; n; n = n->next)
		if (n->key == key)
			return n->value;
	return NULL;
}

static int state_insert(struct state_node **table, const void *key, void *value)
{
	struct state_node *n = malloc(sizeof(*n));
	size_t h = state_hash(key);

	if (!n)
		return -1;
	n->key = key;
	n->value = value;
	n->next = table[h];
	table[h] = n;
	return 0;
}

static void *state_remove(struct state_node **table, const void *key)
{
	for (struct state_node **pp = &table[state_hash(key)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->key == key) {
			struct state_node *n = *pp;
			void *v = n->value;

			*pp = n->next;
			free(n);
			return v;
		}
	}
	return NULL;
}

struct fwd_conn *state_conn(sqlite3 *db, bool create)
{
	unsigned gen = atomic_load_explicit(&state_conn_gen, memory_order_acquire);
	struct fwd_conn *c;

	if (db == state_cached_db && gen == state_cached_gen && state_cached_conn)
		return state_cached_conn;
	pthread_mutex_lock(&state_mu);
	c = state_find(conn_table, db);
	if (!c && create) {
		c = calloc(1, sizeof(*c));
		if (c) {
			c->db = db;
			pthread_mutex_init(&c->mu, NULL);
			if (state_insert(conn_table, db, c)) {
				free(c);
				c = NULL;
			} else {
				atomic_fetch_add(&state_nconns, 1);
			}
		}
	}
	pthread_mutex_unlock(&state_mu);
	if (c) {
		state_cached_db = db;
		state_cached_conn = c;
		state_cached_gen = gen;
	}
	return c;
}

static void state_conn_free(struct fwd_conn *c);

void state_conn_drop(sqlite3 *db)
{
	struct fwd_conn *c;

	pthread_mutex_lock(&state_mu);
	c = state_remove(conn_table, db);
	atomic_fetch_add_explicit(&state_conn_gen, 1, memory_order_release);
	pthread_mutex_unlock(&state_mu);
	if (!c)
		return;
	atomic_fetch_sub(&state_nconns, 1);
	pthread_mutex_lock(&state_mu);
	c->closed = true;
	if (c->refs) {
		/* statements still refer to it (sqlite3_close_v2 with statements open) */
		pthread_mutex_unlock(&state_mu);
		return;
	}
	pthread_mutex_unlock(&state_mu);
	state_conn_free(c);
}

static void state_conn_free(struct fwd_conn *c)
{
	free(c->txn_log);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Likewise for statements, misses included: a program stepping the same read statement in
 * a loop looks it up once, not under the lock at every bind, step and reset. Any add or drop
 * of a statement invalidates every thread's memory. */
static atomic_uint state_stmt_gen;
static GUARD_TLS sqlite3_stmt *state_cached_stmt;
static GUARD_TLS struct fwd_stmt *state_cached_stmt_state;
static GUARD_TLS unsigned state_cached_stmt_gen;

struct fwd_stmt *state_stmt(sqlite3_stmt *stmt)
{
	unsigned gen = atomic_load_explicit(&state_stmt_gen, memory_order_acquire);
	struct fwd_stmt *s;

	if (stmt == state_cached_stmt && gen == state_cached_stmt_gen)
		return state_cached_stmt_state;
	pthread_mutex_lock(&state_mu);
	s = state_find(stmt_table, stmt);
	pthread_mutex_unlock(&state_mu);
	state_cached_stmt = stmt;
	state_cached_stmt_state = s;
	state_cached_stmt_gen = gen;
	return s;
}

struct fwd_stmt *state_stmt_add(sqlite3_stmt *stmt, struct fwd_conn *conn, const char *file)
{
	struct fwd_stmt *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->stmt = stmt;
	s->conn = conn;
	strncpy(s->file, file, sizeof(s->file) - 1);
	s->nparams = real_sqlite.bind_parameter_count(stmt);
	if (s->nparams > 0) {
		s->params = calloc((size_t)s->nparams, sizeof(*s->params));
		if (!s->params) {
			free(s);
			return NULL;
		}
	}
	pthread_mutex_lock(&state_mu);
	atomic_fetch_add_explicit(&state_stmt_gen, 1, memory_order_release);
	if (state_insert(stmt_table, stmt, s)) {
		pthread_mutex_unlock(&state_mu);
		free(s->params);
		free(s);
		return NULL;
	}
	conn->refs++;
	pthread_mutex_unlock(&state_mu);
	atomic_fetch_add(&state_nstmts, 1);
	return s;
}

void state_stmt_free_params(struct fwd_stmt *s)
{
	for (int i = 0; i < s->nparams; i++) {
		struct wire_value *v = &s->params[i];

		if (v->type == WIRE_TEXT || v->type == WIRE_TEXT16 || v->type == WIRE_BLOB)
			free((void *)v->u.s.p);
		memset(v, 0, sizeof(*v));
	}
}

void state_stmt_clear_result(struct fwd_stmt *s)
{
	if (s->state == FS_ROWS)
		atomic_fetch_sub(&state_serving, 1);
	if (s->rows_stmt)
		real_sqlite.finalize(s->rows_stmt);
	s->rows_stmt = NULL;
	free(s->cells);
	s->cells = NULL;
	free(s->reply);
	s->reply = NULL;
	s->ncols = s->nrows = s->row = 0;
	s->state = FS_IDLE;
}

void state_stmt_drop(sqlite3_stmt *stmt)
{
	struct fwd_stmt *s;
	bool free_conn = false;

	pthread_mutex_lock(&state_mu);
	s = state_remove(stmt_table, stmt);
	atomic_fetch_add_explicit(&state_stmt_gen, 1, memory_order_release);
	if (s) {
		s->conn->refs--;
		free_conn = s->conn->closed && s->conn->refs == 0;
	}
	pthread_mutex_unlock(&state_mu);
	if (!s)
		return;
	if (free_conn)
		state_conn_free(s->conn);
	atomic_fetch_sub(&state_nstmts, 1);
	state_stmt_clear_result(s);
	if (s->rows_db)
		real_sqlite.close_v2(s->rows_db);
	state_stmt_free_params(s);
	free(s->params);
	if (s->remote) {
		atomic_fetch_sub(&state_nremote, 1);
		state_remote_free(s->remote);
	}
	free(s);
}

void state_remote_free(struct fwd_remote *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->ncols; i++) {
		free(r->names[i]);
		free(r->decltypes[i]);
	}
	free(r->names);
	free(r->decltypes);
	free(r->sql);
	free(r);
}

void state_stmt_set_remote(struct fwd_stmt *s, struct fwd_remote *r)
{
	s->kind = FK_REMOTE;
	s->remote = r;
	atomic_fetch_add(&state_nremote, 1);
}
