"""The public event contract. Importing this package registers every event model."""

from billing_events.contract import commands as commands
from billing_events.contract import events as events
from billing_events.contract.common import (
    Address,
    CardSummary,
    Money,
    Period,
    PlanSnapshot,
)

__all__ = ["Address", "CardSummary", "Money", "Period", "PlanSnapshot", "commands", "events"]
