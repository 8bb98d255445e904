#!/usr/bin/env bash
# Prints the forwarding figures, each measured side by side in this run (ratios carry the
# verdict: the machines are shared and noisy). Run by `make bench`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sim="$top/build/litefs-sim" fwd="$top/build/litefs-fwd" lib="$top/build/liblitefs_fwd.so"
bench="$top/build/bench"
dir=$(mktemp -d "${TMPDIR:-/tmp}/litefs-fwd-bench.XXXXXX")
prefix="127.0.$((RANDOM % 50 + 200))"
reads=${BENCH_READS:-15000} read_rounds=${BENCH_READ_ROUNDS:-31}
writes=${BENCH_WRITES:-2000} rounds=${BENCH_ROUNDS:-7} txn_rows=${BENCH_TXN_ROWS:-1000}
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$sim" down "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$sim" up "$dir" --nodes 2 --ip-prefix "$prefix" --journal wal --db bench.db >/dev/null
for n in node1 node2; do
	"$sim" exec "$dir" "$n" -- sh -c 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$fwd" \
		>"$dir/$n-forwarder.log" 2>&1 &
	pids+=($!)
done
# A second forwarder on the primary, without the durable record of requests, to show what
# exactly-once costs.
"$sim" exec "$dir" node1 -- sh -c 'exec "$0" forwarder --listen "tcp://$1:20209" --request-record off' \
	"$fwd" "$prefix.1" >"$dir/node1-forwarder-norecord.log" 2>&1 &
pids+=($!)
sleep 0.5
m1="$dir/node1/mnt" m2="$dir/node2/mnt" plain="$dir/plain"
mkdir -p "$plain"
setup="PRAGMA journal_mode=WAL; CREATE TABLE kv(k INTEGER PRIMARY KEY, v); WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM s WHERE i < 999) INSERT INTO kv SELECT i, i FROM s; CREATE TABLE w(id INTEGER PRIMARY KEY, v);"
sqlite3 "$plain/bench.db" "$setup" >/dev/null
sqlite3 "$m1/bench.db" "$setup" >/dev/null
sleep 0.5

on() { local n=$1; shift; "$sim" exec "$dir" "$n" -- "$@"; }

# Reads: each round runs the loop without and with the preload back to back (in turn
# first), and its ratio is taken; the median round's figures are shown.
rd() { "$@" | awk '{print $2}'; }
ra=() rr=()
for ((i = 0; i < read_rounds; i++)); do
	if ((i % 2)); then
		a=$(rd env LITEFS_FWD_MOUNT=/nonexistent LD_PRELOAD="$lib" "$bench" reads "$plain/bench.db" "$reads")
		p=$(rd env LITEFS_FWD_MOUNT=/nonexistent "$bench" reads "$plain/bench.db" "$reads")
		r=$(rd on node2 env LD_PRELOAD="$lib" "$bench" reads "$m2/bench.db" "$reads")
		q=$(rd on node2 "$bench" reads "$m2/bench.db" "$reads")
	else
		p=$(rd env LITEFS_FWD_MOUNT=/nonexistent "$bench" reads "$plain/bench.db" "$reads")
		a=$(rd env LITEFS_FWD_MOUNT=/nonexistent LD_PRELOAD="$lib" "$bench" reads "$plain/bench.db" "$reads")
		q=$(rd on node2 "$bench" reads "$m2/bench.db" "$reads")
		r=$(rd on node2 env LD_PRELOAD="$lib" "$bench" reads "$m2/bench.db" "$reads")
	fi
	ra+=("$(echo "$a / $p" | bc -l) $p $a")
	rr+=("$(echo "$r / $q" | bc -l) $q $r")
done
median_row() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
read -r ratio_a p a < <(median_row "${ra[@]}")
read -r ratio_r rp rr < <(median_row "${rr[@]}")

# Writes: one process on the replica alternates a local INSERT on the primary's database
# (through node1's mount, outside the replica's: not forwarded), a forwarded INSERT, and a
# bare nanomsg round trip, so that all three see the same load. Per round, the forwarded p50
# against local p50 + 1.3 round trips; the median round is shown.
rows=()
for ((i = 0; i < rounds; i++)); do
	read -r _ lw50 lw99 fw50 fw99 rt50 rt99 < <(on node2 env LD_PRELOAD="$lib" "$bench" side \
		"$m1/bench.db" "$m2/bench.db" "$writes")
	ratio=$(echo "$fw50 / ($lw50 + 1.3 * $rt50)" | bc -l)
	rows+=("$ratio $lw50 $lw99 $fw50 $fw99 $rt50 $rt99")
