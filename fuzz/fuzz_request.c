/* libFuzzer harness of the forwarder's handling of one request (forwarder/request.c):
 * fwd_request_handle() on the input as the bytes of a received message, against a
 * forwarder on the primary whose "LiteFS mount" is a temporary directory (no .primary in
 * it, no info URL: the primary, see forwarder/role.h) holding a small database a.db.
 *
 * What a run without findings shows, for every input tried:
 *   - nothing on the way from received bytes to reply (decoding, checks of the request,
 *     the record of executed requests, sessions, binding, stepping, collecting rows,
 *     encoding) reads or writes outside its buffers, leaks, or has undefined behaviour
 *     (ASan, LSan, UBSan; SQLite itself is not instrumented);
 *   - it answers as request.h promises: 0 with exactly one well-formed reply of a reply
 *     type appended to the buffer, no larger than the cap of messages (or -ENOMEM with
 *     the buffer unchanged); a message that is not a well-formed EXEC, has request id 0
 *     or an invalid database name gets an ERROR with the documented code and the request
 *     id wire_peek_request_id() reads; any other reply carries the request's id;
 *   - a request that was executed (its reply recorded) is answered again, when the same
 *     bytes come a second time, with the same reply byte for byte, not run twice;
 *   - when the request opened a session whose transaction stays open, the harness goes on
 *     as the interposer would (DESCRIBE of the statement, the statement again, COMMIT)
 *     and the replies to those requests meet the same promises.
 * Any inconsistency calls abort(), which the fuzzer reports as a crash.
 *
 * State. The forwarder's long-lived parts are set up once in LLVMFuzzerInitialize and
 * kept, as in the daemon: the SQLite connections with their statement caches, the role
 * cache, and the databases in the mount, which the inputs change as they like. Two parts
 * are made afresh for each input and freed after it: the record of executed requests and
 * the session table. Both are keyed by the ids in the request, which mutations rarely
 * change: kept, they would answer nearly every input from an earlier one (a replay, or
 * "id reused for another request") instead of running it, and an input's outcome would
 * depend on the inputs before it, so a reported crash would not reproduce alone. Freeing
 * the session table also rolls back a transaction an input left open, which would
 * otherwise hold the write lock for the inputs after it.
 *
 * Bounds, so that a request asking SQLite for unbounded work (legitimate: the forwarder
 * runs what programs send) is cut short rather than reported as a timeout or as running
 * out of memory; none touches the forwarder's code:
 *   - every connection SQLite opens gets a progress handler that interrupts the first
 *     statement of an input that takes more than PROGRESS_BUDGET virtual machine steps
 *     (SQLITE_INTERRUPT, once per input, so that the forwarder's own clean-up statements
 *     after it run normally), and synchronous=OFF (durability is not under test);
 *   - SQLite's heap is capped at SQLITE_HEAP_LIMIT (restored before each input, since
 *     PRAGMA hard_heap_limit and soft_heap_limit can change it);
 *   - files are capped at FILE_SIZE_LIMIT bytes (RLIMIT_FSIZE, SIGXFSZ ignored: a write
 *     past it fails with EFBIG, where libFuzzer would stop on the signal), and every
 *     MOUNT_CHECK_EVERY inputs the mount is looked at: when it holds more than
 *     MOUNT_MAX_FILES files or MOUNT_MAX_BYTES bytes (each database name a request gives
 *     makes a file), the connections are closed and the mount starts over with a fresh
 *     a.db;
 *   - a file named .primary is removed after each input: a request may name its database
 *     ".primary" (fwd_dbname_check() allows it), and SQLite creating that file would turn
 *     this stand-in mount into a replica's for good, so every later input would only get
 *     NOT_PRIMARY (on a real mount, whether that file can be created is up to LiteFS).
 * The temporary directory is removed at exit (atexit); after a crash it is left behind,
 * named litefs-fwd-fuzz.* under $TMPDIR (default /tmp). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbname.h"
#include "dedup.h"
#include "exec.h"
#include "log.h"
#include "request.h"
#include "role.h"
#include "session.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Cap of requests and replies: small, so that rows too large for one reply are reached. */
#define MAX_MESSAGE (1u << 20)
#define DEDUP_MAX_ENTRIES 16
#define DEDUP_MAX_BYTES (4u << 20)
#define DEDUP_MAX_AGE_MS 60000
#define SESSIONS_MAX 4
/* Progress handler period and budget: PROGRESS_BUDGET VM steps per input, some 0.2 s. */
#define PROGRESS_PERIOD 1000
#define PROGRESS_BUDGET (5 * 1000 * 1000)
#define SQLITE_HEAP_LIMIT ((sqlite3_int64)256 << 20)
#define FILE_SIZE_LIMIT ((rlim_t)16 << 20)
#define MOUNT_CHECK_EVERY 32
#define MOUNT_MAX_FILES 256
#define MOUNT_MAX_BYTES ((long long)256 << 20)

