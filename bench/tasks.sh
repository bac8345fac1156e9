#!/usr/bin/env bash
# bench/tasks.sh BUILD_DIR — the task store half of `make bench` (issue 10), on each backend
# this tree has (dir, with fsync; redis, against a redis-server of its own, once
# common/taskstore_redis.c exists):
#   19 in one call    cortex_create_task with tasks: [19 tasks] through the gateway over HTTP
#                     (curl's time_total, loopback), and the same cx_task_create straight on the
#                     store (bench/taskctl) — target < 5 ms on the dir store
#   create at 32      cortex_create_task of one task from 32 connections (wrk): tasks/s
#   claim-to-claim    an empty worker loop (claim, finish, claim ...) draining the queue: tasks/s
#   wake-up           a task created while a claimer of another process waits: from the start
#                     of the create to the claimer holding it — target < 10 ms
# Every wrk answer is checked (no error, no isError result); a run with errors exits 1. A missed
# target exits 0 unless BENCH_STRICT=1.
#
# Environment: BENCH_SECONDS (3: the create load; every task it makes is drained after),
# BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_ROUNDS (50: of the 19-task call and of the
# wake-up), BENCH_STRICT (0).
set -euo pipefail

[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: bench/tasks.sh BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
secs=${BENCH_SECONDS:-3}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
rounds=${BENCH_ROUNDS:-50}
strict=${BENCH_STRICT:-0}
proto=2025-11-25
taskctl=$build/bench/taskctl

. "$here/lib.sh"
bench_setup tasks "$build/cortex-gateway" "$taskctl"

post() { # post BODY [HEADER...]: prints the body; headers go to $tmp/h
	local body=$1
	shift
	curl -sS --max-time 30 -D "$tmp/h" -X POST -H 'Accept: application/json, text/event-stream' \
		-H 'Content-Type: application/json' "$@" --data-binary "$body" "$gw_url"
}

start_redis() { # a redis-server on a free port (redis_port), its data in $tmp/redis
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$tmp/redis"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly yes --dir "$tmp/redis" \
		>"$tmp/redis.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do
		grep -q 'Ready to accept connections' "$tmp/redis.log" && { redis_port=$port; return 0; }
		sleep 0.1
	done
	die "redis-server did not start: $(cat "$tmp/redis.log")"
}

num() { # num JSON KEY: a number from taskctl's one-line JSON
	sed -n "s/.*\"$2\": *\([0-9.e+-]*\).*/\1/p" <<<"$1"
}
pct() { # pct P: the P-th percentile of the numbers on stdin
	sort -g | awk -v p="$1" '{ v[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; printf "%.2f", v[i] }'
}

misses=0
check() { # check LABEL VALUE AWK_CONDITION
	local r
	if awk -v v="$2" "BEGIN { exit !($3) }"; then r=PASS; else r=MISS; misses=$((misses + 1)); fi
	printf '  %-44s %10s  %s\n' "$1" "$2" "$r"
}

bench_backend() { # bench_backend NAME CONF
	local name=$1 conf=$2 gw_pid session body one line out t c19 direct wake
	cat >"$tmp/gateway.json" <<JSON
{"audit": {"file": "$tmp/audit-$name.log"}, "tasks": $conf}
JSON
	"$build/cortex-gateway" --listen 127.0.0.1:0 --config "$tmp/gateway.json" >/dev/null \
		2>"$tmp/gateway-$name.log" &
	pids+=($!)
	gw_pid=${pids[-1]}
	gw_url=http://127.0.0.1:$(port_of "$tmp/gateway-$name.log" "$gw_pid")/mcp ||
		die "the gateway did not start: $(cat "$tmp/gateway-$name.log")"
	post '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"'$proto'","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' >/dev/null ||
		die "initialize failed"
	session=$(awk 'tolower($1) == "mcp-session-id:" { sub(/\r$/, "", $2); print $2 }' "$tmp/h")
	[ -n "$session" ] || die "initialize gave no session"
	local hs=(-H "Mcp-Session-Id: $session" -H "MCP-Protocol-Version: $proto")
	post '{"jsonrpc":"2.0","method":"notifications/initialized"}' "${hs[@]}" >/dev/null

	# 19 tasks in one call, through the gateway.
	body='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"cortex_create_task","arguments":{"tasks":['
	for i in $(seq 1 19); do
		body+="{\"query\":\"benchmark batch task $i\",\"priority\":$((i % 5 + 1))}"
		[ "$i" -lt 19 ] && body+=,
	done
	body+=']}}}'
	one=$(post "$body" "${hs[@]}")
	grep -q '"created":19' <<<"$one" || die "cortex_create_task did not create 19 tasks: ${one:0:300}"
	: >"$tmp/c19"
	for ((r = 0; r < rounds; r++)); do
		curl -sS --max-time 30 -o "$tmp/c19.out" -w '%{time_total}\n' -X POST \
			-H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json' \
			"${hs[@]}" --data-binary "$body" "$gw_url" |
			awk '{ printf "%.3f\n", $1 * 1000 }' >>"$tmp/c19"
		grep -q '"created":19' "$tmp/c19.out" || die "a 19-task call failed: $(head -c 300 "$tmp/c19.out")"
	done
	c19=$(pct 50 <"$tmp/c19")
	direct=$("$taskctl" "$conf" bench-create 19 "$rounds") || die "taskctl bench-create failed"

	# One task per call from 32 connections.
	BENCH_TOOL=cortex_create_task BENCH_ARGS='{"query":"benchmark load task","category":"general"}' \
		MCP_SESSION_ID=$session wrk -t"$threads" -c"$conns" -d"${secs}s" --latency \
		-s "$here/call.lua" "$gw_url" >"$tmp/wrk-$name" 2>&1 || true
	line=$(grep '^CXBENCH responses=' "$tmp/wrk-$name") || die "no CXBENCH line from wrk: $(cat "$tmp/wrk-$name")"
	grep -q ' bad_status=0 no_result=0' <<<"$line" && ! grep -q 'Socket errors' "$tmp/wrk-$name" ||
		die "cortex_create_task under load had failed answers: $line $(grep -h 'first_bad\|Socket errors' "$tmp/wrk-$name")"
	kill -0 "$gw_pid" 2>/dev/null || die "the gateway died under load: $(tail -n 20 "$tmp/gateway-$name.log")"

	# Drain everything made so far with one empty worker loop, then the wake-up latency.
	out=$("$taskctl" "$conf" bench-claim 1) || die "taskctl bench-claim failed: $out"
	wake=$("$taskctl" "$conf" bench-wake "$rounds") || die "taskctl bench-wake failed"

	echo "$name store ($conf):"
	printf '  %-44s p50 %s ms, p95 %s ms\n' "19 tasks in one cortex_create_task (HTTP)" "$c19" \
		"$(pct 95 <"$tmp/c19")"
	# The same calls as the gateway timed them (the audit line's duration_ms: from the request's
	# arrival to its answer, without HTTP and curl).
	grep -F '"tool":"cortex_create_task"' "$tmp/audit-$name.log" | grep -F '"tasks":[' |
		sed -n 's/.*"duration_ms":\([0-9]*\).*/\1/p' >"$tmp/c19.audit"
	printf '  %-44s p50 %s ms, p95 %s ms\n' "the same, as the gateway timed them (audit)" \
		"$(pct 50 <"$tmp/c19.audit")" "$(pct 95 <"$tmp/c19.audit")"
	printf '  %-44s p50 %s ms, p95 %s ms\n' "19 tasks in one cx_task_create (direct)" \
		"$(printf '%.2f' "$(num "$direct" p50_ms)")" "$(printf '%.2f' "$(num "$direct" p95_ms)")"
	printf '  %-44s %s tasks/s (p50 %s, p99 %s)\n' "create at $conns connections (1 task/call)" \
		"$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$tmp/wrk-$name")" \
		"$(awk '$1 == "50%" { print $2 }' "$tmp/wrk-$name")" "$(awk '$1 == "99%" { print $2 }' "$tmp/wrk-$name")"
	printf '  %-44s %s tasks/s (%s tasks)\n' "claim-to-claim, one empty worker loop" \
		"$(printf '%.0f' "$(num "$out" tasks_per_s)")" "$(num "$out" tasks)"
	printf '  %-44s p50 %s ms, p95 %s ms, max %s ms\n' "creation -> waiting claimer's wake-up" \
		"$(printf '%.2f' "$(num "$wake" p50_ms)")" "$(printf '%.2f' "$(num "$wake" p95_ms)")" \
		"$(printf '%.2f' "$(num "$wake" max_ms)")"
	check "19 in one call (HTTP) p50 < 5 ms" "$c19" 'v < 5'
	check "wake-up p95 < 10 ms" "$(printf '%.2f' "$(num "$wake" p95_ms)")" 'v < 10'
	kill -TERM "$gw_pid"
	wait "$gw_pid" || die "the gateway did not stop cleanly: $(tail -n 20 "$tmp/gateway-$name.log")"
}

echo "bench: tasks: $rounds rounds, create load ${secs}s at $conns connections"
mkdir -p "$tmp/dir"
bench_backend dir "{\"store\": \"dir\", \"dir\": \"$tmp/dir\"}"
if [ -f "$root/common/taskstore_redis.c" ]; then
	command -v redis-server >/dev/null || die "redis-server is not installed (scripts/deps.sh)"
	start_redis
	bench_backend redis "{\"store\": \"redis\", \"url\": \"redis://127.0.0.1:$redis_port/0\"}"
else
	echo "redis store: not in this tree yet (common/taskstore_redis.c), not measured"
fi
[ "$misses" -eq 0 ] || [ "$strict" != 1 ] || die "$misses target(s) missed (BENCH_STRICT=1)"
