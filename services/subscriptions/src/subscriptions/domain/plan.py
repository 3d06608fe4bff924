"""Plan: what a merchant sells on a recurring basis (name, price, interval)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing_events.contract.commands import CreatePlan
from billing_events.contract.common import Interval, PlanSnapshot
from billing_events.contract.events import PlanCreated
from billing_events.envelope import EventData
from subscriptions.domain.rejection import PLAN_ALREADY_EXISTS, Rejected


@dataclass(frozen=True)
class Plan:
    plan_id: str
    name: str
    description: str
    image_url: str | None
    amount: int  # minor units per interval
    currency: str
    interval: Interval

    def snapshot(self) -> PlanSnapshot:
        """The plan as a subscription records it, so that later plan edits do not reprice."""
        return PlanSnapshot(
            plan_id=self.plan_id,
            name=self.name,
            description=self.description,
            image_url=self.image_url,
            amount=self.amount,
            currency=self.currency,
            interval=self.interval,
        )


PlanState = Plan | None
PlanCommand = CreatePlan

initial_state: PlanState = None


def decide(command: PlanCommand, state: PlanState, now: datetime) -> list[EventData]:
    if state is not None:
        raise Rejected(PLAN_ALREADY_EXISTS, f"plan {command.plan_id} already exists")
    return [
        PlanCreated(
            plan_id=command.plan_id,
            name=command.name,
            description=command.description,
            image_url=command.image_url,
            amount=command.amount,
            currency=command.currency,
            interval=command.interval,
        )
    ]


def evolve(state: PlanState, event: EventData) -> PlanState:
    if isinstance(event, PlanCreated):
        return Plan(
            plan_id=event.plan_id,
            name=event.name,
            description=event.description,
            image_url=event.image_url,
            amount=event.amount,
            currency=event.currency,
            interval=event.interval,
        )
    return state
