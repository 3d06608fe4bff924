"""Portal sessions: the short-lived link a merchant hands out, and the browser session it opens.

A merchant creates a portal session for one customer (``create_portal_session``); the customer
gets ``/portal/s/<url_token>``. Opening that link once, within ``LINK_TTL``, exchanges it for a
browser session whose cookie identifies it until ``IDLE_TTL`` after its last request. Only
SHA-256 digests of the link token and of the cookie are stored (see ``tokens``); rows are kept
for a while after they expire so that an expired link can still show the merchant's branding.
The rules themselves are in ``access``; this module applies them atomically in PostgreSQL.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg
import orjson

from billing_events.postgres import Migration
from portal_gateway.portal.access import (
    IDLE_TTL,
    LINK_TTL,
    TOUCH_INTERVAL,
    LinkState,
    idle_deadline,
    link_expiry,
    link_state,
    needs_touch,
    session_is_live,
    validate_return_url,
)
from portal_gateway.portal.formatting import as_utc
from portal_gateway.portal.locales import SUPPORTED_LANGUAGES
from portal_gateway.portal.tokens import hash_token, looks_like_token, new_secret, new_token

PORTAL_SESSION_MIGRATIONS: list[Migration] = [
    Migration(
        component="portal_sessions",
        version=1,
        sql="""
        CREATE TABLE portal_sessions (
            session_id text PRIMARY KEY,
            merchant_id text NOT NULL,
            customer_id text NOT NULL,
            return_url text,
            locale text,
            link_token_hash bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL,
            link_expires_at timestamptz NOT NULL,
            link_used_at timestamptz
        );
        CREATE INDEX portal_sessions_link_expiry ON portal_sessions (link_expires_at);

        CREATE TABLE portal_browser_sessions (
            cookie_hash bytea PRIMARY KEY,
            session_id text NOT NULL REFERENCES portal_sessions ON DELETE CASCADE,
            csrf_secret bytea NOT NULL,
            locale text,
            flash text,
            created_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL
        );
        CREATE INDEX portal_browser_sessions_session ON portal_browser_sessions (session_id);
        CREATE INDEX portal_browser_sessions_expiry ON portal_browser_sessions (expires_at);
        """,
    )
]

_LOCALE_TAG = re.compile(r"^([A-Za-z]{2})(?:[-_]([A-Za-z]{2}))?$")


class InvalidLocale(ValueError):
    code = "invalid_locale"


def normalize_session_locale(value: str | None) -> str | None:
    """``None``/``"auto"`` (follow the customer and browser) or a supported tag like ``pt-BR``."""
    if value is None or value == "" or value == "auto":
        return None
    match = _LOCALE_TAG.match(value)
    if match is None:
        raise InvalidLocale(f"locale {value!r} is not a language tag such as 'es' or 'pt-BR'")
    language = match.group(1).lower()
    if language not in SUPPORTED_LANGUAGES:
        supported = ", ".join(SUPPORTED_LANGUAGES)
        raise InvalidLocale(f"locale {value!r} is not supported; use one of {supported} or auto")
    region = match.group(2)
    return f"{language}-{region.upper()}" if region else language


@dataclass(frozen=True)
class CreatedSession:
    session_id: str
    url_token: str  # shown once, to the merchant; only its hash is stored
    expires_at: datetime


@dataclass(frozen=True)
class PortalSession:
    """What the merchant asked for when creating the session."""

    session_id: str
    merchant_id: str
    customer_id: str
    return_url: str | None
    locale: str | None
    created_at: datetime
    link_expires_at: datetime
    link_used_at: datetime | None


@dataclass(frozen=True)
class BrowserSession:
    """A live browser session: who the visitor is allowed to act as, and their form secret."""

    key: bytes  # the cookie's hash: the row's identity, safe to pass around and log
    portal: PortalSession
    csrf_secret: bytes = field(repr=False)
    chosen_locale: str | None
    expires_at: datetime
    # A one-time notice waits (``set_flash``): the next page pops it. Read with the session,
    # so that a page without one needs no further query.
    flash_pending: bool = False

    @property
    def merchant_id(self) -> str:
        return self.portal.merchant_id

    @property
    def customer_id(self) -> str:
        return self.portal.customer_id

    @property
    def locale(self) -> str | None:
        """The customer's pick in the language switcher, else the merchant's."""
        return self.chosen_locale or self.portal.locale


@dataclass(frozen=True)
class OpenedLink:
    cookie_value: str = field(repr=False)
    browser: BrowserSession


@dataclass(frozen=True)
class RefusedLink:
    """``portal`` is None when the token matches nothing at all."""

    state: LinkState | None
    portal: PortalSession | None


@dataclass(frozen=True)
class EndedSession:
    """A cookie that once was valid: enough to brand the "session ended" page."""

    portal: PortalSession


@dataclass(frozen=True)
class Flash:
    """A one-time notice shown on the next page: a message key, not text, so it is rendered
    in whatever language the next page uses."""

    kind: str  # success | info | warning | error
    key: str
    params: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return orjson.dumps({"kind": self.kind, "key": self.key, "params": self.params}).decode()

    @classmethod
    def from_json(cls, text: str) -> Flash | None:
        try:
            raw = orjson.loads(text)
            return cls(kind=str(raw["kind"]), key=str(raw["key"]), params=dict(raw["params"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def _portal(row: asyncpg.Record) -> PortalSession:
    return PortalSession(
        session_id=row["session_id"],
        merchant_id=row["merchant_id"],
        customer_id=row["customer_id"],
        return_url=row["return_url"],
        locale=row["locale"],
        created_at=row["created_at"],
        link_expires_at=row["link_expires_at"],
        link_used_at=row["link_used_at"],
    )


def _browser(row: asyncpg.Record, expires_at: datetime) -> BrowserSession:
    return BrowserSession(
        key=bytes(row["cookie_hash"]),
        portal=_portal(row),
        csrf_secret=bytes(row["csrf_secret"]),
        chosen_locale=row["chosen_locale"],
        expires_at=expires_at,
        flash_pending=row["flash_pending"],
    )


_PORTAL_COLUMNS = """
    s.session_id, s.merchant_id, s.customer_id, s.return_url, s.locale, s.created_at,
    s.link_expires_at, s.link_used_at
