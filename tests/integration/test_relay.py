"""The outbox relay against a real broker: order per key, and nothing lost when the broker is."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import defaultdict

import pytest

from deploy.local.processes import free_port, tansu_broker, wait_for_port_free, wait_for_port_open
from shared.envelope import Causation
from shared.eventstore import EventStore
from shared.kafka import ensure_topics
from shared.relay import OutboxRelay
from shared.topics import TopicSpec
from tests import examples
from tests.integration.kafka_helpers import new_topic, read_topic, settings_for

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


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay):
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
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


async def test_relay_re_drives_everything_when_the_broker_restarts_empty(
    pool, database_url, tmp_path
):
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    topic_spec = TopicSpec("test.redrive", 4)
    broker = tansu_broker(port, tmp_path / "broker.log")
    broker.start()
    await wait_for_port_open(port)
    await ensure_topics(bootstrap, [topic_spec])
    store = EventStore("/jiesu/test")
    relay = OutboxRelay(
        name="redrive",
        pool=pool,
        store=store,
        topic=topic_spec.name,
        settings=settings_for(database_url, bootstrap),
    )
    try:
        async with running(relay):
            first = await _append_interleaved(pool, store, complaints=4, per_complaint=5)
            assert len(await read_topic(bootstrap, topic_spec.name, expected=20)) == 20

            broker.process.kill()  # SIGKILL: the memory-only broker loses everything
            broker.process.wait()
            await wait_for_port_free(port)
            broker.start()
            await wait_for_port_open(port)
            await ensure_topics(bootstrap, [topic_spec])
            second = await _append_interleaved(pool, store, complaints=2, per_complaint=5)

            # Re-driven at least once: the newest events may be on the log twice by now.
            records = await read_topic(bootstrap, topic_spec.name, expected=30, timeout=30)
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
