#!/usr/bin/env bash
# End-to-end: `litefs-fwd run`, the entrypoint of a container: CMD with the interposer in
# front of LD_PRELOAD, beside this node's forwarder (started again when it dies), signals
# passed on to CMD, CMD's exit status kept, orphans reaped as PID 1 (in a PID namespace of
# the test's own) or as the subreaper. The forwarding cases run on the stand-in cluster;
# the others give the forwarder an ipc:// address in the test's directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

RUN_HELPERS=$E2E_DIR/run
# the interposer as run finds it beside the executable (the build tree)
RUN_LIB=$(realpath "$FWD_LIB")

# the environment run is started with (fwd_lib.sh: the sanitizer's runtime, if any)
RUN_BASE_PRELOAD=$FWD_RUN_BASE_PRELOAD
RUN_ENV=("${FWD_RUN_ENV[@]}")

# `litefs-fwd run`, as a command prefix (env execs it: a background job's pid is run's)
RUN=(env "${RUN_ENV[@]}" "$FWD_BIN" run)

# local_fwd DIR: FWD_ARGS, the options of run that give the forwarder an ipc:// address
# in DIR (DIR/fwd.ipc) and DIR as its mount, without LiteFS's HTTP API.
local_fwd() {
	FWD_ARGS=(--forwarder-arg "--listen=ipc://$1/fwd.ipc" --forwarder-arg "--mount=$1"
		--forwarder-arg "--events-url=")
}

# fwd_child RUN_PID: the pid of run's forwarder (its child whose first argument is
# "forwarder"); status 1 when it has none.
fwd_child() {
	local c
	local -a a
	for c in $(pgrep -P "$1"); do
		mapfile -d '' -t a 2>/dev/null <"/proc/$c/cmdline" || continue
		[[ ${a[1]:-} == forwarder ]] && { echo "$c"; return 0; }
	done
	return 1
}

# _new_fwd RUN_PID OLD_PID: run has a forwarder, and it is not OLD_PID.
_new_fwd() {
	local p
	p=$(fwd_child "$1") && [[ $p != "$2" ]]
}

# _alive PID: PID runs (and is not a zombie).
_alive() { ! _e2e_gone "$1"; }

# _listening DIR NODE: NODE's forwarder port accepts connections.
_listening() { ! _fwd_down "$1" "$2"; }

# start_traps LOG DIR [RUN OPTIONS]: run in the background (with the variables of the array
# START_ENV added to its environment) with e2e/run/traps.py DIR/traps as CMD; waits until
# its traps are set. Sets RUN_PID and CMD_PID.
START_ENV=()
start_traps() {
	local log=$1 dir=$2
	shift 2
	bg_start "$log" env "${START_ENV[@]}" "${RUN[@]}" "$@" -- "$E2E_PY" "$RUN_HELPERS/traps.py" "$dir/traps"
	RUN_PID=$BG_PID
	if ! wait_for 10 test -e "$dir/traps.ready"; then
		not_ok "CMD starts under run and sets its traps" log "$(cat "$log")"
		return 1
	fi
	CMD_PID=$(<"$dir/traps.ready")
	bg_register "$CMD_PID"
}

# _lines FILE N: FILE has at least N lines.
_lines() { (($(wc -l <"$1" 2>/dev/null || echo 0) >= $2)); }

# a shared library that is not the interposer
_other_lib() { realpath "$(ldconfig -p | awk '$1 == "libz.so.1" { print $NF; exit }')"; }

# ------------------------------------------------------------------------------------------

