-- GET /v1/financial_connections/sessions/{id}, cycling through the ids in BENCH_IDS_FILE (one a line).
-- Each wrk thread starts at a different offset so threads do not walk the list in lock-step.
local dir = os.getenv("BENCH_LUA_DIR") or "bench/lua"
dofile(dir .. "/report.lua")

local key = os.getenv("BENCH_KEY") or "sk_test_bench"
local ids_file = os.getenv("BENCH_IDS_FILE") or error("BENCH_IDS_FILE is not set")

local ids = {}
for line in io.lines(ids_file) do
   if line ~= "" then ids[#ids + 1] = line end
end
if #ids == 0 then error("no ids in " .. ids_file) end

local counter = 0
function setup(thread)
   thread:set("offset", counter * 7919)
   counter = counter + 1
end

local i = 0
local headers = { ["Authorization"] = "Bearer " .. key }
function request()
   local id = ids[((offset or 0) + i) % #ids + 1]
   i = i + 1
   return wrk.format("GET", "/v1/financial_connections/sessions/" .. id, headers)
end
