"""SmtpMailSender keeps one SMTP connection and reuses it, against a real (aiosmtpd) server.

The server here counts the connections it accepts and the QUITs it receives, and can be told
to hang up on the next MAIL commands: the way a relay drops a connection it considers idle
while the client still believes it open.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from devstack.network import free_port
from notifications.adapters.smtp import SmtpMailSender, SmtpSettings
from notifications.application.ports import MailKey, PermanentDeliveryError, QueuedMail
from notifications.domain.mail import MailKind
from notifications.domain.message import OutgoingMail

pytestmark = pytest.mark.integration


class CountingHandler:
    """Keeps what it receives; refuses ``nobody@`` (550) and ``later@`` (450)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the server runs in its own thread
        self.connections = 0
        self.disconnections = 0
        self.quits = 0
        self.hang_up_on_mail = 0
        self.received: list[str] = []
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    def connected(self) -> None:
        with self._lock:
            self.connections += 1

    def disconnected(self) -> None:
        with self._lock:
            self.disconnections += 1

    def reset(self) -> None:
        """Forget the controller's own probe connection at start."""
        with self._lock:
            self.connections = self.disconnections = 0

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        if self.hang_up_on_mail > 0:
            self.hang_up_on_mail -= 1
            server.transport.close()  # no reply: the client sees the connection go
            return "421 closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        mailbox = address.split("@")[0]
        if mailbox == "nobody":
            return "550 5.1.1 No such user"
        if mailbox == "later":
            return "450 4.2.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.extend(envelope.rcpt_tos)
        self.envelopes.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"


class _CountingSMTP(SMTP):
    def connection_made(self, transport: Any) -> None:
        self.event_handler.connected()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.disconnected()
        super().connection_lost(error)


class _Controller(Controller):
    def __init__(self, handler: CountingHandler, port: int, **smtp_options: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port)
        self._counting = handler
        self._smtp_options = smtp_options

    def start(self) -> None:
        super().start()
        # The probe connection start() opens may still be closing: wait, then forget it.
        for _ in range(200):
            if self._counting.disconnections >= self._counting.connections:
                break
            threading.Event().wait(0.01)
        self._counting.reset()

    def factory(self) -> SMTP:
        return _CountingSMTP(
            self.handler, hostname="sink.test", enable_SMTPUTF8=True, **self._smtp_options
        )


@pytest.fixture
def server() -> Iterator[tuple[CountingHandler, int]]:
    handler = CountingHandler()
    port = free_port()
    controller = _Controller(handler, port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def settings(port: int, **overrides: Any) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1", port=port, sender="Billing <billing@example.com>", **overrides
    )


def mail(to: str = "ana@example.com", to_name: str = "Ana Gómez") -> QueuedMail:
    return QueuedMail(
        key=MailKey(uuid.uuid4(), MailKind.SUBSCRIPTION_CANCELED),
        merchant_id="m_1",
        mail=OutgoingMail(
            to_email=to,
            to_name=to_name,
            sender_name="Acme, Inc.",
            reply_to=None,
            subject="Tu suscripción termina el 5 de febrero",
            text="Hola, Ana:\n",
            html="<p>Hola, Ana:</p>",
        ),
        attempts=0,
    )


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_several_mails_go_over_one_connection(server: tuple[CountingHandler, int]) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    try:
        for n in range(5):
            await sender.send(mail(f"user{n}@example.com"))
        assert sender.connected
    finally:
        await sender.close()
    assert handler.received == [f"user{n}@example.com" for n in range(5)]
    assert handler.connections == 1
    assert handler.quits == 1


