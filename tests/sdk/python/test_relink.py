"""Relink (Stripe's preview API) through stripe-python: by authorization, by account, the failure outcome,
the reactivated events; every object validated against the spec subset plus the preview fields."""

from __future__ import annotations

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, raw, raw_json


def _link(tenant, names):
    customer = tenant.v1.customers.create(params={"email": "relink@example.com"})
    holder = {"type": "customer", "customer": customer.id}
    session = tenant.v1.financial_connections.sessions.create(params={"account_holder": holder, "permissions": ["balances"]})
    done = raw("POST", f"/v1/test_helpers/financial_connections/sessions/{session.id}/complete", key=tenant.sk,
               data={"institution": "fcinst_TestInstitution", "accounts": list(names)})
    assert done.status_code == 200, done.text
    return holder, done.json()["accounts"]["data"]


def _complete(tenant, session_id):
    done = raw("POST", f"/v1/test_helpers/financial_connections/sessions/{session_id}/complete", key=tenant.sk,
               data={"institution": "fcinst_TestInstitution"})
    assert done.status_code == 200, done.text
    return tenant.v1.financial_connections.sessions.retrieve(session_id)


def test_relink_an_authorization_then_one_account(tenant):
    holder, accounts = _link(tenant, ["Success", "Savings"])
    authz = accounts[0]["authorization"]
    for a in accounts:
        raw("POST", f"/v1/test_helpers/financial_connections/accounts/{a['id']}/deactivate", key=tenant.sk)
    inactive = tenant.v1.financial_connections.accounts.retrieve(accounts[0]["id"])
    fs.assert_valid(raw_json(inactive), "financial_connections.account")
    assert inactive.status == "inactive" and inactive.authorization == authz
    assert inactive.status_details.inactive.action == "relink_required"

    s = tenant.v1.financial_connections.sessions.create(params={
        "account_holder": holder, "permissions": ["balances"], "relink_options": {"authorization": authz}})
    fs.assert_valid(raw_json(s), "financial_connections.session")
    assert s.relink_options.authorization == authz and s.relink_result is None
    done = _complete(tenant, s.id)
    fs.assert_valid(raw_json(done), "financial_connections.session")
    assert done.relink_result.authorization == authz and done.relink_result.failure_reason is None
    assert sorted(a.id for a in done.accounts.data) == sorted(a["id"] for a in accounts)
    assert all(a.status == "active" for a in done.accounts.data)
    events = tenant.v1.events.list(params={"type": "financial_connections.account.reactivated"}).data
    assert sorted(e.data.object["id"] for e in events) == sorted(a["id"] for a in accounts)

    one = accounts[1]["id"]
    raw("POST", f"/v1/test_helpers/financial_connections/accounts/{one}/deactivate", key=tenant.sk)
    s = tenant.v1.financial_connections.sessions.create(params={
        "account_holder": holder, "permissions": ["balances"], "relink_options": {"authorization": authz, "account": one}})
    done = _complete(tenant, s.id)
    assert done.relink_result.account == one
    assert [a.id for a in done.accounts.data] == [one]


def test_relink_failures(tenant):
    holder, accounts = _link(tenant, ["Success"])
    authz, one = accounts[0]["authorization"], accounts[0]["id"]
    tenant.v1.financial_connections.accounts.disconnect(one)
    s = tenant.v1.financial_connections.sessions.create(params={
        "account_holder": holder, "permissions": ["balances"], "relink_options": {"authorization": authz, "account": one}})
    done = _complete(tenant, s.id)
    fs.assert_valid(raw_json(done), "financial_connections.session")
    assert done.relink_result.failure_reason == "no_account" and done.accounts.data == []
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.financial_connections.sessions.create(params={
            "account_holder": holder, "permissions": ["balances"], "relink_options": {"authorization": "fcauthz_Nope"}})
    assert_stripe_error(exc.value, stripe.InvalidRequestError, status=400, code="resource_missing",
                        param="relink_options[authorization]",
                        message="No such financial_connections.authorization: 'fcauthz_Nope'")
