"""Customers through stripe-python: create, retrieve, update, delete, list."""

from __future__ import annotations

import time

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, raw, raw_json

ADDRESS = {
    "line1": "510 Townsend St",
    "line2": "Floor 2",
    "city": "San Francisco",
    "state": "CA",
    "postal_code": "94103",
    "country": "US",
}


def _create(tenant, **params):
    customer = tenant.v1.customers.create(params=params)
    fs.assert_valid(raw_json(customer), "customer")
    return customer


def test_create_customer_with_every_param(tenant):
    before = int(time.time())
    customer = _create(
        tenant,
        email="jenny.rosen@example.com",
        name="Jenny Rosen",
        description="first customer",
        phone="+14155550123",
        metadata={"order_id": "6735", "tier": "gold"},
        address=ADDRESS,
    )
    after = int(time.time())

    assert customer.id.startswith("cus_")
    assert customer.object == "customer"
    assert customer.livemode is False
    assert before - 2 <= customer.created <= after + 2
    assert customer.email == "jenny.rosen@example.com"
    assert customer.name == "Jenny Rosen"
    assert customer.description == "first customer"
    assert customer.phone == "+14155550123"
    assert customer.metadata.to_dict() == {"order_id": "6735", "tier": "gold"}
    assert customer.address.to_dict() == ADDRESS
    assert isinstance(customer, stripe.Customer)


def test_create_customer_without_params(tenant):
    customer = _create(tenant)
    data = raw_json(customer)
    assert customer.id.startswith("cus_")
    # Nullable fields that were not set are null, not invented values.
    for fieldname in ("email", "name", "description", "phone", "address"):
        assert fieldname in data, f"{fieldname} missing from {data}"
        assert data[fieldname] is None, (fieldname, data[fieldname])
    assert data["metadata"] == {}


def test_customer_ids_are_unique(tenant):
    ids = {_create(tenant).id for _ in range(5)}
    assert len(ids) == 5


def test_retrieve_returns_what_create_returned(tenant):
    created = _create(tenant, email="a@example.com", metadata={"k": "v"}, address=ADDRESS)
    fetched = tenant.v1.customers.retrieve(created.id)
    fs.assert_valid(raw_json(fetched), "customer")
    assert raw_json(fetched) == raw_json(created)


def test_update_changes_only_what_is_sent(tenant):
    created = _create(
        tenant,
        email="old@example.com",
        name="Old Name",
        description="keep me",
        phone="+14155550100",
        metadata={"a": "1", "b": "2"},
    )
    updated = tenant.v1.customers.update(
        created.id,
        params={"email": "new@example.com", "name": "New Name", "metadata": {"b": "20", "c": "3"}},
    )
    fs.assert_valid(raw_json(updated), "customer")
    assert updated.id == created.id
    assert updated.created == created.created
    assert updated.email == "new@example.com"
    assert updated.name == "New Name"
    assert updated.description == "keep me"
    assert updated.phone == "+14155550100"
    # metadata is merged key by key
    assert updated.metadata.to_dict() == {"a": "1", "b": "20", "c": "3"}

    fetched = tenant.v1.customers.retrieve(created.id)
    assert raw_json(fetched) == raw_json(updated)


def test_update_metadata_unset_one_key_and_all_keys(tenant):
    created = _create(tenant, metadata={"a": "1", "b": "2"})
    one = tenant.v1.customers.update(created.id, params={"metadata": {"a": ""}})
    assert one.metadata.to_dict() == {"b": "2"}
    none = tenant.v1.customers.update(created.id, params={"metadata": ""})
    assert none.metadata.to_dict() == {}
    fs.assert_valid(raw_json(none), "customer")


def test_update_address_and_clear_it(tenant):
    created = _create(tenant, name="Addr")
    with_address = tenant.v1.customers.update(created.id, params={"address": ADDRESS})
    assert with_address.address.to_dict() == ADDRESS
    cleared = tenant.v1.customers.update(created.id, params={"address": ""})
    assert raw_json(cleared)["address"] is None
    fs.assert_valid(raw_json(cleared), "customer")


