"""Financial Connections sessions through stripe-python: create and retrieve."""

from __future__ import annotations

import re

import pytest
import stripe

import finconn_schema as fs
from conftest import keys_create, raw, raw_json

SESSION_ID = re.compile(r"^fcsess_[A-Za-z0-9]+$")
EMPTY_ACCOUNTS = {
    "object": "list",
    "data": [],
    "has_more": False,
    "url": "/v1/financial_connections/accounts",
}
# Fields every session carries: the required ones, the nullable ones, and filters,
# which always shows the country filter (Stripe defaults it to US; its API reference
# example for a session created without filters shows "filters": {"countries": ["US"]}).
ALWAYS = {"id", "object", "account_holder", "accounts", "client_secret", "filters", "livemode", "permissions", "prefetch"}
DEFAULT_FILTERS = {"account_subcategories": None, "countries": ["US"]}


@pytest.fixture
def customer(tenant):
    c = tenant.v1.customers.create(params={"email": "holder@example.com", "name": "Holder"})
    fs.assert_valid(raw_json(c), "customer")
    return c


def create_session(tenant, params, **options):
    session = tenant.v1.financial_connections.sessions.create(params=params, options=options or None)
    data = raw_json(session)
    fs.assert_valid(data, "financial_connections.session")
    return session, data


def check_generated_fields(data):
    """id, client_secret, object, livemode, accounts: the parts the server invents."""
    assert SESSION_ID.match(data["id"]), data["id"]
    assert data["object"] == "financial_connections.session"
    assert data["livemode"] is False
    assert re.match(r"^" + re.escape(data["id"]) + r"_secret_[A-Za-z0-9]+$", data["client_secret"]), data[
        "client_secret"
    ]
    assert data["accounts"] == EMPTY_ACCOUNTS


def without_generated(data):
    return {k: v for k, v in data.items() if k not in {"id", "object", "livemode", "client_secret", "accounts"}}


