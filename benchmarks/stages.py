"""Where a cancel's time goes: its latency split at the two batches that carried it.

Each cancel of figure 5 passes through the subscriptions service's command consumer (which
appends ``SubscriptionCanceled``) and the gateway projection's consumer (which records the
command's outcome). Both stamp their rows with their transaction's start (``now()``), so the
database tells when each batch that carried the cancel began. With the load generator's due
and answered times that makes three stages:

- ``to_subscriptions``: request due -> the subscriptions batch began (the gateway's HTTP
  handling and outbox commit, its relay, a broker hop, the consumer's fetch);
- ``to_gateway``: -> the gateway projection's batch began (the subscriptions batch itself,
  its relay, a broker hop, the projection consumer's fetch);
- ``to_answer``: -> the answer was read (the projection batch, its commit and notification,
  the gateway's outcome read and the HTTP answer).

The clocks are the machine's one wall clock, read by PostgreSQL and by the load generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

STAGES = ("to_subscriptions", "to_gateway", "to_answer")

# The schemas billing-dev gives the two services.
_BATCH_STARTS_SQL = """
SELECT e.data->>'subscription_id' AS subscription_id,
       extract(epoch FROM e.recorded_at)::float8 AS appended_at,
       extract(epoch FROM o.recorded_at)::float8 AS projected_at
FROM subscriptions.events e
JOIN gateway.command_outcomes o ON o.command_id = e.causation_id
WHERE e.event_type = 'SubscriptionCanceled'
  AND e.data->>'subscription_id' = any($1::text[])
"""


@dataclass(frozen=True)
class BatchStarts:
    """When the two batches that carried one cancel began (epoch seconds)."""

    appended_at: float
    projected_at: float


def stage_latencies(
    answered: Mapping[str, tuple[float, float]], batches: Mapping[str, BatchStarts]
) -> dict[str, list[float]]:
    """Milliseconds per stage, for each cancel answered (``(due, answered)`` epoch seconds)
    whose two batches were found; the others are left out."""
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for subscription, (due, done) in answered.items():
        carried = batches.get(subscription)
        if carried is None:
            continue
        stages["to_subscriptions"].append((carried.appended_at - due) * 1000)
        stages["to_gateway"].append((carried.projected_at - carried.appended_at) * 1000)
        stages["to_answer"].append((done - carried.projected_at) * 1000)
    return stages


async def batch_starts(database_url: str, subscriptions: Sequence[str]) -> dict[str, BatchStarts]:
    """The batch starts of the cancels of ``subscriptions``, from the system's database."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(_BATCH_STARTS_SQL, list(subscriptions))
    finally:
        await conn.close()
    return {
        row["subscription_id"]: BatchStarts(row["appended_at"], row["projected_at"]) for row in rows
    }