def test_delete_customer(tenant):
    created = _create(tenant, email="gone@example.com")
    deleted = tenant.v1.customers.delete(created.id)
    data = raw_json(deleted)
    fs.assert_valid(data, "deleted_customer")
    assert data == {"id": created.id, "object": "customer", "deleted": True}
    assert deleted.deleted is True

    # Stripe: retrieving a deleted customer returns the deleted stub.
    fetched = tenant.v1.customers.retrieve(created.id)
    assert raw_json(fetched) == {"id": created.id, "object": "customer", "deleted": True}

    listed = tenant.v1.customers.list(params={"limit": 100})
    assert created.id not in [c.id for c in listed.data]

    # a deleted customer can be neither updated nor deleted again
    missing = dict(
        status=404, code="resource_missing", param="id", message=f"No such customer: '{created.id}'"
    )
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.customers.update(created.id, params={"name": "back"})
    assert_stripe_error(exc.value, stripe.InvalidRequestError, **missing)
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.customers.delete(created.id)
    assert_stripe_error(exc.value, stripe.InvalidRequestError, **missing)


def test_retrieve_unknown_customer(tenant):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.customers.retrieve("cus_doesnotexist")
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message="No such customer: 'cus_doesnotexist'",
    )


def test_update_unknown_customer(tenant):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.customers.update("cus_doesnotexist", params={"name": "x"})
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message="No such customer: 'cus_doesnotexist'",
    )


def test_create_customer_unknown_param(tenant):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.customers.create(params={"name": "x", "favourite_colour": "green"})
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_unknown",
        param="favourite_colour",
        message="Received unknown parameter: favourite_colour",
    )


def test_create_customer_name_too_long(tenant):
    name = "N" * 257  # request maxLength is 256
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.customers.create(params={"name": name})
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=400,
        param="name",
        message="Invalid string: NNNNNNNNNN...NNNNNNNNNN; must be at most 256 characters",
    )


# --- list ----------------------------------------------------------------


def _five(tenant):
    """Five customers, oldest first."""
    return [_create(tenant, name=f"c{i}", email=f"c{i}@example.com").id for i in range(1, 6)]


def test_list_is_newest_first_and_paginates(tenant):
    c1, c2, c3, c4, c5 = _five(tenant)

    page1 = tenant.v1.customers.list(params={"limit": 2})
    fs.assert_list_valid(raw_json(page1), "customer", "/v1/customers")
    assert [c.id for c in page1.data] == [c5, c4]
    assert page1.has_more is True

    page2 = tenant.v1.customers.list(params={"limit": 2, "starting_after": c4})
    fs.assert_list_valid(raw_json(page2), "customer", "/v1/customers")
    assert [c.id for c in page2.data] == [c3, c2]
    assert page2.has_more is True

    page3 = tenant.v1.customers.list(params={"limit": 2, "starting_after": c2})
    assert [c.id for c in page3.data] == [c1]
    assert page3.has_more is False

    back = tenant.v1.customers.list(params={"limit": 2, "ending_before": c1})
    fs.assert_list_valid(raw_json(back), "customer", "/v1/customers")
    assert [c.id for c in back.data] == [c3, c2]
    assert back.has_more is True

    first = tenant.v1.customers.list(params={"limit": 2, "ending_before": c4})
    assert [c.id for c in first.data] == [c5]
    assert first.has_more is False

    everything = tenant.v1.customers.list()
    fs.assert_list_valid(raw_json(everything), "customer", "/v1/customers")
    assert [c.id for c in everything.data] == [c5, c4, c3, c2, c1]
    assert everything.has_more is False


def test_list_default_limit_is_10(tenant):
    ids = [_create(tenant).id for _ in range(11)]
    page = tenant.v1.customers.list()
    assert len(page.data) == 10
    assert page.has_more is True
    assert [c.id for c in page.data] == list(reversed(ids))[:10]


