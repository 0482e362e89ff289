"""The local gateways stand-in as `make up` runs it, as its own process: its listing answers
while SMS, WeChat and SMTP messages arrive at once (SMTP on its own thread), each message is
kept and logged once, and the listing says when its in-memory window dropped older ones."""

from __future__ import annotations

import asyncio
import json
import smtplib
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx

from deploy.local.processes import free_ports
from deploy.local.webhook_sink import Inbox
from tests.integration.process import REPO, wait_until_answering

SECRET = "whsec_ZGV2LW9ubHktbG9jYWwtc2luay1zZWNyZXQ="
GATEWAY_KEY = "sink-test-gateway-key"
COMPLAINT = str(uuid.uuid4())


@dataclass
class Sink:
    url: str
    smtp_port: int
    log_file: Path


@contextmanager
def sink_process(home: Path, *args: str) -> Iterator[Sink]:
    port, smtp_port = free_ports(2)
    log_file = home / "messages.jsonl"
    with open(home / "sink.out", "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deploy.local.webhook_sink",
                *("--port", str(port), "--smtp-port", str(smtp_port)),
                *("--secret", SECRET, "--gateway-key", GATEWAY_KEY),
                *("--log-file", str(log_file), *args),
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{url}/messages", home / "sink.out", 30)
        yield Sink(url, smtp_port, log_file)
    finally:
        process.terminate()
        process.wait(10)


async def post_gateway_messages(sink: Sink, kind: str, count: int) -> None:
    """`count` messages through the SMS or WeChat gateway, eight at a time, every tenth sent
    twice (a retry with the same idempotency key)."""
    queue = list(range(count))

    async def sender(client: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop()
            key = f"{kind}-{i}"
            body = {
                "to": "13812345678",
                "text": f"【接诉即办】您反映的诉求已受理 {i}",
                "reference": {"notification_id": key, "complaint_id": COMPLAINT},
            }
            for _ in range(2 if i % 10 == 0 else 1):
                response = await client.post(
                    f"/{kind}",
                    json=body,
                    headers={"Authorization": f"Bearer {GATEWAY_KEY}", "Idempotency-Key": key},
                )
                assert response.status_code == 200, response.text

    async with httpx.AsyncClient(base_url=sink.url, timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(8)))


def send_mails(sink: Sink, count: int) -> None:
    """`count` mails over one SMTP connection, as notify sends them."""
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=30) as smtp:
        for i in range(count):
            mail = EmailMessage()
            mail["From"] = "notify@jiesu.local"
            mail["To"] = "meicheng@example.cn"
            mail["Subject"] = f"新工单 JS-20261203-{i:06d}"
            mail["Message-ID"] = f"<mail-{i}@jiesu.local>"
            mail["X-Jiesu-Complaint"] = COMPLAINT
            mail.set_content("请于2小时内签收。")
            smtp.send_message(mail)


def earlier_messages(log_file: Path, count: int) -> None:
    """A log of `count` messages from an earlier run, for the sink to read back at start (a
    full window makes every listing iterate long enough to meet an arriving mail)."""
    with log_file.open("w", encoding="utf-8") as out:
        for i in range(count):
            record = {"kind": "sms", "key": f"earlier-{i}", "received_at": 0, "to": "13812345678"}
            out.write(json.dumps(record) + "\n")


async def test_the_listing_answers_while_sms_wechat_and_mail_arrive(tmp_path: Path):
    earlier, sms, wechat, mails = 50_000, 500, 500, 500
    earlier_messages(tmp_path / "messages.jsonl", earlier)
    with sink_process(tmp_path) as sink:
        arriving = asyncio.gather(
            post_gateway_messages(sink, "sms", sms),
            post_gateway_messages(sink, "wechat", wechat),
            asyncio.to_thread(send_mails, sink, mails),
        )
        failures: list[str] = []
        polls = 0
        async with httpx.AsyncClient(base_url=sink.url, timeout=30) as client:
            while not arriving.done():
                for params in ({}, {"kind": "email", "limit": 5}, {"complaint_id": COMPLAINT}):
                    polls += 1
                    try:
                        response = await client.get("/messages", params=params)
                    except httpx.HTTPError as error:  # the server dropped the connection
                        failures.append(repr(error))
                        continue
                    if response.status_code != 200:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
            await arriving
            fresh = sms + wechat + mails
            listed = (await client.get("/messages", params={"limit": fresh})).json()
        assert not failures, f"{len(failures)} of {polls} listings failed: {failures[:3]}"
        total = earlier + fresh
        assert (listed["received"], listed["kept"], listed["dropped"]) == (total, total, 0)
        assert "note" not in listed and listed["matching"] == total
        new = [(m["kind"], m["key"]) for m in listed["messages"]]  # the newest first
        assert len(set(new)) == fresh and not any(k.startswith("earlier-") for _, k in new)
        assert Counter(kind for kind, _ in new) == {"sms": sms, "wechat": wechat, "email": mails}
        logged = [json.loads(line) for line in sink.log_file.read_text().splitlines()]
        assert len(logged) == total
        assert sorted((m["kind"], m["key"]) for m in logged[earlier:]) == sorted(new)


async def test_the_listing_says_when_its_window_dropped_older_messages(tmp_path: Path):
    with sink_process(tmp_path, "--window", "100") as sink:
        await post_gateway_messages(sink, "sms", 130)
        await asyncio.to_thread(send_mails, sink, 20)
        async with httpx.AsyncClient(base_url=sink.url, timeout=30) as client:
            listed = (await client.get("/messages", params={"limit": 1000})).json()
            mails = (await client.get("/messages", params={"kind": "email", "limit": 0})).json()
    assert (listed["received"], listed["kept"], listed["dropped"]) == (150, 100, 50)
    assert "更早的 50 条已丢弃" in listed["note"] and "50 older ones were dropped" in listed["note"]
    assert len(listed["messages"]) == 100
    assert listed["messages"][0]["kind"] == "email"  # newest first
    assert (mails["matching"], mails["messages"]) == (20, [])
    assert len(sink.log_file.read_text().splitlines()) == 150  # the log keeps them all


def test_a_restarted_sink_reads_its_log_back_past_a_line_torn_by_a_kill(tmp_path: Path):
    log_file = tmp_path / "messages.jsonl"
    earlier_messages(log_file, 3)
    with log_file.open("a", encoding="utf-8") as out:
        out.write('{"kind": "sms", "key": "torn')  # the sink was killed mid-write
    inbox = Inbox(log_file)
    assert not inbox.keep("sms", "earlier-1", {})  # a retry of an earlier message
    assert inbox.keep("sms", "after", {})
    inbox.close()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and json.loads(lines[-1])["key"] == "after"
    listed = Inbox(log_file).listing(None, None, 10)  # and once more after another restart
    assert listed["received"] == 4
    assert [m["key"] for m in listed["messages"]] == [
        "after",
        "earlier-2",
        "earlier-1",
        "earlier-0",
    ]
