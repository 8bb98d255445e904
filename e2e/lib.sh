# shellcheck shell=bash
# Shared helpers for the end-to-end suites (e2e/*_test.sh). Source it, do not run it.
#
# A suite defines one function per property and ends with `e2e_main "$@"`:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#     test_something() { sim_up "$(new_dir x)" --db app.db || return; assert_eq ...; }
#     E2E_TESTS=("test_something" "test_other wal")   # optional; default: every test_* function
#     e2e_main "$@"
#
# e2e_main runs each test in its own process (under its own timeout, in its own process
# group) and after each one brings down the clusters it started and kills what it left
# running. Every assertion prints `ok - TEST: NAME` or `not ok - TEST: NAME` followed by
# `#` lines with the evidence; the last line of the suite is `N passed, M failed`, and the
# exit status is non-zero when M > 0.
#
#   bash e2e/sim_test.sh                 run the whole suite
#   bash e2e/sim_test.sh promote wal     run only the tests whose name contains a pattern
#
# Environment:
#   LITEFS_SIM        the litefs-sim binary (default: build/litefs-sim of this repository)
#   E2E_TEST_TIMEOUT  seconds allowed per test (default 60)
#   E2E_KEEP=1        keep the temporary directory (cluster data, event logs) for a post-mortem
#   E2E_SUMMARY_FILE  if set, the summary line is also written there (used by e2e/run.sh)
#   TMPDIR            where the temporary directory is made (default /tmp)

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	echo "lib.sh is meant to be sourced by an e2e suite" >&2
	exit 2
fi

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_ROOT=$(cd "$E2E_DIR/.." && pwd)
E2E_SUITE=$(realpath "$0")
LITEFS_SIM=${LITEFS_SIM:-$E2E_ROOT/build/litefs-sim}
E2E_PY=${E2E_PY:-python3}
E2E_TEST_TIMEOUT=${E2E_TEST_TIMEOUT:-60}
E2E_POLL=${E2E_POLL:-0.05}     # polling interval of wait_for, seconds
E2E_SIM_TIMEOUT=${E2E_SIM_TIMEOUT:-30}  # seconds allowed to a litefs-sim command
E2E_EXEC_TIMEOUT=${E2E_EXEC_TIMEOUT:-20} # ... to a program run with sim_exec / node_sql
E2E_IO_TIMEOUT=${E2E_IO_TIMEOUT:-5}      # ... to one read of a file of a mount (a wedged
                                         # FUSE daemon must give a failure, not a hang)
export LC_ALL=C

E2E_CURRENT=""                 # name of the running test, prefixed to assertion names
E2E_PASSED=0
E2E_FAILED=0
declare -A E2E_PREFIX_OF=()    # cluster dir -> ip prefix ("127.0.X")
declare -A E2E_NODES_OF=()     # cluster dir -> number of nodes
declare -A E2E_HTTP_PORT_OF=() # cluster dir -> LiteFS HTTP port
declare -A E2E_FWD_PORT_OF=()  # cluster dir -> forwarder port

# ------------------------------------------------------------------------------------------
# time and small utilities

# Milliseconds since the epoch.
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# capture CMD ARGS...: runs CMD with stdin from /dev/null, stdout and stderr into files (never
# a pipe: a daemon that keeps them open cannot hang us). Sets OUT, ERR (trailing newlines
# stripped) and RC.
capture() {
	local o e
	o=$(mktemp "$E2E_TMP/out.XXXXXX") && e=$(mktemp "$E2E_TMP/err.XXXXXX") || return 1
	"$@" >"$o" 2>"$e" </dev/null
	RC=$?
	OUT=$(<"$o")
	ERR=$(<"$e")
	rm -f "$o" "$e"
	return 0
}

# wait_for TIMEOUT_S CMD ARGS...: polls CMD every E2E_POLL seconds until it succeeds.
# Returns 0 as soon as it does, 1 after TIMEOUT_S seconds (decimals allowed).
wait_for() {
	local timeout=$1
	shift
	local deadline
	deadline=$(($(now_ms) + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')))
	while :; do
		"$@" >/dev/null 2>&1 </dev/null && return 0
		(($(now_ms) >= deadline)) && return 1
		sleep "$E2E_POLL"
	done
}

# is_num X: X is a decimal number.
is_num() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; }

# num_cmp A OP B: numeric comparison with decimals (OP one of < <= > >= == !=).
num_cmp() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }

# json_get EXPR [FILE]: evaluates a python expression on the JSON document read from FILE
# (default stdin), with the document bound to `d`; prints strings as they are, anything
# else as compact JSON.
json_get() {
	"$E2E_PY" "$E2E_DIR/sim/jq.py" "$@"
}

# ------------------------------------------------------------------------------------------
# assertions: each prints one `ok`/`not ok` line, counts it, returns 0/1

_e2e_record() {
	[[ -n ${E2E_TMP:-} ]] && echo "$1" >>"$E2E_TMP/results"
}

