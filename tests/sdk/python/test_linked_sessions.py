"""Completed sessions and their linked accounts, read through stripe-python and validated against the spec."""

from __future__ import annotations

import finconn_schema as fs
from conftest import raw


def test_completed_session_and_its_accounts_validate(tenant):
    customer = tenant.v1.customers.create(params={"email": "linked@example.com"})
    session = tenant.v1.financial_connections.sessions.create(
        params={
            "account_holder": {"type": "customer", "customer": customer.id},
            "permissions": ["balances", "ownership", "payment_method"],
            "filters": {"account_subcategories": ["checking", "savings"]},
        }
    )
    # finconn's test helper links without a browser (there is no SDK method for it).
    done = raw(
        "POST",
        f"/v1/test_helpers/financial_connections/sessions/{session.id}/complete",
        key=tenant.sk,
        data={"institution": "fcinst_TestInstitution", "accounts": ["Success", "Savings"]},
    )
    assert done.status_code == 200, done.text
    fs.assert_valid(done.json(), "financial_connections.session")

    again = tenant.v1.financial_connections.sessions.retrieve(session.id)
    accounts = again.accounts.data
    assert [a.display_name for a in accounts] == ["Success", "Savings"]
    for a in accounts:
        assert a.id.startswith("fca_")
        assert a.object == "financial_connections.account"
        assert a.institution_name == "Test Institution"
        assert a.status == "active"
        assert a.permissions == ["balances", "ownership", "payment_method"]
        assert a.account_holder.customer == customer.id
        assert a.balance is None and a.balance_refresh is None
        fs.assert_valid(a.to_dict(), "financial_connections.account")
    fs.assert_valid(again.to_dict(), "financial_connections.session")
    assert [a.subcategory for a in accounts] == ["checking", "savings"]
