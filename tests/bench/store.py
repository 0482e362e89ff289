"""Event-store appends and catch-up reads beside pyeventsourcing's Postgres recorder, and the
outbox-relay publish rate, on the durable embedded Postgres and Tansu.

Appends: W concurrent writers each append one-event streams (as intake's requests do) for a
fixed time: ours through an asyncpg pool; eventsourcing's PostgresApplicationRecorder (what its
applications use with POSTGRES persistence) from W threads on its psycopg pool, storing the same
encoded event. Reads: N stored events read from position 0 in pages of 500 (ours `read_all`,
theirs `select_notifications`). Every run has a fresh database and the two arms alternate, so
machine noise hits both. Relay: N stored events published from position 0 to a fresh topic;
rate = N / time until the checkpoint reaches the last event.

Run: make bench   (or python -m tests.bench.store --seconds 5 --repeats 3 --read-events 20000
                   --relay-events 20000)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from rich.console import Console
from rich.table import Table

from deploy.local.processes import (
    free_port,
    tansu_broker,
    wait_for_port_open,
)
from shared import eventstore
from shared.db import apply_schema, create_pool, database_name, ensure_database, with_database
from shared.envelope import Causation, encode_data
from shared.eventstore import EventStore
from shared.kafka import ensure_topics
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.topics import TopicSpec
from tests.bench.common import own_postgres, write_results
from tests.support import examples

REPO = Path(__file__).resolve().parents[2]
PAGE = 500
THEIR_TOPIC = "shared.events:ComplaintFiled"
console = Console()


async def fresh_database(url: str) -> str:
    database = with_database(url, f"bench_{uuid.uuid4().hex[:8]}")
    await ensure_database(database)
    return database


async def append_rate(url: str, writers: int, seconds: float, store: EventStore) -> float:
    database = await fresh_database(url)
    pool = await create_pool(database, min_size=writers, max_size=writers + 2)
    await apply_schema(pool, eventstore.SCHEMA)
    event = examples.complaint_filed()
    done = 0
    deadline = time.monotonic() + seconds

    async def writer() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with pool.acquire() as conn, conn.transaction():
                await store.append(conn, f"s-{uuid.uuid4()}", [event], Causation.start(), 0)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(writer() for _ in range(writers)))
    rate = done / (time.monotonic() - started)
    await pool.close()
    return rate


async def read_rate(url: str, events: int) -> float:
    database = await fresh_database(url)
    pool = await create_pool(database, max_size=2)
    await apply_schema(pool, eventstore.SCHEMA)
    store = EventStore("/bench")
    event = examples.complaint_filed()
    for start in range(0, events, PAGE):
        batch = [
            (f"s-{uuid.uuid4()}", [event], Causation.start())
            for _ in range(start, min(start + PAGE, events))
        ]
        async with pool.acquire() as conn, conn.transaction():
            await store.append_streams(conn, batch)
    after, read = 0, 0
    started = time.monotonic()
    while True:
        async with pool.acquire() as conn:
            page = await store.read_all(conn, after, PAGE)
        if not page:
            break
        read += len(page)
        after = page[-1].global_position
    rate = read / (time.monotonic() - started)
    await pool.close()
    assert read == events, f"read {read} of {events} events"
    return rate


def their_recorder(database: str, pool_size: int) -> PostgresApplicationRecorder:
    """Their application recorder on its own pool, table created and connections open."""
    parts = urlsplit(database)
    datastore = PostgresDatastore(
        dbname=database_name(database),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        pool_size=pool_size,
    )
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    datastore.pool.open(wait=True)
    return recorder


def their_append_rate(database: str, writers: int, seconds: float) -> float:
    recorder = their_recorder(database, writers + 2)
    event = examples.complaint_filed()
    done = [0] * writers
    deadline = time.monotonic() + seconds

    # Threads, as its synchronous recorder is used; each append encodes its event, as ours does.
    def writer(index: int) -> None:
        while time.monotonic() < deadline:
            stored = StoredEvent(uuid.uuid4(), 1, THEIR_TOPIC, encode_data(event))
            recorder.insert_events([stored])
            done[index] += 1

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = sum(done) / (time.monotonic() - started)
    recorder.datastore.close()
    return rate


def their_read_rate(database: str, events: int) -> float:
    recorder = their_recorder(database, 2)
    state = encode_data(examples.complaint_filed())
    for start in range(0, events, PAGE):
        recorder.insert_events(
            [
                StoredEvent(uuid.uuid4(), 1, THEIR_TOPIC, state)
                for _ in range(start, min(start + PAGE, events))
            ]
        )
    after, read = 0, 0
    started = time.monotonic()
    while True:
        page = recorder.select_notifications(after, PAGE, inclusive_of_start=False)
        if not page:
            break
        read += len(page)
        after = page[-1].id
    rate = read / (time.monotonic() - started)
    recorder.datastore.close()
    assert read == events, f"read {read} of {events} events"
    return rate


async def compare(
    label: str,
    repeats: int,
    ours: Callable[[], Awaitable[float]],
    theirs: Callable[[str], float],
    url: str,
) -> dict[str, Any]:
    """Both arms `repeats` times, alternating, each run on a fresh database."""
    our_rates: list[float] = []
    their_rates: list[float] = []
    for repeat in range(repeats):
        console.print(f"{label}, run {repeat + 1}/{repeats} …")
        our_rates.append(await ours())
        their_rates.append(await asyncio.to_thread(theirs, await fresh_database(url)))
    ours_median, theirs_median = statistics.median(our_rates), statistics.median(their_rates)
    return {
        "ours_per_s": our_rates,
        "eventsourcing_per_s": their_rates,
        "median_ours": ours_median,
        "median_eventsourcing": theirs_median,
        "ratio": ours_median / theirs_median,
    }


async def relay_rate(url: str, bootstrap: str, events: int) -> float:
    database = await fresh_database(url)
    pool = await create_pool(database, max_size=10)
    await apply_schema(pool, eventstore.SCHEMA)
    store = EventStore("/bench")
    for start in range(0, events, 500):
        async with pool.acquire() as conn, conn.transaction():
            for _ in range(min(500, events - start)):
                order = examples.work_order_issued()
                await store.append(conn, f"wo-{order.work_order_id}", [order], Causation.start(), 0)
    async with pool.acquire() as conn:
        last = await conn.fetchval("SELECT max(global_position) FROM events")
    topic = f"bench.relay.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 8)])
    settings = ServiceSettings(
        service_name="bench", database_url=database, kafka_bootstrap_servers=bootstrap
    )
    relay = OutboxRelay(name="bench", pool=pool, store=store, topic=topic, settings=settings)
    started = time.monotonic()
    task = asyncio.create_task(relay.run())
    while relay.position < last:
        await asyncio.sleep(0.01)
    rate = events / (time.monotonic() - started)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await pool.close()
    return rate


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    async with own_postgres("store") as (url, home):
        broker_port = free_port()
        broker = tansu_broker(broker_port, home / "broker.log")
        broker.start()
        try:
            bootstrap = f"127.0.0.1:{broker_port}"
            await wait_for_port_open(broker_port)
            results: dict[str, Any] = {
                "baseline": f"eventsourcing {version('eventsourcing')} PostgresApplicationRecorder",
                "appends": {},
            }
            for writers in args.writers:
                results["appends"][str(writers)] = await compare(
                    f"appends, {writers} writer{'' if writers == 1 else 's'}",
                    args.repeats,
                    partial(append_rate, url, writers, args.seconds, EventStore("/bench")),
                    partial(their_append_rate, writers=writers, seconds=args.seconds),
                    url,
                )
            results["reads"] = {
                "events": args.read_events,
                "page": PAGE,
                **await compare(
                    f"catch-up reads, {args.read_events} events",
                    args.repeats,
                    partial(read_rate, url, args.read_events),
                    partial(their_read_rate, events=args.read_events),
                    url,
                ),
            }
            relay: list[float] = []
            for repeat in range(args.repeats):
                console.print(
                    f"relay, {args.relay_events} events, run {repeat + 1}/{args.repeats} …"
                )
                relay.append(await relay_rate(url, bootstrap, args.relay_events))
            results["relay"] = relay
            results["relay_median_per_s"] = statistics.median(relay)
            return results
        finally:
            await broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writers", default="1,16", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--read-events", type=int, default=20000)
    parser.add_argument("--relay-events", type=int, default=20000)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "store.json")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    table = Table(title=f"event store and relay, medians of {args.repeats} runs (durable Postgres)")
    for column in ("what", "ours /s", "eventsourcing /s", "ours ÷ theirs"):
        table.add_column(column, justify="right")
    rows = [
        (f"appends, {w} writer{'' if w == '1' else 's'}", data)
        for w, data in results["appends"].items()
    ]
    rows.append((f"catch-up reads, pages of {PAGE}", results["reads"]))
    for what, data in rows:
        table.add_row(
            what,
            f"{data['median_ours']:.0f}",
            f"{data['median_eventsourcing']:.0f}",
            f"{data['ratio']:.2f}",
        )
    table.add_row("relay publish", f"{results['relay_median_per_s']:.0f}", "", "")
    console.print(table)
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
