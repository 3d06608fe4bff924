"""Response headers that every portal response carries, error pages included.

Applied as router middleware (outside Litestar's exception handling), so a 404 or 500 page is
as protected as the overview. Handlers that want caching (the stylesheet) set their own
``Cache-Control``; everything else is ``no-store``: billing pages must not linger in shared or
back-button caches.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# ``img-src`` widens the default to https: because merchants' logos and plan images live on
# their own hosts; images cannot run code. Everything else stays same-origin, and nothing may
# frame the portal, post a form elsewhere, or rebase its links.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
_DEV_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "img-src 'self' https:", "img-src 'self' https: http:"
)


def security_headers(*, production: bool) -> dict[str, str]:
    headers = {
        "content-security-policy": (
            CONTENT_SECURITY_POLICY if production else _DEV_CONTENT_SECURITY_POLICY
        ),
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if production:
        headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
    return headers


_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")


class SecurityHeadersMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, *, production: bool) -> None:
        self._headers = security_headers(production=production)
        # Encoded once: every response of the portal carries them.
        self._encoded = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in self._headers.items()
        ]
        self._names = frozenset(name for name, _ in self._encoded)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                if not present.isdisjoint(self._names):
                    # Ours replace whatever a handler set under the same names.
                    headers = [h for h in headers if h[0].lower() not in self._names]
                headers.extend(self._encoded)
                if _CACHE_CONTROL not in present:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_headers)
