"""Notify against real servers: every audience by every channel, Standard Webhooks verified by
an independent implementation, 410 / 429 / 503, exactly one message per (event, recipient,
channel) across duplicates and a full replay, dead letters and their redrive, the live
stream, and a slow, failing gateway that holds up nothing else."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from deploy.local.processes import free_port
from services.notify import auth as notify_auth
from services.notify import store as notify_store
from services.notify.adapters.channels import SmtpConnections, compose
from services.notify.settings import NotifySettings
from shared.apikeys import key_id_of
from shared.events import (
    Channel,
    ComplaintClosed,
    ComplaintFiled,
    ComplaintResolved,
    ComplaintStatus,
    ComplaintWithdrawn,
    ResponderRole,
    SlaBreached,
    TriageBreached,
    TriageWarned,
)
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS
from tests.integration.cli import run_cli
from tests.integration.conftest import NotifyServer
from tests.integration.gateways import Behaviour, Gateways, smtp_server
from tests.integration.kafka_helpers import publish_events
from tests.support import examples

AREA = "370124001001-G01-B02-U1"
RETRIES = 6  # the fixture's retry schedule has six waits
UNIT = {
    "id": "property-meicheng",
    "name": "玫城丽都物业服务中心",
    "sms": "13905310020",
    "email": "meicheng@example.cn",
    "wechat_openid": "oMEICHENG0001",
}
STREET = {"id": "street-yushan", "name": "榆山街道办事处", "sms": "13905310001"}


async def directory(server: NotifyServer, *entries: dict) -> None:
    async with server.client() as client:
        response = await client.put("/directory", json=list(entries))
        assert response.status_code == 200, response.text


async def subscribe(server: NotifyServer, name: str, **fields: object) -> dict:
    async with server.client() as client:
        response = await client.put(
            f"/subscriptions/{name}", json={"url": f"{server.gateway_url}/hooks/{name}", **fields}
        )
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


def resident_of(server: NotifyServer, complaint_id: uuid.UUID, openid: str | None = None) -> None:
    server.gateways.contacts[str(complaint_id)] = {
        "name": "李君",
        "phone": "13812345678",
        "wechat_openid": openid,
    }


async def deliveries(server: NotifyServer, complaint_id: uuid.UUID) -> list[dict]:
    async with server.client("dev-key-ops") as client:
        response = await client.get("/notifications", params={"complaint_id": str(complaint_id)})
    rows: list[dict] = response.json()
    return rows


def for_complaint(requests: list[dict], complaint_id: uuid.UUID) -> list[dict]:
    return [r for r in requests if str(complaint_id) in r["body"].decode()]


async def test_the_desk_on_duty_hears_of_a_triage_warning_and_breach_and_the_supervisor_of_the_breach(
    notify_server: NotifyServer,
):
    server = notify_server
    street = "370124009000"  # a street of this test's own: no other test puts duty there
    desk = {"id": "desk-street9", "name": "九街道受理值班", "sms": "13905310091"}
    chief = {"id": "chief-street9", "name": "九街道督办", "sms": "13905310092"}
    await directory(
        server,
        {**desk, "area_code": street, "duty": "staff"},
        {**chief, "area_code": street, "duty": "supervisor"},
    )
    filed = examples.complaint_filed(area_code="370124009003")
    now = datetime.now(UTC)
    clock = {
        "complaint_id": filed.complaint_id,
        "status": ComplaintStatus.TRIAGE,
        "due_at": now,
        "occurred_at": now,
        "area_code": filed.area_code,
    }
    server.gateways.contacts[str(filed.complaint_id)] = {"name": "王君", "phone": "13800009999"}
    await server.tell(filed, TriageWarned(**clock), TriageBreached(**clock))

    def told() -> Counter[str]:
        sent = for_complaint(server.gateways.accepted("sms"), filed.complaint_id)
        return Counter(r["json"]["to"] for r in sent)

    await server.until(
        lambda: told() == {desk["sms"]: 2, chief["sms"]: 1, "13800009999": 1},
        what="the desk twice, the supervisor once, the resident's receipt",
    )
    texts = [
        r["json"]["text"]
        for r in for_complaint(server.gateways.accepted("sms"), filed.complaint_id)
        if r["json"]["to"] == chief["sms"]
    ]
    assert "受理时限" in texts[0] and filed.case_number in texts[0]


async def test_a_merged_complaint_s_resident_hears_the_survivor_s_progress_until_unmerged(
    notify_server: NotifyServer,
):
    server = notify_server
    survivor = examples.complaint_filed(case_number="JS-20261124-100001")
    duplicate = examples.complaint_filed(case_number="JS-20261124-100002")
    phones = {survivor.complaint_id: "13800001001", duplicate.complaint_id: "13800001002"}
    for complaint_id, phone in phones.items():
        server.gateways.contacts[str(complaint_id)] = {"name": "居民", "phone": phone}
    now = datetime.now(UTC)
    at = {"actor": "staff:王", "occurred_at": now}
    merged = examples.complaint_merged(duplicate, survivor, now)
    resolved = ComplaintResolved(
        complaint_id=survivor.complaint_id,
        status=ComplaintStatus.RESOLVED,
        report="屋面已修复",
        occurred_at=now,
    )

    def texts(phone: str) -> list[str]:
        return [
            r["json"]["text"] for r in server.gateways.accepted("sms") if r["json"]["to"] == phone
        ]

    def heard(phone: str, *words: str) -> bool:
        return sum(all(w in t for w in words) for t in texts(phone)) == 1

    # The merge is on the duplicate's partition, the result on the survivor's: the result is
    # told once the merge is seen to have been handled (its notice sent).
    await server.tell(survivor, duplicate, merged)
    await server.until(lambda: heard(phones[duplicate.complaint_id], "并案"), what="the merge")
    await server.tell(resolved)

    await server.until(
        lambda: (
            heard(phones[survivor.complaint_id], "屋面已修复", survivor.case_number)
            and heard(
                phones[duplicate.complaint_id], "同一事项已由承办单位办理", duplicate.case_number
            )
        ),
        what="both residents told of the result, each of their own case",
    )
    # what the unit wrote of the survivor's case is its resident's, not the follower's
    assert not any("屋面已修复" in t for t in texts(phones[duplicate.complaint_id]))
    rows = await deliveries(server, duplicate.complaint_id)
    assert {r["template"] for r in rows} == {
        "complaint_receipt",
        "complaint_merged",
        "complaint_resolved",
    }
    unmerged = examples.complaint_unmerged(duplicate, survivor, now)
    closed = ComplaintClosed(
        **at, complaint_id=survivor.complaint_id, status=ComplaintStatus.CLOSED, reason="回访满意"
    )
    # Told in order: the unmerging (then the duplicate's own withdrawal, on the same partition,
    # seen to arrive) before the survivor's closing, which is on another partition.
    withdrawn = ComplaintWithdrawn(
        **at, complaint_id=duplicate.complaint_id, status=ComplaintStatus.WITHDRAWN, reason="撤回"
    )
    await server.tell(unmerged, withdrawn)
    await server.until(
        lambda: heard(phones[duplicate.complaint_id], "已撤回"), what="the duplicate's withdrawal"
    )
    await server.tell(closed)
    await server.until(
        lambda: heard(phones[survivor.complaint_id], "已办结"), what="the survivor's closing"
    )
    templates = {r["template"] for r in await deliveries(server, duplicate.complaint_id)}
    assert "complaint_closed" not in templates, "an unmerged resident follows no more"


async def test_every_audience_hears_by_every_channel(notify_server: NotifyServer):
    server = notify_server
    await directory(server, UNIT, STREET)
    secret = (
        await subscribe(server, "city-board", event_types=["SlaBreached"], area_code="370124001000")
    )["secret"]
    filed = examples.complaint_filed(channel=Channel.WECHAT)
    complaint = filed.complaint_id
    resident_of(server, complaint, openid="oRESIDENT0001")
    order = examples.work_order_issued(complaint)
    breached = SlaBreached(
        work_order_id=order.work_order_id,
        complaint_id=complaint,
        responder_id=UNIT["id"],
        responder_name=UNIT["name"],
        role=ResponderRole.LEAD,
        clock="sign",
        due_at=datetime.now(UTC),
        breached_at=datetime.now(UTC),
        supervisor_ids=[STREET["id"]],
    )
    await server.tell(filed, order, breached)
    expected = {
        # resident: receipt by SMS and WeChat; unit: order and breach by SMS, email and WeChat;
        # street: the breach by SMS; the subscriber: the breach.
        ("sms", "13812345678"): 1,
        ("wechat", "oRESIDENT0001"): 1,
        ("sms", UNIT["sms"]): 2,
        ("wechat", UNIT["wechat_openid"]): 2,
        ("sms", STREET["sms"]): 1,
    }

    def arrived() -> bool:
        got = {}
        for kind in ("sms", "wechat"):
            for r in for_complaint(server.gateways.accepted(kind), complaint):
                to = r["json"].get("to") or r["json"].get("touser")
                got[(kind, to)] = got.get((kind, to), 0) + 1
        mails = [m for m in server.gateways.emails if m["complaint_id"] == str(complaint)]
        hooks = for_complaint(server.gateways.accepted("webhook:city-board"), complaint)
        return got == expected and len(mails) == 2 and len(hooks) == 1

    await server.until(arrived, what="every message")
    sms = next(
        r
        for r in for_complaint(server.gateways.accepted("sms"), complaint)
        if r["json"]["to"] == "13812345678"
    )
    assert "已受理" in sms["json"]["text"] and filed.case_number in sms["json"]["text"]
    assert sms["headers"]["idempotency-key"] == sms["json"]["reference"]["notification_id"]
    mail = next(
        m
        for m in server.gateways.emails
        if m["complaint_id"] == str(complaint) and "超期" in m["subject"]
    )
    assert mail["to"] == [UNIT["email"]] and "签收" in mail["text"]
    [hook] = for_complaint(server.gateways.accepted("webhook:city-board"), complaint)
    verified = Webhook(secret).verify(hook["body"], hook["headers"])
    assert verified["type"] == "SlaBreached" and verified["data"]["supervisor_ids"] == [
        STREET["id"]
    ]
    # A resident is only ever told about their own complaint: no other complaint's data goes out.
    for r in server.gateways.of("sms"):
        if r["json"]["to"] == "13812345678":
            assert r["json"]["reference"]["complaint_id"] == str(complaint)

    async def recorded() -> list[dict] | None:
        rows = await deliveries(server, complaint)
        return rows if {r["status"] for r in rows} == {"delivered"} else None

    outcomes = await server.until(recorded, what="every outcome recorded")
    assert {r["audience"] for r in outcomes} == {
        "resident",
        "responder",
        "supervisor",
        "subscriber",
    }
    # the resident's contact was asked for with each claimed batch, never message by message
    assert server.gateways.one_by_one == 0
    assert [ids for ids in server.gateways.lookups if str(complaint) in ids]


def sent(server: NotifyServer, complaint_id: uuid.UUID) -> Counter[str]:
    """How many times each notification of a complaint reached a gateway, by its idempotency
    key (the notification id: a gateway's `Idempotency-Key`, an email's `Message-ID`)."""
    keys = [r["key"] for r in for_complaint(server.gateways.requests, complaint_id)]
    keys += [
        m["message_id"].strip("<>").split("@")[0]
        for m in server.gateways.emails
        if m["complaint_id"] == str(complaint_id)
    ]
    return Counter(keys)


async def settled(
    server: NotifyServer, complaint_id: uuid.UUID, event_ids: list[uuid.UUID]
) -> list[dict] | None:
    """Every delivery of the complaint, once the events are handled (their deliveries were
    inserted with their inbox rows) and none is pending or being sent; else None."""
    async with server.runtime.pool.acquire() as conn:
        handled = await conn.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = ANY($1)", event_ids
        )
    rows = await deliveries(server, complaint_id)
    done = handled == len(event_ids) and all(
        r["status"] in ("delivered", "abandoned") for r in rows
    )
    return rows if done else None


async def _filed_and_ordered(
    server: NotifyServer, filed: Any, order: Any
) -> tuple[list[dict], list[uuid.UUID]]:
    """A filing and its first order told; the complaint's deliveries once every message of
    both events has settled (the unit's email and WeChat message go out on channels of their
    own, after the SMS or before), and the events' ids."""
    resident_of(server, filed.complaint_id)
    ids = await publish_events(server.bootstrap, COMPLAINT_EVENTS, [filed], "/jiesu/intake")
    ids += await publish_events(server.bootstrap, DISPATCH_EVENTS, [order])
    rows = await server.until(
        lambda: settled(server, filed.complaint_id, ids), what="every delivery settled"
    )
    assert rows and {r["status"] for r in rows} == {"delivered"}
    return rows, ids


