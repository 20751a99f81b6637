"""Account data through stripe-python: refreshes, ownership, subscriptions, transactions, disconnect."""

from __future__ import annotations

import time

import pytest
import stripe

import finconn_schema as fs
from conftest import raw, raw_json


def link(tenant, permissions, prefetch=(), accounts=("Success",), institution="fcinst_TestInstitution"):
    customer = tenant.v1.customers.create(params={"email": "data@example.com"})
    params = {"account_holder": {"type": "customer", "customer": customer.id}, "permissions": list(permissions)}
    if prefetch:
        params["prefetch"] = list(prefetch)
    session = tenant.v1.financial_connections.sessions.create(params=params)
    done = raw(
        "POST",
        f"/v1/test_helpers/financial_connections/sessions/{session.id}/complete",
        key=tenant.sk,
        data={"institution": institution, "accounts": list(accounts)},
    )
    assert done.status_code == 200, done.text
    return [a["id"] for a in done.json()["accounts"]["data"]]


def poll(tenant, account_id, field, timeout=15.0):
    """Retrieve until `field`'s refresh is no longer pending, as an integrator polls."""
    deadline = time.monotonic() + timeout
    while True:
        acct = tenant.v1.financial_connections.accounts.retrieve(account_id)
        refresh = getattr(acct, field)
        if refresh is not None and refresh.status != "pending":
            return acct
        assert time.monotonic() < deadline, f"{field} still pending after {timeout}s"
        time.sleep(0.1)


def test_prefetched_balance_refresh_succeeds(tenant):
    [acct_id] = link(tenant, ["balances"], prefetch=["balances"])
    acct = poll(tenant, acct_id, "balance_refresh")
    assert acct.balance_refresh.status == "succeeded"
    assert acct.balance.type == "cash"
    assert isinstance(acct.balance.current["usd"], int)
    fs.assert_valid(raw_json(acct), "financial_connections.account")
    listed = tenant.v1.financial_connections.accounts.list(params={"limit": 10})
    fs.assert_list_valid(raw_json(listed), "financial_connections.account", "/v1/financial_connections/accounts")
    assert [a.id for a in listed.data] == [acct_id]


def test_ownership_through_expand_and_owners_list(tenant):
    [acct_id] = link(tenant, ["ownership"], prefetch=["ownership"], accounts=["Joint Checking"])
    poll(tenant, acct_id, "ownership_refresh")
    acct = tenant.v1.financial_connections.accounts.retrieve(acct_id, params={"expand": ["ownership"]})
    fs.assert_valid(raw_json(acct), "financial_connections.account")
    ownership = acct.ownership
    assert ownership.id.startswith("fcaowns_")
    assert len(ownership.owners.data) == 2
    owners = tenant.v1.financial_connections.accounts.owners.list(acct_id, params={"ownership": ownership.id})
    data = raw_json(owners)
    assert len(data["data"]) == 2
    for o in data["data"]:
        fs.assert_valid(o, "financial_connections.account_owner")
        assert o["ownership"] == ownership.id
    assert {o.name for o in owners.data} == {o.name for o in ownership.owners.data}


def test_subscribe_and_sync_transactions_incrementally(tenant):
    [acct_id] = link(tenant, ["transactions"])
    acct = tenant.v1.financial_connections.accounts.subscribe(acct_id, params={"features": ["transactions"]})
    assert acct.subscriptions == ["transactions"]
    acct = poll(tenant, acct_id, "transaction_refresh")
    first = acct.transaction_refresh.id
    assert acct.transaction_refresh.status == "succeeded"

    seen = []
    for t in tenant.v1.financial_connections.transactions.list(params={"account": acct_id, "limit": 100}).auto_paging_iter():
        seen.append(t)
    assert len(seen) >= 50
    assert all(t.transaction_refresh == first for t in seen)
    fs.assert_valid(seen[0].to_dict(), "financial_connections.transaction")
    assert len({t.id for t in seen}) == len(seen)
    one = tenant.v1.financial_connections.transactions.retrieve(seen[0].id)
    assert one.id == seen[0].id and one.amount == seen[0].amount

    after_first = tenant.v1.financial_connections.transactions.list(
        params={"account": acct_id, "transaction_refresh": {"after": first}}
    )
    assert after_first.data == []

    again = tenant.v1.financial_connections.accounts.refresh(acct_id, params={"features": ["transactions"]})
    assert again.transaction_refresh.status == "pending"
    second = poll(tenant, acct_id, "transaction_refresh").transaction_refresh.id
    assert second != first
    newer = tenant.v1.financial_connections.transactions.list(
        params={"account": acct_id, "transaction_refresh": {"after": first}, "limit": 100}
    )
    assert all(t.transaction_refresh == second for t in newer.data)
    unsub = tenant.v1.financial_connections.accounts.unsubscribe(acct_id, params={"features": ["transactions"]})
    assert unsub.subscriptions == []


