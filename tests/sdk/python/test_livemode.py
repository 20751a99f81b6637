"""Live and test mode of one account are separate worlds.

Live keys are never auto-provisioned. ``finconn keys create --database URL``
makes an account with a test key pair, and ``keys create --live --account ID``
adds a live pair to that same account (run.sh passes FINCONN_BIN and
FINCONN_DATABASE_URL). errors.md §5.2: an object that exists only in the other
mode is 404/400 resource_missing with a "similar object exists" suffix.
"""

from __future__ import annotations

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, keys_create, make_client, raw_json

LIVE_KEY_USED = "; a similar object exists in test mode, but a live mode key was used to make this request."
TEST_KEY_USED = "; a similar object exists in live mode, but a test mode key was used to make this request."


@pytest.fixture
def pair():
    """(test, live) registered clients of one account."""
    test = keys_create(live=False)
    live = keys_create(live=True, account=test.account)
    return test, live


def _session(client, customer_id):
    return client.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": customer_id}, "permissions": ["balances"]}
    )


def test_test_mode_objects_say_livemode_false(tenant):
    c = tenant.v1.customers.create(params={"name": "t"})
    s = _session(tenant.client, c.id)
    assert raw_json(c)["livemode"] is False
    assert raw_json(s)["livemode"] is False


def test_live_key_objects_say_livemode_true(pair):
    _, live = pair
    c = live.client.v1.customers.create(params={"name": "live"})
    fs.assert_valid(raw_json(c), "customer")
    assert raw_json(c)["livemode"] is True
    s = _session(live.client, c.id)
    data = raw_json(s)
    fs.assert_valid(data, "financial_connections.session")
    assert data["livemode"] is True
    assert raw_json(live.client.v1.financial_connections.sessions.retrieve(s.id)) == data


def test_live_key_cannot_read_a_test_mode_session(pair):
    test, live = pair
    c = test.client.v1.customers.create(params={"name": "t"})
    s = _session(test.client, c.id)
    with pytest.raises(stripe.StripeError) as exc:
        live.client.v1.financial_connections.sessions.retrieve(s.id)
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message=f"No such financial_connections.session: '{s.id}'" + LIVE_KEY_USED,
    )
    with pytest.raises(stripe.StripeError) as exc:
        live.client.v1.customers.retrieve(c.id)
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message=f"No such customer: '{c.id}'" + LIVE_KEY_USED,
    )
    # and the test key still can
    assert test.client.v1.financial_connections.sessions.retrieve(s.id).id == s.id


def test_test_key_cannot_read_a_live_session(pair):
    test, live = pair
    lc = live.client.v1.customers.create(params={"name": "live"})
    ls = _session(live.client, lc.id)
    with pytest.raises(stripe.StripeError) as exc:
        test.client.v1.financial_connections.sessions.retrieve(ls.id)
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message=f"No such financial_connections.session: '{ls.id}'" + TEST_KEY_USED,
    )


def test_live_key_cannot_use_a_test_mode_customer(pair):
    test, live = pair
    c = test.client.v1.customers.create(params={"name": "t"})
    with pytest.raises(stripe.StripeError) as exc:
        _session(live.client, c.id)
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=400,
        code="resource_missing",
        param="account_holder[customer]",
        message=f"No such customer: '{c.id}'" + LIVE_KEY_USED,
    )


def test_lists_do_not_mix_modes(pair):
    test, live = pair
    t = test.client.v1.customers.create(params={"name": "t"})
    lv = live.client.v1.customers.create(params={"name": "l"})
    assert [c.id for c in test.client.v1.customers.list().data] == [t.id]
    assert [c.id for c in live.client.v1.customers.list().data] == [lv.id]


def test_live_publishable_key_is_refused_on_secret_endpoints(pair):
    _, live = pair
    with pytest.raises(stripe.StripeError) as exc:
        make_client(live.pk).v1.customers.list()
    assert type(exc.value) is stripe.PermissionError
    assert exc.value.http_status == 403


def test_unregistered_live_key_of_a_known_suffix_is_not_provisioned(tenant):
    """A sandbox tenant's sk_test_<suffix> does not make sk_live_<suffix> valid."""
    tenant.v1.customers.list()  # provision
    with pytest.raises(stripe.StripeError) as exc:
        make_client("sk_live_" + tenant.suffix).v1.customers.list()
    assert type(exc.value) is stripe.AuthenticationError
    assert exc.value.http_status == 401
