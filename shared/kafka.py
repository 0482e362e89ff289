"""aiokafka clients built one way everywhere, and explicit topic creation."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import OffsetOutOfRangeError

from shared.settings import ServiceSettings
from shared.topics import ALL_TOPICS, TopicSpec

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


class TopicMisconfigured(RuntimeError):
    pass


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        linger_ms=5,
        request_timeout_ms=15000,
    )


def make_offsets_reader(bootstrap_servers: str) -> AIOKafkaConsumer:
    """A group-less consumer used only to look at the tail of partitions."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="none",
        request_timeout_ms=10000,
        consumer_timeout_ms=2000,  # its fetch loop's backstop: not five wakeups a second
    )


async def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    replication_factor: int = 1,
) -> None:
    """Create missing topics with their partition counts; refuse topics with too few partitions."""
    specs = list(specs)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(spec.name, spec.partitions, replication_factor) for spec in missing]
            )
            for name, code, message in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise TopicMisconfigured(f"creating topic {name} failed: {code} {message}")
            log.info("created topics %s", ", ".join(spec.name for spec in missing))
        described = await admin.describe_topics([spec.name for spec in specs])
        partitions = {topic["topic"]: len(topic["partitions"]) for topic in described}
        for spec in specs:
            if partitions.get(spec.name, 0) < spec.partitions:
                raise TopicMisconfigured(
                    f"topic {spec.name} has {partitions.get(spec.name, 0)} partitions, "
                    f"expected {spec.partitions} (was it auto-created by a client?)"
                )
    finally:
        await admin.close()


async def log_is_shorter(
    reader: AIOKafkaConsumer, topic: str, partition: int, next_offset: int
) -> bool:
    """Is the partition's log shorter than `next_offset`, i.e. has the broker lost records?

    Asks with a fetch of the last record, not with ListOffsets: the embedded Tansu answers
    ListOffsets(latest) with the last batch's base offset + 1, which under-reports the end of
    the log whenever the last batch held several records. A fetch's high watermark is right.
    """
    tp = TopicPartition(topic, partition)
    reader.assign([tp])
    reader.seek(tp, next_offset - 1)
    try:
        batch = await reader.getmany(tp, timeout_ms=2000, max_records=1)
    except OffsetOutOfRangeError:
        return True
    if any(record.offset >= next_offset - 1 for record in batch.get(tp, [])):
        return False
    highwater = reader.highwater(tp)
    return highwater is not None and highwater < next_offset


def main() -> None:
    """`python -m shared.kafka`: create every topic (the production topic-init job)."""
    import argparse
    import asyncio
    import os

    argparse.ArgumentParser(
        description="创建全部主题 Create every topic: KAFKA_BOOTSTRAP_SERVERS, "
        "KAFKA_REPLICATION_FACTOR (1)"
    ).parse_args()
    logging.basicConfig(level=logging.INFO)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    replicas = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
    asyncio.run(ensure_topics(bootstrap, replication_factor=replicas))
    print(f"topics ready on {bootstrap}: {', '.join(spec.name for spec in ALL_TOPICS)}")


if __name__ == "__main__":
    main()
