#!/usr/bin/env bash
# End-to-end: writes of unmodified programs on a replica, forwarded to the primary by the
# interposer (build/liblitefs_fwd.so) and the forwarder (build/litefs-fwd), on the stand-in
# cluster. Statements in autocommit mode.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

test_sqlite3_shell_writes_on_a_replica() {
	local j=$1 d
	fwd_cluster d shell --journal "$j" --db app.db || return
	capture sql_on "$d" node2 app.db "CREATE TABLE t(id INTEGER PRIMARY KEY, x); INSERT INTO t(x) VALUES ('a'), ('b'); SELECT id, x FROM t;"
	assert_eq "the replica's shell succeeds" 0 "$RC"
	assert_eq "it reads its own writes at once (no such table otherwise)" $'1|a\n2|b' "$OUT"
	assert_eq "nothing on stderr" "" "$ERR"
	capture node_sql "$d" node1 app.db "SELECT id, x FROM t;"
	assert_eq "the rows are on the primary" $'1|a\n2|b' "$OUT"
	wait_same_pos "$d" app.db 5 node1 node2 &&
		assert_eq "the replica has exactly the primary's transactions" "$(pos "$d" node1 app.db)" "$(pos "$d" node2 app.db)"
	local before
	before=$(pos "$d" node1 app.db)
	capture on "$d" node2 "$E2E_PY" -c '
import os, sqlite3, time
c = sqlite3.connect("file:" + os.environ["LITEFS_FWD_MOUNT"] + "/app.db?mode=ro", uri=True, isolation_level=None)
t = time.time()
try:
    c.execute("INSERT INTO t(x) VALUES (?)", ("ro",))
    print("written")
except sqlite3.OperationalError as e:
    print(e.sqlite_errorcode, e, "fast" if time.time() - t < 1 else "slow")
'
	assert_eq "a connection the program opened read-only: SQLite's own refusal, at once, nothing sent" \
		"8 attempt to write a readonly database fast" "$OUT"
	assert_eq "... nothing written on the primary" "$before" "$(pos "$d" node1 app.db)"
	capture sql_on "$d" node2 fresh.db "CREATE TABLE n(x); INSERT INTO n VALUES (1); SELECT x FROM n;"
	assert_eq "a database that did not exist: created on the primary, read back at once" "1" "$OUT"
	assert_eq "... without error" "" "$ERR"
	capture sql_on "$d" node2 app.db "INSERT INTO t(x) VALUES ('c') RETURNING id, upper(x);"
	assert_eq "RETURNING rows come back" "3|C" "$OUT" || evidence stderr "$ERR"
	capture sql_on "$d" node2 app.db "INSERT INTO t(x) VALUES ('d'); SELECT changes(), last_insert_rowid(), total_changes();"
	assert_eq "changes(), last_insert_rowid(), total_changes() after a forwarded INSERT" "1|4|1" "$OUT"
	capture sql_on "$d" node2 app.db "UPDATE t SET x = x || '!' WHERE id <= 3; SELECT changes();"
	assert_eq "changes() after a forwarded UPDATE of 3 rows" "3" "$OUT" || evidence stderr "$ERR"
}

test_errors_are_the_primarys() {
	local d
	fwd_cluster d errors --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE u(a UNIQUE NOT NULL);INSERT INTO u VALUES (1);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	local sql="INSERT INTO u VALUES (1);"
	capture node_sql "$d" node1 app.db "$sql"
	local want_rc=$RC want_err=$ERR
	capture sql_on "$d" node2 app.db "$sql"
	assert_eq "same exit status as on the primary" "$want_rc" "$RC"
	assert_eq "same message as on the primary" "$want_err" "$ERR"
	capture sql_on "$d" node2 app.db "INSERT INTO u VALUES (NULL);"
	assert_contains "NOT NULL failure reported" "NOT NULL constraint failed: u.a" "$ERR"
	capture sql_on "$d" node2 app.db "INSERT INTO nosuch VALUES (1);"
	assert_contains "a missing table fails at prepare, locally" "no such table: nosuch" "$ERR"
	capture on "$d" node2 "$E2E_PY" -c '
import os, sqlite3
c = sqlite3.connect(os.environ["LITEFS_FWD_MOUNT"] + "/app.db", isolation_level=None)
try:
    c.execute("INSERT INTO u VALUES (1)")
    print("no error")
except sqlite3.IntegrityError as e:
    print(e.sqlite_errorcode, e.sqlite_errorname, e)
'
	assert_eq "python: IntegrityError with the extended code" "2067 SQLITE_CONSTRAINT_UNIQUE UNIQUE constraint failed: u.a" "$OUT"
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM u;"
	assert_eq "nothing was written by the failed statements" "1" "$OUT"
}

