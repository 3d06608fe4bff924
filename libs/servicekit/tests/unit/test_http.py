"""Correlation ids on HTTP requests, /healthz and /readyz."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import structlog
from litestar import Litestar, get
from litestar.params import FromPath

from servicekit.correlation import CorrelationIdMiddleware, current_correlation_id
from servicekit.health import CheckFailed, Phase, Readiness, health_routes
from servicekit.logging import configure_logging


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=stream)
    yield stream
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def make_app(readiness: Readiness) -> Litestar:
    @get("/whoami", sync_to_thread=False)
    def whoami() -> dict[str, str | None]:
        structlog.stdlib.get_logger("handler").info("handling")
        return {"correlation_id": current_correlation_id()}

    @get("/s/{url_token:str}", sync_to_thread=False)
    def open_link(url_token: FromPath[str]) -> str:
        return "ok"

    return Litestar(
        route_handlers=[whoami, open_link, *health_routes(readiness, "sample")],
        middleware=[CorrelationIdMiddleware()],
        logging_config=None,
    )


def client(app: Litestar) -> httpx.AsyncClient:
    # httpx types the ASGI callable loosely; Litestar's signature is stricter.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://t")


async def test_the_caller_s_correlation_id_is_used_logged_and_echoed(
    log_stream: io.StringIO,
) -> None:
    async with client(make_app(Readiness())) as http:
        answer = await http.get("/whoami", headers={"X-Correlation-ID": "abc-123"})
        by_request_id = await http.get("/whoami", headers={"X-Request-ID": "req-9"})
    assert answer.json() == {"correlation_id": "abc-123"}
    assert answer.headers["x-correlation-id"] == "abc-123"
    assert by_request_id.headers["x-correlation-id"] == "req-9"

    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    handling = [r for r in records if r["event"] == "handling"]
    access = [r for r in records if r["event"] == "request"]
    assert [r["correlation_id"] for r in handling] == ["abc-123", "req-9"]
    assert access[0]["correlation_id"] == "abc-123"
    assert access[0]["status"] == 200
    assert access[0]["path"] == "/whoami"


async def test_no_access_line_is_made_below_the_configured_level(
    log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    made: list[object] = []
    monkeypatch.setattr("servicekit.correlation.log.log", lambda *args, **kwargs: made.append(args))
    async with client(make_app(Readiness())) as http:
        answer = await http.get("/whoami", headers={"X-Correlation-ID": "abc-123"})
    assert answer.headers["x-correlation-id"] == "abc-123"
    assert made == []  # structlog was not even asked
    assert '"event":"request"' not in log_stream.getvalue()


async def test_secret_path_parameters_and_queries_stay_out_of_the_log(
    log_stream: io.StringIO,
) -> None:
    async with client(make_app(Readiness())) as http:
        answer = await http.get("/s/Zm9vYmFyc2VjcmV0dG9rZW4", params={"code": "q-secret"})
    assert answer.status_code == 200
    # Every line but the test client's own (httpx logs the URL it requested).
    output = "\n".join(
        line for line in log_stream.getvalue().splitlines() if '"logger":"httpx"' not in line
    )
    assert "Zm9vYmFyc2VjcmV0dG9rZW4" not in output
    assert "q-secret" not in output
    assert '"path":"/s/***"' in output


async def test_a_missing_or_unreasonable_id_is_replaced_by_a_uuid() -> None:
    async with client(make_app(Readiness())) as http:
        fresh = await http.get("/whoami")
        hostile = await http.get("/whoami", headers={"X-Correlation-ID": "x" * 500})
    for answer in (fresh, hostile):
        header = answer.headers["x-correlation-id"]
        assert uuid.UUID(header)
        assert answer.json()["correlation_id"] == header
    assert current_correlation_id() is None  # nothing leaks out of the request


async def test_healthz_answers_while_readyz_follows_the_phase_and_the_checks() -> None:
    readiness = Readiness(timeout=0.2)
    database_up = True

    async def database() -> str:
        if not database_up:
            raise CheckFailed("connection refused")
        return "ok"

    async def slow() -> None:
        await asyncio.sleep(5)

    readiness.add("database", database)
    async with client(make_app(readiness)) as http:
        assert (await http.get("/healthz")).status_code == 200
        starting = await http.get("/readyz")
        assert starting.status_code == 503
        assert starting.json()["status"] == "starting"

        readiness.phase = Phase.RUNNING
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"]["ok"] is True

        database_up = False
        readiness.add("slow", slow)
        failing = (await http.get("/readyz")).json()
        assert failing["status"] == "not ready"
        assert failing["checks"]["database"] == {
            "ok": False,
            "detail": "connection refused",
            "duration_ms": failing["checks"]["database"]["duration_ms"],
        }
        assert failing["checks"]["slow"]["detail"] == "timed out after 0.2s"

        readiness.phase = Phase.STOPPING
        stopping = await http.get("/readyz")
        assert stopping.status_code == 503
        assert stopping.json()["status"] == "stopping"
        assert (await http.get("/healthz")).status_code == 200


def test_a_check_name_is_registered_once() -> None:
    readiness = Readiness()

    async def check() -> None:
        return None

    readiness.add("x", check)
    with pytest.raises(ValueError, match="twice"):
        readiness.add("x", check)
