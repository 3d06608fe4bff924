"""The load generator's HTTP client, against a real server on loopback: if it misread a
response, every figure 5 and 6 would be wrong."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from benchmarks.rawhttp import Connection, ConnectionPool, RawHttpError, Response

Answer = Callable[[str, bytes], bytes]  # (request line, body) -> the raw response
Serve = Callable[[Answer], Awaitable["Server"]]


@dataclass
class Server:
    url: str
    connections: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


def content_length(status: int, body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked(body: bytes) -> bytes:
    half = len(body) // 2
    parts = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]) if p)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + parts + b"0\r\nX-T: 1\r\n\r\n"


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Server:
        state = Server("")

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    line, *lines = head[:-4].decode().split("\r\n")
                    headers = {
                        k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)
                    }
                    body = await reader.readexactly(int(headers.get("content-length", 0)))
                    state.requests.append((line, headers, body))
                    writer.write(answer(line, body))
                    await writer.drain()
                    if b"Connection: close" in answer(line, body):
                        break
            except asyncio.IncompleteReadError:
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return state

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_reads_sized_and_chunked_bodies_on_one_kept_alive_connection(serve: Serve) -> None:
    page = b"<html>" + b"x" * 5000 + b"</html>"
    server = await serve(
        lambda line, _: chunked(page) if "chunked" in line else content_length(200, b'{"a":1}')
    )
    connection = Connection(server.url, {"Cookie": "s=1"})
    try:
        sized = await connection.request("GET", "/sized")
        streamed = await connection.request("GET", "/chunked")
    finally:
        await connection.close()
    assert (sized.status, sized.json()) == (200, {"a": 1})
    assert streamed.body == page
    assert server.connections == 1
    assert [line for line, _, _ in server.requests] == [
        "GET /sized HTTP/1.1",
        "GET /chunked HTTP/1.1",
    ]
    assert server.requests[0][1]["cookie"] == "s=1"
    assert server.requests[0][1]["host"] == server.url.removeprefix("http://")


async def test_posts_json_and_reopens_after_the_server_closes(serve: Serve) -> None:
    server = await serve(lambda _, body: content_length(201, body, "Connection: close\r\n"))
    connection = Connection(server.url, {"Authorization": "Bearer k"})
    try:
        first = await connection.request("POST", "/v1/things", json.dumps({"n": 1}).encode())
        second = await connection.request("POST", "/v1/things", b'{"n": 2}')
    finally:
        await connection.close()
    assert (first.status, first.json(), second.json()) == (201, {"n": 1}, {"n": 2})
    assert server.connections == 2
    assert server.requests[0][1]["content-type"] == "application/json"
    assert server.requests[0][1]["authorization"] == "Bearer k"


async def test_a_response_it_cannot_read_is_an_error_and_the_connection_is_dropped(
    serve: Serve,
) -> None:
    server = await serve(lambda *_: b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nbody")
    pool = ConnectionPool(server.url)
    with pytest.raises(RawHttpError, match="without a length"):
        await pool.request("GET", "/")
    assert pool.size == 0
    await pool.close()


async def test_the_pool_opens_a_connection_per_concurrent_request_and_reuses_them(
    serve: Serve,
) -> None:
    server = await serve(lambda *_: content_length(200, b"{}"))
    pool = ConnectionPool(server.url)
    try:
        answers: list[Response] = await asyncio.gather(
            *(pool.request("GET", "/") for _ in range(5))
        )
        assert pool.size == 5
        for _ in range(3):
            await pool.request("POST", "/", {"k": "v"})
    finally:
        await pool.close()
    assert all(a.status == 200 for a in answers)
    assert server.connections == 5
    assert server.requests[-1][2] == b'{"k": "v"}'


async def test_the_pool_drops_connections_idle_past_the_keepalive_expiry(serve: Serve) -> None:
    server = await serve(lambda *_: content_length(200, b"{}"))
    pool = ConnectionPool(server.url, keepalive_expiry=0.05)
    try:
        await pool.request("GET", "/")
        await asyncio.sleep(0.1)
        await pool.request("GET", "/")
        assert pool.size == 1
    finally:
        await pool.close()
    assert server.connections == 2


def test_only_plain_http_urls() -> None:
    with pytest.raises(ValueError, match="plain http"):
        Connection("https://example.com")
