"""Reporting's case projection gives one answer whatever order the topics' events arrive in."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.reporting import store
from services.reporting.handlers import HANDLERS, project_all
from shared.consumer import HandlerContext
from shared.envelope import Envelope
from shared.events import (
    Audience,
    NotificationFailed,
    NotificationOutcome,
    NotificationsRecorded,
    ResponderRole,
)
from shared.eventstore import EventStore
from tests.integration.reporting.test_reporting_replay import prepare_reporting
from tests.support import examples

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _one_complaint() -> dict[str, list[Envelope]]:
    """One complaint's events, per topic, in the order each topic delivers them."""
    filed = examples.complaint_filed(filed_at=T0)
    cid = filed.complaint_id
    lead = examples.work_order_issued(cid, issued_at=T0 + timedelta(seconds=1))
    co = examples.work_order_issued(
        cid,
        responder_id="committee-huixianshan",
        responder_name="会仙山社区居委会",
        responder_kind="community_committee",
        role=ResponderRole.CO,
        issued_at=T0 + timedelta(seconds=1),
    )
    receipt = examples.notification_delivered(cid, delivered_at=T0 + timedelta(seconds=2))
    notice_id = uuid.uuid4()
    notice = {
        "notification_id": notice_id,
        "audience": Audience.RESPONDER,
        "recipient": lead.responder_id,
        "template": "work_order_issued",
    }
    failed = NotificationFailed(
        complaint_id=cid,
        channel="webhook",
        attempt=1,
        error="HTTP 503",
        **notice,
        retry_at=T0 + timedelta(seconds=4),
        failed_at=T0 + timedelta(seconds=3),
    )
    delivered = examples.notification_delivered(
        cid, attempt=2, delivered_at=T0 + timedelta(seconds=5), **notice
    )
    co_notice = examples.notification_delivered(
        cid,
        audience=Audience.RESPONDER,
        recipient=co.responder_id,
        template="work_order_issued",
        delivered_at=T0 + timedelta(seconds=2),
    )

    def envelope(event, seconds: int, source: str, sequence: int = 0) -> Envelope:
        """`sequence`: the event's position in its own stream (the relay sends it along)."""
        return Envelope(
            event=event,
            id=uuid.uuid4(),
            source=source,
            time=T0 + timedelta(seconds=seconds),
            correlation_id=cid,
            sequence=sequence,
        )

    return {
        "complaint.events": [envelope(filed, 0, "/jiesu/intake")],
        "dispatch.events": [
            envelope(lead, 1, "/jiesu/dispatch", 0),
            envelope(co, 1, "/jiesu/dispatch", 1),
        ],
        "notification.events": [
            envelope(receipt, 2, "/jiesu/notify"),
            envelope(co_notice, 2, "/jiesu/notify"),
            envelope(failed, 3, "/jiesu/notify"),
            envelope(delivered, 5, "/jiesu/notify", 1),
        ],
    }


def _interleavings(topics: dict[str, list[Envelope]]):
    """Every arrival order that keeps each topic's own order (a key's order within a topic)."""
    labels = [name for name, events in topics.items() for _ in events]
    for order in set(itertools.permutations(labels)):
        cursors = dict.fromkeys(topics, 0)
        arrival = []
        for name in order:
            arrival.append(topics[name][cursors[name]])
            cursors[name] += 1
        yield arrival


def _comparable(case: dict) -> dict:
    """The case without the wall-clock columns (when it was projected, not what it says)."""
    case = {k: v for k, v in case.items() if k != "updated_at"}
    case["timeline"] = [
        {k: v for k, v in e.items() if k != "projected_at"} for e in case["timeline"]
    ]
    return case


async def test_the_case_is_the_same_whatever_order_the_topics_interleave_in(pool):
    await prepare_reporting(pool)
    topics = _one_complaint()
    complaint_id = topics["complaint.events"][0].event.complaint_id
    results = []
    async with pool.acquire() as conn:
        for arrival in _interleavings(topics):
            transaction = conn.transaction()
            await transaction.start()
            try:
                for envelope in arrival:
                    handler = HANDLERS[type(envelope.event)]
                    await handler(envelope.event, HandlerContext(conn, envelope, EventStore("/t")))
                results.append(_comparable(await store.get_case(conn, complaint_id)))
            finally:
                await transaction.rollback()
    assert len(results) == 105  # 7! / (1! · 2! · 4!) orders
    first = results[0]
    for result in results:
        assert result == first, {k for k in first if first[k] != result[k]}

    # And the one answer is the right one.
    assert first["case_number"] == "JS-20261124-000001" and first["filed_at"] == T0
    assert first["lead_responder_id"] == "property-meicheng"
    assert first["dispatched_at"] == T0 + timedelta(seconds=1)
    assert len(first["work_orders"]) == 2
    notices = {n["recipient"]: n for n in first["notifications"]}
    assert notices["property-meicheng"]["status"] == "delivered"
    assert notices["property-meicheng"]["attempts"] == 2
    assert notices["property-meicheng"]["last_error"] is None
    assert {n["status"] for n in notices.values()} == {"delivered"}
    assert first["timeline"][0]["type"] == "ComplaintFiled"
    assert len(first["timeline"]) == 7


