#!/bin/bash
# Runs every test against the binaries in BUILD_DIR and prints one closing tally:
#   unit tests (cmocka), integration tests (node:test: stdio, HTTP, official SDK client).
set -u
O=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
passed=0
failed=0
# The conformance runs make test holds to zero failures and warnings (all of them, the tasks
# extension included); `make conformance` runs the same set.
CONFORMANCE_RUNS=${CONFORMANCE_RUNS:-2025|2026|skills|inspector|tasks}
failures=()

# node_modules for the SDK client tests, from the committed lock file.
if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules ]; then
	(cd tests && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed"; exit 1; }
fi

echo "== unit tests ($O)"
for t in "$O"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED)|^\[  ERROR|^\[ +FAILED' | sed "s|^|$(basename "$t"): |"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ]; then
		[ -z "$f" ] && failed=$((failed + 1))
		failures+=("$(basename "$t")")
		printf '%s\n' "$out" | tail -40
	fi
done

echo "== integration tests"
export CORTEX_GATEWAY_BIN="$root/$O/cortex-gateway-test"
export CORTEX_GATEWAY_SHIPPED_BIN="$root/$O/cortex-gateway"
export CORTEX_SIM_BIN="$root/$O/cortex-sim"
out=$(node --test --test-concurrency=1 --test-reporter=tap tests/integration/ 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(not ok|# (tests|pass|fail|skipped))' 
p=$(printf '%s\n' "$out" | sed -n 's/^# pass \([0-9]*\)/\1/p' | tail -1)
f=$(printf '%s\n' "$out" | sed -n 's/^# fail \([0-9]*\)/\1/p' | tail -1)
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
if [ $rc -ne 0 ]; then
	[ "${f:-0}" = 0 ] && failed=$((failed + 1))
	failures+=("integration")
	printf '%s\n' "$out" | grep -B2 -A30 '^not ok' | head -200
fi

echo "== conformance (official MCP suites; runs: ${CONFORMANCE_RUNS})"
out=$(CORTEX_GATEWAY_BIN="$root/$O/cortex-gateway-test" CONFORMANCE_ONLY="$CONFORMANCE_RUNS" \
	tests/conformance/run.sh 2>&1)
rc=$?
printf '%s\n' "$out" | sed -n '/== conformance summary/,$p' | grep -v '^logs and'
line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
f=$(printf '%s' "$line" | sed -n 's/.*passed, \([0-9]*\) failed/\1/p')
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
if [ $rc -ne 0 ]; then
	[ "${f:-0}" = 0 ] && failed=$((failed + 1))
	failures+=("conformance")
	printf '%s\n' "$out" | grep -E '^  (FAIL|WARN)' | head -50
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
