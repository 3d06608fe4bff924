"""Portal sessions on the real PostgreSQL: creation, single use, expiry, sliding idle time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from billing_events.postgres import migrate
from portal_gateway.portal import PORTAL_MIGRATIONS, FakeClock, create_portal_session
from portal_gateway.portal.access import InvalidReturnUrl, LinkState
from portal_gateway.portal.sessions import (
    BrowserSession,
    EndedSession,
    Flash,
    InvalidLocale,
    OpenedLink,
    RefusedLink,
    choose_locale,
    end_session,
    open_link,
    pop_flash,
    purge_expired,
    resume_session,
    set_flash,
)
from portal_gateway.portal.tokens import hash_token

pytestmark = pytest.mark.integration

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate(pg_pool, PORTAL_MIGRATIONS)
    return pg_pool


async def _create(pool: asyncpg.Pool, clock: FakeClock, **kwargs: object) -> str:
    created = await create_portal_session(
        pool,
        merchant_id=str(kwargs.get("merchant_id", "m_1")),
        customer_id=str(kwargs.get("customer_id", "cus_1")),
        return_url=kwargs.get("return_url", "https://shop.example/account"),  # type: ignore[arg-type]
        locale=kwargs.get("locale", "es"),  # type: ignore[arg-type]
        now=clock.now(),
    )
    return created.url_token


async def _open(pool: asyncpg.Pool, token: str, clock: FakeClock) -> OpenedLink:
    opened = await open_link(pool, token, now=clock.now())
    assert isinstance(opened, OpenedLink), opened
    return opened


async def test_migrations_are_idempotent(pool: asyncpg.Pool) -> None:
    assert await migrate(pool, PORTAL_MIGRATIONS) == []


async def test_a_new_session_expires_five_minutes_after_creation(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    created = await create_portal_session(
        pool, merchant_id="m_1", customer_id="cus_1", now=clock.now()
    )
    assert created.session_id.startswith("ps_")
    assert created.expires_at == START + timedelta(minutes=5)
    assert len(created.url_token) >= 43


async def test_only_the_token_hash_is_stored(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    token = await _create(pool, clock)
    opened = await _open(pool, token, clock)
    dump = await pool.fetchval(
        "SELECT string_agg(t::text, '|') FROM (SELECT * FROM portal_sessions) t"
    ) + await pool.fetchval(
        "SELECT string_agg(t::text, '|') FROM (SELECT * FROM portal_browser_sessions) t"
    )
    assert token not in dump
    assert opened.cookie_value not in dump
    stored = await pool.fetchval("SELECT link_token_hash FROM portal_sessions")
    assert bytes(stored) == hash_token(token)


async def test_opening_a_link_starts_a_browser_session_for_its_customer(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock(START)
    token = await _create(pool, clock, merchant_id="m_7", customer_id="cus_7", locale="pt-br")
    clock.advance(timedelta(minutes=4, seconds=59))
    opened = await _open(pool, token, clock)
    browser = opened.browser
    assert (browser.merchant_id, browser.customer_id) == ("m_7", "cus_7")
    assert browser.locale == "pt-BR"
    assert browser.portal.return_url == "https://shop.example/account"
    assert browser.expires_at == clock.now() + timedelta(hours=1)
    resumed = await resume_session(pool, opened.cookie_value, now=clock.now())
    assert isinstance(resumed, BrowserSession)
    assert resumed.key == browser.key
    assert resumed.csrf_secret == browser.csrf_secret


async def test_a_link_unused_for_five_minutes_is_expired(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    token = await _create(pool, clock)
    clock.advance(timedelta(minutes=5))
    refused = await open_link(pool, token, now=clock.now())
    assert isinstance(refused, RefusedLink)
    assert refused.state is LinkState.EXPIRED
    assert refused.portal is not None
    assert refused.portal.merchant_id == "m_1"
    assert await pool.fetchval("SELECT count(*) FROM portal_browser_sessions") == 0


async def test_a_link_works_once(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    token = await _create(pool, clock)
    await _open(pool, token, clock)
    again = await open_link(pool, token, now=clock.now())
    assert isinstance(again, RefusedLink)
    assert again.state is LinkState.USED


async def test_simultaneous_openings_of_one_link_yield_one_session(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    token = await _create(pool, clock)
    results = await asyncio.gather(*(open_link(pool, token, now=clock.now()) for _ in range(10)))
    assert sum(isinstance(r, OpenedLink) for r in results) == 1
    assert all(r.state is LinkState.USED for r in results if isinstance(r, RefusedLink))
    assert await pool.fetchval("SELECT count(*) FROM portal_browser_sessions") == 1


@pytest.mark.parametrize("token", ["nope", "x" * 43, "%00" * 20, ""])
async def test_unknown_tokens_are_refused_as_unknown(pool: asyncpg.Pool, token: str) -> None:
    refused = await open_link(pool, token, now=START)
    assert refused == RefusedLink(state=None, portal=None)


async def test_the_session_lives_one_hour_after_the_last_activity(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    for _ in range(3):  # active for three hours in 55-minute steps: never expires
        clock.advance(timedelta(minutes=55))
        assert isinstance(
            await resume_session(pool, opened.cookie_value, now=clock.now()), BrowserSession
        )
    clock.advance(timedelta(hours=1))
    ended = await resume_session(pool, opened.cookie_value, now=clock.now())
    assert isinstance(ended, EndedSession)
    assert ended.portal.customer_id == "cus_1"
    # Once ended, activity does not bring it back.
    clock.advance(timedelta(seconds=1))
    assert isinstance(
        await resume_session(pool, opened.cookie_value, now=clock.now()), EndedSession
    )


async def _recorded(pool: asyncpg.Pool, opened: OpenedLink) -> tuple[datetime, datetime]:
    row = await pool.fetchrow(
        "SELECT last_seen_at, expires_at FROM portal_browser_sessions WHERE cookie_hash = $1",
        opened.browser.key,
    )
    return row["last_seen_at"], row["expires_at"]


async def test_activity_is_written_at_most_once_a_minute(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    opened_at = clock.now()
    for _ in range(5):  # five page views within the minute: reads only
        clock.advance(timedelta(seconds=11))
        resumed = await resume_session(pool, opened.cookie_value, now=clock.now())
        assert isinstance(resumed, BrowserSession)
        assert resumed.expires_at == opened_at + timedelta(hours=1)
    assert await _recorded(pool, opened) == (opened_at, opened_at + timedelta(hours=1))
    clock.advance(timedelta(seconds=5))  # a minute since the last write
    resumed = await resume_session(pool, opened.cookie_value, now=clock.now())
    assert isinstance(resumed, BrowserSession)
    assert resumed.expires_at == clock.now() + timedelta(hours=1)
    assert await _recorded(pool, opened) == (clock.now(), clock.now() + timedelta(hours=1))


async def test_a_session_used_every_half_minute_never_expires(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    for _ in range(2 * 60 * 3):  # three hours
        clock.advance(timedelta(seconds=30))
        assert isinstance(
            await resume_session(pool, opened.cookie_value, now=clock.now()), BrowserSession
        )


async def test_an_idle_session_ends_within_a_minute_before_its_idle_hour(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    clock.advance(timedelta(seconds=59))  # the last request, not written
    assert isinstance(
        await resume_session(pool, opened.cookie_value, now=clock.now()), BrowserSession
    )
    last_request = clock.now()
    clock.set(START + timedelta(hours=1) - timedelta(microseconds=1))
    assert isinstance(
        await resume_session(pool, opened.cookie_value, now=clock.now()), BrowserSession
    )
    # That request was written (59 minutes after the last write): idle from here on.
    written = clock.now()
    clock.set(written + timedelta(hours=1))
    assert isinstance(
        await resume_session(pool, opened.cookie_value, now=clock.now()), EndedSession
    )
    assert clock.now() - last_request > timedelta(hours=1)


async def test_a_sign_out_between_the_read_and_the_write_wins(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    clock.advance(timedelta(minutes=30))  # the next request records its activity

    class SignOutAfterTheRead:
        """The pool, with another request signing out right after the session is read."""

        async def fetchrow(self, *args: Any) -> Any:
            row = await pool.fetchrow(*args)
            await end_session(pool, opened.browser, now=clock.now())
            return row

        async def fetchval(self, *args: Any) -> Any:
            return await pool.fetchval(*args)

    racing = cast(asyncpg.Pool, SignOutAfterTheRead())
    found = await resume_session(racing, opened.cookie_value, now=clock.now())
    assert isinstance(found, EndedSession)
    assert await _recorded(pool, opened) == (START, clock.now())  # not pushed back


async def test_the_session_says_whether_a_notice_waits(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    assert not opened.browser.flash_pending
    resumed = await resume_session(pool, opened.cookie_value, now=clock.now())
    assert isinstance(resumed, BrowserSession)
    assert not resumed.flash_pending
    await set_flash(pool, resumed, Flash("success", "notice_canceled", {"plan": "Pro"}))
    resumed = await resume_session(pool, opened.cookie_value, now=clock.now())
    assert isinstance(resumed, BrowserSession)
    assert resumed.flash_pending
    assert await pop_flash(pool, resumed) is not None
    resumed = await resume_session(pool, opened.cookie_value, now=clock.now())
    assert isinstance(resumed, BrowserSession)
    assert not resumed.flash_pending


async def test_an_unknown_cookie_is_no_session(pool: asyncpg.Pool) -> None:
    assert await resume_session(pool, None, now=START) is None
    assert await resume_session(pool, "A" * 43, now=START) is None


async def test_signing_out_ends_the_session_at_once(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    await end_session(pool, opened.browser, now=clock.now())
    assert isinstance(
        await resume_session(pool, opened.cookie_value, now=clock.now()), EndedSession
    )


async def test_a_flash_is_shown_once(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock), clock)
    flash = Flash("success", "notice_canceled", {"plan": "Pro"})
    await set_flash(pool, opened.browser, flash)
    assert await pop_flash(pool, opened.browser) == flash
    assert await pop_flash(pool, opened.browser) is None


async def test_the_language_choice_is_remembered_per_browser_session(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    opened = await _open(pool, await _create(pool, clock, locale=None), clock)
    assert opened.browser.locale is None
    await choose_locale(pool, opened.browser, "fr")
    resumed = await resume_session(pool, opened.cookie_value, now=clock.now())
    assert isinstance(resumed, BrowserSession)
    assert resumed.locale == "fr"
    with pytest.raises(InvalidLocale):
        await choose_locale(pool, opened.browser, "klingon")


async def test_bad_input_is_refused_before_anything_is_written(pool: asyncpg.Pool) -> None:
    with pytest.raises(InvalidReturnUrl):
        await _create(pool, FakeClock(START), return_url="javascript:alert(1)")
    with pytest.raises(InvalidLocale):
        await _create(pool, FakeClock(START), locale="de")
    with pytest.raises(ValueError, match="customer_id"):
        await _create(pool, FakeClock(START), customer_id="")
    assert await pool.fetchval("SELECT count(*) FROM portal_sessions") == 0


async def test_purge_removes_only_long_ended_sessions(pool: asyncpg.Pool) -> None:
    clock = FakeClock(START)
    never_opened = await _create(pool, clock)
    opened = await _open(pool, await _create(pool, clock), clock)
    clock.advance(timedelta(hours=2))
    assert await purge_expired(pool, now=clock.now()) == 0  # kept a day for branded pages
    fresh = await _create(pool, clock)
    clock.advance(timedelta(days=1))
    assert await purge_expired(pool, now=clock.now()) == 2
    assert isinstance(await open_link(pool, fresh, now=clock.now()), RefusedLink)
    remaining = await pool.fetchval("SELECT count(*) FROM portal_sessions")
    assert remaining == 1  # the fresh one, expired only 23h55m ago
    assert await resume_session(pool, opened.cookie_value, now=clock.now()) is None
    assert (await open_link(pool, never_opened, now=clock.now())) == RefusedLink(None, None)
