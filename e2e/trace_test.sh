#!/usr/bin/env bash
# End-to-end: the interposer's telemetry events (LITEFS_FWD_TRACE). Unmodified programs (the
# sqlite3 shell, python3) write on a replica of the stand-in cluster with a trace target set;
# the lines they leave are read back with python3: exactly one start and one end per forward,
# in order, with the statement's kind, outcome, changes and duration, and never its text or
# values. Reads, the primary and a host without LiteFS leave nothing; a forwarder that is
# down or mute gives exception events; a target that cannot be opened or a socket nobody
# reads never breaks the program.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

# trace_read MODE FILE DB [FORBIDDEN...]: reads the trace FILE (python3) and prints, after a
# `problem: ...` line for every line that breaks the format, one of:
#   MODE seq    one line per forward, in order, its start and end adjacent in the file (a
#               program with one thread): "P<n> KIND END CHANGES SESSION", P<n> numbering
#               the processes, END the outcome of a stop or "exception:<reason> <outcome>",
#               SESSION "-" outside a transaction, S<n> numbering the sessions
#   MODE pairs  for programs with many threads: "forwards N" once every start has exactly
#               one end, after it, on the same thread
# Every line must be a JSON object with exactly the documented keys, about database DB,
# with a time in RFC 3339 UTC to the microsecond, a 16-hex-digit request id unique to its
# forward, the same pid/tid/db/kind/ids at start and end, an end later than its start and a
# duration > 0 that matches the monotonic clocks; no FORBIDDEN string may appear anywhere.
trace_read() {
	"$E2E_PY" - "$@" <<'PY'
import datetime, json, re, sys
mode, path, db, forbidden = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
BASE = ["event", "time", "monotonic_ns", "pid", "tid", "db", "kind", "request_id", "session_id"]
KEYS = {
    "litefs_fwd.forward.start": BASE,
    "litefs_fwd.forward.stop": BASE + ["outcome", "code", "changes", "duration_us", "busy_retries"],
    "litefs_fwd.forward.exception": BASE + ["reason", "outcome", "code", "duration_us", "busy_retries"],
}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ID = re.compile(r"^[0-9a-f]{16}$")
problems, out = [], []
try:
    text = open(path, "rb").read().decode("utf-8")
except FileNotFoundError:
    print("no trace file")
    sys.exit(0)
for word in forbidden:
    if word in text:
        problems.append("the trace holds %r" % word)
events = []
for n, line in enumerate(text.split("\n")[:-1], 1):
    try:
        ev = json.loads(line)
    except ValueError:
        problems.append("line %d is not JSON: %r" % (n, line))
        continue
    keys = KEYS.get(ev.get("event") if isinstance(ev, dict) else None)
    if keys is None or list(ev) != keys:
        problems.append("line %d: unexpected keys or event: %r" % (n, line))
        continue
    now = datetime.datetime.now(datetime.timezone.utc)
    if not TIME.match(ev["time"]) or abs((now - datetime.datetime.strptime(
            ev["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)).total_seconds()) > 300:
        problems.append("line %d: time %r" % (n, ev["time"]))
    if not ID.match(ev["request_id"] or "") or not (ev["session_id"] is None or ID.match(ev["session_id"])):
        problems.append("line %d: ids %r %r" % (n, ev["request_id"], ev["session_id"]))
    if ev["db"] != db:
        problems.append("line %d: db %r" % (n, ev["db"]))
    ev["line"] = n
    events.append(ev)
if not text.endswith("\n") and text:
    problems.append("the last line is cut")

def check_pair(a, b):
    for k in ("pid", "tid", "db", "kind", "request_id", "session_id"):
        if a[k] != b[k]:
            problems.append("lines %d/%d: %s %r then %r" % (a["line"], b["line"], k, a[k], b[k]))
    d = b["monotonic_ns"] - a["monotonic_ns"]
    if d <= 0 or b["duration_us"] <= 0 or abs(b["duration_us"] - d / 1000) > 2:
        problems.append("line %d: duration_us %r for %r ns" % (b["line"], b["duration_us"], d))

procs, sessions, ids = {}, {}, set()
if mode == "seq":
    i = 0
    while i < len(events):
        a = events[i]
        b = events[i + 1] if i + 1 < len(events) else None
        if a["event"] != "litefs_fwd.forward.start" or b is None or b["event"] == a["event"]:
            problems.append("line %d: a start and its end expected" % a["line"])
            i += 1
            continue
        check_pair(a, b)
        if a["request_id"] in ids:
            problems.append("line %d: request id used again" % a["line"])
        ids.add(a["request_id"])
        p = procs.setdefault(a["pid"], "P%d" % (len(procs) + 1))
        s = "-" if a["session_id"] is None else sessions.setdefault(a["session_id"], "S%d" % (len(sessions) + 1))
        if b["event"] == "litefs_fwd.forward.stop":
            out.append("%s %s %s %d %s" % (p, a["kind"], b["outcome"], b["changes"], s))
        else:
            out.append("%s %s exception:%s %s %s" % (p, a["kind"], b["reason"], b["outcome"], s))
        i += 2
else:
    open_ = {}
    for ev in events:
        key = ev["request_id"]
        if ev["event"] == "litefs_fwd.forward.start":
            if key in open_ or key in ids:
                problems.append("line %d: request id used again" % ev["line"])
            open_[key] = ev
        elif key not in open_:
            problems.append("line %d: an end without its start" % ev["line"])
        else:
            check_pair(open_.pop(key), ev)
            ids.add(key)
    for a in open_.values():
        problems.append("line %d: a start without its end" % a["line"])
    out.append("forwards %d" % len(ids))
for p in problems[:20]:
    print("problem:", p)
print("\n".join(out))
PY
}

# lines FILE: the number of lines of FILE (0 when it does not exist).
lines() { if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# schema DIR: the table of the tests, made on the primary and replicated.
schema() {
	must "schema" node_sql "$1" node1 app.db "CREATE TABLE t(id INTEGER PRIMARY KEY, x UNIQUE);" || return
	wait_same_pos "$1" app.db 5 node1 node2
}

# ------------------------------------------------------------------------------------------

test_forwards_of_the_shell_and_python_are_traced() {
	local d tr
	fwd_cluster d trace --db app.db || return
	schema "$d" || return
	tr=$d/trace.jsonl

	capture on "$d" node2 LITEFS_FWD_TRACE="$tr" sqlite3 -batch "$(node_path "$d" node2 app.db)" \
		"INSERT INTO t(x) VALUES ('a'); INSERT INTO t(x) VALUES ('secret-b'); UPDATE t SET x = 'a2' WHERE x = 'a';
SELECT count(*) FROM t; INSERT INTO t(x) VALUES ('secret-b');"
	assert_eq "the shell reads its writes" "2" "$OUT"
	assert_contains "the failing INSERT fails as on the primary" "UNIQUE constraint failed: t.x" "$ERR"
	capture on "$d" node2 LITEFS_FWD_TRACE="$tr" sqlite3 -batch "$(node_path "$d" node2 app.db)" \
		"BEGIN; INSERT INTO t(x) VALUES ('c'); INSERT INTO t(x) VALUES ('d'); COMMIT;"
	assert_eq "a transaction of the shell" "0 " "$RC $ERR"
	capture on "$d" node2 LITEFS_FWD_TRACE="$tr" "$E2E_PY" -c '
import os, sqlite3
db = os.environ["LITEFS_FWD_MOUNT"] + "/app.db"
c = sqlite3.connect(db, isolation_level=None)
c.execute("INSERT INTO t(x) VALUES (?)", ("secret-py",))
print(c.execute("SELECT count(*) FROM t").fetchone()[0])
t = sqlite3.connect(db)  # a transaction opened by the module before the DELETE
t.execute("DELETE FROM t WHERE x = ?", ("c",))
t.commit()
print(t.execute("SELECT count(*) FROM t").fetchone()[0])
'
	assert_eq "python writes and reads back" $'5\n4' "$OUT"
	assert_eq "python without error" "" "$ERR"

	capture trace_read seq "$tr" app.db secret-b secret-py "UPDATE t" "INSERT INTO"
	assert_eq "exactly the expected events, in order, start and end paired, no SQL text or value" \
		"P1 insert SQLITE_DONE 1 -
P1 insert SQLITE_DONE 1 -
P1 update SQLITE_DONE 1 -
P1 insert SQLITE_CONSTRAINT_UNIQUE 0 -
P2 insert SQLITE_DONE 1 S1
P2 insert SQLITE_DONE 1 S1
P2 commit SQLITE_DONE 0 S1
P3 insert SQLITE_DONE 1 -
P3 delete SQLITE_DONE 1 S2
P3 commit SQLITE_DONE 0 S2" "$OUT"
	capture node_sql "$d" node1 app.db "SELECT group_concat(x) FROM (SELECT x FROM t ORDER BY id);"
	assert_eq "the primary has what the trace says was done" "a2,secret-b,d,secret-py" "$OUT"

	local before
	before=$(lines "$tr")
	capture on "$d" node2 LITEFS_FWD_TRACE="$tr" sqlite3 -batch "$(node_path "$d" node2 app.db)" \
		"SELECT count(*) FROM t; BEGIN; SELECT max(id) FROM t; COMMIT;"
	assert_eq "a program that only reads on the replica" $'4\n5' "$OUT"
	assert_eq "... leaves no event" "$before" "$(lines "$tr")"
}

test_control_statements_of_a_session_are_traced() {
	local d tr
	fwd_cluster d session --db app.db || return
	schema "$d" || return
	tr=$d/trace.jsonl
	capture on "$d" node2 LITEFS_FWD_TRACE="$tr" sqlite3 -batch "$(node_path "$d" node2 app.db)" \
		"BEGIN IMMEDIATE; INSERT INTO t(x) VALUES (1); SAVEPOINT s; INSERT INTO t(x) VALUES (2);
SELECT count(*) FROM t; ROLLBACK TO s; RELEASE s; ROLLBACK; SELECT count(*) FROM t;"
	assert_eq "the shell's transaction sees its writes, then rolls back" $'2\n0' "$OUT"
	assert_eq "... without error" "" "$ERR"
	capture on "$d" node2 LITEFS_FWD_TRACE="$tr" "$E2E_PY" -c '
import os, sqlite3
c = sqlite3.connect(os.environ["LITEFS_FWD_MOUNT"] + "/app.db", isolation_level=None)
c.execute("BEGIN")
c.execute("INSERT INTO t(x) VALUES (3)")
c.close()  # inside the transaction: rolled back on the primary
print("closed")
'
	assert_eq "python closes its connection inside a transaction" "closed" "$OUT"
	capture trace_read seq "$tr" app.db
	assert_eq "every statement of the sessions, their control statements and the rollback at close" \
		"P1 begin SQLITE_DONE 0 S1
P1 insert SQLITE_DONE 1 S1
P1 savepoint SQLITE_DONE 0 S1
P1 insert SQLITE_DONE 1 S1
P1 select SQLITE_DONE 0 S1
P1 rollback_to SQLITE_DONE 0 S1
P1 release SQLITE_DONE 0 S1
P1 rollback SQLITE_DONE 0 S1
P2 insert SQLITE_DONE 1 S2
P2 rollback SQLITE_DONE 0 S2" "$OUT"
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM t;"
	assert_eq "nothing was committed" "0" "$OUT"
}

test_no_events_on_the_primary_nor_without_litefs() {
	local d tr
	fwd_cluster d primary --db app.db || return
	tr=$d/primary.jsonl
	capture on "$d" node1 LITEFS_FWD_TRACE="$tr" sqlite3 -batch "$(node_path "$d" node1 app.db)" \
		"CREATE TABLE p(x); INSERT INTO p VALUES (1); BEGIN; INSERT INTO p VALUES (2); COMMIT; SELECT count(*) FROM p;"
	assert_eq "on the primary, writes run locally" "2" "$OUT"
	assert_eq "... and no trace is even opened" "absent" "$([[ -e $tr ]] && echo present || echo absent)"

	local dir
	dir=$(new_dir nolitefs)
	capture env "${FWD_ENV[@]}" LITEFS_FWD_MOUNT="$dir/no-such-mount" LITEFS_FWD_TRACE="$dir/trace.jsonl" \
		LD_PRELOAD="$FWD_PRELOAD" sqlite3 -batch "$dir/a.db" "CREATE TABLE n(x); INSERT INTO n VALUES (1); SELECT x FROM n;"
	assert_eq "LiteFS absent: writes run locally" "1" "$OUT"
	assert_eq "... and no trace is even opened" "absent" "$([[ -e $dir/trace.jsonl ]] && echo present || echo absent)"
}

# mute_forwarder ADDR PORT: a process that accepts connections as a forwarder would (the SP
# handshake of a REP socket), reads requests and never answers. Sets BG_PID.
mute_forwarder() {
	bg_start "$E2E_TMP/mute.log" "$E2E_PY" -c '
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
def serve(c):
    c.sendall(b"\x00SP\x00\x00\x31\x00\x00")  # SP, version 0, protocol REP (49)
    while c.recv(65536):
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$1" "$2"
}

test_exception_events_when_the_forwarder_is_down_or_mute() {
	local d tr
	d=$(new_dir down)
	sim_up "$d" --db app.db || return  # no forwarder anywhere
	schema "$d" || return
	tr=$d/refused.jsonl
	capture on "$d" node2 LITEFS_FWD_TIMEOUT_MS=1000 LITEFS_FWD_TRACE="$tr" \
		sqlite3 -batch "$(node_path "$d" node2 app.db)" "INSERT INTO t(x) VALUES ('down');"
	assert_contains "nothing listens: the program gets SQLITE_BUSY" "no primary reachable; nothing was sent" "$ERR"
	capture trace_read seq "$tr" app.db
	assert_eq "... and the trace an exception saying why" \
		"P1 insert exception:connection_refused SQLITE_BUSY -" "$OUT"

	local addr port
	addr=$(node_addr "$d" node1)
	port=${E2E_FWD_PORT_OF[$d]}
	mute_forwarder "$addr" "$port"
	wait_for 5 sh -c "ss -ltn | grep -qF '$addr:$port '" || {
		not_ok "the mute forwarder listens" log "$(cat "$E2E_TMP/mute.log")"
		return
	}
	tr=$d/unknown.jsonl
	capture on "$d" node2 LITEFS_FWD_TIMEOUT_MS=1000 LITEFS_FWD_TRACE="$tr" \
		sqlite3 -batch "$(node_path "$d" node2 app.db)" "INSERT INTO t(x) VALUES ('mute');"
	assert_contains "a forwarder that takes the request and never answers: SQLITE_IOERR" \
		"the write may have been applied" "$ERR"
	capture trace_read seq "$tr" app.db
	assert_eq "... and the trace an exception with an unknown outcome" \
		"P1 insert exception:outcome_unknown SQLITE_IOERR -" "$OUT"
	bg_kill "$BG_PID"
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM t;"
	assert_eq "nothing was written" "0" "$OUT"
}

test_a_target_that_cannot_be_opened_breaks_nothing() {
	local d target n=0
	fwd_cluster d unopenable --db app.db || return
	schema "$d" || return
	mkdir -p "$d/a-directory"
	for target in "$d/no-such-dir/trace.jsonl" "$d/a-directory" "udp://no-such-host:9"; do
		n=$((n + 1))
		capture on "$d" node2 LITEFS_FWD_TRACE="$target" LITEFS_FWD_LOG=warn LITEFS_FWD_LOG_FILE="$d/log.$n" \
			sqlite3 -batch "$(node_path "$d" node2 app.db)" "INSERT INTO t(x) VALUES ($n); SELECT count(*) FROM t;"
		assert_eq "LITEFS_FWD_TRACE=${target#"$d"/}: the program works as without it" "0 $n " "$RC $OUT $ERR"
	done
	assert_line "a file that cannot be opened: said in the log" "trace: cannot open .*no-such-dir/trace.jsonl" "$(cat "$d/log.1")"
	assert_line "... and its events counted as dropped" "trace: 2 event\(s\) dropped in all" "$(cat "$d/log.1")"
	assert_line "a directory: said in the log" "trace: cannot open .*a-directory" "$(cat "$d/log.2")"
	assert_line "a target that cannot be read: said in the log" "ignoring LITEFS_FWD_TRACE=udp://no-such-host:9" "$(cat "$d/log.3")"
	capture node_sql "$d" node1 app.db "SELECT group_concat(x) FROM t;"
	assert_eq "every write reached the primary" "1,2,3" "$OUT"
}

# dgram_receiver SOCKET OUT READ: a unix datagram socket at SOCKET; READ=1 appends every
# datagram to OUT, READ=0 never reads (its queue fills up). Sets BG_PID.
dgram_receiver() {
	bg_start "$E2E_TMP/receiver.$(basename "$1").log" "$E2E_PY" -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
if sys.argv[3] == "0":
    while True:
        time.sleep(60)
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536))
' "$1" "$2" "$3"
}

test_unix_datagram_target() {
	local d
	fwd_cluster d dgram --db app.db || return
	schema "$d" || return
	dgram_receiver "$d/trace.sock" "$d/received.jsonl" 1
	wait_for 5 test -S "$d/trace.sock" || { not_ok "the receiver binds its socket"; return; }
	capture on "$d" node2 LITEFS_FWD_TRACE="unix:$d/trace.sock" sqlite3 -batch "$(node_path "$d" node2 app.db)" \
		"INSERT INTO t(x) VALUES (1); DELETE FROM t WHERE x = 1;"
	assert_eq "the program works" "0 " "$RC $ERR"
	wait_for 5 sh -c "[ \$(wc -l <'$d/received.jsonl') -ge 4 ]"
	capture trace_read seq "$d/received.jsonl" app.db
	assert_eq "one datagram per event" $'P1 insert SQLITE_DONE 1 -\nP1 delete SQLITE_DONE 1 -' "$OUT"

	# a socket nobody reads: its queue fills at once; the program never waits for it
	dgram_receiver "$d/full.sock" /dev/null 0
	wait_for 5 test -S "$d/full.sock" || { not_ok "the idle receiver binds its socket"; return; }
	local sql="" i t0
	for ((i = 1; i <= 100; i++)); do sql+="INSERT INTO t(x) VALUES ($i);"; done
	t0=$(now_ms)
	capture on "$d" node2 LITEFS_FWD_TRACE="unix:$d/full.sock" LITEFS_FWD_LOG=warn LITEFS_FWD_LOG_FILE="$d/full.log" \
		sqlite3 -batch "$(node_path "$d" node2 app.db)" "$sql SELECT count(*) FROM t;"
	assert_eq "a full socket: all 100 writes succeed" "0 100 " "$RC $OUT $ERR"
	echo "# 100 forwarded INSERTs with a full trace socket: $(($(now_ms) - t0)) ms"
	assert_line "... the drops are reported in the log" "trace: [0-9]+ event\(s\) dropped so far" "$(cat "$d/full.log")"
	local total
	total=$(grep -oE 'trace: [0-9]+ event\(s\) dropped in all' "$d/full.log" | grep -oE '[0-9]+')
	assert_num "... counted: at least 200 events minus what the socket queues (net.unix.max_dgram_qlen + 1)" \
		"${total:-0}" ">=" "$((200 - 1 - $(cat /proc/sys/net/unix/max_dgram_qlen)))"
	assert_num "... and no more than there were" "${total:-0}" "<=" 200
}

test_threads_and_processes_share_one_file() {
	local d tr
	fwd_cluster d threads --db app.db || return
	schema "$d" || return
	tr=$d/trace.jsonl
	local sql="" i
	for ((i = 1; i <= 25; i++)); do sql+="INSERT INTO t(x) VALUES ('shell-$i');"; done
	bg_start "$d/shell.out" on "$d" node2 LITEFS_FWD_TRACE="$tr" sqlite3 -batch -cmd ".timeout 10000" \
		"$(node_path "$d" node2 app.db)" "$sql"
	local shell=$BG_PID
	capture on "$d" node2 LITEFS_FWD_TRACE="$tr" "$E2E_PY" -c '
import os, sqlite3, threading
db = os.environ["LITEFS_FWD_MOUNT"] + "/app.db"
def writer(k):
    c = sqlite3.connect(db, isolation_level=None, timeout=10)
    for i in range(25):
        c.execute("INSERT INTO t(x) VALUES (?)", ("py-%d-%d" % (k, i),))
ts = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("done")
'
	assert_eq "four python threads write" "done" "$OUT"
	bg_wait "$shell" 30
	assert_eq "... while the shell writes too" "0" "$?"
	capture trace_read pairs "$tr" app.db
	assert_eq "every line whole, every start with one end on its thread" "forwards 125" "$OUT"
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM t;"
	assert_eq "the primary has the 125 rows" "125" "$OUT"
}

e2e_main "$@"
