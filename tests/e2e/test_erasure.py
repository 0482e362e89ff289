"""A resident's erasure reaches every service: after it, no table of any service's database
(the event stores included), no record of any topic read from the beginning, no webhook
payload and no API answer holds the resident's phone, name, words or address below the
building, while another resident's complaint is untouched.

The event stores and topics keep every fact as it was written: what a filing said is sealed
there under the resident's key (shared/sealing.py), which the erasure destroyed.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.local.runner import SERVICES, SINK_SECRET
from tests.e2e.conftest import RunningStack, until
from tests.support import examples

pytestmark = pytest.mark.e2e

# Tables left out of the scan: none (the event stores too hold nothing of the resident's).
LEFT_OUT: set[str] = set()


def resident(marker: str, phone: str, name: str, index: int) -> dict[str, Any]:
    body = examples.complaint_request(index)
    body["contact"] = {"name": name, "phone": phone}
    body["text"] = f"{body['text']}，我是{name}，暗号{marker}"
    body["address"] = f"{body['address']}（{marker}室）"
    return body


SCANNED: dict[str, int] = {}  # tables scanned per database


async def table_hits(database_url: str, needles: list[str]) -> dict[str, int]:
    """Rows of each table that hold any of `needles`."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r["tablename"] not in LEFT_OUT
        ]
        hits = {}
        SCANNED[database_url] = len(tables)
        for table in tables:
            found = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE ANY($1::text[])',
                [f"%{n}%" for n in needles],
            )
            if found:
                hits[table] = found
        return hits
    finally:
        await conn.close()


def forms(needles: list[str]) -> list[bytes]:
    """Each needle as UTF-8 and as a JSON writer that escapes non-ASCII writes it (\\uXXXX)."""
    return sorted({form for n in needles for form in (n.encode(), json.dumps(n)[1:-1].encode())})


async def topic_hits(bootstrap: str, needles: list[str]) -> tuple[dict[str, int], int, int]:
    """Records of every topic, each read from the beginning to its end, whose value or headers
    hold any of `needles`: hits per topic, topics read, records read."""
    wanted = forms(needles)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if not t.startswith("__"))
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(partitions)
        hits: dict[str, int] = {}
        records = 0
        deadline = time.monotonic() + 60
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            assert time.monotonic() < deadline, "timed out reading the topics"
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    records += 1
                    raw = (m.value or b"") + b"".join(v or b"" for _, v in m.headers)
                    if any(w in raw for w in wanted):
                        hits[m.topic] = hits.get(m.topic, 0) + 1
        return hits, len(topics), records
    finally:
        await consumer.stop()


def webhook_payloads(stack: RunningStack) -> list[bytes]:
    """Every webhook payload the local sink received. (Its SMS, WeChat and email logs are the
    gateways' copies of messages sent to the resident before the erasure: outside the
    platform, as a phone company's records are.)"""
    log = stack.state_dir / "logs" / "messages.jsonl"
    lines = log.read_bytes().splitlines() if log.exists() else []
    return [line for line in lines if json.loads(line)["kind"] == "webhook"]


def hits_in(payloads: list[bytes], needles: list[str]) -> int:
    wanted = forms(needles)
    return sum(1 for payload in payloads if any(w in payload for w in wanted))