test_help_and_bad_arguments() {
	local d opt
	d=$(new_dir args)
	capture "${RUN[@]}" --help
	assert_eq "--help: exit status 0" 0 "$RC"
	for opt in --preload --forwarder-arg --no-forwarder --subreaper --grace-ms --log-level \
		--help LITEFS_FWD_PRELOAD LITEFS_FWD_RUN_GRACE_MS; do
		assert_contains "--help documents $opt" "$opt" "$OUT"
	done
	capture "${RUN[@]}" --bogus -- touch "$d/ran"
	assert_eq "an unknown option: exit status 2" 2 "$RC"
	assert_contains "... named" "unknown option '--bogus'" "$ERR"
	capture "${RUN[@]}"
	assert_eq "no CMD: exit status 2" 2 "$RC"
	assert_contains "... said" "CMD is missing" "$ERR"
	capture "${RUN[@]}" --
	assert_eq "nothing after --: exit status 2" 2 "$RC"
	capture "${RUN[@]}" --grace-ms soon -- touch "$d/ran"
	assert_eq "a bad --grace-ms: exit status 2" 2 "$RC"
	capture env LITEFS_FWD_RUN_GRACE_MS=-5 "${RUN[@]}" -- touch "$d/ran"
	assert_eq "a bad LITEFS_FWD_RUN_GRACE_MS: exit status 2" 2 "$RC"
	assert_contains "... named" "LITEFS_FWD_RUN_GRACE_MS wants 0 to" "$ERR"
	capture "${RUN[@]}" --forwarder-arg --workers --forwarder-arg 0 -- touch "$d/ran"
	assert_eq "an argument the forwarder would refuse: exit status 2 at once" 2 "$RC"
	assert_contains "... with the forwarder's own reason" "--workers wants 1 to" "$ERR"
	capture env LITEFS_FWD_WORKERS=many "${RUN[@]}" -- touch "$d/ran"
	assert_eq "a forwarder variable the forwarder would refuse: exit status 2" 2 "$RC"
	assert_contains "... named" "LITEFS_FWD_WORKERS wants" "$ERR"
	capture "${RUN[@]}" --forwarder-arg --help -- touch "$d/ran"
	assert_eq "--forwarder-arg --help: exit status 2 (a forwarder that exits at once)" 2 "$RC"
	capture "${RUN[@]}" --no-forwarder --forwarder-arg --insecure -- touch "$d/ran"
	assert_eq "--forwarder-arg with --no-forwarder: exit status 2" 2 "$RC"
	assert_eq "CMD never ran on a bad argument" "no" "$([[ -e $d/ran ]] && echo yes || echo no)"
}

test_exit_status_is_cmds() {
	local d
	d=$(new_dir status)
	local_fwd "$d"
	capture "${RUN[@]}" --no-forwarder -- sh -c 'exit 0'
	assert_eq "CMD exits 0: run exits 0" 0 "$RC"
	capture "${RUN[@]}" --no-forwarder -- sh -c 'exit 3'
	assert_eq "CMD exits 3: run exits 3" 3 "$RC"
	capture "${RUN[@]}" --no-forwarder -- sh -c 'kill -KILL $$'
	assert_eq "CMD killed by SIGKILL: 128+9" 137 "$RC"
	capture "${RUN[@]}" --no-forwarder -- sh -c 'kill -TERM $$'
	assert_eq "CMD killed by SIGTERM: 128+15" 143 "$RC"
	assert_line "... logged with the signal" 'run: sh \(pid [0-9]+\) was killed by signal 15 \(SIGTERM\)' "$ERR"

	capture "${RUN[@]}" "${FWD_ARGS[@]}" -- sh -c 'sleep 0.5; echo out; echo err >&2; exit 3'
	assert_eq "with a forwarder beside it: exit status 3" 3 "$RC"
	assert_eq "CMD's stdout passes through untouched" "out" "$OUT"
	assert_line "CMD's stderr passes through" '^err$' "$ERR"
	assert_line "the forwarder was started" 'run: forwarder started \(pid [0-9]+\)' "$ERR"
	assert_line "... and stopped once CMD exited (SIGTERM, an orderly stop)" \
		'run: the forwarder \(pid [0-9]+\) exited with status 0' "$ERR"
	assert_line "run logs the status it exits with" 'run: exiting with status 3$' "$ERR"
	assert_eq "no forwarder left behind" "" "$(pgrep -f "ipc://$d/fwd.ipc")"
}

test_cmd_that_cannot_be_executed() {
	local d
	d=$(new_dir exec)
	local_fwd "$d"
	capture "${RUN[@]}" "${FWD_ARGS[@]}" -- "$d/no-such-program"
	assert_eq "CMD not found: 127, as a shell" 127 "$RC"
	assert_contains "... said" "cannot execute $d/no-such-program: No such file or directory" "$ERR"
	assert_not_contains "... and no forwarder was started for nothing" "forwarder started" "$ERR"
	capture "${RUN[@]}" "${FWD_ARGS[@]}" -- "no-such-program-$$"
	assert_eq "CMD not found in PATH: 127" 127 "$RC"
	printf 'echo hello\n' >"$d/not-executable"
	chmod 0644 "$d/not-executable"
	capture "${RUN[@]}" "${FWD_ARGS[@]}" -- "$d/not-executable"
	assert_eq "CMD not executable: 126, as a shell" 126 "$RC"
	assert_contains "... said" "cannot execute $d/not-executable: Permission denied" "$ERR"
	capture "${RUN[@]}" --no-forwarder -- "$d"
	assert_eq "CMD a directory: 126" 126 "$RC"
	assert_eq "no forwarder left behind" "" "$(pgrep -f "ipc://$d/fwd.ipc")"
}

