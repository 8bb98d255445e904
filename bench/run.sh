#!/usr/bin/env bash
# Prints the forwarding figures, each measured side by side in this run (ratios carry the
# verdict: the machines are shared and noisy). Run by `make bench`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sim="$top/build/litefs-sim" fwd="$top/build/litefs-fwd" lib="$top/build/liblitefs_fwd.so"
bench="$top/build/bench"
dir=$(mktemp -d "${TMPDIR:-/tmp}/litefs-fwd-bench.XXXXXX")
# the interposer's shared request id sequence, here rather than in /dev/shm
export LITEFS_FWD_ID_FILE="$dir/request-ids"
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
# On a signal, stop here (the EXIT trap then cleans up) rather than go on without a cluster.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
# A third one committing with synchronous=NORMAL, for the WAL + NORMAL throughput variant (the
# forwarders' connections are FULL by default, as SQLite's).
"$sim" exec "$dir" node1 -- sh -c 'exec "$0" forwarder --listen "tcp://$1:20210" --synchronous normal' \
	"$fwd" "$prefix.1" >"$dir/node1-forwarder-normal.log" 2>&1 &
pids+=($!)
sleep 0.5
m1="$dir/node1/mnt" m2="$dir/node2/mnt" plain="$dir/plain"
mkdir -p "$plain"
setup="PRAGMA journal_mode=WAL; CREATE TABLE kv(k INTEGER PRIMARY KEY, v); WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM s WHERE i < 999) INSERT INTO kv SELECT i, i FROM s; CREATE TABLE w(id INTEGER PRIMARY KEY, v);"
sqlite3 "$plain/bench.db" "$setup" >/dev/null
# The forwarders stamp their tracking table into each new database of the primary as soon as
# it appears, so a script that writes one in two steps may meet that lock: wait for it.
sql_primary() { sqlite3 -cmd ".timeout 5000" "$@"; }
sql_primary "$m1/bench.db" "$setup" >/dev/null
# The throughput variants, "LABEL DB JOURNAL_MODE SYNCHRONOUS FORWARDER_PORT", a database
# each (the journal mode is a property of the file; the stand-in replicates rollback-journal
# and WAL databases side by side in one cluster). The primary's local writer sets the same
# synchronous on its connection as the forwarder that serves the variant.
tput_variants=(
	"WAL,NORMAL tput-wal-normal.db wal normal 20210"
	"WAL,FULL tput-wal-full.db wal full 20208"
	"rollback,FULL tput-rollback-full.db delete full 20208"
)
for v in "${tput_variants[@]}"; do
	read -r _ db jm _ _ <<<"$v"
	mode=$(sql_primary "$m1/$db" "PRAGMA journal_mode=$jm; CREATE TABLE w(id INTEGER PRIMARY KEY, v);")
	[[ $mode == "$jm" ]] || { echo "bench: $db: journal_mode is '$mode', not '$jm'" >&2; exit 1; }
done
# Every database must have reached the replica before anything runs there.
for ((i = 0; i < 100; i++)); do
	ok=1
	for v in "${tput_variants[@]}"; do
		read -r _ db _ _ _ <<<"$v"
		sqlite3 "$m2/$db" "SELECT count(*) FROM w;" >/dev/null 2>&1 || ok=0
	done
	sqlite3 "$m2/bench.db" "SELECT count(*) FROM w;" >/dev/null 2>&1 || ok=0
	((ok)) && break
	sleep 0.1
done
((ok)) || { echo "bench: the databases did not reach the replica" >&2; exit 1; }
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
# against local p50 + one round trip (the physical limit); the median round is shown.
rows=()
for ((i = 0; i < rounds; i++)); do
	read -r _ lw50 lw99 fw50 fw99 rt50 rt99 < <(on node2 env LD_PRELOAD="$lib" "$bench" side \
		"$m1/bench.db" "$m2/bench.db" "$writes")
	ratio=$(echo "$fw50 / ($lw50 + $rt50)" | bc -l)
	rows+=("$ratio $lw50 $lw99 $fw50 $fw99 $rt50 $rt99")
done
read -r ratio lw50 lw99 fw50 fw99 rt50 rt99 < <(median_row "${rows[@]}")
nrows=()
for ((i = 0; i < rounds; i++)); do
	read -r _ nl50 _ nf50 nf99 nr50 _ < <(on node2 env LITEFS_FWD_ENDPOINTS="node1=tcp://$prefix.1:20209" \
		LD_PRELOAD="$lib" "$bench" side "$m1/bench.db" "$m2/bench.db" "$writes")
	nrows+=("$(echo "$nf50 / ($nl50 + $nr50)" | bc -l) $nf50 $nf99")
