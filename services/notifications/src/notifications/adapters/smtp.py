"""Sends queued mail to an SMTP server with aiosmtplib.

In development the server is the mail sink the dev launcher starts on 127.0.0.1:1025; in
production any relay (STARTTLS or implicit TLS, optional login).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifications.application.ports import PermanentDeliveryError, QueuedMail

# Message-IDs are derived from the mail's key: the same mail sent twice (the at-least-once
# window of delivery) carries the same Message-ID, which receiving systems deduplicate on.
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1d3c2e-8d4b-4f7a-9a51-0f5e2c7b9d10")


class SmtpSettings(BaseSettings):
    """``SMTP_*`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="SMTP_", extra="ignore", frozen=True, populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=1025, ge=1, le=65535)
    sender: str = Field(
        default="Billing <billing@localhost>",
        validation_alias="SMTP_FROM",
        description="the From address; the merchant's name is shown as its display name",
    )
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["auto", "starttls", "tls", "none"] = Field(
        default="auto",
        description="auto: STARTTLS when the server offers it; tls: implicit TLS (port 465)",
    )
    timeout: float = Field(default=30.0, gt=0, le=600)

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError("must be an email address, optionally with a name: Name <a@b.c>")
        return value

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]


def message_id(mail: QueuedMail, domain: str) -> str:
    token = uuid.uuid5(_MESSAGE_ID_NAMESPACE, f"{mail.key.event_id}:{mail.key.kind.value}")
    return f"<{token}@{domain}>"


def to_email_message(
    mail: QueuedMail, sender_address: str, *, now: datetime | None = None
) -> EmailMessage:
    """The MIME message: a text part and an HTML alternative, From the merchant's name."""
    outgoing = mail.mail
    message = EmailMessage()
    message["From"] = formataddr((outgoing.sender_name, sender_address))
    message["To"] = formataddr((outgoing.to_name, outgoing.to_email))
    if outgoing.reply_to:
        message["Reply-To"] = outgoing.reply_to
    message["Subject"] = outgoing.subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id(mail, sender_address.rpartition("@")[2] or "localhost")
    # RFC 3834: an automatic message; vacation responders must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(outgoing.text)
    message.add_alternative(outgoing.html, subtype="html")
    return message


class SmtpMailSender:
    """Implements :class:`notifications.application.ports.MailSender`."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, mail: QueuedMail) -> None:
        settings = self._settings
        message = to_email_message(mail, settings.sender_address)
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password.get_secret_value() if settings.password else None,
                use_tls=settings.security == "tls",
                start_tls={"auto": None, "starttls": True}.get(settings.security, False),
                timeout=settings.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # 5xx: the mailbox does not exist or never accepts this mail; 4xx (greylisting, a
            # full mailbox) may pass later.
            if all(refusal.code >= 500 for refusal in exc.recipients):
                raise PermanentDeliveryError(
                    "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
                ) from exc
            raise
