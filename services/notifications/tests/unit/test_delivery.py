"""The delivery loop's decisions: sent, retried with backoff, or given up for good.

The outbox and the sender are in-memory stand-ins: what is tested here is the policy; the
PostgreSQL outbox and a real SMTP server are exercised by the integration tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest

from notifications.adapters.smtp import SmtpMailSender, SmtpSettings
from notifications.application.delivery import MailDelivery
from notifications.application.ports import MailKey, PermanentDeliveryError, QueuedMail
from notifications.domain.mail import MailKind
from notifications.domain.message import OutgoingMail

NOW = datetime(2025, 1, 5, 12, 0, tzinfo=UTC)


def queued(attempts: int = 0) -> QueuedMail:
    return QueuedMail(
        key=MailKey(uuid.uuid4(), MailKind.RECEIPT),
        merchant_id="m_1",
        mail=OutgoingMail("ana@example.com", "Ana", "Acme", None, "Receipt", "text", "<p>html"),
        attempts=attempts,
    )


@dataclass
class Claim:
    queued: QueuedMail
    outcome: tuple[str, object] | None = None

    async def sent(self) -> None:
        self.outcome = ("sent", None)

    async def retry_at(self, when: datetime, error: str) -> None:
        self.outcome = ("retry", when)

    async def give_up(self, error: str) -> None:
        self.outcome = ("failed", error)


@dataclass
class Outbox:
    due: list[QueuedMail]
    claims: list[Claim] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def claim_due(self) -> AsyncIterator[Claim | None]:
        if not self.due:
            yield None
            return
        claim = Claim(self.due.pop(0))
        self.claims.append(claim)
        yield claim


@dataclass
class Sender:
    error: Exception | None = None
    sent: list[QueuedMail] = field(default_factory=list)

    async def send(self, mail: QueuedMail) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(mail)


async def no_wake_up(timeout: float) -> None:
    await asyncio.sleep(timeout)


def delivery(outbox: Outbox, sender: Sender) -> MailDelivery:
    return MailDelivery(
        outbox, sender, no_wake_up, retry_backoff=5.0, max_retry_backoff=60.0, clock=lambda: NOW
    )


async def test_sends_every_due_mail_and_records_it() -> None:
    outbox = Outbox([queued(), queued()])
    sender = Sender()
    assert await delivery(outbox, sender).deliver_due() == 2
    assert [c.outcome for c in outbox.claims] == [("sent", None), ("sent", None)]
    assert len(sender.sent) == 2


@pytest.mark.parametrize(("attempts", "delay"), [(0, 5.0), (1, 10.0), (2, 20.0), (9, 60.0)])
async def test_a_failed_attempt_is_retried_with_growing_capped_backoff(
    attempts: int, delay: float
) -> None:
    outbox = Outbox([queued(attempts)])
    await delivery(outbox, Sender(error=aiosmtplib.SMTPServerDisconnected("gone"))).deliver_one()
    assert outbox.claims[0].outcome == ("retry", NOW + timedelta(seconds=delay))


async def test_a_permanent_refusal_is_recorded_not_retried() -> None:
    outbox = Outbox([queued()])
    await delivery(outbox, Sender(error=PermanentDeliveryError("550 no such user"))).deliver_one()
    assert outbox.claims[0].outcome == ("failed", "550 no such user")


async def test_nothing_due_means_nothing_done() -> None:
    assert await delivery(Outbox([]), Sender()).deliver_one() is False


async def test_run_returns_promptly_when_stopped() -> None:
    mail_delivery = MailDelivery(Outbox([queued()]), Sender(), no_wake_up, poll_interval=60.0)
    task = asyncio.create_task(mail_delivery.run())
    await asyncio.sleep(0.05)
    await mail_delivery.stop()
    await asyncio.wait_for(task, timeout=2.0)


async def test_smtp_refusal_of_the_recipient_is_permanent_only_for_5xx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class RefusingClient:
        """Stands for aiosmtplib.SMTP: connects, then refuses every recipient with ``code``."""

        code = 550

        def __init__(self, **_: object) -> None:
            self.is_connected = False

        async def connect(self) -> None:
            self.is_connected = True

        async def send_message(self, *_: object) -> None:
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(self.code, "nope", "ana@example.com")]
            )

        async def quit(self, **_: object) -> None:
            self.is_connected = False

        def close(self) -> None:
            self.is_connected = False

    monkeypatch.setattr(aiosmtplib, "SMTP", RefusingClient)
    sender = SmtpMailSender(SmtpSettings(host="127.0.0.1", port=1))
    try:
        with pytest.raises(PermanentDeliveryError, match="550 nope"):
            await sender.send(queued())
        RefusingClient.code = 450
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await sender.send(queued())
        assert not isinstance(refused.value, PermanentDeliveryError)
    finally:
        await sender.close()
