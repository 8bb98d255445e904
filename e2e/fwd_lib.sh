#!/usr/bin/env bash
# Helpers of the forwarding suites, sourced after lib.sh: a stand-in cluster with a
# forwarder on every node, and programs run on a node with the interposer preloaded.

FWD_BIN=${LITEFS_FWD:-$E2E_ROOT/build/litefs-fwd}
FWD_LIB=${LITEFS_FWD_LIB:-$E2E_ROOT/build/liblitefs_fwd.so}
# the C programs of e2e/progs/, built by make
E2E_PROGS=${E2E_PROGS_DIR:-$E2E_ROOT/build/e2e}

# Environment of the forwarders fwd_cluster starts (e.g. LITEFS_FWD_SECRET_FILE=...).
FWD_SERVER_ENV=()

# fwd_cluster VAR NAME [UP OPTIONS]: a cluster with a forwarder on every node.
fwd_cluster() {
	local -n _dir=$1
	_dir=$(new_dir "$2")
	shift 2
	sim_up "$_dir" "$@" || return 1
	local n
	for n in $(cluster_nodes "$_dir"); do
		bg_start "$_dir/$n-forwarder.log" env "${FWD_SERVER_ENV[@]}" "$LITEFS_SIM" exec "$_dir" "$n" -- \
			sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$FWD_BIN"
	done
	wait_for 5 _fwd_listening "$_dir" || {
		not_ok "forwarders listen" log "$(cat "$_dir"/*-forwarder.log)"
		return 1
	}
	# The primary's forwarder records itself in each database (the tracking table), in a
	# transaction of its own: the tests begin once that is done, so that none of their
	# writes meets it.
	local a prev="" db
	for a in "$@"; do
		if [[ $prev == --db ]]; then
			for db in ${a//,/ }; do
				wait_for 5 grep -qF "tracking: $db names node1 " "$_dir/node1-forwarder.log" || {
					not_ok "the primary's forwarder records itself in $db" \
						log "$(cat "$_dir/node1-forwarder.log")"
					return 1
				}
			done
		fi
		prev=$a
	done
}

_fwd_listening() {
	local n
	for n in $(cluster_nodes "$1"); do
		ss -ltn | grep -qF "$(node_addr "$1" "$n"):${E2E_FWD_PORT_OF[$1]} " || return 1
	done
}

# The interposer as LD_PRELOAD; built with a sanitizer, its runtime must come first (and the
# host programs' own leaks at exit are not ours to report).
FWD_PRELOAD=$FWD_LIB
FWD_ENV=()
case ${E2E_SANITIZE:-} in
*undefined*) FWD_PRELOAD="$(cc -print-file-name=libubsan.so):$FWD_PRELOAD" ;;
esac
case ${E2E_SANITIZE:-} in
*address*) # the ASan runtime first of all
	FWD_PRELOAD="$(cc -print-file-name=libasan.so):$FWD_PRELOAD"
	FWD_ENV=(ASAN_OPTIONS=detect_leaks=0)
	;;
esac

# The environment `litefs-fwd run` is started with. Built with a sanitizer, every program
# the interposer is loaded into needs the sanitizer's runtime preloaded as well: it is the
# LD_PRELOAD run is started with (kept after the interposer, which run puts first), and its
# check that it comes first is turned off; the host programs' own leaks at exit are not
# ours to report.
FWD_RUN_BASE_PRELOAD=${FWD_PRELOAD%"$FWD_LIB"}
FWD_RUN_BASE_PRELOAD=${FWD_RUN_BASE_PRELOAD%:}
FWD_RUN_ENV=()
[[ -n $FWD_RUN_BASE_PRELOAD ]] && FWD_RUN_ENV+=("LD_PRELOAD=$FWD_RUN_BASE_PRELOAD")
case ${E2E_SANITIZE:-} in
*address*) FWD_RUN_ENV+=(ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0) ;;
esac

# on DIR NODE CMD...: CMD on NODE with the interposer preloaded.
on() {
	local dir=$1 node=$2
	shift 2
	sim_exec "$dir" "$node" env "${FWD_ENV[@]}" LD_PRELOAD="$FWD_PRELOAD" "$@"
}

# sql_on DIR NODE DB SQL: the sqlite3 shell on NODE (preloaded) on DB of its mount.
sql_on() {
	local dir=$1 node=$2 db=$3
	shift 3
	on "$dir" "$node" sqlite3 -batch "$(node_mnt "$dir" "$node")/$db" "$@"
}

# _fwd_down DIR NODE: NODE's forwarder does not listen.
_fwd_down() { ! ss -ltn | grep -qF "$(node_addr "$1" "$2"):${E2E_FWD_PORT_OF[$1]} "; }
