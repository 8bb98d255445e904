/* One forwarded statement on SQLite. The reply must let the program on the replica see
 * exactly what it would have seen had the statement run there: SQLite's own codes and
 * message, row counts, the rowid and the RETURNING rows, bit for bit. Connections are
 * shared by every client of a worker, so nothing a statement leaves on its connection
 * may leak into the next one: the rowid sentinel is put back, and transactions are never
 * left open. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "batch.h"
#include "fault.h"
#include "litefs_errors.h"
#include "litefs_files.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "walwrite.h"

/* "%016x/%016x\n": TXID, '/', post-apply checksum, newline. */
#define EXEC_POS_SIZE 34
/* Room for the fixed fields of a RESULT, on top of its message and cells. */
#define EXEC_RESULT_OVERHEAD 128u
/* The durable record of executed requests, a table of each database written through the
 * forwarder: committed in the same transaction as the request's statement, so that it is
 * replicated with it, and a request asked again (its client never had the answer) is
 * answered from it on whichever node is the primary, never executed twice. */
#define EXEC_RECORD_TABLE WIRE_RECORD_TABLE
#define EXEC_RECORD_KEEP_MS (10 * 60 * 1000)
#define EXEC_RECORD_PRUNE_EVERY 256
/* Records looked at by one pruning: see exec_record_prune(). */
#define EXEC_RECORD_PRUNE_SPAN 512
#define EXEC_STR(x) EXEC_STR2(x)
#define EXEC_STR2(x) #x
/* The longest a forwarder thread waits for a database lock (within the program's busy
 * timeout) before answering SQLITE_BUSY and letting the client ask again: short, so that
 * a thread is never held long by a lock whose holder may need a thread to go on, and long
 * enough that a request is not starved by a local writer that takes the lock back at once. */
#define EXEC_LOCK_WAIT_MS 100

/* Prepared statements kept per connection, by the exact text of the request: programs
 * send the same few statements again and again. */
#define EXEC_STMT_CACHE 16

/* A prepared statement kept for the next request with the same text: reset, its
 * parameters cleared. */
struct exec_cached_stmt {
	sqlite3_stmt *stmt;  /* NULL: free slot */
	char *sql;           /* the request's text, owned */
	size_t len;
	uint64_t used;       /* the connection's use count when last taken */
};

/* One database's connection, shared by every worker: statements on one database are
 * serialised here rather than inside SQLite, whose busy handler sleeps instead of waking
 * when the lock frees, and one connection keeps its page cache, which another
 * connection's commit would throw away. */
struct fwd_exec_conn {
	struct fwd_exec_conn *next;
	pthread_mutex_t run_lock;  /* held while a statement runs on db */
	struct fwd_batch batch;    /* autocommit writes waiting to share a commit */
	int users;           /* workers holding a reference; under fwd_exec.lock */
	bool dropped;        /* out of the list; freed by the last user */
	sqlite3 *db;
	struct exec_cached_stmt stmts[EXEC_STMT_CACHE];  /* under run_lock */
	uint64_t uses;
	int pos_fd;          /* <mount>/<db>-pos, -1 until it could be opened */
	/* The TXID of the database as of the end of the last statement here, and SQLite's
	 * data version then (see exec_txid()); under run_lock. */
	uint64_t txid;
	unsigned data_version;
	bool txid_known;
	bool record_ready;   /* the record table exists (as far as this connection knows) */
	unsigned recorded;   /* records written here, for pruning now and then */
	sqlite3_int64 prune_after; /* pruning goes on after this id; under run_lock */
	bool own;            /* a session's own connection, not shared by clients */
	size_t name_len;
	char name[];         /* NUL-terminated */
};

/* Non-NULL bytes for empty strings and blobs: SQLite binds NULL for a NULL pointer, and
 * an empty blob is not NULL. Never freed. */
static const char exec_empty[1] = "";

/* A RESULT under construction: errmsg and the bytes of TEXT and BLOB cells are owned. */
struct exec_outcome {
	struct wire_result res;
	char *errmsg;
	struct wire_value *cells;
	size_t ncells, cap;
	uint64_t size;       /* encoded size of the cells so far */
	int drop;            /* 0, or SQLITE_TOOBIG / SQLITE_NOMEM: rows were discarded */
	int sys_errno;       /* the error of the system call behind a failure, or 0 */
};

static void exec_cells_free(struct exec_outcome *o)
{
	for (size_t i = 0; i < o->ncells; i++) {
		struct wire_value *v = &o->cells[i];

		if ((v->type == WIRE_TEXT || v->type == WIRE_BLOB) && v->u.s.p != exec_empty)
			free((void *)v->u.s.p);
	}
	free(o->cells);
	o->cells = NULL;
	o->ncells = 0;
	o->cap = 0;
}

static void exec_outcome_free(struct exec_outcome *o)
{
	exec_cells_free(o);
	free(o->errmsg);
	o->errmsg = NULL;
}

/* Takes rc, the extended code and the message of db (which may be NULL after a failed
 * open) into o. Returns 0 or -ENOMEM. */
static int exec_outcome_take_error(struct exec_outcome *o, sqlite3 *db, int rc)
{
	o->res.rc = rc;
	o->res.xrc = sqlite3_extended_errcode(db);
	o->sys_errno = db ? sqlite3_system_errno(db) : 0;
	free(o->errmsg);
	o->errmsg = strdup(sqlite3_errmsg(db));
	return o->errmsg ? 0 : -ENOMEM;
}

/* Formats <mount>/<name><suffix> into buf. Returns 0 or -ENAMETOOLONG. */
static int exec_path(const struct fwd_exec *x, const char *name, const char *suffix,
		     char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s%s", x->mount, name, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Takes the statement prepared from sql[0..len) out of c's cache: NULL when there is none.
 * Caller holds c->run_lock. */
static sqlite3_stmt *exec_stmt_take(struct fwd_exec_conn *c, const char *sql, size_t len)
{
	c->uses++;
	for (int i = 0; i < EXEC_STMT_CACHE; i++) {
		struct exec_cached_stmt *e = &c->stmts[i];
		sqlite3_stmt *stmt = e->stmt;

		if (stmt && e->len == len && !memcmp(e->sql, sql, len)) {
			free(e->sql);
			memset(e, 0, sizeof(*e));
			return stmt;
		}
	}
	return NULL;
}

/* Puts stmt, prepared from sql[0..len), back into c's cache, reset and with its
 * parameters cleared, in place of the least recently used one; or finalizes it when no
 * copy of the text can be made. Caller holds c->run_lock. */
static void exec_stmt_give(struct fwd_exec_conn *c, sqlite3_stmt *stmt, const char *sql,
			   size_t len)
{
	struct exec_cached_stmt *slot = &c->stmts[0];
	char *copy = malloc(len ? len : 1);

	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (!copy) {
		sqlite3_finalize(stmt);
		return;
	}
	memcpy(copy, sql, len);
	for (int i = 0; i < EXEC_STMT_CACHE && slot->stmt; i++)
		if (!c->stmts[i].stmt || c->stmts[i].used < slot->used)
			slot = &c->stmts[i];
	if (slot->stmt) {
		sqlite3_finalize(slot->stmt);
		free(slot->sql);
	}
	*slot = (struct exec_cached_stmt){ .stmt = stmt, .sql = copy, .len = len,
					   .used = c->uses };
}

static void exec_conn_free(struct fwd_exec_conn *c)
{
	for (int i = 0; i < EXEC_STMT_CACHE; i++) {
		sqlite3_finalize(c->stmts[i].stmt);
		free(c->stmts[i].sql);
	}
	if (c->pos_fd >= 0)
		close(c->pos_fd);
	/* Every statement is finalized by then: the handle closes for real. */
	sqlite3_close_v2(c->db);
	pthread_mutex_destroy(&c->run_lock);
	fwd_batch_destroy(&c->batch);
	free(c);
}

/* Unlinks c from x->conns. Caller holds x->lock. */
static void exec_conn_unlink(struct fwd_exec *x, struct fwd_exec_conn *c)
{
	for (struct fwd_exec_conn **pp = &x->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			x->nconns--;
			return;
		}
	}
}

/* Closes the least recently used connection nobody holds, when x has more than
 * FWD_EXEC_MAX_CONNS. Caller holds x->lock. */
static void exec_conn_evict(struct fwd_exec *x)
{
	struct fwd_exec_conn *c, *victim = NULL;

	if (x->nconns <= FWD_EXEC_MAX_CONNS)
		return;
	for (c = x->conns; c; c = c->next)
		if (!c->users)
			victim = c;
	if (victim) {
		exec_conn_unlink(x, victim);
		exec_conn_free(victim);
	}
}

/* Whether PRAGMA name, given a value, changes the database file rather than the
 * connection (the interposer forwards only those outside a transaction). */
static bool exec_pragma_changes_file(const char *name)
{
	static const char *const file[] = {
		"application_id", "auto_vacuum",        "default_cache_size", "encoding",
		"journal_mode",   "page_size",          "schema_version",     "user_version",
		"incremental_vacuum", "optimize",       "wal_checkpoint",
	};

	for (size_t i = 0; i < sizeof(file) / sizeof(file[0]); i++)
		if (!sqlite3_stricmp(name, file[i]))
			return true;
	return false;
}

