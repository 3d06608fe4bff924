"""A card number or CVC never enters an event, a table, a log line or a Kafka message.

The test uses a card number no other test uses (random, Luhn-valid: the simulated processor
accepts any valid number), takes it through attach, subscribe and cancel, then searches the
whole database (every row of every table, as text and as hex for bytea columns), the logs of
every service, and every message of every Kafka topic.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

pytestmark = pytest.mark.e2e

KAFKA_READ_WITHIN = 60.0


def luhn_valid_visa() -> str:
    body = "4" + "".join(str(secrets.randbelow(10)) for _ in range(14))
    total = 0
    for index, digit in enumerate(reversed(body)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


async def tables_containing(database_url: str, needles: list[str]) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        found = []
        for row in tables:
            name = f'"{row["table_schema"]}"."{row["table_name"]}"'
            hits = await conn.fetchval(
                f"SELECT count(*) FROM {name} t WHERE t::text LIKE ANY($1::text[])",
                [f"%{needle}%" for needle in needles],
            )
            if hits:
                found.append(f"{name}: {hits} row(s)")
        assert len(tables) > 5, "too few tables: is this the system's database?"
        return found
    finally:
        await conn.close()


async def kafka_messages_containing(
    bootstrap: str, needles: list[bytes]
) -> tuple[int, dict[bytes, list[str]]]:
    """How many messages there are in all topics, and where each needle occurs."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if not t.startswith("__"))
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        read = 0
        found: dict[bytes, list[str]] = {needle: [] for needle in needles}
        deadline = time.monotonic() + KAFKA_READ_WITHIN

        async def unread() -> bool:
            positions = [await consumer.position(tp) for tp in ends]
            return any(at < end for at, end in zip(positions, ends.values(), strict=True))

        while await unread():
            assert time.monotonic() < deadline, f"Kafka not read within {KAFKA_READ_WITHIN}s"
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for tp, records in batches.items():
                for record in records:
                    read += 1
                    parts = [record.key or b"", record.value or b""]
                    parts += [value or b"" for _, value in record.headers]
                    for needle in needles:
                        if any(needle in part for part in parts):
                            found[needle].append(f"{tp.topic}[{tp.partition}]@{record.offset}")
        return read, found
    finally:
        await consumer.stop()


async def test_card_numbers_stay_out_of_tables_logs_and_kafka(system: Any, merchant: Any) -> None:
    number = luhn_valid_visa()
    plan = await merchant.create_plan()
    customer = await merchant.create_customer()
    card = await merchant.attach_card(customer["id"], number, cvc="987")
    assert card["last4"] == number[-4:]
    answer = await merchant.subscribe(customer["id"], plan["id"], card["id"])
    assert answer.status_code == 200, answer.text
    canceled = await merchant.post(f"/v1/subscriptions/{answer.json()['id']}/cancel", {})
    assert canceled.status_code == 200, canceled.text
    # And once through a refusal path, whose error must not quote it either.
    refused = await merchant.post(
        "/v1/payment_methods",
        {
            "customer": customer["id"],
            "card": {"number": number, "exp_month": 13, "exp_year": 2034, "cvc": "987"},
        },
    )
    assert refused.status_code in (400, 402), refused.text
    assert number not in refused.text

    assert number not in card["id"]
    hex_number = number.encode().hex()
    assert await tables_containing(system.database_url, [number, hex_number]) == []
    assert number not in system.output(), "a log line holds the card number"
    # The CVC has no distinctive value; its field name must not travel at all.
    read, found = await kafka_messages_containing(
        system.kafka_bootstrap, [number.encode(), b'"cvc"']
    )
    assert read > 0, "no Kafka message read: wrong broker?"
    assert found == {number.encode(): [], b'"cvc"': []}, found
