"""Intake's front door over real HTTP, Postgres and broker: filing, the whole life, triage, safety."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.intake import auth
from services.intake.app import Intake
from services.intake.auth import Role
from services.intake.handlers import HANDLERS, mirror_batch
from shared.consumer import ConsumedRecord, IdempotentConsumer
from shared.envelope import Causation, Envelope, to_kafka
from shared.events import (
    CaseResolved,
    Channel,
    DeliberationConcluded,
    DeliberationRequested,
    ExtensionApproved,
    OrderClock,
    WorkOrderSigned,
)
from shared.ratelimit import RateLimiter
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS
from tests.integration.cli import run_cli
from tests.integration.conftest import IntakeServer
from tests.integration.kafka_helpers import publish_events, read_topic
from tests.support import examples

STAFF = examples.STAFF_KEY


def unique_text(base: str) -> str:
    return f"{base}（{uuid.uuid4().hex[:6]}）"


async def act(server: IntakeServer, ref: str, action: str, body: dict[str, Any]) -> httpx.Response:
    async with server.client(**STAFF) as client:
        return await client.post(f"/complaints/{ref}/{action}", json=body)


async def publish(server: IntakeServer, *events: Any) -> None:
    """Publish as dispatch would, onto the topic intake consumes."""
    await publish_events(server.settings.kafka_bootstrap_servers, DISPATCH_EVENTS, events)


async def wait_for_status(
    server: IntakeServer, ref: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    async with server.client(**STAFF) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            body = (await client.get(f"/complaints/{ref}")).json()
            if body["status"] == status:
                return body
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.1)


# --- filing --------------------------------------------------------------------------------


async def test_a_filed_complaint_is_classified_and_answered_only_after_commit(intake_server):
    body = examples.complaint_request(0, type=None, category=None, attributes={})
    async with intake_server.client(**examples.channel_key(body["channel"])) as client:
        response = await client.post("/complaints", json=body)
    assert response.status_code == 201, response.text
    filed = response.json()
    assert response.headers["Location"] == f"/complaints/{filed['complaint_id']}"
    assert filed["case_number"].startswith("JS-")
    assert filed["category"] == "roof-leak" and filed["confidence"] > 0
    assert filed["masked_phone"].count("*") == 4
    async with intake_server.runtime.pool.acquire() as conn:
        types = await conn.fetch(
            "SELECT type FROM events WHERE stream = $1 ORDER BY position",
            f"complaint-{filed['complaint_id']}",
        )
    assert [r["type"] for r in types][:2] == ["ComplaintFiled", "ComplaintClassified"]


async def test_unknown_area_codes_and_categories_are_422(intake_server):
    async with intake_server.client(**STAFF) as client:
        unknown_area = await client.post(
            "/complaints", json=examples.complaint_request(1, area_code="370124999999")
        )
        unknown_category = await client.post(
            "/complaints", json=examples.complaint_request(1, category="ufo-sighting")
        )
    assert unknown_area.status_code == 422
    assert unknown_area.headers["content-type"].startswith("application/problem+json")
    assert unknown_area.json()["errors"][0]["field"] == "area_code"
    assert (
        unknown_category.status_code == 422 and "ufo-sighting" in unknown_category.json()["detail"]
    )


async def test_answers_to_the_categorys_questions_are_validated(intake_server):
    async with intake_server.client(**STAFF) as client:
        missing = await client.post(
            "/complaints", json=examples.complaint_request(0, attributes={"rooms": ["garage"]})
        )
    assert missing.status_code == 422
    fields = " ".join(e["message"] for e in missing.json()["errors"])
    assert "attribute[floor]" in fields and "attribute[rooms]" in fields


async def test_gcj02_coordinates_are_stored_as_wgs84(intake_server):
    gcj = {"latitude": 36.29319, "longitude": 116.44801, "datum": "gcj02"}
    filed = await intake_server.file(2, **gcj)
    assert abs(filed["latitude"] - gcj["latitude"]) > 1e-4  # moved by the datum shift
    assert 36.28 < filed["latitude"] < 36.30 and 116.43 < filed["longitude"] < 116.45


# --- safety of the door ---------------------------------------------------------------------


async def test_without_a_valid_key_the_door_stays_shut(intake_server):
    body = examples.complaint_request(1)
    async with intake_server.client() as client:
        none = await client.post("/complaints", json=body)
        wrong = await client.post("/complaints", json=body, headers={"X-API-Key": "guess"})
    assert none.status_code == 401 and wrong.status_code == 401
    assert none.headers["content-type"].startswith("application/problem+json")


async def test_a_channel_key_files_only_for_its_own_channel_and_cannot_triage(intake_server):
    body = examples.complaint_request(1, channel="wechat")
    async with intake_server.client(**examples.channel_key("hotline")) as client:
        refused = await client.post("/complaints", json=body)
        triage = await client.get("/triage")
    assert refused.status_code == 403 and "hotline" in refused.json()["detail"]
    assert triage.status_code == 403


async def test_a_key_over_its_rate_gets_429_with_retry_after(intake_server):
    async with intake_server.runtime.pool.acquire() as conn:
        _, secret = await auth.KEYS.create(
            conn, name="慢速测试", role=Role.CHANNEL, channel=Channel.APP, rate_per_minute=3
        )
    async with intake_server.client(**{"X-API-Key": secret}) as client:
        answers = [(await client.get("/admin/catalogue")).status_code for _ in range(4)]
        refused = await client.get("/admin/catalogue")
    assert answers[:3] == [200, 200, 200] and answers[3] == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["status"] == 429


async def test_oversized_bodies_are_413_and_overlong_text_is_422(intake_server):
    async with intake_server.client(**STAFF) as client:
        huge = await client.post(
            "/complaints",
            content=json.dumps({"text": "漏" * 70_000}).encode(),
            headers={"content-type": "application/json"},
        )
        long_text = await client.post(
            "/complaints", json=examples.complaint_request(1, text="漏" * 2001)
        )
    assert huge.status_code == 413 and huge.json()["status"] == 413
    assert long_text.status_code == 422 and long_text.json()["errors"][0]["field"] == "text"


async def test_the_same_idempotency_key_gives_the_same_complaint_even_concurrently(intake_server):
    body = examples.complaint_request(3)
    headers = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    async with intake_server.client(**STAFF) as client:
        answers = await asyncio.gather(
            *(client.post("/complaints", json=body, headers=headers) for _ in range(5))
        )
        other = await client.post(
            "/complaints", json={**body, "text": "另一件事情，换了内容"}, headers=headers
        )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["complaint_id"] for a in answers}) == 1
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"


@contextlib.asynccontextmanager
async def _door_held(server: IntakeServer) -> AsyncIterator[Any]:
    """The filing door with its transaction held up: a test session locks the view table, so
    the next group's insert waits, and what arrives meanwhile queues for the group after it."""
    door = server.runtime.app.door
    conn = await asyncpg.connect(server.database_url)
    try:
        held = conn.transaction()
        await held.start()
        await conn.execute("LOCK TABLE complaints IN EXCLUSIVE MODE")
        try:
            yield door
        finally:
            await held.rollback()
    finally:
        await conn.close()


