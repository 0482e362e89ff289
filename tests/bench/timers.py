"""SLA timer firing rate: due warnings and breaches settled per second, by one and by two pollers.

Cases of the demo city are dispatched ten days in the past, so every clock of every first
order is due (a warning and a breach each; a breach of the lead escalates, issuing a
supervising order whose clocks are not yet due). Each poller has its own connection and
claims rows with FOR UPDATE SKIP LOCKED, as dispatch workers do. Baseline in the same run:
single-event appends, one writer (what one firing costs at least: it is one such append).

Run: make bench   (or python -m tests.bench.timers --cases 300 --repeats 3)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from deploy.local.runner import DEMO_CITY
from services.dispatch import store
from services.dispatch.app import Dispatch
from services.dispatch.domain import orders
from services.dispatch.main import PACKAGED_CALENDARS, SCHEMA
from services.dispatch.workers import fire_due
from shared.commands import now
from shared.db import apply_schema, create_pool, ensure_database, with_database
from shared.deadlines import CalendarYear
from shared.envelope import Causation
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.eventstore import EventStore
from tests.bench.common import own_postgres, write_results
from tests.bench.store import append_rate
from tests.support.examples import SITUATIONS

REPO = Path(__file__).resolve().parents[2]
console = Console()


async def firing_rate(url: str, cases: int, pollers: int) -> dict[str, float]:
    database = with_database(url, f"bench_{uuid.uuid4().hex[:8]}")
    await ensure_database(database)
    pool = await create_pool(database, max_size=pollers + 2)
    await apply_schema(pool, EVENTSTORE_SCHEMA, SCHEMA)
    dispatch = Dispatch(EventStore("/bench"), store.CityModelCache(), store.CalendarCache())
    async with pool.acquire() as conn, conn.transaction():
        await dispatch.new_city_version(conn, yaml.safe_load(DEMO_CITY.read_text()), "bench", "")
        for path in PACKAGED_CALENDARS:
            await dispatch.load_calendar(
                conn, CalendarYear.model_validate(yaml.safe_load(path.read_text())), "bench"
            )
    past = now() - timedelta(days=10)
    async with pool.acquire() as conn:
        rules = await dispatch.rules(conn)
        for index in range(cases):
            category, area, _, _ = SITUATIONS[index % len(SITUATIONS)]
            events = orders.first_dispatch(None, uuid.uuid4(), category, area, rules, past)
            async with conn.transaction():
                await dispatch.save_case(conn, None, events, Causation.start())
        due = await conn.fetchval("SELECT count(*) FROM timers WHERE fire_at <= now()")

    async def poller() -> int:
        settled = 0
        async with pool.acquire() as conn:
            while True:
                batch = await fire_due(conn, dispatch, batch=50)
                if batch == 0:
                    return settled
                settled += batch

    started = time.monotonic()
    settled = sum(await asyncio.gather(*(poller() for _ in range(pollers))))
    elapsed = time.monotonic() - started
    async with pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM timers WHERE fire_at <= now() - interval '1 minute'"
        )
        fired = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type IN ('SlaWarned', 'SlaBreached')"
        )
    await pool.close()
    assert left == 0, f"{left} due timers were not settled"
    return {
        "due": due,
        "settled": settled,
        "fired": fired,
        "seconds": elapsed,
        "per_s": fired / elapsed,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    async with own_postgres("timers") as (url, _):
        results: dict[str, Any] = {"cases": args.cases, "runs": []}
        for repeat in range(args.repeats):
            console.print(f"timers, run {repeat + 1}/{args.repeats} …")
            run = {
                "baseline_appends_per_s": await append_rate(url, 1, 3.0, EventStore("/bench")),
                "one_poller": await firing_rate(url, args.cases, 1),
                "two_pollers": await firing_rate(url, args.cases, 2),
            }
            results["runs"].append(run)
        for name in ("one_poller", "two_pollers"):
            results[f"median_{name}_per_s"] = statistics.median(
                r[name]["per_s"] for r in results["runs"]
            )
        results["median_baseline_per_s"] = statistics.median(
            r["baseline_appends_per_s"] for r in results["runs"]
        )
        return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "timers.json")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    table = Table(
        title=f"SLA timers, {args.cases} cases due, medians of {args.repeats} runs (durable Postgres)"
    )
    for column in ("what", "per second", "baseline: 1-writer appends", "ratio"):
        table.add_column(column, justify="right")
    baseline = results["median_baseline_per_s"]
    for name, label in (
        ("one_poller", "warnings+breaches, 1 poller"),
        ("two_pollers", "warnings+breaches, 2 pollers"),
    ):
        rate = results[f"median_{name}_per_s"]
        table.add_row(label, f"{rate:.0f}", f"{baseline:.0f}", f"{rate / baseline:.2f}")
    console.print(table)
    fired = results["runs"][0]["one_poller"]
    console.print(
        f"per run: {fired['due']} timers due, {fired['fired']} warnings and breaches fired"
    )
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
