"""Test clocks through stripe-python: the clock object, advancing, customers on a clock,
Financial Connections data on the clock's time, deletion and events.

Every clock, customer, account and list that comes back is validated against the spec
(``test_helpers.test_clock``, ``deleted_test_helpers.test_clock``, ``customer``, ...).
Advancing is asynchronous: a test polls the clock (every 0.1 s, at most 60 s) until it is
``ready``, as an integrator would.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pytest
import stripe

import finconn_schema as fs
from conftest import assert_stripe_error, keys_create, make_client, raw, raw_json

DAY = 86400
F = 1_700_000_000  # a fixed past time (2023-11-14T22:13:20Z)
TWO_YEARS = 731 * DAY
CLOCK = "test_helpers.test_clock"
DELETED_CLOCK = "deleted_test_helpers.test_clock"
CLOCKS_URL = "/v1/test_helpers/test_clocks"
PUBLISHABLE = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. "
    "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)
ANY = object()  # an error field whose value the contract does not fix (but must still be well-formed)


# --- helpers ----------------------------------------------------------------


def clocks(tenant):
    return tenant.v1.test_helpers.test_clocks


def create_clock(tenant, **params):
    params.setdefault("frozen_time", F)
    clock = clocks(tenant).create(params=params)
    fs.assert_valid(raw_json(clock), CLOCK)
    return clock


def wait_ready(tenant, clock_id: str, timeout: float = 60.0):
    """Retrieve until the clock is `ready` (every 0.1 s, at most `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        clock = clocks(tenant).retrieve(clock_id)
        data = raw_json(clock)
        fs.assert_valid(data, CLOCK)
        if data["status"] == "ready":
            assert data["status_details"] == {}, data
            return clock
        assert data["status"] == "advancing", f"clock ended {data['status']}: {data}"
        assert set(data["status_details"]) == {"advancing"}, data
        assert time.monotonic() < deadline, f"clock {clock_id} still advancing after {timeout}s: {data}"
        time.sleep(0.1)


def start_advance(tenant, clock_id: str, to: int, previous: int):
    """One advance call: it answers at once, `advancing` towards `to` (or already `ready` there)."""
    clock = clocks(tenant).advance(clock_id, params={"frozen_time": to})
    data = raw_json(clock)
    fs.assert_valid(data, CLOCK)
    assert data["id"] == clock_id
    assert data["status"] in ("advancing", "ready"), data
    if data["status"] == "advancing":
        assert data["status_details"] == {"advancing": {"target_frozen_time": to}}, data
        assert previous <= data["frozen_time"] <= to, data
    else:
        assert data["status_details"] == {}, data
        assert data["frozen_time"] == to, data
    return clock


def advance(tenant, clock_id: str, to: int, previous: int):
    """Advance and wait until ready; the clock then stands exactly at `to`."""
    start_advance(tenant, clock_id, to, previous)
    ready = wait_ready(tenant, clock_id)
    assert ready.frozen_time == to, raw_json(ready)
    return ready


def check_error(
    exc: BaseException,
    cls: type,
    *,
    status: int,
    code: Any = None,
    param: Any = None,
    message: Any = ANY,
    type_: str = "invalid_request_error",
    contains: Optional[str] = None,
) -> dict:
    """Like conftest.assert_stripe_error, for errors whose wording (or code) the contract leaves open.

    ``ANY`` accepts any value (code and message must still be well-formed); ``None`` means absent.
    """
    if message is not ANY and code is not ANY and param is not ANY:
        return assert_stripe_error(exc, cls, status=status, message=message, type_=type_, code=code, param=param)
    assert type(exc) is cls, f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    assert exc.http_status == status, (exc.http_status, exc.json_body)
    body = exc.json_body
    fs.assert_valid(body, "error")
    err = body["error"]
    assert err["type"] == type_, err
    assert isinstance(err.get("message"), str) and err["message"], err
    if message is not ANY:
        assert err["message"] == message, err
    if contains is not None:
        assert contains in err["message"], err
    if code is not ANY:
        assert err.get("code") == code, err
    if param is not ANY:
        assert err.get("param") == param, err
    assert all(v is not None for v in err.values()), f"null-valued keys in {err}"
    if err.get("code") is None:
        assert "doc_url" not in err, err
    else:
        assert err.get("doc_url") == "https://stripe.com/docs/error-codes/" + err["code"].replace("_", "-"), err
    assert exc.user_message == err["message"]
    if isinstance(exc, stripe.InvalidRequestError):
        assert exc.code == err.get("code")
        assert exc.param == err.get("param")
    return err


def assert_missing_clock(err: BaseException, clock_id: str) -> None:
    """A clock id in the path that the key cannot see: 404 like every other object (errors.md §5.1)."""
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=404,
        code="resource_missing",
        param="id",
        message=f"No such test_helpers.test_clock: '{clock_id}'",
    )


def raises(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as exc:
        call()
    return exc.value


def link(tenant, customer_id, permissions=("balances",), prefetch=("balances",), accounts=("Success",)):
    """A session for `customer_id`, completed with the test helper at Test Institution."""
    params = {"account_holder": {"type": "customer", "customer": customer_id}, "permissions": list(permissions)}
    if prefetch:
        params["prefetch"] = list(prefetch)
    session = tenant.v1.financial_connections.sessions.create(params=params)
    done = raw(
        "POST",
        f"/v1/test_helpers/financial_connections/sessions/{session.id}/complete",
        key=tenant.sk,
        data={"institution": "fcinst_TestInstitution", "accounts": list(accounts)},
    )
    assert done.status_code == 200, done.text
    return [a["id"] for a in done.json()["accounts"]["data"]]


def poll_refresh(tenant, account_id, field, timeout=30.0):
    """Retrieve the account until `field`'s refresh exists and is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        acct = tenant.v1.financial_connections.accounts.retrieve(account_id)
        refresh = raw_json(acct)[field]
        if refresh is not None and refresh["status"] != "pending":
            fs.assert_valid(raw_json(acct), "financial_connections.account")
            return acct
        assert time.monotonic() < deadline, f"{field} still pending after {timeout}s: {refresh}"
        time.sleep(0.1)


def all_transactions(tenant, account_id, **params):
    out = []
    page = tenant.v1.financial_connections.transactions.list(params={"account": account_id, "limit": 100, **params})
    fs.assert_list_valid(raw_json(page), "financial_connections.transaction", "/v1/financial_connections/transactions")
    for t in page.auto_paging_iter():
        out.append(t)
    return out


# --- the object -------------------------------------------------------------


def test_create_returns_a_ready_clock_at_frozen_time(tenant):
    before = int(time.time())
    clock = create_clock(tenant, frozen_time=F, name="Monthly renewal")
    after = int(time.time())
    data = raw_json(clock)
    assert clock.id.startswith("clock_")
    assert data["object"] == "test_helpers.test_clock"
    assert data["livemode"] is False
    assert data["frozen_time"] == F
    assert data["name"] == "Monthly renewal"
    assert data["status"] == "ready"
    assert data["status_details"] == {}
    # created is the real time of the call, not the frozen time
    assert before - 60 <= data["created"] <= after + 60, data
    assert data["deletes_after"] == data["created"] + 7 * DAY
    assert isinstance(clock, stripe.test_helpers.TestClock)


def test_name_is_null_when_not_given(tenant):
    data = raw_json(create_clock(tenant, frozen_time=F + 5))
    assert "name" in data and data["name"] is None
    assert data["frozen_time"] == F + 5


def test_a_future_frozen_time_is_fine(tenant):
    future = int(time.time()) + 30 * DAY
    assert raw_json(create_clock(tenant, frozen_time=future))["frozen_time"] == future


def test_retrieve_returns_what_create_returned(tenant):
    created = create_clock(tenant, name="r")
    fetched = clocks(tenant).retrieve(created.id)
    fs.assert_valid(raw_json(fetched), CLOCK)
    assert raw_json(fetched) == raw_json(created)


def test_clock_ids_are_unique(tenant):
    ids = {create_clock(tenant).id for _ in range(5)}
    assert len(ids) == 5
    assert all(i.startswith("clock_") for i in ids)


def test_name_of_300_characters_is_accepted_and_301_refused(tenant):
    ok = create_clock(tenant, name="N" * 300)
    assert ok.name == "N" * 300
    err = raises(lambda: clocks(tenant).create(params={"frozen_time": F, "name": "N" * 301}))
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        param="name",
        message="Invalid string: NNNNNNNNNN...NNNNNNNNNN; must be at most 300 characters",
    )


# --- create / advance parameter errors ---------------------------------------


def test_create_without_frozen_time(tenant):
    err = raises(lambda: clocks(tenant).create(params={"name": "no time"}))
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_missing",
        param="frozen_time",
        message="Missing required param: frozen_time.",
    )
    # nothing was created
    assert clocks(tenant).list().data == []


@pytest.mark.parametrize("value", ["soon", "1700000000.5", "17e8", "0x10"])
def test_create_with_a_non_integer_frozen_time(tenant, value):
    err = raises(lambda: clocks(tenant).create(params={"frozen_time": value}))
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_invalid_integer",
        param="frozen_time",
        message=f"Invalid integer: {value}",
    )


def test_create_with_an_empty_frozen_time(tenant):
    """An empty value is either not an integer (errors.md §4.4) or, "" meaning unset, a missing param."""
    err = raises(lambda: clocks(tenant).create(params={"frozen_time": ""}))
    body = check_error(err, stripe.InvalidRequestError, status=400, code=ANY, param="frozen_time", message=ANY)
    assert (body.get("code"), body["message"]) in (
        ("parameter_invalid_integer", "Invalid integer: "),
        ("parameter_missing", "Missing required param: frozen_time."),
    ), body


@pytest.mark.parametrize("param", ["foo", "metadata[k]", "status"])
def test_create_with_an_unknown_parameter(tenant, param):
    params: dict = {"frozen_time": F}
    if param == "metadata[k]":
        params["metadata"] = {"k": "v"}  # a test clock has no metadata
    else:
        params[param] = "x"
    err = raises(lambda: clocks(tenant).create(params=params))
    assert err.http_status == 400
    # `metadata[k]` may be reported as the object (`metadata`) or the leaf
    expected = ("metadata", "metadata[k]") if param == "metadata[k]" else (param,)
    assert err.param in expected, err.json_body
    check_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_unknown",
        param=err.param,
        message=f"Received unknown parameter: {err.param}",
    )
    assert clocks(tenant).list().data == []


def test_advance_parameter_errors(tenant):
    clock = create_clock(tenant, frozen_time=F)
    advance_ = clocks(tenant).advance

    err = raises(lambda: advance_(clock.id, params={}))
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_missing",
        param="frozen_time",
        message="Missing required param: frozen_time.",
    )
    err = raises(lambda: advance_(clock.id, params={"frozen_time": "tomorrow"}))
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_invalid_integer",
        param="frozen_time",
        message="Invalid integer: tomorrow",
    )
    err = raises(lambda: advance_(clock.id, params={"frozen_time": F + DAY, "name": "renamed"}))
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_unknown",
        param="name",
        message="Received unknown parameter: name",
    )
    # none of these moved the clock
    assert raw_json(clocks(tenant).retrieve(clock.id)) == raw_json(clock)


@pytest.mark.parametrize(
    "delta",
    [0, -1, -DAY, TWO_YEARS + 1, 3 * 365 * DAY],
    ids=["same-time", "one-second-back", "one-day-back", "two-years-and-a-second", "three-years"],
)
def test_advance_to_a_time_not_after_now_or_beyond_two_years_is_refused(tenant, delta):
    clock = create_clock(tenant, frozen_time=F)
    err = raises(lambda: clocks(tenant).advance(clock.id, params={"frozen_time": F + delta}))
    check_error(err, stripe.InvalidRequestError, status=400, code=ANY, param="frozen_time")
    after = clocks(tenant).retrieve(clock.id)
    assert raw_json(after) == raw_json(clock), "a refused advance must not move or start the clock"


def test_advance_to_exactly_two_years_later_is_accepted(tenant):
    clock = create_clock(tenant, frozen_time=F)
    advance(tenant, clock.id, F + TWO_YEARS, F)


# --- advancing --------------------------------------------------------------


def test_advance_answers_at_once_and_becomes_ready_at_the_target(tenant):
    clock = create_clock(tenant, frozen_time=F, name="adv")
    target = F + 3 * DAY + 3600
    started = start_advance(tenant, clock.id, target, F)
    data = raw_json(started)
    # the rest of the object is unchanged by advancing
    for k in ("id", "created", "deletes_after", "livemode", "name", "object"):
        assert data[k] == raw_json(clock)[k], k
    ready = wait_ready(tenant, clock.id)
    rd = raw_json(ready)
    assert rd["frozen_time"] == target
    assert rd["status"] == "ready" and rd["status_details"] == {}
    for k in ("id", "created", "deletes_after", "livemode", "name", "object"):
        assert rd[k] == raw_json(clock)[k], k

    # and again, from the new frozen time
    again = advance(tenant, clock.id, target + 60, target)
    assert raw_json(again)["frozen_time"] == target + 60
    # the new frozen time is now the lower bound: the old target is refused
    err = raises(lambda: clocks(tenant).advance(clock.id, params={"frozen_time": target}))
    check_error(err, stripe.InvalidRequestError, status=400, code=ANY, param="frozen_time")
    # and the two-year limit counts from the new frozen time
    advance(tenant, clock.id, target + 60 + TWO_YEARS, target + 60)


def test_a_second_advance_while_advancing_is_refused(tenant):
    """While a clock is advancing, another advance is 400. An advance with work to do (a customer
    on the clock whose account refreshes its transactions every day) is caught while advancing."""
    clock = create_clock(tenant, frozen_time=F)
    customer = tenant.v1.customers.create(params={"email": "busy@example.com", "test_clock": clock.id})
    [acct_id] = link(tenant, customer.id, permissions=["transactions"], prefetch=[])
    tenant.v1.financial_connections.accounts.subscribe(acct_id, params={"features": ["transactions"]})
    poll_refresh(tenant, acct_id, "transaction_refresh")

    now = F
    refused = 0
    answered_ready = 0
    for _ in range(5):
        target = now + 60 * DAY
        first = start_advance(tenant, clock.id, target, now)
        if first.status == "advancing":
            try:
                clocks(tenant).advance(clock.id, params={"frozen_time": target + DAY})
            except stripe.StripeError as e:
                check_error(e, stripe.InvalidRequestError, status=400, code=ANY, param=ANY)
                refused += 1
                ready = wait_ready(tenant, clock.id)
                assert ready.frozen_time == target, "the refused advance must not change the target"
                break
            # accepted: the first must already have finished; the clock goes on to the second target
            target += DAY
        else:
            answered_ready += 1
        ready = wait_ready(tenant, clock.id)
        assert ready.frozen_time == target
        now = target
    assert answered_ready == 0, "finconn answers an advance with 'advancing' and finishes it in a job"
    assert refused == 1, "a second advance was accepted each time the first answered 'advancing'"


# --- list -------------------------------------------------------------------


def test_list_is_newest_first_and_paginates(tenant):
    c1, c2, c3, c4 = (create_clock(tenant, name=f"c{i}", frozen_time=F + i).id for i in range(1, 5))

    page1 = clocks(tenant).list(params={"limit": 2})
    fs.assert_list_valid(raw_json(page1), CLOCK, CLOCKS_URL)
    assert [c.id for c in page1.data] == [c4, c3]
    assert page1.has_more is True

    page2 = clocks(tenant).list(params={"limit": 2, "starting_after": c3})
    fs.assert_list_valid(raw_json(page2), CLOCK, CLOCKS_URL)
    assert [c.id for c in page2.data] == [c2, c1]
    assert page2.has_more is False

    back = clocks(tenant).list(params={"limit": 2, "ending_before": c1})
    fs.assert_list_valid(raw_json(back), CLOCK, CLOCKS_URL)
    assert [c.id for c in back.data] == [c3, c2]
    assert back.has_more is True

    everything = clocks(tenant).list()
    fs.assert_list_valid(raw_json(everything), CLOCK, CLOCKS_URL)
    assert [c.id for c in everything.data] == [c4, c3, c2, c1]
    assert everything.has_more is False
    assert [c.frozen_time for c in everything.data] == [F + 4, F + 3, F + 2, F + 1]
    # the listed objects are the retrieved ones
    assert everything.data[0].to_dict() == raw_json(clocks(tenant).retrieve(c4))

    forwards = [c.id for c in clocks(tenant).list(params={"limit": 1}).auto_paging_iter()]
    assert forwards == [c4, c3, c2, c1]


def test_list_default_limit_is_10(tenant):
    ids = [create_clock(tenant).id for _ in range(11)]
    page = clocks(tenant).list()
    assert [c.id for c in page.data] == list(reversed(ids))[:10]
    assert page.has_more is True


def test_list_of_a_new_tenant_is_empty(tenant):
    page = clocks(tenant).list()
    assert raw_json(page) == {"object": "list", "data": [], "has_more": False, "url": CLOCKS_URL}


@pytest.mark.parametrize("param", ["status", "name", "created"])
def test_list_has_no_filters(tenant, param):
    create_clock(tenant, name="x")
    err = raises(lambda: clocks(tenant).list(params={param: "ready"}))
    assert_stripe_error(
        err,
        stripe.InvalidRequestError,
        status=400,
        code="parameter_unknown",
        param=param,
        message=f"Received unknown parameter: {param}",
    )


@pytest.mark.parametrize(
    "limit,message",
    [
        (0, "This value must be greater than or equal to 1."),
        (101, "This value must be less than or equal to 100."),
    ],
)
def test_list_limit_out_of_range(tenant, limit, message):
    err = raises(lambda: clocks(tenant).list(params={"limit": limit}))
    assert_stripe_error(err, stripe.InvalidRequestError, status=400, param="limit", message=message)


# --- delete -----------------------------------------------------------------


def test_delete(tenant):
    keep = create_clock(tenant, name="keep")
    gone = create_clock(tenant, name="gone")
    deleted = clocks(tenant).delete(gone.id)
    data = raw_json(deleted)
    fs.assert_valid(data, DELETED_CLOCK)
    assert data == {"id": gone.id, "object": "test_helpers.test_clock", "deleted": True}
    assert deleted.deleted is True

    for call in (
        lambda: clocks(tenant).retrieve(gone.id),
        lambda: clocks(tenant).delete(gone.id),
        lambda: clocks(tenant).advance(gone.id, params={"frozen_time": F + DAY}),
    ):
        err = raises(call)
        assert_missing_clock(err, gone.id)

    listed = clocks(tenant).list()
    fs.assert_list_valid(raw_json(listed), CLOCK, CLOCKS_URL)
    assert [c.id for c in listed.data] == [keep.id]
    # a deleted clock cannot take new customers
    err = raises(lambda: tenant.v1.customers.create(params={"test_clock": gone.id}))
    assert err.http_status in (400, 404)
    check_error(
        err, stripe.InvalidRequestError, status=err.http_status, code="resource_missing", param="test_clock", contains=gone.id
    )


def test_delete_while_advancing_or_after(tenant):
    """A clock can be deleted right after an advance call; it is gone either way."""
    clock = create_clock(tenant)
    start_advance(tenant, clock.id, F + 10 * DAY, F)
    deleted = clocks(tenant).delete(clock.id)
    assert raw_json(deleted) == {"id": clock.id, "object": "test_helpers.test_clock", "deleted": True}
    err = raises(lambda: clocks(tenant).retrieve(clock.id))
    assert_missing_clock(err, clock.id)


def test_unknown_clock(tenant):
    for call in (
        lambda: clocks(tenant).retrieve("clock_doesnotexist"),
        lambda: clocks(tenant).delete("clock_doesnotexist"),
        lambda: clocks(tenant).advance("clock_doesnotexist", params={"frozen_time": F}),
    ):
        err = raises(call)
        assert_missing_clock(err, "clock_doesnotexist")


# --- keys and tenants -------------------------------------------------------


def test_another_tenants_clock_is_missing(tenant, other_tenant):
    clock = create_clock(tenant, name="mine")
    for call in (
        lambda: clocks(other_tenant).retrieve(clock.id),
        lambda: clocks(other_tenant).advance(clock.id, params={"frozen_time": F + DAY}),
        lambda: clocks(other_tenant).delete(clock.id),
    ):
        err = raises(call)
        assert_missing_clock(err, clock.id)
    assert clocks(other_tenant).list().data == []
    # nor can its customers join it
    err = raises(lambda: other_tenant.v1.customers.create(params={"test_clock": clock.id}))
    check_error(
        err, stripe.InvalidRequestError, status=err.http_status, code="resource_missing", param="test_clock", contains=clock.id
    )
    assert err.http_status in (400, 404)
    # untouched for its owner
    assert raw_json(clocks(tenant).retrieve(clock.id)) == raw_json(clock)


def test_publishable_key_is_refused_on_every_endpoint(tenant):
    clock = create_clock(tenant)
    public = make_client(tenant.pk).v1.test_helpers.test_clocks
    for call in (
        lambda: public.create(params={"frozen_time": F}),
        lambda: public.list(),
        lambda: public.retrieve(clock.id),
        lambda: public.advance(clock.id, params={"frozen_time": F + DAY}),
        lambda: public.delete(clock.id),
    ):
        assert_stripe_error(
            raises(call), stripe.PermissionError, status=403, code="secret_key_required", message=PUBLISHABLE
        )
    assert [c.id for c in clocks(tenant).list().data] == [clock.id]
    assert raw_json(clocks(tenant).retrieve(clock.id)) == raw_json(clock)


def test_live_secret_key_is_refused_on_every_endpoint():
    test = keys_create(live=False)
    live = keys_create(live=True, account=test.account)
    test_clock = test.client.v1.test_helpers.test_clocks.create(params={"frozen_time": F})
    lc = live.client.v1.test_helpers.test_clocks
    for call in (
        lambda: lc.create(params={"frozen_time": F}),
        lambda: lc.list(),
        lambda: lc.retrieve(test_clock.id),
        lambda: lc.advance(test_clock.id, params={"frozen_time": F + DAY}),
        lambda: lc.delete(test_clock.id),
        lambda: lc.retrieve("clock_doesnotexist"),
    ):
        check_error(raises(call), stripe.InvalidRequestError, status=400, code=ANY, param=ANY)
    # the test-mode clock of the same account is untouched
    again = test.client.v1.test_helpers.test_clocks.retrieve(test_clock.id)
    assert raw_json(again) == raw_json(test_clock)


# --- customers on a clock ---------------------------------------------------


def test_customer_created_on_a_clock(tenant):
    clock = create_clock(tenant, name="billing")
    customer = tenant.v1.customers.create(params={"email": "on@example.com", "test_clock": clock.id})
    data = raw_json(customer)
    fs.assert_valid(data, "customer")
    assert data["test_clock"] == clock.id

    fetched = tenant.v1.customers.retrieve(customer.id)
    fs.assert_valid(raw_json(fetched), "customer")
    assert raw_json(fetched)["test_clock"] == clock.id

    expanded = tenant.v1.customers.retrieve(customer.id, params={"expand": ["test_clock"]})
    ed = raw_json(expanded)
    fs.assert_valid(ed, "customer")
    assert ed["test_clock"] == raw_json(clocks(tenant).retrieve(clock.id))
    assert expanded.test_clock.id == clock.id and expanded.test_clock.object == "test_helpers.test_clock"

    # a customer on no clock says null
    plain = tenant.v1.customers.create(params={"email": "off@example.com"})
    assert raw_json(plain)["test_clock"] is None
    fs.assert_valid(raw_json(tenant.v1.customers.retrieve(plain.id, params={"expand": ["test_clock"]})), "customer")
    assert raw_json(tenant.v1.customers.retrieve(plain.id, params={"expand": ["test_clock"]}))["test_clock"] is None


def test_customer_create_expands_test_clock(tenant):
    clock = create_clock(tenant)
    customer = tenant.v1.customers.create(params={"test_clock": clock.id, "expand": ["test_clock"]})
    data = raw_json(customer)
    fs.assert_valid(data, "customer")
    assert data["test_clock"]["id"] == clock.id
    fs.assert_valid(data["test_clock"], CLOCK)


def test_customer_on_a_missing_clock(tenant):
    err = raises(lambda: tenant.v1.customers.create(params={"test_clock": "clock_doesnotexist"}))
    assert err.http_status in (400, 404), err.json_body
    check_error(
        err,
        stripe.InvalidRequestError,
        status=err.http_status,
        code="resource_missing",
        param="test_clock",
        contains="clock_doesnotexist",
    )
    assert tenant.v1.customers.list().data == []


def test_clock_created_with_an_existing_customer_attaches_it(tenant):
    customer = tenant.v1.customers.create(params={"name": "existing"})
    assert raw_json(customer)["test_clock"] is None
    clock = create_clock(tenant, customer=customer.id)
    fetched = tenant.v1.customers.retrieve(customer.id)
    fs.assert_valid(raw_json(fetched), "customer")
    assert raw_json(fetched)["test_clock"] == clock.id
    listed = tenant.v1.customers.list(params={"test_clock": clock.id})
    assert [c.id for c in listed.data] == [customer.id]

    # once on a clock, a customer cannot be attached to another one
    err = raises(lambda: clocks(tenant).create(params={"frozen_time": F, "customer": customer.id}))
    check_error(err, stripe.InvalidRequestError, status=400, code=ANY, param="customer")
    assert [c.id for c in clocks(tenant).list().data] == [clock.id], "the refused create made no clock"
    assert raw_json(tenant.v1.customers.retrieve(customer.id))["test_clock"] == clock.id


def test_clock_created_with_a_missing_customer(tenant):
    err = raises(lambda: clocks(tenant).create(params={"frozen_time": F, "customer": "cus_doesnotexist"}))
    check_error(
        err, stripe.InvalidRequestError, status=400, code="resource_missing", param="customer", contains="cus_doesnotexist"
    )
    assert clocks(tenant).list().data == []


def test_customer_list_leaves_out_clock_customers_unless_asked(tenant):
    clock_a = create_clock(tenant, name="a")
    clock_b = create_clock(tenant, name="b")
    free1 = tenant.v1.customers.create(params={"name": "free1"}).id
    a1 = tenant.v1.customers.create(params={"name": "a1", "test_clock": clock_a.id}).id
    b1 = tenant.v1.customers.create(params={"name": "b1", "test_clock": clock_b.id}).id
    a2 = tenant.v1.customers.create(params={"name": "a2", "test_clock": clock_a.id}).id
    free2 = tenant.v1.customers.create(params={"name": "free2"}).id

    default = tenant.v1.customers.list(params={"limit": 100})
    fs.assert_list_valid(raw_json(default), "customer", "/v1/customers")
    assert [c.id for c in default.data] == [free2, free1]

    on_a = tenant.v1.customers.list(params={"test_clock": clock_a.id})
    fs.assert_list_valid(raw_json(on_a), "customer", "/v1/customers")
    assert [c.id for c in on_a.data] == [a2, a1]
    assert all(c.test_clock == clock_a.id for c in on_a.data)

    on_b = tenant.v1.customers.list(params={"test_clock": clock_b.id})
    assert [c.id for c in on_b.data] == [b1]

    page = tenant.v1.customers.list(params={"test_clock": clock_a.id, "limit": 1})
    assert [c.id for c in page.data] == [a2] and page.has_more is True
    rest = tenant.v1.customers.list(params={"test_clock": clock_a.id, "limit": 1, "starting_after": a2})
    assert [c.id for c in rest.data] == [a1] and rest.has_more is False

    # a clock with no customers lists none
    empty = create_clock(tenant, name="empty")
    assert tenant.v1.customers.list(params={"test_clock": empty.id}).data == []


def test_deleting_a_clock_deletes_its_customers(tenant):
    clock = create_clock(tenant)
    other = create_clock(tenant)
    on1 = tenant.v1.customers.create(params={"name": "on1", "test_clock": clock.id}).id
    on2 = tenant.v1.customers.create(params={"name": "on2", "test_clock": clock.id}).id
    elsewhere = tenant.v1.customers.create(params={"name": "elsewhere", "test_clock": other.id}).id
    free = tenant.v1.customers.create(params={"name": "free"}).id

    clocks(tenant).delete(clock.id)
    for cid in (on1, on2):
        fetched = tenant.v1.customers.retrieve(cid)
        data = raw_json(fetched)
        fs.assert_valid(data, "deleted_customer")
        assert data == {"id": cid, "object": "customer", "deleted": True}
    # customers of other clocks and of none are untouched
    assert raw_json(tenant.v1.customers.retrieve(elsewhere))["test_clock"] == other.id
    assert raw_json(tenant.v1.customers.retrieve(free)).get("deleted") is None
    assert [c.id for c in tenant.v1.customers.list().data] == [free]
    assert [c.id for c in tenant.v1.customers.list(params={"test_clock": other.id}).data] == [elsewhere]


# --- Financial Connections on the clock's time ------------------------------


def test_financial_connections_data_follows_the_clock(tenant):
    clock = create_clock(tenant, frozen_time=F, name="fc")
    customer = tenant.v1.customers.create(params={"email": "fc@example.com", "test_clock": clock.id})
    [acct_id] = link(
        tenant, customer.id, permissions=["balances", "ownership", "transactions"], prefetch=["balances"]
    )

    acct = tenant.v1.financial_connections.accounts.retrieve(acct_id)
    fs.assert_valid(raw_json(acct), "financial_connections.account")
    assert acct.created == F, "an account of a customer on a clock is created at the clock's time"

    # the prefetched balance is fetched at the clock's time
    acct = poll_refresh(tenant, acct_id, "balance_refresh")
    data = raw_json(acct)
    assert data["balance_refresh"]["status"] == "succeeded", data
    assert data["balance_refresh"]["last_attempted_at"] == F, data
    assert data["balance"]["as_of"] <= F, data

    # subscribing fetches the transactions up to the clock's time
    sub = tenant.v1.financial_connections.accounts.subscribe(acct_id, params={"features": ["transactions"]})
    assert sub.subscriptions == ["transactions"]
    acct = poll_refresh(tenant, acct_id, "transaction_refresh")
    tr1 = raw_json(acct)["transaction_refresh"]
    assert tr1["status"] == "succeeded", tr1
    assert tr1["last_attempted_at"] == F, tr1
    first = tr1["id"]
    txns = all_transactions(tenant, acct_id)
    assert txns, "the first refresh found no transactions"
    assert all(t.transacted_at <= F for t in txns), max(t.transacted_at for t in txns)
    assert all(t.transaction_refresh == first for t in txns)

    # three days and an hour later, the daily refreshes have run on the clock's time
    f2 = F + 3 * DAY + 3600
    advance(tenant, clock.id, f2, F)
    acct = poll_refresh(tenant, acct_id, "transaction_refresh")
    tr2 = raw_json(acct)["transaction_refresh"]
    assert tr2["status"] == "succeeded", tr2
    assert tr2["id"] != first, tr2
    assert F + 2 * DAY < tr2["last_attempted_at"] <= f2, tr2
    newer = all_transactions(tenant, acct_id, transaction_refresh={"after": first})
    assert newer, "no transactions were created or changed by the refreshes after the first"
    assert all(t.transaction_refresh != first for t in newer)
    assert all(t.transacted_at <= f2 for t in newer), max(t.transacted_at for t in newer)
    assert any(t.transacted_at > F for t in newer), "no transaction from the days the clock advanced through"
    everything = all_transactions(tenant, acct_id)
    assert all(t.transacted_at <= f2 for t in everything)

    # unsubscribed, the account refreshes no more, however far the clock goes
    unsub = tenant.v1.financial_connections.accounts.unsubscribe(acct_id, params={"features": ["transactions"]})
    assert unsub.subscriptions == []
    f3 = f2 + 2 * DAY
    advance(tenant, clock.id, f3, f2)
    acct = tenant.v1.financial_connections.accounts.retrieve(acct_id)
    tr3 = raw_json(acct)["transaction_refresh"]
    assert tr3["last_attempted_at"] == tr2["last_attempted_at"], (tr2, tr3)
    assert tr3["id"] == tr2["id"], (tr2, tr3)
    # nor did the balance move on by itself
    assert raw_json(acct)["balance_refresh"]["last_attempted_at"] == F


def test_an_account_off_the_clock_keeps_real_time(tenant):
    clock = create_clock(tenant, frozen_time=F)
    tenant.v1.customers.create(params={"name": "on the clock", "test_clock": clock.id})
    customer = tenant.v1.customers.create(params={"name": "no clock"})
    before = time.time()
    [acct_id] = link(tenant, customer.id, permissions=["balances"], prefetch=["balances"])
    acct = poll_refresh(tenant, acct_id, "balance_refresh")
    after = time.time()
    data = raw_json(acct)
    assert before - 60 <= data["created"] <= after + 60, data
    assert before - 60 <= data["balance_refresh"]["last_attempted_at"] <= after + 60, data
    assert data["balance"]["as_of"] > F + 30 * DAY, data


def test_deleting_the_clock_disconnects_its_accounts(tenant):
    clock = create_clock(tenant, frozen_time=F)
    customer = tenant.v1.customers.create(params={"name": "on", "test_clock": clock.id})
    accounts = link(tenant, customer.id, permissions=["balances"], prefetch=["balances"], accounts=["Success", "Savings"])
    assert len(accounts) == 2
    free_customer = tenant.v1.customers.create(params={"name": "free"})
    [free_acct] = link(tenant, free_customer.id, permissions=["balances"], prefetch=[])
    balances = {}
    for acct_id in accounts:
        acct = poll_refresh(tenant, acct_id, "balance_refresh")
        assert acct.status == "active"
        balances[acct_id] = raw_json(acct)["balance"]

    clocks(tenant).delete(clock.id)
    for acct_id in accounts:
        acct = tenant.v1.financial_connections.accounts.retrieve(acct_id)
        data = raw_json(acct)
        fs.assert_valid(data, "financial_connections.account")
        assert data["status"] == "disconnected", data
        assert data["balance"] == balances[acct_id], "data fetched before the clock was deleted stays readable"
    listed = tenant.v1.financial_connections.accounts.list(params={"limit": 10})
    assert {a.id for a in listed.data} == set(accounts) | {free_acct}
    assert tenant.v1.financial_connections.accounts.retrieve(free_acct).status == "active"


# --- events -----------------------------------------------------------------


def test_clock_events(tenant):
    clock = create_clock(tenant, frozen_time=F, name="evented")
    other = create_clock(tenant, frozen_time=F)  # created only
    advance(tenant, clock.id, F + DAY, F)
    clocks(tenant).delete(clock.id)

    # the .ready event may be written just after the status flips; give it a moment
    deadline = time.monotonic() + 15
    while True:
        events = tenant.v1.events.list(params={"type": "test_helpers.test_clock.*", "limit": 100})
        mine = [e for e in events.data if e.data.object.id == clock.id]
        if len(mine) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    fs.assert_list_valid(raw_json(events), "event", "/v1/events")
    assert [e.type for e in mine] == [
        "test_helpers.test_clock.deleted",
        "test_helpers.test_clock.ready",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.created",
    ]
    assert [e.type for e in events.data if e.data.object.id == other.id] == ["test_helpers.test_clock.created"]
    assert len(events.data) == 5
    by_type = {e.type: e for e in mine}
    assert by_type["test_helpers.test_clock.created"].data.object.frozen_time == F
    assert by_type["test_helpers.test_clock.ready"].data.object.frozen_time == F + DAY
    assert by_type["test_helpers.test_clock.ready"].data.object.status == "ready"
    assert by_type["test_helpers.test_clock.advancing"].data.object.status == "advancing"
    one = tenant.v1.events.retrieve(by_type["test_helpers.test_clock.created"].id)
    fs.assert_valid(raw_json(one), "event")
    assert one.data.object.id == clock.id
    # the exact type filter works too
    only = tenant.v1.events.list(params={"type": "test_helpers.test_clock.ready"})
    assert [e.data.object.id for e in only.data] == [clock.id]
