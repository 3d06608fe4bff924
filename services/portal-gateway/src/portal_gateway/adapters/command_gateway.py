"""The gateway's command path: outbox in, projection out.

``send`` writes the command envelope to the outbox (one transaction; the relay publishes it to
the owning service's command topic keyed by the target stream id), then waits until the
gateway's own projection has recorded the command's outcome: the events it caused, or its
``CommandRejected``. The wait is bounded; when it runs out the answer is the outcome code
``timeout`` and the command is still on its way (it is durably queued), never lost.

``send_to_subscription`` queues the command only if the merchant has the subscription, decided
by the queueing INSERT itself, and reads the subscription in the statement that finds the
outcome: for the commands whose answer is that subscription, two round trips less.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
import structlog

from billing_events import topics
from billing_events.contract.commands import command_registry
from billing_events.envelope import Envelope, EventData, new_envelope
from billing_events.outbox import OnlyIf, enqueue_envelope, enqueue_envelope_if
from portal_gateway.adapters.postgres.read_model import PostgresReadModel
from portal_gateway.adapters.postgres.signals import ProjectionSignals
from portal_gateway.application.ports import CommandOutcome
from portal_gateway.application.views import SubscriptionDetail
from portal_gateway.domain import ids
from portal_gateway.domain.outcomes import TIMEOUT_CODE, command_key
from servicekit.correlation import current_correlation_id

log = structlog.stdlib.get_logger(__name__)

T = TypeVar("T")

# The service that owns each command's target stream; every walking-skeleton command goes to
# subscriptions (it owns plan-, customer- and subscription- streams).
COMMAND_TOPICS: dict[str, topics.Topic] = {}
DEFAULT_COMMAND_TOPIC = topics.SUBSCRIPTIONS_COMMANDS

# The condition of a command to an existing subscription (outbox condition parameters start
# at $5).
_SUBSCRIPTION_EXISTS_SQL = (
    "EXISTS (SELECT FROM subscriptions WHERE merchant_id = $5 AND subscription_id = $6)"
)


def command_topic(command: EventData) -> str:
    return COMMAND_TOPICS.get(command.event_type, DEFAULT_COMMAND_TOPIC).name


def request_correlation_id() -> uuid.UUID:
    """The current request's correlation id when it is a UUID (envelopes need one), else new."""
    current = current_correlation_id()
    if current is not None:
        try:
            return uuid.UUID(current)
        except ValueError:
            pass
    return uuid.uuid4()


class OutboxCommandGateway:
    """Implements :class:`portal_gateway.application.ports.CommandGateway`."""

    def __init__(
        self, pool: asyncpg.Pool, signals: ProjectionSignals, read_model: PostgresReadModel
    ) -> None:
        self._pool = pool
        self._signals = signals
        self._read = read_model

    async def send(
        self,
        command: EventData,
        *,
        stream_id: str,
        merchant_id: str,
        correlation_id: uuid.UUID | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        envelope = self._envelope(command, stream_id, merchant_id, correlation_id)
        sent = await self._send_and_wait(
            envelope, lambda: self._read.command_outcome(envelope.event_id), timeout
        )
        return sent.found if sent.found is not None else _timed_out(envelope, timeout)

    async def send_to_subscription(
        self,
        command: EventData,
        *,
        subscription_id: str,
        merchant_id: str,
        timeout: float = 5.0,
    ) -> tuple[CommandOutcome, SubscriptionDetail | None] | None:
        """:meth:`send` if the merchant has the subscription (None, nothing queued, if not),
        reading the subscription in the same statement as the outcome."""
        envelope = self._envelope(
            command, ids.subscription_stream(subscription_id), merchant_id, None
        )
        sent = await self._send_and_wait(
            envelope,
            lambda: self._read.command_outcome_and_subscription(
                envelope.event_id, merchant_id, subscription_id
            ),
            timeout,
            only_if=OnlyIf(_SUBSCRIPTION_EXISTS_SQL, (merchant_id, subscription_id)),
        )
        if not sent.queued:
            return None
        if sent.found is not None:
            return sent.found
        # Queued, not lost: the answer shows the subscription as it is meanwhile.
        current = await self._read.subscription_detail(merchant_id, subscription_id)
        return _timed_out(envelope, timeout), current

    def _envelope(
        self,
        command: EventData,
        stream_id: str,
        merchant_id: str,
        correlation_id: uuid.UUID | None,
    ) -> Envelope:
        # A typo'd command would only be dead-lettered by its owner: refuse it here instead.
        command_registry.model_for(command.event_type)
        topics.topic_for_stream(stream_id)
        return new_envelope(
            command,
            stream_id=stream_id,
            merchant_id=merchant_id,
            correlation_id=correlation_id or request_correlation_id(),
        )

    async def _send_and_wait(
        self,
        envelope: Envelope,
        read_outcome: Callable[[], Awaitable[T | None]],
        timeout: float,
        *,
        only_if: OnlyIf | None = None,
    ) -> _Sent[T]:
        """Enqueue ``envelope`` (if ``only_if`` holds) and wait (bounded) until
        ``read_outcome`` finds its outcome."""
        command_type = envelope.event_type
        topic = command_topic(envelope.data)
        # Watch before sending: the outcome may be projected before we start waiting.
        with self._signals.watch([command_key(envelope.event_id)]) as woken:
            # One INSERT commits atomically on its own: no BEGIN/COMMIT round trips.
            async with self._pool.acquire() as conn:
                if only_if is None:
                    await enqueue_envelope(conn, envelope, topic=topic)
                elif not await enqueue_envelope_if(conn, only_if, envelope, topic=topic):
                    log.debug(
                        "command not sent: its condition does not hold",
                        command_type=command_type,
                        command_id=str(envelope.event_id),
                        stream_id=envelope.stream_id,
                    )
                    return _Sent(queued=False, found=None)
            log.info(
                "command sent",
                command_type=command_type,
                command_id=str(envelope.event_id),
                stream_id=envelope.stream_id,
            )
            found = await self._signals.wait_for((), read_outcome, timeout, watching=woken)
        if found is None:
            log.warning(
                "command outcome not seen in time",
                command_type=command_type,
                command_id=str(envelope.event_id),
                timeout=timeout,
            )
        return _Sent(queued=True, found=found)


@dataclass(frozen=True)
class _Sent(Generic[T]):
    queued: bool
    found: T | None  # None: not queued, or its outcome not seen in time


def _timed_out(envelope: Envelope, timeout: float) -> CommandOutcome:
    return CommandOutcome(
        command_id=envelope.event_id,
        accepted=False,
        code=TIMEOUT_CODE,
        message=(
            f"{envelope.event_type} was queued but its outcome was not seen within "
            f"{timeout:g}s; it will still be processed."
        ),
    )
