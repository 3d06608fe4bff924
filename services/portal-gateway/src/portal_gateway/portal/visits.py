"""The two reads every signed-in page starts with: the browser session behind the cookie, and
its customer's overview (which the page shows, and whose merchant brands it).

``SessionThenOverview`` works with any ``PortalQueries``: the session's statement, then the
overview. The gateway's own read model lives in the sessions' database, and reads both in one
statement (``portal_gateway.adapters.postgres.portal_visits``): a round trip fewer on every
page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

import asyncpg

from portal_gateway.application.ports import PortalOverview, PortalQueries
from portal_gateway.portal.sessions import BrowserSession, EndedSession, resume_session


class ResumedVisit(NamedTuple):
    # None: no cookie, or one never issued.
    session: BrowserSession | EndedSession | None
    # Read for a live session only; None there if the merchant or the customer is unknown.
    overview: PortalOverview | None


class VisitReads(Protocol):
    async def resume(
        self, cookie_value: str | None, *, now: datetime, idle_ttl: timedelta
    ) -> ResumedVisit: ...


class SessionThenOverview:
    """Implements :class:`VisitReads` over any ``PortalQueries``, in two reads."""

    def __init__(self, pool: asyncpg.Pool, queries: PortalQueries) -> None:
        self._pool = pool
        self._queries = queries

    async def resume(
        self, cookie_value: str | None, *, now: datetime, idle_ttl: timedelta
    ) -> ResumedVisit:
        session = await resume_session(self._pool, cookie_value, now=now, idle_ttl=idle_ttl)
        if not isinstance(session, BrowserSession):
            return ResumedVisit(session, None)
        overview = await self._queries.overview(session.merchant_id, session.customer_id)
        return ResumedVisit(session, overview)