"""
_BROWSER_COLUMNS = f"""
    b.cookie_hash, b.csrf_secret, b.locale AS chosen_locale, b.expires_at, b.last_seen_at,
    b.flash IS NOT NULL AS flash_pending, {_PORTAL_COLUMNS}
"""


def _identifier(name: str, value: str) -> str:
    if not value or len(value) > 100:
        raise ValueError(f"{name} must be 1 to 100 characters")
    return value


async def create_portal_session(
    pool: asyncpg.Pool,
    *,
    merchant_id: str,
    customer_id: str,
    return_url: str | None = None,
    locale: str | None = None,
    now: datetime,
    link_ttl: timedelta = LINK_TTL,
) -> CreatedSession:
    """Record a new portal session and return its one-time link token.

    The caller (the merchant API) has already checked that the customer belongs to the
    merchant. Raises ``InvalidReturnUrl`` or ``InvalidLocale`` (both ``ValueError`` with a
    ``code``) for bad input, before anything is written.
    """
    _identifier("merchant_id", merchant_id)
    _identifier("customer_id", customer_id)
    checked_url = validate_return_url(return_url)
    checked_locale = normalize_session_locale(locale)
    created_at = as_utc(now)
    session_id = f"ps_{uuid.uuid4().hex}"
    url_token = new_token()
    expires_at = link_expiry(created_at, link_ttl)
    await pool.execute(
        """
        INSERT INTO portal_sessions (session_id, merchant_id, customer_id, return_url, locale,
                                     link_token_hash, created_at, link_expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        session_id,
        merchant_id,
        customer_id,
        checked_url,
        checked_locale,
        hash_token(url_token),
        created_at,
        expires_at,
    )
    return CreatedSession(session_id=session_id, url_token=url_token, expires_at=expires_at)