test_interposer_lookup() {
	local d installed
	d=$(new_dir lookup)
	capture "${RUN[@]}" --no-forwarder -- sh -c 'printf %s "$LD_PRELOAD"'
	assert_eq "by default, the interposer beside the executable (the build tree), first" \
		"$RUN_LIB" "${OUT%%:*}"
	assert_contains "... logged" "with the interposer $RUN_LIB" "$ERR"

	capture "${RUN[@]}" --no-forwarder --preload "$d/missing.so" -- touch "$d/ran"
	assert_eq "--preload naming no file: exit status 2" 2 "$RC"
	assert_contains "... saying which file and why" \
		"the interposer $d/missing.so (--preload) cannot be used: No such file or directory" "$ERR"
	capture env LITEFS_FWD_PRELOAD="$d/missing.so" "${RUN[@]}" --no-forwarder -- touch "$d/ran"
	assert_eq "LITEFS_FWD_PRELOAD naming no file: exit status 2" 2 "$RC"
	assert_contains "... naming the variable" "(LITEFS_FWD_PRELOAD) cannot be used" "$ERR"
	echo "not a library" >"$d/text.so"
	capture "${RUN[@]}" --no-forwarder --preload "$d/text.so" -- touch "$d/ran"
	assert_eq "--preload naming a file that is no library: exit status 2" 2 "$RC"
	assert_contains "... said" "not a shared library" "$ERR"
	capture env LITEFS_FWD_PRELOAD="$d/missing.so" "${RUN[@]}" --no-forwarder \
		--preload "$RUN_LIB" -- sh -c 'printf %s "$LD_PRELOAD"'
	assert_eq "--preload wins over LITEFS_FWD_PRELOAD" "$RUN_LIB" "${OUT%%:*}"

	# A copy of the executable elsewhere: the interposer beside it, else in ../lib from it,
	# else in the install location.
	mkdir -p "$d/pfx/bin" "$d/pfx/lib"
	cp "$FWD_BIN" "$d/pfx/bin/litefs-fwd"
	capture "$d/pfx/bin/litefs-fwd" run --help
	installed=$(sed -n 's/.* from it, then in \(.*\)$/\1/p' <<<"$OUT")
	if [[ -n $installed && -f $installed/liblitefs_fwd.so ]]; then
		capture env "${RUN_ENV[@]}" "$d/pfx/bin/litefs-fwd" run --no-forwarder -- \
			sh -c 'printf %s "$LD_PRELOAD"'
		assert_eq "none beside the copy: the one installed in $installed" \
			"$(realpath "$installed/liblitefs_fwd.so")" "${OUT%%:*}"
	else
		capture env "${RUN_ENV[@]}" "$d/pfx/bin/litefs-fwd" run --no-forwarder -- touch "$d/ran"
		assert_eq "no interposer anywhere: exit status 2" 2 "$RC"
		assert_contains "... naming every place looked at" \
			"looked at $d/pfx/bin/liblitefs_fwd.so, $d/pfx/bin/../lib/liblitefs_fwd.so, ${installed:-?}/liblitefs_fwd.so" "$ERR"
		assert_contains "... and how to give it" "give its path with --preload or LITEFS_FWD_PRELOAD" "$ERR"
	fi
	cp "$FWD_LIB" "$d/pfx/lib/liblitefs_fwd.so"
	capture env "${RUN_ENV[@]}" "$d/pfx/bin/litefs-fwd" run --no-forwarder -- sh -c 'printf %s "$LD_PRELOAD"'
	assert_eq "an install under another prefix: the interposer in ../lib" \
		"$d/pfx/lib/liblitefs_fwd.so" "${OUT%%:*}"
	cp "$FWD_LIB" "$d/pfx/bin/liblitefs_fwd.so"
	capture env "${RUN_ENV[@]}" "$d/pfx/bin/litefs-fwd" run --no-forwarder -- sh -c 'printf %s "$LD_PRELOAD"'
	assert_eq "the one beside the executable comes before ../lib" \
		"$d/pfx/bin/liblitefs_fwd.so" "${OUT%%:*}"
	assert_eq "CMD never ran without its interposer" "no" "$([[ -e $d/ran ]] && echo yes || echo no)"
}

