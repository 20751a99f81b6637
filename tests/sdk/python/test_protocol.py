"""Wire-level behaviour an SDK relies on: headers, versions, content types (errors.md §1, §8)."""

from __future__ import annotations

import re

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, raw, raw_json

REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{14}$")


def test_responses_carry_request_id_and_stripe_version(tenant):
    c = tenant.v1.customers.create(params={"name": "h"})
    resp = c.last_response
    assert REQUEST_ID.match(resp.request_id or ""), resp.request_id
    assert resp.headers.get("Stripe-Version"), dict(resp.headers)
    assert resp.headers["Content-Type"].startswith("application/json")
    assert c.last_response.headers.get("Cache-Control") == "no-cache, no-store"


def test_request_ids_are_unique(tenant):
    ids = {tenant.v1.customers.list().last_response.request_id for _ in range(5)}
    assert len(ids) == 5


def test_errors_carry_a_request_id_the_sdk_exposes(tenant):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.customers.retrieve("cus_nope")
    assert REQUEST_ID.match(exc.value.request_id or ""), exc.value.request_id


def test_sdk_stripe_version_option_is_honoured_and_validated(tenant, base_url):
    pinned = stripe.StripeClient(
        tenant.sk, base_addresses={"api": base_url}, max_network_retries=0, stripe_version="2026-07-29.dahlia"
    )
    c = pinned.v1.customers.create(params={"name": "v"})
    assert c.last_response.headers.get("Stripe-Version") == "2026-07-29.dahlia"

    broken = stripe.StripeClient(
        tenant.sk, base_addresses={"api": base_url}, max_network_retries=0, stripe_version="2019-2-19"
    )
    with pytest.raises(stripe.StripeError) as exc:
        broken.v1.customers.list()
    assert_stripe_error(
        exc.value, stripe.InvalidRequestError, status=400, message="Invalid Stripe API version: 2019-2-19"
    )


def test_json_request_body_is_refused(tenant):
    resp = raw(
        "POST",
        "/v1/customers",
        key=tenant.sk,
        data='{"name": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400, resp.text
    body = resp.json()
    fs.assert_valid(body, "error")
    assert body == {
        "error": {
            "message": "Invalid request: unsupported Content-Type application/json. "
            "If error persists and you need assistance, please contact support@stripe.com.",
            "type": "invalid_request_error",
        }
    }
    assert tenant.v1.customers.list().data == []


def test_form_body_with_charset_is_accepted(tenant):
    resp = raw(
        "POST",
        "/v1/customers",
        key=tenant.sk,
        data="name=charset",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "charset"


def test_unknown_route_is_404_even_without_a_key():
    resp = raw("GET", "/v1/nothing_here")
    assert resp.status_code == 404, resp.text
    assert resp.json() == {
        "error": {
            "message": "Unrecognized request URL (GET: /v1/nothing_here). "
            "Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            "type": "invalid_request_error",
        }
    }


def test_idempotent_replay_of_a_saved_error(tenant):
    """A request that got past validation is saved even when it fails (errors.md §6)."""
    key = "finconn-replay-error-" + tenant.suffix
    params = {"account_holder": {"type": "customer", "customer": "cus_nope"}, "permissions": ["balances"]}
    errs = []
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            tenant.v1.financial_connections.sessions.create(params=params, options={"idempotency_key": key})
        errs.append(exc.value)
    assert errs[0].json_body == errs[1].json_body
    assert errs[0].json_body["error"]["code"] == "resource_missing"
    assert errs[0].headers.get("Idempotent-Replayed") != "true"
    assert errs[1].headers.get("Idempotent-Replayed") == "true"


def test_expand_of_a_field_that_cannot_be_expanded(tenant):
    c = tenant.v1.customers.create(params={"name": "x"})
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.customers.retrieve(c.id, params={"expand": ["name"]})
    assert type(exc.value) is stripe.InvalidRequestError
    assert exc.value.http_status == 400
    assert exc.value.param == "expand[0]"
    # the object itself is still fine
    assert raw_json(tenant.v1.customers.retrieve(c.id))["name"] == "x"