async def test_a_duplicate_and_a_full_replay_send_nothing_more(notify_server: NotifyServer):
    server = notify_server
    await directory(server, UNIT)
    filed = examples.complaint_filed()
    order = examples.work_order_issued(filed.complaint_id)
    complaint = filed.complaint_id
    rows, [filed_id, order_id] = await _filed_and_ordered(server, filed, order)
    assert sorted((r["recipient"], r["template"], r["channel"], r["status"]) for r in rows) == [
        (UNIT["id"], "work_order_issued", channel, "delivered")
        for channel in ("email", "sms", "wechat")
    ] + [(f"resident:{complaint}", "complaint_receipt", "sms", "delivered")]
    once = sent(server, complaint)
    assert once == Counter({str(r["notification_id"]): 1 for r in rows})
    before = len(server.gateways.requests) + len(server.gateways.emails)
    # The same events again (a redelivery), then a full replay with the inbox forgotten.
    await publish_events(
        server.bootstrap, COMPLAINT_EVENTS, [filed], "/jiesu/intake", ids=[filed_id]
    )
    await publish_events(server.bootstrap, DISPATCH_EVENTS, [order], ids=[order_id])
    async with server.runtime.pool.acquire() as conn:
        await conn.execute("DELETE FROM inbox WHERE event_id = ANY($1)", [filed_id, order_id])
    await publish_events(
        server.bootstrap, COMPLAINT_EVENTS, [filed], "/jiesu/intake", ids=[filed_id]
    )
    await publish_events(server.bootstrap, DISPATCH_EVENTS, [order], ids=[order_id])
    again = await server.until(
        lambda: settled(server, complaint, [filed_id, order_id]), what="the replay handled"
    )
    await asyncio.sleep(1.0)  # room for any extra message to go out
    assert sent(server, complaint) == once  # each message reached its gateway exactly once
    assert len(server.gateways.requests) + len(server.gateways.emails) == before
    assert again == rows


