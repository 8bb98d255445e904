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

# first_ack_after OUT T: seconds from T to the first acknowledgement of a write at or after
# T (in flight at T or issued later); "none" when there is none.
first_ack_after() {
	awk -v t="$2" '$1 == "ok" && $4 >= t { if (!n++ || $4 < m) m = $4 }
		END { if (n) printf "%.3f\n", m - t; else print "none" }' "$1"
}

# Writers on every node pause 2 ms between writes: a writer on the primary that takes the
# write lock back at once, in a tight loop, starves the forwarded writes (the lock has no
# queue; see the README's limits). MODE: "events", the defaults (the event stream tells the
# interposer of the promotion); or "polling", the event stream off and .primary polled
# every second, with a cache TTL longer than the test.
test_promote_under_writes() {
	local mode=$1 d env=() limit=1
	if [[ $mode == polling ]]; then
		# resumed within the poll interval
		env=(LITEFS_FWD_EVENTS_URL= LITEFS_FWD_POLL_MS=1000 LITEFS_FWD_CACHE_TTL_MS=600000)
	fi
	fwd_cluster d promote --nodes 3 --journal wal --reconnect-delay-ms 300 --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE k(key TEXT, node TEXT);" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local n outs=() pids=()
	for n in node1 node2 node3; do
		outs+=("$d/writer-$n.out")
		bg_start "$d/writer-$n.out" "$LITEFS_SIM" exec "$d" "$n" -- env "${FWD_ENV[@]}" \
			LD_PRELOAD="$FWD_PRELOAD" LITEFS_FWD_TIMEOUT_MS=3000 "${env[@]}" "$E2E_PY" \
			"$E2E_ROOT/e2e/fwd/writer.py" "$n" 7 2
		pids+=("$BG_PID")
	done
	sleep 1.5
	local t_promote t_done
	t_promote=$(date +%s.%N)
	sim promote "$d" node2
	t_done=$(date +%s.%N)
	assert_eq "promote node2 under writes from every node" 0 "$RC" || evidence stderr "$ERR"
	local p
	for p in "${pids[@]}"; do bg_wait "$p" 30; done
	wait_same_pos "$d" app.db 10 node1 node2 node3 ||
		not_ok "the nodes settle on the same transactions"
	writers_check "$d" node2 "${outs[@]}"
	echo "# outcomes ($mode): $CHECK"
	assert_match "writes were acknowledged on every node" "ok=[1-9][0-9]*" "$CHECK"
	assert_match "every acknowledged write is there exactly once, no failed write is there, no unknown one twice" \
		"bad_ok=0 bad_unknown=0 bad_failed=0" "$CHECK"
	local gap out after resume
	echo "# promotion took $(awk -v a="$t_promote" -v b="$t_done" 'BEGIN { printf "%.3f", b - a }') s"
	for out in "${outs[@]}"; do
		gap=$(write_pause "$out")
		resume=$(first_ack_after "$out" "$t_done")
		after=$(awk -v t="$t_promote" '$1 == "ok" && $3 > t + 1 { n++ } END { print n + 0 }' "$out")
		echo "# ${out##*/}: first write acknowledged $resume s after the promotion; longest pause of acknowledged writes $gap s; $after acknowledged more than 1 s after the promotion began"
		assert_num "${out##*/}: writes resume within $limit s of the promotion ($mode; s)" "$resume" "<" "$limit"
		# A writer on the new primary competes there for the write lock with the
		# forwarded writes of the others, and its busy handler backs off: a pause
		# longer than the detection itself, which this bounds loosely.
		assert_num "${out##*/}: no writer stops for 2 s or more (the longest pause, s)" "$gap" "<" 2
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

# line_of OUT STEP: the JSON line of e2e/fwd/detect.py for STEP.
line_of() { grep -F "\"step\": \"$2\"" "$1" | head -n 1; }

# all_blocked MASK: every signal from 1 to 31 but SIGKILL and SIGSTOP is in the hex MASK.
all_blocked() {
	local m=$((16#$1)) s
	for s in $(seq 1 31); do
		((s == 9 || s == 19)) && continue
		((m >> (s - 1) & 1)) || return 1
	done
}

# The event thread is the interposer's only thread, and a careful guest: none in a process
# that only reads on a replica, nor after its first write there (a short program pays
# nothing), one (with libcurl loaded then, not before) once it has been writing for a
# second, every signal blocked in it, none inherited by a forked child until the child has
# been writing for a second, and the process exits as soon as its program is done.
test_event_thread_host_safety() {
	local d
	fwd_cluster d hostsafe --nodes 2 --journal wal --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE k(key TEXT, node TEXT);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	local out=$d/threads.out t_exit rc
	on "$d" node2 "$E2E_PY" "$E2E_ROOT/e2e/fwd/detect.py" threads \
		"$(node_mnt "$d" node2)/app.db" >"$out" 2>"$d/threads.err"
	rc=$?
	t_exit=$(date +%s.%N)
	assert_eq "the program ran (exit status)" 0 "$rc" || evidence stderr "$(cat "$d/threads.err")"
	local read first write forked cwrite mask
	read=$(line_of "$out" read) first=$(line_of "$out" first-write) write=$(line_of "$out" write)
	forked=$(line_of "$out" child-forked) cwrite=$(line_of "$out" child-write)
	assert_eq "reads on a replica start no thread" 1 "$(json_get 'd["threads"]' <<<"$read")"
	assert_eq "nor load libcurl" false "$(json_get 'd["curl"]' <<<"$read")"
	assert_eq "nor does a first write on a replica" 1 "$(json_get 'd["threads"]' <<<"$first")"
	assert_eq "nor load libcurl" false "$(json_get 'd["curl"]' <<<"$first")"
	assert_eq "a write a second later starts the event thread" 2 "$(json_get 'd["threads"]' <<<"$write")"
	assert_eq "which loads libcurl" true "$(json_get 'd["curl"]' <<<"$write")"
	mask=$(json_get 'd["masks"][0]' <<<"$write")
	if all_blocked "$mask"; then ok "the event thread blocks every signal"; else
		not_ok "the event thread blocks every signal" got "SigBlk $mask"; fi
	assert_eq "a child forked after the write has no event thread" 1 \
		"$(json_get 'd["threads"]' <<<"$forked")"
	assert_eq "it starts its own once it has been writing on the replica for a second" 2 \
		"$(json_get 'd["threads"]' <<<"$cwrite")"
	assert_eq "the child's exit status" 0 "$(json_get 'd["status"]' <<<"$(line_of "$out" child-exit)")"
	local end lag
	end=$(grep -F '"end"' "$out" | json_get 'd["end"]')
	lag=$(awk -v a="$end" -v b="$t_exit" 'BEGIN { printf "%.3f", b - a }')
	echo "# from the program's last line to the end of its process: $lag s"
	assert_num "the event thread does not delay the exit (s)" "$lag" "<" 0.5
	assert_eq "the writes landed on the primary" "child child-later parent parent-later" \
		"$(node_sql "$d" node1 app.db "SELECT group_concat(key, ' ') FROM (SELECT key FROM k ORDER BY key);")"
}

# _following LOG N: the event stream was (re)joined at least N times.
_following() { (($(grep -c "events: following" "$1" 2>/dev/null) >= $2)); }

# The event stream cut (the relay drops the connection) and its server gone for a while
# (the relay stopped, then started again): the interposer joins it again each time, and
# learns the next promotion from it, with no write failing meanwhile and no other source
# (the cache TTL is longer than the test, polling is off).
test_event_stream_cut() {
	local d
	fwd_cluster d evcut --nodes 3 --journal wal --reconnect-delay-ms 300 --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE k(key TEXT, node TEXT);" || return
	wait_same_pos "$d" app.db 5 node1 node2 node3 || return
	local addr relay_port=20299 log=$d/client.log out=$d/two.out go=$d/go relay
	addr=$(node_addr "$d" node3)
	bg_start "$d/relay.out" "$E2E_PY" "$E2E_ROOT/e2e/fwd/tcpcut.py" "$addr" "$relay_port" \
		"$addr" "${E2E_HTTP_PORT_OF[$d]}"
	relay=$BG_PID
	wait_for 5 grep -q listening "$d/relay.out" || { not_ok "the relay listens"; return; }
	bg_start "$out" "$LITEFS_SIM" exec "$d" node3 -- env "${FWD_ENV[@]}" \
		LD_PRELOAD="$FWD_PRELOAD" LITEFS_FWD_EVENTS_URL="http://$addr:$relay_port/events" \
		LITEFS_FWD_CACHE_TTL_MS=600000 LITEFS_FWD_POLL_MS=0 LITEFS_FWD_LOG=info \
		LITEFS_FWD_LOG_FILE="$log" "$E2E_PY" "$E2E_ROOT/e2e/fwd/detect.py" two-writes \
		"$(node_mnt "$d" node3)/app.db" "$go"
	local w=$BG_PID
	wait_for 10 _following "$log" 1 || { not_ok "the event stream is followed"; return; }
	ok "writing on the replica for a second starts following the event stream"
	kill -USR1 "$relay"
	wait_for 10 _following "$log" 2
	assert_eq "after a cut, the stream is joined again" 0 "$?" || evidence log "$(cat "$log")"
	kill -TERM "$relay"
	wait "$relay" 2>/dev/null
	sleep 1
	assert_ok "while its server is gone, nothing more is joined" test "$(grep -c "events: following" "$log")" -eq 2
	bg_start "$d/relay2.out" "$E2E_PY" "$E2E_ROOT/e2e/fwd/tcpcut.py" "$addr" "$relay_port" \
		"$addr" "${E2E_HTTP_PORT_OF[$d]}"
	wait_for 10 _following "$log" 3
	assert_eq "once the server is back, the stream is joined again (backoff)" 0 "$?" ||
		evidence log "$(cat "$log")"
	sim promote "$d" node2
	assert_eq "promote node2" 0 "$RC" || evidence stderr "$ERR"
	wait_for 5 grep -q "role (event stream): replica of node2" "$log"
	assert_eq "the promotion is learnt from the event stream, before any write" 0 "$?" ||
		evidence log "$(cat "$log")"
	touch "$go"
	bg_wait "$w" 20
	assert_contains "the write after the promotion succeeds" '"step": "second"' "$(cat "$out")"
	assert_eq "the rows are on the new primary" "first second warm" \
		"$(node_sql "$d" node2 app.db "SELECT group_concat(key, ' ') FROM (SELECT key FROM k ORDER BY key);")"
	assert_not_contains "no forward failed" "forward to" "$(cat "$log")"
}

# The tracking table: the primary's forwarder records where it listens, and a replica whose
# endpoint template names hosts that do not resolve (no LITEFS_FWD_ENDPOINTS) reaches the
# primary through it; without the table the same write cannot be sent. After a promotion
# the new primary records itself with the next term.
test_tracking_table_endpoint() {
	local d
	fwd_cluster d tracking --nodes 3 --journal wal --reconnect-delay-ms 300 --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE k(key TEXT, node TEXT);" || return
	wait_for 5 _tracked "$d" node3 "node1|$(node_fwd_url "$d" node1)|1"
	assert_eq "node1's forwarder recorded itself, replicated to node3" 0 "$?" ||
		evidence row "$(node_sql "$d" node3 app.db "SELECT * FROM _litefs_fwd_primary;" 2>&1)"
	local unresolved=(env -u LITEFS_FWD_ENDPOINTS "LITEFS_FWD_ENDPOINT=tcp://{primary}.invalid:1"
		LITEFS_FWD_TIMEOUT_MS=1500)
	capture on "$d" node3 "${unresolved[@]}" sqlite3 -batch "$(node_mnt "$d" node3)/app.db" \
		"INSERT INTO k VALUES ('via-table', 'node3');"
	assert_eq "a write on node3 reaches the primary through the table" 0 "$RC" ||
		evidence stderr "$ERR"
	capture on "$d" node3 "${unresolved[@]}" LITEFS_FWD_TABLE= sqlite3 -batch \
		"$(node_mnt "$d" node3)/app.db" "INSERT INTO k VALUES ('no-table', 'node3');"
	assert_ne "without the table (LITEFS_FWD_TABLE empty) it cannot be sent" 0 "$RC"
	assert_contains "and says nothing was sent" "nothing was sent" "$ERR"
	sim promote "$d" node2
	assert_eq "promote node2" 0 "$RC" || evidence stderr "$ERR"
	wait_for 5 _tracked "$d" node3 "node2|$(node_fwd_url "$d" node2)|2"
	assert_eq "node2's forwarder recorded itself with the next term" 0 "$?" ||
		evidence row "$(node_sql "$d" node3 app.db "SELECT * FROM _litefs_fwd_primary;" 2>&1)"
	capture on "$d" node3 "${unresolved[@]}" sqlite3 -batch "$(node_mnt "$d" node3)/app.db" \
		"INSERT INTO k VALUES ('after-promotion', 'node3');"
	assert_eq "a write on node3 reaches the new primary through the table" 0 "$RC" ||
		evidence stderr "$ERR"
	capture on "$d" node1 "${unresolved[@]}" sqlite3 -batch "$(node_mnt "$d" node1)/app.db" \
		"INSERT INTO k VALUES ('old-primary', 'node1');"
	assert_eq "and so does one on the old primary" 0 "$RC" || evidence stderr "$ERR"
	assert_eq "the rows on the new primary" "after-promotion old-primary via-table" \
		"$(node_sql "$d" node2 app.db "SELECT group_concat(key, ' ') FROM (SELECT key FROM k ORDER BY key);")"
}

# The primary's LiteFS stops and starts again under its forwarder: meanwhile a forwarded
# write is asked again until its timeout and fails with "nothing was sent", nothing is
# created in the bare mount directory, and once LiteFS is back the forwarder opens its
# database again (its old descriptors fail for ever) and the writes go on.
test_primary_litefs_restarts_under_the_forwarder() {
	local d mnt
	fwd_cluster d restart --nodes 2 --journal wal --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE k(key TEXT, node TEXT);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	capture sql_on "$d" node2 app.db "INSERT INTO k VALUES ('before', 'node2');"
	assert_eq "a forwarded write before (exit status)" 0 "$RC" || evidence stderr "$ERR"
	sim stop-node "$d" node1
	assert_eq "the primary's LiteFS stops" 0 "$RC" || return
	mnt=$(node_mnt "$d" node1)
	capture on "$d" node2 env LITEFS_FWD_TIMEOUT_MS=1500 sqlite3 -batch "$(node_mnt "$d" node2)/app.db" \
		"INSERT INTO k VALUES ('during', 'node2');"
	assert_ne "a write while it is stopped fails (exit status)" 0 "$RC"
	assert_contains "... saying that nothing was sent" "nothing was sent" "$ERR"
	assert_eq "nothing is created in the bare mount directory" "" "$(ls -A "$mnt")"
	sim start-node "$d" node1
	assert_eq "the primary's LiteFS starts again" 0 "$RC" || return
	wait_same_pos "$d" app.db 10 node1 node2
	capture sql_on "$d" node2 app.db "INSERT INTO k VALUES ('after', 'node2');"
	assert_eq "a forwarded write after: the forwarder opened its database again (exit status)" \
		0 "$RC" || evidence stderr "$ERR"
	assert_eq "the primary holds the writes acknowledged, not the one that failed" \
		"before after" "$(node_sql "$d" node1 app.db "SELECT group_concat(key, ' ') FROM k;")"
	assert_contains "the forwarder closed the connection that met the I/O error" \
		"its connection is closed" "$(cat "$d"/node1-forwarder.log)"
}

# _tracked DIR NODE ROW: NODE's copy of the tracking table holds "hostname|endpoint|term".
_tracked() {
	[[ $(node_sql "$1" "$2" app.db "SELECT hostname, endpoint, term FROM _litefs_fwd_primary;" 2>/dev/null) == "$3" ]]
}

E2E_TESTS=(
	"test_no_primary_writes_wait_then_fail delete"
	"test_no_primary_writes_wait_then_fail wal"
	"test_promote_under_writes events"
	"test_promote_under_writes polling"
	test_forwarder_killed_no_duplicate
	test_event_thread_host_safety
	test_event_stream_cut
	test_tracking_table_endpoint
	test_primary_litefs_restarts_under_the_forwarder
)
e2e_main "$@"
