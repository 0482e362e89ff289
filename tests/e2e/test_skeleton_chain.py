"""End to end: complaints filed over HTTP reach the case read model with their work orders and
both notifications, none missing and none doubled, also while processes die."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import RunningStack
from tests.support import examples

pytestmark = pytest.mark.e2e

COMPLAINTS = 100


async def file_complaints(
    stack: RunningStack, count: int, marker: str, *, on_progress=None
) -> list[dict[str, Any]]:
    """File `count` complaints, 10 at a time, retrying each with its Idempotency-Key until accepted."""
    url = stack.url("intake") + "/complaints"
    limit = asyncio.Semaphore(10)
    filed: list[dict[str, Any]] = []

    async def file_one(client: httpx.AsyncClient, index: int) -> None:
        body = examples.complaint_request(index)
        body["address"] = f"{body['address']}（{marker}-{index}）"
        key = f"{marker}-{index}"
        deadline = time.monotonic() + 120
        async with limit:
            while True:
                try:
                    response = await client.post(
                        url, json=body, headers={"Idempotency-Key": key, **examples.STAFF_KEY}
                    )
                    if response.status_code == 201:
                        filed.append({**response.json(), "key": key, "request": body})
                        if on_progress is not None:
                            await on_progress(len(filed))
                        return
                    assert response.status_code >= 500, response.text
                except httpx.TransportError:
                    pass  # the service is restarting: retry, the key makes it safe
                assert time.monotonic() < deadline, f"complaint {key} was never accepted"
                await asyncio.sleep(0.5)

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(file_one(client, i) for i in range(count)))
    return filed


def _complete(case: dict[str, Any]) -> bool:
    """Dispatched, every order's responder and the resident told, and the filing projected:
    reporting reads intake's, dispatch's and notify's topics apart, and shows a case as
    dispatched from dispatch's events alone. After the broker restarts empty it re-reads every
    topic from the start, and intake's (every earlier filing again) can still be behind when a
    case is dispatched and notified."""
    filed = any(entry["type"] == "ComplaintFiled" for entry in case["timeline"])
    notified = {
        (n["audience"], n["recipient"]) for n in case["notifications"] if n["status"] == "delivered"
    }
    residents = [n for n in notified if n[0] == "resident"]
    orders = case["work_orders"]
    return (
        filed
        and case["status"] == "dispatched"
        and bool(orders)
        and len(residents) == 1
        and all(("responder", order["responder_id"]) in notified for order in orders)
    )


async def wait_for_cases(stack: RunningStack, ids: list[str], timeout: float) -> dict[str, dict]:
    base = stack.url("reporting")
    cases: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10, headers=examples.READER) as client:
        while True:
            pending = [i for i in ids if i not in cases or not _complete(cases[i])]
            if not pending:
                return cases
            if time.monotonic() > deadline:
                missing = [i for i in pending if i not in cases]
                raise AssertionError(
                    f"{len(pending)} of {len(ids)} cases incomplete after {timeout:.0f}s "
                    f"({len(missing)} missing entirely)\n{stack.log_tail('runner')}"
                )
            for chunk in range(0, len(pending), 20):
                responses = await asyncio.gather(
                    *(client.get(f"{base}/cases/{i}") for i in pending[chunk : chunk + 20]),
                    return_exceptions=True,
                )
                for complaint_id, response in zip(
                    pending[chunk : chunk + 20], responses, strict=True
                ):
                    if isinstance(response, httpx.Response) and response.status_code == 200:
                        cases[complaint_id] = response.json()
            await asyncio.sleep(0.3)


def delivered(case: dict[str, Any]) -> int:
    """Messages the gateways received. (A resident who came in by WeChat and has no openid is
    abandoned on that channel: reporting shows it, no gateway hears of it.)"""
    return sum(1 for n in case["notifications"] if n["status"] == "delivered")


async def settled(
    stack: RunningStack, cases: dict[str, dict], timeout: float = 60.0
) -> tuple[dict[str, dict], Counter[str]]:
    """The cases once the gateways hold every message reporting knows of, and the other way
    round (messages still in flight when the cases became complete arrive meanwhile)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            received = (
                await client.get(stack.url("webhook-sink"), params={"limit": 200000})
            ).json()["messages"]
            per_case = Counter(m["complaint_id"] for m in received if m["complaint_id"] in cases)
            behind = [i for i, case in cases.items() if per_case[i] != delivered(case)]
            if not behind or time.monotonic() > deadline:
                return cases, per_case
            for complaint_id in behind:
                response = await client.get(
                    f"{stack.url('reporting')}/cases/{complaint_id}", headers=examples.READER
                )
                cases[complaint_id] = response.json()
            await asyncio.sleep(0.5)


