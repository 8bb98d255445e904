#!/usr/bin/env bash
# shellcheck disable=SC2317 # test functions and helpers are called indirectly (E2E_TESTS)
# End-to-end tests of build/litefs-sim, the stand-in LiteFS cluster: that it reproduces what
# programs see on a real LiteFS cluster (files of the mount, errors of writes on replicas,
# the event stream, failover) and that its own commands behave.
#
#   bash e2e/sim_test.sh                 all tests (well under a minute)
#   bash e2e/sim_test.sh promote wal     only the tests whose name contains a pattern
#
# Helpers: e2e/lib.sh (assertions, clusters, event streams) and e2e/sim/*.py|tcl (programs
# run on the nodes: exact file probes, SQL error codes, commit/-pos checks, a torn-read
# checker, an event-stream recorder).

# shellcheck source=e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIMPY=$E2E_DIR/sim

INIT_PRIMARY='{"type":"init","data":{"isPrimary":true}}'
INIT_REPLICA_OF_NODE1='{"type":"init","data":{"isPrimary":false,"hostname":"node1"}}'
CHANGE_LOST='{"type":"primaryChange","data":{"isPrimary":false}}'
CHANGE_PRIMARY='{"type":"primaryChange","data":{"isPrimary":true}}'

RE_POS_BYTES='^b.[0-9a-f]{16}/[0-9a-f]{16}\\n.$'   # python repr of the 34 bytes of -pos
RE_LAG_BYTES='^b.[+-][0-9]{9}\\n.$'                # python repr of a %+010d\n .lag
RE_LAG_LINE='^replication lag: p50 ([0-9]+(\.[0-9]+)?) ms, p99 ([0-9]+(\.[0-9]+)?) ms over ([0-9]+) transactions$'
RE_TX_TYPE='^\{"type":"tx",'

