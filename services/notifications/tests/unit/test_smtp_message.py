"""The MIME message handed to the SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from notifications.adapters.smtp import SmtpSettings, to_email_message
from notifications.application.ports import MailKey, QueuedMail
from notifications.domain.mail import MailKind
from notifications.domain.message import OutgoingMail

EVENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def queued(
    kind: MailKind = MailKind.RECEIPT, reply_to: str | None = "help@acme.example"
) -> QueuedMail:
    return QueuedMail(
        key=MailKey(EVENT_ID, kind),
        merchant_id="m_1",
        mail=OutgoingMail(
            to_email="ana@example.com",
            to_name="Ana Gómez",
            sender_name="Acme, Inc.",
            reply_to=reply_to,
            subject="Tu recibo de Acme n.º A-1",
            text="Hola, Ana:\n",
            html="<p>Hola, Ana:</p>",
        ),
        attempts=0,
    )


def test_headers_and_parts() -> None:
    message = to_email_message(
        queued(), "billing@mail.example", now=datetime(2025, 1, 5, tzinfo=UTC)
    )
    assert message["From"] == '"Acme, Inc." <billing@mail.example>'
    assert message["To"] == "Ana Gómez <ana@example.com>"
    assert message["Reply-To"] == "help@acme.example"
    assert str(message["Subject"]) == "Tu recibo de Acme n.º A-1"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert text.get_content() == "Hola, Ana:\n"
    assert html is not None
    assert "<p>Hola, Ana:</p>" in html.get_content()


def test_no_reply_to_without_a_support_address() -> None:
    assert to_email_message(queued(reply_to=None), "billing@mail.example")["Reply-To"] is None


def test_message_id_is_the_same_for_the_same_mail_and_differs_between_mails() -> None:
    first = to_email_message(queued(), "billing@mail.example")["Message-ID"]
    again = to_email_message(queued(), "billing@mail.example")["Message-ID"]
    other = to_email_message(queued(MailKind.SUBSCRIPTION_CANCELED), "billing@mail.example")
    assert first == again
    assert first != other["Message-ID"]
    assert first.endswith("@mail.example>")


def test_smtp_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("SMTP_FROM", "Billing <no-reply@example.com>")
    settings = SmtpSettings()
    assert (settings.host, settings.port, settings.sender_address) == (
        "smtp.example.com",
        2525,
        "no-reply@example.com",
    )


def test_defaults_point_at_the_development_mail_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)
    settings = SmtpSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 1025)


def test_a_sender_that_is_not_an_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_FROM", "billing")
    with pytest.raises(ValidationError, match="email address"):
        SmtpSettings()


def test_the_service_settings_smtp_host_and_port_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from notifications.bootstrap import smtp_settings_for

    monkeypatch.setenv("SMTP_FROM", "Billing <no-reply@example.com>")
    settings = smtp_settings_for(SimpleNamespace(smtp_host="mail.example.com", smtp_port=2525))
    assert (settings.host, settings.port, settings.sender_address) == (
        "mail.example.com",
        2525,
        "no-reply@example.com",
    )
