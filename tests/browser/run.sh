#!/usr/bin/env bash
# Real-browser tests of the link flow: Debian's chromium, driven by playwright-core, run by `node --test`.
#
#   cargo build -p finconn-server && bash tests/browser/run.sh [extra node --test args, e.g. a test file]
#
# What it does:
#   1. installs Debian's chromium if /usr/bin/chromium is missing (apt-get; never a Playwright browser
#      download) and checks that it starts headless; `npm ci` for playwright-core (pinned);
#   2. starts finconn on a fresh temporary SQLite database, on a free port (it listens on port 0 and
#      prints the address), and the stand-in merchant site (merchant.mjs) on another port, i.e. another
#      origin;
#   3. runs the tests (tests/browser/*.test.mjs) with node's test runner; screenshots go to
#      artifacts/browser/ at the repository root;
#   4. checks finconn's log (stderr and stdout) for every client secret (and API key) the tests created,
#      and fails if any appears.
# Environment:
#   FINCONN_BIN             the finconn binary (default: target/debug/finconn)
#   FINCONN_BROWSER_LOG_DIR where the finconn and merchant logs and the secrets list are kept
#                           (default: artifacts/browser/logs)
#   FINCONN_HEALTH_TIMEOUT  seconds to wait for /healthz (default: 60)
# Exits non-zero on any failure.

set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${FINCONN_BIN:-$ROOT/target/debug/finconn}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
# The fake SimpleFIN server for the live-mode tests (cargo build -p finconn-fake-simplefin).
FAKE_BIN="${FAKE_SIMPLEFIN_BIN:-$(dirname "$BIN")/fake-simplefin}"
# The fake Enable Banking API for the PSD2 tests (cargo build -p finconn-fake-enablebanking).
FAKE_EB_BIN="${FAKE_ENABLE_BANKING_BIN:-$(dirname "$BIN")/fake-enablebanking}"
SDK_VENV="$ROOT/tests/sdk/python/.venv"
CHROMIUM=/usr/bin/chromium
ARTIFACTS_DIR="$ROOT/artifacts/browser"
LOG_DIR="${FINCONN_BROWSER_LOG_DIR:-$ARTIFACTS_DIR/logs}"
HEALTH_TIMEOUT="${FINCONN_HEALTH_TIMEOUT:-60}"

say() { printf '==> %s\n' "$*"; }
die() {
  printf '\nrun.sh: FAIL: %s\n' "$*" >&2
  exit 1
}

[ -x "$BIN" ] || die "finconn binary not found or not executable: $BIN (build it: cargo build -p finconn-server)"
[ -x "$FAKE_BIN" ] || die "fake SimpleFIN server not found: $FAKE_BIN (build it: cargo build -p finconn-fake-simplefin)"
[ -x "$FAKE_EB_BIN" ] || die "fake Enable Banking API not found: $FAKE_EB_BIN (build it: cargo build -p finconn-fake-enablebanking)"
command -v python3 >/dev/null || die "python3 is required (the live test runs stripe-python)"
command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
command -v curl >/dev/null || die "curl is required"

# --- state cleaned up on exit ------------------------------------------------
TMP="$(mktemp -d /tmp/finconn-browser.XXXXXX)" || die "mktemp failed"
FINCONN_PID=""
MERCHANT_PID=""
FAKE_PID=""
FAKE_EB_PID=""

stop() { # pid
  local pid="$1"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
}