async def _until_waiting(door: Any, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while len(door.waiting) < count:
        assert asyncio.get_running_loop().time() < deadline, len(door.waiting)
        await asyncio.sleep(0.01)


async def test_filings_that_arrive_together_commit_together_each_with_its_own_answer(
    intake_server,
):
    area = "370124002002-G02-B01"  # 翠屏花园; no other test files an elevator repeat there
    repeat = {"Idempotency-Key": f"burst-{uuid.uuid4()}"}
    refused = {"Idempotency-Key": f"refused-{uuid.uuid4()}"}
    same = examples.complaint_request(4, area_code=area, category="elevator")
    async with intake_server.client(**STAFF) as client:
        async with _door_held(intake_server) as door:
            groups = door.groups
            first = asyncio.create_task(client.post("/complaints", json=same))
            while door.draining is None or door.waiting:
                await asyncio.sleep(0.01)
            burst = [
                client.post(
                    "/complaints",
                    json=examples.complaint_request(4, area_code=area, category="elevator"),
                )
                for _ in range(8)
            ]
            burst += [client.post("/complaints", json=same, headers=repeat) for _ in range(2)]
            burst.append(
                client.post(
                    "/complaints",
                    json=examples.complaint_request(0, area_code="999999999999"),
                    headers=refused,
                )
            )
            answers = asyncio.gather(*burst)
            await _until_waiting(door, len(burst))  # all of them, the repeated key too
        answers, first = await answers, await first
        grouped = door.groups - groups
        # The key of a refused filing is free again.
        corrected = await client.post(
            "/complaints", json=examples.complaint_request(0), headers=refused
        )
    assert first.status_code == 201, first.text
    assert [a.status_code for a in answers] == [201] * 10 + [422]
    assert corrected.status_code == 201, corrected.text
    # One group held up, the burst in the next, the repeated key's second request in a third.
    assert grouped == 3
    filed = [first.json()] + [a.json() for a in answers[:8]]
    assert len({f["complaint_id"] for f in filed}) == len({f["case_number"] for f in filed}) == 9
    # Each names the ones numbered before it as likely repeats, those committed with it too.
    filed.sort(key=lambda f: f["case_number"])
    assert filed[0]["complaint_id"] == first.json()["complaint_id"]
    offered = {c["complaint_id"] for c in filed[2]["likely_duplicates"]}
    assert {filed[0]["complaint_id"], filed[1]["complaint_id"]} <= offered
    once, again = answers[8], answers[9]
    assert once.json()["complaint_id"] == again.json()["complaint_id"]
    location = f"/complaints/{once.json()['complaint_id']}"
    assert once.headers["Location"] == again.headers["Location"] == location, "replayed too"
    assert {once.headers.get("Idempotent-Replayed"), again.headers.get("Idempotent-Replayed")} == {
        None,
        "true",
    }


async def test_a_group_that_fails_is_filed_again_one_by_one(intake_server, monkeypatch):
    original = Intake.file_all

    async def fails_together(self, conn, prepared):
        if len(prepared) > 1:
            raise RuntimeError("a statement failed for the whole group")
        return await original(self, conn, prepared)

    monkeypatch.setattr(Intake, "file_all", fails_together)
    async with intake_server.client(**STAFF) as client:
        async with _door_held(intake_server) as door:
            first = asyncio.create_task(
                client.post("/complaints", json=examples.complaint_request(1))
            )
            while door.draining is None or door.waiting:
                await asyncio.sleep(0.01)
            groups = door.groups
            answers = asyncio.gather(
                *(client.post("/complaints", json=examples.complaint_request(1)) for _ in range(4))
            )
            await _until_waiting(door, 4)
        answers, first = await answers, await first
    assert [a.status_code for a in [first, *answers]] == [201] * 5
    assert door.groups - groups == 5  # the one held up, then the four one by one
    assert len({a.json()["complaint_id"] for a in answers}) == 4


# --- the whole life ---------------------------------------------------------------------------


def _facts_of(filed: dict[str, Any]) -> list[Any]:
    """A lead order issued, signed and resolved, as dispatch would publish them."""
    order = examples.work_order_issued(uuid.UUID(str(filed["complaint_id"])))
    signed = WorkOrderSigned(
        work_order_id=order.work_order_id,
        complaint_id=order.complaint_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        role=order.role,
        signed_at=order.issued_at,
    )
    resolved = CaseResolved(
        complaint_id=order.complaint_id,
        lead_work_order_id=order.work_order_id,
        lead_responder_id=order.responder_id,
        report="已更换楼顶防水卷材",
        resolved_at=order.issued_at,
    )
    return [order, signed, resolved]


async def test_dispatch_facts_move_the_complaint_through_its_life_to_closed(intake_server):
    filed = await intake_server.file(0, text=unique_text("顶楼漏雨，墙皮脱落"))
    ref = filed["complaint_id"]
    order, signed, resolved = _facts_of(filed)
    await publish(intake_server, order)
    dispatched = await wait_for_status(intake_server, ref, "dispatched")
    assert dispatched["lead_responder"] == "玫城丽都物业服务中心" and dispatched["due_at"]
    await publish(intake_server, signed)
    await wait_for_status(intake_server, ref, "signed")
    await publish(intake_server, resolved)
    await wait_for_status(intake_server, ref, "resolved")
    early = await act(intake_server, ref, "close", {"reason": "想直接办结"})
    assert early.status_code == 409 and "回访" in early.json()["detail"]
    unhappy = await act(
        intake_server, ref, "callback", {"contacted": True, "resolved": False, "satisfied": False}
    )
    assert unhappy.json()["status"] == "called_back"
    redo = await act(intake_server, ref, "redo", {"reason": "雨后仍漏"})
    assert redo.json()["status"] == "redo"
    await publish(intake_server, examples.work_order_issued(uuid.UUID(ref)))
    await wait_for_status(intake_server, ref, "dispatched")
    async with intake_server.client(**STAFF) as client:
        shown = (await client.get(f"/complaints/{filed['case_number']}")).json()
    steps = [p["status"] for p in shown["progress"]]
    assert steps[:2] == ["classified", "classified"] or steps[0] == "filed"
    assert {"dispatched", "signed", "resolved", "called_back", "redo"} <= set(steps)
    withdrawn = await act(intake_server, ref, "withdraw", {"reason": "已私下解决"})
    assert withdrawn.json()["status"] == "withdrawn"
    again = await act(intake_server, ref, "withdraw", {"reason": "再撤一次"})
    assert again.status_code == 409
    assert again.json()["current_status"] == "withdrawn" and "已撤回" in again.json()["detail"]


async def test_the_callback_worklist_and_closing_after_callbacks_that_reach_nobody(
    intake_server, monkeypatch
):
    """Resolved complaints wait on the worklist, the longest waiting first, with the callback's
    deadline; the third callback in a row that reaches nobody closes the complaint."""
    monkeypatch.setattr(intake_server.settings, "callback_max_unreached", 3)
    first = await intake_server.file(0, text=unique_text("顶楼漏雨"))
    second = await intake_server.file(1, text=unique_text("楼道灯坏了"))
    for filed in (first, second):
        for fact in _facts_of(filed):
            await publish(intake_server, fact)
        await wait_for_status(intake_server, filed["complaint_id"], "resolved")
    async with intake_server.client(**STAFF) as client:
        listed = (await client.get("/callbacks", params={"limit": 200})).json()
    waiting = [i["case_number"] for i in listed["items"]]
    assert waiting.index(first["case_number"]) < waiting.index(second["case_number"])
    item = next(i for i in listed["items"] if i["case_number"] == first["case_number"])
    assert item["callback_due_at"] > item["resolved_at"] and item["unreached_callbacks"] == 0
    unreached = {"contacted": False}
    answers = [await act(intake_server, first["complaint_id"], "callback", unreached) for _ in "12"]
    assert [a.json()["status"] for a in answers] == ["resolved", "resolved"]
    third = await act(intake_server, first["complaint_id"], "callback", unreached)
    assert third.json()["status"] == "closed"
    reached = await act(intake_server, second["complaint_id"], "callback", unreached)
    assert reached.json()["status"] == "resolved"
    async with intake_server.client(**STAFF) as client:
        after = (await client.get("/callbacks", params={"limit": 200})).json()
    still = {i["case_number"]: i for i in after["items"]}
    assert first["case_number"] not in still
    assert still[second["case_number"]]["unreached_callbacks"] == 1


async def test_a_merged_duplicate_s_resident_is_on_the_worklist_once_the_survivor_is_resolved(
    intake_server,
):
    """File two, merge one into the other, resolve the survivor: both residents are on the
    callback worklist; the duplicate's callback is recorded on its own complaint (which stays
    merged) and takes it off the list."""
    survivor = await intake_server.file(0, text=unique_text("顶楼漏雨"))
    duplicate = await intake_server.file(0, text=unique_text("楼顶又漏雨了"))
    merged = await act(
        intake_server, duplicate["complaint_id"], "merge", {"into": survivor["case_number"]}
    )
    assert merged.json()["status"] == "merged"
    early = await act(
        intake_server,
        duplicate["complaint_id"],
        "callback",
        {"contacted": True, "resolved": True, "satisfied": True},
    )
    assert early.status_code == 409, "not before the survivor is handled"

    async def worklist() -> dict[str, dict[str, Any]]:
        async with intake_server.client(**STAFF) as client:
            listed = (await client.get("/callbacks", params={"limit": 200})).json()
        return {i["case_number"]: i for i in listed["items"]}

    assert duplicate["case_number"] not in await worklist()
    for fact in _facts_of(survivor):
        await publish(intake_server, fact)
    await wait_for_status(intake_server, survivor["complaint_id"], "resolved")
    waiting = await worklist()
    assert {survivor["case_number"], duplicate["case_number"]} <= waiting.keys()
    follower = waiting[duplicate["case_number"]]
    assert follower["status"] == "merged"
    assert follower["follows_case_number"] == survivor["case_number"]
    assert follower["resolved_at"] == waiting[survivor["case_number"]]["resolved_at"]
    reached = {"contacted": True, "resolved": True, "satisfied": False}
    answer = await act(intake_server, duplicate["complaint_id"], "callback", reached)
    assert answer.status_code == 200 and answer.json()["status"] == "merged"
    mine = await act(
        intake_server, survivor["complaint_id"], "callback", {**reached, "satisfied": True}
    )
    assert mine.json()["status"] == "called_back"
    left = await worklist()
    assert duplicate["case_number"] not in left and survivor["case_number"] not in left


async def test_the_residents_view_follows_an_extension_a_deliberation_and_an_escalation(
    intake_server,
):
    """The lookup and the complaint show the deadline that applies now: the lead's extended
    one, none while the case is in deliberation (its clock paused), the one set after it."""
    filed = await intake_server.file(0, text=unique_text("小区北门太窄"))
    ref = filed["complaint_id"]
    order, signed, _ = _facts_of(filed)
    await publish(intake_server, order, signed)
    await wait_for_status(intake_server, ref, "signed")
    later, latest = order.due_at + timedelta(days=5), order.due_at + timedelta(days=30)
    common = {"work_order_id": order.work_order_id, "complaint_id": order.complaint_id}
    extended = ExtensionApproved(
        **common,
        responder_id=order.responder_id,
        previous_due_at=order.due_at,
        clock=OrderClock(name="feedback", due_at=later, warn_at=later),
        reason="需协调供水公司",
        actor="street:榆山街道",
        approved_at=order.issued_at,
    )
    steps = [
        (extended, later, "延期"),
        (
            DeliberationRequested(
                complaint_id=order.complaint_id,
                item_id=uuid.uuid4(),
                community_code="370124001001",
                reason="涉及全体业主",
                actor="x",
                sent_at=order.issued_at,
            ),
            None,
            "暂停",
        ),
        (
            DeliberationConcluded(
                complaint_id=order.complaint_id,
                item_id=uuid.uuid4(),
                decision="拓宽北门，业委会牵头",
                lead_work_order_id=order.work_order_id,
                clock=OrderClock(name="feedback", due_at=latest, warn_at=latest),
                concluded_at=order.issued_at,
            ),
            latest,
            "拓宽北门",
        ),
    ]
    for fact, due, words in steps:
        await publish(intake_server, fact)
        deadline = asyncio.get_running_loop().time() + 30
        async with intake_server.client(**STAFF) as client:
            while True:
                shown = (await client.get(f"/complaints/{ref}")).json()
                if words in shown["status_note"]:
                    break
                assert asyncio.get_running_loop().time() < deadline, shown
                await asyncio.sleep(0.1)
        assert shown["due_at"] == (due.isoformat() if due else None)
        assert shown["status"] == "signed"
    async with intake_server.client() as client:
        looked_up = (
            await client.get(
                "/lookup",
                params={
                    "case_number": filed["case_number"],
                    "phone_tail": filed["masked_phone"][-4:],
                },
            )
        ).json()
    assert looked_up["due_at"] == latest.isoformat()
    assert [p["description"] for p in looked_up["progress"]][-3:][0].startswith("经批准延期")


def _consumed(event: Any, offset: int) -> ConsumedRecord:
    envelope = Envelope(
        event=event,
        id=uuid.uuid4(),
        source="/jiesu/dispatch",
        time=datetime.now(UTC),
        correlation_id=uuid.uuid4(),
    )
    message = to_kafka(envelope)
    return ConsumedRecord(DISPATCH_EVENTS, 0, offset, message.key, message.value, message.headers)


def _mirror_consumer(server: IntakeServer) -> IdempotentConsumer:
    return IdempotentConsumer(
        name=f"mirror-test-{uuid.uuid4().hex[:6]}",
        pool=server.runtime.pool,
        store=server.runtime.store,
        handlers=HANDLERS,
        batch_handler=mirror_batch,
        dead_letters=None,  # type: ignore[arg-type]  # nothing here may fail
        backoff_initial_s=0.01,
    )


async def _steps(server: IntakeServer, ref: object) -> list[str]:
    async with server.client(**STAFF) as client:
        shown = (await client.get(f"/complaints/{ref}")).json()
    return [p["status"] for p in shown["progress"]]


async def test_a_batch_of_dispatch_facts_moves_each_complaint_once_per_fact(intake_server):
    first = await intake_server.file(0, text=unique_text("顶楼漏雨，墙皮脱落"))
    second = await intake_server.file(1, text=unique_text("楼道灯坏了好几天"))
    records = [_consumed(fact, n) for n, fact in enumerate(_facts_of(first) + _facts_of(second))]
    consumer = _mirror_consumer(intake_server)
    # redeliveries in the same batch are duplicates; the six facts are handled in one call
    outcomes = await consumer.handle_batch([*records, records[0], records[4]])
    assert outcomes == ["handled"] * 6 + ["duplicate"] * 2
    for filed in (first, second):
        steps = await _steps(intake_server, filed["complaint_id"])
        assert steps[-3:] == ["dispatched", "signed", "resolved"]
        assert steps.count("dispatched") == steps.count("signed") == 1


async def test_a_batch_that_meets_a_concurrent_change_is_decided_again_one_by_one(
    intake_server, monkeypatch
):
    from services.intake import app, handlers, store

    filed = await intake_server.file(0, text=unique_text("顶楼漏雨，墙皮脱落"))
    issued, signed, resolved = _facts_of(filed)
    load_all = store.load_all

    async def load_then_change(conn, events, complaint_ids):
        states = await load_all(conn, events, complaint_ids)
        # meanwhile, on another connection, the order is mirrored and committed
        async with intake_server.runtime.pool.acquire() as other, other.transaction():
            state = await store.load(other, events, issued.complaint_id)
            decided = handlers.DECISIONS[type(issued)](state, issued)
            await app.save(other, events, state, decided, Causation.start())
        return states

    monkeypatch.setattr(store, "load_all", load_then_change)
    consumer = _mirror_consumer(intake_server)
    records = [_consumed(fact, n) for n, fact in enumerate((issued, signed, resolved))]
    assert await consumer.handle_batch(records) == ["handled"] * 3
    steps = await _steps(intake_server, filed["complaint_id"])
    assert steps[-3:] == ["dispatched", "signed", "resolved"]
    assert steps.count("dispatched") == 1  # the batch's own copy was not appended again


async def test_the_lead_units_steps_mirror_once_even_when_dispatch_publishes_them_again(
    intake_server,
):
    """A fact published again under a new envelope (the inbox cannot tell) is still shown once:
    the complaint knows which of its lead's steps it already showed."""
    filed = await intake_server.file(0, text=unique_text("顶楼漏雨，墙皮脱落"))
    order, signed, _ = _facts_of(filed)
    contacted = examples.work_order_step("contacted", order)
    started = examples.work_order_step("started", order)
    facts = [order, signed, contacted, started, contacted, started]
    consumer = _mirror_consumer(intake_server)
    outcomes = await consumer.handle_batch([_consumed(f, n) for n, f in enumerate(facts)])
    assert outcomes == ["handled"] * 6
    assert await consumer.handle_batch([_consumed(contacted, 6)]) == ["handled"]  # one by one
    async with intake_server.client(**STAFF) as client:
        shown = (await client.get(f"/complaints/{filed['complaint_id']}")).json()
    notes = [p["description"] for p in shown["progress"]]
    assert sum("已与您联系" in n for n in notes) == 1 and sum("已开始办理" in n for n in notes) == 1
    assert shown["status"] == "signed" and shown["status_note"].startswith(
        "玫城丽都物业服务中心已开始办理"
    )
    assert shown["due_at"] == order.due_at.isoformat()


async def test_low_confidence_complaints_wait_in_triage_until_staff_classify_them(intake_server):
    text = unique_text("你好，有个事情想反映一下")
    filed = await intake_server.file(9, text=text, type=None, category=None)
    assert filed["status"] == "triage" and filed["needs_triage"]
    async with intake_server.client(**STAFF) as client:
        queue = (await client.get("/triage", params={"limit": 200})).json()
        mine = [i for i in queue["items"] if i["complaint_id"] == filed["complaint_id"]]
        assert mine and "low_confidence" in mine[0]["reasons"]
        classified = await client.post(
            f"/complaints/{filed['case_number']}/reclassify",
            json={"type": "help", "category": "sanitation", "reason": "电话核实为垃圾清运问题"},
        )
        assert classified.status_code == 200 and classified.json()["status"] == "classified"
        queue = (await client.get("/triage", params={"limit": 200})).json()
    assert filed["complaint_id"] not in {i["complaint_id"] for i in queue["items"]}


async def test_a_consultation_is_answered_on_the_spot(intake_server):
    filed = await intake_server.file(
        3,
        text=unique_text("请问不动产权证需要带哪些材料去哪里办理"),
        type="consultation",
        category=None,
    )
    assert filed["status"] == "triage"
    answered = await act(
        intake_server,
        filed["complaint_id"],
        "answer",
        {"answer": "携带身份证和购房合同到县政务服务中心不动产窗口办理"},
    )
    assert answered.status_code == 200 and answered.json()["status"] == "answered"


async def test_a_repeat_about_the_same_building_is_offered_then_merged_and_unmerged(intake_server):
    area = "370124002001-G01-B01"  # 锦水园小区8号楼
    first = await intake_server.file(4, area_code=area, category="elevator")
    second = await intake_server.file(4, area_code=area, category="elevator")
    offered = second["likely_duplicates"]
    assert first["complaint_id"] in {c["complaint_id"] for c in offered}
    assert {c["reason"] for c in offered} == {"same_building"}
    merged = await act(
        intake_server, second["complaint_id"], "merge", {"into": first["case_number"]}
    )
    assert (
        merged.json()["status"] == "merged"
        and merged.json()["merged_into"] == first["complaint_id"]
    )
    into_merged = await act(
        intake_server, first["complaint_id"], "merge", {"into": second["case_number"]}
    )
    assert into_merged.status_code == 409
    unmerged = await act(
        intake_server, second["complaint_id"], "unmerge", {"reason": "不同单元的电梯"}
    )
    assert unmerged.json()["status"] == "classified"
    assert unmerged.json()["likely_duplicates"] == []  # unmerging was the staff's decision
    third = await intake_server.file(4, area_code=area, category="elevator")
    assert len(third["likely_duplicates"]) == 2
    kept = await act(intake_server, third["complaint_id"], "keep", {"reason": "不同单元"})
    assert kept.status_code == 200 and kept.json()["likely_duplicates"] == []


async def test_complaints_in_other_categories_or_outside_the_window_are_not_duplicates(
    intake_server,
):
    area = "370124002002-G02-B01"
    await intake_server.file(6, area_code=area, category="street-lights")
    other = await intake_server.file(6, area_code=area, category="sanitation")
    assert other["likely_duplicates"] == []


# --- privacy ----------------------------------------------------------------------------------


async def test_contacts_are_looked_up_many_at_once_by_the_notification_service_only(
    intake_server,
):
    kept = await intake_server.file(5, contact={"name": "王师傅", "phone": "13912340001"})
    gone = await intake_server.file(6, contact={"name": "赵阿姨", "phone": "13912340002"})
    unknown = str(uuid.uuid4())
    ids = [kept["complaint_id"], gone["complaint_id"], unknown]
    async with intake_server.client(**STAFF) as client:
        await client.post("/residents/erasure", json={"phone": "13912340002"})
        by_staff = await client.post("/contacts/lookup", json={"complaint_ids": ids})
    async with intake_server.client(**examples.NOTIFY_KEY) as client:
        answer = await client.post("/contacts/lookup", json={"complaint_ids": ids})
    assert by_staff.status_code == 403
    assert answer.status_code == 200
    assert answer.json() == {
        "contacts": {
            kept["complaint_id"]: {"name": "王师傅", "phone": "13912340001", "wechat_openid": None}
        },
        "erased": [gone["complaint_id"]],
        "missing": [unknown],
    }
    async with intake_server.client(**examples.channel_key("wechat")) as client:
        refused = await client.post("/contacts/lookup", json={"complaint_ids": ids})
    assert refused.status_code == 403


async def test_erasure_destroys_the_key_and_keeps_the_history(intake_server):
    phone = "13912340000"
    filed = await intake_server.file(5, contact={"name": "赵阿姨", "phone": phone})
    async with intake_server.client(**STAFF) as client:
        before = await client.get(
            f"/complaints/{filed['complaint_id']}/contact", params={"purpose": "回访"}
        )
        assert before.json() == {"name": "赵阿姨", "phone": phone, "wechat_openid": None}
        erased = await client.post("/residents/erasure", json={"phone": phone})
        assert erased.status_code == 200 and erased.json()["contacts_erased"] >= 1
        after = await client.get(
            f"/complaints/{filed['complaint_id']}/contact", params={"purpose": "回访"}
        )
        history = await client.get(f"/complaints/{filed['complaint_id']}")
    assert after.status_code == 410
    assert history.status_code == 200 and history.json()["case_number"] == filed["case_number"]
    async with intake_server.runtime.pool.acquire() as conn:
        stored = await conn.fetch(
            "SELECT ciphertext FROM contacts WHERE complaint_id = $1",
            uuid.UUID(filed["complaint_id"]),
        )
        dumped = await conn.fetchval("SELECT string_agg(data::text, '') FROM events")
    assert all(phone.encode() not in row["ciphertext"] for row in stored)
    assert phone not in dumped


async def test_a_street_staff_key_sees_and_acts_on_its_street_only(intake_server):
    """A street's staff key: its street's complaints, triage and contacts; elsewhere a 404,
    as for a complaint that does not exist."""
    inside = await intake_server.file(0)  # 玫城丽都, 榆山街道 370124001000
    outside = await intake_server.file(0, area_code="370124002001-G01")  # 锦水街道
    async with intake_server.runtime.pool.acquire() as conn:
        _, secret = await auth.KEYS.create(
            conn,
            name="榆山街道接诉员",
            role=Role.STAFF,
            channel=None,
            rate_per_minute=600,
            scope="370124001000",
        )
    async with intake_server.client(**{"X-API-Key": secret}) as client:
        seen = await client.get(f"/complaints/{inside['complaint_id']}")
        unseen = await client.get(f"/complaints/{outside['complaint_id']}")
        events = await client.get(f"/complaints/{outside['complaint_id']}/events")
        contact = await client.get(
            f"/complaints/{outside['complaint_id']}/contact", params={"purpose": "回访"}
        )
        closed = await client.post(
            f"/complaints/{outside['complaint_id']}/close", json={"reason": "试图越权"}
        )
        queue = (await client.get("/triage", params={"limit": 200})).json()
    assert seen.status_code == 200
    assert [unseen.status_code, events.status_code, contact.status_code] == [404, 404, 404]
    assert closed.status_code == 404
    assert all(item["area_code"].startswith("370124001") for item in queue["items"])


async def test_each_contact_read_is_recorded_and_a_person_reads_only_a_few_a_minute(
    intake_server, monkeypatch
):
    monkeypatch.setattr(intake_server.settings, "contact_reads_per_minute", 3)
    monkeypatch.setattr(intake_server.runtime, "limiter", RateLimiter())
    filed = [await intake_server.file(i) for i in range(4)]
    async with intake_server.client(**STAFF) as client:
        answers = [
            await client.get(f"/complaints/{f['complaint_id']}/contact", params={"purpose": "回访"})
            for f in filed
        ]
        without_purpose = await client.get(f"/complaints/{filed[0]['complaint_id']}/contact")
    async with intake_server.client(**examples.NOTIFY_KEY) as client:
        batch = await client.post(
            "/contacts/lookup", json={"complaint_ids": [f["complaint_id"] for f in filed]}
        )
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert without_purpose.status_code == 422  # why it is read is part of reading it
    assert batch.status_code == 200 and len(batch.json()["contacts"]) == 4  # a machine: no limit
    async with intake_server.runtime.pool.acquire() as conn:
        readings = [
            json.loads(r["data"])
            for r in await conn.fetch(
                "SELECT data::text FROM events WHERE type = 'ContactsAccessed'"
                " AND data->'complaint_ids' ?| $1::text[] ORDER BY global_position",
                [f["complaint_id"] for f in filed],
            )
        ]
    assert [(r["actor"], r["purpose"], len(r["complaint_ids"])) for r in readings] == [
        ("staff:dev staff", "回访", 1),
        ("staff:dev staff", "回访", 1),
        ("staff:dev staff", "回访", 1),
        ("notify:dev notify", "发送通知 notification", 4),
    ]
    assert not any("phone" in json.dumps(r) or "name" in r for r in readings)


# --- the resident's lookup -------------------------------------------------------------------


async def test_a_resident_finds_their_case_by_number_and_phone_tail(intake_server):
    filed = await intake_server.file(6, contact={"phone": "13700001234"})
    async with intake_server.client() as client:
        found = await client.get(
            "/lookup", params={"case_number": filed["case_number"], "phone_tail": "1234"}
        )
        wrong_tail = await client.get(
            "/lookup", params={"case_number": filed["case_number"], "phone_tail": "9999"}
        )
    assert found.status_code == 200, found.text
    page = found.json()
    assert page["status"] == filed["status"] and page["category"] == "路灯照明"
    assert page["community"] == "翠屏社区" and page["progress"]
    assert "text" not in page and "masked_phone" not in page
    assert wrong_tail.status_code == 404


async def guesses(server, case_number: str, count: int, forwarded: bool = False) -> list[int]:
    """The answers to `count` lookups of `case_number` with tails 0000, 0001, … (each claiming
    another client address in X-Forwarded-For if `forwarded`), against a fresh limiter."""
    async with server.client() as client:
        return [
            (
                await client.get(
                    "/lookup",
                    params={"case_number": case_number, "phone_tail": f"{i:04d}"},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"} if forwarded else {},
                )
            ).status_code
            for i in range(count)
        ]


async def test_guessing_phone_tails_is_rate_limited(intake_server, monkeypatch):
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 3)
    monkeypatch.setattr(intake_server.runtime, "limiter", RateLimiter())
    assert await guesses(intake_server, "JS-20000101-000001", 4) == [404, 404, 404, 429]


