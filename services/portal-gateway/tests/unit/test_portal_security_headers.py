"""Unit tests of the portal's security headers middleware, on a bare Litestar app."""

from __future__ import annotations

from typing import Any, cast

import httpx
from litestar import Litestar, Response, get

from portal_gateway.portal.security import SecurityHeadersMiddleware, security_headers


@get("/plain", sync_to_thread=False)
def plain() -> str:
    return "plain"


@get("/own", sync_to_thread=False)
def own() -> Response[str]:
    # A handler that sets its own caching, and (wrongly) a weaker framing rule.
    return Response(
        "own",
        headers={"Cache-Control": "public, max-age=60", "X-Frame-Options": "SAMEORIGIN"},
    )


async def get_response(path: str, *, production: bool) -> httpx.Response:
    app = Litestar(
        route_handlers=[plain, own],
        middleware=[SecurityHeadersMiddleware(production=production)],
    )
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_every_response_gets_each_header_once_and_no_store() -> None:
    for production in (False, True):
        response = await get_response("/plain", production=production)
        for name, value in security_headers(production=production).items():
            assert response.headers.get_list(name) == [value], name
        assert response.headers.get_list("cache-control") == ["no-store"]
    assert "strict-transport-security" in (await get_response("/plain", production=True)).headers


async def test_a_handlers_own_caching_is_kept_but_never_a_weaker_security_header() -> None:
    response = await get_response("/own", production=False)
    assert response.headers.get_list("cache-control") == ["public, max-age=60"]
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.text == "own"
