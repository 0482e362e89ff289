"""Dispatch routes what intake has classified: not what waits in triage, once, and again on redo."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import yaml

from deploy.local.runner import DEMO_CITY
from services.dispatch import handlers, store
from services.dispatch.app import Dispatch
from shared.consumer import BatchContext, HandlerContext
from shared.db import apply_schema
from shared.envelope import Envelope
from shared.events import (
    ComplaintClassified,
    ComplaintClosed,
    ComplaintReclassified,
    ComplaintRedoRequested,
    ComplaintStatus,
    ComplaintType,
    Event,
)
from shared.eventstore import EventStore

SCHEMA = Path(handlers.__file__).with_name("schema.sql")
AREA = "370124001001-G01-B02-U1"


DISPATCH = Dispatch(EventStore("/jiesu/dispatch"), store.CityModelCache(), store.CalendarCache())
ROUTES = handlers.build_handlers(DISPATCH)


async def deliver(pool, event: Event) -> list[dict]:
    envelope = Envelope(event, uuid.uuid4(), "/jiesu/intake", datetime.now(UTC), uuid.uuid4())
    async with pool.acquire() as conn, conn.transaction():
        await ROUTES[type(event)](event, HandlerContext(conn, envelope, DISPATCH.events))
        return await store.work_orders_of(conn, event.complaint_id)  # type: ignore[attr-defined]


def classified(complaint_id: uuid.UUID, status: ComplaintStatus) -> ComplaintClassified:
    return ComplaintClassified(
        complaint_id=complaint_id,
        status=status,
        type=ComplaintType.HELP,
        category="roof-leak",
        confidence=0.9,
        type_confidence=0.9,
        classified_by="auto",
        needs_triage=status is ComplaintStatus.TRIAGE,
        area_code=AREA,
        occurred_at=datetime.now(UTC),
    )


async def test_only_what_needs_no_person_is_dispatched_and_only_once(pool):
    await apply_schema(pool, SCHEMA)
    async with pool.acquire() as conn, conn.transaction():
        await DISPATCH.new_city_version(conn, yaml.safe_load(DEMO_CITY.read_text()), "test", "demo")
    waiting, ready = uuid.uuid4(), uuid.uuid4()
    assert await deliver(pool, classified(waiting, ComplaintStatus.TRIAGE)) == []
    orders = await deliver(pool, classified(ready, ComplaintStatus.CLASSIFIED))
    assert [(o["role"], o["responder_id"]) for o in orders] == [
        ("lead", "property-meicheng"),
        ("co", "committee-huixianshan"),
    ]
    assert len(await deliver(pool, classified(ready, ComplaintStatus.CLASSIFIED))) == 2

    # Staff classify the waiting one from triage: now it is routed, by its new category.
    staff = ComplaintReclassified(
        complaint_id=waiting,
        status=ComplaintStatus.CLASSIFIED,
        type=ComplaintType.COMPLAINT,
        category="parking",
        previous_type=ComplaintType.HELP,
        previous_category="roof-leak",
        area_code=AREA,
        reason="人工分类",
        actor="staff:王",
        occurred_at=datetime.now(UTC),
    )
    orders = await deliver(pool, staff)
    assert orders[0]["rule_id"] == "R09" and orders[0]["responder_id"] == "property-meicheng"

    # 重办: a redo is routed again, on top of the first round's orders.
    redo = ComplaintRedoRequested(
        complaint_id=ready,
        status=ComplaintStatus.REDO,
        type=ComplaintType.HELP,
        category="roof-leak",
        area_code=AREA,
        redo_count=1,
        reason="雨后仍漏",
        actor="staff:王",
        occurred_at=datetime.now(UTC),
    )
    orders = await deliver(pool, redo)
    assert len(orders) == 4
    assert [o["status"] for o in orders[:2]] == ["cancelled", "cancelled"], "the first round closed"
    assert {o["purpose"] for o in orders[2:]} == {"redo"}


async def test_a_batch_of_events_is_decided_in_order_and_saved_in_one_append(pool):
    """Three cases in one batch, one of them closed by the batch's last event: each event sees
    what the ones before it decided, every case is at the position its events give it, and
    each appended event follows the envelope that caused it."""
    await apply_schema(pool, SCHEMA)
    async with pool.acquire() as conn, conn.transaction():
        await DISPATCH.new_city_version(conn, yaml.safe_load(DEMO_CITY.read_text()), "test", "demo")
    first, second, waiting = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    closed = ComplaintClosed(
        complaint_id=first,
        status=ComplaintStatus.CLOSED,
        reason="已解决",
        actor="staff:王",
        occurred_at=datetime.now(UTC),
    )
    events = [
        classified(first, ComplaintStatus.CLASSIFIED),
        classified(waiting, ComplaintStatus.TRIAGE),
        classified(second, ComplaintStatus.CLASSIFIED),
        closed,
    ]
    envelopes = [
        Envelope(e, uuid.uuid4(), "/jiesu/intake", datetime.now(UTC), uuid.uuid4()) for e in events
    ]
    async with pool.acquire() as conn, conn.transaction():
        await handlers.on_batch(DISPATCH, envelopes, BatchContext(conn, DISPATCH.events))
    async with pool.acquire() as conn:
        streams = await DISPATCH.events.read_streams(
            conn, [store.case_stream(c) for c in (first, second, waiting)]
        )
        views = {r["complaint_id"]: r for r in await conn.fetch("SELECT * FROM cases")}
        first_orders = await store.work_orders_of(conn, first)
        second_orders = await store.work_orders_of(conn, second)
        timers = {r["complaint_id"] for r in await conn.fetch("SELECT complaint_id FROM timers")}
    assert store.case_stream(waiting) not in streams, "what waits in triage is not routed"
    history = streams[store.case_stream(first)]
    causes = [UUID(r.metadata["causation_id"]) for r in history]
    assert set(causes) == {envelopes[0].id, envelopes[3].id}
    assert causes.index(envelopes[3].id) > causes.index(envelopes[0].id), "closing follows"
    assert views[first]["version"] == len(history)
    assert views[second]["version"] == len(streams[store.case_stream(second)])
    assert {o["status"] for o in first_orders} == {"cancelled"}
    assert {o["status"] for o in second_orders} == {"issued"} and len(second_orders) == 2
    assert timers == {second}, "the closed case's clocks are gone, the open one's run"