cleanup() {
  stop "$FAKE_PID"
  FAKE_PID=""
  stop "$FAKE_EB_PID"
  FAKE_EB_PID=""
  stop "$MERCHANT_PID"
  MERCHANT_PID=""
  stop "$FINCONN_PID"
  FINCONN_PID=""
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- chromium ----------------------------------------------------------------
if [ ! -x "$CHROMIUM" ]; then
  say "installing Debian's chromium (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -q >"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log" >&2; die "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >>"$TMP/apt.log" 2>&1 ||
    { tail -40 "$TMP/apt.log" >&2; die "apt-get install chromium failed"; }
fi
[ -x "$CHROMIUM" ] || die "$CHROMIUM is still missing after apt-get install chromium"

# --- node dependencies ---------------------------------------------------------
say "stripe-python for the live test (tests/sdk/python/.venv)"
if [ ! -x "$SDK_VENV/bin/python" ]; then
  python3 -m venv "$SDK_VENV" || die "cannot create $SDK_VENV"
fi
"$SDK_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/tests/sdk/python/requirements.txt" ||
  die "pip install failed"

say "npm ci (tests/browser: playwright-core and axe-core, pinned)"
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in tests/browser"

say "checking that chromium starts headless"
(cd "$HERE" && CHROMIUM="$CHROMIUM" node --input-type=module -e "
  import { launchBrowser } from './lib/launch.mjs';
  const b = await launchBrowser();
  const p = await b.newPage();
  await p.setContent('<p id=x>ok</p>');
  if ((await p.textContent('#x')) !== 'ok') throw new Error('chromium rendered nothing');
  console.log('    chromium ' + b.version() + ' started');
  await b.close();
") 2>"$TMP/chromium-check.log" || {
  cat "$TMP/chromium-check.log" >&2
  die "chromium ($CHROMIUM) cannot start headless: see the error above"
}

# --- finconn -----------------------------------------------------------------
mkdir -p "$LOG_DIR" "$ARTIFACTS_DIR" || die "cannot create $LOG_DIR"
LOG_DIR="$(cd "$LOG_DIR" && pwd)"
rm -f "$ARTIFACTS_DIR"/*.png
FINCONN_LOG="$LOG_DIR/finconn.log"
FINCONN_OUT="$LOG_DIR/finconn.stdout"
SECRETS_FILE="$LOG_DIR/client-secrets.txt"
KEYS_FILE="$LOG_DIR/api-keys.txt"
: >"$SECRETS_FILE"
: >"$KEYS_FILE"

say "starting the fake SimpleFIN server ($FAKE_BIN)"
"$FAKE_BIN" --port-file "$TMP/fake.url" >"$LOG_DIR/fake-simplefin.log" 2>&1 &
FAKE_PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/fake.url" ] && break; sleep 0.1; done
FAKE_SIMPLEFIN_URL="$(head -1 "$TMP/fake.url" 2>/dev/null)"
[ -n "$FAKE_SIMPLEFIN_URL" ] || die "the fake SimpleFIN server did not start"
say "fake SimpleFIN at $FAKE_SIMPLEFIN_URL"

say "starting the fake Enable Banking API ($FAKE_EB_BIN; it writes the application's private key)"
"$FAKE_EB_BIN" --key-out "$TMP/enablebanking.pem" --port-file "$TMP/fake-eb.url" >"$LOG_DIR/fake-enablebanking.log" 2>&1 &
FAKE_EB_PID=$!
for _ in $(seq 1 300); do [ -s "$TMP/fake-eb.url" ] && break; sleep 0.1; done
FAKE_ENABLE_BANKING_URL="$(head -1 "$TMP/fake-eb.url" 2>/dev/null)"
[ -n "$FAKE_ENABLE_BANKING_URL" ] || die "the fake Enable Banking API did not start"
say "fake Enable Banking at $FAKE_ENABLE_BANKING_URL"

say "live keys (finconn keys create --live)"
"$BIN" keys create --live --name "Acme Rentals" --database "sqlite://$TMP/finconn.db" >"$TMP/live-keys.txt" ||
  die "finconn keys create --live failed"
LIVE_SK="$(sed -n 's/^secret key: *//p' "$TMP/live-keys.txt")"
LIVE_PK="$(sed -n 's/^publishable key: *//p' "$TMP/live-keys.txt")"
[ -n "$LIVE_SK" ] && [ -n "$LIVE_PK" ] || die "could not read the live keys"
printf '%s\n%s\n' "$LIVE_SK" "$LIVE_PK" >>"$KEYS_FILE"

say "starting finconn ($BIN) on a fresh SQLite database (debug logs; test mode also serves examples/sandbox-data.toml; live mode offers the fake SimpleFIN server and the fake Enable Banking API's banks)"
FINCONN_LOG=debug FINCONN_CONNECTOR_ALLOW_LOOPBACK=true FINCONN_SIMPLEFIN_SERVERS="Fake SimpleFIN=$FAKE_SIMPLEFIN_URL" \
  FINCONN_ENABLE_BANKING_APPLICATION_ID=0b7d1e8a-5c3f-4e2a-9d61-7f2c8b4a1e05 \
  FINCONN_ENABLE_BANKING_PRIVATE_KEY_FILE="$TMP/enablebanking.pem" FINCONN_ENABLE_BANKING_API_BASE="$FAKE_ENABLE_BANKING_URL" \
  "$BIN" serve --listen 127.0.0.1:0 --database "sqlite://$TMP/finconn.db" --sandbox-data "$ROOT/examples/sandbox-data.toml" \
  >"$FINCONN_OUT" 2>"$FINCONN_LOG" &
FINCONN_PID=$!
FINCONN_URL=""
for _ in $(seq 1 $((HEALTH_TIMEOUT * 10))); do
  kill -0 "$FINCONN_PID" 2>/dev/null || { cat "$FINCONN_LOG" >&2; die "finconn exited during start-up"; }
  FINCONN_URL="$(sed -n 's/^finconn listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$FINCONN_OUT" | head -1)"
  if [ -n "$FINCONN_URL" ] && curl -fsS -o /dev/null "$FINCONN_URL/healthz" 2>/dev/null; then break; fi
  sleep 0.1