async def test_new_deliveries_go_to_their_senders_from_the_consumer_without_a_claim(
    notify_server: NotifyServer, monkeypatch
):
    """The consumer inserts a batch's deliveries already claimed and hands them to the
    senders once it has committed: their first attempt takes no claim from the table."""
    server = notify_server
    await directory(server, UNIT)
    handoff = server.runtime.app.handoff
    monkeypatch.setattr(handoff, "lease_s", 60.0)  # a slow machine must not time them out here
    claimed: list[uuid.UUID] = []
    claim = notify_store.claim

    async def watched(*args: Any) -> list[Any]:
        rows = await claim(*args)
        claimed.extend(row["notification_id"] for row in rows)
        return rows

    monkeypatch.setattr(notify_store, "claim", watched)
    filed = examples.complaint_filed()
    rows, _ = await _filed_and_ordered(
        server, filed, examples.work_order_issued(filed.complaint_id)
    )
    assert sent(server, filed.complaint_id) == Counter({str(r["notification_id"]): 1 for r in rows})
    assert {r["attempts"] for r in rows} == {1}  # each sent once: none handed over and claimed too
    assert not {r["notification_id"] for r in rows} & {str(c) for c in claimed}


async def test_deliveries_lost_with_the_process_before_their_hand_over_are_claimed_later(
    notify_server: NotifyServer, monkeypatch
):
    """As if notify died right after the consumer's commit: the deliveries were claimed at
    birth but never reached a sender. When their lease runs out they are claimed from the
    table and sent, once each."""
    server = notify_server
    await directory(server, UNIT)
    handoff = server.runtime.app.handoff
    monkeypatch.setattr(handoff, "lease_s", 1.0)
    monkeypatch.setattr(
        handoff, "give", lambda rows, units, leased_at: None
    )  # lost with the process
    filed = examples.complaint_filed()
    rows, _ = await _filed_and_ordered(
        server, filed, examples.work_order_issued(filed.complaint_id)
    )
    assert sent(server, filed.complaint_id) == Counter({str(r["notification_id"]): 1 for r in rows})
    assert {r["attempts"] for r in rows} == {2}  # the lost hand-over, then the claim


