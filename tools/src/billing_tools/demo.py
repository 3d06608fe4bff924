"""Demo data for ``make dev``: a merchant with plans, customers, subscriptions and history.

Everything goes through the public APIs, the way a merchant's own integration would: the
operator API makes the merchant (``POST /admin/merchants``) and moves its test clock, the
merchant API (``/v1``) makes the rest. The story, in four languages:

=================  ======  =======================================================
customer           locale  subscription
=================  ======  =======================================================
Olivia Bennett     en      Pro monthly, active, with three months of paid renewals
Lucía Fernández    es      Starter monthly, active, renewed too (a Mastercard)
João Silva         pt      Team yearly, canceled (with a reason and a comment)
Camille Dubois     fr      Starter monthly, the card declines: it never starts
=================  ======  =======================================================

History is made with the merchant's test clock: it is set about three months back before the
subscriptions are created, then advanced to now, and the subscriptions service renews (and
invoicing charges) every period that fell due on the way.

Running it on every start: the launcher recreates its database at each start, so the demo is
normally made afresh. When the database is kept (``--keep-data``, or ``DATABASE_URL``), the
secret key of the demo merchant made last time is read back from a state file next to the
launcher's other files, checked against the API and reused: no second demo merchant, and the
test clock is moved to now so that renewals due since then happen. A secret key is stored
only hashed by the gateway, so a demo merchant whose state file is gone cannot be reused; a
new one is then made under another slug (``demo-xxxxxx``) rather than failing.

Portal links work once and expire 5 minutes after they were made if nobody opens them; fresh
ones for the demo customers: ``uv run python -m billing_tools.demo links``.

``BILLING_DEV_DEMO=0`` starts the launcher without demo data. Plan images are used when the
gateway serves them under ``/portal/static/demo/`` (no external network in a demo).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

if TYPE_CHECKING:
    from billing_tools.dev import DevEnvironment

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
DEMO_SLUG = "demo"
DEMO_MERCHANT = "Northwind Cloud"
DEMO_SUPPORT_EMAIL = "support@northwind.example"
DEMO_BRAND_COLOR = "#4f46e5"
# Subscriptions start this long before now, so that a monthly plan has renewed three times.
HISTORY = timedelta(days=95)
# Per-request bound; the gateway itself bounds its waits for a command's outcome (5 to 20 s).
REQUEST_TIMEOUT = 30.0
# How long to wait for the renewals made by the clock advance to be invoiced and paid.
RENEWALS_TIMEOUT = 30.0
POLL_INTERVAL = 0.25
ATTEMPTS = 4
# Set to 0 (or false, no, off) to start the launcher without demo data.
SKIP_VARIABLE = "BILLING_DEV_DEMO"
STATE_PREFIX = "demo-"
STATE_LIFETIME = timedelta(days=7)

Story = Literal["history", "active", "canceled", "declined"]


@dataclass(frozen=True)
class DemoPlan:
    key: str
    name: str
    description: str
    amount: int  # minor units
    currency: str
    interval: Literal["month", "year"]


@dataclass(frozen=True)
class DemoPerson:
    key: str
    name: str
    email: str
    phone: str
    locale: str
    plan: str  # a DemoPlan key
    card_number: str  # Stripe's test cards (see payments.simulated)
    story: Story


PLANS: tuple[DemoPlan, ...] = (
    DemoPlan(
        "starter",
        "Starter",
        "Everything a small team needs to get going: 3 projects, 10 GB of storage and "
        "e-mail support.",
        900,
        "EUR",
        "month",
    ),
    DemoPlan(
        "pro",
        "Pro",
        "For growing teams: unlimited projects, 100 GB of storage, priority support and "
        "daily backups.",
        2900,
        "EUR",
        "month",
    ),
    DemoPlan(
        "team",
        "Team",
        "The whole organisation on one bill: single sign-on, audit log, 1 TB of storage and "
        "a named account manager. Billed yearly.",
        29000,
        "EUR",
        "year",
    ),
)

PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        "olivia",
        "Olivia Bennett",
        "olivia.bennett@example.com",
        "+44 20 7946 0958",
        "en",
        "pro",
        "4242424242424242",
        "history",
    ),
    DemoPerson(
        "lucia",
        "Lucía Fernández",
        "lucia.fernandez@example.com",
        "+34 912 345 678",
        "es",
        "starter",
        "5555555555554444",
        "active",
    ),
    DemoPerson(
        "joao",
        "João Silva",
        "joao.silva@example.com",
        "+351 21 234 5678",
        "pt",
        "team",
        "4242424242424242",
        "canceled",
    ),
    DemoPerson(
        "camille",
        "Camille Dubois",
        "camille.dubois@example.com",
        "+33 1 23 45 67 89",
        "fr",
        "starter",
        "4000000000000002",
        "declined",
    ),
)

CANCEL_REASON = "too_expensive"
CANCEL_COMMENT = "Encontrei um plano mais barato noutro fornecedor."
# Plan images, if the gateway serves them (the portal's static files); no external network.
PLAN_IMAGE_PATH = "/portal/static/demo/{key}.svg"


class DemoError(Exception):
    """The demo could not be seeded; the message says which request failed and how."""


# --- what the seeding made ---------------------------------------------------------------


@dataclass(frozen=True)
class DemoCustomer:
    key: str
    name: str
    email: str
    locale: str
    customer_id: str
    subscription_id: str | None
    plan_name: str
    status: str
    paid_invoices: int
    portal_url: str | None
    portal_expires_at: str | None


@dataclass(frozen=True)
class DemoInfo:
    merchant_id: str
    slug: str
    name: str
    api_key: str
    gateway_url: str
    customers: tuple[DemoCustomer, ...]
    reused: bool = False
    notes: tuple[str, ...] = ()

    def customer(self, key: str) -> DemoCustomer:
        for customer in self.customers:
            if customer.key == key:
                return customer
        raise KeyError(key)

    def summary_lines(self) -> list[str]:
        """What the launcher prints under its summary."""
        made = "reused from the previous start" if self.reused else "created"
        lines = [
            f"Demo merchant ({made}): {self.name}  slug {self.slug}  id {self.merchant_id}",
            f"  API key   {self.api_key}",
            "  Portal links (each opens once, within 5 minutes; new ones: "
            f"{links_command(self.gateway_url)}):",
        ]
        width = max(len(f"{c.name} ({c.locale})") for c in self.customers)
        for customer in self.customers:
            who = f"{customer.name} ({customer.locale})".ljust(width)
            what = _describe(customer)
            lines.append(f"    {who}  {what}")
            lines.append(f"    {' ' * width}  {customer.portal_url or '(no portal link)'}")
        lines.extend(f"  Note: {note}" for note in self.notes)
        return lines


def links_command(gateway_url: str) -> str:
    command = "uv run python -m billing_tools.demo"
    if gateway_url.rstrip("/") != DEFAULT_GATEWAY:
        command += f" --gateway {gateway_url}"
    return f"{command} links"


def _describe(customer: DemoCustomer) -> str:
    status = {
        "incomplete_expired": "card declined, never started",
        "incomplete": "first payment pending",
    }.get(customer.status, customer.status)
    invoices = f", {customer.paid_invoices} paid invoices" if customer.paid_invoices > 1 else ""
    return f"{customer.plan_name}: {status}{invoices}"


# --- talking to the gateway -------------------------------------------------------------


class Gateway:
    """The gateway's HTTP APIs, with the retries a careful client makes.

    Every POST carries an ``Idempotency-Key``, so that a retry after a lost answer cannot
    create a second customer or charge twice.
    """

    def __init__(self, http: httpx.AsyncClient, admin_token: str | None = None) -> None:
        self._http = http
        self._admin = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.api_key: str | None = None

    @property
    def _merchant(self) -> dict[str, str]:
        if self.api_key is None:
            raise DemoError("no merchant API key yet")
        return {"Authorization": f"Bearer {self.api_key}"}

    async def image_url(self, path: str) -> str | None:
        """The absolute URL of ``path`` if the gateway serves an image there."""
        try:
            response = await self._http.get(path)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        if not response.headers.get("content-type", "").startswith("image/"):
            return None
        return str(response.url)

    async def admin_post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        return await self._post(path, body, self._admin)

    async def post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        return await self._post(path, body, self._merchant)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return await self._send("GET", path, headers=self._merchant, params=params)

    async def _post(
        self, path: str, body: Mapping[str, Any], auth: Mapping[str, str]
    ) -> httpx.Response:
        headers = {**auth, "Idempotency-Key": f"demo-{uuid.uuid4()}"}
        return await self._send("POST", path, headers=headers, json=body)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last_problem = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.5 * attempt)
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                continue
            # Retried with the same Idempotency-Key: the first attempt may still be running.
            if response.status_code == 503 or _error_code(response) == "idempotency_key_in_use":
                last_problem = f"{response.status_code} {response.text[:300]}"
                continue
            return response
        raise DemoError(f"{method} {path}: no answer after {ATTEMPTS} attempts ({last_problem})")


def _error_code(response: httpx.Response) -> str | None:
    with contextlib.suppress(ValueError, LookupError, TypeError):
        code = response.json()["error"]["code"]
        return code if isinstance(code, str) else None
    return None


def _expect(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    if response.status_code not in statuses:
        request = response.request
        raise DemoError(
            f"{request.method} {request.url.path} answered {response.status_code}: "
            f"{response.text[:500]}"
        )
    body = response.json()
    if not isinstance(body, dict):
        raise DemoError(f"{response.request.url.path}: expected a JSON object, got {body!r}")
    return body


async def _until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, *, required: bool = True
) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            if required:
                raise DemoError(f"{what}: not seen within {timeout:.0f}s")
            return False
        await asyncio.sleep(POLL_INTERVAL)


# --- seeding ----------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


async def seed(
    gateway_url: str,
    admin_token: str,
    *,
    state_dir: Path | None = None,
    now: Callable[[], datetime] = utc_now,
) -> DemoInfo:
    """Seed the demo through the gateway at ``gateway_url``; what was made, with fresh portal
    links. With ``state_dir``, the demo merchant of a previous run is reused when it still
    exists (see the module's docstring)."""
    gateway_url = gateway_url.rstrip("/")
    async with httpx.AsyncClient(base_url=gateway_url, timeout=REQUEST_TIMEOUT) as http:
        gateway = Gateway(http, admin_token)
        state = load_state(state_dir, gateway_url) if state_dir else None
        if state is not None and await _still_there(gateway, state):
            info = await _refresh(gateway, state, gateway_url, now)
        else:
            info = await _create(gateway, gateway_url, now)
        if state_dir is not None:
            _save_state(state_dir, info)
        return info


async def _create(gateway: Gateway, gateway_url: str, now: Callable[[], datetime]) -> DemoInfo:
    merchant = await _register_merchant(gateway)
    gateway.api_key = merchant["api_key"]
    merchant_id = merchant["id"]
    notes: list[str] = []

    # Back in time first: what is created now happens three months ago.
    await _set_clock(gateway, merchant_id, now() - HISTORY)
    images = await _plan_images(gateway)
    if not images:
        notes.append(
            "plans have no image: the gateway does not serve "
            f"{PLAN_IMAGE_PATH.format(key='<plan>')} (demo images) yet"
        )
    plans = {plan.key: await _create_plan(gateway, plan, images.get(plan.key)) for plan in PLANS}

    made: dict[str, tuple[str, str | None]] = {}
    for person in PEOPLE:
        customer_id = await _create_customer(gateway, person)
        subscription_id = await _subscribe(gateway, person, customer_id, plans[person.plan])
        made[person.key] = (customer_id, subscription_id)

    # Back to the present: every period that ended on the way is renewed, invoiced, paid.
    await _set_clock(gateway, merchant_id, now())
    for person in PEOPLE:
        subscription_id = made[person.key][1]
        if person.story == "canceled" and subscription_id is not None:
            await _cancel(gateway, subscription_id)
    history = next(p for p in PEOPLE if p.story == "history")
    history_subscription = made[history.key][1]
    if history_subscription is not None and not await _until(
        lambda: _paid_at_least(gateway, history_subscription, 4),
        RENEWALS_TIMEOUT,
        "renewal invoices",
        required=False,
    ):
        notes.append(
            f"{history.name}'s renewals were not all invoiced within {RENEWALS_TIMEOUT:.0f}s; "
            "they will show up in the portal once processed"
        )

    customers = [await _customer_summary(gateway, person, *made[person.key]) for person in PEOPLE]
    return DemoInfo(
        merchant_id=merchant_id,
        slug=merchant["slug"],
        name=merchant["name"],
        api_key=merchant["api_key"],
        gateway_url=gateway_url,
        customers=tuple(customers),
        notes=tuple(notes),
    )


async def _register_merchant(gateway: Gateway) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": DEMO_MERCHANT,
        "slug": DEMO_SLUG,
        "support_email": DEMO_SUPPORT_EMAIL,
        "brand_color": DEMO_BRAND_COLOR,
        # The walking skeleton's portal cancels at once; the demo says the same to the API.
        "cancel_mode": "immediately",
    }
    response = await gateway.admin_post("/admin/merchants", body)
    if response.status_code == 409 and _error_code(response) == "slug_taken":
        # A demo merchant from a run whose secret key we no longer have: make another.
        body["slug"] = f"{DEMO_SLUG}-{secrets.token_hex(3)}"
        response = await gateway.admin_post("/admin/merchants", body)
    if response.status_code == 401:
        raise DemoError(
            "the gateway refused the operator token (POST /admin/merchants answered 401): "
            "the launcher and the gateway must share ADMIN_TOKEN"
        )
    return _expect(response, 201)


