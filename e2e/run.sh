#!/usr/bin/env bash
# Runs every end-to-end suite (e2e/*_test.sh), each in its own process, and prints one final
# line "N passed, M failed" with the totals. Exits non-zero when a test failed or a suite
# ended without its summary line (a crash). Called by `make e2e-test` from the repository
# root once build/litefs-sim is built; works without a terminal or stdin (CI).
#
#   bash e2e/run.sh                      every suite
#   bash e2e/run.sh e2e/sim_test.sh      only the given suites
# Patterns after `--` are passed to every suite (e.g. `bash e2e/run.sh -- promote`).

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

suites=()
while (($#)) && [[ $1 != -- ]]; do
	suites+=("$1")
	shift
done
[[ ${1:-} == -- ]] && shift
if ((${#suites[@]} == 0)); then
	shopt -s nullglob
	suites=(e2e/*_test.sh)
	shopt -u nullglob
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/litefs-fwd-e2e-run.XXXXXX") || exit 2
current=""
cleanup() {
	[[ -n $current ]] && kill -TERM "$current" 2>/dev/null && wait "$current" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "# e2e: interrupted" >&2; exit 130' INT
trap 'echo "# e2e: terminated" >&2; exit 143' TERM

passed=0 failed=0 i=0
for suite in "${suites[@]}"; do
	i=$((i + 1))
	summary=$work/summary.$i
	echo "# e2e: $suite"
	start=$(date +%s)
	# In the background + wait, so that INT/TERM reach the trap at once; the suite writes
	# its summary line to E2E_SUMMARY_FILE (no pipe that a leftover daemon could hold open).
	E2E_SUMMARY_FILE=$summary bash "$suite" "$@" </dev/null &
	current=$!
	wait "$current"
	rc=$?
	current=""
	line=$(tail -n 1 "$summary" 2>/dev/null)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
		if ((rc != 0 && f == 0)); then
			echo "not ok - $suite exited with status $rc although it reported no failure"
			f=1
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		echo "# e2e: $suite: $p passed, $f failed ($(($(date +%s) - start)) s)"
	else
		echo "not ok - $suite crashed without a summary line (exit status $rc)"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
((failed == 0))
