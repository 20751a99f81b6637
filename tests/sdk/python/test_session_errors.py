"""Stripe-shaped errors on session create/retrieve, as stripe-python reports them."""

from __future__ import annotations

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, raw, raw_json

PERMISSIONS_ENUM = "balances, ownership, payment_method, or transactions"


@pytest.fixture
def holder(tenant):
    c = tenant.v1.customers.create(params={"name": "Holder"})
    return {"type": "customer", "customer": c.id}


def _create_error(tenant, params):
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.financial_connections.sessions.create(params=params)
    return exc.value


def _abbrev(value: str) -> str:
    """errors.md §4.6: values longer than 20 characters are shown as first 10...last 10."""
    return value if len(value) <= 20 else f"{value[:10]}...{value[-10:]}"


@pytest.mark.parametrize(
    "param",
    ["foo", "account_holder[x]", "filters[colour]"],
)
def test_unknown_parameter(tenant, holder, param):
    params = {"account_holder": dict(holder), "permissions": ["balances"]}
    if param == "foo":
        params["foo"] = "bar"
    elif param == "account_holder[x]":
        params["account_holder"]["x"] = "y"
    else:
        params["filters"] = {"countries": ["US"], "colour": "red"}
    err = _create_error(tenant, params)
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_unknown",
        param=param,
        message=f"Received unknown parameter: {param}",
    )


@pytest.mark.parametrize(
    "params_without,param",
    [
        ("permissions", "permissions"),
        ("account_holder", "account_holder"),
        ("account_holder[type]", "account_holder[type]"),
    ],
)
def test_missing_required_parameter(tenant, holder, params_without, param):
    params = {"account_holder": dict(holder), "permissions": ["balances"]}
    if params_without == "account_holder[type]":
        del params["account_holder"]["type"]
    else:
        del params[params_without]
    err = _create_error(tenant, params)
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_missing",
        param=param,
        message=f"Missing required param: {param}.",
    )


def test_unknown_parameter_is_reported_before_missing_one(tenant, holder):
    err = _create_error(tenant, {"account_holder": holder, "bogus": "1"})
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_unknown",
        param="bogus",
        message="Received unknown parameter: bogus",
    )


@pytest.mark.parametrize(
    "patch,param,choices",
    [
        ({"permissions": ["bogus"]}, "permissions[0]", PERMISSIONS_ENUM),
        ({"permissions": ["balances", "accounts"]}, "permissions[1]", PERMISSIONS_ENUM),
        ({"account_holder": {"type": "person"}}, "account_holder[type]", "account or customer"),
        ({"prefetch": ["payment_method"]}, "prefetch[0]", "balances, ownership, or transactions"),
        (
            {"filters": {"account_subcategories": ["checking", "brokerage"]}},
            "filters[account_subcategories][1]",
            "checking, credit_card, line_of_credit, mortgage, or savings",
        ),
        (
            {"filters": {"require_payment_method_support": "some"}},
            "filters[require_payment_method_support]",
            "all, at_least_one, or none",
        ),
    ],
    ids=["permissions[0]", "permissions[1]", "account_holder[type]", "prefetch[0]", "account_subcategories", "rpms"],
)
def test_invalid_enum_value(tenant, holder, patch, param, choices):
    params = {"account_holder": holder, "permissions": ["balances"]}
    params.update(patch)
    err = _create_error(tenant, params)
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        param=param,
        message=f"Invalid {param}: must be one of {choices}",
    )


@pytest.mark.parametrize("value", ["abc", "2.5", "1e3"])
def test_limits_accounts_not_an_integer(tenant, holder, value):
    err = _create_error(
        tenant, {"account_holder": holder, "permissions": ["balances"], "limits": {"accounts": value}}
    )
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_invalid_integer",
        param="limits[accounts]",
        message=f"Invalid integer: {value}",
    )


def test_return_url_too_long(tenant, holder):
    url = "https://example.com/" + "a" * (5001 - len("https://example.com/"))
    assert len(url) == 5001
    err = _create_error(tenant, {"account_holder": holder, "permissions": ["balances"], "return_url": url})
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        param="return_url",
        message=f"Invalid string: {_abbrev(url)}; must be at most 5000 characters",
    )


def test_return_url_of_exactly_5000_characters_is_accepted(tenant, holder):
    url = "https://example.com/" + "b" * (5000 - len("https://example.com/"))
    session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": holder, "permissions": ["balances"], "return_url": url}
    )
    assert session.return_url == url
    fs.assert_valid(raw_json(session), "financial_connections.session")


def test_account_holder_customer_that_does_not_exist(tenant):
    err = _create_error(
        tenant,
        {"account_holder": {"type": "customer", "customer": "cus_nonexistent"}, "permissions": ["balances"]},
    )
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="resource_missing",
        param="account_holder[customer]",
        message="No such customer: 'cus_nonexistent'",
    )


def test_account_holder_customer_of_another_tenant(tenant, other_tenant):
    theirs = other_tenant.v1.customers.create(params={"name": "Theirs"})
    err = _create_error(
        tenant,
        {"account_holder": {"type": "customer", "customer": theirs.id}, "permissions": ["balances"]},
    )
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="resource_missing",
        param="account_holder[customer]",
        message=f"No such customer: '{theirs.id}'",
    )


def test_retrieve_unknown_session(tenant):
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.financial_connections.sessions.retrieve("fcsess_doesnotexist")
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message="No such financial_connections.session: 'fcsess_doesnotexist'",
    )


def test_another_tenant_cannot_read_a_session(tenant, other_tenant, holder):
    session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": holder, "permissions": ["balances"]}
    )
    with pytest.raises(stripe.StripeError) as exc:
        other_tenant.v1.financial_connections.sessions.retrieve(session.id)
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message=f"No such financial_connections.session: '{session.id}'",
    )
    # the owner still can
    assert tenant.v1.financial_connections.sessions.retrieve(session.id).id == session.id


def test_retrieve_with_unknown_query_parameter(tenant, holder):
    session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": holder, "permissions": ["balances"]}
    )
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.financial_connections.sessions.retrieve(session.id, params={"colour": "red"})
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_unknown",
        param="colour",
        message="Received unknown parameter: colour",
    )


def test_session_list_is_not_an_endpoint(tenant):
    resp = raw("GET", "/v1/financial_connections/sessions", key=tenant.sk)
    assert resp.status_code == 404, resp.text
    body = resp.json()
    fs.assert_valid(body, "error")
    assert body == {
        "error": {
            "message": "Unrecognized request URL (GET: /v1/financial_connections/sessions). "
            "Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            "type": "invalid_request_error",
        }
    }


def test_error_responses_carry_stripe_headers(tenant, holder):
    resp = raw(
        "POST",
        "/v1/financial_connections/sessions",
        key=tenant.sk,
        data={"account_holder": holder},
    )
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers.get("Request-Id", "").startswith("req_"), dict(resp.headers)
    body = resp.json()
    fs.assert_valid(body, "error")
    assert body["error"]["param"] == "permissions"