async def test_a_gone_endpoint_is_disabled_and_a_busy_one_is_given_the_time_it_asks(
    notify_server: NotifyServer,
):
    server = notify_server
    # A claimer sleeps until the soonest retry, not until its poll: with a 30 s poll the busy
    # endpoint's retry must still go out about when it asked for.
    settings = server.runtime.settings
    poll_before, settings.delivery_poll_interval_s = settings.delivery_poll_interval_s, 30.0
    try:
        await _gone_and_busy(server)
    finally:
        settings.delivery_poll_interval_s = poll_before


async def _gone_and_busy(server: NotifyServer) -> None:
    await subscribe(server, "gone", event_types=["ComplaintResolved"])
    await subscribe(server, "busy", event_types=["ComplaintResolved"])
    server.gateways.behaviour["webhook:gone"] = Behaviour(status=410)
    server.gateways.behaviour["webhook:busy"] = Behaviour(status=429, retry_after="2")
    resolved = ComplaintResolved(
        complaint_id=uuid.uuid4(),
        status=ComplaintStatus.RESOLVED,
        report="已修复",
        occurred_at=datetime.now(UTC),
    )
    await server.tell(resolved)
    await server.until(
        lambda: server.gateways.of("webhook:gone") and server.gateways.of("webhook:busy")
    )

    async def settled() -> bool:
        rows = {r["recipient"]: r for r in await deliveries(server, resolved.complaint_id)}
        return (
            rows.get("subscription:gone", {}).get("status") == "abandoned"
            and rows.get("subscription:busy", {}).get("status") == "pending"
        )

    await server.until(settled, what="gone abandoned, busy waiting")
    async with server.client() as client:
        listed = {
            s["subscription_id"]: s
            for s in (await client.get("/subscriptions")).json()["subscriptions"]
        }
    assert listed["gone"]["status"] == "disabled" and "410" in listed["gone"]["disabled_reason"]
    async with server.runtime.pool.acquire() as conn:
        retry_at = await conn.fetchval(
            "SELECT next_attempt_at FROM deliveries WHERE complaint_id = $1 AND recipient = 'subscription:busy'",
            resolved.complaint_id,
        )
    # From the 429's answer (not from the row's update: the recorder commits the outcome a
    # moment later, longer on a busy machine, which once made this 1.87 s).
    [answered] = [r["at"] for r in server.gateways.of("webhook:busy")]
    assert retry_at - answered >= timedelta(seconds=2), "Retry-After: 2, not the schedule's 0.2 s"
    server.gateways.behaviour["webhook:busy"] = Behaviour()
    asked_at = time.monotonic()
    await server.until(lambda: server.gateways.accepted("webhook:busy"), what="busy to accept")
    assert time.monotonic() - asked_at < 10, "the retry waited for the poll, not for its time"
    # Enabled again, a later event reaches it.
    async with server.client() as client:
        assert (await client.post("/subscriptions/gone/enable")).json()["status"] == "active"


