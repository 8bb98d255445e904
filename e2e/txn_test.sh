#!/usr/bin/env bash
# End-to-end: transactions of unmodified programs on a replica. A transaction runs locally
# while it only reads; its first write opens a session on the primary (the local BEGIN /
# SAVEPOINT statements replayed first), after which every statement of the connection runs
# there until COMMIT/ROLLBACK. Checked with the sqlite3 shell, Python, Tcl, Ruby and PHP on
# the replica, and on the primary.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

# rows DIR NODE DB TABLE: the x column of TABLE in rowid order, comma-separated, read on
# NODE without the interposer.
rows() {
	node_sql "$1" "$2" "$3" "SELECT group_concat(x) FROM (SELECT x FROM $4 ORDER BY rowid);"
}

# elapsed_ms T0: milliseconds since T0 (from now_ms).
elapsed_ms() { echo $(($(now_ms) - $1)); }

# The Python prelude of the scripts below: the database of the node's mount, a reader of
# the primary's copy that bypasses the interposer (the sqlite3 shell on node1's mount,
# without LD_PRELOAD), and a wait for a file the test creates.
py_prelude() {
	cat <<'PY'
import os, sqlite3, subprocess, sys, time
DB = os.path.join(os.environ["LITEFS_FWD_MOUNT"], "app.db")
SIM_DIR = os.environ["LITEFS_SIM_DIR"]
PRIMARY_DB = os.path.join(SIM_DIR, "node1", "mnt", "app.db")
def primary(sql):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    p = subprocess.run(["sqlite3", "-batch", "-cmd", ".timeout 5000", PRIMARY_DB, sql],
                       env=env, capture_output=True, text=True, timeout=15)
    return (p.stdout + p.stderr).strip()
def wait_file(path, timeout=15):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            print("timeout waiting for", path, flush=True)
            sys.exit(3)
        time.sleep(0.02)
def say(*a):
    print(*a, flush=True)
PY
}

# ------------------------------------------------------------------------------------------

test_sqlite3_shell_transactions() {
	local j=$1 d before after
	fwd_cluster d shell --journal "$j" --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(id INTEGER PRIMARY KEY, x);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return

	before=$(pos_txid "$d" node1 app.db)
	capture sql_on "$d" node2 app.db "BEGIN;
INSERT INTO t(x) VALUES ('a'); INSERT INTO t(x) VALUES ('b');
SELECT group_concat(x) FROM t;
SAVEPOINT a; INSERT INTO t(x) VALUES ('c'); SELECT group_concat(x) FROM t; ROLLBACK TO a;
SELECT group_concat(x) FROM t;
RELEASE a;
COMMIT;
SELECT group_concat(x) FROM t;"
	assert_eq "BEGIN ... SAVEPOINT ... ROLLBACK TO ... RELEASE ... COMMIT: each SELECT sees the transaction's own state" \
		$'a,b\na,b,c\na,b\na,b' "$OUT"
	assert_eq "... exit status 0" 0 "$RC"
	assert_eq "... nothing on stderr" "" "$ERR"
	capture rows "$d" node1 app.db t
	assert_eq "the primary has exactly the committed rows (not the one rolled back to the savepoint)" "a,b" "$OUT"
	after=$(pos_txid "$d" node1 app.db)
	assert_eq "the whole transaction committed as ONE transaction on the primary" "$((before + 1))" "$after"
	wait_same_pos "$d" app.db 5 node1 node2 &&
		assert_eq "the replica gets the transaction by replication" "a,b" "$(rows "$d" node2 app.db t)"

	before=$(pos "$d" node1 app.db)
	capture sql_on "$d" node2 app.db "BEGIN; INSERT INTO t(x) VALUES ('r1'); INSERT INTO t(x) VALUES ('r2'); SELECT count(*) FROM t; ROLLBACK; SELECT count(*) FROM t;"
	assert_eq "a ROLLBACK'd transaction saw its rows, then they are gone" $'4\n2' "$OUT"
	assert_eq "... nothing on stderr" "" "$ERR"
	assert_eq "... nothing committed on the primary (same -pos)" "$before" "$(pos "$d" node1 app.db)"
	assert_eq "... and not its rows" "a,b" "$(rows "$d" node1 app.db t)"

	capture sql_on "$d" node2 app.db "BEGIN IMMEDIATE; INSERT INTO t(x) VALUES ('i'); SELECT count(*) FROM t; COMMIT;"
	assert_eq "BEGIN IMMEDIATE ... COMMIT: the transaction sees its row" "3" "$OUT"
	assert_eq "... nothing on stderr" "" "$ERR"
	assert_eq "... the row is on the primary" "a,b,i" "$(rows "$d" node1 app.db t)"

	capture sql_on "$d" node2 app.db "BEGIN EXCLUSIVE; UPDATE t SET x = x || '!' WHERE x = 'i'; END;"
	assert_eq "BEGIN EXCLUSIVE ... END works too" "" "$ERR"
	assert_eq "... its UPDATE is on the primary" "a,b,i!" "$(rows "$d" node1 app.db t)"

	before=$(pos_txid "$d" node1 app.db)
	capture sql_on "$d" node2 app.db "SAVEPOINT s; INSERT INTO t(x) VALUES ('s1'); SAVEPOINT inner; INSERT INTO t(x) VALUES ('s2'); ROLLBACK TO inner; RELEASE inner; INSERT INTO t(x) VALUES ('s3'); RELEASE s; SELECT group_concat(x) FROM t;"
	assert_eq "a SAVEPOINT opened outside a transaction and RELEASEd commits (without the inner one rolled back)" "a,b,i!,s1,s3" "$OUT"
	assert_eq "... nothing on stderr" "" "$ERR"
	assert_eq "... the primary has s1 and s3, not s2" "a,b,i!,s1,s3" "$(rows "$d" node1 app.db t)"
	assert_eq "... in one transaction" "$((before + 1))" "$(pos_txid "$d" node1 app.db)"

	capture sql_on "$d" node2 app.db "BEGIN; SELECT count(*) FROM t; COMMIT;"
	assert_eq "a read-only transaction runs locally and commits" "5" "$OUT"
	assert_eq "... without error" "" "$ERR"
	assert_eq "... the primary committed nothing for it" "$((before + 1))" "$(pos_txid "$d" node1 app.db)"
}

