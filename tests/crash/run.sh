#!/usr/bin/env bash
# Crash test: 100 cycles of `kill -9` at a random instant under a load of idempotent creates and completions:
# nothing acknowledged lost, every retry replayed, no orphan object, one event per account (see crash.py).
#
#   cargo build -p finconn-server && bash tests/crash/run.sh
#   FINCONN_BIN=target/release/finconn FINCONN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
#     bash tests/crash/run.sh
#
# Builds nothing. Environment:
#   FINCONN_BIN                 finconn binary (default: target/debug/finconn)
#   FINCONN_TEST_DATABASE_URL   postgres://USER@HOST:PORT/ANY — if set, the test also runs against a fresh
#                               PostgreSQL database created (and dropped afterwards) with psql
#   CRASH_WORKERS               concurrent clients (default 8)
#   CRASH_MIN_SECONDS / CRASH_SECONDS  each cycle's load lasts a random time between them (default 0.1 / 0.8)
#   CRASH_ROUNDS                load / kill -9 / restart / verify cycles per backend (default 100)
#   CRASH_LOG_DIR               keep server logs here (default: a temp dir, kept only on failure)
#   CRASH_HEALTH_TIMEOUT        seconds to wait for /healthz (default 30)
# Needs python3 (standard library only) and, for PostgreSQL, psql.
# Exits non-zero when anything acknowledged is missing or changed, a retry does not replay, an object has
# no stored response, an event is missing or doubled, or a cycle acknowledged nothing.

set -uo pipefail
# A load test: finconn's per-key rate limit would only measure itself here.
export FINCONN_RATE_LIMIT_PER_SECOND=${FINCONN_RATE_LIMIT_PER_SECOND:-0}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${FINCONN_BIN:-$ROOT/target/debug/finconn}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac

command -v python3 >/dev/null || { echo "tests/crash/run.sh: FAIL: python3 is required" >&2; exit 2; }
[ -x "$BIN" ] || { echo "tests/crash/run.sh: FAIL: finconn binary not found: $BIN (cargo build -p finconn-server)" >&2; exit 2; }

exec python3 "$HERE/crash.py" --bin "$BIN" "$@"
