"""Live and test mode are separate worlds.

Live keys are never auto-provisioned. When the binary has
``finconn keys create --live --database URL`` (it prints the key pair), the
suite makes a live key with it; run.sh passes FINCONN_BIN and
FINCONN_DATABASE_URL for that.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, make_client, raw_json


def _keys_create_supported() -> tuple[bool, str]:
    binary = os.environ.get("FINCONN_BIN")
    database = os.environ.get("FINCONN_DATABASE_URL")
    if not binary or not database:
        return False, "FINCONN_BIN / FINCONN_DATABASE_URL not set"
    try:
        helped = subprocess.run(
            [binary, "keys", "create", "--help"], capture_output=True, text=True, timeout=20
        )
    except OSError as e:
        return False, f"cannot run {binary}: {e}"
    if helped.returncode != 0 or "--live" not in helped.stdout + helped.stderr:
        return False, "this finconn has no `keys create --live`"
    return True, ""


def _live_key() -> str:
    out = subprocess.run(
        [os.environ["FINCONN_BIN"], "keys", "create", "--live", "--database", os.environ["FINCONN_DATABASE_URL"]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    found = re.findall(r"\bsk_live_[A-Za-z0-9_]+", out.stdout)
    assert found, f"no sk_live_ key in: {out.stdout!r}"
    assert re.search(r"\bpk_live_[A-Za-z0-9_]+", out.stdout), f"no pk_live_ key in: {out.stdout!r}"
    return found[0]


SUPPORTED, WHY_NOT = _keys_create_supported()
needs_live_keys = pytest.mark.skipif(not SUPPORTED, reason=WHY_NOT)


def test_test_mode_objects_say_livemode_false(tenant):
    c = tenant.v1.customers.create(params={"name": "t"})
    s = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": c.id}, "permissions": ["balances"]}
    )
    assert raw_json(c)["livemode"] is False
    assert raw_json(s)["livemode"] is False


@needs_live_keys
def test_live_key_cannot_read_a_test_mode_session(tenant):
    c = tenant.v1.customers.create(params={"name": "t"})
    test_session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": c.id}, "permissions": ["balances"]}
    )
    live = make_client(_live_key())

    with pytest.raises(stripe.StripeError) as exc:
        live.v1.financial_connections.sessions.retrieve(test_session.id)
    e = exc.value
    assert type(e) is stripe.InvalidRequestError, e
    assert e.http_status == 404
    assert e.code == "resource_missing"
    assert e.param == "id"
    fs.assert_valid(e.json_body, "error")
    assert e.user_message.startswith(f"No such financial_connections.session: '{test_session.id}'"), e.user_message

    # a live session says livemode true, and a test key cannot read it
    live_customer = live.v1.customers.create(params={"name": "live"})
    assert raw_json(live_customer)["livemode"] is True
    live_session = live.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": live_customer.id}, "permissions": ["balances"]}
    )
    fs.assert_valid(raw_json(live_session), "financial_connections.session")
    assert raw_json(live_session)["livemode"] is True
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.financial_connections.sessions.retrieve(live_session.id)
    assert exc.value.http_status == 404
    assert exc.value.code == "resource_missing"


@needs_live_keys
def test_live_key_cannot_use_a_test_mode_customer(tenant):
    c = tenant.v1.customers.create(params={"name": "t"})
    live = make_client(_live_key())
    with pytest.raises(stripe.StripeError) as exc:
        live.v1.financial_connections.sessions.create(
            params={"account_holder": {"type": "customer", "customer": c.id}, "permissions": ["balances"]}
        )
    e = exc.value
    assert type(e) is stripe.InvalidRequestError, e
    assert e.http_status == 400
    assert e.code == "resource_missing"
    assert e.param == "account_holder[customer]"
    assert e.user_message.startswith(f"No such customer: '{c.id}'"), e.user_message