_e2e_name() {
	if [[ -n $E2E_CURRENT ]]; then echo "$E2E_CURRENT: $1"; else echo "$1"; fi
}

# evidence LABEL VALUE: one `#` line, or several for a multi-line value (at most 40).
evidence() {
	local label=$1 value=$2 n=0 line
	if [[ $value != *$'\n'* ]]; then
		printf '#   %s: %s\n' "$label" "$value"
		return
	fi
	printf '#   %s:\n' "$label"
	while IFS= read -r line; do
		if ((++n > 40)); then
			printf '#     ... (%d lines in all)\n' "$(printf '%s\n' "$value" | wc -l)"
			break
		fi
		printf '#     | %s\n' "$line"
	done <<<"$value"
}

# ok NAME
ok() {
	E2E_PASSED=$((E2E_PASSED + 1))
	echo "ok - $(_e2e_name "$1")"
	_e2e_record ok
	return 0
}

# not_ok NAME [LABEL VALUE]...: a failure with its evidence.
not_ok() {
	E2E_FAILED=$((E2E_FAILED + 1))
	echo "not ok - $(_e2e_name "$1")"
	shift
	while (($# >= 2)); do
		evidence "$1" "$2"
		shift 2
	done
	_e2e_record "not ok"
	return 1
}

# assert_eq NAME EXPECTED GOT
assert_eq() {
	if [[ $3 == "$2" ]]; then ok "$1"; else not_ok "$1" expected "$2" got "$3"; fi
}

# assert_ne NAME UNEXPECTED GOT
assert_ne() {
	if [[ $3 != "$2" ]]; then ok "$1"; else not_ok "$1" "expected anything but" "$2" got "$3"; fi
}

# assert_match NAME ERE GOT: GOT (the whole string) matches the extended regex.
assert_match() {
	if [[ $3 =~ $2 ]]; then ok "$1"; else not_ok "$1" "expected to match" "$2" got "$3"; fi
}

# assert_line NAME ERE TEXT: some line of TEXT matches the extended regex.
assert_line() {
	if grep -qE -- "$2" <<<"$3"; then ok "$1"; else not_ok "$1" "expected a line matching" "$2" got "$3"; fi
}

# assert_no_match NAME ERE GOT
assert_no_match() {
	if [[ ! $3 =~ $2 ]]; then ok "$1"; else not_ok "$1" "expected not to match" "$2" got "$3"; fi
}

# assert_contains NAME NEEDLE HAYSTACK
assert_contains() {
	if [[ $3 == *"$2"* ]]; then ok "$1"; else not_ok "$1" "expected to contain" "$2" got "$3"; fi
}

# assert_not_contains NAME NEEDLE HAYSTACK
assert_not_contains() {
	if [[ $3 != *"$2"* ]]; then ok "$1"; else not_ok "$1" "expected not to contain" "$2" got "$3"; fi
}

# assert_num NAME A OP B: numeric comparison, e.g. assert_num "p50 under 5 ms" "$p50" "<" 5
assert_num() {
	if ! is_num "$2" || ! is_num "$4"; then
		not_ok "$1" expected "a number $3 $4" got "'$2' $3 '$4'"
	elif num_cmp "$2" "$3" "$4"; then
		ok "$1"
	else
		not_ok "$1" expected "$3 $4" got "$2"
	fi
}

# assert_ok NAME CMD ARGS...: CMD exits 0.
assert_ok() {
	local name=$1
	shift
	capture "$@"
	if ((RC == 0)); then ok "$name"; else not_ok "$name" command "$*" "exit status" "$RC" stdout "$OUT" stderr "$ERR"; fi
}

# assert_fail NAME CMD ARGS...: CMD exits non-zero. OUT/ERR/RC are left for further checks.
assert_fail() {
	local name=$1
	shift
	capture "$@"
	if ((RC != 0)); then ok "$name"; else not_ok "$name" command "$*" "exit status" "0 (expected non-zero)" stdout "$OUT" stderr "$ERR"; fi
}

# assert_status NAME EXPECTED_STATUS CMD ARGS...
assert_status() {
	local name=$1 want=$2
	shift 2
	capture "$@"
	if ((RC == want)); then ok "$name"; else not_ok "$name" command "$*" "expected status" "$want" "got status" "$RC" stdout "$OUT" stderr "$ERR"; fi
}

# must NAME CMD ARGS...: a setup step: silent when CMD succeeds (OUT/ERR/RC are set), a
# `not ok` with the evidence when it fails. Returns 0 when CMD succeeded.
must() {
	local name=$1
	shift
	capture "$@"
	((RC == 0)) && return 0
	not_ok "$name" command "$*" "exit status" "$RC" stdout "$OUT" stderr "$ERR"
}

# captured_ok NAME: after `capture CMD`: silent when CMD exited 0, otherwise a `not ok` with
# the evidence. Returns 0 when it exited 0.
captured_ok() {
	((RC == 0)) && return 0
	not_ok "$1" "exit status" "$RC" stdout "$OUT" stderr "$ERR"
}

# assert_eventually NAME TIMEOUT_S CMD ARGS...: CMD succeeds within the timeout.
assert_eventually() {
	local name=$1 timeout=$2
	shift 2
	if wait_for "$timeout" "$@"; then
		ok "$name"
	else
		capture "$@"
		not_ok "$name" "still failing after ${timeout}s" "$*" "exit status" "$RC" stdout "$OUT" stderr "$ERR"
	fi
}

# eventually_eq NAME TIMEOUT_S EXPECTED CMD ARGS...: the stdout of CMD becomes EXPECTED
# within the timeout. Leaves the last output in GOT.
eventually_eq() {
	local name=$1 timeout=$2 want=$3
	shift 3
	local deadline
	deadline=$(($(now_ms) + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')))
	while :; do
		GOT=$("$@" 2>&1 </dev/null)
		[[ $GOT == "$want" ]] && { ok "$name"; return 0; }
		(($(now_ms) >= deadline)) && break
		sleep "$E2E_POLL"
	done
	not_ok "$name" expected "$want" "got (after ${timeout}s)" "$GOT" command "$*"
}

# ------------------------------------------------------------------------------------------
# processes started by a test

_e2e_starttime() { # PID -> start time in clock ticks (field 22 of /proc/PID/stat)
	local stat
	{ stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
	stat=${stat##*) }
	local -a f
	read -r -a f <<<"$stat"
	echo "${f[19]}"
}

# bg_register PID: remember a background process so that cleanup kills it.
bg_register() {
	local st
	st=$(_e2e_starttime "$1") || return 0
	echo "$1 $st" >>"$E2E_TMP/pids"
}

# bg_start OUTFILE CMD ARGS...: starts CMD in the background, stdout+stderr to OUTFILE.
# Sets BG_PID. Do not call it in $(...).
bg_start() {
	local out=$1
	shift
	"$@" >"$out" 2>&1 </dev/null &
	BG_PID=$!
	bg_register "$BG_PID"
}

# bg_wait PID TIMEOUT_S: waits for a background process; its exit status, or 124 after the
# timeout (it is then killed).
bg_wait() {
	if ! wait_for "$2" _e2e_gone "$1"; then
		kill -TERM "$1" 2>/dev/null
		sleep 0.2
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1" 2>/dev/null
}

_e2e_all_gone() { local p; for p in "$@"; do _e2e_gone "$p" || return 1; done; }
_e2e_gone() { ! kill -0 "$1" 2>/dev/null || [[ $(_e2e_proc_state "$1") == Z ]]; }
_e2e_proc_state() { local s; { s=$(<"/proc/$1/stat"); } 2>/dev/null && s=${s##*) } && echo "${s%% *}"; }

# bg_kill PID: stops a background process we started.
bg_kill() {
	kill -TERM "$1" 2>/dev/null || return 0
	wait_for 2 _e2e_gone "$1" || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

_e2e_kill_registered() { # kills every registered background process still alive
	[[ -f $E2E_TMP/pids ]] || return 0
	local pid st
	while read -r pid st; do
		[[ $(_e2e_starttime "$pid" 2>/dev/null) == "$st" ]] || continue
		kill -TERM "$pid" 2>/dev/null
	done <"$E2E_TMP/pids"
	sleep 0.1
	while read -r pid st; do
		[[ $(_e2e_starttime "$pid" 2>/dev/null) == "$st" ]] || continue
		kill -KILL "$pid" 2>/dev/null
	done <"$E2E_TMP/pids"
	: >"$E2E_TMP/pids"
}

# procs_for_dir DIR: PIDs of the processes that belong to the cluster in DIR: an argument is
# DIR or a path below it, or the environment has LITEFS_SIM_DIR=DIR (programs run by exec).
procs_for_dir() {
	local dir=$1 p pid a
	local -a args
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
		for a in "${args[@]}"; do
			if [[ $a == "$dir" || $a == "$dir/"* ]]; then
				echo "$pid"
				continue 2
			fi
		done
		mapfile -d '' -t args 2>/dev/null <"$p/environ" || continue
		for a in "${args[@]}"; do
			if [[ $a == "LITEFS_SIM_DIR=$dir" || $a == "LITEFS_SIM_DIR=$dir/" ]]; then
				echo "$pid"
				continue 2
			fi
		done
	done
}

# mounts_under DIR: mount points (from /proc/self/mountinfo) at or below DIR, deepest first.
mounts_under() {
	local dir=$1 _a _b _c _d mp _rest
	while read -r _a _b _c _d mp _rest; do
		mp=${mp//\\040/ }
		[[ $mp == "$dir" || $mp == "$dir/"* ]] && echo "$mp"
	done </proc/self/mountinfo | sort -r
}

# is_mounted PATH: something is mounted exactly at PATH.
is_mounted() { mounts_under "$1" | grep -qxF -- "$1"; }

# ------------------------------------------------------------------------------------------
# clusters

# new_dir NAME: a new empty directory in the temporary directory (absolute, no symlinks).
new_dir() {
	local d
	d=$(mktemp -d "$E2E_TMP/$1.XXXXXX") && realpath "$d"
}

# pick_prefix: a free loopback prefix 127.0.X (X in 100..250) on which nothing listens on
# the LiteFS HTTP port 20202 or the forwarder port 20208, so that a suite can run beside a
# demo or another suite. X is not reused within one run.
pick_prefix() {
	local i x listening
	for ((i = 0; i < 60; i++)); do
		x=$((100 + RANDOM % 151))
		grep -qx "$x" "$E2E_TMP/prefixes" 2>/dev/null && continue
		listening=$(ss -ltnH 2>/dev/null | awk '{ print $4 }')
		if [[ $listening =~ (^|$'\n')127\.0\.$x\.[0-9]+:(20202|20208)($|$'\n') ]]; then
			continue
		fi
		echo "$x" >>"$E2E_TMP/prefixes"
		echo "127.0.$x"
		return 0
	done
	echo "pick_prefix: no free 127.0.X prefix found" >&2
	return 1
}

# sim SUBCOMMAND DIR ARGS...: runs litefs-sim with a timeout. Sets OUT, ERR, RC.
sim() {
	capture timeout --foreground -k 2 "$E2E_SIM_TIMEOUT" "$LITEFS_SIM" "$@"
	[[ -n ${2:-} && -d $2 ]] && _e2e_note_conns "$2"
	return 0
}

# _e2e_note_conns DIR: remembers the FUSE connections (device minor numbers) of the mounts
# under DIR, to abort them at cleanup if their daemon died wedged.
_e2e_note_conns() {
	local dir=$1 _a _b dev _c mp _rest
	while read -r _a _b dev _c mp _rest; do
		mp=${mp//\\040/ }
		[[ $mp == "$dir/"* && $dev == 0:* ]] || continue
		grep -qxF "$dir ${dev#0:}" "$E2E_TMP/fuse-conns" 2>/dev/null || echo "$dir ${dev#0:}" >>"$E2E_TMP/fuse-conns"
	done </proc/self/mountinfo
}

# _e2e_release_wedged: a node daemon killed while a request on its own mount was out leaves
# a thread waiting forever (D state) and its FUSE connection alive even once the mount is
# detached; aborting the connection (fusectl, as root) lets it go. Only connections noted
# for our clusters that are no longer mounted anywhere else are aborted.
_e2e_release_wedged() {
	[[ -s $E2E_TMP/fuse-conns ]] || return 0
	local w wedged=0
	for w in /proc/[0-9]*/task/[0-9]*/wchan; do
		[[ $(<"$w") == request_wait_answer ]] 2>/dev/null && { wedged=1; break; }
	done
	((wedged)) || return 0
	local ctl=/sys/fs/fuse/connections
	if [[ -d $ctl && -z $(ls -A "$ctl" 2>/dev/null) && $(id -u) == 0 ]]; then
		mount -t fusectl fusectl "$ctl" 2>/dev/null && echo "$ctl" >"$E2E_TMP/fusectl-mounted"
	fi
	local dir id mp
	while read -r dir id; do
		[[ -d $ctl/$id ]] || continue
		mp=$(awk -v d="0:$id" '$3 == d { print $5 }' /proc/self/mountinfo)
		[[ -n $mp && $mp != "$dir/"* ]] && continue # the number now belongs to another mount
		if echo 1 >"$ctl/$id/abort" 2>/dev/null; then
			echo "# cleanup: aborted the FUSE connection $id left by $(basename "$dir") (a wedged daemon)"
		fi
	done <"$E2E_TMP/fuse-conns"
}

# sim_up DIR [UP OPTIONS...]: `litefs-sim up` on a free loopback prefix (unless --ip-prefix
# is given). Registers DIR for cleanup, remembers its prefix/ports/nodes, sets SIM_UP_MS
# (duration) and OUT/ERR/RC. On failure records a `not ok` with the evidence and returns 1.
sim_up() {
	local dir=$1
	shift
	local -a args=("$@")
	local prefix="" nodes=2 http=20202 fwd=20208 i
	for ((i = 0; i < ${#args[@]}; i++)); do
		case ${args[i]} in
		--ip-prefix) prefix=${args[i + 1]} ;;
		--nodes) nodes=${args[i + 1]} ;;
		--http-port) http=${args[i + 1]} ;;
		--fwd-port) fwd=${args[i + 1]} ;;
		esac
	done
	if [[ -z $prefix ]]; then
		prefix=$(pick_prefix) || { not_ok "cluster $dir comes up" reason "no free loopback prefix"; return 1; }
		args+=(--ip-prefix "$prefix")
	fi
	if [[ ! $prefix =~ ^127\. ]]; then
		not_ok "cluster $dir comes up" reason "refusing a non-loopback prefix $prefix"
		return 1
	fi
	E2E_PREFIX_OF[$dir]=$prefix
	E2E_NODES_OF[$dir]=$nodes
	E2E_HTTP_PORT_OF[$dir]=$http
	E2E_FWD_PORT_OF[$dir]=$fwd
	echo "$dir" >>"$E2E_TMP/clusters"
	if [[ -f $E2E_TMP/clusters.down ]]; then # up again after a down: clean it up again
		grep -vxF "$dir" "$E2E_TMP/clusters.down" >"$E2E_TMP/clusters.down.new"
		mv -f "$E2E_TMP/clusters.down.new" "$E2E_TMP/clusters.down"
	fi
	local t0
	t0=$(now_ms)
	sim up "$dir" "${args[@]}"
	SIM_UP_MS=$(($(now_ms) - t0))
	if ((RC != 0)); then
		not_ok "cluster comes up (litefs-sim up $(basename "$dir") ${args[*]})" \
			"exit status" "$RC" stdout "$OUT" stderr "$ERR"
		return 1
	fi
	_e2e_note_conns "$dir"
	echo "# up $(basename "$dir") ${args[*]}: ${SIM_UP_MS} ms"
	return 0
}

# sim_down DIR: `litefs-sim down DIR`. Sets OUT/ERR/RC; a failure is recorded as `not ok`.
sim_down() {
	local dir=$1
	sim down "$dir"
	if ((RC != 0)); then
		not_ok "cluster goes down (litefs-sim down $(basename "$dir"))" "exit status" "$RC" stdout "$OUT" stderr "$ERR"
		return 1
	fi
	echo "$dir" >>"$E2E_TMP/clusters.down"
	return 0
}

# cluster_cleanup DIR: whatever state the cluster is in, brings it down, kills the processes
# left for it, detaches its mounts. Used by the traps.
cluster_cleanup() {
	local dir=$1 pid mp
	[[ -d $dir ]] || return 0
	timeout --foreground -k 2 15 "$LITEFS_SIM" down "$dir" >/dev/null 2>&1 </dev/null
	local -a pids
	mapfile -t pids < <(procs_for_dir "$dir")
	if ((${#pids[@]})); then
		echo "# cleanup: killing ${#pids[@]} process(es) left for $(basename "$dir"): ${pids[*]}"
		kill -TERM "${pids[@]}" 2>/dev/null
		wait_for 2 _e2e_all_gone "${pids[@]}"
		kill -KILL "${pids[@]}" 2>/dev/null
	fi
	# A FUSE mount whose daemon died while one of its requests was out stays wedged (its
	# users, even the dying daemon, wait forever): a forced unmount aborts the connection,
	# then the lazy one detaches it.
	_e2e_note_conns "$dir"
	while read -r mp; do
		[[ -n $mp ]] || continue
		echo "# cleanup: detaching $mp"
		timeout -k 1 5 umount -f "$mp" 2>/dev/null
		is_mounted "$mp" || continue
		fusermount3 -u -z "$mp" 2>/dev/null || fusermount -u -z "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
	done < <(mounts_under "$dir")
	echo "$dir" >>"$E2E_TMP/clusters.down"
}

# Cleans up every registered cluster not brought down cleanly yet, then releases what a
# wedged daemon of any of them left.
_e2e_cleanup_clusters() {
	[[ -f $E2E_TMP/clusters ]] || return 0
	local dir
	while read -r dir; do
		grep -qxF "$dir" "$E2E_TMP/clusters.down" 2>/dev/null && continue
		cluster_cleanup "$dir"
	done < <(sort -u "$E2E_TMP/clusters")
	_e2e_release_wedged
}

# node_k NODE: "node3" or "3" -> 3
node_k() { echo "${1#node}"; }

# node_mnt DIR NODE: the node's mount directory.
node_mnt() { echo "$1/node$(node_k "$2")/mnt"; }

# node_addr DIR NODE: "127.0.X.K"
node_addr() { echo "${E2E_PREFIX_OF[$1]}.$(node_k "$2")"; }

# node_url DIR NODE [PATH]: "http://127.0.X.K:20202/PATH"
node_url() { echo "http://$(node_addr "$1" "$2"):${E2E_HTTP_PORT_OF[$1]}${3:-}"; }

# node_fwd_url DIR NODE: "tcp://127.0.X.K:20208", where the node's forwarder listens.
node_fwd_url() { echo "tcp://$(node_addr "$1" "$2"):${E2E_FWD_PORT_OF[$1]}"; }

# cluster_nodes DIR: node1 node2 ...
cluster_nodes() {
	local k
	for ((k = 1; k <= ${E2E_NODES_OF[$1]:-2}; k++)); do echo "node$k"; done
}

# sim_exec DIR NODE CMD ARGS...: `litefs-sim exec DIR NODE -- CMD ARGS...` (no stdin).
sim_exec() {
	local dir=$1 node=$2
	shift 2
	timeout --foreground -k 2 "$E2E_EXEC_TIMEOUT" "$LITEFS_SIM" exec "$dir" "node$(node_k "$node")" -- "$@" </dev/null
}

# node_sql DIR NODE DB SQL...: the sqlite3 CLI on that node, on DB of its mount, with a 5 s
# busy timeout. Prints what sqlite3 prints; its exit status.
node_sql() {
	local dir=$1 node=$2 db=$3
	shift 3
	sim_exec "$dir" "$node" sqlite3 -batch -bail -cmd ".timeout 5000" "$(node_mnt "$dir" "$node")/$db" "$@"
}

# node_path DIR NODE NAME: path of a file of the node's mount.
node_path() { echo "$(node_mnt "$1" "$2")/$3"; }

# node_file DIR NODE NAME: the content of a file of the node's mount (status 1 if unreadable).
node_file() { timeout -k 1 "$E2E_IO_TIMEOUT" cat "$(node_path "$@")"; }

# node_probe OP DIR NODE NAME: a file of the mount seen by fsprobe.py: OP is stat, open,
# bytes (python repr of the content, e.g. b'node1\n'), mode (e.g. 0444), size, create;
# prints an errno name (ENOENT, EACCES...) when the operation fails.
# HUNG when it got no answer within E2E_IO_TIMEOUT seconds.
node_probe() {
	timeout -k 1 "$E2E_IO_TIMEOUT" "$E2E_PY" "$E2E_DIR/sim/fsprobe.py" "$1" "$(node_path "$2" "$3" "$4")"
	local rc=$?
	((rc == 124 || rc == 137)) && echo "HUNG (no answer in ${E2E_IO_TIMEOUT}s)"
	return $rc
}

# node_ls DIR NODE: the names in the node's mount, on one line.
node_ls() {
	local out
	out=$(timeout -k 1 "$E2E_IO_TIMEOUT" ls -A "$(node_mnt "$1" "$2")")
	local rc=$?
	((rc == 124 || rc == 137)) && { echo "HUNG (no answer in ${E2E_IO_TIMEOUT}s)"; return 1; }
	echo "${out//$'\n'/ }"
}

# pos DIR NODE DB: the -pos line without its newline ("" if unreadable, "HUNG ..." when the
# read got no answer within E2E_IO_TIMEOUT seconds).
pos() {
	local out rc
	out=$(timeout -k 1 "$E2E_IO_TIMEOUT" head -c 64 "$(node_path "$1" "$2" "$3-pos")" 2>/dev/null)
	rc=$?
	((rc == 124 || rc == 137)) && { echo "HUNG (no answer in ${E2E_IO_TIMEOUT}s)"; return 1; }
	echo "${out%%$'\n'*}"
}

# pos_txid DIR NODE DB: the TXID of the node's -pos file, in decimal ("" if unreadable).
pos_txid() {
	local p
	p=$(pos "$@")
	[[ $p =~ ^([0-9a-f]{16})/[0-9a-f]{16}$ ]] || return 1
	echo $((16#${BASH_REMATCH[1]}))
}

# same_pos DB DIR NODE...: every listed node shows the same -pos line (and it is readable).
same_pos() {
	local db=$1 dir=$2 first="" n p
	shift 2
	for n in "$@"; do
		p=$(pos "$dir" "$n" "$db")
		[[ -n $p ]] || return 1
		[[ -z $first ]] && first=$p
		[[ $p == "$first" ]] || return 1
	done
}

# wait_same_pos DIR DB TIMEOUT_S NODE...: waits until the nodes show the same -pos; on
# timeout records a `not ok` with every node's -pos and returns 1.
wait_same_pos() {
	local dir=$1 db=$2 timeout=$3
	shift 3
	wait_for "$timeout" same_pos "$db" "$dir" "$@" && return 0
	local n ev=""
	for n in "$@"; do ev+="$n: $(pos "$dir" "$n" "$db")"$'\n'; done
	not_ok "$db replicated to $* within ${timeout}s" "-pos" "${ev%$'\n'}"
}

# http_get URL: body of a GET on a loopback URL (5 s timeout, no proxy); curl's status.
http_get() {
	[[ $1 =~ ^http://127\. ]] || { echo "http_get: not a loopback URL: $1" >&2; return 2; }
	curl -sS --noproxy '*' --max-time 5 "$1"
}

# ------------------------------------------------------------------------------------------
# event streams (GET /events), recorded by e2e/sim/events.py in the background:
#   ev_open VAR URL   subscribes, waits (5 s) for the first event; VAR = the recording's
#                     prefix P: P.lines (events as received), P.head (status line and
#                     headers), P.end (written when the stream ends: why)
#   ev_lines P        the events received so far
#   ev_count P ERE    how many events match
#   ev_wait P ERE N TIMEOUT_S   waits until N events match
#   ev_ended P        the server ended the stream
#   ev_close P        unsubscribes

ev_open() {
	local _ev_var=$1 _ev_url=$2 _ev_p
	[[ $_ev_url =~ ^http://127\. ]] || { not_ok "subscribe to $_ev_url" reason "not a loopback URL"; return 1; }
	_ev_p=$(mktemp -u "$E2E_TMP/events.XXXXXX")
	"$E2E_PY" "$E2E_DIR/sim/events.py" "$_ev_url" "$_ev_p" >"$_ev_p.log" 2>&1 </dev/null &
	echo $! >"$_ev_p.pid"
	bg_register $!
	printf -v "$_ev_var" '%s' "$_ev_p"
	if ! wait_for 5 test -s "$_ev_p.lines"; then
		not_ok "subscribe to $_ev_url: the first event arrives" \
			connected "$(if [[ -e $_ev_p.conn ]]; then echo "yes, request sent"; else echo no; fi)" \
			head "$(cat "$_ev_p.head" 2>/dev/null)" \
			end "$(cat "$_ev_p.end" 2>/dev/null)" log "$(cat "$_ev_p.log" 2>/dev/null)"
		return 1
	fi
}

ev_lines() { cat "$1.lines" 2>/dev/null; }
ev_count() { grep -cE -- "$2" "$1.lines" 2>/dev/null; }
_ev_has() { (($(ev_count "$1" "$2") >= $3)); }
ev_wait() { wait_for "$4" _ev_has "$1" "$2" "$3"; }
ev_ended() { [[ -e $1.end ]]; }
# ev_header P NAME: the value of a response header of the recorded stream.
ev_header() {
	local h k v
	while IFS= read -r h; do
		k=${h%%:*}
		v=${h#*:}
		[[ ${k,,} == "${2,,}" ]] && { echo "${v# }"; return 0; }
	done < <(tail -n +2 "$1.head" 2>/dev/null)
	return 1
}
# ev_txids P [DB]: the txIDs of the tx events received (of DB if given), in decimal, one a line.
ev_txids() {
	local h db=${2:-}
	db=${db//./\\.}
	grep -E "^\{\"type\":\"tx\",\"db\":\"${db:-[^\"]*}\"" "$1.lines" 2>/dev/null |
		grep -oE '"txID":"[0-9a-f]{16}"' | cut -d'"' -f4 |
		while read -r h; do echo $((16#$h)); done
}
ev_close() { [[ -f $1.pid ]] && bg_kill "$(<"$1.pid")"; }

# ------------------------------------------------------------------------------------------
# running a suite

# _e2e_sanitizer_reports MARKER: the files written since MARKER (under E2E_TMP, not inside
# a mount) that hold a sanitizer's report (looked for in sanitizer builds, E2E_SANITIZE): a forwarder or a stand-in that AddressSanitizer
# stopped shows up in a test only as a peer that went silent.
_e2e_sanitizer_reports() {
	find "$E2E_TMP" -xdev -type f -newer "$1" ! -name results -size -64M -print0 2>/dev/null |
		xargs -0 -r grep -l -a -E 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|: runtime error: ' 2>/dev/null
}

_e2e_test_exit() { # EXIT trap of a test process: its own cleanup
	local rc=$?
	_e2e_kill_registered
	_e2e_cleanup_clusters
	exit "$rc"
}

_e2e_run_one() { # in the test process: run one test "func args..."
	local -a spec
	read -r -a spec <<<"$1"
	if ((${#spec[@]} > 1)); then
		local params
		params=$(printf '%s,' "${spec[@]:1}")
		E2E_CURRENT="${spec[0]#test_}[${params%,}]"
	else
		E2E_CURRENT=${spec[0]#test_}
	fi
	trap _e2e_test_exit EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	if ! declare -F "${spec[0]}" >/dev/null; then
		not_ok "test function exists" got "no function ${spec[0]}"
		exit 0
	fi
	"${spec[@]}"
	exit 0
}

_e2e_results() { # prints "PASSED FAILED" from the results file
	local np=0 nf=0
	if [[ -f $E2E_TMP/results ]]; then
		np=$(grep -cx ok "$E2E_TMP/results")
		nf=$(grep -cx "not ok" "$E2E_TMP/results")
	fi
	echo "$np $nf"
}

_e2e_final_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n ${E2E_CHILD:-} ]] && kill -TERM "$E2E_CHILD" 2>/dev/null && wait "$E2E_CHILD" 2>/dev/null
	if [[ -n ${E2E_TMP:-} && -d $E2E_TMP ]]; then
		_e2e_kill_registered
		_e2e_cleanup_clusters
		[[ -f $E2E_TMP/fusectl-mounted ]] && umount "$(<"$E2E_TMP/fusectl-mounted")" 2>/dev/null
		local left
		left=$(mounts_under "$E2E_TMP")
		if [[ ${E2E_KEEP:-0} == 1 ]]; then
			echo "# kept $E2E_TMP"
		elif [[ -n $left ]]; then
			echo "# not removing $E2E_TMP: still mounted: $left" >&2
		else
			rm -rf --one-file-system "$E2E_TMP"
		fi
	fi
	exit "$rc"
}

_e2e_summary() {
	local p f line
	read -r p f < <(_e2e_results)
	line="$p passed, $f failed"
	[[ -n ${E2E_SUMMARY_FILE:-} ]] && echo "$line" >"$E2E_SUMMARY_FILE"
	echo "$line"
	((f == 0))
}

# e2e_main [PATTERN...]: runs the suite's tests (E2E_TESTS, or every test_* function) whose
# name contains one of the patterns (all without patterns).
e2e_main() {
	if [[ ${1:-} == --e2e-one ]]; then
		_e2e_run_one "$2" # exits
	fi
	E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/litefs-fwd-e2e.XXXXXX") || exit 2
	E2E_TMP=$(realpath "$E2E_TMP")
	export E2E_TMP
	# the interposer's shared request id sequence, in the suite's directory rather than
	# /dev/shm, so that nothing outlives the suite
	export LITEFS_FWD_ID_FILE="$E2E_TMP/request-ids"
	: >"$E2E_TMP/results"
	trap _e2e_final_cleanup EXIT
	trap 'echo "# interrupted" >&2; exit 130' INT
	trap 'echo "# terminated" >&2; exit 143' TERM

	local -a tests=()
	if declare -p E2E_TESTS >/dev/null 2>&1 && ((${#E2E_TESTS[@]})); then
		tests=("${E2E_TESTS[@]}")
	else
		mapfile -t tests < <(declare -F | awk '$3 ~ /^test_/ { print $3 }')
	fi
	if (($#)); then
		local -a picked=()
		local t pat
		for t in "${tests[@]}"; do
			for pat in "$@"; do
				[[ $t == *"$pat"* ]] && { picked+=("$t"); break; }
			done
		done
		tests=("${picked[@]}")
	fi

	echo "# $(basename "$E2E_SUITE"): ${#tests[@]} test(s), litefs-sim: $LITEFS_SIM"
	if [[ ! -x $LITEFS_SIM ]]; then
		not_ok "litefs-sim is built" expected "an executable $LITEFS_SIM" got "$(ls -l "$LITEFS_SIM" 2>&1)"
		_e2e_summary
		exit 1
	fi

	local t before after rc t0
	for t in "${tests[@]}"; do
		echo "# --- $t"
		before=$(wc -l <"$E2E_TMP/results")
		: >"$E2E_TMP/test-began"
		t0=$(now_ms)
		timeout -k 5 "$E2E_TEST_TIMEOUT" bash "$E2E_SUITE" --e2e-one "$t" &
		E2E_CHILD=$!
		# A test process blocked in a wedged FUSE mount cannot be killed: after its timeout,
		# clean its clusters up (that aborts the mounts) to let it go.
		local deadline=$((t0 + (E2E_TEST_TIMEOUT + 10) * 1000))
		while ! _e2e_gone "$E2E_CHILD"; do
			if ((deadline && $(now_ms) > deadline)); then
				echo "# $t: the test process does not die; cleaning its clusters up to release it"
				_e2e_cleanup_clusters
				deadline=0
			fi
			sleep 0.1
		done
		wait "$E2E_CHILD"
		rc=$?
		E2E_CHILD=""
		_e2e_kill_registered
		_e2e_cleanup_clusters
		: >"$E2E_TMP/fuse-conns"
		after=$(wc -l <"$E2E_TMP/results")
		if ((rc == 124 || rc == 137)); then
			not_ok "$t: finishes within ${E2E_TEST_TIMEOUT}s" got "killed after $(($(now_ms) - t0)) ms"
		elif ((rc != 0)); then
			not_ok "$t: runs to its end" got "the test process exited with status $rc"
		elif ((after == before)); then
			not_ok "$t: checks something" got "no assertion was made"
		fi
		local -a reports=()
		[[ -n ${E2E_SANITIZE:-} ]] && mapfile -t reports < <(_e2e_sanitizer_reports "$E2E_TMP/test-began")
		if ((${#reports[@]})); then
			not_ok "$t: no sanitizer report in what its processes wrote" \
				files "$(printf '%s\n' "${reports[@]}")" \
				report "$(grep -h -a -m1 -A12 -E 'ERROR: |WARNING: ThreadSanitizer|runtime error: ' "${reports[@]}" | head -n 40)"
		fi
		echo "# --- $t: $(($(now_ms) - t0)) ms"
	done
	_e2e_summary
	exit $?
}
