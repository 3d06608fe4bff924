"""What the handlers need from the outside, as protocols the adapters implement.

The projection and the mail log are bound to one database connection: a handler works inside
the consumer's inbox transaction, so its projection update, the mail it queues and the inbox
row commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from billing_events.envelope import Envelope
from notifications.domain.mail import Facts, MailKind, Needs
from notifications.domain.message import OutgoingMail
from notifications.domain.projection import (
    CustomerProfile,
    InvoiceRecord,
    MerchantProfile,
    SubscriptionRecord,
)


class Projection(Protocol):
    """The service's records of merchants, customers, invoices and subscriptions.

    ``save_*`` take the stream version of the event that produced the record and write only
    if it is newer than the one stored (0, an event not stored in a stream, always writes):
    a replayed old event cannot roll a record back. They return whether they wrote.
    """

    async def facts(self, needs: Needs) -> Facts:
        """Every record ``needs`` names, as far as projected, read together. The subscription,
        when not named, is the invoice's; the customer, when not named, the subscription's."""
        ...

    async def customer(self, merchant_id: str, customer_id: str) -> CustomerProfile | None: ...
    async def subscription(
        self, merchant_id: str, subscription_id: str
    ) -> SubscriptionRecord | None: ...

    async def save_merchant(self, merchant: MerchantProfile, version: int) -> bool: ...
    async def save_customer(
        self, merchant_id: str, customer: CustomerProfile, version: int
    ) -> bool: ...
    async def save_invoice(
        self, merchant_id: str, invoice: InvoiceRecord, version: int
    ) -> bool: ...
    async def save_subscription(
        self, merchant_id: str, subscription: SubscriptionRecord, version: int
    ) -> bool: ...


@dataclass(frozen=True)
class MailKey:
    """One mail of one event: the sent-mail log's key. A redelivered event maps to the same
    key, so it can never queue a second copy."""

    event_id: uuid.UUID
    kind: MailKind


@dataclass(frozen=True)
class WaitingMail:
    key: MailKey
    trigger: Envelope
    """The event that asked for the mail, composed again once its facts are projected."""
    since: datetime
    missing: tuple[str, ...] = ()


class MailLog(Protocol):
    """Mail asked for by events: waiting for facts, queued for delivery, sent or failed."""

    async def queue(
        self, key: MailKey, merchant_id: str, trigger: Envelope, mail: OutgoingMail
    ) -> bool:
        """Queue a composed mail for delivery; False (and nothing changes) if the key exists."""
        ...

    async def wait(
        self, key: MailKey, trigger: Envelope, needs: Needs, missing: tuple[str, ...]
    ) -> bool:
        """Park a mail until ``needs`` are projected; False if the key exists."""
        ...

    async def waiting_on(
        self,
        merchant_id: str,
        *,
        customer_id: str | None = None,
        invoice_id: str | None = None,
        subscription_id: str | None = None,
    ) -> list[WaitingMail]:
        """Waiting mails of ``merchant_id`` that need the record named (all of the merchant's
        waiting mails when none is named: they all need the merchant), locked until commit."""
        ...

    async def oldest_waiting(self, limit: int) -> list[WaitingMail]:
        """Up to ``limit`` waiting mails, oldest first, locked until commit; mails another
        transaction holds are skipped, not waited for."""
        ...

    async def still_waiting(self, key: MailKey, needs: Needs, missing: tuple[str, ...]) -> None: ...

    async def release(self, key: MailKey, mail: OutgoingMail) -> None:
        """A waiting mail is now composed: queue it for delivery."""
        ...


class Repositories(Protocol):
    @property
    def projection(self) -> Projection: ...
    @property
    def mail_log(self) -> MailLog: ...


RepositoriesFactory = Callable[[Any], Repositories]
"""Binds the repositories to the connection (and so the transaction) a handler is given."""

UnitOfWork = Callable[[], AbstractAsyncContextManager[Repositories]]
"""A transaction of the application's own (outside a consumer): commits when the block ends."""


@dataclass(frozen=True)
class QueuedMail:
    key: MailKey
    merchant_id: str
    mail: OutgoingMail
    attempts: int
    """Delivery attempts made before this one."""


class ClaimedBatch(Protocol):
    """Queued mails leased for delivery by this process until the lease ends.

    Other deliverers do not see them as due while the lease lasts; a mail whose outcome is not
    recorded by then is due again (at least once, never lost).
    """

    @property
    def mails(self) -> Sequence[QueuedMail]:
        """The leased mails, the longest due first."""
        ...

    async def sent(self, keys: Sequence[MailKey]) -> None:
        """Record that the mail server accepted these mails (one write for all of them)."""
        ...

    async def retry_at(self, key: MailKey, when: datetime, error: str) -> None: ...
    async def give_up(self, key: MailKey, error: str) -> None: ...

    async def release(self, keys: Sequence[MailKey]) -> None:
        """End the lease of mails not attempted: due again at once, their attempts unchanged."""
        ...


class MailOutbox(Protocol):
    async def claim_due(self, limit: int) -> ClaimedBatch:
        """Lease up to ``limit`` mails due for delivery (none when nothing is due)."""
        ...


class MailSender(Protocol):
    async def send(self, mail: QueuedMail) -> None:
        """Hand the mail to the mail server; raise :class:`PermanentDeliveryError` when the
        server refuses it for good, anything else when trying again later may succeed."""
        ...


class PermanentDeliveryError(Exception):
    """The mail server refused the mail for good (an address that does not exist)."""


WakeUp = Callable[[float], Awaitable[None]]
"""Waits until a mail may be due (queued by another transaction) or ``timeout`` seconds pass."""