test_python_implicit_transactions() {
	local d
	fwd_cluster d python --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(id INTEGER PRIMARY KEY, x); CREATE TABLE u(a UNIQUE);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	{
		py_prelude
		cat <<'PY'
c = sqlite3.connect(DB)  # default isolation_level "": BEGIN before DML
say("before", c.in_transaction)
c.execute("INSERT INTO t(x) VALUES ('p1')")
say("after insert", c.in_transaction)
say("sees own row", c.execute("SELECT count(*) FROM t").fetchone()[0])
say("primary before commit", primary("SELECT count(*) FROM t"))
c.commit()
say("after commit", c.in_transaction)
say("primary after commit", primary("SELECT count(*) FROM t"))
c.executemany("INSERT INTO t(x) VALUES (?)", (("m%d" % i,) for i in range(1000)))
say("executemany in transaction", c.in_transaction, "primary", primary("SELECT count(*) FROM t"))
c.commit()
say("executemany committed", c.in_transaction)
with c:
    c.execute("INSERT INTO t(x) VALUES ('with')")
say("after with", c.in_transaction)
try:
    with c:
        c.execute("INSERT INTO t(x) VALUES ('boom')")
        raise RuntimeError("boom")
except RuntimeError as e:
    say("raised", e)
say("after failed with", c.in_transaction)
c.execute("INSERT INTO u VALUES (1)")
try:
    c.execute("INSERT INTO u VALUES (1)")
    say("no error")
except sqlite3.IntegrityError as e:
    say("IntegrityError", e.sqlite_errorcode, e)
say("still in transaction", c.in_transaction)
c.execute("INSERT INTO u VALUES (2)")
c.commit()
say("final", c.in_transaction)
c.close()
PY
	} >"$d/implicit.py"
	capture on "$d" node2 "$E2E_PY" "$d/implicit.py"
	assert_eq "python: in_transaction, implicit BEGIN, commit, executemany, with, IntegrityError" \
		"before False
after insert True
sees own row 1
primary before commit 0
after commit False
primary after commit 1
executemany in transaction True primary 1
executemany committed False
after with False
raised boom
after failed with False
IntegrityError 2067 UNIQUE constraint failed: u.a
still in transaction True
final False" "$OUT"
	assert_eq "python: nothing on stderr" "" "$ERR"
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM t WHERE x LIKE 'm%'; SELECT count(*) FROM t WHERE x = 'p1'; SELECT count(*) FROM t WHERE x = 'with'; SELECT count(*) FROM t WHERE x = 'boom'; SELECT count(*) FROM t;"
	assert_eq "the primary: 1000 executemany rows, p1 once, 'with' once, no 'boom', 1002 in all" $'1000\n1\n1\n0\n1002' "$OUT"
	capture node_sql "$d" node1 app.db "SELECT group_concat(a) FROM (SELECT a FROM u ORDER BY a);"
	assert_eq "the primary: the rows around the constraint failure committed, the failed one not" "1,2" "$OUT"
}

