"""Portal links that no longer work show a clear page (never a 500) and open nothing.

An unused link expires after 5 minutes. The gateway's clock is not injectable from outside
its process, so the test ages the link instead of waiting: it moves the link's recorded
creation and expiry 6 minutes into the past in the gateway's own table, which is what
5 minutes of waiting would have left there.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.e2e


async def age_link(database_url: str, session_id: str, minutes: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        schema = await conn.fetchval(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'portal_sessions'"
        )
        assert schema, "the gateway's portal_sessions table was not found"
        aged = await conn.execute(
            f'UPDATE "{schema}".portal_sessions '
            "SET created_at = created_at - make_interval(mins => $2), "
            "link_expires_at = link_expires_at - make_interval(mins => $2) "
            "WHERE session_id = $1",
            session_id,
            minutes,
        )
        assert aged == "UPDATE 1", aged
    finally:
        await conn.close()


async def assert_clear_page(page: Page, status: int | None, title: str) -> None:
    assert status is not None
    assert 400 <= status < 500, status
    await expect(page.locator("h1")).to_have_text(title)
    await expect(page.locator("main")).not_to_contain_text("Something went wrong")


async def assert_signed_out(page: Page, gateway_url: str, customer: dict[str, Any]) -> None:
    response = await page.goto(f"{gateway_url}/portal")
    assert response is not None
    assert response.status in (401, 403), response.status
    await expect(page.locator("body")).not_to_contain_text(customer["email"])


async def test_unknown_links_show_a_clear_page(system: Any, new_context: Any) -> None:
    context, _ = await new_context()
    page = await context.new_page()
    for token in (secrets.token_urlsafe(32), "x", "%00", "a" * 500):
        response = await page.goto(f"{system.gateway_url}/portal/s/{token}")
        await assert_clear_page(page, response and response.status, "We couldn't find this link")


async def test_an_expired_link_shows_a_clear_page_and_opens_nothing(
    merchant: Any, system: Any, new_context: Any
) -> None:
    customer = await merchant.create_customer()
    session = await merchant.portal_session(customer["id"])
    await age_link(system.database_url, session["id"], minutes=6)

    context, _ = await new_context()
    page = await context.new_page()
    response = await page.goto(session["url"])
    await assert_clear_page(page, response and response.status, "This link has expired")
    # Still branded: the customer knows whose portal to go back to.
    await expect(page.locator(".brand-name")).to_have_text(merchant.name)
    await assert_signed_out(page, system.gateway_url, customer)


async def test_a_link_just_under_five_minutes_old_still_opens(
    merchant: Any, system: Any, new_context: Any
) -> None:
    customer = await merchant.create_customer()
    session = await merchant.portal_session(customer["id"])
    await age_link(system.database_url, session["id"], minutes=4)

    context, _ = await new_context()
    page = await context.new_page()
    response = await page.goto(session["url"])
    assert response is not None
    assert response.status == 200
    await expect(page.locator("main")).to_contain_text(customer["email"])


async def test_a_used_link_opens_nothing_in_another_browser(
    merchant: Any, system: Any, new_context: Any
) -> None:
    customer = await merchant.create_customer()
    session = await merchant.portal_session(customer["id"])

    first, _ = await new_context()
    mine = await first.new_page()
    response = await mine.goto(session["url"])
    assert response is not None
    assert response.status == 200
    await expect(mine.locator("main")).to_contain_text(customer["email"])

    # Someone else with the same link (forwarded, or read over a shoulder) gets nothing.
    second, _ = await new_context()
    theirs = await second.new_page()
    response = await theirs.goto(session["url"])
    await assert_clear_page(theirs, response and response.status, "This link has already been used")
    await expect(theirs.locator("body")).not_to_contain_text(customer["email"])
    await assert_signed_out(theirs, system.gateway_url, customer)

    # The browser that opened it just goes on (a reload, the back button).
    response = await mine.goto(session["url"])
    assert response is not None
    assert response.status == 200
    await expect(mine.locator("main")).to_contain_text(customer["email"])
