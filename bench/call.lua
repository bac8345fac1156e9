-- wrk script: one MCP tools/call of gateway_status per request, the same bytes to every target.
-- The session id comes from the environment (MCP_SESSION_ID), set by bench/run.sh after it has
-- initialised a session. Every response is checked, so a benchmark never silently measures
-- errors: done() prints one line
--   CXBENCH responses=N bad_status=N no_result=N
-- that run.sh parses; bad_status counts non-200 answers, no_result counts 200 answers whose body
-- holds no JSON-RPC "result" (an error object, an empty body) or an isError result.

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

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	responses = 0
	bad_status = 0
	no_result = 0
	first_bad = ""
end

function response(status, headers, body)
	responses = responses + 1
	if status ~= 200 then
		bad_status = bad_status + 1
		if first_bad == "" then
			first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
		end
	elseif body == nil or not string.find(body, '"result"', 1, true)
		or string.find(body, '"isError":true', 1, true) then
		no_result = no_result + 1
		if first_bad == "" then
			first_bad = "200 " .. string.sub(body or "", 1, 200)
		end
	end
end

function done(summary, latency, requests)
	local n, bs, nr, fb = 0, 0, 0, ""
	for _, t in ipairs(threads) do
		n = n + t:get("responses")
		bs = bs + t:get("bad_status")
		nr = nr + t:get("no_result")
		if fb == "" then
			fb = t:get("first_bad")
		end
	end
	io.write(string.format("CXBENCH responses=%d bad_status=%d no_result=%d\n", n, bs, nr))
	if fb ~= "" then
		io.write("CXBENCH first_bad=" .. string.gsub(fb, "[\r\n]", " ") .. "\n")
	end
end