/* The authorizer of every connection of the forwarder: what arrives is a remote client's
 * SQL with values the client bound, and SQLite trusts bound values as the application's.
 * fts3_tokenizer() reads and writes function pointers of the library (a bound argument
 * passes even when the library turned it off); load_extension() loads code. Both are
 * refused at prepare time, whatever the library was built with. */
static int exec_authorize(void *arg, int action, const char *a, const char *b, const char *db,
			  const char *trigger)
{
	const struct fwd_exec_conn *c = arg;

	(void)db;
	(void)trigger;
	if (action == SQLITE_FUNCTION && b &&
	    (!sqlite3_stricmp(b, "fts3_tokenizer") || !sqlite3_stricmp(b, "load_extension")))
		return SQLITE_DENY;
	/* A connection the clients share keeps whatever one of them sets: a PRAGMA that
	 * changes the connection (not the database file) would change it for all of them. */
	if (action == SQLITE_PRAGMA && !c->own && a && b && !exec_pragma_changes_file(a))
		return SQLITE_DENY;
	return SQLITE_OK;
}

/* Opens a connection to <mount>/<name>, not yet in x. Returns 0 with *out set; -ENOMEM or
 * -ENAMETOOLONG; or -EIO when SQLite could not open the database (its rc, extended rc
 * and message are then in o). */
/* Whether the mount may be opened: once it has been seen as a FUSE file system (LiteFS),
 * it must still be one. A mount point whose LiteFS stopped is an empty directory of the
 * file system below, where SQLite would create a database, and a write to it would
 * succeed and be lost. Where the mount never was a FUSE file system (LiteFS absent, as
 * in tests), anything goes. Returns 0 or -ENOTCONN. */
static int exec_mount_check(struct fwd_exec *x)
{
	struct statfs sf;

	if (statfs(x->mount, &sf) == 0 && (unsigned long)sf.f_type == LITEFS_FUSE_SUPER_MAGIC) {
		__atomic_store_n(&x->fuse_seen, true, __ATOMIC_RELAXED);
		return 0;
	}
	if (!__atomic_load_n(&x->fuse_seen, __ATOMIC_RELAXED))
		return 0;
	fwd_log_warn("%s is no longer LiteFS's mount (LiteFS stopped?); nothing is opened there",
		     x->mount);
	return -ENOTCONN;
}

/* Sets PRAGMA synchronous of db to level (0-3; anything else leaves SQLite's default):
 * before the authorizer, which refuses connection PRAGMAs from clients. */
static void exec_conn_set_synchronous(sqlite3 *db, int level)
{
	static const char *const pragmas[] = {
		"PRAGMA synchronous = OFF", "PRAGMA synchronous = NORMAL",
		"PRAGMA synchronous = FULL", "PRAGMA synchronous = EXTRA",
	};

	if (level >= 0 && level < 4)
		sqlite3_exec(db, pragmas[level], NULL, NULL, NULL);
}

static int exec_conn_open(struct fwd_exec *x, const struct wire_str *name,
			  struct fwd_exec_conn **out, struct exec_outcome *o)
{
	struct fwd_exec_conn *c;
	char path[PATH_MAX];
	int rc;

	c = calloc(1, sizeof(*c) + name->n + 1);
	if (!c)
		return -ENOMEM;
	c->pos_fd = -1;
	c->prune_after = INT64_MIN;
	c->name_len = name->n;
	memcpy(c->name, name->p, name->n);
	rc = exec_path(x, c->name, "", path, sizeof(path));
	if (rc)
		goto fail_path;
	rc = exec_mount_check(x);
	if (rc)
		goto fail_path;
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			     fwd_walwrite_register() == 0 ? FWD_WALWRITE_VFS : NULL);
	if (rc != SQLITE_OK) {
		rc = exec_outcome_take_error(o, c->db, rc);
		fwd_log_warn("cannot open %s: %s", path, sqlite3_errmsg(c->db));
		if (!rc)
			rc = -EIO;
		goto fail_open;
	}
	/* Statements of the program reach only its database in the mount: no ATTACH of
	 * arbitrary files of this node on behalf of a remote client (VACUUM INTO attaches
	 * its target too, and is refused with it), and no extension loading, whatever the
	 * library's default. */
	sqlite3_limit(c->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	/* fts3_tokenizer() with two arguments replaces a tokenizer's function pointers: off
	 * (libraries built with SQLITE_ENABLE_FTS3_TOKENIZER allow it by default); and the
	 * defensive mode, which refuses what can corrupt a database on purpose
	 * (writable_schema, shadow tables of virtual tables, journal_mode=OFF). */
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	exec_conn_set_synchronous(c->db, x->synchronous);
	sqlite3_set_authorizer(c->db, exec_authorize, c);
	pthread_mutex_init(&c->run_lock, NULL);
	fwd_batch_init(&c->batch);
	fwd_log_debug("opened %s", path);
	*out = c;
	return 0;

fail_open:
	sqlite3_close_v2(c->db);
fail_path:
	free(c);
	return rc;
}

/* Finds the connection to the database name, opening it when there is none, and takes a
 * reference to it (given back by exec_conn_put()). Returns as exec_conn_open(). */
static int exec_conn_get(struct fwd_exec *x, const struct wire_str *name,
			 struct fwd_exec_conn **out, struct exec_outcome *o)
{
	struct fwd_exec_conn **pp, *c;
	int rc = 0;

	/* Held while a connection opens, which SQLite does without reading the file. */
	pthread_mutex_lock(&x->lock);
	for (pp = &x->conns; (c = *pp); pp = &c->next) {
		if (c->name_len == name->n && !memcmp(c->name, name->p, name->n)) {
			*pp = c->next;
			break;
		}
	}
	if (c) {
		c->next = x->conns;
		x->conns = c;
	} else {
		rc = exec_conn_open(x, name, &c, o);
		if (rc)
			goto out;
		c->next = x->conns;
		x->conns = c;
		x->nconns++;
		exec_conn_evict(x);
	}
	c->users++;
	*out = c;
out:
	pthread_mutex_unlock(&x->lock);
	return rc;
}

/* Gives back a reference taken by exec_conn_get(); the last one frees a dropped
 * connection. */
static void exec_conn_put(struct fwd_exec *x, struct fwd_exec_conn *c)
{
	bool free_it;

	pthread_mutex_lock(&x->lock);
	free_it = --c->users == 0 && c->dropped;
	pthread_mutex_unlock(&x->lock);
	if (free_it)
		exec_conn_free(c);
}

/* Whether a statement's extended result code xrc says the connection's file may be gone:
 * an I/O error, a file that cannot be opened or was moved. The descriptors of a LiteFS
 * mount that went away (LiteFS restarted) fail for ever, while the file opened anew is
 * fine: such a connection is dropped and the next request opens another one. */
static bool exec_conn_broken(int xrc)
{
	return (xrc & 0xff) == SQLITE_IOERR || (xrc & 0xff) == SQLITE_CANTOPEN ||
	       xrc == SQLITE_READONLY_DBMOVED;
}

/* Takes c out of x after a failure that may have left state on it: nobody gets it any
 * more, and the last reference closes it. */
static void exec_conn_drop(struct fwd_exec *x, struct fwd_exec_conn *c)
{
	pthread_mutex_lock(&x->lock);
	if (!c->dropped) {
		exec_conn_unlink(x, c);
		c->dropped = true;
	}
	pthread_mutex_unlock(&x->lock);
}

int fwd_exec_init(struct fwd_exec *x, const char *mount)
{
	memset(x, 0, sizeof(*x));
	x->mount = strdup(mount);
	if (!x->mount)
		return -ENOMEM;
	x->synchronous = -1;
	pthread_mutex_init(&x->lock, NULL);
	return 0;
}

void fwd_exec_close(struct fwd_exec *x)
{
	struct fwd_exec_conn *c, *next;

	if (!x->mount)
		return;
	for (c = x->conns; c; c = next) {
		next = c->next;
		exec_conn_free(c);
	}
	pthread_mutex_destroy(&x->lock);
	free(x->mount);
	memset(x, 0, sizeof(*x));
}

struct sqlite3 *fwd_exec_handle(struct fwd_exec *x, const char *name)
{
	struct sqlite3 *db = NULL;

	pthread_mutex_lock(&x->lock);
	for (struct fwd_exec_conn *c = x->conns; c && !db; c = c->next)
		if (!strcmp(c->name, name))
			db = c->db;
	pthread_mutex_unlock(&x->lock);
	return db;
}

void fwd_exec_batch_totals(struct fwd_exec *x, const char *name, size_t *batches,
			   size_t *writes, size_t *waiting)
{
	*batches = *writes = *waiting = 0;
	pthread_mutex_lock(&x->lock);
	for (struct fwd_exec_conn *c = x->conns; c; c = c->next)
		if (!strcmp(c->name, name))
			fwd_batch_totals(&c->batch, batches, writes, waiting);
	pthread_mutex_unlock(&x->lock);
}

