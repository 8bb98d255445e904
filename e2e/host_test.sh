#!/usr/bin/env bash
# End-to-end: host-program safety. The interposer lives inside other people's programs and
# must never break them: real C programs (e2e/progs/host_*.c) run under it on a replica in
# the ways programs do (many threads, fork, exec, signals, closing every descriptor,
# SIGPIPE left at its default action), and each test checks both what must happen (every
# write the program was told succeeded is on the primary exactly once, the program exits 0,
# its output is right) and what must not (a crash, a write missing or doubled, an error the
# program should not see, a change in the program's own state).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

HOST_DB=app.db

# host_cluster VAR NAME: a two-node cluster (WAL) with a forwarder on every node and the
# table k(key, node) on the primary, replicated to node2. No UNIQUE constraint on key: a
# write applied twice shows as two rows.
host_cluster() {
	local -n _hd=$1
	fwd_cluster _hd "$2" --nodes 2 --journal wal --db "$HOST_DB" || return 1
	must "schema" node_sql "$_hd" node1 "$HOST_DB" "CREATE TABLE k(key TEXT, node TEXT);" || return 1
	wait_same_pos "$_hd" "$HOST_DB" 5 node1 node2 || return 1
}

# host_prog NAME: the path of a program of e2e/progs/, built by make.
host_prog() { echo "$E2E_PROGS/$1"; }

# host_run OUT DIR NODE TIMEOUT_S CMD ARGS...: runs CMD on NODE with the interposer, in the
# background, stdout to OUT and stderr to OUT.err, and waits for it at most TIMEOUT_S
# seconds. Sets HOST_RC (124 when it was killed for taking too long) and HOST_MS.
host_run() {
	local out=$1 dir=$2 node=$3 timeout=$4 t0
	shift 4
	t0=$(now_ms)
	"$LITEFS_SIM" exec "$dir" "$node" -- env "${FWD_ENV[@]}" LD_PRELOAD="$FWD_PRELOAD" "$@" \
		>"$out" 2>"$out.err" </dev/null &
	local pid=$!
	bg_register "$pid"
	bg_wait "$pid" "$timeout"
	HOST_RC=$?
	HOST_MS=$(($(now_ms) - t0))
}

# host_status_ok NAME OUT: after host_run: the program exited 0; otherwise a `not ok` with
# its status (a death by signal N shows as 128+N) and the end of its output.
host_status_ok() {
	local name=$1 out=$2
	if ((HOST_RC == 0)); then
		ok "$name"
	else
		not_ok "$name" "exit status" "$HOST_RC$( ((HOST_RC == 124)) && echo " (killed: it did not finish in time)")" \
			stdout "$(tail -n 40 "$out")" stderr "$(tail -n 40 "$out.err")"
	fi
}

# primary_counts DIR PREFIX: "key|count" for every key of the primary's table k that begins
# with PREFIX-, sorted.
primary_counts() {
	node_sql "$1" node1 "$HOST_DB" \
		"SELECT key, count(*) FROM k WHERE key LIKE '$2-%' GROUP BY key ORDER BY key;"
}

