"""How a consumed event answers a command the gateway sent, and whom to wake up for it.

Every event a service writes because of a command carries the command id as
``causation_id``; a refused command yields ``CommandRejected`` with the same causation. The
projection records one outcome per causation id, and after each commit it notifies the keys
of the event so that a request waiting on the command, the stream or the correlation wakes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from billing_events.contract.events import CommandRejected
from billing_events.envelope import Envelope

# The outcome code of a command whose answer was not seen within the bounded wait.
TIMEOUT_CODE = "timeout"


@dataclass(frozen=True)
class OutcomeUpdate:
    command_id: uuid.UUID
    accepted: bool
    event_type: str
    code: str | None = None
    message: str | None = None


def outcome_of(envelope: Envelope) -> OutcomeUpdate | None:
    """The outcome ``envelope`` records for the command that caused it, if any."""
    data = envelope.data
    if isinstance(data, CommandRejected):
        command_id = envelope.causation_id or _uuid_or_none(data.command_id)
        if command_id is None:
            return None
        return OutcomeUpdate(
            command_id=command_id,
            accepted=False,
            event_type=envelope.event_type,
            code=data.code,
            message=data.message,
        )
    if envelope.causation_id is None:
        return None
    return OutcomeUpdate(
        command_id=envelope.causation_id, accepted=True, event_type=envelope.event_type
    )


def command_key(command_id: uuid.UUID) -> str:
    return f"command:{command_id}"


def stream_key(stream_id: str) -> str:
    return f"stream:{stream_id}"


def correlation_key(correlation_id: uuid.UUID) -> str:
    return f"correlation:{correlation_id}"


def wake_keys(envelope: Envelope) -> list[str]:
    """Who may be waiting for ``envelope``: its command, its stream, its correlation."""
    keys = [stream_key(envelope.stream_id), correlation_key(envelope.correlation_id)]
    outcome = outcome_of(envelope)
    if outcome is not None:
        keys.insert(0, command_key(outcome.command_id))
    return keys


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
