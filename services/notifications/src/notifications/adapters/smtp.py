"""Sends queued mail to an SMTP server with aiosmtplib.

In development the server is the mail sink the dev launcher starts on 127.0.0.1:1025; in
production any relay (STARTTLS or implicit TLS, optional login).

One connection is kept open and reused from mail to mail (connect, EHLO, STARTTLS and login
once, not per mail); it is closed after ``SMTP_IDLE_CLOSE_SECONDS`` without mail and when the
service stops (:meth:`SmtpMailSender.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
from email.utils import parseaddr
from typing import Literal

import aiosmtplib
import structlog
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifications.adapters.mime import SmtpMessage, to_smtp_message
from notifications.application.ports import PermanentDeliveryError, QueuedMail

# 421: the server is closing the connection (an idle timeout, a restart), not refusing the mail.
_CLOSING = 421
# An address that is not ASCII needs the server's SMTPUTF8 (aiosmtplib refuses without it).
_SMTPUTF8 = ("SMTPUTF8",)
# A QUIT that the server does not answer must not hold up a stopping service.
_QUIT_TIMEOUT = 5.0

log = structlog.stdlib.get_logger(__name__)


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
    idle_close_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="the open connection is closed after this many seconds without mail",
    )

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


class SmtpMailSender:
    """Implements :class:`notifications.application.ports.MailSender` over one reused connection.

    The connection is opened at the first mail and kept for the next ones; mails are sent one
    at a time on it. A reused connection the server has dropped meanwhile (idle timeout,
    restart) is reopened and the mail sent again once; a failure on a fresh connection is the
    caller's to retry, as is any other error. :meth:`close` ends the connection (QUIT); the
    next mail opens a new one.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()  # one SMTP transaction at a time on the connection
        self._last_used = 0.0
        self._idle_watch: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def send(self, mail: QueuedMail) -> None:
        message = to_smtp_message(mail, self._settings.sender_address)
        try:
            async with self._lock:
                try:
                    await self._send(message)
                finally:
                    self._last_used = asyncio.get_running_loop().time()
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # 5xx: the mailbox does not exist or never accepts this mail; 4xx (greylisting, a
            # full mailbox) may pass later.
            if all(refusal.code >= 500 for refusal in exc.recipients):
                raise PermanentDeliveryError(
                    "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
                ) from exc
            raise

    async def close(self) -> None:
        """QUIT and close the connection, if one is open; safe to call any number of times."""
        async with self._lock:
            watch, self._idle_watch = self._idle_watch, None
            if watch is not None:
                watch.cancel()
            await self._disconnect()
        if watch is not None:
            await asyncio.gather(watch, return_exceptions=True)

    async def _send(self, message: SmtpMessage) -> None:
        while True:
            reused = self.connected
            client = await self._connection()
            try:
                # A refused mail is reset (RSET) by aiosmtplib: the connection stays usable.
                await client.sendmail(
                    message.sender,
                    [message.recipient],
                    message.content,
                    mail_options=_SMTPUTF8 if message.international else None,
                )
                return
            except (ConnectionError, aiosmtplib.SMTPResponseException) as exc:
                if not isinstance(exc, ConnectionError) and exc.code != _CLOSING:
                    raise
                self._drop()
                if not reused:  # a fresh connection failed: the caller retries later
                    raise
                # Dropped while idle (a server timeout, a restart): once more, on a new one.
                log.info("smtp connection was closed by the server; reconnecting", error=repr(exc))
            except asyncio.CancelledError:
                self._drop()  # cut short mid-command: what the server says next is unknown
                raise

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        self._client = None
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.security == "tls",
            start_tls={"auto": None, "starttls": True}.get(settings.security, False),
            timeout=settings.timeout,
        )
        await client.connect()  # TLS or STARTTLS and login as configured; closes on failure
        self._client = client
        self._last_used = asyncio.get_running_loop().time()
        if self._idle_watch is None or self._idle_watch.done():
            self._idle_watch = asyncio.create_task(self._close_when_idle(), name="smtp-idle-close")
        return client

    async def _close_when_idle(self) -> None:
        """Close the connection once no mail was sent on it for ``idle_close_seconds``."""
        loop = asyncio.get_running_loop()
        idle = self._settings.idle_close_seconds
        while True:
            remaining = self._last_used + idle - loop.time()
            if remaining > 0:
                await asyncio.sleep(remaining)
                continue
            async with self._lock:
                if loop.time() - self._last_used < idle:
                    continue  # a mail was sent while this waited for the lock
                if self._idle_watch is asyncio.current_task():
                    self._idle_watch = None
                await self._disconnect()
                return

    async def _disconnect(self) -> None:
        """End the connection politely (QUIT, bounded), then close it."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit(timeout=min(self._settings.timeout, _QUIT_TIMEOUT))
        finally:
            client.close()

    def _drop(self) -> None:
        """Forget a connection that is broken or in an unknown state, without a word to it."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