async def assert_none_missing_none_doubled(
    stack: RunningStack, filed: list[dict[str, Any]], cases: dict[str, dict], marker: str
) -> None:
    assert len(filed) == COMPLAINTS
    assert len({f["complaint_id"] for f in filed}) == COMPLAINTS
    assert len({f["case_number"] for f in filed}) == COMPLAINTS
    cases, per_case = await settled(stack, cases)
    for complaint_id, case in cases.items():
        types = Counter(entry["type"] for entry in case["timeline"])
        assert types["ComplaintFiled"] == 1, complaint_id
        responders = [order["responder_id"] for order in case["work_orders"]]
        assert len(responders) == len(set(responders)), (
            f"a responder got two orders: {complaint_id}"
        )
        assert types["WorkOrderIssued"] == len(responders)
        # One message per (recipient, channel, template): a resident hears of the receipt and
        # of the dispatch, a unit may be reached by SMS and WeChat; nobody hears a thing twice.
        sent = Counter(
            (n["audience"], n["recipient"], n["channel"], n["template"])
            for n in case["notifications"]
        )
        assert all(count == 1 for count in sent.values()), f"doubled notice: {sent}"
        assert len({(audience, recipient) for audience, recipient, _, _ in sent}) == 1 + len(
            responders
        )

    # The stores agree: one filing per request in intake (sealed there: what was said is not
    # in the clear), one case per filing in reporting (opened there: the address is).
    intake = await asyncpg.connect(stack.database_url("intake"))
    reporting = await asyncpg.connect(stack.database_url("reporting"))
    try:
        filings = await intake.fetchval(
            "SELECT count(*) FROM events WHERE type = 'ComplaintFiled' "
            "AND data->>'complaint_id' = ANY($1::text[]) AND data ? 'sealed'",
            [f["complaint_id"] for f in filed],
        )
        in_clear = await intake.fetchval(
            "SELECT count(*) FROM events WHERE data::text LIKE $1", f"%（{marker}-%"
        )
        projected = await reporting.fetchval(
            "SELECT count(*) FROM cases WHERE address LIKE $1", f"%（{marker}-%"
        )
    finally:
        await intake.close()
        await reporting.close()
    assert filings == COMPLAINTS and in_clear == 0
    assert projected == COMPLAINTS

    # And the gateways received each message exactly once.
    for complaint_id, case in cases.items():
        assert per_case[complaint_id] == delivered(case), complaint_id


async def assert_one_conversation_per_complaint(stack: RunningStack, ids: list[str]) -> None:
    """From filing to notification, every event about a complaint shares the filing's
    correlation id and names the event that caused it."""
    events: list[asyncpg.Record] = []
    for service in ("intake", "dispatch", "notify"):
        conn = await asyncpg.connect(stack.database_url(service))
        try:
            events += await conn.fetch(
                "SELECT id, type, data->>'complaint_id' AS complaint_id, "
                "metadata->>'correlation_id' AS correlation, metadata->>'causation_id' AS cause, "
                "data->'outcomes' AS outcomes "
                "FROM events WHERE data->>'complaint_id' = ANY($1::text[])",
                ids,
            )
        finally:
            await conn.close()
    by_complaint: dict[str, list[asyncpg.Record]] = {}
    for event in events:
        by_complaint.setdefault(event["complaint_id"], []).append(event)
    assert set(by_complaint) == set(ids)
    for complaint_id, history in by_complaint.items():
        [filing] = [e for e in history if e["type"] == "ComplaintFiled"]
        orders = {str(e["id"]) for e in history if e["type"] == "WorkOrderIssued"}
        assert {e["correlation"] for e in history} == {filing["correlation"]}, complaint_id
        assert filing["cause"] is None
        [classified] = [e for e in history if e["type"] == "ComplaintClassified"]
        assert classified["cause"] is None  # written with the filing, in the same request
        for event in history:
            if event["type"] == "WorkOrderIssued":
                assert event["cause"] == str(classified["id"])
            elif event["type"] == "ComplaintDispatched":
                assert event["cause"] in orders  # intake mirrors the lead order
            elif event["type"] == "NotificationsRecorded":
                # Each outcome answers the complaint's own event its message announces (a
                # filing, an order, a step); the envelope names it when they all answer one.
                ids = {str(e["id"]) for e in history}
                asked = {o["requested_by"] for o in json.loads(event["outcomes"])}
                assert asked <= ids, complaint_id
                assert event["cause"] == (asked.pop() if len(asked) == 1 else None)


