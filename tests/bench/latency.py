"""End-to-end latency and sustained rate of the skeleton chain, against the null pipeline.

Starts the platform with the local runner (durable embedded Postgres, embedded broker, or
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS), then for each rate files complaints over HTTP on a
fixed schedule (open loop) for a fixed time, and measures for every complaint the time from
submitting it to the moment the case read model shows its work orders and every notification
(the projection time reporting records). Baselines measured in the same run: one broker hop
(produce → consume on the same broker) and the intake POST itself.

Then the same for the null pipeline (tests.bench.null: the same topology, events and records
per complaint, with handlers that do no domain work), so that the rate and the CPU per
complaint can be read as real ÷ null: what the services' own work costs beyond the machinery.
The two never run at once: the real platform is measured at every rate and stopped, then the
null pipeline is (on a Postgres and broker of its own), so neither measurement shares the
cores with the other's polls at rest. Each run starts on a platform of its own (new
databases, an empty broker: the embedded broker's CPU per record grows with the records it
holds); `--one-platform` runs them all on one, to let growth show. `--no-null` leaves the
null pipeline out.

Run: make bench   (or python -m tests.bench.latency --rates 10,100,150 --seconds 60 --repeats 3)
Observability's cost: the same with `--telemetry off` (no traces), compared as a ratio.
At rest only: python -m tests.bench.latency --idle-only --no-null --idle-seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.table import Table

from deploy.local.processes import free_port, free_ports, port_is_free
from deploy.local.runner import SERVICES
from shared.db import with_database
from shared.kafka import ensure_topics
from shared.topics import (
    COMPLAINT_EVENTS,
    DISPATCH_EVENTS,
    EVENT_TOPICS,
    NOTIFICATION_EVENTS,
    TopicSpec,
)
from tests.bench.common import write_results
from tests.bench.loadgen import KeepAliveClient, on_schedule
from tests.bench.null import NullStack
from tests.bench.profile import Profiler
from tests.support import examples

REPO = Path(__file__).resolve().parents[2]
console = Console()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def role(process: psutil.Process, db_prefix: str) -> str:
    """Which part of the platform a process is: a service, the gateways, the broker, a Postgres
    backend by the service whose database it serves, or the rest of Postgres."""
    try:
        argv = process.cmdline()
    except psutil.Error:
        return "gone"
    line = " ".join(argv)
    if process.name() == "postgres" or line.startswith("postgres"):
        for word in line.split():
            if word.startswith(f"{db_prefix}_"):
                return f"pg {word.removeprefix(f'{db_prefix}_')}"
        return "pg server"
    for service in SERVICES:
        if f"services.{service}" in line or f"tests.bench.null serve {service}" in line:
            return service
    if "webhook_sink" in line:
        return "gateways"
    if "tansu" in line or "calfkit" in line:
        return "broker"
    if "deploy.local" in line:
        return "runner"
    return "other"


class CpuMeter:
    """CPU seconds (user + system) of every process of the platform, read from the kernel's
    own accounting, so that a window's CPU can be shared out per complaint and per part."""

    def __init__(self, root_pid: int, db_prefix: str) -> None:
        self.root = psutil.Process(root_pid)
        self.db_prefix = db_prefix
        self.roles: dict[int, str] = {}

    def sample(self) -> dict[int, float]:
        seconds: dict[int, float] = {}
        for process in [*self.root.children(recursive=True), psutil.Process()]:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            if process.pid not in self.roles:
                self.roles[process.pid] = (
                    "harness" if process.pid == os.getpid() else role(process, self.db_prefix)
                )
            seconds[process.pid] = times.user + times.system
        return seconds

    async def watch_memory(self, peaks: dict[str, float], every_s: float = 1.0) -> None:
        """The highest resident set (MiB) each service's process reaches, until cancelled."""
        while True:
            for process in self.root.children(recursive=True):
                name = self.roles.get(process.pid) or role(process, self.db_prefix)
                if name not in SERVICES:
                    continue
                try:
                    rss = process.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                peaks[name] = max(peaks.get(name, 0.0), rss)
            await asyncio.sleep(every_s)

    def by_role(self, before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
        spent: dict[str, float] = {}
        for pid, total in after.items():
            name = self.roles.get(pid, "other")
            spent[name] = spent.get(name, 0.0) + total - before.get(pid, 0.0)
        return spent


async def commits(conn: asyncpg.Connection, db_prefix: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT datname, xact_commit FROM pg_stat_database WHERE datname LIKE $1",
        f"{db_prefix}_%",
    )
    return {r["datname"].removeprefix(f"{db_prefix}_"): r["xact_commit"] for r in rows}


class Statements:
    """Statements per complaint by database and the most frequent ones, from pg_stat_statements
    (the embedded server preloads it; elsewhere the counts are left out when it is missing)."""

    def __init__(self, conn: asyncpg.Connection | None, db_prefix: str) -> None:
        self.conn = conn
        self.db_prefix = db_prefix

    @classmethod
    async def open(cls, server_url: str, db_prefix: str) -> Statements:
        conn = await asyncpg.connect(with_database(server_url, "postgres"))
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        except asyncpg.PostgresError as error:
            console.print(f"statement counts left out: {error}")
            await conn.close()
            return cls(None, db_prefix)
        return cls(conn, db_prefix)

    async def reset(self) -> None:
        if self.conn is not None:
            await self.conn.execute("SELECT pg_stat_statements_reset()")

    async def per_complaint(self, done: int) -> dict[str, Any]:
        if self.conn is None:
            return {}
        rows = await self.conn.fetch(
            """
            SELECT d.datname, s.query, s.calls
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname LIKE $1
            """,
            f"{self.db_prefix}_%",
        )
        by_db: dict[str, float] = {}
        top: list[tuple[float, str, str]] = []
        for row in rows:
            query = " ".join(row["query"].split())
            if "pg_stat_database" in query or "AS shown_at" in query:
                continue  # the bench's own queries (the completion polls name their time so)
            db = row["datname"].removeprefix(f"{self.db_prefix}_")
            calls = row["calls"] / done
            by_db[db] = by_db.get(db, 0.0) + calls
            top.append((calls, db, query[:110]))
        top.sort(reverse=True)
        return {
            "by_database": by_db,
            "top": [{"calls": c, "database": d, "query": q} for c, d, q in top[:40]],
        }

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


# Which consumer groups read each topic (intake mirrors dispatch; dispatch routes complaints;
# notify hears both; reporting projects all three).
READERS = {
    COMPLAINT_EVENTS: ("dispatch", "notify", "reporting"),
    DISPATCH_EVENTS: ("intake", "notify", "reporting"),
    NOTIFICATION_EVENTS: ("reporting",),
}


async def topic_ends(bootstrap: str) -> dict[str, int]:
    """How many records each event topic holds (the sum of its partitions' end offsets)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        await reader.topics()  # metadata of every topic, for partitions_for_topic
        ends: dict[str, int] = {}
        for topic in EVENT_TOPICS:
            partitions = [
                TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()
            ]
            offsets = await reader.end_offsets(partitions) if partitions else {}
            ends[topic] = sum(offsets.values())
        return ends
    finally:
        await reader.stop()


def records_per_complaint(
    before: dict[str, int], after: dict[str, int], done: int
) -> dict[str, float]:
    """Records published per complaint by topic, and records consumed (each topic's records
    times the groups that read it)."""
    published = {topic: (after[topic] - before.get(topic, 0)) / done for topic in after}
    consumed = sum(n * len(READERS.get(topic, ())) for topic, n in published.items())
    return {**published, "consumed": consumed}


def stack_ports() -> dict[str, int]:
    """Free ports for a stack, by the runner's option names: four in a row for the services,
    then the gateways', the SMTP server's, the broker's and Postgres's."""
    base = free_port()
    while not all(port_is_free(base + i) for i in range(4)):
        base = free_port()
    sink, smtp, broker, pg = free_ports(4, avoid=range(base, base + 4))
    return {
        "port_base": base,
        "sink_port": sink,
        "smtp_port": smtp,
        "broker_port": broker,
        "pg_port": pg,
    }


def log_tails(state_dir: Path, lines: int = 30) -> str:
    """What each process of a stack said last: its state directory goes with the bench."""
    logs = [state_dir / "runner.log", *sorted((state_dir / "logs").glob("*.log"))]
    return "\n".join(
        f"--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        for log in logs
        if log.exists()
    )


# What `--telemetry off` sets in the platform's environment.
# Traces off, and the per-request HTTP metrics off (the per-batch gauges and the scrape-time
# readings stay: the bench never scrapes, and a gauge set per batch costs under a microsecond).
TELEMETRY_OFF = {"OTEL_SDK_DISABLED": "true", "HTTP_METRICS": "false"}


class Platform(Protocol):
    """What the bench starts, measures and stops: the real platform or the null pipeline."""

    label: str
    state_dir: Path
    db_prefix: str  # its databases are <prefix>_<service>

    @property
    def root_pid(self) -> int:
        """The process every process of the platform descends from."""
        ...

    async def up(self) -> dict[str, Any]:
        """Start; the runner's state (urls, database_url, kafka_bootstrap_servers)."""
        ...

    async def down(self) -> None: ...

    async def complete(
        self, conn: asyncpg.Connection, waiting: Mapping[str, int | None]
    ) -> list[asyncpg.Record]:
        """Of the waiting complaints (id → the events expected, where the platform says), those
        complete, with the time each was shown (`shown_at`), from reporting's database."""
        ...


class Stack:
    """The real platform, run by the local runner in a process of its own."""

    label = "real"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.db_prefix = f"bench_{uuid.uuid4().hex[:6]}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def root_pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    async def up(self) -> dict[str, Any]:
        self._launch()
        assert self.process is not None
        deadline = time.monotonic() + 180
        state_file = self.state_dir / "stack.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the runner exited with {self.process.returncode}")
            if state_file.exists():
                state: dict[str, Any] = json.loads(state_file.read_text())
                if state.get("ready"):
                    return state
            await asyncio.sleep(0.3)
        raise RuntimeError("the platform did not start in 180 s")

    def _launch(self) -> None:
        argv = [sys.executable, "-m", "deploy.local", "--state-dir", str(self.state_dir), "up"]
        for option, port in stack_ports().items():
            argv += [f"--{option.replace('_', '-')}", str(port)]
        argv += ["--db-prefix", self.db_prefix]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.state_dir / "runner.log", "wb")  # noqa: SIM115 - lives as long as the stack
        self.process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    async def down(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.process.wait, 90)

    async def complete(
        self, conn: asyncpg.Connection, waiting: Mapping[str, int | None]
    ) -> list[asyncpg.Record]:
        return await conn.fetch(COMPLETE_CASES, [uuid.UUID(i) for i in waiting])