def test_auto_paging_iter_forwards_and_backwards(tenant):
    c1, c2, c3, c4, c5 = _five(tenant)
    forwards = [c.id for c in tenant.v1.customers.list(params={"limit": 2}).auto_paging_iter()]
    assert forwards == [c5, c4, c3, c2, c1]
    backwards = [
        c.id for c in tenant.v1.customers.list(params={"limit": 2, "ending_before": c1}).auto_paging_iter()
    ]
    assert backwards == [c2, c3, c4, c5]


def test_list_filter_by_email_is_exact_and_case_sensitive(tenant):
    a1 = _create(tenant, email="shared@example.com", name="a1").id
    _create(tenant, email="other@example.com")
    a2 = _create(tenant, email="shared@example.com", name="a2").id
    found = tenant.v1.customers.list(params={"email": "shared@example.com"})
    fs.assert_list_valid(raw_json(found), "customer", "/v1/customers")
    assert [c.id for c in found.data] == [a2, a1]
    assert tenant.v1.customers.list(params={"email": "SHARED@example.com"}).data == []
    assert tenant.v1.customers.list(params={"email": "shared@example"}).data == []


@pytest.mark.parametrize(
    "limit,message",
    [
        (0, "This value must be greater than or equal to 1."),
        (101, "This value must be less than or equal to 100."),
    ],
)
def test_list_limit_out_of_range(tenant, limit, message):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.customers.list(params={"limit": limit})
    assert_stripe_error(exc.value, stripe.InvalidRequestError, status=400, param="limit", message=message)


def test_list_limit_not_an_integer(tenant):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.customers.list(params={"limit": "ten"})
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_invalid_integer",
        param="limit",
        message="Invalid integer: ten",
    )


def test_list_cursor_that_does_not_exist(tenant):
    _create(tenant)
    with pytest.raises(stripe.StripeError) as exc:
        tenant.v1.customers.list(params={"starting_after": "cus_nope"})
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=400,
        code="resource_missing",
        param="starting_after",
        message="No such customer: 'cus_nope'",
    )


def test_list_of_a_new_tenant_is_empty(tenant):
    page = tenant.v1.customers.list()
    assert raw_json(page) == {"object": "list", "data": [], "has_more": False, "url": "/v1/customers"}


def test_customers_are_isolated_between_tenants(tenant, other_tenant):
    mine = _create(tenant, email="mine@example.com").id
    theirs = _create(other_tenant, email="mine@example.com").id
    assert [c.id for c in tenant.v1.customers.list().data] == [mine]
    assert [c.id for c in other_tenant.v1.customers.list().data] == [theirs]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        other_tenant.v1.customers.retrieve(mine)
    assert_stripe_error(
        exc.value,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message=f"No such customer: '{mine}'",
    )
    with pytest.raises(stripe.InvalidRequestError):
        other_tenant.v1.customers.delete(mine)
    # still there for its owner
    assert tenant.v1.customers.retrieve(mine).email == "mine@example.com"


def test_global_configuration_style(tenant, base_url, monkeypatch):
    """The older module-level style (stripe.api_key / stripe.api_base) works too."""
    monkeypatch.setattr(stripe, "api_key", tenant.sk)
    monkeypatch.setattr(stripe, "api_base", base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    customer = stripe.Customer.create(email="global@example.com")
    fs.assert_valid(raw_json(customer), "customer")
    again = stripe.Customer.retrieve(customer.id)
    assert again.email == "global@example.com"
    again = stripe.Customer.modify(customer.id, name="Global")
    assert again.name == "Global"
    ids = [c.id for c in stripe.Customer.list(limit=1).auto_paging_iter()]
    assert ids == [customer.id]


def test_basic_auth_is_accepted(tenant):
    resp = raw("POST", "/v1/customers", key=tenant.sk, auth="basic", data={"email": "basic@example.com"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    fs.assert_valid(body, "customer")
    assert body["email"] == "basic@example.com"
    # the same tenant as Bearer auth with that key
    assert tenant.v1.customers.retrieve(body["id"]).email == "basic@example.com"
