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
