"""Liveness and readiness.

``/healthz`` answers as long as the process serves HTTP: an orchestrator restarts the process
when it stops answering. ``/readyz`` runs the registered checks (database, broker, consumers,
background tasks) concurrently, each bounded by a timeout, and answers 503 with the failing
check's detail while the service starts, stops, or has lost a dependency: an orchestrator then
sends it no traffic but does not kill it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

# A check returns a JSON-able detail (or None) when healthy and raises when not.
Check = Callable[[], Awaitable[Any]]


class CheckFailed(Exception):
    """Raised by a check to report a readable reason for not being ready."""


class Phase(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


@dataclass
class CheckResult:
    ok: bool
    detail: Any
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "duration_ms": self.duration_ms}


@dataclass
class Readiness:
    """The named checks behind ``/readyz`` and the lifecycle phase that gates them."""

    timeout: float = 2.0
    phase: Phase = Phase.STARTING
    _checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} registered twice")
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def _run_one(self, check: Check) -> CheckResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                detail = await check()
            ok = detail is not False
        except TimeoutError:
            ok, detail = False, f"timed out after {self.timeout:g}s"
        except Exception as exc:
            ok, detail = False, str(exc) or type(exc).__name__
        return CheckResult(ok, detail, round((time.perf_counter() - started) * 1000, 1))

    async def evaluate(self) -> tuple[bool, dict[str, Any]]:
        if self.phase is not Phase.RUNNING:
            return False, {"status": self.phase.value, "checks": {}}
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(self._checks[n]) for n in names))
        ok = all(r.ok for r in results)
        return ok, {
            "status": "ready" if ok else "not ready",
            "checks": {n: r.as_dict() for n, r in zip(names, results, strict=True)},
        }


def health_routes(readiness: Readiness, service_name: str) -> list[HTTPRouteHandler]:
    @get("/healthz", include_in_schema=False, sync_to_thread=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service_name}

    @get("/readyz", include_in_schema=False)
    async def readyz() -> Response[dict[str, Any]]:
        ok, report = await readiness.evaluate()
        report["service"] = service_name
        return Response(report, status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE)

    return [healthz, readyz]
