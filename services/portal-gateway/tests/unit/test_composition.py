"""The gateway's composition registers its background work (no database, no broker)."""

from __future__ import annotations

from portal_gateway.bootstrap import register_gateway
from portal_gateway.settings import Settings
from servicekit import Service


def _service(*, include_portal: bool) -> Service:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/unused",
        kafka_bootstrap_servers="127.0.0.1:9",
    )
    service = Service(settings)
    register_gateway(service, settings, include_portal=include_portal)
    return service


def test_ended_portal_sessions_are_purged_periodically() -> None:
    names = _service(include_portal=True).readiness.names
    assert "task:portal-session-purge" in names
    assert "task:idempotency-pruning" in names
    assert "task:outbox-relay" in names


def test_without_the_portal_there_are_no_sessions_to_purge() -> None:
    names = _service(include_portal=False).readiness.names
    assert "task:portal-session-purge" not in names
    assert "task:idempotency-pruning" in names


def test_the_openapi_document_describes_the_new_routes() -> None:
    from litestar import Litestar
    from litestar.testing import TestClient

    from portal_gateway.bootstrap import GatewayRuntime, gateway_routers, openapi_config

    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/unused",
        kafka_bootstrap_servers="127.0.0.1:9",
    )
    runtime = GatewayRuntime(lambda: None, settings)  # the routes are only described here
    app = Litestar(
        route_handlers=gateway_routers(runtime, settings), openapi_config=openapi_config(settings)
    )
    with TestClient(app) as client:
        document = client.get("/schema/openapi.json")
    assert document.status_code == 200, document.text
    paths = document.json()["paths"]
    for path, method in (
        ("/admin/merchants/{merchant_id}/test_clock", "post"),
        ("/admin/merchants/{merchant_id}/test_clock", "get"),
        ("/v1/invoices", "get"),
        ("/v1/invoices/{invoice_id}", "get"),
        ("/v1/subscriptions/{subscription_id}/payment_method", "post"),
    ):
        assert method in paths[path], (path, method)
    parameters = {p["name"] for p in paths["/v1/invoices"]["get"]["parameters"]}
    assert {"subscription", "customer", "limit"} <= parameters
