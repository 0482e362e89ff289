"""The event-store contract, on a real Postgres."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import uuid

import asyncpg
import pytest

from shared.envelope import Causation
from shared.events import parse_event
from shared.eventstore import ConcurrencyError, EventStore, Horizon
from tests.support import examples

pytestmark = pytest.mark.integration


@pytest.fixture
def store() -> EventStore:
    return EventStore(source="/jiesu/test")


async def _append(pool, store, stream, events, expected):
    async with pool.acquire() as conn, conn.transaction():
        return await store.append(conn, stream, events, Causation.start(), expected)


async def test_appended_events_read_back_in_order_with_their_envelope(pool, store):
    filed = examples.complaint_filed()
    issued = examples.work_order_issued(filed.complaint_id)
    recorded = await _append(pool, store, "s-1", [filed, issued], 0)
    assert [r.position for r in recorded] == [0, 1]
    async with pool.acquire() as conn:
        history = await store.read_stream(conn, "s-1")
    assert [r.to_envelope().event for r in history] == [filed, issued]
    envelope = history[0].to_envelope()
    assert envelope.source == "/jiesu/test"
    assert envelope.subject == str(filed.complaint_id)
    assert history[1].global_position > history[0].global_position


async def test_appending_at_a_stale_position_is_a_concurrency_error_and_writes_nothing(pool, store):
    await _append(pool, store, "s-2", [examples.complaint_filed()], 0)
    with pytest.raises(ConcurrencyError) as error:
        await _append(pool, store, "s-2", [examples.complaint_filed()], 0)
    assert (error.value.expected, error.value.actual) == (0, 1)
    with pytest.raises(ConcurrencyError) as error:
        await _append(pool, store, "s-2", [examples.complaint_filed()], 5)
    assert (error.value.expected, error.value.actual) == (5, 1)
    async with pool.acquire() as conn:
        assert len(await store.read_stream(conn, "s-2")) == 1


async def test_no_expected_position_appends_wherever_the_stream_is(pool, store):
    await _append(pool, store, "s-3", [examples.complaint_filed()], None)
    recorded = await _append(pool, store, "s-3", [examples.complaint_filed()], None)
    assert recorded[0].position == 1


async def test_appending_to_many_streams_at_once_puts_each_at_its_end_in_the_given_order(
    pool, store
):
    await _append(pool, store, "m-1", [examples.complaint_filed()], 0)
    a, b, c = (examples.complaint_filed() for _ in range(3))
    batch = [("m-2", [a], Causation.start()), ("m-1", [b, c], Causation.start()), ("m-3", [], None)]
    async with pool.acquire() as conn, conn.transaction():
        recorded = await store.append_streams(conn, batch)  # type: ignore[arg-type]
    assert [(r.stream, r.position) for r in recorded] == [("m-2", 0), ("m-1", 1), ("m-1", 2)]
    assert recorded[0].global_position < recorded[1].global_position < recorded[2].global_position
    async with pool.acquire() as conn:
        assert [r.to_envelope().event for r in await store.read_stream(conn, "m-1")][1:] == [b, c]
        with pytest.raises(RuntimeError):
            await store.append_streams(conn, batch)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class _Counted:
    """A state folded from its stream: how many events, and its version."""

    seen: int
    version: int


def _count(state: _Counted | None, _event: object) -> _Counted:
    return _Counted((state.seen if state else 0) + 1, (state.version if state else 0) + 1)


async def test_a_folded_state_appends_after_its_version_and_nothing_for_no_events(pool, store):
    filed = examples.complaint_filed()
    issued = examples.work_order_issued(filed.complaint_id)
    stream = lambda _: "s-folded"  # noqa: E731
    async with pool.acquire() as conn, conn.transaction():
        first = await store.append_folded(conn, None, [filed], Causation.start(), _count, stream)
        second = await store.append_folded(conn, first, [issued], Causation.start(), _count, stream)
        same = await store.append_folded(conn, second, [], Causation.start(), _count, stream)
    assert (first, second, same) == (_Counted(1, 1), _Counted(2, 2), _Counted(2, 2))
    async with pool.acquire() as conn:
        assert [r.position for r in await store.read_stream(conn, "s-folded")] == [0, 1]
    # A state read before another writer appended is refused, and nothing is written.
    with pytest.raises(ConcurrencyError):
        async with pool.acquire() as conn, conn.transaction():
            await store.append_folded(conn, first, [issued], Causation.start(), _count, stream)
    async with pool.acquire() as conn:
        assert len(await store.read_stream(conn, "s-folded")) == 2


async def test_append_refuses_to_run_outside_a_transaction(pool, store):
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            await store.append(conn, "s-4", [examples.complaint_filed()], Causation.start(), 0)


async def test_read_all_returns_events_after_a_position_in_commit_order(pool, store):
    for i in range(5):
        await _append(pool, store, f"s-5-{i}", [examples.complaint_filed()], 0)
    async with pool.acquire() as conn:
        everything = await store.read_all(conn, 0, 100)
        after_two = await store.read_all(conn, everything[1].global_position, 2)
    assert [e.global_position for e in after_two] == [e.global_position for e in everything[2:4]]


async def test_ten_writers_racing_on_one_stream_version_exactly_one_wins(pool, store):
    await _append(pool, store, "race", [examples.complaint_filed()], 0)
    start = asyncio.Event()

    async def writer() -> bool:
        await start.wait()
        try:
            await _append(pool, store, "race", [examples.complaint_filed()], 1)
        except ConcurrencyError:
            return False
        return True

    tasks = [asyncio.create_task(writer()) for _ in range(10)]
    start.set()
    results = await asyncio.gather(*tasks)
    assert results.count(True) == 1
    async with pool.acquire() as conn:
        assert [e.position for e in await store.read_stream(conn, "race")] == [0, 1]


async def test_the_horizon_stops_below_a_position_whose_transaction_is_still_open(pool, store):
    """A late commit: the first writer draws a position and holds its transaction open while a
    second draws a higher one and commits. Reading past the visible end would pass the gap for
    ever; the horizon stays below it until the first writer ends."""
    horizon = Horizon()
    async with pool.acquire() as conn:
        start = await horizon.reach(conn)
    async with pool.acquire() as slow:
        tx = slow.transaction()
        await tx.start()
        [late] = await store.append(
            slow, "late", [examples.complaint_filed()], Causation.start(), 0
        )
        [early] = await _append(pool, store, "early", [examples.complaint_filed()], 0)
        assert late.global_position < early.global_position
        async with pool.acquire() as conn:
            # what a reader without a horizon would take, and then never look back at
            unbounded = await store.read_all(conn, start, 100)
            assert [e.id for e in unbounded] == [early.id]
            assert await horizon.advance(conn) < late.global_position
            assert await store.read_all(conn, start, 100, until=horizon.settled) == []
        await tx.commit()
    async with pool.acquire() as conn:
        assert await horizon.advance(conn) >= early.global_position
        read = await store.read_all(conn, start, 100, until=horizon.settled)
    assert [e.id for e in read] == [late.id, early.id]


async def test_a_rolled_back_append_leaves_a_gap_the_horizon_moves_past(pool, store):
    horizon = Horizon()
    async with pool.acquire() as conn:
        start = await horizon.reach(conn)
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, "gone", [examples.complaint_filed()], Causation.start(), 0)
            raise RuntimeError("rolled back")
    [kept] = await _append(pool, store, "kept", [examples.complaint_filed()], 0)
    async with pool.acquire() as conn:
        assert await horizon.reach(conn) >= kept.global_position
        assert [e.id for e in await store.read_all(conn, start, 100, until=horizon.settled)] == [
            kept.id
        ]


async def test_a_reader_tailing_by_position_sees_every_event_of_16_concurrent_writers_exactly_once(
    pool: asyncpg.Pool, store: EventStore
):
    """Writers hold their transactions open for random times after appending, so commits
    happen out of the order positions were drawn in: the case a tailer that reads past the
    horizon loses events in."""
    writers, per_writer = 16, 25
    written: list[uuid.UUID] = []
    done = asyncio.Event()

    async def writer(index: int) -> None:
        rng = random.Random(index)
        for n in range(per_writer):
            async with pool.acquire() as conn, conn.transaction():
                [recorded] = await store.append(
                    conn, f"w{index}-{n}", [examples.complaint_filed()], Causation.start(), 0
                )
                await asyncio.sleep(rng.random() * 0.01)
            written.append(recorded.id)

    async def reader() -> list[uuid.UUID]:
        seen: list[uuid.UUID] = []
        position = 0
        horizon = Horizon()
        while True:
            finished = done.is_set()
            async with pool.acquire() as conn:
                if finished:
                    await horizon.reach(conn)
                else:
                    await horizon.advance(conn)
                batch = await store.read_all(conn, position, 50, until=horizon.settled)
            seen += [event.id for event in batch]
            if batch:
                position = batch[-1].global_position
            elif finished:
                return seen
            else:
                await asyncio.sleep(0.001)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(i) for i in range(writers)))
    done.set()
    seen = await reading
    assert len(written) == writers * per_writer
    assert len(seen) == len(set(seen)), "an event was read twice"
    assert set(seen) == set(written), f"{len(set(written) - set(seen))} events were skipped"


async def test_what_the_relay_publishes_is_the_stored_event_without_parsing_it_again(pool, store):
    filed = examples.complaint_filed()
    [recorded] = await _append(pool, store, f"p-{filed.complaint_id}", [filed], 0)
    async with pool.acquire() as conn:
        [(position, message)] = await store.read_published(
            conn, recorded.global_position - 1, 10, recorded.global_position
        )
    expected = recorded.to_kafka()
    assert position == recorded.global_position
    assert (message.key, message.headers) == (expected.key, expected.headers)
    assert json.loads(message.value) == json.loads(expected.value)
    assert parse_event(filed.event_type, filed.version, json.loads(message.value)) == filed