/* The schema and rows of a.db: tables with a unique index, a foreign key, a trigger and
 * values of every type, so that seeds reach constraint failures and RETURNING rows. */
static const char schema_sql[] =
	"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE, b BLOB, n REAL);"
	"CREATE TABLE child(id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id));"
	"CREATE TABLE log(x);"
	"CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END;"
	"INSERT INTO t(v, b, n) VALUES ('a', x'00ff', 1.5), ('b', NULL, -0.0), "
	"('c', zeroblob(4), NULL);"
	"INSERT INTO child(t_id) VALUES (1), (2);";
/* LiteFS's position file of a.db: TXID 3. */
static const char pos_text[] = "0000000000000003/e04fc44716e5272f\n";

static char g_mount[PATH_MAX];
static bool g_ready;
static struct fwd_exec g_exec;
static struct fwd_role_cache g_role;
static unsigned long g_inputs;
/* The progress budget of the current input. */
static long g_steps;
static bool g_interrupted;

static void fail(const char *what, long v)
{
	fprintf(stderr, "fuzz_request: %s (%ld)\n", what, v);
	abort();
}

/* ---- SQLite: bounds on every connection ---------------------------------------------- */

static int progress(void *arg)
{
	(void)arg;
	if (g_interrupted)
		return 0;
	g_steps += PROGRESS_PERIOD;
	if (g_steps <= PROGRESS_BUDGET)
		return 0;
	g_interrupted = true;
	return 1;
}

/* Run by SQLite for each connection it opens (sqlite3_auto_extension). */
static int connection_setup(sqlite3 *db, const char **err, const void *api)
{
	(void)err;
	(void)api;
	sqlite3_progress_handler(db, PROGRESS_PERIOD, progress, NULL);
	sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	return SQLITE_OK;
}

/* ---- the mount ------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	return ftw->level ? remove(path) : 0; /* everything below the mount, not itself */
}

static void mount_empty(void)
{
	nftw(g_mount, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", g_mount, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fail("cannot write a file in the mount", errno);
	close(fd);
}

/* Makes a.db (and its position file) in the empty mount, and opens the forwarder on it. */
static void mount_fill(void)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	char *err = NULL;

	snprintf(path, sizeof(path), "%s/a.db", g_mount);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ||
	    sqlite3_exec(db, schema_sql, NULL, NULL, &err)) {
		fprintf(stderr, "fuzz_request: cannot make %s: %s\n", path,
			err ? err : sqlite3_errmsg(db));
		abort();
	}
	sqlite3_close(db);
	write_file("a.db-pos", pos_text);
	if (fwd_exec_init(&g_exec, g_mount))
		fail("fwd_exec_init", 0);
}

/* Starts the mount over when it holds too much (see the bounds above). */
static void mount_check(void)
{
	long long bytes = 0;
	size_t files = 0;
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(g_mount);

	if (!d)
		fail("cannot read the mount", errno);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		files++;
		if (!fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			bytes += st.st_size;
	}
	closedir(d);
	if (files <= MOUNT_MAX_FILES && bytes <= MOUNT_MAX_BYTES)
		return;
	fprintf(stderr, "fuzz_request: the mount holds %zu files, %lld bytes: starting over\n",
		files, bytes);
	fwd_exec_close(&g_exec);
	mount_empty();
	mount_fill();
}

