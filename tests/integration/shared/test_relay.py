"""The outbox relay against a real broker: order per key, and nothing lost when the broker is."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import pytest

from deploy.local.processes import (
    Child,
    free_port,
    tansu_broker,
    wait_for_port_free,
    wait_for_port_open,
)
from shared import telemetry
from shared.envelope import Causation
from shared.eventstore import EventStore
from shared.kafka import ensure_topics
from shared.relay import OutboxRelay
from shared.topics import TopicSpec
from tests.integration.kafka_helpers import new_topic, read_topic, settings_for
from tests.support import examples

pytestmark = pytest.mark.integration


async def _append_interleaved(pool, store, complaints: int, per_complaint: int) -> dict[str, list]:
    """Events of several complaints, interleaved at random; returns each complaint's ids in order."""
    ids = [uuid.uuid4() for _ in range(complaints)]
    order = [c for c in ids for _ in range(per_complaint)]
    random.Random(7).shuffle(order)
    expected: dict[str, list] = defaultdict(list)
    for complaint_id in order:
        event = examples.work_order_issued(complaint_id)
        async with pool.acquire() as conn, conn.transaction():
            [recorded] = await store.append(
                conn, f"workorder-{event.work_order_id}", [event], Causation.start(), 0
            )
        expected[str(complaint_id)].append(recorded.id)
    return expected


def _by_key(records, *, first_occurrences: bool = False) -> dict[str, list]:
    """Event ids per key in log order; with `first_occurrences`, what an inbox lets through."""
    seen: dict[str, list] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = uuid.UUID(dict(record.headers)["ce_id"].decode())
        if not (first_occurrences and event_id in seen[record.key.decode()]):
            seen[record.key.decode()].append(event_id)
    return seen


@dataclass
class OwnBroker:
    """A broker of the test's own, to kill: the memory-only broker restarts empty."""

    process: Child
    port: int
    topic: TopicSpec

    @classmethod
    async def start(cls, tmp_path, topic: TopicSpec) -> OwnBroker:
        port = free_port()
        broker = cls(tansu_broker(port, tmp_path / "broker.log"), port, topic)
        broker.process.start()
        await wait_for_port_open(port)
        await ensure_topics(broker.bootstrap, [topic])
        return broker

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def relay(self, name: str, pool, store: EventStore, database_url: str) -> OutboxRelay:
        settings = settings_for(database_url, self.bootstrap)
        return OutboxRelay(
            name=name, pool=pool, store=store, topic=self.topic.name, settings=settings
        )

    async def restart_empty(self) -> None:
        assert self.process.process is not None
        self.process.process.kill()  # SIGKILL: everything it held is gone
        self.process.process.wait()
        await wait_for_port_free(self.port)
        self.process.start()
        await wait_for_port_open(self.port)
        await ensure_topics(self.bootstrap, [self.topic])

    async def stop(self) -> None:
        await self.process.stop()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay):
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        await _stopped(task)


