"""A replay survives notify being killed mid-way: notify runs as its own process, is killed
(SIGKILL) while a replay is sending, and started again; the replay goes on from where it
got, nothing is lost, and what was sent twice carries the same ids (the subscriber dedupes).
Stopped gracefully instead (SIGTERM), notify gives its replays' leases up: the next process
goes on at once, not once the lease has run out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.processes import free_port, tansu_broker, wait_for_port_open
from services.notify import auth as notify_auth
from shared.db import connect, drop_database, with_database
from shared.topics import COMPLAINT_EVENTS
from tests.integration.conftest import serving, until
from tests.integration.gateways import Behaviour, Gateways
from tests.integration.gateways import create_app as create_gateways
from tests.integration.kafka_helpers import publish_events
from tests.integration.process import REPO, wait_until_answering
from tests.support import examples

AREA = "370124005000"
EVENTS = 8


@contextmanager
def notify_process(
    env: dict[str, str], log_file: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.notify.main"],
            cwd=REPO,
            env={**os.environ, **env, "NOTIFY_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answering(process, f"http://127.0.0.1:{port}/readyz", log_file, 60)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(20)


@pytest.fixture
async def broker(tmp_path: Path) -> Any:
    port = free_port()
    child = tansu_broker(port, tmp_path / "broker.log")
    child.start()
    await wait_for_port_open(port)
    yield f"127.0.0.1:{port}"
    await child.stop()


@dataclass
class Setting:
    gateways: Gateways
    gateway_url: str
    database_url: str
    env: dict[str, str]
    log_file: Path
    port: int


@asynccontextmanager
async def setting(
    pg_server_url: str, broker: str, tmp_path: Path, **env: str
) -> AsyncIterator[Setting]:
    """Subscribers' endpoints on this loop, a database of its own, notify's settings."""
    gateways = Gateways()
    database_url = with_database(pg_server_url, f"t_replay_{uuid.uuid4().hex[:10]}")
    try:
        async with serving(create_gateways(gateways), free_port()) as gateway_url:
            env = {
                "NOTIFY_DATABASE_URL": database_url,
                "KAFKA_BOOTSTRAP_SERVERS": broker,
                "NOTIFY_INTAKE_URL": gateway_url,
                "NOTIFY_DELIVERY_POLL_INTERVAL_S": "1",
                "NOTIFY_RETRY_SCHEDULE": "0.2s,0.4s",
                **env,
            }
            port = free_port()
            yield Setting(gateways, gateway_url, database_url, env, tmp_path / "notify.log", port)
    finally:
        await drop_database(database_url)


async def logged_then_replayed(
    at: Setting, broker: str, url: str, events: int, hook: str
) -> tuple[list[str], str, str, str]:
    """`events` filings logged, then a subscriber key that subscribes and replays them:
    the log's order, the key, the subscription and the replay."""
    since = datetime.now(UTC)
    filed = [examples.complaint_filed(area_code=f"{AREA[:9]}001") for _ in range(events)]
    ids = await publish_events(broker, COMPLAINT_EVENTS, filed, "/jiesu/intake")
    conn = await connect(at.database_url)
    try:

        async def logged() -> bool:
            n = await conn.fetchval(
                "SELECT count(*) FROM webhook_events WHERE event_id = ANY($1)", ids
            )
            return bool(n == events)

        await until(logged, 30, "every filing logged")
        order = [
            str(r["event_id"])
            for r in await conn.fetch("SELECT event_id FROM webhook_events ORDER BY position")
        ]
        _, key = await notify_auth.KEYS.create(
            conn,
            name="街道平台",
            role=notify_auth.Role.SUBSCRIBER,
            scope=AREA,
            event_types=["ComplaintFiled"],
        )
    finally:
        await conn.close()
    # subscribed after the events: a replay still has them
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}) as client:
        made = await client.post("/subscriptions", json={"url": f"{at.gateway_url}/hooks/{hook}"})
        sid = made.json()["subscription_id"]
        asked = await client.post(f"/subscriptions/{sid}/replay", json={"since": since.isoformat()})
    assert asked.status_code == 202 and asked.json()["total"] == events, asked.text
    return order, key, sid, asked.json()["replay_id"]


