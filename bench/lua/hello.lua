-- GET /hello on the echo baseline: the plain HTTP limit, compared with session retrieve.
local dir = os.getenv("BENCH_LUA_DIR") or "bench/lua"
dofile(dir .. "/report.lua")
wrk.method = "GET"
wrk.path = "/hello"
