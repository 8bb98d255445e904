#!/usr/bin/env bash
# The demo: a two-node stand-in LiteFS cluster, a database written on the primary and read
# on the replica, and the replica refusing a write exactly as LiteFS does.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sim="$top/build/litefs-sim"
dir=$(mktemp -d "${TMPDIR:-/tmp}/litefs-fwd-demo.XXXXXX")
prefix="127.0.$((RANDOM % 100 + 20))"

cleanup() {
	"$sim" down "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { local node=$1; shift; printf '%s$ %s\n' "$node" "$*"; "$sim" exec "$dir" "$node" -- sh -c "$* 2>&1"; }

step "A two-node LiteFS stand-in cluster (node1 primary, node2 replica)"
"$sim" up "$dir" --nodes 2 --ip-prefix "$prefix"

step "The sqlite3 shell writes on the primary"
on node1 'sqlite3 "$LITEFS_FWD_MOUNT/app.db" "CREATE TABLE greetings(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO greetings(text) VALUES (\"hello\"), (\"from the primary\");"'
on node1 'cat "$LITEFS_FWD_MOUNT/app.db-pos"'

step "The replica has the rows a moment later, and LiteFS's files say where it stands"
sleep 0.2
on node2 'sqlite3 "$LITEFS_FWD_MOUNT/app.db" "SELECT * FROM greetings;"'
on node2 'cat "$LITEFS_FWD_MOUNT/.primary" "$LITEFS_FWD_MOUNT/app.db-pos" "$LITEFS_FWD_MOUNT/.lag"'

step "A write on the replica fails as on LiteFS (this is what litefs-fwd will forward)"
if on node2 'sqlite3 "$LITEFS_FWD_MOUNT/app.db" "INSERT INTO greetings(text) VALUES (\"from the replica\");"'; then
	echo "unexpected: the replica accepted a write" >&2
	exit 1
fi

step "Cluster status"
"$sim" status "$dir"

step "Done: the cluster is brought down and its directory removed"
