"""The broker as the operations console reads it, through Kafka's admin API: topics with their
partitions and end offsets, consumer groups with their committed offsets.

What the embedded Tansu (0.6.0) answers, measured: ListTopics, DescribeTopics, ListGroups and
DescribeGroups work (members come without their assignments). OffsetFetch works for named
partitions, but asked for all of a group's offsets (no topics named) it answers in a shape
aiokafka cannot parse and the connection drops. ListOffsets (latest) under-reports after a
multi-record batch: it gives the last batch's base offset + 1, while a fetch's high watermark
is right. So this reads offsets of named partitions, and checks each end offset against the
high watermark of a fetch of the partition's last record. Both hold on Apache Kafka as well
(where the listed end is already right and the fetch only confirms it).

Also measured: ListGroups names a group only once it has committed an offset, and a group's
members come without their subscriptions (DescribeGroups of several groups in one request drops
the connection; of one group it answers). A group that has not yet committed on a topic it
consumes (a consumer stopped since before the topic's first records) would so vanish from the
view, with its lag on that topic, exactly when the lag matters. So the groups and the topics each
consumes are what the broker tells (listed groups, their members' subscriptions on Apache Kafka,
the topics they committed on) joined with the platform's wiring (shared.topics.CONSUMES) where it
tells nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaError

from shared.dlq import DeadLetter, read_dead_letters, redrive

FETCH_WAIT_S = 2.0  # for the last records of every partition, at most


@dataclass(frozen=True, slots=True)
class BrokerView:
    """One look at the broker: each partition's end offset, each group's committed offsets and
    the topics it consumes (those it committed on among them)."""

    ends: dict[TopicPartition, int]
    committed: dict[str, dict[TopicPartition, int]]  # group -> partitions it has committed on
    consumes: dict[str, frozenset[str]] = field(default_factory=dict)  # group -> its topics


@dataclass
class Broker:
    bootstrap: str
    # The platform's consumer groups and the topics each consumes, for a broker that does not
    # tell (see the module's notes): shared.topics.consumer_groups().
    wiring: Mapping[str, Collection[str]] = field(default_factory=dict)
    _admin: AIOKafkaAdminClient | None = None
    _reader: AIOKafkaConsumer | None = None
    _partitions: dict[str, list[int]] = field(default_factory=dict)

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, request_timeout_ms=10000
        )
        await self._admin.start()
        self._reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=10000,
            consumer_timeout_ms=2000,
        )
        await self._reader.start()

    @property
    def started(self) -> bool:
        return self._admin is not None

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
        if self._admin is not None:
            await self._admin.close()
        self._reader = self._admin = None

    async def view(self) -> BrokerView:
        admin, reader = self._started()
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
        described = await admin.describe_topics(topics)
        partitions = [
            TopicPartition(topic["topic"], p["partition"])
            for topic in described
            for p in topic["partitions"]
        ]
        ends = await self._ends(reader, partitions)
        listed = {group for group, _ in await admin.list_consumer_groups()}
        committed: dict[str, dict[TopicPartition, int]] = {}
        consumes: dict[str, frozenset[str]] = {}
        for group in sorted(listed | self.wiring.keys()):
            offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            subscribed = await self._subscriptions(admin, group)
            told = subscribed or set(self.wiring.get(group, ()))
            consumes[group] = frozenset(told | {tp.topic for tp in committed[group]})
        return BrokerView(ends, committed, consumes)

    @staticmethod
    async def _subscriptions(admin: AIOKafkaAdminClient, group: str) -> set[str]:
        """The topics the group's members subscribe to, as DescribeGroups tells them (empty
        when the broker leaves them out, as the embedded one does, or when no member runs)."""
        try:
            [answer] = await admin.describe_consumer_groups([group])  # one group a request
        except KafkaError:
            return set()
        topics: set[str] = set()
        for _, _, _, protocol_type, _, members in answer.groups:
            if protocol_type != "consumer":
                continue
            for member in members:
                metadata = member[3]
                if metadata:
                    topics.update(ConsumerProtocolMemberMetadata.decode(metadata).subscription)
        return topics

    async def _ends(
        self, reader: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        listed: dict[TopicPartition, int] = await reader.end_offsets(partitions)
        tails = [tp for tp in partitions if listed.get(tp, 0) > 0]  # 0: no record at all
        fetched: set[TopicPartition] = set()
        if tails:
            reader.assign(tails)
            for tp in tails:
                reader.seek(tp, listed[tp] - 1)
            deadline = time.monotonic() + FETCH_WAIT_S
            while len(fetched) < len(tails) and time.monotonic() < deadline:
                batch = await reader.getmany(timeout_ms=200, max_records=1000)
                fetched.update(tp for tp, records in batch.items() if records)
            # Paused, the reader stops fetching until the next look (no load on the broker).
            reader.pause(*tails)
        ends = {tp: listed.get(tp, 0) for tp in partitions}
        for tp in fetched:
            ends[tp] = max(ends[tp], reader.highwater(tp) or 0)
        return ends

    async def dead_letters(self, topic: str) -> list[DeadLetter]:
        """Every record of `<topic>.dlq`."""
        letters, consumer = await read_dead_letters(self.bootstrap, topic)
        await consumer.stop()
        return letters

    async def redrive(self, letters: list[DeadLetter]) -> int:
        """Send `letters` back to their topics (their consumers' inboxes skip what they handled)."""
        return await redrive(self.bootstrap, letters)

    def _started(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._reader is None:
            raise RuntimeError("the broker adapter is not started")
        return self._admin, self._reader


async def dead_letters_of(broker: Broker, topics: list[str]) -> dict[str, list[DeadLetter]]:
    """The DLQs of `topics`, read side by side (each read waits for a quiet second)."""
    read = await asyncio.gather(*(broker.dead_letters(topic) for topic in topics))
    return dict(zip(topics, read, strict=True))