test_tcl_ruby_php_transactions() {
	local d db want=""
	fwd_cluster d langs --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE l(id INTEGER PRIMARY KEY, x TEXT UNIQUE);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	db=$(node_path "$d" node2 app.db)

	if ! echo 'package require sqlite3' | tclsh >/dev/null 2>&1; then
		echo "# skip: tclsh with the sqlite3 package (libsqlite3-tcl) is not installed"
	else
		cat >"$d/txn.tcl" <<'TCL'
package require sqlite3
sqlite3 db [lindex $argv 0]
db transaction {
	db eval {INSERT INTO l(x) VALUES('tcl1')}
	db eval {INSERT INTO l(x) VALUES('tcl2')}
	# nested: a SAVEPOINT (Tcl asks sqlite3_get_autocommit); the inner one rolled back
	catch {db transaction {
		db eval {INSERT INTO l(x) VALUES('tcl-inner')}
		error "inner boom"
	}} err
	puts "inner: $err"
	puts "sees [db onecolumn {SELECT count(*) FROM l}]"
}
puts "committed"
puts [catch {db transaction {
	db eval {INSERT INTO l(x) VALUES('tcl-rolled-back')}
	error "boom"
}} err]
puts "rolled back: $err"
db close
TCL
		capture on "$d" node2 tclsh "$d/txn.tcl" "$db"
		assert_eq "tclsh: db transaction commits, a nested one rolls back alone, an error rolls back" \
			$'inner: inner boom\nsees 2\ncommitted\n1\nrolled back: boom' "$OUT"
		assert_eq "tclsh: nothing on stderr" "" "$ERR"
		want+="tcl1,tcl2"
		assert_eq "tclsh: the primary has exactly the committed rows" "$want" "$(rows "$d" node1 app.db l)"
	fi

	if ! ruby -e 'require "sqlite3"' >/dev/null 2>&1; then
		echo "# skip: ruby with the sqlite3 gem (ruby-sqlite3) is not installed"
	else
		capture on "$d" node2 ruby -e '
require "sqlite3"
db = SQLite3::Database.new(ARGV[0])
puts "active before: #{db.transaction_active?}"
db.transaction do
  db.execute("INSERT INTO l(x) VALUES (?)", ["ruby1"])
  puts "active inside: #{db.transaction_active?}"
  db.execute("INSERT INTO l(x) VALUES (?)", ["ruby2"])
end
puts "active after: #{db.transaction_active?}"
begin
  db.transaction do
    db.execute("INSERT INTO l(x) VALUES (?)", ["ruby-rolled-back"])
    raise "boom"
  end
rescue RuntimeError => e
  puts "rescued #{e.message}, active: #{db.transaction_active?}"
end
db.close' "$db"
		assert_eq "ruby: db.transaction commits, an exception rolls back, transaction_active? tells the truth" \
			$'active before: false\nactive inside: true\nactive after: false\nrescued boom, active: false' "$OUT"
		assert_eq "ruby: nothing on stderr" "" "$ERR"
		want+="${want:+,}ruby1,ruby2"
		assert_eq "ruby: the primary has exactly the committed rows" "$want" "$(rows "$d" node1 app.db l)"
	fi

	if [[ ${E2E_SANITIZE:-} == *address* ]]; then
		# ASan's own dlopen refuses RTLD_DEEPBIND before the interposer can drop it.
		echo "# skip: php under AddressSanitizer (it refuses PHP's RTLD_DEEPBIND)"
	elif ! php -m 2>/dev/null | grep -qx pdo_sqlite || ! php -m 2>/dev/null | grep -qx sqlite3; then
		echo "# skip: php with pdo_sqlite and sqlite3 is not installed"
	else
		capture on "$d" node2 php -r '
$pdo = new PDO("sqlite:" . $argv[1]);
$pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$pdo->beginTransaction();
$st = $pdo->prepare("INSERT INTO l(x) VALUES (?)");
$st->execute(["pdo1"]);
$st->execute(["pdo2"]);
echo "pdo in transaction: ", var_export($pdo->inTransaction(), true), "\n";
echo "pdo commit: ", var_export($pdo->commit(), true), "\n";
$pdo->beginTransaction();
$st->execute(["pdo-rolled-back"]);
echo "pdo rollBack: ", var_export($pdo->rollBack(), true), "\n";
echo "pdo in transaction: ", var_export($pdo->inTransaction(), true), "\n";
$st = null;
$pdo = null;
$db = new SQLite3($argv[1]);
$db->enableExceptions(true);
var_dump($db->exec("BEGIN"));
var_dump($db->exec("INSERT INTO l(x) VALUES (\"sqlite3-1\")"));
var_dump($db->exec("INSERT INTO l(x) VALUES (\"sqlite3-2\")"));
echo "sees ", $db->querySingle("SELECT count(*) FROM l WHERE x LIKE \"sqlite3-%\""), "\n";
var_dump($db->exec("COMMIT"));
var_dump($db->exec("BEGIN"));
var_dump($db->exec("INSERT INTO l(x) VALUES (\"sqlite3-rolled-back\")"));
var_dump($db->exec("ROLLBACK"));
$db->close();' "$db"
		assert_eq "php: PDO beginTransaction/commit/rollBack and SQLite3 exec(BEGIN/COMMIT/ROLLBACK)" \
			"pdo in transaction: true
pdo commit: true
pdo rollBack: true
pdo in transaction: false
bool(true)
bool(true)
bool(true)
sees 2
bool(true)
bool(true)
bool(true)
bool(true)" "$OUT"
		assert_eq "php: nothing on stderr" "" "$ERR"
		want+="${want:+,}pdo1,pdo2,sqlite3-1,sqlite3-2"
		assert_eq "php: the primary has exactly the committed rows" "$want" "$(rows "$d" node1 app.db l)"
	fi
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM l WHERE x LIKE '%rolled-back' OR x = 'tcl-inner';"
	assert_eq "no rolled-back row of any client is on the primary" "0" "$OUT"
}

