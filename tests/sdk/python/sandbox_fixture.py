"""The sandbox data file the SDK suites' finconn serves (tests/sdk/run.sh writes it, then starts finconn with
``--sandbox-data``): two institutions, one with a 1,000-transaction account kept in an account file of its
own. Deterministic: the same files every run.

    python3 sandbox_fixture.py OUT_DIR     # writes OUT_DIR/bank.toml and OUT_DIR/ledger.json
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import sys

BANK_TOML = """version = 1

[[institutions]]
id = "fcinst_SdkLedgerBank"
name = "SDK Ledger Bank"
url = "https://ledger.example.com"
countries = ["US"]
login = "none"
features = ["balances", "ownership", "transactions"]
account_files = ["ledger.json"]

[[institutions]]
id = "fcinst_SdkOtherBank"
name = "SDK Other Bank"
countries = ["US"]
login = "oauth"

[[institutions.accounts]]
name = "Generated Checking"
category = "cash"
subcategory = "checking"
last4 = "2000"
"""

START = dt.datetime(2023, 6, 1, 9, 0, tzinfo=dt.timezone.utc)


def ledger() -> dict:
    """The 1,000-transaction account: amounts, descriptions and times that vary, some void, three pending."""
    transactions = []
    for i in range(1000):
        at = START + dt.timedelta(hours=21 * i + (i * 37) % 11)
        t = {
            "amount": -((i * 7919) % 25_000 + 100) if i % 9 else 310_000 + i,
            "description": f"PURCHASE {i:04d} MERCHANT {(i * 31) % 97}" if i % 9 else f"PAYROLL {i:04d}",
            "transacted_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if i % 50 == 7:
            t["status"] = "void"
            t["settled_at"] = (at + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if i >= 997:
            t["status"] = "pending"
        if i % 100 == 3:
            t["id"] = f"ledger-{i}"
        transactions.append(t)
    return {
        "name": "Ledger",
        "category": "cash",
        "subcategory": "checking",
        "last4": "1000",
        "purpose": "1,000 listed transactions for the SDK suite.",
        "currency": "usd",
        "balance": {"current": 500_000, "available": 480_000},
        "owners": [
            {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+1 555-201-0100",
             "address": "12 Analytical Row, London, EC1A 1BB, GB"},
            {"name": "Charles Babbage", "email": "charles@example.com"},
        ],
        "transactions": transactions,
    }


def write(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bank.toml").write_text(BANK_TOML)
    (out / "ledger.json").write_text(json.dumps(ledger(), indent=1) + "\n")


if __name__ == "__main__":
    write(pathlib.Path(sys.argv[1]))