done
curl -fsS -o /dev/null "$FINCONN_URL/healthz" 2>/dev/null || { cat "$FINCONN_LOG" >&2; die "finconn never became healthy"; }
say "finconn at $FINCONN_URL (log: $FINCONN_LOG)"
# Register finconn's callback with the (fake) Enable Banking application, as an operator does once.
curl -fsS -X POST -H 'Content-Type: application/json' -d "[\"$FINCONN_URL/link/oauth/callback\"]" \
  "$FAKE_ENABLE_BANKING_URL/_control/redirect_urls" || die "cannot register the callback with the fake Enable Banking API"

# --- the merchant site, on another origin ------------------------------------
node "$HERE/merchant.mjs" --finconn "$FINCONN_URL" --listen 127.0.0.1:0 >"$LOG_DIR/merchant.log" 2>&1 &
MERCHANT_PID=$!
MERCHANT_URL=""
for _ in $(seq 1 100); do
  kill -0 "$MERCHANT_PID" 2>/dev/null || { cat "$LOG_DIR/merchant.log" >&2; die "the merchant server exited"; }
  MERCHANT_URL="$(sed -n 's/^merchant listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$LOG_DIR/merchant.log" | head -1)"
  [ -n "$MERCHANT_URL" ] && break
  sleep 0.1
done
[ -n "$MERCHANT_URL" ] || die "the merchant server did not start"
say "merchant site at $MERCHANT_URL"

# --- the tests ---------------------------------------------------------------
say "node --test"
TEST_RC=0
(
  cd "$HERE" &&
    FINCONN_URL="$FINCONN_URL" MERCHANT_URL="$MERCHANT_URL" SECRETS_FILE="$SECRETS_FILE" KEYS_FILE="$KEYS_FILE" \
      ARTIFACTS_DIR="$ARTIFACTS_DIR" CHROMIUM="$CHROMIUM" \
      LIVE_SK="$LIVE_SK" LIVE_PK="$LIVE_PK" FAKE_SIMPLEFIN_URL="$FAKE_SIMPLEFIN_URL" \
      FAKE_ENABLE_BANKING_URL="$FAKE_ENABLE_BANKING_URL" SDK_PYTHON="$SDK_VENV/bin/python" \
      CLI_BIN="$BIN" CLI_DATABASE_URL="sqlite://$TMP/finconn.db" \
      node --test --test-concurrency=2 --test-timeout=60000 "$@"
) || TEST_RC=$?

# --- no secret in finconn's log --------------------------------------------------
# The Access URLs the fake handed out (they carry SimpleFIN credentials) must appear nowhere either.
curl -fsS "${FAKE_SIMPLEFIN_URL%/simplefin}/_control/issued" >"$TMP/issued.json" 2>/dev/null || echo '[]' >"$TMP/issued.json"
stop "$FAKE_PID"
FAKE_PID=""
stop "$FAKE_EB_PID"
FAKE_EB_PID=""
stop "$MERCHANT_PID"
MERCHANT_PID=""
stop "$FINCONN_PID" # flush and close the log
FINCONN_PID=""
say "checking finconn's log for client secrets"
# One plain-text copy of everything finconn printed (its text logs carry ANSI colours even into a file).
sed 's/\x1b\[[0-9;]*m//g' "$FINCONN_LOG" "$FINCONN_OUT" >"$LOG_DIR/finconn.plain.log"
PLAIN="$LOG_DIR/finconn.plain.log"
N_SECRETS="$(grep -c . "$SECRETS_FILE" || true)"
LEAK_RC=0
if [ "$N_SECRETS" -eq 0 ]; then
  printf 'run.sh: no client secret was recorded by the tests\n' >&2
  [ "$TEST_RC" -ne 0 ] || LEAK_RC=1
fi
while IFS= read -r secret; do
  [ -n "$secret" ] || continue
  suffix="${secret##*_secret_}"
  for needle in "$secret" "$suffix"; do
    if grep -qF -- "$needle" "$FINCONN_LOG" "$FINCONN_OUT" "$PLAIN"; then
      printf 'run.sh: LEAK: a client secret appears in the finconn log: %s\n' "$needle" >&2
      grep -nF -- "$needle" "$PLAIN" | head -5 >&2
      LEAK_RC=1
    fi
  done
