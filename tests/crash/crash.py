#!/usr/bin/env python3
"""Crash test: no acknowledged session may be lost when finconn is killed with SIGKILL.

For each backend (SQLite always; PostgreSQL when FINCONN_TEST_DATABASE_URL is set):
  1. start finconn on a fresh database, create a customer;
  2. N workers (keep-alive connections) create sessions as fast as they can; every session whose
     create came back 200 with a parseable body is recorded as *acknowledged* (id, client_secret);
  3. after LOAD seconds, with the workers still firing, the server gets `kill -9`;
  4. finconn is restarted on the same database and every acknowledged session is retrieved:
     it must answer 200 with the same id and client_secret.
Repeated for --rounds rounds (each round loads and kills the restarted server again).

Python standard library only. Run through tests/crash/run.sh, or directly:
    python3 tests/crash/crash.py --bin target/debug/finconn
Exit status 0 only when every acknowledged session was found and at least one was verified.
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

    def request(self, method: str, path: str, form: list[tuple[str, str]] | None = None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.key}"}
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
        return r.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class LoadResult:
    acked: dict[str, str] = field(default_factory=dict)  # id -> client_secret
    non200: int = 0
    errors_before_kill: int = 0
    errors_after_kill: int = 0  # requests cut off by the kill: unacknowledged, may or may not exist
    non200_samples: list[str] = field(default_factory=list)


def load_and_kill(server: Server, key: str, customer: str, workers: int, seconds: float) -> LoadResult:
    res = LoadResult()
    lock = threading.Lock()
    killing = threading.Event()  # set just before SIGKILL: errors from then on are the kill's
    killed = threading.Event()  # set once the process is gone: workers stop
    form = [("account_holder[customer]", customer)] + SESSION_FORM

    def worker() -> None:
        c = Client(server.port, key)
        while not killed.is_set():
            try:
                status, data = c.request("POST", "/v1/financial_connections/sessions", form)
            except (OSError, http.client.HTTPException):
                with lock:
                    if killing.is_set():
                        res.errors_after_kill += 1
                    else:
                        res.errors_before_kill += 1
                if killing.is_set():
                    killed.wait()
                    break
                time.sleep(0.01)
                continue
            if status == 200:
                try:
                    obj = json.loads(data)
                    sid, secret = obj["id"], obj["client_secret"]
                except (ValueError, KeyError, TypeError):
                    with lock:
                        res.non200 += 1
                        res.non200_samples.append(f"200 with an unparseable body: {data[:200]!r}")
                    continue
                with lock:
                    res.acked[sid] = secret
            else:
                with lock:
                    res.non200 += 1
                    if len(res.non200_samples) < 5:
                        res.non200_samples.append(f"{status}: {data[:300]!r}")
        c.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    with lock:
        acked_before_kill = len(res.acked)
    # The workers are still firing: SIGKILL lands with requests in flight.
    killing.set()
    server.kill9()
    killed.set()
    for t in threads:
        t.join(timeout=15)
    if any(t.is_alive() for t in threads):
        raise Fail("load workers did not stop after the kill")
    log(
        f"  load: {len(res.acked)} creates acknowledged ({acked_before_kill} when SIGKILL was sent), "
        f"{res.errors_after_kill} requests cut off by the kill, {res.non200} non-200, "
        f"{res.errors_before_kill} connection errors before the kill"
    )
    return res


def verify(server: Server, key: str, acked: dict[str, str], workers: int) -> list[str]:
    """Returns one message per acknowledged session that is missing or different."""
    items = list(acked.items())
    problems: list[str] = []
    lock = threading.Lock()

    def check(chunk: list[tuple[str, str]]) -> None:
        c = Client(server.port, key)
        for sid, secret in chunk:
            try:
                status, data = c.request("GET", f"/v1/financial_connections/sessions/{sid}")
            except (OSError, http.client.HTTPException) as e:
                msg = f"{sid}: GET failed: {e!r}"
            else:
                msg = ""
                if status != 200:
                    try:
                        detail = json.loads(data)["error"]["message"]
                    except (ValueError, KeyError, TypeError):
                        detail = data[:200].decode(errors="replace")
                    msg = f"{sid}: GET answered {status} ({detail})"
                else:
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        obj = {}
                    if obj.get("id") != sid:
                        msg = f"{sid}: GET returned id {obj.get('id')!r}"
                    elif obj.get("client_secret") != secret:
                        msg = f"{sid}: client_secret changed: acknowledged {secret!r}, now {obj.get('client_secret')!r}"
            if msg:
                with lock:
                    problems.append(msg)
        c.close()

    n = max(1, min(workers, len(items)))
    chunks = [items[i::n] for i in range(n)]
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        list(ex.map(check, chunks))
    return problems


def run_backend(label: str, binary: str, database: str, log_path: str, args) -> tuple[int, int]:
    """Returns (acknowledged, verified); raises Fail on any loss."""
    key = "sk_test_crash" + "".join(random.choices(string.ascii_letters + string.digits, k=12))
    server = Server(binary, database, log_path, args.health_timeout)
    acked_all: dict[str, str] = {}
    verified = 0
    try:
        log(f"[{label}] starting finconn (log: {log_path})")
        server.start()
        c = Client(server.port, key)
        status, data = c.request("POST", "/v1/customers", [("email", "crash@example.com")])
        c.close()
        if status != 200:
            raise Fail(f"[{label}] creating a customer answered {status}: {data[:300]!r}")
        customer = json.loads(data)["id"]

        for rnd in range(1, args.rounds + 1):
            log(f"[{label}] round {rnd}: {args.workers} workers creating sessions for {args.seconds}s, then kill -9")
            res = load_and_kill(server, key, customer, args.workers, args.seconds)
            if res.non200_samples:
                log(f"  non-200 samples: {res.non200_samples}")
            if not res.acked:
                raise Fail(f"[{label}] round {rnd}: no session create was acknowledged: nothing to verify\n{server.tail()}")
            if res.errors_after_kill == 0:
                log("  note: no request was in flight at the moment of the kill")
            acked_all.update(res.acked)

            log(f"[{label}] round {rnd}: restarting finconn on the same database")
            server.start()
            problems = verify(server, key, acked_all, args.workers)
            if problems:
                shown = "\n".join("    " + p for p in problems[:20])
                more = f"\n    … and {len(problems) - 20} more" if len(problems) > 20 else ""
                raise Fail(
                    f"[{label}] round {rnd}: {len(problems)} of {len(acked_all)} acknowledged sessions "
                    f"LOST or changed after kill -9:\n{shown}{more}"
                )
            verified = len(acked_all)
            log(f"[{label}] round {rnd}: all {verified} acknowledged sessions retrieved intact")
    finally:
        server.stop()
    return len(acked_all), verified


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
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("CRASH_SECONDS", "3")))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("CRASH_ROUNDS", "1")))
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
                acked, verified = run_backend(label, binary, database, os.path.join(log_dir, f"finconn-{label}.log"), args)
                if verified <= 0:
                    raise Fail(f"[{label}] verified 0 sessions")
                summary.append(f"{label}: {acked} acknowledged, {verified} verified after kill -9 — OK")
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
        log("FAIL: acknowledged sessions were lost or the test could not run (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
