"""Read-model rebuild rate: every reporting model replayed from three event stores holding at
least a million events, on the durable embedded Postgres.

The stores are filled (COPY) with randomised, realistic histories (tests/support/histories.py:
filing, classification, work orders with their clocks, returns, breaches, escalations, extensions,
deliberations, callbacks, redos, notifications with retries; dispatch's part decided by its own
domain). Then `replay rebuild --all`'s engine
rebuilds every model into a fresh schema and swaps it in. Baselines in the same run:
- read + parse: reading the same events from the stores and parsing them, writing nothing
  (the floor any rebuild pays);
- live path: the same events one by one through the idempotent consumer (inbox row and
  upserts in one transaction each), as a replay through the bus would cost, on a sample.

Run: make bench   (or python -m tests.bench.rebuild --events 1000000 --repeats 3)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from services.reporting.handlers import HANDLERS, handle_batch, opener
from services.reporting.projections import MODELS, SCHEMA_DIR
from services.reporting.rebuild import YOUNG_GC, rebuild
from shared import eventstore
from shared.collector import tune_collector
from shared.consumer import ConsumedRecord, IdempotentConsumer
from shared.db import apply_schema, create_pool, ensure_database, with_database
from shared.eventstore import EventStore
from shared.sealing import IntakeKeys, Keyring
from tests.bench.common import own_postgres, write_results
from tests.support import histories

REPO = Path(__file__).resolve().parents[2]
console = Console()
# The generated histories hold no sealed filings: no key is ever asked for.
NO_KEYS = IntakeKeys("http://127.0.0.1:9", "unused")
PER_COMPLAINT = 22  # events a generated complaint has, on average (measured: 67,145 for 3,000)


async def fill(url: str, history: histories.History) -> dict[str, str]:
    """Three store databases holding the history in commit order; returns their URLs."""
    urls = {}
    for store in histories.STORES:
        database = with_database(url, f"bench_{store}_{uuid.uuid4().hex[:6]}")
        await ensure_database(database)
        pool = await create_pool(database, max_size=2)
        await apply_schema(pool, eventstore.SCHEMA)
        await pool.close()
        await histories.copy_store(database, history, store)
        urls[store] = database
    return urls


async def read_and_parse(urls: dict[str, str], batch: int) -> float:
    started = time.perf_counter()
    events = 0
    for url in urls.values():
        conn = await asyncpg.connect(url)
        after = 0
        while True:  # as the rebuild reads and parses (services.reporting.rebuild._read)
            rows = await conn.fetch(
                f"SELECT {eventstore.ENVELOPE_COLUMNS} FROM events WHERE global_position > $1 "
                "ORDER BY global_position LIMIT $2",
                after,
                batch,
            )
            if not rows:
                break
            for row in rows:
                eventstore.envelope_of(row)
            events += len(rows)
            after = rows[-1]["global_position"]
        await conn.close()
    return events / (time.perf_counter() - started)


async def live_path(url: str, urls: dict[str, str], sample: int) -> float:
    """The first `sample` events of each store through the idempotent consumer, one by one."""
    database = with_database(url, f"bench_live_{uuid.uuid4().hex[:6]}")
    await ensure_database(database)
    pool = await create_pool(database, max_size=4)
    await apply_schema(
        pool, eventstore.SCHEMA, SCHEMA_DIR / "models.sql", *(m.schema for m in MODELS.values())
    )

    class Nowhere:
        async def publish(self, *args: Any) -> None:
            raise AssertionError("dead-lettered")

    consumer = IdempotentConsumer(
        name="reporting",
        pool=pool,
        store=EventStore("/bench"),
        handlers=HANDLERS,
        batch_handler=handle_batch,
        prepare=opener(Keyring(NO_KEYS)),
        dead_letters=Nowhere(),
    )
    records = []
    for store, store_url in urls.items():
        conn = await create_pool(store_url, max_size=1)
        async with conn.acquire() as c:
            stored = await EventStore("/x").read_all(c, 0, limit=sample // len(urls))
        await conn.close()
        for offset, event in enumerate(stored):
            message = event.to_kafka()
            records.append(
                ConsumedRecord(store, 0, offset, message.key, message.value, message.headers)
            )
    started = time.perf_counter()
    for record in records:
        await consumer.handle(record)
    rate = len(records) / (time.perf_counter() - started)
    await pool.close()
    return rate


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    async with own_postgres("rebuild") as (url, _):
        complaints = max(1, args.events // PER_COMPLAINT)
        console.print(f"generating {complaints:,} complaints' histories …")
        started = time.perf_counter()
        history = histories.generate(complaints, seed=2026, days=365)
        while history.events < args.events:  # top up to the asked-for count
            complaints += max(1, (args.events - history.events) // PER_COMPLAINT + 1)
            history = histories.generate(complaints, seed=2026, days=365)
        console.print(
            f"  {history.events:,} events in {time.perf_counter() - started:.0f} s; filling the stores …"
        )
        urls = await fill(url, history)
        reporting = with_database(url, f"bench_reporting_{uuid.uuid4().hex[:6]}")
        await ensure_database(reporting)
        pool = await create_pool(reporting, max_size=2)
        await apply_schema(pool, SCHEMA_DIR / "models.sql", *(m.schema for m in MODELS.values()))
        await pool.close()
        results: dict[str, Any] = {
            "events": history.events,
            "complaints": complaints,
            "rebuild": {str(w): [] for w in args.workers},
            "read_parse": [],
            "live": [],
        }
        for repeat in range(args.repeats):
            for workers in args.workers:
                console.print(
                    f"rebuild --all, {workers} worker(s), run {repeat + 1}/{args.repeats} …"
                )
                done = await rebuild(
                    reporting,
                    urls,
                    list(MODELS),
                    batch_size=args.batch,
                    workers=workers,
                    keys=NO_KEYS,
                )
                results["rebuild"][str(workers)].append(done.rate)
                console.print(
                    f"  {done.events:,} events in {done.seconds:.1f} s: {done.rate:,.0f}/s"
                )
            results["read_parse"].append(await read_and_parse(urls, args.batch))
            results["live"].append(await live_path(url, urls, args.live_sample))
        conn = await asyncpg.connect(reporting)
        results["rows"] = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for model in MODELS.values()
            for table in model.tables
        }
        await conn.close()
        for name in ("read_parse", "live"):
            results[f"median_{name}_per_s"] = statistics.median(results[name])
        results["median_rebuild_per_s"] = {
            w: statistics.median(rates) for w, rates in results["rebuild"].items()
        }
        return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--workers", default="1,2", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--live-sample", type=int, default=15000)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "rebuild.json")
    args = parser.parse_args()
    tune_collector(YOUNG_GC)  # as `replay rebuild` sets it (its workers do)
    results = asyncio.run(main_async(args))
    table = Table(
        title=f"read-model rebuild, {results['events']:,} events, medians of {args.repeats} runs"
    )
    for column in ("what", "events per second", "ratio (1 worker ÷ baseline)"):
        table.add_column(column, justify="right")
    rates = results["median_rebuild_per_s"]
    single = rates[str(args.workers[0])]
    for workers, rate in rates.items():
        table.add_row(f"rebuild --all, {workers} worker(s)", f"{rate:,.0f}", f"{rate / single:.2f}")
    for label, key in (
        ("baseline: read + parse only", "median_read_parse_per_s"),
        ("baseline: live consumer, one by one", "median_live_per_s"),
    ):
        table.add_row(label, f"{results[key]:,.0f}", f"{single / results[key]:.2f}")
    console.print(table)
    console.print("rows: " + ", ".join(f"{t} {n:,}" for t, n in results["rows"].items()))
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
