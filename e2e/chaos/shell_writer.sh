#!/usr/bin/env bash
# A chaos writer on one node: the sqlite3 shell, one process per operation, under the
# interposer (inherited LD_PRELOAD), until SIGTERM. Half autocommit INSERTs, half transfers
# in one transaction; the log format is writer.py's ("B TAG", then
# "E TAG CODE PHASE T0 T1 MESSAGE"; no "E" line when the shell was killed).
#
#   shell_writer.sh DB PREFIX LOG SEED
set -u
db=$1 prefix=$2 log=$3
RANDOM=$4
stop=0
trap 'stop=1' TERM
node=${LITEFS_FWD_HOSTNAME:-}
i=0
while ((!stop)); do
	i=$((i + 1))
	tag=$prefix-$i
	if ((RANDOM % 2)); then
		sql=".bail on
.timeout 10000
INSERT INTO ops(tag, node, kind) VALUES ('$tag', '$node', 'insert');"
		commit_line=3
	else
		a=$((RANDOM % 100 + 1)) b=$((RANDOM % 99 + 1)) amt=$((RANDOM % 50 + 1))
		((b >= a)) && b=$((b + 1))
		sql=".bail on
.timeout 10000
BEGIN;
SELECT bal FROM accounts WHERE id = $a;
UPDATE accounts SET bal = bal - $amt WHERE id = $a;
UPDATE accounts SET bal = bal + $amt WHERE id = $b;
INSERT INTO ops(tag, node, kind, a, b, amt) VALUES ('$tag', '$node', 'transfer', $a, $b, $amt);
COMMIT;"
		commit_line=8
	fi
	echo "B $tag" >>"$log"
	t0=$EPOCHREALTIME
	# mode=rw: never create the file in the empty directory of a stopped node
	err=$(sqlite3 -batch "file:$db?mode=rw" <<<"$sql" 2>&1 >/dev/null)
	rc=$?
	t1=$EPOCHREALTIME
	# what the shell and the interposer said, for the evidence of a failed run
	[[ -n $err ]] && printf '%s %s rc=%s\n%s\n' "$tag" "$t1" "$rc" "$err" >>"${CHAOS_ERR:-/dev/null}"
	# the shell's own error line among what the interposer may log (LITEFS_FWD_LOG)
	line=""
	while IFS= read -r l; do
		[[ $l =~ ^(Runtime|Parse)\ error\ near\ line || $l == *"unable to open database"* ]] &&
			{ line=$l; break; }
	done <<<"$err"
	if ((rc == 0)); then
		echo "E $tag 0 c $t0 $t1" >>"$log"
	elif ((rc > 128)); then
		: # killed: the outcome stays unknown
	elif [[ $line =~ (Runtime|Parse)\ error\ near\ line\ ([0-9]+):\ (.*)\ \(([0-9]+)\)$ ]]; then
		phase=b
		((BASH_REMATCH[2] >= commit_line)) && phase=c
		echo "E $tag ${BASH_REMATCH[4]} $phase $t0 $t1 ${BASH_REMATCH[3]}" >>"$log"
	elif [[ -n $line ]]; then
		echo "E $tag 14 b $t0 $t1 $line" >>"$log" # SQLITE_CANTOPEN: nothing ran
	else
		echo "E $tag -1 c $t0 $t1 rc=$rc ${err//$'\n'/ }" >>"$log" # not understood: unknown
	fi
	sleep 0.0$((RANDOM % 3))
done
