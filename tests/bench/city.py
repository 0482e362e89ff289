"""A Beijing-size city (deploy/citygen) loaded, routed and measured, against the demo city.

1. Routing in process: dispatch's `route()` over random category × place pairs of the model.
2. Reporting's queries at that size: the city and `--stories` complaints spread over its 343
   streets projected into a reporting database of the bench's own; the monthly ranking of the
   streets and the board (first page, and one street's), each timed several times.
3. The end-to-end rate (tests/bench/latency.py's `run_rate`) on a platform with the demo city,
   then on a fresh one with the generated city loaded through the admin API's CSV form: the
   load's time, its `CityModelChanged` parts, until intake and reporting follow it, each
   service's RSS after it, `GET /routing` latency, then the same rate of complaints filed into
   the generated city's places (the notify directory names the units they reach).

Run: make bench   (or python -m tests.bench.city [--quick] [--scale 1.0] [--rate 60])
Results: bench-results/city.json, and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.table import Table

from deploy.citygen.model import City, generate
from deploy.citygen.write import csv_sections, form_fields
from services.dispatch.domain.city import CityFile, CityModel, route
from services.reporting import measures
from services.reporting import store as reporting_store
from services.reporting.measures import load_config
from services.reporting.settings import ReportingSettings
from shared.db import connect, create_pool, ensure_database, with_database
from tests.bench.common import own_postgres, write_results
from tests.bench.latency import (
    REPO,
    Stack,
    Started,
    console,
    percentile,
    run_rate,
    service_pids,
    start,
    stop,
)
from tests.integration.reporting.test_reporting_replay import prepare_reporting
from tests.support import examples
from tests.support.city_stories import city_body, city_envelopes, stories
from tests.support.reporting_story import project_all

ADMIN = {"X-API-Key": "dev-key-admin"}
MONTH = datetime(2026, 11, 1, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def millis(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99), "n": len(samples)}


# --- 1. routing in process ------------------------------------------------------------------


def pairs(city: City, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    places = [a["code"] for a in city.areas if a["level"] in ("community", "grid", "building")]
    codes = [c["code"] for c in city.categories]
    return [(rng.choice(codes), rng.choice(places)) for _ in range(count)]


def routing_in_process(body: dict[str, Any], city: City, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    model = CityModel(CityFile.model_validate(body), 1)
    built_s = time.perf_counter() - started
    samples = []
    for category, area in pairs(city, count, seed=7):
        began = time.perf_counter()
        route(model, category, area)
        samples.append((time.perf_counter() - began) * 1000)
    return {"model_built_s": built_s, **millis(samples)}


# --- 2. reporting's queries at that size ----------------------------------------------------


async def timed(call: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    return millis(samples)


async def reporting_queries(
    body: dict[str, Any], city: City, count: int, repeats: int
) -> dict[str, Any]:
    async with own_postgres("city") as (server_url, _):
        url = with_database(server_url, "bench_city_reporting")
        await ensure_database(url)
        pool = await create_pool(url, max_size=4)
        try:
            await prepare_reporting(pool)
            told = stories(city, count, MONTH)
            envelopes = [e for s in told for e in s.envelopes]
            async with pool.acquire() as conn:
                began = time.perf_counter()
                await project_all(conn, city_envelopes(body, MONTH))
                city_s = time.perf_counter() - began
                began = time.perf_counter()
                await project_all(conn, envelopes)
                cases_s = time.perf_counter() - began
                config = load_config(ReportingSettings().measures_file)
                street = next(a["code"] for a in city.areas if a["level"] == "street")
                ranking = await measures.ranking(conn, config, "streets", "2026-11", AS_OF)
                return {
                    "cases": count,
                    "events": len(envelopes),
                    "city_projected_s": city_s,
                    "cases_projected_per_s": len(envelopes) / cases_s,
                    "streets_ranked": len(ranking["entries"]),
                    "ranking_streets": await timed(
                        lambda: measures.ranking(conn, config, "streets", "2026-11", AS_OF),
                        repeats,
                    ),
                    "ranking_communities": await timed(
                        lambda: measures.ranking(conn, config, "communities", "2026-11", AS_OF),
                        repeats,
                    )
                    if "communities" in config.rankings.groups()
                    else None,
                    "board_first_page": await timed(
                        lambda: reporting_store.board(
                            conn, reporting_store.BoardFilter(), AS_OF, 50, 0
                        ),
                        repeats,
                    ),
                    "board_one_street": await timed(
                        lambda: reporting_store.board(
                            conn, reporting_store.BoardFilter(area=street), AS_OF, 50, 0
                        ),
                        repeats,
                    ),
                }
        finally:
            await pool.close()


# --- 3. the platform: load, follow, route, file ---------------------------------------------


def directory(city: City, places: list[str]) -> list[dict[str, str]]:
    """The units complaints at `places` can reach (every unit of a district or street, and
    those serving the places' communities), each with a demo number for the local gateways."""
    communities = {place[:12] for place in places}
    reached = [
        unit
        for unit in city.responders
        if any(len(a) == 12 and a.endswith("000") for a in unit["areas"])  # district or street
        or any(a[:12] in communities for a in unit["areas"])
    ]
    return [
        {"id": unit["id"], "name": unit["name"], "sms": f"139{index:08d}"}
        for index, unit in enumerate(reached)
    ]


def sample_places(city: City, communities: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    chosen = set(
        rng.sample([a["code"] for a in city.areas if a["level"] == "community"], communities)
    )
    return [
        a["code"]
        for a in city.areas
        if a["level"] in ("grid", "building") and a["code"][:12] in chosen
    ]


def requests_into(city: City, places: list[str]) -> Callable[[int], dict[str, Any]]:
    """A POST /complaints body filed at one of `places` under one of the city's categories."""
    rng = random.Random(11)
    names = {a["code"]: a["name"] for a in city.areas}
    categories = city.categories

    def request(index: int) -> dict[str, Any]:
        place, category = rng.choice(places), rng.choice(categories)
        body = examples.complaint_request(
            index,
            area_code=place,
            category=category["code"],
            type="help",
            text=f"{names[place]}{category['name']}，请尽快处理",
            address=f"北京市{names[place]}",
        )
        body.pop("attributes", None)
        return body

    return request


async def load(started: Started, city: City) -> dict[str, Any]:
    """The city through the CSV form; then until intake and reporting have followed it."""
    urls, state = started.state["urls"], started.state
    files = {
        name: (f"{name}.csv", text.encode(), "text/csv")
        for name, text in csv_sections(city).items()
    }
    size = sum(len(f[1]) for f in files.values())
    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=1800) as client:
        answer = await client.put(
            urls["dispatch"] + "/admin/city",
            params={"reason": "citygen"},
            headers=ADMIN,
            data=form_fields(city),
            files=files,
        )
    put_s = time.perf_counter() - began
    if answer.status_code != 200:
        raise SystemExit(f"load refused: {answer.status_code} {answer.text[:2000]}")
    loaded = answer.json()
    prefix = started.platform.db_prefix
    dispatch = await connect(with_database(state["database_url"], f"{prefix}_dispatch"))
    parts = await dispatch.fetchval(
        "SELECT count(*) FROM events WHERE type = 'CityModelChanged' "
        "AND (data->>'catalogue_version')::int = $1",
        loaded["catalogue_version"],
    )
    largest = await dispatch.fetchval(
        "SELECT max(octet_length(data::text)) FROM events WHERE type = 'CityModelChanged'"
    )
    await dispatch.close()
    intake = await connect(with_database(state["database_url"], f"{prefix}_intake"))
    reporting = await connect(with_database(state["database_url"], f"{prefix}_reporting"))
    followed: dict[str, float] = {}
    try:
        while len(followed) < 2 and time.perf_counter() - began < 1800:
            if (
                "intake_s" not in followed
                and (
                    await intake.fetchval(
                        "SELECT max(version) FROM catalogues WHERE checksum <> ''"
                    )
                    or 0
                )
                >= loaded["catalogue_version"]
            ):
                followed["intake_s"] = time.perf_counter() - began
            if "reporting_s" not in followed and await reporting.fetchval(
                "SELECT count(*) FROM areas WHERE NOT removed"
            ) >= len(city.areas):
                followed["reporting_s"] = time.perf_counter() - began
            await asyncio.sleep(0.5)
    finally:
        await intake.close()
        await reporting.close()
    return {
        "request_mb": size / 1e6,
        "put_s": put_s,
        "changes": loaded["changes"],
        "parts": parts,
        "largest_part_kb": largest / 1024,
        **followed,
    }


def rss_mib(started: Started) -> dict[str, float]:
    return {
        name: psutil.Process(pid).memory_info().rss / 2**20
        for pid, name in service_pids(started.probes.meter).items()
    }


async def routing_over_http(url: str, city: City, count: int) -> dict[str, float]:
    samples = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for category, area in pairs(city, count, seed=8):
            began = time.perf_counter()
            answer = await client.get("/routing", params={"area_code": area, "category": category})
            samples.append((time.perf_counter() - began) * 1000)
            answer.raise_for_status()
    return millis(samples)


async def platform_run(
    tmp: Path, label: str, args: argparse.Namespace, city: City | None
) -> dict[str, Any]:
    started = await start(Stack(tmp / label), args)
    try:
        result: dict[str, Any] = {"rss_mib_before": rss_mib(started)}
        request = examples.complaint_request
        if city is not None:
            result["load"] = await load(started, city)
            result["rss_mib_after_load"] = rss_mib(started)
            places = sample_places(city, args.communities, seed=5)
            async with httpx.AsyncClient(timeout=60) as client:
                answer = await client.put(
                    started.state["urls"]["notify"] + "/directory",
                    headers=ADMIN,
                    json=directory(city, places),
                )
                answer.raise_for_status()
            result["routing_http"] = await routing_over_http(
                started.state["urls"]["dispatch"], city, args.routing_samples
            )
            request = requests_into(city, places)
            await asyncio.sleep(args.settle_seconds)
        console.print(f"{label}: {args.rate}/s for {args.seconds:g} s …")
        run = await run_rate(
            started.probes, args.rate, args.seconds, f"c{uuid.uuid4().hex[:6]}", request
        )
        keep = ("sustained_per_s", "completed", "incomplete", "errors", "p50_ms", "p99_ms")
        result["rate"] = {key: run[key] for key in keep}
        result["rss_mib_after_run"] = rss_mib(started)
        return result
    finally:
        await stop(started)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    city = generate(args.seed, args.scale)
    results: dict[str, Any] = {"shape": city.shape(), "generated_s": time.perf_counter() - began}
    body = city_body(city)
    console.print(f"generated: {json.dumps(results['shape'], ensure_ascii=False)}")
    results["routing_in_process"] = routing_in_process(body, city, args.routing_samples * 10)
    console.print("reporting's queries …")
    results["reporting"] = await reporting_queries(body, city, args.stories, args.repeats)
    del body
    with tempfile.TemporaryDirectory(prefix="jiesu-bench-city-") as tmp:
        demo = await platform_run(Path(tmp), "demo", args, None)
        generated = await platform_run(Path(tmp), "generated", args, city)
    results["demo"], results["generated"] = demo, generated
    demo_rate = demo["rate"]["sustained_per_s"]
    results["rate_ratio"] = generated["rate"]["sustained_per_s"] / demo_rate if demo_rate else None
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(title="北京规模的城市 A Beijing-size city")
    table.add_column("measure")
    table.add_column("value", justify="right")
    shape, gen = results["shape"], results["generated"]
    rows = [
        (
            "streets / communities / grids",
            f"{shape['street']} / {shape['community']} / {shape['grid']}",
        ),
        (
            "areas / responders / rules",
            f"{shape['areas']} / {shape['responders']} / {shape['catalogue']}",
        ),
        ("CSV request (MB)", f"{gen['load']['request_mb']:.1f}"),
        ("load: PUT (s)", f"{gen['load']['put_s']:.1f}"),
        ("load: CityModelChanged parts", str(gen["load"]["parts"])),
        ("load: intake followed (s)", f"{gen['load'].get('intake_s', float('nan')):.1f}"),
        ("load: reporting followed (s)", f"{gen['load'].get('reporting_s', float('nan')):.1f}"),
        *(
            (f"RSS after load: {name} (MiB)", f"{mib:.0f}")
            for name, mib in sorted(gen["rss_mib_after_load"].items())
        ),
        (
            "route() p50 / p99 (ms)",
            "{p50_ms:.3f} / {p99_ms:.3f}".format(**results["routing_in_process"]),
        ),
        (
            "GET /routing p50 / p99 (ms)",
            "{p50_ms:.1f} / {p99_ms:.1f}".format(**gen["routing_http"]),
        ),
    ]
    rep = results["reporting"]
    for name in ("ranking_streets", "ranking_communities", "board_first_page", "board_one_street"):
        if rep.get(name):
            rows.append(
                (
                    f"{name} p50 / p99 (ms), {rep['cases']} cases",
                    "{p50_ms:.0f} / {p99_ms:.0f}".format(**rep[name]),
                )
            )
    rows += [
        ("demo city: sustained (/s)", f"{results['demo']['rate']['sustained_per_s']:.1f}"),
        ("generated city: sustained (/s)", f"{gen['rate']['sustained_per_s']:.1f}"),
        ("ratio (goal ≥ 0.9)", f"{results['rate_ratio']:.2f}" if results["rate_ratio"] else "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=60.0, help="complaints a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--stories", type=int, default=35_000, help="cases for reporting's queries")
    parser.add_argument("--repeats", type=int, default=10, help="runs of each query")
    parser.add_argument("--routing-samples", type=int, default=2000)
    parser.add_argument("--communities", type=int, default=100, help="where complaints are filed")
    parser.add_argument("--settle-seconds", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="scale 0.1, a short run")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "city.json")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.seconds, args.stories = min(args.scale, 0.1), 10.0, 2000
        args.repeats, args.routing_samples, args.communities = 5, 300, 20
    results = asyncio.run(main_async(args))
    results["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results["machine"] = {"cpus": os.cpu_count()}
    report(results)
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
