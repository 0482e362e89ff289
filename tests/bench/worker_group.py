"""Several worker processes of one service in one consumer group, on one database and a broker
of their own: started, watched, killed or stopped as a deployment's replicas would be."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.local.processes import Child, free_port, tansu_broker, wait_for_port_open
from deploy.local.runner import DEMO_CITY, DEMO_DIRECTORY, SINK_EVENTS, SINK_SECRET
from shared.db import with_database
from shared.kafka import ensure_topics
from shared.topics import CONSUMES, consumer_group

REPO = Path(__file__).resolve().parents[2]
ADMIN = {"X-API-Key": "dev-key-admin"}


@contextlib.asynccontextmanager
async def fresh_broker(home: Path) -> AsyncIterator[str]:
    """An empty embedded broker with every topic: its bootstrap address."""
    port = free_port()
    broker = tansu_broker(port, home / f"broker-{port}.log")
    broker.start()
    try:
        await wait_for_port_open(port)
        bootstrap = f"127.0.0.1:{port}"
        await ensure_topics(bootstrap)
        yield bootstrap
    finally:
        await broker.stop()


class Worker:
    """One process of a service (`python -m services.<service>.main`) on a port of its own."""

    def __init__(self, service: str, env: Mapping[str, str], home: Path) -> None:
        self.service = service
        self.port = free_port()
        prefix = service.upper()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = Child(
            f"{service}-{self.port}",
            [sys.executable, "-m", f"services.{service}.main"],
            home / f"{service}-{self.port}.log",
            env={
                **env,
                f"{prefix}_PORT": str(self.port),
                "TRACES_FILE": str(home / f"{service}-{self.port}.traces.jsonl"),
            },
            cwd=REPO,
        )

    def start(self) -> None:
        self.child.start()

    async def ready(self, client: httpx.AsyncClient) -> bool:
        assert self.child.alive(), f"{self.child.name} exited; see {self.child.log_file}"
        with contextlib.suppress(httpx.HTTPError):
            return (await client.get(f"{self.url}/readyz")).status_code == 200
        return False

    def cpu_s(self) -> float:
        """CPU seconds the process has used (user + system), as the kernel counts them."""
        assert self.child.pid is not None
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(self.child.pid).cpu_times()
            return float(times.user + times.system)
        return 0.0

    def kill(self) -> None:
        """SIGKILL: gone without a word; the group notices at the session timeout."""
        assert self.child.process is not None
        self.child.process.send_signal(signal.SIGKILL)
        self.child.process.wait()

    async def stop(self) -> None:
        """SIGTERM: a clean stop (the consumer commits and leaves the group)."""
        await self.child.stop(timeout=30)


class WorkerGroup:
    """`count` workers of a service sharing a database and a broker."""

    def __init__(self, service: str, database_url: str, bootstrap: str, home: Path,
                 extra_env: Mapping[str, str]) -> None:  # fmt: skip
        self.service = service
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.home = home
        prefix = service.upper()
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            f"{prefix}_DATABASE_URL": database_url,
            **extra_env,
        }
        self.env.pop("DATABASE_URL", None)
        self.workers: list[Worker] = []

    def add(self) -> Worker:
        worker = Worker(self.service, self.env, self.home)
        worker.start()
        self.workers.append(worker)
        return worker

    async def until_ready(self, timeout_s: float = 120) -> None:
        """Until every worker answers /readyz (its database, broker, and partitions assigned)."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            for worker in self.workers:
                while not await worker.ready(client):
                    assert time.monotonic() < deadline, f"{worker.child.name} not ready"
                    await asyncio.sleep(0.3)

    async def until_settled(self, quiet_s: float = 4.0, timeout_s: float = 120) -> None:
        """Until every worker has partitions, without a break, for `quiet_s` (two heartbeats:
        a member hears of a rebalance at its next heartbeat, and is not ready until it has its
        new partitions): the group is formed before anything is produced."""
        deadline = time.monotonic() + timeout_s
        since = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() - since < quiet_s:
                assert time.monotonic() < deadline, "the group did not settle"
                ready = await asyncio.gather(*(w.ready(client) for w in self.alive()))
                if not all(ready):
                    since = time.monotonic()
                await asyncio.sleep(0.2)

    def alive(self) -> list[Worker]:
        return [w for w in self.workers if w.child.alive()]

    def cpu_s(self) -> float:
        return sum(w.cpu_s() for w in self.alive())

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.alive()))


