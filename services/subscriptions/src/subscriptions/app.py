"""The subscriptions process: servicekit's shell around this service's own components."""

from litestar import Litestar

from billing_events.postgres import Migration
from servicekit import Service
from subscriptions.bootstrap import install
from subscriptions.settings import Settings

# Schema migrations of this service, applied at start in its own schema (DB_SCHEMA).
MIGRATIONS: list[Migration] = []


def create_app(settings: Settings) -> Litestar:
    service = Service(settings, migrations=MIGRATIONS)
    register(service, settings)
    return service.build_app()


def register(service: Service, settings: Settings) -> None:
    """Wire this service's own parts into ``service``; see servicekit.service.Service.

    Migrations (``service.add_migrations``), components started after the pool and the
    producer (``service.add_component``), background tasks such as the outbox relay
    (``service.add_task``), Kafka handlers (``service.broker.subscriber(...)``), routes
    (``service.add_routes``) and readiness checks (``service.add_check``) go here.
    """
    # The subscriptions service's consumers, outbox relay and migrations: see
    # subscriptions.bootstrap.
    install(service, settings)