test_migration_in_one_transaction() {
	local j=$1 d before
	fwd_cluster d migrate --journal "$j" --db app.db || return
	must "an existing table" node_sql "$d" node1 app.db "CREATE TABLE keep(x); INSERT INTO keep VALUES ('k');" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	cat >"$d/migrate.sql" <<'SQL'
BEGIN;
CREATE TABLE m(id INTEGER PRIMARY KEY, a TEXT NOT NULL);
CREATE INDEX m_a ON m(a);
INSERT INTO m(a) VALUES ('x'), ('y');
ALTER TABLE m ADD COLUMN c INTEGER NOT NULL DEFAULT 0;
UPDATE m SET c = 1 WHERE a = 'y';
INSERT INTO keep VALUES ('migrated');
PRAGMA user_version = 7;
SELECT 'rows:' || group_concat(a || '=' || c) FROM m;
SELECT 'user_version:' || user_version FROM pragma_user_version;
PRAGMA user_version;
PRAGMA table_info(m);
COMMIT;
SQL
	before=$(pos_txid "$d" node1 app.db)
	capture sql_on "$d" node2 app.db -bail ".read $d/migrate.sql"
	assert_eq "the migration script runs on the replica: exit status 0" 0 "$RC"
	assert_eq "... nothing on stderr" "" "$ERR"
	local -a lines
	mapfile -t lines <<<"$OUT"
	assert_eq "... inside the transaction a SELECT reads the new table's rows (run in the session)" "rows:x=0,y=1" "${lines[0]:-}"
	assert_eq "... and the user_version it set, through pragma_user_version" "user_version:7" "${lines[1]:-}"
	assert_eq "... PRAGMA user_version (a read) inside the transaction gives the transaction's value" "7" "${lines[2]:-}"
	assert_eq "... PRAGMA table_info(m) inside the transaction shows the new table with its added column" \
		"0|id|INTEGER|0||1 1|a|TEXT|1||0 2|c|INTEGER|1|0|0" "${lines[*]:3}"
	local want_schema=$'index|m_a|m\ntable|keep|keep\ntable|m|m'
	local want_rows=$'1|x|0\n2|y|1'
	# (the forwarder's record of requests, _litefs_fwd_requests, is not the migration's)
	local q_schema="SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE '\\_litefs\\_fwd\\_%' ESCAPE '\\' ORDER BY type, name;"
	local q_rows="SELECT id, a, c FROM m ORDER BY id;"
	capture node_sql "$d" node1 app.db "$q_schema"
	assert_eq "the primary: table m and index m_a" "$want_schema" "$OUT"
	capture node_sql "$d" node1 app.db "$q_rows"
	assert_eq "the primary: the rows, with the added column" "$want_rows" "$OUT"
	capture node_sql "$d" node1 app.db "PRAGMA user_version;"
	assert_eq "the primary: user_version 7" "7" "$OUT"
	assert_eq "the primary: the existing table got its row" "k,migrated" "$(rows "$d" node1 app.db keep)"
	if [[ $OUT == 7 ]]; then
		assert_eq "the primary: the whole migration is ONE transaction" "$((before + 1))" "$(pos_txid "$d" node1 app.db)"
	else
		assert_eq "the primary: the failed migration left nothing half done" "$before" "$(pos_txid "$d" node1 app.db)"
	fi
	wait_same_pos "$d" app.db 5 node1 node2 || return
	capture node_sql "$d" node2 app.db "$q_schema"
	assert_eq "the replica, after replication: table m and index m_a" "$want_schema" "$OUT"
	capture node_sql "$d" node2 app.db "$q_rows"
	assert_eq "the replica: the rows" "$want_rows" "$OUT"
	capture node_sql "$d" node2 app.db "PRAGMA user_version;"
	assert_eq "the replica: user_version 7" "7" "$OUT"
	capture sql_on "$d" node2 app.db "INSERT INTO m(a) VALUES ('after'); SELECT count(*) FROM m;"
	assert_eq "after the migration the replica's program writes to the new table" "3" "$OUT"
}