async def test_abandoned_messages_wait_in_the_dead_letters_until_an_operator_redrives_them(
    notify_server: NotifyServer,
):
    server = notify_server
    await directory(server, STREET)
    server.gateways.behaviour["sms"] = Behaviour(status=500)
    order = examples.work_order_issued(responder_id=STREET["id"], responder_name=STREET["name"])
    unknown = examples.work_order_issued(responder_id="owners-nobody", responder_name="某业委会")
    await server.tell(order, unknown)

    async def abandoned() -> list[dict]:
        async with server.client("dev-key-ops") as client:
            rows = (await client.get("/dead-letters")).json()["dead_letters"]
        return [
            r
            for r in rows
            if r["complaint_id"] in (str(order.complaint_id), str(unknown.complaint_id))
        ]

    async def both() -> list[dict] | None:
        rows = await abandoned()
        return rows if len(rows) == 2 else None

    letters = await server.until(both, what="two dead letters")
    by_channel = {r["channel"]: r for r in letters}
    assert by_channel["sms"]["attempts"] == RETRIES + 1, "the first try and every retry"
    assert by_channel["unaddressed"]["attempts"] == 1
    assert len(for_complaint(server.gateways.of("sms"), order.complaint_id)) == RETRIES + 1
    async with server.runtime.pool.acquire() as conn:
        recorded = [
            (r["stream"], r["type"], outcome["outcome"], outcome["attempt"])
            for r in await conn.fetch(
                "SELECT stream, type, data FROM events WHERE data->>'complaint_id' = $1 "
                "ORDER BY global_position",
                str(order.complaint_id),
            )
            for outcome in r["data"]["outcomes"]
        ]
    stream = f"notifications-{order.complaint_id}"
    assert recorded == [
        *((stream, "NotificationsRecorded", "failed", n) for n in range(1, RETRIES + 1)),
        (stream, "NotificationsRecorded", "abandoned", RETRIES + 1),
    ], "every attempt's outcome, in order, in the complaint's stream"
    # The gateway is mended and the unknown unit added; an operator redrives from the CLI.
    server.gateways.behaviour["sms"] = Behaviour()
    await directory(
        server, STREET, {"id": "owners-nobody", "name": "某业委会", "sms": "13905319999"}
    )
    out = await run_cli(
        "services.notify.cli",
        "dead-letters",
        "redrive",
        *(str(r["notification_id"]) for r in letters),
        env={"NOTIFY_DATABASE_URL": server.database_url},
    )
    assert "redriven: 2" in out
    await server.until(
        lambda: (
            {r["json"]["to"] for r in server.gateways.accepted("sms")}
            >= {STREET["sms"], "13905319999"}
        ),
        what="both delivered after the redrive",
    )
    async with server.runtime.pool.acquire() as conn:
        after = [
            (outcome["outcome"], outcome.get("actor"))
            for r in await conn.fetch(
                "SELECT data FROM events WHERE stream = $1 ORDER BY position", stream
            )
            for outcome in r["data"]["outcomes"]
        ][RETRIES + 1 :]
    assert after[0][0] == "redriven" and after[0][1], "the operator's redrive is recorded"
    listing = await run_cli(
        "services.notify.cli",
        "dead-letters",
        "list",
        env={"NOTIFY_DATABASE_URL": server.database_url},
    )
    assert str(order.complaint_id) not in listing


