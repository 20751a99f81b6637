"""Live and test mode are separate worlds.

Live keys are never auto-provisioned: they come from
``finconn keys create --live --database URL``, which makes a new account with a
live key pair (run.sh passes FINCONN_BIN and FINCONN_DATABASE_URL). That CLI
always makes a *new* account, so a live key here never shares an account with
a test key: these tests check that live keys are usable and that live and test
objects never leak into each other, not the same-account mode-mismatch message.
"""

from __future__ import annotations

import pytest
import stripe

import finconn_schema as fs
from conftest import keys_create, make_client, raw_json


def test_test_mode_objects_say_livemode_false(tenant):
    c = tenant.v1.customers.create(params={"name": "t"})
    s = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": c.id}, "permissions": ["balances"]}
    )
    assert raw_json(c)["livemode"] is False
    assert raw_json(s)["livemode"] is False


def test_registered_live_key_works_and_says_livemode_true():
    live = keys_create(live=True)
    c = live.client.v1.customers.create(params={"name": "live"})
    fs.assert_valid(raw_json(c), "customer")
    assert raw_json(c)["livemode"] is True
    s = live.client.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": c.id}, "permissions": ["balances"]}
    )
    data = raw_json(s)
    fs.assert_valid(data, "financial_connections.session")
    assert data["livemode"] is True
    assert raw_json(live.client.v1.financial_connections.sessions.retrieve(s.id)) == data


def test_live_key_cannot_read_a_test_mode_session(tenant):
    c = tenant.v1.customers.create(params={"name": "t"})
    test_session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": c.id}, "permissions": ["balances"]}
    )
    live = keys_create(live=True)
    with pytest.raises(stripe.StripeError) as exc:
        live.client.v1.financial_connections.sessions.retrieve(test_session.id)
    e = exc.value
    assert type(e) is stripe.InvalidRequestError, e
    assert e.http_status == 404
    assert e.code == "resource_missing"
    assert e.param == "id"
    fs.assert_valid(e.json_body, "error")
    # (the same account in the other mode would add "; a similar object exists in test mode, ...")
    assert e.user_message.startswith(f"No such financial_connections.session: '{test_session.id}'"), e.user_message


def test_test_key_cannot_read_a_live_session(tenant):
    live = keys_create(live=True)
    lc = live.client.v1.customers.create(params={"name": "live"})
    ls = live.client.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": lc.id}, "permissions": ["balances"]}
    )
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.financial_connections.sessions.retrieve(ls.id)
    assert type(exc.value) is stripe.InvalidRequestError
    assert exc.value.http_status == 404
    assert exc.value.code == "resource_missing"


def test_live_key_cannot_use_a_test_mode_customer(tenant):
    c = tenant.v1.customers.create(params={"name": "t"})
    live = keys_create(live=True)
    with pytest.raises(stripe.StripeError) as exc:
        live.client.v1.financial_connections.sessions.create(
            params={"account_holder": {"type": "customer", "customer": c.id}, "permissions": ["balances"]}
        )
    e = exc.value
    assert type(e) is stripe.InvalidRequestError, e
    assert e.http_status == 400
    assert e.code == "resource_missing"
    assert e.param == "account_holder[customer]"
    assert e.user_message.startswith(f"No such customer: '{c.id}'"), e.user_message


def test_live_publishable_key_is_refused_on_secret_endpoints():
    live = keys_create(live=True)
    with pytest.raises(stripe.StripeError) as exc:
        make_client(live.pk).v1.customers.list()
    assert type(exc.value) is stripe.PermissionError
    assert exc.value.http_status == 403
