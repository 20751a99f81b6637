#!/usr/bin/env python3
"""Crash test: SIGKILL at random instants under load must lose nothing acknowledged and invent nothing.

For each backend (SQLite always; PostgreSQL when FINCONN_TEST_DATABASE_URL is set), on one database:
  1. start finconn, create a customer;
  2. N workers (keep-alive connections) loop, as the official SDKs send requests (a fresh Idempotency-Key
     on every POST): create a session, then complete it with the sandbox's test helper (two accounts,
     each with a `financial_connections.account.created` event). Every answer that came back is recorded
     with its key and body; every key sent is recorded, answered or not;
  3. after a random time (--min-seconds … --seconds), with the workers still firing, SIGKILL;
  4. restart on the same database, then
     - every acknowledged session is retrieved intact (id, client_secret; completed ones with their
       accounts);
     - every key sent in the round is sent again with the same parameters: an acknowledged one must
       answer the byte-identical original body with `Idempotent-Replayed: true`; one cut off by the kill
       answers either its committed original or runs afresh — never a second object;
Repeated for --rounds cycles. At the end:
  - the database holds exactly one session per session key and two accounts per completed session (no
    orphan object without its stored response: a retry would have created a second one);
  - `financial_connections.account.created` exists exactly once for every account, and for no other.

Python standard library (plus sqlite3 / psql to count rows). Run through tests/crash/run.sh, or directly:
    python3 tests/crash/crash.py --bin target/debug/finconn
Exit status 0 only when everything above holds and at least one create per round was acknowledged.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

SESSION_FORM = [
    ("account_holder[type]", "customer"),
    ("permissions[]", "balances"),
    ("permissions[]", "ownership"),
    ("filters[countries][]", "US"),
]


def log(msg: str) -> None:
    print(f"crash: {msg}", flush=True)


class Fail(Exception):
    pass


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One finconn process; its stdout+stderr are appended to log_path."""

    def __init__(self, binary: str, database: str, log_path: str, health_timeout: float):
        self.binary = binary
        self.database = database
        self.log_path = log_path
        self.health_timeout = health_timeout
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.port = free_port()
        logf = open(self.log_path, "ab")
        logf.write(f"\n===== crash.py: starting finconn on port {self.port} =====\n".encode())
        logf.flush()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database", self.database],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        logf.close()
        deadline = time.monotonic() + self.health_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail(f"finconn exited during start-up with status {self.proc.returncode}\n{self.tail()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise Fail(f"finconn did not answer 200 on /healthz within {self.health_timeout:.0f}s\n{self.tail()}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.proc.returncode != -signal.SIGKILL:
            raise Fail(f"finconn had already exited (status {self.proc.returncode}) before kill -9")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL after 10 s; never raises."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join("    | " + l for l in lines[-n:])
        except OSError:
            return ""


class Client:
    def __init__(self, port: int, key: str, timeout: float = 10):
        self.port = port
        self.key = key
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: list[tuple[str, str]] | None = None, key: str | None = None):
        """(status, body, headers) of one request; `key` is sent as the Idempotency-Key."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.key}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except BaseException:
            self.close()
            raise
        return r.status, data, {k.lower(): v for k, v in r.getheaders()}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


COMPLETE_FORM = [("institution", "fcinst_TestInstitution"), ("accounts[]", "Success"), ("accounts[]", "Savings")]


@dataclass
class Sent:
    """One POST with its key: what it asked, and what came back (None: cut off by the kill)."""
    key: str
    path: str
    form: list[tuple[str, str]]
    body: bytes | None = None


@dataclass
class LoadResult:
    sent: list[Sent] = field(default_factory=list)
    non200: int = 0
    errors_before_kill: int = 0
    errors_after_kill: int = 0  # requests cut off by the kill: unacknowledged, may or may not exist
    non200_samples: list[str] = field(default_factory=list)


def new_key() -> str:
    return "crash-" + "".join(random.choices(string.ascii_letters + string.digits, k=24))


def load_and_kill(server: Server, key: str, customer: str, workers: int, seconds: float) -> LoadResult:
    res = LoadResult()
    lock = threading.Lock()
    killing = threading.Event()  # set just before SIGKILL: errors from then on are the kill's
    killed = threading.Event()  # set once the process is gone: workers stop
    create_form = [("account_holder[customer]", customer)] + SESSION_FORM

    def post(c: Client, path: str, form: list[tuple[str, str]]) -> bytes | None:
        """The 200 body, or None (cut off, or an error answer)."""
        sent = Sent(new_key(), path, form)
        with lock:
            res.sent.append(sent)
        try:
            status, data, _ = c.request("POST", path, form, key=sent.key)
        except (OSError, http.client.HTTPException):
            with lock:
                if killing.is_set():
                    res.errors_after_kill += 1
                else:
                    res.errors_before_kill += 1
            return None
        if status != 200:
            with lock:
                res.non200 += 1
                if len(res.non200_samples) < 5:
                    res.non200_samples.append(f"{status}: {data[:300]!r}")
            return None
        sent.body = data
        return data

    def worker() -> None:
        c = Client(server.port, key)
        while not killed.is_set():
            data = post(c, "/v1/financial_connections/sessions", create_form)
            if data is None:
                if killing.is_set():
                    killed.wait()
                    break
                time.sleep(0.01)
                continue
            sid = json.loads(data)["id"]
            post(c, f"/v1/test_helpers/financial_connections/sessions/{sid}/complete", COMPLETE_FORM)
        c.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    # The workers are still firing: SIGKILL lands with requests in flight.
    killing.set()
    server.kill9()
    killed.set()
    for t in threads:
        t.join(timeout=15)
    if any(t.is_alive() for t in threads):
        raise Fail("load workers did not stop after the kill")
    return res


def check_session(c: Client, body: bytes) -> str:
    """'' when the acknowledged session (or completed session) `body` is retrievable as it was answered."""
    acked = json.loads(body)
    sid = acked["id"]
    status, data, _ = c.request("GET", f"/v1/financial_connections/sessions/{sid}")
    if status != 200:
        return f"{sid}: GET answered {status}: {data[:200]!r}"
    now = json.loads(data)
    if now.get("client_secret") != acked.get("client_secret"):
        return f"{sid}: client_secret changed"
    ids = lambda o: [a["id"] for a in (o.get("accounts") or {}).get("data", [])]
    if ids(acked) and ids(now) != ids(acked):
        return f"{sid}: accounts {ids(now)} but the completion answered {ids(acked)}"
    return ""


def replay(c: Client, sent: Sent) -> tuple[str, bytes | None]:
    """Sends `sent` again with its key: ('', body now stored) or a problem."""
    status, data, headers = c.request("POST", sent.path, sent.form, key=sent.key)
    if sent.body is not None:
        if status != 200 or data != sent.body:
            return f"{sent.key} {sent.path}: retry answered {status} {data[:200]!r}, not the original", None
        if headers.get("idempotent-replayed") != "true":
            return f"{sent.key} {sent.path}: the retry ran again instead of replaying", None
        return "", data
    # Cut off by the kill: committed (a replay) or not (runs now); either way one object.
    if status != 200:
        return "", None
    return "", data


def verify_round(server: Server, key: str, res: LoadResult, workers: int) -> tuple[list[str], list[Sent]]:
    """Problems, and every request of the round with the body it now has (None: never took effect)."""
    problems: list[str] = []
    lock = threading.Lock()
    settled: list[Sent] = []

    def check(chunk: list[Sent]) -> None:
        c = Client(server.port, key)
        for sent in chunk:
            try:
                if sent.body is not None:
                    msg = check_session(c, sent.body)
                else:
                    msg = ""
                if not msg:
                    msg, body = replay(c, sent)
                    with lock:
                        settled.append(Sent(sent.key, sent.path, sent.form, body))
            except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                msg = f"{sent.key}: {e!r}"
            if msg:
                with lock:
                    problems.append(msg)
        c.close()

    # Sessions first: a completion cut off by the kill is retried after its session exists again.
    creates = [x for x in res.sent if x.path.endswith("/sessions")]
    completes = [x for x in res.sent if not x.path.endswith("/sessions")]
    for part in (creates, completes):
        n = max(1, min(workers, len(part)))
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            list(ex.map(check, [part[i::n] for i in range(n)]))
    return problems, settled


def count_rows(database: str, admin_fresh: str | None, table: str) -> int:
    if database.startswith("sqlite://"):
        import sqlite3
        con = sqlite3.connect(database[len("sqlite://"):])
        try:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            con.close()
    r = subprocess.run(["psql", database, "-tA", "-c", f"SELECT count(*) FROM {table}"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise Fail(f"psql count failed: {r.stdout.decode(errors='replace').strip()}")
    return int(r.stdout.strip())


def account_events(c: Client) -> list[str]:
    """The account id of every financial_connections.account.created event."""
    out: list[str] = []
    after = None
    while True:
        q = "type=financial_connections.account.created&limit=100" + (f"&starting_after={after}" if after else "")
        status, data, _ = c.request("GET", f"/v1/events?{q}")
        if status != 200:
            raise Fail(f"listing events answered {status}: {data[:200]!r}")
        page = json.loads(data)
        out += [e["data"]["object"]["id"] for e in page["data"]]
        if not page["has_more"] or not page["data"]:
            return out
        after = page["data"][-1]["id"]


def run_backend(label: str, binary: str, database: str, log_path: str, args) -> tuple[int, int]:
    """Returns (acknowledged requests, cycles); raises Fail on any loss, duplicate or orphan."""
    key = "sk_test_crash" + "".join(random.choices(string.ascii_letters + string.digits, k=12))
    server = Server(binary, database, log_path, args.health_timeout)
    session_keys: set[str] = set()
    sessions: set[str] = set()
    completed: dict[str, list[str]] = {}  # session -> its account ids
    acked = 0
    try:
        log(f"[{label}] starting finconn (log: {log_path})")
        server.start()
        c = Client(server.port, key)
        status, data, _ = c.request("POST", "/v1/customers", [("email", "crash@example.com")])
        c.close()
        if status != 200:
            raise Fail(f"[{label}] creating a customer answered {status}: {data[:300]!r}")
        customer = json.loads(data)["id"]

        for rnd in range(1, args.rounds + 1):
            seconds = random.uniform(args.min_seconds, args.seconds)
            res = load_and_kill(server, key, customer, args.workers, seconds)
            round_acked = sum(1 for x in res.sent if x.body is not None)
            if res.non200_samples:
                log(f"  [{label}] round {rnd} non-200 samples: {res.non200_samples}")
            if round_acked == 0:
                raise Fail(f"[{label}] round {rnd}: nothing was acknowledged: nothing to verify\n{server.tail()}")
            server.start()
            problems, settled = verify_round(server, key, res, args.workers)
            if problems:
                shown = "\n".join("    " + p for p in problems[:20])
                more = f"\n    … and {len(problems) - 20} more" if len(problems) > 20 else ""
                raise Fail(f"[{label}] round {rnd}: {len(problems)} problems after kill -9:\n{shown}{more}")
            for x in settled:
                if x.path.endswith("/sessions"):
                    session_keys.add(x.key)
                    if x.body is not None:
                        sessions.add(json.loads(x.body)["id"])
                elif x.body is not None:
                    done = json.loads(x.body)
                    completed[done["id"]] = [a["id"] for a in done["accounts"]["data"]]
            acked += round_acked
            if rnd == 1 or rnd % 10 == 0 or rnd == args.rounds:
                log(
                    f"[{label}] cycle {rnd}/{args.rounds}: killed after {seconds:.2f}s; {round_acked} acknowledged, "
                    f"{res.errors_after_kill} cut off; all retrieved, every retry replayed ({len(sessions)} sessions)"
                )

        stored_sessions = count_rows(database, None, "sessions")
        stored_accounts = count_rows(database, None, "fc_accounts")
        want_accounts = sum(len(v) for v in completed.values())
        if stored_sessions != len(sessions):
            raise Fail(f"[{label}] {stored_sessions} sessions stored for {len(sessions)} session keys: orphans or losses")
        if stored_accounts != want_accounts:
            raise Fail(f"[{label}] {stored_accounts} accounts stored, {want_accounts} answered: orphans or losses")
        c = Client(server.port, key)
        events = account_events(c)
        c.close()
        want = sorted(a for v in completed.values() for a in v)
        if sorted(events) != want:
            dup = len(events) - len(set(events))
            raise Fail(f"[{label}] {len(events)} account.created events ({dup} duplicated) for {len(want)} accounts")
        log(
            f"[{label}] {args.rounds} cycles: {len(sessions)} sessions, {len(completed)} completed, "
            f"{want_accounts} accounts, each with exactly one account.created event; no orphan"
        )
    finally:
        server.stop()
    return acked, args.rounds


def postgres_urls(base: str, dbname: str) -> tuple[str, str]:
    """(admin URL on the `postgres` database, URL of the fresh database) from any postgres URL."""
    u = urllib.parse.urlsplit(base)
    if u.scheme not in ("postgres", "postgresql"):
        raise Fail(f"FINCONN_TEST_DATABASE_URL must be a postgres:// URL, got {base!r}")
    admin = urllib.parse.urlunsplit((u.scheme, u.netloc, "/postgres", u.query, ""))
    fresh = urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, ""))
    return admin, fresh


def psql(admin_url: str, sql: str) -> None:
    r = subprocess.run(
        ["psql", admin_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
    )
    if r.returncode != 0:
        raise Fail(f"psql failed ({sql}): {r.stdout.decode(errors='replace').strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("FINCONN_BIN", "target/debug/finconn"))
    ap.add_argument("--workers", type=int, default=int(os.environ.get("CRASH_WORKERS", "8")))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("CRASH_SECONDS", "0.8")),
                    help="longest load before each kill (each cycle picks a random time)")
    ap.add_argument("--min-seconds", type=float, default=float(os.environ.get("CRASH_MIN_SECONDS", "0.1")))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("CRASH_ROUNDS", "100")))
    ap.add_argument("--health-timeout", type=float, default=float(os.environ.get("CRASH_HEALTH_TIMEOUT", "30")))
    ap.add_argument("--postgres", default=os.environ.get("FINCONN_TEST_DATABASE_URL", ""),
                    help="postgres base URL: also run against a fresh database created there (and dropped)")
    ap.add_argument("--log-dir", default=os.environ.get("CRASH_LOG_DIR", ""),
                    help="keep server logs here (default: a temp dir, removed on success)")
    args = ap.parse_args()

    binary = os.path.abspath(args.bin)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        log(f"FAIL: finconn binary not found or not executable: {binary} (cargo build -p finconn-server)")
        return 2
    if args.rounds < 1 or args.workers < 1 or args.seconds <= 0:
        log("FAIL: --rounds and --workers must be >= 1, --seconds > 0")
        return 2

    tmp = tempfile.mkdtemp(prefix="finconn-crash-")
    log_dir = args.log_dir or tmp
    os.makedirs(log_dir, exist_ok=True)
    summary: list[str] = []
    failed = False
    started = time.monotonic()
    try:
        backends: list[tuple[str, str, str | None]] = [("sqlite", f"sqlite://{tmp}/finconn.db", None)]
        pg_drop: tuple[str, str] | None = None
        if args.postgres:
            dbname = f"finconn_crash_{int(time.time())}_{os.getpid()}"
            admin, fresh = postgres_urls(args.postgres, dbname)
            backends.append(("postgres", fresh, admin))
        for label, database, admin in backends:
            try:
                if admin is not None:
                    if shutil.which("psql") is None:
                        raise Fail("FINCONN_TEST_DATABASE_URL is set but psql is not installed")
                    log(f"[{label}] creating database {dbname}")
                    psql(admin, f'CREATE DATABASE "{dbname}"')
                    pg_drop = (admin, dbname)
                acked, cycles = run_backend(label, binary, database, os.path.join(log_dir, f"finconn-{label}.log"), args)
                summary.append(f"{label}: {cycles} kill -9 cycles, {acked} acknowledged requests verified — OK")
            except Fail as e:
                failed = True
                log(f"FAIL: {e}")
                summary.append(f"{label}: FAILED")
            finally:
                if pg_drop is not None:
                    try:
                        psql(pg_drop[0], f'DROP DATABASE IF EXISTS "{pg_drop[1]}" WITH (FORCE)')
                    except (Fail, OSError, subprocess.SubprocessError) as e:
                        log(f"warning: could not drop database {pg_drop[1]}: {e}")
                    pg_drop = None
    finally:
        if failed:
            # Keep the SQLite database and the logs for a post-mortem.
            log(f"server logs kept in {log_dir}; SQLite database kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            if args.log_dir:
                log(f"server logs kept in {log_dir}")

    log(f"summary ({time.monotonic() - started:.1f}s):")
    for s in summary:
        print(f"    {s}", flush=True)
    if failed:
        log("FAIL: acknowledged requests were lost or duplicated, or the test could not run (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