test_ld_preload_order() {
	local d existing fwd got
	d=$(new_dir order)
	local_fwd "$d"
	existing="${RUN_BASE_PRELOAD:+$RUN_BASE_PRELOAD:}libz.so.1 libm.so.6"
	bg_start "$d/run.log" env "${RUN_ENV[@]}" "LD_PRELOAD=$existing" "$FWD_BIN" run "${FWD_ARGS[@]}" -- \
		"$E2E_PY" -c '
import os, sys, time
maps = open("/proc/self/maps").read()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(os.environ["LD_PRELOAD"] + "\n")
    f.write("interposer %s\n" % ("mapped" if "/liblitefs_fwd.so" in maps else "absent"))
    f.write("libz %s\n" % ("mapped" if "/libz.so.1" in maps else "absent"))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
' "$d/cmd.out"
	local run=$BG_PID
	if ! wait_for 10 test -e "$d/cmd.out" || ! wait_for 10 test -S "$d/fwd.ipc"; then
		not_ok "CMD and the forwarder start" log "$(cat "$d/run.log")"
		return
	fi
	assert_eq "CMD's LD_PRELOAD: the interposer, then the existing list exactly as it was" \
		"$RUN_LIB:$existing" "$(sed -n 1p "$d/cmd.out")"
	assert_eq "the interposer is loaded in CMD" "interposer mapped" "$(sed -n 2p "$d/cmd.out")"
	assert_eq "... and so are the existing entries" "libz mapped" "$(sed -n 3p "$d/cmd.out")"
	fwd=$(fwd_child "$run")
	got=$(tr '\0' '\n' <"/proc/$fwd/environ" | sed -n 's/^LD_PRELOAD=//p')
	assert_eq "the forwarder's LD_PRELOAD is run's own, without the interposer" "$existing" "$got"
	kill -TERM "$run"
	bg_wait "$run" 10
	assert_eq "SIGTERM: CMD (no trap) killed by it, run exits 143" 143 "$?"
}

test_signals_reach_cmd() {
	local d fwd sig
	local -a sent=()
	d=$(new_dir signals)
	local_fwd "$d"
	start_traps "$d/run.log" "$d" "${FWD_ARGS[@]}" || return
	if ! wait_for 10 test -S "$d/fwd.ipc"; then
		not_ok "the forwarder listens" log "$(cat "$d/run.log")"
		return
	fi
	fwd=$(fwd_child "$RUN_PID")
	for sig in HUP INT QUIT USR1 USR2 WINCH ALRM CONT; do
		kill -s "$sig" "$RUN_PID"
		sent+=("$sig")
		wait_for 5 _lines "$d/traps" "${#sent[@]}" || break
	done
	assert_eq "the forwarder still runs, the same process" "$fwd" "$(fwd_child "$RUN_PID")"
	kill -TERM "$RUN_PID"
	sent+=(TERM)
	bg_wait "$RUN_PID" 15
	assert_eq "run exits with CMD's status (traps.py exits 7 on SIGTERM)" 7 "$?"
	assert_eq "each signal reached CMD, once, in order" "$(printf '%s\n' "${sent[@]}")" "$(cat "$d/traps")"
	local log
	log=$(cat "$d/run.log")
	assert_not_contains "none of them reached the forwarder (it never stopped early)" "starting it again" "$log"
	assert_eq "the forwarder stopped once, on run's SIGTERM after CMD exited" 1 \
		"$(grep -c "litefs-fwd\[$fwd\] info: SIGTERM: answering" <<<"$log")"
	assert_eventually "the forwarder is gone" 5 _e2e_gone "$fwd"
}

