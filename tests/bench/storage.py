"""Storage per complaint: what one complaint's whole life leaves in each service's Postgres.

The real platform (the local runner, demo city) takes N complaints through their whole life
over HTTP, as the people would: filed at intake, routed by dispatch, every work order signed and
resolved by its own unit's key, the resident called back (satisfied) and the complaint closed;
notify sends what each step causes, reporting projects it. Then each service database's tables
are measured (`pg_total_relation_size`: heap, indexes and TOAST) against the same database
before the load, and divided by N. What the sizing note (deploy/SIZING.md) rests on.

Run: python -m tests.bench.storage [--complaints 400]   (part of `make bench`)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from shared.db import with_database
from tests.bench.common import write_results
from tests.bench.latency import Stack

REPO = Path(__file__).resolve().parents[2]
console = Console()
SERVICES = ("intake", "dispatch", "notify", "reporting")

# Categories that ask no required questions, in areas of the demo city: one lead, or a lead
# and co-responders (street lights go to one department; sanitation in 会仙山 to the building
# head and the 楼管员; parking in 会仙山 to the property company and the police).
FILINGS = (
    ("street-lights", "370124002001-G01-B01", "锦水园小区8号楼门前路灯连续一周不亮，晚上出行不便"),
    ("water-supply", "370124001002-G01-B01", "东关小区3号楼停水两天了，没有接到任何通知"),
    ("sanitation", "370124001001-G01-B02", "玫城丽都2号楼楼道堆满杂物，垃圾无人清理"),
    ("road-damage", "370124002002-G02-B01", "翠屏巷路面塌陷一个大坑，雨天积水车辆绕行"),
    ("parking", "370124001001-G01-B01", "小区消防通道长期被私家车占用，物业劝阻无效"),
    ("heating", "370124002002-G01-B01", "翠屏花园A座暖气不热，室温只有十二度"),
)

TABLE_SIZES = """
SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes, c.reltuples::bigint AS estimate
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
"""


async def table_sizes(url: str) -> dict[str, dict[str, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(TABLE_SIZES)
        sizes = {row["name"]: {"bytes": row["bytes"]} for row in rows}
        for name in ("events", "inbox"):
            if name in sizes:
                sizes[name]["rows"] = await conn.fetchval(f"SELECT count(*) FROM {name}")
        sizes["(database)"] = {
            "bytes": await conn.fetchval("SELECT pg_database_size(current_database())")
        }
        return sizes
    finally:
        await conn.close()


async def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.5)


class Life:
    """Takes complaints through their whole life over the platform's HTTP APIs."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.intake = httpx.AsyncClient(base_url=urls["intake"], timeout=30)
        self.dispatch = httpx.AsyncClient(base_url=urls["dispatch"], timeout=30)

    async def close(self) -> None:
        await self.intake.aclose()
        await self.dispatch.aclose()

    async def file(self, index: int) -> str:
        category, area, text = FILINGS[index % len(FILINGS)]
        answer = await self.intake.post(
            "/complaints",
            headers={"X-API-Key": "dev-key-hotline", "Idempotency-Key": f"storage-{index}"},
            json={
                "channel": "hotline",
                "text": text,
                "category": category,
                "type": "help",
                "area_code": area,
                "address": f"演示地址{index}号",
                "contact": {"phone": f"138{index:08d}"},
            },
        )
        answer.raise_for_status()
        filed = answer.json()
        if filed["status"] != "classified":
            raise RuntimeError(f"filing {index} was not classified: {filed}")
        return str(filed["complaint_id"])

    async def orders(self, complaint_id: str) -> list[dict[str, Any]]:
        answer = await self.dispatch.get(
            "/work-orders",
            params={"complaint_id": complaint_id},
            headers={"X-API-Key": "dev-key-admin"},
        )
        answer.raise_for_status()
        return list(answer.json()["work_orders"])

    async def handle(self, complaint_id: str) -> int:
        """Every order signed and resolved by its unit; the number of orders."""
        found = await until(
            lambda: self.orders(complaint_id), 120, f"no work order for {complaint_id}"
        )
        for order in found:
            key = {"X-API-Key": f"dev-key-{order['responder']['id']}"}
            path = f"/work-orders/{order['work_order_id']}"
            (await self.dispatch.post(f"{path}/sign", headers=key, json={})).raise_for_status()
            if order["role"] == "lead":  # the lead contacts the resident before reporting
                note = {"note": "电话联系诉求人，约定上门时间"}
                (
                    await self.dispatch.post(f"{path}/contact", headers=key, json=note)
                ).raise_for_status()
            (
                await self.dispatch.post(
                    f"{path}/resolve", headers=key, json={"report": "已到现场处理完毕，居民认可"}
                )
            ).raise_for_status()
        return len(found)

    async def close_out(self, complaint_id: str) -> None:
        """Once intake shows it resolved: the callback (satisfied), then closed."""
        staff = {"X-API-Key": "dev-key-staff"}

        async def resolved() -> bool:
            answer = await self.intake.get(f"/complaints/{complaint_id}", headers=staff)
            return answer.status_code == 200 and answer.json()["status"] == "resolved"

        await until(resolved, 120, f"{complaint_id} not resolved at intake")
        path = f"/complaints/{complaint_id}"
        call = {"contacted": True, "resolved": True, "satisfaction": "satisfied"}
        (await self.intake.post(f"{path}/callback", headers=staff, json=call)).raise_for_status()
        (
            await self.intake.post(f"{path}/close", headers=staff, json={"reason": "回访满意"})
        ).raise_for_status()