async def test_outcomes_recorded_together_read_like_the_per_message_events_before_them(pool):
    """A message that failed while notify wrote one event per message, then was delivered in
    a `NotificationsRecorded` (position 0 of the complaint's stream, below the old event's
    position 1): delivered wins in either arrival order, and each outcome is a line."""
    await prepare_reporting(pool)
    filed = examples.complaint_filed(filed_at=T0)
    cid = filed.complaint_id
    notice_id, other_id = uuid.uuid4(), uuid.uuid4()
    notice = {
        "notification_id": notice_id,
        "audience": Audience.RESPONDER,
        "recipient": "property-meicheng",
        "channel": "sms",
        "template": "work_order_issued",
    }
    failed = NotificationFailed(
        complaint_id=cid,
        attempt=1,
        error="HTTP 503",
        retry_at=T0 + timedelta(seconds=4),
        failed_at=T0 + timedelta(seconds=3),
        **notice,
    )
    together = NotificationsRecorded(
        complaint_id=cid,
        outcomes=[
            NotificationOutcome(
                **notice, outcome="delivered", attempt=2, at=T0 + timedelta(seconds=5)
            ),
            NotificationOutcome(
                **{**notice, "notification_id": other_id, "channel": "wechat"},
                outcome="abandoned",
                attempt=1,
                error="没有 wechat_openid",
                at=T0 + timedelta(seconds=5),
            ),
        ],
    )

    def envelope(event, seconds: int, sequence: int) -> Envelope:
        return Envelope(
            event,
            uuid.uuid4(),
            "/jiesu/notify",
            T0 + timedelta(seconds=seconds),
            cid,
            sequence=sequence,
        )

    arrivals = [envelope(filed, 0, 0)], [envelope(failed, 3, 1), envelope(together, 5, 0)]
    results = []
    async with pool.acquire() as conn:
        for outcomes in (arrivals[1], arrivals[1][::-1]):
            transaction = conn.transaction()
            await transaction.start()
            try:
                for env in [*arrivals[0], *outcomes]:
                    handler = HANDLERS[type(env.event)]
                    await handler(env.event, HandlerContext(conn, env, EventStore("/t")))
                results.append(_comparable(await store.get_case(conn, cid)))
            finally:
                await transaction.rollback()
    assert results[0] == results[1]
    notices = {n["notification_id"]: n for n in results[0]["notifications"]}
    assert notices[notice_id]["status"] == "delivered" and notices[notice_id]["attempts"] == 2
    assert notices[other_id]["status"] == "abandoned"
    assert notices[other_id]["last_error"] == "没有 wechat_openid"
    lines = [line["type"] for line in results[0]["timeline"]]
    assert sorted(lines) == sorted(
        ["ComplaintFiled", "NotificationFailed", "NotificationDelivered", "NotificationAbandoned"]
    )


async def test_a_batch_merged_per_row_gives_the_case_that_one_by_one_gives(pool):
    """The live consumer and the rebuild merge a batch's upserts per row and write each
    statement's rows at once: any order of the batch gives the case the events one by one do."""
    await prepare_reporting(pool)
    topics = _one_complaint()
    complaint_id = topics["complaint.events"][0].event.complaint_id
    arrivals = list(itertools.islice(_interleavings(topics), 12))
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            for envelope in arrivals[0]:
                handler = HANDLERS[type(envelope.event)]
                await handler(envelope.event, HandlerContext(conn, envelope, EventStore("/t")))
            one_by_one = _comparable(await store.get_case(conn, complaint_id))
        finally:
            await transaction.rollback()
        for arrival in arrivals:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await project_all(conn, arrival)
                assert _comparable(await store.get_case(conn, complaint_id)) == one_by_one
            finally:
                await transaction.rollback()