async def _set_clock(
    gateway: Gateway, merchant_id: str, moment: datetime, *, only_forward: bool = False
) -> None:
    response = await gateway.admin_post(
        f"/admin/merchants/{merchant_id}/test_clock", {"advance_to": moment.isoformat()}
    )
    if only_forward and _error_code(response) == "clock_backwards":
        return  # already at or past ``moment``: nothing fell due
    _expect(response, 200, 202)


async def _plan_images(gateway: Gateway) -> dict[str, str]:
    images: dict[str, str] = {}
    for plan in PLANS:
        url = await gateway.image_url(PLAN_IMAGE_PATH.format(key=plan.key))
        if url is not None:
            images[plan.key] = url
    return images


async def _create_resource(gateway: Gateway, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST a new resource. A 202 means it is queued but was not seen made within the
    gateway's bounded wait (a busy machine): then wait, bounded, until it can be read."""
    response = await gateway.post(path, body)
    created = _expect(response, 201, 202)
    if response.status_code == 201:
        return created
    location = f"{path}/{created['id']}"

    async def exists() -> bool:
        return (await gateway.get(location)).status_code == 200

    await _until(exists, RENEWALS_TIMEOUT, f"{location} to be created")
    return _expect(await gateway.get(location), 200)


async def _create_plan(gateway: Gateway, plan: DemoPlan, image_url: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": plan.name,
        "description": plan.description,
        "amount": plan.amount,
        "currency": plan.currency,
        "interval": plan.interval,
    }
    if image_url:
        body["image_url"] = image_url
    return await _create_resource(gateway, "/v1/plans", body)


async def _create_customer(gateway: Gateway, person: DemoPerson) -> str:
    body = {
        "email": person.email,
        "name": person.name,
        "phone": person.phone,
        "locale": person.locale,
    }
    customer = await _create_resource(gateway, "/v1/customers", body)
    return str(customer["id"])


async def _subscribe(
    gateway: Gateway, person: DemoPerson, customer_id: str, plan: Mapping[str, Any]
) -> str | None:
    card = {"number": person.card_number, "exp_month": 12, "exp_year": utc_now().year + 4}
    # A 202 (queued, not yet seen attached) carries the id too, and there is no GET to wait
    # on: go on; should the subscription then be refused, the seeding says so.
    method = _expect(
        await gateway.post(
            "/v1/payment_methods", {"customer": customer_id, "card": {**card, "cvc": "123"}}
        ),
        201,
        202,
    )
    response = await gateway.post(
        "/v1/subscriptions",
        {"customer": customer_id, "plan": plan["id"], "payment_method": method["id"]},
    )
    if person.story == "declined":
        # The point of this customer: the first charge is declined (402), nothing starts.
        if response.status_code == 402:
            error = response.json().get("error", {})
            subscription = error.get("subscription")
            return str(subscription) if subscription else None
        raise DemoError(
            f"{person.name}'s card should be declined; POST /v1/subscriptions answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    subscription = _expect(response, 200, 202)
    subscription_id = str(subscription["id"])
    if response.status_code == 202:
        await _until(
            lambda: _status_is(gateway, subscription_id, "active"),
            RENEWALS_TIMEOUT,
            f"{person.name}'s subscription to become active",
        )
    return subscription_id


async def _cancel(gateway: Gateway, subscription_id: str) -> None:
    response = await gateway.post(
        f"/v1/subscriptions/{subscription_id}/cancel",
        {"at_period_end": False, "reason": CANCEL_REASON, "comment": CANCEL_COMMENT},
    )
    _expect(response, 200, 202)


async def _status_is(gateway: Gateway, subscription_id: str, status: str) -> bool:
    response = await gateway.get(f"/v1/subscriptions/{subscription_id}")
    return response.status_code == 200 and response.json().get("status") == status


async def _paid_invoices(gateway: Gateway, subscription_id: str) -> int:
    response = await gateway.get("/v1/invoices", {"subscription": subscription_id, "limit": 100})
    if response.status_code != 200:
        return 0
    return sum(1 for invoice in response.json().get("data", []) if invoice["status"] == "paid")


async def _paid_at_least(gateway: Gateway, subscription_id: str, count: int) -> bool:
    return await _paid_invoices(gateway, subscription_id) >= count


async def _customer_summary(
    gateway: Gateway, person: DemoPerson, customer_id: str, subscription_id: str | None
) -> DemoCustomer:
    plan_name = next(p.name for p in PLANS if p.key == person.plan)
    status = "incomplete_expired" if person.story == "declined" else "unknown"
    paid = 0
    if subscription_id is not None:
        response = await gateway.get(f"/v1/subscriptions/{subscription_id}")
        if response.status_code == 200:
            subscription = response.json()
            status = subscription["status"]
            plan_name = subscription["plan"]["name"]
        paid = await _paid_invoices(gateway, subscription_id)
    session = _expect(await gateway.post("/v1/portal/sessions", {"customer": customer_id}), 201)
    return DemoCustomer(
        key=person.key,
        name=person.name,
        email=person.email,
        locale=person.locale,
        customer_id=customer_id,
        subscription_id=subscription_id,
        plan_name=plan_name,
        status=status,
        paid_invoices=paid,
        portal_url=session["url"],
        portal_expires_at=session["expires_at"],
    )


# --- reusing the demo of a previous run ---------------------------------------------------


async def _still_there(gateway: Gateway, state: DemoInfo) -> bool:
    """Whether this database still has the demo merchant, its key and its customers."""
    gateway.api_key = state.api_key
    for customer in state.customers:
        response = await gateway.get(f"/v1/customers/{customer.customer_id}")
        if response.status_code != 200:
            gateway.api_key = None
            return False
    return True


async def _refresh(
    gateway: Gateway, state: DemoInfo, gateway_url: str, now: Callable[[], datetime]
) -> DemoInfo:
    # Time has passed since the last start: let the renewals that fell due meanwhile happen.
    await _set_clock(gateway, state.merchant_id, now(), only_forward=True)
    customers = []
    for old in state.customers:
        person = next(p for p in PEOPLE if p.key == old.key)
        customers.append(
            await _customer_summary(gateway, person, old.customer_id, old.subscription_id)
        )
    return DemoInfo(
        merchant_id=state.merchant_id,
        slug=state.slug,
        name=state.name,
        api_key=state.api_key,
        gateway_url=gateway_url,
        customers=tuple(customers),
        reused=True,
    )


def state_path(state_dir: Path, gateway_url: str) -> Path:
    """The state file of the demo seeded through ``gateway_url`` (one per gateway address,
    so that a test run on other ports leaves a developer's demo alone)."""
    digest = hashlib.sha256(gateway_url.rstrip("/").encode()).hexdigest()[:12]
    return state_dir / f"{STATE_PREFIX}{digest}.json"


def load_state(state_dir: Path, gateway_url: str) -> DemoInfo | None:
    path = state_path(state_dir, gateway_url)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        customers = tuple(DemoCustomer(**c) for c in raw.pop("customers"))
        return DemoInfo(**{**raw, "customers": customers, "notes": ()})
    except (OSError, ValueError, TypeError, KeyError):
        return None  # missing or unreadable: seed afresh


def _save_state(state_dir: Path, info: DemoInfo) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(state_dir, info.gateway_url)
    temporary = path.with_suffix(".tmp")
    text = json.dumps(asdict(info), indent=2, ensure_ascii=False)
    # The file holds a secret key (of a local test merchant): readable by its owner only,
    # from its creation on.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    temporary.replace(path)
    _forget_old_states(state_dir, keep=path)


def _forget_old_states(state_dir: Path, keep: Path) -> None:
    """Runs on other ports (tests, benchmarks) leave state files behind; after a week their
    systems are long gone."""
    cutoff = time.time() - STATE_LIFETIME.total_seconds()
    for old in state_dir.glob(f"{STATE_PREFIX}*.json"):
        with contextlib.suppress(OSError):
            if old != keep and old.stat().st_mtime < cutoff:
                old.unlink()


async def fresh_links(info: DemoInfo) -> DemoInfo:
    """New portal links for the demo customers (the printed ones expire unused in 5 min)."""
    async with httpx.AsyncClient(base_url=info.gateway_url, timeout=REQUEST_TIMEOUT) as http:
        gateway = Gateway(http)
        if not await _still_there(gateway, info):
            raise DemoError(
                f"the demo merchant {info.slug} is not in the system at {info.gateway_url} "
                "any more: restart `make dev` to seed it again"
            )
        customers = []
        for old in info.customers:
            person = next(p for p in PEOPLE if p.key == old.key)
            customers.append(
                await _customer_summary(gateway, person, old.customer_id, old.subscription_id)
            )
    return DemoInfo(**{**asdict(info), "customers": tuple(customers), "notes": ()})


# --- entry points: the launcher's hook and the command line -------------------------------

# Everything the seeding does, bounded: the launcher must not hang on a stuck service.
SEED_TIMEOUT = 180.0
_NO = frozenset({"0", "false", "no", "off"})


def operator_token(workdir: Path, environ: Mapping[str, str] = os.environ) -> str | None:
    """ADMIN_TOKEN, else the file the launcher writes next to its work directory (the same
    places ``billingctl`` looks)."""
    token = environ.get("ADMIN_TOKEN", "").strip()
    if token:
        return token
    with contextlib.suppress(OSError):
        return (workdir.parent / "admin-token").read_text(encoding="utf-8").strip() or None
    return None


async def launcher_lines(env: DevEnvironment) -> list[str]:
    """The launcher's after-ready hook: seed the demo, return the lines for its summary.

    A demo that cannot be seeded does not stop the system a developer asked for: the lines
    say what failed, and the services keep running.
    """
    if os.environ.get(SKIP_VARIABLE, "").strip().lower() in _NO:
        return [f"Demo data: skipped ({SKIP_VARIABLE}={os.environ[SKIP_VARIABLE]})"]
    token = operator_token(env.workdir)
    if token is None:
        return ["Demo data: skipped, there is no operator token (set ADMIN_TOKEN)"]
    try:
        info = await asyncio.wait_for(
            seed(env.gateway_url, token, state_dir=env.workdir), SEED_TIMEOUT
        )
    except (DemoError, httpx.HTTPError, TimeoutError) as exc:
        problem = str(exc) or type(exc).__name__
        return [
            f"Demo data could not be seeded: {problem}",
            "  The services keep running; create data with the API or `uv run billingctl`.",
        ]
    return info.summary_lines()


def _dev_state_dir() -> Path:
    from billing_tools.dev import repo_root

    return repo_root() / ".devstack" / "dev"


def _print(info: DemoInfo, stream: Any = sys.stdout) -> None:
    for line in info.summary_lines():
        print(line, file=stream)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m billing_tools.demo",
        description="The demo data of `make dev`: seed it, or get new portal links for it.",
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("GATEWAY_URL", DEFAULT_GATEWAY),
        help="gateway base URL (default: GATEWAY_URL or %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("seed", help="seed the demo (reusing the last one if it still exists)")
    commands.add_parser("links", help="new portal links for the demo customers")
    args = parser.parse_args(argv)
    state_dir = _dev_state_dir()
    try:
        if args.command == "seed":
            token = operator_token(state_dir)
            if token is None:
                parser.exit(2, "no operator token: set ADMIN_TOKEN\n")
            info = asyncio.run(seed(args.gateway, token, state_dir=state_dir))
        else:
            state = load_state(state_dir, args.gateway)
            if state is None:
                parser.exit(1, f"no demo seeded through {args.gateway}: run `make dev` first\n")
            info = asyncio.run(fresh_links(state))
            _save_state(state_dir, info)
    except (DemoError, httpx.HTTPError) as exc:
        parser.exit(1, f"{exc}\n")
    _print(info)


if __name__ == "__main__":
    main()
