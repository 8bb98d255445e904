# shellcheck shell=bash
# Shared by e2e/status_test.sh and e2e/doctor_test.sh, sourced after lib.sh and
# fwd_lib.sh: a stand-in cluster whose primary runs a forwarder started here (so that a
# test can leave it out or stop it), litefs-fwd commands run on a node, and JSON read back.

# fwd_on DIR NODE [ENV...] -- COMMAND [ARGS...]: `litefs-fwd COMMAND ARGS` run on NODE with
# the environment ENV added (env syntax: NAME=VALUE, -u NAME). Sets OUT, ERR, RC.
fwd_on() {
	local dir=$1 node=$2
	shift 2
	local -a envs=()
	while (($#)) && [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	[[ ${1:-} == -- ]] && shift
	capture sim_exec "$dir" "$node" env "${envs[@]}" "$FWD_BIN" "$@"
}

# fwd_cmd_on COMMAND DIR NODE [ENV...] -- [ARGS...]: fwd_on with COMMAND before ARGS.
fwd_cmd_on() {
	local cmd=$1 dir=$2 node=$3
	shift 3
	local -a envs=()
	while (($#)) && [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	[[ ${1:-} == -- ]] && shift
	fwd_on "$dir" "$node" "${envs[@]}" -- "$cmd" "$@"
}

# j EXPR: EXPR evaluated on the JSON document in OUT (see json_get).
j() { json_get "$1" <<<"$OUT"; }

# start_forwarder DIR NODE [ENV...]: NODE's forwarder in the background with ENV added;
# waits until it listens. Sets FWD_PID.
start_forwarder() {
	local dir=$1 node=$2
	shift 2
	bg_start "$dir/$node-forwarder.log" env "$@" "$LITEFS_SIM" exec "$dir" "$node" -- \
		sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$FWD_BIN"
	FWD_PID=$BG_PID
	wait_for 5 _fwd_listening_on "$dir" "$node" && return 0
	not_ok "the forwarder of $node listens" log "$(cat "$dir/$node-forwarder.log")"
}

# stop_forwarder: stops the forwarder start_forwarder started last (SIGTERM: it answers
# what it is executing, then exits).
stop_forwarder() { bg_kill "$FWD_PID"; }

_fwd_listening_on() { ss -ltn | grep -qF "$(node_addr "$1" "$2"):${E2E_FWD_PORT_OF[$1]} "; }

# primary_cluster VAR NAME [FORWARDER ENV...]: two nodes with app.db holding a table t and
# 3 transactions of the primary, replicated, and the primary's forwarder running and
# recorded in the tracking table.
primary_cluster() {
	local -n _cd=$1
	_cd=$(new_dir "$2")
	shift 2
	sim_up "$_cd" --db app.db || return 1
	start_forwarder "$_cd" node1 "$@" || return 1
	wait_for 5 grep -qF "tracking: app.db names node1 " "$_cd/node1-forwarder.log" || {
		not_ok "the primary's forwarder records itself in app.db" \
			log "$(cat "$_cd/node1-forwarder.log")"
		return 1
	}
	must "writes on the primary" node_sql "$_cd" node1 app.db \
		"CREATE TABLE t(x); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);" || return 1
	wait_same_pos "$_cd" app.db 5 node1 node2
}

# http_post URL: a POST to a loopback URL (the stand-in's own /sim API).
http_post() {
	[[ $1 =~ ^http://127\. ]] || { echo "http_post: not a loopback URL: $1" >&2; return 2; }
	curl -sS --noproxy '*' --max-time 10 -X POST "$1"
}