done
read -r ratio lw50 lw99 fw50 fw99 rt50 rt99 < <(median_row "${rows[@]}")
nrows=()
for ((i = 0; i < rounds; i++)); do
	read -r _ nl50 _ nf50 nf99 nr50 _ < <(on node2 env LITEFS_FWD_ENDPOINTS="node1=tcp://$prefix.1:20209" \
		LD_PRELOAD="$lib" "$bench" side "$m1/bench.db" "$m2/bench.db" "$writes")
	nrows+=("$(echo "$nf50 / ($nl50 + 1.3 * $nr50)" | bc -l) $nf50 $nf99")
done
read -r nratio nf50 nf99 < <(median_row "${nrows[@]}")
plain_w=$(LITEFS_FWD_MOUNT=/nonexistent "$bench" writes "$plain/bench.db" "$writes")
# A transaction of txn_rows INSERTs, on the primary locally and forwarded from the replica.
read -r _ tl tf < <(on node2 env LD_PRELOAD="$lib" "$bench" txn "$m1/bench.db" "$m2/bench.db" \
	"$txn_rows" "$rounds")
read -r _ pw50 pw99 <<<"$plain_w"

# Throughput: THREADS writers (threads of one process, a connection each) on the replica,
# forwarded, beside the primary's own single connection writing locally (WAL, the
# library's default synchronous=FULL), measured in turn for BENCH_TPUT_MS each; the median
# of the rounds' ratios.
tput_ms=${BENCH_TPUT_MS:-2000}
tput_rows=()
for nthr in 1 4 16; do
	trow=()
	for ((i = 0; i < rounds; i++)); do
		read -r _ lt _ < <(on node1 "$bench" concurrent "$m1/bench.db" 1 "$tput_ms")
		read -r _ ft ff < <(on node2 env LD_PRELOAD="$lib" "$bench" concurrent "$m2/bench.db" \
			"$nthr" "$tput_ms")
		trow+=("$(echo "$ft / $lt" | bc -l) $lt $ft $ff")
	done
	read -r tr lt ft ff < <(median_row "${trow[@]}")
	tput_rows+=("$nthr $tr $lt $ft $ff")
done

