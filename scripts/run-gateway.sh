#!/bin/sh
# `make run`: start the gateway on loopback with built-in defaults and tell the operator how
# to connect Claude Desktop (stdio) and Claude Code (HTTP) to it.
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
listen=${CORTEX_LISTEN:-127.0.0.1:8080}
cat <<MSG

Cortex gateway: http://$listen/mcp

Claude Code (Streamable HTTP):
  claude mcp add --transport http cortex http://$listen/mcp

Claude Desktop (stdio) — add to claude_desktop_config.json:
  {
    "mcpServers": {
      "cortex": {
        "command": "$bin",
        "args": ["--stdio"]
      }
    }
  }

Stop with Ctrl-C (in-flight calls finish first).

MSG
set -- "$bin" --listen "$listen"
[ -n "${CORTEX_CONFIG:-}" ] && set -- "$@" --config "$CORTEX_CONFIG"
exec "$@"
