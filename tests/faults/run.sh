#!/bin/bash
# tests/faults/run.sh BUILD_DIR — the fault trials (tests/faults/*.test.mjs) against the binaries
# in BUILD_DIR, one closing tally. make test runs them at small counts; make soak sets
# CORTEX_FAULTS_FULL=1 for the full counts (100 orchestrator kills, 20 gateway kills, ...).
# The disk-full trial mounts a tmpfs and so needs root; it is skipped with a reason otherwise.
set -u
O=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CORTEX_GATEWAY_BIN="$root/$O/cortex-gateway-test"
export CORTEX_GATEWAY_SHIPPED_BIN="$root/$O/cortex-gateway"
export CORTEX_SIM_BIN="$root/$O/cortex-sim"
echo "== fault trials ($O${CORTEX_FAULTS_FULL:+, full counts})"
out=$(node --test --test-concurrency=1 --test-reporter=tap tests/faults/ 2>&1)
rc=$?
# the verdicts, the tally, and the figures each trial prints (console.log lines: "# \# ...")
printf '%s\n' "$out" | grep -E '^(ok|not ok)|^# (\\# |tests|pass|fail|skipped|todo)' | sed 's/^# \\# /#   /'
if [ $rc -ne 0 ]; then
	# the details of each failure (a todo's expected failure is left out)
	printf '%s\n' "$out" | awk '/^not ok/ { show = ($0 !~ /# TODO/); n = 0 } /^(ok|not ok)/ && !/^not ok/ { show = 0 }
		show && n++ < 40' | head -200
	echo "fault trials failed"
fi
exit $rc
