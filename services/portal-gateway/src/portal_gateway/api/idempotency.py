"""``Idempotency-Key`` on the merchant API's POSTs, as an ASGI middleware.

It sits after authentication (keys are per merchant) and before the route, with Litestar's
exception handling in between: rejections and errors become responses before they reach us,
so they are remembered and replayed like successes. See ``domain.idempotency`` for the rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from portal_gateway.api.errors import ApiError, internal_error_message, log_unexpected, send_error
from portal_gateway.application.errors import (
    Conflict,
    InvalidRequest,
    PayloadTooLarge,
    Unprocessable,
)
from portal_gateway.application.ports import Merchant
from portal_gateway.domain.idempotency import (
    HEADER,
    StoredResponse,
    Verdict,
    fingerprint,
    key_problem,
    should_remember,
)

log = structlog.stdlib.get_logger(__name__)

REPLAYED_HEADER = b"idempotent-replayed"
MAX_BODY_BYTES = 1_000_000


class IdempotencyStore(Protocol):
    async def begin(
        self, merchant_id: str, key: str, fingerprint: bytes, now: datetime
    ) -> tuple[Verdict, StoredResponse | None]: ...

    async def complete(
        self, merchant_id: str, key: str, fingerprint: bytes, response: StoredResponse
    ) -> None: ...

    async def release(self, merchant_id: str, key: str, fingerprint: bytes) -> None: ...


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: Receive) -> tuple[bytes, list[ReceiveMessage]]:
    chunks: list[bytes] = []
    messages: list[ReceiveMessage] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body = message.get("body", b"")
        size += len(body)
        if size > MAX_BODY_BYTES:
            raise ApiError(
                PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
            )
        chunks.append(body)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


class IdempotencyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        store: Callable[[], IdempotencyStore],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._clock = clock

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        key = _header(scope, HEADER.encode())
        if scope.get("method") != "POST" or key is None:
            await next_app(scope, receive, send)
            return
        problem = key_problem(key)
        if problem is not None:
            raise ApiError(InvalidRequest(problem, code="invalid_idempotency_key"))
        merchant = scope.get("user")
        if not isinstance(merchant, Merchant):
            raise RuntimeError("IdempotencyMiddleware must run after authentication")

        body, messages = await _read_body(receive)
        request_print = fingerprint("POST", scope.get("path", ""), body)
        del body  # it may hold a card: keep it out of this frame's locals from here on
        try:
            verdict, stored = await self._store().begin(
                merchant.merchant_id, key, request_print, self._clock()
            )
        except Exception as exc:
            # Answered here, not raised: the request (and its body) is in this frame.
            log_unexpected(exc, during="idempotency key lookup")
            await send_error(send, 503, "service_unavailable", internal_error_message())
            return
        if verdict is Verdict.REPLAY and stored is not None:
            await _send_stored(send, stored)
            return
        if verdict is Verdict.MISMATCH:
            raise ApiError(
                Unprocessable(
                    "This Idempotency-Key was already used with a different request.",
                    code="idempotency_key_reused",
                )
            )
        if verdict is not Verdict.EXECUTE:
            raise ApiError(
                Conflict(
                    "A request with this Idempotency-Key is still being processed; retry later.",
                    code="idempotency_key_in_use",
                )
            )
        await self._execute(scope, messages, receive, send, next_app, key, request_print, merchant)

    async def _execute(
        self,
        scope: Scope,
        messages: list[ReceiveMessage],
        receive: Receive,
        send: Send,
        next_app: ASGIApp,
        key: str,
        request_print: bytes,
        merchant: Merchant,
    ) -> None:
        store = self._store()
        pending = list(messages)

        async def replay_receive() -> ReceiveMessage:
            # The body we read, then whatever comes next (a disconnect).
            return pending.pop(0) if pending else await receive()

        status = 500
        content_type = "application/json"
        chunks: list[bytes] = []
        finished = False

        async def capture(message: Message) -> None:
            nonlocal status, content_type, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers") or []:
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                finished = not message.get("more_body", False)
            await send(message)

        try:
            await next_app(scope, replay_receive, capture)
        except BaseException:
            await _quietly(store.release(merchant.merchant_id, key, request_print))
            raise
        if finished and should_remember(status):
            await _quietly(
                store.complete(
                    merchant.merchant_id,
                    key,
                    request_print,
                    StoredResponse(status=status, body=b"".join(chunks), content_type=content_type),
                )
            )
        else:
            log.info("idempotency key released", status=status)
            await _quietly(store.release(merchant.merchant_id, key, request_print))


async def _quietly(call: Awaitable[None]) -> None:
    """Record the outcome of a request already answered. If that fails, the key stays "in
    progress" and is taken over once abandoned (``ABANDONED_AFTER``); the answer stands."""
    try:
        await call
    except Exception as exc:
        log_unexpected(exc, during="idempotency key update")


async def _send_stored(send: Send, stored: StoredResponse) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": stored.status,
            "headers": [
                (b"content-type", stored.content_type.encode("latin-1")),
                (b"content-length", str(len(stored.body)).encode()),
                (REPLAYED_HEADER, b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})
