#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: a figure that does not move with
# the machine's load, for comparing two builds of finconn where wrk's req/s varies by ±10% between
# identical runs (this machine's VM has no hardware counters for `perf stat`). See bench/README.md.
#
#   bash bench/instructions.sh                          # target/release/finconn
#   bash bench/instructions.sh /tmp/old-finconn target/release/finconn
#
# Environment: BENCH_INSTR_REQUESTS (default 2000) retrieves of one session over one keep-alive curl
# connection, after as many unmeasured ones; BENCH_INSTR_PORT (default 19112). Counts the whole process
# (request workers, the writer threads, the log thread), not the kernel.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${BENCH_INSTR_REQUESTS:-2000}"
PORT="${BENCH_INSTR_PORT:-19112}"
URL="http://127.0.0.1:$PORT"
[ "$#" -gt 0 ] || set -- "$ROOT/target/release/finconn"

if ! command -v valgrind >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "valgrind not found: installing it from Debian" >&2
  $sudo apt-get install -y -qq valgrind >&2 || { $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq valgrind >&2; }
fi

measure() {
  local bin="$1" tmp pid key cus sess cfg i out
  tmp="$(mktemp -d)"
  key="sk_test_instr$RANDOM"
  FINCONN_RATE_LIMIT_PER_SECOND=0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$tmp/callgrind.out" "$bin" serve --listen "127.0.0.1:$PORT" \
    --database "sqlite://$tmp/finconn.db" >"$tmp/server.log" 2>&1 &
  pid=$!
  for i in $(seq 1 600); do curl -fsS -o /dev/null "$URL/healthz" 2>/dev/null && break; sleep 0.2; done
  cus="$(curl -fsS -u "$key:" "$URL/v1/customers" -d email=a@example.com | grep -o '"id": "cus_[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4)"
  sess="$(curl -fsS -u "$key:" "$URL/v1/financial_connections/sessions" -d 'account_holder[type]=customer' \
    -d "account_holder[customer]=$cus" -d 'permissions[]=balances' | grep -o '"id": "fcsess_[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4)"
  [[ "$sess" == fcsess_* ]] || { tail "$tmp/server.log" >&2; kill "$pid"; echo "could not create a session" >&2; return 1; }
  cfg="$tmp/get.curl"
  for i in $(seq 1 "$N"); do
    printf 'url = "%s/v1/financial_connections/sessions/%s"\nheader = "Authorization: Bearer %s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$URL" "$sess" "$key" >>"$cfg"
    [ "$i" -eq "$N" ] || echo next >>"$cfg"
  done
  curl -sS -K "$cfg" >/dev/null                      # warm-up, not counted
  callgrind_control -i on "$pid" >/dev/null
  out="$(curl -sS -K "$cfg")"
  callgrind_control -d "$pid" >/dev/null            # the measured part: callgrind.out.1
  callgrind_control -i off "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [ "$(grep -c '^200$' <<<"$out")" -eq "$N" ] || { echo "$bin: not every retrieve answered 200" >&2; return 1; }
  local total
  total="$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/callgrind.out.1")"
  [ -n "$total" ] || { echo "$bin: callgrind wrote no total" >&2; return 1; }
  awk -v t="$total" -v n="$N" -v b="$bin" 'BEGIN {printf "%-40s %8.0f instructions per retrieve\n", b, t / n}'
  rm -rf "$tmp"
}

for bin in "$@"; do measure "$bin"; done
