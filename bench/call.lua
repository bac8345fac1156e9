-- wrk script: one MCP tools/call of gateway_status per request, the same bytes to every target.
-- The session id comes from the environment (MCP_SESSION_ID), set by bench/run.sh after it has
-- initialised a session. Every response is checked (check.lua): no_result counts 200 answers
-- whose body holds no JSON-RPC "result" (an error object, an empty body) or an isError result.

local session = os.getenv("MCP_SESSION_ID")
if session == nil or session == "" then
	io.stderr:write("call.lua: MCP_SESSION_ID is not set\n")
	os.exit(2)
end

-- BENCH_TOOL names another tool (default gateway_status).
local tool = os.getenv("BENCH_TOOL")
if tool == nil or tool == "" then
	tool = "gateway_status"
end

-- BENCH_ARGS: the arguments as JSON (default {}).
local args = os.getenv("BENCH_ARGS")
if args == nil or args == "" then
	args = "{}"
end

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
	.. '"params":{"name":"' .. tool .. '","arguments":' .. args .. '}}'
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Mcp-Session-Id"] = session
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"

-- A JSON-RPC result that is not an isError one.
function cxbench_ok(body)
	return string.find(body, '"result"', 1, true) ~= nil
		and not string.find(body, '"isError":true', 1, true)
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "check.lua")