# Memory. The sqlite3 shell's peak resident memory without and with the preload, on the
# replica, for a read and for a forwarded write (the largest of 5 runs each: the peak of a
# short process hardly varies). Then the primary's forwarder's resident memory with 64
# transactions open at once from the replica (one per database: a session holds its
# database's write lock), beside its resident memory before.
peak() { local m=0 v i; for ((i = 0; i < 5; i++)); do v=$("$@"); ((v > m)) && m=$v; done; echo "$m"; }
rss_r0=$(peak on node2 env LD_PRELOAD= python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' sqlite3 "$m2/bench.db" "SELECT count(*) FROM kv;")
rss_r1=$(peak on node2 env LD_PRELOAD="$lib" python3 -c 'import resource, subprocess, sys, os
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' sqlite3 "$m2/bench.db" "SELECT count(*) FROM kv;")
rss_w0=$(peak on node1 python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' sqlite3 "$m1/bench.db" "INSERT INTO w(v) VALUES (1);")
rss_w1=$(peak on node2 env LD_PRELOAD="$lib" python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' sqlite3 "$m2/bench.db" "INSERT INTO w(v) VALUES (1);")
nsess=${BENCH_SESSIONS:-64}
for ((i = 0; i < nsess; i++)); do sqlite3 "$m1/s$i.db" "CREATE TABLE t(x);"; done
sleep 1
fpid=$(pgrep -f "$fwd forwarder --listen tcp://$prefix.1:20208" | head -n 1)
frss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$fpid/status")
mkfifo "$dir/hold"
on node2 env LD_PRELOAD="$lib" python3 "$top/bench/sessions.py" "$m2" "$nsess" <"$dir/hold" >"$dir/sessions.out" 2>&1 &
spid=$!
pids+=($spid)
exec 7>"$dir/hold"
for ((i = 0; i < 300; i++)); do grep -q "^open" "$dir/sessions.out" && break; sleep 0.1; done
frss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$fpid/status")
grep -q "^open $nsess" "$dir/sessions.out" || { echo "bench: the $nsess sessions did not open" >&2; cat "$dir/sessions.out" >&2; }
echo >&7
exec 7>&-
wait "$spid" || true

printf '\nlitefs-fwd figures, each the median round of several measuring side by side: %s rounds of\n' \
	"$read_rounds"
printf '%s point SELECTs without and with the preload, %s rounds of %s INSERTs local, forwarded\n' \
	"$reads" "$rounds" "$writes"
printf 'and round trips in turn\n\n' 
printf '%-58s %12s %10s\n' "what" "value" "ratio"
printf '%-58s %9.1f ns %10s\n' "point SELECT, no preload, plain file" "$p" "1.000"
printf '%-58s %9.1f ns %10.3f\n' "point SELECT, preload, LiteFS absent" "$a" "$ratio_a"
printf '%-58s %9.1f ns %10s\n' "point SELECT on a replica, no preload" "$rp" "1.000"
printf '%-58s %9.1f ns %10.3f\n' "point SELECT on a replica, preload" "$rr" "$ratio_r"
printf '%-58s %9.1f us\n' "local INSERT on a plain file (WAL, FULL), p50 (p99 $pw99)" "$pw50"
printf '%-58s %9.1f us\n' "bare nanomsg REQ/REP round trip, p50 (p99 $rt99)" "$rt50"
printf '%-58s %9.1f us\n' "local INSERT on the primary's mount, p50 (p99 $lw99)" "$lw50"
printf '%-58s %9.1f us %10.3f\n' "forwarded INSERT from the replica, p50 (p99 $fw99)" "$fw50" "$ratio"
printf '%-58s %9.1f us %10.3f\n' "  the same without the durable record, p50 (p99 $nf99)" "$nf50" "$nratio"
printf '%-58s %9.1f ms\n' "$txn_rows-row transaction, local on the primary's mount" "$tl"
printf '%-58s %9.1f ms %10.3f\n' "$txn_rows-row transaction, forwarded from the replica" "$tf" \
	"$(echo "$tf / $tl" | bc -l)"
printf '%-58s %9.1f us %10.3f\n' "  per forwarded row, against a bare round trip" \
	"$(echo "$tf * 1000 / $txn_rows" | bc -l)" "$(echo "$tf * 1000 / $txn_rows / $rt50" | bc -l)"
printf '%-58s %9.0f /s\n' "INSERTs/s, the primary's one connection, local" \
	"$(echo "${tput_rows[0]}" | awk '{print $3}')"
for row in "${tput_rows[@]}"; do
	read -r nthr tr lt ft ff <<<"$row"
	printf '%-58s %9.0f /s %10.3f\n' "forwarded INSERTs/s, $nthr writer threads on the replica ($ff failed)" \
		"$ft" "$tr"
done
printf '%-58s %9.1f MiB %9s\n' "sqlite3 shell peak RSS, read on the replica, no preload" \
	"$(echo "$rss_r0 / 1024" | bc -l)" ""
printf '%-58s %9.1f MiB %+8.2f MiB\n' "  with the preload" "$(echo "$rss_r1 / 1024" | bc -l)" \
	"$(echo "($rss_r1 - $rss_r0) / 1024" | bc -l)"
printf '%-58s %9.1f MiB %9s\n' "sqlite3 shell peak RSS, INSERT on the primary, no preload" \
	"$(echo "$rss_w0 / 1024" | bc -l)" ""
printf '%-58s %9.1f MiB %+8.2f MiB\n' "  forwarded from the replica, with the preload" \
	"$(echo "$rss_w1 / 1024" | bc -l)" "$(echo "($rss_w1 - $rss_w0) / 1024" | bc -l)"
printf '%-58s %9.1f MiB\n' "forwarder RSS, idle" "$(echo "$frss0 / 1024" | bc -l)"
printf '%-58s %9.1f MiB\n' "forwarder RSS, $nsess transactions open at once" "$(echo "$frss1 / 1024" | bc -l)"
printf '\nratio of the forwarded INSERT: p50 / (local INSERT on the primary + 1.3 round trips),\n'
printf 'the three measured in turn in one process; per round:'
printf ' %.3f' $(printf '%s\n' "${rows[@]}" | awk '{print $1}')
printf '\n(without the durable record of requests:'
printf ' %.3f' $(printf '%s\n' "${nrows[@]}" | awk '{print $1}')
printf ')\n'
