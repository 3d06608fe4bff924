"""What the application layer needs from the outside world, as protocols.

The adapters (``invoicing.adapters``) implement them over PostgreSQL; the payment processor
port lives in the ``payments`` library, shared with the gateway that tokenizes cards.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg

from billing_events.contract.common import CardSummary
from invoicing.application.invoices import Context
from invoicing.domain.billing_terms import SubscriptionTerms

Clock = Callable[[], datetime]
"""The current time, timezone-aware."""


class Transactions(Protocol):
    """Opens a database transaction of its own, committed when the block exits normally."""

    def transaction(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...


class InvoiceNumbers(Protocol):
    """Per-merchant invoice sequences, allocated inside the caller's transaction so that a
    rolled-back issue gives its number back (numbers have no gaps)."""

    async def next_sequence(self, conn: asyncpg.Connection, merchant_id: str) -> int: ...


@dataclass(frozen=True)
class PendingCharge:
    """An issued invoice whose charge outcome is not recorded yet, with what charging needs.

    Only the card's token and summary are kept: never a card number or CVC.
    """

    invoice_id: str
    payment_method: CardSummary
    context: Context
    due_at: datetime  # when recovery may take it over from the worker that issued it


class PendingCharges(Protocol):
    """Invoices waiting for their charge: added when issued, removed when the outcome is
    recorded, each in that step's transaction. What a crashed or dead-lettered delivery left
    behind stays here for recovery to finish."""

    async def add(self, conn: asyncpg.Connection, pending: PendingCharge) -> None: ...

    async def remove(self, conn: asyncpg.Connection, invoice_id: str) -> None: ...

    async def find(self, invoice_id: str) -> PendingCharge | None: ...

    async def due(self, now: datetime, limit: int) -> list[PendingCharge]: ...

    async def postpone(self, invoice_id: str, until: datetime) -> None: ...


TermsChange = Callable[[SubscriptionTerms], SubscriptionTerms]


class SubscriptionTermsRepository(Protocol):
    """Invoicing's copy of each subscription's customer, plan and card (see
    :mod:`invoicing.domain.billing_terms`), per merchant."""

    async def change(
        self,
        conn: asyncpg.Connection,
        merchant_id: str,
        subscription_id: str,
        change: TermsChange,
    ) -> SubscriptionTerms:
        """Apply ``change`` to the subscription's terms (empty ones if none yet) and keep the
        result; concurrent changes of one subscription run one after the other."""
        ...

    async def find(
        self, conn: asyncpg.Connection, merchant_id: str, subscription_id: str
    ) -> SubscriptionTerms | None: ...
