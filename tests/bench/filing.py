"""Filing against a grown store: what a complaint's case number and duplicate search cost
when intake already holds many open complaints.

The store is filled with open complaints of the last 30 days spread over a city (400
communities of 5 grids and 10 buildings, 20 categories, points a few hundred metres apart),
then new filings at random places of the same city are numbered and searched as the front
door does: in groups of 20 (one statement per group) and alone. The baseline is the same
measurement on the smallest store in the same run: a search that reads the whole city's
complaints of a category grows with the store, one that reads a community's stays flat.

The same again for a hot spot (a burst main, a heating failure): every complaint held and
filed in one community, in 10 categories, so that a place's open complaints grow with the
store. A search bounded in SQL stays flat there too.

Run: make bench   (or python -m tests.bench.filing --history 1000,100000 --repeats 3)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from services.intake import store
from services.intake.app import box_around
from services.intake.domain.duplicates import Place
from services.intake.main import SCHEMA
from shared.db import apply_schema, create_pool, ensure_database, with_database
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from tests.bench.common import own_postgres, write_results

REPO = Path(__file__).resolve().parents[2]
RADIUS_M = 50.0


@dataclass(frozen=True)
class City:
    name: str
    communities: int
    categories: int


CITIES = (City("spread", 400, 20), City("hot spot", 1, 10))
console = Console()


def _place(city: City, n: int) -> tuple[str, str, str, float, float]:
    """Community, grid, building and a point of the n-th place of the made-up city."""
    community = f"3701{n % city.communities:08d}"
    grid = f"{community}-G0{n % 5}"
    return community, grid, f"{grid}-B0{n % 10}", 36.0 + (n % city.communities) * 0.01, 116.5


async def fill(conn: Any, city: City, count: int, now: datetime) -> None:
    """`count` open complaints filed over the last 29 days, spread like `_place`."""
    await conn.execute(
        """
        INSERT INTO complaints (complaint_id, case_number, channel, status, type, category,
            confidence, needs_triage, area_code, grid_code, building_code, address, latitude,
            longitude, text, resident_ref, masked_phone, filed_at, updated_at, version)
        SELECT gen_random_uuid(), 'H-' || g, 'hotline', 'classified', 'complaint',
               'cat' || ((g / $3) % $2), 1, false, c || '-G0' || (g % 5) || '-B0' || (g % 10),
               c || '-G0' || (g % 5), c || '-G0' || (g % 5) || '-B0' || (g % 10), '',
               36.0 + (g % $3) * 0.01 + random() * 0.004, 116.5 + random() * 0.004, '', 'r',
               '138****0000', $4::timestamptz - random() * interval '29 days', $4, 1
        FROM generate_series(1, $1) AS g, LATERAL (SELECT '3701' || lpad((g % $3)::text, 8, '0')) AS x(c)
        """,
        count,
        city.categories,
        city.communities,
        now,
    )
    await conn.execute("ANALYZE complaints")


def filings(city: City, count: int, rng: random.Random, now: datetime) -> list[store.Nearby]:
    nearby = []
    for _ in range(count):
        n = rng.randrange(1_000_000)
        community, grid, building, latitude, longitude = _place(city, n)
        point = (latitude + rng.random() * 0.004, longitude + rng.random() * 0.004)
        category = f"cat{(n // city.communities) % city.categories}"
        place = Place(uuid.uuid4(), "", category, building, grid, *point)
        box = box_around(place.point, RADIUS_M)
        nearby.append(store.Nearby(place, community, now - timedelta(days=30), box))
    return nearby


async def search_ms(pool: Any, city: City, group: int, total: int, now: datetime) -> float:
    """Milliseconds per filing to number and search `total` filings, `group` at a time."""
    rng = random.Random(group)
    started = time.perf_counter()
    for _ in range(total // group):
        async with pool.acquire() as conn:
            near = filings(city, group, rng, now)
            await store.sequences_and_places_near(conn, near, RADIUS_M, 10)
    return (time.perf_counter() - started) * 1000 / total


async def measure(url: str, city: City, history: int) -> dict[str, Any]:
    database = with_database(url, f"bench_filing_{uuid.uuid4().hex[:8]}")
    await ensure_database(database)
    pool = await create_pool(database, max_size=2)
    try:
        await apply_schema(pool, EVENTSTORE_SCHEMA, SCHEMA)
        now = datetime.now(UTC)
        async with pool.acquire() as conn:
            await fill(conn, city, history, now)
        await search_ms(pool, city, 20, 100, now)  # warm the caches and the plans
        return {
            "city": city.name,
            "history": history,
            "grouped_ms_per_filing": await search_ms(pool, city, 20, 400, now),
            "alone_ms_per_filing": await search_ms(pool, city, 1, 200, now),
        }
    finally:
        await pool.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(size) for size in args.history.split(",")]
    cases = [(city, size) for city in CITIES for size in sizes]
    async with own_postgres("filing") as (url, _):
        runs = []
        for repeat in range(args.repeats):
            console.print(f"filing against history, run {repeat + 1}/{args.repeats} …")
            runs.append([await measure(url, city, size) for city, size in cases])
    medians = [
        {
            "city": city.name,
            "history": size,
            **{
                key: statistics.median(run[i][key] for run in runs)
                for key in ("grouped_ms_per_filing", "alone_ms_per_filing")
            },
        }
        for i, (city, size) in enumerate(cases)
    ]
    return {"runs": runs, "medians": medians}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--history", default="1000,100000", help="open complaints already held")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "filing.json")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    table = Table(title=f"numbering and duplicate search, medians of {args.repeats} runs")
    columns = ("city", "open complaints held", "ms per filing, 20 at once", "alone", "÷ smallest")
    for column in columns:
        table.add_column(column, justify="right")
    smallest = {}
    for row in results["medians"]:
        base = smallest.setdefault(row["city"], row)
        table.add_row(
            row["city"],
            f"{row['history']:,}",
            f"{row['grouped_ms_per_filing']:.2f}",
            f"{row['alone_ms_per_filing']:.2f}",
            f"{row['grouped_ms_per_filing'] / base['grouped_ms_per_filing']:.2f}",
        )
    console.print(table)
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
