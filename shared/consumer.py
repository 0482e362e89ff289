"""Idempotent consumers: the handler's writes and the inbox row commit together; failures retry, then go to the DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiokafka
import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from shared.db import Connection
from shared.envelope import Envelope, Headers, from_kafka
from shared.events import Event, UndecodableEvent, UnknownEventType, wire_types
from shared.eventstore import EventStore, RecordedEvent
from shared.kafka_pacing import pace
from shared.metrics import (
    CONSUMER_ASSIGNED,
    CONSUMER_BATCH_RECORDS,
    CONSUMER_LAG,
    CONSUMER_MESSAGES,
    CONSUMER_REBALANCE_PAUSE,
    CONSUMER_REBALANCES,
    CONSUMER_RETRIES,
    HANDLER_DURATION,
)
from shared.settings import ServiceSettings
from shared.telemetry import consumed, consumer_spans, within
from shared.topics import dlq

log = logging.getLogger(__name__)


class DependencyUnavailable(RuntimeError):
    """A handler could not reach something it needs (another service), so no record is at
    fault: nothing is dead-lettered for it. The batch fails whole and is fetched again."""


DLQ_HEADERS = (
    "dlq_original_topic",
    "dlq_original_partition",
    "dlq_original_offset",
    "dlq_error",
    "dlq_attempts",
    "dlq_consumer",
    "dlq_failed_at",
)


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler gets besides its event: the open transaction and the cause of its writes."""

    conn: Connection
    envelope: Envelope
    store: EventStore

    async def append(
        self, stream: str, events: Sequence[Event], expected_position: int | None
    ) -> list[RecordedEvent]:
        return await self.store.append(
            self.conn, stream, events, self.envelope.follow(), expected_position
        )