# The read-modify-write client of test_counter_no_lost_update: N increments, each
# BEGIN; SELECT; UPDATE with the value read + 1; COMMIT, retried whole on "locked"/busy.
counter_py() {
	cat <<'PY'
import os, sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db, isolation_level=None, timeout=10)
retries = 0
codes = {}
for i in range(n):
    while True:
        try:
            c.execute("BEGIN")
            v = c.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]
            c.execute("UPDATE counter SET n = ? WHERE id = 1", (v + 1,))
            c.execute("COMMIT")
            break
        except sqlite3.OperationalError as e:
            msg = str(e)
            if "locked" not in msg and "busy" not in msg:
                print("unexpected", getattr(e, "sqlite_errorname", "?"), msg, flush=True)
                sys.exit(1)
            retries += 1
            name = getattr(e, "sqlite_errorname", "?")
            codes[name] = codes.get(name, 0) + 1
            if c.in_transaction:
                c.execute("ROLLBACK")
            time.sleep(0.001 * (retries % 7))
print("done", n, "retries", retries, " ".join("%s=%d" % kv for kv in sorted(codes.items())), flush=True)
PY
}

test_counter_no_lost_update() {
	local j=$1 d n=50 i
	# shellcheck disable=SC2034 # read by sim_exec (lib.sh): the clients run longer than one statement
	local E2E_EXEC_TIMEOUT=50
	fwd_cluster d counter --nodes 3 --journal "$j" --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0);" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	counter_py >"$d/counter.py"
	local -a pids=() names=(node2-a node2-b node3 node1)
	local node
	for i in 0 1 2 3; do
		node=${names[i]%-*}
		bg_start "$d/counter-${names[i]}.out" on "$d" "$node" "$E2E_PY" "$d/counter.py" "$(node_path "$d" "$node" app.db)" "$n"
		pids+=("$BG_PID")
	done
	local t0 rc out
	t0=$(now_ms)
	for i in 0 1 2 3; do
		bg_wait "${pids[i]}" 55
		rc=$?
		out=$(<"$d/counter-${names[i]}.out")
		assert_eq "${names[i]}: the client ends well" 0 "$rc"
		assert_line "${names[i]}: it made its $n increments" "^done $n retries" "$out" &&
			echo "# ${names[i]}: $out"
	done
	echo "# 4 x $n increments in $(elapsed_ms "$t0") ms"
	capture node_sql "$d" node1 app.db "SELECT n FROM counter WHERE id = 1;"
	assert_eq "the primary's counter is exactly 4*$n: no lost update, no double update" "$((4 * n))" "$OUT"
	wait_same_pos "$d" app.db 5 node1 node2 node3 &&
		assert_eq "the replicas have the same value" "$((4 * n))|$((4 * n))" \
			"$(node_sql "$d" node2 app.db "SELECT n FROM counter;")|$(node_sql "$d" node3 app.db "SELECT n FROM counter;")"
}