async def finished(url: str, key: str, sid: str, rid: str, within_s: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}) as client:

        async def ended() -> dict[str, Any] | None:
            progress = (await client.get(f"/subscriptions/{sid}/replays/{rid}")).json()
            return progress if progress["status"] != "running" else None

        done: dict[str, Any] = await until(ended, within_s, "the replay to finish")
        return done


async def test_a_replay_goes_on_after_notify_is_killed_and_started_again(
    pg_server_url: str, broker: str, tmp_path: Path
):
    async with setting(pg_server_url, broker, tmp_path, NOTIFY_DELIVERY_LEASE_S="2") as at:
        # the endpoint answers two and holds the third: notify is killed with it in flight
        hold = asyncio.Event()
        at.gateways.behaviour["webhook:restart"] = Behaviour(hold=hold, held_after=2)
        url = f"http://127.0.0.1:{at.port}"
        with notify_process(at.env, at.log_file, at.port) as first:
            order, key, sid, rid = await logged_then_replayed(at, broker, url, EVENTS, "restart")
            await until(lambda: at.gateways.arrived.get("webhook:restart") == 3, 20, "3 taken")
            first.kill()  # SIGKILL: no cleanup, the replay's lease is left to run out
            first.wait(10)
        sent_before = len(at.gateways.of("webhook:restart"))
        at.gateways.behaviour["webhook:restart"] = Behaviour(latency_s=0.05)
        hold.set()  # the third is answered, to no one
        assert sent_before == 2, "killed with the third in flight"

        with notify_process(at.env, at.log_file, at.port):
            done = await finished(url, key, sid, rid, 30)

    assert done["status"] == "done" and done["sent"] == EVENTS
    arrived = [
        (json.loads(r["body"])["id"], r["headers"]["webhook-id"])
        for r in at.gateways.of("webhook:restart")
    ]
    kept: list[str] = []
    for event_id, _ in arrived:
        if event_id not in kept:
            kept.append(event_id)
    assert kept == order, "after dedup by id: every event once, in the log's order"
    assert len(arrived) == EVENTS + 1, "the message in flight at the kill is sent twice"
    webhook_ids: dict[str, set[str]] = {}
    for event_id, webhook_id in arrived:
        webhook_ids.setdefault(event_id, set()).add(webhook_id)
    assert all(len(w) == 1 for w in webhook_ids.values()), "a repeat has the same webhook-id"


async def test_a_replay_goes_on_at_once_after_notify_is_stopped_and_started_again(
    pg_server_url: str, broker: str, tmp_path: Path
):
    # a lease far longer than the test waits: only a lease given up lets the replay go on
    async with setting(pg_server_url, broker, tmp_path, NOTIFY_DELIVERY_LEASE_S="120") as at:
        hold = asyncio.Event()
        at.gateways.behaviour["webhook:stop"] = Behaviour(hold=hold)
        url = f"http://127.0.0.1:{at.port}"
        with notify_process(at.env, at.log_file, at.port) as first:
            order, key, sid, rid = await logged_then_replayed(at, broker, url, 3, "stop")
            await until(lambda: at.gateways.arrived.get("webhook:stop") == 1, 20, "1 taken")
            first.terminate()  # SIGTERM: a graceful stop, with the first message in flight
            first.wait(20)  # (having stopped, the server raises the signal again: -15)
        at.gateways.behaviour["webhook:stop"] = Behaviour()
        hold.set()  # the first is answered, to no one
        conn = await connect(at.database_url)
        try:
            replay = await conn.fetchrow(
                "SELECT status, lease_until FROM replays WHERE replay_id = $1", uuid.UUID(rid)
            )
        finally:
            await conn.close()
        assert replay["status"] == "running" and replay["lease_until"] is None, dict(replay)

        with notify_process(at.env, at.log_file, at.port):
            done = await finished(url, key, sid, rid, 20)
    assert done["status"] == "done" and done["sent"] == 3
    accepted = [json.loads(r["body"])["id"] for r in at.gateways.of("webhook:stop")]
    assert accepted[-3:] == order
