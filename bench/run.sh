#!/usr/bin/env bash
# bench/run.sh BUILD_DIR — the load benchmark behind `make bench`.
#
# Puts the same load (wrk, same request bytes, same headers) on three loopback servers in turn:
#   cortex-gateway   BUILD_DIR/cortex-gateway, default config, one initialised MCP session,
#                    every request a tools/call of gateway_status
#   fixed-responder  BUILD_DIR/bench/fixed-responder: libmicrohttpd set up as the gateway sets
#                    it up, answering every POST with the gateway's own answer, byte for byte
#   nginx            Debian's nginx answering the same bytes with `return 200` (skipped when
#                    nginx is not installed)
# and prints calls/s, p50 and p99 for each, the gateway's peak RSS, and the targets:
#   calls/s >= 0.5 x the baseline, p99 < 2 ms, peak RSS < 20 MB.
# Every response is checked (status 200, a JSON-RPC "result" in the body): a run with errors
# exits 1 whatever its figures. A missed target exits 0 unless BENCH_STRICT=1.
#
# Environment: BENCH_SECONDS (5), BENCH_CONNECTIONS (32), BENCH_THREADS (2),
# BENCH_WARMUP_SECONDS (1), BENCH_ROUNDS (3), BENCH_STRICT (0).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: bench/run.sh BUILD_DIR" >&2
	exit 2
fi
if [ ! -d "$1" ]; then
	echo "bench: '$1' is not a build directory; run 'make bench'" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
secs=${BENCH_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
warmup=${BENCH_WARMUP_SECONDS:-1}
strict=${BENCH_STRICT:-0}
rounds=${BENCH_ROUNDS:-3}
proto=2025-11-25

gateway_bin=$build/cortex-gateway
fixed_bin=$build/bench/fixed-responder
for f in "$gateway_bin" "$fixed_bin"; do
	if [ ! -x "$f" ]; then
		echo "bench: '$f' is missing; run 'make bench'" >&2
		exit 2
	fi
done
if ! command -v wrk >/dev/null; then
	echo "bench: 'wrk' is not installed; run 'scripts/deps.sh bench'" >&2
	exit 2
fi
nginx_bin=$(command -v nginx || true)
if [ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ]; then
	nginx_bin=/usr/sbin/nginx
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cortex-bench.XXXXXX")
chmod 755 "$tmp" # nginx workers may run as nobody
pids=()

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $*" >&2
	exit 1
}

# wait_for_port LOGFILE PID NAME: waits for "127.0.0.1:PORT" in LOGFILE, prints PORT.
wait_for_port() {
	local log=$1 pid=$2 name=$3 port
	for _ in $(seq 1 100); do
		port=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null | head -n1 |
			sed 's/.*://') || true
		if [ -n "$port" ]; then
			echo "$port"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "bench: '$name' did not start; its log:" >&2
	sed 's/^/  /' "$log" >&2
	return 1
}

# A port nothing listens on; nginx needs one named in its config.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# to_ms VALUE: wrk prints latencies as 512.00us, 1.23ms, 1.02s or 2.00m.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
		else if (u == "m") n *= 60000; else if (u != "ms") { print "nan"; exit }
		printf "%.3f", n }'
}

# ---- the gateway and its session ----
mkdir -p "$tmp/tasks"
(
	unset CORTEX_CONFIG
	export CORTEX_TASKS_DIR="$tmp/tasks"
	cd "$tmp"
	exec "$gateway_bin" --listen 127.0.0.1:0
) 2>"$tmp/gateway.log" >/dev/null &
gw_pid=$!
pids+=("$gw_pid")
gw_port=$(wait_for_port "$tmp/gateway.log" "$gw_pid" cortex-gateway) || exit 1
gw_url=http://127.0.0.1:$gw_port/mcp

curl_post() { # curl_post URL BODY HEADERFILE BODYFILE [HEADER...] -> prints the status code
	local url=$1 body=$2 hf=$3 bf=$4
	shift 4
	curl -sS --max-time 10 -o "$bf" -D "$hf" -w '%{http_code}' -X POST \
		-H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json' \
		"$@" --data-binary "$body" "$url"
}

init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"'$proto'",'
init+='"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
code=$(curl_post "$gw_url" "$init" "$tmp/init.h" "$tmp/init.b") || die "initialize failed"
[ "$code" = 200 ] || die "initialize answered $code: $(head -c 300 "$tmp/init.b")"
grep -q '"result"' "$tmp/init.b" || die "initialize has no result: $(head -c 300 "$tmp/init.b")"
session=$(awk 'tolower($1) == "mcp-session-id:" { sub(/\r$/, "", $2); print $2 }' "$tmp/init.h")
[ -n "$session" ] || die "initialize answered without an Mcp-Session-Id header"

