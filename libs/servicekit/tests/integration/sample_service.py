"""A minimal service built like the real four, for the runner tests (run as a script).

SAMPLE_TASK_CRASH=1 makes its background task die shortly after start.
"""

from __future__ import annotations

import asyncio
import gc
import os

import structlog
from litestar import Litestar, get

from billing_events.postgres import Migration
from servicekit import Service, ServiceSettings, serve

log = structlog.stdlib.get_logger("sample")


class Settings(ServiceSettings):
    service_name: str = "sample"


def create_app(settings: Settings) -> Litestar:
    service = Service(
        settings,
        migrations=[Migration("sample", 1, "CREATE TABLE visits (id serial PRIMARY KEY)")],
        topics=[],
    )

    @get("/slow", sync_to_thread=False)
    async def slow(seconds: float = 1.0) -> dict[str, float]:
        log.info("slow request started")
        await asyncio.sleep(seconds)
        log.info("slow request finished")
        return {"slept": seconds}

    @get("/heap", sync_to_thread=False)
    async def heap() -> dict[str, int]:
        return {"frozen": gc.get_freeze_count(), "young_threshold": gc.get_threshold()[0]}

    service.add_routes(slow, heap)
    stopping = asyncio.Event()

    async def ticker() -> None:
        if os.environ.get("SAMPLE_TASK_CRASH"):
            await asyncio.sleep(0.5)
            raise RuntimeError("the ticker broke")
        await stopping.wait()
        log.info("ticker finished its batch")

    service.add_task("ticker", ticker, stopping.set)
    return service.build_app()


if __name__ == "__main__":
    serve(Settings, create_app)