static int exec_hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

uint64_t fwd_exec_parse_pos(const char *buf, size_t len)
{
	uint64_t txid = 0;
	int d;

	if (len != EXEC_POS_SIZE || buf[16] != '/' || buf[33] != '\n')
		return 0;
	for (int i = 0; i < 33; i++) {
		if (i == 16)
			continue;
		d = exec_hex_digit(buf[i]);
		if (d < 0)
			return 0;
		if (i < 16)
			txid = txid << 4 | (uint64_t)d;
	}
	return txid;
}

/* The TXID of c's database after the statement, from <db>-pos: one pread of exactly its
 * size on a descriptor kept open (reading more makes LiteFS fetch the file's attributes).
 * 0 when there is no such file or it holds something else. */
static uint64_t exec_read_txid(const struct fwd_exec *x, struct fwd_exec_conn *c)
{
	char buf[EXEC_POS_SIZE], path[PATH_MAX];
	ssize_t n;

	/* A second try with a fresh descriptor, should the kept one have gone stale. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->pos_fd < 0) {
			if (exec_path(x, c->name, "-pos", path, sizeof(path)))
				return 0;
			c->pos_fd = open(path, O_RDONLY | O_CLOEXEC);
			if (c->pos_fd < 0)
				return 0;
		}
		n = pread(c->pos_fd, buf, sizeof(buf), 0);
		if (n >= 0)
			return fwd_exec_parse_pos(buf, (size_t)n);
		close(c->pos_fd);
		c->pos_fd = -1;
	}
	return 0;
}

/* The TXID of c's database just after a statement, which succeeded (ok) and committed
 * pages (wrote) or not. LiteFS numbers the transactions of a database one by one, so it
 * is known without asking LiteFS (a file system round trip) when nothing but this
 * statement can have committed since the last TXID known here: SQLite's data version of
 * the connection then moved by exactly one, for the end of the statement's own write
 * transaction; it moves once more when the statement's transaction found the database
 * changed by anyone else (another process, LiteFS applying a transaction after a
 * failover). In every other case <db>-pos is read. */
static uint64_t exec_txid(const struct fwd_exec *x, struct fwd_exec_conn *c, bool ok,
			  bool wrote)
{
	unsigned dv = 0;

	sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &dv);
	if (c->txid_known && ok && dv - c->data_version == 1) {
		c->txid += wrote;
	} else {
		c->txid = exec_read_txid(x, c);
		c->txid_known = c->txid != 0;
	}
	c->data_version = dv;
	return c->txid;
}

/* True when p[0..end) holds only what SQLite skips between statements: white space,
 * comments and empty statements. Text ends at a NUL, as it does for SQLite. */
static bool exec_tail_is_blank(const char *p, const char *end)
{
	while (p < end && *p) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r' ||
		    *p == ';') {
			p++;
		} else if (*p == '-' && end - p >= 2 && p[1] == '-') {
			while (p < end && *p && *p != '\n')
				p++;
		} else if (*p == '/' && end - p >= 2 && p[1] == '*') {
			/* An unterminated comment runs to the end of the text. */
			for (p += 2; p < end && *p; p++) {
				if (*p == '*' && end - p >= 2 && p[1] == '/') {
					p += 2;
					break;
				}
			}
		} else {
			return false;
		}
	}
	return true;
}

/* Binds parameter i+1 of stmt to req->params[i], for every i, exactly by type. Returns
 * SQLITE_OK, or the SQLite code of the first bind that failed (*bad is then its index). */
static int exec_bind(sqlite3_stmt *stmt, const struct wire_exec *req, uint32_t *bad)
{
	int rc = SQLITE_OK;

	for (uint32_t i = 0; i < req->nparams && rc == SQLITE_OK; i++) {
		const struct wire_value *v = &req->params[i];
		const void *p = v->u.s.n ? v->u.s.p : exec_empty;
		int idx = (int)i + 1;

		switch (v->type) {
		case WIRE_NULL:
			rc = sqlite3_bind_null(stmt, idx);
			break;
		case WIRE_INTEGER:
			rc = sqlite3_bind_int64(stmt, idx, v->u.i);
			break;
		case WIRE_FLOAT:
			rc = sqlite3_bind_double(stmt, idx, v->u.f);
			break;
		case WIRE_TEXT:
			rc = sqlite3_bind_text64(stmt, idx, p, v->u.s.n, SQLITE_TRANSIENT,
						 SQLITE_UTF8);
			break;
		case WIRE_TEXT16:
			rc = sqlite3_bind_text64(stmt, idx, p, v->u.s.n, SQLITE_TRANSIENT,
						 SQLITE_UTF16);  /* native byte order */
			break;
		case WIRE_BLOB:
			rc = sqlite3_bind_blob64(stmt, idx, p, v->u.s.n, SQLITE_TRANSIENT);
			break;
		case WIRE_ZEROBLOB:
			rc = sqlite3_bind_zeroblob64(stmt, idx, v->u.zero);
			break;
		default:
			rc = SQLITE_MISMATCH;
			break;
		}
		if (rc != SQLITE_OK)
			*bad = i + 1;
	}
	return rc;
}

/* Appends a cell to o, copying n bytes at p for TEXT and BLOB. Returns 0 or -ENOMEM. */
static int exec_cell_push(struct exec_outcome *o, struct wire_value v, const void *p, size_t n)
{
	if (o->ncells == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct wire_value *cells = realloc(o->cells, cap * sizeof(*cells));

		if (!cells)
			return -ENOMEM;
		o->cells = cells;
		o->cap = cap;
	}
	if (v.type == WIRE_TEXT || v.type == WIRE_BLOB) {
		void *copy = (void *)exec_empty;

		if (n) {
			copy = malloc(n);
			if (!copy)
				return -ENOMEM;
			memcpy(copy, p, n);
		}
		v.u.s.p = copy;
		v.u.s.n = n;
	}
	o->cells[o->ncells++] = v;
	return 0;
}

/* Appends the current row of stmt (ncols columns) to o as wire values, as long as the
 * reply stays within max bytes; past that, or when memory runs out, every row is
 * dropped and o->drop says why: a reply never holds part of the rows. */
static void exec_collect_row(struct exec_outcome *o, sqlite3_stmt *stmt, int ncols, size_t max)
{
	if (o->drop)
		return;
	for (int i = 0; i < ncols; i++) {
		struct wire_value v = { .type = WIRE_NULL };
		const void *p = NULL;
		size_t n = 0;

		switch (sqlite3_column_type(stmt, i)) {
		case SQLITE_INTEGER:
			v.type = WIRE_INTEGER;
			v.u.i = sqlite3_column_int64(stmt, i);
			o->size += 9;
			break;
		case SQLITE_FLOAT:
			v.type = WIRE_FLOAT;
			v.u.f = sqlite3_column_double(stmt, i);
			o->size += 9;
			break;
		case SQLITE_TEXT:
			/* text before bytes: the length of the UTF-8 form */
			v.type = WIRE_TEXT;
			p = sqlite3_column_text(stmt, i);
			n = (size_t)sqlite3_column_bytes(stmt, i);
			o->size += 5 + n;
			break;
		case SQLITE_BLOB:
			v.type = WIRE_BLOB;
			p = sqlite3_column_blob(stmt, i);
			n = (size_t)sqlite3_column_bytes(stmt, i);
			o->size += 5 + n;
			break;
		default:
			o->size += 1;
			break;
		}
		if (n && !p) {
			o->drop = SQLITE_NOMEM;
			break;
		}
		if (o->size + EXEC_RESULT_OVERHEAD > max) {
			o->drop = SQLITE_TOOBIG;
			break;
		}
		if (exec_cell_push(o, v, p, n)) {
			o->drop = SQLITE_NOMEM;
			break;
		}
	}
	if (o->drop)
		exec_cells_free(o);
}

/* Encodes o as a RESULT into out. A reply that turns out too large loses its rows and
 * says so with SQLITE_TOOBIG, as when the rows were dropped while collecting. Returns 0,
 * -ENOMEM or -EMSGSIZE. */
static int exec_encode_result(struct exec_outcome *o, size_t max, struct wire_buf *out)
{
	static const char toobig[] = "RETURNING rows too large for one reply";
	static const char nomem[] = "out of memory collecting RETURNING rows";
	int rc;

	for (;;) {
		if (o->drop) {
			/* The statement has run: its counts stay, only the rows are lost. */
			exec_cells_free(o);
			if (o->res.rc == SQLITE_DONE) {
				const char *m = o->drop == SQLITE_TOOBIG ? toobig : nomem;

				o->res.rc = o->drop;
				o->res.xrc = o->drop;
				free(o->errmsg);
				o->errmsg = strdup(m);
				if (!o->errmsg)
					return -ENOMEM;
			}
		}
		o->res.errmsg.p = o->errmsg ? o->errmsg : exec_empty;
		o->res.errmsg.n = o->errmsg ? (uint32_t)strlen(o->errmsg) : 0;
		o->res.cells = o->cells;
		o->res.nrows = o->res.ncols ? (uint32_t)(o->ncells / o->res.ncols) : 0;
		if (!o->cells)
			o->res.nrows = 0;
		rc = wire_encode_result(out, &o->res, max);
		if (rc != -EMSGSIZE || o->drop)
			return rc;
		o->drop = SQLITE_TOOBIG;
	}
}

