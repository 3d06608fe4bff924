"""Figures 5 to 7: the whole system under load, started the way `make dev` starts it.

`billing-dev` runs as a subprocess with every port chosen free and a database of its own (so
this can run next to a developer's `make dev`), and the load comes from this process over
loopback, in bounded loops that stop by themselves (set-up with httpx, the measured requests
with `benchmarks.rawhttp`, which costs the 2 cores far less):

5. end to end cancel: ``POST /v1/subscriptions/{id}/cancel`` until the gateway's projection
   shows it (the gateway answers only then: read-your-writes), at 1, 50 and 200 commands/s,
   open loop (latency is counted from the moment a request was due, so a slow system cannot
   hide its queueing by slowing the load down), and at 200/s the split of each cancel's
   latency at the two batches that carried it (`benchmarks.stages`);
6. the portal overview page of a customer with 24 invoices: requests/s of the one gateway
   process, and p99, from a fixed number of concurrent keep-alive clients;
7. resident memory of each service, idle and under the load of figure 5 (200/s), and the
   CPU each service spends per cancel at that rate (`benchmarks.processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import secrets
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from benchmarks.harness import Figure, Report, median, percentile, quick, runs
from benchmarks.processes import (
    MemorySampler,
    cores_in_use,
    machine_busy_seconds,
    program_cpu_seconds,
    rates,
    service_cpu_seconds,
    until_quiet,
)
from benchmarks.rawhttp import KEEPALIVE_EXPIRY, Connection, ConnectionPool, RawHttpError
from benchmarks.stages import STAGES, batch_starts, stage_latencies
from billing_tools.dev import READY_MARKER, SERVICES
from devstack.network import free_port
from devstack.postgres import create_database, drop_database

LAUNCHER = Path(sys.executable).with_name("billing-dev")
READY_WITHIN = 180.0
STOP_WITHIN = 60.0
REQUEST_TIMEOUT = 30.0
_STARTED = re.compile(r"started (\S+) \(pid (\d+)\) on (http://\S+)")

T = TypeVar("T")

TEST_CARD = "4242424242424242"
MONTHS_OF_INVOICES = 24


class SystemUnavailable(Exception):
    """The system could not be started or did not answer as the API says."""


# --- the running system -------------------------------------------------------------------


@dataclass
class System:
    gateway_url: str
    admin_token: str
    service_pids: dict[str, int]
    log: Path
    database_url: str

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def running_system(postgres_url: str, workdir: Path) -> AsyncIterator[System]:
    """billing-dev on free ports and a fresh database; stopped and dropped on the way out."""
    if not LAUNCHER.exists():
        raise SystemUnavailable(f"console script missing: {LAUNCHER} (run `uv sync`)")
    ports = {
        "PORT": free_port(),
        "SUBSCRIPTIONS_PORT": free_port(),
        "INVOICING_PORT": free_port(),
        "NOTIFICATIONS_PORT": free_port(),
        "MAILSINK_SMTP_PORT": free_port(),
        "MAILSINK_HTTP_PORT": free_port(),
        "KAFKA_PORT": free_port(),
    }
    database = f"bench_system_{uuid.uuid4().hex[:10]}"
    database_url = await create_database(postgres_url, database)
    admin_token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        "DATABASE_URL": database_url,
        "ADMIN_TOKEN": admin_token,
        # What is measured is the services, not the launcher re-printing their request logs.
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
    }
    log = workdir / f"billing-dev-{database}.log"
    process: asyncio.subprocess.Process | None = None
    try:
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                str(LAUNCHER), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink
            )
        started = time.monotonic()
        pids = await _wait_until_ready(log, process)
        print(f"billing-dev ready in {time.monotonic() - started:.0f}s", flush=True)
        yield System(f"http://127.0.0.1:{ports['PORT']}", admin_token, pids, log, database_url)
    finally:
        if process is not None:
            await _stop(process)
        await drop_database(postgres_url, database)


async def _wait_until_ready(log: Path, process: asyncio.subprocess.Process) -> dict[str, int]:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        output = await asyncio.to_thread(log.read_text, errors="replace")
        if READY_MARKER in output:
            pids = {name: int(pid) for name, pid, _url in _STARTED.findall(output)}
            missing = {s.name for s in SERVICES} - set(pids)
            if missing:
                raise SystemUnavailable(f"no pid printed for {sorted(missing)}")
            return pids
        if process.returncode is not None:
            raise SystemUnavailable(
                f"billing-dev exited with {process.returncode}:\n{output[-4000:]}"
            )
        await asyncio.sleep(0.5)
    raise SystemUnavailable(f"billing-dev not ready within {READY_WITHIN:.0f}s")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_WITHIN)
    except TimeoutError:
        # Its services die with it (PR_SET_PDEATHSIG in the launcher).
        process.kill()
        await process.wait()


# --- the merchant API ---------------------------------------------------------------------


@dataclass
class Merchant:
    merchant_id: str
    http: httpx.AsyncClient  # authenticated with the merchant's API key
    load: ConnectionPool  # the same, for the open loop: cheap enough not to be the bottleneck

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, json=body)
        if response.status_code not in (200, 201):
            raise SystemUnavailable(f"POST {path} -> {response.status_code}: {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = await self.http.get(path, params=params)
        if response.status_code != 200:
            raise SystemUnavailable(f"GET {path} -> {response.status_code}: {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer


# Enough for the set-up's concurrency (the measured load has its own unbounded pool).
CONNECTIONS = 64


def http_client(base_url: str, token: str | None = None, connections: int = CONNECTIONS) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=REQUEST_TIMEOUT,
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        ),
    )


@contextlib.asynccontextmanager
async def new_merchant(system: System, name: str) -> AsyncIterator[Merchant]:
    async with http_client(system.gateway_url, system.admin_token) as admin:
        response = await admin.post(
            "/admin/merchants", json={"name": name, "cancel_mode": "immediately"}
        )
    if response.status_code != 201:
        raise SystemUnavailable(f"POST /admin/merchants -> {response.status_code}: {response.text}")
    created = response.json()
    load = ConnectionPool(system.gateway_url, {"Authorization": f"Bearer {created['api_key']}"})
    try:
        async with http_client(system.gateway_url, created["api_key"]) as http:
            yield Merchant(created["id"], http, load)
    finally:
        await load.close()


async def new_plan(merchant: Merchant) -> str:
    plan = await merchant.post(
        "/v1/plans",
        {
            "name": "Bench Pro",
            "description": "A plan for the benchmarks",
            "amount": 2900,
            "currency": "USD",
            "interval": "month",
        },
    )
    return str(plan["id"])


async def new_customer(merchant: Merchant, n: int) -> tuple[str, str]:
    """A customer with a card; returns (customer id, payment method id)."""
    customer = await merchant.post(
        "/v1/customers", {"email": f"bench-{n}@example.com", "name": f"Bench Customer {n}"}
    )
    card = await merchant.post(
        "/v1/payment_methods",
        {
            "customer": customer["id"],
            "card": {
                "number": TEST_CARD,
                "exp_month": 12,
                "exp_year": datetime.now(UTC).year + 5,
                "cvc": "123",
            },
        },
    )
    return str(customer["id"]), str(card["id"])


async def new_subscription(merchant: Merchant, customer: str, card: str, plan: str) -> str:
    """An active subscription. A busy system may answer 202 (the outcome was not seen within
    the gateway's bounded wait): then it is polled until active, within REQUEST_TIMEOUT."""
    response = await merchant.http.post(
        "/v1/subscriptions", json={"customer": customer, "plan": plan, "payment_method": card}
    )
    if response.status_code not in (200, 201, 202):
        raise SystemUnavailable(
            f"POST /v1/subscriptions -> {response.status_code}: {response.text}"
        )
    subscription = response.json()
    deadline = time.monotonic() + REQUEST_TIMEOUT
    while subscription.get("status") != "active":
        if subscription.get("status") not in ("processing", "incomplete"):
            raise SystemUnavailable(f"subscription did not become active: {subscription}")
        if time.monotonic() > deadline:
            raise SystemUnavailable(f"subscription not active after {REQUEST_TIMEOUT:.0f}s")
        await asyncio.sleep(0.2)
        subscription = await merchant.get(f"/v1/subscriptions/{subscription['id']}")
    return str(subscription["id"])


async def bounded_gather(
    count: int, concurrency: int, make: Callable[[int], Awaitable[T]]
) -> list[T]:
    """``make(0..count-1)`` with at most ``concurrency`` in flight, results in order."""
    results: dict[int, T] = {}
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            results[i] = await make(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return [results[i] for i in range(count)]


# --- figure 5: end to end cancel ----------------------------------------------------------


@dataclass
class RunResult:
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    late: int = 0  # answered 202 (outcome not seen in the gateway's bounded wait)
    answered: dict[str, tuple[float, float]] = field(default_factory=dict)  # due, shown (epoch)

    def shown(self, subscription: str, due: float) -> None:
        """``subscription`` is shown canceled now; ``due`` is on the perf_counter clock."""
        latency = time.perf_counter() - due
        self.latencies_ms.append(latency * 1000)
        now = time.time()
        self.answered[subscription] = (now - latency, now)


async def cancel_until_shown(
    merchant: Merchant, subscription: str, due: float, result: RunResult
) -> None:
    """Cancel now; done when the gateway shows it canceled. Latency from ``due``."""
    path = f"/v1/subscriptions/{subscription}"
    try:
        response = await merchant.load.request(
            "POST", f"{path}/cancel", {"at_period_end": False, "reason": "too_expensive"}
        )
        if response.status == 200 and response.json().get("status") == "canceled":
            result.shown(subscription, due)
            return
        if response.status != 202:
            result.failures.append(f"{response.status}: {response.text[:200]}")
            return
        # Accepted but not seen within the gateway's wait: keep looking, the clock runs on.
        result.late += 1
        deadline = time.perf_counter() + REQUEST_TIMEOUT
        while time.perf_counter() < deadline:
            shown = await merchant.load.request("GET", path)
            if shown.status == 200 and shown.json().get("status") == "canceled":
                result.shown(subscription, due)
                return
            await asyncio.sleep(0.05)
        result.failures.append("never shown canceled")
    except RawHttpError as exc:
        result.failures.append(str(exc))


async def open_loop(rate: float, subscriptions: list[str], merchant: Merchant) -> RunResult:
    """One cancel every 1/rate seconds, each in its own task, whatever the answers do."""
    result = RunResult()
    tasks = []
    started = time.perf_counter()
    for i, subscription in enumerate(subscriptions):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(cancel_until_shown(merchant, subscription, due, result)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=2 * REQUEST_TIMEOUT + 10)
    return result


# --- the figures ----------------------------------------------------------------------------

# Not our services' children, but on the same cores: their CPU per cancel is counted too.
SHARED_PROGRAMS = {"postgres": "postgres", "broker": "tansu"}


def cpu_census(service_pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far: each service, PostgreSQL, the broker, and the machine as a whole
    (every process, the load generator and the mail sink included, and the kernel)."""
    return {
        **service_cpu_seconds(service_pids),
        **program_cpu_seconds(SHARED_PROGRAMS),
        "machine": machine_busy_seconds(),
    }


def rates_and_durations() -> dict[int, float]:
    """Commands per second -> seconds of one run at that rate."""
    if quick():
        return {1: 2.0, 50: 0.5, 200: 0.25}
    return {1: 10.0, 50: 4.0, 200: 3.0}


async def figures_cancel_and_memory(system: System, report: Report, idle: dict[str, float]) -> None:
    plan_of_runs = rates_and_durations()
    warm_up = {50: 0.5}
    needed = sum(int(r * d) for r, d in warm_up.items()) + runs() * sum(
        int(r * d) for r, d in plan_of_runs.items()
    )
    async with new_merchant(system, "Bench Cancel Co") as merchant:
        plan = await new_plan(merchant)
        # A few customers, each with many subscriptions: what is measured is cancelling.
        customers = await bounded_gather(20, 10, lambda n: new_customer(merchant, n))
        started = time.perf_counter()
        subscriptions = await bounded_gather(
            needed,
            32,
            lambda i: new_subscription(merchant, *customers[i % len(customers)], plan),
        )
        seeding = needed / (time.perf_counter() - started)
        print(f"seeded {needed} active subscriptions at {seeding:.1f}/s", flush=True)
        waited = await until_quiet(system.service_pids, idle)
        print(f"services back to idle after {waited:.0f}s", flush=True)

        memory_idle = await idle_memory(system)
        census = functools.partial(cpu_census, system.service_pids)
        idle_census = await rates(census, over=3.0)
        pool = iter(subscriptions)

        def take(count: int) -> list[str]:
            return [next(pool) for _ in range(count)]

        for rate, seconds in warm_up.items():
            await open_loop(rate, take(int(rate * seconds)), merchant)
        under_load = MemorySampler(system.service_pids)
        top_rate = max(plan_of_runs)
        cpu_per_cancel: dict[str, list[float]] = {name: [] for name in idle_census}
        machine_gross: list[float] = []
        stage_p50s: dict[str, list[float]] = {name: [] for name in STAGES}
        for rate, seconds in plan_of_runs.items():
            p50s, p99s, late, failures = [], [], 0, []
            for _ in range(runs()):
                await until_quiet(system.service_pids, idle)  # each run from a quiet system
                cancels = take(int(rate * seconds))
                cpu_before, started = census(), time.monotonic()
                async with under_load.running() if rate == top_rate else contextlib.nullcontext():
                    result = await open_loop(rate, cancels, merchant)
                if rate == top_rate:
                    # Until the work the cancels caused (mail, projections) is done too.
                    await until_quiet(system.service_pids, idle)
                    elapsed = time.monotonic() - started
                    spent_by = census()
                    for name, spent in spent_by.items():
                        busy = spent - cpu_before[name] - idle_census[name] * elapsed
                        cpu_per_cancel[name].append(busy / len(cancels) * 1000)
                    gross = spent_by["machine"] - cpu_before["machine"]
                    machine_gross.append(gross / len(cancels) * 1000)
                    carried = await batch_starts(system.database_url, cancels)
                    for name, latencies in stage_latencies(result.answered, carried).items():
                        stage_p50s[name].append(percentile(latencies, 50))
                p50s.append(percentile(result.latencies_ms, 50))
                p99s.append(percentile(result.latencies_ms, 99))
                late += result.late
                failures += result.failures
            note = f"{runs()} runs of {int(rate * seconds)} cancels, open loop"
            if late:
                note += f"; {late} answered 202 (then polled until shown)"
            if failures:
                note += f"; {len(failures)} FAILED, first: {failures[0]}"
            report.add(
                Figure(
                    f"e2e_cancel_p50_at_{rate}_per_s", median(p50s), "ms", samples=p50s, note=note
                )
            )
            report.add(
                Figure(
                    f"e2e_cancel_p99_at_{rate}_per_s", median(p99s), "ms", samples=p99s, note=note
                )
            )
        for name, stage_p50_per_run in stage_p50s.items():
            report.add(
                Figure(
                    f"e2e_cancel_{name}_p50_at_{top_rate}_per_s",
                    median(stage_p50_per_run),
                    "ms",
                    samples=stage_p50_per_run,
                    note="p50 of the stage in each run (benchmarks/stages.py)",
                )
            )
        for name, per_cancel in cpu_per_cancel.items():
            if name in SHARED_PROGRAMS and not idle_census[name] and not any(per_cancel):
                continue  # not running here (a Kafka broker of the developer's, say)
            report.add(
                Figure(
                    f"cpu_per_cancel_{name}",
                    median(per_cancel),
                    "ms",
                    samples=per_cancel,
                    note=f"at {top_rate}/s, until back to idle, less the idle use",
                )
            )
        # A busy service stops polling, so the idle use subtracted above was partly not spent:
        # the less a system polls, the more its figures above count against the cancels.
        report.add(
            Figure(
                "cpu_per_cancel_machine_gross",
                median(machine_gross),
                "ms",
                samples=machine_gross,
                note=f"at {top_rate}/s, until back to idle, idle use included",
            )
        )
        for name in system.service_pids:
            report.add(
                Figure(f"rss_idle_{name}", memory_idle[name], "MiB", note="after seeding, quiet")
            )
            loaded = under_load.samples[name]
            report.add(
                Figure(
                    f"rss_under_load_{name}",
                    max(loaded) if loaded else float("nan"),
                    "MiB",
                    samples=loaded,
                    note="peak while cancelling at 200/s",
                )
            )


async def idle_memory(system: System) -> dict[str, float]:
    """Resident size once the system has been quiet for a moment (median of a few samples)."""
    await asyncio.sleep(2.0)
    sampler = MemorySampler(system.service_pids)
    for _ in range(5):
        sampler.sample()
        await asyncio.sleep(0.2)
    return {name: median(values) for name, values in sampler.samples.items()}


# --- figure 6: the portal overview page ----------------------------------------------------


async def customer_with_invoices(system: System, merchant: Merchant) -> str:
    """A customer whose monthly subscription started 23 months ago on the merchant's test
    clock, renewed every month since: 24 paid invoices. Returns the customer id."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=31 * (MONTHS_OF_INVOICES - 1))
    await set_clock(system, merchant, start)
    plan = await new_plan(merchant)
    customer, card = await new_customer(merchant, 0)
    await new_subscription(merchant, customer, card, plan)
    await set_clock(system, merchant, start + timedelta(days=31 * (MONTHS_OF_INVOICES - 1) - 1))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        invoices = await merchant.get("/v1/invoices", customer=customer, limit=100)
        if len(invoices["data"]) >= MONTHS_OF_INVOICES:
            return customer
        await asyncio.sleep(0.5)
    raise SystemUnavailable(
        f"customer {customer} has {len(invoices['data'])} invoices after 120s, not "
        f"{MONTHS_OF_INVOICES}"
    )


async def set_clock(system: System, merchant: Merchant, to: datetime) -> None:
    async with http_client(system.gateway_url, system.admin_token) as admin:
        response = await admin.post(
            f"/admin/merchants/{merchant.merchant_id}/test_clock",
            json={"advance_to": to.isoformat()},
        )
    if response.status_code != 200:
        raise SystemUnavailable(f"test clock -> {response.status_code}: {response.text[:300]}")


async def open_portal(system: System, merchant: Merchant, customer: str) -> httpx.Cookies:
    session = await merchant.post("/v1/portal/sessions", {"customer": customer})
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as browser:
        opened = await browser.get(session["url"])
        if opened.status_code != 303 or not browser.cookies:
            raise SystemUnavailable(f"portal link -> {opened.status_code}, no session cookie")
        return browser.cookies


def portal_browser(base_url: str, cookies: httpx.Cookies) -> Connection:
    """One browser session on one keep-alive connection."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in cookies.jar)
    return Connection(base_url, {"Cookie": cookie})


async def closed_loop(
    browsers: list[Connection], path: str, seconds: float
) -> tuple[float, list[float], list[str]]:
    """Each browser requests ``path`` back to back for ``seconds``; (requests/s, latencies
    in ms, failures). A request counts once its whole response is read with status 200 and
    the body is the complete page."""
    latencies: list[float] = []
    failures: list[str] = []
    stop_at = time.perf_counter() + seconds

    async def browse(browser: Connection) -> None:
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            try:
                response = await browser.request("GET", path)
            except RawHttpError as exc:
                failures.append(str(exc))
                continue
            if response.status != 200 or not response.body.rstrip().endswith(b"</html>"):
                failures.append(f"{response.status}: {response.body[:200]!r}")
                continue
            latencies.append((time.perf_counter() - sent) * 1000)

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(browse(b) for b in browsers)), seconds + REQUEST_TIMEOUT
    )
    return len(latencies) / (time.perf_counter() - started), latencies, failures


async def figure_portal(system: System, report: Report, idle: dict[str, float]) -> None:
    # Several browser sessions of the same customer, one keep-alive connection each (one
    # browser sharing a session cookie over 8 connections would be a test of row locks).
    concurrency = 8
    seconds = 1.5 if quick() else 5.0
    async with new_merchant(system, "Bench Portal Co") as merchant:
        started = time.monotonic()
        customer = await customer_with_invoices(system, merchant)
        print(
            f"{MONTHS_OF_INVOICES} months of invoices in {time.monotonic() - started:.0f}s",
            flush=True,
        )
        invoices = await merchant.get("/v1/invoices", customer=customer, limit=100)
        numbers = [i["number"] for i in invoices["data"] if i.get("number")]
        sessions = [await open_portal(system, merchant, customer) for _ in range(concurrency)]
    # The page as a browser gets it (httpx), to check what it lists.
    async with httpx.AsyncClient(
        base_url=system.gateway_url, cookies=sessions[0], timeout=REQUEST_TIMEOUT
    ) as browser:
        page = await browser.get("/portal/")
    if page.status_code != 200:
        raise SystemUnavailable(f"portal overview -> {page.status_code}: {page.text[:300]}")
    shown = sum(1 for number in numbers if number in page.text)
    browsers = [portal_browser(system.gateway_url, cookies) for cookies in sessions]
    await until_quiet(system.service_pids, idle)  # the 24 months' invoices and their mail
    try:
        await closed_loop(browsers, "/portal/", 1.0)  # warm-up
        rates, p99s, failures = [], [], []
        for _ in range(runs()):
            rate, latencies, failed = await closed_loop(browsers, "/portal/", seconds)
            rates.append(rate)
            p99s.append(percentile(latencies, 99))
            failures += failed
    finally:
        for b in browsers:
            await b.close()
    note = (
        f"{concurrency} browser sessions, keep-alive, {len(numbers)} invoices "
        f"({shown} listed on the page)"
    )
    if failures:
        note += f"; {len(failures)} FAILED, first: {failures[0]}"
    report.add(Figure("portal_overview", median(rates), "requests/s", samples=rates, note=note))
    report.add(Figure("portal_overview_p99", median(p99s), "ms", samples=p99s, note=note))


async def run_all(postgres_url: str, report: Report, workdir: Path) -> None:
    async with running_system(postgres_url, workdir) as system:
        try:
            idle = await cores_in_use(system.service_pids, over=3.0)
            # The page first: not measured while PostgreSQL vacuums after thousands of cancels.
            await figure_portal(system, report, idle)
            await figures_cancel_and_memory(system, report, idle)
        except Exception:
            print(f"billing-dev log (last lines):\n{system.log_tail()}", flush=True)
            raise
