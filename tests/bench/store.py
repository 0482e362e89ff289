"""Event-store append rate and outbox-relay publish rate, on the durable embedded Postgres and Tansu.

Appends: W concurrent writers each append one-event streams (as intake's requests do) for a
fixed time. Baseline in the same run: the same transactions without the commit-order lock
(what the lock costs). Relay: N stored events published from position 0 to a fresh topic;
rate = N / time until the checkpoint reaches the last event.

Run: make bench   (or python -m tests.bench.store --seconds 5 --repeats 3 --relay-events 20000)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from deploy.local.processes import (
    embedded_postgres,
    free_port,
    tansu_broker,
    wait_for_port_open,
    wait_for_postgres,
)
from shared import eventstore
from shared.db import Connection, apply_schema, create_pool, ensure_database, with_database
from shared.envelope import Causation
from shared.eventstore import EventStore
from shared.kafka import ensure_topics
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.topics import TopicSpec
from tests import examples

REPO = Path(__file__).resolve().parents[2]
console = Console()


class UnorderedStore(EventStore):
    """The same appends without the commit-order lock: the baseline for what the lock costs
    (and, as the 16-writer test shows, a store whose tailing readers skip events)."""

    async def _order_commits(self, conn: Connection) -> None:
        return None


async def append_rate(url: str, writers: int, seconds: float, store: EventStore) -> float:
    database = with_database(url, f"bench_{uuid.uuid4().hex[:8]}")
    await ensure_database(database)
    pool = await create_pool(database, max_size=writers + 2)
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


async def relay_rate(url: str, bootstrap: str, events: int) -> float:
    database = with_database(url, f"bench_{uuid.uuid4().hex[:8]}")
    await ensure_database(database)
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
    with tempfile.TemporaryDirectory(prefix="jiesu-bench-store-") as tmp:
        home = Path(tmp)
        pg_port, broker_port = free_port(), free_port()
        postgres = embedded_postgres(home / "pg", pg_port, home / "pg.log", durable=True)
        broker = tansu_broker(broker_port, home / "broker.log")
        postgres.start()
        broker.start()
        try:
            url = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
            bootstrap = f"127.0.0.1:{broker_port}"
            await wait_for_postgres(url)
            await wait_for_port_open(broker_port)
            results: dict[str, Any] = {"appends": {}, "relay": []}
            for writers in args.writers:
                locked, unlocked = [], []
                for repeat in range(args.repeats):
                    console.print(f"appends, {writers} writers, run {repeat + 1}/{args.repeats} …")
                    locked.append(
                        await append_rate(url, writers, args.seconds, EventStore("/bench"))
                    )
                    unlocked.append(
                        await append_rate(url, writers, args.seconds, UnorderedStore("/bench"))
                    )
                results["appends"][str(writers)] = {
                    "with_lock_per_s": locked,
                    "without_lock_per_s": unlocked,
                    "median_with_lock": statistics.median(locked),
                    "median_without_lock": statistics.median(unlocked),
                }
            for repeat in range(args.repeats):
                console.print(
                    f"relay, {args.relay_events} events, run {repeat + 1}/{args.repeats} …"
                )
                results["relay"].append(await relay_rate(url, bootstrap, args.relay_events))
            results["relay_median_per_s"] = statistics.median(results["relay"])
            return results
        finally:
            await broker.stop()
            await postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writers", default="1,16", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--relay-events", type=int, default=20000)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "store.json")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    table = Table(title=f"event store and relay, medians of {args.repeats} runs (durable Postgres)")
    for column in ("what", "per second", "baseline (no lock)", "ratio"):
        table.add_column(column, justify="right")
    for writers, data in results["appends"].items():
        ratio = data["median_with_lock"] / data["median_without_lock"]
        table.add_row(
            f"appends, {writers} writers",
            f"{data['median_with_lock']:.0f}",
            f"{data['median_without_lock']:.0f}",
            f"{ratio:.2f}",
        )
    table.add_row("relay publish", f"{results['relay_median_per_s']:.0f}", "", "")
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"written: {args.out}")


if __name__ == "__main__":
    main()