# exactly_once DIR PREFIX OUT...: compares the writes the programs were told succeeded
# ("ok KEY" lines of the OUT files, keys beginning with PREFIX-) with the rows of the
# primary. Sets CHECK to "acked=N rows=N missing=N doubled=N unacked=N": missing, an
# acknowledged key not there; doubled, a key there more than once; unacked, a key there
# that no program was told was written. Returns 1 when the rows could not be read.
exactly_once() {
	local dir=$1 prefix=$2 counts try
	shift 2
	for try in 1 2 3; do
		capture primary_counts "$dir" "$prefix"
		((RC == 0)) && break
		sleep 0.5
	done
	if ((RC != 0)); then
		CHECK="the primary's rows could not be read: $ERR"
		return 1
	fi
	counts=$(mktemp "$E2E_TMP/counts.XXXXXX")
	printf '%s\n' "$OUT" >"$counts"
	CHECK=$(awk -F'|' -v p="$prefix-" '
		FNR == NR { if ($1 != "") { c[$1] = $2; rows += $2 }; next }
		{ split($0, f, " ") }
		f[1] == "ok" && index(f[2], p) == 1 && !(f[2] in acked) { acked[f[2]] = 1; n++ }
		END {
			for (k in acked) if (!(k in c)) missing++
			for (k in c) { if (c[k] > 1) doubled++; if (!(k in acked)) unacked++ }
			printf "acked=%d rows=%d missing=%d doubled=%d unacked=%d\n", n, rows, missing, doubled, unacked
		}' "$counts" "$@")
	rm -f "$counts"
}

# lines OUT ERE: the lines of OUT matching ERE.
lines() { grep -E -- "$2" "$1" 2>/dev/null; }

# count_lines OUT ERE: how many lines of OUT match ERE.
count_lines() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

# ------------------------------------------------------------------------------------------
# 1. Many threads: 64 threads each inserting 20 rows, all through one connection opened
# with SQLITE_OPEN_FULLMUTEX; the same with each prepare made while holding the
# connection's mutex (sqlite3_db_mutex, SQLite's way to read a thread's own error message on
# a shared connection); then each thread through a connection of its own. Each thread
# reads every row back right after writing it. Each run takes a second or two: 15 s means
# it hung.
# Read-your-writes is asserted on the threads' own connections only. On a shared
# connection another thread's statement that is still active keeps the connection's read
# snapshot open, and that snapshot cannot move forward until it ends: a read may not yet
# see the write the same connection just forwarded (the README's Limits). The rows not
# read back there are counted, not asserted (host_threads exits 0 for them).
test_threads() {
	local d mode out threads=64 rows=20
	host_cluster d threads || return
	for mode in shared locked own; do
		out=$d/threads-$mode.out
		host_run "$out" "$d" node2 15 "$(host_prog host_threads)" \
			"$(node_path "$d" node2 "$HOST_DB")" "$mode" "$threads" "$rows" "$mode"
		echo "# $mode: $threads threads x $rows rows in $HOST_MS ms"
		host_status_ok "$mode connection: the program exits 0" "$out"
		assert_eq "$mode: no INSERT failed (no SQLITE_BUSY, IOERR or other error)" "" \
			"$(lines "$out" '^fail ' | head -n 20)"
		if [[ $mode == own ]]; then
			assert_eq "$mode: every thread read each of its rows back right after writing it" "" \
				"$(lines "$out" '^unseen ' | head -n 20)"
		else
			echo "# $mode: rows not read back at once on the shared connection (not asserted): $(count_lines "$out" '^unseen ')"
		fi
		assert_eq "$mode: every INSERT was acknowledged" "$((threads * rows))" \
			"$(count_lines "$out" '^ok ')"
		exactly_once "$d" "$mode" "$out"
		assert_eq "$mode: every acknowledged row is on the primary exactly once" \
			"acked=$((threads * rows)) rows=$((threads * rows)) missing=0 doubled=0 unacked=0" "$CHECK"
	done
}

# ------------------------------------------------------------------------------------------
# 2. fork after forwarding: the pre-fork server pattern (the parent writes, forks 8 children
# that each write on a connection of their own, waits for them, writes again on the
# connection it kept), then 40 forks made while a writer thread of the parent is inside a
# forwarded write, over 2.5 s (so that the interposer's event thread runs as well).
test_fork() {
	local d out children=8 rows=5 forks=40
	host_cluster d fork || return
	out=$d/fork.out
	host_run "$out" "$d" node2 45 "$(host_prog host_fork)" "$(node_path "$d" node2 "$HOST_DB")" \
		fork "$children" "$rows" "$forks" 2500
	echo "# $children pre-fork children, $forks forks while writing: $HOST_MS ms"
	host_status_ok "the program exits 0 (nothing hung, nothing failed)" "$out"
	assert_eq "no child hung (each ended within 15 s; none deadlocked)" "" "$(lines "$out" '^hung ')"
	assert_eq "no write failed" "" "$(lines "$out" '^fail ' | head -n 20)"
	assert_eq "every row was read back by its writer" "" "$(lines "$out" '^unseen ' | head -n 20)"
	assert_eq "every pre-fork child exited 0" "$children" "$(count_lines "$out" '^child prefork [0-9]+ exit 0$')"
	assert_eq "every child forked while the writer was forwarding exited 0" "$forks" \
		"$(count_lines "$out" '^child during [0-9]+ exit 0$')"
	assert_eq "the parent wrote before the forks, after its children, and at the end" \
		"ok fork-parent-0 ok fork-parent-1 ok fork-parent-2" \
		"$(lines "$out" '^ok fork-parent-' | tr '\n' ' ' | sed 's/ $//')"
	local stepping threads
	stepping=$(lines "$out" '^forks-while-stepping ' | awk '{ print $2 }')
	threads=$(lines "$out" '^threads ' | awk '{ print $2 }')
	assert_num "most forks happened while the writer thread was inside a forwarded write" \
		"${stepping:-none}" ">=" $((forks / 2))
	assert_num "the interposer's event thread was running too (threads of the process)" \
		"${threads:-none}" ">=" 3
	assert_match "the writer thread wrote throughout, without a failure" "^writer ok=[1-9][0-9]* fail=0$" \
		"$(lines "$out" '^writer ')"
	exactly_once "$d" fork "$out"
	local acked
	acked=$(count_lines "$out" '^ok ')
	assert_eq "every acknowledged row (parent, children, writer) is on the primary exactly once" \
		"acked=$acked rows=$acked missing=0 doubled=0 unacked=0" "$CHECK"
}

# ------------------------------------------------------------------------------------------
# 3. Children that exec with LD_PRELOAD inherited: after writing, the program runs itself
# in child mode (fork + execvp), the sqlite3 shell (fork + execvp) and the sqlite3 shell
# through system(); each writes a row. Without the interposer the same child-mode write on
# the replica fails: rows on the primary prove that the children's writes were forwarded.
test_exec_children() {
	local d out db
	host_cluster d exec || return
	db=$(node_path "$d" node2 "$HOST_DB")
	capture sim_exec "$d" node2 "$(host_prog host_exec)" --child "$db" exec-control
	assert_eq "control: without the interposer a write on the replica fails (exit status)" 1 "$RC"
	assert_match "... with SQLite's refusal (SQLITE_IOERR_WRITE or SQLITE_READONLY)" \
		"^fail exec-control (778|8|1032|2056|10) " "$(lines <(echo "$OUT") '^fail ')"
	out=$d/exec.out
	host_run "$out" "$d" node2 40 "$(host_prog host_exec)" "$db" exec
	host_status_ok "the program exits 0" "$out"
	assert_eq "the program saw the interposer in LD_PRELOAD" "preload $FWD_PRELOAD" \
		"$(lines "$out" '^preload ')"
	assert_eq "the exec'd child saw LD_PRELOAD unchanged" "child-preload $FWD_PRELOAD" \
		"$(lines "$out" '^child-preload ')"
	assert_eq "the shell run by system() saw LD_PRELOAD unchanged" "system-preload $FWD_PRELOAD" \
		"$(lines "$out" '^system-preload ')"
	assert_eq "the program's own LD_PRELOAD is unchanged at its end" "preload-after $FWD_PRELOAD" \
		"$(lines "$out" '^preload-after ')"
	assert_eq "every child exited 0 (itself exec'd, the sqlite3 shell exec'd, system())" \
		"status exec-self 0 status exec-sqlite3 0 status system 0" \
		"$(lines "$out" '^status ' | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "no write failed" "" "$(lines "$out" '^fail ')"
	assert_eq "every write, the parent's and the children's, is on the primary exactly once" \
		"exec-exec-self|1 exec-exec-sqlite3|1 exec-parent-1|1 exec-parent-2|1 exec-system|1" \
		"$(primary_counts "$d" exec | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "the control's write is not there" "" "$(primary_counts "$d" exec-control)"
}

# ------------------------------------------------------------------------------------------
# 4. Signals interrupting forwards: a SIGALRM handler without SA_RESTART and a 1 ms interval
# timer, while 200 autocommit INSERTs and 6 transactions are forwarded, made slow by a
# process on the primary (no interposer) that holds the write lock for 1 s at a time: the
# forwarded writes wait, the thread sits in poll() and in its retry sleeps, and both are
# interrupted a thousand times a second.
test_signals_eintr() {
	local d out stop locker inserts=200 txns=6
	host_cluster d signals || return
	stop=$d/stop-locker
	bg_start "$d/locker.out" "$LITEFS_SIM" exec "$d" node1 -- "$E2E_PY" "$E2E_DIR/host/hold_lock.py" \
		"$(node_path "$d" node1 "$HOST_DB")" 1.0 0.1 "$stop"
	locker=$BG_PID
	wait_for 10 grep -q '^locked 1$' "$d/locker.out" ||
		{ not_ok "the lock holder on the primary starts" out "$(cat "$d/locker.out")"; return; }
	out=$d/signals.out
	host_run "$out" "$d" node2 40 "$(host_prog host_signals)" "$(node_path "$d" node2 "$HOST_DB")" \
		sig "$inserts" "$txns" 1000
	touch "$stop"
	bg_wait "$locker" 5
	echo "# $inserts INSERTs and $txns transactions under a 1 ms SIGALRM: $HOST_MS ms; the lock was taken $(count_lines "$d/locker.out" '^locked ') times"
	host_status_ok "the program exits 0" "$out"
	assert_eq "no write failed (no SQLITE_INTERRUPT, IOERR or BUSY)" "" "$(lines "$out" '^fail ' | head -n 20)"
	assert_eq "every write was acknowledged" "$((inserts + 2 * txns))" "$(count_lines "$out" '^ok ')"
	local calls max
	calls=$(lines "$out" '^handler-calls ' | awk '{ print $2 }')
	max=$(lines "$out" '^write-ms ' | sed -E 's/.*max=([0-9]+).*/\1/')
	echo "# handler calls: ${calls:-none}; $(lines "$out" '^write-ms ')"
	assert_num "the handler ran thousands of times while the writes were made" "${calls:-none}" ">=" 1000
	assert_num "forwarded writes waited behind the primary's lock meanwhile (longest write, ms)" \
		"${max:-none}" ">=" 500
	assert_eq "the program's SIGALRM handler is still its own, without SA_RESTART" \
		"handler-state same" "$(lines "$out" '^handler-state ')"
	exactly_once "$d" sig "$out"
	assert_eq "every write is on the primary exactly once" \
		"acked=$((inserts + 2 * txns)) rows=$((inserts + 2 * txns)) missing=0 doubled=0 unacked=0" "$CHECK"
}

# ------------------------------------------------------------------------------------------
# 5. A program that closes every descriptor it does not know, after forwarding writes, then
# opens 16 files of its own (on the numbers the interposer's descriptors had) and forwards
# writes again, each read back at once. Twice: with the defaults, after a short warm-up;
# then with the interposer logging and tracing to files and its event thread following
# the event stream, while a writer on the primary (no interposer) commits a row every 2 ms,
# as on a busy primary: the event thread is then mostly between two reads of its stream
# when the program closes its descriptors, and looks at its old numbers only once the
# program's files are on them. The read-your-writes wait is bounded at 2 s so that a
# stalled read shows as such quickly.
test_close_all_fds() {
	local d variant out own env warm ticker stop files=16
	host_cluster d closefds || return
	must "a table for the writer on the primary" node_sql "$d" node1 "$HOST_DB" \
		"CREATE TABLE ticks(n INTEGER);" || return
	for variant in plain logged; do
		own=$d/own-$variant
		mkdir -p "$own"
		env=(LITEFS_FWD_RYW_TIMEOUT_MS=2000)
		warm=0
		ticker=""
		if [[ $variant == logged ]]; then
			env+=(LITEFS_FWD_LOG=info "LITEFS_FWD_LOG_FILE=$d/interposer-$variant.log"
				"LITEFS_FWD_TRACE=$d/trace-$variant.jsonl")
			warm=1500
			stop=$d/stop-ticks
			bg_start "$d/ticks.out" "$LITEFS_SIM" exec "$d" node1 -- "$E2E_PY" \
				"$E2E_DIR/host/tick_writer.py" "$(node_path "$d" node1 "$HOST_DB")" ticks 0.002 "$stop"
			ticker=$BG_PID
			wait_for 10 grep -q '^tick 1$' "$d/ticks.out" ||
				{ not_ok "the writer on the primary starts" out "$(cat "$d/ticks.out")"; return; }
		fi
		out=$d/closefds-$variant.out
		host_run "$out" "$d" node2 25 env "${env[@]}" "$(host_prog host_closefds)" \
			"$(node_path "$d" node2 "$HOST_DB")" "cf-$variant" "$own" "$files" "$warm"
		if [[ -n $ticker ]]; then
			touch "$stop"
			bg_wait "$ticker" 5
		fi
		echo "# $variant: $HOST_MS ms"
		host_status_ok "$variant: the program exits 0" "$out"
		assert_eq "$variant: no write failed" "" "$(lines "$out" '^fail ')"
		assert_eq "$variant: the writes after the closing were acknowledged" 3 \
			"$(count_lines "$out" "^ok cf-$variant-after-")"
		local sock
		sock=$(lines "$out" '^fd [0-9]+ socket:' | awk '{ print $2 }' | head -n 1)
		if [[ -n $sock ]] && ((sock < 3 + files)); then
			ok "$variant: the program's files took the numbers of the interposer's descriptors (its socket was $sock)"
		else
			not_ok "$variant: the program's files took the numbers of the interposer's descriptors" \
				"descriptors before the closing" "$(lines "$out" '^fd ')"
		fi
		assert_eq "$variant: every row written after the closing was read back at once" "" \
			"$(lines "$out" "^read cf-$variant-after-" | grep -v ' rows=1 ')"
		local slowest
		slowest=$(lines "$out" "^read cf-$variant-after-" | sed -E 's/.* ms=([0-9]+)$/\1/' | sort -n | tail -n 1)
		assert_num "$variant: a read after a forwarded write is not held up after the closing (slowest, ms)" \
			"${slowest:-none}" "<" 1000 || evidence reads "$(lines "$out" '^read ')"
		assert_eq "$variant: every file of the program is as it left it (never written, closed or moved by the interposer)" \
			"" "$(lines "$out" '^damaged ')"
		local i bad=""
		for ((i = 0; i < files; i++)); do
			[[ $(cat "$own/own-$i") == "own file $i, line 1, written by the program"$'\n'"own file $i, line 2, written by the program" ]] ||
				bad+="own-$i: $(head -c 300 "$own/own-$i")"$'\n'
		done
		assert_eq "$variant: each file holds exactly the program's two lines" "" "${bad%$'\n'}"
		exactly_once "$d" "cf-$variant" "$out"
		local acked
		acked=$(count_lines "$out" '^ok ')
		assert_eq "$variant: every acknowledged row is on the primary exactly once" \
			"acked=$acked rows=$acked missing=0 doubled=0 unacked=0" "$CHECK"
		if [[ $variant == logged ]]; then
			assert_eq "$variant: the interposer's event thread ran before the closing" "threads 2" \
				"$(lines "$out" '^threads ')"
			assert_eq "$variant: the trace has the end of every forwarded write, before and after the closing" \
				"$acked" "$(grep -c '"event":"litefs_fwd.forward.stop"' "$d/trace-$variant.jsonl")"
		fi
	done
}

# ------------------------------------------------------------------------------------------
# 6. SIGPIPE left at its default action while what the interposer writes to breaks: its
# trace goes to a FIFO whose reader goes away, the primary's forwarder is killed (SIGKILL)
# while the interposer's connection to it is idle and started again with a message limit
# smaller than a blob the program writes (it drops the connection while the interposer
# sends), then killed again and left down for a write, then started again. The program
# and the test take turns through files.
test_sigpipe_default() {
	local d out sync fifo reader prog t0
	host_cluster d sigpipe || return
	sync=$d/sync
	fifo=$d/trace.fifo
	if ! mkdir -p "$sync" || ! mkfifo "$fifo"; then
		not_ok "the FIFO is made"
		return
	fi
	bg_start "$d/trace.out" "$E2E_PY" "$E2E_DIR/host/fifo_reader.py" "$fifo" "$d/reader-ready"
	reader=$BG_PID
	wait_for 5 test -e "$d/reader-ready" || { not_ok "the trace reader starts" out "$(cat "$d/trace.out")"; return; }
	out=$d/sigpipe.out
	"$LITEFS_SIM" exec "$d" node2 -- env "${FWD_ENV[@]}" LD_PRELOAD="$FWD_PRELOAD" \
		LITEFS_FWD_TIMEOUT_MS=2000 LITEFS_FWD_TRACE="$fifo" LITEFS_FWD_LOG=info \
		"$(host_prog host_sigpipe)" "$(node_path "$d" node2 "$HOST_DB")" pipe "$sync" \
		>"$out" 2>"$out.err" </dev/null &
	prog=$!
	bg_register "$prog"
	t0=$(now_ms)
	wait_for 20 test -e "$sync/ready-1" || { not_ok "phase 1 ends" stdout "$(cat "$out")" stderr "$(tail "$out.err")"; return; }
	wait_for 5 grep -q forward.stop "$d/trace.out"
	assert_eq "phase 1 was traced to the FIFO" 0 "$?"
	bg_kill "$reader"
	host_fwd_kill "$d" || return
	host_fwd_start "$d" restart-small LITEFS_FWD_MAX_MESSAGE=65536 || return
	touch "$sync/go-1"
	wait_for 20 test -e "$sync/ready-2" || { not_ok "phase 2 ends" stdout "$(cat "$out")" stderr "$(tail "$out.err")"; return; }
	host_fwd_kill "$d" || return
	touch "$sync/go-2"
	wait_for 20 test -e "$sync/ready-3" || { not_ok "phase 3 ends" stdout "$(cat "$out")" stderr "$(tail "$out.err")"; return; }
	host_fwd_start "$d" restart || return
	touch "$sync/go-3"
	bg_wait "$prog" 20
	HOST_RC=$?
	echo "# four phases: $(($(now_ms) - t0)) ms"
	host_status_ok "the program exits 0 (it was not killed by SIGPIPE: that would be status 141)" "$out"
	assert_eq "the program's SIGPIPE stayed at its default action, unblocked and not pending, in every phase" \
		"$(printf 'signals %d disposition=default mask=same pending=no\n' 1 2 3 4)" "$(lines "$out" '^signals ')"
	assert_eq "phase 1: the write succeeds" "ok pipe-1" "$(lines "$out" ' pipe-1( |$)')"
	local phase2
	phase2=$(lines "$out" ' pipe-2( |$)')
	if [[ ${phase2##*$'\n'} == "ok pipe-2" ]] &&
		! grep -q -v -e '^ok pipe-2$' -e '^fail pipe-2 5 .*nothing was sent' <<<"$phase2"; then
		ok "phase 2: after the idle connection broke, the write succeeds (at once, or after SQLITE_BUSY, nothing sent)"
	else
		not_ok "phase 2: after the idle connection broke, the write succeeds (at once, or after SQLITE_BUSY, nothing sent)" \
			got "$phase2"
	fi
	assert_match "phase 2: the write whose connection is dropped while it is sent fails with SQLITE_BUSY, nothing sent" \
		"^fail pipe-big 5 .*nothing was sent" "$(lines "$out" ' pipe-big( |$)')"
	assert_match "phase 3: with the forwarder down the write fails with SQLITE_BUSY, nothing sent" \
		"^fail pipe-3 5 .*nothing was sent" "$(lines "$out" ' pipe-3( |$)' | head -n 1)"
	assert_match "phase 4: once it is back, the write tried again succeeds" "ok pipe-3$" \
		"$(lines "$out" ' pipe-3( |$)' | tail -n 1)"
	assert_match "the trace lines the FIFO could no longer take were dropped (the pipe broke under the interposer)" \
		"trace: [0-9]+ event\(s\) dropped" "$(cat "$out.err")"
	assert_eq "every acknowledged write is on the primary exactly once, and no other" \
		"pipe-1|1 pipe-2|1 pipe-3|1" "$(primary_counts "$d" pipe | tr '\n' ' ' | sed 's/ $//')"
}

# host_fwd_pid DIR: the PID of node1's forwarder (the primary's), found among the processes
# of the cluster by its command line.
host_fwd_pid() {
	local pid args
	for pid in $(procs_for_dir "$1"); do
		args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		if [[ $args == "$FWD_BIN forwarder --listen $(node_fwd_url "$1" node1) " ]]; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# host_fwd_kill DIR: kills node1's forwarder with SIGKILL and waits until nothing listens.
host_fwd_kill() {
	local pid
	pid=$(host_fwd_pid "$1") || { not_ok "node1's forwarder is found"; return 1; }
	kill -KILL "$pid"
	wait_for 5 _fwd_down "$1" node1 || { not_ok "node1's forwarder is killed"; return 1; }
}

# host_fwd_start DIR TAG [VAR=VALUE...]: starts node1's forwarder again, with the given
# environment, and waits until it listens.
host_fwd_start() {
	local dir=$1 tag=$2
	shift 2
	bg_start "$dir/node1-forwarder.$tag.log" "$LITEFS_SIM" exec "$dir" node1 -- env "$@" \
		sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$FWD_BIN"
	wait_for 5 _fwd_listening "$dir" ||
		{ not_ok "node1's forwarder listens again ($tag)" log "$(cat "$dir/node1-forwarder.$tag.log")"; return 1; }
}

E2E_TESTS=(
	test_threads
	test_fork
	test_exec_children
	test_signals_eintr
	test_close_all_fds
	test_sigpipe_default
)
e2e_main "$@"
