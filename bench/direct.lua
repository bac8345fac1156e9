-- wrk script: the request an adapter sends, straight to the backend (bench/backend.sh). GET
-- BENCH_PATH with the header BENCH_AUTH ("Name: value"); every answer is checked as call.lua
-- checks the gateway's, and done() prints the same CXBENCH line.
local path = os.getenv("BENCH_PATH")
local auth = os.getenv("BENCH_AUTH")
if path == nil or auth == nil then
	io.stderr:write("direct.lua: BENCH_PATH and BENCH_AUTH must be set\n")
	os.exit(2)
end
local name, value = string.match(auth, "^([^:]+):%s*(.*)$")

wrk.method = "GET"
wrk.path = path
wrk.headers[name] = value

-- Proxmox's envelope: the answer is under "data".
function cxbench_ok(body)
	return string.find(body, '"data"', 1, true) ~= nil
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "check.lua")