static void cleanup(void)
{
	if (!g_ready)
		return;
	g_ready = false;
	fwd_exec_close(&g_exec);
	fwd_role_cache_destroy(&g_role);
	mount_empty();
	rmdir(g_mount);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct rlimit rl = { FILE_SIZE_LIMIT, FILE_SIZE_LIMIT };

	(void)argc;
	(void)argv;
	fwd_log_set_level(FWD_LOG_ERROR);
	if (setrlimit(RLIMIT_FSIZE, &rl))
		fail("setrlimit", errno);
	if (sqlite3_auto_extension((void (*)(void))connection_setup))
		fail("sqlite3_auto_extension", 0);
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(g_mount, sizeof(g_mount), "%s/litefs-fwd-fuzz.XXXXXX", tmp) >=
		    sizeof(g_mount) ||
	    !mkdtemp(g_mount))
		fail("cannot make a temporary directory", errno);
	g_ready = true;
	atexit(cleanup);
	mount_fill();
	/* TTL 0: the mount is looked at on every request, so that nothing of an earlier
	 * input's timing decides the role. */
	fwd_role_cache_init(&g_role, g_mount, 0, NULL);
	return 0;
}

/* ---- one input ------------------------------------------------------------------------- */

/* Checks the reply out (rc from fwd_request_handle) to the message data[0..size). */
static void check_reply(const uint8_t *data, size_t size, int rc, const struct wire_buf *out)
{
	struct wire_msg req, rep;
	uint64_t rep_id;
	int drc, want_code = 0;
	bool want_error = true, want_pong = false;
	uint64_t want_id = wire_peek_request_id(data, size);

	if (rc) {
		if (rc != -ENOMEM || out->len)
			fail("fwd_request_handle failed otherwise than documented", rc);
		return;
	}
	if (!out->len || out->len > MAX_MESSAGE)
		fail("reply of a size out of bounds", (long)out->len);
	if ((drc = wire_decode(out->p, out->len, MAX_MESSAGE, &rep)))
		fail("the reply is not exactly one well-formed message", drc);

	/* What the request must get, as far as it can be told from its bytes. */
	drc = wire_decode(data, size, MAX_MESSAGE, &req);
	if (drc == -EPROTONOSUPPORT || drc == -EMSGSIZE || drc == -ENOMEM)
		want_code = -drc;
	else if (!drc && req.type == WIRE_PING)
		want_pong = true, want_error = false;
	else if (drc || req.type != WIRE_EXEC)
		want_code = EBADMSG;
	else if (req.u.exec.request_id == 0)
		want_code = EINVAL;
	else if (fwd_dbname_check(req.u.exec.db.p, req.u.exec.db.n))
		want_code = EINVAL;
	else
		want_error = false;
	if (!drc)
		wire_msg_free(&req);

	switch (rep.type) {
	case WIRE_RESULT:
		rep_id = rep.u.result.request_id;
		break;
	case WIRE_NOT_PRIMARY:
		rep_id = rep.u.not_primary.request_id;
		break;
	case WIRE_ERROR:
		rep_id = rep.u.error.request_id;
		break;
	case WIRE_DESCRIPTION:
		rep_id = rep.u.description.request_id;
		break;
	case WIRE_PONG:
		if (!want_pong)
			fail("a PONG to another request than a PING", rep.type);
		rep_id = rep.u.pong.request_id;
		break;
	default:
		fail("a reply of a request type", rep.type);
		return;
	}
	if (want_error && (rep.type != WIRE_ERROR || rep.u.error.code != want_code))
		fail("a refused request got another reply than the ERROR due",
		     rep.type == WIRE_ERROR ? rep.u.error.code : -(long)rep.type);
	if (want_pong && rep.type != WIRE_PONG &&
	    !(rep.type == WIRE_ERROR && rep.u.error.code == EMSGSIZE))
		fail("a PING got another reply than a PONG", rep.type);
	if (rep_id != want_id)
		fail("the reply carries another request id", (long)rep_id);
	wire_msg_free(&rep);
}