async def test_an_erased_resident_is_not_messaged_and_nothing_is_retried(
    notify_server: NotifyServer,
):
    server = notify_server
    filed = examples.complaint_filed()
    server.gateways.contacts[str(filed.complaint_id)] = None  # the resident asked to be erased
    await server.tell(filed)

    async def gave_up() -> bool:
        rows = await deliveries(server, filed.complaint_id)
        return bool(rows) and rows[0]["status"] == "abandoned"

    await server.until(gave_up, what="the receipt abandoned")
    [row] = await deliveries(server, filed.complaint_id)
    assert row["attempts"] == 1 and "删除个人信息" in row["last_error"]
    assert not for_complaint(server.gateways.of("sms"), filed.complaint_id)


async def test_the_live_stream_shows_changes_in_an_area_and_resumes_from_the_last_event(
    notify_server: NotifyServer,
):
    server = notify_server
    ours = examples.complaint_filed(area_code="370124001002-G01-B01")
    elsewhere = examples.complaint_filed(area_code="370124002001-G01-B01")
    seen: list[dict] = []

    async def watch(last_event_id: str | None = None, want: int = 1) -> None:
        headers = {
            "X-API-Key": "dev-key-ops",
            **({"Last-Event-ID": last_event_id} if last_event_id else {}),
        }
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream(
                "GET", f"{server.url}/stream", params={"area_code": "370124001000"}, headers=headers
            ) as response,
        ):
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))
                    if len(seen) >= want:
                        return

    watching = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    await server.tell(elsewhere, ours)
    await asyncio.wait_for(watching, 20)
    assert [e["complaint_id"] for e in seen] == [str(ours.complaint_id)]
    assert seen[0]["type"] == "ComplaintFiled" and seen[0]["case_number"] == ours.case_number
    # Missed while away: a dispatch step for the same complaint, read back from Last-Event-ID.
    await server.tell(
        examples.work_order_issued(ours.complaint_id, area_code="370124001002-G01-B01")
    )
    await asyncio.sleep(1.0)
    await asyncio.wait_for(watch(str(seen[0]["id"]), want=2), 20)
    assert seen[1]["type"] == "WorkOrderIssued" and seen[1]["id"] > seen[0]["id"]


async def test_a_slow_failing_gateway_holds_up_neither_email_nor_memory_and_its_backlog_drains(
    notify_server: NotifyServer,
):
    server = notify_server
    await directory(
        server,
        {
            "id": "dept-urban",
            "name": "平阴县城市管理局",
            "sms": "13905310004",
            "email": "urban@example.cn",
        },
    )
    server.gateways.behaviour["sms"] = Behaviour(latency_s=2.0, error_rate=0.2)
    orders = [
        examples.work_order_issued(responder_id="dept-urban", responder_name="平阴县城市管理局")
        for _ in range(30)
    ]
    ids = {str(o.complaint_id) for o in orders}
    started = asyncio.get_running_loop().time()
    await server.tell(*orders)
    # Email is not held up by the slow SMS gateway.
    await server.until(
        lambda: len([m for m in server.gateways.emails if m["complaint_id"] in ids]) == 30,
        timeout=30,
        what="emails",
    )
    emails_done = asyncio.get_running_loop().time() - started
    # While SMS senders wait 2 s on the gateway, they hold no database connection.
    pool = server.runtime.pool
    await server.until(lambda: server.gateways.in_flight.get("sms", 0) >= 3, what="SMS in flight")
    busy = []
    for _ in range(20):
        busy.append(pool.get_size() - pool.get_idle_size())
        await asyncio.sleep(0.05)
    # (A sender that held its connection would keep four busy all the time; lookups, outcomes
    # and the consumer borrow one for a moment.)
    assert statistics.median(busy) < server.runtime.settings.channel_concurrency, busy  # type: ignore[attr-defined]
    sms_so_far = len(
        [
            r
            for r in server.gateways.accepted("sms")
            if r["json"]["reference"]["complaint_id"] in ids
        ]
    )
    assert sms_so_far < 30, "SMS is still going when every email is in"
    assert emails_done < 15
    # Bounded: never more messages in flight to the gateway than the channel's workers.
    assert server.gateways.peak_in_flight["sms"] <= server.runtime.settings.channel_concurrency  # type: ignore[attr-defined]
    # The gateway recovers: the backlog drains, and every SMS went out once.
    server.gateways.behaviour["sms"] = Behaviour()
    await server.until(
        lambda: (
            len(
                {
                    r["key"]
                    for r in server.gateways.accepted("sms")
                    if r["json"]["reference"]["complaint_id"] in ids
                }
            )
            == 30
        ),
        timeout=60,
        what="the SMS backlog to drain",
    )
    async with server.client("dev-key-ops") as client:
        backlog = (await client.get("/backlog")).json()["channels"]
    assert backlog.get("sms", {}).get("pending", 0) == 0