async def live(life: Life, index: int, gate: asyncio.Semaphore) -> tuple[str, int]:
    async with gate:
        complaint_id = await life.file(index)
        orders = await life.handle(complaint_id)
        await life.close_out(complaint_id)
        return complaint_id, orders


async def settled(reporting_db: str, ids: list[str], timeout: float = 300) -> None:
    """Until reporting shows every complaint closed (the last effects have landed)."""
    conn = await asyncpg.connect(reporting_db)
    try:

        async def all_closed() -> bool:
            closed = await conn.fetchval(
                "SELECT count(*) FROM cases WHERE complaint_id = ANY($1::uuid[]) "
                "AND status = 'closed'",
                ids,
            )
            return bool(closed == len(ids))

        await until(all_closed, timeout, "reporting has not shown every complaint closed")
    finally:
        await conn.close()


def per_complaint(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], count: int
) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for name, now in after.items():
        was = before.get(name, {"bytes": 0})
        grown = now["bytes"] - was["bytes"]
        if grown <= 0:
            continue
        entry: dict[str, Any] = {"bytes_per_complaint": round(grown / count)}
        if "rows" in now:
            entry["rows_per_complaint"] = round((now["rows"] - was.get("rows", 0)) / count, 2)
        tables[name] = entry
    return tables


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="jiesu-bench-storage-"))
    stack = Stack(home / "stack")
    try:
        state = await stack.up()
        await asyncio.sleep(5)  # the seeding's echoes settle
        databases = {
            s: with_database(state["database_url"], f"{stack.db_prefix}_{s}") for s in SERVICES
        }
        before = {s: await table_sizes(url) for s, url in databases.items()}
        life = Life(state["urls"])
        gate = asyncio.Semaphore(args.concurrency)
        started = time.monotonic()
        try:
            done = await asyncio.gather(*(live(life, i, gate) for i in range(args.complaints)))
        finally:
            await life.close()
        ids = [complaint_id for complaint_id, _ in done]
        await settled(databases["reporting"], ids)
        elapsed = time.monotonic() - started
        await asyncio.sleep(5)  # notify's last deliveries are recorded
        after = {s: await table_sizes(url) for s, url in databases.items()}
    finally:
        await stack.down()
        shutil.rmtree(home, ignore_errors=True)
    count = len(ids)
    services = {s: per_complaint(before[s], after[s], count) for s in SERVICES}
    return {
        "complaints": count,
        "work_orders_per_complaint": round(sum(n for _, n in done) / count, 2),
        "life_seconds": round(elapsed, 1),
        "services": services,
        "total_bytes_per_complaint": sum(
            services[s].get("(database)", {}).get("bytes_per_complaint", 0) for s in SERVICES
        ),
    }


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"每件诉求的存储 Storage per complaint, whole life ({results['complaints']} complaints, "
        f"{results['work_orders_per_complaint']} orders each)"
    )
    for column in ("service", "table", "bytes / complaint", "rows / complaint"):
        table.add_column(column)
    for service, tables in results["services"].items():
        ordered = sorted(tables.items(), key=lambda item: -item[1]["bytes_per_complaint"])
        for name, entry in itertools.islice(ordered, 8):
            table.add_row(
                service,
                name,
                f"{entry['bytes_per_complaint']:,}",
                str(entry.get("rows_per_complaint", "")),
            )
    console.print(table)
    console.print(
        f"all four databases: {results['total_bytes_per_complaint']:,} bytes per complaint"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--complaints", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "storage.json")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    report(results)
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
