"""What the official SDKs' own test suites found (issue: error fidelity): a failing parameter is the one
blamed, never a valid neighbour as "unknown"; routes that do not exist are 404; objects start with id and
object. Through stripe-python, as an integrator sees the errors."""

from __future__ import annotations

import pytest
import stripe

from conftest import assert_stripe_error, raw
from test_account_data import link

INVALID = stripe.InvalidRequestError


def _error(call):
    with pytest.raises(stripe.StripeError) as exc:
        call()
    return exc.value


def test_webhook_endpoint_without_enabled_events_blames_it_not_description(tenant):
    for extra in ({"description": "mine"}, {"api_version": "2026-07-29.dahlia"}):
        e = _error(lambda: tenant.v1.webhook_endpoints.create(params={"url": "https://example.com/hook", **extra}))
        assert_stripe_error(
            e, INVALID, status=400, code="parameter_missing", param="enabled_events",
            message="Missing required param: enabled_events.",
        )


def test_refresh_blames_the_missing_or_invalid_feature_not_expand(tenant):
    (acct,) = link(tenant, ["balances"])
    accounts = tenant.v1.financial_connections.accounts
    e = _error(lambda: accounts.refresh(acct, params={"expand": ["ownership"]}))
    assert_stripe_error(e, INVALID, status=400, code="parameter_missing", param="features",
                        message="Missing required param: features.")
    e = _error(lambda: accounts.refresh(acct, params={"features": ["balance", "bogus"], "expand": ["ownership"]}))
    assert_stripe_error(e, INVALID, status=400, param="features[1]",
                        message="Invalid features[1]: must be one of balance, ownership, or transactions")
    for call in (accounts.subscribe, accounts.unsubscribe):
        e = _error(lambda: call(acct, params={"expand": ["ownership"]}))
        assert_stripe_error(e, INVALID, status=400, code="parameter_missing", param="features",
                            message="Missing required param: features.")


def test_transactions_list_blames_the_empty_value_not_limit(tenant):
    (acct,) = link(tenant, ["transactions"])
    e = _error(lambda: tenant.v1.financial_connections.transactions.list(
        params={"account": acct, "limit": 3, "transaction_refresh": {"after": ""}}))
    assert_stripe_error(
        e, INVALID, status=400, param="transaction_refresh[after]", code="parameter_invalid_empty",
        message="You passed an empty string for 'transaction_refresh[after]'. We assume empty values are an attempt "
        "to unset a parameter; however 'transaction_refresh[after]' cannot be unset. You should remove "
        "'transaction_refresh[after]' from your request or supply a non-empty value.",
    )


def test_test_clock_advance_blames_frozen_time(tenant):
    clock = tenant.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_800_000_000})
    e = _error(lambda: tenant.v1.test_helpers.test_clocks.advance(clock.id, params={"expand": ["x"]}))
    assert_stripe_error(e, INVALID, status=400, code="parameter_missing", param="frozen_time",
                        message="Missing required param: frozen_time.")


def test_a_truly_unknown_parameter_is_still_unknown(tenant):
    e = _error(lambda: tenant.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hook", "enabled_events": ["*"], "bogus": "1"}))
    assert_stripe_error(e, INVALID, status=400, code="parameter_unknown", param="bogus",
                        message="Received unknown parameter: bogus")


def test_customer_search_is_an_unrecognized_url(tenant):
    e = _error(lambda: tenant.v1.customers.search(params={"query": "email:'jenny@example.com'"}))
    assert_stripe_error(
        e, INVALID, status=404,
        message="Unrecognized request URL (GET: /v1/customers/search). Please see https://stripe.com/docs or we can "
        "help at https://support.stripe.com/.",
    )


def test_objects_start_with_id_and_object(tenant):
    c = tenant.v1.customers.create(params={"name": "Order"})
    res = raw("GET", f"/v1/customers/{c.id}", key=tenant.sk)
    keys = [line.split('"')[1] for line in res.text.splitlines() if line.startswith('  "')]
    assert keys[:2] == ["id", "object"], res.text
    res = raw("GET", "/v1/customers?limit=1", key=tenant.sk)
    keys = [line.split('"')[1] for line in res.text.splitlines() if line.startswith('  "')]
    assert keys[:2] == ["object", "data"], res.text