async def test_a_made_up_forwarded_for_does_not_escape_the_lookup_limit(intake_server, monkeypatch):
    """Each guess claims to come from another address: without a trusted proxy the header is
    not believed, so the connection's address counts them all."""
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 3)
    monkeypatch.setattr(intake_server.runtime, "limiter", RateLimiter())
    codes = await guesses(intake_server, "JS-20000101-000002", 4, forwarded=True)
    assert codes == [404, 404, 404, 429]


async def test_one_case_number_is_limited_whatever_addresses_ask(intake_server, monkeypatch):
    """Guesses shared out over many addresses (here: the per-address limit set out of reach)
    still meet the case number's own limit."""
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 1000)
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_case_per_minute", 5)
    monkeypatch.setattr(intake_server.runtime, "limiter", RateLimiter())
    assert await guesses(intake_server, "JS-20000101-000003", 6) == [404] * 5 + [429]
    assert await guesses(intake_server, "JS-20000101-000004", 1) == [404]  # another case


async def test_a_case_past_its_wrong_tails_opens_to_no_tail_any_more(intake_server, monkeypatch):
    """The per-minute limits slow a guesser down; the count of wrong tails ever given for a
    case stops one: past INTAKE_LOOKUP_MAX_MISSES even the right tail opens nothing (the
    lookup, and with it the rating link; WeChat counts on the same column)."""
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 1000)
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_case_per_minute", 1000)
    monkeypatch.setattr(intake_server.settings, "lookup_max_misses", 3)
    monkeypatch.setattr(intake_server.runtime, "limiter", RateLimiter())
    phone = "13566661234"
    filed = await intake_server.file(0, contact={"name": "钱先生", "phone": phone})
    case = str(filed["case_number"])

    async def look(tail: str) -> int:
        async with intake_server.client() as client:
            answer = await client.get("/lookup", params={"case_number": case, "phone_tail": tail})
        return answer.status_code

    assert await look("1234") == 200  # the right tail, before any wrong one
    assert [await look(t) for t in ("0000", "0001")] == [404, 404]
    assert await look("1234") == 200  # two wrong of three: still open to the right one
    assert await look("0002") == 404  # the third
    assert await look("1234") == 404  # shut, for the right tail too
    other = await intake_server.file(1)
    tail = str(other["masked_phone"])[-4:]
    async with intake_server.client() as client:
        answer = await client.get(
            "/lookup", params={"case_number": other["case_number"], "phone_tail": tail}
        )
    assert answer.status_code == 200  # another case is not touched


