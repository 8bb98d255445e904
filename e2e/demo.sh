#!/usr/bin/env bash
# The demo: a two-node stand-in LiteFS cluster with a forwarder on each node. The unmodified
# sqlite3 shell on the replica creates a table, inserts rows and reads them back through
# liblitefs_fwd.so; the rows are on the primary; the same shell on the replica without the
# interposer fails with LiteFS's read-only error.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sim="$top/build/litefs-sim"
fwd="$top/build/litefs-fwd"
lib="$top/build/liblitefs_fwd.so"
dir=$(mktemp -d "${TMPDIR:-/tmp}/litefs-fwd-demo.XXXXXX")
# the interposer's shared request id sequence, here rather than in /dev/shm
export LITEFS_FWD_ID_FILE="$dir/request-ids"
prefix="127.0.$((RANDOM % 100 + 20))"
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$sim" down "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# on NODE 'COMMAND': runs COMMAND in a shell "on" NODE (with that node's LITEFS_FWD_* set).
on() { local node=$1; shift; printf '%s$ %s\n' "$node" "$*"; "$sim" exec "$dir" "$node" -- sh -c "$* 2>&1"; }

step "A two-node LiteFS stand-in cluster: node1 primary, node2 replica"
"$sim" up "$dir" --nodes 2 --ip-prefix "$prefix"

step "A forwarder on each node (only the primary's executes)"
for n in node1 node2; do
	"$sim" exec "$dir" "$n" -- sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$fwd" \
		>"$dir/$n-forwarder.log" 2>&1 &
	pids+=($!)
done
for _ in $(seq 50); do
	ss -ltn | grep -q "$prefix.1:20208 " && ss -ltn | grep -q "$prefix.2:20208 " && break
	sleep 0.1
done
sed 's/^/  /' "$dir/node1-forwarder.log"

step "The unmodified sqlite3 shell on the REPLICA, with the interposer preloaded"
on node2 'LD_PRELOAD='"$lib"' sqlite3 "$LITEFS_FWD_MOUNT/app.db" "CREATE TABLE greetings(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO greetings(text) VALUES (\"hello\"), (\"written on the replica\"); INSERT INTO greetings(text) VALUES (\"and one more\") RETURNING id; SELECT * FROM greetings;"'

step "A transaction on the REPLICA: it runs on the primary from its first write, and sees its own rows"
on node2 'LD_PRELOAD='"$lib"' sqlite3 "$LITEFS_FWD_MOUNT/app.db" "BEGIN; INSERT INTO greetings(text) VALUES (\"in a transaction\"); SELECT count(*) AS rows_seen_inside FROM greetings; COMMIT;"'

step "The rows are on the primary (written there, replicated back by LiteFS)"
on node1 'sqlite3 "$LITEFS_FWD_MOUNT/app.db" "SELECT * FROM greetings;"'
on node2 'cat "$LITEFS_FWD_MOUNT/.primary" "$LITEFS_FWD_MOUNT/app.db-pos"'
on node1 'cat "$LITEFS_FWD_MOUNT/app.db-pos"'

step "The same shell on the replica WITHOUT the interposer: LiteFS refuses the write"
if on node2 'sqlite3 "$LITEFS_FWD_MOUNT/app.db" "INSERT INTO greetings(text) VALUES (\"no interposer\");"'; then
	echo "unexpected: the replica accepted a write without the interposer" >&2
	exit 1
fi

step "Cluster status"
"$sim" status "$dir"

step "Done: forwarders stopped, the cluster brought down and its directory removed"
