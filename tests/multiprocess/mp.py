#!/usr/bin/env python3
"""Multi-process test: several finconn processes on one PostgreSQL database share the job runner.

Scenario 1, "two runners": processes A and B, both with jobs enabled, on one fresh database.
  1. link SESSIONS sessions x 9 accounts (Test Institution) through A;
  2. fire a burst of refreshes (FEATURES, default balance+ownership+transactions) for every account,
     concurrently, alternating A / B per request; every POST must answer 200 with the refreshes pending;
  3. poll (alternating A / B) until no refresh is pending (TIMEOUT s, else fail);
  4. check: every account's refreshes ended `succeeded` ("Refresh Fails": `failed`); the jobs table
     holds exactly one job per account and feature, every job done (done_at) after exactly one claim
     (attempts = 1); the audit trigger (below) saw each job claimed once and finished once, and both
     processes claimed jobs; both processes served their half of the refresh POSTs (their logs);
     one transaction_refreshes row per succeeded transaction refresh.

Scenario 2, "a job survives a restart": process C with FINCONN_RUN_JOBS=false on a fresh database
queues refreshes (one feature per account, rotating balance / ownership / transactions, so that no
two jobs of one account run at once and this scenario tests durability only), which must stay
unclaimed (attempts = 0) while C runs. C gets SIGTERM and must exit 0. Process D (jobs enabled) starts
on the same database: every refresh completes, each job claimed once, by D.

Scenario 3, "clock": processes A and B, both with jobs enabled, on one fresh database, and one test clock
at frozen_time F = 1700000000.
  1. CLOCK_CUSTOMERS customers on the clock, each with a session (permissions transactions) completed with
     the test helper (Test Institution, accounts Success and Savings); every account subscribed
     (features[]=transactions), alternating A / B; wait until every first transaction refresh succeeded
     (at F, on the clock); each account was created at F and has one tick parked at F+1d;
  2. advance the clock to F + CLOCK_DAYS days + 1 hour through A; poll the clock through B until `ready`
     (TIMEOUT s; `internal_failure` fails at once);
  3. check: the clock's frozen_time is the target; every account's transaction_refresh succeeded with
     last_attempted_at = F + CLOCK_DAYS days; in the jobs table, for the clock's jobs (jobs.test_clock):
     each account has exactly one SubscriptionTick done at each of F+1d ... F+CLOCK_DAYS d and one
     RefreshTransactions done at each of F, F+1d, ..., every one after exactly one claim (attempts = 1, and
     the audit trigger saw one claim and one finish), no job due on the clock by the target left undone
     (parked or not), and the only undone job of an account is its next tick, parked at F+(CLOCK_DAYS+1)d;
     the AdvanceTestClock job(s) claimed and finished once each; time order across both processes (the
     audit's timestamps: every job due at a clock time finished before any later one was claimed); one
     transaction_refreshes row per succeeded transaction refresh; no warnings in either log.

Which process ran a job: the jobs table has no worker column, so each process connects with its own
`application_name` (in the database URL) and the test installs, in its scratch database only, an AFTER
UPDATE trigger on jobs that writes (job, claim|finish, application_name) rows to a side table
`mp_job_audit`. finconn's own tables are not changed.

Python standard library only; PostgreSQL through psql. Run through tests/multiprocess/run.sh.
Exit status: 0 when every check passed, 1 when a check failed, 2 when the test could not run
(no PostgreSQL, no binary).
"""

from __future__ import annotations

import argparse
import base64
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
import time
import urllib.parse

ALL_FEATURES = ("balance", "ownership", "transactions")
# Account field holding each feature's refresh.
FIELD = {"balance": "balance_refresh", "ownership": "ownership_refresh", "transactions": "transaction_refresh"}
# jobs.kind's "kind" for each feature.
JOB_KIND = {"balance": "refresh_balance", "ownership": "refresh_ownership", "transactions": "refresh_transactions"}
FEATURE_OF_KIND = {v: k for k, v in JOB_KIND.items()}
FAILING_ACCOUNTS = {"Refresh Fails"}  # every refresh of it ends `failed`
ACCOUNTS_PER_SESSION = 9  # Test Institution links 9 accounts by default

AUDIT_SQL = r"""
CREATE TABLE mp_job_audit (
    job_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    app TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION mp_audit_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.attempts > OLD.attempts THEN
        INSERT INTO mp_job_audit (job_id, event, app) VALUES (NEW.id, 'claim', current_setting('application_name'));
    END IF;
    IF OLD.done_at IS NULL AND NEW.done_at IS NOT NULL THEN
        INSERT INTO mp_job_audit (job_id, event, app) VALUES (NEW.id, 'finish', current_setting('application_name'));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER mp_audit_jobs AFTER UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION mp_audit_jobs();
"""


def log(msg: str) -> None:
    print(f"multiprocess: {msg}", flush=True)


class Fail(Exception):
    """A check failed (exit 1)."""


class CannotRun(Exception):
    """The test cannot run here (exit 2)."""


# --------------------------------------------------------------------------------------- PostgreSQL --