test_python_autocommit_values_and_accessors() {
	local d
	fwd_cluster d python --db app.db || return
	capture on "$d" node2 "$E2E_PY" -c '
import os, sqlite3, struct
c = sqlite3.connect(os.environ["LITEFS_FWD_MOUNT"] + "/app.db", isolation_level=None)
c.execute("CREATE TABLE v(id INTEGER PRIMARY KEY, a, b, t, bl)")
vals = [(2**63 - 1, 0.30000000000000004, "x\x00y", b"\x00\xff" * 70000),
        (-2**63, -0.0, "", b""),
        (0, 5e-324, "\u00e9\u4e2d", None)]
for v in vals:
    cur = c.execute("INSERT INTO v(a, b, t, bl) VALUES (?, ?, ?, ?)", v)
    print("lastrowid", cur.lastrowid, "rowcount", cur.rowcount)
cur = c.execute("UPDATE v SET a = a WHERE id >= 2")
print("update rowcount", cur.rowcount)
rows = c.execute("SELECT a, b, t, bl FROM v ORDER BY id").fetchall()
same = all(r[0] == v[0] and struct.pack("<d", r[1]) == struct.pack("<d", v[1]) and r[2] == v[2] and r[3] == v[3] for r, v in zip(rows, vals))
print("exact", same)
'
	assert_eq "python: lastrowid, rowcount and exact values read back on the replica" \
		$'lastrowid 1 rowcount 1\nlastrowid 2 rowcount 1\nlastrowid 3 rowcount 1\nupdate rowcount 2\nexact True' "$OUT"
	assert_eq "python: nothing on stderr" "" "$ERR"
	capture node_sql "$d" node1 app.db "SELECT a, quote(b), hex(t), length(bl) FROM v ORDER BY id;"
	assert_eq "the primary holds the exact values" \
		$'9223372036854775807|3.00000000000000044408e-01|780079|140000\n-9223372036854775808|0.0||0\n0|4.94065645841247e-324|C3A9E4B8AD|' "$OUT"
}

test_explicit_transaction_runs_on_the_primary() {
	local d
	fwd_cluster d txn --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(x);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	capture sql_on "$d" node2 app.db "BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); SELECT count(*) FROM t; ROLLBACK; SELECT count(*) FROM t; BEGIN; INSERT INTO t VALUES (3); COMMIT; SELECT group_concat(x) FROM t;"
	assert_eq "the transaction sees its writes, ROLLBACK undoes them, COMMIT keeps them" $'2\n0\n3' "$OUT"
	assert_eq "... without error" "" "$ERR"
	capture node_sql "$d" node1 app.db "SELECT group_concat(x) FROM t;"
	assert_eq "the primary has the committed transaction only" "3" "$OUT"
}

test_primary_runs_locally() {
	local d
	fwd_cluster d primary --db app.db || return
	pkill -TERM -f "$FWD_BIN forwarder --listen tcp://$(node_addr "$d" node1):" 2>/dev/null
	capture sql_on "$d" node1 app.db "CREATE TABLE t(x); INSERT INTO t VALUES (1); SELECT * FROM t;"
	assert_eq "on the primary, writes run locally (no forwarder needed)" "1" "$OUT"
	assert_eq "... without error" "" "$ERR"
}

test_replica_without_the_interposer_fails() {
	local d
	fwd_cluster d plain --db app.db || return
	capture node_sql "$d" node2 app.db "CREATE TABLE t(x);"
	assert_ne "without the interposer the replica refuses the write" 0 "$RC"
	assert_contains "... with LiteFS's error" "attempt to write a readonly database" "$ERR"
	capture sql_on "$d" node2 app.db "CREATE TABLE t(x);"
	assert_eq "with it the same statement succeeds" 0 "$RC"
}