/* Sends req, re-encoded, and checks the reply as that of any message. */
static void send_follow_up(const struct fwd_request_ctx *ctx, const struct wire_exec *req)
{
	struct wire_buf msg = { 0 }, out = { 0 };
	int rc;

	if (wire_encode_exec(&msg, req, MAX_MESSAGE))
		return; /* too large once more: nothing to learn */
	rc = fwd_request_handle(ctx, msg.p, msg.len, &out);
	check_reply(msg.p, msg.len, rc, &out);
	wire_buf_free(&out);
	wire_buf_free(&msg);
}

/* When the input opened a session whose transaction stays open (a RESULT with
 * WIRE_RESULT_IN_TXN), goes on with it as the interposer would, with the next request
 * ids: its statement described, run again inside the transaction, then COMMIT. So the
 * paths of a session's later requests are reached by single inputs too. */
static void follow_session(const struct fwd_request_ctx *ctx, const uint8_t *data, size_t size,
			   const struct wire_buf *reply)
{
	struct wire_msg req, rep;
	struct wire_exec next;
	bool open;

	if (wire_decode(reply->p, reply->len, MAX_MESSAGE, &rep))
		return;
	open = rep.type == WIRE_RESULT && (rep.u.result.flags & WIRE_RESULT_IN_TXN);
	wire_msg_free(&rep);
	if (!open || wire_decode(data, size, MAX_MESSAGE, &req))
		return;
	if (req.type == WIRE_EXEC && req.u.exec.session_id &&
	    req.u.exec.request_id < UINT64_MAX - 3) {
		next = req.u.exec;
		next.prologue = (struct wire_str){ NULL, 0 };
		next.request_id++;
		next.session_flags = WIRE_SESSION_DESCRIBE;
		send_follow_up(ctx, &next);
		next.request_id++;
		next.session_flags = 0;
		send_follow_up(ctx, &next);
		next.request_id++;
		next.sql = (struct wire_str){ "COMMIT", 6 };
		next.nparams = 0;
		next.params = NULL;
		send_follow_up(ctx, &next);
	}
	wire_msg_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fwd_request_ctx ctx = {
		.exec = &g_exec, .role = &g_role, .mount = g_mount, .max_message = MAX_MESSAGE,
	};
	struct wire_buf out = { 0 }, again = { 0 };
	char primary[PATH_MAX];
	int rc;

	/* Here rather than once: libFuzzer sets its own handler after LLVMFuzzerInitialize. */
	signal(SIGXFSZ, SIG_IGN);
	sqlite3_hard_heap_limit64(SQLITE_HEAP_LIMIT);
	sqlite3_soft_heap_limit64(0);
	g_steps = 0;
	g_interrupted = false;
	if (fwd_dedup_create(&ctx.dedup, DEDUP_MAX_ENTRIES, DEDUP_MAX_BYTES, DEDUP_MAX_AGE_MS) ||
	    fwd_sessions_create(&ctx.sessions, SESSIONS_MAX))
		fail("out of memory", 0);

	rc = fwd_request_handle(&ctx, data, size, &out);
	check_reply(data, size, rc, &out);
	/* Executed, hence recorded: the same bytes again get the same reply. */
	if (!rc && fwd_dedup_count(ctx.dedup) == 1) {
		rc = fwd_request_handle(&ctx, data, size, &again);
		if (rc || again.len != out.len || memcmp(again.p, out.p, out.len))
			fail("a repeat of an executed request got another reply", rc);
	}
	if (!rc)
		follow_session(&ctx, data, size, &out);
	wire_buf_free(&again);
	wire_buf_free(&out);

	fwd_sessions_destroy(ctx.sessions);
	fwd_dedup_destroy(ctx.dedup);
	snprintf(primary, sizeof(primary), "%s/.primary", g_mount);
	unlink(primary);
	if (++g_inputs % MOUNT_CHECK_EVERY == 0)
		mount_check();
	return 0;
}