class Pg:
    def __init__(self, base_url: str):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("postgres", "postgresql") or not u.hostname:
            raise CannotRun(f"not a postgres:// URL: {base_url!r}")
        self.base = f"{u.scheme}://{u.netloc}"  # no database, no query
        self.admin = f"{self.base}/{u.path.lstrip('/') or 'postgres'}"

    def psql(self, url: str, sql: str) -> str:
        r = subprocess.run(
            ["psql", url, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if r.returncode != 0:
            raise Fail(f"psql failed ({r.returncode}) on {sql.strip()[:120]!r}: {r.stderr.strip()}")
        return r.stdout

    def rows(self, url: str, sql: str) -> list[list[str]]:
        return [line.split("\t") for line in self.psql(url, sql).splitlines() if line != ""]

    def check_available(self) -> None:
        if shutil.which("psql") is None:
            raise CannotRun("PostgreSQL is required: psql is not on PATH (apt-get install postgresql-client)")
        r = subprocess.run(["psql", self.admin, "-X", "-A", "-t", "-c", "SELECT version()"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise CannotRun(f"PostgreSQL is required but {self.admin} does not answer: {r.stderr.strip()}")

    def create_db(self, label: str) -> str:
        name = f"finconn_mp_{label}_{os.getpid()}_{random.randrange(1 << 30)}"
        self.psql(self.admin, f'CREATE DATABASE "{name}"')
        return name

    def drop_db(self, name: str) -> None:
        try:
            self.psql(self.admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Fail as e:
            log(f"WARNING: could not drop database {name}: {e}")

    def url(self, db: str, app: str | None = None) -> str:
        return f"{self.base}/{db}" + (f"?application_name={app}" if app else "")


# ------------------------------------------------------------------------------------------ finconn --


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One finconn process; stdout+stderr go to log_path."""

    def __init__(self, name: str, binary: str, database: str, log_path: str, run_jobs: bool):
        self.name = name
        self.binary = binary
        self.database = database
        self.log_path = log_path
        self.run_jobs = run_jobs
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.requests_ok = 0  # refresh POSTs that answered 200 (client side)

    def start(self, health_timeout: float) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "FINCONN_LOG": "info,sqlx=warn",  # one "finished" line per request: counted per process
            "FINCONN_RUN_JOBS": "true" if self.run_jobs else "false",
            "FINCONN_REFRESH_COOLDOWN_SECONDS": "0",
        })
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database", self.database],
            stdout=logf, stderr=subprocess.STDOUT, env=env,
        )
        logf.close()
        deadline = time.monotonic() + health_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail(f"finconn {self.name} exited with {self.proc.returncode} during start-up "
                           f"(log: {self.log_path}):\n{tail(self.log_path)}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    log(f"finconn {self.name} (pid {self.proc.pid}, jobs {'on' if self.run_jobs else 'OFF'}) "
                        f"answers on port {self.port}")
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise Fail(f"finconn {self.name} did not answer /healthz within {health_timeout:.0f}s (log: {self.log_path})")

    def stop(self, sig: int = signal.SIGTERM, wait: float = 15.0) -> int | None:
        """Sends sig and waits; SIGKILL after `wait` s. Returns the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_lines(self) -> list[str]:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []


def tail(path: str, n: int = 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "\n".join(f.read().splitlines()[-n:])
    except OSError:
        return "(no log)"


class Api:
    def __init__(self, key: str):
        self.auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    def call(self, server: Server, method: str, path: str, form: list[tuple[str, str]] | None = None):
        body = urllib.parse.urlencode(form) if form is not None else None
        headers = {"Authorization": self.auth}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            raw = r.read()
        except OSError as e:
            raise Fail(f"{method} {path} on finconn {server.name}: {e}") from e
        finally:
            c.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return r.status, data, raw

    def ok(self, server: Server, method: str, path: str, form: list[tuple[str, str]] | None = None) -> dict:
        status, data, raw = self.call(server, method, path, form)
        if status != 200 or not isinstance(data, dict):
            raise Fail(f"{method} {path} on finconn {server.name} answered {status}, not 200: {raw[:500]!r}")
        return data


def link_accounts(api: Api, server: Server, sessions: int) -> dict[str, str]:
    """Creates a customer and `sessions` completed sessions; returns {fca_id: display_name}."""
    cus = api.ok(server, "POST", "/v1/customers", [("email", "mp@example.com")])["id"]
    accounts: dict[str, str] = {}
    for _ in range(sessions):
        sess = api.ok(server, "POST", "/v1/financial_connections/sessions", [
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus),
            ("permissions[]", "balances"),
            ("permissions[]", "ownership"),
            ("permissions[]", "transactions"),
        ])["id"]
        done = api.ok(server, "POST", f"/v1/test_helpers/financial_connections/sessions/{sess}/complete",
                      [("institution", "fcinst_TestInstitution")])
        linked = done.get("accounts", {}).get("data", [])
        if len(linked) != ACCOUNTS_PER_SESSION:
            raise Fail(f"session {sess} linked {len(linked)} accounts, expected {ACCOUNTS_PER_SESSION}")
        for a in linked:
            accounts[a["id"]] = a.get("display_name") or "?"
    return accounts


def refresh(api: Api, server: Server, fca: str, features: list[str]) -> None:
    data = api.ok(server, "POST", f"/v1/financial_connections/accounts/{fca}/refresh",
                  [("features[]", f) for f in features])
    for f in features:
        st = (data.get(FIELD[f]) or {}).get("status")
        if st != "pending":
            raise Fail(f"refresh of {fca} via {server.name}: {FIELD[f]}.status is {st!r} in the answer, expected pending")
    server.requests_ok += 1


def list_statuses(api: Api, server: Server) -> dict[str, dict[str, str | None]]:
    """{fca: {feature: status}} for every account of the tenant, through `server`."""
    out: dict[str, dict[str, str | None]] = {}
    after = None
    while True:
        path = "/v1/financial_connections/accounts?limit=100" + (f"&starting_after={after}" if after else "")
        page = api.ok(server, "GET", path)
        for a in page["data"]:
            out[a["id"]] = {f: (a.get(FIELD[f]) or {}).get("status") for f in ALL_FEATURES}
        if not page.get("has_more") or not page["data"]:
            return out
        after = page["data"][-1]["id"]


def undone_due_jobs(pg: Pg, db_url: str) -> int:
    return int(pg.rows(db_url, "SELECT count(*) FROM jobs WHERE done_at IS NULL "
                               "AND run_at <= extract(epoch FROM now())::bigint + 1")[0][0])


def wait_settled(api: Api, servers: list[Server], want: dict[str, list[str]], timeout: float,
                 pg: Pg, db_url: str) -> tuple[dict, float, str]:
    """Polls (rotating through `servers`) until none of the wanted refreshes is pending.
    Returns (statuses, seconds waited, outcome): "settled"; "stuck" when every due job was already done
    before a read that still showed a refresh pending (nothing left can complete it); "timeout".
    """
    start = time.monotonic()
    i = 0
    while True:
        undone = undone_due_jobs(pg, db_url)  # first: then a pending status read below can never change
        st = list_statuses(api, servers[i % len(servers)])
        i += 1
        pending = sum(1 for fca, fs in want.items() for f in fs if st.get(fca, {}).get(f) == "pending")
        if pending == 0:
            return st, time.monotonic() - start, "settled"
        if undone == 0 and time.monotonic() - start > 1.0:
            return st, time.monotonic() - start, "stuck"
        if time.monotonic() - start > timeout:
            return st, time.monotonic() - start, "timeout"
        time.sleep(0.25)


def wait_drained(pg: Pg, db_url: str, deadline: float) -> int:
    """Waits until no due job is left undone (the follow-up jobs a finished job queues, e.g. the
    fan-out of its event, included). Returns how many are still undone at the deadline."""
    while True:
        n = undone_due_jobs(pg, db_url)
        if n == 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------- checks --


class Checks:
    def __init__(self, scenario: str):
        self.scenario = scenario
        self.failures: list[str] = []
        self.passed: list[str] = []

    def expect(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed.append(what)
        else:
            self.failures.append(what + (f": {detail}" if detail else ""))
        return ok


def job_rows(pg: Pg, db_url: str) -> list[dict]:
    rows = pg.rows(db_url, "SELECT id, kind, attempts, done_at IS NOT NULL FROM jobs ORDER BY id")
    out = []
    for jid, kind, attempts, done in rows:
        try:
            k = json.loads(kind)
        except ValueError:
            k = {}
        out.append({"id": int(jid), "kind": k.get("kind", "?"), "account": k.get("account"),
                    "attempts": int(attempts), "done": done == "t"})
    return out


def audit_rows(pg: Pg, db_url: str) -> list[tuple[int, str, str]]:
    return [(int(j), e, a) for j, e, a in pg.rows(db_url, "SELECT job_id, event, app FROM mp_job_audit ORDER BY at")]


def check_outcome(c: Checks, pg: Pg, db_url: str, accounts: dict[str, str], want: dict[str, list[str]],
                  statuses: dict, settled: bool, runners: list[str], idle: list[str],
                  servers: list[Server]) -> dict:
    """The checks shared by both scenarios. Returns figures for the summary."""
    jobs = job_rows(pg, db_url)
    refresh_jobs = [j for j in jobs if j["kind"] in FEATURE_OF_KIND]
    other_jobs = [j for j in jobs if j["kind"] not in FEATURE_OF_KIND]
    expected = sum(len(fs) for fs in want.values())

    # Refresh statuses, as the API shows them.
    wrong = []
    for fca, fs in want.items():
        good = "failed" if accounts[fca] in FAILING_ACCOUNTS else "succeeded"
        for f in fs:
            got = statuses.get(fca, {}).get(f)
            if got != good:
                wrong.append((fca, f, got, good))
    detail = ""
    if wrong:
        sample = "; ".join(f"{fca} ({accounts[fca]}) {FIELD[f]}={got} (want {good})" for fca, f, got, good in wrong[:6])
        detail = f"{len(wrong)} of {expected} wrong, e.g. {sample}"
    c.expect(not wrong, f"every refresh ended as expected (succeeded; 'Refresh Fails': failed){'' if settled else ' [never settled]'}",
             detail)

    # The jobs table.
    c.expect(len(refresh_jobs) == expected, f"jobs table holds {expected} refresh jobs (one per account and feature)",
             f"it holds {len(refresh_jobs)}")
    per = {}
    for j in refresh_jobs:
        per.setdefault((j["account"], FEATURE_OF_KIND[j["kind"]]), []).append(j["id"])
    dup = {k: v for k, v in per.items() if len(v) != 1}
    missing = [(fca, f) for fca, fs in want.items() for f in fs if (fca, f) not in per]
    c.expect(not dup and not missing, "exactly one job per (account, feature) asked for",
             f"duplicated {list(dup.items())[:4]}, missing {missing[:4]}")
    not_done = [j for j in jobs if not j["done"]]
    c.expect(not not_done, "every job has done_at set",
             f"{len(not_done)} not done, e.g. " + ", ".join(f"#{j['id']} {j['kind']} {j['account']} attempts={j['attempts']}" for j in not_done[:6]))
    multi = [j for j in jobs if j["attempts"] != 1]
    c.expect(not multi, "every job was claimed exactly once (attempts = 1)",
             f"{len(multi)} jobs with attempts != 1, e.g. " + ", ".join(f"#{j['id']} {j['kind']} attempts={j['attempts']}" for j in multi[:6]))

    # The audit trigger: who claimed and who finished each job.
    audit = audit_rows(pg, db_url)
    claims: dict[int, list[str]] = {}
    finishes: dict[int, list[str]] = {}
    for jid, ev, app in audit:
        (claims if ev == "claim" else finishes).setdefault(jid, []).append(app)
    bad_claims = [(j["id"], claims.get(j["id"], [])) for j in jobs if len(claims.get(j["id"], [])) != 1]
    c.expect(not bad_claims, "audit: every job claimed once", f"{bad_claims[:6]}")
    bad_fin = [(j["id"], finishes.get(j["id"], [])) for j in jobs if len(finishes.get(j["id"], [])) != 1]
    c.expect(not bad_fin, "audit: every job finished once", f"{bad_fin[:6]}")
    by_app: dict[str, int] = {}
    for apps in claims.values():
        for a in apps:
            by_app[a] = by_app.get(a, 0) + 1
    for r in runners:
        c.expect(by_app.get(r, 0) > 0, f"audit: {r} claimed jobs", f"claims per process: {by_app}")
    for r in idle:
        c.expect(by_app.get(r, 0) == 0, f"audit: {r} (jobs off) claimed none", f"claims per process: {by_app}")
    unknown = {a: n for a, n in by_app.items() if a not in runners and a not in idle}
    c.expect(not unknown, "audit: only finconn's own processes claimed jobs", f"{unknown}")

    # Lost updates: a job is done but its account still shows that refresh pending.
    if transactions_checked := any("transactions" in fs for fs in want.values()):
        ok_txn = sum(1 for fca, fs in want.items() if "transactions" in fs and accounts[fca] not in FAILING_ACCOUNTS)
        n = int(pg.rows(db_url, "SELECT count(*) FROM transaction_refreshes")[0][0])
        c.expect(n == ok_txn, f"one transaction_refreshes row per succeeded transaction refresh ({ok_txn})", f"found {n}")
    lost = []
    for (fca, f), ids in per.items():
        if statuses.get(fca, {}).get(f) == "pending" and all(
                next(j for j in refresh_jobs if j["id"] == i)["done"] for i in ids):
            lost.append(f"{fca} ({accounts.get(fca, '?')}) {FIELD[f]}: job #{ids[0]} is done, the account still says pending")
    if lost:
        c.failures.append(f"LOST UPDATE: {len(lost)} refreshes whose job finished still show pending, e.g. " + "; ".join(lost[:4]))

    # Warnings the job runners logged.
    for s in servers:
        warns = [l for l in s.log_lines() if "WARN" in l or "ERROR" in l]
        if warns:
            c.failures.append(f"finconn {s.name} logged {len(warns)} warnings/errors, first: {warns[0].strip()[:300]}")
    kinds: dict[str, int] = {}
    for j in other_jobs:
        kinds[j["kind"]] = kinds.get(j["kind"], 0) + 1
    return {"jobs": len(jobs), "refresh_jobs": len(refresh_jobs), "other_jobs": len(other_jobs),
            "other_kinds": ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
            "claims_by": by_app, "transactions_checked": transactions_checked}


def stuck_message(outcome: str, pending: int, waited: float, timeout: float) -> str:
    if outcome == "stuck":
        return (f"STUCK: {pending} refreshes still pending after {waited:.1f}s although every due job is done "
                f"(no job left can complete them)")
    return f"TIMEOUT: {pending} refreshes still pending after {timeout:.0f}s"


def refresh_posts_in_log(server: Server) -> int:
    return sum(1 for l in server.log_lines()
               if "method=POST" in l and "/refresh" in l and "finished" in l and "status=200" in l)


# ---------------------------------------------------------------------------------------- scenarios --


def scenario_two_runners(args, pg: Pg, logdir: str, dbs: list[str], servers: list[Server]) -> Checks:
    c = Checks("two runners")
    log(f"=== scenario 1: two job runners on one PostgreSQL database ({args.sessions} sessions x 9 accounts, "
        f"features {'+'.join(args.features)})")
    db = pg.create_db("two")
    dbs.append(db)
    a = Server("A", args.bin, pg.url(db, "finconn_mp_a"), os.path.join(logdir, "two-A.log"), run_jobs=True)
    b = Server("B", args.bin, pg.url(db, "finconn_mp_b"), os.path.join(logdir, "two-B.log"), run_jobs=True)
    servers += [a, b]
    a.start(args.health_timeout)  # A migrates the fresh database; B then finds it migrated
    pg.psql(pg.url(db), AUDIT_SQL)
    b.start(args.health_timeout)
    api = Api(args.key)

    t0 = time.monotonic()
    accounts = link_accounts(api, a, args.sessions)
    log(f"linked {len(accounts)} accounts through A in {time.monotonic() - t0:.1f}s")

    order = list(accounts)
    want = {fca: list(args.features) for fca in order}
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.burst_workers) as pool:
        futs = [pool.submit(refresh, api, (a, b)[i % 2], fca, args.features) for i, fca in enumerate(order)]
        errors = []
        for f in futs:
            try:
                f.result()
            except Fail as e:
                errors.append(str(e))
    burst = time.monotonic() - t0
    if errors:
        raise Fail(f"{len(errors)} of {len(order)} refresh POSTs failed, first: {errors[0]}")
    log(f"burst: {len(order)} refresh POSTs ({len(order) * len(args.features)} refreshes) in {burst:.2f}s, "
        f"A {a.requests_ok} / B {b.requests_ok}")

    t0 = time.monotonic()
    statuses, waited, outcome = wait_settled(api, [a, b], want, args.timeout, pg, pg.url(db))
    settled = outcome == "settled"
    pending = sum(1 for fca, fs in want.items() for f in fs if statuses.get(fca, {}).get(f) == "pending")
    if settled:
        undone = wait_drained(pg, pg.url(db), t0 + args.timeout)
        waited = time.monotonic() - t0
        log(f"no refresh pending after {waited:.1f}s" + (f", but {undone} due jobs still undone" if undone else ""))
    else:
        c.failures.append(stuck_message(outcome, pending, waited, args.timeout))
        log(stuck_message(outcome, pending, waited, args.timeout))

    for s in (a, b):
        alive = s.proc is not None and s.proc.poll() is None
        c.expect(alive, f"finconn {s.name} still running", f"exit code {s.proc.returncode if s.proc else '?'}")
    figures = check_outcome(c, pg, pg.url(db), accounts, want, statuses, settled,
                            runners=["finconn_mp_a", "finconn_mp_b"], idle=[], servers=[a, b])
    half = (len(order) + 1) // 2, len(order) // 2
    for s, n in zip((a, b), half):
        got = refresh_posts_in_log(s)
        c.expect(got == n, f"finconn {s.name} served {n} refresh POSTs (its log)", f"its log shows {got}")
    for s in (a, b):
        s.stop()
    c.summary = (f"{len(accounts)} accounts, {figures['refresh_jobs']} refresh jobs"
                 + (f" (+ {figures['other_kinds']})" if figures["other_jobs"] else "")
                 + f", claims per process {figures['claims_by']}, waited {waited:.1f}s")
    return c


def scenario_restart(args, pg: Pg, logdir: str, dbs: list[str], servers: list[Server]) -> Checks:
    c = Checks("restart")
    log("=== scenario 2: jobs queued by a process without a runner survive its SIGTERM and run in the next one")
    db = pg.create_db("restart")
    dbs.append(db)
    q = Server("C", args.bin, pg.url(db, "finconn_mp_c"), os.path.join(logdir, "restart-C.log"), run_jobs=False)
    servers.append(q)
    q.start(args.health_timeout)
    pg.psql(pg.url(db), AUDIT_SQL)
    api = Api(args.key)
    accounts = link_accounts(api, q, 1)
    want = {fca: [ALL_FEATURES[i % 3]] for i, fca in enumerate(accounts)}
    for fca, fs in want.items():
        refresh(api, q, fca, fs)
    time.sleep(1.0)  # four job-poll intervals: a runner in C would have claimed them by now
    st = list_statuses(api, q)
    still = sum(1 for fca, fs in want.items() for f in fs if st.get(fca, {}).get(f) == "pending")
    c.expect(still == len(want), f"with jobs off, all {len(want)} refreshes stay pending", f"{still} pending")
    jobs = job_rows(pg, pg.url(db))
    queued = [j for j in jobs if j["kind"] in FEATURE_OF_KIND]
    c.expect(len(queued) == len(want), f"{len(want)} refresh jobs queued in C", f"{len(queued)} queued")
    claimed = [j for j in jobs if j["attempts"] != 0 or j["done"]]
    c.expect(not claimed, f"none of the {len(jobs)} jobs claimed (attempts = 0) while C runs",
             ", ".join(f"#{j['id']} {j['kind']} attempts={j['attempts']} done={j['done']}" for j in claimed[:6]))
    code = q.stop(signal.SIGTERM)
    c.expect(code == 0, "C exits 0 on SIGTERM", f"exit code {code} (None: it needed SIGKILL)")
    log(f"queued {len(jobs)} jobs in C ({len(queued)} refreshes), C stopped by SIGTERM (exit {code})")

    d = Server("D", args.bin, pg.url(db, "finconn_mp_d"), os.path.join(logdir, "restart-D.log"), run_jobs=True)
    servers.append(d)
    t0 = time.monotonic()
    d.start(args.health_timeout)
    statuses, _, outcome = wait_settled(api, [d], want, args.timeout, pg, pg.url(db))
    settled = outcome == "settled"
    if settled:
        undone = wait_drained(pg, pg.url(db), t0 + args.timeout)
    waited = time.monotonic() - t0
    if settled:
        log(f"D finished them: no refresh pending {waited:.1f}s after D's start"
            + (f", but {undone} due jobs still undone" if undone else ""))
    else:
        pending = sum(1 for fca, fs in want.items() for f in fs if statuses.get(fca, {}).get(f) == "pending")
        c.failures.append(stuck_message(outcome, pending, waited, args.timeout))
    figures = check_outcome(c, pg, pg.url(db), accounts, want, statuses, settled,
                            runners=["finconn_mp_d"], idle=["finconn_mp_c"], servers=[q, d])
    d.stop()
    c.summary = (f"{figures['refresh_jobs']} refresh jobs"
                 + (f" (+ {figures['other_kinds']})" if figures["other_jobs"] else "")
                 + f" queued by C (jobs off), all run by D within {waited:.1f}s of its start, claims {figures['claims_by']}")
    return c


CLOCK_START = 1_700_000_000  # F, the clock's frozen_time at creation
DAY = 86_400
CLOCK_ACCOUNTS = ("Success", "Savings")  # linked per customer (Test Institution)
PARKED_FROM = 1 << 62  # a parked clock job's run_at is far beyond any real time (finconn: 9e18)


def clock_job_rows(pg: Pg, db_url: str) -> list[dict]:
    """Every job, with its test clock columns (test_clock, clock_run_at: None when NULL)."""
    rows = pg.rows(db_url, "SELECT id, kind, attempts, done_at IS NOT NULL, COALESCE(test_clock, ''), "
                           "COALESCE(clock_run_at::text, ''), run_at FROM jobs ORDER BY id")
    out = []
    for jid, kind, attempts, done, clock, clock_run_at, run_at in rows:
        try:
            k = json.loads(kind)
        except ValueError:
            k = {}
        out.append({"id": int(jid), "kind": k.get("kind", "?"), "account": k.get("account"),
                    "clock_of_kind": k.get("clock"), "attempts": int(attempts), "done": done == "t",
                    "test_clock": clock or None, "clock_run_at": int(clock_run_at) if clock_run_at else None,
                    "run_at": int(run_at)})
    return out


def list_accounts(api: Api, server: Server) -> dict[str, dict]:
    """{fca: account object} for every account of the tenant, through `server`."""
    out: dict[str, dict] = {}
    after = None
    while True:
        path = "/v1/financial_connections/accounts?limit=100" + (f"&starting_after={after}" if after else "")
        page = api.ok(server, "GET", path)
        for a in page["data"]:
            out[a["id"]] = a
        if not page.get("has_more") or not page["data"]:
            return out
        after = page["data"][-1]["id"]


def day_label(t: int | None) -> str:
    """A clock time as F+Nd (+Hh), for messages."""
    if t is None:
        return "None"
    d, r = divmod(t - CLOCK_START, DAY)
    return f"F+{d}d" + (f"+{r}s" if r else "")


def scenario_clock(args, pg: Pg, logdir: str, dbs: list[str], servers: list[Server]) -> Checks:
    c = Checks("clock")
    days = args.clock_days
    target = CLOCK_START + days * DAY + 3600
    log(f"=== scenario 3: a test clock advanced {days} days through two job runners ({args.clock_customers} "
        f"customers x {len(CLOCK_ACCOUNTS)} accounts, subscribed to transactions)")
    db = pg.create_db("clock")
    dbs.append(db)
    a = Server("A", args.bin, pg.url(db, "finconn_mp_a"), os.path.join(logdir, "clock-A.log"), run_jobs=True)
    b = Server("B", args.bin, pg.url(db, "finconn_mp_b"), os.path.join(logdir, "clock-B.log"), run_jobs=True)
    servers += [a, b]
    a.start(args.health_timeout)
    pg.psql(pg.url(db), AUDIT_SQL)
    b.start(args.health_timeout)
    api = Api(args.key)
    db_url = pg.url(db)

    # 1. The clock, its customers, their accounts, subscribed.
    t0 = time.monotonic()
    clock = api.ok(a, "POST", "/v1/test_helpers/test_clocks", [("frozen_time", str(CLOCK_START)), ("name", "mp clock")])
    clock_id = clock["id"]
    c.expect(clock.get("frozen_time") == CLOCK_START and clock.get("status") == "ready",
             "a new clock is ready at F", f"frozen_time {clock.get('frozen_time')}, status {clock.get('status')!r}")
    accounts: dict[str, str] = {}
    for i in range(args.clock_customers):
        srv = (a, b)[i % 2]
        cus = api.ok(srv, "POST", "/v1/customers", [("email", f"mp{i}@example.com"), ("test_clock", clock_id)])
        if cus.get("test_clock") != clock_id:
            raise Fail(f"customer {cus.get('id')} created with test_clock={clock_id} says test_clock={cus.get('test_clock')!r}")
        sess = api.ok(srv, "POST", "/v1/financial_connections/sessions", [
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", cus["id"]),
            ("permissions[]", "transactions"),
        ])["id"]
        done = api.ok(srv, "POST", f"/v1/test_helpers/financial_connections/sessions/{sess}/complete",
                      [("institution", "fcinst_TestInstitution")] + [("accounts[]", n) for n in CLOCK_ACCOUNTS])
        linked = done.get("accounts", {}).get("data", [])
        if len(linked) != len(CLOCK_ACCOUNTS):
            raise Fail(f"session {sess} linked {len(linked)} accounts, expected {len(CLOCK_ACCOUNTS)}")
        for acct in linked:
            accounts[acct["id"]] = acct.get("display_name") or "?"
    order = list(accounts)
    created = list_accounts(api, b)
    off_clock = [f"{fca} created {day_label(created.get(fca, {}).get('created'))}" for fca in order
                 if created.get(fca, {}).get("created") != CLOCK_START]
    c.expect(not off_clock, "every account was created at F (the clock's time)", "; ".join(off_clock[:4]))

    sub_errors = []
    for i, fca in enumerate(order):
        srv = (a, b)[i % 2]
        r = api.ok(srv, "POST", f"/v1/financial_connections/accounts/{fca}/subscribe", [("features[]", "transactions")])
        tr = r.get("transaction_refresh") or {}
        if "transactions" not in (r.get("subscriptions") or []) or tr.get("status") != "pending" \
                or tr.get("last_attempted_at") != CLOCK_START:
            sub_errors.append(f"{fca} via {srv.name}: subscriptions {r.get('subscriptions')}, "
                              f"transaction_refresh {tr.get('status')!r} at {day_label(tr.get('last_attempted_at'))}")
    c.expect(not sub_errors, "every subscribe answered subscribed, its transaction refresh pending at F",
             "; ".join(sub_errors[:4]))

    deadline = time.monotonic() + args.timeout
    i = 0
    while True:
        st = list_accounts(api, (a, b)[i % 2])
        i += 1
        trs = {fca: (st.get(fca, {}).get("transaction_refresh") or {}) for fca in order}
        if all(t.get("status") != "pending" for t in trs.values()):
            break
        if time.monotonic() > deadline:
            pending = [fca for fca, t in trs.items() if t.get("status") == "pending"]
            raise Fail(f"TIMEOUT: {len(pending)} first transaction refreshes (at F) still pending after "
                       f"{args.timeout:.0f}s, e.g. {pending[:4]}")
        time.sleep(0.2)
    bad_first = [f"{fca} ({accounts[fca]}) {t.get('status')} at {day_label(t.get('last_attempted_at'))}"
                 for fca, t in trs.items() if t.get("status") != "succeeded" or t.get("last_attempted_at") != CLOCK_START]
    c.expect(not bad_first, f"every first transaction refresh succeeded at F ({len(order)} accounts)",
             "; ".join(bad_first[:4]))
    before = [j for j in clock_job_rows(pg, db_url) if j["test_clock"] == clock_id]
    ticks0 = [j for j in before if j["kind"] == "subscription_tick"]
    parked0 = sorted(j["account"] for j in ticks0
                     if not j["done"] and j["clock_run_at"] == CLOCK_START + DAY and j["run_at"] >= PARKED_FROM)
    c.expect(parked0 == sorted(order) and len(ticks0) == len(order),
             "before the advance: one tick per account, parked at F+1d",
             f"{len(ticks0)} ticks: " + ", ".join(f"#{j['id']} {j['account']} {day_label(j['clock_run_at'])} "
                                                  f"run_at={j['run_at']} done={j['done']}" for j in ticks0[:6]))
    log(f"clock {clock_id}: {len(order)} accounts linked and subscribed, first refreshes done, "
        f"in {time.monotonic() - t0:.1f}s")

    # 2. Advance through A, poll through B.
    adv = api.ok(a, "POST", f"/v1/test_helpers/test_clocks/{clock_id}/advance", [("frozen_time", str(target))])
    got_target = ((adv.get("status_details") or {}).get("advancing") or {}).get("target_frozen_time")
    c.expect(adv.get("status") == "advancing" and got_target == target,
             f"advance answered advancing towards {day_label(target)}",
             f"status {adv.get('status')!r}, status_details {adv.get('status_details')}")
    t0 = time.monotonic()
    polls = 0
    while True:
        cur = api.ok(b, "GET", f"/v1/test_helpers/test_clocks/{clock_id}")
        polls += 1
        if cur.get("status") != "advancing":
            break
        if time.monotonic() - t0 > args.timeout:
            break
        time.sleep(0.1)
    advance_s = time.monotonic() - t0
    status = cur.get("status")
    if status == "advancing":
        c.failures.append(f"TIMEOUT: the clock is still advancing after {args.timeout:.0f}s "
                          f"(at {day_label(cur.get('frozen_time'))})")
    c.expect(status == "ready", "the clock ends ready (polled through B)",
             f"status {status!r} at {day_label(cur.get('frozen_time'))}")
    c.expect(cur.get("frozen_time") == target, f"the clock's frozen_time is the target {day_label(target)}",
             f"it is {day_label(cur.get('frozen_time'))}")
    log(f"advance to {day_label(target)}: clock {status} after {advance_s:.1f}s ({polls} polls through B)")
    undone = wait_drained(pg, db_url, time.monotonic() + min(args.timeout, 15))  # e.g. the events' fan-out
    c.expect(undone == 0, "no due job left undone after the advance", f"{undone} undone")

    # 3. The accounts, through B.
    last = CLOCK_START + days * DAY
    st = list_accounts(api, b)
    bad = []
    for fca in order:
        t = st.get(fca, {}).get("transaction_refresh") or {}
        if t.get("status") != "succeeded" or t.get("last_attempted_at") != last:
            bad.append(f"{fca} ({accounts[fca]}) {t.get('status')!r} at {day_label(t.get('last_attempted_at'))}")
    c.expect(not bad, f"every account's transaction refresh succeeded at {day_label(last)} (the last daily tick)",
             f"{len(bad)} of {len(order)} wrong: " + "; ".join(bad[:4]))

    # The jobs table.
    jobs = clock_job_rows(pg, db_url)
    mine = [j for j in jobs if j["test_clock"] == clock_id]
    other_clock = [j for j in jobs if j["test_clock"] not in (None, clock_id)]
    c.expect(not other_clock, "no job of another clock", f"{other_clock[:4]}")
    advances = [j for j in jobs if j["kind"] == "advance_test_clock"]
    c.expect(advances and all(j["clock_of_kind"] == clock_id for j in advances) and all(j["done"] for j in advances),
             "the advance job(s) of the clock are done",
             ", ".join(f"#{j['id']} clock={j['clock_of_kind']} done={j['done']}" for j in advances) or "none found")
    per_acct: dict[str, dict[str, list[dict]]] = {fca: {"subscription_tick": [], "refresh_transactions": []}
                                                  for fca in order}
    strays = []
    for j in mine:
        slot = per_acct.get(j["account"], {}).get(j["kind"])
        if slot is None:
            strays.append(j)
        else:
            slot.append(j)
    c.expect(not strays, "the clock's jobs are ticks and transaction refreshes of its accounts",
             ", ".join(f"#{j['id']} {j['kind']} {j['account']}" for j in strays[:6]))
    want_ticks = [CLOCK_START + d * DAY for d in range(1, days + 1)]
    want_refreshes = [CLOCK_START + d * DAY for d in range(0, days + 1)]
    next_tick = CLOCK_START + (days + 1) * DAY
    bad_ticks, bad_refr, bad_next = [], [], []
    for fca in order:
        ticks = per_acct[fca]["subscription_tick"]
        done_ticks = sorted(j["clock_run_at"] for j in ticks if j["done"])
        if done_ticks != want_ticks:
            bad_ticks.append(f"{fca}: {[day_label(t) for t in done_ticks]}")
        undone_ticks = [j for j in ticks if not j["done"]]
        if len(undone_ticks) != 1 or undone_ticks[0]["clock_run_at"] != next_tick \
                or undone_ticks[0]["run_at"] < PARKED_FROM or undone_ticks[0]["attempts"] != 0:
            bad_next.append(f"{fca}: " + (", ".join(f"#{j['id']} {day_label(j['clock_run_at'])} run_at={j['run_at']} "
                                                   f"attempts={j['attempts']}" for j in undone_ticks) or "none"))
        refr = per_acct[fca]["refresh_transactions"]
        done_refr = sorted(j["clock_run_at"] for j in refr if j["done"])
        if done_refr != want_refreshes or len(refr) != len(done_refr):
            bad_refr.append(f"{fca}: done {[day_label(t) for t in done_refr]}, undone "
                            f"{[day_label(j['clock_run_at']) for j in refr if not j['done']]}")
    c.expect(not bad_ticks, f"each account: exactly {days} SubscriptionTick jobs done, at F+1d ... F+{days}d, one each",
             f"{len(bad_ticks)} accounts wrong, e.g. " + "; ".join(bad_ticks[:3]))
    c.expect(not bad_refr, f"each account: exactly {days + 1} RefreshTransactions jobs, all done, at F ... F+{days}d, "
             f"one each", f"{len(bad_refr)} accounts wrong, e.g. " + "; ".join(bad_refr[:3]))
    c.expect(not bad_next, f"each account: its only undone job is the next tick, parked at {day_label(next_tick)}, "
             f"never claimed", f"{len(bad_next)} accounts wrong, e.g. " + "; ".join(bad_next[:3]))
    left = [j for j in mine if not j["done"] and (j["clock_run_at"] is None or j["clock_run_at"] <= target)]
    c.expect(not left, f"no job of the clock due by {day_label(target)} left undone (parked or not)",
             f"{len(left)} left, e.g. " + ", ".join(f"#{j['id']} {j['kind']} {j['account']} "
                                                     f"{day_label(j['clock_run_at'])} run_at={j['run_at']}"
                                                     for j in left[:6]))
    ran = [j for j in mine if j["done"]] + advances
    multi = [j for j in ran if j["attempts"] != 1]
    c.expect(not multi, f"every job of the clock that ran ({len(ran)}, the advance included) was claimed once (attempts = 1)",
             ", ".join(f"#{j['id']} {j['kind']} {day_label(j['clock_run_at'])} attempts={j['attempts']}" for j in multi[:6]))

    # The audit trigger.
    claims: dict[int, list[str]] = {}
    finishes: dict[int, list[str]] = {}
    for jid, ev, app in audit_rows(pg, db_url):
        (claims if ev == "claim" else finishes).setdefault(jid, []).append(app)
    bad_claims = [(j["id"], j["kind"], claims.get(j["id"], [])) for j in ran if len(claims.get(j["id"], [])) != 1]
    c.expect(not bad_claims, "audit: every job of the clock claimed once (no job run twice)", f"{bad_claims[:6]}")
    bad_fin = [(j["id"], j["kind"], finishes.get(j["id"], [])) for j in ran if len(finishes.get(j["id"], [])) != 1]
    c.expect(not bad_fin, "audit: every job of the clock finished once", f"{bad_fin[:6]}")
    # Time order across both processes: every job due at clock time t finished before any job due later
    # was claimed (the clock moves on only when nothing due at its time is left).
    stamps: dict[tuple[int, str], float] = {}
    for jid, ev, at in pg.rows(db_url, "SELECT job_id, event, extract(epoch FROM at) FROM mp_job_audit"):
        stamps[(int(jid), ev)] = float(at)
    by_time: dict[int, list[dict]] = {}
    for j in mine:
        if j["done"]:
            by_time.setdefault(j["clock_run_at"], []).append(j)
    out_of_order = []
    times = sorted(by_time)
    for t, t_next in zip(times, times[1:]):
        last_finish = max(stamps.get((j["id"], "finish"), float("inf")) for j in by_time[t])
        first_claim = min(stamps.get((j["id"], "claim"), float("-inf")) for j in by_time[t_next])
        if last_finish >= first_claim:
            out_of_order.append(f"a job at {day_label(t_next)} was claimed {last_finish - first_claim:.3f}s "
                                f"before the last job at {day_label(t)} finished")
    c.expect(not out_of_order, f"audit: the clock's jobs ran in time order ({len(times)} clock times, "
             f"each one's jobs all finished before any later one was claimed)", "; ".join(out_of_order[:4]))
    parked_claimed = [(j["id"], claims[j["id"]]) for j in mine if not j["done"] and j["id"] in claims]
    c.expect(not parked_claimed, "audit: no parked job claimed", f"{parked_claimed[:6]}")
    by_app: dict[str, int] = {}
    for j in mine:
        for app in claims.get(j["id"], []):
            by_app[app] = by_app.get(app, 0) + 1
    adv_by = sorted({app for j in advances for app in claims.get(j["id"], [])})
    unknown = {k: n for k, n in by_app.items() if k not in ("finconn_mp_a", "finconn_mp_b")}
    c.expect(not unknown, "audit: only finconn's own processes claimed jobs", f"{unknown}")

    n = int(pg.rows(db_url, "SELECT count(*) FROM transaction_refreshes")[0][0])
    c.expect(n == len(order) * (days + 1), f"one transaction_refreshes row per succeeded transaction refresh "
             f"({len(order)} x {days + 1})", f"found {n}")
    for s in (a, b):
        alive = s.proc is not None and s.proc.poll() is None
        c.expect(alive, f"finconn {s.name} still running", f"exit code {s.proc.returncode if s.proc else '?'}")
        warns = [l for l in s.log_lines() if "WARN" in l or "ERROR" in l]
        c.expect(not warns, f"finconn {s.name} logged no warnings",
                 f"{len(warns)} warnings/errors, first: {warns[0].strip()[:300] if warns else ''}")
    for s in (a, b):
        s.stop()
    c.summary = (f"{len(order)} accounts on {clock_id}, advanced {days}d+1h in {advance_s:.1f}s; "
                 f"{len([j for j in mine if j['done']])} clock jobs done, clock-job claims per process {by_app}, "
                 f"advance job(s) {len(advances)} claimed by {adv_by}")
    return c


# --------------------------------------------------------------------------------------------- main --


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True)
    p.add_argument("--pg-url", default=os.environ.get("FINCONN_TEST_DATABASE_URL")
                   or "postgres://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--sessions", type=int, default=int(os.environ.get("MP_SESSIONS", "6")))
    p.add_argument("--features", default=os.environ.get("MP_FEATURES", "balance ownership transactions"),
                   help="features refreshed per account in scenario 1 (space separated)")
    p.add_argument("--timeout", type=float, default=float(os.environ.get("MP_TIMEOUT", "60")))
    p.add_argument("--burst-workers", type=int, default=int(os.environ.get("MP_BURST_WORKERS", "16")))
    p.add_argument("--health-timeout", type=float, default=30.0)
    p.add_argument("--clock-customers", type=int, default=int(os.environ.get("MP_CLOCK_CUSTOMERS", "4")),
                   help="customers on the test clock in scenario 3, 2 accounts each")
    p.add_argument("--clock-days", type=int, default=int(os.environ.get("MP_CLOCK_DAYS", "10")),
                   help="days the clock is advanced in scenario 3 (plus one hour)")
    p.add_argument("--scenario", choices=["all", "two", "restart", "clock"], default=os.environ.get("MP_SCENARIO", "all"))
    p.add_argument("--log-dir", default=os.environ.get("MP_LOG_DIR"))
    p.add_argument("--keep-db", action="store_true", default=os.environ.get("MP_KEEP_DB") == "1")
    args = p.parse_args()
    args.features = args.features.split()
    bad = [f for f in args.features if f not in ALL_FEATURES]
    if bad or not args.features:
        print(f"multiprocess: FAIL: features must be among {ALL_FEATURES}, got {args.features}", file=sys.stderr)
        return 2
    if args.clock_days < 1 or args.clock_customers < 1:
        print("multiprocess: FAIL: MP_CLOCK_DAYS and MP_CLOCK_CUSTOMERS must be at least 1", file=sys.stderr)
        return 2
    args.key = "sk_test_mp" + "".join(random.choices(string.ascii_letters + string.digits, k=12))

    pg = Pg(args.pg_url)
    try:
        pg.check_available()
    except CannotRun as e:
        print(f"multiprocess: FAIL: {e}", file=sys.stderr)
        return 2

    logdir = args.log_dir or tempfile.mkdtemp(prefix="finconn-mp.")
    os.makedirs(logdir, exist_ok=True)
    started = time.monotonic()
    dbs: list[str] = []
    servers: list[Server] = []
    results: list[Checks] = []
    error = None
    try:
        if args.scenario in ("all", "two"):
            results.append(scenario_two_runners(args, pg, logdir, dbs, servers))
        if args.scenario in ("all", "restart"):
            results.append(scenario_restart(args, pg, logdir, dbs, servers))
        if args.scenario in ("all", "clock"):
            results.append(scenario_clock(args, pg, logdir, dbs, servers))
    except Fail as e:
        error = str(e)
    except KeyboardInterrupt:
        error = "interrupted"
    finally:
        for s in servers:
            s.stop()
        if args.keep_db:
            log(f"databases kept (MP_KEEP_DB=1): {', '.join(dbs)}")
        else:
            for db in dbs:
                pg.drop_db(db)

    print()
    print(f"multiprocess summary ({time.monotonic() - started:.1f}s, {args.bin})")
    failed = bool(error)
    for r in results:
        verdict = "FAIL" if r.failures else "ok"
        failed |= bool(r.failures)
        print(f"  [{verdict}] {r.scenario}: {getattr(r, 'summary', '')}")
        print(f"         {len(r.passed)} checks passed")
        for f in r.failures:
            print(f"         FAILED: {f}")
    if error:
        print(f"  [FAIL] aborted: {error}")
    if failed:
        print(f"  server logs kept in {logdir}")
        print("multiprocess: FAIL")
        return 1
    if not args.log_dir:
        shutil.rmtree(logdir, ignore_errors=True)
    print("multiprocess: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
