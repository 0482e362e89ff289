"""A backlog of real records for the workers bench: recorded once from the platform, then
produced again onto fresh brokers, all at once (a backlog) or at a fixed rate (a stream)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.local.runner import GATEWAY_KEY
from shared.topics import EVENT_TOPICS
from tests.bench.latency import COMPLETE_CASES, REPO, Stack, stack_ports, topic_ends
from tests.bench.loadgen import KeepAliveClient, on_schedule
from tests.support import examples


@dataclass(frozen=True, slots=True)
class Record:
    """A record as the platform published it; `partition` None lets the producer pick by key."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.UUID(dict(self.headers)["ce_id"].decode())


async def read_topics(
    bootstrap: str, topics: Iterable[str] = EVENT_TOPICS, quiet_s: float = 2.0
) -> list[Record]:
    """Every record of `topics`, partition by partition in offset order (read until none has
    come for `quiet_s`)."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        await reader.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        records: list[Record] = []
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_s:
            fetched = await reader.getmany(timeout_ms=500, max_records=5000)
            for messages in fetched.values():
                records += [
                    Record(m.topic, m.partition, m.key, m.value, tuple(m.headers)) for m in messages
                ]
            if fetched:
                quiet_since = time.monotonic()
        return records
    finally:
        await reader.stop()


def producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=10,
        max_batch_size=512 * 1024,
        request_timeout_ms=30000,
    )


async def produce_all(bootstrap: str, records: Sequence[Record]) -> float:
    """Produce every record (each partition's in order); the seconds it took."""
    started = time.monotonic()
    out = producer(bootstrap)
    await out.start()
    try:
        sent = [
            await out.send(
                r.topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers)
            )
            for r in records
        ]
        await asyncio.gather(*sent)
    finally:
        await out.stop()
    return time.monotonic() - started


async def stream(
    bootstrap: str, records: Sequence[Record], per_s: float, stop: asyncio.Event
) -> int:
    """Produce the records at `per_s` a second on a fixed schedule until they run out or `stop`
    is set; how many were sent."""
    out = producer(bootstrap)
    await out.start()
    try:
        pending = []
        async for index in on_schedule(len(records), per_s):
            if stop.is_set():
                break
            r = records[index]
            pending.append(
                await out.send(
                    r.topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers)
                )
            )
        await asyncio.gather(*pending)
    finally:
        await out.stop()
    return len(pending)


def interleaved(records: Sequence[Record]) -> list[Record]:
    """The records taking turns between partitions, each partition's in its order: a stream
    that reaches every partition evenly."""
    lanes: dict[tuple[str, int | None], list[Record]] = {}
    for r in records:
        lanes.setdefault((r.topic, r.partition), []).append(r)
    queues = list(lanes.values())
    merged: list[Record] = []
    for turn in range(max((len(q) for q in queues), default=0)):
        merged += [q[turn] for q in queues if turn < len(q)]
    return merged


class RecordingPlatform(Stack):
    """The whole platform (the local runner), filed complaints over HTTP and let settle: its
    topics are the backlog. It keeps running while the workers are measured, idle: notify's
    senders ask its intake for residents' contacts and send through its gateways."""

    ports: dict[str, int]
    state: dict[str, Any]

    def _launch(self) -> None:
        self.ports = stack_ports()
        argv = [sys.executable, "-m", "deploy.local", "--state-dir", str(self.state_dir), "up"]
        for option, port in self.ports.items():
            argv += [f"--{option.replace('_', '-')}", str(port)]
        argv += ["--db-prefix", self.db_prefix]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.state_dir / "runner.log", "wb")  # noqa: SIM115 - lives as long as the stack
        self.process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    async def record(self, complaints: int, per_s: float) -> list[Record]:
        """File `complaints` at `per_s` a second, wait until every case is complete and the
        topics stop growing, and read the three event topics."""
        self.state = await self.up()
        client = KeepAliveClient(self.state["urls"]["intake"])
        marker = uuid.uuid4().hex[:6]
        accepted: list[uuid.UUID] = []

        async def submit(index: int) -> None:
            body = examples.complaint_request(index)
            status, answer = await client.post_json(
                "/complaints",
                body,
                {"Idempotency-Key": f"{marker}-{index}", **examples.STAFF_KEY},
            )
            if status == 201:
                accepted.append(uuid.UUID(answer["complaint_id"]))

        try:
            tasks = [asyncio.create_task(submit(i)) async for i in on_schedule(complaints, per_s)]
            await asyncio.gather(*tasks)
        finally:
            await client.aclose()
        await self._until_complete(accepted)
        bootstrap = self.state["kafka_bootstrap_servers"]
        ends, since = await topic_ends(bootstrap), time.monotonic()
        while time.monotonic() - since < 3.0:  # late outcomes (notices' deliveries) settle
            await asyncio.sleep(1.0)
            if (now := await topic_ends(bootstrap)) != ends:
                ends, since = now, time.monotonic()
        self.complaints = len(accepted)
        return await read_topics(bootstrap)

    async def _until_complete(self, accepted: list[uuid.UUID], timeout_s: float = 300) -> None:
        conn = await asyncpg.connect(self.state["databases"]["reporting"])
        try:
            deadline = time.monotonic() + timeout_s
            while len(await conn.fetch(COMPLETE_CASES, accepted)) < len(accepted):
                if time.monotonic() > deadline:
                    raise TimeoutError("the recorded complaints did not complete")
                await asyncio.sleep(1.0)
        finally:
            await conn.close()

    def worker_env(self) -> dict[str, str]:
        """What a measured worker needs of this platform: intake for contacts and keys, the
        gateways, the stores reporting rebuilds from."""
        urls, databases = self.state["urls"], self.state["databases"]
        sink = f"http://127.0.0.1:{self.ports['sink_port']}"
        return {
            "NOTIFY_INTAKE_URL": urls["intake"],
            "NOTIFY_SMS_GATEWAY_URL": f"{sink}/sms",
            "NOTIFY_WECHAT_GATEWAY_URL": f"{sink}/wechat",
            "NOTIFY_SMS_API_KEY": GATEWAY_KEY,
            "NOTIFY_WECHAT_API_KEY": GATEWAY_KEY,
            "NOTIFY_SMTP_PORT": str(self.ports["smtp_port"]),
            "REPORTING_INTAKE_URL": urls["intake"],
            "REPORTING_DISPATCH_URL": urls["dispatch"],
            "REPORTING_NOTIFY_URL": urls["notify"],
            **{
                f"REPORTING_{store.upper()}_STORE_URL": databases[store]
                for store in ("intake", "dispatch", "notify")
            },
        }

    @property
    def sink_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sink_port']}"