test_terminal_signal_not_doubled() {
	local d
	d=$(new_dir tty)
	local_fwd "$d"
	capture timeout -k 2 40 "$E2E_PY" "$RUN_HELPERS/pty_run.py" "$d/traps" -- \
		"${RUN[@]}" "${FWD_ARGS[@]}" -- "$E2E_PY" "$RUN_HELPERS/traps.py" "$d/traps"
	assert_line "run exits with CMD's status" '^exit=7$' "$OUT"
	assert_eq "^C on the terminal reached CMD once (not again through run), kill -INT once more, then SIGTERM" \
		$'INT\nINT\nTERM' "$(cat "$d/traps" 2>/dev/null)" || evidence terminal "$ERR"
	assert_not_contains "the forwarder (a process group of its own) did not get ^C" "SIGINT: answering" "$ERR"
	assert_not_contains "... and was never started again" "starting it again" "$ERR"
}

test_no_forwarder() {
	local d t0 took
	d=$(new_dir nofwd)
	local -a START_ENV=(LITEFS_FWD_LISTEN="ipc://$d/fwd.ipc" LITEFS_FWD_MOUNT="$d" LITEFS_FWD_EVENTS_URL=)
	# the control: without --no-forwarder, a forwarder listens at LITEFS_FWD_LISTEN, from
	# the environment it inherits
	mkdir "$d/with"
	t0=$(now_ms)
	start_traps "$d/with.log" "$d/with" || return
	assert_eventually "without --no-forwarder, a forwarder listens at LITEFS_FWD_LISTEN" 10 test -S "$d/fwd.ipc"
	took=$(($(now_ms) - t0))
	bg_kill "$RUN_PID"
	assert_eventually "... and stops with run" 5 test ! -e "$d/fwd.ipc"
	rm -f "$d/fwd.ipc"

	mkdir "$d/without"
	start_traps "$d/without.log" "$d/without" --no-forwarder || return
	sleep "$(awk -v t="$took" 'BEGIN { printf "%.3f", 2 * t / 1000 + 0.5 }')"
	assert_eq "with --no-forwarder: CMD is run's only child" "$CMD_PID" "$(pgrep -P "$RUN_PID")"
	assert_eq "... nothing listens at LITEFS_FWD_LISTEN" "absent" "$([[ -e $d/fwd.ipc ]] && echo present || echo absent)"
	kill -USR1 "$RUN_PID"
	assert_eventually "... signals are still passed on" 5 grep -qx USR1 "$d/without/traps"
	kill -TERM "$RUN_PID"
	bg_wait "$RUN_PID" 10
	assert_eq "... and CMD's status kept" 7 "$?"
	assert_not_contains "... no forwarder was ever mentioned" "forwarder" "$(cat "$d/without.log")"
}

test_forwarder_restarted_after_sigkill() {
	local d run fwd1 fwd2 fwd3 log
	d=$(new_dir restart)
	sim_up "$d" --db app.db || return
	bg_start "$d/node1-run.log" "$LITEFS_SIM" exec "$d" node1 -- \
		env "${RUN_ENV[@]}" "$FWD_BIN" run -- sh -c 'exec sleep 600'
	run=$BG_PID
	if ! wait_for 10 grep -qF "tracking: app.db names node1 " "$d/node1-run.log"; then
		not_ok "run's forwarder serves the primary" log "$(cat "$d/node1-run.log")"
		return
	fi
	fwd1=$(fwd_child "$run")
	kill -KILL "$fwd1"
	assert_eventually "SIGKILL: run starts a new forwarder" 5 _new_fwd "$run" "$fwd1" || return
	fwd2=$(fwd_child "$run")
	bg_register "$fwd2"
	log=$(cat "$d/node1-run.log")
	assert_line "the restart is logged with the signal and the wait" \
		"run: the forwarder \\(pid $fwd1\\) was killed by signal 9 \\(SIGKILL\\) after [0-9]+ ms; starting it again in 100 ms" "$log"
	assert_line "... and the new forwarder's start" "run: forwarder started \\(pid $fwd2\\)" "$log"
	wait_for 10 _lines_matching "$d/node1-run.log" "tracking: app.db names node1 " 2
	assert_eventually "the new forwarder listens" 5 _listening "$d" node1
	capture sql_on "$d" node2 app.db "CREATE TABLE t(x); INSERT INTO t VALUES ('after the restart');"
	assert_eq "a write forwarded from the replica works again" 0 "$RC" || evidence stderr "$ERR"
	capture node_sql "$d" node1 app.db "SELECT x FROM t;"
	assert_eq "... and its row is on the primary" "after the restart" "$OUT"

	kill -KILL "$fwd2"
	assert_eventually "a second SIGKILL: another forwarder" 5 _new_fwd "$run" "$fwd2" || return
	fwd3=$(fwd_child "$run")
	bg_register "$fwd3"
	assert_line "... after a wait twice as long" \
		"run: the forwarder \\(pid $fwd2\\) was killed by signal 9 \\(SIGKILL\\) after [0-9]+ ms; starting it again in 200 ms" \
		"$(cat "$d/node1-run.log")"

	kill -TERM "$run"
	bg_wait "$run" 15
	assert_eq "SIGTERM to run: CMD (sleep) killed by it, run exits 143" 143 "$?"
	assert_eventually "no forwarder is left" 5 _e2e_gone "$fwd3"
	assert_eventually "... nothing listens on node1's forwarder port" 5 _fwd_down "$d" node1
}

