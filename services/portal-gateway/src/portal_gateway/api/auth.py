"""Authentication of the merchant API (secret keys) and the admin API (the operator token).

The key is read from ``Authorization: Bearer <key>``; it is never logged or echoed. The
authenticated merchant is put in the ASGI scope as the request's ``user``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from portal_gateway.api.errors import ApiError, internal_error_message, log_unexpected, send_error
from portal_gateway.application.errors import AuthenticationFailed
from portal_gateway.application.ports import Merchant
from portal_gateway.domain.api_keys import bearer_token

Authenticate = Callable[[str], Awaitable[Merchant | None]]


def _authorization(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


class MerchantAuthMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, authenticate: Callable[[], Authenticate]) -> None:
        # A provider, because the key store exists only once the service has started.
        self._authenticate = authenticate

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        token = bearer_token(_authorization(scope))
        if token is None:
            raise ApiError(
                AuthenticationFailed(
                    "No API key provided: send 'Authorization: Bearer <secret key>'.",
                    code="authentication_required",
                )
            )
        try:
            merchant = await self._authenticate()(token)
        except Exception as exc:
            # Answered here, not raised: this frame holds the key in a local variable.
            log_unexpected(exc, during="authentication")
            await send_error(send, 503, "service_unavailable", internal_error_message())
            return
        if merchant is None:
            raise ApiError(
                AuthenticationFailed("The API key is not valid.", code="invalid_api_key")
            )
        scope["user"] = merchant
        with structlog.contextvars.bound_contextvars(merchant_id=merchant.merchant_id):
            await next_app(scope, receive, send)


class AdminAuthMiddleware(ASGIMiddleware):
    """The operator API: one bearer token from the environment (ADMIN_TOKEN).

    Without a configured token the admin API is closed: every request is refused.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, admin_token: str | None) -> None:
        self._token = admin_token.encode() if admin_token else None

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        token = bearer_token(_authorization(scope))
        if self._token is None:
            raise ApiError(
                AuthenticationFailed(
                    "The admin API is disabled: set ADMIN_TOKEN.", code="admin_disabled"
                )
            )
        if token is None or not hmac.compare_digest(token.encode(), self._token):
            raise ApiError(
                AuthenticationFailed(
                    "An operator token is required: 'Authorization: Bearer <ADMIN_TOKEN>'.",
                    code="invalid_admin_token",
                )
            )
        await next_app(scope, receive, send)


def current_merchant(request: Request[Any, Any, Any]) -> Merchant:
    merchant = request.scope.get("user")
    if not isinstance(merchant, Merchant):  # a route mounted without the middleware
        raise ApiError(AuthenticationFailed("Not authenticated."))
    return merchant
