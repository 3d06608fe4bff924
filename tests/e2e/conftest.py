"""The whole system, started the way ``make dev`` starts it, for the end-to-end tests.

One ``billing-dev`` per test session, as a subprocess: every port free-chosen (so it runs
next to a developer's ``make dev``), a database of its own, its own broker, the demo seeded
exactly as for a developer. Tests talk to it only from the outside: the merchant API and the
operator API over HTTP, the portal in headless Chromium, the mail sink's JSON. At the end it
gets SIGTERM, must exit 0 and must leave no process behind.

Helpers live here, as fixtures, because test modules cannot import each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Route, async_playwright

from billing_tools import demo
from billing_tools.dev import READY_MARKER, repo_root
from devstack.network import free_port
from devstack.postgres import create_database, drop_database

LAUNCHER = Path(sys.executable).with_name("billing-dev")
# Two shared cores: the four services, the broker and the demo seeding take a while.
READY_WITHIN = 240.0
STOPPED_WITHIN = 60.0
WAIT_STEP = 0.2

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Plan images in the tests live on a host that does not exist: the browser's requests to it
# are answered by the test itself, so the portal's <img> really loads without any network.
IMAGE_HOST = "https://images.billing-e2e.test"
PLAN_IMAGE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<rect width="64" height="64" fill="#4f46e5"/></svg>'
)
CARD_OK = "4242424242424242"


# --- the running system -----------------------------------------------------------------


@dataclass
class RunningSystem:
    gateway_url: str
    mail_url: str
    admin_token: str
    database_url: str
    kafka_bootstrap: str
    log_path: Path
    process: asyncio.subprocess.Process

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.gateway_url,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )

    async def mail_to(
        self, address: str, *, at_least: int = 1, within: float = 30.0
    ) -> list[dict[str, Any]]:
        """The mails the sink holds for ``address``, once there are ``at_least`` of them."""
        deadline = time.monotonic() + within
        messages: list[dict[str, Any]] = []
        async with httpx.AsyncClient(timeout=10) as http:
            while time.monotonic() < deadline:
                answer = await http.get(f"{self.mail_url}/messages.json", params={"to": address})
                answer.raise_for_status()
                messages = answer.json()
                if len(messages) >= at_least:
                    return messages
                await asyncio.sleep(0.5)
        subjects = [m["subject"] for m in messages]
        pytest.fail(f"{len(messages)} mail(s) for {address} after {within:.0f}s: {subjects}")


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the name, in parentheses, may hold spaces
    return int(fields[1]), fields[0], fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every live process below ``root``, with its start time (pids get reused)."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _stat(int(entry.name))) is not None:
            children.setdefault(info[0], []).append(int(entry.name))
            started[int(entry.name)] = info[2]
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def still_running(pid: int, start_time: str) -> bool:
    info = _stat(pid)
    return info is not None and info[2] == start_time and info[1] != "Z"


async def _wait_until_ready(system: RunningSystem) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if READY_MARKER in system.output():
            return
        if system.process.returncode is not None:
            pytest.fail(
                f"billing-dev exited with {system.process.returncode} before it was ready:\n"
                f"{system.output()[-8000:]}"
            )
        await asyncio.sleep(0.5)
    pytest.fail(f"billing-dev not ready after {READY_WITHIN:.0f}s:\n{system.output()[-8000:]}")


async def _stop(system: RunningSystem) -> tuple[int, list[int]]:
    """SIGTERM, bounded wait; the exit status and whatever it left running."""
    children = descendants(system.process.pid)
    if system.process.returncode is None:
        system.process.send_signal(signal.SIGTERM)
    try:
        status = await asyncio.wait_for(system.process.wait(), STOPPED_WITHIN)
    except TimeoutError:
        for pid in [system.process.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await system.process.wait()
        pytest.fail(f"billing-dev did not stop within {STOPPED_WITHIN:.0f}s of SIGTERM")
    # The services stop before the launcher exits; give the kernel a moment to reap.
    deadline = time.monotonic() + 5
    left = [pid for pid, started in children.items() if still_running(pid, started)]
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        left = [pid for pid, started in children.items() if still_running(pid, started)]
    return status, left


@pytest_asyncio.fixture(scope="session")
async def system(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningSystem]:
    assert LAUNCHER.exists(), f"console script missing: {LAUNCHER} (run `uv sync`)"
    database = f"e2e_{uuid.uuid4().hex[:12]}"
    database_url = await create_database(postgres_url, database)
    ports = {
        name: free_port()
        for name in (
            "PORT",
            "SUBSCRIPTIONS_PORT",
            "INVOICING_PORT",
            "NOTIFICATIONS_PORT",
            "MAILSINK_SMTP_PORT",
            "MAILSINK_HTTP_PORT",
            "KAFKA_PORT",
        )
    }
    admin_token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        "DATABASE_URL": database_url,
        "ADMIN_TOKEN": admin_token,
        "NO_COLOR": "1",
    }
    env.pop(demo.SKIP_VARIABLE, None)  # seed the demo, as `make dev` does
    log_path = tmp_path_factory.mktemp("billing-dev") / "billing-dev.log"
    with log_path.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            str(LAUNCHER), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    gateway_url = f"http://127.0.0.1:{ports['PORT']}"
    running = RunningSystem(
        gateway_url=gateway_url,
        mail_url=f"http://127.0.0.1:{ports['MAILSINK_HTTP_PORT']}",
        admin_token=admin_token,
        database_url=database_url,
        kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        or f"127.0.0.1:{ports['KAFKA_PORT']}",
        log_path=log_path,
        process=process,
    )
    try:
        await _wait_until_ready(running)
        yield running
    finally:
        status, left = await _stop(running)
        demo.state_path(repo_root() / ".devstack" / "dev", gateway_url).unlink(missing_ok=True)
        await drop_database(postgres_url, database)
    assert status == 0, f"billing-dev exited with {status}:\n{running.output()[-5000:]}"
    assert left == [], f"billing-dev left processes behind: {left}"


# --- merchants and the merchant API -------------------------------------------------------


@dataclass
class Subscribed:
    plan: dict[str, Any]
    customer: dict[str, Any]
    payment_method: dict[str, Any]
    subscription: dict[str, Any]


@dataclass
class Merchant:
    """A merchant of the running system and an HTTP client holding its secret key."""

    id: str
    slug: str
    name: str
    api_key: str
    http: httpx.AsyncClient
    _created: list[str] = field(default_factory=list)

    async def post(
        self, path: str, body: Any, *, idempotency_key: str | None = None
    ) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return await self.http.post(path, json=body, headers=headers)

    async def created(self, path: str, body: Any, status: int = 201) -> dict[str, Any]:
        answer = await self.post(path, body)
        assert answer.status_code == status, (path, answer.status_code, answer.text)
        result: dict[str, Any] = answer.json()
        return result

    async def create_plan(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "name": "Pro",
            "description": "Unlimited projects and priority support.",
            "image_url": f"{IMAGE_HOST}/plans/{uuid.uuid4().hex[:8]}.svg",
            "amount": 2900,
            "currency": "EUR",
            "interval": "month",
            **overrides,
        }
        return await self.created("/v1/plans", body)

    async def create_customer(self, **overrides: Any) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:10]
        body = {"email": f"e2e-{tag}@example.com", "name": f"Customer {tag}", **overrides}
        return await self.created("/v1/customers", body)

    async def attach_card(
        self, customer_id: str, number: str = CARD_OK, **card: Any
    ) -> dict[str, Any]:
        body = {
            "customer": customer_id,
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123", **card},
        }
        return await self.created("/v1/payment_methods", body)

    async def subscribe(self, customer_id: str, plan_id: str, method_id: str) -> httpx.Response:
        return await self.post(
            "/v1/subscriptions",
            {"customer": customer_id, "plan": plan_id, "payment_method": method_id},
        )

    async def active_subscription(
        self, *, plan: dict[str, Any] | None = None, card: str = CARD_OK, **customer: Any
    ) -> Subscribed:
        plan = plan or await self.create_plan()
        person = await self.create_customer(**customer)
        method = await self.attach_card(person["id"], card)
        answer = await self.subscribe(person["id"], plan["id"], method["id"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "active", answer.text
        return Subscribed(plan, person, method, answer.json())

    async def events(self, subscription_id: str) -> list[dict[str, Any]]:
        answer = await self.http.get(f"/v1/subscriptions/{subscription_id}/events")
        assert answer.status_code == 200, answer.text
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    async def invoices(self, subscription_id: str) -> list[dict[str, Any]]:
        answer = await self.http.get("/v1/invoices", params={"subscription": subscription_id})
        assert answer.status_code == 200, answer.text
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    async def invoices_when(
        self,
        subscription_id: str,
        ready: Callable[[list[dict[str, Any]]], bool],
        within: float = 10.0,
    ) -> list[dict[str, Any]]:
        """The subscription's invoices once ``ready`` says they are as expected.

        Invoices reach the gateway's read model from invoicing's topic, the subscription's
        status from the subscriptions topic: the two projections may be a moment apart
        (a bounded wait rather than a flaky assertion).
        """
        deadline = time.monotonic() + within
        while True:
            invoices = await self.invoices(subscription_id)
            if ready(invoices):
                return invoices
            if time.monotonic() > deadline:
                pytest.fail(f"invoices not as expected within {within}s: {invoices}")
            await asyncio.sleep(WAIT_STEP)

    async def paid_invoices(self, subscription_id: str, count: int = 1) -> list[dict[str, Any]]:
        return await self.invoices_when(
            subscription_id, lambda found: sum(i["status"] == "paid" for i in found) >= count
        )

    async def portal_session(self, customer_id: str, **options: Any) -> dict[str, Any]:
        return await self.created("/v1/portal/sessions", {"customer": customer_id, **options})


MerchantFactory = Callable[..., Awaitable[Merchant]]


@pytest_asyncio.fixture
async def new_merchant(system: RunningSystem) -> AsyncIterator[MerchantFactory]:
    """Makes merchants through the operator API, as ``billingctl merchants create`` does."""
    clients: list[httpx.AsyncClient] = []

    async def make(**options: Any) -> Merchant:
        body = {
            "name": f"E2E Shop {uuid.uuid4().hex[:6]}",
            "cancel_mode": "immediately",
            "support_email": "help@shop.example",
            **options,
        }
        async with system.admin() as admin:
            answer = await admin.post("/admin/merchants", json=body)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        http = httpx.AsyncClient(
            base_url=system.gateway_url,
            headers={"Authorization": f"Bearer {created['api_key']}"},
            timeout=60,
        )
        clients.append(http)
        return Merchant(created["id"], created["slug"], created["name"], created["api_key"], http)

    yield make
    for http in clients:
        await http.aclose()


@pytest_asyncio.fixture
async def merchant(new_merchant: MerchantFactory) -> Merchant:
    return await new_merchant()


# --- the browser --------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    # Not a skip: on a machine of this project the browser is there (a Debian package).
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        await chromium.close()


@dataclass
class Offline:
    """What a browser context tried to fetch from outside this machine."""

    blocked: list[str] = field(default_factory=list)
    images_served: list[str] = field(default_factory=list)

    async def handle(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(IMAGE_HOST):
            self.images_served.append(url)
            await route.fulfill(status=200, content_type="image/svg+xml", body=PLAN_IMAGE)
        else:
            self.blocked.append(url)
            await route.abort()


_NOT_LOCAL = re.compile(r"^(?!https?://127\.0\.0\.1[:/])")

ContextFactory = Callable[..., Awaitable[tuple[BrowserContext, Offline]]]


@pytest_asyncio.fixture
async def new_context(browser: Browser) -> AsyncIterator[ContextFactory]:
    """Browser contexts (separate cookie jars: separate visitors) that never reach the
    network: the fake image host is answered locally, anything else non-local is refused and
    recorded."""
    contexts: list[BrowserContext] = []

    async def make(**options: Any) -> tuple[BrowserContext, Offline]:
        context = await browser.new_context(**options)
        context.set_default_timeout(15_000)
        offline = Offline()
        await context.route(_NOT_LOCAL, offline.handle)
        contexts.append(context)
        return context, offline

    yield make
    for context in contexts:
        await context.close()
