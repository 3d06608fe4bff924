"""Correlation ids: one per HTTP request, bound into the logging context and echoed back.

A caller (another service, a load balancer, a test) may send ``X-Correlation-ID`` or
``X-Request-ID``; otherwise a UUID is made. The id is bound with ``structlog.contextvars`` for
the duration of the request, so every log line written while handling it carries it, and it is
returned in the ``X-Correlation-ID`` response header so a user can quote it to support.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CORRELATION_HEADER = "x-correlation-id"
REQUEST_ID_HEADER = "x-request-id"
CORRELATION_KEY = "correlation_id"

# A caller-supplied id lands in logs and headers: accept only a short, plain token.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Path parameters that carry credentials (portal link tokens...) never reach a log line.
_SECRET_PARAM = re.compile(r"token|secret|key|password", re.IGNORECASE)

ACCESS_LOGGER = "servicekit.http"
log = structlog.stdlib.get_logger(ACCESS_LOGGER)
# The stdlib logger behind ``log``: asked first whether a line would be written at all, so that
# at LOG_LEVEL=warning a request does not run structlog's processors (timestamp, context...)
# for an access line that is then dropped.
_access = logging.getLogger(ACCESS_LOGGER)


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def accept_correlation_id(value: str | None) -> str:
    """The caller's id when it is a reasonable token, else a new one."""
    if value and _VALID_ID.match(value):
        return value
    return new_correlation_id()


def current_correlation_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get(CORRELATION_KEY)
    return str(value) if value is not None else None


@contextmanager
def correlation_context(correlation_id: str | uuid.UUID) -> Iterator[str]:
    """Bind a correlation id for the enclosed code (a request, a message, a background job)."""
    value = str(correlation_id)
    with structlog.contextvars.bound_contextvars(**{CORRELATION_KEY: value}):
        yield value


def loggable_path(path: str, path_params: Mapping[str, object] | None) -> str:
    """The request path with secret-looking path parameters masked (the query is never logged)."""
    for name, value in (path_params or {}).items():
        if _SECRET_PARAM.search(name) and isinstance(value, str) and value:
            path = path.replace(value, "***")
    return path


class CorrelationIdMiddleware(ASGIMiddleware):
    """Binds the correlation id, echoes it, and writes one access log line per request."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, quiet_paths: tuple[str, ...] = ("/healthz", "/readyz")) -> None:
        # Probes hit these every few seconds: their access lines go to DEBUG.
        self.quiet_paths = frozenset(quiet_paths)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = dict(scope.get("headers") or [])
        supplied = headers.get(CORRELATION_HEADER.encode()) or headers.get(
            REQUEST_ID_HEADER.encode()
        )
        correlation_id = accept_correlation_id(
            supplied.decode("latin-1") if supplied is not None else None
        )
        status_code = 500
        started = time.perf_counter()
        path = scope.get("path", "")

        async def send_with_header(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                MutableScopeHeaders.from_message(message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        with correlation_context(correlation_id):
            try:
                await next_app(scope, receive, send_with_header)
            finally:
                quiet = path in self.quiet_paths and status_code < 500
                level = logging.DEBUG if quiet else logging.INFO
                if _access.isEnabledFor(level):
                    log.log(
                        level,
                        "request",
                        method=scope.get("method", ""),
                        path=loggable_path(path, scope.get("path_params")),
                        status=status_code,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    )
