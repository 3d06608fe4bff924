"""Unit tests of the overview page cache: the same page as rendered afresh, with each
response's own CSRF token, and never reused across customers, data, language or month."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from portal_gateway.application.ports import PortalOverview
from portal_gateway.portal import csrf, pages
from portal_gateway.portal.formatting import Formatter
from portal_gateway.portal.locales import PortalLocale
from portal_gateway.portal.page_cache import OverviewPages
from portal_gateway.portal.presenters import Notice
from portal_gateway.portal.rendering import PageRenderer
from portal_gateway.portal.testing import InMemoryPortalData, card, demo_data
from portal_gateway.portal.tokens import new_secret

NOW = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
ES, EN = PortalLocale("es"), PortalLocale("en")
RETURN_URL = "https://acme.example/account"
CSRF_VALUE = re.compile(r'name="csrf_token" value="([^"]*)"')


async def overview_of(data: InMemoryPortalData, customer: str = "cus_alice") -> PortalOverview:
    overview = await data.overview("m_acme", customer)
    assert overview is not None
    return overview


def fresh_page(
    renderer: PageRenderer,
    overview: PortalOverview,
    token: str,
    *,
    locale: PortalLocale = ES,
    now: datetime = NOW,
    flash: Notice | None = None,
) -> str:
    """The page as the route rendered it before there was a cache."""
    chrome = renderer.chrome(
        locale, merchant=overview.merchant, return_url=RETURN_URL, csrf_token=token
    )
    return pages.overview_html(
        renderer, chrome, overview, fmt=Formatter(locale), now=now, flash=flash
    )


async def test_a_cached_page_is_the_fresh_page_with_this_responses_token() -> None:
    cache = OverviewPages(PageRenderer())
    overview = await overview_of(demo_data(NOW))
    secret = new_secret()
    tokens = [csrf.issue_token(secret) for _ in range(3)]
    served = [
        cache.html(overview, locale=ES, return_url=RETURN_URL, now=NOW, csrf_token=token)
        for token in tokens
    ]
    assert cache.cached == 1
    for token, html in zip(tokens, served, strict=True):
        assert html == fresh_page(cache.renderer, overview, token)
        # Every form of the page carries this response's token, and only it.
        assert set(CSRF_VALUE.findall(html)) == {token}
        assert len(CSRF_VALUE.findall(html)) == 2  # sign out, language
        assert csrf.verify_token(secret, token)
        assert "csrf-hole" not in html


async def test_changed_data_is_a_new_page() -> None:
    data = demo_data(NOW)
    cache = OverviewPages(PageRenderer())
    before = await overview_of(data)
    first = cache.html(before, locale=ES, return_url=RETURN_URL, now=NOW, csrf_token="t")
    assert "Cancelada" not in first
    key = ("m_acme", "sub_alice")
    data.subscriptions[key] = replace(
        data.subscriptions[key], status="canceled", canceled_at=NOW, version=4
    )
    after = await overview_of(data)
    assert after.revision != before.revision
    second = cache.html(after, locale=ES, return_url=RETURN_URL, now=NOW, csrf_token="t")
    assert second == fresh_page(cache.renderer, after, "t")
    assert "Cancelada" in second
    assert cache.cached == 2


async def test_a_page_is_never_served_to_another_customer_even_for_the_same_revision() -> None:
    cache = OverviewPages(PageRenderer())
    data = demo_data(NOW)
    # A source that (wrongly) gave two customers the same revision still gets two pages.
    alice = replace(await overview_of(data, "cus_alice"), revision="r1")
    bob = replace(await overview_of(data, "cus_bob"), revision="r1")
    page_a = cache.html(alice, locale=EN, return_url=RETURN_URL, now=NOW, csrf_token="t")
    page_b = cache.html(bob, locale=EN, return_url=RETURN_URL, now=NOW, csrf_token="t")
    assert "Alice Martín" in page_a
    assert "Alice Martín" not in page_b
    assert "Bob Stone" in page_b
    other_merchant = replace(alice, merchant=replace(alice.merchant, merchant_id="m_other"))
    cache.html(other_merchant, locale=EN, return_url=RETURN_URL, now=NOW, csrf_token="t")
    assert cache.cached == 3


async def test_language_and_return_url_are_part_of_the_page() -> None:
    cache = OverviewPages(PageRenderer())
    overview = await overview_of(demo_data(NOW))
    spanish = cache.html(overview, locale=ES, return_url=RETURN_URL, now=NOW, csrf_token="t")
    english = cache.html(overview, locale=EN, return_url=RETURN_URL, now=NOW, csrf_token="t")
    elsewhere = cache.html(
        overview, locale=EN, return_url="https://other.example/", now=NOW, csrf_token="t"
    )
    assert '<html lang="es">' in spanish
    assert '<html lang="en">' in english
    assert "https://other.example/" in elsewhere
    assert RETURN_URL not in elsewhere
    assert cache.cached == 3


async def test_the_page_is_the_same_all_month_and_follows_the_months_card_expiry() -> None:
    data = demo_data(NOW)
    data.cards[("m_acme", "cus_alice")] = [card("pm_soon", exp_month=4, exp_year=2025)]
    overview = await overview_of(data)
    cache = OverviewPages(PageRenderer())
    start_of_march = datetime(2025, 3, 1, tzinfo=UTC)
    end_of_march = datetime(2025, 4, 1, tzinfo=UTC) - timedelta(microseconds=1)
    in_may = datetime(2025, 5, 1, tzinfo=UTC)
    march = [
        cache.html(overview, locale=EN, return_url=RETURN_URL, now=now, csrf_token="t")
        for now in (start_of_march, NOW, end_of_march)
    ]
    assert cache.cached == 1
    assert all(page == fresh_page(cache.renderer, overview, "t", locale=EN) for page in march)
    assert "Expires soon" in march[0]
    may = cache.html(overview, locale=EN, return_url=RETURN_URL, now=in_may, csrf_token="t")
    assert cache.cached == 2
    assert may == fresh_page(cache.renderer, overview, "t", locale=EN, now=in_may)
    assert "Expired 04/2025" in may


async def test_pages_with_a_notice_or_without_a_revision_are_not_kept() -> None:
    cache = OverviewPages(PageRenderer())
    overview = await overview_of(demo_data(NOW))
    notice = Notice("success", "Your card was updated.")
    with_notice = cache.html(
        overview, locale=ES, return_url=RETURN_URL, now=NOW, csrf_token="t", flash=notice
    )
    assert with_notice == fresh_page(cache.renderer, overview, "t", flash=notice)
    unversioned = replace(overview, revision=None)
    plain = cache.html(unversioned, locale=ES, return_url=RETURN_URL, now=NOW, csrf_token="t")
    assert plain == fresh_page(cache.renderer, overview, "t")
    assert cache.cached == 0
    # The next page view, the notice shown, is the plain page again.
    again = cache.html(overview, locale=ES, return_url=RETURN_URL, now=NOW, csrf_token="t")
    assert "Your card was updated." not in again
