"""The mail sink receives over SMTP and shows what it received, as HTML and as JSON."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio

from devstack.mailsink import Mailbox, MailSink, Message, parse_message
from devstack.network import free_port


@pytest_asyncio.fixture
async def sink() -> AsyncIterator[MailSink]:
    async with MailSink(smtp_port=free_port(), http_port=free_port()) as running:
        yield running


def receipt(to: str = "ana@example.com") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Acme Billing <billing@acme.test>"
    message["To"] = to
    message["Subject"] = "Your receipt · Recibo"
    message["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    message.set_content("Thanks for your payment of 12.00 EUR.")
    message.add_alternative(
        "<p>Thanks! <a href='http://127.0.0.1:8000/login/abc'>Open portal</a></p>",
        subtype="html",
    )
    message.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="INV-0001.pdf"
    )
    return message


async def send(sink: MailSink, message: EmailMessage) -> None:
    def deliver() -> None:
        with smtplib.SMTP(sink.host, sink.smtp_port, timeout=5) as client:
            client.send_message(message)

    await asyncio.to_thread(deliver)


async def test_received_mail_is_listed_as_json_and_html(sink: MailSink) -> None:
    await send(sink, receipt())
    await sink.mailbox.wait_for(1)

    async with httpx.AsyncClient(base_url=sink.url) as http:
        listed = (await http.get("/messages.json")).json()
        assert len(listed) == 1
        mail = listed[0]
        assert mail["from"] == "Acme Billing <billing@acme.test>"
        assert mail["to"] == ["ana@example.com"]
        assert mail["subject"] == "Your receipt · Recibo"
        assert mail["date"] == "2026-11-23T10:00:00+00:00"
        assert "12.00 EUR" in mail["text"]
        assert "/login/abc" in mail["html"]
        assert mail["attachments"] == [
            {"filename": "INV-0001.pdf", "content_type": "application/pdf", "size": 13}
        ]

        index = await http.get("/")
        assert index.status_code == 200
        assert "Your receipt · Recibo" in index.text
        assert f"/messages/{mail['id']}" in index.text

        detail = await http.get(f"/messages/{mail['id']}")
        assert detail.status_code == 200
        assert "INV-0001.pdf" in detail.text
        assert "12.00 EUR" in detail.text

        pdf = await http.get(f"/messages/{mail['id']}/attachments/0")
        assert pdf.content == b"%PDF-1.4 fake"
        assert (await http.get(f"/messages/{mail['id'] + 100}")).status_code == 404


async def test_filter_by_recipient_and_clear(sink: MailSink) -> None:
    await send(sink, receipt("ana@example.com"))
    await send(sink, receipt("bo@example.com"))
    await sink.mailbox.wait_for(2)

    async with httpx.AsyncClient(base_url=sink.url) as http:
        only_bo = (await http.get("/messages.json", params={"to": "BO@example.com"})).json()
        assert [m["to"] for m in only_bo] == [["bo@example.com"]]

        assert (await http.delete("/messages")).status_code == 204
        assert (await http.get("/messages.json")).json() == []
    assert sink.messages == []


async def test_html_body_cannot_inject_into_the_page(sink: MailSink) -> None:
    message = EmailMessage()
    message["From"] = "x@test"
    message["To"] = "y@test"
    message["Subject"] = "<script>alert(1)</script>"
    message.set_content("<b>hi</b>", subtype="html")
    await send(sink, message)
    [received] = await sink.mailbox.wait_for(1)

    async with httpx.AsyncClient(base_url=sink.url) as http:
        index = (await http.get("/")).text
        detail = (await http.get(f"/messages/{received.id}")).text
    assert "<script>alert(1)</script>" not in index
    assert "<script>alert(1)</script>" not in detail
    assert "sandbox=" in detail


async def test_a_taken_port_is_reported(sink: MailSink) -> None:
    with pytest.raises(OSError):
        await MailSink(smtp_port=free_port(), http_port=sink.http_port).start()
    with pytest.raises(OSError):
        await MailSink(smtp_port=sink.smtp_port, http_port=free_port()).start()


def test_plain_text_message_without_date_or_subject() -> None:
    raw = b"From: a@test\r\nTo: b@test\r\n\r\nhello\r\n"
    message = parse_message(7, "envelope@test", ["b@test"], raw)
    assert message.subject == ""
    assert message.text is not None
    assert message.text.strip() == "hello"
    assert message.html is None
    assert message.attachments == []
    assert message.as_dict()["id"] == 7


async def test_a_message_is_parsed_when_first_read_not_when_received() -> None:
    mailbox = Mailbox()
    raw = receipt().as_bytes()

    message = mailbox.add("billing@acme.test", ["ana@example.com"], raw)

    assert message.recipients == ["ana@example.com"]  # the envelope needs no parsing
    assert message.as_dict()["subject"] == "Your receipt · Recibo"
    assert message.parsed is message.parsed  # parsed once, then kept
    assert [a.filename for a in message.attachments] == ["INV-0001.pdf"]


def test_a_message_without_a_date_shows_when_it_arrived() -> None:
    arrived = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    message = Message(1, "a@test", ["b@test"], b"To: b@test\r\n\r\nhi\r\n", received_at=arrived)

    assert message.date == arrived