@pytest.mark.parametrize("path", ["/triage", "/admin/catalogue"])
async def test_staff_and_admin_routes_refuse_anonymous_callers(intake_server, path):
    async with intake_server.client() as client:
        assert (await client.get(path)).status_code == 401


async def test_no_plain_phone_number_reaches_the_topic(intake_server):
    phone = "13566667777"
    filed = await intake_server.file(
        0, contact={"name": "钱先生", "phone": phone}, text=f"顶楼漏水，急！电话{phone}，微信同号"
    )
    async with intake_server.client(**STAFF) as client:
        await client.post("/residents/erasure", json={"phone": phone})
    async with intake_server.runtime.pool.acquire() as conn:
        published = await conn.fetchval("SELECT count(*) FROM events")
    records = await read_topic(
        intake_server.settings.kafka_bootstrap_servers, COMPLAINT_EVENTS, published
    )
    mine = [r for r in records if r.key == filed["complaint_id"].encode()]
    assert {dict(r.headers)["ce_type"] for r in mine} >= {b"ComplaintFiled", b"ComplaintClassified"}
    everything = b"".join(r.value + b"".join(v for _, v in r.headers) for r in records)
    assert phone.encode() not in everything
    assert b"135****7777" not in everything  # the masked phone too is sealed with the words


