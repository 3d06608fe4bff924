"""The gateway's command path: outbox in, projection out.

``send`` writes the command envelope to the outbox (one transaction; the relay publishes it to
the owning service's command topic keyed by the target stream id), then waits until the
gateway's own projection has recorded the command's outcome: the events it caused, or its
``CommandRejected``. The wait is bounded; when it runs out the answer is the outcome code
``timeout`` and the command is still on its way (it is durably queued), never lost.
"""

from __future__ import annotations

import uuid

import asyncpg
import structlog

from billing_events import topics
from billing_events.contract.commands import command_registry
from billing_events.envelope import EventData, new_envelope
from billing_events.outbox import enqueue_envelope
from portal_gateway.adapters.postgres.read_model import PostgresReadModel
from portal_gateway.adapters.postgres.signals import ProjectionSignals
from portal_gateway.application.ports import CommandOutcome
from portal_gateway.domain.outcomes import TIMEOUT_CODE, command_key
from servicekit.correlation import current_correlation_id

log = structlog.stdlib.get_logger(__name__)

# The service that owns each command's target stream; every walking-skeleton command goes to
# subscriptions (it owns plan-, customer- and subscription- streams).
COMMAND_TOPICS: dict[str, topics.Topic] = {}
DEFAULT_COMMAND_TOPIC = topics.SUBSCRIPTIONS_COMMANDS


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
        # A typo'd command would only be dead-lettered by its owner: refuse it here instead.
        command_registry.model_for(command.event_type)
        topics.topic_for_stream(stream_id)
        envelope = new_envelope(
            command,
            stream_id=stream_id,
            merchant_id=merchant_id,
            correlation_id=correlation_id or request_correlation_id(),
        )
        command_id = envelope.event_id
        # Watch before sending: the outcome may be projected before we start waiting.
        with self._signals.watch([command_key(command_id)]) as woken:
            # One INSERT commits atomically on its own: no BEGIN/COMMIT round trips.
            async with self._pool.acquire() as conn:
                await enqueue_envelope(conn, envelope, topic=command_topic(command))
            log.info(
                "command sent",
                command_type=command.event_type,
                command_id=str(command_id),
                stream_id=stream_id,
            )
            outcome = await self._signals.wait_for(
                (), lambda: self._read.command_outcome(command_id), timeout, watching=woken
            )
        if outcome is None:
            log.warning(
                "command outcome not seen in time",
                command_type=command.event_type,
                command_id=str(command_id),
                timeout=timeout,
            )
            return CommandOutcome(
                command_id=command_id,
                accepted=False,
                code=TIMEOUT_CODE,
                message=(
                    f"{command.event_type} was queued but its outcome was not seen within "
                    f"{timeout:g}s; it will still be processed."
                ),
            )
        return outcome