code=$(curl_post "$gw_url" '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	"$tmp/notif.h" "$tmp/notif.b" -H "Mcp-Session-Id: $session" \
	-H "MCP-Protocol-Version: $proto") || die "notifications/initialized failed"
[ "$code" = 202 ] || die "notifications/initialized answered $code, not 202"

# One call by hand: it must succeed, and its answer is what the baselines will send.
call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gateway_status","arguments":{}}}'
code=$(curl_post "$gw_url" "$call" "$tmp/call.h" "$tmp/body" -H "Mcp-Session-Id: $session" \
	-H "MCP-Protocol-Version: $proto") || die "tools/call failed"
[ "$code" = 200 ] || die "tools/call answered $code: $(head -c 300 "$tmp/body")"
grep -q '"result"' "$tmp/body" || die "tools/call has no result: $(head -c 300 "$tmp/body")"
if grep -q '"isError": *true' "$tmp/body"; then
	die "gateway_status returned an error: $(head -c 300 "$tmp/body")"
fi
body_len=$(wc -c <"$tmp/body")

# ---- the baselines, answering the same bytes ----
"$fixed_bin" 0 "$tmp/body" 2>"$tmp/fixed.log" &
fixed_pid=$!
pids+=("$fixed_pid")
fixed_port=$(wait_for_port "$tmp/fixed.log" "$fixed_pid" fixed-responder) || exit 1

nginx_port=
if [ -n "$nginx_bin" ]; then
	if grep -q '\$' "$tmp/body"; then
		die "the gateway's answer holds '\$', which nginx's return would expand"
	fi
	# nginx single-quoted strings unescape \\ and \' only.
	nginx_body=$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" "$tmp/body")
	mkdir -p "$tmp/nginx"
	for _ in 1 2 3 4 5; do
		p=$(free_port) || die "no free loopback port for nginx"
		cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$p;
		location / {
			default_type application/json;
			return 200 '$nginx_body';
		}
	}
}
EOF
		"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
			2>>"$tmp/nginx/stderr.log" &
		ng_pid=$!
		up=
		for _ in $(seq 1 50); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				up=1
				break
			fi
			kill -0 "$ng_pid" 2>/dev/null || break
			sleep 0.1
		done
		if [ -n "$up" ] && kill -0 "$ng_pid" 2>/dev/null; then
			pids+=("$ng_pid")
			nginx_port=$p
			break
		fi
		kill -TERM "$ng_pid" 2>/dev/null || true
		wait "$ng_pid" 2>/dev/null || true
	done
	[ -n "$nginx_port" ] || die "nginx did not start: $(cat "$tmp/nginx/error.log" \
		"$tmp/nginx/stderr.log" 2>/dev/null | tail -n 5)"
	got=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' --data-binary "$call" \
		"http://127.0.0.1:$nginx_port/mcp") || die "nginx did not answer"
	[ "$got" = "$(cat "$tmp/body")" ] || die "nginx answers other bytes than the gateway"
fi

# ---- load ----
errors=0
declare -A rps p50 p99 errs

field() { # field KEY LINE: the number after KEY= in LINE
	sed -n "s/.*[ ]$1=\([0-9]*\).*/\1/p" <<<"$2"
}

# run_load NAME URL: warm-up, then the measured run; fills rps/p50/p99/errs[NAME].
run_load() {
	local name=$1 url=$2 out=$tmp/wrk.$1 line resp bad nores non2xx sockerr
	if [ "$warmup" != 0 ]; then
		MCP_SESSION_ID=$session wrk -t"$threads" -c"$conns" -d"${warmup}s" \
			-s "$here/call.lua" "$url" >/dev/null 2>&1 || true
	fi
	MCP_SESSION_ID=$session wrk -t"$threads" -c"$conns" -d"${secs}s" --latency \
		-s "$here/call.lua" "$url" >"$out" 2>&1 || die "wrk against '$name' failed: $(cat "$out")"
	rps[$name]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
	p50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	line=$(grep '^CXBENCH responses=' "$out") || die "no CXBENCH line from wrk: $(cat "$out")"
	resp=$(field responses "$line")
	bad=$(field bad_status "$line")
	nores=$(field no_result "$line")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	non2xx=${non2xx:-0}
	sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
	sockerr=${sockerr:-0}
	# wrk's own non-2xx count is a cross-check of bad_status; count the larger, not both.
	errs[$name]=$(((bad > non2xx ? bad : non2xx) + nores + sockerr))
	if [ "$resp" -eq 0 ] || [ -z "${rps[$name]}" ] || [ "${p99[$name]}" = nan ]; then
		errs[$name]=$((errs[$name] + 1))
		echo "bench: '$name' gave no usable figures:" >&2
		sed 's/^/  /' "$out" >&2
	fi
	if [ "${errs[$name]}" -ne 0 ]; then
		errors=1
		echo "bench: '$name': $bad non-200, $nores without a result, $non2xx non-2xx (wrk)," \
			"$sockerr socket errors" >&2
		grep '^CXBENCH first_bad=' "$out" >&2 || true
	fi
}

