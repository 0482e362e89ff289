"""Small helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.envelope import Causation, Envelope, to_kafka
from shared.events import Event
from shared.kafka import ensure_topics
from shared.settings import ServiceSettings
from shared.topics import TopicSpec, dlq


async def new_topic(bootstrap: str, partitions: int = 4) -> str:
    name = f"test.{uuid.uuid4().hex[:10]}"
    await ensure_topics(bootstrap, [TopicSpec(name, partitions), TopicSpec(dlq(name), 1)])
    return name


def settings_for(database_url: str, bootstrap: str, **overrides: object) -> ServiceSettings:
    fields: dict[str, object] = {
        "service_name": "test",
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "relay_poll_interval_s": 0.2,
        "relay_loss_check_interval_s": 0.5,
        "consumer_backoff_initial_s": 0.01,
        "consumer_backoff_max_s": 0.05,
    }
    return ServiceSettings(**(fields | overrides))  # type: ignore[arg-type]


async def read_topic(
    bootstrap: str, topic: str, expected: int, timeout: float = 30.0, *, to_end: bool = False
) -> list[ConsumerRecord]:
    """Every record of `topic` from the beginning, waiting until `expected` distinct events
    (by `ce_id`) arrived: an at-least-once log may hold some of them twice. With `to_end`, on
    until the end of every partition as it was then (later copies included)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []
        distinct: set[bytes] = set()
        deadline = time.monotonic() + timeout
        while len(distinct) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records += messages
                distinct.update(dict(m.headers).get("ce_id", b"%d" % m.offset) for m in messages)
        if to_end:
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while time.monotonic() < deadline and [
                tp for tp, end in ends.items() if await consumer.position(tp) < end
            ]:
                batch = await consumer.getmany(timeout_ms=500)
                records += [m for messages in batch.values() for m in messages]
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise AssertionError(f"topic {topic} has no partitions")


async def publish_events(
    bootstrap: str,
    topic: str,
    events: Iterable[Event],
    source: str = "/jiesu/dispatch",
    ids: Iterable[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Each event in its CloudEvents envelope, as a service's relay would publish it (with the
    given envelope ids, to publish the same event again); returns the ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    given = iter(ids or ())
    sent = []
    try:
        for event in events:
            envelope = Envelope(
                event=event,
                id=next(given, None) or uuid.uuid4(),
                source=source,
                time=datetime.now(UTC),
                correlation_id=Causation.start().correlation_id,
            )
            message = to_kafka(envelope)
            await producer.send_and_wait(
                topic, message.value, key=message.key, headers=message.headers
            )
            sent.append(envelope.id)
    finally:
        await producer.stop()
    return sent
