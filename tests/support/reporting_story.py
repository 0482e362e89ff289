"""Hand-written complaint stories for reporting's tests: each step an event in its own stream,
numbered as the stores number them, so that measures can be computed by hand."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.reporting.projections import project
from services.reporting.store import apply
from shared.envelope import Envelope
from shared.events import (
    AgendaDecided,
    AgendaItemOpened,
    AgendaItemRaised,
    AgendaReviewed,
    AgendaTopicSet,
    CaseResolved,
    Channel,
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintRedacted,
    ComplaintRedoRequested,
    ComplaintStatus,
    ComplaintType,
    DeliberationHeld,
    Event,
    OrderClock,
    RatedVia,
    ResponderRole,
    Satisfaction,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderResolved,
    WorkOrderReturned,
    WorkOrderSigned,
)
from tests.support.histories import CATEGORIES, UNITS, city_stream

H = timedelta(hours=1)


def step(kind: type[Event], order: WorkOrderIssued, **fields: Any) -> Event:
    """A step the unit holding `order` takes (by hand, like the order's clocks)."""
    return kind(
        work_order_id=order.work_order_id,
        complaint_id=order.complaint_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        role=order.role,
        **fields,
    )


@dataclass
class Order:
    event: WorkOrderIssued

    @property
    def id(self) -> uuid.UUID:
        return self.event.work_order_id

    def clock(self, name: str) -> datetime:
        return next(c.due_at for c in self.event.clocks if c.name == name)


@dataclass
class Story:
    """One complaint. Times are UTC; `t` moves on with each step unless a step is given one."""

    case_number: str
    area: str
    category: str
    filed_at: datetime
    type: ComplaintType = ComplaintType.HELP
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    # the city's units (id → name, kind) and category names: the demo city's unless given
    units: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: UNITS)
    categories: Mapping[str, str] = field(default_factory=lambda: CATEGORIES)
    envelopes: list[Envelope] = field(default_factory=list)
    _positions: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.emit(
            "intake",
            ComplaintFiled(
                complaint_id=self.id,
                case_number=self.case_number,
                channel=Channel.HOTLINE,
                text="每逢下雨顶楼就漏雨",
                area_code=self.area,
                address="玫城丽都小区2号楼",
                resident_ref="R-00000000000000000001",
                masked_phone="138****5678",
                filed_at=self.filed_at,
            ),
            self.filed_at,
        )
        self.intake(
            ComplaintClassified,
            ComplaintStatus.CLASSIFIED,
            self.filed_at,
            type=self.type,
            category=self.category,
            confidence=0.9,
            type_confidence=0.9,
            classified_by="auto",
            needs_triage=False,
            area_code=self.area,
        )

    def emit(self, stream: str, event: Event, at: datetime) -> None:
        position = self._positions.get(stream, 0)
        self._positions[stream] = position + 1
        self.envelopes.append(
            Envelope(
                event=event,
                id=uuid.uuid4(),
                source=f"/jiesu/{stream.split(':')[0]}",
                time=at,
                correlation_id=self.id,
                sequence=position,
            )
        )

    def intake(
        self, kind: type[Event], status: ComplaintStatus, at: datetime, **fields: Any
    ) -> None:
        self.emit("intake", kind(complaint_id=self.id, status=status, occurred_at=at, **fields), at)

    def order(
        self,
        unit: str,
        at: datetime,
        *,
        role: ResponderRole = ResponderRole.LEAD,
        sign: timedelta = 2 * H,
        contact: timedelta = 12 * H,
        feedback: timedelta = 7 * 24 * H,
        purpose: str = "dispatch",
        **extra: Any,
    ) -> Order:
        responder = self.units[unit]
        event = WorkOrderIssued(
            work_order_id=uuid.uuid4(),
            complaint_id=self.id,
            responder_id=unit,
            responder_name=responder["name"],
            responder_kind=responder["kind"],
            role=role,
            category=self.category,
            area_code=self.area,
            rule_id="R01",
            catalogue_version=1,
            reason="派单目录规则",
            priority="general",
            due_at=at + feedback,
            issued_at=at,
            purpose=purpose,
            clocks=[
                OrderClock(name=name, due_at=at + limit, warn_at=at + limit * 0.8)
                for name, limit in (("sign", sign), ("contact", contact), ("feedback", feedback))
            ],
            category_name=self.categories[self.category],
            **extra,
        )
        self.emit("dispatch", event, at)
        return Order(event)

    def sign(self, order: Order, at: datetime, actor: str = "responder:张工") -> None:
        self.emit("dispatch", step(WorkOrderSigned, order.event, signed_at=at, actor=actor), at)

    def contact(self, order: Order, at: datetime) -> None:
        contacted = step(
            WorkOrderContacted,
            order.event,
            note="已电话联系",
            actor="responder:张工",
            contacted_at=at,
        )
        self.emit("dispatch", contacted, at)

    def resolve(self, order: Order, at: datetime) -> None:
        resolved = step(
            WorkOrderResolved, order.event, report="已处理", actor="responder:张工", resolved_at=at
        )
        self.emit("dispatch", resolved, at)

    def give_back(self, order: Order, at: datetime) -> None:
        returned = step(
            WorkOrderReturned,
            order.event,
            reason="非本单位职责",
            suggested_responder_id=None,
            actor="responder:x",
            returned_at=at,
            supervisor_ids=[],
        )
        self.emit("dispatch", returned, at)

    def case_resolved(self, order: Order, at: datetime) -> None:
        event = CaseResolved(
            complaint_id=self.id,
            lead_work_order_id=order.id,
            lead_responder_id=order.event.responder_id,
            report="已处理",
            resolved_at=at,
        )
        self.emit("dispatch", event, at)

    def callback(
        self,
        at: datetime,
        resolved: bool,
        satisfied: bool,
        status: ComplaintStatus = ComplaintStatus.CALLED_BACK,
    ) -> None:
        """A callback that reached the resident (a merged duplicate's keeps its status)."""
        self.intake(
            ComplaintCallbackRecorded,
            status,
            at,
            contacted=True,
            resolved=resolved,
            satisfied=satisfied,
            comment=None,
            actor="staff:callback",
        )

    def rate(
        self,
        at: datetime,
        level: Satisfaction,
        via: RatedVia = RatedVia.SMS,
        comment: str | None = None,
    ) -> None:
        """The resident rates the result themselves (no "resolved" asked), as intake records it."""
        self.intake(
            ComplaintCallbackRecorded,
            ComplaintStatus.CALLED_BACK,
            at,
            contacted=True,
            resolved=None,
            satisfied=level is Satisfaction.SATISFIED,
            satisfaction=level,
            rated_via=via,
            comment=comment,
            actor=f"resident:{via.value}",
        )

    def erase(self, at: datetime, status: ComplaintStatus) -> None:
        """The resident's erasure, as intake appends it to the complaint."""
        self.intake(ComplaintRedacted, status, at, public_place="玫城丽都小区2号楼")

    def redo(self, at: datetime) -> None:
        self.intake(
            ComplaintRedoRequested,
            ComplaintStatus.REDO,
            at,
            type=self.type,
            category=self.category,
            area_code=self.area,
            redo_count=1,
            reason="不满意",
            actor="staff:callback",
        )

    def answer(self, at: datetime) -> None:
        self.intake(
            ComplaintAnswered, ComplaintStatus.ANSWERED, at, answer="已答复", actor="staff:x"
        )

    def merge(self, at: datetime) -> None:
        self.intake(
            ComplaintMerged,
            ComplaintStatus.MERGED,
            at,
            into_complaint_id=uuid.uuid4(),
            into_case_number="JS-X",
            previous_status=ComplaintStatus.CLASSIFIED,
            reason="重复",
            actor="staff:x",
        )


