"""The idempotent consumer: inbox, retries and the dead-letter topic, with a real faust agent."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from typing import Any

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.local.processes import embedded_postgres, free_port, wait_for_postgres
from shared.consumer import (
    DLQ_HEADERS,
    BatchConsumer,
    ConsumedRecord,
    HandlerContext,
    IdempotentConsumer,
    KafkaDeadLetters,
)
from shared.db import apply_schema, create_pool, wal_flushed
from shared.envelope import Envelope, to_kafka
from shared.events import ComplaintFiled
from shared.eventstore import SCHEMA, EventStore
from shared.faust_engine import attach_consumer, make_faust_app
from shared.kafka import make_producer
from shared.kafka_pacing import _PacedFetcher, pace
from shared.topics import dlq
from tests.integration.kafka_helpers import new_topic, read_topic, settings_for
from tests.support import examples

pytestmark = pytest.mark.integration

EFFECTS = "CREATE TABLE effects (complaint_id uuid NOT NULL, case_number text NOT NULL)"


class RecordingDeadLetters:
    def __init__(self) -> None:
        self.records: list[tuple[ConsumedRecord, str, int]] = []

    async def publish(
        self, record: ConsumedRecord, consumer: str, error: str, attempts: int
    ) -> None:
        self.records.append((record, error, attempts))


async def record_effect(event: ComplaintFiled, ctx: HandlerContext) -> None:
    # No unique key on purpose: only the inbox stands between a redelivery and a second row.
    await ctx.conn.execute(
        "INSERT INTO effects (complaint_id, case_number) VALUES ($1, $2)",
        event.complaint_id,
        event.case_number,
    )
    if event.case_number == "ALWAYS-FAILS":
        raise RuntimeError("the handler cannot cope with this one")


def _record(
    event: ComplaintFiled, topic: str = "complaint.events", offset: int = 0
) -> ConsumedRecord:
    envelope = Envelope(
        event=event,
        id=uuid.uuid4(),
        source="/jiesu/intake",
        time=event.filed_at,
        correlation_id=uuid.uuid4(),
    )
    message = to_kafka(envelope)
    return ConsumedRecord(topic, 0, offset, message.key, message.value, message.headers)


@pytest.fixture
async def effects_pool(pool):
    async with pool.acquire() as conn:
        await conn.execute(EFFECTS)
    return pool


def _consumer(pool, dead_letters, handler=record_effect, **options) -> IdempotentConsumer:
    return IdempotentConsumer(
        name=options.get("name", "test-consumer"),
        pool=pool,
        store=EventStore("/jiesu/test"),
        handlers={ComplaintFiled: handler},
        batch_handler=options.get("batch_handler"),
        prepare=options.get("prepare"),
        dead_letters=dead_letters,
        max_attempts=options.get("max_attempts", 3),
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
    )


async def _effects(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM effects")


async def test_a_redelivered_message_has_its_effect_once(effects_pool):
    consumer = _consumer(effects_pool, RecordingDeadLetters())
    record = _record(examples.complaint_filed())
    assert await consumer.handle(record) == "handled"
    assert await consumer.handle(record) == "duplicate"
    assert await _effects(effects_pool) == 1


async def test_concurrent_redeliveries_of_one_message_have_one_effect(effects_pool):
    consumer = _consumer(effects_pool, RecordingDeadLetters())
    record = _record(examples.complaint_filed())
    outcomes = await asyncio.gather(*(consumer.handle(record) for _ in range(8)))
    assert sorted(outcomes) == ["duplicate"] * 7 + ["handled"]
    assert await _effects(effects_pool) == 1


async def test_a_transient_failure_is_retried_and_its_partial_writes_rolled_back(effects_pool):
    failures = [RuntimeError("database hiccup")]

    async def flaky(event: ComplaintFiled, ctx: HandlerContext) -> None:
        await record_effect(event, ctx)
        if failures:
            raise failures.pop()

    consumer = _consumer(effects_pool, RecordingDeadLetters(), handler=flaky)
    assert await consumer.handle(_record(examples.complaint_filed())) == "handled"
    assert await _effects(effects_pool) == 1


async def test_a_handler_that_keeps_failing_dead_letters_after_its_attempts(effects_pool):
    dead = RecordingDeadLetters()
    consumer = _consumer(effects_pool, dead, max_attempts=3)
    record = _record(examples.complaint_filed(case_number="ALWAYS-FAILS"))
    assert await consumer.handle(record) == "dead_lettered"
    [(dead_record, error, attempts)] = dead.records
    assert dead_record == record and attempts == 3 and "cannot cope" in error
    assert await _effects(effects_pool) == 0
    # It was not marked handled, so a redrive from the DLQ gets a real second chance.
    assert await consumer.handle(record) == "dead_lettered"


async def test_unknown_types_are_skipped_and_malformed_records_dead_lettered_at_once(effects_pool):
    dead = RecordingDeadLetters()
    consumer = _consumer(effects_pool, dead)
    good = _record(examples.complaint_filed())
    unknown = ConsumedRecord(
        good.topic,
        0,
        1,
        good.key,
        good.value,
        [(k, b"SomethingElseHappened" if k == "ce_type" else v) for k, v in good.headers],
    )
    assert await consumer.handle(unknown) == "skipped"
    broken = ConsumedRecord(good.topic, 0, 2, good.key, b"{oops", good.headers)
    assert await consumer.handle(broken) == "dead_lettered"
    assert dead.records[0][2] == 1 and "undecodable" in dead.records[0][1]


@pytest.mark.parametrize("engine", ["aiokafka", "faust"])
async def test_a_poison_record_lands_in_the_dlq_and_later_records_still_flow(
    effects_pool, database_url, kafka_bootstrap, engine
):
    topic = await new_topic(kafka_bootstrap, partitions=2)
    settings = settings_for(database_url, kafka_bootstrap)
    dlq_producer = make_producer(settings)
    await dlq_producer.start()
    consumer = IdempotentConsumer(
        name="poison-test",
        pool=effects_pool,
        store=EventStore("/jiesu/test"),
        handlers={ComplaintFiled: record_effect},
        dead_letters=KafkaDeadLetters(dlq_producer),
        max_attempts=3,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
    )
    group = f"test-{uuid.uuid4().hex[:8]}"
    app: Any
    if engine == "faust":
        app = make_faust_app(group, settings)
        attach_consumer(app, consumer, [topic])
    else:
        app = BatchConsumer(consumer, [topic], settings, group_id=group)
    key = str(uuid.uuid4())  # one key: everything on one partition, behind the poison
    before = examples.complaint_filed(case_number="BEFORE")
    failing = examples.complaint_filed(case_number="ALWAYS-FAILS")
    after = examples.complaint_filed(case_number="AFTER")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await app.start()
        for event in (before,):
            message = _record(event, topic)
            await producer.send_and_wait(
                topic, message.value, key=key.encode(), headers=message.headers
            )
        await producer.send_and_wait(
            topic, b"\xff not json", key=key.encode(), headers=[("ce_type", b"ComplaintFiled")]
        )
        for event in (failing, after):
            message = _record(event, topic)
            await producer.send_and_wait(
                topic, message.value, key=key.encode(), headers=message.headers
            )

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with effects_pool.acquire() as conn:
                handled = {
                    r["case_number"] for r in await conn.fetch("SELECT case_number FROM effects")
                }
            if "AFTER" in handled:
                break
            await asyncio.sleep(0.2)
        assert handled == {"BEFORE", "AFTER"}

        dead = await read_topic(kafka_bootstrap, dlq(topic), expected=2)
        assert len(dead) == 2
        for record in dead:
            headers = {k: v.decode() for k, v in record.headers}
            assert set(DLQ_HEADERS) <= set(headers)
            assert headers["dlq_original_topic"] == topic
            assert int(headers["dlq_original_offset"]) in (1, 2)
            assert headers["dlq_consumer"] == "poison-test"
        attempts = sorted(int(dict(r.headers)["dlq_attempts"]) for r in dead)
        assert attempts == [1, 3]  # undecodable: at once; failing handler: after its 3 attempts
    finally:
        await app.stop()
        await producer.stop()
        await dlq_producer.stop()


async def test_dead_letters_can_be_listed_and_redriven_to_their_topic(kafka_bootstrap):
    from shared.dlq import read_dead_letters, redrive

    topic = await new_topic(kafka_bootstrap, partitions=1)
    settings = settings_for("postgresql://unused/none", kafka_bootstrap)
    producer = make_producer(settings)
    await producer.start()
    try:
        dead = KafkaDeadLetters(producer)
        record = _record(examples.complaint_filed(), topic, offset=41)
        await dead.publish(record, "dispatch", "RuntimeError: no city model loaded", 5)
    finally:
        await producer.stop()

    letters, reader = await read_dead_letters(kafka_bootstrap, topic)
    await reader.stop()
    [letter] = letters
    summary = letter.summary()
    assert summary["from"] == f"{topic}[0]@41"
    assert summary["attempts"] == "5" and "city model" in summary["error"]

    assert await redrive(kafka_bootstrap, letters) == 1
    [back] = await read_topic(kafka_bootstrap, topic, expected=1)
    headers = dict(back.headers)
    assert back.value == record.value and back.key == record.key
    assert not set(DLQ_HEADERS) & set(headers)
    assert headers["ce_id"] == dict(record.headers)["ce_id"]


async def test_a_batch_commits_once_and_skips_duplicates_within_and_across_batches(effects_pool):
    consumer = _consumer(effects_pool, RecordingDeadLetters())
    records = [_record(examples.complaint_filed(), offset=i) for i in range(5)]
    outcomes = await consumer.handle_batch([*records, records[1]])
    assert outcomes == ["handled"] * 5 + ["duplicate"]
    assert await consumer.handle_batch(records[:2]) == ["duplicate", "duplicate"]
    assert await _effects(effects_pool) == 5


async def test_a_batch_handler_gets_each_new_event_once_in_order_in_one_call(effects_pool):
    calls: list[list[uuid.UUID]] = []

    async def record_all(envelopes, ctx) -> None:
        calls.append([e.id for e in envelopes])
        for envelope in envelopes:
            await record_effect(envelope.event, HandlerContext(ctx.conn, envelope, ctx.store))

    consumer = _consumer(
        effects_pool, RecordingDeadLetters(), name="test-batch-consumer", batch_handler=record_all
    )
    records = [_record(examples.complaint_filed(), offset=i) for i in range(4)]
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert await consumer.handle_batch(records[:2]) == ["handled", "handled"]
    outcomes = await consumer.handle_batch([records[1], records[2], records[2], records[3]])
    assert outcomes == ["duplicate", "handled", "duplicate", "handled"]
    assert await consumer.handle_batch(records[:1]) == ["duplicate"]  # nothing new: no call
    assert [[str(i) for i in call] for call in calls] == [ids[:2], ids[2:]]
    assert await _effects(effects_pool) == 4


async def test_a_batch_is_prepared_before_a_connection_is_taken_and_handled_as_prepared(
    effects_pool,
):
    """The prepare step is where a consumer calls another service (reporting: the keys of
    sealed filings); no connection of the consumer's pool is held while it runs, in a batch or
    one by one, and the handler gets what it returned."""
    held_while_preparing: list[int] = []

    async def prepare(envelopes):
        held_while_preparing.append(effects_pool.get_size() - effects_pool.get_idle_size())
        return [dataclasses.replace(e, correlation_id=e.id) for e in envelopes]

    seen: list[bool] = []

    async def record_all(envelopes, ctx) -> None:
        seen.extend(e.correlation_id == e.id for e in envelopes)
        for envelope in envelopes:
            await record_effect(envelope.event, HandlerContext(ctx.conn, envelope, ctx.store))

    consumer = _consumer(
        effects_pool,
        RecordingDeadLetters(),
        name="test-prepared-consumer",
        batch_handler=record_all,
        prepare=prepare,
    )
    records = [_record(examples.complaint_filed(), offset=i) for i in range(3)]
    assert await consumer.handle_batch(records[:2]) == ["handled", "handled"]
    assert await consumer.handle(records[2]) == "handled"
    assert held_while_preparing == [0, 0]
    assert seen == [True, True, True]
    assert await _effects(effects_pool) == 3


async def test_after_commit_callbacks_run_once_their_batch_commits_and_never_after_a_rollback(
    effects_pool,
):
    """What a batch hands out after its commit (notify's new deliveries to its senders) must
    not leave for a batch that rolled back, nor for the one-by-one retry of its records (it
    has no after-commit: its work waits in the table)."""
    ran: list[list[str]] = []

    async def hand_out(envelopes, ctx) -> None:
        cases = [e.event.case_number for e in envelopes]
        if ctx.after_commit is not None:  # asked for before the work that may fail
            ctx.after_commit.append(lambda: ran.append(cases))
        for envelope in envelopes:
            await record_effect(envelope.event, HandlerContext(ctx.conn, envelope, ctx.store))

    consumer = _consumer(
        effects_pool,
        RecordingDeadLetters(),
        name="test-after-commit",
        batch_handler=hand_out,
        max_attempts=1,
    )
    good = [_record(examples.complaint_filed(case_number=f"OK-{i}"), offset=i) for i in range(2)]
    assert await consumer.handle_batch(good) == ["handled", "handled"]
    assert ran == [["OK-0", "OK-1"]]
    poison = _record(examples.complaint_filed(case_number="ALWAYS-FAILS"), offset=2)
    more = _record(examples.complaint_filed(case_number="OK-2"), offset=3)
    assert await consumer.handle_batch([poison, more]) == ["dead_lettered", "handled"]
    assert ran == [["OK-0", "OK-1"]], "neither the rolled-back batch nor its one-by-one retry"
    assert await _effects(effects_pool) == 3


async def test_a_failing_record_makes_its_batch_fall_back_to_one_by_one(effects_pool):
    dead = RecordingDeadLetters()
    consumer = _consumer(effects_pool, dead)
    good = [_record(examples.complaint_filed(), offset=i) for i in range(3)]
    poison = _record(examples.complaint_filed(case_number="ALWAYS-FAILS"), offset=3)
    outcomes = await consumer.handle_batch([good[0], poison, good[1], good[2]])
    assert outcomes == ["handled", "dead_lettered", "handled", "handled"]
    assert await _effects(effects_pool) == 3
    assert len(dead.records) == 1


async def test_a_consumer_at_rest_asks_rarely_and_often_again_once_records_flow(
    kafka_bootstrap, monkeypatch
):
    fetches = 0
    fetch = _PacedFetcher._proc_fetch_request
    ours: list[_PacedFetcher] = []

    async def counted(self: _PacedFetcher, *args: Any) -> bool:
        # Only this consumer's: a paced consumer another test left running fetches too.
        nonlocal fetches
        fetches += self in ours
        return await fetch(self, *args)

    monkeypatch.setattr(_PacedFetcher, "_proc_fetch_request", counted)
    topic = await new_topic(kafka_bootstrap, partitions=4)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    pace(consumer, busy_ms=25, idle_ms=400, idle_after_s=0.5)  # as the services' consumers are
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await consumer.start()
    await producer.start()
    try:
        fetcher = consumer._fetcher
        assert isinstance(fetcher, _PacedFetcher)
        ours.append(fetcher)
        assert fetcher._fetch_max_wait_ms == 25  # just started: as if records flowed
        await asyncio.sleep(1.0)
        assert fetcher._fetch_max_wait_ms == 400
        before = fetches
        await asyncio.sleep(2.0)
        assert fetches - before <= 8  # at 25 ms it would be about 80
        sent = time.monotonic()
        await producer.send_and_wait(topic, b"after a quiet spell", key=b"k")
        record = await asyncio.wait_for(consumer.getone(), 5)
        assert record.value == b"after a quiet spell" and time.monotonic() - sent < 1.0
        assert fetcher._fetch_max_wait_ms == 25  # records flow: short waits again
    finally:
        await producer.stop()
        await consumer.stop()


async def test_offsets_wait_for_the_wal_flush_so_a_database_crash_loses_no_handled_record(
    tmp_path, kafka_bootstrap
):
    """A rebuildable database's commits do not wait for the disk. Here the WAL writer waits
    2 s, so handled batches sit in memory that long, and the database is killed right after
    the consumer's offsets are committed. Offsets wait for the flush: everything handled before
    the kill survives it, and what did not is fetched again."""
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    postgres = embedded_postgres(
        tmp_path / "pg", port, tmp_path / "pg.log", settings=["wal_writer_delay=2000ms"]
    )
    postgres.start()
    topic, group = await new_topic(kafka_bootstrap), f"crash-{uuid.uuid4().hex[:6]}"
    events = [examples.complaint_filed() for _ in range(30)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    for event in events:
        message = _record(event, topic)
        await producer.send(topic, message.value, key=message.key, headers=message.headers)
    await producer.stop()

    async def consume_until(count: int, committed: int) -> None:
        """Consume with the gate until `count` effects exist and this member's commits cover
        `committed` records."""
        pool = await create_pool(url, wait_for_disk=False)
        async with pool.acquire() as conn:
            await conn.execute(EFFECTS.replace("TABLE", "TABLE IF NOT EXISTS"))
        await apply_schema(pool, SCHEMA)
        batches = BatchConsumer(
            _consumer(pool, RecordingDeadLetters()),
            [topic],
            settings_for(url, kafka_bootstrap),
            group_id=group,
            commit_interval_s=0.05,
            durable=lambda: wal_flushed(pool),
        )
        await batches.start()
        try:
            deadline = time.monotonic() + 30
            while await _effects(pool) < count or sum(batches.committed().values()) < committed:
                assert time.monotonic() < deadline, (
                    f"the consumer did not catch up: {await _effects(pool)} effects, "
                    f"offsets {batches.committed()}, handled {batches.handled}"
                )
                await asyncio.sleep(0.05)
        finally:
            await batches.stop()
            await pool.close()

    try:
        await wait_for_postgres(url)
        await consume_until(len(events), committed=len(events))
        # Every Postgres process at once: nothing gets to write what it holds in memory.
        assert postgres.process is not None
        server = psutil.Process(postgres.process.pid)
        for process in [*server.children(), server]:
            # A backend of the pool just closed may have exited since it was listed.
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        postgres.process.wait()
        postgres.start()
        await wait_for_postgres(url)
        # What the crash lost, the group fetches again: its offsets had waited for the flush.
        await consume_until(len(events), committed=0)
        pool = await create_pool(url)
        try:
            assert await _effects(pool) == len(events)
        finally:
            await pool.close()
    finally:
        await postgres.stop()
