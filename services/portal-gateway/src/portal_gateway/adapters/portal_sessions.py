"""Portal sessions for the merchant API, created by the portal's own session store."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from portal_gateway.application.errors import InvalidRequest
from portal_gateway.application.merchant_api import CreatedPortalSession
from portal_gateway.portal.access import InvalidReturnUrl
from portal_gateway.portal.session_routes import portal_link_path
from portal_gateway.portal.sessions import InvalidLocale, create_portal_session


class PortalSessionLinks:
    """Implements :class:`portal_gateway.application.merchant_api.PortalSessions`."""

    def __init__(self, pool: asyncpg.Pool, public_base_url: str) -> None:
        self._pool = pool
        self._base = public_base_url.rstrip("/")

    async def create(
        self,
        *,
        merchant_id: str,
        customer_id: str,
        return_url: str | None,
        locale: str | None,
        now: datetime,
    ) -> CreatedPortalSession:
        try:
            created = await create_portal_session(
                self._pool,
                merchant_id=merchant_id,
                customer_id=customer_id,
                return_url=return_url,
                locale=locale,
                now=now,
            )
        except InvalidReturnUrl as exc:
            raise InvalidRequest(str(exc), code=exc.code, param="return_url") from None
        except InvalidLocale as exc:
            raise InvalidRequest(str(exc), code=exc.code, param="locale") from None
        return CreatedPortalSession(
            session_id=created.session_id,
            url=f"{self._base}{portal_link_path(created.url_token)}",
            expires_at=created.expires_at,
        )
