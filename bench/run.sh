#!/usr/bin/env bash
# Load benchmark: finconn session create / retrieve and the account / transaction list pages, as ratios
# to the bare echo baseline (../shared/bench/echo), measured in the same run on the same machine.
# See bench/README.md.
#
#   bash bench/run.sh                 # SQLite only, ~12 minutes (+ build)
#   BENCH_PG=1 bash bench/run.sh      # + PostgreSQL (a scratch database, dropped afterwards)
#
# Environment (all optional):
#   BENCH_DURATION   wrk -d per measurement            (default 10s)
#   BENCH_WARMUP     wrk -d warm-up per server, c=16   (default 2s; 0 to skip)
#   BENCH_CONNS      connection counts                 (default "32 64")
#   BENCH_ROUNDS     rounds of each paired cell: the echo baseline, then finconn, back to back (default 3)
#   BENCH_THREADS    wrk -t                            (default 2)
#   BENCH_IDS        sessions created for the retrieve run (default 1000)
#   BENCH_LIST_ACCOUNTS  accounts linked for the list-page runs (default 20)
#   BENCH_REFRESH_TIMEOUT  seconds to wait for their refreshes to succeed (default 60)
#   BENCH_PORT_BASE  first port tried                  (default 18700)
#   BENCH_TMPDIR     where the scratch SQLite files go (default: a mktemp dir under $TMPDIR or /tmp;
#                    must be a real disk, not tmpfs, or synchronous=FULL costs nothing)
#   BENCH_SESSIONS   sessions stored before the "large" runs       (default 1000000)
#   BENCH_TRANSACTIONS  transactions of the one account paged in the "large" runs (default 100000)
#   BENCH_PG         1: also benchmark finconn on PostgreSQL
#   BENCH_SQLITE     0: skip finconn on SQLite (with BENCH_PG=1 and BENCH_RESULTS, for a PostgreSQL-only look)
#   BENCH_RESULTS    where the results go                 (default bench/RESULTS.md)
#   BENCH_PG_URL     PostgreSQL base URL               (default postgres://postgres@127.0.0.1:5432)
#   BENCH_NO_BUILD   1: skip the two cargo builds (binaries must exist)
#   BENCH_ECHO_DIR   the echo crate                    (default <repo>/../shared/bench/echo)
#   BENCH_KEEP_LOGS  1: keep the scratch dir (server logs, raw wrk output) and print its path
#   FINCONN_LOG      passed to finconn (default: finconn's own default, info: one log line per request)
# Exit status: 0 when every measurement ran and finconn answered (almost) only 2xx; 1 otherwise.

set -euo pipefail
# A load test: finconn's per-key rate limit would only measure itself here.
export FINCONN_RATE_LIMIT_PER_SECOND=${FINCONN_RATE_LIMIT_PER_SECOND:-0}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-2s}"
CONNS="${BENCH_CONNS:-32 64}"
THREADS="${BENCH_THREADS:-2}"
ROUNDS="${BENCH_ROUNDS:-3}"
N_IDS="${BENCH_IDS:-1000}"
N_LIST_ACCOUNTS="${BENCH_LIST_ACCOUNTS:-20}"
N_SESSIONS="${BENCH_SESSIONS:-1000000}"
N_TRANSACTIONS="${BENCH_TRANSACTIONS:-100000}"
REFRESH_TIMEOUT="${BENCH_REFRESH_TIMEOUT:-60}"
NEXT_PORT="${BENCH_PORT_BASE:-18700}"
ECHO_DIR="${BENCH_ECHO_DIR:-$ROOT/../shared/bench/echo}"
PG_BASE_IN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
KEY="sk_test_bench$RANDOM"
FINCONN_BIN="$ROOT/target/release/finconn"
# finconn on PostgreSQL needs a master key for live connectors (SQLite generates its own beside the file).
export FINCONN_MASTER_KEY=${FINCONN_MASTER_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
ECHO_BIN="$ROOT/target/echo/release/echo"
LUA_DIR="$HERE/lua"

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'bench: WARNING: %s\n' "$*" >&2; }
die() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup ----
SERVER_PID=""
ECHO_PIDS=()
PG_DB=""
PG_ADMIN=""
TMP=""
cleanup() {
  if declare -F stop_server >/dev/null; then
    stop_server || true
    local p
    for p in "${ECHO_PIDS[@]}"; do SERVER_PID="$p" stop_server || true; done
  fi
  local d
  for d in $PG_DB; do
    psql "$PG_ADMIN" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1 \
      || warn "could not drop PostgreSQL database $d"
  done
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ "${BENCH_KEEP_LOGS:-0}" = 1 ]; then
      printf 'bench: logs and raw wrk output kept in %s\n' "$TMP" >&2
    else
      rm -rf "$TMP"
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------------- tools -----
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  say "wrk not found: installing it from Debian (apt-get install wrk)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v apt-get >/dev/null || die "wrk is missing and apt-get is not available: install wrk yourself"
  $sudo apt-get update -qq >&2 || die "apt-get update failed"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 || die "apt-get install wrk failed"
  command -v wrk >/dev/null || die "wrk still not on PATH after installing it"
}

