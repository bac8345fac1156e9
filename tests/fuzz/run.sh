#!/bin/bash
# make fuzz: runs each fuzz target of O (build-fuzz) for FUZZ_SECONDS on its corpus and prints
# one line per target: executions, coverage at the start (seed corpus) and at the end, and
# what it found. New inputs go to O/fuzz-corpus/NAME (copy the useful ones into
# tests/fuzz/corpus/NAME); crashes, leaks and timeouts to O/fuzz-findings/NAME/ — fix them
# and keep each input under tests/fuzz/regressions/NAME/. Exits 1 when anything was found.
#   tests/fuzz/run.sh [O] [TARGET...]     (FUZZ_SECONDS, default 60; FUZZ_ARGS: more flags)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
O=${1:-build-fuzz}
shift || true
secs=${FUZZ_SECONDS:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for b in "$O"/tests/fuzz/bin/*; do targets+=("$(basename "$b")"); done
fi
found=0
printf '%-18s %12s %10s %9s %9s  %s\n' target execs exec/s cov-seed cov-end findings
for t in "${targets[@]}"; do
	bin=$O/tests/fuzz/bin/$t
	work=$O/fuzz-corpus/$t
	art=$O/fuzz-findings/$t
	mkdir -p "$work" "$art" "tests/fuzz/corpus/$t"
	dict=tests/fuzz/json.dict
	[ "$t" = http_headers ] && dict=tests/fuzz/http.dict
	[ "$t" = rest ] && dict=tests/fuzz/rest.dict
	log=$O/fuzz-$t.log
	# shellcheck disable=SC2086
	nice -n 19 "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -dict="$dict" -artifact_prefix="$art/" ${FUZZ_ARGS:-} \
		"$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov0=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | head -1)
	cov1=$(grep -oE '(DONE|pulse|NEW|REDUCE) +cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
	n=$(find "$art" -type f | wc -l)
	what=none
	if [ "$n" -gt 0 ]; then
		found=1
		what="$n in $art ($(grep -m1 -oE 'ERROR: [A-Za-z]+: [a-z-]+|fuzz[a-z_]*: [^\n]{0,60}' "$log"))"
	fi
	printf '%-18s %12s %10s %9s %9s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov0:-?}" \
		"${cov1:-?}" "$what"
done
exit $found
