"""GET /metrics, read with the Prometheus project's own text-format parser (prometheus_client): the
families an operator alerts on exist, and the request counter moves when the SDK makes requests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from conftest import raw

ROUTE = "/v1/customers/{customer}"


def scrape() -> dict:
    resp = raw("GET", "/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def retrieves(families: dict) -> float:
    family = families.get("finconn_http_requests")
    if family is None:
        return 0.0
    return sum(
        s.value
        for s in family.samples
        if s.name == "finconn_http_requests_total"
        and s.labels.get("route") == ROUTE
        and s.labels.get("method") == "GET"
        and s.labels.get("status") == "200"
    )


def test_request_counters_move_and_gauges_exist(tenant):
    customer = tenant.v1.customers.create(params={"email": "metrics@example.com"})
    tenant.v1.customers.retrieve(customer.id)
    before = retrieves(scrape())
    assert before >= 1
    for _ in range(3):
        tenant.v1.customers.retrieve(customer.id)
    families = scrape()
    assert retrieves(families) == before + 3
    # The raw path (with the id) is never a label: the route template is.
    assert not any(customer.id in str(s.labels) for f in families.values() for s in f.samples)

    duration = families["finconn_http_request_duration_seconds"]
    assert duration.type == "histogram"
    # One series per method on the route (other tests POST and DELETE it too): the GETs made here.
    gets = [
        s.value
        for s in duration.samples
        if s.name == "finconn_http_request_duration_seconds_count"
        and s.labels.get("route") == ROUTE
        and s.labels.get("method", "GET") == "GET"
    ]
    assert gets and sum(gets) >= 4
    assert families["finconn_jobs_due"].type == "gauge"
    assert families["finconn_jobs_oldest_due_age_seconds"].type == "gauge"
    pool = {s.labels["state"]: s.value for s in families["finconn_db_pool_connections"].samples}
    assert pool["open"] >= 1 and pool["open"] >= pool["idle"]


def test_refused_requests_are_counted_by_status(tenant):
    def unauthorized(families):
        family = families.get("finconn_http_requests")
        return sum(
            s.value for s in (family.samples if family else []) if s.labels.get("status") == "401"
        )

    before = unauthorized(scrape())
    assert raw("GET", "/v1/customers", key="sk_test_").status_code == 401
    assert unauthorized(scrape()) == before + 1