async def open_link(
    pool: asyncpg.Pool, url_token: str, *, now: datetime, idle_ttl: timedelta = IDLE_TTL
) -> OpenedLink | RefusedLink:
    """Exchange a link token for a new browser session, at most once."""
    if not looks_like_token(url_token):
        return RefusedLink(state=None, portal=None)
    moment = as_utc(now)
    async with pool.acquire() as conn, conn.transaction():
        # The row lock makes two simultaneous openings of one link yield one session.
        row = await conn.fetchrow(
            f"SELECT {_PORTAL_COLUMNS} FROM portal_sessions s "
            "WHERE s.link_token_hash = $1 FOR UPDATE",
            hash_token(url_token),
        )
        if row is None:
            return RefusedLink(state=None, portal=None)
        portal = _portal(row)
        state = link_state(
            expires_at=portal.link_expires_at, used_at=portal.link_used_at, now=moment
        )
        if state is not LinkState.VALID:
            return RefusedLink(state=state, portal=portal)
        await conn.execute(
            "UPDATE portal_sessions SET link_used_at = $2 WHERE session_id = $1",
            portal.session_id,
            moment,
        )
        cookie_value = new_token()
        cookie_hash = hash_token(cookie_value)
        csrf_secret = new_secret()
        expires_at = idle_deadline(moment, idle_ttl)
        await conn.execute(
            """
            INSERT INTO portal_browser_sessions (cookie_hash, session_id, csrf_secret, created_at,
                                                 last_seen_at, expires_at)
            VALUES ($1, $2, $3, $4, $4, $5)
            """,
            cookie_hash,
            portal.session_id,
            csrf_secret,
            moment,
            expires_at,
        )
    used = replace(portal, link_used_at=moment)
    browser = BrowserSession(
        key=cookie_hash,
        portal=used,
        csrf_secret=csrf_secret,
        chosen_locale=None,
        expires_at=expires_at,
    )
    return OpenedLink(cookie_value=cookie_value, browser=browser)


# The session's merchant and customer as SQL, for an expression read alongside the session
# (``resume_session_reading``).
SESSION_MERCHANT_SQL: Final = "s.merchant_id"
SESSION_CUSTOMER_SQL: Final = "s.customer_id"


async def resume_session(
    pool: asyncpg.Pool,
    cookie_value: str | None,
    *,
    now: datetime,
    idle_ttl: timedelta = IDLE_TTL,
    touch_interval: timedelta = TOUCH_INTERVAL,
) -> BrowserSession | EndedSession | None:
    """The live session behind a cookie; or why there is none.

    Its idle deadline is pushed back (a durable write) only when its last recorded activity
    is ``touch_interval`` old (see ``access``): most page views read one row and write
    nothing. Returns ``EndedSession`` for a cookie whose session timed out or was signed out
    but is still on record, ``None`` for no cookie or one never issued.
    """
    session, _ = await resume_session_reading(
        pool, cookie_value, None, now=now, idle_ttl=idle_ttl, touch_interval=touch_interval
    )
    return session


