"""A service process: graceful stop on SIGTERM, clear exits on bad settings or a dead dependency."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from devstack.network import free_port
from servicekit.heap import YOUNG_GENERATION_THRESHOLD

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).with_name("sample_service.py")


@dataclass
class Sample:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    async def wait_ready(self, timeout: float = 60) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(int(timeout * 10)):
                if self.process.returncode is not None:
                    pytest.fail(f"exited with {self.process.returncode}: {self.log.read_text()}")
                try:
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail(f"not ready: {self.log.read_text()}")


@pytest_asyncio.fixture
async def schema(postgres_url: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def start_sample(tmp_path: Path, env: dict[str, str]) -> Sample:
    port = int(env.get("PORT", free_port()))
    log = tmp_path / f"sample-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SAMPLE),
            env={**os.environ, "PORT": str(port), "LOG_FORMAT": "json", **env},
            stdout=out,
            stderr=out,
        )
    return Sample(process, port, log)


@pytest.fixture
def base_env(postgres_url: str, kafka_bootstrap: str, schema: str) -> dict[str, str]:
    return {
        "DATABASE_URL": postgres_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DB_SCHEMA": schema,
        "SHUTDOWN_TIMEOUT": "10",
    }


async def test_sigterm_lets_the_in_flight_request_and_the_task_finish(
    tmp_path: Path, base_env: dict[str, str], postgres_url: str, schema: str
) -> None:
    sample = await start_sample(tmp_path, base_env)
    await sample.wait_ready()

    conn = await asyncpg.connect(postgres_url)
    try:  # the migration ran in the service's own schema
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".visits') == 0
    finally:
        await conn.close()

    async with httpx.AsyncClient(timeout=10) as http:
        in_flight = asyncio.create_task(
            http.get(f"{sample.url}/slow", params={"seconds": 1.5}, headers={"X-Request-ID": "r1"})
        )
        await asyncio.sleep(0.5)
        sample.process.send_signal(signal.SIGTERM)
        answer = await in_flight
    assert answer.status_code == 200
    assert answer.headers["x-correlation-id"] == "r1"
    assert await asyncio.wait_for(sample.process.wait(), 15) == 0

    events = [r["event"] for r in sample.records()]
    assert events.index("slow request finished") < events.index("stopping")
    assert events.index("stopping") < events.index("ticker finished its batch")
    assert events[-1] != "stopping"
    assert "stopped" in events
    slow_lines = [r for r in sample.records() if r["event"] == "slow request finished"]
    assert slow_lines[0]["correlation_id"] == "r1"


async def test_a_started_service_has_frozen_what_startup_built(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    sample = await start_sample(tmp_path, base_env)
    await sample.wait_ready()
    async with httpx.AsyncClient(timeout=10) as http:
        heap = (await http.get(f"{sample.url}/heap")).json()
    sample.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(sample.process.wait(), 15) == 0
    assert heap["frozen"] > 10_000  # modules, classes, the app: far more than a few objects
    assert heap["young_threshold"] == YOUNG_GENERATION_THRESHOLD


async def test_bad_settings_exit_2_with_the_variables_named(tmp_path: Path) -> None:
    sample = await start_sample(
        tmp_path,
        {"DATABASE_URL": "nope", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "PORT": "99999"},
    )
    assert await asyncio.wait_for(sample.process.wait(), 30) == 2
    output = sample.log.read_text()
    assert "sample: invalid configuration" in output
    assert "DATABASE_URL: must be a postgresql:// URL" in output
    assert "PORT:" in output
    assert "Traceback" not in output


async def test_an_unreachable_database_exits_3_in_one_clear_line(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    closed = free_port()
    sample = await start_sample(
        tmp_path,
        {
            **base_env,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/test",
            "STARTUP_TIMEOUT": "1",
        },
    )
    assert await asyncio.wait_for(sample.process.wait(), 30) == 3
    assert "Traceback" not in sample.log.read_text()
    [failure] = [r for r in sample.records() if r["event"] == "cannot start"]
    assert failure["component"] == "postgres"
    assert "Connect" in str(failure["error"]) or "refused" in str(failure["error"])


async def test_sigterm_while_starting_stops_cleanly(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    closed = free_port()
    sample = await start_sample(
        tmp_path,
        {**base_env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/test"},
    )
    for _ in range(100):
        if "waiting for PostgreSQL" in sample.log.read_text():
            break
        await asyncio.sleep(0.1)
    sample.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(sample.process.wait(), 15) == 0
    assert "stopped while starting" in sample.log.read_text()


async def test_a_dead_background_task_stops_the_process_with_status_1(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    sample = await start_sample(tmp_path, {**base_env, "SAMPLE_TASK_CRASH": "1"})
    assert await asyncio.wait_for(sample.process.wait(), 30) == 1
    records = sample.records()
    crash = next(r for r in records if r["event"] == "background task ended unexpectedly")
    assert crash["task"] == "ticker"
    assert "the ticker broke" in json.dumps(crash["exception"])


async def test_a_taken_port_exits_1_before_starting_anything(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    first = await start_sample(tmp_path, base_env)
    await first.wait_ready()
    try:
        second = await start_sample(tmp_path, {**base_env, "PORT": str(first.port)})
        assert await asyncio.wait_for(second.process.wait(), 30) == 1
        [failure] = [r for r in second.records() if r["event"] == "cannot listen"]
        assert failure["port"] == first.port
        assert "starting" not in [r["event"] for r in second.records()]
    finally:
        first.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.process.wait(), 15)
