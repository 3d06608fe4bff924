"""The MIME message handed to the SMTP server."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from pydantic import ValidationError

from notifications.adapters.mime import message_id, to_smtp_message
from notifications.adapters.smtp import SmtpSettings
from notifications.application.ports import MailKey, QueuedMail
from notifications.domain.mail import MailKind
from notifications.domain.message import OutgoingMail

EVENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def queued(
    kind: MailKind = MailKind.RECEIPT, *, reply_to: str | None = "help@acme.example", **mail: str
) -> QueuedMail:
    outgoing = OutgoingMail(
        to_email="ana@example.com",
        to_name="Ana Gómez",
        sender_name="Acme, Inc.",
        reply_to=reply_to,
        subject="Tu recibo de Acme n.º A-1",
        text="Hola, Ana:\n",
        html="<p>Hola, Ana:</p>",
    )
    return QueuedMail(
        key=MailKey(EVENT_ID, kind),
        merchant_id="m_1",
        mail=dataclasses.replace(outgoing, **mail),
        attempts=0,
    )


def parsed(mail: QueuedMail, sender_address: str = "billing@mail.example") -> EmailMessage:
    """The message as a receiving mail system reads it: the stdlib parser, modern policy."""
    raw = to_smtp_message(mail, sender_address, now=datetime(2025, 1, 5, tzinfo=UTC)).content
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    assert not part.defects
    # Line endings on the wire are CRLF whatever the part held.
    return str(part.get_content()).replace("\r\n", "\n")


def lines_of(raw: bytes) -> tuple[list[bytes], list[bytes]]:
    """The header lines and the body lines of a message."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), rest.split(b"\r\n")


def field_lines(raw: bytes, name: bytes) -> list[bytes]:
    """The lines of one header field: its first line and the folded ones after it."""
    lines = lines_of(raw)[0]
    start = next(n for n, line in enumerate(lines) if line.startswith(name + b": "))
    end = start + 1
    while end < len(lines) and lines[end].startswith(b" "):
        end += 1
    return lines[start:end]


def test_headers_and_parts() -> None:
    message = parsed(queued())
    assert message["From"] == '"Acme, Inc." <billing@mail.example>'
    assert message["To"] == "Ana Gómez <ana@example.com>"
    assert message["Reply-To"] == "help@acme.example"
    assert message["Subject"] == "Tu recibo de Acme n.º A-1"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["MIME-Version"] == "1.0"
    assert parsedate_to_datetime(message["Date"]) == datetime(2025, 1, 5, tzinfo=UTC)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)
    assert body(message, "plain") == "Hola, Ana:\n"
    assert body(message, "html") == "<p>Hola, Ana:</p>"


def test_the_envelope_is_the_service_address_to_the_customer() -> None:
    message = to_smtp_message(queued(), "billing@mail.example")
    assert (message.sender, message.recipient) == ("billing@mail.example", "ana@example.com")
    assert not message.international


def test_no_reply_to_without_a_support_address() -> None:
    assert parsed(queued(reply_to=None))["Reply-To"] is None


def test_message_id_is_the_same_for_the_same_mail_and_differs_between_mails() -> None:
    first = parsed(queued())["Message-ID"]
    again = parsed(queued())["Message-ID"]
    other = parsed(queued(MailKind.SUBSCRIPTION_CANCELED))["Message-ID"]
    assert first == again == message_id(queued(), "mail.example")
    assert first != other
    assert first.endswith("@mail.example>")
    # The derivation receiving systems have already seen: a retry must not look new.
    assert first == "<{}@mail.example>".format(
        uuid.uuid5(
            uuid.UUID("6f1d3c2e-8d4b-4f7a-9a51-0f5e2c7b9d10"),
            f"{EVENT_ID}:{MailKind.RECEIPT.value}",
        )
    )


