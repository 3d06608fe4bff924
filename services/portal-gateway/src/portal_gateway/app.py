"""The portal-gateway process: servicekit's shell around this service's own components."""

from litestar import Litestar

from billing_events.postgres import Migration
from portal_gateway.bootstrap import openapi_config, register_gateway
from portal_gateway.settings import Settings
from servicekit import Service

# Schema migrations of this service, applied at start in its own schema (DB_SCHEMA).
MIGRATIONS: list[Migration] = []


def create_app(settings: Settings) -> Litestar:
    service = Service(settings, migrations=MIGRATIONS)
    register(service, settings)
    return service.build_app(openapi_config=openapi_config(settings))


def register(service: Service, settings: Settings) -> None:
    """Wire this service's own parts into ``service``; see servicekit.service.Service.

    Migrations (``service.add_migrations``), components started after the pool and the
    producer (``service.add_component``), background tasks such as the outbox relay
    (``service.add_task``), Kafka handlers (``service.broker.subscriber(...)``), routes
    (``service.add_routes``) and readiness checks (``service.add_check``) go here.
    """
    # Merchant API, admin API, command path, projections and the portal: see bootstrap.
    register_gateway(service, settings)
