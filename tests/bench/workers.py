"""Several workers of a service: the rate at which 1, 2 and 3 workers drain a backlog, the
scaling ratio, and the pause a rebalance makes (a worker joining, killed, stopped).

The backlog is real: the whole platform (the local runner) is run once, complaints filed over
HTTP until every case is complete, and the three event topics read. For each consuming
service (dispatch, notify, reporting) and each worker count, every run starts alike: a copy of
a database holding only the service's schema and seed (the demo city in dispatch, the
directory and a subscription in notify), an empty broker; the workers are started (each its
own process and port, one consumer group, one database), the group left to settle, then the
service's whole backlog produced at once. The drain lasts from the first batch handled (inbox
rows) until the last (the group's lag is 0). The recorded platform stays up, idle, for
notify's contact look-ups and gateways.

The rebalance pause: two workers consume a steady stream of the same records; a third is
started (join), one is SIGKILLed (leave, noticed at the session timeout), one is SIGTERMed
(clean leave). From the inbox rows' handled times: the longest time no batch was handled by
any worker after each event, and the longest a single partition went unread, against the
same figures in a quiet window before.

All of it shares one 2-core machine: Postgres, the broker, the workers and this harness. A
second worker can use the second core; a third has no core of its own, so the ratio beyond
two workers is bounded by the CPU, not by the design.

Run: make bench   (or python -m tests.bench.workers --complaints 2000 --repeats 3;
a short run: --quick)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from rich.console import Console
from rich.table import Table

from shared.topics import CONSUMES
from tests.bench.backlog import Record, RecordingPlatform, interleaved, produce_all, stream
from tests.bench.common import own_postgres, write_results
from tests.bench.pauses import longest_gap, longest_stall, windows
from tests.bench.worker_group import (
    WorkerGroup,
    committed_all,
    copy_of,
    drained,
    fresh_broker,
    handled_times,
    template_database,
)

REPO = Path(__file__).resolve().parents[2]
console = Console(width=120)
SESSION_TIMEOUT_S = 6.0  # KAFKA_SESSION_TIMEOUT_S's default, which the workers run with
CPU_NOTE = (
    "2 cores shared by Postgres, the broker, the workers and the harness: a third worker has "
    "no core of its own, so scaling past ~2 workers is bounded by the CPU here."
)


def backlog_of(service: str, records: list[Record]) -> list[Record]:
    return [r for r in records if r.topic in CONSUMES[service]]


def ends_of(records: list[Record]) -> dict[TopicPartition, int]:
    """The end offset of each partition on a fresh broker the records were produced to."""
    counts = Counter((r.topic, r.partition) for r in records)
    return {TopicPartition(topic, p or 0): n for (topic, p), n in counts.items()}


async def drain_run(
    service: str, workers: int, template: str, backlog: list[Record], home: Path,
    env: dict[str, str], complaints: int, settle_s: float = 4.0,
) -> dict[str, Any]:  # fmt: skip
    """`workers` workers, settled in their group, drain the service's whole backlog."""
    async with fresh_broker(home) as bootstrap, copy_of(template) as database:
        group = WorkerGroup(service, database, bootstrap, home, env)
        for _ in range(workers):
            group.add()
        conn = await asyncpg.connect(database)
        try:
            await group.until_ready()
            await group.until_settled(settle_s)
            ends = ends_of(backlog)
            cpu_before = group.cpu_s()
            produced_at = time.time()
            polling = asyncio.create_task(
                drained(conn, lambda: committed_all(bootstrap, service, ends))
            )
            produce_s = await produce_all(bootstrap, backlog)
            handled, done_at = await polling
            cpu_s = group.cpu_s() - cpu_before
            assert len(group.alive()) == workers, "a worker died during the drain"
            first = (await conn.fetchval("SELECT min(handled_at) FROM inbox")).timestamp()
        finally:
            await conn.close()
            await group.stop()
    seconds = done_at - first
    return {
        "workers": workers,
        "records": len(backlog),
        "handled": handled,
        "seconds": seconds,
        "events_per_s": handled / seconds,
        "records_per_s": len(backlog) / seconds,
        "complaints_per_s": complaints / seconds,
        "since_produced_s": done_at - produced_at,
        "produce_s": produce_s,
        "worker_cpu_ms_per_event": cpu_s * 1000 / handled,
    }


