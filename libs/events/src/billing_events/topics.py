"""Kafka topics of the billing system and how streams map onto them.

A stream id is ``<category>-<id>``; every event of a category goes to that category's topic,
keyed by stream id so that one stream's events stay in order on one partition.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int = 6


MERCHANTS = Topic("billing.merchants.events", 3)
PLANS = Topic("billing.plans.events", 3)
CUSTOMERS = Topic("billing.customers.events")
SUBSCRIPTIONS = Topic("billing.subscriptions.events")
INVOICES = Topic("billing.invoices.events")
# Per-merchant test clocks (development and tests): few events, a few partitions are plenty.
CLOCKS = Topic("billing.clocks.events", 3)

SUBSCRIPTIONS_COMMANDS = Topic("billing.subscriptions.commands")
INVOICING_COMMANDS = Topic("billing.invoicing.commands")

EVENT_TOPICS: dict[str, Topic] = {
    "merchant": MERCHANTS,
    "plan": PLANS,
    "customer": CUSTOMERS,
    "subscription": SUBSCRIPTIONS,
    "invoice": INVOICES,
    "clock": CLOCKS,
}

DEAD_LETTER_SUFFIX = ".dlq"


def stream_id(category: str, entity_id: str) -> str:
    if category not in EVENT_TOPICS:
        raise ValueError(f"unknown stream category {category!r}")
    return f"{category}-{entity_id}"


def category_of(stream: str) -> str:
    category, sep, rest = stream.partition("-")
    if not sep or not rest:
        raise ValueError(f"stream id {stream!r} is not '<category>-<id>'")
    return category


def topic_for_stream(stream: str) -> Topic:
    category = category_of(stream)
    try:
        return EVENT_TOPICS[category]
    except KeyError:
        raise ValueError(f"no topic for stream category {category!r}") from None


def dead_letter_topic(topic: str) -> Topic:
    return Topic(topic + DEAD_LETTER_SUFFIX, 1)


def all_topics() -> list[Topic]:
    base = [*EVENT_TOPICS.values(), SUBSCRIPTIONS_COMMANDS, INVOICING_COMMANDS]
    return base + [dead_letter_topic(t.name) for t in base]