# _lines_matching FILE FIXED_STRING N: FILE has at least N lines holding the string.
_lines_matching() { (($(grep -cF -- "$2" "$1" 2>/dev/null) >= $3)); }

test_program_on_a_replica_through_run() {
	local d run lib
	d=$(new_dir replica)
	sim_up "$d" --db app.db || return
	bg_start "$d/node1-run.log" "$LITEFS_SIM" exec "$d" node1 -- \
		env "${RUN_ENV[@]}" "$FWD_BIN" run -- sh -c 'exec sleep 600'
	run=$BG_PID
	if ! wait_for 10 grep -qF "tracking: app.db names node1 " "$d/node1-run.log"; then
		not_ok "run's forwarder serves the primary" log "$(cat "$d/node1-run.log")"
		return
	fi
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE t(x);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return

	capture sim_exec "$d" node2 env "${RUN_ENV[@]}" "$FWD_BIN" run -- \
		sqlite3 -batch "$(node_mnt "$d" node2)/app.db" "INSERT INTO t VALUES ('via run'); SELECT x FROM t;"
	assert_eq "the unmodified sqlite3 shell under run on the replica succeeds" 0 "$RC" || evidence stderr "$ERR"
	assert_eq "... and reads its own forwarded write" "via run" "$OUT"
	assert_line "... with the replica's own forwarder beside it" 'run: forwarder started \(pid [0-9]+\)' "$ERR"
	capture node_sql "$d" node1 app.db "SELECT x FROM t;"
	assert_eq "the row is on the primary" "via run" "$OUT"
	assert_eventually "the replica's forwarder stopped with the program" 5 _fwd_down "$d" node2

	lib=$(_other_lib)
	capture sim_exec "$d" node2 env "${RUN_ENV[@]}" "$FWD_BIN" run --no-forwarder --preload "$lib" -- \
		sqlite3 -batch "$(node_mnt "$d" node2)/app.db" "INSERT INTO t VALUES ('not forwarded');"
	assert_ne "with another library in place of the interposer, LiteFS refuses the write" 0 "$RC"
	assert_contains "... with its read-only error" "attempt to write a readonly database" "$ERR"
	capture node_sql "$d" node1 app.db "SELECT count(*) FROM t;"
	assert_eq "... nothing written on the primary" "1" "$OUT"
	bg_kill "$run"
}

test_orphans_reaped_as_pid1() {
	capture timeout -k 2 30 unshare --pid --fork --mount-proc --kill-child \
		env "${RUN_ENV[@]}" "$FWD_BIN" run --no-forwarder -- "$E2E_PY" "$RUN_HELPERS/orphans.py" 5
	assert_eq "run as PID 1 of a new PID namespace: CMD's status (0)" 0 "$RC" || evidence stderr "$ERR"
	assert_line "CMD's parent is run, PID 1" '^my_parent=1$' "$OUT"
	assert_line "the orphans were reparented to run" '^orphans_parent=1$' "$OUT"
	assert_line "none of the 5 orphans is left a zombie" '^zombies=0$' "$OUT"
	assert_line "... none still runs" '^left=0$' "$OUT"
	assert_contains "run says it reaps as PID 1" "reaping orphans as PID 1" "$ERR"
	# the check itself: the same program as PID 1, without run, leaves them zombies
	capture timeout -k 2 30 unshare --pid --fork --mount-proc --kill-child \
		"$E2E_PY" "$RUN_HELPERS/orphans.py" 5
	assert_line "control: a PID 1 that does not reap leaves 5 zombies, which the check sees" \
		'^zombies=5$' "$OUT"
}