async def pause_run(
    service: str, template: str, backlog: list[Record], home: Path, env: dict[str, str],
    per_s: float, quiet_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Two workers on a steady stream; then one joins, one is killed, one is stopped."""
    async with fresh_broker(home) as bootstrap, copy_of(template) as database:
        group = WorkerGroup(service, database, bootstrap, home, env)
        for _ in range(2):
            group.add()
        conn = await asyncpg.connect(database)
        stop = asyncio.Event()
        try:
            await group.until_ready()
            await group.until_settled()
            ordered = interleaved(backlog)
            streaming = asyncio.create_task(stream(bootstrap, ordered, per_s, stop))
            await asyncio.sleep(quiet_s)
            events: list[tuple[str, float]] = []
            events.append(("join", time.time()))
            joined = group.add()
            await group.until_ready()
            join_ready_s = time.time() - events[-1][1]
            await group.until_settled()
            await asyncio.sleep(quiet_s)
            events.append(("kill", time.time()))
            group.workers[0].kill()
            await asyncio.sleep(SESSION_TIMEOUT_S + 2)
            await group.until_settled()
            await asyncio.sleep(quiet_s)
            events.append(("term", time.time()))
            await group.workers[1].stop()
            await group.until_settled()
            await asyncio.sleep(quiet_s)
            end = time.time()
            stop.set()
            sent = await streaming
            ends = ends_of(ordered[:sent])
            await drained(conn, lambda: committed_all(bootstrap, service, ends))
            rows = await handled_times(conn)
            assert group.alive() == [joined], "the joined worker is the one left"
        finally:
            stop.set()
            await conn.close()
            await group.stop()
    partition_of = {r.event_id: (r.topic, r.partition) for r in ordered[:sent]}
    times = [at.timestamp() for _, at in rows]
    by_partition: dict[Any, list[float]] = {}
    for event_id, at in rows:
        by_partition.setdefault(partition_of[event_id], []).append(at.timestamp())
    return {
        "stream_per_s": per_s,
        "sent": sent,
        "handled": len(rows),
        "join_ready_s": join_ready_s,
        **{
            name: {
                "group_pause_s": longest_gap(times, start, stop_at),
                "partition_stall_s": longest_stall(by_partition, start, stop_at),
            }
            for name, start, stop_at in windows(events, end, quiet_s)
        },
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"note": CPU_NOTE, "load_at_start": load(), "cores": os.cpu_count()}
    async with own_postgres("workers") as (server_url, home):
        platform = RecordingPlatform(home / "platform")
        try:
            console.print(f"recording: {args.complaints} complaints through the platform …")
            records = await platform.record(args.complaints, args.file_rate)
            complaints = platform.complaints
            results.update(
                complaints=complaints,
                records_by_topic=dict(Counter(r.topic for r in records)),
                drain={},
                pause={},
            )
            console.print(f"  {len(records):,} records: {results['records_by_topic']}")
            env = platform.worker_env()
            templates: dict[str, str] = {}
            for service in dict.fromkeys([*args.services, *args.pause_services]):
                templates[service] = await template_database(
                    service, server_url, home, env, platform.sink_url
                )
            for service in args.services:
                backlog = backlog_of(service, records)
                runs: dict[int, list[dict[str, Any]]] = {w: [] for w in args.workers}
                for repeat in range(args.repeats):
                    for workers in args.workers:
                        run = await drain_run(
                            service, workers, templates[service], backlog, home, env, complaints
                        )
                        runs[workers].append(run)
                        console.print(
                            f"{service}, {workers} worker(s), run {repeat + 1}/{args.repeats}: "
                            f"{run['handled']:,} events in {run['seconds']:.2f} s, "
                            f"{run['events_per_s']:,.0f}/s (load {load()})"
                        )
                results["drain"][service] = summarize_drain(runs)
            for service in args.pause_services:
                backlog = backlog_of(service, records)
                per_s = min(args.stream_rate, len(backlog) / (6 * args.quiet_seconds + 20))
                pauses = []
                for repeat in range(args.repeats):
                    run = await pause_run(
                        service, templates[service], backlog, home, env, per_s, args.quiet_seconds
                    )
                    pauses.append(run)
                    console.print(
                        f"{service} rebalance, run {repeat + 1}/{args.repeats}: "
                        + ", ".join(
                            f"{k} {run[k]['group_pause_s']:.2f} s"
                            for k in ("baseline", "join", "kill", "term")
                        )
                    )
                results["pause"][service] = summarize_pauses(pauses)
        finally:
            await platform.down()
    results["load_at_end"] = load()
    return results


def summarize_drain(runs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"runs": {str(w): r for w, r in runs.items()}}
    one = statistics.median(r["events_per_s"] for r in runs[min(runs)])
    for workers, rs in runs.items():
        summary[str(workers)] = {
            key: spread([r[key] for r in rs])
            for key in (
                "events_per_s", "complaints_per_s", "seconds", "worker_cpu_ms_per_event",
                "produce_s",
            )
        }  # fmt: skip
        summary[str(workers)]["ratio_to_1"] = summary[str(workers)]["events_per_s"]["median"] / one
        # Each repeat ran 1, 2, 3 workers one after the other: a ratio within a repeat shares
        # the machine's mood of those minutes, which the medians of separate runs do not.
        summary[str(workers)]["pair_ratios_to_1"] = spread(
            [
                r["events_per_s"] / b["events_per_s"]
                for r, b in zip(rs, runs[min(runs)], strict=True)
            ]
        )
    return summary


def summarize_pauses(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"runs": runs, "stream_per_s": runs[0]["stream_per_s"]}
    for kind in ("baseline", "join", "kill", "term"):
        summary[kind] = {
            key: spread([r[kind][key] for r in runs])
            for key in ("group_pause_s", "partition_stall_s")
        }
    summary["join_ready_s"] = spread([r["join_ready_s"] for r in runs])
    return summary


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    table = Table(
        title=f"drain a backlog of {results['complaints']:,} complaints' records, by workers "
        f"(medians of {args.repeats}, min–max)"
    )
    columns = ("service", "workers", "events/s", "complaints/s", "× 1 worker", "× 1, pairs")
    for column in (*columns, "CPU ms/event"):
        table.add_column(column, justify="right")
    for service, data in results["drain"].items():
        for workers in args.workers:
            row = data[str(workers)]
            rate = row["events_per_s"]
            table.add_row(
                service,
                str(workers),
                f"{rate['median']:,.0f} ({rate['min']:,.0f}–{rate['max']:,.0f})",
                f"{row['complaints_per_s']['median']:,.0f}",
                f"{row['ratio_to_1']:.2f}",
                f"{row['pair_ratios_to_1']['median']:.2f}",
                f"{row['worker_cpu_ms_per_event']['median']:.2f}",
            )
    console.print(table)
    pauses = Table(
        title=f"rebalance pause, 2 workers on a steady stream (medians of {args.repeats}, min–max)"
    )
    for column in ("service", "event", "nothing handled, s", "one partition unread, s"):
        pauses.add_column(column, justify="right")
    labels = {
        "baseline": "none (quiet window)",
        "join": "a 3rd joins",
        "kill": "one SIGKILLed",
        "term": "one SIGTERMed",
    }
    for service, data in results["pause"].items():
        for kind, label in labels.items():
            group, stall = data[kind]["group_pause_s"], data[kind]["partition_stall_s"]
            pauses.add_row(
                f"{service} ({data['stream_per_s']:.0f} records/s)",
                label,
                f"{group['median']:.2f} ({group['min']:.2f}–{group['max']:.2f})",
                f"{stall['median']:.2f} ({stall['min']:.2f}–{stall['max']:.2f})",
            )
    console.print(pauses)
    console.print(f"NB: {CPU_NOTE}")
    console.print(
        f"load average at start {results['load_at_start']}, at end {results['load_at_end']}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--file-rate", type=float, default=40.0, help="complaints/s recorded")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2,3", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument(
        "--services", default="dispatch,notify,reporting", type=lambda s: s.split(",")
    )
    parser.add_argument(
        "--pause-services", default="dispatch,notify", type=lambda s: [x for x in s.split(",") if x]
    )
    parser.add_argument(
        "--stream-rate", type=float, default=100.0, help="records/s in the pause runs"
    )
    parser.add_argument("--quiet-seconds", type=float, default=6.0)
    parser.add_argument("--quick", action="store_true", help="a short run: small sizes, one repeat")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "workers.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.complaints, args.repeats, args.quiet_seconds = 200, 1, 4.0
        args.pause_services = args.pause_services[:1]
    return args


def main() -> None:
    args = parse_args()
    results = asyncio.run(main_async(args))
    report(results, args)
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