async def resume_session_reading(
    pool: asyncpg.Pool,
    cookie_value: str | None,
    alongside: str | None,
    *,
    now: datetime,
    idle_ttl: timedelta = IDLE_TTL,
    touch_interval: timedelta = TOUCH_INTERVAL,
) -> tuple[BrowserSession | EndedSession | None, Any]:
    """``resume_session``, and the value of the SQL expression ``alongside``, read in the
    same statement as the session (over ``SESSION_MERCHANT_SQL`` and ``SESSION_CUSTOMER_SQL``):
    what a page needs next about the session's customer, without a round trip of its own.
    The value is None unless the session is live."""
    if not cookie_value or not looks_like_token(cookie_value):
        return None, None
    key = hash_token(cookie_value)
    moment = as_utc(now)
    row = await pool.fetchrow(_resume_sql(alongside), key)
    if row is None:
        return None, None
    if not session_is_live(expires_at=row["expires_at"], now=moment):
        return EndedSession(portal=_portal(row)), None
    expires_at: datetime = row["expires_at"]
    if needs_touch(last_seen_at=row["last_seen_at"], now=moment, interval=touch_interval):
        # Still conditional on the session being live: a sign-out or an expiry that happened
        # since the read wins, and the request is refused like any later one.
        touched = await pool.fetchval(
            """
            UPDATE portal_browser_sessions
               SET last_seen_at = GREATEST(last_seen_at, $2),
                   expires_at = GREATEST(expires_at, $3)
             WHERE cookie_hash = $1 AND expires_at > $2
            RETURNING expires_at
            """,
            key,
            moment,
            idle_deadline(moment, idle_ttl),
        )
        if touched is None:
            return EndedSession(portal=_portal(row)), None
        expires_at = touched
    return _browser(row, expires_at), row["alongside"]


@functools.cache
def _resume_sql(alongside: str | None) -> str:
    return f"""
        SELECT {_BROWSER_COLUMNS}, {alongside or "NULL"} AS alongside
          FROM portal_browser_sessions b
          JOIN portal_sessions s ON s.session_id = b.session_id
         WHERE b.cookie_hash = $1
        """


async def choose_locale(pool: asyncpg.Pool, session: BrowserSession, locale: str) -> None:
    """Remember the language the customer picked in the switcher, for this browser session."""
    normalized = normalize_session_locale(locale)
    await pool.execute(
        "UPDATE portal_browser_sessions SET locale = $2 WHERE cookie_hash = $1",
        session.key,
        normalized,
    )


async def set_flash(pool: asyncpg.Pool, session: BrowserSession, flash: Flash) -> None:
    await pool.execute(
        "UPDATE portal_browser_sessions SET flash = $2 WHERE cookie_hash = $1",
        session.key,
        flash.to_json(),
    )


async def pop_flash(pool: asyncpg.Pool, session: BrowserSession) -> Flash | None:
    """The pending notice, removed so that a reload does not show it again."""
    text = await pool.fetchval(
        """
        WITH pending AS (
            SELECT cookie_hash, flash FROM portal_browser_sessions
             WHERE cookie_hash = $1 AND flash IS NOT NULL
             FOR UPDATE
        )
        UPDATE portal_browser_sessions b SET flash = NULL
          FROM pending p
         WHERE b.cookie_hash = p.cookie_hash
        RETURNING p.flash
        """,
        session.key,
    )
    return Flash.from_json(text) if text is not None else None


async def end_session(pool: asyncpg.Pool, session: BrowserSession, *, now: datetime) -> None:
    """Sign out: the cookie stops working at once; the row stays so that a later request with
    it gets the branded "session ended" page."""
    await pool.execute(
        "UPDATE portal_browser_sessions SET expires_at = LEAST(expires_at, $2), flash = NULL "
        "WHERE cookie_hash = $1",
        session.key,
        as_utc(now),
    )


async def purge_expired(
    pool: asyncpg.Pool, *, now: datetime, keep: timedelta = timedelta(days=1)
) -> int:
    """Delete sessions that ended more than ``keep`` ago; returns how many portal sessions
    went. Run it periodically (any process: it is safe concurrently)."""
    cutoff = as_utc(now) - keep
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM portal_browser_sessions WHERE expires_at < $1", cutoff)
        status: str = await conn.execute(
            """
            DELETE FROM portal_sessions s
             WHERE s.link_expires_at < $1
               AND NOT EXISTS (SELECT 1 FROM portal_browser_sessions b
                                WHERE b.session_id = s.session_id)
            """,
            cutoff,
        )
    return int(status.rsplit(" ", 1)[-1])