ensure_wrk
command -v curl >/dev/null || die "curl is required"
[ -f "$LUA_DIR/report.lua" ] || die "missing $LUA_DIR/report.lua"

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  say "building finconn (release)"
  cargo build --release -p finconn-server >&2 || die "cargo build --release -p finconn-server failed"
  say "building echo baseline (release) from $ECHO_DIR"
  [ -f "$ECHO_DIR/Cargo.toml" ] || die "echo baseline not found at $ECHO_DIR (set BENCH_ECHO_DIR)"
  cargo build --release --locked --manifest-path "$ECHO_DIR/Cargo.toml" --target-dir target/echo >&2 \
    || die "building echo failed"
fi
[ -x "$FINCONN_BIN" ] || die "missing $FINCONN_BIN"
[ -x "$ECHO_BIN" ] || die "missing $ECHO_BIN"

if [ -n "${BENCH_TMPDIR:-}" ]; then
  mkdir -p "$BENCH_TMPDIR"
  TMP="$(mktemp -d "$BENCH_TMPDIR/finconn-bench.XXXXXX")"
else
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/finconn-bench.XXXXXX")"
fi
fstype="$(stat -f -c %T "$TMP" 2>/dev/null || echo unknown)"
case "$fstype" in tmpfs|ramfs) warn "$TMP is on $fstype: fsync is free there, the durable figures mean little (set BENCH_TMPDIR)";; esac

# --------------------------------------------------------------- servers -----
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  while port_in_use "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
  PORT="$NEXT_PORT"
  NEXT_PORT=$((NEXT_PORT + 1))
}

# start_server NAME READY_PATH CMD... : sets SERVER_PID and URL
start_server() {
  local name="$1" ready="$2"
  shift 2
  pick_port
  URL="http://127.0.0.1:$PORT"
  local cmd=("$@")
  cmd=("${cmd[@]//@PORT@/$PORT}")
  "${cmd[@]}" >"$TMP/$name.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -20 "$TMP/$name.log" >&2
      die "$name exited during start-up (log above)"
    fi
    if curl -fsS -o /dev/null --max-time 1 "$URL$ready" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$name did not answer $URL$ready within 30 s"
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  local pid="$SERVER_PID"
  SERVER_PID=""
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      warn "server $pid ignored SIGTERM for 10 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# ------------------------------------------------------------ measuring ------
declare -A R       # R[label|c] = "rps p50_us p99_us non2xx sock_errors requests": the median-rps run of the label
declare -A RUNS    # RUNS[label|c] = every run of the label, one "rps p50_us ..." line each
declare -A PAIR    # PAIR[what|base|c] = the ratios of the paired rounds (what / base, measured back to back)
declare -A ECHO_URL  # ECHO_URL[none|full|batch]: the echo servers, running for the whole benchmark
declare -A PAGES   # PAGES[tag] = "what the list pages held" (printed under the table)
LABELS=()          # in display order
BAD=0

# run_wrk LABEL CONNS DURATION SCRIPT URL [record] ; extra env comes from the caller's exports
run_wrk() {
  local label="$1" c="$2" dur="$3" script="$4" url="$5" record="${6:-record}"
  local out="$TMP/wrk.$(echo "$label" | tr -c 'A-Za-z0-9' _).c$c.$record.txt"
  # Each wrk run numbers its Idempotency-Keys from 1 again: a run prefix of its own keeps them unique across
  # runs (a key used by an earlier run would be a replay, not a create).
  BENCH_LUA_DIR="$LUA_DIR" BENCH_KEY="$KEY" \
    BENCH_RUN="${BENCH_RUN:-run}-$(echo "$label" | tr -c 'A-Za-z0-9' _)c$c-$record-$RANDOM$RANDOM" \
    wrk -t"$THREADS" -c"$c" -d"$dur" --timeout 10s -s "$LUA_DIR/$script" "$url" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed for $label c=$c"; }
  local line
  line="$(grep '^RESULT ' "$out" | tail -1)" || { cat "$out" >&2; die "no RESULT line from wrk for $label c=$c"; }
  [ "$record" = record ] || return 0
  local requests rps p50 p99 non2xx sock
  requests="$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")"
  rps="$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$line")"
  p50="$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$line")"
  p99="$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$line")"
  non2xx="$(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$line")"
  sock="$(sed -n 's/.*sock_errors=\([0-9]*\).*/\1/p' <<<"$line")"
  RUNS["$label|$c"]+="$rps $p50 $p99 $non2xx $sock $requests"$'\n'
  # The run with the median req/s (the lower middle one of an even count) stands for the label.
  local n
  n="$(grep -c . <<<"${RUNS["$label|$c"]}")"
  R["$label|$c"]="$(grep . <<<"${RUNS["$label|$c"]}" | sort -n -k1,1 | sed -n "$(((n + 1) / 2))p")"
  case " ${LABELS[*]-} " in *" $label "*) ;; *) LABELS+=("$label") ;; esac
  local bad=$((non2xx + sock))
  printf '    %-34s c=%-3s %10s req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %s  socket errors %s\n' \
    "$label" "$c" "$rps" "$(awk -v x="$p50" 'BEGIN{print x/1000}')" "$(awk -v x="$p99" 'BEGIN{print x/1000}')" \
    "$non2xx" "$sock" >&2
  if [ "$requests" -eq 0 ] || [ "$bad" -ge "$requests" ]; then
    warn "$label c=$c: every request failed; this measurement is worthless (raw output: $out)"
    BAD=1
  elif [ "$bad" -gt 0 ]; then
    # Anything above 0.1% errors makes the req/s figure suspect.
    if [ $((bad * 1000)) -gt "$requests" ]; then
      warn "$label c=$c: $bad of $requests requests were errors (>0.1%)"
      BAD=1
    else
      warn "$label c=$c: $bad of $requests requests were errors"
    fi
  fi
}

