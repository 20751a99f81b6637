"""finconn's extensions' OpenAPI document, `GET /v1/openapi.json`: every operation it lists is called on the
running finconn, and every answer is checked against it — a documented status, the documented content type,
the body valid against the response schema (OAS30Validator). Stripe objects the document names with
`x-stripe-schema` are validated in full against Stripe's spec subset as well. What the test sends is
validated against the documented request schema first, so the document and the test cannot drift apart."""

from __future__ import annotations

import time
from typing import Any, Optional

import pytest
import requests
from openapi_schema_validator import OAS30Validator

import finconn_schema as fs
from conftest import BASE_URL, form_encode, keys_create
from test_webhooks import Receiver

METHODS = ("get", "post", "delete")


@pytest.fixture(scope="module")
def spec() -> dict:
    resp = requests.get(BASE_URL + "/v1/openapi.json", timeout=15)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    return resp.json()


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references: {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def schema_errors(spec: dict, schema: dict, instance: Any) -> list[str]:
    validator = OAS30Validator({**schema, "components": spec["components"]})
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


class Api:
    """Calls finconn and checks each answer against the document; remembers which operations answered 2xx."""

    def __init__(self, spec: dict, key: Optional[str]):
        self.spec, self.key = spec, key
        self.exercised: set[tuple[str, str]] = set()

    def call(
        self, method: str, template: str, *, path: Optional[dict] = None, data: Optional[dict] = None,
        query: Optional[dict] = None, key: Any = "default", expect: int = 200,
    ) -> requests.Response:
        op = self.spec["paths"][template][method]
        if data is not None:
            body = resolve(self.spec, op["requestBody"])["content"]["application/x-www-form-urlencoded"]["schema"]
            found = schema_errors(self.spec, body, data)
            assert not found, f"{method.upper()} {template}: the test sends undocumented input: {found}"
        url = BASE_URL + template.format(**(path or {}))
        key = self.key if key == "default" else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        resp = requests.request(
            method.upper(), url, headers=headers, timeout=15,
            data=form_encode(data) if data is not None else None,
            params=form_encode(query) if query is not None else None,
        )
        where = f"{method.upper()} {template} → {resp.status_code}"
        assert resp.status_code == expect, f"{where}: {resp.text}"
        documented = op["responses"]
        assert str(resp.status_code) in documented, f"{where}: status not documented ({sorted(documented)})"
        content = resolve(self.spec, documented[str(resp.status_code)]).get("content")
        if content:
            ctype = resp.headers["Content-Type"].split(";")[0].strip()
            assert ctype in content, f"{where}: content type {ctype} not documented ({sorted(content)})"
            if ctype == "application/json":
                schema = content[ctype]["schema"]
                found = schema_errors(self.spec, schema, resp.json())
                assert not found, f"{where}: the answer does not match the document: {found}\n{resp.text[:3000]}"
                stripe_name = resolve(self.spec, schema).get("x-stripe-schema")
                if stripe_name:
                    fs.assert_valid(resp.json(), stripe_name)
        if 200 <= resp.status_code < 300:
            self.exercised.add((method, template))
        return resp


def operations(spec: dict) -> set[tuple[str, str]]:
    return {(m, p) for p, item in spec["paths"].items() for m in item if m in METHODS}


def test_the_document_is_openapi_3_and_leaves_stripes_operations_to_stripes_spec(spec):
    assert spec["openapi"].startswith("3.0.")
    assert "stripe-fc-openapi.json" in spec["info"]["description"]
    ids = [item[m]["operationId"] for p, item in spec["paths"].items() for m in item if m in METHODS]
    assert len(ids) == len(set(ids)), "operationIds are unique"
    stripes = {(m, p) for p, item in fs.load_spec()["paths"].items() for m in item if m in METHODS}
    assert not operations(spec) & stripes, "Stripe's operations are documented by Stripe's spec only"

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for ref in refs(spec):
        resolve(spec, {"$ref": ref})  # a KeyError names a dangling reference
    for name in (s.get("x-stripe-schema") for s in spec["components"]["schemas"].values()):
        if name:
            assert name in fs.schema_names(), name


def wait_for_attempts(api: Api, endpoint: str) -> requests.Response:
    deadline = time.monotonic() + 15
    while True:
        resp = api.call("get", "/v1/webhook_endpoints/{webhook_endpoint}/attempts", path={"webhook_endpoint": endpoint})
        if resp.json()["data"]:
            return resp
        assert time.monotonic() < deadline, "no delivery attempt after 15 s"
        time.sleep(0.1)


def test_every_documented_operation_answers_as_documented(spec, tenant):
    api = Api(spec, tenant.sk)
    # Operations: no key needed.
    api.call("get", "/healthz", key=None)
    ready = api.call("get", "/readyz", key=None).json()
    assert ready["status"] == "ready", ready
    api.call("get", "/metrics", key=None)
    api.call("get", "/v1/openapi.json", key=None)

    # Institutions.
    first = api.call("get", "/v1/financial_connections/institutions", query={"limit": 3}).json()
    assert len(first["data"]) == 3 and first["has_more"]
    after = first["data"][-1]["id"]
    api.call("get", "/v1/financial_connections/institutions", query={"starting_after": after, "limit": 100})
    api.call("get", "/v1/financial_connections/institutions", query={"starting_after": "fcinst_nope"}, expect=400)
    inst = "/v1/financial_connections/institutions/{institution}"
    assert api.call("get", inst, path={"institution": "fcinst_TestInstitution"}).json()["status"] == "active"
    api.call("get", inst, path={"institution": "fcinst_nope"}, expect=404)
    api.call("get", inst, path={"institution": "fcinst_TestInstitution"}, key=None, expect=401)

    # Sessions: complete one, expire another.
    customer = tenant.v1.customers.create(params={"email": "openapi@example.com"})
    holder = {"type": "customer", "customer": customer.id}
    perms = ["balances", "transactions"]
    session = tenant.v1.financial_connections.sessions.create(params={"account_holder": holder, "permissions": perms})
    done = api.call(
        "post", "/v1/test_helpers/financial_connections/sessions/{session}/complete", path={"session": session.id},
        data={"institution": "fcinst_TestInstitution", "accounts": ["Success"]},
    ).json()
    [account] = [a["id"] for a in done["accounts"]["data"]]
    other = tenant.v1.financial_connections.sessions.create(params={"account_holder": holder, "permissions": perms})
    api.call("post", "/v1/test_helpers/financial_connections/sessions/{session}/expire", path={"session": other.id}, data={})

    # Accounts.
    acct = "/v1/test_helpers/financial_connections/accounts/{account}"
    on = {"account": account}
    assert api.call("post", acct + "/deactivate", path=on, data={}).json()["status"] == "inactive"
    assert api.call("post", acct + "/reactivate", path=on, data={}).json()["status"] == "active"
    api.call("post", acct + "/refresh_outcome", path=on, data={"feature": "balance", "outcome": "succeeded"})
    api.call("post", acct + "/balance", path=on, data={"current": 12345, "available": 12000})
    api.call("post", acct + "/balance", path={"account": "fca_nope"}, data={"current": 1}, expect=404)
    txn = api.call(
        "post", acct + "/transactions", path=on, data={"amount": -450, "description": "Coffee", "status": "pending"}
    ).json()
    assert txn["status"] == "pending"
    posted = api.call("post", acct + "/transactions/{transaction}/post", path={**on, "transaction": txn["id"]}, data={})
    assert posted.json()["status"] == "posted"
    txn = api.call("post", acct + "/transactions", path=on, data={"amount": 999, "description": "Refund", "status": "pending"})
    voided = api.call("post", acct + "/transactions/{transaction}/void", path={**on, "transaction": txn.json()["id"]}, data={})
    assert voided.json()["status"] == "void"

    # Institution downtimes.
    down = "/v1/test_helpers/financial_connections/institutions/{institution}/downtime"
    at = {"institution": "fcinst_TestInstitution"}
    assert api.call("post", down, path=at, data={"kind": "unscheduled"}).json()["status"] == "down"
    assert api.call("delete", down, path=at).json()["status"] == "active"

    # Events and webhook attempts: a real delivery to a local receiver.
    receiver = Receiver()
    try:
        endpoint = tenant.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["customer.created"]})
        event = tenant.v1.events.list(params={"type": "financial_connections.account.deactivated"}).data[0]
        resent = api.call(
            "post", "/v1/test_helpers/events/{event}/resend", path={"event": event.id},
            data={"webhook_endpoint": endpoint.id},
        ).json()
        assert resent["id"] == event.id
        attempts = wait_for_attempts(api, endpoint.id).json()
        assert attempts["data"][0]["event"] == event.id and attempts["data"][0]["status_code"] == 200
    finally:
        receiver.close()

    # Test mode only: a live key is refused with the documented envelope.
    live = keys_create(live=True)
    refused = api.call("post", acct + "/balance", path=on, data={"current": 1}, key=live.sk, expect=400)
    assert refused.json()["error"]["message"] == "This endpoint can only be used with a test mode key."

    missing = operations(spec) - api.exercised
    assert not missing, f"documented operations this test did not call successfully: {sorted(missing)}"
