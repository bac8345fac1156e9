#!/bin/sh
# `make run`: start the gateway and, once it listens, tell the operator how to connect Claude
# Code (HTTP) and Claude Desktop (stdio) to it.
#   CORTEX_CONFIG (or `make run CONFIG=FILE`)  the config file; its `listen` is used
#   CORTEX_LISTEN                              HOST:PORT, overrides the file's `listen`
# Logs go to stderr as the gateway writes them; the snippets go to stdout after the gateway
# has bound its port, so they always show the port it really listens on.
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
config=
if [ -n "${CORTEX_CONFIG:-}" ]; then
	config=$(cd "$(dirname "$CORTEX_CONFIG")" && pwd)/$(basename "$CORTEX_CONFIG")
fi

set -- "$bin"
[ -n "${CORTEX_LISTEN:-}" ] && set -- "$@" --listen "$CORTEX_LISTEN"
[ -n "$config" ] && set -- "$@" --config "$config"

snippets() {
	url=$1 auth=$2
	local_url=$(printf '%s' "$url" | sed 's|//0\.0\.0\.0:|//127.0.0.1:|; s|//\[::\]:|//[::1]:|')
	header=
	case $auth in on,*) header=' --header "Authorization: Bearer $CORTEX_TOKEN"' ;; esac
	stdio_args='"--stdio"'
	[ -n "$config" ] && stdio_args="$stdio_args, \"--config\", \"$config\""
	cat <<MSG

Cortex gateway: $local_url — auth: $auth
MSG
	[ "$local_url" != "$url" ] && cat <<MSG
From another machine: http://<this machine's address or name>:${url##*:}
  (the gateway's "http: Host must be ..." line above lists the names it accepts)
MSG
	[ -n "$header" ] && cat <<MSG
Every request must carry the header
  Authorization: Bearer <token>
with a token whose SHA-256 is in the config's tokens[].sha256 (put it in \$CORTEX_TOKEN).
MSG
	cat <<MSG

Claude Code (Streamable HTTP):
  claude mcp add --transport http cortex $local_url$header

Claude Desktop (stdio) — add to claude_desktop_config.json:
  {
    "mcpServers": {
      "cortex": {
        "command": "$bin",
        "args": [$stdio_args]
      }
    }
  }

Stop with Ctrl-C (in-flight calls finish first).

MSG
}

dir=$(mktemp -d)
fifo=$dir/log
mkfifo "$fifo"
# Copies the log to stderr; prints the snippets when the gateway says it is ready.
(
	url= shown=
	while IFS= read -r line; do
		printf '%s\n' "$line" >&2
		case $line in
		*" listening on http://"*)
			url=${line##*listening on } ;;
		*" ready: "*)
			if [ -n "$url" ] && [ -z "$shown" ]; then
				snippets "$url" "${line##*; auth }"
				shown=1
			fi ;;
		esac
	done
) <"$fifo" &
reader=$!
# Ctrl-C reaches the gateway, which drains and exits; this script waits for the last log lines.
trap ':' INT
rc=0
"$@" 2>"$fifo" || rc=$?
wait "$reader" || true
rm -rf "$dir"
exit "$rc"
