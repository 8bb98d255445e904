#!/usr/bin/env bash
# Runs each cmocka test binary given as an argument, shows its output, and prints one final
# line "N passed, M failed" with the totals of cmocka's "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)" lines. Exits non-zero on any failure; a binary that exits
# non-zero without reporting a failed test (a crash, a sanitizer report at exit) or that
# prints no cmocka summary at all counts as one failure.
#
#   bash tests/run-unit.sh build/tests/test_*      (what `make unit-test` runs)
# With no arguments: "0 passed, 0 failed", exit 0.

set -u
passed=0 failed=0
out=$(mktemp "${TMPDIR:-/tmp}/litefs-fwd-unit.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT

for bin in "$@"; do
	echo "# unit: $bin"
	if [[ ! -x $bin ]]; then
		echo "not ok - $bin: not an executable file"
		failed=$((failed + 1))
		continue
	fi
	# Standard cmocka output whatever the environment says; stdin closed.
	CMOCKA_MESSAGE_OUTPUT=stdout "$bin" </dev/null >"$out" 2>&1
	rc=$?
	cat "$out"
	p=0 f=0 seen=0
	while IFS= read -r line; do
		if [[ $line =~ ^\[\ \ PASSED\ \ \]\ ([0-9]+)\ test ]]; then
			p=$((p + BASH_REMATCH[1]))
			seen=1
		elif [[ $line =~ ^\[\ \ FAILED\ \ \]\ ([0-9]+)\ test ]]; then
			f=$((f + BASH_REMATCH[1]))
			seen=1
		fi
	done <"$out"
	if ((!seen)); then
		echo "not ok - $bin: no cmocka summary (exit status $rc)"
		f=$((f + 1))
	elif ((rc != 0 && f == 0)); then
		echo "not ok - $bin: exit status $rc although no test failed"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "$passed passed, $failed failed"
((failed == 0))
