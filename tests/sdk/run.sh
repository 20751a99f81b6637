#!/usr/bin/env bash
# Official-SDK conformance suite: stripe-python and stripe-node against finconn.
#
#   FINCONN_BIN=target/debug/finconn bash tests/sdk/run.sh
#
# Builds nothing: build first with `cargo build -p finconn-server`.
# Environment:
#   FINCONN_BIN                 finconn binary (default: target/debug/finconn)
#   FINCONN_TEST_DATABASE_URL   postgres://USER@HOST:PORT/ANY — if set, the whole suite
#                               runs a second time against a fresh PostgreSQL database
#                               created (and dropped afterwards) with psql
#   FINCONN_SDK_LOG_DIR         where server logs and junit files go (default: tests/sdk/logs)
#   FINCONN_SDK_HEALTH_TIMEOUT  seconds to wait for /healthz (default: 60)
# Exits non-zero if any test fails or the server does not become healthy.

set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${FINCONN_BIN:-$ROOT/target/debug/finconn}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
LOG_DIR="${FINCONN_SDK_LOG_DIR:-$HERE/logs}"
HEALTH_TIMEOUT="${FINCONN_SDK_HEALTH_TIMEOUT:-60}"

say() { printf '==> %s\n' "$*"; }
die() { printf 'run.sh: FAIL: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN" ] || die "finconn binary not found or not executable: $BIN (build it: cargo build -p finconn-server)"
command -v python3 >/dev/null || die "python3 is required"
command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
command -v curl >/dev/null || die "curl is required"
mkdir -p "$LOG_DIR" || die "cannot create $LOG_DIR"
LOG_DIR="$(cd "$LOG_DIR" && pwd)"

# --- state cleaned up on exit ------------------------------------------------
SERVER_PID=""
TMP_DIRS=()
PG_DROP=()   # "psql-args|dbname"

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}

