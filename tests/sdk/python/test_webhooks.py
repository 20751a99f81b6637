"""Webhooks through stripe-python: endpoints, events, and deliveries verified with stripe.Webhook.construct_event."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
import stripe

import finconn_schema as fs
from conftest import raw, raw_json


class Receiver:
    """A local webhook receiver that keeps every delivery (raw body and Stripe-Signature)."""

    def __init__(self):
        self.got = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.got.append((body, self.headers.get("Stripe-Signature")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n=1, timeout=15.0):
        deadline = time.monotonic() + timeout
        while len(self.got) < n:
            assert time.monotonic() < deadline, f"only {len(self.got)} deliveries after {timeout}s"
            time.sleep(0.05)
        return self.got

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def link(tenant):
    customer = tenant.v1.customers.create(params={"email": "hook@example.com"})
    session = tenant.v1.financial_connections.sessions.create(
        params={"account_holder": {"type": "customer", "customer": customer.id}, "permissions": ["balances"]}
    )
    done = raw(
        "POST",
        f"/v1/test_helpers/financial_connections/sessions/{session.id}/complete",
        key=tenant.sk,
        data={"institution": "fcinst_TestInstitution", "accounts": ["Success"]},
    )
    assert done.status_code == 200, done.text
    return done.json()["accounts"]["data"][0]["id"]


def test_deliveries_verify_with_construct_event(tenant, receiver):
    endpoint = tenant.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["financial_connections.account.created"]}
    )
    fs.assert_valid(raw_json(endpoint), "webhook_endpoint")
    assert endpoint.secret.startswith("whsec_")
    account_id = link(tenant)
    [(body, signature)] = receiver.wait(1)
    event = stripe.Webhook.construct_event(body.decode(), signature, endpoint.secret)
    assert event.type == "financial_connections.account.created"
    assert event.data.object.id == account_id
    fs.assert_valid(event.to_dict(), "event")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), signature, "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode().replace("created", "deleted", 1), signature, endpoint.secret)


def test_events_are_listed_and_retrieved(tenant, receiver):
    tenant.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    account_id = link(tenant)
    tenant.v1.financial_connections.accounts.disconnect(account_id)
    receiver.wait(2)
    events = tenant.v1.events.list(params={"type": "financial_connections.account.*"})
    fs.assert_list_valid(raw_json(events), "event", "/v1/events")
    assert [e.type for e in events.data] == [
        "financial_connections.account.disconnected",
        "financial_connections.account.created",
    ]
    one = tenant.v1.events.retrieve(events.data[0].id)
    fs.assert_valid(raw_json(one), "event")
    assert one.data.object.status == "disconnected"
    assert one.request.id is not None


def test_webhook_endpoints_crud(tenant):
    created = tenant.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hooks", "enabled_events": ["*"], "description": "d", "metadata": {"k": "v"}}
    )
    got = tenant.v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in raw_json(got)
    fs.assert_valid(raw_json(got), "webhook_endpoint")
    updated = tenant.v1.webhook_endpoints.update(created.id, params={"disabled": True})
    assert updated.status == "disabled"
    listed = tenant.v1.webhook_endpoints.list()
    fs.assert_list_valid(raw_json(listed), "webhook_endpoint", "/v1/webhook_endpoints")
    deleted = tenant.v1.webhook_endpoints.delete(created.id)
    fs.assert_valid(raw_json(deleted), "deleted_webhook_endpoint")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        tenant.v1.webhook_endpoints.retrieve(created.id)
    assert exc.value.http_status == 404


def test_resend_delivers_an_event_again_to_one_endpoint(tenant, receiver):
    endpoint = tenant.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["financial_connections.account.created"]}
    )
    link(tenant)
    [(first, _)] = receiver.wait(1)
    event_id = stripe.Webhook.construct_event(first.decode(), receiver.got[0][1], endpoint.secret).id
    resp = tenant.client.raw_request(
        "post", f"/v1/test_helpers/events/{event_id}/resend", webhook_endpoint=endpoint.id
    )
    resent = tenant.client.deserialize(resp, api_mode="V1")
    assert isinstance(resent, stripe.Event) and resent.id == event_id
    _, (body, signature) = receiver.wait(2)
    again = stripe.Webhook.construct_event(body.decode(), signature, endpoint.secret)
    assert again.id == event_id and again.type == "financial_connections.account.created"
    with pytest.raises(stripe.InvalidRequestError) as e:
        tenant.client.raw_request("post", f"/v1/test_helpers/events/{event_id}/resend", webhook_endpoint="we_nope")
    assert e.value.param == "webhook_endpoint"