measure() {  # measure LABEL SCRIPT  (uses $URL)
  local c
  for c in $CONNS; do run_wrk "$1" "$c" "$DURATION" "$2" "$URL"; done
}
# last_rps LABEL C: the req/s of the label's latest run
last_rps() { grep . <<<"${RUNS["$1|$2"]}" | tail -1 | awk '{print $1}'; }

# paired WHAT SCRIPT BASE BASE_SCRIPT BASE_URL [PATHS BASE_PATHS]: for each connection count, ROUNDS rounds of
# the baseline's cell and finconn's (uses $URL), back to back, the baseline first in odd rounds and second in
# even ones. PATHS and BASE_PATHS, when given, are each cell's BENCH_PATHS_FILE (paths.lua): the baseline can
# be another page of the same server.
# The ratio of a pair is taken from two runs seconds apart, so a drift of the shared machine's speed (seen
# here: echo GET from 95,000 to 117,000 req/s within half an hour) moves both; the table's ratio is the median
# of the rounds'.
paired() {
  local what="$1" script="$2" base="$3" bscript="$4" burl="$5" c r a b
  local paths="${6:-${BENCH_PATHS_FILE:-}}" bpaths="${7:-${BENCH_PATHS_FILE:-}}"
  for c in $CONNS; do
    for r in $(seq 1 "$ROUNDS"); do
      if [ $((r % 2)) = 1 ]; then
        BENCH_PATHS_FILE="$bpaths" run_wrk "$base" "$c" "$DURATION" "$bscript" "$burl"
        BENCH_PATHS_FILE="$paths" run_wrk "$what" "$c" "$DURATION" "$script" "$URL"
      else
        BENCH_PATHS_FILE="$paths" run_wrk "$what" "$c" "$DURATION" "$script" "$URL"
        BENCH_PATHS_FILE="$bpaths" run_wrk "$base" "$c" "$DURATION" "$bscript" "$burl"
      fi
      a="$(last_rps "$what" "$c")"
      b="$(last_rps "$base" "$c")"
      PAIR["$what|$base|$c"]+="$(awk -v a="$a" -v b="$b" 'BEGIN{ if (b > 0) printf "%.6f", a/b; else print 0 }') "
    done
  done
}
warmup() {  # warmup SCRIPT
  [ "$WARMUP" = 0 ] || [ "$WARMUP" = 0s ] || run_wrk warmup 16 "$WARMUP" "$1" "$URL" discard
}

# curl_json METHOD PATH [form...] -> body on stdout, fails unless 200
curl_200() {
  local method="$1" path="$2"
  shift 2
  local args=(-sS --max-time 10 -o "$TMP/curl.body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $KEY" "$URL$path")
  local a
  for a in "$@"; do args+=(--data-urlencode "$a"); done
  local code
  code="$(curl "${args[@]}")" || die "curl $method $path failed"
  [ "$code" = 200 ] || { cat "$TMP/curl.body" >&2; die "$method $path answered $code, not 200"; }
  cat "$TMP/curl.body"
}
json_id() { grep -o '"id": *"[a-z_]*[A-Za-z0-9]*"' | head -1 | sed 's/.*"\([^"]*\)"$/\1/'; }

SESSION_FORM=("account_holder[type]=customer" "permissions[]=balances" "permissions[]=ownership" "filters[countries][]=US")

