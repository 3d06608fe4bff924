"""What every billing service process shares.

Settings from the environment, structlog with correlation ids, ``/healthz`` and ``/readyz``,
the FastStream Kafka broker and topic creation, ordered start and reverse stop of components,
and a uvicorn runner with a bounded graceful shutdown that freezes what startup built before it
takes work (``servicekit.heap``). A service's ``__main__`` is one call::

    def main() -> None:
        serve(Settings, create_app)
"""

from servicekit.correlation import (
    CORRELATION_HEADER,
    CorrelationIdMiddleware,
    correlation_context,
    current_correlation_id,
)
from servicekit.health import Check, CheckFailed, Readiness
from servicekit.kafka import create_broker, ensure_topics
from servicekit.lifecycle import ComponentFailed
from servicekit.logging import configure_logging, get_logger
from servicekit.runner import request_shutdown, run, serve
from servicekit.service import Service
from servicekit.settings import ServiceSettings, SettingsError, load_settings

__all__ = [
    "CORRELATION_HEADER",
    "Check",
    "CheckFailed",
    "ComponentFailed",
    "CorrelationIdMiddleware",
    "Readiness",
    "Service",
    "ServiceSettings",
    "SettingsError",
    "configure_logging",
    "correlation_context",
    "create_broker",
    "current_correlation_id",
    "ensure_topics",
    "get_logger",
    "load_settings",
    "request_shutdown",
    "run",
    "serve",
]