cleanup() {
  stop_server
  local entry
  for entry in "${PG_DROP[@]+"${PG_DROP[@]}"}"; do
    local args="${entry%|*}" db="${entry##*|}"
    # shellcheck disable=SC2086
    psql $args -d postgres -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
      printf 'run.sh: warning: could not drop database %s\n' "$db" >&2
  done
  local d
  for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- dependencies ------------------------------------------------------------
say "python: venv + requirements (tests/sdk/python/.venv)"
if [ ! -x "$HERE/python/.venv/bin/python" ]; then
  python3 -m venv "$HERE/python/.venv" || die "cannot create the venv"
fi
"$HERE/python/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/python/requirements.txt" ||
  die "pip install failed"

say "node: npm ci (tests/sdk/node)"
(cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- one full run against one database ------------------------------------------
# run_suite LABEL DATABASE_URL  -> 0 when every test passed
run_suite() {
  local label="$1" db_url="$2"
  local port log base
  port="$(free_port)" || return 1
  log="$LOG_DIR/finconn-$label.log"
  base="http://127.0.0.1:$port"

  say "[$label] starting finconn on 127.0.0.1:$port (log: $log)"
  # Refreshes may repeat at once (no cooldown), so the suite needs no clock of its own.
  FINCONN_REFRESH_COOLDOWN_SECONDS=0 "$BIN" serve --listen "127.0.0.1:$port" --database "$db_url" \
    --sandbox-data "$SANDBOX_DATA/bank.toml" >"$log" 2>&1 &
  SERVER_PID=$!

  local deadline=$((SECONDS + HEALTH_TIMEOUT)) healthy=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null
      printf 'run.sh: FAIL: [%s] finconn exited before becoming healthy (exit %s). Last lines of %s:\n' \
        "$label" "$?" "$log" >&2
      tail -n 40 "$log" >&2
      SERVER_PID=""
      return 1
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/healthz")" = "200" ]; then
      healthy=1
      break
    fi
    sleep 0.25
  done
  if [ -z "$healthy" ]; then
    printf 'run.sh: FAIL: [%s] finconn did not answer 200 on /healthz within %ss. Last lines of %s:\n' \
      "$label" "$HEALTH_TIMEOUT" "$log" >&2
    tail -n 40 "$log" >&2
    stop_server
    return 1
  fi
  say "[$label] finconn is healthy at $base"

  local py_rc node_rc
  say "[$label] stripe-python (pytest)"
  (
    cd "$HERE/python" &&
      FINCONN_BASE_URL="$base" FINCONN_BIN="$BIN" FINCONN_DATABASE_URL="$db_url" FINCONN_SDK_SANDBOX_DATA="$SANDBOX_DATA" \
        .venv/bin/python -m pytest -q --junitxml="$LOG_DIR/pytest-$label.xml"
  )
  py_rc=$?

  say "[$label] stripe-node (node --test)"
  (
    cd "$HERE/node" &&
      FINCONN_BASE_URL="$base" FINCONN_BIN="$BIN" FINCONN_DATABASE_URL="$db_url" \
        node --test --test-reporter=spec
  )
  node_rc=$?

  stop_server
  say "[$label] pytest exit $py_rc, node --test exit $node_rc; server log kept at $log"
  [ "$py_rc" -eq 0 ] && [ "$node_rc" -eq 0 ]
}

RESULTS=()
FAILED=0

# The sandbox data file every run serves (test_sandbox_data.py compares what the API returns with it).
SANDBOX_DATA="$(mktemp -d "${TMPDIR:-/tmp}/finconn-sdk-data-XXXXXX")" || die "mktemp failed"
TMP_DIRS+=("$SANDBOX_DATA")
python3 "$HERE/python/sandbox_fixture.py" "$SANDBOX_DATA" || die "cannot write the sandbox data fixture"

# SQLite: always
SQLITE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/finconn-sdk-XXXXXX")" || die "mktemp failed"
TMP_DIRS+=("$SQLITE_DIR")
if run_suite sqlite "sqlite://$SQLITE_DIR/finconn.db"; then
  RESULTS+=("sqlite: passed")
else
  RESULTS+=("sqlite: FAILED")
  FAILED=1
fi

# PostgreSQL: when asked for
if [ -n "${FINCONN_TEST_DATABASE_URL:-}" ]; then
  command -v psql >/dev/null || die "FINCONN_TEST_DATABASE_URL is set but psql is not installed"
  PG_DB="finconn_sdk_$(date +%s)_$$"
  # split the URL into psql args and a URL for the fresh database
  PG_PARTS="$(
    python3 - "$FINCONN_TEST_DATABASE_URL" "$PG_DB" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit
url, db = sys.argv[1], sys.argv[2]
u = urlsplit(url)
if u.scheme not in ("postgres", "postgresql"):
    sys.exit(f"FINCONN_TEST_DATABASE_URL must be a postgres:// URL, got {url!r}")
host = u.hostname or "127.0.0.1"
port = u.port or 5432
user = u.username or "postgres"
print(f"-h {host} -p {port} -U {user}")
print(urlunsplit((u.scheme, u.netloc, "/" + db, u.query, "")))
PY
  )" || die "bad FINCONN_TEST_DATABASE_URL"
  PG_ARGS="$(printf '%s\n' "$PG_PARTS" | sed -n 1p)"
  PG_URL="$(printf '%s\n' "$PG_PARTS" | sed -n 2p)"
  say "[postgres] creating database $PG_DB (psql $PG_ARGS)"
  # shellcheck disable=SC2086
  if psql $PG_ARGS -d postgres -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PG_DB\"" >/dev/null; then
    PG_DROP+=("$PG_ARGS|$PG_DB")
    if run_suite postgres "$PG_URL"; then
      RESULTS+=("postgres: passed")
    else
      RESULTS+=("postgres: FAILED")
      FAILED=1
    fi
  else
    RESULTS+=("postgres: FAILED (could not create database $PG_DB)")
    FAILED=1
  fi
fi

say "summary"
for r in "${RESULTS[@]}"; do printf '    %s\n' "$r"; done
if [ "$FAILED" -ne 0 ]; then
  printf 'run.sh: FAIL: SDK conformance suite failed (logs in %s)\n' "$LOG_DIR" >&2
  exit 1
fi
say "SDK conformance suite passed"
