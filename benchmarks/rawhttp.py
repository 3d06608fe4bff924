"""A small HTTP/1.1 keep-alive client spoken directly over asyncio streams, for load.

httpx spent about 0.85 ms of CPU per request here with a few connections, and 12 ms per
cancel with the hundreds an open loop at 200/s keeps busy: on these 2 cores the load generator
then took more CPU than the system it measured. This costs a fraction of that, so the figures
are the system's. It reads whole responses (``Content-Length`` or chunked) and nothing more:
no redirects, no cookies jar, no TLS, no pipelining.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class RawHttpError(Exception):
    """The connection failed or the response was not HTTP/1.1 as this client reads it."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names lowercased; the last of repeated headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _host_and_port(base_url: str) -> tuple[str, int]:
    url = urlsplit(base_url)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"only plain http://host[:port] URLs are supported, not {base_url!r}")
    return url.hostname, url.port or 80


class Connection:
    """One keep-alive connection, opened on first use and again after the server closes it."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = _host_and_port(base_url)
        fixed = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self._fixed_head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        try:
            return await self._exchange(method, path, body)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise RawHttpError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            await self.close()  # a cancelled exchange leaves the stream mid-response
            raise

    async def _exchange(self, method: str, path: str, body: bytes | None) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed_head
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        writer.write(head + b"\r\n" + (body or b""))
        status, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            content = await _read_chunked(reader)
        else:
            raise ValueError(f"response without a length: {headers}")
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, content)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# Below uvicorn's keep-alive timeout (5 s): reusing a connection the server is closing at
# that instant fails the request, which would be the client's fault.
KEEPALIVE_EXPIRY = 2.0


class ConnectionPool:
    """Connections to one server, each used by one request at a time. A request takes the
    most recently used idle connection or opens a new one: the client never makes a request
    wait for another, so an open loop's queueing is the server's."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        self._base_url = base_url
        self._headers = headers or {}
        self._expiry = keepalive_expiry
        self._idle: list[tuple[Connection, float]] = []  # oldest first
        self._all: list[Connection] = []

    async def request(self, method: str, path: str, json_body: Any = None) -> Response:
        connection = await self._take()
        body = None if json_body is None else json.dumps(json_body).encode()
        try:
            response = await connection.request(method, path, body)
        except BaseException:
            self._all.remove(connection)  # closed by the failed request
            raise
        self._idle.append((connection, time.monotonic()))
        return response

    async def _take(self) -> Connection:
        while self._idle:
            connection, idle_since = self._idle.pop()
            if time.monotonic() - idle_since < self._expiry:
                return connection
            # This one and every older one may be closing on the server's side.
            stale = [connection] + [c for c, _ in self._idle]
            self._idle.clear()
            for old in stale:
                self._all.remove(old)
                await old.close()
        connection = Connection(self._base_url, self._headers)
        self._all.append(connection)
        return connection

    @property
    def size(self) -> int:
        return len(self._all)

    async def close(self) -> None:
        connections, self._all, self._idle = self._all, [], []
        for connection in connections:
            await connection.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {status_line!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(rest.split(" ", 1)[0]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