/* Steps stmt to its end on connection c, collecting its rows, and fills o with what the
 * program would observe. Caller has bound the parameters and resets stmt. Returns true
 * when the statement committed pages (to the database file, or to the WAL): SQLite counts
 * them per connection, without any I/O to find out. */
static bool exec_step(struct fwd_exec_conn *c, sqlite3_stmt *stmt, const struct wire_exec *req,
		      size_t max, struct exec_outcome *o)
{
	sqlite3 *db = c->db;
	sqlite3_int64 total_before, rowid_after;
	int ncols, rc, pages = 0, unused;

	total_before = sqlite3_total_changes64(db);
	/* The statement runs with the program's own last_insert_rowid: it may read it, and a
	 * different value afterwards means the statement inserted (an insert that lands on the
	 * same rowid leaves the program's value right either way). */
	sqlite3_set_last_insert_rowid(db, req->last_insert_rowid);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FKEY,
			  (req->conn_flags & WIRE_CONN_FOREIGN_KEYS) ? 1 : 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER,
			  (req->conn_flags & WIRE_CONN_NO_TRIGGERS) ? 0 : 1, (int *)NULL);
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &pages, &unused, 1);
	/* Columns counted once stepped: a statement kept from an earlier request is prepared
	 * again by its first step when the schema changed since. */
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ncols = sqlite3_column_count(stmt);
		o->res.ncols = (uint32_t)ncols;
		exec_collect_row(o, stmt, ncols, max);
	}
	o->res.ncols = (uint32_t)sqlite3_column_count(stmt);
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &pages, &unused, 1);
	if (exec_outcome_take_error(o, db, rc))
		o->drop = SQLITE_NOMEM;
	o->res.changes = sqlite3_changes64(db);
	o->res.total_changes_delta = sqlite3_total_changes64(db) - total_before;
	rowid_after = sqlite3_last_insert_rowid(db);
	sqlite3_reset(stmt);
	if (rowid_after != req->last_insert_rowid) {
		o->res.flags |= WIRE_RESULT_ROWID;
		o->res.last_insert_rowid = rowid_after;
	}
	/* A constraint failure under ON CONFLICT FAIL keeps, and commits, the rows changed
	 * before it; any other failure wrote nothing that stays. */
	return pages > 0 && (rc == SQLITE_DONE || (rc & 0xff) == SQLITE_CONSTRAINT);
}

/* Ends a transaction the statement left open (BEGIN, SAVEPOINT) so the connection can
 * serve the next client. Returns 0, or -EIO when it stays open (the caller then drops the
 * connection). */
static int exec_rollback(sqlite3 *db)
{
	if (sqlite3_get_autocommit(db))
		return 0;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return sqlite3_get_autocommit(db) ? 0 : -EIO;
}

/* How long c waits for a lock on behalf of req: see EXEC_LOCK_WAIT_MS. */
static void exec_lock_wait(struct fwd_exec_conn *c, const struct wire_exec *req)
{
	int ms = req->busy_timeout_ms;

	sqlite3_busy_timeout(c->db, ms <= 0 ? 0 : ms < EXEC_LOCK_WAIT_MS ? ms : EXEC_LOCK_WAIT_MS);
}

/* Runs req's statement on connection c, which the caller holds: taken from c's cache or
 * prepared, bound, stepped to its end. Lock waits are short here (exec_lock_wait()): the
 * client waits longer by asking again, within the program's busy timeout.
 * Returns 1 when o holds the outcome to reply with (SQLite's refusal to prepare it, or,
 * with *ran set, the statement's run; *wrote as exec_step()); 0 when an ERROR reply was
 * appended to out instead (nothing ran); or a negative errno (no reply made). */
static int exec_statement(struct fwd_exec_conn *c, const struct wire_exec *req, size_t max,
			  struct wire_buf *out, struct exec_outcome *o, bool *ran, bool *wrote)
{
	const char *sql = req->sql.n ? req->sql.p : exec_empty, *tail = NULL;
	uint64_t id = req->request_id;
	sqlite3_stmt *stmt;
	uint32_t bad = 0;
	int rc;

	*ran = false;
	*wrote = false;
	exec_lock_wait(c, req);
	stmt = exec_stmt_take(c, sql, req->sql.n);
	if (!stmt) {
		rc = sqlite3_prepare_v2(c->db, sql, (int)req->sql.n, &stmt, &tail);
		if (rc != SQLITE_OK)
			return exec_outcome_take_error(o, c->db, rc) ?: 1;
		if (!stmt)
			return fwd_reply_error(out, max, id, EINVAL, "empty statement");
		if (!exec_tail_is_blank(tail, sql + req->sql.n)) {
			sqlite3_finalize(stmt);
			return fwd_reply_error(out, max, id, EINVAL, "one statement per request");
		}
	}
	rc = exec_bind(stmt, req, &bad);
	if (rc != SQLITE_OK) {
		exec_stmt_give(c, stmt, sql, req->sql.n);
		return fwd_reply_error(out, max, id, rc == SQLITE_NOMEM ? ENOMEM :
				       rc == SQLITE_TOOBIG ? E2BIG : EINVAL,
				       "parameter %u: %s", bad,
				       rc == SQLITE_MISMATCH ? "unknown value type" :
				       sqlite3_errstr(rc));
	}
	*ran = true;
	*wrote = exec_step(c, stmt, req, max, o);
	exec_stmt_give(c, stmt, sql, req->sql.n);
	return 1;
}

/* Whether the first word of req's statement (after white space) is one of words[0..n),
 * in any case. */
static bool exec_first_word_is(const struct wire_exec *req, const char *const *words, size_t n)
{
	const char *p = req->sql.p, *end = req->sql.p + req->sql.n;
	size_t len = 0;

	if (!p)
		return false;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f'))
		p++;
	while (p + len < end && ((p[len] >= 'a' && p[len] <= 'z') || (p[len] >= 'A' && p[len] <= 'Z')))
		len++;
	for (size_t i = 0; i < n; i++)
		if (strlen(words[i]) == len && !strncasecmp(p, words[i], len))
			return true;
	return false;
}

/* Whether req's statement may run inside the transaction that records it: a statement
 * that changes data or schema. VACUUM refuses to run in a transaction, and PRAGMAs or
 * transaction control have their own rules: those run as they come, unrecorded. */
static bool exec_recordable(const struct wire_exec *req)
{
	static const char *const kinds[] = { "insert", "update", "delete", "replace", "create",
					     "drop", "alter", "with", "reindex", "analyze" };

	return exec_first_word_is(req, kinds, sizeof(kinds) / sizeof(kinds[0]));
}

/* Runs the fixed statement sql on c through its cache, binding the integers a[0..na) and
 * the blob (b, bn) after them when b is set; steps it once. Returns the SQLite code of the
 * step (SQLITE_DONE, or SQLITE_ROW with column 0 of the row appended to out as a blob when
 * out is set, and stored in *num as an integer when num is set), or of the prepare. */
static int exec_fixed(struct fwd_exec_conn *c, const char *sql, const sqlite3_int64 *a, int na,
		      const void *b, size_t bn, struct wire_buf *out, sqlite3_int64 *num)
{
	size_t len = strlen(sql);
	sqlite3_stmt *stmt = exec_stmt_take(c, sql, len);
	int rc, i;

	if (!stmt && (rc = sqlite3_prepare_v2(c->db, sql, (int)len, &stmt, NULL)) != SQLITE_OK)
		return rc;
	for (i = 0; i < na; i++)
		sqlite3_bind_int64(stmt, i + 1, a[i]);
	if (b)
		sqlite3_bind_blob64(stmt, i + 1, b, bn, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && out) {
		const void *p = sqlite3_column_blob(stmt, 0);
		size_t n = (size_t)sqlite3_column_bytes(stmt, 0);

		if (n && wire_buf_append(out, p, n))
			rc = SQLITE_NOMEM;
	}
	if (rc == SQLITE_ROW && num)
		*num = sqlite3_column_int64(stmt, 0);
	exec_stmt_give(c, stmt, sql, len);
	return rc;
}

/* Runs the transaction control statement sql (BEGIN IMMEDIATE, COMMIT, the savepoints of
 * group commit) on c through its statement cache: each forwarded write has them, and
 * preparing BEGIN and COMMIT each time was a tenth of the forwarder's instructions.
 * Returns SQLITE_OK or SQLite's error. */
static int exec_control(struct fwd_exec_conn *c, const char *sql)
{
	int rc = exec_fixed(c, sql, NULL, 0, NULL, 0, NULL, NULL);

	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Answers req from the record of c's database when it was executed before. Returns 1 (the
 * recorded reply appended to out), 0 (not recorded: no such row, or no table yet),
 * -ENOMEM, or -EAGAIN when the record cannot be read now (a lock, or the recovery of a
 * WAL left by a forwarder that died): the request must not run then, since it may have. */
