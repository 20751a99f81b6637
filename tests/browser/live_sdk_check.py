"""Live mode, the backend's half: after the browser linked real (fake-SimpleFIN) accounts, the official
stripe-python SDK, unchanged, reads them from finconn with a live secret key.

Run by live.test.mjs with: FINCONN_URL, LIVE_SK, SESSION_ID, FAKE_CONTROL (the fake's /_control URL),
FAKE_USER. Exits non-zero (an assertion) on any difference. Every object is validated against
../shared/reference's OpenAPI subset (tests/sdk/python/finconn_schema.py).
"""

from __future__ import annotations

import os
import sys
import time
from decimal import Decimal

import requests
import stripe

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sdk", "python"))
import finconn_schema  # noqa: E402

BASE = os.environ["FINCONN_URL"]
SK = os.environ["LIVE_SK"]
SESSION = os.environ["SESSION_ID"]
CONTROL = os.environ["FAKE_CONTROL"]
USER = os.environ["FAKE_USER"]
DAY = 86_400

client = stripe.StripeClient(SK, base_addresses={"api": BASE})


def cents(s: str) -> int:
    return int(Decimal(s) * 100)


def fake() -> dict:
    return requests.get(f"{CONTROL}/users/{USER}", timeout=10).json()


def fake_account(name: str) -> dict:
    return next(a for a in fake()["accounts"] if a["name"] == name)


def wait(account_id: str, field: str) -> stripe.financial_connections.Account:
    deadline = time.time() + 30
    while True:
        a = client.v1.financial_connections.accounts.retrieve(account_id)
        status = getattr(a, field).status if getattr(a, field) else None
        if status in ("succeeded", "failed"):
            return a
        assert time.time() < deadline, f"{field} of {account_id} still {status} after 30 s"
        time.sleep(0.2)


def check(obj, schema: str) -> None:
    """The JSON finconn sent for an object fetched by the SDK, against the OpenAPI subset."""
    finconn_schema.assert_valid(obj.last_response.data, schema)


session = client.v1.financial_connections.sessions.retrieve(SESSION)
assert session.livemode is True
accounts = {a.display_name: a for a in session.accounts.data}
assert set(accounts) == {"Everyday Checking", "High Yield Savings", "Rewards Visa Card"}, set(accounts)
finconn_schema.assert_valid(session.last_response.data, "financial_connections.session")
for a in accounts.values():
    assert a.livemode is True and a.status == "active" and a.balance is None

chk = accounts["Everyday Checking"]
assert (chk.category, chk.subcategory) == ("cash", "checking")
card = accounts["Rewards Visa Card"]
assert (card.category, card.subcategory) == ("credit", "credit_card")

# Refresh balance and transactions; the values equal the fake's, to the cent.
# The server's window starts at its clock when the refresh runs, which is at or after this instant.
refreshed_at = time.time()
client.v1.financial_connections.accounts.refresh(chk.id, params={"features": ["balance", "transactions"]})
a = wait(chk.id, "balance_refresh")
a = wait(chk.id, "transaction_refresh")
check(a, "financial_connections.account")
f = fake_account("Everyday Checking")
assert a.balance_refresh.status == "succeeded", a.balance_refresh
assert a.balance.current["usd"] == cents(f["balance"]), (a.balance.current, f["balance"])
assert a.balance.cash.available["usd"] == cents(f["available-balance"])
assert a.balance.as_of == f["balance-date"]
assert a.transaction_refresh.status == "succeeded"

page = client.v1.financial_connections.transactions.list(params={"account": chk.id, "limit": 100})
finconn_schema.assert_list_valid(page.last_response.data, "financial_connections.transaction", "/v1/financial_connections/transactions")
txns = list(page.auto_paging_iter())
# SimpleFIN's start-date selects posted transactions by posted date, pending ones by when they happened.
# (An hour of slack here made this fail daily between 11:00 and 12:00 UTC, when the edge of the 180 days
# fell within that hour of the fake's transactions.)
since = refreshed_at - 180 * DAY
expected = [t for t in f["transactions"] if (t.get("transacted_at") if t["pending"] else t["posted"]) >= since]
assert len(txns) == len(expected), (len(txns), len(expected))
assert sum(t.amount for t in txns) == sum(cents(t["amount"]) for t in expected)
pending = [t for t in txns if t.status == "pending"]
assert len(pending) == len([t for t in expected if t["pending"]]) >= 1, len(pending)
assert all(t.currency == "usd" and t.livemode for t in txns)

# The card: a credit balance, negative when owed.
client.v1.financial_connections.accounts.refresh(card.id, params={"features": ["balance"]})
c = wait(card.id, "balance_refresh")
assert c.balance.type == "credit" and c.balance.current["usd"] == cents(fake_account("Rewards Visa Card")["balance"])

# Subscribe to daily transaction refreshes.
sub = client.v1.financial_connections.accounts.subscribe(chk.id, params={"features": ["transactions"]})
assert sub.subscriptions == ["transactions"]

# con.auth on the card's bank login: only the card goes inactive, with an event.
requests.post(f"{CONTROL}/users/{USER}/errors", json={"code": "con.auth", "msg": "Authentication required for Example Card Co - Jo", "conn_id": "CON-B"}, timeout=10)
sav = accounts["High Yield Savings"]
client.v1.financial_connections.accounts.refresh(sav.id, params={"features": ["balance"]})
s = wait(sav.id, "balance_refresh")
assert s.status == "active" and s.balance_refresh.status == "succeeded", s
assert client.v1.financial_connections.accounts.retrieve(card.id).status == "inactive"
# (Other live tests share these keys: only this session's accounts count.)
ours = {a.id for a in accounts.values()}
events = client.v1.events.list(params={"type": "financial_connections.account.deactivated", "limit": 100}).data
assert [e.data.object["id"] for e in events if e.data.object["id"] in ours] == [card.id], events

# Access revoked at the SimpleFIN server: the next refresh deactivates every remaining account.
requests.delete(f"{CONTROL}/users/{USER}/errors", timeout=10)
requests.post(f"{CONTROL}/users/{USER}/revoke", timeout=10)
client.v1.financial_connections.accounts.refresh(sav.id, params={"features": ["transactions"]})
s = wait(sav.id, "transaction_refresh")
assert s.transaction_refresh.status == "failed"
deadline = time.time() + 10
while client.v1.financial_connections.accounts.retrieve(chk.id).status != "inactive":
    assert time.time() < deadline, "the checking account stayed active after the access was revoked"
    time.sleep(0.2)
assert client.v1.financial_connections.accounts.retrieve(sav.id).status == "inactive"
events = client.v1.events.list(params={"type": "financial_connections.account.deactivated", "limit": 100}).data
assert {e.data.object["id"] for e in events if e.data.object["id"] in ours} == {card.id, chk.id, sav.id}
print(f"stripe-python {stripe.VERSION}: live accounts read, refreshed to the cent ({len(txns)} transactions, "
      f"{len(pending)} pending), subscribed, deactivated on con.auth and on revocation")
