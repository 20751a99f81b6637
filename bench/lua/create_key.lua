-- POST /v1/financial_connections/sessions as the official SDKs send it: the same form as create.lua with
-- a fresh Idempotency-Key on every request (thread number + counter + a random run prefix: unique).
local dir = os.getenv("BENCH_LUA_DIR") or "bench/lua"
dofile(dir .. "/report.lua")

local key = os.getenv("BENCH_KEY") or "sk_test_bench"
local customer = os.getenv("BENCH_CUSTOMER") or "cus_bench"
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local body = "account_holder[type]=customer&account_holder[customer]=" .. customer
   .. "&permissions[]=balances&permissions[]=ownership&filters[countries][]=US"

local counter = 0
function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
end

local n = 0
function request()
   n = n + 1
   local headers = {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Idempotency-Key"] = run .. "-" .. tostring(tid or 0) .. "-" .. tostring(n),
   }
   return wrk.format("POST", "/v1/financial_connections/sessions", headers, body)
end
