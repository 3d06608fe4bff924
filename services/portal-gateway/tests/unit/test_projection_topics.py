"""The projection consumer reads every event topic, the test clocks' included."""

from __future__ import annotations

from billing_events import topics
from billing_events.contract.events import TestClockAdvanced
from portal_gateway.adapters.postgres.projector import _WRITERS
from portal_gateway.adapters.projection_consumer import PROJECTION_TOPICS


def test_the_clock_topic_is_consumed_and_its_event_projected() -> None:
    assert topics.CLOCKS.name in PROJECTION_TOPICS
    assert set(PROJECTION_TOPICS) == {t.name for t in topics.EVENT_TOPICS.values()}
    assert TestClockAdvanced in _WRITERS
