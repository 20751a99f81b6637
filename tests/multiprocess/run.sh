#!/usr/bin/env bash
# Multi-process test: two finconn processes with job runners on ONE PostgreSQL database run every queued
# job exactly once, jobs queued by a process without a runner survive its SIGTERM, and a test clock
# advanced through one process (polled through the other) runs each of its accounts' daily ticks and
# refreshes exactly once, in order. See mp.py.
#
#   cargo build -p finconn-server && bash tests/multiprocess/run.sh
#
# Builds nothing. Needs python3 (standard library only), psql and a PostgreSQL server that lets the
# given user create databases (each scenario creates a fresh one and drops it at the end).
# Environment:
#   FINCONN_BIN                 finconn binary (default: target/debug/finconn)
#   FINCONN_TEST_DATABASE_URL   postgres://USER@HOST:PORT/ANY, the server to use
#                               (default postgres://postgres@127.0.0.1:5432/postgres)
#   MP_SESSIONS                 sessions linked in scenario 1, 9 accounts each (default 6)
#   MP_FEATURES                 features refreshed per account in scenario 1
#                               (default "balance ownership transactions")
#   MP_CLOCK_CUSTOMERS          customers on the test clock in scenario 3, 2 accounts each (default 4)
#   MP_CLOCK_DAYS               days the clock is advanced in scenario 3, plus one hour (default 10)
#   MP_TIMEOUT                  seconds to wait for the refreshes to settle, or for the clock to be
#                               ready, per scenario (default 60)
#   MP_SCENARIO                 all | two | restart | clock (default all)
#   MP_LOG_DIR                  keep the server logs here (default: a temp dir, kept only on failure)
#   MP_KEEP_DB=1                do not drop the scratch databases (their names are printed)
# Exit status: 0 all checks passed; 1 a check failed; 2 the test cannot run (no PostgreSQL, no binary).

set -uo pipefail
# A load test: finconn's per-key rate limit would only measure itself here.
export FINCONN_RATE_LIMIT_PER_SECOND=${FINCONN_RATE_LIMIT_PER_SECOND:-0}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${FINCONN_BIN:-$ROOT/target/debug/finconn}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac

fail() { echo "tests/multiprocess/run.sh: FAIL: $*" >&2; exit 2; }
command -v python3 >/dev/null || fail "python3 is required"
command -v psql >/dev/null || fail "PostgreSQL is required: psql is not on PATH"
[ -x "$BIN" ] || fail "finconn binary not found: $BIN (cargo build -p finconn-server)"

exec python3 "$HERE/mp.py" --bin "$BIN" "$@"
