"""The console's broker adapter against the real broker: exact end offsets after batched
writes, and a group's committed offsets, through the admin API."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.reporting.adapters.broker import Broker
from services.reporting.streams import Sample
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


async def test_every_group_shows_every_topic_it_committed_on_or_is_wired_to(
    kafka_bootstrap: str,
) -> None:
    """Two groups committing on two topics each, as the embedded broker answers for them: both
    groups × both topics, with lag per partition; a wired group that has not committed yet (the
    broker does not even list it) shows with all of its topics' records as lag."""
    a, b = (f"probe.{uuid.uuid4().hex[:8]}" for _ in range(2))
    await ensure_topics(kafka_bootstrap, [TopicSpec(a, 2), TopicSpec(b, 2)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for topic, partition, count in ((a, 0, 3), (a, 1, 2), (b, 0, 4)):
            for _ in range(count):
                await producer.send_and_wait(topic, b"x", partition=partition)
    finally:
        await producer.stop()
    one, two, idle = (f"probe-{uuid.uuid4().hex[:8]}" for _ in range(3))
    commits = {
        one: {TopicPartition(a, 0): 1, TopicPartition(a, 1): 2, TopicPartition(b, 0): 4},
        two: {TopicPartition(a, 0): 3, TopicPartition(b, 0): 1},
    }
    for group, offsets in commits.items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        finally:
            await consumer.stop()

    # `two` is wired to one topic only: what it committed on counts as well.
    broker = Broker(kafka_bootstrap, wiring={two: (a,), idle: (a, b)})
    await broker.start()
    try:
        view = await broker.view()
    finally:
        await broker.close()
    lags = Sample(0, view, ()).lags()
    a0, a1, b0, b1 = (TopicPartition(t, p) for t in (a, b) for p in (0, 1))
    assert lags[one] == {a0: (1, 2), a1: (2, 0), b0: (4, 0), b1: (0, 0)}
    assert lags[two] == {a0: (3, 0), a1: (0, 2), b0: (1, 3), b1: (0, 0)}
    assert lags[idle] == {a0: (0, 3), a1: (0, 2), b0: (0, 4), b1: (0, 0)}
    assert view.consumes[one] == view.consumes[two] == view.consumes[idle] == {a, b}
