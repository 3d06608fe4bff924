"""A portal visit's session and overview in one statement (``VisitReads``).

The session tables and the read model share the gateway's database, so the statement that
finds the browser session also builds its customer's overview. Measured on the portal page
(benchmarks/README.md, figure 6): one round trip instead of two cut the gateway's CPU per page
by about a quarter (0.67 to 0.51 ms).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import asyncpg

from portal_gateway.adapters.postgres.read_model import PostgresReadModel, overview_json_sql
from portal_gateway.portal.sessions import (
    SESSION_CUSTOMER_SQL,
    SESSION_MERCHANT_SQL,
    BrowserSession,
    resume_session_reading,
)
from portal_gateway.portal.visits import ResumedVisit

_OVERVIEW_OF_SESSION: Final = overview_json_sql(SESSION_MERCHANT_SQL, SESSION_CUSTOMER_SQL)


class SessionWithOverview:
    """Implements :class:`portal_gateway.portal.visits.VisitReads`. ``pool`` reaches both
    the portal's session tables and ``read_model``'s."""

    def __init__(self, pool: asyncpg.Pool, read_model: PostgresReadModel) -> None:
        self._pool = pool
        self._read_model = read_model

    async def resume(
        self, cookie_value: str | None, *, now: datetime, idle_ttl: timedelta
    ) -> ResumedVisit:
        session, overview_text = await resume_session_reading(
            self._pool, cookie_value, _OVERVIEW_OF_SESSION, now=now, idle_ttl=idle_ttl
        )
        if not isinstance(session, BrowserSession):
            return ResumedVisit(session, None)
        return ResumedVisit(session, self._read_model.parse_overview(overview_text))