async def test_a_hundred_complaints_reach_the_case_read_model_with_orders_and_notifications(stack):
    marker = f"e2e-{uuid.uuid4().hex[:6]}"
    filed = await file_complaints(stack, COMPLAINTS, marker)
    cases = await wait_for_cases(stack, [f["complaint_id"] for f in filed], timeout=90)
    await assert_none_missing_none_doubled(stack, filed, cases, marker)
    await assert_one_conversation_per_complaint(stack, [f["complaint_id"] for f in filed])

    first = cases[filed[0]["complaint_id"]]
    assert first["case_number"] == filed[0]["case_number"]
    assert first["lead_responder"]["name"]
    assert first["timeline"][0]["type"] == "ComplaintFiled"
    async with httpx.AsyncClient(timeout=10, headers=examples.READER) as client:
        page = (
            await client.get(
                stack.url("reporting") + "/cases",
                params={"area_code": "370124001001", "status": "dispatched", "limit": 5},
            )
        ).json()
    assert page["total"] >= 1 and len(page["items"]) <= 5
    assert all(item["area_code"].startswith("370124001001") for item in page["items"])


def sigkill_after(pid: int, accepted: int) -> tuple[asyncio.Event, Any]:
    """A progress callback that SIGKILLs `pid` once `accepted` complaints were accepted."""
    killed = asyncio.Event()

    async def on_progress(count: int) -> None:
        if count >= accepted and not killed.is_set():
            killed.set()
            os.kill(pid, signal.SIGKILL)

    return killed, on_progress


async def test_nothing_is_lost_or_doubled_while_dispatch_is_killed_and_restarted(stack):
    marker = f"kill-dispatch-{uuid.uuid4().hex[:6]}"
    victim = stack.pid("dispatch")
    killed, kill_midway = sigkill_after(victim, accepted=30)
    filed = await file_complaints(stack, COMPLAINTS, marker, on_progress=kill_midway)
    assert killed.is_set()
    cases = await wait_for_cases(stack, [f["complaint_id"] for f in filed], timeout=150)
    await assert_none_missing_none_doubled(stack, filed, cases, marker)
    assert stack.pid("dispatch") != victim
    assert stack.state()["service_restarts"]["dispatch"] >= 1


async def test_nothing_is_lost_or_doubled_while_notify_is_killed_in_the_middle_of_sending(stack):
    """Notify dies with messages claimed, some already accepted by the gateway and not yet
    recorded: after the restart each goes out again under the same idempotency key, so the
    gateway still holds each message once, and none is missing."""
    marker = f"kill-notify-{uuid.uuid4().hex[:6]}"
    victim = stack.pid("notify")
    killed, kill_midway = sigkill_after(victim, accepted=30)
    filed = await file_complaints(stack, COMPLAINTS, marker, on_progress=kill_midway)
    assert killed.is_set()
    cases = await wait_for_cases(stack, [f["complaint_id"] for f in filed], timeout=150)
    await assert_none_missing_none_doubled(stack, filed, cases, marker)
    assert stack.pid("notify") != victim
    assert stack.state()["service_restarts"]["notify"] >= 1


async def test_nothing_is_lost_or_doubled_while_the_broker_is_killed_and_restarted_empty(stack):
    marker = f"kill-broker-{uuid.uuid4().hex[:6]}"
    restarts_before = stack.state()["broker_restarts"]
    killed, kill_midway = sigkill_after(stack.pid("broker"), accepted=30)
    filed = await file_complaints(stack, COMPLAINTS, marker, on_progress=kill_midway)
    assert killed.is_set()
    cases = await wait_for_cases(stack, [f["complaint_id"] for f in filed], timeout=180)
    await assert_none_missing_none_doubled(stack, filed, cases, marker)
    assert stack.state()["broker_restarts"] == restarts_before + 1