async def test_concurrent_sends_share_the_connection_without_interleaving(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    try:
        await asyncio.gather(*(sender.send(mail(f"user{n}@example.com")) for n in range(10)))
    finally:
        await sender.close()
    assert sorted(handler.received) == sorted(f"user{n}@example.com" for n in range(10))
    assert handler.connections == 1


async def test_a_connection_the_server_dropped_is_reopened_and_the_mail_sent_once_more(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    try:
        await sender.send(mail("first@example.com"))
        handler.hang_up_on_mail = 1  # the client still believes its connection open
        await sender.send(mail("second@example.com"))
    finally:
        await sender.close()
    assert handler.received == ["first@example.com", "second@example.com"]
    assert handler.connections == 2


async def test_a_connection_the_server_timed_out_while_idle_is_replaced(
    server: tuple[CountingHandler, int],
) -> None:
    handler, _ = server
    port = free_port()
    controller = _Controller(handler, port, timeout=0.3)  # the server's idle timeout
    controller.start()
    sender = SmtpMailSender(settings(port))
    try:
        await sender.send(mail("first@example.com"))
        await until(lambda: handler.disconnections == 1)
        await sender.send(mail("second@example.com"))
    finally:
        await sender.close()
        controller.stop()
    assert handler.received == ["first@example.com", "second@example.com"]
    assert handler.connections == 2


async def test_a_failure_on_a_fresh_connection_is_not_retried(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    handler.hang_up_on_mail = 1
    try:
        with pytest.raises((ConnectionError, aiosmtplib.SMTPResponseException)):
            await sender.send(mail())
        assert handler.connections == 1
        assert not sender.connected
        # A reused connection is retried once, not more: the second hang-up is the caller's.
        await sender.send(mail("first@example.com"))
        handler.hang_up_on_mail = 2
        with pytest.raises((ConnectionError, aiosmtplib.SMTPResponseException)):
            await sender.send(mail("second@example.com"))
        assert handler.connections == 3  # the reused one, then one fresh one
        # And the next mail simply opens a new connection.
        await sender.send(mail("third@example.com"))
    finally:
        await sender.close()
    assert handler.received == ["first@example.com", "third@example.com"]
    assert handler.connections == 4


async def test_the_connection_is_closed_after_the_idle_period(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port, idle_close_seconds=0.3))
    try:
        await sender.send(mail("first@example.com"))
        await asyncio.sleep(0.15)
        await sender.send(mail("second@example.com"))  # in use: the idle period starts again
        await asyncio.sleep(0.2)
        assert sender.connected
        assert handler.quits == 0
        await until(lambda: handler.quits == 1 and handler.disconnections == 1)
        assert not sender.connected
        await sender.send(mail("third@example.com"))
        assert handler.connections == 2
    finally:
        await sender.close()
    assert handler.received == ["first@example.com", "second@example.com", "third@example.com"]
    assert handler.quits == 2


async def test_idle_close_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SmtpSettings().idle_close_seconds == 30.0
    monkeypatch.setenv("SMTP_IDLE_CLOSE_SECONDS", "5")
    assert SmtpSettings().idle_close_seconds == 5.0


async def test_a_mailbox_refused_for_good_is_permanent_and_the_connection_stays(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    try:
        with pytest.raises(PermanentDeliveryError, match="550"):
            await sender.send(mail("nobody@example.com"))
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await sender.send(mail("later@example.com"))
        assert not isinstance(refused.value, PermanentDeliveryError)
        await sender.send(mail("ana@example.com"))
    finally:
        await sender.close()
    assert handler.received == ["ana@example.com"]
    assert handler.connections == 1


async def test_close_is_idempotent_and_a_later_mail_reconnects(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    await sender.close()  # never connected
    await sender.send(mail("first@example.com"))
    await sender.close()
    await sender.close()
    assert not sender.connected
    await until(lambda: handler.disconnections == 1)
    assert (handler.connections, handler.quits) == (1, 1)
    await sender.send(mail("second@example.com"))
    await sender.close()
    assert (handler.connections, handler.quits) == (2, 2)
    assert handler.received == ["first@example.com", "second@example.com"]


async def test_the_server_gets_the_envelope_and_a_message_it_can_read(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    try:
        await sender.send(mail("ana@example.com"))
    finally:
        await sender.close()
    ((mail_from, rcpt_tos, content),) = handler.envelopes
    assert (mail_from, rcpt_tos) == ("billing@example.com", ["ana@example.com"])
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert not message.defects
    assert message["From"] == '"Acme, Inc." <billing@example.com>'
    assert message["To"] == "Ana Gómez <ana@example.com>"
    assert message["Subject"] == "Tu suscripción termina el 5 de febrero"
    text, html = (part.get_content().replace("\r\n", "\n") for part in message.iter_parts())
    assert (text, html) == ("Hola, Ana:\n", "<p>Hola, Ana:</p>")


async def test_an_address_in_unicode_goes_with_smtputf8(
    server: tuple[CountingHandler, int],
) -> None:
    handler, port = server
    sender = SmtpMailSender(settings(port))
    try:
        await sender.send(mail("josé@ejemplo.es", to_name="José"))
    finally:
        await sender.close()
    ((_, rcpt_tos, content),) = handler.envelopes
    assert rcpt_tos == ["josé@ejemplo.es"]
    message = email.message_from_string(content.decode(), policy=email.policy.default)
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("José", "josé@ejemplo.es")
