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
	elseif body == nil or not string.find(body, '"data"', 1, true) then
		no_result = no_result + 1
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