static int exec_record_lookup(struct fwd_exec_conn *c, const struct wire_exec *req,
			      struct wire_buf *out)
{
	sqlite3_int64 id = (sqlite3_int64)req->request_id;
	size_t start = out->len;
	int rc = exec_fixed(c, "SELECT reply FROM " EXEC_RECORD_TABLE " WHERE id = ?1", &id, 1,
			    NULL, 0, out, NULL);

	if (rc == SQLITE_ROW && out->len > start)
		return 1;
	out->len = start;
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_NOMEM)
		return -ENOMEM;
	if (rc == SQLITE_ERROR && strstr(sqlite3_errmsg(c->db), "no such table"))
		return 0;
	fwd_log_info("%s: the record of request %llu cannot be read now: %s", c->name,
		     (unsigned long long)req->request_id, sqlite3_errmsg(c->db));
	return -EAGAIN;
}

/* The TXID of c's database, with its write lock held (nothing commits meanwhile): the
 * last one known here when SQLite's data version shows no other commit since, else read
 * from <db>-pos. 0 when unknown. */
static uint64_t exec_txid_locked(const struct fwd_exec *x, struct fwd_exec_conn *c)
{
	unsigned dv = 0;

	sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &dv);
	if (!c->txid_known || dv != c->data_version) {
		c->txid = exec_read_txid(x, c);
		c->txid_known = c->txid != 0;
		c->data_version = dv;
	}
	return c->txid;
}

/* Deletes the records older than `before` (ms since the epoch) among the next
 * EXEC_RECORD_PRUNE_SPAN records after c's prune cursor, in id order, and moves the cursor
 * past them (back to the start at the end of the table). Ids are not in time order (each
 * process starts at a random one), so a whole-table DELETE by time would read every record
 * each time (10 minutes of writes); a span twice the writes between prunes reads a few
 * pages and still sweeps the table faster than it grows. Returns SQLITE_DONE or SQLite's
 * error. */
static int exec_record_prune(struct fwd_exec_conn *c, sqlite3_int64 before)
{
	sqlite3_int64 args[3] = { c->prune_after, INT64_MAX, before };
	int rc;

	/* the id that ends the span; none: the span goes to the end of the table */
	rc = exec_fixed(c, "SELECT id FROM " EXEC_RECORD_TABLE " WHERE id > ?1 ORDER BY id "
			"LIMIT 1 OFFSET " EXEC_STR(EXEC_RECORD_PRUNE_SPAN), args, 1, NULL, 0, NULL,
			&args[1]);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	rc = exec_fixed(c, "DELETE FROM " EXEC_RECORD_TABLE " WHERE id > ?1 AND id <= ?2 "
			"AND at < ?3", args, 3, NULL, 0, NULL, NULL);
	if (rc == SQLITE_DONE)
		c->prune_after = args[1] == INT64_MAX ? INT64_MIN : args[1];
	return rc;
}

/* Writes the record of request id with its reply (to be committed with the statement),
 * creating the table on first use and pruning old records now and then; leaves the
 * connection's last_insert_rowid as it was. Returns SQLITE_OK or SQLite's error. */
