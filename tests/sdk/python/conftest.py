"""Shared fixtures for the stripe-python conformance suite.

The suite talks to a running finconn whose base URL is in FINCONN_BASE_URL
(tests/sdk/run.sh starts one). Every test gets its own freshly provisioned
sandbox tenant: a random ``sk_test_<suffix>`` key provisions itself on first
use, and its publishable key is derived from it (``pk_test_`` + the first 32 hex
digits of the secret key's SHA-256).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import string
import subprocess
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
import requests
import stripe

import finconn_schema

BASE_URL = os.environ.get("FINCONN_BASE_URL", "").rstrip("/")

_ALNUM = string.ascii_letters + string.digits


def pytest_configure(config: pytest.Config) -> None:
    if not BASE_URL:
        raise pytest.UsageError(
            "FINCONN_BASE_URL is not set: start finconn and point the suite at it "
            "(tests/sdk/run.sh does both)"
        )


def random_suffix(n: int = 24) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def make_client(api_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": BASE_URL},
        max_network_retries=0,
    )


@dataclass
class Tenant:
    suffix: str
    sk: str = field(init=False)
    pk: str = field(init=False)
    client: stripe.StripeClient = field(init=False)

    def __post_init__(self) -> None:
        self.sk = f"sk_test_{self.suffix}"
        # Derived one way from the secret key (finconn keys::sandbox_publishable_key).
        self.pk = "pk_test_" + hashlib.sha256(self.sk.encode()).hexdigest()[:32]
        self.client = make_client(self.sk)

    @property
    def v1(self):
        return self.client.v1


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(random_suffix())


@pytest.fixture
def other_tenant() -> Tenant:
    return Tenant(random_suffix())


@pytest.fixture
def base_url() -> str:
    return BASE_URL


# --- registered keys: `finconn keys create [--live] --database URL` -----------


@dataclass
class Registered:
    account: str
    sk: str
    pk: str
    client: stripe.StripeClient


def keys_create(*, live: bool, account: Optional[str] = None) -> Registered:
    """A registered key pair, made with the finconn CLI: for a new account, or
    (``account=``) beside the keys an existing account already has.

    run.sh passes FINCONN_BIN and FINCONN_DATABASE_URL (the database the
    server under test uses). The CLI prints `account:`, `secret key:` and
    `publishable key:` lines.
    """
    binary = os.environ.get("FINCONN_BIN")
    database = os.environ.get("FINCONN_DATABASE_URL")
    assert binary and database, "FINCONN_BIN and FINCONN_DATABASE_URL must be set (run.sh sets them)"
    args = [binary, "keys", "create", "--database", database] + (["--live"] if live else [])
    if account:
        args += ["--account", account]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"{' '.join(args)} failed: {out.stderr}"
    mode = "live" if live else "test"
    found_account = re.search(r"\bacct_[A-Za-z0-9]+", out.stdout)
    sk = re.search(rf"\bsk_{mode}_[A-Za-z0-9_]+", out.stdout)
    pk = re.search(rf"\bpk_{mode}_[A-Za-z0-9_]+", out.stdout)
    assert found_account and sk and pk, f"unexpected `keys create` output: {out.stdout!r}"
    if account:
        assert found_account.group(0) == account, out.stdout
    return Registered(found_account.group(0), sk.group(0), pk.group(0), make_client(sk.group(0)))


# --- raw HTTP, for what the SDK will not send or hides ----------------------


def form_encode(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe-style form encoding: nested dicts as a[b], lists as a[0]."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            out.extend(form_encode(value, name))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out.extend(form_encode(item, f"{name}[{i}]"))
                else:
                    out.append((f"{name}[{i}]", _scalar(item)))
        else:
            out.append((name, _scalar(value)))
    return out


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def raw(
    method: str,
    path: str,
    *,
    key: Optional[str] = None,
    auth: str = "bearer",
    data: Any = None,
    params: Any = None,
    headers: Optional[dict[str, str]] = None,
) -> requests.Response:
    """One HTTP request to finconn, no SDK involved."""
    h = dict(headers or {})
    basic = None
    if key is not None:
        if auth == "bearer":
            h["Authorization"] = f"Bearer {key}"
        elif auth == "basic":
            basic = (key, "")
        else:
            raise ValueError(auth)
    if isinstance(data, dict):
        data = form_encode(data)
    if isinstance(params, dict):
        params = form_encode(params)
    return requests.request(
        method, BASE_URL + path, data=data, params=params, headers=h, auth=basic, timeout=15
    )


# --- assertions -------------------------------------------------------------


def raw_json(obj: Any) -> Any:
    """The JSON body the server sent for an SDK object (not the SDK's view of it)."""
    resp = getattr(obj, "last_response", None)
    assert resp is not None, f"{type(obj).__name__} has no last_response"
    return resp.data


def assert_stripe_error(
    exc: BaseException,
    cls: type,
    *,
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: Optional[str] = None,
    param: Optional[str] = None,
) -> dict:
    """Check an SDK exception the way an integrator would, plus its raw body.

    ``code=None`` / ``param=None`` mean the key must be absent from the body
    (errors.md: keys that do not apply are omitted, not null).
    """
    assert type(exc) is cls, f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    assert exc.http_status == status, (exc.http_status, exc.json_body)
    body = exc.json_body
    finconn_schema.assert_valid(body, "error")
    err = body["error"]
    assert err["type"] == type_, err
    assert err.get("message") == message, err
    assert err.get("code") == code, err
    assert err.get("param") == param, err
    assert all(v is not None for v in err.values()), f"null-valued keys in {err}"
    if code is None:
        assert "doc_url" not in err, err
    else:
        assert err.get("doc_url") == "https://stripe.com/docs/error-codes/" + code.replace("_", "-"), err
    # What the SDK exposes to the integrator.
    assert exc.user_message == message
    if isinstance(exc, (stripe.InvalidRequestError, stripe.CardError)):
        assert exc.code == code
        assert exc.param == param
    return err


def mask_key(key: str) -> str:
    """errors.md §3.2: how Stripe masks a key in 'Invalid API Key provided'."""
    n = len(key)
    if n > 12:
        keep_tail = 6 if key.startswith("rk_") else 4
        return key[:8] + "*" * (n - 8 - keep_tail) + key[-keep_tail:]
    if n >= 5:
        return "*" * (n - 4) + key[-4:]
    return key