# bench_finconn LABEL_SUFFIX DATABASE_URL READS_DATABASE_URL: the creates on the first database, the rest
# (retrieve, list pages, the large runs) on the second, fresh one. On one database, the retrieve and the
# "small" side of the large runs had measured a database of the creates' million sessions (the paired create
# cells store about that many), not a small one.
bench_finconn() {
  local tag="$1" db="$2" reads="$3"
  say "finconn ($tag): $db, then $reads"
  local envs=(env)
  [ -z "${FINCONN_LOG:-}" ] || envs+=(FINCONN_LOG="$FINCONN_LOG")
  # start_finconn NAME: finconn on $db, then (set_up) a customer and a session of the benchmark's key in it,
  # checked to answer a retrieve: cus, sess and BENCH_CUSTOMER.
  local cus sess
  start_finconn() {
    start_server "$1" /healthz "${envs[@]}" "$FINCONN_BIN" serve --listen "127.0.0.1:@PORT@" --database "$db"
  }
  set_up() {
    cus="$(curl_200 POST /v1/customers "email=bench@example.com" | json_id)"
    [[ "$cus" == cus_* ]] || die "could not create a customer on finconn ($tag, $db)"
    sess="$(curl_200 POST /v1/financial_connections/sessions "account_holder[customer]=$cus" "${SESSION_FORM[@]}" | json_id)"
    [[ "$sess" == fcsess_* ]] || die "could not create a session on finconn ($tag, $db)"
    curl_200 GET "/v1/financial_connections/sessions/$sess" >/dev/null
    export BENCH_CUSTOMER="$cus"
  }
  start_finconn "finconn-$tag"
  set_up
  export BENCH_RUN="$tag-$RANDOM$RANDOM"
  warmup create_key.lua
  paired "finconn/$tag create+key" create_key.lua "echo batch POST" create.lua "${ECHO_URL[batch]}"
  paired "finconn/$tag create" create.lua "echo batch POST" create.lua "${ECHO_URL[batch]}"
  stop_server

  # The reads on a fresh database: the same key (a sandbox tenant of its own there), a customer and a session.
  db="$reads"
  start_finconn "finconn-$tag-reads"
  set_up

  # Seed the retrieve run: N sessions over one keep-alive connection, ids scraped from the bodies.
  local cfg="$TMP/seed.curl" ids="$TMP/ids-$tag.txt" i
  : >"$cfg"
  for i in $(seq 1 "$N_IDS"); do
    printf 'url = "%s/v1/financial_connections/sessions"\nheader = "Authorization: Bearer %s"\ndata = "account_holder[type]=customer&account_holder[customer]=%s&permissions[]=balances&permissions[]=ownership&filters[countries][]=US"\n' \
      "$URL" "$KEY" "$cus" >>"$cfg"
    [ "$i" -eq "$N_IDS" ] || printf 'next\n' >>"$cfg"
  done
  curl -sS -K "$cfg" | grep -o '"id": *"fcsess_[A-Za-z0-9]*"' | sed 's/.*"\(fcsess_[A-Za-z0-9]*\)"$/\1/' >"$ids" \
    || die "seeding sessions failed"
  local got
  got="$(wc -l <"$ids" | tr -d ' ')"
  [ "$got" -eq "$N_IDS" ] || die "seeding: asked for $N_IDS sessions, got $got ids"
  curl_200 GET "/v1/financial_connections/sessions/$(tail -1 "$ids")" >/dev/null
  sed 's|^|/v1/financial_connections/sessions/|' "$ids" >"$TMP/retrieve-$tag.txt"
  export BENCH_PATHS_FILE="$TMP/retrieve-$tag.txt"
  warmup paths.lua
  paired "finconn/$tag retrieve" paths.lua "echo GET /hello" hello.lua "${ECHO_URL[none]}"

  # The list pages: link N_LIST_ACCOUNTS accounts for the same tenant (key) and customer, refresh their
  # transactions (then their balances), wait until every refresh succeeded, then measure.
  seed_list_data "$tag" "$cus"
  export BENCH_PATHS_FILE="$TMP/paths-$tag-accounts.txt"
  warmup paths.lua
  measure "finconn/$tag acct list" paths.lua
  export BENCH_PATHS_FILE="$TMP/paths-$tag-txn100.txt"
  warmup paths.lua
  measure "finconn/$tag txn l=100" paths.lua
  export BENCH_PATHS_FILE="$TMP/paths-$tag-txn10.txt"
  measure "finconn/$tag txn l=10" paths.lua
  local big_account="${FCAS[0]}"
  stop_server

  # Large: N_SESSIONS sessions in this tenant and N_TRANSACTIONS transactions in one of its accounts,
  # written straight into the stopped server's database, then the same create / retrieve and the pages.
  say "finconn ($tag): storing $N_SESSIONS sessions and $N_TRANSACTIONS transactions of $big_account"
  seed_large "$db" "$sess" "$big_account"
  start_finconn "finconn-$tag-large"
  local first deep body
  first="/v1/financial_connections/transactions?account=$big_account&limit=100"
  curl_200 GET "$first" >/dev/null
  deep="$(sql "$db" "SELECT id FROM transactions WHERE fc_account_id = '$big_account' ORDER BY transacted_at DESC, seq DESC LIMIT 1 OFFSET $((N_TRANSACTIONS * 9 / 10))")"
  [[ "$deep" == fctxn_* ]] || die "no transaction $((N_TRANSACTIONS * 9 / 10)) deep in $big_account ($tag)"
  deep="$first&starting_after=$deep"
  body="$(curl_200 GET "$deep")"
  [ "$(grep -c '"object": *"financial_connections.transaction"' <<<"$body")" -eq 100 ] \
    || die "the deep page of $big_account does not hold 100 transactions ($tag)"
  export BENCH_RUN="$tag-large-$RANDOM$RANDOM"
  warmup create_key.lua
  measure "finconn/$tag 1M create+key" create_key.lua
  export BENCH_PATHS_FILE="$TMP/retrieve-$tag.txt"
  # Warmed up like the small database's retrieve, which it is compared with (without, its c=32 cell began
  # right after 20 s of creates and their checkpoint, and on PostgreSQL measured 0.76 of the small one).
  warmup paths.lua
  measure "finconn/$tag 1M retrieve" paths.lua
  printf '%s\n' "$first" >"$TMP/paths-$tag-first.txt"
  printf '%s\n' "$deep" >"$TMP/paths-$tag-deep.txt"
  # The deep page against the first, paired like the ratios to echo: the two pages of one server, back to
  # back in each round (unpaired, the deep page's cells ran 20 s after the first page's).
  export BENCH_PATHS_FILE="$TMP/paths-$tag-first.txt"
  warmup paths.lua
  export BENCH_PATHS_FILE="$TMP/paths-$tag-deep.txt"
  warmup paths.lua
  paired "finconn/$tag 100k txn deep" paths.lua "finconn/$tag 100k txn first" paths.lua "$URL" \
    "$TMP/paths-$tag-deep.txt" "$TMP/paths-$tag-first.txt"
  stop_server
}