static int exec_record_write(struct fwd_exec_conn *c, uint64_t id, const struct wire_buf *reply)
{
	sqlite3_int64 rowid = sqlite3_last_insert_rowid(c->db);
	sqlite3_int64 args[2] = { (sqlite3_int64)id, 0 };
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	args[1] = (sqlite3_int64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (!c->record_ready) {
		rc = sqlite3_exec(c->db, "CREATE TABLE IF NOT EXISTS " EXEC_RECORD_TABLE
				  "(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, reply BLOB NOT NULL)",
				  NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc;
		c->record_ready = true;
	}
	rc = exec_fixed(c, "INSERT OR REPLACE INTO " EXEC_RECORD_TABLE "(id, at, reply) "
			"VALUES (?1, ?2, ?3)", args, 2, reply->p, reply->len, NULL, NULL);
	if (rc == SQLITE_DONE && ++c->recorded % EXEC_RECORD_PRUNE_EVERY == 0)
		rc = exec_record_prune(c, args[1] - EXEC_RECORD_KEEP_MS);
	sqlite3_set_last_insert_rowid(c->db, rowid);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Makes o say that the statement's changes were undone because rc, SQLite's error on db
 * (the record's write or the commit failed): nothing of it stays, and the program sees
 * why, as SQLite shows a statement whose own commit failed in autocommit mode (a deferred
 * foreign key, a full disk): no rows, no changes counted, but last_insert_rowid as the
 * statement set it (SQLite does not roll that back). Returns 0 or -ENOMEM. */
static int exec_outcome_undone(struct exec_outcome *o, sqlite3 *db, int rc, uint64_t before)
{
	int err = exec_outcome_take_error(o, db, rc);

	exec_cells_free(o);
	o->res.changes = o->res.total_changes_delta = 0;
	o->res.txid = before;
	return err;
}

/* Whether the failed commit whose error is in o may nonetheless stand: an I/O error (or a
 * file gone) may come after LiteFS took the commit, when it stops meanwhile; LiteFS
 * refusing it (EACCES), or a commit frame that could not be written at all, is certain. fwd_exec_run() has the client ask again as a repeat,
 * which the record answers if it stands. */
static bool exec_commit_unsure(const struct exec_outcome *o)
{
	return exec_conn_broken(o->res.xrc) && !litefs_write_refused(o->res.xrc, o->sys_errno) &&
	       fwd_walwrite_commit_state() != -1;
}

/* Makes o the I/O error of a commit (LITEFS_FWD_FAULT=ioerr-after-commit:N). */
static void exec_outcome_fake_ioerr(struct exec_outcome *o)
{
	o->res.rc = SQLITE_IOERR;
	o->res.xrc = SQLITE_IOERR_FSYNC;
	o->sys_errno = EIO;
	free(o->errmsg);
	o->errmsg = strdup("disk I/O error");
}

/* Whether outcome o of a statement that ran leaves changes to commit: it succeeded, or
 * failed a constraint under ON CONFLICT FAIL after changing rows (committed in autocommit
 * mode); any other failure changed nothing. */
static bool exec_outcome_keeps(const struct exec_outcome *o)
{
	return o->res.rc == SQLITE_DONE || (o->res.rc & 0xff) == SQLITE_CONSTRAINT;
}

/* req's statement in a transaction of its own with the record of its execution, on c (held):
 * BEGIN IMMEDIATE, the statement, the record, COMMIT. What the program sees is what the
 * statement alone would have shown in autocommit mode: its counts are taken before the
 * record is written, and last_insert_rowid is put back. Returns as exec_statement(), 0
 * meaning the reply (recorded) is in out; the transaction is over on return. */
static int exec_run_recorded(struct fwd_exec *x, struct fwd_exec_conn *c,
			     const struct wire_exec *req, size_t max, struct wire_buf *out,
			     struct exec_outcome *o, bool *executed, bool *wrote)
{
	struct wire_buf reply = { 0 };
	uint64_t before;
	bool changed, faulted;
	int rc;

	*executed = false;
	*wrote = false;
	exec_lock_wait(c, req);
	rc = exec_control(c, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return exec_outcome_take_error(o, c->db, rc) ?: 1;  /* the lock: ask again */
	before = exec_txid_locked(x, c);
	rc = exec_statement(c, req, max, out, o, executed, &changed);
	if (rc != 1 || !*executed || sqlite3_get_autocommit(c->db) || !exec_outcome_keeps(o)) {
		/* not run, undone by SQLite with its transaction (RAISE(ROLLBACK)), or failed
		 * having changed nothing */
		exec_rollback(c->db);
		o->res.txid = before;
		return rc;
	}
	o->res.txid = before ? before + 1 : 0;
	rc = exec_encode_result(o, max, &reply);
	if (rc) {
		exec_rollback(c->db);  /* no reply: the client asks again */
		*executed = false;
		goto out;
	}
	rc = exec_record_write(c, req->request_id, &reply);
	fwd_walwrite_commit_reset();
	if (rc == SQLITE_OK)
		rc = exec_control(c, "COMMIT");
	faulted = rc == SQLITE_OK && fwd_fault_fail_commit();
	if (rc != SQLITE_OK || faulted) {
		rc = exec_outcome_undone(o, c->db, faulted ? SQLITE_IOERR : rc, before) ?: 1;
		if (faulted)
			exec_outcome_fake_ioerr(o);
		exec_rollback(c->db);
		*executed = exec_commit_unsure(o);
		goto out;
	}
	*wrote = true;
	fwd_fault_after_commit();
	if (before) {
		unsigned dv = 0;

		sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &dv);
		c->txid = before + 1;
		c->data_version = dv;
		rc = wire_buf_append(out, reply.p, reply.len);
	} else {
		/* The TXID was unknown before (a database's first transaction has no -pos
		 * yet): read it now, for the program's read-your-writes wait. The record
		 * keeps 0 (a repeat then does not wait). */
		o->res.txid = exec_txid(x, c, true, true);
		rc = exec_encode_result(o, max, out);
	}
out:
	wire_buf_free(&reply);
	return rc;
}

/* Answers req from the record when it is a request sent again (only those can have run
 * before) that ran. Returns 1 when out holds the answer (the recorded reply, with
 * *recorded set, or an ERROR EAGAIN when the record cannot be read now: the request may
 * have run, nothing may run it), 0 when req is to run, or a negative errno (no reply). */
static int exec_answer_repeat(struct fwd_exec_conn *c, const struct wire_exec *req, size_t max,
			      struct wire_buf *out, bool *recorded)
{
	int rc = req->session_flags & WIRE_EXEC_REPEAT ? exec_record_lookup(c, req, out) : 0;

	*recorded = rc == 1;
	if (rc == 1)
		fwd_log_info("request %llu: executed before, answered from the record",
			     (unsigned long long)req->request_id);
	else if (rc == -EAGAIN)
		rc = fwd_reply_error(out, max, req->request_id, EAGAIN,
				     "the record of executed requests cannot be read now; "
				     "nothing was executed") ?: 1;
	return rc;
}

/* A recordable request on c (held): answered from the record when it ran before (with
 * *recorded set), else run by exec_run_recorded(). Returns as that. */
static int exec_run_once(struct fwd_exec *x, struct fwd_exec_conn *c,
			 const struct wire_exec *req, size_t max, struct wire_buf *out,
			 struct exec_outcome *o, bool *executed, bool *wrote, bool *recorded)
{
	int rc = exec_answer_repeat(c, req, max, out, recorded);

	*executed = false;
	*wrote = false;
	if (rc)
		return rc == 1 ? 0 : rc;
	return exec_run_recorded(x, c, req, max, out, o, executed, wrote);
}

/* Group commit. Autocommit writes to one database that arrive while another commit of it
 * is under way run together as the next batch: one transaction in which each statement
 * has a savepoint of its own, so that a statement that fails is undone alone and every
 * statement keeps the outcome it would have had in autocommit mode (its code, message,
 * counts and rowid, and its own record); one commit, one TXID; and every reply waits for
 * that commit. What cannot be kept apart in one transaction runs after the batch, alone,
 * as without group commit: a statement after which SQLite rolled the whole transaction
 * back (RAISE(ROLLBACK), ON CONFLICT ROLLBACK, an I/O error; the batch then starts again
 * without it), and one that leaves a deferred foreign key unresolved (its own commit would
 * fail). */
#define EXEC_BATCH_SAVEPOINT "litefs_fwd_batch"

/* One write waiting for, or in, a batch: what fwd_exec_run() hands over, and what the
 * batch leaves for it. */
struct exec_job {
	struct fwd_batch_job base;
	struct fwd_exec *x;
	struct fwd_exec_conn *c;        /* the connection whose batch this is */
	const struct wire_exec *req;
	size_t max;
	struct wire_buf *out;
	size_t out_start;               /* out's length before this job */
	struct exec_outcome *o;
	struct wire_buf reply;          /* a kept job's reply, as recorded */
	int rc;                         /* as exec_run_recorded() */
	bool executed, wrote;
	bool recorded;                  /* answered from the record of executed requests */
	bool kept;                      /* its changes wait for the batch's commit */
	bool alone;                     /* runs after the batch, in a transaction of its own */
};

static struct exec_job *exec_job_of(struct fwd_batch_job *b)
{
	return (struct exec_job *)((char *)b - offsetof(struct exec_job, base));
}

/* Forgets what running j in a batch left (the batch is starting again). */
static void exec_job_reset(struct exec_job *j)
{
	exec_outcome_free(j->o);
	memset(j->o, 0, sizeof(*j->o));
	j->o->res.request_id = j->req->request_id;
	j->out->len = j->out_start;
	wire_buf_free(&j->reply);
	j->reply = (struct wire_buf){ 0 };
	j->rc = 1;
	j->executed = j->wrote = j->kept = j->recorded = false;
}

/* Undoes j's savepoint, keeping the transaction. */
static void exec_job_undo(struct exec_job *j)
{
	exec_control(j->c, "ROLLBACK TO " EXEC_BATCH_SAVEPOINT);
	exec_control(j->c, "RELEASE " EXEC_BATCH_SAVEPOINT);
}

/* Runs j in the open transaction of its batch, in a savepoint of its own, with its record;
 * before is the TXID before the batch. Sets j->kept when its changes are to be committed
 * (its recorded reply in j->reply), j->alone when it is to run on its own after the batch,
 * and else leaves its outcome as exec_run_recorded() would. Returns false when SQLite
 * ended the transaction: everything the batch did is undone, j->alone set. */
static bool exec_job_in_batch(struct exec_job *j, uint64_t before)
{
	struct fwd_exec_conn *c = j->c;
	const struct wire_exec *req = j->req;
	struct exec_outcome *o = j->o;
	int pending = 0, unused, rc;
	bool changed;

	rc = exec_answer_repeat(c, req, j->max, j->out, &j->recorded);
	if (rc) {
		j->rc = rc == 1 ? 0 : rc;
		return true;
	}
	if (exec_control(c, "SAVEPOINT " EXEC_BATCH_SAVEPOINT) != SQLITE_OK) {
		j->alone = true;
		return !sqlite3_get_autocommit(c->db);
	}
	j->rc = exec_statement(c, req, j->max, j->out, o, &j->executed, &changed);
	if (sqlite3_get_autocommit(c->db)) {
		j->alone = true;
		return false;
	}
	if (j->rc == 1 && j->executed)
		sqlite3_db_status(c->db, SQLITE_DBSTATUS_DEFERRED_FKS, &pending, &unused, 0);
	if (j->rc != 1 || !j->executed || !exec_outcome_keeps(o) || pending) {
		exec_job_undo(j);
		if (pending) {
			exec_job_reset(j);
			j->alone = true;
		}
		o->res.txid = before;
		return true;
	}
	o->res.txid = before ? before + 1 : 0;
	rc = exec_encode_result(o, j->max, &j->reply);
	if (rc) {
		exec_job_undo(j);  /* no reply: the client asks again */
		j->rc = rc;
		j->executed = false;
		return true;
	}
	rc = exec_record_write(c, req->request_id, &j->reply);
	if (rc != SQLITE_OK && sqlite3_get_autocommit(c->db)) {
		j->alone = true;
		return false;
	}
	if (rc != SQLITE_OK) {
		j->rc = exec_outcome_undone(o, c->db, rc, before) ?: 1;
		exec_job_undo(j);
		j->executed = false;
		return true;
	}
	exec_control(c, "RELEASE " EXEC_BATCH_SAVEPOINT);
	j->kept = true;
	return true;
}

/* Ends the batch's transaction on c after its jobs ran: commits what they kept and puts
 * their replies out, or, when the commit fails, makes every kept job's outcome say why. */
static void exec_batch_commit(struct exec_job **jobs, size_t n, uint64_t before)
{
	struct fwd_exec_conn *c = jobs[0]->c;
	size_t kept = 0;
	uint64_t txid = before + 1;
	unsigned dv = 0;
	bool faulted;
	int rc;

	for (size_t i = 0; i < n; i++)
		kept += jobs[i]->kept;
	fwd_walwrite_commit_reset();
	rc = kept ? exec_control(c, "COMMIT") : SQLITE_OK;
	faulted = rc == SQLITE_OK && kept && fwd_fault_fail_commit();
	if (!kept || rc != SQLITE_OK || faulted) {
		for (size_t i = 0; i < n; i++) {
			struct exec_job *j = jobs[i];

			if (!j->kept)
				continue;
			j->rc = exec_outcome_undone(j->o, c->db, faulted ? SQLITE_IOERR : rc, before) ?: 1;
			if (faulted)
				exec_outcome_fake_ioerr(j->o);
			j->executed = exec_commit_unsure(j->o);
			j->kept = false;
		}
		if (exec_rollback(c->db)) {
			fwd_log_error("%s: transaction stays open after ROLLBACK; closing", c->name);
			exec_conn_drop(jobs[0]->x, c);
		}
		return;
	}
	fwd_fault_after_commit();
	if (before) {
		sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &dv);
		c->txid = txid;
		c->data_version = dv;
	} else {
		/* as in exec_run_recorded(): the records keep 0 */
		txid = exec_txid(jobs[0]->x, c, true, true);
	}
	for (size_t i = 0; i < n; i++) {
		struct exec_job *j = jobs[i];

		if (!j->kept)
			continue;
		j->wrote = true;
		if (before) {
			j->rc = wire_buf_append(j->out, j->reply.p, j->reply.len);
		} else {
			j->o->res.txid = txid;
			j->rc = exec_encode_result(j->o, j->max, j->out);
		}
	}
}

/* The fwd_batch_run_fn of a connection's batch: runs jobs[0..n), all on one connection,
 * with its run_lock held. A batch of one runs as without group commit. */
static void exec_batch_run(struct fwd_batch_job **batch, size_t n)
{
	struct exec_job *jobs[FWD_BATCH_MAX] = { 0 }, *j;
	struct fwd_exec_conn *c;
	struct fwd_exec *x;
	const struct wire_exec *slowest;
	uint64_t before = 0;
	size_t left;
	int rc;

	for (size_t i = 0; i < n; i++)
		jobs[i] = exec_job_of(batch[i]);
	c = jobs[0]->c;
	x = jobs[0]->x;
	pthread_mutex_lock(&c->run_lock);
again:
	left = 0;
	slowest = NULL;
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->alone)
			continue;
		left++;
		if (!slowest || jobs[i]->req->busy_timeout_ms > slowest->busy_timeout_ms)
			slowest = jobs[i]->req;
	}
	if (left < 2)
		goto alone;
	exec_lock_wait(c, slowest);
	rc = exec_control(c, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK) {
		/* the lock: every one of them asks again, nothing run */
		for (size_t i = 0; i < n; i++) {
			j = jobs[i];
			exec_job_reset(j);
			j->rc = exec_outcome_take_error(j->o, c->db, rc) ?: 1;
			j->alone = false;
		}
		goto unlock;
	}
	before = exec_txid_locked(x, c);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->alone || exec_job_in_batch(jobs[i], before))
			continue;
		/* SQLite rolled the transaction back: again without jobs[i] */
		for (size_t k = 0; k < n; k++)
			exec_job_reset(jobs[k]);
		goto again;
	}
	exec_batch_commit(jobs, n, before);