async def broker_hop_ms(bootstrap: str, samples: int = 200) -> list[float]:
    """Produce one record and wait for a consumer to see it, one at a time."""
    topic = f"bench.hop.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest")
    await producer.start()
    await consumer.start()
    try:
        await asyncio.sleep(1.0)
        await consumer.seek_to_end()
        results = []
        for _ in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, b"x")
            await consumer.getone()
            results.append((time.perf_counter() - started) * 1000)
        return results
    finally:
        await producer.stop()
        await consumer.stop()


@dataclass(frozen=True)
class Probes:
    """What a run reads the platform with besides its clock."""

    urls: dict[str, str]
    reporting_db: str
    bootstrap: str
    meter: CpuMeter
    counts: Statements
    platform: Platform


async def run_rate(
    probes: Probes,
    rate: float,
    seconds: float,
    marker: str,
    request: Callable[[int], dict[str, Any]] = examples.complaint_request,
) -> dict[str, Any]:
    """Complaints filed at `rate` for `seconds`, each body `request(index)` (the demo city's
    situations unless given: tests/bench/city.py files into a generated city)."""
    conn = await asyncpg.connect(probes.reporting_db)
    try:
        return await _run_rate(conn, probes, rate, seconds, marker, request)
    finally:
        await conn.close()


