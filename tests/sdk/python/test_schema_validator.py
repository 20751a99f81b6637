"""The validator itself: it must accept Stripe's own fixtures and reject broken objects.

If these fail, every schema assertion elsewhere in the suite is meaningless.
"""

from __future__ import annotations

import copy
import json

import pytest

import finconn_schema as fs

NO_SCHEMA = {"financial_connections.authorization"}  # the GA spec has no schema for it

FIXTURES = [p.stem for p in fs.fixture_files()]


def test_every_fixture_is_covered():
    assert len(FIXTURES) >= 10, FIXTURES
    for name in FIXTURES:
        assert name in NO_SCHEMA or name in fs.schema_names(), f"fixture {name} has no schema"


@pytest.mark.parametrize("name", [n for n in FIXTURES if n not in NO_SCHEMA])
@pytest.mark.parametrize("strict", [False, True], ids=["loose", "strict"])
def test_fixture_is_accepted(name, strict):
    fs.assert_valid(fs.load_fixture(name), name, strict=strict)


def _session():
    return fs.load_fixture("financial_connections.session")


MUTATIONS = {
    "bad permission enum": lambda s: s.update(permissions=["bogus"]),
    "livemode not boolean": lambda s: s.update(livemode="x"),
    "missing id": lambda s: s.pop("id"),
    "missing accounts": lambda s: s.pop("accounts"),
    "wrong object": lambda s: s.update(object="financial_connections.account"),
    "accounts url outside pattern": lambda s: s["accounts"].update(url="/v1/customers"),
    "accounts has_more missing": lambda s: s["accounts"].pop("has_more"),
    "account_holder type enum": lambda s: s["account_holder"].update(type="person"),
    "account_holder without type": lambda s: s["account_holder"].pop("type"),
    "return_url null (optional, not nullable)": lambda s: s.update(return_url=None),
    "filters null (optional, not nullable)": lambda s: s.update(filters=None),
    "limits without accounts": lambda s: s.update(limits={}),
    "limits accounts not integer": lambda s: s.update(limits={"accounts": "5"}),
    "manual_entry mode enum": lambda s: s.update(manual_entry={"mode": "sometimes"}),
    "prefetch enum": lambda s: s.update(prefetch=["payment_method"]),
    "filters subcategory enum": lambda s: s.update(filters={"account_subcategories": ["brokerage"]}),
    "client_secret number": lambda s: s.update(client_secret=5),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutated_session_is_rejected(mutation):
    session = _session()
    MUTATIONS[mutation](session)
    assert fs.errors(session, "financial_connections.session"), f"{mutation} was accepted"


def test_unknown_field_is_rejected_only_in_strict_mode():
    session = _session()
    session["status"] = "open"  # not in the GA schema
    assert fs.errors(session, "financial_connections.session", strict=True)
    assert not fs.errors(session, "financial_connections.session", strict=False)


def test_nullable_anyof_fix_allows_null_only_where_stripe_says_so():
    # account_holder is {"anyOf": [...], "nullable": true}: null is allowed.
    session = _session()
    session["account_holder"] = None
    session["client_secret"] = None
    session["prefetch"] = None
    fs.assert_valid(session, "financial_connections.session")
    # customer.address / default_source / test_clock are the same shape.
    customer = fs.load_fixture("customer")
    customer.update(address=None, default_source=None, test_clock=None)
    fs.assert_valid(customer, "customer")
    # permissions is not nullable.
    session["permissions"] = None
    assert fs.errors(session, "financial_connections.session")


def test_the_fix_does_not_touch_the_spec_on_disk():
    with open(fs.SPEC_PATH, encoding="utf-8") as f:
        on_disk = json.load(f)
    holder = on_disk["components"]["schemas"]["financial_connections.session"]["properties"]["account_holder"]
    assert {"enum": [None]} not in holder["anyOf"]


def test_customer_and_error_mutations_are_rejected():
    customer = fs.load_fixture("customer")
    bad = copy.deepcopy(customer)
    bad["created"] = "yesterday"
    assert fs.errors(bad, "customer")
    bad = copy.deepcopy(customer)
    bad["metadata"] = {"k": 1}
    assert fs.errors(bad, "customer")
    bad = copy.deepcopy(customer)
    bad["address"] = {"postalcode": "12345"}
    assert fs.errors(bad, "customer")

    deleted = fs.load_fixture("deleted_customer")
    bad = dict(deleted, deleted=False)
    assert fs.errors(bad, "deleted_customer")

    assert not fs.errors({"error": {"type": "invalid_request_error", "message": "x"}}, "error")
    assert fs.errors({"error": {"type": "authentication_error", "message": "x"}}, "error")
    assert fs.errors({"error": {"message": "x"}}, "error")
    assert fs.errors({"message": "x", "type": "invalid_request_error"}, "error")