test_without_litefs_output_is_identical() {
	local dir out1 out2
	dir=$(new_dir nolitefs)
	local script="CREATE TABLE t(a UNIQUE, b); INSERT INTO t VALUES (1, 0.30000000000000004), (2, x'00ff'); INSERT INTO t VALUES (1, 2); SELECT a, b, typeof(b) FROM t; SELECT changes(), total_changes();"
	capture env "${FWD_ENV[@]}" LITEFS_FWD_MOUNT="$dir/no-such-mount" LD_PRELOAD="$FWD_PRELOAD" sqlite3 -batch "$dir/a.db" "$script"
	local rc1=$RC out1=$OUT err1=$ERR
	capture env LITEFS_FWD_MOUNT="$dir/no-such-mount" sqlite3 -batch "$dir/b.db" "$script"
	assert_eq "LiteFS absent: same exit status" "$RC" "$rc1"
	assert_eq "LiteFS absent: same output" "$OUT" "$out1"
	assert_eq "LiteFS absent: same errors" "${ERR//b.db/X}" "${err1//a.db/X}"
	assert_eq "LiteFS absent: the same bytes on disk" "$(sqlite3 "$dir/b.db" .dump)" "$(sqlite3 "$dir/a.db" .dump)"
}

test_tcl_ruby_php_clients() {
	local d
	fwd_cluster d langs --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE l(id INTEGER PRIMARY KEY, who TEXT UNIQUE);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	local db
	db=$(node_path "$d" node2 app.db)
	cat >"$d/client.tcl" <<'TCL'
package require sqlite3
sqlite3 db [lindex $argv 0]
db eval {INSERT INTO l(who) VALUES('tcl')}
puts "rowid [db last_insert_rowid] changes [db changes]"
puts [catch {db eval {INSERT INTO l(who) VALUES('tcl')}} err]
puts $err
db close
TCL
	capture on "$d" node2 tclsh "$d/client.tcl" "$db"
	assert_eq "tclsh: insert, rowid, changes, and the primary's constraint error" \
		$'rowid 1 changes 1\n1\nUNIQUE constraint failed: l.who' "$OUT"
	capture on "$d" node2 ruby -e '
require "sqlite3"
db = SQLite3::Database.new(ARGV[0])
db.execute("INSERT INTO l(who) VALUES (?)", ["ruby"])
puts "rowid #{db.last_insert_row_id} changes #{db.changes}"
begin
  db.execute("INSERT INTO l(who) VALUES (?)", ["ruby"])
rescue SQLite3::ConstraintException => e
  puts "#{e.class}: #{e.message}"
end' "$db"
	assert_eq "ruby: insert, rowid, changes, and SQLite3::ConstraintException" \
		$'rowid 2 changes 1\nSQLite3::ConstraintException: UNIQUE constraint failed: l.who' "$OUT"
	if [[ ${E2E_SANITIZE:-} == *address* ]]; then
		# ASan's own dlopen refuses RTLD_DEEPBIND before the interposer can drop it.
		echo "# skip: php under AddressSanitizer (it refuses PHP's RTLD_DEEPBIND)"
		capture node_sql "$d" node1 app.db "SELECT id, who FROM l ORDER BY id;"
		assert_eq "every client's row is on the primary, once" $'1|tcl\n2|ruby' "$OUT"
		return
	fi
	capture on "$d" node2 php -r '
$db = new SQLite3($argv[1]);
var_dump($db->exec("INSERT INTO l(who) VALUES (\"php\")"));
echo $db->lastInsertRowID(), " ", $db->changes(), "\n";
$pdo = new PDO("sqlite:" . $argv[1]);
$pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$st = $pdo->prepare("INSERT INTO l(who) VALUES (?)");
$st->execute(["pdo"]);
echo $pdo->lastInsertId(), " ", $st->rowCount(), "\n";
try { $st->execute(["pdo"]); } catch (PDOException $e) { echo $e->getCode(), " ", $e->getMessage(), "\n"; }' "$db"
	assert_eq "php: SQLite3 and PDO insert, rowid, changes, and PDO's exception" \
		$'bool(true)\n3 1\n4 1\n23000 SQLSTATE[23000]: Integrity constraint violation: 19 UNIQUE constraint failed: l.who' "$OUT"
	capture node_sql "$d" node1 app.db "SELECT id, who FROM l ORDER BY id;"
	assert_eq "every client's row is on the primary, once" $'1|tcl\n2|ruby\n3|php\n4|pdo' "$OUT"
}

