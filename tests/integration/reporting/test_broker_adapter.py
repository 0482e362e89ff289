"""The console's broker adapter against the real broker: exact end offsets after batched
writes, and a group's committed offsets, through the admin API."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.reporting.adapters.broker import Broker
from shared.kafka import ensure_topics
from shared.topics import TopicSpec


async def test_end_offsets_and_committed_offsets_are_exact_after_batched_writes(
    kafka_bootstrap: str,
) -> None:
    topic = f"probe.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, 2)])
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=50
    )
    await producer.start()
    try:  # one batch of ten records: the embedded broker lists its end as 1
        sent = [await producer.send(topic, b"x", partition=0) for _ in range(10)]
        await producer.flush()
        assert [(await s).offset for s in sent] == list(range(10))
    finally:
        await producer.stop()
    group = f"probe-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(4, "")})
    finally:
        await consumer.stop()

    broker = Broker(kafka_bootstrap)
    await broker.start()
    try:
        for _ in range(2):  # a second look sees the same (the reader is reused)
            view = await broker.view()
            assert view.ends[TopicPartition(topic, 0)] == 10
            assert view.ends[TopicPartition(topic, 1)] == 0
            assert view.committed[group] == {TopicPartition(topic, 0): 4}
    finally:
        await broker.close()
