"""The account-scripting test helpers through stripe-python: the SDK sends them (`raw_request`, form encoded
as for every endpoint) and turns the answers into objects; refreshes are then started and polled through
the SDK's typed methods, as an integrator's sync code would."""

from __future__ import annotations

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error
from test_account_data import link, poll


def helper(tenant, account_id, what, **params):
    resp = tenant.client.raw_request(
        "post", f"/v1/test_helpers/financial_connections/accounts/{account_id}/{what}", **params
    )
    return tenant.client.deserialize(resp, api_mode="V1")


def refreshed(tenant, account_id, feature, field):
    tenant.v1.financial_connections.accounts.refresh(account_id, params={"features": [feature]})
    return poll(tenant, account_id, field)


def event_types(tenant):
    return [e.type for e in tenant.v1.events.list(params={"limit": 100}).data]


def test_refresh_outcome_failed_then_succeeded(tenant):
    [acct_id] = link(tenant, ["balances", "transactions"])
    acct = helper(tenant, acct_id, "refresh_outcome", feature="balance", outcome="failed")
    assert acct.object == "financial_connections.account" and acct.id == acct_id
    acct = refreshed(tenant, acct_id, "balance", "balance_refresh")
    assert acct.balance_refresh.status == "failed"
    assert acct.balance is None
    assert "financial_connections.account.refreshed_balance" in event_types(tenant)

    helper(tenant, acct_id, "refresh_outcome", feature="balance", outcome="succeeded")
    acct = refreshed(tenant, acct_id, "balance", "balance_refresh")
    assert acct.balance_refresh.status == "succeeded"
    assert isinstance(acct.balance.current["usd"], int)

    helper(tenant, acct_id, "refresh_outcome", feature="transactions", outcome="failed")
    acct = refreshed(tenant, acct_id, "transactions", "transaction_refresh")
    assert acct.transaction_refresh.status == "failed"


def test_refresh_outcome_pending_holds_until_released(tenant):
    [acct_id] = link(tenant, ["ownership"], accounts=["Joint Checking"])
    helper(tenant, acct_id, "refresh_outcome", feature="ownership", outcome="pending")
    tenant.v1.financial_connections.accounts.refresh(acct_id, params={"features": ["ownership"]})
    with pytest.raises(AssertionError, match="still pending"):
        poll(tenant, acct_id, "ownership_refresh", timeout=1.5)
    helper(tenant, acct_id, "refresh_outcome", feature="ownership", outcome="succeeded")
    acct = poll(tenant, acct_id, "ownership_refresh")
    assert acct.ownership_refresh.status == "succeeded"
    assert acct.ownership.startswith("fcaowns_")


def test_scripted_balance(tenant):
    [acct_id] = link(tenant, ["balances"])
    helper(tenant, acct_id, "balance", current=250000, available=240000)
    acct = refreshed(tenant, acct_id, "balance", "balance_refresh")
    assert acct.balance.current["usd"] == 250000
    assert acct.balance.cash.available["usd"] == 240000


def test_scripted_transaction_posts_and_voids(tenant):
    [acct_id] = link(tenant, ["transactions"])
    refreshed(tenant, acct_id, "transactions", "transaction_refresh")
    txn = helper(tenant, acct_id, "transactions", amount=-4599, description="COFFEE", status="pending")
    fs.assert_valid(txn.to_dict(), "financial_connections.transaction")
    assert isinstance(txn, stripe.financial_connections.Transaction)
    assert (txn.amount, txn.status, txn.description) == (-4599, "pending", "COFFEE")

    refreshed(tenant, acct_id, "transactions", "transaction_refresh")
    stored = tenant.v1.financial_connections.transactions.retrieve(txn.id)
    assert stored.status == "pending"

    posted = helper(tenant, acct_id, f"transactions/{txn.id}/post")
    assert posted.status == "posted"
    assert isinstance(posted.status_transitions.posted_at, int)
    refreshed(tenant, acct_id, "transactions", "transaction_refresh")
    stored = tenant.v1.financial_connections.transactions.retrieve(txn.id)
    assert stored.status == "posted"
    assert stored.status_transitions.posted_at == posted.status_transitions.posted_at

    hold = helper(tenant, acct_id, "transactions", amount=-100, description="HOLD", status="pending")
    voided = helper(tenant, acct_id, f"transactions/{hold.id}/void")
    assert voided.status == "void" and isinstance(voided.status_transitions.void_at, int)
    refreshed(tenant, acct_id, "transactions", "transaction_refresh")
    assert tenant.v1.financial_connections.transactions.retrieve(hold.id).status == "void"

    with pytest.raises(stripe.InvalidRequestError) as e:
        helper(tenant, acct_id, f"transactions/{txn.id}/void")
    assert_stripe_error(
        e.value,
        stripe.InvalidRequestError,
        status=400,
        message=f"Transaction {txn.id} is posted; only a pending transaction can change status.",
    )


def test_helpers_refuse_bad_parameters(tenant):
    [acct_id] = link(tenant, ["balances"])
    with pytest.raises(stripe.InvalidRequestError) as e:
        helper(tenant, acct_id, "refresh_outcome", feature="balance", outcome="sometimes")
    assert_stripe_error(
        e.value,
        stripe.InvalidRequestError,
        status=400,
        message="Invalid outcome: must be one of succeeded, failed, or pending",
        param="outcome",
    )
    with pytest.raises(stripe.InvalidRequestError) as e:
        helper(tenant, acct_id, "balance", available=5)
    assert e.value.param == "current"
    with pytest.raises(stripe.InvalidRequestError) as e:
        helper(tenant, "fca_unknown", "balance", current=5)
    assert e.value.http_status == 404


def institution_status(tenant, inst):
    # stripe-python has no institutions service yet: the same request, raw.
    resp = tenant.client.raw_request("get", f"/v1/financial_connections/institutions/{inst}")
    return tenant.client.deserialize(resp, api_mode="V1").status


def test_institution_downtime_shows_and_ends(tenant, other_tenant):
    inst = "fcinst_TestInstitution"
    path = f"/v1/test_helpers/financial_connections/institutions/{inst}/downtime"
    down = tenant.client.deserialize(tenant.client.raw_request("post", path, kind="unscheduled"), api_mode="V1")
    assert down.object == "financial_connections.institution" and down.status == "down"
    assert institution_status(tenant, inst) == "down"
    assert institution_status(other_tenant, inst) == "active"

    customer = tenant.v1.customers.create(params={"email": "down@example.com"})
    session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["balances"]}
    )
    with pytest.raises(stripe.InvalidRequestError) as e:
        tenant.client.raw_request(
            "post", f"/v1/test_helpers/financial_connections/sessions/{session.id}/complete", institution=inst
        )
    assert e.value.code == "institution_unavailable_unplanned"

    up = tenant.client.deserialize(tenant.client.raw_request("delete", path), api_mode="V1")
    assert up.status == "active"
    assert institution_status(tenant, inst) == "active"
