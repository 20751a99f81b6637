"""Idempotent requests through stripe-python's idempotency_key option."""

from __future__ import annotations

import uuid

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, raw_json


def _key() -> str:
    return f"finconn-sdk-{uuid.uuid4()}"


@pytest.fixture
def holder(tenant):
    c = tenant.v1.customers.create(params={"name": "Holder"})
    return {"type": "customer", "customer": c.id}


def _mismatch_message(key: str) -> str:
    return (
        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
        f"Try using a key other than '{key}' if you meant to execute a different request."
    )


def test_session_create_replays(tenant, holder):
    key = _key()
    params = {"account_holder": holder, "permissions": ["balances", "transactions"], "return_url": "https://e.x/r"}
    first = tenant.v1.financial_connections.sessions.create(params=params, options={"idempotency_key": key})
    second = tenant.v1.financial_connections.sessions.create(params=params, options={"idempotency_key": key})

    assert second.id == first.id
    assert second.client_secret == first.client_secret
    assert raw_json(second) == raw_json(first)
    fs.assert_valid(raw_json(second), "financial_connections.session")

    assert first.last_response.headers.get("Idempotent-Replayed") != "true"
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    # the key is echoed back
    assert first.last_response.idempotency_key == key
    assert second.last_response.idempotency_key == key


def test_customer_create_replays_without_creating_twice(tenant):
    key = _key()
    first = tenant.v1.customers.create(params={"email": "once@example.com"}, options={"idempotency_key": key})
    second = tenant.v1.customers.create(params={"email": "once@example.com"}, options={"idempotency_key": key})
    assert second.id == first.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert [c.id for c in tenant.v1.customers.list().data] == [first.id]


def test_without_a_key_each_create_is_new(tenant, holder):
    # stripe-python sends a fresh random Idempotency-Key on every POST when none is given
    params = {"account_holder": holder, "permissions": ["balances"]}
    a = tenant.v1.financial_connections.sessions.create(params=params)
    b = tenant.v1.financial_connections.sessions.create(params=params)
    assert a.id != b.id
    assert b.last_response.headers.get("Idempotent-Replayed") != "true"


def test_same_key_different_params_is_an_idempotency_error(tenant, holder):
    key = _key()
    tenant.v1.financial_connections.sessions.create(
        params={"account_holder": holder, "permissions": ["balances"]}, options={"idempotency_key": key}
    )
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.financial_connections.sessions.create(
            params={"account_holder": holder, "permissions": ["ownership"]}, options={"idempotency_key": key}
        )
    assert_stripe_error(
        exc.value,
        stripe.IdempotencyError,
        status=400,
        type_="idempotency_error",
        message=_mismatch_message(key),
    )


def test_customer_same_key_different_params(tenant):
    key = _key()
    tenant.v1.customers.create(params={"email": "one@example.com"}, options={"idempotency_key": key})
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.customers.create(params={"email": "two@example.com"}, options={"idempotency_key": key})
    assert_stripe_error(
        exc.value,
        stripe.IdempotencyError,
        status=400,
        type_="idempotency_error",
        message=_mismatch_message(key),
    )
    assert len(tenant.v1.customers.list().data) == 1


def test_same_key_on_another_endpoint(tenant, holder):
    key = _key()
    tenant.v1.customers.create(params={"name": "x"}, options={"idempotency_key": key})
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.financial_connections.sessions.create(
            params={"account_holder": holder, "permissions": ["balances"]}, options={"idempotency_key": key}
        )
    assert_stripe_error(
        exc.value,
        stripe.IdempotencyError,
        status=400,
        type_="idempotency_error",
        message=(
            "Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('/v1/financial_connections/sessions' vs '/v1/customers'). Try using a key other than '{key}' "
            "if you meant to execute a different request."
        ),
    )


def test_keys_are_scoped_to_a_tenant(tenant, other_tenant):
    key = _key()
    mine = tenant.v1.customers.create(params={"email": "k@example.com"}, options={"idempotency_key": key})
    theirs = other_tenant.v1.customers.create(params={"email": "k@example.com"}, options={"idempotency_key": key})
    assert theirs.id != mine.id
    assert theirs.last_response.headers.get("Idempotent-Replayed") != "true"
    # and a different body under the same key is fine in the other tenant
    other = other_tenant.v1.customers.create(params={"email": "z@example.com"}, options={"idempotency_key": _key()})
    assert other.id not in (mine.id, theirs.id)


def test_validation_failures_are_not_saved(tenant, holder):
    key = _key()
    with pytest.raises(stripe.InvalidRequestError):
        tenant.v1.financial_connections.sessions.create(
            params={"account_holder": holder}, options={"idempotency_key": key}
        )
    ok = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": holder, "permissions": ["balances"]}, options={"idempotency_key": key}
    )
    assert ok.last_response.headers.get("Idempotent-Replayed") != "true"
    again = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": holder, "permissions": ["balances"]}, options={"idempotency_key": key}
    )
    assert again.id == ok.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
