"""billingctl against a real gateway: the admin API served by uvicorn on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from litestar import Litestar

from billing_events import topics
from billing_events.contract.commands import AdvanceTestClock, command_registry
from billing_events.contract.common import CardSummary
from billing_events.contract.events import (
    CustomerRegistered,
    PaymentMethodAttached,
    TestClockAdvanced,
)
from billing_events.envelope import new_envelope
from billing_events.postgres import migrate
from billing_tools.billingctl import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run
from devstack.network import free_port
from portal_gateway.adapters.postgres.projector import project
from portal_gateway.adapters.postgres.schema import MIGRATIONS
from portal_gateway.bootstrap import GatewayRuntime, gateway_routers
from portal_gateway.settings import Settings

pytestmark = pytest.mark.integration

TOKEN = "billingctl-integration-token-0123456789"


@pytest.fixture
async def gateway_url(pg_pool: asyncpg.Pool, postgres_url: str) -> AsyncIterator[str]:
    await migrate(pg_pool, MIGRATIONS)
    settings = Settings(
        database_url=postgres_url,
        kafka_bootstrap_servers="127.0.0.1:9",
        admin_token=TOKEN,
    )
    runtime = GatewayRuntime(lambda: pg_pool, settings)
    await runtime.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Litestar(route_handlers=gateway_routers(runtime, settings)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, 10)
        await runtime.stop()


async def billingctl(*argv: str, url: str, token: str = TOKEN) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(
        run,
        ["--gateway", url, *argv],
        env={"ADMIN_TOKEN": token},
        cwd=Path("/nonexistent"),
        checkout=Path("/nonexistent"),
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


async def test_merchants_create_prints_a_key_that_works(gateway_url: str) -> None:
    code, out, err = await billingctl(
        "merchants", "create", "--name", "Acme Tools", "--slug", "acme-tools", url=gateway_url
    )
    assert (code, err) == (EXIT_OK, "")
    created = json.loads(out)
    assert set(created) == {"id", "slug", "name", "api_key"}
    assert (created["slug"], created["name"]) == ("acme-tools", "Acme Tools")
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        authorized = await client.get(
            "/v1/subscriptions/sub_nothing",
            headers={"Authorization": f"Bearer {created['api_key']}"},
        )
    assert authorized.status_code == 404  # authenticated; the subscription does not exist
    again, _, err = await billingctl(
        "merchants", "create", "--name", "Other", "--slug", "acme-tools", url=gateway_url
    )
    assert again == EXIT_USAGE
    assert "slug_taken" in err


async def test_a_wrong_token_is_refused(gateway_url: str) -> None:
    code, out, err = await billingctl(
        "merchants", "create", "--name", "X", url=gateway_url, token="wrong"
    )
    assert code == EXIT_USAGE
    assert "operator token" in err
    assert out == ""


async def test_stream_show_prints_the_history_projection_in_order(
    gateway_url: str, pg_pool: asyncpg.Pool
) -> None:
    customer = f"cus_{uuid.uuid4().hex[:8]}"
    stream = f"customer-{customer}"
    card = CardSummary(
        payment_method_id="pm_1", brand="visa", last4="4242", exp_month=1, exp_year=2030
    )
    events = [
        new_envelope(
            data,
            stream_id=stream,
            stream_version=version,
            merchant_id="mer_x",
            correlation_id=uuid.uuid4(),
        )
        for version, data in (
            (1, CustomerRegistered(customer_id=customer, email="a@example.com", name="A")),
            (2, PaymentMethodAttached(customer_id=customer, card=card)),
        )
    ]
    for envelope in reversed(events):  # consumed out of order: shown in stream order
        async with pg_pool.acquire() as conn, conn.transaction():
            await project(envelope, conn)
    code, out, err = await billingctl("stream", "show", stream, url=gateway_url)
    assert (code, err) == (EXIT_OK, "")
    first, second = out.splitlines()
    assert first.split()[0] == "1"
    assert "CustomerRegistered" in first
    assert second.split()[0] == "2"
    assert "PaymentMethodAttached" in second
    assert '"last4":"4242"' in second
    empty, _, err = await billingctl("stream", "show", "plan-plan_unknown", url=gateway_url)
    assert empty == EXIT_FAILED
    assert "no events" in err


def test_the_console_command_exits_2_when_the_gateway_is_unreachable() -> None:
    port = free_port()  # nothing listens there
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "billing_tools.billingctl",
            "--gateway",
            f"http://127.0.0.1:{port}",
            "stream",
            "show",
            "plan-p",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"ADMIN_TOKEN": "x", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert "cannot reach the gateway" in result.stderr
    assert result.stdout == ""


async def play_the_clock_owner(pool: asyncpg.Pool) -> None:
    """Answers AdvanceTestClock from the outbox as subscriptions would (forward only here)."""
    seen, versions = 0, dict[str, int]()
    while True:
        rows = await pool.fetch(
            "SELECT position, value FROM outbox WHERE topic = $1 AND position > $2 "
            "ORDER BY position",
            topics.SUBSCRIPTIONS_COMMANDS.name,
            seen,
        )
        for row in rows:
            seen = row["position"]
            command = command_registry.parse(bytes(row["value"]))
            assert isinstance(command.data, AdvanceTestClock)
            version = versions.get(command.stream_id, 0) + 1
            versions[command.stream_id] = version
            advanced = new_envelope(
                TestClockAdvanced(
                    merchant_id=command.data.merchant_id, frozen_time=command.data.advance_to
                ),
                stream_id=command.stream_id,
                stream_version=version,
                merchant_id=command.merchant_id,
                correlation_id=command.correlation_id,
                causation_id=command.event_id,
            )
            async with pool.acquire() as conn, conn.transaction():
                await project(advanced, conn)
        await asyncio.sleep(0.02)


async def test_clock_advance_moves_a_merchants_time(
    gateway_url: str, pg_pool: asyncpg.Pool
) -> None:
    code, out, _ = await billingctl("merchants", "create", "--name", "Clocked", url=gateway_url)
    assert code == EXIT_OK
    merchant = json.loads(out)["id"]
    owner = asyncio.create_task(play_the_clock_owner(pg_pool))
    try:
        code, out, err = await billingctl("clock", "show", "--merchant", merchant, url=gateway_url)
        assert (code, err) == (EXIT_OK, "")
        assert json.loads(out) == {"merchant_id": merchant, "frozen_time": None}
        code, out, err = await billingctl(
            "clock",
            "advance",
            "--merchant",
            merchant,
            "--to",
            "2024-01-15T00:00:00Z",
            url=gateway_url,
        )
        assert (code, err) == (EXIT_OK, "")
        assert json.loads(out)["frozen_time"] == "2024-01-15T00:00:00Z"
        code, out, err = await billingctl(
            "clock", "advance", "--merchant", merchant, "--months", "2", url=gateway_url
        )
        assert (code, err) == (EXIT_OK, "")
        assert json.loads(out)["frozen_time"] == "2024-03-15T00:00:00Z"
    finally:
        owner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await owner
    missing, _, err = await billingctl(
        "clock", "show", "--merchant", "mer_unknown", url=gateway_url
    )
    assert missing == EXIT_USAGE
    assert "resource_missing" in err