# sql DATABASE_URL STATEMENT: runs one statement (python's sqlite3 or psql) and prints the first column.
sql() {
  local db="$1" stmt="$2"
  case "$db" in
    sqlite://*) python3 - "${db#sqlite://}" "$stmt" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=60)
rows = con.execute(sys.argv[2]).fetchall()
con.commit()
for r in rows:
    print(r[0])
PY
    ;;
    *) psql "$db" -qtA -v ON_ERROR_STOP=1 -c "$stmt" ;;
  esac
}

# seed_large DATABASE_URL TEMPLATE_SESSION ACCOUNT: copies the template session N_SESSIONS times (new ids)
# and the account's newest transaction N_TRANSACTIONS times (new ids, provider ids and times, a minute
# apart going back), with the server stopped.
seed_large() {
  local db="$1" tpl="$2" acct="$3" gen json_id json_set
  case "$db" in
    sqlite://*)
      gen="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
      json_set() { printf "json_set(%s, '\$.%s', %s)" "$1" "$2" "$3"; }
      ;;
    *)
      gen="WITH n(i) AS (SELECT generate_series(1, %d))"
      json_set() { printf "jsonb_set((%s)::jsonb, '{%s}', to_jsonb(%s))::text" "$1" "$2" "$3"; }
      ;;
  esac
  sql "$db" "$(printf "$gen" "$N_SESSIONS") INSERT INTO sessions (id, account_id, livemode, created, version, data) \
    SELECT 'fcsess_bench' || n.i, s.account_id, s.livemode, s.created, 0, $(json_set s.data id "'fcsess_bench' || n.i") \
    FROM n, sessions s WHERE s.id = '$tpl'" >/dev/null || die "storing $N_SESSIONS sessions failed"
  sql "$db" "$(printf "$gen" "$N_TRANSACTIONS") INSERT INTO transactions \
    (id, account_id, livemode, fc_account_id, provider_id, transacted_at, refresh_seq, data) \
    SELECT 'fctxn_bench' || n.i, t.account_id, t.livemode, t.fc_account_id, 'bench' || n.i, t.transacted_at - 60 * n.i, \
    t.refresh_seq, $(json_set "$(json_set "$(json_set t.data id "'fctxn_bench' || n.i")" provider_id "'bench' || n.i")" transacted_at "t.transacted_at - 60 * n.i") \
    FROM n, (SELECT * FROM transactions WHERE fc_account_id = '$acct' ORDER BY transacted_at DESC, seq DESC LIMIT 1) t" \
    >/dev/null || die "storing $N_TRANSACTIONS transactions failed"
  # Statistics, as after any bulk load (PostgreSQL's planner would otherwise guess at a 100k-row account).
  # PostgreSQL: VACUUM too, as an operator does after a bulk load, so autovacuum does not start on the
  # 1.1M fresh rows in the middle of a measurement and the first reads do not set every row's hint bits.
  case "$db" in
    sqlite://*) sql "$db" "ANALYZE" >/dev/null || die "ANALYZE failed" ;;
    *) sql "$db" "VACUUM ANALYZE" >/dev/null || die "VACUUM ANALYZE failed"
       # And write the load's dirty pages out now, not at the next timed checkpoint in the middle of a
       # measurement (a suspect: one run's 1M retrieve at c=32 fell to 0.73 of the small database's, and
       # the c=64 cell right after it measured 1.12). Needs a superuser or pg_checkpoint.
       sql "$db" "CHECKPOINT" >/dev/null \
         || warn "CHECKPOINT failed: the bulk load's pages may be written during the large runs" ;;
  esac
  local got
  got="$(sql "$db" "SELECT count(*) FROM sessions")"
  [ "$got" -gt "$N_SESSIONS" ] || die "only $got sessions stored"
  got="$(sql "$db" "SELECT count(*) FROM transactions WHERE fc_account_id = '$acct'")"
  [ "$got" -gt "$N_TRANSACTIONS" ] || die "only $got transactions in $acct"
}