test_signals_reach_cmd_when_run_is_pid1() {
	local d ns pid1
	d=$(new_dir pid1)
	bg_start "$d/run.log" unshare --pid --fork --mount-proc --kill-child \
		env "${RUN_ENV[@]}" "$FWD_BIN" run --no-forwarder -- "$E2E_PY" "$RUN_HELPERS/traps.py" "$d/traps"
	ns=$BG_PID
	if ! wait_for 10 test -e "$d/traps.ready"; then
		not_ok "CMD starts under run as PID 1" log "$(cat "$d/run.log")"
		return
	fi
	pid1=$(pgrep -P "$ns")
	# the kernel drops a signal sent to a PID 1 that has no handler for it: run must take it
	kill -USR1 "$pid1"
	assert_eventually "SIGUSR1 to run as PID 1 reaches CMD" 5 grep -qx USR1 "$d/traps"
	kill -TERM "$pid1"
	bg_wait "$ns" 10
	assert_eq "SIGTERM to run as PID 1 reaches CMD, whose status (7) comes out of the namespace" 7 "$?"
}

test_subreaper() {
	local parent
	capture timeout -k 2 30 "${RUN[@]}" --no-forwarder --subreaper -- "$E2E_PY" "$RUN_HELPERS/orphans.py" 3
	assert_eq "--subreaper: CMD's status (0)" 0 "$RC" || evidence stderr "$ERR"
	parent=$(sed -n 's/^my_parent=//p' <<<"$OUT")
	assert_line "the orphans were reparented to run (CMD's parent), not to init" "^orphans_parent=$parent\$" "$OUT"
	assert_line "none is left a zombie" '^zombies=0$' "$OUT"
	assert_line "... none still runs" '^left=0$' "$OUT"
	capture timeout -k 2 30 "${RUN[@]}" --no-forwarder -- "$E2E_PY" "$RUN_HELPERS/orphans.py" 3
	parent=$(sed -n 's/^my_parent=//p' <<<"$OUT")
	assert_ne "control: without --subreaper, the orphans go to another reaper" "$parent" \
		"$(sed -n 's/^orphans_parent=//p' <<<"$OUT")"
}

test_forwarder_killed_after_the_grace_period() {
	local d fwd t0 rc took log
	d=$(new_dir grace)
	local_fwd "$d"
	start_traps "$d/run.log" "$d" --grace-ms 300 "${FWD_ARGS[@]}" || return
	if ! wait_for 10 test -S "$d/fwd.ipc"; then
		not_ok "the forwarder listens" log "$(cat "$d/run.log")"
		return
	fi
	fwd=$(fwd_child "$RUN_PID")
	bg_register "$fwd"
	kill -STOP "$fwd" # it cannot act on SIGTERM now
	t0=$(now_ms)
	kill -TERM "$RUN_PID"
	bg_wait "$RUN_PID" 10
	rc=$?
	took=$(($(now_ms) - t0))
	assert_eq "run exits with CMD's status" 7 "$rc"
	log=$(cat "$d/run.log")
	assert_line "a forwarder that does not stop gets SIGKILL after the grace period" \
		"run: the forwarder \\(pid $fwd\\) did not stop within 300 ms of SIGTERM: SIGKILL" "$log"
	assert_line "... and is reaped" "run: the forwarder \\(pid $fwd\\) was killed by signal 9" "$log"
	assert_num "run waited the grace period (ms)" "$took" ">=" 300
	assert_eq "the forwarder is gone" "gone" "$(_alive "$fwd" && echo alive || echo gone)"
}

test_forwarder_does_not_outlive_run() {
	local d fwd
	d=$(new_dir orphaned)
	local_fwd "$d"
	start_traps "$d/run.log" "$d" "${FWD_ARGS[@]}" || return
	if ! wait_for 10 test -S "$d/fwd.ipc"; then
		not_ok "the forwarder listens" log "$(cat "$d/run.log")"
		return
	fi
	fwd=$(fwd_child "$RUN_PID")
	bg_register "$fwd"
	kill -KILL "$RUN_PID"
	assert_eventually "run killed: its forwarder stops too (SIGTERM from the kernel)" 5 _e2e_gone "$fwd"
	assert_line "... an orderly stop" "litefs-fwd\\[$fwd\\] info: SIGTERM: answering" "$(cat "$d/run.log")"
	kill -KILL "$CMD_PID" 2>/dev/null
}

e2e_main "$@"
