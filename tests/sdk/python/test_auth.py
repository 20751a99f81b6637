"""API keys: missing, malformed, unknown, publishable — and tenant provisioning."""

from __future__ import annotations

import pytest
import stripe

import finconn_schema as fs
from conftest import Tenant, assert_stripe_error, make_client, mask_key, random_suffix, raw, raw_json

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
)
PUBLISHABLE = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. "
    "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)


def _raw_error(resp, status):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    fs.assert_valid(body, "error")
    return body["error"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/customers"),
        ("POST", "/v1/customers"),
        ("POST", "/v1/financial_connections/sessions"),
        ("GET", "/v1/financial_connections/sessions/fcsess_123"),
    ],
)
def test_no_api_key(method, path):
    err = _raw_error(raw(method, path), 401)
    assert err == {"message": NO_KEY, "type": "invalid_request_error"}


def test_authorization_header_without_a_key():
    err = _raw_error(raw("GET", "/v1/customers", headers={"Authorization": "Bearer"}), 401)
    assert err == {
        "message": 'You did not provide an API key, though you did set your Authorization header to "Bearer". '
        "Using Bearer auth, your Authorization header should look something like "
        "'Authorization: Bearer YOUR_SECRET_KEY'. See https://stripe.com/docs/api#authentication for details, "
        "or we can help at https://support.stripe.com/.",
        "type": "invalid_request_error",
    }


@pytest.mark.parametrize(
    "key",
    [
        "sk_test_not-a-valid-key",  # '-' is outside letters/digits/underscore
        "sk_test_",  # no suffix
        "totally_not_a_key_123456",
        "sk_prod_abcdefghijklmnop",
    ],
)
def test_malformed_api_key(key):
    client = make_client(key)
    with pytest.raises(stripe.StripeError) as exc:
        client.v1.customers.list()
    assert_stripe_error(
        exc.value,
        stripe.AuthenticationError,
        status=401,
        message=f"Invalid API Key provided: {mask_key(key)}",
    )


def test_unregistered_live_key_is_rejected():
    """Live keys are never auto-provisioned."""
    key = "sk_live_" + random_suffix()
    with pytest.raises(stripe.StripeError) as exc:
        make_client(key).v1.customers.create(params={"name": "x"})
    assert_stripe_error(
        exc.value,
        stripe.AuthenticationError,
        status=401,
        message=f"Invalid API Key provided: {mask_key(key)}",
    )


def test_mask_rule_matches_errors_md():
    assert mask_key("sk_test_abcd1234") == "sk_test_****1234"
    assert mask_key("undefined") == "*****ined"
    assert mask_key("nil") == "nil"


@pytest.mark.parametrize(
    "call",
    ["customers.create", "customers.list", "sessions.create", "sessions.retrieve"],
)
def test_publishable_key_on_a_secret_endpoint(tenant, call):
    # provision the tenant and make something to look at, with the secret key
    customer = tenant.v1.customers.create(params={"name": "x"})
    session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["balances"]}
    )
    public = make_client(tenant.pk)
    with pytest.raises(stripe.StripeError) as exc:
        if call == "customers.create":
            public.v1.customers.create(params={"name": "y"})
        elif call == "customers.list":
            public.v1.customers.list()
        elif call == "sessions.create":
            public.v1.financial_connections.sessions.create(
                params={"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["balances"]}
            )
        else:
            public.v1.financial_connections.sessions.retrieve(session.id)
    assert_stripe_error(
        exc.value,
        stripe.PermissionError,
        status=403,
        code="secret_key_required",
        message=PUBLISHABLE,
    )
    # nothing was created through the publishable key
    assert [c.id for c in tenant.v1.customers.list().data] == [customer.id]


def test_bearer_and_basic_reach_the_same_tenant(tenant):
    created = tenant.v1.customers.create(params={"email": "same@example.com"})
    resp = raw("GET", f"/v1/customers/{created.id}", key=tenant.sk, auth="basic")
    assert resp.status_code == 200, resp.text
    assert resp.json() == raw_json(created)


def test_new_secret_key_provisions_an_empty_isolated_tenant():
    a, b = Tenant(random_suffix()), Tenant(random_suffix())
    assert a.v1.customers.list().data == []
    made = a.v1.customers.create(params={"name": "only in a"})
    assert [c.id for c in a.v1.customers.list().data] == [made.id]
    assert b.v1.customers.list().data == []
    # the same key again is the same tenant, not a fresh one
    again = Tenant(a.suffix)
    assert [c.id for c in again.v1.customers.list().data] == [made.id]


def test_underscore_suffix_is_a_valid_key():
    t = Tenant("with_under_score_" + random_suffix(8))
    made = t.v1.customers.create(params={"name": "u"})
    assert made.id.startswith("cus_")