test_busy_snapshot_on_stale_read() {
	local j=$1 d before
	fwd_cluster d snapshot --journal "$j" --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 10);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	{
		py_prelude
		cat <<'PY'
flags = sys.argv[1]
c = sqlite3.connect(DB, isolation_level=None, timeout=5)
c.execute("BEGIN")
v = c.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]
say("read", v, "in_transaction", c.in_transaction)
open(flags + "/read", "w").close()
wait_file(flags + "/written")
try:
    c.execute("UPDATE counter SET n = ? WHERE id = 1", (v + 1,))
    say("update: no error")
except sqlite3.OperationalError as e:
    say("update:", e.sqlite_errorcode, e.sqlite_errorname, e)
say("in_transaction", c.in_transaction)
c.execute("ROLLBACK")
say("after rollback in_transaction", c.in_transaction)
open(flags + "/rolledback", "w").close()
wait_file(flags + "/caughtup")
c.execute("BEGIN")
v = c.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]
c.execute("UPDATE counter SET n = ? WHERE id = 1", (v + 1,))
c.execute("COMMIT")
say("retry read", v, "committed, in_transaction", c.in_transaction)
PY
	} >"$d/snapshot.py"
	mkdir -p "$d/flags"
	bg_start "$d/snapshot.out" on "$d" node2 "$E2E_PY" "$d/snapshot.py" "$d/flags"
	local pid=$BG_PID
	if ! wait_for 10 test -e "$d/flags/read"; then
		not_ok "the client reads in its transaction" output "$(cat "$d/snapshot.out")"
		return
	fi
	must "a write commits on the primary meanwhile" node_sql "$d" node1 app.db "UPDATE counter SET n = 100 WHERE id = 1;" || return
	before=$(pos "$d" node1 app.db)
	touch "$d/flags/written"
	if ! wait_for 10 test -e "$d/flags/rolledback"; then
		not_ok "the client rolls back" output "$(cat "$d/snapshot.out")"
		return
	fi
	assert_eq "the refused UPDATE wrote nothing on the primary (same -pos)" "$before" "$(pos "$d" node1 app.db)"
	capture node_sql "$d" node1 app.db "SELECT n FROM counter;"
	assert_eq "... the primary's value is the other writer's" "100" "$OUT"
	wait_same_pos "$d" app.db 5 node1 node2
	touch "$d/flags/caughtup"
	bg_wait "$pid" 15
	assert_eq "the client ends well" 0 "$?"
	local out
	out=$(<"$d/snapshot.out")
	assert_eq "the stale transaction's write gets SQLITE_BUSY_SNAPSHOT (517, 'database is locked'), stays open; ROLLBACK + retry succeeds" \
		"read 10 in_transaction True
update: 517 SQLITE_BUSY_SNAPSHOT database is locked
in_transaction True
after rollback in_transaction False
retry read 100 committed, in_transaction False" "$out"
	capture node_sql "$d" node1 app.db "SELECT n FROM counter;"
	assert_eq "the primary has the retry's value, built on the other writer's (no lost update)" "101" "$OUT"
}

# A transaction's first write reaches the primary while another connection there holds the
# database's EXCLUSIVE lock (rollback journal: nobody can even read the schema): the client
# must wait within its busy timeout like SQLite's busy handler, and a transaction whose
# read is stale by then must never commit over the other writer's update.
test_first_write_while_the_primary_is_locked() {
	local d timeout
	fwd_cluster d locked --journal delete --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 10);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	{
		py_prelude
		cat <<'PY'
flags, timeout = sys.argv[1], float(sys.argv[2])
c = sqlite3.connect(DB, isolation_level=None, timeout=timeout)
c.execute("BEGIN")
v = c.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]
open(flags + "/read", "w").close()
wait_file(flags + "/locked")
t0 = time.monotonic()
try:
    c.execute("UPDATE counter SET n = ? WHERE id = 1", (v + 1,))
    say("update: no error")
except sqlite3.Error as e:
    say("update:", e.sqlite_errorcode, e.sqlite_errorname, e)
say("waited_ms", int((time.monotonic() - t0) * 1000))
say("in_transaction", c.in_transaction)
wait_file(flags + "/released")
# Against the SQLite documentation's advice (roll back after SQLITE_BUSY inside a
# transaction) the program tries the write again, then COMMIT: SQLite itself would refuse
# (WAL: SQLITE_BUSY_SNAPSHOT; rollback journal: the other write could not have committed).
for sql in ("UPDATE counter SET n = %d WHERE id = 1" % (v + 1), "COMMIT"):
    try:
        c.execute(sql)
        say(sql.split()[0], "ok")
    except sqlite3.Error as e:
        say(sql.split()[0], e.sqlite_errorcode, e)