# tx_re DB: the exact shape of a tx event of DB.
tx_re() {
	local db=${1//./\\.}
	echo '^\{"type":"tx","db":"'"$db"'","data":\{"txID":"[0-9a-f]{16}","postApplyChecksum":"[0-9a-f]{16}","pageSize":4096,"commit":[0-9]+,"timestamp":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z"\}\}$'
}

# ere_quote STRING: STRING as an anchored extended regex matching exactly it.
# shellcheck disable=SC2016 # the $ in the sed expression is a regex anchor
ere_quote() { printf '^%s$' "$(printf '%s' "$1" | sed 's/[][\.*^$(){}+?|]/\\&/g')"; }

# change_to NODE: the primaryChange event of a replica that now follows NODE.
change_to() { echo '{"type":"primaryChange","data":{"isPrimary":false,"hostname":"'"$1"'"}}'; }

# What an unforwarded write on a replica gets, per journal mode (LiteFS 0.5.14).
cli_write_error() { if [[ $1 == wal ]]; then echo "disk I/O error"; else echo "attempt to write a readonly database"; fi; }
py_write_error() {
	if [[ $1 == wal ]]; then
		echo "error 778 SQLITE_IOERR_WRITE disk I/O error"
	else
		echo "error 1544 SQLITE_READONLY_DIRECTORY attempt to write a readonly database"
	fi
}
tcl_write_error() { if [[ $1 == wal ]]; then echo "error 10 disk I/O error"; else echo "error 8 attempt to write a readonly database"; fi; }

# inserts N [FIRST]: N autocommit INSERTs into t(x) (N transactions), x = FIRST.. (default 1).
inserts() {
	local n=$1 first=${2:-1} i sql=""
	for ((i = first; i < first + n; i++)); do sql+="INSERT INTO t(x) VALUES ($i);"; done
	echo "$sql"
}

# new_cluster VAR NAME [UP OPTIONS]: a cluster with table t(id, x) in app.db, replicated to
# every node. VAR receives the directory.
new_cluster() {
	local _nc_var=$1 _nc_name=$2 _nc_dir
	shift 2
	_nc_dir=$(new_dir "$_nc_name") || return 1
	printf -v "$_nc_var" '%s' "$_nc_dir"
	sim_up "$_nc_dir" "$@" || return 1
	must "create table t on node1" node_sql "$_nc_dir" node1 app.db \
		"CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER NOT NULL)" || return 1
	# shellcheck disable=SC2046
	wait_same_pos "$_nc_dir" app.db 5 $(cluster_nodes "$_nc_dir")
}

# rows DIR NODE: "count|sum(x)" of t on that node.
rows() { node_sql "$1" "$2" app.db "SELECT count(*), coalesce(sum(x), 0) FROM t"; }

# snapshot DIR DB: what every node shows (-pos, t's rows, files of the mount), to prove that
# nothing changed.
snapshot() {
	local dir=$1 db=$2 n
	for n in $(cluster_nodes "$dir"); do
		echo "$n pos=$(pos "$dir" "$n" "$db") rows=$(rows "$dir" "$n" 2>&1) files=$(node_ls "$dir" "$n")"
	done
}

# sim_status_of DIR NODE EXPR: a field of GET /sim/status of the node.
sim_status_of() { http_get "$(node_url "$1" "$2" /sim/status)" | json_get "$3"; }

# A python3 program that holds one connection to the database $1 and runs, as SQL, each line
# written to the FIFO $2, printing one line per command: its rows ("|" between values, the
# rows one after the other), or "error: MESSAGE"; "close" closes the connection, prints
# "closed" and ends the program. Driven with conn_do.
CONN_PY='
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
while conn is not None:
    with open(sys.argv[2]) as fifo:
        for line in fifo:
            line = line.strip()
            if line == "close":
                conn.close()
                conn = None
                print("closed", flush=True)
                break
            try:
                rows = conn.execute(line).fetchall()
                print(" ".join("|".join(str(v) for v in r) for r in rows), flush=True)
            except sqlite3.Error as e:
                print("error: %s" % e, flush=True)
'

# conn_start VAR DB: starts a CONN_PY program on DB (a path); VAR receives "FIFO OUT PID".
conn_start() {
	local _cs_fifo _cs_out
	_cs_fifo=$(mktemp -u "$E2E_TMP/conn-fifo.XXXXXX")
	_cs_out=$(mktemp "$E2E_TMP/conn-out.XXXXXX")
	mkfifo "$_cs_fifo" || return 1
	bg_start "$_cs_out" "$E2E_PY" -c "$CONN_PY" "$2" "$_cs_fifo"
	printf -v "$1" '%s %s %s' "$_cs_fifo" "$_cs_out" "$BG_PID"
}

_lines_more() { (($(wc -l <"$1") > $2)); }

# conn_do CONN COMMAND: runs COMMAND in the program of conn_start and prints its answer
# (status 1 when there is none within 10 s).
conn_do() {
	local fifo out n
	read -r fifo out _ <<<"$1"
	n=$(wc -l <"$out")
	# shellcheck disable=SC2016 # the inner shell expands them
	timeout -k 1 5 bash -c 'echo "$1" >"$2"' _ "$2" "$fifo" || return 1
	wait_for 10 _lines_more "$out" "$n" || return 1
	tail -n 1 "$out"
}

# A python3 program that commits into the WAL $1 of database $2 (paths in a mount) a
# transaction setting the database's user_version to $3, after the last committed frame,
# without touching the wal-index: what SQLite leaves when its writer ends (killed, say)
# between writing the commit frame and making the transaction visible in the wal-index.
RAW_COMMIT_PY='
import os, struct, sys
wal, db, value = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(wal, "rb").read()
magic, _, psz, _, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:32])
order = ">" if magic & 1 else "<"
def cksum(buf, s1, s2):
    w = struct.unpack("%s%dI" % (order, len(buf) // 4), buf)
    for i in range(0, len(w), 2):
        s1 = (s1 + w[i] + s2) & 0xffffffff
        s2 = (s2 + w[i + 1] + s1) & 0xffffffff
    return s1, s2
fsz = 24 + psz
off, s1, s2, page1, last = 32, c1, c2, None, None
while off + fsz <= len(data):
    pgno, commit, fs1, fs2, k1, k2 = struct.unpack(">6I", data[off:off + 24])
    n1, n2 = cksum(data[off + 24:off + fsz], *cksum(data[off:off + 8], s1, s2))
    if (fs1, fs2, k1, k2) != (salt1, salt2, n1, n2):
        break
    s1, s2, off = n1, n2, off + fsz
    if pgno == 1:
        page1 = data[off - psz:off]
    if commit:
        last = (off, commit, s1, s2, page1)
end, size, s1, s2, page1 = last
if page1 is None:
    page1 = open(db, "rb").read(psz)
page = page1[:60] + struct.pack(">I", value) + page1[64:]
head = struct.pack(">4I", 1, size, salt1, salt2)
k1, k2 = cksum(page, *cksum(head[:8], s1, s2))
fd = os.open(wal, os.O_WRONLY)
os.pwrite(fd, head + struct.pack(">2I", k1, k2) + page, end)
os.close(fd)
'

# ==========================================================================================
# the commands: up, exec, down; clusters side by side

test_up_prints_each_node_quickly() {
	local d n k
	d=$(new_dir up)
	sim_up "$d" --nodes 3 --db app.db || return
	local out=$OUT
	assert_num "up returns in under 2 s (ms)" "$SIM_UP_MS" "<" 2000
	local p=${E2E_PREFIX_OF[$d]} want=""
	for k in 1 2 3; do
		local role=replica
		((k == 1)) && role=primary
		want+="node$k $role $d/node$k/mnt http://$p.$k:20202/events"$'\n'
	done
	assert_eq "up prints one 'nodeK ROLE MOUNT EVENTS_URL' line per node" "${want%$'\n'}" "$out"
	for n in node1 node2 node3; do
		assert_ok "$n's mount is mounted" is_mounted "$(node_mnt "$d" "$n")"
	done
	# --db waits until every replica has the database: no waiting here
	local p1
	p1=$(pos "$d" node1 app.db)
	assert_match "app.db-pos exists on the primary when up returns" '^[0-9a-f]{16}/[0-9a-f]{16}$' "$p1"
	for n in node2 node3; do
		assert_eq "app.db exists on $n when up returns" ok "$(node_probe stat "$d" "$n" app.db)"
		assert_eq "$n has the primary's app.db-pos when up returns" "$p1" "$(pos "$d" "$n" app.db)"
	done
	sim_down "$d"
}

test_up_five_nodes_and_exec_environment() {
	local d n k
	d=$(new_dir five)
	sim_up "$d" --nodes 5 --db app.db || return
	assert_eq "up --nodes 5 prints 5 lines" 5 "$(grep -c '^node[1-5] ' <<<"$OUT")"
	must "insert on node1" node_sql "$d" node1 app.db "CREATE TABLE t(x); INSERT INTO t VALUES (5)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 node4 node5 || return
	assert_eq "node5 has the row" 5 "$(node_sql "$d" node5 app.db "SELECT x FROM t")"
	assert_eq ".primary on node5 names node1" "b'node1\\n'" "$(node_probe bytes "$d" node5 .primary)"

	local p=${E2E_PREFIX_OF[$d]}
	capture sim_exec "$d" node2 env
	local endpoints=""
	for k in 1 2 3 4 5; do endpoints+="node$k=tcp://$p.$k:20208,"; done
	local -A want=(
		[LITEFS_FWD_MOUNT]="$d/node2/mnt"
		[LITEFS_FWD_EVENTS_URL]="http://$p.2:20202/events"
		[LITEFS_FWD_HOSTNAME]=node2
		[LITEFS_FWD_LISTEN]="tcp://$p.2:20208"
		[LITEFS_FWD_ENDPOINTS]="${endpoints%,}"
		[LITEFS_SIM_DIR]="$d"
		[LITEFS_SIM_NODE]=node2
	)
	local var
	for var in LITEFS_FWD_MOUNT LITEFS_FWD_EVENTS_URL LITEFS_FWD_HOSTNAME LITEFS_FWD_LISTEN \
		LITEFS_FWD_ENDPOINTS LITEFS_SIM_DIR LITEFS_SIM_NODE; do
		assert_eq "exec on node2 sets $var" "$var=${want[$var]}" "$(grep "^$var=" <<<"$OUT")"
	done
	assert_eq "exec on node5 sets LITEFS_FWD_HOSTNAME=node5" "LITEFS_FWD_HOSTNAME=node5" \
		"$(sim_exec "$d" node5 env | grep '^LITEFS_FWD_HOSTNAME=')"
	assert_status "exec returns the command's exit status (7)" 7 sim_exec "$d" node3 sh -c 'exit 7'
	assert_status "exec returns the command's exit status (0)" 0 sim_exec "$d" node3 true
	capture sim_exec "$d" node2 printf '%s|' 'a b' '' c
	assert_eq "exec passes the arguments intact" "a b||c|" "$OUT"
	sim_down "$d"
}

test_up_refuses_a_running_dir() {
	local d
	new_cluster d refuse --db app.db || return
	must "insert on node1" node_sql "$d" node1 app.db "$(inserts 1)" || return
	local procs_before
	procs_before=$(procs_for_dir "$d" | sort -n)

	sim up "$d" --ip-prefix "${E2E_PREFIX_OF[$d]}"
	assert_eq "up on a running DIR exits 1" 1 "$RC"
	assert_ne "up on a running DIR says why on stderr" "" "$ERR"
	sim up "$d" --ip-prefix "$(pick_prefix)"
	assert_eq "up on a running DIR exits 1, even with another prefix" 1 "$RC"
	assert_eq "a refused up starts no process" "$procs_before" "$(procs_for_dir "$d" | sort -n)"

	# the running cluster is untouched
	assert_eq "node1 is still the primary (.primary absent)" ENOENT "$(node_probe stat "$d" node1 .primary)"
	assert_eq "node2 still follows node1" "b'node1\\n'" "$(node_probe bytes "$d" node2 .primary)"
	must "insert on node1 after the refused up" node_sql "$d" node1 app.db "$(inserts 1 2)" || return
	wait_same_pos "$d" app.db 5 node1 node2 && assert_eq "replication still works" "2|3" "$(rows "$d" node2)"
	sim_down "$d"
}

test_down_leaves_nothing_and_keeps_data() {
	local d
	new_cluster d down --nodes 3 --db app.db || return
	must "3 inserts" node_sql "$d" node1 app.db "$(inserts 3)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local pos1 prefix=${E2E_PREFIX_OF[$d]}
	pos1=$(pos "$d" node1 app.db)
	assert_ne "the running cluster has processes (sanity check of the next assertions)" "" "$(procs_for_dir "$d")"
	assert_ne "the running cluster has mounts (sanity check)" "" "$(mounts_under "$d")"

	sim_down "$d" || return
	local left
	left=$(procs_for_dir "$d")
	assert_eq "no process of the cluster is left after down" "" \
		"$(for p in $left; do echo "$p: $(tr '\0' ' ' <"/proc/$p/cmdline")"; done)"
	assert_eq "no mount of the cluster is left after down" "" "$(mounts_under "$d")"
	assert_fail "the HTTP API is gone after down" http_get "$(node_url "$d" node1 /info)"

	sim_up "$d" --nodes 3 --ip-prefix "$prefix" || return
	assert_eq "the primary's data is kept across down and up (-pos)" "$pos1" "$(pos "$d" node1 app.db)"
	assert_eq "the primary's rows are kept across down and up" "3|6" "$(rows "$d" node1)"
	wait_same_pos "$d" app.db 5 node1 node2 node3 &&
		assert_eq "the replicas' rows after down and up" "3|6" "$(rows "$d" node3)"
	sim_down "$d"
	assert_eq "no process is left after the second down" "" "$(procs_for_dir "$d")"
}

test_two_clusters_side_by_side() {
	local a b
	new_cluster a side-a --db app.db || return
	new_cluster b side-b --db app.db --http-port 20302 --fwd-port 20318 || return
	local pa=${E2E_PREFIX_OF[$a]} pb=${E2E_PREFIX_OF[$b]}
	assert_ne "the two clusters use different prefixes" "$pa" "$pb"
	assert_eq "--http-port: node2's API answers on port 20302" false \
		"$(http_get "http://$pb.2:20302/info" | json_get 'd["isPrimary"]')"
	assert_eq "--fwd-port: exec advertises port 20318" "LITEFS_FWD_LISTEN=tcp://$pb.2:20318" \
		"$(sim_exec "$b" node2 env | grep '^LITEFS_FWD_LISTEN=')"

	must "2 inserts in cluster a" node_sql "$a" node1 app.db "$(inserts 2 100)" || return
	must "1 insert in cluster b" node_sql "$b" node1 app.db "$(inserts 1 7)" || return
	wait_same_pos "$a" app.db 5 node1 node2 || return
	wait_same_pos "$b" app.db 5 node1 node2 || return
	assert_eq "cluster a's replica has only a's rows" "2|201" "$(rows "$a" node2)"
	assert_eq "cluster b's replica has only b's rows" "1|7" "$(rows "$b" node2)"

	sim_down "$a"
	must "insert in cluster b after a is down" node_sql "$b" node1 app.db "$(inserts 1 8)" || return
	wait_same_pos "$b" app.db 5 node1 node2 &&
		assert_eq "cluster b still replicates after a went down" "2|15" "$(rows "$b" node2)"
	assert_eq "cluster b's replica still follows its node1" "b'node1\\n'" "$(node_probe bytes "$b" node2 .primary)"
	sim_down "$b"
}

# ==========================================================================================
# the files of the mount, in both journal modes

test_mount_file_formats() {
	local j=$1 d n i
	new_cluster d formats --nodes 3 --journal "$j" --db app.db || return
	must "insert on node1" node_sql "$d" node1 app.db "$(inserts 1)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return

	assert_eq "app.db is in $j mode on the primary" "$j" "$(node_sql "$d" node1 app.db "PRAGMA journal_mode")"
	assert_eq "app.db is in $j mode on a replica" "$j" "$(node_sql "$d" node2 app.db "PRAGMA journal_mode")"

	assert_eq ".primary is absent on the primary (stat)" ENOENT "$(node_probe stat "$d" node1 .primary)"
	assert_eq ".primary is absent on the primary (open)" ENOENT "$(node_probe open "$d" node1 .primary)"
	for n in node2 node3; do
		assert_eq ".primary on $n is 'node1\\n'" "b'node1\\n'" "$(node_probe bytes "$d" "$n" .primary)"
	done

	for n in node1 node2 node3; do
		assert_match "app.db-pos on $n is %016x/%016x\\n" "$RE_POS_BYTES" "$(node_probe bytes "$d" "$n" app.db-pos)"
		assert_eq "app.db-pos on $n is 34 bytes (stat)" 34 "$(node_probe size "$d" "$n" app.db-pos)"
	done

	assert_eq ".lag on the primary is +000000000\\n" "b'+000000000\\n'" "$(node_probe bytes "$d" node1 .lag)"
	for n in node2 node3; do
		assert_match ".lag on $n is %+010d\\n of a synced replica" "$RE_LAG_BYTES" "$(node_probe bytes "$d" "$n" .lag)"
		assert_eq ".lag on $n is 11 bytes (stat)" 11 "$(node_probe size "$d" "$n" .lag)"
	done

	assert_eq "app.db is mode 0666 on the primary" 0666 "$(node_probe mode "$d" node1 app.db)"
	for n in node2 node3; do
		assert_eq "app.db is mode 0444 on $n" 0444 "$(node_probe mode "$d" "$n" app.db)"
		assert_eq "app.db opens (for reading) on $n" ok "$(node_probe open "$d" "$n" app.db)"
	done

	# the TXID: +1 per transaction, never for reads or rolled-back transactions
	local t0
	t0=$(pos_txid "$d" node1 app.db)
	for i in 1 2 3; do
		node_sql "$d" node1 app.db "INSERT INTO t(x) VALUES (10)" >/dev/null
		assert_eq "autocommit INSERT #$i: TXID +1" $((t0 + i)) "$(pos_txid "$d" node1 app.db)"
	done
	node_sql "$d" node1 app.db "BEGIN; $(inserts 10) COMMIT;" >/dev/null
	assert_eq "a 10-row transaction: TXID +1" $((t0 + 4)) "$(pos_txid "$d" node1 app.db)"
	node_sql "$d" node1 app.db "SELECT count(*) FROM t" >/dev/null
	assert_eq "a SELECT: TXID unchanged" $((t0 + 4)) "$(pos_txid "$d" node1 app.db)"
	node_sql "$d" node1 app.db "BEGIN; INSERT INTO t(x) VALUES (1); ROLLBACK;" >/dev/null
	assert_eq "a rolled-back transaction: TXID unchanged" $((t0 + 4)) "$(pos_txid "$d" node1 app.db)"
	wait_same_pos "$d" app.db 5 node1 node2 node3 &&
		assert_eq "the replicas reach the same TXID" $((t0 + 4)) "$(pos_txid "$d" node3 app.db)"
	sim_down "$d"
}

# ==========================================================================================
# an unforwarded write on a replica fails exactly as on LiteFS and changes nothing

test_replica_write_fails_like_litefs() {
	local j=$1 d
	new_cluster d rowrite --nodes 3 --journal "$j" --db app.db || return
	must "3 inserts" node_sql "$d" node1 app.db "$(inserts 3)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local e1 e2
	ev_open e1 "$(node_url "$d" node1 /events)" || return
	ev_open e2 "$(node_url "$d" node2 /events)" || return
	local before db2
	before=$(snapshot "$d" app.db)
	db2=$(node_path "$d" node2 app.db)
	local msg
	msg=$(cli_write_error "$j")

	assert_fail "sqlite3 CLI: INSERT on a replica fails" node_sql "$d" node2 app.db "INSERT INTO t(x) VALUES (42)"
	assert_contains "sqlite3 CLI: INSERT on a replica prints '$msg'" "$msg" "$ERR"
	assert_fail "sqlite3 CLI: BEGIN/INSERT/COMMIT on a replica fails" node_sql "$d" node2 app.db \
		"BEGIN; INSERT INTO t(x) VALUES (42); COMMIT;"
	assert_contains "sqlite3 CLI: BEGIN/INSERT/COMMIT on a replica prints '$msg'" "$msg" "$ERR"
	assert_fail "sqlite3 CLI: CREATE TABLE on a replica fails" node_sql "$d" node3 app.db "CREATE TABLE u(y)"
	assert_contains "sqlite3 CLI: CREATE TABLE on a replica prints '$msg'" "$msg" "$ERR"

	capture sim_exec "$d" node2 "$E2E_PY" "$SIMPY/sqlprobe.py" "$db2" "INSERT INTO t(x) VALUES (43)"
	assert_eq "python3: INSERT on a replica fails with the extended code" "$(py_write_error "$j")" "$OUT"
	capture sim_exec "$d" node2 "$E2E_PY" "$SIMPY/sqlprobe.py" "$db2" "UPDATE t SET x = x + 1"
	assert_eq "python3: UPDATE on a replica fails with the extended code" "$(py_write_error "$j")" "$OUT"
	capture sim_exec "$d" node2 tclsh "$SIMPY/sqlprobe.tcl" "$db2" "INSERT INTO t(x) VALUES (44)"
	assert_eq "tclsh: INSERT on a replica fails with the code and message" "$(tcl_write_error "$j")" "$OUT"

	sleep 0.3 # time for a wrong replication to show
	assert_eq "no node changed after the failed writes (-pos, rows, files)" "$before" "$(snapshot "$d" app.db)"
	assert_eq "no tx event on the primary after the failed writes" 0 "$(ev_count "$e1" "$RE_TX_TYPE")"
	assert_eq "no tx event on the replica after the failed writes" 0 "$(ev_count "$e2" "$RE_TX_TYPE")"

	must "insert on node1 after the failed writes" node_sql "$d" node1 app.db "$(inserts 1 4)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 &&
		assert_eq "the replica still follows the primary after the failed writes" "4|10" "$(rows "$d" node2)"

	# a new database file on a replica: the create succeeds, the file stays empty
	assert_eq "creating a new file on a replica succeeds" ok \
		"$(sim_exec "$d" node2 "$E2E_PY" "$SIMPY/fsprobe.py" create "$(node_path "$d" node2 fresh.db)")"
	assert_eq "the new file on the replica is empty" 0 "$(node_probe size "$d" node2 fresh.db)"
	assert_fail "sqlite3 CLI: CREATE TABLE in a new database on a replica fails" \
		node_sql "$d" node2 fresh2.db "CREATE TABLE x(y)"
	assert_contains "... with 'attempt to write a readonly database'" "attempt to write a readonly database" "$ERR"
	assert_eq "... and leaves an empty file" 0 "$(node_probe size "$d" node2 fresh2.db)"
	sim_down "$d"
}

# ==========================================================================================
# on the primary, -pos shows a transaction's TXID by the time COMMIT returns

test_commit_updates_pos_before_returning() {
	local j=$1 d
	new_cluster d commitpos --journal "$j" --db app.db || return
	local db1 bad
	db1=$(node_path "$d" node1 app.db)

	capture sim_exec "$d" node1 "$E2E_PY" "$SIMPY/commitpos.py" "$db1" 50
	captured_ok "python3 commitpos.py runs on the primary" || return
	assert_eq "python3: 50 transactions" 50 "$(grep -c . <<<"$OUT")"
	bad=$(awk '$3 != $2 + 1' <<<"$OUT")
	assert_eq "python3: -pos is +1 right after each COMMIT (lines 'i before after' that are not)" "" "$bad"

	capture sim_exec "$d" node1 tclsh "$SIMPY/commitpos.tcl" "$db1" 30
	captured_ok "tclsh commitpos.tcl runs on the primary" || return
	assert_eq "tclsh: 30 transactions" 30 "$(grep -c . <<<"$OUT")"
	bad=$(awk '$3 != $2 + 1' <<<"$OUT")
	assert_eq "tclsh: -pos is +1 right after each COMMIT (lines 'i before after' that are not)" "" "$bad"

	wait_same_pos "$d" app.db 5 node1 node2 &&
		assert_eq "the replica applied all 80 transactions" "80" \
			"$(node_sql "$d" node2 app.db "SELECT (SELECT count(*) FROM commitpos) + (SELECT count(*) FROM commitpos_tcl)")"
	sim_down "$d"
}

# ==========================================================================================
# replication: every transaction, in order, never torn, -pos never ahead of the data

test_replication_in_order() {
	local j=$1 d n
	new_cluster d order --nodes 3 --journal "$j" --db app.db || return
	local t0 e2 e3
	t0=$(pos_txid "$d" node1 app.db)
	ev_open e2 "$(node_url "$d" node2 /events)" || return
	ev_open e3 "$(node_url "$d" node3 /events)" || return

	must "200 autocommit inserts on node1" node_sql "$d" node1 app.db "$(inserts 200)" || return
	assert_eq "200 inserts: 200 transactions on the primary" $((t0 + 200)) "$(pos_txid "$d" node1 app.db)"
	wait_same_pos "$d" app.db 10 node1 node2 node3 || return

	local q="SELECT count(*), sum(x), group_concat(x) FROM (SELECT x FROM t ORDER BY id)"
	local want
	want="200|20100|$(seq -s, 1 200)"
	assert_eq "the primary has the 200 rows" "$want" "$(node_sql "$d" node1 app.db "$q")"
	local want_txids
	want_txids=$(seq $((t0 + 1)) $((t0 + 200)))
	for n in node2 node3; do
		local e=$e2
		[[ $n == node3 ]] && e=$e3
		assert_eq "$n has the 200 rows, in order" "$want" "$(node_sql "$d" "$n" app.db "$q")"
		assert_eq "$n has the primary's TXID" $((t0 + 200)) "$(pos_txid "$d" "$n" app.db)"
		ev_wait "$e" "$RE_TX_TYPE" 200 5
		assert_eq "$n emitted one tx event per transaction, in TXID order, none twice" \
			"$want_txids" "$(ev_txids "$e" app.db)"
	done
	sim_down "$d"
}

test_replica_reader_never_sees_torn_state() {
	local j=$1 d
	d=$(new_dir torn)
	sim_up "$d" --journal "$j" --db app.db || return
	local db1 db2
	db1=$(node_path "$d" node1 app.db)
	db2=$(node_path "$d" node2 app.db)
	must "torn.py setup on node1" sim_exec "$d" node1 "$E2E_PY" "$SIMPY/torn.py" setup "$db1" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return

	local stop out
	stop=$(mktemp -u "$E2E_TMP/torn-stop.XXXXXX")
	out=$(mktemp "$E2E_TMP/torn-reader.XXXXXX")
	bg_start "$out" "$LITEFS_SIM" exec "$d" node2 -- "$E2E_PY" "$SIMPY/torn.py" read "$db2" "$stop"
	local reader=$BG_PID
	sleep 0.3

	capture sim_exec "$d" node1 "$E2E_PY" "$SIMPY/torn.py" write "$db1" 400 6
	local writer=$OUT
	captured_ok "the writer runs on the primary"
	wait_same_pos "$d" app.db 10 node1 node2
	touch "$stop"
	bg_wait "$reader" 10
	local rc=$? result
	result=$(tail -n 1 "$out")
	echo "# writer: $writer"
	echo "# reader: $result"
	assert_eq "the reader ran to its end" 0 "$rc" || evidence output "$(cat "$out")"

	assert_eq "writer: -pos is +1 after each commit" 0 "$(json_get 'd["pos_mismatches"]' <<<"$writer")"
	assert_num "writer: transactions committed" "$(json_get 'd["txns"]' <<<"$writer")" ">=" 50
	assert_num "reader: polls made" "$(json_get 'd["polls"]' <<<"$result")" ">=" 20
	assert_num "reader: saw the table grow (distinct row counts)" "$(json_get 'd["distinct_counts"]' <<<"$result")" ">=" 3
	assert_eq "reader: count % 10 == 0 and sum == 1000 at every poll (violations)" 0 \
		"$(json_get 'd["violations"]' <<<"$result")" || evidence first "$(json_get 'd["first_violations"]' <<<"$result")"
	assert_eq "reader: the data always holds the transaction -pos names (polls where -pos ran ahead)" 0 \
		"$(json_get 'd["pos_ahead"]' <<<"$result")" || evidence first "$(json_get 'd["first_pos_ahead"]' <<<"$result")"
	assert_eq "reader: no read failed" 0 "$(json_get 'd["errors"]' <<<"$result")" ||
		evidence first "$(json_get 'd["first_errors"]' <<<"$result")"
	assert_eq "reader: its last poll saw every row of the primary" \
		"$(json_get 'd["count"]' <<<"$writer")" "$(json_get 'd["last_count"]' <<<"$result")"
	sim_down "$d"
}

# ==========================================================================================
# the event stream (GET /events)

test_events_init_tx_and_headers() {
	local d n
	new_cluster d events --nodes 3 --db app.db || return
	local -A ev=()
	for n in node1 node2 node3; do
		local e
		ev_open e "$(node_url "$d" "$n" /events)" || return
		ev[$n]=$e
	done
	assert_eq "the primary's first event is init" "$INIT_PRIMARY" "$(head -n 1 "${ev[node1]}.lines")"
	for n in node2 node3; do
		assert_eq "$n's first event is init with the primary's hostname" "$INIT_REPLICA_OF_NODE1" "$(head -n 1 "${ev[$n]}.lines")"
	done
	for n in node1 node2; do
		assert_match "$n: /events answers HTTP/1.1 200" '^HTTP/1\.1 200' "$(head -n 1 "${ev[$n]}.head")"
		assert_eq "$n: /events Content-Type" "application/json" "$(ev_header "${ev[$n]}" Content-Type)"
		assert_eq "$n: /events Transfer-Encoding" "chunked" "$(ev_header "${ev[$n]}" Transfer-Encoding)"
	done

	must "1 + 3 transactions on node1" node_sql "$d" node1 app.db "CREATE TABLE u(y); $(inserts 3)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local re txids1 pc
	re=$(tx_re app.db)
	txids1=$(ev_txids "${ev[node1]}")
	pc=$(node_sql "$d" node1 app.db "PRAGMA page_count")
	for n in node1 node2 node3; do
		local e=${ev[$n]}
		ev_wait "$e" "$RE_TX_TYPE" 4 5
		assert_eq "$n: one tx event per transaction" 4 "$(ev_count "$e" "$RE_TX_TYPE")"
		assert_eq "$n: every tx event has the exact LiteFS shape (lines that do not)" "" \
			"$(grep -E "$RE_TX_TYPE" "$e.lines" | grep -vE "$re")"
		assert_eq "$n: the same txIDs as the primary" "$txids1" "$(ev_txids "$e")"
		local last p
		last=$(grep -E "$RE_TX_TYPE" "$e.lines" | tail -n 1)
		p=$(pos "$d" "$n" app.db)
		assert_eq "$n: the last tx event's txID/postApplyChecksum are the -pos" "$p" \
			"$(json_get 'd["data"]["txID"] + "/" + d["data"]["postApplyChecksum"]' <<<"$last")"
		assert_eq "$n: the last tx event's commit is the database size in pages" "$pc" "$(json_get 'd["data"]["commit"]' <<<"$last")"
		assert_eq "$n: init comes once, then only tx events (other lines)" "" \
			"$(tail -n +2 "$e.lines" | grep -vE "$RE_TX_TYPE")"
	done
	local txid_last
	txid_last=$(tail -n 1 <<<"$txids1")
	assert_eq "the txIDs are the 4 last TXIDs" "$(seq $((txid_last - 3)) "$txid_last")" "$txids1"

	node_sql "$d" node1 app.db "SELECT count(*) FROM t" >/dev/null
	node_sql "$d" node2 app.db "SELECT count(*) FROM t" >/dev/null
	sleep 0.3
	for n in node1 node2 node3; do
		assert_eq "$n: reads emit no tx event" 4 "$(ev_count "${ev[$n]}" "$RE_TX_TYPE")"
		assert_ok "$n: the stream is still open" test ! -e "${ev[$n]}.end"
	done
	sim_down "$d"
}

test_events_two_subscribers_and_reconnect() {
	local d
	new_cluster d subs --db app.db || return
	local a b c
	ev_open a "$(node_url "$d" node2 /events)" || return
	ev_open b "$(node_url "$d" node2 /events)" || return
	must "5 inserts" node_sql "$d" node1 app.db "$(inserts 5)" || return
	ev_wait "$a" "$RE_TX_TYPE" 5 5
	ev_wait "$b" "$RE_TX_TYPE" 5 5
	assert_eq "subscriber a got init + 5 tx" 6 "$(ev_lines "$a" | wc -l)"
	assert_eq "two subscribers at once get the same events, byte for byte" "$(ev_lines "$a")" "$(ev_lines "$b")"

	ev_close "$a"
	must "3 inserts while a is away" node_sql "$d" node1 app.db "$(inserts 3 6)" || return
	ev_wait "$b" "$RE_TX_TYPE" 8 5
	ev_open c "$(node_url "$d" node2 /events)" || return
	assert_eq "a reconnect starts with a fresh init" "$INIT_REPLICA_OF_NODE1" "$(head -n 1 "$c.lines")"
	must "2 more inserts" node_sql "$d" node1 app.db "$(inserts 2 9)" || return
	ev_wait "$b" "$RE_TX_TYPE" 10 5
	ev_wait "$c" "$RE_TX_TYPE" 2 5
	sleep 0.2
	assert_eq "a reconnect replays nothing: only the 2 new transactions" \
		"$(ev_txids "$b" | tail -n 2)" "$(ev_txids "$c")"
	assert_eq "the other subscriber kept getting every event" 10 "$(ev_count "$b" "$RE_TX_TYPE")"
	sim_down "$d"
}

# Subscribers coming and going while transactions are published: a new subscriber's init is
# made under the node's lock, and a subscriber waiting for events must never take that lock
# while it holds the stream's (it once did: the node's file system then hung for good).
test_events_subscribers_come_and_go_under_writes() {
	local d url k start
	new_cluster d churn --db app.db || return
	url=$(node_url "$d" node2 /events)
	must "a writer on the primary starts" sim_exec "$d" node1 "$E2E_PY" -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)
for i in range(3000):
    db.execute("INSERT INTO t(x) VALUES (1)")
' "$(node_mnt "$d" node1)/app.db" &
	local writer=$!
	bg_register "$writer"
	start=$(date +%s)
	# subscribers that stay a moment and go, 24 at a time, for as long as the writer runs
	while kill -0 "$writer" 2>/dev/null && (($(date +%s) - start < 30)); do
		local subs=()
		for ((k = 0; k < 24; k++)); do
			curl -s -N --max-time 0.$((RANDOM % 5 + 1)) -o /dev/null "$url" &
			subs+=($!)
		done
		wait "${subs[@]}" 2>/dev/null
	done
	wait "$writer"
	assert_eq "the writer's 3000 autocommit INSERTs all succeed meanwhile" 0 "$?"
	assert_eq "the replica's file system still answers" "app.db" \
		"$(timeout 5 ls "$(node_mnt "$d" node2)" 2>&1 | grep -x app.db)"
	wait_same_pos "$d" app.db 10 node1 node2
	assert_eq "every row reached the replica" "3000|3000" "$(rows "$d" node2)"
	ev_open e "$url" || return
	assert_eq "a new subscriber still gets its init" "$INIT_REPLICA_OF_NODE1" "$(head -n 1 "$e.lines")"
	sim_down "$d"
}

# ==========================================================================================
# several databases; databases created after up; WAL set by a PRAGMA

test_several_databases() {
	local d
	d=$(new_dir multi)
	sim_up "$d" --db a.db --db b.db || return
	local n f
	for f in a.db a.db-pos b.db b.db-pos; do
		assert_eq "$f is on node2 when up returns" ok "$(node_probe stat "$d" node2 "$f")"
	done
	local ta tb
	ta=$(pos_txid "$d" node1 a.db)
	tb=$(pos_txid "$d" node1 b.db)
	must "3 transactions on a.db" node_sql "$d" node1 a.db "CREATE TABLE a(x); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2)" || return
	assert_eq "a.db: TXID +3" $((ta + 3)) "$(pos_txid "$d" node1 a.db)"
	assert_eq "b.db: TXID unchanged by a.db's transactions" "$tb" "$(pos_txid "$d" node1 b.db)"
	wait_same_pos "$d" a.db 5 node1 node2 &&
		assert_eq "a.db on the replica" "2" "$(node_sql "$d" node2 a.db "SELECT count(*) FROM a")"
	assert_eq "b.db on the replica: TXID unchanged" "$tb" "$(pos_txid "$d" node2 b.db)"

	# a database created after up
	must "create c.db on node1" node_sql "$d" node1 c.db "CREATE TABLE c(x); INSERT INTO c VALUES (7)" || return
	assert_eq "c.db: a new database starts at TXID 1 (2 transactions -> 2)" 2 "$(pos_txid "$d" node1 c.db)"
	assert_eventually "c.db appears on the replica with the same -pos" 5 same_pos c.db "$d" node1 node2
	assert_eq "c.db's row on the replica" 7 "$(node_sql "$d" node2 c.db "SELECT x FROM c")"
	assert_eq "c.db is mode 0444 on the replica" 0444 "$(node_probe mode "$d" node2 c.db)"
	assert_eq "a.db: TXID unchanged by c.db" $((ta + 3)) "$(pos_txid "$d" node1 a.db)"

	# WAL set with a PRAGMA on the primary
	must "create w.db in WAL mode on node1" node_sql "$d" node1 w.db \
		"PRAGMA journal_mode=WAL; CREATE TABLE w(x); INSERT INTO w VALUES (1)" || return
	assert_eventually "w.db reaches the replica" 5 same_pos w.db "$d" node1 node2
	assert_eq "w.db is WAL on the replica" wal "$(node_sql "$d" node2 w.db "PRAGMA journal_mode")"
	assert_eq "w.db's row on the replica" 1 "$(node_sql "$d" node2 w.db "SELECT x FROM w")"
	assert_fail "sqlite3 CLI: INSERT into WAL w.db on the replica fails" node_sql "$d" node2 w.db "INSERT INTO w VALUES (2)"
	assert_contains "... with 'disk I/O error'" "disk I/O error" "$ERR"
	capture sim_exec "$d" node2 "$E2E_PY" "$SIMPY/sqlprobe.py" "$(node_path "$d" node2 w.db)" "INSERT INTO w VALUES (3)"
	assert_eq "python3: INSERT into WAL w.db on the replica" "$(py_write_error wal)" "$OUT"
	assert_eq "w.db unchanged on the primary" 1 "$(node_sql "$d" node1 w.db "SELECT count(*) FROM w")"
	sim_down "$d"
}

# ==========================================================================================
# status, GET /sim/status, GET /info

test_status_reports_replication_lag() {
	local d
	new_cluster d status --db app.db || return
	must "100 autocommit inserts" node_sql "$d" node1 app.db "$(inserts 100)" || return
	wait_same_pos "$d" app.db 10 node1 node2 || return

	sim status "$d"
	assert_eq "status exits 0" 0 "$RC"
	local line
	line=$(grep '^replication lag:' <<<"$OUT")
	if assert_match "status prints 'replication lag: p50 X ms, p99 Y ms over N transactions'" "$RE_LAG_LINE" "$line"; then
		local p50=${BASH_REMATCH[1]} p99=${BASH_REMATCH[3]} count=${BASH_REMATCH[5]}
		assert_num "replication lag p50 under 5 ms" "$p50" "<" 5
		assert_num "replication lag p99 >= p50" "$p99" ">=" "$p50"
		assert_num "lag measured over at least the 100 transactions" "$count" ">=" 100
	fi
	assert_line "status shows node1 as primary" '^node1[[:space:]].*[[:space:]]primary([[:space:]]|$)' "$OUT"
	assert_line "status shows node2 as replica" '^node2[[:space:]].*[[:space:]]replica([[:space:]]|$)' "$OUT"
	assert_match "status shows app.db" 'app\.db' "$OUT"
	sim status "$d" --json
	assert_eq "status --json prints JSON" 0 "$(json_get '0' <<<"$OUT" >/dev/null 2>&1; echo $?)" || evidence output "$OUT"

	local s1 s2 p2
	s1=$(http_get "$(node_url "$d" node1 /sim/status)")
	s2=$(http_get "$(node_url "$d" node2 /sim/status)")
	p2=$(pos "$d" node2 app.db)
	assert_eq "/sim/status node1: name, role, primary, lag_ms" "node1 primary node1 0" \
		"$(json_get '" ".join(str(d[k]) for k in ("name", "role", "primary", "lag_ms"))' <<<"$s1")"
	assert_eq "/sim/status node2: name, role, primary, connected" "node2 replica node1 True" \
		"$(json_get '" ".join(str(d[k]) for k in ("name", "role", "primary", "connected"))' <<<"$s2")"
	assert_eq "/sim/status node2: app.db's txid and checksum are the -pos" \
		"$((16#${p2%/*})) ${p2#*/}" \
		"$(json_get '" ".join("%s %s" % (x["txid"], x["checksum"]) for x in d["databases"] if x["name"] == "app.db")' <<<"$s2")"
	assert_num "/sim/status node2: lag_samples" "$(json_get 'd["lag_samples"]' <<<"$s2")" ">=" 100
	assert_num "/sim/status node2: lag_p50_us under 5000" "$(json_get 'd["lag_p50_us"]' <<<"$s2")" "<" 5000

	local i1 i2
	i1=$(http_get "$(node_url "$d" node1 /info)")
	i2=$(http_get "$(node_url "$d" node2 /info)")
	assert_eq "/info node1: isPrimary" true "$(json_get 'd["isPrimary"]' <<<"$i1")"
	assert_eq "/info node2: isPrimary, primary.hostname" "false node1" \
		"$(json_get 'json.dumps(d["isPrimary"]) + " " + d["primary"]["hostname"]' <<<"$i2")"
	assert_eq "/info: the same non-empty clusterID on both nodes" "$(json_get 'd["clusterID"]' <<<"$i1")" \
		"$(json_get 'd["clusterID"] or "(empty)"' <<<"$i2")"
	assert_eq "/info node2 has the LiteFS keys" "candidate clusterID isPrimary path primary" \
		"$(json_get '" ".join(sorted(k for k in d if k in ("clusterID", "isPrimary", "candidate", "path", "primary")))' <<<"$i2")"
	sim_down "$d"
}

# ==========================================================================================
# failover: promote, stop-node, start-node

test_promote_moves_the_primary() {
	local d n
	new_cluster d promote --nodes 3 --reconnect-delay-ms 300 --db app.db || return
	must "20 inserts on node1" node_sql "$d" node1 app.db "$(inserts 20)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local t_before
	t_before=$(pos_txid "$d" node1 app.db)
	local e1 e2 e3
	ev_open e1 "$(node_url "$d" node1 /events)" || return
	ev_open e2 "$(node_url "$d" node2 /events)" || return
	ev_open e3 "$(node_url "$d" node3 /events)" || return
	local stop w1 w3 w1out w3out
	stop=$(mktemp -u "$E2E_TMP/watch-stop.XXXXXX")
	w1out=$(mktemp "$E2E_TMP/watch1.XXXXXX")
	w3out=$(mktemp "$E2E_TMP/watch3.XXXXXX")
	bg_start "$w1out" "$E2E_PY" "$SIMPY/watchfile.py" "$(node_path "$d" node1 .primary)" "$stop"
	w1=$BG_PID
	bg_start "$w3out" "$E2E_PY" "$SIMPY/watchfile.py" "$(node_path "$d" node3 .primary)" "$stop"
	w3=$BG_PID
	# both watchers have seen the state before the promotion (a loaded machine starts
	# them late)
	wait_for 10 eval "test -s '$w1out' && test -s '$w3out'" ||
		not_ok "the .primary watchers start"

	sim promote "$d" node2
	assert_eq "promote node2 exits 0" 0 "$RC" || evidence stderr "$ERR"

	assert_eventually "node1 (old primary) emits primaryChange isPrimary:false" 5 \
		_ev_has "$e1" "$(ere_quote "$CHANGE_LOST")" 1
	assert_eventually "node2 emits primaryChange isPrimary:true" 5 \
		_ev_has "$e2" "$(ere_quote "$CHANGE_PRIMARY")" 1
	assert_eventually "node3 emits primaryChange with hostname node2" 5 \
		_ev_has "$e3" "$(ere_quote "$(change_to node2)")" 1
	assert_eventually "node1, now a replica, emits primaryChange with hostname node2" 5 \
		_ev_has "$e1" "$(ere_quote "$(change_to node2)")" 1
	eventually_eq ".primary on node3 becomes 'node2\\n'" 5 "b'node2\\n'" node_probe bytes "$d" node3 .primary
	eventually_eq ".primary on node1 becomes 'node2\\n'" 5 "b'node2\\n'" node_probe bytes "$d" node1 .primary
	assert_eq ".primary is absent on node2, the new primary" ENOENT "$(node_probe stat "$d" node2 .primary)"
	sleep 0.1
	touch "$stop"
	bg_wait "$w1" 5
	bg_wait "$w3" 5
	assert_eq "node3's .primary went node1, absent, node2 (and nothing else)" \
		"b'node1\\n' ENOENT b'node2\\n'" "$(awk '{ print $2 }' "$w3out" | paste -sd' ')"
	local absent_ms
	absent_ms=$(awk '$2 == "ENOENT" { t = $1 } t != "" && $2 != "ENOENT" { print $1 - t; exit }' "$w3out")
	assert_num "node3's .primary stays absent about --reconnect-delay-ms (300 ms) before naming node2 (ms absent)" \
		"${absent_ms:-0}" ">=" 150 || evidence "node3's .primary (ms state)" "$(cat "$w3out")"
	assert_eq "node1's .primary went absent (primary), then node2" \
		"ENOENT b'node2\\n'" "$(awk '{ print $2 }' "$w1out" | paste -sd' ')"
	assert_eq "node1's events: init, isPrimary:false, then hostname node2 (non-tx events in order)" \
		"$INIT_PRIMARY"$'\n'"$CHANGE_LOST"$'\n'"$(change_to node2)" "$(grep -vE "$RE_TX_TYPE" "$e1.lines" | uniq)"
	assert_eq "node3's events: init naming node1, primary lost (no hostname), then hostname node2" \
		"$INIT_REPLICA_OF_NODE1"$'\n'"$CHANGE_LOST"$'\n'"$(change_to node2)" "$(grep -vE "$RE_TX_TYPE" "$e3.lines" | uniq)"

	assert_eq "app.db is mode 0666 on node2" 0666 "$(node_probe mode "$d" node2 app.db)"
	assert_eq "app.db is mode 0444 on node1" 0444 "$(node_probe mode "$d" node1 app.db)"
	assert_eq "no committed transaction lost: node2's TXID" "$t_before" "$(pos_txid "$d" node2 app.db)"
	assert_eq "no committed row lost on node2" "20|210" "$(rows "$d" node2)"
	assert_eq "/sim/status node3 names node2 as primary" node2 "$(sim_status_of "$d" node3 'd["primary"]')"

	must "5 inserts on node2, the new primary" node_sql "$d" node2 app.db "$(inserts 5 21)" || return
	assert_eq "the new primary's TXID +5" $((t_before + 5)) "$(pos_txid "$d" node2 app.db)"
	wait_same_pos "$d" app.db 5 node2 node1 node3 || return
	for n in node1 node3; do
		assert_eq "$n got the new primary's rows" "25|325" "$(rows "$d" "$n")"
	done
	ev_wait "$e1" "$RE_TX_TYPE" 5 5
	assert_eq "node1 emitted tx events for node2's transactions" \
		"$(seq $((t_before + 1)) $((t_before + 5)))" "$(ev_txids "$e1" app.db)"
	assert_fail "sqlite3 CLI: a write on node1, the old primary, fails" node_sql "$d" node1 app.db "INSERT INTO t(x) VALUES (0)"
	assert_contains "... with 'attempt to write a readonly database'" "attempt to write a readonly database" "$ERR"
	capture sim_exec "$d" node1 "$E2E_PY" "$SIMPY/sqlprobe.py" "$(node_path "$d" node1 app.db)" "INSERT INTO t(x) VALUES (0)"
	assert_eq "python3: a write on node1 fails with SQLITE_READONLY_DIRECTORY" "$(py_write_error delete)" "$OUT"
	sleep 0.2
	assert_eq "the failed writes changed nothing on node2" "25|325" "$(rows "$d" node2)"
	sim_down "$d"
}

test_stop_and_start_a_replica() {
	local d
	new_cluster d stoprep --nodes 3 --db app.db || return
	must "1 insert" node_sql "$d" node1 app.db "$(inserts 1)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local e1 e2
	ev_open e1 "$(node_url "$d" node1 /events)" || return
	ev_open e2 "$(node_url "$d" node2 /events)" || return

	sim stop-node "$d" node2
	assert_eq "stop-node node2 exits 0" 0 "$RC" || evidence stderr "$ERR"
	assert_eventually "node2's events connection closes" 3 ev_ended "$e2"
	assert_eventually "node2's mount is detached" 3 eval "! is_mounted '$(node_mnt "$d" node2)'"
	assert_fail "node2's HTTP API is down" http_get "$(node_url "$d" node2 /info)"
	assert_ok "the primary's events connection stays open" test ! -e "$e1.end"

	must "50 inserts on node1 while node2 is down" node_sql "$d" node1 app.db "$(inserts 50 2)" || return
	wait_same_pos "$d" app.db 5 node1 node3 &&
		assert_eq "node3 keeps replicating while node2 is down" "51|1326" "$(rows "$d" node3)"
	assert_eq "node3 still follows node1" "b'node1\\n'" "$(node_probe bytes "$d" node3 .primary)"
	assert_eq "node1 is still the primary" ENOENT "$(node_probe stat "$d" node1 .primary)"

	sim start-node "$d" node2
	assert_eq "start-node node2 exits 0" 0 "$RC" || evidence stderr "$ERR"
	assert_eventually "node2 catches up with the primary's -pos" 10 same_pos app.db "$d" node1 node2
	assert_eq "node2 has every row after catching up" "51|1326" "$(rows "$d" node2)"
	eventually_eq ".primary on node2 is 'node1\\n' again" 5 "b'node1\\n'" node_probe bytes "$d" node2 .primary
	assert_eq "app.db is mode 0444 on node2 again" 0444 "$(node_probe mode "$d" node2 app.db)"
	local e2b
	ev_open e2b "$(node_url "$d" node2 /events)" &&
		assert_eq "node2's new events stream starts with init naming node1" "$INIT_REPLICA_OF_NODE1" "$(head -n 1 "$e2b.lines")"
	must "1 insert after the restart" node_sql "$d" node1 app.db "$(inserts 1 52)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 &&
		assert_eq "node2 follows new transactions" "52|1378" "$(rows "$d" node2)"
	ev_wait "$e2b" "$RE_TX_TYPE" 1 3
	assert_eq "node2's new stream got the new transaction" 1 "$(ev_count "$e2b" "$RE_TX_TYPE")"
	assert_ok "the primary's events connection is still open" test ! -e "$e1.end"
	sim_down "$d"
}

test_stop_and_start_the_primary() {
	local d n
	new_cluster d stopprim --nodes 3 --reconnect-delay-ms 300 --db app.db || return
	must "10 inserts" node_sql "$d" node1 app.db "$(inserts 10)" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local pos1
	pos1=$(pos "$d" node1 app.db)
	local e1 e2
	ev_open e1 "$(node_url "$d" node1 /events)" || return
	ev_open e2 "$(node_url "$d" node2 /events)" || return

	sim stop-node "$d" node1
	assert_eq "stop-node node1 exits 0" 0 "$RC" || evidence stderr "$ERR"
	assert_eventually "node1's own events connection closes" 3 ev_ended "$e1"
	assert_eventually "node1's mount is detached" 3 eval "! is_mounted '$(node_mnt "$d" node1)'"
	for n in node2 node3; do
		eventually_eq ".primary disappears on $n" 3 ENOENT node_probe stat "$d" "$n" .primary
	done
	assert_eventually "node2 emits primaryChange without hostname" 3 _ev_has "$e2" "$(ere_quote "$CHANGE_LOST")" 1
	sleep 0.3
	assert_ok "node2's events connection stays open while its primary is down" test ! -e "$e2.end"
	assert_eq "/sim/status node2: still a replica, not connected" "replica False" \
		"$(sim_status_of "$d" node2 'd["role"] + " " + str(d["connected"])')"
	assert_fail "a write on node2 still fails (no failover happened)" node_sql "$d" node2 app.db "INSERT INTO t(x) VALUES (0)"
	assert_contains "... with 'attempt to write a readonly database'" "attempt to write a readonly database" "$ERR"
	assert_eq "node2 kept every row" "10|55" "$(rows "$d" node2)"

	sim start-node "$d" node1
	assert_eq "start-node node1 exits 0" 0 "$RC" || evidence stderr "$ERR"
	for n in node2 node3; do
		eventually_eq ".primary on $n is 'node1\\n' again" 8 "b'node1\\n'" node_probe bytes "$d" "$n" .primary
	done
	assert_eq ".primary is still absent on node1" ENOENT "$(node_probe stat "$d" node1 .primary)"
	assert_eq "node1 kept its committed transactions (-pos)" "$pos1" "$(pos "$d" node1 app.db)"
	assert_eq "node1 kept its rows" "10|55" "$(rows "$d" node1)"
	local e1b
	ev_open e1b "$(node_url "$d" node1 /events)" &&
		assert_eq "node1's new events stream starts with init isPrimary:true" "$INIT_PRIMARY" "$(head -n 1 "$e1b.lines")"
	assert_eventually "node2 emits primaryChange naming node1 again" 5 \
		_ev_has "$e2" "$(ere_quote "$(change_to node1)")" 1
	must "5 inserts after the restart" node_sql "$d" node1 app.db "$(inserts 5 11)" || return
	wait_same_pos "$d" app.db 10 node1 node2 node3 || return
	for n in node2 node3; do
		assert_eq "$n follows node1 again" "15|120" "$(rows "$d" "$n")"
	done
	ev_wait "$e2" "$RE_TX_TYPE" 5 3
	assert_eq "node2 emitted tx events for the 5 new transactions" 5 "$(ev_count "$e2" "$RE_TX_TYPE")"
	sim_down "$d"
}

# A program whose connection to a replica's database was made before the replica's LiteFS
# stopped closes it once the node has started again. Its SQLite takes the database for the
# same file (it compares inode numbers, and app.db has the same one in the new mount),
# gets the EXCLUSIVE lock without trouble (nobody else locks the previous mount's file any
# more), and as the last connection removes the WAL and the shared memory by name: those
# of the new mount, which its connections are using. They must stay (on LiteFS a mount
# that is gone cannot be locked): otherwise the node's open connections keep a wal-index
# that replication no longer updates and read old data, and once the node is promoted
# they write a WAL of their own next to the one of new connections, and the database is
# corrupt on every node.
test_a_connection_from_before_a_restart_closes() {
	local d db2 old live ino want n
	new_cluster d oldconn --nodes 2 --journal wal --db app.db || return
	must "1 insert" node_sql "$d" node1 app.db "$(inserts 1)" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	db2=$(node_path "$d" node2 app.db)
	conn_start old "$db2" || return
	assert_eq "a connection on node2 reads the database" 1 "$(conn_do "$old" "SELECT count(*) FROM t")" || return
	ino=$(stat -c %i "$db2")

	sim stop-node "$d" node2
	assert_eq "stop-node node2 exits 0" 0 "$RC" || evidence stderr "$ERR"
	must "5 inserts on node1 while node2 is down" node_sql "$d" node1 app.db "$(inserts 5 2)" || return
	want=$(pos_txid "$d" node1 app.db)
	sim start-node "$d" node2
	assert_eq "start-node node2 exits 0" 0 "$RC" || evidence stderr "$ERR"
	# nothing but the catch-up looks into node2's mount until it is done: app.db is the
	# first file it names, as in the previous mount, and gets the same inode number
	eventually_eq "node2 catches up (/sim/status)" 10 "$want" sim_status_of "$d" node2 'd["databases"][0]["txid"]' || return
	assert_eq "app.db has its inode number of before the restart (SQLite takes it for the same file)" \
		"$ino" "$(stat -c %i "$db2")"
	conn_start live "$db2" || return
	assert_eq "a new connection on node2 reads every row" 6 "$(conn_do "$live" "SELECT count(*) FROM t")"

	assert_eq "the connection from before the restart closes" closed "$(conn_do "$old" close)"
	for n in app.db-wal app.db-shm; do
		assert_ok "$n is still in node2's mount" test -e "$(node_path "$d" node2 "$n")"
	done
	must "5 inserts on node1" node_sql "$d" node1 app.db "$(inserts 5 7)" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	assert_eq "node2's open connection reads the transactions replicated since" 11 \
		"$(conn_do "$live" "SELECT count(*) FROM t")"

	sim promote "$d" node2
	assert_eq "promote node2 exits 0" 0 "$RC" || evidence stderr "$ERR"
	assert_eq "the open connection writes on node2, the new primary" "" \
		"$(conn_do "$live" "INSERT INTO t(x) VALUES (100)")"
	must "a new connection writes on node2" node_sql "$d" node2 app.db "INSERT INTO t(x) VALUES (200)"
	assert_eq "the connection closes" closed "$(conn_do "$live" close)"
	wait_same_pos "$d" app.db 5 node1 node2 || return
	for n in node1 node2; do
		assert_eq "$n: the database is sound" ok "$(node_sql "$d" "$n" app.db "PRAGMA integrity_check" 2>&1)"
		assert_eq "$n has every row" "13|366" "$(rows "$d" "$n")"
	done
	sim_down "$d"
}

# The primary commits a WAL transaction when its commit frame is written, and SQLite makes
# it visible to the other connections just after, in the wal-index. A writer that ends in
# between leaves a transaction that the replicas get but that the primary's SQLite does
# not know: the next writer, starting from the state before it, would write its frames
# over it. That write is refused (the writer's transaction fails, once) and the primary's
# connections rebuild their wal-index from the WAL, with the transaction.
test_a_transaction_its_writer_left_unpublished() {
	local d c n
	new_cluster d unpublished --nodes 2 --journal wal --db app.db || return
	conn_start c "$(node_path "$d" node1 app.db)" || return
	assert_eq "a connection on node1 keeps its WAL" 0 "$(conn_do "$c" "SELECT count(*) FROM t")" || return
	must "5 inserts on node1" node_sql "$d" node1 app.db "$(inserts 5)" || return
	capture "$E2E_PY" -c "$RAW_COMMIT_PY" "$(node_path "$d" node1 app.db-wal)" "$(node_path "$d" node1 app.db)" 4242
	captured_ok "a transaction is written into node1's WAL but not into its wal-index" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	assert_eq "node2 got the transaction" 4242 "$(node_sql "$d" node2 app.db "PRAGMA user_version")"

	capture node_sql "$d" node1 app.db "$(inserts 1 6)"
	assert_ne "the next writer on node1, which does not know the transaction, is refused" 0 "$RC"
	assert_contains "... with SQLite's error of a failed write" "disk I/O error" "$ERR"
	must "the same insert again" node_sql "$d" node1 app.db "$(inserts 1 6)" || return
	assert_eq "node1's open connection sees the transaction" 4242 "$(conn_do "$c" "PRAGMA user_version")"
	assert_eq "the connection closes" closed "$(conn_do "$c" close)"
	wait_same_pos "$d" app.db 5 node1 node2 || return
	for n in node1 node2; do
		assert_eq "$n: the database is sound" ok "$(node_sql "$d" "$n" app.db "PRAGMA integrity_check" 2>&1)"
		assert_eq "$n has the transaction" 4242 "$(node_sql "$d" "$n" app.db "PRAGMA user_version")"
		assert_eq "$n has every row" "6|21" "$(rows "$d" "$n")"
	done
	sim_down "$d"
}

# shellcheck disable=SC2034 # read by e2e_main
E2E_TESTS=(
	test_up_prints_each_node_quickly
	test_up_five_nodes_and_exec_environment
	test_up_refuses_a_running_dir
	test_down_leaves_nothing_and_keeps_data
	test_two_clusters_side_by_side
	"test_mount_file_formats delete"
	"test_mount_file_formats wal"
	"test_replica_write_fails_like_litefs delete"
	"test_replica_write_fails_like_litefs wal"
	"test_commit_updates_pos_before_returning delete"
	"test_commit_updates_pos_before_returning wal"
	"test_replication_in_order delete"
	"test_replication_in_order wal"
	"test_replica_reader_never_sees_torn_state delete"
	"test_replica_reader_never_sees_torn_state wal"
	test_events_init_tx_and_headers
	test_events_two_subscribers_and_reconnect
	test_events_subscribers_come_and_go_under_writes
	test_several_databases
	test_status_reports_replication_lag
	test_promote_moves_the_primary
	test_stop_and_start_a_replica
	test_stop_and_start_the_primary
	test_a_connection_from_before_a_restart_closes
	test_a_transaction_its_writer_left_unpublished
)

e2e_main "$@"