# The Test Institution accounts whose refreshes succeed (its ninth, "Refresh Fails", always fails).
GOOD_ACCOUNTS=("Success" "High Balance" "Insufficient Funds" "Savings" "Joint Checking" "Credit Card" "Mortgage"
  "Line of Credit")

# refresh_status ACCOUNT_JSON FIELD -> pending|succeeded|failed|"" (FIELD: transaction_refresh, balance_refresh)
refresh_status() {
  tr -d ' \n' <<<"$1" | grep -o "\"$2\":{[^}]*}" | grep -o '"status":"[a-z]*"' | cut -d'"' -f4 || true
}

# refresh_all FEATURE FIELD FCA... : refresh FEATURE of every account, then poll until every FIELD succeeded
refresh_all() {
  local feature="$1" field="$2"
  shift 2
  local a
  for a in "$@"; do curl_200 POST "/v1/financial_connections/accounts/$a/refresh" "features[]=$feature" >/dev/null; done
  local deadline=$((SECONDS + REFRESH_TIMEOUT)) pending st
  while :; do
    pending=0
    for a in "$@"; do
      st="$(refresh_status "$(curl_200 GET "/v1/financial_connections/accounts/$a")" "$field")"
      case "$st" in
        succeeded) ;;
        pending) pending=$((pending + 1)) ;;
        *) die "account $a: $field.status is '${st:-missing}', expected succeeded" ;;
      esac
    done
    [ "$pending" -gt 0 ] || return 0
    [ "$SECONDS" -lt "$deadline" ] \
      || die "$pending of $# $feature refreshes still pending after ${REFRESH_TIMEOUT}s (server log: $TMP/finconn-*.log, kept with BENCH_KEEP_LOGS=1)"
    sleep 0.5
  done
}