async def _run_rate(
    conn: asyncpg.Connection,
    probes: Probes,
    rate: float,
    seconds: float,
    marker: str,
    request: Callable[[int], dict[str, Any]],
) -> dict[str, Any]:
    meter, counts, bootstrap = probes.meter, probes.counts, probes.bootstrap
    total = int(rate * seconds)
    # The bench's own queries (the completion polls below) run on reporting's database: their
    # backend counts as the harness, and their commits are taken off reporting's.
    meter.roles[conn.get_server_pid()] = "harness"
    await counts.reset()
    ends_before = await topic_ends(bootstrap)
    cpu_before, commits_before = meter.sample(), await commits(conn, meter.db_prefix)
    peak_rss: dict[str, float] = {}
    watching = asyncio.create_task(meter.watch_memory(peak_rss))
    own_commits = 1
    window_start = time.monotonic()
    submitted: list[dict[str, Any]] = []
    post_ms: list[float] = []
    errors = 0
    client = KeepAliveClient(probes.urls["intake"])
    try:

        async def submit(index: int) -> None:
            nonlocal errors
            body = request(index)
            body["address"] += f"（{marker}-{index}）"
            sent_at = time.time()
            started = time.perf_counter()
            status, answer = await client.post_json(
                "/complaints",
                body,
                {"Idempotency-Key": f"{marker}-{index}", **examples.STAFF_KEY},
            )
            post_ms.append((time.perf_counter() - started) * 1000)
            if status != 201:
                errors += 1
                return
            submitted.append(
                {
                    "id": answer["complaint_id"],
                    "sent_at": sent_at,
                    "index": index,
                    "events": answer.get("events"),  # what the null pipeline says it will send
                }
            )

        tasks = [asyncio.create_task(submit(i)) async for i in on_schedule(total, rate)]
        await asyncio.gather(*tasks)
    finally:
        await client.aclose()

    # Completion is read from reporting's own tables once the load is over, two queries a
    # second: polling the API during the load would compete for the same two cores. The
    # latency does not depend on when we look: it ends at reporting's projection time.
    latencies: dict[str, float] = {}
    completed_at: dict[str, float] = {}
    sent = {s["id"]: s["sent_at"] for s in submitted}
    expected = {s["id"]: s["events"] for s in submitted}
    deadline = time.monotonic() + 120
    while len(latencies) < len(sent) and time.monotonic() < deadline:
        waiting = {i: expected[i] for i in sent if i not in latencies}
        own_commits += 1
        for row in await probes.platform.complete(conn, waiting):
            cid = str(row["complaint_id"])
            completed_at[cid] = row["shown_at"].timestamp()
            latencies[cid] = (completed_at[cid] - sent[cid]) * 1000
        if len(latencies) < len(sent):
            await asyncio.sleep(0.5)
    cpu_after, commits_after = meter.sample(), await commits(conn, meter.db_prefix)
    watching.cancel()
    statements = await counts.per_complaint(max(1, len(latencies)))
    records = records_per_complaint(
        ends_before, await topic_ends(bootstrap), max(1, len(latencies))
    )
    window_s = time.monotonic() - window_start
    done = max(1, len(latencies))
    cpu_ms = {
        name: spent * 1000 / done for name, spent in meter.by_role(cpu_before, cpu_after).items()
    }
    commits_after["reporting"] -= own_commits
    commits_per = {
        db: (commits_after[db] - commits_before.get(db, 0)) / done for db in commits_after
    }
    pending = [i for i in sent if i not in latencies]

    ordered = [
        latencies[s["id"]]
        for s in sorted(submitted, key=lambda s: s["index"])
        if s["id"] in latencies
    ]
    third = max(1, len(ordered) // 3)
    first_third, last_third = (
        statistics.median(ordered[:third]),
        statistics.median(ordered[-third:]),
    )
    # The rate complaints came out at: completions over the time between the first and the
    # last. A pipeline that keeps up finishes them as fast as they were offered, whatever its
    # latency; one that falls behind stretches the span. (Counting from the first submission
    # instead, as this bench did before, charges one whole latency to the span: 145/s for a
    # pipeline keeping up with 150/s over 20 s. That figure stays as `completed_per_s`.)
    done_times = sorted(completed_at.values())
    span = done_times[-1] - done_times[0] if len(done_times) > 1 else 0.0
    since_first_sent = done_times[-1] - min(s["sent_at"] for s in submitted) if done_times else 0
    return {
        "rate_target": rate,
        "submitted": total,
        "accepted": len(submitted),
        "errors": errors,
        "completed": len(latencies),
        "incomplete": len(pending),
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "post_p50_ms": percentile(post_ms, 50),
        "post_p95_ms": percentile(post_ms, 95),
        "sustained_per_s": (len(done_times) - 1) / span if span else 0.0,
        "completed_per_s": len(latencies) / since_first_sent if since_first_sent else 0.0,
        "lag_growth": last_third / first_third if first_third else float("nan"),
        "window_s": window_s,
        "cpu_ms_per_complaint": cpu_ms,
        "platform_cpu_ms_per_complaint": sum(
            ms for name, ms in cpu_ms.items() if name not in ("harness", "gateways", "runner")
        ),
        "commits_per_complaint": commits_per,
        "statements_per_complaint": statements.get("by_database", {}),
        "top_statements": statements.get("top", []),
        "records_per_complaint": records,
        "peak_rss_mib": peak_rss,
    }


# A case is complete when it shows its work orders, the resident's receipt delivered and a
# delivered notice for every unit with an order; it was shown when the last was projected.
COMPLETE_CASES = """
SELECT c.complaint_id, max(t.projected_at) AS shown_at
FROM cases c
JOIN case_timeline t ON t.complaint_id = c.complaint_id
    AND t.type IN ('WorkOrderIssued', 'NotificationDelivered')
WHERE c.complaint_id = ANY($1::uuid[])
  AND EXISTS (SELECT 1 FROM case_work_orders w WHERE w.complaint_id = c.complaint_id)
  AND EXISTS (SELECT 1 FROM case_notifications n
              WHERE n.complaint_id = c.complaint_id
                AND n.template IN ('complaint_receipt', 'complaint_receipt_promised')
                AND n.status = 'delivered')
  AND NOT EXISTS (
      SELECT 1 FROM case_work_orders w
      WHERE w.complaint_id = c.complaint_id
        AND NOT EXISTS (SELECT 1 FROM case_notifications n
                        WHERE n.complaint_id = w.complaint_id AND n.recipient = w.responder_id
                          AND n.status = 'delivered'))
GROUP BY c.complaint_id
"""


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def medians_by_name(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """For a per-process or per-database figure: each name's median over the runs."""
    return {
        name: statistics.median(run[key].get(name, 0.0) for run in runs) for name in runs[0][key]
    }


MEDIANS = (
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "post_p50_ms",
    "sustained_per_s",
    "lag_growth",
    "platform_cpu_ms_per_complaint",
)
MEDIANS_BY_NAME = (
    "cpu_ms_per_complaint",
    "commits_per_complaint",
    "statements_per_complaint",
    "records_per_complaint",
    "peak_rss_mib",
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": runs,
        "median": {key: median_of(runs, key) for key in MEDIANS},
        **{key: medians_by_name(runs, key) for key in MEDIANS_BY_NAME},
        # The most frequent statements of the last run, to see what to batch next.
        "top_statements": runs[-1]["top_statements"],
    }


@dataclass
class Started:
    """A platform that is up, with what the runs read it with."""

    platform: Platform
    probes: Probes
    state: dict[str, Any]


async def start(platform: Platform, args: argparse.Namespace) -> Started:
    try:
        state = await platform.up()
    except Exception as error:
        await platform.down()
        raise SystemExit(f"{platform.label}: {error}\n{log_tails(platform.state_dir)}") from None
    meter = CpuMeter(platform.root_pid, platform.db_prefix)
    counts = await Statements.open(state["database_url"], platform.db_prefix)
    if counts.conn is not None:
        meter.roles[counts.conn.get_server_pid()] = "harness"
    reporting_db = with_database(state["database_url"], f"{platform.db_prefix}_reporting")
    bootstrap = state["kafka_bootstrap_servers"]
    probes = Probes(state["urls"], reporting_db, bootstrap, meter, counts, platform)
    await asyncio.sleep(args.settle_seconds)  # the seeding's echoes settle
    return Started(platform, probes, state)


async def stop(started: Started) -> None:
    await started.probes.counts.close()
    await started.platform.down()


def service_pids(meter: CpuMeter) -> dict[int, str]:
    """The running platform's service processes, one each (pid → service)."""
    found = {}
    for process in meter.root.children(recursive=True):
        name = role(process, meter.db_prefix)
        if name in SERVICES:
            found[process.pid] = name
    return found


async def profiled_run(started: Started, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """One more run at `rate`, not counted in the medians, with py-spy sampling every service
    for the load's window: each service's CPU ms per complaint in that run and, by function,
    the share of it (tests.bench.profile)."""
    label = started.platform.label
    profiler = Profiler(args.out.parent / "profile" / f"{label}-{rate:g}", args.seconds)
    profiler.start(service_pids(started.probes.meter))
    run = await run_rate(started.probes, rate, args.seconds, f"p{uuid.uuid4().hex[:6]}")
    return {
        "cpu_ms_per_complaint": run["cpu_ms_per_complaint"],
        "sustained_per_s": run["sustained_per_s"],
        "functions": await profiler.finish(),
    }


async def fresh(
    started: Started, make: Callable[[int], Platform], count: int, args: argparse.Namespace
) -> Started:
    """The platform for run `count`: a new one for every run but the first, unless
    `--one-platform` (see `measure`)."""
    if count == 0 or args.one_platform:
        return started
    await stop(started)
    shutil.rmtree(started.platform.state_dir, ignore_errors=True)
    return await start(make(count), args)


async def measure(
    make: Callable[[int], Platform], args: argparse.Namespace, profile: bool = False
) -> dict[str, Any]:
    """Start a platform, measure it at rest and at every rate, stop it.

    Each run has a platform of its own (`make(n)`: new databases, an empty broker) unless
    `--one-platform`: the embedded broker keeps every record in memory and its CPU per record
    grows with what it holds (0.14 ms empty, 0.76 ms at 294,000 records, 8 partitions), so on
    one platform each run would pay for the records of the runs before it."""
    first = make(0)
    label = first.label
    console.print(f"starting the {label} platform …")
    started = await start(first, args)
    try:
        bootstrap = started.probes.bootstrap
        hop_p50 = float("nan")
        if not args.idle_only:
            hop_p50 = percentile(await broker_hop_ms(bootstrap), 50)
            console.print(f"{label}: baseline: broker hop p50 {hop_p50:.2f} ms")
        idle = await measure_idle(started.probes.meter, args.idle_seconds)
        console.print(f"{label}: idle: {sum(idle.values()) * 100:.1f} % of a core")
        baseline = {"broker_hop_p50_ms": hop_p50}
        if args.idle_only:
            return {"rates": {}, "baseline": baseline, "idle_cores": idle}
        rates: dict[str, Any] = {}
        count = 0
        for rate in args.rates:
            runs = []
            for repeat in range(args.repeats):
                started = await fresh(started, make, count, args)
                count += 1
                console.print(f"{label}: rate {rate}/s, run {repeat + 1}/{args.repeats} …")
                marker = f"b{uuid.uuid4().hex[:6]}"
                runs.append(await run_rate(started.probes, rate, args.seconds, marker))
                await asyncio.sleep(2)
            rates[str(rate)] = summarize(runs)
            if profile:
                started = await fresh(started, make, count, args)
                count += 1
                console.print(f"{label}: rate {rate}/s, profiled run …")
                rates[str(rate)]["profile"] = await profiled_run(started, rate, args)
                await asyncio.sleep(2)
        return {"rates": rates, "baseline": baseline, "idle_cores": idle}
    finally:
        await stop(started)


async def measure_idle(meter: CpuMeter, seconds: float) -> dict[str, float]:
    """Each part's CPU at rest, in cores: CPU seconds over `seconds` of nothing to do. The
    harness sleeps meanwhile (its own process and Postgres backend count as "harness")."""
    before = meter.sample()
    await asyncio.sleep(seconds)
    return {name: spent / seconds for name, spent in meter.by_role(before, meter.sample()).items()}


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def add_null(results: dict[str, Any], null: dict[str, Any]) -> None:
    """The null pipeline's figures beside the real ones at each rate, and the ratios: rate real ÷
    null (how much of the machinery's rate the platform keeps), CPU null ÷ real (the share of
    the platform's CPU per complaint that the machinery alone takes)."""
    results["null"] = {key: null[key] for key in ("baseline", "idle_cores")}
    for rate, data in results["rates"].items():
        data["null"] = null["rates"][rate]
        real, bare = data["median"], data["null"]["median"]
        real["null_sustained_per_s"] = bare["sustained_per_s"]
        real["null_platform_cpu_ms_per_complaint"] = bare["platform_cpu_ms_per_complaint"]
        real["rate_ratio_real_to_null"] = ratio(real["sustained_per_s"], bare["sustained_per_s"])
        real["cpu_ratio_null_to_real"] = ratio(
            bare["platform_cpu_ms_per_complaint"], real["platform_cpu_ms_per_complaint"]
        )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jiesu-bench-") as tmp:
        results = await measure(lambda n: Stack(Path(tmp) / f"real-{n}"), args, args.profile)
        # Kept before the null half runs: a null platform that fails to start does not cost
        # the real one's figures (the file is written again, whole, at the end).
        write_results(args.out, results, console)
        if not args.no_null:
            null = await measure(lambda n: NullStack(Path(tmp) / f"null-{n}", stack_ports()), args)
            add_null(results, null)
        return results


def table_of(title: str, *columns: str) -> Table:
    """A table of figures, right-aligned (names of databases and statements to the left)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("database", "statement") else "right")
    return table


# The rate tables' columns that show a median: heading → (the median's key, its format).
MEDIAN_COLUMNS = {
    "sustained /s": ("sustained_per_s", ".1f"),
    "p50 ms": ("p50_ms", ".0f"),
    "p95 ms": ("p95_ms", ".0f"),
    "p99 ms": ("p99_ms", ".0f"),
    "POST p50 ms": ("post_p50_ms", ".1f"),
    "lag growth": ("lag_growth", ".2f"),
    "null /s": ("null_sustained_per_s", ".1f"),
    "rate real ÷ null": ("rate_ratio_real_to_null", ".2f"),
    "platform CPU ms": ("platform_cpu_ms_per_complaint", ".1f"),
    "null CPU ms": ("null_platform_cpu_ms_per_complaint", ".1f"),
    "CPU null ÷ real": ("cpu_ratio_null_to_real", ".2f"),
}


def by_rate(
    title: str,
    results: dict[str, Any],
    medians: Sequence[str],
    last: tuple[str, Callable[[dict[str, Any]], str]],
) -> Table:
    """A row per rate: the medians named (MEDIAN_COLUMNS), then the `last` column (a heading
    and what it shows of the rate's figures)."""
    table = table_of(title, "rate /s", *medians, last[0])
    shown = [MEDIAN_COLUMNS[heading] for heading in medians]
    for rate, data in results["rates"].items():
        figures = (format(data["median"][key], spec) for key, spec in shown)
        table.add_row(rate, *figures, last[1](data))
    return table


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    hop = results["baseline"]["broker_hop_p50_ms"]
    console.print(
        by_rate(
            f"submit → case complete, medians of {args.repeats} runs × {args.seconds:.0f} s",
            results,
            ["sustained /s", "p50 ms", "p95 ms", "p99 ms", "POST p50 ms", "lag growth"],
            ("p50 ÷ broker hop", lambda data: f"{data['median']['p50_ms'] / hop:.0f}×"),
        )
    )
    if "null" in results:
        report_null(results)
    # One column per rate, and beside it the null pipeline's where it was measured.
    measured_at = [
        (heading, measured)
        for rate, data in results["rates"].items()
        for heading, measured in ((f"at {rate}/s", data), (f"null at {rate}/s", data.get("null")))
        if measured is not None
    ]
    cpu = table_of(
        "CPU ms per complaint by process (medians; pg X: X's Postgres backends)",
        "process",
        *(heading for heading, _ in measured_at),
    )
    roles = sorted({name for _, data in measured_at for name in data["cpu_ms_per_complaint"]})
    figures: list[tuple[str, Callable[[dict[str, Any]], float]]] = [
        *((name, lambda d, name=name: d["cpu_ms_per_complaint"].get(name, 0.0)) for name in roles),
        ("platform", lambda d: d["median"]["platform_cpu_ms_per_complaint"]),
        ("commits", lambda d: sum(d["commits_per_complaint"].values())),
        ("statements", lambda d: sum(d["statements_per_complaint"].values())),
        ("records consumed", lambda d: d["records_per_complaint"]["consumed"]),
    ]
    for name, figure in figures:
        cpu.add_row(name, *(f"{figure(data):.1f}" for _, data in measured_at))
    console.print(cpu)
    rates = list(results["rates"])
    last = results["rates"][rates[-1]]
    for label, measured in (("", last), ("null: ", last.get("null"))):
        if measured is not None:
            console.print(
                f"{label}records published per complaint at {rates[-1]}/s: "
                + ", ".join(
                    f"{name} {n:.1f}"
                    for name, n in measured["records_per_complaint"].items()
                    if name != "consumed"
                )
            )
    for label, measured in (("", last), ("null: ", last.get("null"))):
        if measured is not None and measured.get("peak_rss_mib"):
            console.print(
                f"{label}peak resident memory (MiB) at {rates[-1]}/s: "
                + ", ".join(f"{name} {mib:.0f}" for name, mib in measured["peak_rss_mib"].items())
            )
    if last["statements_per_complaint"]:
        console.print(
            f"statements per complaint at {rates[-1]}/s: "
            + ", ".join(
                f"{db} {n:.1f}" for db, n in sorted(last["statements_per_complaint"].items())
            )
        )
        top = table_of(
            "most frequent statements (per complaint, last run)", "calls", "database", "statement"
        )
        for row in last["top_statements"][:15]:
            top.add_row(f"{row['calls']:.2f}", row["database"], row["query"])
        console.print(top)
    report_idle(results)
    report_profiles(results)
    console.print(
        "platform = every process but the harness, the gateway stand-in and the runner; "
        "the window runs from the first submission to the last complaint complete"
    )
    console.print(f"baseline broker hop (produce → consume) p50: {hop:.2f} ms")
    console.print(
        "lag growth = median latency of the last third ÷ the first third (≈1: no growing lag)"
    )


def report_idle(results: dict[str, Any]) -> None:
    """The platform's CPU at rest, in total and by process (and the null pipeline's)."""
    for label, measured in (("", results), ("null: ", results.get("null"))):
        if measured is not None:
            idle = measured["idle_cores"]
            platform = sum(v for k, v in idle.items() if k not in ("harness", "gateways", "runner"))
            console.print(
                f"{label}idle: {sum(idle.values()) * 100:.2f} % of a core, platform "
                f"{platform * 100:.2f} % ("
                + ", ".join(f"{k} {v * 100:.2f} %" for k, v in sorted(idle.items()) if v >= 0.0001)
                + ")"
            )


def report_profiles(results: dict[str, Any], top: int = 10) -> None:
    """Per rate profiled and service: our own functions the CPU went to (the innermost frame
    of services/ or shared/ on the stack), then the functions running (libraries included),
    as ms per complaint of that run."""
    for rate, data in results["rates"].items():
        profile = data.get("profile")
        if not profile:
            continue
        console.print(
            f"where the CPU goes at {rate}/s (profiled run, {profile['sustained_per_s']:.0f}/s "
            "sustained), ms per complaint:"
        )
        for service, found in sorted(profile["functions"].items()):
            ms = profile["cpu_ms_per_complaint"].get(service, 0.0)
            if "error" in found:
                console.print(f"  {service}: py-spy failed: {found['error']}", soft_wrap=True)
                continue
            for kind, title in (("own", "own function"), ("leaf", "running")):
                console.print(f"  {service} {ms:.2f} ms, by {title}:")
                for name, share in list(found[kind].items())[:top]:
                    console.print(f"    {share * ms:5.2f}  {name}", soft_wrap=True, markup=False)


def report_null(results: dict[str, Any]) -> None:
    console.print(
        by_rate(
            "real ÷ null pipeline (medians)",
            results,
            [
                "sustained /s",
                "null /s",
                "rate real ÷ null",
                "platform CPU ms",
                "null CPU ms",
                "CPU null ÷ real",
            ],
            ("null p50 ms", lambda data: f"{data['null']['median']['p50_ms']:.0f}"),
        )
    )
    console.print(
        "null = the same topology, events and records per complaint with handlers that do no "
        "domain work; while it keeps up with the offered rate, its sustained rate is the "
        "offered one and the rate ratio an upper bound"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates", default="10,100,150", type=lambda s: [float(x) for x in s.split(",")]
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "latency.json")
    parser.add_argument(
        "--no-null", action="store_true", help="leave out the null pipeline (tests.bench.null)"
    )
    parser.add_argument(
        "--idle-only",
        action="store_true",
        help="start the platform, measure it at rest, print per-process CPU and stop (no load)",
    )
    parser.add_argument(
        "--one-platform",
        action="store_true",
        help="every run on the one platform (growth shows; so does the embedded broker's)",
    )
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="the window at rest")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each rate's runs, one more with py-spy on every service: where the CPU goes",
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=3.0, help="wait after start before the window"
    )
    parser.add_argument(
        "--telemetry",
        choices=("on", "off"),
        default="on",
        help="off: the platform without traces (and what TELEMETRY_OFF names), to read the "
        "overhead of observability as the ratio of two runs",
    )
    args = parser.parse_args()
    if args.telemetry == "off":
        os.environ.update(TELEMETRY_OFF)  # the runner's children inherit it
    results = asyncio.run(main_async(args))
    results["settings"] = {
        "rates": args.rates,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "null": not args.no_null,
        "telemetry": args.telemetry,
    }
    results["machine"] = {"cpus": os.cpu_count()}
    if args.idle_only:
        report_idle(results)
    else:
        report(results, args)
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
