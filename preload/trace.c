/* Telemetry events of the forwarding path (see trace.h): the JSON lines, and their target.
 *
 * The target's descriptor is published as an immutable record {fd, dev, ino}: a writer
 * loads the record, checks with fstat() that the descriptor is still that file or socket
 * (a program may have closed it, or put another file on its number; that file must never
 * get our lines), and writes. A descriptor that stopped being ours is forgotten, never
 * closed (it is someone else's now), and the target opened again. Opening is done by one
 * thread at a time, claimed with an atomic pid: a thread that finds another one opening
 * drops its event rather than wait, and a child forked while its parent was opening takes
 * the claim over (no lock can be left held across fork). */
#include "trace.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sqltext.h"

bool trace_enabled;

/* --- the JSON line --------------------------------------------------------------------- */

/* An output buffer that remembers running out of room. */
struct trace_out {
	char *p;
	size_t len, cap;
	bool full;
};

static void trace_put(struct trace_out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void trace_puts(struct trace_out *o, const char *s)
{
	trace_put(o, s, strlen(s));
}

static void trace_putf(struct trace_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void trace_putf(struct trace_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

/* The length of the well-formed UTF-8 sequence at s[0..n) (no overlong form, no
 * surrogate, at most U+10FFFF), or 0 when s does not start one. */
static size_t trace_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	/* the second byte's range rules out overlong forms, surrogates and > U+10FFFF */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* s as a JSON string, quotes included; bytes that are not UTF-8 become U+FFFD. */
static void trace_put_string(struct trace_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	trace_put(o, "\"", 1);
	while (n) {
		size_t k = trace_utf8_len(p, n);

		if (!k) {
			trace_puts(o, "\\ufffd");
			k = 1;
		} else if (*p == '"') {
			trace_puts(o, "\\\"");
		} else if (*p == '\\') {
			trace_puts(o, "\\\\");
		} else if (*p == '\n') {
			trace_puts(o, "\\n");
		} else if (*p == '\r') {
			trace_puts(o, "\\r");
		} else if (*p == '\t') {
			trace_puts(o, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			trace_putf(o, "\\u%04x", *p);
		} else {
			trace_put(o, (const char *)p, k);
		}
		p += k;
		n -= k;
	}
	trace_put(o, "\"", 1);
}

/* A 64-bit id as JSON: 16 hex digits in a string (as LiteFS writes its TXIDs: exact in
 * every JSON reader), or null for 0. */
static void trace_put_id(struct trace_out *o, uint64_t id)
{
	if (id)
		trace_putf(o, "\"%016llx\"", (unsigned long long)id);
	else
		trace_puts(o, "null");
}

static const char *const trace_type_names[] = {
	[TRACE_FORWARD_START] = "litefs_fwd.forward.start",
	[TRACE_FORWARD_STOP] = "litefs_fwd.forward.stop",
	[TRACE_FORWARD_EXCEPTION] = "litefs_fwd.forward.exception",
};

int trace_format(char *buf, size_t len, const struct trace_event *ev)
{
	struct trace_out o = { .p = buf, .cap = len };
	struct tm tm;
	const char *name;

	gmtime_r(&ev->wall.tv_sec, &tm);
	trace_putf(&o, "{\"event\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\","
		   "\"monotonic_ns\":%lld,\"pid\":%ld,\"tid\":%ld,\"db\":",
		   trace_type_names[ev->type], tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		   tm.tm_hour, tm.tm_min, tm.tm_sec, ev->wall.tv_nsec / 1000,
		   (long long)ev->mono_ns, (long)ev->pid, (long)ev->tid);
	trace_put_string(&o, ev->db ? ev->db : "");
	trace_putf(&o, ",\"kind\":\"%s\",\"request_id\":", ev->kind ? ev->kind : "other");
	trace_put_id(&o, ev->request_id);
	trace_puts(&o, ",\"session_id\":");
	trace_put_id(&o, ev->session_id);
	if (ev->type == TRACE_FORWARD_EXCEPTION)
		trace_putf(&o, ",\"reason\":\"%s\"", trace_reason_name(ev->reason));
	if (ev->type != TRACE_FORWARD_START) {
		name = ev->outcome >= 0 ? trace_code_name(ev->outcome) : NULL;
		if (name)
			trace_putf(&o, ",\"outcome\":\"%s\",\"code\":%d", name, ev->outcome);
		else if (ev->outcome >= 0)
			trace_putf(&o, ",\"outcome\":null,\"code\":%d", ev->outcome);
		else
			trace_puts(&o, ",\"outcome\":null,\"code\":null");
		if (ev->type == TRACE_FORWARD_STOP)
			trace_putf(&o, ",\"changes\":%lld", (long long)ev->changes);
		trace_putf(&o, ",\"duration_us\":%lld,\"busy_retries\":%u",
			   (long long)ev->duration_us, ev->busy_retries);
	}
	trace_puts(&o, "}\n");
	return o.full ? -ENOSPC : (int)o.len;
}

/* --- names ----------------------------------------------------------------------------- */

#define TRACE_CODE(c) { c, #c }
static const struct {
	int code;
	const char *name;
} trace_codes[] = {
	TRACE_CODE(SQLITE_OK), TRACE_CODE(SQLITE_ERROR), TRACE_CODE(SQLITE_INTERNAL),
	TRACE_CODE(SQLITE_PERM), TRACE_CODE(SQLITE_ABORT), TRACE_CODE(SQLITE_BUSY),
	TRACE_CODE(SQLITE_LOCKED), TRACE_CODE(SQLITE_NOMEM), TRACE_CODE(SQLITE_READONLY),
	TRACE_CODE(SQLITE_INTERRUPT), TRACE_CODE(SQLITE_IOERR), TRACE_CODE(SQLITE_CORRUPT),
	TRACE_CODE(SQLITE_NOTFOUND), TRACE_CODE(SQLITE_FULL), TRACE_CODE(SQLITE_CANTOPEN),
	TRACE_CODE(SQLITE_PROTOCOL), TRACE_CODE(SQLITE_EMPTY), TRACE_CODE(SQLITE_SCHEMA),
	TRACE_CODE(SQLITE_TOOBIG), TRACE_CODE(SQLITE_CONSTRAINT), TRACE_CODE(SQLITE_MISMATCH),
	TRACE_CODE(SQLITE_MISUSE), TRACE_CODE(SQLITE_NOLFS), TRACE_CODE(SQLITE_AUTH),
	TRACE_CODE(SQLITE_FORMAT), TRACE_CODE(SQLITE_RANGE), TRACE_CODE(SQLITE_NOTADB),
	TRACE_CODE(SQLITE_NOTICE), TRACE_CODE(SQLITE_WARNING), TRACE_CODE(SQLITE_ROW),
	TRACE_CODE(SQLITE_DONE),
	TRACE_CODE(SQLITE_ERROR_MISSING_COLLSEQ), TRACE_CODE(SQLITE_ERROR_RETRY),
	TRACE_CODE(SQLITE_ERROR_SNAPSHOT),
	TRACE_CODE(SQLITE_IOERR_READ), TRACE_CODE(SQLITE_IOERR_SHORT_READ),
	TRACE_CODE(SQLITE_IOERR_WRITE), TRACE_CODE(SQLITE_IOERR_FSYNC),
	TRACE_CODE(SQLITE_IOERR_DIR_FSYNC), TRACE_CODE(SQLITE_IOERR_TRUNCATE),
	TRACE_CODE(SQLITE_IOERR_FSTAT), TRACE_CODE(SQLITE_IOERR_UNLOCK),
	TRACE_CODE(SQLITE_IOERR_RDLOCK), TRACE_CODE(SQLITE_IOERR_DELETE),
	TRACE_CODE(SQLITE_IOERR_BLOCKED), TRACE_CODE(SQLITE_IOERR_NOMEM),
	TRACE_CODE(SQLITE_IOERR_ACCESS), TRACE_CODE(SQLITE_IOERR_CHECKRESERVEDLOCK),
	TRACE_CODE(SQLITE_IOERR_LOCK), TRACE_CODE(SQLITE_IOERR_CLOSE),
	TRACE_CODE(SQLITE_IOERR_DIR_CLOSE), TRACE_CODE(SQLITE_IOERR_SHMOPEN),
	TRACE_CODE(SQLITE_IOERR_SHMSIZE), TRACE_CODE(SQLITE_IOERR_SHMLOCK),
	TRACE_CODE(SQLITE_IOERR_SHMMAP), TRACE_CODE(SQLITE_IOERR_SEEK),
	TRACE_CODE(SQLITE_IOERR_DELETE_NOENT), TRACE_CODE(SQLITE_IOERR_MMAP),
	TRACE_CODE(SQLITE_IOERR_GETTEMPPATH), TRACE_CODE(SQLITE_IOERR_CONVPATH),
	TRACE_CODE(SQLITE_IOERR_VNODE), TRACE_CODE(SQLITE_IOERR_AUTH),
	TRACE_CODE(SQLITE_IOERR_BEGIN_ATOMIC), TRACE_CODE(SQLITE_IOERR_COMMIT_ATOMIC),
	TRACE_CODE(SQLITE_IOERR_ROLLBACK_ATOMIC), TRACE_CODE(SQLITE_IOERR_DATA),
	TRACE_CODE(SQLITE_IOERR_CORRUPTFS),
	TRACE_CODE(SQLITE_LOCKED_SHAREDCACHE), TRACE_CODE(SQLITE_LOCKED_VTAB),
	TRACE_CODE(SQLITE_BUSY_RECOVERY), TRACE_CODE(SQLITE_BUSY_SNAPSHOT),
	TRACE_CODE(SQLITE_BUSY_TIMEOUT),
	TRACE_CODE(SQLITE_CANTOPEN_NOTEMPDIR), TRACE_CODE(SQLITE_CANTOPEN_ISDIR),
	TRACE_CODE(SQLITE_CANTOPEN_FULLPATH), TRACE_CODE(SQLITE_CANTOPEN_CONVPATH),
	TRACE_CODE(SQLITE_CANTOPEN_DIRTYWAL), TRACE_CODE(SQLITE_CANTOPEN_SYMLINK),
	TRACE_CODE(SQLITE_CORRUPT_VTAB), TRACE_CODE(SQLITE_CORRUPT_SEQUENCE),
	TRACE_CODE(SQLITE_CORRUPT_INDEX),
	TRACE_CODE(SQLITE_READONLY_RECOVERY), TRACE_CODE(SQLITE_READONLY_CANTLOCK),
	TRACE_CODE(SQLITE_READONLY_ROLLBACK), TRACE_CODE(SQLITE_READONLY_DBMOVED),
	TRACE_CODE(SQLITE_READONLY_CANTINIT), TRACE_CODE(SQLITE_READONLY_DIRECTORY),
	TRACE_CODE(SQLITE_ABORT_ROLLBACK),
	TRACE_CODE(SQLITE_CONSTRAINT_CHECK), TRACE_CODE(SQLITE_CONSTRAINT_COMMITHOOK),
	TRACE_CODE(SQLITE_CONSTRAINT_FOREIGNKEY), TRACE_CODE(SQLITE_CONSTRAINT_FUNCTION),
	TRACE_CODE(SQLITE_CONSTRAINT_NOTNULL), TRACE_CODE(SQLITE_CONSTRAINT_PRIMARYKEY),
	TRACE_CODE(SQLITE_CONSTRAINT_TRIGGER), TRACE_CODE(SQLITE_CONSTRAINT_UNIQUE),
	TRACE_CODE(SQLITE_CONSTRAINT_VTAB), TRACE_CODE(SQLITE_CONSTRAINT_ROWID),
	TRACE_CODE(SQLITE_CONSTRAINT_PINNED), TRACE_CODE(SQLITE_CONSTRAINT_DATATYPE),
	TRACE_CODE(SQLITE_NOTICE_RECOVER_WAL), TRACE_CODE(SQLITE_NOTICE_RECOVER_ROLLBACK),
	TRACE_CODE(SQLITE_WARNING_AUTOINDEX), TRACE_CODE(SQLITE_AUTH_USER),
};
#undef TRACE_CODE

const char *trace_code_name(int rc)
{
	const char *primary = NULL;

	for (size_t i = 0; i < sizeof(trace_codes) / sizeof(trace_codes[0]); i++) {
		if (trace_codes[i].code == rc)
			return trace_codes[i].name;
		if (trace_codes[i].code == (rc & 0xff))
			primary = trace_codes[i].name;
	}
	return rc >= 0 ? primary : NULL;
}

static const char *const trace_reason_names[] = {
	[TRACE_REASON_NONE] = "none",
	[TRACE_REASON_OUTCOME_UNKNOWN] = "outcome_unknown",
	[TRACE_REASON_TIMEOUT] = "timeout",
	[TRACE_REASON_CONNECTION_REFUSED] = "connection_refused",
	[TRACE_REASON_HOST_UNREACHABLE] = "host_unreachable",
	[TRACE_REASON_NETWORK_UNREACHABLE] = "network_unreachable",
	[TRACE_REASON_CONNECTION_RESET] = "connection_reset",
	[TRACE_REASON_PROTOCOL_ERROR] = "protocol_error",
	[TRACE_REASON_NO_PRIMARY] = "no_primary",
	[TRACE_REASON_NOW_PRIMARY] = "now_primary",
	[TRACE_REASON_FORWARDER_STOPPING] = "forwarder_stopping",
	[TRACE_REASON_AUTH_REFUSED] = "authentication_refused",
	[TRACE_REASON_SECRET_UNUSABLE] = "secret_unusable",
	[TRACE_REASON_REFUSED] = "refused",
	[TRACE_REASON_TOO_LARGE] = "too_large",
	[TRACE_REASON_OUT_OF_MEMORY] = "out_of_memory",
	[TRACE_REASON_ERROR] = "error",
};

const char *trace_reason_name(enum trace_reason reason)
{
	if ((size_t)reason >= sizeof(trace_reason_names) / sizeof(trace_reason_names[0]))
		return "error";
	return trace_reason_names[reason];
}

enum trace_reason trace_reason_from_errno(int err)
{
	switch (-err) {
	case ETIMEDOUT:
		return TRACE_REASON_TIMEOUT;
	case ECONNREFUSED:
		return TRACE_REASON_CONNECTION_REFUSED;
	case EHOSTUNREACH:
		return TRACE_REASON_HOST_UNREACHABLE;
	case ENETUNREACH:
		return TRACE_REASON_NETWORK_UNREACHABLE;
	case ECONNRESET:
	case EPIPE:
		return TRACE_REASON_CONNECTION_RESET;
	case EPROTO:
	case EBADMSG:
		return TRACE_REASON_PROTOCOL_ERROR;
	case EACCES:
		return TRACE_REASON_AUTH_REFUSED;
	case EMSGSIZE:
		return TRACE_REASON_TOO_LARGE;
	case ENOMEM:
		return TRACE_REASON_OUT_OF_MEMORY;
	default:
		return TRACE_REASON_ERROR;
	}
}

/* --- statement kinds ------------------------------------------------------------------- */

/* The kind a statement's first keyword, p[0..n), says. NULL for WITH. */
static const char *trace_kind_of_word(const char *p, size_t n)
{
	static const struct {
		const char *word, *kind;
	} words[] = {
		{ "INSERT", "insert" },  { "REPLACE", "insert" },     { "UPDATE", "update" },
		{ "DELETE", "delete" },  { "CREATE", "ddl" },         { "DROP", "ddl" },
		{ "ALTER", "ddl" },      { "SELECT", "select" },      { "VALUES", "select" },
		{ "PRAGMA", "pragma" },  { "VACUUM", "maintenance" }, { "ANALYZE", "maintenance" },
		{ "REINDEX", "maintenance" },
	};

	if (sqltext_word_eq(p, n, "WITH"))
		return NULL;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (sqltext_word_eq(p, n, words[i].word))
			return words[i].kind;
	return "other";
}

/* The kind of the statement after a WITH clause at p: the first keyword outside the
 * clause's parentheses that names one (strings and quoted names skipped). */
static const char *trace_kind_after_with(const char *p)
{
	int depth = 0;

	while (*(p = sqltext_skip_blank(p, false))) {
		size_t n = 0;

		if (*p == '(') {
			depth++;
			p++;
		} else if (*p == ')') {
			depth--;
			p++;
		} else if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
			char close = *p == '[' ? ']' : *p;

			for (p++; *p && *p != close; p++)
				;
			if (*p)
				p++;
		} else if (sqltext_is_word_char(*p)) {
			while (sqltext_is_word_char(p[n]))
				n++;
			if (depth == 0) {
				const char *kind = trace_kind_of_word(p, n);

				if (kind && strcmp(kind, "other"))
					return kind;
			}
			p += n;
		} else {
			p++;
		}
	}
	return "other";
}

const char *trace_kind(bool txn, enum classify_txn_op op, const char *sql)
{
	const char *p, *kind;
	size_t n = 0;

	if (txn) {
		switch (op) {
		case CLASSIFY_TXN_BEGIN:
		case CLASSIFY_TXN_BEGIN_WRITE:
			return "begin";
		case CLASSIFY_TXN_COMMIT:
			return "commit";
		case CLASSIFY_TXN_ROLLBACK:
			return "rollback";
		case CLASSIFY_TXN_ROLLBACK_TO:
			return "rollback_to";
		case CLASSIFY_TXN_SAVEPOINT:
			return "savepoint";
		case CLASSIFY_TXN_RELEASE:
			return "release";
		default:
			return "other";
		}
	}
	if (!sql)
		return "other";
	p = sqltext_skip_blank(sql, false);
	while (sqltext_is_word_char(p[n]))
		n++;
	kind = trace_kind_of_word(p, n);
	return kind ? kind : trace_kind_after_with(p + n);
}

/* --- the target ------------------------------------------------------------------------ */

enum trace_target_kind { TRACE_TARGET_FILE, TRACE_TARGET_UNIX, TRACE_TARGET_UDP };

/* How long a target that could not be opened is left alone. */
#define TRACE_RETRY_NS 1000000000LL
/* How often drops are reported in the log, at most. */
#define TRACE_REPORT_NS 10000000000LL
/* Openings per process: each reopening publishes a new record, and records are never
 * reused (a writer may still be reading one); past this, tracing stops. */
#define TRACE_MAX_OPENS 64
/* How long a thread waits for another one opening the target. */
#define TRACE_OPEN_WAIT_NS 2000000LL

/* An open target: immutable once published. */
struct trace_sink {
	int fd;
	dev_t dev;
	ino_t ino;
	bool fifo;      /* a pipe: written with SIGPIPE held off */
};

static struct {
	enum trace_target_kind kind;
	char path[PATH_MAX];                /* the file */
	struct sockaddr_storage addr;       /* the socket's address */
	socklen_t addrlen;
	char text[PATH_MAX + 16];           /* the target as given, for the log */
} trace_target;

static struct trace_sink trace_sinks[TRACE_MAX_OPENS];
static unsigned trace_nsinks;           /* records used; by the opener only */
static struct trace_sink *trace_sink;   /* the current one (atomic), NULL: none open */
static pid_t trace_opener;              /* atomic: the process whose thread is opening */
static int64_t trace_retry_after_ns;    /* atomic: no opening before this */
static uint64_t trace_drops;            /* atomic */
static uint64_t trace_drops_reported;   /* atomic */
static int64_t trace_report_after_ns;   /* atomic */

static int64_t trace_now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Parses a udp:// address: IPv4 "A.B.C.D:PORT" or IPv6 "[ADDR]:PORT". */
static int trace_parse_udp(const char *s)
{
	const char *colon, *host = s;
	char buf[64];
	size_t hl;
	char *end;
	unsigned long port;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		hl = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, hl);
	buf[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || !colon[1] || port == 0 || port > 65535)
		return -EINVAL;
	memset(&trace_target.addr, 0, sizeof(trace_target.addr));
	if (*s == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&trace_target.addr;

		if (inet_pton(AF_INET6, buf, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		trace_target.addrlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&trace_target.addr;

		if (inet_pton(AF_INET, buf, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		trace_target.addrlen = sizeof(*a);
	}
	return 0;
}

/* Parses a unix: address: a path, or @NAME for an abstract one. */
static int trace_parse_unix(const char *s)
{
	struct sockaddr_un *a = (struct sockaddr_un *)&trace_target.addr;
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(a->sun_path))
		return -EINVAL;
	memset(&trace_target.addr, 0, sizeof(trace_target.addr));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, s, n);
	if (s[0] == '@') {
		a->sun_path[0] = '\0';
		trace_target.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		trace_target.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

int trace_configure(const char *target)
{
	struct trace_sink *old = trace_sink;
	struct stat st;
	int saved = errno, rc = 0;

	trace_enabled = false;
	if (old && fstat(old->fd, &st) == 0 && st.st_dev == old->dev && st.st_ino == old->ino)
		close(old->fd);
	trace_sink = NULL;
	trace_nsinks = 0;
	trace_opener = 0;
	trace_retry_after_ns = 0;
	trace_drops = trace_drops_reported = 0;
	trace_report_after_ns = 0;
	memset(&trace_target, 0, sizeof(trace_target));
	if (!target || !*target)
		goto out;
	snprintf(trace_target.text, sizeof(trace_target.text), "%s", target);
	if (!strncmp(target, "unix:", 5)) {
		trace_target.kind = TRACE_TARGET_UNIX;
		rc = trace_parse_unix(target + 5);
	} else if (!strncmp(target, "udp://", 6)) {
		trace_target.kind = TRACE_TARGET_UDP;
		rc = trace_parse_udp(target + 6);
	} else {
		char cwd[PATH_MAX];

		/* relative to the directory the program was in when the settings were read,
		 * wherever it goes afterwards */
		trace_target.kind = TRACE_TARGET_FILE;
		if (target[0] != '/' && getcwd(cwd, sizeof(cwd)))
			rc = (size_t)snprintf(trace_target.path, sizeof(trace_target.path), "%s/%s",
					      cwd, target) < sizeof(trace_target.path) ? 0 : -EINVAL;
		else
			rc = (size_t)snprintf(trace_target.path, sizeof(trace_target.path), "%s",
					      target) < sizeof(trace_target.path) ? 0 : -EINVAL;
	}
	if (rc)
		log_warn("ignoring LITEFS_FWD_TRACE=%s (expected a file path, unix:PATH or "
			 "udp://IP:PORT); nothing is traced", target);
	else
		trace_enabled = true;
out:
	errno = saved;
	return rc;
}

/* Opens the target: a descriptor, or a negative errno. */
static int trace_open_target(void)
{
	int fd;

	if (trace_target.kind == TRACE_TARGET_FILE) {
		fd = open(trace_target.path,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0644);
		return fd >= 0 ? fd : -errno;
	}
	fd = socket(trace_target.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return fd >= 0 ? fd : -errno;
}

static bool trace_sink_ok(const struct trace_sink *s)
{
	struct stat st;

	return fstat(s->fd, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino;
}

/* Another thread of this process (self) is opening the target: what it opens, waited for
 * TRACE_OPEN_WAIT_NS at most (an open() of a file or a socket() takes microseconds), or
 * NULL. */
static struct trace_sink *trace_sink_wait(pid_t self)
{
	int64_t deadline = trace_now_ns(CLOCK_MONOTONIC) + TRACE_OPEN_WAIT_NS;
	struct trace_sink *s;

	while (__atomic_load_n(&trace_opener, __ATOMIC_ACQUIRE) == self &&
	       trace_now_ns(CLOCK_MONOTONIC) < deadline)
		sched_yield();
	s = __atomic_load_n(&trace_sink, __ATOMIC_ACQUIRE);
	return s && trace_sink_ok(s) ? s : NULL;
}

/* The sink to write to: the current one while its descriptor is still it, else a new one
 * (cur is what the caller found). NULL when none can be had now (another thread of this
 * process is still opening it, it failed to open less than a second ago, or fails now). */
static struct trace_sink *trace_sink_get(struct trace_sink *cur)
{
	pid_t self, claimed;
	struct trace_sink *s = NULL;
	struct stat st;
	int fd;

	if (cur && trace_sink_ok(cur))
		return cur;
	self = getpid();
	claimed = __atomic_load_n(&trace_opener, __ATOMIC_ACQUIRE);
	if (claimed == self)
		return trace_sink_wait(self);
	/* no claim, or one inherited across fork from a parent that was opening: take it */
	if (!__atomic_compare_exchange_n(&trace_opener, &claimed, self, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return claimed == self ? trace_sink_wait(self) : NULL;
	s = __atomic_load_n(&trace_sink, __ATOMIC_ACQUIRE);
	if (s != cur && s && trace_sink_ok(s))
		goto out;  /* another thread opened it meanwhile */
	s = NULL;
	if (trace_now_ns(CLOCK_MONOTONIC) < __atomic_load_n(&trace_retry_after_ns, __ATOMIC_RELAXED))
		goto out;
	if (trace_nsinks == TRACE_MAX_OPENS) {
		if (__atomic_exchange_n(&trace_retry_after_ns, INT64_MAX, __ATOMIC_RELAXED) != INT64_MAX)
			log_warn("trace: %s was opened %d times; no more events are written",
				 trace_target.text, TRACE_MAX_OPENS);
		goto out;
	}
	fd = trace_open_target();
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0) {
			fd = -errno;
			close(-fd);
		}
		log_warn("trace: cannot open %s: %s; its events are dropped", trace_target.text,
			 strerror(-fd));
		__atomic_store_n(&trace_retry_after_ns,
				 trace_now_ns(CLOCK_MONOTONIC) + TRACE_RETRY_NS, __ATOMIC_RELAXED);
		goto out;
	}
	s = &trace_sinks[trace_nsinks++];
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->fifo = S_ISFIFO(st.st_mode);
	__atomic_store_n(&trace_sink, s, __ATOMIC_RELEASE);
out:
	__atomic_store_n(&trace_opener, 0, __ATOMIC_RELEASE);
	return s;
}

/* Counts a dropped event, and says so in the log at most every TRACE_REPORT_NS. */
static void trace_drop(void)
{
	uint64_t n = __atomic_add_fetch(&trace_drops, 1, __ATOMIC_RELAXED);
	int64_t now = trace_now_ns(CLOCK_MONOTONIC);
	int64_t after = __atomic_load_n(&trace_report_after_ns, __ATOMIC_RELAXED);

	if (now < after || !__atomic_compare_exchange_n(&trace_report_after_ns, &after,
							now + TRACE_REPORT_NS, false,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&trace_drops_reported, n, __ATOMIC_RELAXED);
	log_warn("trace: %llu event(s) dropped so far: %s could not take them at once",
		 (unsigned long long)n, trace_target.text);
}

/* At exit: the drops not reported yet. */
__attribute__((destructor)) static void trace_report_at_exit(void)
{
	uint64_t n = __atomic_load_n(&trace_drops, __ATOMIC_RELAXED);

	if (n != __atomic_load_n(&trace_drops_reported, __ATOMIC_RELAXED))
		log_warn("trace: %llu event(s) dropped in all: %s could not take them at once",
			 (unsigned long long)n, trace_target.text);
}

/* write() to a pipe whose reader is gone raises SIGPIPE, which would kill the program:
 * the signal is blocked around the write, and the one the write raised, if it was not
 * pending already (the program's own), is taken back before it is unblocked. */
static ssize_t trace_write_fifo(int fd, const char *line, size_t len)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = { 0, 0 };
	bool was_pending;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old))
		return -1;
	was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
	n = write(fd, line, len);
	if (n < 0 && errno == EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return n;
}

void trace_emit(const char *line, size_t len)
{
	int saved = errno;
	struct trace_sink *s;
	ssize_t n;

	s = trace_sink_get(__atomic_load_n(&trace_sink, __ATOMIC_ACQUIRE));
	if (!s) {
		trace_drop();
		errno = saved;
		return;
	}
	if (s->fifo)
		n = trace_write_fifo(s->fd, line, len);
	else if (trace_target.kind == TRACE_TARGET_FILE)
		n = write(s->fd, line, len);
	else
		n = sendto(s->fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&trace_target.addr, trace_target.addrlen);
	if (n != (ssize_t)len)
		trace_drop();
	errno = saved;
}

uint64_t trace_dropped(void)
{
	return __atomic_load_n(&trace_drops, __ATOMIC_RELAXED);
}

/* --- events ---------------------------------------------------------------------------- */

static void trace_write_event(struct trace_event *ev)
{
	char line[TRACE_LINE_MAX];
	int n;

	clock_gettime(CLOCK_REALTIME, &ev->wall);
	ev->pid = getpid();
	ev->tid = gettid();
	n = trace_format(line, sizeof(line), ev);
	if (n > 0)
		trace_emit(line, (size_t)n);
	else
		trace_drop();
}

void trace_forward_start(struct trace_span *sp, const char *db, const char *kind,
			 uint64_t request_id, uint64_t session_id)
{
	int saved = errno;
	struct trace_event ev = {
		.type = TRACE_FORWARD_START, .db = db, .kind = kind,
		.request_id = request_id, .session_id = session_id,
	};

	sp->mono_ns = ev.mono_ns = trace_now_ns(CLOCK_MONOTONIC);
	sp->db = db;
	sp->kind = kind;
	sp->request_id = request_id;
	sp->session_id = session_id;
	trace_write_event(&ev);
	errno = saved;
}

static void trace_end(const struct trace_span *sp, struct trace_event *ev)
{
	ev->mono_ns = trace_now_ns(CLOCK_MONOTONIC);
	ev->db = sp->db;
	ev->kind = sp->kind;
	ev->request_id = sp->request_id;
	ev->session_id = sp->session_id;
	/* a microsecond at least: a forward that took less was not measured */
	ev->duration_us = (ev->mono_ns - sp->mono_ns + 999) / 1000;
	trace_write_event(ev);
}

void trace_forward_stop(const struct trace_span *sp, int outcome, int64_t changes,
			unsigned busy_retries)
{
	int saved = errno;
	struct trace_event ev = {
		.type = TRACE_FORWARD_STOP, .outcome = outcome, .changes = changes,
		.busy_retries = busy_retries,
	};

	trace_end(sp, &ev);
	errno = saved;
}

void trace_forward_exception(const struct trace_span *sp, enum trace_reason reason,
			     int outcome, unsigned busy_retries)
{
	int saved = errno;
	struct trace_event ev = {
		.type = TRACE_FORWARD_EXCEPTION, .reason = reason, .outcome = outcome,
		.busy_retries = busy_retries,
	};

	trace_end(sp, &ev);
	errno = saved;
}