def test_create_minimal_session(tenant, customer):
    session, data = create_session(
        tenant,
        {"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["payment_method"]},
    )
    check_generated_fields(data)
    # Nullable fields are present (null when unset); optional non-nullable ones are omitted.
    assert set(data) == ALWAYS, sorted(data)
    assert data["account_holder"] == {"type": "customer", "customer": customer.id}
    assert data["permissions"] == ["payment_method"]
    assert data["prefetch"] in (None, []), data["prefetch"]
    assert data["filters"] == DEFAULT_FILTERS
    assert "return_url" not in data
    # What an integrator reads through the SDK
    assert isinstance(session, stripe.financial_connections.Session)
    assert session.account_holder.customer == customer.id
    assert session.accounts.data == []
    assert session.client_secret.startswith(session.id + "_secret_")


def test_session_ids_and_secrets_are_unique(tenant, customer):
    params = {"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["balances"]}
    made = [create_session(tenant, params)[1] for _ in range(4)]
    assert len({d["id"] for d in made}) == 4
    assert len({d["client_secret"] for d in made}) == 4


# Each optional parameter alone, with what the session must then show
# (on top of account_holder + permissions, which are required).
def _single_param_cases():
    return {
        "account_holder[customer_account]": (
            {"account_holder": {"type": "customer", "customer_account": "acct_1FinconnCustAcct"}},
            {"account_holder": {"type": "customer", "customer_account": "acct_1FinconnCustAcct"}},
        ),
        "filters[account_subcategories]": (
            {"filters": {"account_subcategories": ["checking", "savings"]}},
            {"filters": {"account_subcategories": ["checking", "savings"], "countries": ["US"]}},
        ),
        "filters[countries]": (
            {"filters": {"countries": ["CA"]}},
            {"filters": {"account_subcategories": None, "countries": ["CA"]}},
        ),
        "filters[require_payment_method_support]": (
            {"filters": {"require_payment_method_support": "at_least_one"}},
            {
                "filters": {
                    "account_subcategories": None,
                    "countries": ["US"],
                    "require_payment_method_support": "at_least_one",
                }
            },
        ),
        # prefetching a feature needs its permission, so permissions come along
        "prefetch": (
            {
                "permissions": ["balances", "ownership", "transactions"],
                "prefetch": ["balances", "ownership", "transactions"],
            },
            {
                "permissions": ["balances", "ownership", "transactions"],
                "prefetch": ["balances", "ownership", "transactions"],
            },
        ),
        "return_url": (
            {"return_url": "https://example.com/fc/return?x=1"},
            {"return_url": "https://example.com/fc/return?x=1"},
        ),
        "limits[accounts]": ({"limits": {"accounts": 3}}, {"limits": {"accounts": 3}}),
        "manual_entry[mode] automatic": (
            {"manual_entry": {"mode": "automatic"}},
            {"manual_entry": {"mode": "automatic"}},
        ),
        "manual_entry[mode] disabled": (
            {"manual_entry": {"mode": "disabled"}},
            {"manual_entry": {"mode": "disabled"}},
        ),
        "permissions (all four)": (
            {"permissions": ["balances", "ownership", "payment_method", "transactions"]},
            {"permissions": ["balances", "ownership", "payment_method", "transactions"]},
        ),
    }


CASES = _single_param_cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_create_with_one_optional_param(tenant, customer, case):
    extra, shown = CASES[case]
    params = {"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["payment_method"]}
    params.update(extra)
    _, data = create_session(tenant, params)
    check_generated_fields(data)

    expected = {
        "account_holder": {"type": "customer", "customer": customer.id},
        "permissions": ["payment_method"],
        "filters": DEFAULT_FILTERS,
    }
    if "prefetch" not in shown:
        # nullable and unset: null (the fixture shows [], which is read as equivalent)
        assert data.get("prefetch", "absent") in (None, []), data.get("prefetch", "absent")
        expected["prefetch"] = data["prefetch"]
    expected.update(shown)
    assert without_generated(data) == expected

    # Retrieval shows the same session
    fetched = tenant.v1.financial_connections.sessions.retrieve(data["id"])
    fs.assert_valid(raw_json(fetched), "financial_connections.session")
    assert raw_json(fetched) == data


def test_create_with_every_param(tenant, customer):
    params = {
        "account_holder": {"type": "customer", "customer": customer.id},
        "permissions": ["balances", "ownership", "payment_method", "transactions"],
        "filters": {
            "account_subcategories": ["checking", "credit_card", "line_of_credit", "mortgage", "savings"],
            "countries": ["US"],
            "require_payment_method_support": "all",
        },
        "prefetch": ["balances", "transactions"],
        "return_url": "https://example.com/return",
        "limits": {"accounts": 7},
        "manual_entry": {"mode": "disabled"},
        "expand": ["account_holder.customer"],
    }
    session, data = create_session(tenant, params)
    check_generated_fields(data)
    customer_json = raw_json(tenant.v1.customers.retrieve(customer.id))
    assert without_generated(data) == {
        "account_holder": {"type": "customer", "customer": customer_json},
        "permissions": ["balances", "ownership", "payment_method", "transactions"],
        "filters": {
            "account_subcategories": ["checking", "credit_card", "line_of_credit", "mortgage", "savings"],
            "countries": ["US"],
            "require_payment_method_support": "all",
        },
        "prefetch": ["balances", "transactions"],
        "return_url": "https://example.com/return",
        "limits": {"accounts": 7},
        "manual_entry": {"mode": "disabled"},
    }
    # The SDK turns the expanded customer into a Customer object
    assert isinstance(session.account_holder.customer, stripe.Customer)
    assert session.account_holder.customer.email == "holder@example.com"

    # A plain retrieve returns the customer as an id again
    plain = raw_json(tenant.v1.financial_connections.sessions.retrieve(data["id"]))
    assert plain["account_holder"] == {"type": "customer", "customer": customer.id}
    assert {k: v for k, v in plain.items() if k != "account_holder"} == {
        k: v for k, v in data.items() if k != "account_holder"
    }


def test_expand_account_holder_customer_on_create(tenant, customer):
    session, data = create_session(
        tenant,
        {
            "account_holder": {"type": "customer", "customer": customer.id},
            "permissions": ["payment_method"],
            "expand": ["account_holder.customer"],
        },
    )
    assert data["account_holder"]["type"] == "customer"
    assert data["account_holder"]["customer"] == raw_json(tenant.v1.customers.retrieve(customer.id))
    fs.assert_valid(data["account_holder"]["customer"], "customer")


def test_retrieve_with_expand_account_holder_customer(tenant, customer):
    _, created = create_session(
        tenant,
        {"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["balances"]},
    )
    session = tenant.v1.financial_connections.sessions.retrieve(
        created["id"], params={"expand": ["account_holder.customer"]}
    )
    data = raw_json(session)
    fs.assert_valid(data, "financial_connections.session")
    customer_json = raw_json(tenant.v1.customers.retrieve(customer.id))
    assert data["account_holder"] == {"type": "customer", "customer": customer_json}
    assert {k: v for k, v in data.items() if k != "account_holder"} == {
        k: v for k, v in created.items() if k != "account_holder"
    }
    assert isinstance(session.account_holder.customer, stripe.Customer)
    assert session.account_holder.customer.id == customer.id
    assert session.account_holder.customer.name == "Holder"


def test_retrieve_expand_through_raw_query_string(tenant, customer):
    _, created = create_session(
        tenant,
        {"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["balances"]},
    )
    resp = raw(
        "GET",
        f"/v1/financial_connections/sessions/{created['id']}",
        key=tenant.sk,
        params=[("expand[]", "account_holder.customer")],
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    fs.assert_valid(body, "financial_connections.session")
    assert body["account_holder"]["customer"]["id"] == customer.id
    assert body["account_holder"]["customer"]["object"] == "customer"


def test_create_with_bracket_array_notation(tenant, customer):
    """curl users write permissions[]=a&permissions[]=b; the SDKs write permissions[0]=a."""
    resp = raw(
        "POST",
        "/v1/financial_connections/sessions",
        key=tenant.sk,
        data=[
            ("account_holder[type]", "customer"),
            ("account_holder[customer]", customer.id),
            ("permissions[]", "balances"),
            ("permissions[]", "transactions"),
            ("filters[countries][]", "US"),
        ],
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    fs.assert_valid(body, "financial_connections.session")
    assert body["permissions"] == ["balances", "transactions"]
    assert body["filters"]["countries"] == ["US"]


def test_limits_accounts_empty_string_means_unset(tenant, customer):
    _, data = create_session(
        tenant,
        {
            "account_holder": {"type": "customer", "customer": customer.id},
            "permissions": ["balances"],
            "limits": {"accounts": ""},
        },
    )
    assert "limits" not in data, data



def test_account_holder_of_type_account(tenant):
    """type=account names the caller's own Stripe account (finconn has no connected accounts)."""
    registered = keys_create(live=False)
    session = registered.client.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "account", "account": registered.account}, "permissions": ["balances"]}
    )
    data = raw_json(session)
    fs.assert_valid(data, "financial_connections.session")
    check_generated_fields(data)
    assert data["account_holder"] == {"type": "account", "account": registered.account}
    assert session.account_holder.account == registered.account
    fetched = registered.client.v1.financial_connections.sessions.retrieve(session.id)
    assert raw_json(fetched) == data

    # someone else's account id is not found
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.financial_connections.sessions.create(
            params={"account_holder": {"type": "account", "account": registered.account}, "permissions": ["balances"]}
        )
    assert exc.value.http_status == 400
    assert exc.value.code == "resource_missing"
    assert exc.value.param == "account_holder[account]"
    assert exc.value.user_message == f"No such account: '{registered.account}'"


def test_filters_country_as_typed_by_the_latest_sdk(tenant, customer):
    # stripe-python 16.x pins 2026-10-28.endive, whose typed params name the filter `country` (one string).
    # finconn accepts it and renders the contract's (2026-07-29.dahlia) `countries`.
    session = tenant.v1.financial_connections.sessions.create(
        params={
            "account_holder": {"type": "customer", "customer": customer.id},
            "permissions": ["balances"],
            "filters": {"country": "ca"},
        }
    )
    assert session.filters.countries == ["CA"]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.financial_connections.sessions.create(
            params={
                "account_holder": {"type": "customer", "customer": customer.id},
                "permissions": ["balances"],
                "filters": {"country": "CA", "countries": ["US"]},
            }
        )
    assert exc.value.param == "filters[country]"
