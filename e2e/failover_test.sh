#!/usr/bin/env bash
# End-to-end: writes on a replica while the cluster has no primary, and when it gets one
# back. A replica that lost its primary shows no .primary (or, while it retries, the old
# primary's name, whose LiteFS is gone); writes wait LITEFS_FWD_PRIMARY_WAIT_MS for a
# primary and then fail with SQLITE_BUSY, having written nothing; reads go on.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

# elapsed_ms T0: milliseconds since T0 (from now_ms).
elapsed_ms() { echo $(($(now_ms) - $1)); }

test_no_primary_writes_wait_then_fail() {
	local j=$1 d
	fwd_cluster d noprimary --nodes 3 --journal "$j" --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(x); INSERT INTO t VALUES (0);" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return

	sim stop-node "$d" node1
	assert_eq "the primary's LiteFS is stopped" 0 "$RC" || return
	local t0 took
	t0=$(now_ms)
	capture on "$d" node2 env LITEFS_FWD_PRIMARY_WAIT_MS=1500 sqlite3 -batch \
		"$(node_path "$d" node2 app.db)" "INSERT INTO t VALUES (1);"
	took=$(elapsed_ms "$t0")
	assert_ne "a write with no primary fails" 0 "$RC"
	assert_contains "with SQLITE_BUSY, saying no primary is known and nothing was written or sent" \
		"no primary is known" "$ERR"
	assert_contains "... code 5" "(5)" "$ERR"
	assert_num "it waited for a primary first (ms)" "$took" ">=" 1400
	assert_num "... not much longer than asked (ms)" "$took" "<" 8000
	capture on "$d" node2 sqlite3 -batch "$(node_path "$d" node2 app.db)" "SELECT count(*) FROM t;"
	assert_eq "reads go on, locally" "1" "$OUT"
	assert_eq "... without error" "" "$ERR"
	assert_eq "nothing was written on the replica" "1" \
		"$(node_sql "$d" node2 app.db "SELECT count(*) FROM t;")"

	# A write that starts while there is no primary goes through once one is back
	# within its wait.
	(sleep 1 && "$LITEFS_SIM" start-node "$d" node1 >/dev/null 2>&1) &
	local starter=$!
	t0=$(now_ms)
	capture on "$d" node3 env LITEFS_FWD_PRIMARY_WAIT_MS=15000 sqlite3 -batch \
		"$(node_path "$d" node3 app.db)" "INSERT INTO t VALUES (2); SELECT group_concat(x) FROM t;"
	took=$(elapsed_ms "$t0")
	wait "$starter"
	assert_eq "a write made while the primary was away succeeds when it is back" "0,2" "$OUT"
	assert_eq "... without error" "" "$ERR"
	assert_num "... after waiting for it (ms)" "$took" ">=" 800
	assert_eq "it is on the primary exactly once" "0,2" \
		"$(node_sql "$d" node1 app.db "SELECT group_concat(x) FROM t;")"
}

E2E_TESTS=(
	"test_no_primary_writes_wait_then_fail delete"
	"test_no_primary_writes_wait_then_fail wal"
)
e2e_main "$@"