async def seed(service: str, url: str, sink_url: str) -> None:
    """What the local runner loads before complaints arrive: the demo city into dispatch, the
    directory and the downstream subscription into notify. Reporting needs nothing."""
    yaml = {"content-type": "application/yaml"}
    subscription = {
        "url": f"{sink_url}/webhooks",
        "secret": SINK_SECRET,
        "event_types": SINK_EVENTS,
        "description": "本地网关 the local sink",
    }
    loads = {
        "dispatch": [("/admin/city", DEMO_CITY.read_bytes(), yaml)],
        "notify": [
            ("/directory", DEMO_DIRECTORY.read_bytes(), yaml),
            (
                "/subscriptions/local-sink",
                json.dumps(subscription).encode(),
                {"content-type": "application/json"},
            ),
        ],
    }
    async with httpx.AsyncClient(timeout=60, headers=ADMIN) as client:
        for path, body, headers in loads.get(service, []):
            (await client.put(f"{url}{path}", content=body, headers=headers)).raise_for_status()


async def template_database(
    service: str, server_url: str, home: Path, extra_env: Mapping[str, str], sink_url: str
) -> str:
    """A database of the service with its schema and seed, never consumed into: each run's
    database is a copy of it (CREATE DATABASE … TEMPLATE), so every run starts alike."""
    name = f"tpl_{service}_{uuid.uuid4().hex[:6]}"
    database = with_database(server_url, name)
    conn = await asyncpg.connect(server_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    async with fresh_broker(home) as bootstrap:
        group = WorkerGroup(service, database, bootstrap, home, extra_env)
        worker = group.add()
        try:
            await group.until_ready()
            await seed(service, worker.url, sink_url)
        finally:
            await group.stop()
    return database


@contextlib.asynccontextmanager
async def copy_of(template_url: str) -> AsyncIterator[str]:
    """A new database copied from the template; dropped afterwards."""
    server = with_database(template_url, "postgres")
    template = template_url.rsplit("/", 1)[1]
    name = f"run_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield with_database(template_url, name)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def handled_times(conn: asyncpg.Connection) -> list[tuple[uuid.UUID, datetime]]:
    """Every inbox row: the event and when its batch's transaction began."""
    rows = await conn.fetch("SELECT event_id, handled_at FROM inbox ORDER BY handled_at")
    return [(row["event_id"], row["handled_at"]) for row in rows]


async def committed_all(bootstrap: str, service: str, ends: Mapping[TopicPartition, int]) -> bool:
    """Has the service's group committed every partition up to `ends` (lag 0)?"""
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=consumer_group(service), enable_auto_commit=False
    )
    await reader.start()
    try:
        for tp, end in ends.items():
            if (await reader.committed(tp) or 0) < end:
                return False
        return True
    finally:
        await reader.stop()


async def drained(
    conn: asyncpg.Connection,
    lag_zero: Callable[[], Awaitable[bool]],
    every_s: float = 0.1,
    timeout_s: float = 600,
) -> tuple[int, float]:
    """Poll the inbox until the group's lag is 0 and the count no longer moves: the final count
    and the wall-clock time the count first reached it (the poll's resolution, `every_s`)."""
    deadline = time.monotonic() + timeout_s
    count, reached = -1, time.time()
    next_lag_check = 0.0
    while True:
        now = await conn.fetchval("SELECT count(*) FROM inbox")
        if now != count:
            count, reached = now, time.time()
        elif time.monotonic() >= next_lag_check:
            # Offsets are committed a second after a batch: lag 0 comes after the last row.
            if await lag_zero():
                return count, reached
            next_lag_check = time.monotonic() + 1.0
        assert time.monotonic() < deadline, "the backlog was not drained"
        await asyncio.sleep(every_s)


def consumed_topics(service: str) -> tuple[str, ...]:
    return CONSUMES[service]
