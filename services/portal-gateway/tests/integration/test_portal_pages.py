"""The portal's pages over HTTP: sessions on the real PostgreSQL, read models and commands
from in-memory fakes (``portal_gateway.portal.testing``), time from a fake clock.

The app runs in the test's own event loop through httpx's ASGI transport: Litestar's
TestClient would run it in a thread with another loop, where the asyncpg pool of the
``pg_pool`` fixture cannot be used.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from billing_events.contract.commands import (
    AttachPaymentMethod,
    CancelSubscription,
    UpdateSubscriptionPaymentMethod,
)
from billing_events.postgres import migrate
from payments import SimulatedProcessor
from portal_gateway.application.ports import InvoiceView, PortalOverview
from portal_gateway.portal import (
    PORTAL_MIGRATIONS,
    FakeClock,
    PortalSettings,
    create_portal_session,
    portal_link_path,
    portal_router,
)
from portal_gateway.portal.testing import (
    InMemoryCommandGateway,
    InMemoryPortalData,
    card,
    demo_data,
)
from servicekit import configure_logging

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
PROCESSOR_SECRET = b"portal-pages-processor-secret-0123456789"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Portal:
    app: Litestar
    client: httpx.AsyncClient
    data: InMemoryPortalData
    commands: InMemoryCommandGateway
    clock: FakeClock
    pool: asyncpg.Pool
    settings: PortalSettings

    async def link(
        self,
        customer_id: str = "cus_alice",
        *,
        merchant_id: str = "m_acme",
        locale: str | None = None,
        return_url: str | None = "https://acme.example/account",
    ) -> str:
        created = await create_portal_session(
            self.pool,
            merchant_id=merchant_id,
            customer_id=customer_id,
            return_url=return_url,
            locale=locale,
            now=self.clock.now(),
        )
        return portal_link_path(created.url_token)

    async def sign_in(self, customer_id: str = "cus_alice", **kwargs: Any) -> httpx.Response:
        response = await self.client.get(await self.link(customer_id, **kwargs))
        assert response.status_code == 200, response.text
        return response

    async def csrf(self, path: str = "/portal") -> str:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        match = CSRF_INPUT.search(page.text)
        assert match is not None
        return match.group(1)

    async def post(
        self, path: str, data: dict[str, str], *, follow: bool = False
    ) -> httpx.Response:
        return await self.client.post(path, data=data, follow_redirects=follow)


@pytest.fixture
async def portal_factory(pg_pool: asyncpg.Pool) -> AsyncIterator[Callable[..., Any]]:
    await migrate(pg_pool, PORTAL_MIGRATIONS)
    clients: list[httpx.AsyncClient] = []

    async def make(
        settings: PortalSettings | None = None, data: InMemoryPortalData | None = None
    ) -> Portal:
        clock = FakeClock(NOW)
        data = data or demo_data(NOW)
        commands = InMemoryCommandGateway(data, NOW)
        settings = settings or PortalSettings.for_env("dev")
        processor = SimulatedProcessor(PROCESSOR_SECRET, clock.now)
        app = Litestar(
            route_handlers=[
                portal_router(data, commands, pg_pool, settings, clock=clock, processor=processor)
            ]
        )
        client = browser(app)
        clients.append(client)
        return Portal(app, client, data, commands, clock, pg_pool, settings)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def portal(portal_factory: Callable[..., Any]) -> Portal:
    made: Portal = await portal_factory()
    return made


def browser(app: Litestar) -> httpx.AsyncClient:
    """A browser with its own cookie jar, talking to ``app`` in this event loop."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]  # narrower ASGI types
        base_url="http://testserver.local",
        follow_redirects=True,
    )


async def second_browser(portal: Portal) -> httpx.AsyncClient:
    """Another browser on the same server."""
    return browser(portal.app)


def text_of(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)).replace("&#39;", "'")


# -- opening a link --------------------------------------------------------------------