echo "bench: ${secs}s, $conns connections, $threads threads, one tools/call gateway_status per" \
	"request, $body_len-byte answer"
# wrk shares the machine with the server it measures; anything else running skews both, the
# tail latencies most.
load=$(cut -d' ' -f1 /proc/loadavg)
ncpu=$(nproc)
if awk -v l="$load" -v n="$ncpu" 'BEGIN { exit !(l > n / 2) }'; then
	echo "bench: warning: load average $load on $ncpu CPUs before the run; figures will be noisy"
fi
# The machine is shared: measure in rounds, alternating the targets, so a burst of other work
# hurts all of them alike, and report each target's median round.
targets=(cortex-gateway fixed-responder)
declare -A url=([cortex-gateway]=$gw_url [fixed-responder]="http://127.0.0.1:$fixed_port/mcp")
if [ -n "$nginx_port" ]; then
	targets+=(nginx)
	url[nginx]="http://127.0.0.1:$nginx_port/mcp"
fi
declare -A all_rps all_p50 all_p99 all_errs
for ((round = 1; round <= rounds; round++)); do
	for t in "${targets[@]}"; do
		run_load "$t" "${url[$t]}"
		all_rps[$t]+="${rps[$t]} "
		all_p50[$t]+="${p50[$t]} "
		all_p99[$t]+="${p99[$t]} "
		all_errs[$t]=$((${all_errs[$t]:-0} + errs[$t]))
		if [ "$t" = cortex-gateway ]; then
			kill -0 "$gw_pid" 2>/dev/null ||
				die "the gateway died under load: $(tail -n 20 "$tmp/gateway.log")"
		fi
	done
	printf 'round %d:' "$round"
	for t in "${targets[@]}"; do printf ' %s %s/s p99 %s ms;' "$t" "${rps[$t]}" "${p99[$t]}"; done
	echo
done
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$gw_pid/status")
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for t in "${targets[@]}"; do
	rps[$t]=$(median <<<"${all_rps[$t]}")
	p50[$t]=$(median <<<"${all_p50[$t]}")
	p99[$t]=$(median <<<"${all_p99[$t]}")
	errs[$t]=${all_errs[$t]}
done

# ---- report ----
echo
echo "median of $rounds rounds:"
printf '%-16s %10s %9s %9s %7s\n' target calls/s "p50 ms" "p99 ms" errors
for t in "${targets[@]}"; do
	printf '%-16s %10s %9s %9s %7s\n' "$t" "${rps[$t]}" "${p50[$t]}" "${p99[$t]}" "${errs[$t]}"
done
[ -n "$nginx_port" ] || echo "(nginx not installed: skipped)"
echo

rss_mb=$(awk -v k="$hwm_kb" 'BEGIN { printf "%.1f", k / 1024 }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
verdict() { # verdict AWK_CONDITION VALUE
	awk -v v="$2" "BEGIN { exit !(v != \"nan\" && ($1)) }" && echo PASS || echo MISS
}
misses=0
row() { # row LABEL VALUE VERDICT
	printf '%-38s %12s  %s\n' "$1" "$2" "$3"
	[ "$3" = PASS ] || misses=$((misses + 1))
}
r_fixed=$(ratio "${rps[cortex-gateway]}" "${rps[fixed-responder]}")
echo "gateway peak RSS (VmHWM after load): $rss_mb MB"
echo "ratio gateway/fixed-responder: $r_fixed"
if [ -n "$nginx_port" ]; then
	r_nginx=$(ratio "${rps[cortex-gateway]}" "${rps[nginx]}")
	echo "ratio gateway/nginx: $r_nginx"
fi
echo
printf '%-38s %12s  %s\n' "target" "measured" "result"
row "calls/s >= 0.5 x fixed-responder" "$r_fixed" "$(verdict 'v >= 0.5' "$r_fixed")"
if [ -n "$nginx_port" ]; then
	row "calls/s >= 0.5 x nginx" "$r_nginx" "$(verdict 'v >= 0.5' "$r_nginx")"
fi
row "gateway p99 < 2 ms" "${p99[cortex-gateway]} ms" "$(verdict 'v < 2' "${p99[cortex-gateway]}")"
row "gateway peak RSS < 20 MB" "$rss_mb MB" "$(verdict 'v < 20' "$rss_mb")"

if [ "$errors" -ne 0 ]; then
	echo "bench: FAILED: some responses were errors (see above); the figures are not valid" >&2
	exit 1
fi
if [ "$misses" -ne 0 ] && [ "$strict" = 1 ]; then
	echo "bench: $misses target(s) missed (BENCH_STRICT=1)" >&2
	exit 1
fi
exit 0