def test_disconnect_keeps_data_and_refuses_refreshes(tenant):
    [acct_id] = link(tenant, ["balances"], prefetch=["balances"])
    poll(tenant, acct_id, "balance_refresh")
    d = tenant.v1.financial_connections.accounts.disconnect(acct_id)
    assert d.status == "disconnected"
    assert d.balance is not None
    fs.assert_valid(raw_json(d), "financial_connections.account")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.financial_connections.accounts.refresh(acct_id, params={"features": ["balance"]})
    assert exc.value.http_status == 400
    assert exc.value.code == "financial_connections_account_inactive"
    assert tenant.v1.financial_connections.accounts.retrieve(acct_id).balance.current == d.balance.current


def test_refresh_without_permission_is_refused(tenant):
    [acct_id] = link(tenant, ["balances"])
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.financial_connections.accounts.refresh(acct_id, params={"features": ["ownership"]})
    assert exc.value.http_status == 400
    assert exc.value.param == "features[0]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.financial_connections.accounts.subscribe(acct_id, params={"features": ["transactions"]})
    assert exc.value.http_status == 400


def test_other_tenants_cannot_touch_accounts(tenant, other_tenant):
    [acct_id] = link(tenant, ["balances"])
    with pytest.raises(stripe.InvalidRequestError) as exc:
        other_tenant.v1.financial_connections.accounts.retrieve(acct_id)
    assert exc.value.http_status == 404
    assert other_tenant.v1.financial_connections.accounts.list().data == []


def test_deactivated_account_refuses_refreshes_until_reactivated(tenant):
    """finconn's deactivate/reactivate test helpers, seen through the SDK: the account's status, the
    refusal, and the .deactivated / .reactivated events with the account as of each change."""
    [acct_id] = link(tenant, ["balances"], prefetch=["balances"])
    poll(tenant, acct_id, "balance_refresh")
    helper = f"/v1/test_helpers/financial_connections/accounts/{acct_id}"
    r = raw("POST", f"{helper}/deactivate", key=tenant.sk)
    assert r.status_code == 200, r.text
    fs.assert_valid(r.json(), "financial_connections.account")
    acct = tenant.v1.financial_connections.accounts.retrieve(acct_id)
    assert acct.status == "inactive"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.financial_connections.accounts.refresh(acct_id, params={"features": ["balance"]})
    assert exc.value.code == "financial_connections_account_inactive"

    r = raw("POST", f"{helper}/reactivate", key=tenant.sk)
    assert r.status_code == 200, r.text
    assert tenant.v1.financial_connections.accounts.retrieve(acct_id).status == "active"
    refreshed = tenant.v1.financial_connections.accounts.refresh(acct_id, params={"features": ["balance"]})
    assert refreshed.balance_refresh.status == "pending"

    events = tenant.v1.events.list(params={"type": "financial_connections.account.*activated"})
    assert [(e.type, e.data.object["status"]) for e in events.data] == [
        ("financial_connections.account.reactivated", "active"),
        ("financial_connections.account.deactivated", "inactive"),
    ]
    listed = raw_json(events)
    fs.assert_list_valid(listed, "event", "/v1/events")
    for e in listed["data"]:
        fs.assert_valid(e["data"]["object"], "financial_connections.account")
        assert e["data"]["object"]["id"] == acct_id

    live = raw("POST", f"{helper}/deactivate", key="sk_live_" + "x" * 24)
    assert live.status_code == 401


def test_account_numbers_are_included_when_expanded(tenant):
    """Stripe's tokenized account numbers: `account_numbers` is included on request (expand), only for
    accounts shared with the payment_method permission; tokenized at an OAuth institution."""
    accounts = tenant.v1.financial_connections.accounts
    (acct_id,) = link(tenant, ["payment_method"])
    assert accounts.retrieve(acct_id).account_numbers is None
    acct = accounts.retrieve(acct_id, params={"expand": ["account_numbers"]})
    fs.assert_valid(raw_json(acct), "financial_connections.account")
    (n,) = acct.account_numbers
    assert (n.identifier_type, n.status, n.supported_networks, n.expected_expiry_date) == (
        "account_number", "transactable", ["ach"], None)
    (oauth_id,) = link(tenant, ["payment_method"], institution="fcinst_TestOAuthInstitution")
    oauth = accounts.retrieve(oauth_id, params={"expand": ["account_numbers"]})
    fs.assert_valid(raw_json(oauth), "financial_connections.account")
    assert oauth.account_numbers[0].identifier_type == "tokenized_account_number"
    (plain_id,) = link(tenant, ["balances"])
    assert accounts.retrieve(plain_id, params={"expand": ["account_numbers"]}).account_numbers is None