async def test_subscriptions_refuse_unknown_event_types_and_need_an_admin_key(
    notify_server: NotifyServer,
):
    server = notify_server
    async with server.client() as client:
        bad = await client.post(
            "/subscriptions", json={"url": "https://x.example/h", "event_types": ["Nope"]}
        )
        assert bad.status_code == 422 and "Nope" in bad.json()["detail"]
        made = await client.post("/subscriptions", json={"url": "https://x.example/h"})
        assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
        listed = (await client.get("/subscriptions")).json()["subscriptions"]
        assert all("secret" not in s for s in listed), "a secret is shown once, at creation"
    async with server.client("dev-key-ops") as client:
        assert (
            await client.post("/subscriptions", json={"url": "https://x.example/h"})
        ).status_code == 403


async def test_a_subscription_may_not_point_at_this_host_or_its_network(
    notify_server: NotifyServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(notify_server.runtime.settings, "webhook_allowed_hosts", "")
    async with notify_server.client() as client:
        answers = [
            await client.post("/subscriptions", json={"url": url})
            for url in (
                "http://169.254.169.254/latest/meta-data/iam/",
                "http://127.0.0.1:8001/complaints",
                "http://localhost:5432/",
                "http://10.1.2.3/hook",
            )
        ]
    assert [a.status_code for a in answers] == [422] * 4
    assert all(a.json()["errors"][0]["field"] == "url" for a in answers)


async def test_an_ops_key_for_one_street_watches_that_street_only(notify_server: NotifyServer):
    inside = examples.complaint_filed()  # 榆山街道
    outside = examples.complaint_filed(area_code="370124002001-G01")  # 锦水街道
    await notify_server.tell(inside, outside)

    async def both_known() -> bool:
        async with notify_server.runtime.pool.acquire() as conn:
            facts = await notify_store.facts_of(conn, {inside.complaint_id, outside.complaint_id})
        return len(facts) == 2

    await notify_server.until(both_known, what="notify to learn of both complaints")
    async with notify_server.runtime.pool.acquire() as conn:
        _, secret = await notify_auth.KEYS.create(
            conn, name="榆山街道指挥中心", role=notify_auth.Role.OPS, scope="370124001000"
        )
    async with notify_server.client(secret) as client:
        own = await client.get("/notifications", params={"complaint_id": str(inside.complaint_id)})
        other = await client.get(
            "/notifications", params={"complaint_id": str(outside.complaint_id)}
        )
        dead = await client.get("/dead-letters")
        elsewhere = await client.get("/stream", params={"area_code": "370124002000"})
    assert own.status_code == 200 and own.json()
    assert other.status_code == 404
    assert dead.status_code == 200
    assert all(d["complaint_id"] != str(outside.complaint_id) for d in dead.json()["dead_letters"])
    assert elsewhere.status_code == 404


def _mail(n: int) -> tuple[str, str, bytes]:
    mail = compose(
        sender="noreply@jiesu.local",
        to=UNIT["email"],
        subject=f"新工单 {n}",
        message_id=f"<mail-{n}@jiesu.local>",
        complaint_id=uuid.uuid4(),
        text="请于2小时内签收。",
    )
    return "noreply@jiesu.local", UNIT["email"], mail


async def test_smtp_sessions_are_kept_and_one_the_server_closed_is_opened_again():
    gateways, port = Gateways(), free_port()
    server = smtp_server(gateways, port)
    connections = SmtpConnections(NotifySettings(smtp_port=port, database_url="postgresql://-"))
    opened = 0
    open_session = connections._open

    async def counted() -> Any:
        nonlocal opened
        opened += 1
        return await open_session()

    connections._open = counted  # type: ignore[method-assign]
    try:
        await asyncio.gather(*(connections.send(*_mail(n)) for n in (1, 2)))
        kept = list(connections._idle)
        assert len(kept) == 2  # one session per concurrent sender
        await connections.send(*_mail(3))
        assert set(connections._idle) == set(kept)  # the next mail went on a kept session
        server.stop()  # the server goes away and comes back: the kept sessions are dead
        server = smtp_server(gateways, port)
        await connections.send(*_mail(4))
        assert opened == 3  # two at first, one again when a kept one was found closed
        # (1 and 2 went out at once, in either order)
        assert sorted(m["message_id"] for m in gateways.emails) == [
            f"<mail-{n}@jiesu.local>" for n in (1, 2, 3, 4)
        ]
    finally:
        await connections.close()
        server.stop()


async def test_a_subscriber_manages_its_own_subscriptions_within_its_area_and_types_only(
    notify_server: NotifyServer,
):
    server = notify_server
    board = await server.subscriber_key("榆山大屏", "370124001000", "SlaBreached", "CaseResolved")
    other = await server.subscriber_key("锦水大屏", "370124002000")
    hook = {"url": f"{server.gateway_url}/hooks/subscriber-board"}
    async with server.client(board) as client:
        made = await client.post("/subscriptions", json=hook)
        assert made.status_code == 201, made.text
        mine = made.json()
        # none given: its key's area and types
        assert mine["area_code"] == "370124001000"
        assert mine["event_types"] == ["SlaBreached", "CaseResolved"]
        narrower = await client.post(
            "/subscriptions",
            json={**hook, "area_code": "370124001001", "event_types": ["CaseResolved"]},
        )
        assert narrower.status_code == 201
        wider_area = await client.post("/subscriptions", json={**hook, "area_code": "370124000000"})
        elsewhere = await client.post("/subscriptions", json={**hook, "area_code": "370124002000"})
        wider_types = await client.post(
            "/subscriptions", json={**hook, "event_types": ["ComplaintFiled"]}
        )
        listed = (await client.get("/subscriptions")).json()
        refused = [
            await client.get("/directory"),
            await client.get("/dead-letters"),
            await client.get("/backlog"),
            await client.put(f"/subscriptions/{mine['subscription_id']}", json=hook),
        ]
    assert [r.status_code for r in (wider_area, elsewhere, wider_types)] == [403, 403, 403]
    assert all("audience" not in r.json() for r in (wider_area, elsewhere, wider_types))
    assert {s["subscription_id"] for s in listed["subscriptions"]} == {
        mine["subscription_id"],
        narrower.json()["subscription_id"],
    }
    assert listed["event_types"] == ["CaseResolved", "SlaBreached"]
    assert all(r.status_code == 403 and "audience" in r.json() for r in refused)

    theirs = mine["subscription_id"]
    async with server.client(other) as client:
        seen = (await client.get("/subscriptions")).json()["subscriptions"]
        paused = await client.post(f"/subscriptions/{theirs}/pause")
        deleted = await client.delete(f"/subscriptions/{theirs}")
        enabled = await client.post(f"/subscriptions/{theirs}/enable")
    assert seen == [] and [r.status_code for r in (paused, deleted, enabled)] == [404, 404, 404]

    async with server.client(board) as client:
        paused = await client.post(f"/subscriptions/{theirs}/pause")
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        assert (await client.delete(f"/subscriptions/{theirs}")).status_code == 200
    async with server.client() as client:  # the admin sees every subscription
        everything = {
            s["subscription_id"]
            for s in (await client.get("/subscriptions")).json()["subscriptions"]
        }
    assert narrower.json()["subscription_id"] in everything and theirs not in everything


async def test_a_subscriber_receives_only_its_area_and_nothing_once_its_key_is_revoked(
    notify_server: NotifyServer,
):
    server = notify_server
    secret = await server.subscriber_key("九街道大屏", "370124009000", "ComplaintResolved")
    async with server.client(secret) as client:
        made = await client.post(
            "/subscriptions", json={"url": f"{server.gateway_url}/hooks/street9-board"}
        )
    assert made.status_code == 201, made.text
    inside, later = (examples.complaint_filed(area_code="370124009001") for _ in "12")
    outside = examples.complaint_filed(area_code="370124008001")

    async def resolve(filed: ComplaintFiled) -> list[dict]:
        """Its resolution told, once handled (its resident's message recorded): the rows."""
        server.gateways.contacts[str(filed.complaint_id)] = {"name": "居民", "phone": "13800002001"}
        done = ComplaintResolved(
            complaint_id=filed.complaint_id,
            status=ComplaintStatus.RESOLVED,
            report="已处理",
            occurred_at=datetime.now(UTC),
        )
        await server.tell(filed, done)

        async def handled() -> list[dict]:
            rows = await deliveries(server, filed.complaint_id)
            return rows if any(r["template"] == "complaint_resolved" for r in rows) else []

        rows: list[dict] = await server.until(handled, what="the resolution handled")
        return rows

    def to_board(rows: list[dict]) -> list[dict]:
        return [
            r for r in rows if r["recipient"] == f"subscription:{made.json()['subscription_id']}"
        ]

    assert len(to_board(await resolve(inside))) == 1
    assert to_board(await resolve(outside)) == [], "outside its key's area"
    async with server.runtime.pool.acquire() as conn:
        await conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", key_id_of(secret)
        )
    assert to_board(await resolve(later)) == [], "a revoked key's subscriptions receive nothing"
