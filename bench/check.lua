-- The answer check call.lua and direct.lua share (wrk loads it with dofile). A script sets
-- cxbench_ok(body) first: true when a 200 answer's body is what it expects. Every response is
-- checked, so a benchmark never silently measures errors: done() prints one line
--   CXBENCH responses=N bad_status=N no_result=N
-- that bench/run.sh and bench/backend.sh parse, and CXBENCH first_bad=... with the first bad
-- answer. bad_status counts non-200 answers, no_result 200 answers cxbench_ok refuses.

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
	elseif body == nil or not cxbench_ok(body) then
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
