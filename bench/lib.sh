# bench/lib.sh — what bench/backend.sh and bench/tasks.sh share; sourced, never run.

# bench_setup NAME FILE...: each FILE must be executable and wrk installed; makes the scratch
# folder $tmp, removed at exit after every process in pids has been stopped.
bench_setup() {
	local name=$1 f
	shift
	for f in "$@"; do
		[ -x "$f" ] || { echo "bench: '$f' is missing; run 'make bench'" >&2; exit 2; }
	done
	command -v wrk >/dev/null || { echo "bench: 'wrk' is not installed" >&2; exit 2; }
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/cortex-bench-$name.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}

die() { echo "bench: $*" >&2; exit 1; }

port_of() { # port_of LOG PID: the port of the first http://127.0.0.1:PORT in LOG
	for _ in $(seq 1 100); do
		p=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$1" 2>/dev/null | head -n1 | sed 's/.*://') || true
		[ -n "$p" ] && { echo "$p"; return 0; }
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