def city(at: datetime) -> list[Envelope]:
    stream = city_stream(at)
    return [
        Envelope(
            event=e,
            id=uuid.uuid4(),
            source="/jiesu/dispatch",
            time=t,
            correlation_id=uuid.uuid4(),
            sequence=i,
        )
        for i, (t, e) in enumerate(stream.events)
    ]


async def project_all(conn: Any, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        await apply(conn, project(envelope))


def agenda_story() -> list[Envelope]:
    """Two agenda items: one the community settles and reviews, one raised to the district."""
    t = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    settled, raised = uuid.uuid4(), uuid.uuid4()
    community = {"community_code": "370124001001", "community_name": "会仙山社区"}
    steps: list[tuple[uuid.UUID, Event]] = [
        (
            settled,
            AgendaItemOpened(
                item_id=settled,
                complaint_id=uuid.uuid4(),
                **community,
                title="小区北门拓宽",
                reason="北门拥堵",
                actor="committee:会仙山",
                opened_at=t,
            ),
        ),
        (
            settled,
            AgendaTopicSet(
                item_id=settled,
                complaint_id=uuid.uuid4(),
                level="community",
                topic="北门拓宽方案",
                parties=["居委会", "业委会", "物业"],
                actor="committee",
                set_at=t + H,
            ),
        ),
        (
            settled,
            DeliberationHeld(
                item_id=settled,
                complaint_id=uuid.uuid4(),
                level="community",
                participants=["居委会", "业委会"],
                minutes="同意拓宽",
                settled=True,
                actor="committee",
                held_at=t + 2 * H,
            ),
        ),
        (
            settled,
            AgendaDecided(
                item_id=settled,
                complaint_id=uuid.uuid4(),
                level="community",
                decision="拓宽北门",
                assignments=[],
                actor="committee",
                decided_at=t + 3 * H,
            ),
        ),
        (
            settled,
            AgendaReviewed(
                item_id=settled,
                complaint_id=uuid.uuid4(),
                level="community",
                verdict="已落实",
                satisfied=True,
                actor="committee",
                reviewed_at=t + 4 * H,
            ),
        ),
        (
            raised,
            AgendaItemOpened(
                item_id=raised,
                complaint_id=uuid.uuid4(),
                **community,
                title="老旧小区加装电梯费用分摊",
                reason="费用分摊争议",
                actor="committee:会仙山",
                opened_at=t,
            ),
        ),
        (
            raised,
            DeliberationHeld(
                item_id=raised,
                complaint_id=uuid.uuid4(),
                level="community",
                participants=["居委会"],
                minutes="各方意见不一",
                settled=False,
                actor="committee",
                held_at=t + H,
            ),
        ),
        (
            raised,
            AgendaItemRaised(
                item_id=raised,
                complaint_id=uuid.uuid4(),
                from_level="community",
                to_level="district",
                district_code="370124000000",
                reason="需区县协调",
                actor="committee",
                raised_at=t + 2 * H,
            ),
        ),
        (
            raised,
            AgendaTopicSet(
                item_id=raised,
                complaint_id=uuid.uuid4(),
                level="district",
                topic="加装电梯费用分摊方案",
                parties=["住建局", "居委会"],
                actor="gov",
                set_at=t + 3 * H,
            ),
        ),
    ]
    positions: dict[uuid.UUID, int] = {}
    out = []
    for item, event in steps:
        positions[item] = positions.get(item, -1) + 1
        out.append(
            Envelope(
                event=event,
                id=uuid.uuid4(),
                source="/jiesu/dispatch",
                time=t,
                correlation_id=item,
                sequence=positions[item],
            )
        )
    return out
