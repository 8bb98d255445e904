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

# writers_check DIR NODE OUT...: the outcomes printed by e2e/fwd/writer.py against the rows of
# NODE: every acknowledged key exactly once, every key reported as not sent absent, every
# key of unknown outcome at most once. Sets CHECK to a summary line.
writers_check() {
	local dir=$1 node=$2
	shift 2
	local counts try
	for try in 1 2 3; do
		capture node_sql "$dir" "$node" app.db "SELECT key, count(*) FROM k GROUP BY key;"
		((RC == 0)) && break
		sleep 1
	done
	if ((RC != 0)); then
		CHECK="the rows of $node could not be read: $ERR"
		return 1
	fi
	counts=$(mktemp "$E2E_TMP/counts.XXXXXX")
	printf '%s\n' "$OUT" >"$counts"
	# the counts first (FNR == NR), then the outcomes
	CHECK=$(awk -F'[| ]' '
		FNR == NR { c[$1] = $2; next }
		$1 == "ok" { ok++; if (c[$2] != 1) bad_ok++ }
		$1 == "fail" && ($4 == 10 || $4 ~ /^(266|522|778|1034)$/) { unknown++; if (c[$2] > 1) bad_unknown++ }
		$1 == "fail" && !($4 == 10 || $4 ~ /^(266|522|778|1034)$/) { failed++; kinds[$4]++; if (c[$2] != 0) bad_failed++ }
		END {
			printf "ok=%d unknown=%d failed=%d bad_ok=%d bad_unknown=%d bad_failed=%d kinds=", ok, unknown, failed, bad_ok + 0, bad_unknown + 0, bad_failed + 0
			for (k in kinds) printf "%s:%d,", k, kinds[k]
			print ""
		}' "$counts" "$@")
	rm -f "$counts"
}

# write_pause OUT: the longest time, in seconds, between two acknowledged writes of one
# writer, issued one after the other: how long its writes stopped.
write_pause() {
	awk '$1 == "ok" { print $3 }' "$1" | sort -n |
		awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { printf "%.3f\n", m }'
}

# Writers on every node pause 2 ms between writes: a writer on the primary that takes the
# write lock back at once, in a tight loop, starves the forwarded writes (the lock has no
# queue; see the README's limits).
test_promote_under_writes() {
	local d
	fwd_cluster d promote --nodes 3 --journal wal --reconnect-delay-ms 300 --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE k(key TEXT, node TEXT);" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local n outs=() pids=()
	for n in node1 node2 node3; do
		outs+=("$d/writer-$n.out")
		bg_start "$d/writer-$n.out" "$LITEFS_SIM" exec "$d" "$n" -- env "${FWD_ENV[@]}" \
			LD_PRELOAD="$FWD_PRELOAD" LITEFS_FWD_TIMEOUT_MS=3000 "$E2E_PY" \
			"$E2E_ROOT/e2e/fwd/writer.py" "$n" 7 2
		pids+=("$BG_PID")
	done
	sleep 1.5
	local t_promote
	t_promote=$(date +%s.%N)
	sim promote "$d" node2
	assert_eq "promote node2 under writes from every node" 0 "$RC" || evidence stderr "$ERR"
	local p
	for p in "${pids[@]}"; do bg_wait "$p" 30; done
	wait_same_pos "$d" app.db 10 node1 node2 node3 ||
		not_ok "the nodes settle on the same transactions"
	writers_check "$d" node2 "${outs[@]}"
	echo "# outcomes: $CHECK"
	assert_match "writes were acknowledged on every node" "ok=[1-9][0-9]*" "$CHECK"
	assert_match "every acknowledged write is there exactly once, no failed write is there, no unknown one twice" \
		"bad_ok=0 bad_unknown=0 bad_failed=0" "$CHECK"
	local gap out after
	for out in "${outs[@]}"; do
		gap=$(write_pause "$out")
		after=$(awk -v t="$t_promote" '$1 == "ok" && $3 > t + 1 { n++ } END { print n + 0 }' "$out")
		echo "# ${out##*/}: longest pause of acknowledged writes $gap s; $after acknowledged more than 1 s after the promotion began"
		assert_num "${out##*/}: writes resume within 1.5 s (the longest pause, s)" "$gap" "<" 1.5
		assert_num "${out##*/}: and go on after the promotion" "$after" ">" 0
	done
	assert_eq "all nodes hold the same rows" \
		"$(node_sql "$d" node2 app.db "SELECT count(*), group_concat(key) FROM (SELECT key FROM k ORDER BY key);")" \
		"$(node_sql "$d" node3 app.db "SELECT count(*), group_concat(key) FROM (SELECT key FROM k ORDER BY key);")"
}

# A forwarder killed (SIGKILL) while it serves writes, again and again, and started again:
# a write whose answer was lost is sent again with the same id and answered from the
# record committed with it, never run twice.
test_forwarder_killed_no_duplicate() {
	local d
	fwd_cluster d killfwd --nodes 2 --journal wal --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE k(key TEXT, node TEXT);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	local out="$d/writer-node2.out" w round
	# the first death exactly between a commit and its reply, by fault injection
	pkill -KILL -f "$FWD_BIN forwarder --listen tcp://$(node_addr "$d" node1):" 2>/dev/null
	wait_for 5 _fwd_down "$d" node1 || { not_ok "the forwarder is stopped"; return; }
	bg_start "$d/node1-forwarder.fault.log" "$LITEFS_SIM" exec "$d" node1 -- \
		env LITEFS_FWD_FAULT=kill-after-commit:100 \
		sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$FWD_BIN"
	wait_for 5 _fwd_listening "$d" || { not_ok "the forwarder with the fault listens"; return; }
	bg_start "$out" "$LITEFS_SIM" exec "$d" node2 -- env "${FWD_ENV[@]}" \
		LD_PRELOAD="$FWD_PRELOAD" LITEFS_FWD_TIMEOUT_MS=8000 "$E2E_PY" \
		"$E2E_ROOT/e2e/fwd/writer.py" node2 6 1
	w=$BG_PID
	sleep 1
	for round in 1 2 3; do
		pkill -KILL -f "$FWD_BIN forwarder --listen tcp://$(node_addr "$d" node1):" 2>/dev/null
		wait_for 5 _fwd_down "$d" node1 || { not_ok "the forwarder is killed ($round)"; return; }
		sleep 0.2
		bg_start "$d/node1-forwarder.$round.log" "$LITEFS_SIM" exec "$d" node1 -- \
			sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$FWD_BIN"
		wait_for 5 _fwd_listening "$d" || { not_ok "the forwarder comes back ($round)"; return; }
		sleep 0.8
	done
	bg_wait "$w" 30
	wait_same_pos "$d" app.db 10 node1 node2 || not_ok "the nodes settle on the same transactions"
	writers_check "$d" node1 "$out"
	echo "# outcomes: $CHECK"
	assert_match "writes were acknowledged" "ok=[1-9][0-9]*" "$CHECK"
	assert_match "every acknowledged write is there exactly once, no failed write is there, no unknown one twice" \
		"bad_ok=0 bad_unknown=0 bad_failed=0" "$CHECK"
	assert_match "no write failed for good (each was sent again until answered)" "failed=0" "$CHECK"
	local repeats
	repeats=$(cat "$d"/node1-forwarder*.log | grep -c "answered from the record" || true)
	assert_num "the write whose reply was lost with the forwarder was answered from the record" \
		"$repeats" ">=" 1
}

E2E_TESTS=(
	"test_no_primary_writes_wait_then_fail delete"
	"test_no_primary_writes_wait_then_fail wal"
	test_promote_under_writes
	test_forwarder_killed_no_duplicate
)
e2e_main "$@"