Handler = Callable[[Any, HandlerContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What a batch handler gets besides its envelopes: the batch's transaction and the store
    (each appended event follows its own envelope: `envelope.follow()`).

    `after_commit`, where the consumer gives one, takes callbacks it runs once the batch's
    transaction has committed (never if it rolls back): what must not leave the process
    before the batch is durable, such as handing new work to in-memory workers. None where
    the path cannot promise that; then the handler leaves such work to be found later."""

    conn: Connection
    store: EventStore
    after_commit: list[Callable[[], None]] | None = None


# A whole batch's new envelopes at once, in stream order, in the batch's transaction: for a
# consumer that can do with a few statements per batch what it would do per event.
BatchHandler = Callable[[Sequence[Envelope], BatchContext], Awaitable[None]]

# What a consumer does with a batch's envelopes before it takes a connection: calls to other
# services (e.g. the keys that open sealed filings), never inside the batch's transaction.
# Returns the envelopes to handle, in the same order; DependencyUnavailable fetches the batch again.
Prepare = Callable[[Sequence[Envelope]], Awaitable[Sequence[Envelope]]]


class DeadLetters(Protocol):
    async def publish(
        self, record: ConsumedRecord, consumer: str, error: str, attempts: int
    ) -> None: ...


class KafkaDeadLetters:
    """Sends a record to `<topic>.dlq` with headers saying where it came from and why it failed."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def publish(
        self, record: ConsumedRecord, consumer: str, error: str, attempts: int
    ) -> None:
        headers = [(name, value) for name, value in record.headers if name not in DLQ_HEADERS]
        headers += [
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_error", error[:2000].encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_consumer", consumer.encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self.producer.send_and_wait(
            dlq(record.topic), record.value, key=record.key, headers=headers
        )


class IdempotentConsumer:
    """Exactly-once effects on top of at-least-once delivery, for one consumer name."""

    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        store: EventStore,
        handlers: Mapping[type[Event], Handler],
        dead_letters: DeadLetters,
        max_attempts: int = 5,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        batch_handler: BatchHandler | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self.name = name
        self.pool = pool
        self.store = store
        self.handlers = handlers
        self.batch_handler = batch_handler
        self.prepare = prepare
        self._wanted = {name.encode() for event in handlers for name in wire_types(event)}
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s

    async def handle(self, record: ConsumedRecord) -> str:
        """Handle one record; returns handled, duplicate, skipped or dead_lettered."""
        with consumer_spans():
            outcome = await self._handle(record)
        CONSUMER_MESSAGES.labels(self.name, outcome).inc()
        return outcome

    def _route(self, record: ConsumedRecord) -> tuple[Envelope, Handler] | None:
        """The record's envelope and handler; None when this consumer has nothing to do with it
        (a type it does not know or does not handle: skipped on purpose, and counted).
        Raises UndecodableEvent for a malformed record.

        A record whose `ce_type` header names a type not handled here is skipped unparsed."""
        for name, value in record.headers:
            if name == "ce_type":
                if value not in self._wanted:
                    return None
                break
        try:
            envelope = from_kafka(record.headers, record.value)
        except UnknownEventType:
            return None
        handler = self.handlers.get(type(envelope.event))
        return (consumed(record.topic, envelope), handler) if handler is not None else None

    def _delays(self) -> Iterator[float]:
        delay = self.backoff_initial_s
        while True:
            yield delay
            delay = min(delay * 2, self.backoff_max_s)

    async def _handle(self, record: ConsumedRecord) -> str:
        try:
            routed = self._route(record)
        except UndecodableEvent as error:
            # Retrying cannot make a malformed record parse; it goes to the DLQ at once.
            await self._dead_letter(record, f"undecodable: {error}", attempts=1)
            return "dead_lettered"
        if routed is None:
            return "skipped"
        envelope, handler = routed
        delays = self._delays()
        for attempt in range(1, self.max_attempts + 1):
            try:
                with within(envelope):
                    return "handled" if await self._handle_once(envelope, handler) else "duplicate"
            except Exception as error:
                if attempt == self.max_attempts and isinstance(error, DependencyUnavailable):
                    raise
                if attempt == self.max_attempts:
                    log.error(
                        "%s: %s %s failed %d times, dead-lettering: %r",
                        self.name,
                        envelope.type,
                        envelope.id,
                        attempt,
                        error,
                    )
                    await self._dead_letter(record, f"{type(error).__name__}: {error}", attempt)
                    return "dead_lettered"
                CONSUMER_RETRIES.labels(self.name).inc()
                delay = next(delays)
                log.warning(
                    "%s: %s %s failed (attempt %d/%d), retrying in %.2fs: %r",
                    self.name,
                    envelope.type,
                    envelope.id,
                    attempt,
                    self.max_attempts,
                    delay,
                    error,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _handle_once(self, envelope: Envelope, handler: Handler) -> bool:
        if self.prepare is not None:
            [envelope] = await self.prepare([envelope])
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._apply(conn, envelope, handler)

    async def _apply(self, conn: Connection, envelope: Envelope, handler: Handler) -> bool:
        """Inbox row and effects in the caller's transaction; False if already handled."""
        first_time = bool(await self._claim(conn, [envelope]))
        if not first_time:
            return False
        if self.batch_handler is not None:
            await self.batch_handler([envelope], BatchContext(conn, self.store))
        else:
            await handler(envelope.event, HandlerContext(conn, envelope, self.store))
        return True

    async def _claim(self, conn: Connection, envelopes: Sequence[Envelope]) -> set[Any]:
        """Inbox rows for a whole batch in one statement; the ids seen for the first time."""
        rows = await conn.fetch(
            "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            self.name,
            [envelope.id for envelope in envelopes],
        )
        return {row["event_id"] for row in rows}

    async def handle_batch(self, records: Sequence[ConsumedRecord]) -> list[str]:
        """Handle records of one stream in order, committing them in a single transaction
        (timed: jiesu_handler_duration_seconds)."""
        started = time.perf_counter()
        try:
            with consumer_spans():
                return await self._handle_batch(records)
        finally:
            HANDLER_DURATION.labels(self.name).observe(time.perf_counter() - started)

    async def _handle_batch(self, records: Sequence[ConsumedRecord]) -> list[str]:
        """Handle records of one stream in order, committing them in a single transaction.

        One commit for many records is what makes a consumer keep up (the commit's flush
        dominates a small handler). If any record fails, the transaction rolls back and the
        records are handled one by one, with retries and the DLQ, so a poison record never
        holds back or takes down the rest of its batch.
        """
        CONSUMER_BATCH_RECORDS.labels(self.name).observe(len(records))
        outcomes: list[str] = ["skipped"] * len(records)
        batch: list[tuple[int, Envelope, Handler]] = []
        for index, record in enumerate(records):
            try:
                routed = self._route(record)
            except UndecodableEvent:
                return [await self.handle(record) for record in records]  # rare: the slow path
            if routed is not None:
                batch.append((index, *routed))
        committed: list[Callable[[], None]] = []
        try:
            if self.prepare is not None and batch:
                prepared = await self.prepare([envelope for _, envelope, _ in batch])
                batch = [
                    (index, envelope, handler)
                    for (index, _, handler), envelope in zip(batch, prepared, strict=True)
                ]
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = await self._claim(conn, [envelope for _, envelope, _ in batch])
                todo: list[tuple[Envelope, Handler]] = []
                for index, envelope, handler in batch:
                    if envelope.id in fresh:
                        fresh.discard(envelope.id)  # a second copy in the batch is a duplicate
                        todo.append((envelope, handler))
                        outcomes[index] = "handled"
                    else:
                        outcomes[index] = "duplicate"
                if self.batch_handler is not None:
                    if todo:
                        with within(todo[0][0] if len(todo) == 1 else None):
                            await self.batch_handler(
                                [envelope for envelope, _ in todo],
                                BatchContext(conn, self.store, committed),
                            )
                else:
                    for envelope, handler in todo:
                        with within(envelope):
                            await handler(
                                envelope.event, HandlerContext(conn, envelope, self.store)
                            )
        except DependencyUnavailable:
            raise  # the caller fetches the batch again; no record is to blame
        except Exception as error:
            log.info("%s: a batch of %d failed (%r); one by one", self.name, len(records), error)
            return [await self.handle(record) for record in records]
        for callback in committed:
            try:
                callback()
            except Exception:  # the batch is committed: what the callback did not do waits
                log.exception("%s: an after-commit callback failed", self.name)
        for outcome in outcomes:
            CONSUMER_MESSAGES.labels(self.name, outcome).inc()
        return outcomes

    async def _dead_letter(self, record: ConsumedRecord, error: str, attempts: int) -> None:
        # The partition may only move on once the record is safely in the DLQ.
        for delay in self._delays():
            try:
                await self.dead_letters.publish(record, self.name, error, attempts)
                return
            except Exception as publish_error:
                log.warning("%s: DLQ publish failed, retrying: %r", self.name, publish_error)
                await asyncio.sleep(delay)


def show_lag(
    consumer: str, handled: Mapping[Any, int], highwater: Callable[[Any], int | None]
) -> None:
    """Set the lag of each partition in `handled` (topic-partition → the next offset to handle)
    from the highwater the consumer last fetched: no request to the broker. Per batch."""
    for tp, position in handled.items():
        end = highwater(tp)
        if end is not None:
            CONSUMER_LAG.labels(consumer, tp.topic, str(tp.partition)).set(max(0, end - position))


def forget_lag(consumer: str, partitions: Iterable[Any]) -> None:
    """Partitions gone to another member: their lag is no longer this one's to report."""
    for tp in partitions:
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(consumer, tp.topic, str(tp.partition))


# How long aiokafka's fetch loop sleeps when nothing wakes it (its default, 200 ms, is five
# wakeups a second per consumer at rest). A fetch's answer, a consumed buffer, a new
# assignment and a metadata refresh all wake it before; the timeout is only a backstop.
FETCHER_IDLE_TIMEOUT_MS = 2000


def heartbeat_ms(settings: ServiceSettings) -> int:
    """KAFKA_HEARTBEAT_INTERVAL_S, at most a third of the session timeout (as Kafka advises)."""
    session_ms = settings.kafka_session_timeout_s * 1000
    return int(min(settings.kafka_heartbeat_interval_s * 1000, session_ms / 3))


class BatchConsumer:
    """The idempotent consumer fed by aiokafka directly, with no per-record machinery between:
    each `getmany` is one batch (every partition's records in their order, one transaction).

    The offsets of handled batches are committed `commit_interval_s` after a batch was handled
    (as faust does, but only when there is something to commit: at rest the committer sleeps
    until a batch wakes it) and when partitions are taken away, not after every batch: an
    offset commit is a round trip to the broker, which at low rates would come with every
    record. A crash or a rebalance before the commit redelivers what came after it, and the
    inbox skips what had committed.
    """

    def __init__(
        self,
        consumer: IdempotentConsumer,
        topics: Sequence[str],
        settings: ServiceSettings,
        *,
        group_id: str,
        batch_size: int = 500,
        commit_interval_s: float = 1.0,
        durable: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.consumer = consumer
        self.batch_size = batch_size
        self.commit_interval_s = commit_interval_s
        # Where the handler's commits do not wait for the disk: waited for before offsets are
        # committed, so a batch lost in a database crash is fetched and handled again.
        self.durable = durable
        self.handled: dict[TopicPartition, int] = {}  # the next offset, once handled
        self._committed: dict[TopicPartition, int] = {}
        self._handled_more = asyncio.Event()  # set when `handled` moves: a commit is due
        session_ms = int(settings.kafka_session_timeout_s * 1000)
        self.kafka = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            rebalance_timeout_ms=session_ms,
            heartbeat_interval_ms=heartbeat_ms(settings),
            max_poll_records=batch_size,
            consumer_timeout_ms=FETCHER_IDLE_TIMEOUT_MS,
        )
        busy_ms = settings.kafka_fetch_max_wait_ms
        idle_ms = max(busy_ms, settings.kafka_fetch_idle_wait_ms)
        pace(self.kafka, busy_ms, idle_ms, settings.kafka_fetch_idle_after_s)
        self.kafka.subscribe(list(topics), listener=_CommitOnRevoke(self))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.kafka.start()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"{self.consumer.name}:consumer"),
            asyncio.create_task(self._commit_often(), name=f"{self.consumer.name}:commits"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.commit()
        await self.kafka.stop()

    async def commit(self) -> None:
        """Commit what was handled since the last commit (of partitions still assigned)."""
        assigned = self.kafka.assignment()
        due = {
            tp: offset
            for tp, offset in self.handled.items()
            if tp in assigned and self._committed.get(tp) != offset
        }
        if not due:
            return
        if self.durable is not None:
            await self.durable()
        try:
            await self.kafka.commit(due)
            self._committed.update(due)
        except KafkaError as error:  # CommitFailedError, IllegalStateError among them
            # The partitions moved to another member meanwhile: it starts from the last
            # committed offsets, and its inbox check skips what was handled here.
            log.info("%s: offsets not committed (%r)", self.consumer.name, error)

    def committed(self) -> dict[TopicPartition, int]:
        """The next offset per partition, as this member last committed it."""
        return dict(self._committed)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions (re)assigned start from the group's committed offsets: what this member
        handled of them before is no longer its to commit."""
        for tp in partitions:
            self.handled.pop(tp, None)
            self._committed.pop(tp, None)

    async def _commit_often(self) -> None:
        """Commit `commit_interval_s` after a batch was handled (batches handled meanwhile go
        with the same commit); sleep, without waking, while nothing is handled."""
        while True:
            await self._handled_more.wait()
            await asyncio.sleep(self.commit_interval_s)
            self._handled_more.clear()  # what is handled from here on wakes the next round
            await self.commit()

    def assigned(self) -> bool:
        return bool(self.kafka.assignment())

    async def _run(self) -> None:
        while True:
            # getmany returns as soon as records are there; the timeout only ends an empty wait.
            fetched = await self.kafka.getmany(timeout_ms=60_000, max_records=self.batch_size)
            if not fetched:
                continue
            try:
                await self.consumer.handle_batch(
                    [
                        ConsumedRecord(
                            m.topic, m.partition, m.offset, m.key, m.value, list(m.headers)
                        )
                        for messages in fetched.values()
                        for m in messages
                    ]
                )
            except Exception as error:
                # Not handled: fetch the same records again (after a breath), never skip them.
                log.warning("%s: a batch failed (%r); fetching it again", self.consumer.name, error)
                for partition, messages in fetched.items():
                    self.kafka.seek(partition, messages[0].offset)
                # Stuck on these records: the lag counts from them, and grows as more arrive.
                self._show_lag({tp: messages[0].offset for tp, messages in fetched.items()})
                await asyncio.sleep(1.0)
                continue
            for partition, messages in fetched.items():
                self.handled[partition] = messages[-1].offset + 1
            self._handled_more.set()
            self._show_lag({})

    def _show_lag(self, stuck: Mapping[TopicPartition, int]) -> None:
        assigned = self.kafka.assignment()
        positions = {tp: at for tp, at in (self.handled | dict(stuck)).items() if tp in assigned}
        show_lag(self.consumer.name, positions, self.kafka.highwater)


class _CommitOnRevoke(ConsumerRebalanceListener):
    """Before partitions go to another member, commit what was handled of them. Each revoke
    and assignment is logged and counted; the time from this member's revoke to its next
    assignment (its pause: it handles nothing meanwhile) goes into a histogram."""

    def __init__(self, batches: BatchConsumer) -> None:
        self.batches = batches
        self.revoked_at: float | None = None

    async def on_partitions_revoked(self, revoked: Any) -> None:
        name = self.batches.consumer.name
        self.revoked_at = time.monotonic()
        CONSUMER_REBALANCES.labels(name, "revoked").inc()
        CONSUMER_ASSIGNED.labels(name).set(0)  # eager rebalancing: all of them, until assigned
        log.info("%s: rebalance: %d partitions revoked", name, len(revoked))
        await self.batches.commit()
        forget_lag(name, revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        name = self.batches.consumer.name
        self.batches.forget(assigned)
        CONSUMER_REBALANCES.labels(name, "assigned").inc()
        CONSUMER_ASSIGNED.labels(name).set(len(assigned))
        paused = None if self.revoked_at is None else time.monotonic() - self.revoked_at
        if paused is not None:
            CONSUMER_REBALANCE_PAUSE.labels(name).observe(paused)
            self.revoked_at = None
        log.info(
            "%s: rebalance: %d partitions assigned (%s)%s",
            name,
            len(assigned),
            ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)),
            "" if paused is None else f" after a pause of {paused:.2f}s",
        )
