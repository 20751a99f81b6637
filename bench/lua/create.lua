-- POST /v1/financial_connections/sessions with the Stripe-style form body.
-- BENCH_CUSTOMER: a cus_… id owned by BENCH_KEY (the echo baseline ignores it).
local dir = os.getenv("BENCH_LUA_DIR") or "bench/lua"
dofile(dir .. "/report.lua")

local key = os.getenv("BENCH_KEY") or "sk_test_bench"
local customer = os.getenv("BENCH_CUSTOMER") or "cus_bench"

wrk.method = "POST"
wrk.path = "/v1/financial_connections/sessions"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "account_holder[type]=customer&account_holder[customer]=" .. customer
   .. "&permissions[]=balances&permissions[]=ownership&filters[countries][]=US"