if c.in_transaction:
    c.execute("ROLLBACK")
PY
	} >"$d/locked.py"
	cat >"$d/holder.py" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[2] + "/locked", "w").close()
time.sleep(1.5)
c.execute("ROLLBACK")
PY
	local v=100 pid hpid out
	for timeout in 5 0; do
		rm -rf "$d/flags"
		mkdir -p "$d/flags"
		bg_start "$d/locked-$timeout.out" on "$d" node2 "$E2E_PY" "$d/locked.py" "$d/flags" "$timeout"
		pid=$BG_PID
		if ! wait_for 10 test -e "$d/flags/read"; then
			not_ok "busy timeout $timeout s: the client reads in its transaction" output "$(cat "$d/locked-$timeout.out")"
			return
		fi
		must "the primary moves past the client's read" node_sql "$d" node1 app.db "UPDATE counter SET n = $v WHERE id = 1;" || return
		bg_start "$d/holder.out" sim_exec "$d" node1 "$E2E_PY" "$d/holder.py" "$(node_path "$d" node1 app.db)" "$d/flags"
		hpid=$BG_PID
		bg_wait "$hpid" 10
		touch "$d/flags/released"
		bg_wait "$pid" 15
		out=$(<"$d/locked-$timeout.out")
		if [[ $timeout != 0 ]]; then
			assert_line "busy timeout $timeout s: the stale first write waits for the lock, then gets SQLITE_BUSY_SNAPSHOT" \
				"^update: 517 SQLITE_BUSY_SNAPSHOT database is locked$" "$out"
			assert_not_contains "... not an error about the session" "cannot open session" "$out"
			local waited
			waited=$(sed -n 's/^waited_ms //p' <<<"$out")
			assert_num "... it waited for the lock holder (1.5 s), within its busy timeout" "${waited:-0}" ">" 1000
		else
			assert_line "busy timeout 0: the first write fails at once with 'database is locked'" \
				"^update: (5 SQLITE_BUSY|517 SQLITE_BUSY_SNAPSHOT) database is locked$" "$out"
		fi
		capture node_sql "$d" node1 app.db "SELECT n FROM counter WHERE id = 1;"
		assert_eq "busy timeout $timeout s: the stale transaction never committed over the other writer's update" "$v" "$OUT" ||
			evidence "client" "$out"
		v=$((v + 100))
	done
}