test_connection_settings_travel() {
	local d
	fwd_cluster d settings --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(pid REFERENCES p(id), note);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	capture sql_on "$d" node2 app.db "PRAGMA foreign_keys=ON; INSERT INTO c VALUES (42, 'orphan');"
	assert_contains "foreign_keys=ON on the replica's connection is enforced on the primary" \
		"FOREIGN KEY constraint failed" "$ERR"
	capture sql_on "$d" node2 app.db "INSERT INTO c VALUES (43, 'allowed');"
	assert_eq "foreign keys off (the default): the same kind of row is accepted" 0 "$RC"
	capture sql_on "$d" node2 app.db "INSERT INTO p VALUES (7); INSERT INTO c VALUES (last_insert_rowid(), 'rowid');"
	assert_eq "a forwarded statement reads the program's own last_insert_rowid()" 0 "$RC"
	capture node_sql "$d" node1 app.db "SELECT pid, note FROM c ORDER BY rowid;"
	assert_eq "the primary holds exactly the accepted rows" $'43|allowed\n7|rowid' "$OUT"
}

test_no_forwarder_is_busy_and_nothing_sent() {
	local d
	fwd_cluster d down --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(x);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	pkill -TERM -f "$FWD_BIN forwarder --listen tcp://$(node_addr "$d" node1):" 2>/dev/null
	wait_for 5 _fwd_down "$d" node1 || { not_ok "the primary's forwarder stops"; return; }
	local before
	before=$(pos "$d" node1 app.db)
	capture on "$d" node2 env LITEFS_FWD_TIMEOUT_MS=1000 sqlite3 -batch "$(node_path "$d" node2 app.db)" "INSERT INTO t VALUES (1);"
	assert_ne "with no forwarder reachable the write fails" 0 "$RC"
	assert_contains "as SQLITE_BUSY, saying nothing was sent" "no primary reachable; nothing was sent (5)" "$ERR"
	assert_eq "nothing was written" "$before" "$(pos "$d" node1 app.db)"
	bg_start "$d/node1-forwarder.again.log" "$LITEFS_SIM" exec "$d" node1 -- \
		sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$FWD_BIN"
	wait_for 5 _fwd_listening "$d" || { not_ok "the forwarder comes back"; return; }
	capture sql_on "$d" node2 app.db "INSERT INTO t VALUES (2); SELECT x FROM t;"
	assert_eq "once it is back the same program's write succeeds" "2" "$OUT"
}

test_forwarder_on_ipv6() {
	local d port
	fwd_cluster d v6 --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(x);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	pkill -TERM -f "$FWD_BIN forwarder --listen tcp://$(node_addr "$d" node1):" 2>/dev/null
	wait_for 5 _fwd_down "$d" node1 || { not_ok "the primary's forwarder stops"; return; }
	port=${E2E_FWD_PORT_OF[$d]}
	bg_start "$d/node1-forwarder.v6.log" "$LITEFS_SIM" exec "$d" node1 -- \
		"$FWD_BIN" forwarder --listen "tcp://[::1]:$port"
	wait_for 5 eval "ss -ltn | grep -qF '[::1]:$port '" ||
		{ not_ok "the forwarder listens on [::1]" log "$(cat "$d/node1-forwarder.v6.log")"; return; }
	capture on "$d" node2 env LITEFS_FWD_ENDPOINTS="node1=tcp://[::1]:$port" \
		sqlite3 -batch "$(node_path "$d" node2 app.db)" "INSERT INTO t VALUES (6); SELECT x FROM t;"
	assert_eq "a write from the replica reaches the forwarder over IPv6" "6" "$OUT"
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM t;"
	assert_eq "and runs on the primary once" "1" "$OUT"
}

E2E_TESTS=(
	"test_sqlite3_shell_writes_on_a_replica delete"
	"test_sqlite3_shell_writes_on_a_replica wal"
	test_errors_are_the_primarys
	test_python_autocommit_values_and_accessors
	test_tcl_ruby_php_clients
	test_connection_settings_travel
	test_no_forwarder_is_busy_and_nothing_sent
	test_forwarder_on_ipv6
	test_explicit_transaction_runs_on_the_primary
	test_primary_runs_locally
	test_replica_without_the_interposer_fails
	test_without_litefs_output_is_identical
)
e2e_main "$@"
