"""A sandbox data file (sandbox_fixture.py, served by tests/sdk/run.sh with --sandbox-data): its institutions
are listed, and an account linked from it yields exactly the file's data through stripe-python."""

from __future__ import annotations

import calendar
import json
import os
import pathlib
import time


from conftest import raw

DATA_DIR = os.environ.get("FINCONN_SDK_SANDBOX_DATA", "")



def file_ledger() -> dict:
    assert DATA_DIR, "FINCONN_SDK_SANDBOX_DATA is not set: tests/sdk/run.sh serves the sandbox data fixture"
    return json.loads((pathlib.Path(DATA_DIR) / "ledger.json").read_text())


def unix(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def wait_for(tenant, account_id, fields, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        acct = tenant.v1.financial_connections.accounts.retrieve(account_id)
        if all(getattr(acct, f) is not None and getattr(acct, f).status != "pending" for f in fields):
            return acct
        assert time.monotonic() < deadline, f"{fields} still pending after {timeout}s"
        time.sleep(0.1)


def test_the_files_institutions_are_listed(tenant):
    listed = raw("GET", "/v1/financial_connections/institutions", key=tenant.sk, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    by_id = {i["id"]: i for i in listed.json()["data"]}
    ledger = by_id["fcinst_SdkLedgerBank"]
    assert (ledger["name"], ledger["url"], ledger["countries"], ledger["status"]) == (
        "SDK Ledger Bank", "https://ledger.example.com", ["US"], "active")
    assert ledger["features"]["ownership"]["supported"] is True
    assert ledger["features"]["payment_method"]["supported"] is False
    assert by_id["fcinst_SdkOtherBank"]["name"] == "SDK Other Bank"
    assert "fcinst_TestInstitution" in by_id, "the built-in institutions stay"


def test_linking_yields_exactly_the_files_data(tenant):
    spec = file_ledger()
    customer = tenant.v1.customers.create(params={"email": "ledger@example.com"})
    session = tenant.v1.financial_connections.sessions.create(params={
        "account_holder": {"type": "customer", "customer": customer.id},
        "permissions": ["balances", "ownership", "transactions"],
    })
    done = raw("POST", f"/v1/test_helpers/financial_connections/sessions/{session.id}/complete", key=tenant.sk,
               data={"institution": "fcinst_SdkLedgerBank", "accounts": ["Ledger"]})
    assert done.status_code == 200, done.text
    account_id = done.json()["accounts"]["data"][0]["id"]

    acct = tenant.v1.financial_connections.accounts.retrieve(account_id)
    assert (acct.display_name, acct.last4, acct.category, acct.subcategory, acct.institution_name) == (
        "Ledger", "1000", "cash", "checking", "SDK Ledger Bank")

    tenant.v1.financial_connections.accounts.refresh(
        account_id, params={"features": ["balance", "ownership", "transactions"]})
    acct = wait_for(tenant, account_id, ["balance_refresh", "ownership_refresh", "transaction_refresh"])
    assert acct.balance_refresh.status == "succeeded"
    assert acct.balance.current.to_dict() == {"usd": spec["balance"]["current"]}
    assert acct.balance.cash.available.to_dict() == {"usd": spec["balance"]["available"]}
    assert acct.balance.type == "cash"

    assert acct.ownership_refresh.status == "succeeded"
    owners = tenant.v1.financial_connections.accounts.owners.list(
        account_id, params={"ownership": acct.ownership, "limit": 100})
    got = sorted((o.name, o.email, o.phone, o.raw_address) for o in owners.data)
    want = sorted((o["name"], o.get("email"), o.get("phone"), o.get("address")) for o in spec["owners"])
    assert got == want

    assert acct.transaction_refresh.status == "succeeded"
    listed = list(tenant.v1.financial_connections.transactions.list(
        params={"account": account_id, "limit": 100}).auto_paging_iter())
    assert len(listed) == 1000
    got = sorted((t.amount, t.currency, t.description, t.transacted_at, t.status) for t in listed)
    want = sorted((t["amount"], "usd", t["description"], unix(t["transacted_at"]), t.get("status", "posted"))
                  for t in spec["transactions"])
    assert got == want
    # Stripe's status transitions: posted and void say when.
    for t in listed:
        if t.status == "posted":
            assert t.status_transitions.posted_at == t.transacted_at
        elif t.status == "void":
            assert t.status_transitions.void_at == t.transacted_at + 86_400
        else:
            assert t.status_transitions.posted_at is None and t.status_transitions.void_at is None
    assert len({t.id for t in listed}) == 1000

    # A second refresh finds the same transactions: nothing is duplicated, ids are kept.
    tenant.v1.financial_connections.accounts.refresh(account_id, params={"features": ["transactions"]})
    wait_for(tenant, account_id, ["transaction_refresh"])
    again = list(tenant.v1.financial_connections.transactions.list(
        params={"account": account_id, "limit": 100}).auto_paging_iter())
    assert sorted(t.id for t in again) == sorted(t.id for t in listed)