async def test_a_link_opens_the_portal_with_a_safe_cookie(portal: Portal) -> None:
    response = await portal.client.get(await portal.link(), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("portal_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # local development over http
    assert not any(a.startswith(("max-age", "expires")) for a in attributes)  # browser session
    page = await portal.client.get("/portal")
    assert page.status_code == 200
    assert "Premium Mensual" in page.text


async def test_outside_local_development_the_cookie_is_secure_and_host_only(
    portal_factory: Callable[..., Any],
) -> None:
    prod: Portal = await portal_factory(PortalSettings.for_env("prod"))
    response = await prod.client.get(await prod.link(), follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-portal_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
    assert "max-age=63072000" in response.headers["strict-transport-security"]


async def test_the_portal_speaks_the_customers_language(portal: Portal) -> None:
    page = await portal.sign_in("cus_alice")  # her locale is es
    assert '<html lang="es">' in page.text
    text = text_of(page)
    assert "Gestiona tu facturación" in text
    assert "Activa" in text
    assert "29,99 €" in text.replace("\xa0", " ")
    assert "Próximo cobro" in text
    assert "Volver a Acme Cloud" in text


async def test_the_merchant_can_choose_the_sessions_language(portal: Portal) -> None:
    page = await portal.sign_in("cus_alice", locale="fr")
    assert '<html lang="fr">' in page.text
    assert "Gérez votre facturation" in page.text


async def test_the_overview_shows_every_section(portal: Portal) -> None:
    text = text_of(await portal.sign_in("cus_bob"))
    for expected in (
        "Acme Cloud",  # company
        "Team",  # plan name
        "The Team plan, renewed automatically.",  # description
        "¥120,000 per year",  # price and interval
        "Active",
        "Next charge",
        "¥120,000 on",  # the exact amount of the next charge
        "Canceled",  # the old subscription
        "Mastercard ending in 4444",
        "Expires 12/2030",
        "Return to Acme Cloud",
        "billing@acme.example",
    ):
        assert expected in text, expected


async def test_the_invoice_history_lists_date_number_amount_status_and_plan(
    portal: Portal,
) -> None:
    text = text_of(await portal.sign_in("cus_alice"))
    for number in ("ACME-1001", "ACME-1002", "ACME-1003"):
        assert number in text
    # Newest first: ACME-1001 is the latest invoice of the demo data.
    assert text.index("ACME-1001") < text.index("ACME-1002") < text.index("ACME-1003")
    rows = re.findall(r"<tr>.*?</tr>", (await portal.client.get("/portal")).text, re.S)
    assert len(rows) == 4  # header + three invoices
    assert "Pagada" in rows[1]
    assert "Premium Mensual" in rows[1]
    assert "29,99" in rows[1]


async def test_a_link_unused_for_five_minutes_has_expired(portal: Portal) -> None:
    link = await portal.link(locale="es")
    portal.clock.advance(timedelta(minutes=5))
    response = await portal.client.get(link)
    assert response.status_code == 410
    text = text_of(response)
    assert "Este enlace ha caducado" in text
    assert "Acme Cloud" in text  # still branded
    assert 'href="https://acme.example/account"' in response.text
    assert "set-cookie" not in response.headers


async def test_a_link_still_works_just_before_five_minutes(portal: Portal) -> None:
    link = await portal.link()
    portal.clock.advance(timedelta(minutes=4, seconds=59))
    assert (await portal.client.get(link)).status_code == 200


async def test_a_link_works_once_and_only_in_the_browser_that_opened_it(portal: Portal) -> None:
    link = await portal.link()
    assert (await portal.client.get(link)).status_code == 200
    # The same browser reloading the link just continues its session.
    again = await portal.client.get(link, follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/portal"
    other = await second_browser(portal)
    try:
        refused = await other.get(link, headers={"accept-language": "en"})
        assert refused.status_code == 410
        # In the customer's language (es) and the merchant's colors, whatever the browser.
        assert "Este enlace ya se ha utilizado" in text_of(refused)
        assert "Acme Cloud" in text_of(refused)
        assert (await other.get("/portal")).status_code == 401
    finally:
        await other.aclose()


@pytest.mark.parametrize("token", ["nonexistent", "A" * 43, "not%20a%20token%20at%20all%3Cb%3E"])
async def test_an_unknown_link_gets_a_clear_page_in_the_browsers_language(
    portal: Portal, token: str
) -> None:
    response = await portal.client.get(f"/portal/s/{token}", headers={"accept-language": "pt-BR"})
    assert response.status_code == 404
    assert "Não encontramos este link" in text_of(response)


async def test_branding_failures_do_not_break_the_expired_link_page(
    portal_factory: Callable[..., Any],
) -> None:
    class BrokenReadModel(InMemoryPortalData):
        async def overview(self, merchant_id: str, customer_id: str) -> PortalOverview | None:
            raise ConnectionError("projection database down")

    broken: Portal = await portal_factory(data=BrokenReadModel())
    link = await broken.link()
    broken.clock.advance(timedelta(minutes=6))
    response = await broken.client.get(link)
    assert response.status_code == 410
    assert "This link has expired" in text_of(response)


# -- the session ------------------------------------------------------------------------


async def test_without_a_session_the_portal_explains_how_to_get_in(portal: Portal) -> None:
    response = await portal.client.get("/portal", headers={"accept-language": "fr"})
    assert response.status_code == 401
    assert "Vous n\u2019êtes pas connecté" in text_of(response)


async def test_the_session_ends_one_hour_after_the_last_activity(portal: Portal) -> None:
    await portal.sign_in()
    for _ in range(3):
        portal.clock.advance(timedelta(minutes=59))
        assert (await portal.client.get("/portal")).status_code == 200
    portal.clock.advance(timedelta(hours=1))
    ended = await portal.client.get("/portal")
    assert ended.status_code == 401
    text = text_of(ended)
    assert "Tu sesión ha finalizado" in text
    assert "Acme Cloud" in text


async def test_a_session_for_a_customer_the_read_model_lacks_is_not_a_500(
    portal: Portal,
) -> None:
    response = await portal.client.get(await portal.link("cus_not_projected_yet"))
    assert response.status_code == 503
    assert "We can't show your account right now" in text_of(response)


async def test_signing_out_ends_the_session(portal: Portal) -> None:
    await portal.sign_in("cus_bob")
    token = await portal.csrf()
    response = await portal.post("/portal/logout", {"csrf_token": token})
    assert response.status_code == 200
    assert "You're signed out" in text_of(response)
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await portal.client.get("/portal")).status_code == 401


# -- headers -------------------------------------------------------------------------


async def test_security_headers_on_pages_error_pages_and_assets(portal: Portal) -> None:
    await portal.sign_in()
    responses = {
        "overview": await portal.client.get("/portal"),
        "not found": await portal.client.get("/portal/subscriptions/sub_nope/cancel"),
        "unknown link": await portal.client.get("/portal/s/unknown-link-token-value"),
        "stylesheet": await portal.client.get("/portal/static/portal.css"),
        "theme": await portal.client.get("/portal/theme.css?brand=0a7d5a"),
    }
    for name, response in responses.items():
        csp = response.headers["content-security-policy"]
        for directive in (
            "default-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ):
            assert directive in csp, (name, directive)
        assert response.headers["x-frame-options"] == "DENY", name
        assert response.headers["referrer-policy"] == "no-referrer", name
        assert response.headers["x-content-type-options"] == "nosniff", name
    for name in ("overview", "not found", "unknown link"):
        assert responses[name].headers["cache-control"] == "no-store", name
        assert responses[name].headers["content-type"].startswith("text/html"), name
    assert "public" in responses["stylesheet"].headers["cache-control"]
    assert responses["stylesheet"].headers["content-type"].startswith("text/css")


async def test_the_page_is_laid_out_for_phones(portal: Portal) -> None:
    page = await portal.sign_in()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    css_href = re.search(
        r'<link rel="stylesheet" href="(/portal/static/portal\.css\?v=\w+)"', page.text
    )
    assert css_href is not None
    css = (await portal.client.get(css_href.group(1))).text
    # Mobile first: the base rules are for phones, wider screens are the exception.
    assert "@media (min-width: 40rem)" in css
    assert "max-width" not in css.split("@media", 1)[0].split(".container", 1)[0]
    assert "<script" not in page.text
    assert "style=" not in page.text


async def test_the_merchants_theme_is_a_validated_stylesheet(portal: Portal) -> None:
    themed = await portal.client.get("/portal/theme.css?brand=0a7d5a")
    assert "--brand:#0a7d5a" in themed.text
    hostile = await portal.client.get("/portal/theme.css", params={"brand": "red;}*{x:url(//e)"})
    assert hostile.status_code == 200
    assert "url(" not in hostile.text
    assert "--brand:#4f46e5" in hostile.text


# -- CSRF and tenancy ------------------------------------------------------------------

POST_ROUTES = [
    ("/portal/language", {"locale": "fr", "next": "/portal"}),
    ("/portal/logout", {}),
    ("/portal/subscriptions/sub_alice/cancel/review", {"reason": "unused"}),
    ("/portal/subscriptions/sub_alice/cancel", {"reason": "unused"}),
    (
        "/portal/subscriptions/sub_bob/payment_method",
        {"source": "saved", "payment_method": "pm_mc"},
    ),
    (
        "/portal/subscriptions/sub_bob/payment_method",
        {
            "source": "new",
            "card_number": "5555555555554444",
            "exp_month": "12",
            "exp_year": "2031",
            "cvc": "123",
        },
    ),
]


@pytest.mark.parametrize(("path", "fields"), POST_ROUTES)
async def test_every_form_post_without_a_valid_csrf_token_is_refused(
    portal: Portal, path: str, fields: dict[str, str]
) -> None:
    await portal.sign_in("cus_bob")
    # A token made for another session is as bad as none.
    other = await second_browser(portal)
    try:
        other_page = await other.get(await portal.link("cus_alice"))
        foreign = CSRF_INPUT.search(other_page.text)
        assert foreign is not None
    finally:
        await other.aclose()
    for token in (None, "", "garbage", foreign.group(1)):
        data = dict(fields) if token is None else {**fields, "csrf_token": token}
        response = await portal.post(path, data)
        assert response.status_code == 403, (path, token)
        assert "This form has expired" in text_of(response)
    assert portal.commands.sent == []
    page = await portal.client.get("/portal")
    assert page.status_code == 200  # not signed out
    assert '<html lang="en">' in page.text  # language unchanged
    assert portal.data.subscriptions[("m_acme", "sub_alice")].status == "active"


async def test_another_customers_subscription_is_not_found(portal: Portal) -> None:
    await portal.sign_in("cus_alice")
    token = await portal.csrf()
    unknown = await portal.client.get("/portal/subscriptions/sub_does_not_exist/cancel")
    responses = [
        await portal.client.get("/portal/subscriptions/sub_bob/cancel"),
        await portal.post("/portal/subscriptions/sub_bob/cancel/review", {"csrf_token": token}),
        await portal.post(
            "/portal/subscriptions/sub_bob/cancel", {"csrf_token": token, "reason": "unused"}
        ),
        await portal.client.get("/portal/subscriptions/sub_bob/payment_method"),
        await portal.post(
            "/portal/subscriptions/sub_bob/payment_method",
            {"csrf_token": token, "source": "saved", "payment_method": "pm_mc"},
        ),
    ]
    for response in [unknown, *responses]:
        assert response.status_code == 404
        assert "Página no encontrada" in text_of(response)
        assert "Team" not in response.text
        assert "bob@example.com" not in response.text
    # Another customer's id looks exactly like an id that does not exist.
    assert text_of(responses[0]) == text_of(unknown)
    assert portal.commands.sent == []
    assert portal.data.subscriptions[("m_acme", "sub_bob")].status == "active"


async def test_another_merchants_customer_is_never_shown(portal: Portal) -> None:
    # A session minted for a customer id under another merchant sees nothing of m_acme's.
    response = await portal.client.get(await portal.link("cus_alice", merchant_id="m_other"))
    assert response.status_code == 503
    assert "Alice" not in response.text
    assert "Premium" not in response.text


# -- the overview's page cache ---------------------------------------------------------


async def test_each_overview_has_a_csrf_token_of_its_own(portal: Portal) -> None:
    await portal.sign_in("cus_alice")
    tokens = [await portal.csrf() for _ in range(3)]
    assert len(set(tokens)) == 3
    for token in tokens:  # each works for this session...
        switched = await portal.post(
            "/portal/language", {"csrf_token": token, "locale": "es", "next": "/portal"}
        )
        assert switched.status_code == 303
    other = await second_browser(portal)
    try:  # ...and for no other, though the other session sees the very same page
        await other.get(await portal.link("cus_alice"))
        for token in tokens:
            refused = await other.post(
                "/portal/language",
                data={"csrf_token": token, "locale": "fr", "next": "/portal"},
                follow_redirects=False,
            )
            assert refused.status_code == 403
    finally:
        await other.aclose()


async def test_the_overview_shows_each_customer_their_own_data_as_it_is_now(
    portal: Portal,
) -> None:
    alice = await portal.sign_in("cus_alice", locale="en")
    other = await second_browser(portal)
    try:
        bob = await other.get(await portal.link("cus_bob", locale="en"))
        for _ in range(2):
            alice = await portal.client.get("/portal")
            bob = await other.get("/portal")
            assert "Alice Martín" in alice.text
            assert "Bob Stone" not in alice.text
            assert "Bob Stone" in bob.text
            assert "Alice Martín" not in bob.text
    finally:
        await other.aclose()
    # A projected change is on the very next page.
    key = ("m_acme", "cus_alice")
    portal.data.customers[key] = replace(portal.data.customers[key], name="Alicia Martín")
    renamed = await portal.client.get("/portal")
    assert "Alicia Martín" in renamed.text
    portal.data.invoices[key].insert(
        0, replace(portal.data.invoices[key][0], invoice_id="in_new", number="ACME-2000")
    )
    assert "ACME-2000" in (await portal.client.get("/portal")).text


# -- cancel flow -----------------------------------------------------------------------


async def cancel(
    portal: Portal, subscription_id: str = "sub_alice", **answers: str
) -> httpx.Response:
    reason_page = await portal.client.get(f"/portal/subscriptions/{subscription_id}/cancel")
    assert reason_page.status_code == 200
    token = CSRF_INPUT.search(reason_page.text)
    assert token is not None
    confirm = await portal.post(
        f"/portal/subscriptions/{subscription_id}/cancel/review",
        {"csrf_token": token.group(1), **answers},
    )
    assert confirm.status_code == 200, confirm.text
    token = CSRF_INPUT.search(confirm.text)
    assert token is not None
    return await portal.post(
        f"/portal/subscriptions/{subscription_id}/cancel",
        {"csrf_token": token.group(1), **answers},
    )


async def test_cancel_flow_happy_path(portal: Portal) -> None:
    overview = await portal.sign_in("cus_alice", locale="en")
    assert 'href="/portal/subscriptions/sub_alice/cancel"' in overview.text

    reason_page = await portal.client.get("/portal/subscriptions/sub_alice/cancel")
    text = text_of(reason_page)
    assert "Why are you canceling?" in text
    assert "It's too expensive" in text
    token = CSRF_INPUT.search(reason_page.text)
    assert token is not None

    answers = {"reason": "too_expensive", "comment": "Great product,\r\nbut over budget."}
    confirm = await portal.post(
        "/portal/subscriptions/sub_alice/cancel/review", {"csrf_token": token.group(1), **answers}
    )
    text = text_of(confirm)
    assert "Confirm cancellation" in text
    assert "ends immediately" in text
    assert "It's too expensive" in text
    assert "over budget" in text
    assert portal.commands.sent == []  # nothing happens before the confirmation

    token = CSRF_INPUT.search(confirm.text)
    assert token is not None
    done = await portal.post(
        "/portal/subscriptions/sub_alice/cancel", {"csrf_token": token.group(1), **answers}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/portal"

    [sent] = portal.commands.sent
    assert sent.command == CancelSubscription(
        subscription_id="sub_alice",
        at_period_end=False,
        reason="too_expensive",
        comment="Great product,\nbut over budget.",
    )
    assert sent.stream_id == "subscription-sub_alice"
    assert sent.merchant_id == "m_acme"
    assert sent.timeout == portal.settings.command_timeout

    after = text_of(await portal.client.get("/portal"))
    assert "Your Premium Mensual subscription has been canceled." in after
    assert "Canceled on" in after
    assert 'href="/portal/subscriptions/sub_alice/cancel"' not in after
    # The notice is shown once.
    assert "has been canceled" not in text_of(await portal.client.get("/portal"))


async def test_cancel_at_period_end_when_the_merchant_prefers_it(
    portal_factory: Callable[..., Any],
) -> None:
    portal: Portal = await portal_factory(PortalSettings.for_env("dev", cancel_at_period_end=True))
    await portal.sign_in("cus_alice", locale="en")
    done = await cancel(portal, reason="unused")
    assert done.status_code == 303
    assert isinstance(portal.commands.sent[0].command, CancelSubscription)
    assert portal.commands.sent[0].command.at_period_end is True
    period_end = portal.data.subscriptions[("m_acme", "sub_alice")].current_period_end
    assert period_end is not None
    text = text_of(await portal.client.get("/portal"))
    assert f"will end on {period_end:%B} {period_end.day}, {period_end.year}" in text
    assert "Ending" in text


async def test_no_reason_is_needed(portal: Portal) -> None:
    await portal.sign_in("cus_alice", locale="en")
    assert (await cancel(portal)).status_code == 303
    command = portal.commands.sent[0].command
    assert isinstance(command, CancelSubscription)
    assert command.reason is None
    assert command.comment is None


async def test_a_rejection_is_shown_as_a_clear_message(portal: Portal) -> None:
    portal.commands.behaviour = "reject"
    await portal.sign_in("cus_alice")
    done = await cancel(portal, reason="other")
    assert done.status_code == 303
    page = await portal.client.get("/portal")
    text = text_of(page)
    assert "No pudimos cancelar tu suscripción y no se ha modificado nada." in text
    assert 'role="alert"' in page.text
    assert "Activa" in text


async def test_a_timeout_says_the_cancellation_is_still_being_processed(portal: Portal) -> None:
    portal.commands.behaviour = "timeout"
    await portal.sign_in("cus_alice", locale="en")
    await cancel(portal)
    assert "still processing it" in text_of(await portal.client.get("/portal"))


async def test_a_broken_command_channel_is_a_message_not_a_500(portal: Portal) -> None:
    portal.commands.behaviour = "fail"
    await portal.sign_in("cus_alice", locale="en")
    done = await cancel(portal)
    assert done.status_code == 303
    assert "nothing was changed" in text_of(await portal.client.get("/portal"))


async def test_a_double_submit_is_not_reported_as_a_failure(portal: Portal) -> None:
    await portal.sign_in("cus_alice", locale="en")
    reason_page = await portal.client.get("/portal/subscriptions/sub_alice/cancel")
    token = CSRF_INPUT.search(reason_page.text)
    assert token is not None
    first = await portal.post("/portal/subscriptions/sub_alice/cancel", {"csrf_token": token[1]})
    second = await portal.post("/portal/subscriptions/sub_alice/cancel", {"csrf_token": token[1]})
    assert (first.status_code, second.status_code) == (303, 303)
    assert len(portal.commands.sent) == 1  # the second saw it canceled and sent nothing
    assert "already canceled" in text_of(await portal.client.get("/portal"))


async def test_a_canceled_subscription_offers_no_cancel_flow(portal: Portal) -> None:
    await portal.sign_in("cus_bob")
    response = await portal.client.get(
        "/portal/subscriptions/sub_bob_old/cancel", follow_redirects=False
    )
    assert response.status_code == 303
    assert "already canceled" in text_of(await portal.client.get("/portal"))


async def test_invalid_answers_are_explained_and_kept(portal: Portal) -> None:
    await portal.sign_in("cus_alice", locale="en")
    token = await portal.csrf("/portal/subscriptions/sub_alice/cancel")
    long_comment = "x" * 2001
    response = await portal.post(
        "/portal/subscriptions/sub_alice/cancel/review",
        {"csrf_token": token, "reason": "because", "comment": long_comment},
    )
    assert response.status_code == 422
    text = text_of(response)
    assert "Please choose one of the listed reasons." in text
    assert "please keep it to 2000 characters" in text
    assert long_comment in response.text  # nothing typed is lost
    assert portal.commands.sent == []


async def test_back_from_the_confirmation_keeps_the_answers(portal: Portal) -> None:
    await portal.sign_in("cus_alice", locale="en")
    token = await portal.csrf("/portal/subscriptions/sub_alice/cancel")
    response = await portal.post(
        "/portal/subscriptions/sub_alice/cancel/review",
        {"csrf_token": token, "reason": "unused", "comment": "see you", "step": "edit"},
    )
    assert response.status_code == 200
    assert 'value="unused" checked' in response.text
    assert ">see you</textarea>" in response.text


# -- language switcher -------------------------------------------------------------------


async def test_the_language_switcher_changes_the_language(portal: Portal) -> None:
    await portal.sign_in("cus_alice")  # Spanish by her locale
    token = await portal.csrf("/portal/subscriptions/sub_alice/cancel")
    switched = await portal.post(
        "/portal/language",
        {"csrf_token": token, "locale": "pt", "next": "/portal/subscriptions/sub_alice/cancel"},
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/portal/subscriptions/sub_alice/cancel"
    page = await portal.client.get(switched.headers["location"])
    assert '<html lang="pt">' in page.text
    assert "Cancelar sua assinatura" in page.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/portal/logout", "/portal/s/x"]
)
async def test_the_language_switcher_only_returns_to_portal_pages(
    portal: Portal, target: str
) -> None:
    await portal.sign_in()
    token = await portal.csrf()
    switched = await portal.post(
        "/portal/language", {"csrf_token": token, "locale": "fr", "next": target}
    )
    assert switched.headers["location"] == "/portal"


# -- changing the card -------------------------------------------------------------------

NEW_NUMBER = "5555555555554444"
NEW_CVC = "321"


def with_spare_cards(now: datetime = NOW) -> InMemoryPortalData:
    """The demo data, Alice holding two more cards: one valid, one past its expiry."""
    data = demo_data(now)
    data.cards[("m_acme", "cus_alice")] = [
        card("pm_mc", brand="mastercard", last4="4444", exp_month=6, exp_year=2031),
        card(),  # pm_visa 12/2030: the subscription's
        card("pm_old", brand="amex", last4="0005", exp_month=1, exp_year=2025),
    ]
    return data


async def change_card_page(portal: Portal, subscription_id: str = "sub_alice") -> str:
    page = await portal.client.get(f"/portal/subscriptions/{subscription_id}/payment_method")
    assert page.status_code == 200, page.text
    token = CSRF_INPUT.search(page.text)
    assert token is not None
    return token.group(1)


async def submit_new_card(
    portal: Portal,
    number: str = NEW_NUMBER,
    *,
    cvc: str = NEW_CVC,
    exp_month: str = "12",
    exp_year: str = "2031",
) -> httpx.Response:
    token = await change_card_page(portal)
    return await portal.post(
        "/portal/subscriptions/sub_alice/payment_method",
        {
            "csrf_token": token,
            "source": "new",
            "card_number": number,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "cvc": cvc,
        },
    )


async def test_the_overview_leads_to_the_change_card_page(portal_factory: Any) -> None:
    portal: Portal = await portal_factory(data=with_spare_cards())
    overview = await portal.sign_in("cus_alice", locale="en")
    assert 'href="/portal/subscriptions/sub_alice/payment_method"' in overview.text
    assert "Change card" in text_of(overview)
    page = await portal.client.get("/portal/subscriptions/sub_alice/payment_method")
    text = text_of(page)
    assert "Change payment method" in text
    assert "Currently charged to Visa ending in 4242" in text
    for label in ("Mastercard ending in 4444", "American Express ending in 0005"):
        assert label in text
    assert re.search(r'value="pm_old"[^>]*disabled', page.text)  # expired: not selectable
    assert "Add a new card" in text


async def test_choosing_a_saved_card_shows_it_at_once(portal_factory: Any) -> None:
    portal: Portal = await portal_factory(data=with_spare_cards())
    await portal.sign_in("cus_alice", locale="en")
    token = await change_card_page(portal)
    response = await portal.post(
        "/portal/subscriptions/sub_alice/payment_method",
        {"csrf_token": token, "source": "saved", "payment_method": "pm_mc"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/portal"
    (sent,) = portal.commands.sent
    assert sent.command == UpdateSubscriptionPaymentMethod(
        subscription_id="sub_alice", payment_method_id="pm_mc"
    )
    assert sent.stream_id == "subscription-sub_alice"
    overview = text_of(await portal.client.get("/portal"))
    assert (
        "Your Premium Mensual subscription will now be charged to your Mastercard card "
        "ending in 4444." in overview
    )
    assert "Mastercard ending in 4444 · Expires 06/2031" in overview


async def test_a_new_card_is_tokenized_attached_and_used_without_its_number_kept(
    portal: Portal,
) -> None:
    logs = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", service="test", stream=logs)
    await portal.sign_in("cus_alice")
    response = await submit_new_card(portal)
    assert response.status_code == 303, response.text
    attach, update = (sent.command for sent in portal.commands.sent)
    assert isinstance(attach, AttachPaymentMethod)
    assert isinstance(update, UpdateSubscriptionPaymentMethod)
    assert attach.card.last4 == "4444"
    assert update.payment_method_id == attach.card.payment_method_id
    overview = await portal.client.get("/portal")
    # Alice reads Spanish: the notice and the card, at once.
    assert "terminada en 4444" in text_of(overview)
    subscription = portal.data.subscriptions[("m_acme", "sub_alice")]
    assert subscription.payment_method is not None
    assert subscription.payment_method.last4 == "4444"
    # The number and the CVC went nowhere: not in a command, a table, a log line or a page.
    for sent in portal.commands.sent:
        assert NEW_NUMBER not in sent.command.model_dump_json()
    for table in ("portal_sessions", "portal_browser_sessions"):
        rows = await portal.pool.fetch(f"SELECT * FROM {table}")
        assert NEW_NUMBER not in repr([dict(r) for r in rows])
    assert NEW_NUMBER not in logs.getvalue()
    assert f'"{NEW_CVC}"' not in logs.getvalue()
    assert "portal.card_change_outcome" in logs.getvalue()
    assert NEW_NUMBER not in overview.text


@pytest.mark.parametrize(
    ("number", "fields", "expected"),
    [
        ("4242424242424241", {}, "Este número de tarjeta no es válido"),
        ("4000000000000127", {}, "El código de seguridad es incorrecto"),
        ("4000000000000069", {}, "Esta tarjeta ha vencido"),
        (NEW_NUMBER, {"exp_year": "2024"}, "Esta tarjeta ha vencido"),
        (NEW_NUMBER, {"cvc": "12"}, "Indica el código de seguridad"),
        (NEW_NUMBER, {"exp_month": "13"}, "Indica el mes de vencimiento"),
        (NEW_NUMBER, {"exp_month": "ab"}, "Indica el mes de vencimiento"),
        ("", {}, "Este número de tarjeta no es válido"),
    ],
)
async def test_a_refused_card_is_explained_and_never_echoed(
    portal: Portal, number: str, fields: dict[str, str], expected: str
) -> None:
    await portal.sign_in("cus_alice")
    response = await submit_new_card(portal, number, **fields)
    assert response.status_code == 422, response.text
    text = text_of(response)
    assert expected in text
    if number:
        assert "vuelve a introducir el número de tarjeta" in text
    # Neither the number nor the CVC is written back; the expiry is.
    assert number == "" or number not in response.text
    assert 'name="card_number" value=""' in response.text
    assert 'name="cvc" value=""' in response.text
    assert f'value="{NEW_CVC}"' not in response.text
    assert f'value="{fields.get("exp_year", "2031")}"' in response.text
    assert portal.commands.sent == []
    assert portal.data.subscriptions[("m_acme", "sub_alice")].payment_method == card()


async def test_a_card_valid_today_but_expired_at_the_merchants_time_is_refused(
    portal_factory: Any,
) -> None:
    data = with_spare_cards()
    data.test_clocks["m_acme"] = datetime(2031, 2, 1, tzinfo=UTC)
    portal: Portal = await portal_factory(data=data)
    overview = text_of(await portal.sign_in("cus_alice", locale="en"))
    assert "Test mode: Acme Cloud's billing clock is set to" in overview
    assert "Expired 12/2030" in overview  # the current card, at the merchant's time
    # A new card that the processor accepts (it checks the wall clock) but that has expired
    # in the merchant's time: attached, then refused for the subscription.
    response = await submit_new_card(portal, exp_month="12", exp_year="2030")
    assert response.status_code == 422
    assert "This card has expired. Please use another card." in text_of(response)
    assert [s.command.event_type for s in portal.commands.sent] == [
        "AttachPaymentMethod",
        "UpdateSubscriptionPaymentMethod",
    ]
    assert "Mastercard ending in 4444 · Expired 12/2030" in text_of(response)  # now listed
    # A saved card expired in the merchant's time is refused before anything is sent.
    token = CSRF_INPUT.search(response.text)
    assert token is not None
    refused = await portal.post(
        "/portal/subscriptions/sub_alice/payment_method",
        {"csrf_token": token.group(1), "source": "saved", "payment_method": "pm_old"},
    )
    assert refused.status_code == 422
    assert "This card has expired. Please choose another card" in text_of(refused)
    assert len(portal.commands.sent) == 2


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("subscription_ended", 303, "This subscription has ended, so its payment method"),
        ("payment_method_unchanged", 303, "That card already pays for your Premium Mensual"),
        ("payment_method_not_found", 422, "This card is no longer available."),
        ("payment_method_expired", 422, "This card has expired. Please choose another card"),
        ("currency_mismatch", 422, "We couldn't change your payment method, and nothing was"),
    ],
)
async def test_each_rejection_is_a_clear_message(
    portal_factory: Any, code: str, status: int, expected: str
) -> None:
    portal: Portal = await portal_factory(data=with_spare_cards())
    portal.commands.behaviour = "reject"
    portal.commands.reject_code = code
    await portal.sign_in("cus_alice", locale="en")
    token = await change_card_page(portal)
    response = await portal.post(
        "/portal/subscriptions/sub_alice/payment_method",
        {"csrf_token": token, "source": "saved", "payment_method": "pm_mc"},
        follow=True,
    )
    assert (response.history[0].status_code if response.history else response.status_code) == (
        status
    )
    assert expected in text_of(response)
    assert portal.data.subscriptions[("m_acme", "sub_alice")].payment_method == card()


async def test_a_slow_answer_says_the_change_is_being_processed(portal_factory: Any) -> None:
    portal: Portal = await portal_factory(data=with_spare_cards())
    portal.commands.behaviour = "timeout"
    await portal.sign_in("cus_alice", locale="en")
    token = await change_card_page(portal)
    response = await portal.post(
        "/portal/subscriptions/sub_alice/payment_method",
        {"csrf_token": token, "source": "saved", "payment_method": "pm_mc"},
        follow=True,
    )
    assert "We received your card and are still processing the change." in text_of(response)


async def test_a_broken_command_channel_keeps_the_customer_on_the_page(
    portal_factory: Any,
) -> None:
    portal: Portal = await portal_factory(data=with_spare_cards())
    portal.commands.behaviour = "fail"
    await portal.sign_in("cus_alice", locale="en")
    response = await submit_new_card(portal)
    assert response.status_code == 503
    assert "We couldn't reach the billing system" in text_of(response)
    assert NEW_NUMBER not in response.text


async def test_choosing_the_card_in_use_changes_nothing(portal_factory: Any) -> None:
    portal: Portal = await portal_factory(data=with_spare_cards())
    await portal.sign_in("cus_alice", locale="en")
    token = await change_card_page(portal)
    response = await portal.post(
        "/portal/subscriptions/sub_alice/payment_method",
        {"csrf_token": token, "source": "saved", "payment_method": "pm_visa"},
        follow=True,
    )
    assert "That card already pays for your Premium Mensual subscription" in text_of(response)
    assert portal.commands.sent == []


@pytest.mark.parametrize("chosen", ["", "pm_not_hers", "pm_mc' OR 1=1"])
async def test_only_the_customers_own_cards_can_be_chosen(portal_factory: Any, chosen: str) -> None:
    portal: Portal = await portal_factory(data=with_spare_cards())
    await portal.sign_in("cus_alice", locale="en")
    token = await change_card_page(portal)
    response = await portal.post(
        "/portal/subscriptions/sub_alice/payment_method",
        {"csrf_token": token, "source": "saved", "payment_method": chosen},
    )
    assert response.status_code == 422
    assert "Please choose one of your cards." in text_of(response)
    assert portal.commands.sent == []


async def test_an_ended_subscription_offers_no_card_change(portal: Portal) -> None:
    await portal.sign_in("cus_bob")
    overview = await portal.client.get("/portal")
    assert "/portal/subscriptions/sub_bob_old/payment_method" not in overview.text
    response = await portal.client.get(
        "/portal/subscriptions/sub_bob_old/payment_method", follow_redirects=False
    )
    assert response.status_code == 303
    followed = await portal.client.get("/portal")
    assert "This subscription has ended, so its payment method can't be changed." in (
        text_of(followed)
    )


# -- the merchant's time and a long history ------------------------------------------------


async def test_a_subscription_with_many_renewals_lists_its_invoices_newest_first(
    portal_factory: Any,
) -> None:
    data = demo_data(NOW)
    data.invoices[("m_acme", "cus_alice")] = [
        InvoiceView(
            invoice_id=f"in_{n}",
            number=f"ACME-{n:06d}",
            issued_at=datetime(2024, 9, 15, 10, tzinfo=UTC) + timedelta(days=30 * n),
            amount=2999,
            currency="EUR",
            status="paid",
            plan_name="Premium Mensual",
            subscription_id="sub_alice",
        )
        for n in (3, 0, 6, 1, 5, 2, 4)  # projected in any order
    ]
    portal: Portal = await portal_factory(data=data)
    page = await portal.sign_in("cus_alice", locale="en")
    rows = re.findall(r"<tbody>.*?</tbody>", page.text, re.S)
    numbers = re.findall(r"ACME-\d{6}", rows[0])
    assert numbers == [f"ACME-{n:06d}" for n in range(6, -1, -1)]
    dates = re.findall(r'<time datetime="([^"]+)"', rows[0])
    assert dates == sorted(dates, reverse=True)
    assert len(dates) == 7