alone:
	for (size_t i = 0; i < n; i++) {
		j = jobs[i];
		if (left >= 2 && !j->alone)
			continue;
		exec_job_reset(j);
		j->rc = exec_run_once(x, c, j->req, j->max, j->out, j->o, &j->executed, &j->wrote,
				      &j->recorded);
		j->alone = false;
	}
unlock:
	pthread_mutex_unlock(&c->run_lock);
}

/* The answer to a request when the mount is not LiteFS's any more: nothing was executed,
 * ask again (the client does, within its timeout). Returns as fwd_reply_error(). */
static int exec_reply_no_mount(const struct fwd_exec *x, uint64_t id, size_t max,
			       struct wire_buf *out)
{
	return fwd_reply_error(out, max, id, EAGAIN,
			       "LiteFS is not mounted at %s now; nothing was executed", x->mount);
}

int fwd_exec_run(struct fwd_exec *x, const struct wire_exec *req, size_t max,
		 struct wire_buf *out, bool *executed, bool *wrote, bool *refused)
{
	struct exec_outcome o;
	struct fwd_exec_conn *c;
	uint64_t id = req->request_id;
	int rc, uncertain = 0;

	*executed = false;
	*wrote = false;
	*refused = false;
	memset(&o, 0, sizeof(o));
	o.res.request_id = id;
	if (req->sql.n >= INT_MAX)
		return fwd_reply_error(out, max, id, E2BIG, "statement too long");
	rc = exec_conn_get(x, &req->db, &c, &o);
	if (rc == -EIO)
		goto encode;  /* SQLite's reason for not opening it */
	if (rc == -ENOTCONN) {
		rc = exec_reply_no_mount(x, id, max, out);
		goto out;
	}
	if (rc)
		goto out;
	if (!x->no_record && exec_recordable(req)) {
		struct exec_job j = {
			.x = x, .c = c, .req = req, .max = max, .out = out,
			.out_start = out->len, .o = &o, .rc = 1,
		};

		fwd_batch_submit(&c->batch, &j.base, exec_batch_run);
		wire_buf_free(&j.reply);
		if (j.recorded)
			fwd_metrics_note_repeat();  /* in the thread answering the request */
		rc = j.rc;
		*executed = j.executed;
		*wrote = j.wrote;
		goto done;
	}
	pthread_mutex_lock(&c->run_lock);
	rc = exec_statement(c, req, max, out, &o, executed, wrote);
	if (rc == 1 && *executed && !sqlite3_get_autocommit(c->db)) {
		/* A transaction is a session's: undo and refuse. */
		*executed = false;
		*wrote = false;
		if (exec_rollback(c->db)) {
			fwd_log_error("%s: transaction stays open after ROLLBACK; closing",
				      c->name);
			exec_conn_drop(x, c);
		}
		rc = fwd_reply_error(out, max, id, ENOTSUP,
				     "a transaction can only be opened in a session; rolled back");
	} else if (rc == 1 && *executed) {
		o.res.txid = exec_txid(x, c, o.res.rc == SQLITE_DONE, *wrote);
	}
	pthread_mutex_unlock(&c->run_lock);
done:
	*refused = rc == 1 && litefs_write_refused(o.res.xrc, o.sys_errno);
	if (rc == 1 && o.res.rc != SQLITE_DONE)
		fwd_log_debug("request %llu: %s (extended code %d, system errno %d)%s",
			      (unsigned long long)id, o.errmsg ? o.errmsg : "", o.res.xrc,
			      o.sys_errno, *refused ? ": refused by LiteFS" : "");
	if (rc == 1 && !*refused && exec_conn_broken(o.res.xrc)) {
		fwd_log_info("request %llu: %s: %s (system errno %d); its connection is closed, "
			     "the next request opens it again", (unsigned long long)id, c->name,
			     o.errmsg ? o.errmsg : "", o.sys_errno);
		exec_conn_drop(x, c);
		/* An I/O error may come after the commit reached LiteFS (it stopped while
		 * answering): the statement's outcome is unknown here, and the client asks
		 * again, flagged as a repeat, which the record answers. A statement that did
		 * not run is asked again as it is. Unrecorded, the error is the answer. */
		if (!*executed)
			uncertain = EAGAIN;
		else if (!x->no_record && exec_recordable(req))
			uncertain = EINPROGRESS;
	}
	if (uncertain) {
		*executed = false;
		*wrote = false;
		/* before exec_conn_put(): a dropped connection is freed there */
		rc = fwd_reply_error(out, max, id, uncertain, uncertain == EAGAIN ?
				     "%s: the database cannot be read now; nothing was executed" :
				     "%s: an I/O error after the statement ran: it may have been "
				     "committed; ask again as a repeat", c->name);
		exec_conn_put(x, c);
		goto out;
	}
	exec_conn_put(x, c);
	if (rc != 1)
		goto out;
encode:
	rc = exec_encode_result(&o, max, out);
out:
	exec_outcome_free(&o);
	return rc;
}

/* Makes o say that the transaction's first write was refused and undone: code xrc and
 * SQLite's text for it, nothing changed, no rows. Returns 0 or -ENOMEM. */
static int exec_outcome_refused(struct exec_outcome *o, int xrc)
{
	exec_cells_free(o);
	o->drop = 0;
	o->res.rc = xrc & 0xff;
	o->res.xrc = xrc;
	o->res.changes = 0;
	o->res.total_changes_delta = 0;
	o->res.flags = WIRE_RESULT_NOT_BEGUN;
	o->res.ncols = 0;
	free(o->errmsg);
	o->errmsg = strdup(sqlite3_errstr(xrc));
	return o->errmsg ? 0 : -ENOMEM;
}

/* The first request of a session: on a connection of its own, the prologue, then the
 * statement; refused and undone (WIRE_RESULT_NOT_BEGUN) when the statement could not get
 * the write lock, or when the primary is past the snapshot the transaction read on the
 * replica. The write lock is held by then, so nothing can commit between the check and
 * the transaction's end. Returns as exec_statement(); *c is the connection when the
 * transaction stays open, else NULL (closed). */
static int exec_session_begin(struct fwd_exec *x, struct fwd_exec_conn **cp,
			      const struct wire_exec *req, size_t max, struct wire_buf *out,
			      struct exec_outcome *o, bool *ran, bool *wrote)
{
	struct fwd_exec_conn *c = NULL;
	int rc;

	*cp = NULL;
	*ran = false;
	*wrote = false;
	rc = exec_conn_open(x, &req->db, &c, o);
	if (rc == -EIO) {
		o->res.flags |= WIRE_RESULT_NOT_BEGUN;
		return 1;
	}
	if (rc)
		return rc;
	c->own = true;
	if (x->session_cache_kib > 0) {
		/* a session's memory is mostly its page cache: capped, so that many open
		 * transactions cannot take the primary's memory */
		char pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%d", x->session_cache_kib);
		sqlite3_exec(c->db, pragma, NULL, NULL, NULL);
	}
	if (req->prologue.n) {
		char *text = strndup(req->prologue.p, req->prologue.n);

		if (!text) {
			rc = -ENOMEM;
			goto fail;
		}
		exec_lock_wait(c, req);
		rc = sqlite3_exec(c->db, text, NULL, NULL, NULL);
		free(text);
		if (rc != SQLITE_OK) {
			rc = exec_outcome_take_error(o, c->db, rc) ?: 1;
			o->res.flags |= WIRE_RESULT_NOT_BEGUN;
			goto fail;
		}
	}
	rc = exec_statement(c, req, max, out, o, ran, wrote);
	if (rc != 1)
		goto fail;  /* refused: nothing ran */
	if (!*ran) {
		/* It could not be prepared (a schema read refused while another connection
		 * writes: SQLITE_BUSY): the transaction has not begun. */
		o->res.flags |= WIRE_RESULT_NOT_BEGUN;
		goto fail;
	}
	if ((o->res.rc & 0xff) == SQLITE_BUSY) {
		rc = exec_outcome_refused(o, o->res.xrc) ?: 1;
		*ran = false;
		goto fail;
	}
	if (sqlite3_get_autocommit(c->db))
		goto done;
	if (req->session_flags & WIRE_SESSION_SNAPSHOT) {
		uint64_t txid = exec_read_txid(x, c);

		if (txid != req->snapshot_txid) {
			fwd_log_debug("request %llu: transaction read TXID %llu, primary is at %llu",
				      (unsigned long long)req->request_id,
				      (unsigned long long)req->snapshot_txid,
				      (unsigned long long)txid);
			rc = exec_outcome_refused(o, SQLITE_BUSY_SNAPSHOT) ?: 1;
			o->res.txid = txid;
			*ran = false;
			goto fail;
		}
	}
done:
	if (rc == 1 && !sqlite3_get_autocommit(c->db)) {
		*cp = c;
		return rc;
	}
fail:
	*wrote = false;
	exec_conn_free(c);  /* rolls back */
	return rc;
}