async def _stopped(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_relay_publishes_every_event_keyed_by_complaint_in_order(
    pool, database_url, kafka_bootstrap
):
    store = EventStore("/jiesu/test")
    topic = await new_topic(kafka_bootstrap)
    expected = await _append_interleaved(pool, store, complaints=12, per_complaint=15)
    relay = OutboxRelay(
        name="test-relay",
        pool=pool,
        store=store,
        topic=topic,
        settings=settings_for(database_url, kafka_bootstrap, relay_batch_size=37),
    )
    async with running(relay):
        records = await read_topic(kafka_bootstrap, topic, expected=180)
    assert _by_key(records) == expected


async def test_relay_wakes_on_commit_and_resumes_from_its_checkpoint(
    pool, database_url, kafka_bootstrap
):
    store = EventStore("/jiesu/test")
    topic = await new_topic(kafka_bootstrap)
    settings = settings_for(database_url, kafka_bootstrap, relay_poll_interval_s=30)
    relay = OutboxRelay(name="r", pool=pool, store=store, topic=topic, settings=settings)
    async with running(relay):
        await _append_interleaved(pool, store, complaints=2, per_complaint=3)
        # The poll interval is 30 s: only the NOTIFY wake-up can deliver these in time.
        assert len(await read_topic(kafka_bootstrap, topic, expected=6, timeout=10)) == 6
        # Published is not yet checkpointed: stop only once the checkpoint is written, or the
        # restart below would rightly re-send (at least once).
        async with pool.acquire() as conn:
            last = await conn.fetchval("SELECT max(global_position) FROM events")
        await _until(lambda: relay.position == last)
    more = await _append_interleaved(pool, store, complaints=1, per_complaint=4)
    restarted = OutboxRelay(name="r", pool=pool, store=store, topic=topic, settings=settings)
    async with running(restarted):
        records = await read_topic(kafka_bootstrap, topic, expected=10, timeout=10)
    assert len(records) == 10, "a restarted relay re-sent what it had checkpointed"
    assert _by_key(records)[next(iter(more))] == next(iter(more.values()))


class _Deaf(asyncio.Event):
    """A wake-up that never comes: every NOTIFY lost."""

    def set(self) -> None:
        pass


async def test_relay_publishes_committed_events_when_every_notify_is_lost(
    pool, database_url, kafka_bootstrap
):
    """The relay sleeps on NOTIFY; its poll is the fallback that still publishes a committed
    event whose notification never arrived."""
    store = EventStore("/jiesu/test")
    topic = await new_topic(kafka_bootstrap)
    settings = settings_for(database_url, kafka_bootstrap, relay_poll_interval_s=0.5)
    relay = OutboxRelay(name="deaf", pool=pool, store=store, topic=topic, settings=settings)
    relay._wake = _Deaf()
    async with running(relay):
        await _until(lambda: relay.connected)
        expected = await _append_interleaved(pool, store, complaints=2, per_complaint=2)
        records = await read_topic(kafka_bootstrap, topic, expected=4, timeout=15)
    assert _by_key(records) == expected


async def test_relay_re_drives_everything_when_the_broker_restarts_empty(
    pool, database_url, tmp_path
):
    broker = await OwnBroker.start(tmp_path, TopicSpec("test.redrive", 4))
    store = EventStore("/jiesu/test")
    relay = broker.relay("redrive", pool, store, database_url)
    try:
        async with running(relay):
            first = await _append_interleaved(pool, store, complaints=4, per_complaint=5)
            assert len(await read_topic(broker.bootstrap, broker.topic.name, expected=20)) == 20

            await broker.restart_empty()
            second = await _append_interleaved(pool, store, complaints=2, per_complaint=5)

            # Re-driven at least once: the newest events may be on the log twice by now.
            records = await read_topic(broker.bootstrap, broker.topic.name, expected=30, timeout=30)
            # A reader can see a batch before the relay hears the broker acknowledge it (and
            # checkpoints): wait for the checkpoint to reach the last event.
            async with pool.acquire() as conn:
                last = await conn.fetchval("SELECT max(global_position) FROM events")
            deadline = time.monotonic() + 30
            while relay.position < last and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        assert _by_key(records, first_occurrences=True) == {**first, **second}
        assert relay.position == last
    finally:
        await broker.stop()


async def test_a_re_drive_sends_each_record_with_its_own_trace_header_once(
    pool, database_url, tmp_path, spans
):
    """Tracing on: the producer span's `traceparent` is written into the batch's records in
    place. A re-drive reads the events from the store again, so each pass sends records that
    carry one header each, child of the context stored with the event, never an earlier
    pass's producer span."""
    broker = await OwnBroker.start(tmp_path, TopicSpec("test.traced", 2))
    store = EventStore("/jiesu/test")
    relay = broker.relay("traced", pool, store, database_url)
    stored: dict[str, str] = {}
    for _ in range(6):
        complaint_id = uuid.uuid4()
        with telemetry.spanning("test request", root=True):
            events = [examples.work_order_issued(complaint_id) for _ in range(3)]
            async with pool.acquire() as conn, conn.transaction():
                recorded = await store.append(
                    conn, f"case-{complaint_id}", events, Causation.start(), None
                )
        stored |= {str(r.id): r.metadata["traceparent"] for r in recorded}
    async with pool.acquire() as conn:
        last = await conn.fetchval("SELECT max(global_position) FROM events")

    def headers_of(records) -> dict[str, list[str]]:
        """Each record's event id and the `traceparent` headers it carries."""
        by_id: dict[str, list[str]] = {}
        for record in records:
            assert record.headers[-1][0] == "traceparent"
            event_id = dict(record.headers)["ce_id"].decode()
            by_id[event_id] = [v.decode() for k, v in record.headers if k == "traceparent"]
        return by_id

    publishing = asyncio.create_task(relay.run())
    try:
        first = headers_of(await read_topic(broker.bootstrap, "test.traced", expected=18))
        await _until(lambda: relay.position >= last)
        await _stopped(publishing)
        await broker.restart_empty()
        publishing = asyncio.create_task(relay.run())
        await _until(lambda: relay.redrives > 0 and relay.position >= last, timeout=30)
        second = headers_of(await read_topic(broker.bootstrap, "test.traced", expected=18))
    finally:
        await _stopped(publishing)
        await broker.stop()

    producers = {
        span.context.span_id: span
        for span in spans.get_finished_spans()
        if span.name.endswith("publish")
    }
    for sent in (first, second):
        assert set(sent) == set(stored)
        for event_id, [header] in sent.items():
            context = telemetry.span_context(header)
            origin = telemetry.span_context(stored[event_id])
            assert context is not None and origin is not None
            assert context.trace_id == origin.trace_id
            producer = producers[context.span_id]
            assert producer.parent is not None and producer.parent.span_id == origin.span_id
    # Each pass published under producer spans of its own.
    assert not {h for [h] in first.values()} & {h for [h] in second.values()}


async def test_only_one_relay_per_store_publishes_and_a_standby_takes_over(
    pool, database_url, kafka_bootstrap
):
    store = EventStore("/jiesu/test")
    topic = await new_topic(kafka_bootstrap)
    settings = settings_for(database_url, kafka_bootstrap)
    leader = OutboxRelay(name="one", pool=pool, store=store, topic=topic, settings=settings)
    standby = OutboxRelay(name="one", pool=pool, store=store, topic=topic, settings=settings)
    leading = asyncio.create_task(leader.run())
    await _until(lambda: leader.connected)
    async with running(standby):
        await _until(lambda: standby.standby)
        first = await _append_interleaved(pool, store, complaints=2, per_complaint=2)
        assert len(await read_topic(kafka_bootstrap, topic, expected=4)) == 4
        assert not standby.connected
        # A reader can see the records before the leader hears the broker acknowledge them
        # and checkpoints: a leader gone in between leaves them to be sent again (at least
        # once, as it must). What is tested is that a checkpoint made is honoured, so wait
        # for it.
        async with pool.acquire() as conn:
            last = await conn.fetchval("SELECT max(global_position) FROM events")
        await _until(lambda: leader.position >= last)

        leading.cancel()  # the leader goes away; its session lock goes with its connection
        with contextlib.suppress(asyncio.CancelledError):
            await leading
        await _until(lambda: standby.connected)
        second = await _append_interleaved(pool, store, complaints=1, per_complaint=3)
        records = await read_topic(kafka_bootstrap, topic, expected=7, timeout=15)
    assert _by_key(records, first_occurrences=True) == {**first, **second}
    assert len(records) == 7, "the standby re-sent what the leader had checkpointed"


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


async def test_16_writers_racing_the_relay_lose_nothing_while_the_broker_restarts_empty(
    pool, database_url, tmp_path
):
    """Appends are not serialised: 16 writers hold their transactions open for random times,
    so positions commit out of order, while the relay tails them and the broker is killed and
    restarted empty halfway. Every event reaches the log, and each complaint's in order.

    The restart follows the local runner: the relay stops before the broker comes back and
    starts once the topic exists again. A producer that reaches a restarted Tansu before its
    topic is created can be handed offsets the broker already gave to another batch (seen in
    this test: a re-drive acknowledged at offsets 7.. of a partition whose log already held
    0..16), and a reader then skips those records as seen; no check of offsets can tell that
    log from a healthy one."""
    broker = await OwnBroker.start(tmp_path, TopicSpec("test.race", 4))
    store = EventStore("/jiesu/test")
    relay = broker.relay("race", pool, store, database_url)
    writers, appends = 16, 20
    expected: dict[str, list] = defaultdict(list)
    halfway, recovered = asyncio.Event(), asyncio.Event()
    recovered_at = 0.0
    done = 0

    async def writer(index: int) -> None:
        """`appends` appends, then on until the relay has re-driven and tailed the writers for
        a while (it reads at the head only once it has caught up)."""
        nonlocal done
        rng = random.Random(index)
        # Three complaints per writer, each a stream appended to again and again.
        complaints = [uuid.uuid4() for _ in range(3)]
        for n in itertools.count():
            if n >= appends and recovered.is_set() and time.monotonic() > recovered_at + 2.0:
                return
            complaint_id = complaints[n % 3]
            events = [examples.work_order_issued(complaint_id) for _ in range(rng.randint(1, 3))]
            async with pool.acquire() as conn, conn.transaction():
                recorded = await store.append(
                    conn, f"case-{complaint_id}", events, Causation.start(), None
                )
                await asyncio.sleep(rng.random() * 0.01)
            expected[str(complaint_id)] += [r.id for r in recorded]
            done += 1
            if done == writers * appends // 2:
                halfway.set()

    async def restart_broker() -> None:
        nonlocal recovered_at, publishing
        await halfway.wait()
        await _stopped(publishing)
        await broker.restart_empty()
        publishing = asyncio.create_task(relay.run())
        # The writers go on until the relay has re-driven what the broker lost and caught up.
        async with pool.acquire() as conn:
            top = await conn.fetchval("SELECT max(global_position) FROM events")
        await _until(lambda: relay.redrives and relay.position >= top, timeout=60)
        recovered_at = time.monotonic()
        recovered.set()

    publishing = asyncio.create_task(relay.run())
    try:
        await asyncio.gather(restart_broker(), *(writer(i) for i in range(writers)))
        async with pool.acquire() as conn:
            last = await conn.fetchval("SELECT max(global_position) FROM events")
        # The log is read once the relay has published everything and re-driven no more
        # for a second (two loss checks): read during a re-drive, it ends partway through
        # one pass, and the earliest events' last copies come from that pass.
        settled_since, redrives = time.monotonic(), relay.redrives
        while relay.position < last or time.monotonic() - settled_since < 1.0:
            assert time.monotonic() - settled_since < 60, "the relay did not settle"
            if relay.redrives != redrives or relay.position < last:
                settled_since, redrives = time.monotonic(), relay.redrives
            await asyncio.sleep(0.05)
        total = sum(len(ids) for ids in expected.values())
        records = await read_topic(
            broker.bootstrap, broker.topic.name, expected=total, timeout=60, to_end=True
        )
        # A re-drive may start again while the writers go on, so early events can be on the log
        # more than once; from the last re-drive on, each complaint's events come in order. So:
        # every event is there, and each complaint's last copies are in order.
        last_copies = {
            key: list(reversed(list(dict.fromkeys(reversed(ids)))))
            for key, ids in _by_key(records).items()
        }
        assert last_copies == expected
    finally:
        await _stopped(publishing)
        await broker.stop()
