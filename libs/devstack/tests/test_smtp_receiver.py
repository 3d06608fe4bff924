"""The sink's SMTP server: the protocol fed by hand (no sockets), then real clients over TCP."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest_asyncio
import uvloop

from devstack.network import free_port
from devstack.smtp_receiver import MAX_COMMAND_LINE, SmtpReceiver


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Session:
    """A receiver on a recording transport; what it delivered and what it answered."""

    def __init__(self, max_message_size: int = 1_000_000) -> None:
        self.delivered: list[tuple[str, list[str], bytes]] = []
        self.receiver = SmtpReceiver(
            lambda *mail: self.delivered.append(mail), "sink.test", max_message_size
        )
        self.transport = RecordingTransport()
        self.receiver.connection_made(self.transport)

    def send(self, *chunks: bytes) -> list[str]:
        """Feed the chunks; the reply lines they caused (the greeting on first use too)."""
        for chunk in chunks:
            self.receiver.data_received(chunk)
        replies = self.transport.written.decode().split("\r\n")[:-1]
        self.transport.written.clear()
        return replies


def envelope(sender: str = "billing@acme.test", to: str = "ana@example.com") -> bytes:
    return f"EHLO client\r\nMAIL FROM:<{sender}>\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode()


def test_a_pipelined_mail_is_delivered_with_dot_stuffing_undone() -> None:
    session = Session()
    replies = session.send(
        envelope() + b"Subject: hi\r\n\r\n..a line that began with a dot\r\nend\r\n.\r\nQUIT\r\n"
    )
    assert replies[0] == "220 sink.test ESMTP mail sink"
    assert "250 PIPELINING" in replies
    assert "250-SMTPUTF8" in replies
    assert replies[-2:] == ["250 Message accepted for delivery", "221 Bye"]
    assert session.delivered == [
        (
            "billing@acme.test",
            ["ana@example.com"],
            b"Subject: hi\r\n\r\n.a line that began with a dot\r\nend\r\n",
        )
    ]
    assert session.transport.closed


def test_the_end_of_data_split_across_chunks_is_found() -> None:
    session = Session()
    session.send(envelope())
    body = b"Subject: split\r\n\r\nhello\r\n.\r\n"
    for i in range(len(body)):  # one byte at a time: every possible split
        session.send(body[i : i + 1])
    assert [content for *_, content in session.delivered] == [b"Subject: split\r\n\r\nhello\r\n"]


def test_an_empty_message_and_a_second_mail_on_the_same_connection() -> None:
    session = Session()
    session.send(envelope() + b".\r\n")
    replies = session.send(b"MAIL FROM:<>\r\nRCPT TO:<bo@example.com>\r\nDATA\r\nx\r\n.\r\n")
    assert replies == [
        "250 OK",
        "250 OK",
        "354 End data with <CR><LF>.<CR><LF>",
        "250 Message accepted for delivery",
    ]
    assert session.delivered == [
        ("billing@acme.test", ["ana@example.com"], b""),
        ("", ["bo@example.com"], b"x\r\n"),
    ]


def test_commands_out_of_order_are_refused_and_nothing_is_delivered() -> None:
    session = Session()
    assert session.send(b"MAIL FROM:<a@b.c>\r\n")[-1] == "503 Error: send HELO first"
    assert session.send(b"EHLO\r\n") == ["501 Syntax: EHLO hostname"]
    assert session.send(b"HELO client\r\n") == ["250 sink.test"]
    assert session.send(b"DATA\r\n") == ["503 Error: need RCPT command"]
    assert session.send(b"RCPT TO:<a@b.c>\r\n") == ["503 Error: need MAIL command"]
    assert session.send(b"MAIL TO:<a@b.c>\r\n") == ["501 Syntax: MAIL FROM:<address>"]
    assert session.send(b"MAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n") == [
        "250 OK",
        "503 Error: nested MAIL command",
    ]
    assert session.send(b"RCPT TO:<>\r\n") == ["501 Syntax: RCPT TO:<address>"]
    assert session.send(b"RSET\r\nRCPT TO:<a@b.c>\r\n") == [
        "250 OK",
        "503 Error: need MAIL command",
    ]
    assert session.send(b"TURN\r\n") == ['500 Error: command "TURN" not recognized']
    assert session.delivered == []


def test_mail_parameters_are_checked() -> None:
    session = Session(max_message_size=100)
    session.send(b"EHLO client\r\n")
    assert session.send(b"MAIL FROM:<a@b.c> SIZE=101\r\n") == [
        "552 Error: message size exceeds fixed maximum message size"
    ]
    assert session.send(b"MAIL FROM:<a@b.c> SIZE=many\r\n") == ["501 Syntax: SIZE=<octets>"]
    assert session.send(b"MAIL FROM:<a@b.c> AUTH=<>\r\n") == [
        "555 MAIL FROM parameter not recognized: AUTH"
    ]
    assert session.send(b"MAIL FROM:<a@b.c> SIZE=50 BODY=8BITMIME SMTPUTF8\r\n") == ["250 OK"]


def test_too_much_data_is_refused_and_the_connection_closed() -> None:
    session = Session(max_message_size=100)
    session.send(envelope())
    replies = session.send(b"x" * 60 + b"\r\n", b"y" * 60 + b"\r\n")
    assert replies == ["552 Error: too much mail data"]
    assert session.transport.closed
    assert session.delivered == []


def test_a_command_line_without_end_is_not_buffered_forever() -> None:
    session = Session()
    session.send(b"EHLO client\r\n")
    assert session.send(b"N" * (MAX_COMMAND_LINE + 1)) == ["500 Error: line too long"]
    assert session.send(b"NOOP\r\n") == ["250 OK"]


# -- over TCP, with the clients the project uses -------------------------------------------


async def listening(delivered: list[tuple[str, list[str], bytes]]) -> tuple[asyncio.Server, int]:
    """A receiver on a free loopback port, in the running loop, delivering into ``delivered``."""
    port = free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: SmtpReceiver(lambda *mail: delivered.append(mail), "sink.test"), "127.0.0.1", port
    )
    return server, port


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[int, list[tuple[str, list[str], bytes]]]]:
    delivered: list[tuple[str, list[str], bytes]] = []
    receiver, port = await listening(delivered)
    try:
        yield port, delivered
    finally:
        receiver.close()
        await receiver.wait_closed()


def message(to: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "billing@acme.test"
    mail["To"] = to
    mail["Subject"] = "Reçu"
    mail.set_content(body)
    return mail


async def test_aiosmtplib_sends_international_mail_on_one_connection(
    server: tuple[int, list[tuple[str, list[str], bytes]]],
) -> None:
    port, delivered = server
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        for n in range(3):
            await client.send_message(
                message("josé@exämple.com", f"line one\n.\nline {n}"), mail_options=["SMTPUTF8"]
            )
    assert [recipients for _, recipients, _ in delivered] == [["josé@exämple.com"]] * 3
    assert all(b"\r\n.\r\nline " in content for *_, content in delivered)  # the lone dot kept


def test_it_serves_on_uvloop_as_in_the_dev_launcher() -> None:
    delivered: list[tuple[str, list[str], bytes]] = []

    async def exchange() -> None:
        receiver, port = await listening(delivered)
        async with receiver, aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
            await client.send_message(message("ana@example.com", "hello"))

    uvloop.run(exchange())
    assert [recipients for _, recipients, _ in delivered] == [["ana@example.com"]]


async def test_smtplib_sends_a_large_message(
    server: tuple[int, list[tuple[str, list[str], bytes]]],
) -> None:
    port, delivered = server
    body = "\n".join(f"{n:06d} " + "x" * 70 for n in range(20_000))  # ~1.5 MB, many chunks

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message("ana@example.com", body))

    await asyncio.to_thread(send)
    [(sender, recipients, content)] = delivered
    assert (sender, recipients) == ("billing@acme.test", ["ana@example.com"])
    assert content.count(b"x" * 70) == 20_000
    assert content.endswith(b"\r\n")


def test_a_command_pipelined_after_the_message_is_answered_after_it() -> None:
    session = Session()
    replies = session.send(envelope() + b"body\r\n.\r\nNOOP\r\n")
    assert replies[-2:] == ["250 Message accepted for delivery", "250 OK"]
    assert session.delivered[0][2] == b"body\r\n"
