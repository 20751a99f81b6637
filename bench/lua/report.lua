-- Shared by every bench script: one machine-readable line at the end of a wrk run, parsed by run.sh.
--   RESULT requests=N duration_us=N rps=F p50_us=N p99_us=N non2xx=N sock_errors=N
-- non2xx is wrk's "Non-2xx or 3xx responses" counter (status >= 400); sock_errors sums connect/read/write/timeout.
function done(summary, latency, requests)
   local e = summary.errors
   local sock = e.connect + e.read + e.write + e.timeout
   local rps = 0
   if summary.duration > 0 then rps = summary.requests / (summary.duration / 1e6) end
   io.write(string.format(
      "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d non2xx=%d sock_errors=%d\n",
      summary.requests, summary.duration, rps,
      latency:percentile(50), latency:percentile(99), e.status, sock))
end
