"""Randomised, realistic histories of complaints, as the three event stores would hold them.

A history follows what the services really do: intake files and classifies; dispatch issues
work orders with three clocks, which are signed (on time or late), contacted, sometimes
returned and re-routed, breached and escalated, extended, put on a community's agenda (and
raised to the district), resolved; intake mirrors and records the callback, a redo starts a
new round; notify delivers, fails, abandons and is redriven. Each stream's events are in
order; the stores' commit order interleaves complaints by time. Seeded, so reproducible.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from shared.events import (
    AgendaAssignment,
    AgendaDecided,
    AgendaItemOpened,
    AgendaItemRaised,
    AgendaReviewed,
    AgendaTopicSet,
    Audience,
    CaseEscalated,
    CaseResolved,
    CaseSupervised,
    Channel,
    CityChange,
    CityModelChanged,
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintDispatched,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintRedoRequested,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintStatus,
    ComplaintType,
    DeliberationConcluded,
    DeliberationHeld,
    DeliberationRequested,
    Event,
    ExtensionApproved,
    ExtensionRequested,
    NotificationAbandoned,
    NotificationDelivered,
    NotificationFailed,
    NotificationRedriven,
    OrderClock,
    ResponderRole,
    SlaBreached,
    SlaWarned,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderResolved,
    WorkOrderReturned,
    WorkOrderSigned,
    WorkOrderUrged,
)
from tests.support.examples import SITUATIONS

CITY_FILE = Path(__file__).resolve().parents[2] / "deploy" / "local" / "demo_city.yaml"
CITY = yaml.safe_load(CITY_FILE.read_text(encoding="utf-8"))
PLACES = [
    a["code"] for a in CITY["areas"] if a["level"] in ("community", "grid", "building", "unit")
]
CATEGORIES = {c["code"]: c["name"] for c in CITY["categories"]}
UNITS = {r["id"]: r for r in CITY["responders"]}
LEADS = [
    r
    for r in CITY["responders"]
    if r["kind"] in ("department", "utility", "property_company", "street_office")
]
COS = [
    r
    for r in CITY["responders"]
    if r["kind"] in ("community_committee", "grid_worker", "owners_committee")
]
TYPES = [
    (ComplaintType.HELP, 45),
    (ComplaintType.COMPLAINT, 30),
    (ComplaintType.CONSULTATION, 10),
    (ComplaintType.REPORT, 8),
    (ComplaintType.SUGGESTION, 5),
    (ComplaintType.PRAISE, 2),
]
STORES = ("intake", "dispatch", "notify")
TOPIC_OF = {
    "intake": "complaint.events",
    "dispatch": "dispatch.events",
    "notify": "notification.events",
}


@dataclass
class Stream:
    store: str
    name: str
    key: str  # the Kafka key (the complaint)
    events: list[tuple[datetime, Event]] = field(default_factory=list)

    def add(self, at: datetime, event: Event) -> None:
        if self.events and at < self.events[-1][0]:  # a stream's events are in time order
            at = self.events[-1][0]
        self.events.append((at, event))


@dataclass
class History:
    streams: list[Stream]

    def commit_order(self, store: str) -> list[tuple[Stream, int]]:
        """(stream, index) in the order the store committed them: by time, a stream in order."""
        entries = [
            (at, s.name, i, s)
            for s in self.streams
            if s.store == store
            for i, (at, _) in enumerate(s.events)
        ]
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        return [(s, i) for _, _, i, s in entries]

    @property
    def events(self) -> int:
        return sum(len(s.events) for s in self.streams)


def city_stream(at: datetime) -> Stream:
    """The demo city as dispatch records a version of it."""
    stream = Stream("dispatch", "city-model", "city-model")
    changes = [CityChange(section="areas", op="put", key=a["code"], value=a) for a in CITY["areas"]]
    changes += [
        CityChange(section="responders", op="put", key=r["id"], value=r) for r in CITY["responders"]
    ]
    changes += [
        CityChange(section="categories", op="put", key=c["code"], value=c)
        for c in CITY["categories"]
    ]
    stream.add(
        at,
        CityModelChanged(
            catalogue_version=1,
            part=1,
            parts=1,
            changes=changes,
            actor="admin:demo",
            reason="demo",
            changed_at=at,
        ),
    )
    return stream


# A work order's steps, as the unit holding `order` takes them.


def signed(order: WorkOrderIssued, at: datetime, actor: str, note: str | None = None) -> Event:
    return WorkOrderSigned(
        work_order_id=order.work_order_id,
        complaint_id=order.complaint_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        role=order.role,
        signed_at=at,
        actor=actor,
        note=note,
    )


def contacted(order: WorkOrderIssued, at: datetime, actor: str, note: str) -> Event:
    return WorkOrderContacted(
        work_order_id=order.work_order_id,
        complaint_id=order.complaint_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        role=order.role,
        note=note,
        actor=actor,
        contacted_at=at,
    )


def resolved(order: WorkOrderIssued, at: datetime, actor: str, report: str) -> Event:
    return WorkOrderResolved(
        work_order_id=order.work_order_id,
        complaint_id=order.complaint_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        role=order.role,
        report=report,
        actor=actor,
        resolved_at=at,
    )


def returned(
    order: WorkOrderIssued,
    at: datetime,
    actor: str,
    reason: str,
    supervisors: list[str] | None = None,
) -> Event:
    return WorkOrderReturned(
        work_order_id=order.work_order_id,
        complaint_id=order.complaint_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        role=order.role,
        reason=reason,
        suggested_responder_id=None,
        actor=actor,
        returned_at=at,
        supervisor_ids=supervisors or [],
    )


class _Complaint:
    def __init__(self, rng: random.Random, index: int, filed_at: datetime) -> None:
        self.rng = rng
        self.id = uuid.UUID(int=rng.getrandbits(128))
        self.index = index
        self.t = filed_at
        self.intake = Stream("intake", f"complaint-{self.id}", str(self.id))
        self.case = Stream("dispatch", f"case-{self.id}", str(self.id))
        self.others: list[Stream] = []
        self.status = ComplaintStatus.FILED

    def later(self, low: float, high: float) -> datetime:
        self.t += timedelta(seconds=self.rng.uniform(low, high))
        return self.t

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128))

    def notify(self, audience: Audience, recipient: str, template: str) -> None:
        rng = self.rng
        nid = self.uuid()
        stream = Stream("notify", f"notification-{nid}", str(self.id))
        common: dict[str, Any] = {
            "notification_id": nid,
            "complaint_id": self.id,
            "audience": audience,
            "recipient": recipient,
            "template": template,
        }
        channel = rng.choice(["sms", "email", "wechat", "webhook"])
        at = self.t + timedelta(seconds=rng.uniform(0.1, 3))
        attempt = 1
        while rng.random() < 0.15 and attempt < 3:
            stream.add(
                at,
                NotificationFailed(
                    **common,
                    channel=channel,
                    attempt=attempt,
                    error="HTTP 503",
                    retry_at=at + timedelta(seconds=5),
                    failed_at=at,
                ),
            )
            at += timedelta(seconds=5)
            attempt += 1
        if rng.random() < 0.05:
            stream.add(
                at,
                NotificationFailed(
                    **common,
                    channel=channel,
                    attempt=attempt,
                    error="HTTP 500",
                    retry_at=None,
                    failed_at=at,
                ),
            )
            stream.add(
                at,
                NotificationAbandoned(
                    **common,
                    channel=channel,
                    attempts=attempt,
                    reason="重试次数用尽",
                    abandoned_at=at,
                ),
            )
            at += timedelta(hours=2)
            stream.add(
                at,
                NotificationRedriven(
                    notification_id=nid,
                    complaint_id=self.id,
                    channel=channel,
                    actor="admin:ops",
                    redriven_at=at,
                ),
            )
            attempt += 1
        stream.add(
            at, NotificationDelivered(**common, channel=channel, attempt=attempt, delivered_at=at)
        )
        self.others.append(stream)

    def lifecycle(self, event_type: type[Event], status: ComplaintStatus, **fields: Any) -> None:
        self.status = status
        at = self.later(1, 60)
        self.intake.add(
            at, event_type(complaint_id=self.id, status=status, occurred_at=at, **fields)
        )

    def run(self) -> list[Stream]:
        rng = self.rng
        category, area, address, text = SITUATIONS[self.index % len(SITUATIONS)]
        if rng.random() < 0.5:
            category = rng.choice(list(CATEGORIES))
            area = rng.choice(PLACES)
        kind = rng.choices([t for t, _ in TYPES], [w for _, w in TYPES])[0]
        filed = ComplaintFiled(
            complaint_id=self.id,
            case_number=f"JS-{self.t:%Y%m%d}-{self.index:06d}",
            channel=rng.choice(list(Channel)),
            text=text,
            category=category if rng.random() < 0.3 else None,
            area_code=area,
            address=address,
            resident_ref=f"R-{self.index:020d}",
            masked_phone="138****5678",
            filed_at=self.t,
        )
        self.intake.add(self.t, filed)
        self.notify(Audience.RESIDENT, f"resident:{self.id}", "complaint_receipt")
        self.lifecycle(
            ComplaintClassified,
            ComplaintStatus.CLASSIFIED,
            type=kind,
            category=category,
            confidence=0.9,
            type_confidence=0.9,
            classified_by="auto",
            needs_triage=False,
            area_code=area,
        )
        if kind == ComplaintType.CONSULTATION:
            self.lifecycle(
                ComplaintAnswered,
                ComplaintStatus.ANSWERED,
                answer="已电话答复政策口径",
                actor="staff:hotline",
            )
            return self.streams()
        if rng.random() < 0.04:
            self.lifecycle(
                ComplaintMerged,
                ComplaintStatus.MERGED,
                into_complaint_id=self.uuid(),
                into_case_number="JS-20260101-000001",
                previous_status=ComplaintStatus.CLASSIFIED,
                reason="同一楼栋同一问题",
                actor="staff:hotline",
            )
            return self.streams()
        for round_ in (1, 2):
            resolved = self.dispatch(category, area, round_)
            if not resolved:
                return self.streams()
            rated_resolved = rng.random() < 0.85
            satisfied = rated_resolved and rng.random() < 0.9
            contacted = rng.random() < 0.9
            self.lifecycle(
                ComplaintCallbackRecorded,
                ComplaintStatus.CALLED_BACK,
                contacted=contacted,
                resolved=rated_resolved if contacted else None,
                satisfied=satisfied if contacted else None,
                comment="满意" if satisfied else None,
                actor="staff:callback",
            )
            if contacted and not satisfied and round_ == 1 and rng.random() < 0.7:
                self.lifecycle(
                    ComplaintRedoRequested,
                    ComplaintStatus.REDO,
                    type=kind,
                    category=category,
                    area_code=area,
                    redo_count=1,
                    reason="居民不满意，重办",
                    actor="staff:callback",
                )
                continue
            break
        if rng.random() < 0.8:
            self.lifecycle(
                ComplaintClosed, ComplaintStatus.CLOSED, reason="回访结束", actor="staff:callback"
            )
        return self.streams()

    def order(
        self,
        category: str,
        area: str,
        unit: dict[str, Any],
        role: ResponderRole,
        purpose: str,
        round_: int,
    ) -> WorkOrderIssued:
        at = self.later(1, 30)
        sign_due = at + timedelta(hours=self.rng.choice([1, 2, 4]))
        contact_due = at + timedelta(hours=self.rng.choice([4, 12, 24]))
        due = at + timedelta(days=self.rng.choice([1, 7, 15]))
        order = WorkOrderIssued(
            work_order_id=self.uuid(),
            complaint_id=self.id,
            responder_id=unit["id"],
            responder_name=unit["name"],
            responder_kind=unit["kind"],
            role=role,
            category=category,
            area_code=area,
            rule_id="R01",
            catalogue_version=1,
            reason="派单目录规则 R01",
            priority="general",
            due_at=due,
            issued_at=at,
            purpose=purpose,
            clocks=[
                OrderClock(name="sign", due_at=sign_due, warn_at=at + (sign_due - at) * 0.8),
                OrderClock(
                    name="contact", due_at=contact_due, warn_at=at + (contact_due - at) * 0.8
                ),
                OrderClock(name="feedback", due_at=due, warn_at=at + (due - at) * 0.8),
            ],
            round=round_,
            category_name=CATEGORIES.get(category),
        )
        self.case.add(at, order)
        self.notify(Audience.RESPONDER, unit["id"], "work_order_issued")
        return order

    def dispatch(self, category: str, area: str, round_: int) -> bool:
        """One round of work; False when the story stops with the case still open."""
        rng = self.rng
        purpose = "dispatch" if round_ == 1 else "redo"
        lead = self.order(category, area, rng.choice(LEADS), ResponderRole.LEAD, purpose, round_)
        if round_ == 1 or self.status == ComplaintStatus.REDO:
            self.lifecycle(
                ComplaintDispatched,
                ComplaintStatus.DISPATCHED,
                work_order_id=lead.work_order_id,
                responder_id=lead.responder_id,
                responder_name=lead.responder_name,
                due_at=lead.due_at,
            )
        cos = [
            self.order(category, area, rng.choice(COS), ResponderRole.CO, purpose, round_)
            for _ in range(rng.choice([0, 0, 1]))
        ]
        if rng.random() < 0.12:  # not theirs: returned, re-routed to the street
            self.clock(lead, "sign", warned=True, breached=False)
            at = self.later(60, 3000)
            self.case.add(
                at,
                returned(
                    lead, at, f"responder:{lead.responder_name}", "非本单位职责", ["street-yushan"]
                ),
            )
            lead = self.order(
                category, area, UNITS["street-yushan"], ResponderRole.LEAD, "reroute", round_
            )
        if rng.random() < 0.08:  # still open when the history ends
            return False
        late_sign = rng.random() < 0.15
        if late_sign:
            self.clock(lead, "sign", warned=True, breached=True)
            if rng.random() < 0.5:
                at = self.later(1, 5)
                street = UNITS["street-yushan"]
                self.case.add(
                    at,
                    CaseEscalated(
                        complaint_id=self.id,
                        from_level="unit",
                        to_level="street",
                        responder_id=street["id"],
                        responder_name=street["name"],
                        work_order_id=self.uuid(),
                        cause_work_order_id=lead.work_order_id,
                        clock="sign",
                        escalated_at=at,
                        from_responder_id=lead.responder_id,
                    ),
                )
                self.case.add(
                    self.later(60, 600),
                    WorkOrderUrged(
                        work_order_id=lead.work_order_id,
                        complaint_id=self.id,
                        responder_id=lead.responder_id,
                        note="请尽快签收",
                        actor="supervisor:street",
                        urged_at=self.t,
                    ),
                )
        else:
            self.t = min(
                self.t + timedelta(minutes=rng.uniform(1, 50)),
                lead.clocks[0].due_at - timedelta(seconds=1),
            )
        at = self.later(1, 10)
        self.case.add(at, signed(lead, at, f"responder:{lead.responder_name}张工", "已接单"))
        self.lifecycle(
            ComplaintSigned,
            ComplaintStatus.SIGNED,
            work_order_id=lead.work_order_id,
            responder_name=lead.responder_name,
        )
        at = self.later(60, 4 * 3600)
        self.case.add(at, contacted(lead, at, "responder:张工", "已电话联系诉求人"))
        if rng.random() < 0.05:  # many parties must agree: the community deliberates
            self.deliberate(lead)
        if rng.random() < 0.1:
            at = self.later(60, 600)
            self.case.add(
                at,
                ExtensionRequested(
                    work_order_id=lead.work_order_id,
                    complaint_id=self.id,
                    responder_id=lead.responder_id,
                    current_due_at=lead.due_at,
                    requested_due_at=lead.due_at + timedelta(days=3),
                    reason="需采购材料",
                    actor="responder:张工",
                    requested_at=at,
                ),
            )
            at = self.later(60, 600)
            clock = OrderClock(
                name="feedback",
                due_at=lead.due_at + timedelta(days=3),
                warn_at=lead.due_at + timedelta(days=2),
            )
            self.case.add(
                at,
                ExtensionApproved(
                    work_order_id=lead.work_order_id,
                    complaint_id=self.id,
                    responder_id=lead.responder_id,
                    previous_due_at=lead.due_at,
                    clock=clock,
                    reason="同意延期",
                    actor="supervisor:street",
                    approved_at=at,
                ),
            )
        if rng.random() < 0.1:
            self.clock(lead, "feedback", warned=True, breached=True)
            self.case.add(
                self.later(1, 60),
                CaseSupervised(
                    complaint_id=self.id,
                    note="超期督办",
                    actor="supervisor:district",
                    supervised_at=self.t,
                ),
            )
        else:
            self.t = min(
                self.t + timedelta(hours=rng.uniform(1, 100)), lead.due_at - timedelta(minutes=1)
            )
        for co in cos:
            at = self.later(1, 600)
            self.case.add(at, signed(co, at, f"responder:{co.responder_name}"))
            at = self.later(1, 600)
            self.case.add(at, resolved(co, at, "responder:co", "已配合完成"))
        at = self.later(60, 3600)
        self.case.add(at, resolved(lead, at, "responder:张工", "已维修完毕，居民确认"))
        at = self.later(1, 5)
        self.case.add(
            at,
            CaseResolved(
                complaint_id=self.id,
                lead_work_order_id=lead.work_order_id,
                lead_responder_id=lead.responder_id,
                report="已维修完毕，居民确认",
                resolved_at=at,
            ),
        )
        self.notify(Audience.RESIDENT, f"resident:{self.id}", "case_resolved")
        self.lifecycle(ComplaintResolved, ComplaintStatus.RESOLVED, report="已维修完毕，居民确认")
        return True

    def clock(self, order: WorkOrderIssued, name: str, *, warned: bool, breached: bool) -> None:
        clock = next(c for c in order.clocks if c.name == name)
        common = {
            "work_order_id": order.work_order_id,
            "complaint_id": self.id,
            "responder_id": order.responder_id,
            "responder_name": order.responder_name,
            "role": order.role,
            "clock": name,
            "due_at": clock.due_at,
        }
        self.t = max(self.t, clock.warn_at)
        if warned:
            self.case.add(self.t, SlaWarned(**common, warned_at=self.t))
        if breached:
            self.t = max(self.t, clock.due_at) + timedelta(seconds=1)
            self.case.add(
                self.t,
                SlaBreached(
                    **common, breached_at=self.t, supervisor_ids=["street-yushan", "gov-pingyin"]
                ),
            )

    def deliberate(self, lead: WorkOrderIssued) -> None:
        rng = self.rng
        item = self.uuid()
        community = "370124001001"
        agenda = Stream("dispatch", f"agenda-{item}", str(self.id))
        self.others.append(agenda)
        at = self.later(60, 600)
        self.case.add(
            at,
            DeliberationRequested(
                complaint_id=self.id,
                item_id=item,
                community_code=community,
                reason="涉及多方利益，需议事",
                actor="supervisor:street",
                sent_at=at,
            ),
        )
        agenda.add(
            at,
            AgendaItemOpened(
                item_id=item,
                complaint_id=self.id,
                community_code=community,
                community_name="会仙山社区",
                title="北门拓宽与停车位调整",
                reason="涉及多方利益",
                actor="committee:会仙山",
                opened_at=at,
            ),
        )
        level = "community"
        if rng.random() < 0.4:
            at = self.later(3600, 86400)
            agenda.add(
                at,
                AgendaTopicSet(
                    item_id=item,
                    complaint_id=self.id,
                    level=level,
                    topic="北门拓宽方案",
                    parties=["居委会", "业委会", "物业"],
                    actor="committee",
                    set_at=at,
                ),
            )
            at = self.later(3600, 86400)
            agenda.add(
                at,
                DeliberationHeld(
                    item_id=item,
                    complaint_id=self.id,
                    level=level,
                    participants=["居委会", "业委会"],
                    minutes="意见不一",
                    settled=False,
                    actor="committee",
                    held_at=at,
                ),
            )
            at = self.later(60, 600)
            agenda.add(
                at,
                AgendaItemRaised(
                    item_id=item,
                    complaint_id=self.id,
                    from_level="community",
                    to_level="district",
                    district_code="370124000000",
                    reason="需多部门协调",
                    actor="committee",
                    raised_at=at,
                ),
            )
            level = "district"
        at = self.later(3600, 86400)
        agenda.add(
            at,
            AgendaTopicSet(
                item_id=item,
                complaint_id=self.id,
                level=level,
                topic="北门拓宽方案",
                parties=["居委会", "业委会", "物业", "城管局"],
                actor="committee",
                set_at=at,
            ),
        )
        at = self.later(3600, 86400)
        agenda.add(
            at,
            DeliberationHeld(
                item_id=item,
                complaint_id=self.id,
                level=level,
                participants=["居委会", "业委会", "物业", "城管局"],
                minutes="同意拓宽北门",
                settled=True,
                actor="committee",
                held_at=at,
            ),
        )
        at = self.later(60, 600)
        assignment = AgendaAssignment(
            responder_id="dept-urban",
            responder_name="平阴县城市管理局",
            task="拓宽北门",
            due_at=at + timedelta(days=15),
            work_order_id=self.uuid(),
        )
        agenda.add(
            at,
            AgendaDecided(
                item_id=item,
                complaint_id=self.id,
                level=level,
                decision="拓宽北门并施划停车位",
                assignments=[assignment],
                actor="committee",
                decided_at=at,
            ),
        )
        clock = OrderClock(
            name="feedback", due_at=at + timedelta(days=7), warn_at=at + timedelta(days=5)
        )
        self.case.add(
            at,
            DeliberationConcluded(
                complaint_id=self.id,
                item_id=item,
                decision="拓宽北门并施划停车位",
                lead_work_order_id=lead.work_order_id,
                clock=clock,
                concluded_at=at,
            ),
        )
        if rng.random() < 0.7:
            at = self.later(86400, 5 * 86400)
            agenda.add(
                at,
                AgendaReviewed(
                    item_id=item,
                    complaint_id=self.id,
                    level=level,
                    verdict="已落实，居民满意",
                    satisfied=True,
                    actor="committee",
                    reviewed_at=at,
                ),
            )

    def streams(self) -> list[Stream]:
        return [self.intake, self.case, *self.others]


def generate(
    complaints: int, seed: int = 7, start: datetime | None = None, days: int = 180
) -> History:
    """`complaints` histories filed over `days` days from `start` (by default 2026-06-01)."""
    rng = random.Random(seed)
    start = start or datetime(2026, 6, 1, tzinfo=UTC)
    streams = [city_stream(start - timedelta(days=1))]
    for index in range(complaints):
        filed_at = start + timedelta(seconds=rng.uniform(0, days * 86400))
        streams += _Complaint(rng, index, filed_at).run()
    return History(streams)


def iter_records(history: History, store: str) -> Iterator[tuple[Stream, int, Event]]:
    for stream, index in history.commit_order(store):
        yield stream, index, stream.events[index][1]


async def copy_store(url: str, history: History, store: str) -> None:
    """The store's part of the history, COPYed into an event store at `url` (its schema applied),
    as the service would have appended it, only much faster."""
    rows = [
        (
            stream.name,
            index,
            event.event_type,
            event.version,
            event.model_dump_json(),
            json.dumps(
                {
                    "source": f"/jiesu/{store}",
                    "subject": event.subject,
                    "correlation_id": str(uuid.uuid5(uuid.NAMESPACE_URL, stream.key)),
                    "causation_id": None,
                }
            ),
            uuid.uuid4(),
            stream.events[index][0],
        )
        for stream, index, event in iter_records(history, store)
    ]
    conn = await asyncpg.connect(url)
    try:
        columns = ["stream", "position", "type", "version", "data", "metadata", "id", "recorded_at"]
        await conn.copy_records_to_table("events", records=rows, columns=columns)
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()
