#!/usr/bin/env python3
"""Checks the deploy files without Docker or a running systemd: deploy/Dockerfile, .dockerignore,
deploy/finconn.service and deploy/finconn.env.example, by concrete rules (below), and the unit with
`systemd-analyze verify` and `systemd-analyze security` when systemd-analyze is installed.

The rules are tested too: `self_test` feeds broken Dockerfiles and units to them and expects each to be
caught, so a rule that stopped biting fails the suite.

    python3 tests/deploy/check.py        # prints each check, then "N passed, N failed"
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
UNIT = ROOT / "deploy" / "finconn.service"
ENV_EXAMPLE = ROOT / "deploy" / "finconn.env.example"
STATE = "/var/lib/finconn"


def known_variables() -> set[str]:
    """Every FINCONN_* name the server's source reads (config.rs, telemetry.rs, main.rs, …)."""
    names: set[str] = set()
    for path in (ROOT / "crates" / "finconn-server" / "src").rglob("*.rs"):
        names.update(re.findall(r'"(FINCONN_[A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    return names


# --- Dockerfile -------------------------------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions by stage; continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(Instruction(start, keyword, args))
        else:
            # ARG before the first FROM is the only instruction allowed there.
            if keyword != "ARG":
                raise ValueError(f"line {start}: {keyword} before any FROM")
    return stages


def exec_form(args: str) -> list[str]:
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


def env_pairs(args: str) -> dict[str, str]:
    """`ENV A=1 B=2` (or the old `ENV A 1`)."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words)


def dockerfile_problems(text: str, variables: set[str]) -> list[str]:
    problems: list[str] = []
    try:
        stages = parse_dockerfile(text)
    except ValueError as e:
        return [str(e)]
    if len(stages) < 2:
        return ["multi-stage: a builder stage and a runtime stage"]
    names = {s.name for s in stages if s.name}
    for s in stages:
        if s.image in names:
            continue
        if "@sha256:" in s.image:
            continue
        tag = s.image.rsplit(":", 1)[1] if ":" in s.image.split("/")[-1] else None
        if tag is None or tag == "latest":
            problems.append(f"FROM {s.image}: pin a tag (not `latest`, not none)")
    for s in stages:
        for add in s.all("ADD"):
            if re.search(r"(https?|ftp)://|git@", add.args):
                problems.append(f"line {add.line}: ADD of a remote URL (download in a RUN with a checksum, or COPY)")
    builders = stages[:-1]
    final = stages[-1]
    builds = [
        r for s in builders for r in s.all("RUN")
        if re.search(r"\bcargo build\b", r.args) and "--release" in r.args and "--locked" in r.args
    ]
    if not builds:
        problems.append("a builder stage runs `cargo build --release --locked`")
    if not any(s.image.split("/")[-1].startswith("rust:") for s in builders):
        problems.append("the builder stage starts from the rust image")
    if not final.image.split("/")[-1].startswith("debian:") or "slim" not in final.image:
        problems.append(f"the runtime stage is Debian slim, not {final.image}")

    users = final.all("USER")
    if not users:
        problems.append("the final stage sets a USER")
    else:
        user = users[-1].args.split(":")[0]
        if user in ("root", "0", ""):
            problems.append(f"the final stage's USER is not root ({users[-1].args})")
        last_run = max((i.line for i in final.all("RUN")), default=0)
        if users[-1].line < last_run:
            problems.append("USER comes after the last RUN of the final stage")

    copies = final.all("COPY")
    binaries = []
    for c in copies:
        words = c.args.split()
        sources = [w for w in words if not w.startswith("--")][:-1]
        if not any(w.startswith("--from=") for w in words):
            problems.append(f"line {c.line}: the final stage copies from the build context ({c.args})")
        elif len(sources) != 1 or not sources[0].endswith("/target/release/finconn"):
            problems.append(f"line {c.line}: the final stage copies more than the binary ({c.args})")
        else:
            binaries.append(c)
    if len(binaries) != 1:
        problems.append("the final stage copies exactly one thing: the finconn binary from the builder")
    if final.all("ADD"):
        problems.append("the final stage has no ADD")

    health = final.all("HEALTHCHECK")
    if not health or health[-1].args.upper().startswith("NONE"):
        problems.append("the final stage has a HEALTHCHECK")
    else:
        command = health[-1].args
        if "/readyz" not in command:
            problems.append("HEALTHCHECK asks /readyz")
        tool = None
        cmd = command.split("CMD", 1)[1].strip() if "CMD" in command else ""
        if cmd:
            words = exec_form(cmd)
            tool = Path(words[0]).name if words else None
        if tool in ("curl", "wget"):
            installs = " ".join(r.args for r in final.all("RUN"))
            if not re.search(rf"apt-get install[^&;]*\b{tool}\b", installs):
                problems.append(f"HEALTHCHECK runs {tool}, which the runtime stage does not install")
        elif tool not in ("finconn", "/usr/local/bin/finconn"):
            problems.append(f"HEALTHCHECK runs {tool!r}: curl, wget or finconn")

    env: dict[str, str] = {}
    for e in final.all("ENV"):
        env.update(env_pairs(e.args))
    for name in env:
        if name.startswith("FINCONN_") and name not in variables:
            problems.append(f"ENV {name}: finconn reads no such variable")
    listen = env.get("FINCONN_LISTEN", "127.0.0.1:8420")
    port = listen.rsplit(":", 1)[-1]
    if listen.startswith("127.") or listen.startswith("localhost"):
        problems.append(f"FINCONN_LISTEN={listen}: a container must listen beyond its loopback")
    exposed = {p.split("/")[0] for e in final.all("EXPOSE") for p in e.args.split()}
    if port not in exposed:
        problems.append(f"EXPOSE {port} (the port of FINCONN_LISTEN)")
    if health and f":{port}/" not in health[-1].args:
        problems.append(f"HEALTHCHECK asks the port finconn listens on ({port})")
    volumes = " ".join(v.args for v in final.all("VOLUME"))
    if STATE not in volumes:
        problems.append(f"VOLUME {STATE}")
    database = env.get("FINCONN_DATABASE_URL", "")
    if not database.startswith(f"sqlite://{STATE}/"):
        problems.append(f"FINCONN_DATABASE_URL puts the SQLite database on the volume {STATE}")
    run = " ".join(" ".join(exec_form(i.args)) for i in final.all("ENTRYPOINT") + final.all("CMD"))
    if not re.search(r"finconn serve\b", run):
        problems.append("ENTRYPOINT/CMD run `finconn serve`")
    return problems


def dockerignore_problems(text: str) -> list[str]:
    entries = {line.strip().rstrip("/") for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return [f".dockerignore leaves out {e}" for e in ("target", ".git") if e not in entries]


# --- systemd unit -----------------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
        elif current and "=" in line:
            key, value = line.split("=", 1)
            sections[current].append((key.strip(), value.strip()))
    return sections


REQUIRED_SERVICE = {
    "NoNewPrivileges": {"yes", "true"},
    "ProtectSystem": {"strict"},
    "ProtectHome": {"yes", "true", "read-only", "tmpfs"},
    "PrivateTmp": {"yes", "true"},
    "StateDirectory": {"finconn"},
    "Restart": {"on-failure", "always", "on-abnormal"},
}


def unit_problems(text: str, variables: set[str]) -> list[str]:
    problems: list[str] = []
    sections = parse_unit(text)
    for needed in ("Unit", "Service", "Install"):
        if needed not in sections:
            problems.append(f"section [{needed}]")
    service = sections.get("Service", [])
    last = {k: v for k, v in service}
    for key, allowed in REQUIRED_SERVICE.items():
        if last.get(key) not in allowed:
            problems.append(f"{key}= one of {sorted(allowed)} (found {last.get(key)!r})")
    if last.get("User", "root") in ("root", "0") or "DynamicUser" in last and not last.get("User"):
        problems.append("User= a dedicated user, not root")
    if not any(k == "EnvironmentFile" for k, _ in service):
        problems.append("EnvironmentFile= for secrets such as FINCONN_MASTER_KEY")
    if not re.search(r"\bfinconn serve\b", last.get("ExecStart", "")):
        problems.append("ExecStart= runs `finconn serve`")
    env: dict[str, str] = {}
    for k, v in service:
        if k == "Environment":
            for word in shlex.split(v):
                name, _, value = word.partition("=")
                env[name] = value
    for name in env:
        if name.startswith("FINCONN_") and name not in variables:
            problems.append(f"Environment={name}: finconn reads no such variable")
    database = env.get("FINCONN_DATABASE_URL", "")
    if database and not database.startswith(f"sqlite://{STATE}/") and not database.startswith("postgres"):
        problems.append(f"FINCONN_DATABASE_URL puts SQLite in the StateDirectory ({STATE})")
    if not last.get("WorkingDirectory", "").startswith(STATE):
        problems.append(f"WorkingDirectory= {STATE} (finconn.toml and relative paths)")
    return problems


def env_example_problems(text: str, variables: set[str]) -> list[str]:
    names = re.findall(r"^#?\s*(FINCONN_[A-Z0-9_]+)=", text, flags=re.M)
    problems = [f"{n}: finconn reads no such variable" for n in names if n not in variables]
    if "FINCONN_MASTER_KEY" not in names:
        problems.append("the env file example names FINCONN_MASTER_KEY")
    return problems


def systemd_analyze(text: str) -> list[str]:
    """`verify` and `security --offline` on a copy of the unit whose ExecStart binary exists here."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return []
    problems = []
    with tempfile.TemporaryDirectory() as d:
        # The installed path (/usr/local/bin/finconn) is not on a build machine: verify names a real file.
        unit = Path(d) / "finconn.service"
        unit.write_text(text.replace("/usr/local/bin/finconn ", f"{shutil.which('true')} "), encoding="utf-8")
        verify = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
        output = (verify.stdout + verify.stderr).strip()
        if verify.returncode != 0 or output:
            problems.append(f"systemd-analyze verify: {output or verify.returncode}")
        security = subprocess.run(
            [tool, "security", "--offline=yes", "--threshold=20", "--no-pager", str(unit)],
            capture_output=True, text=True,
        )
        if security.returncode != 0:
            lines = (security.stdout + security.stderr).strip().splitlines()
            problems.append(f"systemd-analyze security: exposure above 2.0 ({lines[-1] if lines else ''})")
    return problems


# --- the rules must bite ------------------------------------------------------------------------------


def self_test(dockerfile: str, unit: str, variables: set[str]) -> list[str]:
    """Each mutation of the real files must be reported by the rule it breaks."""
    broken_dockerfiles = {
        "latest tag": dockerfile.replace("FROM debian:bookworm-slim", "FROM debian:latest"),
        "untagged image": dockerfile.replace("FROM debian:bookworm-slim", "FROM debian"),
        "root user": re.sub(r"^USER .*$", "USER root", dockerfile, flags=re.M),
        "no user": re.sub(r"^USER .*$", "", dockerfile, flags=re.M),
        "remote ADD": dockerfile.replace("WORKDIR /var/lib/finconn", "ADD https://example.com/x /x\nWORKDIR /var/lib/finconn"),
        "no healthcheck": re.sub(r"^HEALTHCHECK(.*\\\n)*.*$", "", dockerfile, flags=re.M),
        "context copied": dockerfile.replace("USER finconn", "COPY . /app\nUSER finconn"),
        "unlocked build": dockerfile.replace("--locked", ""),
        "invented variable": dockerfile.replace("FINCONN_LOG_FORMAT=json", "FINCONN_LOGFORMAT=json"),
    }
    failures = []
    for what, text in broken_dockerfiles.items():
        if text == dockerfile:
            failures.append(f"self-test: the mutation '{what}' did not apply")
        elif not dockerfile_problems(text, variables):
            failures.append(f"self-test: a Dockerfile with '{what}' passed")
    broken_units = {
        "root": unit.replace("User=finconn", "User=root"),
        "no NoNewPrivileges": unit.replace("NoNewPrivileges=yes", ""),
        "ProtectSystem=full": unit.replace("ProtectSystem=strict", "ProtectSystem=full"),
        "no StateDirectory": unit.replace("StateDirectory=finconn", ""),
        "invented variable": unit.replace("FINCONN_LISTEN=", "FINCONN_LISTEN_ADDR="),
    }
    for what, text in broken_units.items():
        if text == unit:
            failures.append(f"self-test: the mutation '{what}' did not apply")
        elif not unit_problems(text, variables):
            failures.append(f"self-test: a unit with '{what}' passed")
    return failures


def main() -> int:
    variables = known_variables()
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    unit = UNIT.read_text(encoding="utf-8")
    checks = {
        "Dockerfile rules": dockerfile_problems(dockerfile, variables),
        ".dockerignore": dockerignore_problems(DOCKERIGNORE.read_text(encoding="utf-8")),
        "systemd unit rules": unit_problems(unit, variables),
        "env file example": env_example_problems(ENV_EXAMPLE.read_text(encoding="utf-8"), variables),
        "systemd-analyze verify/security"
        + ("" if shutil.which("systemd-analyze") else " (not installed: skipped)"): systemd_analyze(unit),
        "the rules catch broken files": self_test(dockerfile, unit, variables),
    }
    passed = failed = 0
    for name, problems in checks.items():
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"     - {p}")
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