async def test_an_erased_resident_is_gone_from_every_read_model_and_answer(stack: RunningStack):
    marker = uuid.uuid4().hex[:10]
    erased_phone, kept_phone = "13700009871", "13700009872"
    erased = resident(f"E{marker}", erased_phone, "欧阳秀兰", 0)
    kept = resident(f"K{marker}", kept_phone, "司马建国", 1)
    intake, reporting = stack.url("intake"), stack.url("reporting")
    async with httpx.AsyncClient(timeout=15) as client:
        # A downstream system subscribed to filings: what it is sent is scanned too.
        subscribed = await client.put(
            f"{stack.url('notify')}/subscriptions/erasure-scan",
            json={
                "url": stack.url("webhook-sink").replace("/messages", "/webhooks"),
                "secret": SINK_SECRET,
                "event_types": ["ComplaintFiled"],
            },
            headers=examples.ADMIN_KEY,
        )
        assert subscribed.status_code in (200, 201), subscribed.text
        filed = {}
        for who, body in (("erased", erased), ("kept", kept)):
            answer = await client.post(
                f"{intake}/complaints", json=body, headers=examples.STAFF_KEY
            )
            assert answer.status_code == 201, answer.text
            filed[who] = answer.json()

        async def dispatched_and_told() -> bool:
            cases = [
                await client.get(f"{reporting}/cases/{f['complaint_id']}", headers=examples.READER)
                for f in filed.values()
            ]
            return all(
                c.status_code == 200 and c.json()["lead_responder"] and c.json()["notifications"]
                for c in cases
            )

        await until(dispatched_and_told, 90, "both cases dispatched and their residents told")

        async def filings_sent_on() -> bool:
            sent = b"".join(webhook_payloads(stack))
            return all(f["complaint_id"].encode() in sent for f in filed.values())

        await until(filings_sent_on, 60, "the filings sent to the subscriber")
        gone = await client.post(
            f"{intake}/residents/erasure", json={"phone": erased_phone}, headers=examples.STAFF_KEY
        )
        assert gone.status_code == 200, gone.text
        erased_id, kept_id = filed["erased"]["complaint_id"], filed["kept"]["complaint_id"]

        async def redacted_in_reporting() -> bool:
            case = await client.get(f"{reporting}/cases/{erased_id}", headers=examples.READER)
            return case.status_code == 200 and case.json()["text"] is None

        await until(redacted_in_reporting, 60, "reporting to follow the erasure")
        answers = {
            "intake complaint": await client.get(
                f"{intake}/complaints/{erased_id}", headers=examples.STAFF_KEY
            ),
            "intake events": await client.get(
                f"{intake}/complaints/{erased_id}/events", headers=examples.STAFF_KEY
            ),
            "intake lookup": await client.get(
                f"{intake}/lookup",
                params={"case_number": filed["erased"]["case_number"], "phone_tail": "9871"},
            ),
            "open311": await client.get(
                f"{intake}/open311/v2/requests/{filed['erased']['case_number']}.json"
            ),
            "reporting case": await client.get(
                f"{reporting}/cases/{erased_id}", headers=examples.READER
            ),
            "reporting cases csv": await client.get(
                f"{reporting}/cases", params={"format": "csv"}, headers=examples.READER
            ),
            "reporting board": await client.get(f"{reporting}/board"),
            "dispatch case": await client.get(
                f"{stack.url('dispatch')}/cases/{erased_id}", headers=examples.ADMIN_KEY
            ),
            "notify notifications": await client.get(
                f"{stack.url('notify')}/notifications",
                params={"complaint_id": erased_id},
                headers=examples.ADMIN_KEY,
            ),
            "kept reporting case": await client.get(
                f"{reporting}/cases/{kept_id}", headers=examples.READER
            ),
        }
    masked = f"{erased_phone[:3]}****{erased_phone[-4:]}"  # as the filing's answer shows it
    needles = [erased_phone, erased_phone[-8:], masked, "欧阳秀兰", f"E{marker}"]
    kept_needles = [f"K{marker}"]

    answer_hits = {
        name: [n for n in needles if n in a.text]
        for name, a in answers.items()
        if name != "kept reporting case"
    }
    tables = {
        service: await table_hits(stack.database_url(service), needles) for service in SERVICES
    }
    kept_tables = {
        service: await table_hits(stack.database_url(service), kept_needles)
        for service in ("intake", "reporting")
    }
    bootstrap = stack.state()["kafka_bootstrap_servers"]
    topics, topic_count, records = await topic_hits(bootstrap, needles)
    # What anyone said travels sealed: the kept resident's words are on no topic either.
    kept_topics, _, _ = await topic_hits(bootstrap, kept_needles)
    payloads = webhook_payloads(stack)
    webhooks, kept_webhooks = hits_in(payloads, needles), hits_in(payloads, kept_needles)
    print(
        f"erasure scan: {len(answer_hits)} answers, "
        f"{sum(SCANNED[stack.database_url(s)] for s in SERVICES)} tables of {len(SERVICES)} "
        f"services, {topic_count} topics ({records} records), {len(payloads)} webhook payloads; "
        f"hits: {sum(map(len, answer_hits.values()))} in answers, "
        f"{sum(sum(t.values()) for t in tables.values())} rows in tables, "
        f"{sum(topics.values())} records on topics, {webhooks} webhook payloads"
    )
    assert all(a.status_code < 500 for a in answers.values())
    assert {name: hits for name, hits in answer_hits.items() if hits} == {}
    assert {service: hits for service, hits in tables.items() if hits} == {}
    assert topics == {} and kept_topics == {} and webhooks == 0 and kept_webhooks == 0
    assert topic_count >= 3 and records > 0
    # the other resident is untouched
    assert f"K{marker}" in answers["kept reporting case"].json()["text"]
    assert kept_tables["intake"] and kept_tables["reporting"]
    # what counts the erased case stays: where (to the building), what, which steps
    case = answers["reporting case"].json()
    assert case["category"] and case["lead_responder"] and case["address"]
    assert "室" not in case["address"]
