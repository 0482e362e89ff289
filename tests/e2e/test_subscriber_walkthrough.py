"""End to end, the README's walkthrough for a downstream system ("Contracts for downstream
systems"), step by step on the running platform: open the AsyncAPI documents; an admin issues
a subscriber key with the `jiesu keys` command; the subscriber subscribes its endpoint (the
example in examples/webhook_receiver/, which checks signatures and knows the platform only by
docs/asyncapi/webhooks.json); a complaint is filed and its signed webhooks arrive; the endpoint
stops; another complaint is filed and its webhooks fail; the endpoint comes back and replays
since the moment it stopped: it then holds every event of both complaints, each once."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.processes import free_port
from tests.e2e.conftest import REPO, RunningStack, until
from tests.support import examples

pytestmark = pytest.mark.e2e

STREET = "370124001000"  # 榆山街道
TYPES = "ComplaintFiled,ComplaintDispatched,WorkOrderIssued"


class Endpoint:
    """examples/webhook_receiver/receiver.py as its own process, keeping to `log`."""

    def __init__(self, port: int, secret: str, log: Path) -> None:
        self.port, self.secret, self.log = port, secret, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "examples/webhook_receiver/receiver.py",
                "--port",
                str(self.port),
                "--secret",
                self.secret,
                "--asyncapi",
                "docs/asyncapi/webhooks.json",
                "--log",
                str(self.log),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )

    async def listening(self) -> None:
        """Until the endpoint accepts connections (a replay asked for before would only be
        retried, and prove nothing of the endpoint being back)."""

        async def accepts() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            await writer.wait_closed()
            return True

        await until(accepts, 20, "the endpoint listening")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(10) == 0

    def kept(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line)["body"] for line in self.log.read_text().splitlines()]

    def about(self, complaint_id: str) -> list[str]:
        return [body["type"] for body in self.kept() if body["subject"] == complaint_id]


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[Endpoint]:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    endpoint = Endpoint(free_port(), secret, tmp_path / "received.jsonl")
    endpoint.start()
    yield endpoint
    if endpoint.process is not None and endpoint.process.poll() is None:
        endpoint.stop()


def subscriber_key(stack: RunningStack) -> str:
    """`jiesu keys notify create … --role subscriber`, as the README has an admin run it."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "keys",
            "notify",
            "create",
            "--name",
            "城市数据平台",
            "--role",
            "subscriber",
            "--scope",
            STREET,
            "--event-types",
            TYPES,
        ],
        cwd=REPO,
        env={**os.environ, "NOTIFY_DATABASE_URL": stack.database_url("notify")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split("\t")[1]


async def file(client: httpx.AsyncClient, stack: RunningStack, index: int) -> str:
    filed = await client.post(
        stack.url("intake") + "/complaints",
        json=examples.complaint_request(index, area_code="370124001001-G01-B02-U1"),
        headers=examples.STAFF_KEY,
    )
    assert filed.status_code == 201, filed.text
    complaint_id: str = filed.json()["complaint_id"]
    return complaint_id


async def test_a_subscriber_subscribes_receives_misses_and_replays(
    stack: RunningStack, endpoint: Endpoint
) -> None:
    notify = stack.url("notify")
    async with httpx.AsyncClient(timeout=30) as client:
        # the contract, readable and as a document
        page = await client.get(notify + "/asyncapi/webhooks")
        assert page.status_code == 200 and "ComplaintFiled" in page.text
        document = await client.get(notify + "/asyncapi/webhooks.json")
        assert document.json() == json.loads((REPO / "docs/asyncapi/webhooks.json").read_text())

        await endpoint.listening()
        key = {"X-API-Key": await asyncio.to_thread(subscriber_key, stack)}
        subscribed = await client.post(
            notify + "/subscriptions",
            json={"url": f"http://127.0.0.1:{endpoint.port}/", "secret": endpoint.secret},
            headers=key,
        )
        assert subscribed.status_code == 201, subscribed.text
        subscription = subscribed.json()
        assert subscription["area_code"] == STREET  # the key's, as none was named
        sub = subscription["subscription_id"]

        first = await file(client, stack, 0)

        async def arrived(complaint_id: str) -> bool:
            return {"ComplaintFiled", "WorkOrderIssued"} <= set(endpoint.about(complaint_id))

        await until(lambda: arrived(first), 60, "the first complaint's webhooks")

        endpoint.stop()
        stopped_at = datetime.now(UTC)
        second = await file(client, stack, 1)

        async def failing() -> bool:
            log = await client.get(f"{notify}/subscriptions/{sub}/deliveries", headers=key)
            assert log.status_code == 200, log.text
            return any(
                d["attempts"] >= 1 and d["status"] != "delivered" for d in log.json()["deliveries"]
            )

        await until(failing, 60, "a delivery to the stopped endpoint failing")
        assert endpoint.about(second) == []

        endpoint.start()
        await endpoint.listening()
        replay = await client.post(
            f"{notify}/subscriptions/{sub}/replay",
            json={"since": stopped_at.isoformat()},
            headers=key,
        )
        assert replay.status_code == 202, replay.text
        assert replay.json()["total"] >= 2  # at least the second complaint's filing and order
        progress_url = f"{notify}/subscriptions/{sub}/replays/{replay.json()['replay_id']}"

        async def replayed() -> bool:
            progress = (await client.get(progress_url, headers=key)).json()
            assert progress["status"] != "failed", progress
            return progress["status"] == "done"

        await until(replayed, 60, "the replay to finish")
        await until(lambda: arrived(second), 30, "the second complaint's webhooks")

    kept = endpoint.kept()
    ids = [body["id"] for body in kept]
    assert len(ids) == len(set(ids))  # each event once, however often it was sent
    assert {body["subject"] for body in kept} == {first, second}
    said = json.dumps(kept, ensure_ascii=False)
    for private in ("李君", *(s[3] for s in examples.SITUATIONS[:2]), "1单元602"):
        assert private not in said  # no resident, no words, no door number
    assert "-B02-U1" not in said and "370124001001-G01-B02" in said  # no finer than the building
