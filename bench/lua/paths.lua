-- GET each path in BENCH_PATHS_FILE (one a line, e.g. "/v1/financial_connections/accounts?limit=10"),
-- cycling through them. Used for session retrieve (one path per seeded session), the account list (one
-- path) and the transaction list (one path per checking account). Each wrk thread starts at a different
-- offset so threads do not walk the list in lock-step.
local dir = os.getenv("BENCH_LUA_DIR") or "bench/lua"
dofile(dir .. "/report.lua")

local key = os.getenv("BENCH_KEY") or "sk_test_bench"
local paths_file = os.getenv("BENCH_PATHS_FILE") or error("BENCH_PATHS_FILE is not set")

local paths = {}
for line in io.lines(paths_file) do
   if line ~= "" then paths[#paths + 1] = line end
end
if #paths == 0 then error("no paths in " .. paths_file) end

local counter = 0
function setup(thread)
   thread:set("offset", counter * 7919)
   counter = counter + 1
end

-- Each request's bytes are built once per thread (in `init`), so the client spends per request only what
-- picking the next one costs: wrk shares the machine's CPUs with the server, and echo's hello.lua (a static
-- request) spends nothing.
local headers = { ["Authorization"] = "Bearer " .. key }
local requests = {}
local i = 0
function init(args)
   for n, path in ipairs(paths) do requests[n] = wrk.format("GET", path, headers) end
end
function request()
   i = i + 1
   return requests[((offset or 0) + i) % #requests + 1]
end
