"""The delivery loop's decisions: sent, retried with backoff, or given up for good.

The outbox and the sender are in-memory stand-ins: what is tested here is the policy; the
PostgreSQL outbox and a real SMTP server are exercised by the integration tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
class Batch:
    """A lease of due mails; keeps the outcomes recorded, and with how many writes."""

    mails: tuple[QueuedMail, ...]
    outcomes: dict[MailKey, tuple[str, object]]
    writes: list[str]
    released: list[MailKey] = field(default_factory=list)

    async def sent(self, keys: Sequence[MailKey]) -> None:
        self.writes.append("sent")
        for key in keys:
            self.outcomes[key] = ("sent", None)

    async def retry_at(self, key: MailKey, when: datetime, error: str) -> None:
        self.writes.append("retry")
        self.outcomes[key] = ("retry", when)

    async def give_up(self, key: MailKey, error: str) -> None:
        self.writes.append("failed")
        self.outcomes[key] = ("failed", error)

    async def release(self, keys: Sequence[MailKey]) -> None:
        self.writes.append("release")
        self.released.extend(keys)


@dataclass
class Outbox:
    due: list[QueuedMail]
    batches: list[Batch] = field(default_factory=list)
    outcomes: dict[MailKey, tuple[str, object]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)

    async def claim_due(self, limit: int) -> Batch:
        leased, self.due = self.due[:limit], self.due[limit:]
        batch = Batch(tuple(leased), self.outcomes, self.writes)
        self.batches.append(batch)
        return batch

    def outcome(self, mail: QueuedMail) -> tuple[str, object] | None:
        return self.outcomes.get(mail.key)


@dataclass
class Sender:
    error: Exception | None = None
    failing: dict[MailKey, BaseException] = field(default_factory=dict)
    sent: list[QueuedMail] = field(default_factory=list)
    after_each: Callable[[], Awaitable[None]] | None = None

    async def send(self, mail: QueuedMail) -> None:
        try:
            if self.error is not None:
                raise self.error
            if mail.key in self.failing:
                raise self.failing[mail.key]
            self.sent.append(mail)
        finally:
            if self.after_each is not None:
                await self.after_each()


async def no_wake_up(timeout: float) -> None:
    await asyncio.sleep(timeout)


def delivery(outbox: Outbox, sender: Sender, **options: Any) -> MailDelivery:
    return MailDelivery(
        outbox,
        sender,
        no_wake_up,
        retry_backoff=5.0,
        max_retry_backoff=60.0,
        clock=lambda: NOW,
        **options,
    )


async def test_a_batch_is_sent_and_recorded_as_sent_in_one_write() -> None:
    mails = [queued(), queued(), queued()]
    outbox = Outbox(list(mails))
    sender = Sender()
    assert await delivery(outbox, sender).deliver_due() == 3
    assert [outbox.outcome(mail) for mail in mails] == [("sent", None)] * 3
    assert sender.sent == mails
    assert len(outbox.batches) == 1  # not full: nothing more was due, no second claim
    assert outbox.writes == ["sent"]


async def test_every_due_mail_is_sent_batch_after_batch() -> None:
    mails = [queued() for _ in range(5)]
    outbox = Outbox(list(mails))
    assert await delivery(outbox, Sender(), batch_size=2).deliver_due() == 5
    assert [len(batch.mails) for batch in outbox.batches] == [2, 2, 1]
    assert [outbox.outcome(mail) for mail in mails] == [("sent", None)] * 5
    assert outbox.writes == ["sent"] * 3


async def test_a_failed_mail_is_retried_alone_and_the_rest_of_its_batch_is_sent() -> None:
    mails = [queued(), queued(attempts=1), queued()]
    outbox = Outbox(list(mails))
    sender = Sender(failing={mails[1].key: aiosmtplib.SMTPServerDisconnected("gone")})
    assert await delivery(outbox, sender).deliver_batch() == 3
    assert [outbox.outcome(mail) for mail in mails] == [
        ("sent", None),
        ("retry", NOW + timedelta(seconds=10.0)),
        ("sent", None),
    ]
    assert outbox.writes == ["retry", "sent"]


@pytest.mark.parametrize(("attempts", "delay"), [(0, 5.0), (1, 10.0), (2, 20.0), (9, 60.0)])
async def test_a_failed_attempt_is_retried_with_growing_capped_backoff(
    attempts: int, delay: float
) -> None:
    mail = queued(attempts)
    outbox = Outbox([mail])
    sender = Sender(error=aiosmtplib.SMTPServerDisconnected("gone"))
    await delivery(outbox, sender).deliver_batch()
    assert outbox.outcome(mail) == ("retry", NOW + timedelta(seconds=delay))
    assert outbox.writes == ["retry"]


async def test_a_permanent_refusal_is_recorded_not_retried() -> None:
    mail = queued()
    outbox = Outbox([mail])
    await delivery(outbox, Sender(error=PermanentDeliveryError("550 no such user"))).deliver_batch()
    assert outbox.outcome(mail) == ("failed", "550 no such user")


async def test_nothing_due_means_nothing_done() -> None:
    outbox = Outbox([])
    assert await delivery(outbox, Sender()).deliver_batch() == 0
    assert await delivery(outbox, Sender()).deliver_due() == 0
    assert outbox.writes == []


async def test_sent_mail_is_recorded_while_a_slow_batch_goes_on() -> None:
    mails = [queued(), queued()]
    outbox = Outbox(list(mails))
    recorded_before_next_send: list[int] = []

    async def note_recorded() -> None:
        recorded_before_next_send.append(outbox.writes.count("sent"))

    sender = Sender(after_each=note_recorded)
    # Every send "takes longer" than the time allowed before recording it.
    await delivery(outbox, sender, record_sent_within=0.0).deliver_batch()
    assert recorded_before_next_send == [0, 1]
    assert outbox.writes == ["sent", "sent"]
    assert [outbox.outcome(mail) for mail in mails] == [("sent", None)] * 2


async def test_stop_mid_batch_records_what_was_sent_and_releases_the_rest() -> None:
    mails = [queued() for _ in range(4)]
    outbox = Outbox(list(mails))
    sender = Sender()
    mail_delivery = delivery(outbox, sender)

    async def stop_after_two() -> None:
        if len(sender.sent) == 2:
            await mail_delivery.stop()

    sender.after_each = stop_after_two
    assert await mail_delivery.deliver_due() == 2
    assert [outbox.outcome(mail) for mail in mails] == [("sent", None)] * 2 + [None] * 2
    [batch] = outbox.batches
    assert batch.released == [mails[2].key, mails[3].key]
    assert outbox.writes == ["sent", "release"]


class ProcessKilled(BaseException):
    """Stands for the task being torn down in the middle of a send."""


async def test_an_interrupted_send_keeps_its_lease_and_releases_only_the_untried() -> None:
    mails = [queued() for _ in range(3)]
    outbox = Outbox(list(mails))
    sender = Sender(failing={mails[1].key: ProcessKilled()})
    with pytest.raises(ProcessKilled):
        await delivery(outbox, sender).deliver_batch()
    # The first was accepted: recorded. The second may have reached the server: it stays
    # leased (due again when the lease ends). The third was never tried: due again at once.
    assert [outbox.outcome(mail) for mail in mails] == [("sent", None), None, None]
    assert outbox.batches[0].released == [mails[2].key]


def test_a_batch_holds_at_least_one_mail() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        delivery(Outbox([]), Sender(), batch_size=0)


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

        async def sendmail(self, *_: object, **__: object) -> None:
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(self.code, "nope", "ana@example.com")]
            )

        send_message = sendmail  # whichever of aiosmtplib's entry points the sender uses

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
