#!/usr/bin/env bash
# End-to-end: the authenticated channel. Forwarders that hold the cluster's secret execute
# only what programs holding the same secret send; a program without it, or with another,
# gets SQLITE_AUTH at once and writes nothing; the secret never shows in logs or in the
# process list; a forwarder refuses to serve beyond loopback without a secret.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

SECRET="correct horse battery staple, 42"

# secret_cluster VAR NAME SCHEMA: a two-node cluster with app.db whose forwarders hold the
# cluster's secret, from the file SECRET_FILE (set here), with SCHEMA created on the primary
# and replicated.
secret_cluster() {
	local -n _sd=$1
	local rc
	SECRET_FILE=$(mktemp "$E2E_TMP/secret.XXXXXX") || return 1
	printf '%s\n' "$SECRET" >"$SECRET_FILE"
	FWD_SERVER_ENV=(LITEFS_FWD_SECRET_FILE="$SECRET_FILE")
	fwd_cluster "$1" "$2" --db app.db
	rc=$?
	FWD_SERVER_ENV=()
	((rc == 0)) || return 1
	must "schema" node_sql "$_sd" node1 app.db "$3" || return 1
	wait_same_pos "$_sd" app.db 5 node1 node2
}

# rows DIR: the keys written on the primary, in order.
rows() { node_sql "$1" node1 app.db "SELECT group_concat(key, ' ') FROM (SELECT key FROM k ORDER BY key);"; }

test_authenticated_channel() {
	local d
	secret_cluster d auth "CREATE TABLE k(key TEXT);" || return
	assert_contains "the forwarders authenticate requests" "requests authenticated" \
		"$(cat "$d/node1-forwarder.log")"

	capture on "$d" node2 env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" sqlite3 -batch \
		"$(node_mnt "$d" node2)/app.db" "INSERT INTO k VALUES ('with-secret');"
	assert_eq "a program holding the secret (file) writes through the forwarder" 0 "$RC" ||
		evidence stderr "$ERR"
	capture on "$d" node2 env LITEFS_FWD_SECRET="$SECRET" "$E2E_PY" -c '
import os, sqlite3
c = sqlite3.connect(os.environ["LITEFS_FWD_MOUNT"] + "/app.db", isolation_level=None)
c.execute("INSERT INTO k VALUES (?)", ("python-with-secret",))
print(c.execute("SELECT count(*) FROM k").fetchone()[0])
'
	assert_eq "so does python, with the secret in the environment (and reads its write)" "2" "$OUT" ||
		evidence stderr "$ERR"

	local t0 ms
	t0=$(now_ms)
	capture on "$d" node2 sqlite3 -batch "$(node_mnt "$d" node2)/app.db" \
		"INSERT INTO k VALUES ('no-secret');"
	ms=$(($(now_ms) - t0))
	assert_ne "a program without the secret cannot write" 0 "$RC"
	assert_contains "it is told so (SQLITE_AUTH, nothing executed)" \
		"not authenticated (no secret on the client?); nothing was executed (23)" "$ERR"
	assert_num "at once, not after the forwarding timeout (ms)" "$ms" "<" 3000
	capture on "$d" node2 env LITEFS_FWD_SECRET="another secret, 32 bytes long.." sqlite3 -batch \
		"$(node_mnt "$d" node2)/app.db" "INSERT INTO k VALUES ('wrong-secret');"
	assert_ne "nor can one with another secret" 0 "$RC"
	assert_contains "and is told so" "nothing was executed (23)" "$ERR"
	capture on "$d" node2 env LITEFS_FWD_SECRET="short" sqlite3 -batch \
		"$(node_mnt "$d" node2)/app.db" "INSERT INTO k VALUES ('short-secret');"
	assert_ne "a secret too short to be used sends nothing" 0 "$RC"
	assert_contains "and says why" "cannot be used; nothing was sent (23)" "$ERR"
	assert_eq "only the authenticated writes are on the primary" "python-with-secret with-secret" \
		"$(rows "$d")"
	assert_contains "the forwarder logs the refusals" "refused, nothing executed" \
		"$(cat "$d/node1-forwarder.log")"

	capture on "$d" node2 env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" sqlite3 -batch \
		"$(node_mnt "$d" node2)/app.db" "INSERT INTO k VALUES ('after');"
	assert_eq "after the refusals, a program with the secret is still served" 0 "$RC" ||
		evidence stderr "$ERR"
	assert_not_contains "the secret is in no forwarder log" "$SECRET" "$(cat "$d"/*-forwarder.log)"
	assert_not_contains "nor in the process list" "$SECRET" "$(ps -eo args)"
}

