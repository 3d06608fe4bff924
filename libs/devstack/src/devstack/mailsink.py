"""A local mail sink: an SMTP server that keeps what it receives, and a web page to read it.

Development and tests point the notifications service at it (SMTP_HOST/SMTP_PORT) so that
receipts and magic-link emails can be read and clicked without a real mail server:

- SMTP on 127.0.0.1:1025 accepts every message (no auth, no TLS: loopback only);
- http://127.0.0.1:8025/ lists the messages; each one shows its text and HTML bodies and the
  names of its attachments;
- ``GET /messages.json`` lists them as JSON (``?to=`` filters by recipient), and
  ``DELETE /messages`` empties the sink.

Run it in-process (``async with MailSink(...)``, as the dev launcher and the tests do) or alone
with ``python -m devstack.mailsink``. Messages live in memory only, the oldest dropped beyond
``max_messages``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.policy
import html
import itertools
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import uvicorn
from litestar import Litestar, Response, delete, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_204_NO_CONTENT

from devstack.smtp_receiver import SmtpReceiver

DEFAULT_HOST = "127.0.0.1"
DEFAULT_SMTP_PORT = 1025
DEFAULT_HTTP_PORT = 8025


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size}


@dataclass(frozen=True)
class ParsedMail:
    """What the web view and the JSON show of a message."""

    sender: str
    subject: str
    date: datetime
    text: str | None
    html: str | None
    attachments: list[Attachment]


class Message:
    """A received message. It is parsed on first read, not on receipt: parsing MIME with the
    standard library costs milliseconds, and under load most mail is never looked at."""

    __slots__ = ("_parsed", "envelope_from", "id", "raw", "received_at", "recipients")

    def __init__(
        self,
        message_id: int,
        envelope_from: str,
        recipients: list[str],
        raw: bytes,
        received_at: datetime | None = None,
    ) -> None:
        self.id = message_id
        self.envelope_from = envelope_from
        self.recipients = list(recipients)
        self.raw = raw
        self.received_at = received_at or datetime.now(UTC)
        self._parsed: ParsedMail | None = None

    def __repr__(self) -> str:
        return f"Message(id={self.id}, recipients={self.recipients!r}, size={len(self.raw)})"

    @property
    def parsed(self) -> ParsedMail:
        if self._parsed is None:
            self._parsed = _parse(self.envelope_from, self.raw, self.received_at)
        return self._parsed

    @property
    def sender(self) -> str:
        return self.parsed.sender

    @property
    def subject(self) -> str:
        return self.parsed.subject

    @property
    def date(self) -> datetime:
        return self.parsed.date

    @property
    def text(self) -> str | None:
        return self.parsed.text

    @property
    def html(self) -> str | None:
        return self.parsed.html

    @property
    def attachments(self) -> list[Attachment]:
        return self.parsed.attachments

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.recipients,
            "subject": self.subject,
            "date": self.date.isoformat(),
            "text": self.text,
            "html": self.html,
            "attachments": [a.as_dict() for a in self.attachments],
        }


def parse_message(message_id: int, envelope_from: str, rcpt: list[str], raw: bytes) -> Message:
    """A received message, parsed now (the mailbox defers it to the first read)."""
    message = Message(message_id, envelope_from, rcpt, raw)
    _ = message.parsed
    return message


def _parse(envelope_from: str, raw: bytes, received_at: datetime) -> ParsedMail:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    attachments = []
    for part in parsed.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        attachments.append(
            Attachment(
                filename=part.get_filename() or "unnamed",
                content_type=part.get_content_type(),
                content=payload if isinstance(payload, bytes) else b"",
            )
        )
    return ParsedMail(
        # The header says who the mail claims to be from; the envelope is the fallback.
        sender=str(parsed.get("From") or envelope_from),
        subject=str(parsed.get("Subject") or ""),
        date=_date_of(parsed, received_at),
        text=_content_of(text_part),
        html=_content_of(html_part),
        attachments=attachments,
    )


def _content_of(part: Any) -> str | None:
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # unknown charset or broken encoding: show it raw
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


def _date_of(parsed: EmailMessage, received_at: datetime) -> datetime:
    header = parsed.get("Date")
    if header:
        with contextlib.suppress(TypeError, ValueError):
            value = parsedate_to_datetime(str(header))
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return received_at


class Mailbox:
    """The received messages, newest last, bounded."""

    def __init__(self, max_messages: int = 1000) -> None:
        self._messages: deque[Message] = deque(maxlen=max_messages)
        self._ids = itertools.count(1)
        self._waiting: list[asyncio.Future[None]] = []

    def __iter__(self) -> Iterator[Message]:
        return iter(list(self._messages))

    def __len__(self) -> int:
        return len(self._messages)

    def get(self, message_id: int) -> Message | None:
        return next((m for m in self._messages if m.id == message_id), None)

    def clear(self) -> None:
        self._messages.clear()

    def add(self, envelope_from: str, rcpt: list[str], raw: bytes) -> Message:
        message = Message(next(self._ids), envelope_from, rcpt, raw)
        self._messages.append(message)
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)
        return message

    async def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Message]:
        """Wait until at least ``count`` messages are here (for tests)."""
        async with asyncio.timeout(timeout):
            while len(self._messages) < count:
                arrived = asyncio.get_running_loop().create_future()
                self._waiting.append(arrived)
                await arrived
        return list(self._messages)


# -- the web view ---------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .6rem;
border-bottom:1px solid #e4e7eb;vertical-align:top}th{background:#f5f7fa}
pre{white-space:pre-wrap;background:#f5f7fa;padding:1rem}iframe{width:100%;height:32rem;
border:1px solid #e4e7eb}.muted{color:#7b8794}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _index(mailbox: Mailbox) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(m.date.strftime('%Y-%m-%d %H:%M:%S %Z'))}</td>"
        f"<td>{html.escape(m.sender)}</td>"
        f"<td>{html.escape(', '.join(m.recipients))}</td>"
        f"<td><a href='/messages/{m.id}'>{html.escape(m.subject or '(no subject)')}</a></td>"
        f"<td>{len(m.attachments) or ''}</td>"
        "</tr>"
        for m in reversed(list(mailbox))
    )
    table = (
        "<table><tr><th>Date</th><th>From</th><th>To</th><th>Subject</th><th>Attachments</th>"
        f"</tr>{rows}</table>"
        if rows
        else "<p class='muted'>No mail yet.</p>"
    )
    return _page(
        "Mail sink",
        f"<h1>Mail sink</h1><p class='muted'>{len(mailbox)} message(s) · "
        "<a href='/messages.json'>JSON</a></p>" + table,
    )


def _detail(message: Message) -> str:
    parts = [
        f"<p><a href='/'>&larr; all messages</a></p><h1>{html.escape(message.subject)}</h1>",
        "<table>",
        f"<tr><th>From</th><td>{html.escape(message.sender)}</td></tr>",
        f"<tr><th>To</th><td>{html.escape(', '.join(message.recipients))}</td></tr>",
        f"<tr><th>Date</th><td>{html.escape(message.date.isoformat())}</td></tr>",
        "</table>",
    ]
    if message.attachments:
        items = "".join(
            f"<li><a href='/messages/{message.id}/attachments/{index}'>"
            f"{html.escape(a.filename)}</a> <span class='muted'>{html.escape(a.content_type)}, "
            f"{a.size} bytes</span></li>"
            for index, a in enumerate(message.attachments)
        )
        parts.append(f"<h2>Attachments</h2><ul>{items}</ul>")
    if message.html is not None:
        # Sandboxed, scripts off; links open in a new tab so that magic links work.
        document = "<base target='_blank'>" + message.html
        parts.append(
            "<h2>HTML</h2><iframe sandbox='allow-popups allow-popups-to-escape-sandbox' "
            f"srcdoc='{html.escape(document, quote=True)}'></iframe>"
        )
    if message.text is not None:
        parts.append(f"<h2>Text</h2><pre>{html.escape(message.text)}</pre>")
    parts.append(f"<p><a href='/messages/{message.id}/raw'>raw message</a></p>")
    return _page(message.subject or "message", "".join(parts))


def create_web_app(mailbox: Mailbox) -> Litestar:
    def find(message_id: int) -> Message:
        message = mailbox.get(message_id)
        if message is None:
            raise NotFoundException(f"no message {message_id}")
        return message

    @get("/", media_type="text/html", sync_to_thread=False)
    def index() -> str:
        return _index(mailbox)

    @get("/messages.json", sync_to_thread=False)
    def messages_json(to: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        wanted = to
        return [
            m.as_dict()
            for m in mailbox
            if wanted is None or any(wanted.lower() in r.lower() for r in m.recipients)
        ]

    @delete("/messages", status_code=HTTP_204_NO_CONTENT, sync_to_thread=False)
    def clear() -> None:
        mailbox.clear()

    @get("/messages/{message_id:int}", media_type="text/html", sync_to_thread=False)
    def detail(message_id: FromPath[int]) -> str:
        return _detail(find(message_id))

    @get("/messages/{message_id:int}/raw", sync_to_thread=False)
    def raw(message_id: FromPath[int]) -> Response[bytes]:
        return Response(find(message_id).raw, media_type="message/rfc822")

    @get("/messages/{message_id:int}/attachments/{index:int}", sync_to_thread=False)
    def attachment(message_id: FromPath[int], index: FromPath[int]) -> Response[bytes]:
        attachments = find(message_id).attachments
        if not 0 <= index < len(attachments):
            raise NotFoundException(f"no attachment {index}")
        item = attachments[index]
        return Response(
            item.content,
            media_type=item.content_type,
            headers={"content-disposition": f'attachment; filename="{item.filename}"'},
        )

    return Litestar(
        route_handlers=[index, messages_json, clear, detail, raw, attachment],
        openapi_config=None,
        logging_config=None,
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's process: the host process owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MailSink:
    """The SMTP server and its web view, in the running event loop."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        smtp_port: int = DEFAULT_SMTP_PORT,
        http_port: int = DEFAULT_HTTP_PORT,
        max_messages: int = 1000,
    ) -> None:
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.mailbox = Mailbox(max_messages)
        self._smtp: asyncio.Server | None = None
        self._http: _EmbeddedServer | None = None
        self._http_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def messages(self) -> list[Message]:
        return list(self.mailbox)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(
            lambda: SmtpReceiver(self.mailbox.add, hostname="mailsink.local"),
            self.host,
            self.smtp_port,
        )
        # Bound here, not by uvicorn: a taken port then raises OSError to our caller
        # (uvicorn would call sys.exit inside a task).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.http_port))
        except OSError:
            sock.close()
            self._smtp.close()
            raise
        config = uvicorn.Config(
            create_web_app(self.mailbox), lifespan="off", log_config=None, access_log=False
        )
        self._http = _EmbeddedServer(config)
        self._http_task = asyncio.create_task(self._http.serve([sock]), name="mailsink-http")
        while not self._http.started:
            if self._http_task.done():
                self._smtp.close()
                await self._http_task
                raise OSError(f"mail sink web view could not start on {self.url}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._http_task
            self._http = self._http_task = None
        if self._smtp is not None:
            self._smtp.close()
            await self._smtp.wait_closed()
            self._smtp = None

    async def __aenter__(self) -> MailSink:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


async def _serve_forever(sink: MailSink) -> None:
    async with sink:
        print(f"mail sink: SMTP {sink.host}:{sink.smtp_port}, web {sink.url}/", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--smtp-port", type=int, default=DEFAULT_SMTP_PORT)
    parser.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(MailSink(args.host, args.smtp_port, args.http_port)))


if __name__ == "__main__":
    main()