done <"$SECRETS_FILE"
while IFS= read -r key; do
  [ -n "$key" ] || continue
  if grep -qF -- "$key" "$FINCONN_LOG" "$FINCONN_OUT" "$PLAIN"; then
    printf 'run.sh: LEAK: an API key appears in the finconn log: %s\n' "$key" >&2
    LEAK_RC=1
  fi
done <"$KEYS_FILE"
N_ACCESS=0
while IFS= read -r needle; do
  [ -n "$needle" ] || continue
  N_ACCESS=$((N_ACCESS + 1))
  if grep -qF -- "$needle" "$FINCONN_LOG" "$FINCONN_OUT" "$PLAIN" "$TMP/finconn.db" "$TMP/finconn.db-wal" "$TMP/finconn.db-requests" "$TMP/finconn.db-requests-wal" 2>/dev/null; then
    printf 'run.sh: LEAK: a SimpleFIN credential appears in the finconn log or database: %s\n' "$needle" >&2
    LEAK_RC=1
  fi
# Each Access URL, its user name and its password (encoded and decoded).
done < <(python3 -c '
import json, sys, urllib.parse
for u in json.load(open(sys.argv[1])):
    p = urllib.parse.urlsplit(u)
    for x in (u, p.username, p.password, urllib.parse.unquote(p.password or "")):
        if x: print(x)
' "$TMP/issued.json")
# Only a run that includes the live tests (every test, or a live*.test.mjs file) must have claimed one.
RAN_LIVE=1
if [ "$#" -gt 0 ]; then
  RAN_LIVE=0
  for a in "$@"; do case "$a" in *live*) RAN_LIVE=1 ;; esac; done
fi
if [ "$N_ACCESS" -eq 0 ] && [ "$TEST_RC" -eq 0 ] && [ "$RAN_LIVE" -eq 1 ]; then
  printf 'run.sh: the live tests claimed no SimpleFIN token: nothing to check for credentials\n' >&2
  LEAK_RC=1
fi
say "$N_ACCESS SimpleFIN credential strings checked against the debug log and the database"
# The Enable Banking application's private key: no line of it in finconn's log or database.
N_KEY_LINES=0
while IFS= read -r line; do
  case "$line" in -----*|"") continue ;; esac
  N_KEY_LINES=$((N_KEY_LINES + 1))
  if grep -qF -- "$line" "$FINCONN_LOG" "$FINCONN_OUT" "$PLAIN" "$TMP/finconn.db" "$TMP/finconn.db-wal" "$TMP/finconn.db-requests" "$TMP/finconn.db-requests-wal" 2>/dev/null; then
    printf 'run.sh: LEAK: a line of the Enable Banking private key appears in the finconn log or database\n' >&2
    LEAK_RC=1
  fi
done <"$TMP/enablebanking.pem"
[ "$N_KEY_LINES" -gt 10 ] || { printf 'run.sh: the Enable Banking key file was not read\n' >&2; LEAK_RC=1; }
say "$N_KEY_LINES lines of the Enable Banking private key checked against the debug log and the database"
# Positive control: every session id (the part before _secret_) appears in the log, in the path of the GET
# /v1/financial_connections/sessions/{id} that createSession() makes, so the search read the right log.
SEEN_IDS=0
while IFS= read -r secret; do
  [ -n "$secret" ] || continue
  if grep -qF -- "${secret%%_secret_*}" "$PLAIN"; then SEEN_IDS=$((SEEN_IDS + 1)); fi
done <"$SECRETS_FILE"
if [ "$SEEN_IDS" -ne "$N_SECRETS" ]; then
  printf 'run.sh: only %s of %s session ids appear in %s: is it the right, complete log?\n' \
    "$SEEN_IDS" "$N_SECRETS" "$FINCONN_LOG" >&2
  LEAK_RC=1
fi
LOG_LINES="$(wc -l <"$FINCONN_LOG")"
say "$N_SECRETS client secrets checked against $LOG_LINES log lines ($SEEN_IDS of their session ids seen there): $([ "$LEAK_RC" -eq 0 ] && echo no secret found || echo FAILED)"

if [ "$TEST_RC" -ne 0 ]; then die "browser tests failed (node --test exit $TEST_RC); screenshots in $ARTIFACTS_DIR"; fi
if [ "$LEAK_RC" -ne 0 ]; then die "secret check failed"; fi
say "browser tests passed; screenshots in $ARTIFACTS_DIR"