done
read -r nratio nf50 nf99 < <(median_row "${nrows[@]}")
plain_w=$(LITEFS_FWD_MOUNT=/nonexistent "$bench" writes "$plain/bench.db" "$writes")
# A transaction of txn_rows INSERTs, on the primary locally and forwarded from the replica.
read -r _ tl tf < <(on node2 env LD_PRELOAD="$lib" "$bench" txn "$m1/bench.db" "$m2/bench.db" \
	"$txn_rows" "$rounds")
read -r _ pw50 pw99 <<<"$plain_w"

# Throughput, per variant and writer count: N writers on the replica, forwarded, as threads of
# one process (a connection each) and as N processes (one connection each), beside the
# primary's own single connection writing autocommit INSERTs locally with the variant's
# journal mode and synchronous. Each round measures local, forwarded, local, forwarded, for
# BENCH_TPUT_MS each (threads first in even rounds, processes first in odd ones), and each
# forwarded figure is divided by the local one measured just before it; the median of the
# rounds' ratios is shown, beside the median of each figure. Failed INSERTs are summed over
# all rounds. BENCH_TPUT_LOG names a file that gets every measurement appended, with the
# slowest single writer's rate (a starving writer shows there, not in the sum).
tput_ms=${BENCH_TPUT_MS:-2000} tput_rounds=${BENCH_TPUT_ROUNDS:-5}
tput_writers=${BENCH_TPUT_WRITERS:-1 4 16 64} tput_log=${BENCH_TPUT_LOG:-/dev/null}
log_fmt='%s %s round %s %s: local %.0f (%s failed), forwarded %.0f (%s failed, slowest writer %.0f)'
log_fmt+=', ratio %.3f\n'
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
tput_rows=()
for v in "${tput_variants[@]}"; do
	read -r label db _ sync port <<<"$v"
	for n in $tput_writers; do
		lts=() fts=() fps=() rts=() rps=() lfail=0 tfail=0 pfail=0
		for ((i = 0; i < tput_rounds; i++)); do
			kinds="concurrent processes"
			((i % 2)) && kinds="processes concurrent"
			for kind in $kinds; do
				out=$(on node1 "$bench" concurrent "$m1/$db" 1 "$tput_ms" "$sync")
				read -r _ lt lf _ <<<"$out"
				out=$(on node2 env LITEFS_FWD_ENDPOINTS="node1=tcp://$prefix.1:$port" \
					LD_PRELOAD="$lib" "$bench" "$kind" "$m2/$db" "$n" "$tput_ms")
				read -r _ ft ff fslow <<<"$out"
				r=$(echo "$ft / $lt" | bc -l)
				lts+=("$lt")
				lfail=$((lfail + lf))
				if [[ $kind == concurrent ]]; then
					fts+=("$ft") rts+=("$r") tfail=$((tfail + ff))
				else
					fps+=("$ft") rps+=("$r") pfail=$((pfail + ff))
				fi
				printf "$log_fmt" "$label" "$n" "$i" "$kind" "$lt" "$lf" "$ft" "$ff" "$fslow" "$r" \
					>>"$tput_log"
			done
		done
		tput_rows+=("$label $n $(median "${lts[@]}") $(median "${fts[@]}") $(median "${rts[@]}") \
$(median "${fps[@]}") $(median "${rps[@]}") $lfail/$tfail/$pfail")
	done
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
for ((i = 0; i < nsess; i++)); do sql_primary "$m1/s$i.db" "CREATE TABLE t(x);"; done
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
printf '\nratio of the forwarded INSERT: p50 / (local INSERT on the primary + one round trip),\n'
printf 'the three measured in turn in one process; per round:'
printf ' %.3f' $(printf '%s\n' "${rows[@]}" | awk '{print $1}')
printf '\n(without the durable record of requests:'
printf ' %.3f' $(printf '%s\n' "${nrows[@]}" | awk '{print $1}')
printf ')\n'
printf '\nINSERTs/s: N writers on the replica, forwarded, as threads and as processes, beside the\n'
printf "primary's one connection writing locally (median of %s rounds of %s ms; ratio: median of the\n" \
	"$tput_rounds" "$tput_ms"
printf "rounds' forwarded / local; failed: INSERTs that failed, local/threads/processes)\n"
printf '%-15s %7s %10s %12s %7s %12s %7s %9s\n' "journal,sync" "writers" "local" "threads" \
	"ratio" "processes" "ratio" "failed"
for row in "${tput_rows[@]}"; do
	read -r label n lt ft rt fp rp fail <<<"$row"
	printf '%-15s %7s %10.0f %12.0f %7.3f %12.0f %7.3f %9s\n' "$label" "$n" "$lt" "$ft" "$rt" \
		"$fp" "$rp" "$fail"
done
