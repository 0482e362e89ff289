"""What the console's case and work-in-flight pages read from reporting's models: each
decision's reason and rule and each hop's trace on the timeline, the search by case number and
phone tail within a key's area, the clocks due and late, and the cases at risk."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reporting import operations, store
from services.reporting.handlers import HANDLERS
from shared.consumer import HandlerContext
from shared.envelope import Envelope
from shared.events import Event, SlaBreached, SlaWarned
from shared.eventstore import EventStore
from tests.integration.reporting.test_reporting_replay import prepare_reporting
from tests.support import examples

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
YUSHAN, JINSHUI = "370124001000", "370124002000"  # two streets (examples.SITUATIONS 0 and 1)


@dataclass(frozen=True, slots=True)
class Traced(Envelope):
    """An envelope with the W3C traceparent of its hop (as the platform's tracing sets it)."""

    traceparent: str | None = None


async def project(conn: Any, event: Event, traceparent: str | None = None) -> None:
    envelope = Traced(
        event=event,
        id=uuid.uuid4(),
        source="/jiesu/test",
        time=NOW,
        correlation_id=uuid.uuid4(),
        sequence=0,
        traceparent=traceparent,
    )
    await HANDLERS[type(event)](event, HandlerContext(conn, envelope, EventStore("/t")))


async def file(conn: Any, situation: int, phone: str, **order: Any) -> Any:
    filed = examples.complaint_filed(
        area_code=examples.SITUATIONS[situation][1],
        masked_phone=phone,
        case_number=f"JS-20261204-{uuid.uuid4().int % 10**6:06d}",
    )
    await project(conn, filed)
    issued = examples.work_order_issued(
        filed.complaint_id, area_code=filed.area_code, issued_at=NOW, **order
    )
    await project(conn, issued, f"00-{TRACE}-00f067aa0ba902b7-01")
    return filed, issued


async def test_the_timeline_keeps_each_decisions_reason_rule_and_the_hops_trace(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        filed, issued = await file(conn, 0, "138****5678", rule_id="R07", catalogue_version=3)
        await project(conn, examples.complaint_classified(filed.complaint_id))
        case = await store.get_case(conn, filed.complaint_id)
    lines = {line["type"]: line for line in case["timeline"]}
    routed = lines["WorkOrderIssued"]
    assert (routed["rule_id"], routed["rule_version"]) == ("R07", 3)
    assert routed["reason"] == issued.reason
    assert routed["trace_id"] == TRACE
    assert "置信度" in lines["ComplaintClassified"]["reason"]
    assert lines["ComplaintFiled"]["trace_id"] is None  # no traceparent: no trace
    assert lines["ComplaintFiled"]["rule_id"] is None


async def test_a_case_is_found_by_number_or_phone_tail_within_the_keys_area_only(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        mine, _ = await file(conn, 0, "138****4321")
        theirs, _ = await file(conn, 1, "139****4321")

        async def found(**criteria: Any) -> set[str]:
            _, rows = await store.find_cases(conn, store.CaseFilter(**criteria), 50, 0)
            return {row["case_number"] for row in rows}

        assert await found(phone_tail="4321") == {mine.case_number, theirs.case_number}
        assert await found(phone_tail="321", within=YUSHAN) == {mine.case_number}
        assert await found(phone_tail="1234") == set()
        assert await found(case_number=theirs.case_number) == {theirs.case_number}
        assert await found(case_number=theirs.case_number, within=YUSHAN) == set()
        assert await store.get_case(conn, theirs.complaint_id, within=YUSHAN) is None


async def test_clocks_due_and_late_and_cases_at_risk_are_listed_worst_first(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        late, late_order = await file(conn, 0, "138****0001", due_at=NOW - timedelta(hours=1))
        soon, _ = await file(conn, 0, "138****0002", due_at=NOW + timedelta(hours=2))
        later, _ = await file(conn, 0, "138****0003", due_at=NOW + timedelta(days=5))
        elsewhere, _ = await file(conn, 1, "138****0004", due_at=NOW - timedelta(hours=3))
        clock = {
            "work_order_id": late_order.work_order_id,
            "complaint_id": late.complaint_id,
            "responder_id": late_order.responder_id,
            "responder_name": late_order.responder_name,
            "role": late_order.role,
            "clock": "feedback",
            "due_at": late_order.due_at,
        }
        await project(conn, SlaBreached(**clock, breached_at=late_order.due_at))
        await project(conn, SlaWarned(**clock, warned_at=NOW - timedelta(hours=5)))
        await project(
            conn,
            SlaWarned(
                **{**clock, "complaint_id": soon.complaint_id, "work_order_id": uuid.uuid4()},
                warned_at=NOW,
            ),
        )

        counts, rows = await operations.clocks_due(conn, YUSHAN, NOW, 24 * 3600, 50)
        assert counts == {"late": 1, "due": 1}
        assert [r["case_number"] for r in rows] == [late.case_number, soon.case_number]
        assert rows[0]["clock"] == "feedback" and rows[0]["seconds_left"] < 0
        everywhere, _ = await operations.clocks_due(conn, None, NOW, 24 * 3600, 50)
        assert everywhere == {"late": 2, "due": 1}

        risks, at_risk = await operations.cases_at_risk(conn, YUSHAN, 50)
        assert risks == {"breached": 1, "warned": 1}
        assert [(r["case_number"], r["risk"]) for r in at_risk] == [
            (late.case_number, "breached"),
            (soon.case_number, "warned"),
        ]
        assert later.case_number not in {r["case_number"] for r in at_risk}
        assert elsewhere.case_number not in {r["case_number"] for r in at_risk}
