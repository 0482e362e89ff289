"""A replay survives notify being killed mid-way: notify runs as its own process, is killed
(SIGKILL) while a replay is sending, and started again; the replay goes on from where it
got, nothing is lost, and what was sent twice carries the same ids (the subscriber dedupes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


async def test_a_replay_goes_on_after_notify_is_killed_and_started_again(
    pg_server_url: str, broker: str, tmp_path: Path
):
    gateways = Gateways()
    # slow enough that the kill lands mid-way: 8 messages at 4/s
    gateways.behaviour["webhook:restart"] = Behaviour(latency_s=0.05)
    database_url = with_database(pg_server_url, f"t_replay_{uuid.uuid4().hex[:10]}")
    env = {
        "NOTIFY_DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "NOTIFY_DELIVERY_LEASE_S": "2",
        "NOTIFY_DELIVERY_POLL_INTERVAL_S": "1",
        "NOTIFY_RETRY_SCHEDULE": "0.2s,0.4s",
        "NOTIFY_REPLAY_RATE_PER_S": "4",
    }
    log_file = tmp_path / "notify.log"
    try:
        async with serving(create_gateways(gateways), free_port()) as gateway_url:
            env["NOTIFY_INTAKE_URL"] = gateway_url
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            with notify_process(env, log_file, port) as first:
                since = datetime.now(UTC)
                filed = [
                    examples.complaint_filed(area_code=f"{AREA[:9]}001") for _ in range(EVENTS)
                ]
                ids = await publish_events(broker, COMPLAINT_EVENTS, filed, "/jiesu/intake")
                conn = await connect(database_url)
                try:

                    async def logged() -> bool:
                        n = await conn.fetchval(
                            "SELECT count(*) FROM webhook_events WHERE event_id = ANY($1)", ids
                        )
                        return bool(n == EVENTS)

                    await until(logged, 30, "every filing logged")
                    order = [
                        str(r["event_id"])
                        for r in await conn.fetch(
                            "SELECT event_id FROM webhook_events ORDER BY position"
                        )
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
                    made = await client.post(
                        "/subscriptions", json={"url": f"{gateway_url}/hooks/restart"}
                    )
                    sid = made.json()["subscription_id"]
                    asked = await client.post(
                        f"/subscriptions/{sid}/replay", json={"since": since.isoformat()}
                    )
                assert asked.status_code == 202 and asked.json()["total"] == EVENTS, asked.text
                await until(lambda: len(gateways.of("webhook:restart")) >= 3, 20, "3 sent")
                first.kill()  # SIGKILL: no cleanup, the replay's lease is left to run out
                first.wait(10)
            sent_before = len(gateways.of("webhook:restart"))
            assert sent_before < EVENTS, "the replay was still sending when notify died"

            with notify_process(env, log_file, port):
                async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}) as client:

                    async def finished() -> dict[str, Any] | None:
                        progress = (
                            await client.get(
                                f"/subscriptions/{sid}/replays/{asked.json()['replay_id']}"
                            )
                        ).json()
                        return progress if progress["status"] != "running" else None

                    done = await until(finished, 30, "the replay to finish after the restart")
    finally:
        await drop_database(database_url)

    assert done["status"] == "done" and done["sent"] == EVENTS
    arrived = [
        (json.loads(r["body"])["id"], r["headers"]["webhook-id"])
        for r in gateways.of("webhook:restart")
    ]
    kept: list[str] = []
    for event_id, _ in arrived:
        if event_id not in kept:
            kept.append(event_id)
    assert kept == order, "after dedup by id: every event once, in the log's order"
    assert len(arrived) <= EVENTS + 1, "at most the message in flight at the kill is sent twice"
    webhook_ids: dict[str, set[str]] = {}
    for event_id, webhook_id in arrived:
        webhook_ids.setdefault(event_id, set()).add(webhook_id)
    assert all(len(w) == 1 for w in webhook_ids.values()), "a repeat has the same webhook-id"