# seed_list_data TAG CUSTOMER: writes $TMP/paths-TAG-{accounts,txn100,txn10}.txt
seed_list_data() {
  local tag="$1" cus="$2" fcas=() left="$N_LIST_ACCOUNTS" n sess body names i
  say "finconn ($tag): linking $N_LIST_ACCOUNTS accounts, refreshing their balances, then their transactions"
  while [ "$left" -gt 0 ]; do
    n=$((left < ${#GOOD_ACCOUNTS[@]} ? left : ${#GOOD_ACCOUNTS[@]}))
    sess="$(curl_200 POST /v1/financial_connections/sessions "account_holder[type]=customer" \
      "account_holder[customer]=$cus" "permissions[]=balances" "permissions[]=ownership" \
      "permissions[]=transactions" | json_id)"
    [[ "$sess" == fcsess_* ]] || die "could not create a session with the transactions permission ($tag)"
    names=()
    for ((i = 0; i < n; i++)); do names+=("accounts[]=${GOOD_ACCOUNTS[$i]}"); done
    body="$(curl_200 POST "/v1/test_helpers/financial_connections/sessions/$sess/complete" \
      "institution=fcinst_TestInstitution" "${names[@]}")"
    mapfile -t -O "${#fcas[@]}" fcas < <(grep -o '"id": *"fca_[A-Za-z0-9]*"' <<<"$body" | cut -d'"' -f4)
    left=$((left - n))
  done
  [ "${#fcas[@]}" -eq "$N_LIST_ACCOUNTS" ] || die "linked ${#fcas[@]} accounts, expected $N_LIST_ACCOUNTS ($tag)"
  FCAS=("${fcas[@]}")
  # One feature at a time, balances first: binaries before 2692cb7 hang otherwise (concurrent jobs of one
  # account overwrote each other's refresh status, left pending; a job finishing after a succeeded
  # transaction refresh re-inserted that refresh's id and was retried forever). tests/multiprocess
  # checks the concurrent case.
  refresh_all balance balance_refresh "${fcas[@]}"
  refresh_all transactions transaction_refresh "${fcas[@]}"

  # The account list: the first page. Must hold 10 accounts with has_more (the tenant has more than 10).
  body="$(curl_200 GET "/v1/financial_connections/accounts?limit=10")"
  n="$(grep -c '"object": *"financial_connections.account"' <<<"$body" || true)"
  [ "$n" -eq 10 ] && grep -q '"has_more": *true' <<<"$body" \
    || die "GET /v1/financial_connections/accounts?limit=10 held $n accounts (expected 10 and has_more) ($tag)"
  printf '/v1/financial_connections/accounts?limit=10\n' >"$TMP/paths-$tag-accounts.txt"
  local acct_bytes="${#body}"

  # The transaction list: the first page of every account with more than 100 transactions.
  : >"$TMP/paths-$tag-txn100.txt"
  : >"$TMP/paths-$tag-txn10.txt"
  local a full=0 txn100_bytes=0 txn10_bytes=0
  for a in "${fcas[@]}"; do
    body="$(curl_200 GET "/v1/financial_connections/transactions?account=$a&limit=100")"
    n="$(grep -c '"object": *"financial_connections.transaction"' <<<"$body" || true)"
    if [ "$n" -eq 100 ] && grep -q '"has_more": *true' <<<"$body"; then
      full=$((full + 1))
      txn100_bytes=$((txn100_bytes + ${#body}))
      printf '/v1/financial_connections/transactions?account=%s&limit=100\n' "$a" >>"$TMP/paths-$tag-txn100.txt"
      body="$(curl_200 GET "/v1/financial_connections/transactions?account=$a&limit=10")"
      n="$(grep -c '"object": *"financial_connections.transaction"' <<<"$body" || true)"
      [ "$n" -eq 10 ] || die "transactions?account=$a&limit=10 held $n transactions ($tag)"
      txn10_bytes=$((txn10_bytes + ${#body}))
      printf '/v1/financial_connections/transactions?account=%s&limit=10\n' "$a" >>"$TMP/paths-$tag-txn10.txt"
    fi
  done
  [ "$full" -gt 0 ] || die "no linked account has more than 100 transactions ($tag)"
  PAGES[$tag]="$N_LIST_ACCOUNTS accounts linked; account list page $acct_bytes B; transaction pages cycle over $full accounts with >100 transactions, ~$((txn100_bytes / full)) B (limit=100) and ~$((txn10_bytes / full)) B (limit=10)"
  say "finconn ($tag): ${PAGES[$tag]}"
}

# ------------------------------------------------------------------ runs -----
say "scratch dir $TMP ($fstype); wrk -t$THREADS, $DURATION per measurement, c in {$CONNS}"

# start_echo MODE [ARGS...]: starts echo --db MODE and keeps it up (idle between its cells) for the paired
# cells of finconn's runs; URL is its address until the next server starts.
start_echo() {
  local mode="$1"
  shift
  say "echo --db $mode"
  start_server "echo-$mode" /hello "$ECHO_BIN" --port @PORT@ --db "$mode" "$@"
  ECHO_URL[$mode]="$URL"
  ECHO_PIDS+=("$SERVER_PID")
  SERVER_PID=""
}

start_echo none
warmup create.lua
measure "echo none POST" create.lua
measure "echo GET /hello" hello.lua

for mode in full batch; do
  start_echo "$mode" --db-path "$TMP/echo-$mode/fc.db"
  warmup create.lua
  measure "echo $mode POST" create.lua
done

if [ "${BENCH_SQLITE:-1}" = 1 ]; then
  bench_finconn sqlite "sqlite://$TMP/finconn.db" "sqlite://$TMP/finconn-reads.db"
fi

if [ "${BENCH_PG:-0}" = 1 ]; then
  command -v psql >/dev/null || die "BENCH_PG=1 needs psql"
  PG_BASE="$(sed -E 's#^(postgres(ql)?://[^/?]+).*#\1#' <<<"$PG_BASE_IN")"
  case "$PG_BASE" in postgres://*|postgresql://*) ;; *) die "BENCH_PG_URL must be a postgres:// URL";; esac
  PG_ADMIN="$PG_BASE/postgres"
  pg_writes="finconn_bench_$$_$RANDOM"
  pg_reads="${pg_writes}_reads"
  for d in "$pg_writes" "$pg_reads"; do
    psql "$PG_ADMIN" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$d\"" >/dev/null \
      || die "cannot create database $d on $PG_BASE"
    PG_DB+=" $d"
  done
  bench_finconn postgres "$PG_BASE/$pg_writes" "$PG_BASE/$pg_reads"
fi

# ----------------------------------------------------------------- table -----
get() { local v="${R["$1|$2"]:-}"; if [ -n "$v" ]; then awk -v i="$3" '{print $i}' <<<"$v"; fi; }
ratio() {
  local a b
  if [ -n "${PAIR["$1|$2|$3"]:-}" ]; then
    # Three decimals: a median of 0.295 is not 0.30.
    tr ' ' '\n' <<<"${PAIR["$1|$2|$3"]}" | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] }'
    return
  fi
  a="$(get "$1" "$3" 1)"; b="$(get "$2" "$3" 1)"
  if [ -n "$a" ] && [ -n "$b" ]; then awk -v a="$a" -v b="$b" 'BEGIN{ if (b <= 0) print "-"; else if (a/b < 0.1) printf "%.3f", a/b; else printf "%.2f", a/b }'; else printf -- '-'; fi
}

ncpu="$(nproc 2>/dev/null || echo '?')"
RESULTS="${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}"
{
  echo "# finconn benchmark results"
  echo
  echo "Written by \`bash bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "wrk -t$THREADS, $DURATION per cell, loopback, $ncpu CPUs shared by server and wrk; scratch files on $fstype;"
  echo "finconn log: ${FINCONN_LOG:-default (info, one line per request)}. Absolute figures depend on the machine:"
  echo "compare the ratios to the echo baseline measured in the same run."
  echo
  echo '```'
  printf '%-32s %4s %11s %9s %9s %9s %9s %5s\n' "scenario" "c" "req/s" "p50 ms" "p99 ms" "non-2xx" "sockerr" "runs"
  printf '%-32s %4s %11s %9s %9s %9s %9s %5s\n' "--------------------------------" "----" "-----------" "---------" "---------" "---------" "---------" "-----"
  for label in "${LABELS[@]}"; do
    for c in $CONNS; do
      v="${R["$label|$c"]:-}"
      [ -n "$v" ] || continue
      read -r rps p50 p99 n2 se _ <<<"$v"
      printf '%-32s %4s %11.0f %9.2f %9.2f %9s %9s %5s\n' "$label" "$c" "$rps" \
        "$(awk -v x="$p50" 'BEGIN{print x/1000}')" "$(awk -v x="$p99" 'BEGIN{print x/1000}')" "$n2" "$se" \
        "$(grep -c . <<<"${RUNS["$label|$c"]}")"
    done
  done
  echo '```'
  echo
  echo "Ratios of req/s (1.00 = as fast as what it is compared with; 3 decimals below 0.1). Create+key / echo batch,"
  echo "create / echo batch, retrieve / echo GET and the deep page / the first page are paired: the median of $ROUNDS rounds,"
  echo "each a run of both back to back (listed below the ratios; 3 decimals). The others divide the two labels' median runs."
  echo
  echo '```'
  hdr="$(printf '%-64s' "")"
  for c in $CONNS; do hdr+="$(printf ' %8s' "c=$c")"; done
  echo "$hdr"
  tags=(sqlite)
  [ "${BENCH_PG:-0}" = 1 ] && tags+=(postgres)
  for tag in "${tags[@]}"; do
    for pair in "finconn/$tag create+key|echo batch POST|create, unique Idempotency-Key / echo batch (group commit)" \
                "finconn/$tag create|echo batch POST|create, no key / echo batch" \
                "finconn/$tag create+key|echo full POST|create, unique key / echo full (1 txn per request)" \
                "finconn/$tag create|echo none POST|create, no key / echo none (no storage)" \
                "finconn/$tag retrieve|echo GET /hello|retrieve / echo GET /hello" \
                "finconn/$tag acct list|echo GET /hello|account list ?limit=10 / echo GET" \
                "finconn/$tag txn l=100|echo GET /hello|transactions ?limit=100 / echo GET" \
                "finconn/$tag 1M create+key|finconn/$tag create+key|create+key at 1M sessions / on the small db" \
                "finconn/$tag 1M retrieve|finconn/$tag retrieve|retrieve at 1M sessions / on the small db" \
                "finconn/$tag 100k txn deep|finconn/$tag 100k txn first|100k-txn account: page 90% deep / first page" \
                "finconn/$tag 100k txn first|echo GET /hello|100k-txn account: first page of 100 / echo GET"; do
      IFS='|' read -r what base text <<<"$pair"
      line="$(printf '%-64s' "$tag $text")"
      for c in $CONNS; do line+="$(printf ' %8s' "$(ratio "$what" "$base" "$c")")"; done
      echo "$line"
    done
  done
  echo '```'
  echo
  echo "Paired rounds (finconn / baseline, in the order run):"
  echo
  echo '```'
  for k in "${!PAIR[@]}"; do
    IFS='|' read -r what base c <<<"$k"
    printf '%-28s / %-16s c=%-3s %s\n' "$what" "$base" "$c" \
      "$(tr ' ' '\n' <<<"${PAIR[$k]}" | grep . | awk '{ printf "%s%.3f", (NR > 1 ? "  " : ""), $1 }')"
  done | sort
  echo '```'
  echo
  for tag in "${tags[@]}"; do
    [ -z "${PAGES[$tag]:-}" ] || echo "- list pages ($tag): ${PAGES[$tag]}"
  done
  echo "- the creates run on a fresh database, which holds what they created by their end; retrieve, the list pages and"
  echo "  the large runs on a second fresh one (the small db of the large runs' ratios: the 1000 sessions retrieved)"
  echo "- large runs: $N_SESSIONS sessions stored in the benchmark's tenant, $N_TRANSACTIONS transactions in one account"
  echo "  (copied with SQL while the server was stopped); the deep page starts after the transaction $((N_TRANSACTIONS * 9 / 10)) places down."
} | tee "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
say "results written to $RESULTS"

if [ "$BAD" != 0 ]; then
  die "some measurements had errors (see warnings above): their figures are not trustworthy"
fi