@pytest.mark.parametrize(
    ("sender_name", "to_name", "subject"),
    [
        ("Café Müller", "Zoë Ægir-Øster", "Tu recibo de Café Müller n.º A-1 — 19,99 €"),
        (
            "株式会社テックソリューションズ",
            "山田 花子",
            "テックソリューションズからの領収書 #TS-0001",
        ),
        (
            "Ünïcödé Merchant with a Really Long Name That Goes On, Inc.",
            "A Customer Whose Name Is Long Enough To Need More Than One Encoded Word Ö",
            "Ihre Quittung von Ünïcödé Merchant with a Really Long Name That Goes On, Inc. "
            "Nr. 123456 für den Zeitraum vom 5. Januar bis 5. Februar 2025 — 1.234,56 €",
        ),
        ('Acme "Best" \\ Co.', "O'Brien, Pat", "Receipt =?utf-8?q?not_encoded?= #1"),
        (
            "A Plain Merchant Name Long Enough To Be Folded Over More Than One Header Line Ltd",
            "Plain",
            "Your receipt from A Plain Merchant Name Long Enough To Be Folded Over More "
            "Than One Header Line Ltd, number TS-0001, for the period January 5 to February 5",
        ),
    ],
)
def test_names_and_subject_read_back_exactly(sender_name: str, to_name: str, subject: str) -> None:
    mail = queued(sender_name=sender_name, to_name=to_name, subject=subject)
    message = parsed(mail)
    (sender,) = message["From"].addresses
    (to,) = message["To"].addresses
    assert (sender.display_name, sender.addr_spec) == (sender_name, "billing@mail.example")
    assert (to.display_name, to.addr_spec) == (to_name, "ana@example.com")
    assert message["Subject"] == subject
    raw = to_smtp_message(mail, "billing@mail.example").content
    assert raw.isascii()  # RFC 2047 in the headers, no 8-bit data anywhere
    assert all(len(line) <= 998 for line in lines_of(raw)[0])
    # A name is one encoded-word (see _mailbox); everything else keeps to 78 characters.
    assert all(len(line) <= 78 for line in field_lines(raw, b"Subject")), raw
    if sender_name.isascii():
        assert all(len(line) <= 78 for line in field_lines(raw, b"From")), raw


def test_bodies_read_back_exactly_with_short_7bit_lines() -> None:
    text = (
        "Hola, Ana: tu suscripción a Café Müller se renovó. Importe: 19,99\xa0€.\n" * 40
        + "trailing spaces   \n.a line starting with a dot\nFrom the start\n= equals =3D\n"
        + "tab\tand\x0cform feed\n"
    )
    html = "<table>" + '<tr><td style="padding:4px 8px">Café €</td></tr>' * 300 + "</table> "
    message = parsed(queued(text=text, html=html))
    assert body(message, "plain") == text
    assert body(message, "html") == html
    raw = to_smtp_message(queued(text=text, html=html), "billing@mail.example").content
    assert raw.isascii()
    _, body_lines = lines_of(raw)
    assert max(len(line) for line in body_lines) <= 76
    assert b"quoted-printable" in raw


def test_a_body_mostly_not_in_ascii_is_base64() -> None:
    text = "山田様、テックソリューションズをご利用いただきありがとうございます。\n" * 50
    mail = queued(text=text, html=f"<p>{text}</p>")
    message = parsed(mail)
    assert body(message, "plain") == text
    assert body(message, "html") == f"<p>{text}</p>"
    assert {str(part["Content-Transfer-Encoding"]) for part in message.iter_parts()} == {"base64"}
    _, body_lines = lines_of(to_smtp_message(mail, "billing@mail.example").content)
    assert max(len(line) for line in body_lines) <= 76


def test_bare_carriage_returns_in_a_body_become_line_breaks() -> None:
    message = parsed(queued(text="one\r\ntwo\rthree\n"))
    assert body(message, "plain") == "one\ntwo\nthree\n"


@pytest.mark.parametrize("field", ["sender_name", "to_name", "subject"])
@pytest.mark.parametrize("break_", ["\r\n", "\n", "\r"])
def test_a_line_break_in_a_header_value_cannot_add_a_header(field: str, break_: str) -> None:
    value = f"Acme{break_}Bcc: victim@example.com{break_}X-Injected: yes"
    message = parsed(queued(MailKind.RECEIPT, **{field: value}))
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert set(message.keys()) == {
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
    }
    assert "Bcc: victim@example.com X-Injected: yes" in str(message["From"]) + str(
        message["To"]
    ) + str(message["Subject"])


@pytest.mark.parametrize("field", ["to_email", "reply_to"])
def test_an_address_with_a_line_break_is_refused(field: str) -> None:
    mail = queued(MailKind.RECEIPT, **{field: "ana@example.com\r\nBcc: victim@example.com"})
    with pytest.raises(ValueError, match="not an email address"):
        to_smtp_message(mail, "billing@mail.example")


def test_an_address_in_unicode_is_written_as_utf8_and_needs_smtputf8() -> None:
    mail = queued(to_email="josé@ejemplo.es", to_name="José")
    message = to_smtp_message(mail, "billing@mail.example")
    assert message.international
    assert message.recipient == "josé@ejemplo.es"
    # Python's bytes parser leaves raw UTF-8 undecoded; a server offering SMTPUTF8 reads it as text.
    parsed_as_text = email.message_from_string(
        message.content.decode(), policy=email.policy.default
    )
    (to,) = parsed_as_text["To"].addresses
    assert (to.display_name, to.addr_spec) == ("José", "josé@ejemplo.es")


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