async def test_a_key_issued_on_the_command_line_opens_the_door_until_revoked(intake_server):
    env = {"INTAKE_DATABASE_URL": intake_server.database_url}

    async def cli(*args: str) -> str:
        return await run_cli("services.intake.auth", *args, env=env)

    key_id, secret, _ = (
        await cli("create", "--name", "微信公众号", "--role", "channel", "--channel", "wechat")
    ).split("\t")
    assert secret.startswith("js_")
    body = examples.complaint_request(7, channel="wechat")
    async with intake_server.client(**{"X-API-Key": secret}) as client:
        assert (await client.post("/complaints", json=body)).status_code == 201
        assert key_id in await cli("list")
        assert "revoked" in await cli("revoke", key_id)
        intake_server.runtime.keys.forget()  # revocation applies within the key cache's TTL
        assert (await client.post("/complaints", json=body)).status_code == 401


async def test_a_nul_character_is_refused_before_it_reaches_the_database(intake_server):
    request = examples.complaint_request(0)
    body = json.dumps({**request, "text": request["text"] + "\u0000"})
    async with intake_server.client(**examples.STAFF_KEY) as client:
        filed = await client.post(
            "/complaints", content=body.encode(), headers={"content-type": "application/json"}
        )
        looked_up = await client.get(
            "/lookup", params={"case_number": "JS\x00", "phone_tail": "5678"}
        )
    assert filed.status_code == looked_up.status_code == 422
    assert "NUL" in filed.json()["detail"]
