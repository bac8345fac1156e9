#!/bin/bash
# make demo: the whole of Cortex on this machine, against the backend simulator.
#   scripts/demo.sh [BUILD_DIR]     (make demo builds first)
# Starts build/cortex-sim (Proxmox VE, Cloudflare, Sandfly, UniFi, Kubernetes and a scripted
# LLM), cortex-gateway with all five adapters pointed at it and the cortex_* task tools on a
# folder of its own, and cortex-orchestrator; prints what to try; Ctrl-C (SIGINT) or SIGTERM
# stops all three and removes the folder.
# Environment: CORTEX_DEMO_LISTEN (default 127.0.0.1:8080; port 0 picks a free one);
# ANTHROPIC_API_KEY (a real model: the built-in masters' claude-sonnet-4-5), else
# OPENAI_BASE_URL (an OpenAI-compatible server: llama.cpp, vLLM, Ollama; OPENAI_MODEL, default
# llama3.1:8b; OPENAI_API_KEY if it wants one), else the simulator's scripted LLM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
O=${1:-build}
case $O in /*) ;; *) O=$root/$O ;; esac
listen=${CORTEX_DEMO_LISTEN:-127.0.0.1:8080}
for b in cortex-sim cortex-gateway cortex-orchestrator cortexctl; do
	[ -x "$O/$b" ] || { echo "demo: $O/$b is missing; run make demo (it builds first)" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/cortex-demo.XXXXXX")
pids=()
stopping=0
stop() {
	[ "$stopping" = 1 ] && return
	stopping=1
	trap '' INT TERM
	echo "demo: stopping (orchestrator, gateway, simulator)"
	# The orchestrator first (it gives its tasks back), then the gateway, then the backends.
	local names=(sim gateway orchestrator) st
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		st=0
		wait "${pids[i]}" 2>/dev/null || st=$?
		# The gateway and the orchestrator stop cleanly on SIGTERM and SIGINT (0); the
		# simulator simply ends (143, or 130 for a terminal's SIGINT).
		case ${names[i]}:$st in *:0 | sim:130 | sim:143) ;;
		*) echo "demo: the ${names[i]} exited with status $st" >&2 ;;
		esac
	done
	grep -h -E 'Sanitizer|runtime error' "$dir"/*.log >&2 2>/dev/null || true
	rm -rf "$dir"
	echo "demo: stopped"
}
trap 'stop; exit 0' INT TERM
trap 'stop' EXIT

# Waits until FILE has a line matching RE (prints the match) or PID has exited.
wait_line() {
	local file=$1 re=$2 pid=$3 what=$4 n=0 m
	while :; do
		m=$(grep -m1 -oE "$re" "$file" 2>/dev/null || true)
		[ -n "$m" ] && { printf '%s\n' "$m"; return 0; }
		if ! kill -0 "$pid" 2>/dev/null || [ $n -ge 600 ]; then
			echo "demo: $what did not start; its log:" >&2
			cat "$file" >&2
			return 1
		fi
		n=$((n + 1))
		sleep 0.1
	done
}

# The simulator, with a script for its LLM: a question about VMs lists them, one about DNS
# lists the zones, anything else reads gateway_status.
sim_key=sk-ant-sim-0123456789abcdef
cat >"$dir/sim.json" <<EOF
{"llm": {"api_key": "$sim_key", "conversations": [
  {"match": "VM", "turns": [{"tool_use": [{"name": "proxmox_list_vms", "input": {}}]},
                            {"text": "Here are the guests Proxmox reports: {{last_tool_result}}"}]},
  {"match": "DNS", "turns": [{"tool_use": [{"name": "cloudflare_list_zones", "input": {}}]},
                             {"text": "These zones are on Cloudflare: {{last_tool_result}}"}]},
  {"match": "", "turns": [{"tool_use": [{"name": "gateway_status", "input": {}}]},
                          {"text": "(scripted LLM) The gateway reports: {{last_tool_result}}"}]}]}}
EOF
"$O/cortex-sim" --listen 127.0.0.1:0 --config "$dir/sim.json" >"$dir/sim.log" 2>&1 &
pids+=($!)
sim=$(wait_line "$dir/sim.log" 'http://127\.0\.0\.1:[0-9]+' "${pids[0]}" cortex-sim)

# The simulator's credentials, as files (the gateway reads secrets from files or the
# environment, never from its config).
install -d -m 0700 "$dir/secrets"
printf %s 5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12 >"$dir/secrets/proxmox-token"
printf %s cfsim-token-0123456789abcdef0123456789abcdef >"$dir/secrets/cloudflare-token"
printf %s sandfly-sim-password >"$dir/secrets/sandfly-password"
printf %s sim-unifi-api-key-6f1d2c3b4a5e >"$dir/secrets/unifi-key"
head -c 48 /dev/urandom | base64 >"$dir/secrets/session-key"
chmod 0600 "$dir"/secrets/*
cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: sim
clusters:
- name: sim
  cluster:
    server: $sim
users:
- name: cortex
  user:
    token: k8ssim-token-0123456789abcdef
contexts:
- name: sim
  context:
    cluster: sim
    user: cortex
    namespace: default
EOF
chmod 0600 "$dir/kubeconfig"
cat >"$dir/gateway.json" <<EOF
{
  "listen": "$listen",
  "http": {"session_key": {"file": "secrets/session-key"}},
  "audit": {"file": "audit.log"},
  "adapters": {
    "proxmox": {"url": "$sim", "token_id": "root@pam!cortex", "token_secret": {"file": "secrets/proxmox-token"}},
    "cloudflare": {"url": "$sim/client/v4", "api_token": {"file": "secrets/cloudflare-token"}},
    "sandfly": {"url": "$sim", "username": "admin", "password": {"file": "secrets/sandfly-password"}},
    "unifi": {"url": "$sim/unifi", "api_key": {"file": "secrets/unifi-key"}},
    "kubectl": {"kubeconfig": "kubeconfig"}
  },
  "tasks": {"store": "dir", "dir": "$dir/tasks", "fsync": false}
}
EOF
mkdir -p "$dir/tasks"
"$O/cortex-gateway" --config "$dir/gateway.json" >"$dir/gateway.log" 2>&1 &
pids+=($!)
url=$(wait_line "$dir/gateway.log" 'http://[^ ]+/mcp' "${pids[1]}" cortex-gateway)

# The orchestrator, on the same task store, with whichever LLM the environment offers.
cat >"$dir/orchestrator.json" <<EOF
{"tasks": {"store": "dir", "dir": "$dir/tasks", "fsync": false},
 "orchestrator": {"gateway_url": "$url", "masters": "$dir/masters.json"}}
EOF
masters="$root/manifests/examples/masters.json"
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
	llm="Anthropic's API (ANTHROPIC_API_KEY is set), as the masters in manifests/examples/masters.json say"
	cp "$masters" "$dir/masters.json"
	orch_env=()
elif [ -n "${OPENAI_BASE_URL:-}" ]; then
	model=${OPENAI_MODEL:-llama3.1:8b}
	llm="the OpenAI-compatible server at $OPENAI_BASE_URL (OPENAI_BASE_URL), model $model (OPENAI_MODEL)"
	sed "s|\"models\": \[[^]]*\]|\"models\": [{\"api\": \"openai\", \"model\": \"$model\", \"base_url\": \"$OPENAI_BASE_URL\"}]|" \
		"$masters" >"$dir/masters.json"
	orch_env=()
else
	llm="the simulator's scripted LLM (set ANTHROPIC_API_KEY, or OPENAI_BASE_URL for a local model, to use a real one)"
	cp "$masters" "$dir/masters.json"
	orch_env=(ANTHROPIC_BASE_URL="$sim" ANTHROPIC_API_KEY="$sim_key")
fi
env ${orch_env[@]+"${orch_env[@]}"} "$O/cortex-orchestrator" --config "$dir/orchestrator.json" \
	>"$dir/orchestrator.log" 2>&1 &
pids+=($!)
wait_line "$dir/orchestrator.log" 'cortex-orchestrator [^ ]+: [0-9]+ masters' "${pids[2]}" cortex-orchestrator >/dev/null

ctl="$O/cortexctl"
cat <<EOF

Cortex demo: the simulator at $sim; the gateway at $url (Proxmox VE, Cloudflare, Sandfly, UniFi,
Kubernetes and the task tools; no token, loopback only); the orchestrator with $llm.
pids: sim ${pids[0]} gateway ${pids[1]} orchestrator ${pids[2]}
logs: $dir/{sim,gateway,orchestrator}.log, audit lines in $dir/audit.log

Try:
  export CORTEX_GATEWAY_URL=$url
  $ctl status
  $ctl tools
  $ctl call proxmox_list_vms
  $ctl call kubectl_get kind=pods
  $ctl task create "What VMs run on pve1?" --category infrastructure --wait
  $ctl task list

  curl -s $url -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\
    -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: cloudflare_list_zones' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cloudflare_list_zones","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'

Claude Code:  claude mcp add --transport http cortex-demo $url
Claude Desktop (claude_desktop_config.json), the gateway as a child over stdio:
  {"mcpServers": {"cortex-demo": {"command": "$O/cortex-gateway",
    "args": ["--stdio", "--config", "$dir/gateway.json"]}}}

Ctrl-C stops everything this demo started.
demo: ready
EOF

# Until a signal, or until one of the three exits by itself.
set +e
wait -n "${pids[@]}"
rc=$?
# Ctrl-C at a terminal reaches the children too: one may end before this shell's own SIGINT is
# handled. Give that signal a moment before calling the exit unexpected.
sleep 0.5
if [ "$stopping" = 0 ]; then
	echo "demo: a process exited on its own (status $rc); the logs:" >&2
	tail -n 20 "$dir"/*.log >&2
	exit 1
fi