# The forwarder refuses to listen beyond loopback without a secret (checked before it binds
# anything), and says how to fix it.
test_no_secret_beyond_loopback() {
	local d
	d=$(new_dir noexpose) || return
	capture env -u LITEFS_FWD_SECRET -u LITEFS_FWD_SECRET_FILE "$FWD_BIN" forwarder \
		--listen tcp://0.0.0.0:20297 --mount "$d" --events-url ""
	assert_eq "refused (exit status 2)" 2 "$RC"
	assert_contains "with the reason and the fixes" "without a secret" "$ERR"
	assert_contains "naming --insecure" "--insecure" "$ERR"
	capture env LITEFS_FWD_SECRET="Zq7-kX2" "$FWD_BIN" forwarder --listen tcp://127.0.0.1:20297 \
		--mount "$d" --events-url ""
	assert_eq "a secret too short: refused too" 2 "$RC"
	assert_contains "saying why" "16 to 1024 bytes" "$ERR"
	assert_not_contains "without showing it" "Zq7-kX2" "$ERR"
}

# rss_kb PID: resident memory of PID in KiB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# A thousand idle connections (half of them past the SP handshake), a client that sends
# half a message and stalls, and junk on 23 more connections (random bytes, random
# messages, a message announcing 2^40 bytes, a truncated one): the forwarder executes
# nothing of it, stays up, costs little memory for the idle ones, and serves a program
# holding the secret at once all along.
test_hostile_peers() {
	local d
	ulimit -n 4096 || { not_ok "raise the descriptor limit"; return; }
	secret_cluster d hostile "CREATE TABLE k(key TEXT);" || return
	local addr port pid before after
	addr=$(node_addr "$d" node1) port=${E2E_FWD_PORT_OF[$d]}
	pid=$(pgrep -f "$FWD_BIN forwarder --listen tcp://$addr:$port" | head -n 1)
	[[ -n $pid ]] || { not_ok "the primary's forwarder runs"; return; }
	before=$(rss_kb "$pid")

	mkfifo "$d/hold"
	"$E2E_PY" "$E2E_ROOT/e2e/fwd/hostile.py" idle "$addr" "$port" 1000 <"$d/hold" \
		>"$d/idle.out" 2>&1 &
	local idle=$!
	bg_register "$idle"
	"$E2E_PY" "$E2E_ROOT/e2e/fwd/hostile.py" stall "$addr" "$port" <"$d/hold" \
		>"$d/stall.out" 2>&1 &
	local stall=$!
	bg_register "$stall"
	exec 7>"$d/hold"
	wait_for 30 grep -q '"open": 1000' "$d/idle.out"
	assert_eq "a thousand idle connections are open" 0 "$?" || evidence out "$(cat "$d/idle.out")"
	wait_for 10 grep -q stalled "$d/stall.out"
	assert_eq "a client stalls in the middle of a message" 0 "$?" ||
		evidence out "$(cat "$d/stall.out")"
	capture "$E2E_PY" "$E2E_ROOT/e2e/fwd/hostile.py" junk "$addr" "$port" 7
	assert_match "junk sent on 23 connections" '"sent": 23' "$OUT" || evidence stderr "$ERR"

	local t0 ms
	t0=$(now_ms)
	capture on "$d" node2 env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" sqlite3 -batch \
		"$(node_mnt "$d" node2)/app.db" "INSERT INTO k VALUES ('served');"
	ms=$(($(now_ms) - t0))
	assert_eq "meanwhile a program with the secret writes" 0 "$RC" || evidence stderr "$ERR"
	assert_num "at once (ms)" "$ms" "<" 2000
	after=$(rss_kb "$pid")
	echo "# forwarder resident memory: $before KiB before, $after KiB with 1000 idle connections and a stalled one"
	assert_num "the idle connections cost little (KiB added)" "$((after - before))" "<" 16384
	assert_ok "the forwarder is still running" kill -0 "$pid"
	exec 7>&-
	wait "$idle" "$stall" 2>/dev/null
	assert_eq "nothing but the program's write was executed" "served" \
		"$(node_sql "$d" node1 app.db "SELECT group_concat(key, ' ') FROM k;")"
}

# Valgrind's memcheck on the sqlite3 shell forwarding through the interposer (autocommit
# writes, a transaction on the primary, reads): no invalid access, no use of uninitialised
# memory, no memory definitely lost. Run by the build without sanitizers (the two do not
# mix).
test_memcheck_sqlite3_shell() {
	local d
	secret_cluster d memcheck "CREATE TABLE t(x);" || return
	capture on "$d" node2 env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" valgrind -q \
		--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		sqlite3 -batch "$(node_mnt "$d" node2)/app.db" \
		"INSERT INTO t VALUES (1); BEGIN; INSERT INTO t VALUES (2); INSERT INTO t SELECT x + 10 FROM t; COMMIT; SELECT count(*), sum(x) FROM t;"
	assert_eq "memcheck finds nothing (exit status)" 0 "$RC" || evidence stderr "$ERR"
	assert_eq "and the shell's writes were forwarded and read back" "4|26" "$OUT"
	assert_eq "no memcheck report" "" "$ERR"
}

E2E_TESTS=(
	test_authenticated_channel
	test_no_secret_beyond_loopback
	test_hostile_peers
)
if [[ -z ${E2E_SANITIZE:-} ]]; then
	E2E_TESTS+=(test_memcheck_sqlite3_shell)
fi
e2e_main "$@"
