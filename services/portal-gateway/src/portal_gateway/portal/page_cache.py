"""The overview page, rendered once for what it shows and then only completed per response.

The overview is a function of: the overview data (its ``revision``: the PostgreSQL adapter's
is the text of everything it read, so a change to any projection row the page shows is a new
revision), the merchant and customer it is for, the page's locale, the session's return URL,
the month of the merchant's "now" (card expiry warnings) and the CSRF token. Everything but
the token is the cache key; the token is fresh per response, as on an uncached page: the page
is rendered with a random per-process placeholder where the token goes and stored split at
it, and each response joins the pieces with its own token.

Never cached: a page with a one-time notice (flash), or an overview without a revision (a
source that cannot say what changed). Nothing else on the page is per request: there is no
CSP nonce (the policy allows same-origin styles and no scripts), and the security headers and
``Cache-Control: no-store`` are added by middleware to every response.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from portal_gateway.application.ports import PortalOverview
from portal_gateway.caching import LruCache
from portal_gateway.portal import pages
from portal_gateway.portal.formatting import as_utc, formatter_for
from portal_gateway.portal.locales import PortalLocale
from portal_gateway.portal.presenters import Notice
from portal_gateway.portal.rendering import PORTAL_PATH, PageRenderer

MAX_PAGES: Final = 256
MAX_CHARS: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class _Key:
    revision: str
    merchant_id: str
    customer_id: str
    locale: PortalLocale
    return_url: str | None
    # Card expiry ("expires soon", "expired") is judged per month of the merchant's time; the
    # page uses nothing finer of "now".
    month: tuple[int, int]


class OverviewPages:
    def __init__(
        self, renderer: PageRenderer, *, max_pages: int = MAX_PAGES, max_chars: int = MAX_CHARS
    ) -> None:
        self.renderer = renderer
        # Unguessable, and made of characters that HTML escaping leaves alone.
        self._hole = f"csrf-hole-{secrets.token_hex(16)}"
        self._pages: LruCache[_Key, tuple[str, ...]] = LruCache(
            max_pages,
            max_weight=max_chars,
            weigh=lambda key, parts: len(key.revision) + sum(len(p) for p in parts),
        )

    @property
    def cached(self) -> int:
        return len(self._pages)

    def html(
        self,
        overview: PortalOverview,
        *,
        locale: PortalLocale,
        return_url: str | None,
        now: datetime,
        csrf_token: str,
        flash: Notice | None = None,
    ) -> str:
        """The overview page for this response. ``now`` is the wall clock."""
        key: _Key | None = None
        if overview.revision is not None and flash is None:
            merchant_now = as_utc(overview.merchant_now(now))
            key = _Key(
                revision=overview.revision,
                merchant_id=overview.merchant.merchant_id,
                customer_id=overview.customer.customer_id,
                locale=locale,
                return_url=return_url,
                month=(merchant_now.year, merchant_now.month),
            )
            cached = self._pages.get(key)
            if cached is not None:
                return csrf_token.join(cached)
        parts = tuple(
            self._render(
                overview, locale=locale, return_url=return_url, now=now, flash=flash
            ).split(self._hole)
        )
        if key is not None:
            self._pages.put(key, parts)
        return csrf_token.join(parts)

    def _render(
        self,
        overview: PortalOverview,
        *,
        locale: PortalLocale,
        return_url: str | None,
        now: datetime,
        flash: Notice | None,
    ) -> str:
        chrome = self.renderer.chrome(
            locale,
            merchant=overview.merchant,
            return_url=return_url,
            csrf_token=self._hole,
            current_path=PORTAL_PATH,
        )
        return pages.overview_html(
            self.renderer, chrome, overview, fmt=formatter_for(locale), now=now, flash=flash
        )