test_abandoned_transaction() {
	local j=$1 d
	fwd_cluster d abandon --journal "$j" --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(x);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	{
		py_prelude
		cat <<'PY'
flags = sys.argv[1]
c = sqlite3.connect(DB, isolation_level=None, timeout=5)
c.execute("BEGIN")
c.execute("INSERT INTO t VALUES ('ghost')")
with open(flags + "/pid.tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(flags + "/pid.tmp", flags + "/pid")
say("inserted, in_transaction", c.in_transaction)
time.sleep(30)
say("not killed")
PY
	} >"$d/abandon.py"
	mkdir -p "$d/flags"
	bg_start "$d/abandon.out" on "$d" node2 env LITEFS_FWD_TXN_TIMEOUT_MS=1000 "$E2E_PY" "$d/abandon.py" "$d/flags"
	if ! wait_for 10 test -s "$d/flags/pid"; then
		not_ok "the client opens its transaction" output "$(cat "$d/abandon.out")"
		return
	fi
	local pypid t0 took
	pypid=$(<"$d/flags/pid")
	kill -KILL "$pypid"
	wait_for 5 _e2e_gone "$pypid" || { not_ok "the client dies"; return; }
	t0=$(now_ms)
	capture node_sql "$d" node1 app.db "INSERT INTO t VALUES ('primary');"
	took=$(elapsed_ms "$t0")
	assert_eq "after the client was killed, a writer on the primary succeeds" 0 "$RC"
	assert_eq "... without error" "" "$ERR"
	echo "# the primary's writer waited $took ms (session timeout 1000 ms)"
	assert_num "... within a few seconds (the idle session was rolled back)" "$took" "<" 4000
	assert_num "... but not at once: the abandoned session held the write lock" "$took" ">" 500
	assert_eq "the killed client's row is not on the primary" "primary" "$(rows "$d" node1 app.db t)"
	assert_contains "the forwarder on the primary says it rolled the session back" "idle transaction" \
		"$(cat "$d/node1-forwarder.log")"

	{
		py_prelude
		cat <<'PY'
c = sqlite3.connect(DB, isolation_level=None, timeout=5)
c.execute("BEGIN")
c.execute("INSERT INTO t VALUES ('idle')")
say("in_transaction", c.in_transaction)
time.sleep(2)
try:
    c.execute("INSERT INTO t VALUES ('late')")
    say("late: no error")
except sqlite3.Error as e:
    say("late:", type(e).__name__, e.sqlite_errorcode, e.sqlite_errorname, e)
say("in_transaction", c.in_transaction)
say("primary", primary("SELECT group_concat(x) FROM t"))
c.execute("INSERT INTO t VALUES ('after')")
say("autocommit write after it", c.in_transaction)
PY
	} >"$d/idle.py"
	capture on "$d" node2 env LITEFS_FWD_TXN_TIMEOUT_MS=1000 "$E2E_PY" "$d/idle.py"
	assert_eq "the idle client's program ends well" 0 "$RC"
	local lines
	mapfile -t lines <<<"$OUT"
	assert_eq "in the transaction after the INSERT" "in_transaction True" "${lines[0]:-}"
	assert_match "the next statement after the idle timeout fails with SQLITE_ABORT_ROLLBACK" \
		"^late: OperationalError 516 SQLITE_ABORT_ROLLBACK " "${lines[1]:-}"
	assert_contains "... with a message saying it was rolled back" "rolled back" "${lines[1]:-}"
	assert_eq "... and in_transaction is False afterwards" "in_transaction False" "${lines[2]:-}"
	assert_eq "... neither the idle transaction's row nor the late one reached the primary" "primary primary" "${lines[3]:-}"
	assert_eq "... a write in autocommit mode afterwards works" "autocommit write after it False" "${lines[4]:-}"
	assert_eq "the primary: the killed and the idle transactions left nothing" "primary,after" "$(rows "$d" node1 app.db t)"
}

test_per_row_cost() {
	local d
	fwd_cluster d cost --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(id INTEGER PRIMARY KEY, node, i, payload);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	{
		py_prelude
		cat <<'PY'
node, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(DB, isolation_level=None, timeout=5)
c.execute("SELECT count(*) FROM t").fetchone()
t0 = time.perf_counter()
c.execute("BEGIN")
for i in range(n):
    c.execute("INSERT INTO t(node, i, payload) VALUES (?, ?, ?)", (node, i, "p" * 32))
t1 = time.perf_counter()
c.execute("COMMIT")
t2 = time.perf_counter()
print("%d %.1f %.1f" % (n, (t1 - t0) * 1e6 / n, (t2 - t0) * 1e3))
PY
	} >"$d/cost.py"
	local r1 r2
	capture on "$d" node2 "$E2E_PY" "$d/cost.py" node2 1000
	captured_ok "1000 INSERTs in one transaction on the replica" || return
	r2=$OUT
	capture on "$d" node1 "$E2E_PY" "$d/cost.py" node1 1000
	captured_ok "1000 INSERTs in one transaction on the primary" || return
	r1=$OUT
	local n us ms
	read -r n us ms <<<"$r2"
	echo "# per-row cost: replica node2, forwarded transaction: $us us per INSERT, $ms ms for $n rows with COMMIT"
	read -r n us ms <<<"$r1"
	echo "# per-row cost: primary node1, local transaction:     $us us per INSERT, $ms ms for $n rows with COMMIT"
	capture node_sql "$d" node1 app.db "SELECT node, count(*) FROM t GROUP BY node ORDER BY node;"
	assert_eq "both transactions committed their 1000 rows on the primary" $'node1|1000\nnode2|1000' "$OUT"
}

E2E_TESTS=(
	"test_sqlite3_shell_transactions delete"
	"test_sqlite3_shell_transactions wal"
	test_python_implicit_transactions
	test_tcl_ruby_php_transactions
	"test_migration_in_one_transaction delete"
	"test_migration_in_one_transaction wal"
	"test_counter_no_lost_update delete"
	"test_counter_no_lost_update wal"
	"test_busy_snapshot_on_stale_read delete"
	"test_busy_snapshot_on_stale_read wal"
	test_first_write_while_the_primary_is_locked
	"test_abandoned_transaction delete"
	"test_abandoned_transaction wal"
	test_per_row_cost
)
e2e_main "$@"