/* Whether req's statement ends a transaction by committing it (COMMIT, END). */
static bool exec_is_commit(const struct wire_exec *req)
{
	static const char *const words[] = { "commit", "end" };

	return exec_first_word_is(req, words, 2);
}

/* A session's COMMIT, recorded in the transaction it commits: the reply it will have when
 * it succeeds is written first, so that it is committed (and replicated) with it, and a
 * COMMIT asked again after a lost answer is answered from the record even where the
 * session is gone. Returns 0 with that reply in out when the COMMIT succeeded, else as
 * exec_statement() (its outcome in o). */
static int exec_session_commit(struct fwd_exec *x, struct fwd_exec_conn *c,
			       const struct wire_exec *req, size_t max, struct wire_buf *out,
			       struct exec_outcome *o, struct fwd_exec_report *rep)
{
	struct exec_outcome done;
	struct wire_buf reply = { 0 };
	uint64_t before = exec_read_txid(x, c);
	int rc;

	memset(&done, 0, sizeof(done));
	done.res.request_id = req->request_id;
	done.res.rc = done.res.xrc = SQLITE_DONE;
	done.errmsg = strdup(sqlite3_errstr(SQLITE_DONE));
	done.res.changes = sqlite3_changes64(c->db);
	done.res.txid = before ? before + 1 : 0;
	rc = done.errmsg ? exec_encode_result(&done, max, &reply) : -ENOMEM;
	exec_outcome_free(&done);
	if (!rc && exec_record_write(c, req->request_id, &reply) != SQLITE_OK)
		rc = -EIO;
	if (rc) {
		/* no record: the COMMIT goes on unrecorded, as with --request-record off */
		wire_buf_free(&reply);
		return exec_statement(c, req, max, out, o, &rep->executed, &rep->wrote);
	}
	rc = exec_statement(c, req, max, out, o, &rep->executed, &rep->wrote);
	if (rc == 1 && rep->executed && o->res.rc == SQLITE_DONE && sqlite3_get_autocommit(c->db) &&
	    before) {
		rep->in_txn = false;
		rc = wire_buf_append(out, reply.p, reply.len);
	}  /* else the caller encodes o, reading the TXID after the commit */
	wire_buf_free(&reply);
	return rc;
}

int fwd_exec_run_session(struct fwd_exec *x, struct fwd_exec_conn **cp,
			 const struct wire_exec *req, size_t max, struct wire_buf *out,
			 struct fwd_exec_report *rep)
{
	struct exec_outcome o;
	struct fwd_exec_conn *c;
	int rc;

	memset(rep, 0, sizeof(*rep));
	memset(&o, 0, sizeof(o));
	o.res.request_id = req->request_id;
	if (req->sql.n >= INT_MAX)
		return fwd_reply_error(out, max, req->request_id, E2BIG, "statement too long");
	if (req->session_flags & WIRE_SESSION_BEGIN) {
		rc = exec_session_begin(x, cp, req, max, out, &o, &rep->executed, &rep->wrote);
		if (rc == -ENOTCONN)
			rc = exec_reply_no_mount(x, req->request_id, max, out);
	} else if (!x->no_record && exec_is_commit(req)) {
		rc = exec_session_commit(x, *cp, req, max, out, &o, rep);
	} else if (*cp && sqlite3_get_autocommit((*cp)->db)) {
		/* The transaction is gone from the session's connection (SQLite rolled it back
		 * on an error whose answer the client never had, say): the statement would run
		 * alone, in autocommit mode. */
		rc = fwd_reply_result(out, max, req->request_id, SQLITE_ABORT_ROLLBACK, 0,
				      "litefs-fwd: the transaction was rolled back on the primary");
		goto out;
	} else {
		rc = exec_statement(*cp, req, max, out, &o, &rep->executed, &rep->wrote);
	}
	c = *cp;
	rep->in_txn = c && !sqlite3_get_autocommit(c->db);
	if (rc != 1)
		goto out;
	if (rep->in_txn)
		o.res.flags |= WIRE_RESULT_IN_TXN;
	else if (c && rep->executed)
		o.res.txid = exec_read_txid(x, c);  /* the transaction ended here */
	rc = exec_encode_result(&o, max, out);
out:
	exec_outcome_free(&o);
	return rc;
}

int fwd_exec_lookup(struct fwd_exec *x, const struct wire_exec *req, struct wire_buf *out)
{
	struct exec_outcome o;
	struct fwd_exec_conn *c;
	int rc;

	if (x->no_record)
		return 0;
	memset(&o, 0, sizeof(o));
	rc = exec_conn_get(x, &req->db, &c, &o);
	exec_outcome_free(&o);
	if (rc == -ENOTCONN)
		return -EAGAIN;  /* the record cannot be read now */
	if (rc)
		return rc == -EIO ? 0 : rc;
	pthread_mutex_lock(&c->run_lock);
	rc = exec_record_lookup(c, req, out);
	if (rc == -EAGAIN && exec_conn_broken(sqlite3_extended_errcode(c->db)))
		exec_conn_drop(x, c);  /* asked again, on a connection opened anew */
	pthread_mutex_unlock(&c->run_lock);
	exec_conn_put(x, c);
	return rc;
}

void fwd_exec_conn_close(struct fwd_exec_conn *c)
{
	if (c)
		exec_conn_free(c);
}

int fwd_exec_describe(struct fwd_exec_conn *c, const struct wire_exec *req, size_t max,
		      struct wire_buf *out)
{
	struct wire_description d = { .request_id = req->request_id };
	struct wire_value *vals = NULL;
	const char *sql = req->sql.n ? req->sql.p : exec_empty, *tail = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc, np = 0, nc = 0;

	if (req->sql.n >= INT_MAX)
		return fwd_reply_error(out, max, req->request_id, E2BIG, "statement too long");
	rc = sqlite3_prepare_v2(c->db, sql, (int)req->sql.n, &stmt, &tail);
	d.rc = rc;
	d.xrc = sqlite3_extended_errcode(c->db);
	d.errmsg.p = sqlite3_errmsg(c->db);
	d.errmsg.n = (uint32_t)strlen(d.errmsg.p);
	if (rc == SQLITE_OK) {
		d.rc = d.xrc = SQLITE_OK;
		d.errmsg.n = 0;
		d.tail = tail ? (uint32_t)(tail - sql) : req->sql.n;
		if (!stmt || sqlite3_stmt_readonly(stmt))
			d.flags |= WIRE_DESC_READONLY;
		np = stmt ? sqlite3_bind_parameter_count(stmt) : 0;
		nc = stmt ? sqlite3_column_count(stmt) : 0;
		vals = calloc((size_t)np + (size_t)nc * 2 + 1, sizeof(*vals));
		if (!vals) {
			rc = -ENOMEM;
			goto out;
		}
		for (int i = 0; i < np; i++) {
			const char *name = sqlite3_bind_parameter_name(stmt, i + 1);

			if (name)
				vals[i] = (struct wire_value){ .type = WIRE_TEXT,
							       .u.s = { name, strlen(name) } };
		}
		for (int i = 0; i < nc; i++) {
			const char *name = sqlite3_column_name(stmt, i);
			const char *type = sqlite3_column_decltype(stmt, i);
			struct wire_value *v = &vals[np + i * 2];

			if (!name)
				name = "";
			v[0] = (struct wire_value){ .type = WIRE_TEXT, .u.s = { name, strlen(name) } };
			if (type)
				v[1] = (struct wire_value){ .type = WIRE_TEXT,
							    .u.s = { type, strlen(type) } };
		}
		d.nparams = (uint32_t)np;
		d.params = vals;
		d.ncols = (uint32_t)nc;
		d.cols = vals + np;
	}
	rc = wire_encode_description(out, &d, max);
out:
	free(vals);
	sqlite3_finalize(stmt);
	return rc;
}
