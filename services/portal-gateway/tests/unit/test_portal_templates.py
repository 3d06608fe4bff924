"""Every portal page renders in every language, from fake read models, without a server."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from portal_gateway.application.ports import PortalOverview
from portal_gateway.portal import csrf, pages, presenters
from portal_gateway.portal.formatting import Formatter
from portal_gateway.portal.i18n import messages_for
from portal_gateway.portal.locales import SUPPORTED_LANGUAGES, PortalLocale
from portal_gateway.portal.presenters import Notice
from portal_gateway.portal.rendering import Chrome, PageRenderer
from portal_gateway.portal.testing import demo_data
from portal_gateway.portal.tokens import new_secret

NOW = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
RENDERER = PageRenderer()
LANGUAGES = list(SUPPORTED_LANGUAGES)


class PageStructure(HTMLParser):
    """Collects what the checks below need from a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.forms: list[list[dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "form":
            self.forms.append([])
        if tag == "input" and self.forms:
            self.forms[-1].append(attributes)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> PageStructure:
    structure = PageStructure()
    structure.feed(html)
    return structure


async def _overview(customer: str) -> PortalOverview:
    overview = await demo_data(NOW).overview("m_acme", customer)
    assert overview is not None
    return overview


def _chrome(language: str, overview: PortalOverview, *, signed_in: bool = True) -> Chrome:
    return RENDERER.chrome(
        PortalLocale(language),
        merchant=overview.merchant,
        return_url="https://acme.example/account",
        csrf_token=csrf.issue_token(new_secret()) if signed_in else None,
    )


def assert_well_formed_page(html: str, language: str) -> PageStructure:
    page = parse(html)
    assert page.all("html")[0]["lang"] == language
    viewport = [m for m in page.all("meta") if m.get("name") == "viewport"]
    assert viewport
    assert "width=device-width" in (viewport[0]["content"] or "")
    # The CSP forbids inline code and styles: none may be written.
    assert not page.all("script")
    assert not page.all("style")
    assert not [attrs for _, attrs in page.tags if "style" in attrs]
    assert not [attrs for _, attrs in page.tags if any(k.startswith("on") for k in attrs)]
    # Every form posts with a CSRF token.
    for inputs in page.forms:
        assert any(i.get("name") == csrf.FIELD_NAME and i.get("value") for i in inputs)
    # No placeholder left unformatted.
    assert not re.search(r"\{[a-z_]+\}", "".join(page.text))
    return page


@pytest.mark.parametrize("language", LANGUAGES)
async def test_overview_renders_every_section(language: str) -> None:
    overview = await _overview("cus_alice")
    chrome = _chrome(language, overview)
    fmt = Formatter(PortalLocale(language))
    html = pages.overview_html(
        RENDERER, chrome, overview, fmt=fmt, now=NOW, flash=Notice("success", "Done")
    )
    page = assert_well_formed_page(html, language)
    text = " ".join(page.text)
    t = messages_for(language)
    for expected in (
        "Acme Cloud",
        "Premium Mensual",
        "The Premium Mensual plan",
        fmt.money(2999, "EUR"),
        t.status_active,
        t.next_charge_label,
        "4242",
        "12/2030",
        "ACME-1001",
        "ACME-1003",
        t.invoice_status_paid,
        t.return_to_merchant.format(merchant="Acme Cloud"),
        "Done",
    ):
        assert expected in text, expected
    images = [img["src"] for img in page.all("img")]
    assert "https://cdn.example.com/plans/pro.png" in images
    assert "https://cdn.example.com/acme/logo.png" in images
    links = [a["href"] for a in page.all("a")]
    assert "/portal/subscriptions/sub_alice/cancel" in links
    assert "https://acme.example/account" in links
    stylesheets = [link["href"] for link in page.all("link")]
    assert "/portal/theme.css?brand=0a7d5a" in stylesheets


@pytest.mark.parametrize("language", LANGUAGES)
async def test_cancel_pages_render(language: str) -> None:
    overview = await _overview("cus_alice")
    chrome = _chrome(language, overview)
    t = messages_for(language)
    summary = presenters.cancel_summary(
        overview.subscriptions[0],
        at_period_end=True,
        t=t,
        fmt=Formatter(PortalLocale(language)),
    )
    reason = pages.cancel_reason_html(
        RENDERER, chrome, summary, comment="<b>hi</b>", errors={"comment": "too long"}
    )
    page = assert_well_formed_page(reason, language)
    radios = [i for i in page.all("input") if i.get("type") == "radio"]
    assert [r["value"] for r in radios] == list(pages.REASONS)
    labels = " ".join(page.text)
    assert all(t.reason(code) in labels for code in pages.REASONS)
    assert "&lt;b&gt;hi&lt;/b&gt;" in reason  # a comment is escaped, never markup

    confirm = pages.cancel_confirm_html(
        RENDERER, chrome, summary, reason="too_expensive", comment="bye"
    )
    page = assert_well_formed_page(confirm, language)
    assert summary.effect in " ".join(page.text)
    assert t.reason_too_expensive in " ".join(page.text)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_message_pages_render_with_and_without_branding(language: str) -> None:
    overview = await _overview("cus_bob")
    t = messages_for(language)
    for chrome in (
        _chrome(language, overview, signed_in=False),
        RENDERER.chrome(PortalLocale(language)),
    ):
        html = pages.message_html(
            RENDERER,
            chrome,
            title=t.link_expired_title,
            body=t.link_expired_body.format(merchant=chrome.merchant_label),
        )
        page = assert_well_formed_page(html, language)
        assert t.link_expired_title in " ".join(page.text)
        assert not page.forms  # no session: no sign-out, no language switcher


async def test_a_customer_without_anything_sees_empty_states() -> None:
    overview = await _overview("cus_bob")
    empty = PortalOverview(overview.merchant, overview.customer, [], [], [])
    html = pages.overview_html(
        RENDERER,
        _chrome("en", overview),
        empty,
        fmt=Formatter(PortalLocale("en")),
        now=NOW,
    )
    t = messages_for("en")
    for message in (t.no_invoices, t.no_payment_methods):
        assert message in html
    assert "You don&#39;t have any subscriptions with Acme Cloud." in html


async def test_merchant_supplied_text_is_escaped() -> None:
    overview = await _overview("cus_bob")
    hostile = PortalOverview(
        merchant=overview.merchant.__class__(
            merchant_id="m_x",
            slug="x",
            name='<script>alert("x")</script>',
            logo_url="javascript:alert(1)",
            brand_color="red;}",
        ),
        customer=overview.customer,
        subscriptions=overview.subscriptions,
        invoices=[],
    )
    html = pages.overview_html(
        RENDERER,
        _chrome("en", hostile),
        hostile,
        fmt=Formatter(PortalLocale("en")),
        now=NOW,
    )
    assert "<script>" not in html
    assert "javascript:" not in html
    assert "theme.css" not in html  # an invalid color yields no theme at all


# --- changing the card, test clocks ------------------------------------------------------------


async def _alice_with_cards() -> PortalOverview:
    from portal_gateway.portal.testing import card

    data = demo_data(NOW)
    data.cards[("m_acme", "cus_alice")] = [
        card("pm_old", brand="mastercard", last4="4444", exp_month=1, exp_year=2025),
        card(),
    ]
    overview = await data.overview("m_acme", "cus_alice")
    assert overview is not None
    return overview


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_change_card_page_renders_in_every_language(language: str) -> None:
    overview = await _alice_with_cards()
    (subscription,) = overview.subscriptions
    t = messages_for(language)
    fmt = Formatter(PortalLocale(language))
    summary = presenters.payment_method_summary(overview, subscription, t, fmt, NOW)
    html = pages.payment_method_html(
        RENDERER,
        _chrome(language, overview),
        summary,
        errors={"number": t.error_card_number, "card": t.error_card_reenter},
        exp_month="04",
        exp_year="2031",
    )
    page = assert_well_formed_page(html, language)
    text = " ".join(page.text)
    for expected in (
        t.payment_method_title,
        t.saved_cards_legend,
        t.new_card_heading,
        t.error_card_number,
        t.error_card_reenter,
        t.card_current_tag,
        t.new_card_privacy,
    ):
        assert expected in text, expected
    inputs = {i.get("name"): i for i in page.all("input") if i.get("name")}
    assert inputs["card_number"]["value"] == ""
    assert inputs["cvc"]["value"] == ""
    assert inputs["cvc"]["type"] == "password"
    assert inputs["card_number"]["autocomplete"] == "cc-number"
    assert (inputs["exp_month"]["value"], inputs["exp_year"]["value"]) == ("04", "2031")
    radios = {i["value"]: i for i in page.all("input") if i.get("type") == "radio"}
    assert "disabled" in radios["pm_old"]
    assert "checked" in radios["pm_visa"]
    actions = {f["action"] for f in page.all("form")}
    assert "/portal/subscriptions/sub_alice/payment_method" in actions


async def test_without_a_processor_only_saved_cards_are_offered() -> None:
    overview = await _alice_with_cards()
    (subscription,) = overview.subscriptions
    summary = presenters.payment_method_summary(
        overview, subscription, messages_for("en"), Formatter(PortalLocale("en")), NOW
    )
    html = pages.payment_method_html(RENDERER, _chrome("en", overview), summary, can_add_card=False)
    names = {i.get("name") for i in parse(html).all("input")}
    assert "payment_method" in names
    assert "card_number" not in names


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_overview_offers_to_change_the_card_and_shows_a_test_clock(
    language: str,
) -> None:
    overview = await _overview("cus_alice")
    clocked = PortalOverview(
        overview.merchant,
        overview.customer,
        overview.subscriptions,
        overview.invoices,
        overview.payment_methods,
        test_clock=datetime(2031, 6, 1, tzinfo=UTC),
    )
    t = messages_for(language)
    fmt = Formatter(PortalLocale(language))
    html = pages.overview_html(RENDERER, _chrome(language, clocked), clocked, fmt=fmt, now=NOW)
    page = assert_well_formed_page(html, language)
    links = [a["href"] for a in page.all("a")]
    assert "/portal/subscriptions/sub_alice/payment_method" in links
    text = " ".join(page.text)
    assert t.change_card in text
    banner = pages.clock_notice(clocked, t, fmt)
    assert banner is not None
    assert banner.text in text
    assert "2031" in banner.text
    # At the merchant's time (2031) the demo card (12/2030) has expired.
    assert t.card_expired.format(expiry="12/2030") in text
    plain = pages.overview_html(RENDERER, _chrome(language, overview), overview, fmt=fmt, now=NOW)
    assert pages.clock_notice(overview, t, fmt) is None
    assert t.card_expires.format(expiry="12/2030") in " ".join(parse(plain).text)


async def test_a_canceled_subscription_offers_no_card_change() -> None:
    overview = await _overview("cus_bob")
    html = pages.overview_html(
        RENDERER, _chrome("en", overview), overview, fmt=Formatter(PortalLocale("en")), now=NOW
    )
    links = [a["href"] for a in parse(html).all("a")]
    assert "/portal/subscriptions/sub_bob/payment_method" in links
    assert "/portal/subscriptions/sub_bob_old/payment_method" not in links
