"""Randomised, realistic histories of complaints, as the three event stores would hold them.

Intake files and classifies (a consultation is answered on the spot, a duplicate merged, a
misfiled complaint reclassified), mirrors the lead order's steps and records the callback, and
a redo starts a new round; notify delivers, fails, abandons and is redriven. Those events are
made here. Every dispatch event is decided by dispatch itself (services/dispatch) on the case
folded so far, with the rules of the city model that `city_stream` records: its reactions to
the complaint's events route, re-route and cancel; the units sign (on time or late), contact,
start, give orders back (re-routed, or arbitrated after too many returns), ask for more time
and report; the clocks' timers warn, breach and escalate as the timer worker fires them;
supervisors urge and supervise; a street blows the whistle; a case goes on its community's
agenda (and up to the district's). Randomness only chooses what is done, and when: when
dispatch changes its rules, the histories follow. Each stream's events are in order; the
stores' commit order interleaves complaints by time. Seeded, so reproducible.
"""

from __future__ import annotations

import heapq
import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, get_args
from uuid import UUID

import asyncpg
import yaml
from pydantic import BaseModel

from services.dispatch import handlers
from services.dispatch.auth import ApiKey, Caller, Role, caller_for
from services.dispatch.domain import agenda, deadlines, orders, supervision
from services.dispatch.domain.case import Case, Purpose, WorkOrder, evolve
from services.dispatch.domain.city import (
    Change,
    CityFile,
    CityModel,
    Level,
    ResponderKind,
    apply_changes,
    changes_between,
)
from services.dispatch.domain.rules import IllegalTransition, NotAllowed, Rules
from shared.deadlines import CalendarYear, ClockName, WorkCalendar
from shared.events import (
    ArbitrationRequested,
    Audience,
    CaseEscalated,
    CaseResolved,
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
    ComplaintReclassified,
    ComplaintRedoRequested,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintStatus,
    ComplaintType,
    Event,
    NotificationAbandoned,
    NotificationDelivered,
    NotificationFailed,
    NotificationRedriven,
    ResponderRole,
    WorkOrderIssued,
    WorkOrderSigned,
)
from tests.support.examples import SITUATIONS

REPO = Path(__file__).resolve().parents[2]
CITY_FILE = REPO / "deploy" / "local" / "demo_city.yaml"
CALENDARS = sorted((REPO / "services" / "dispatch" / "data").glob("calendar-*.yaml"))
CITY = yaml.safe_load(CITY_FILE.read_text(encoding="utf-8"))
PLACES = [
    a["code"] for a in CITY["areas"] if a["level"] in ("community", "grid", "building", "unit")
]
CATEGORIES = {c["code"]: c["name"] for c in CITY["categories"]}
UNITS = {r["id"]: r for r in CITY["responders"]}
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
S = ComplaintStatus
# Intake's statuses in which a new lead order is shown to the resident as the one handling it.
AWAITING_LEAD = frozenset({S.CLASSIFIED, S.REDO, S.TRIAGE, S.DISPATCHED, S.SIGNED})


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


@cache
def _city_changes() -> tuple[Change, ...]:
    """The demo city's items, as dispatch records a first version of it."""
    return tuple(changes_between(None, CityFile.model_validate(CITY).body()))


def city_stream(at: datetime) -> Stream:
    """The demo city as dispatch records a version of it."""
    stream = Stream("dispatch", "city-model", "city-model")
    changes = [
        CityChange(section=c.section, op=c.op, key=c.key, value=c.value) for c in _city_changes()
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


@cache
def rules() -> Rules:
    """Dispatch's rules as it reads them back: the model rebuilt from `city_stream`'s changes,
    and the working-day calendars it ships."""
    city = CityFile.model_validate(apply_changes(None, list(_city_changes())))
    years = [CalendarYear.model_validate(yaml.safe_load(p.read_text("utf-8"))) for p in CALENDARS]
    return Rules(CityModel(city, version=1), WorkCalendar.of(years))


@cache
def caller(unit_id: str | None) -> Caller:
    """Who acts, as dispatch authenticates a key: a unit's own key, or (None) a supervisor's
    key for the whole city (the district's 督办)."""
    if unit_id is None:
        key = ApiKey(key_id="history", name="district", role=Role.SUPERVISOR, rate_per_minute=0)
    else:
        key = ApiKey(
            key_id=f"history-{unit_id}",
            name=unit_id,
            role=Role.RESPONDER,
            rate_per_minute=0,
            responder_id=unit_id,
        )
    return caller_for(key, rules().model)


# Ids the domain draws (uuid4) name work orders and agenda items; a history replaces them.
_DRAWN = ("work_order_id", "item_id")


@cache
def _drawn_fields(model: type[BaseModel]) -> tuple[tuple[str, type[BaseModel] | None], ...]:
    """The fields of `model` that hold drawn ids, and its lists of parts that may (with the
    part's type): an AgendaDecided's assignments name the orders they became."""
    found: list[tuple[str, type[BaseModel] | None]] = []
    for name, info in model.model_fields.items():
        parts = [a for a in get_args(info.annotation) if isinstance(a, type)]
        part = next((a for a in parts if issubclass(a, BaseModel)), None)
        if name.endswith(_DRAWN):
            found.append((name, None))
        elif part is not None and _drawn_fields(part):
            found.append((name, part))
    return tuple(found)


def _timer_order(timer: deadlines.Timer) -> tuple[datetime, int, str, str]:
    """Firing order; ties go by order, clock and kind, not by the set's (hash-seeded) order."""
    return timer.fire_at, timer.work_order_id.int, timer.clock, timer.kind


Model = TypeVar("Model", bound=BaseModel)
# One party's part in a story: each value it yields is when it acts next.
Actor = Iterator[datetime]


class _Complaint:
    """One complaint's story: the parties' actors and the case's timers, run in time order."""

    def __init__(self, rng: random.Random, index: int, filed_at: datetime) -> None:
        self.rng = rng
        self.id = uuid.UUID(int=rng.getrandbits(128))
        self.index = index
        self.now = filed_at
        self.intake = Stream("intake", f"complaint-{self.id}", str(self.id))
        self.dispatch = Stream("dispatch", f"case-{self.id}", str(self.id))
        self.others: list[Stream] = []
        self.status = S.FILED
        self.kind = ComplaintType.HELP
        self.category = ""
        self.area = ""
        self.lead_id: UUID | None = None  # the lead order intake shows
        self.case: Case | None = None
        self.timers: list[deadlines.Timer] | None = []  # soonest last; None: to be read again
        self.items: dict[UUID, tuple[Stream, agenda.AgendaItem]] = {}
        self.actors: list[tuple[datetime, int, Actor]] = []
        self.spawned = 0
        self.ours: set[UUID] = set()
        self.drawn: dict[UUID, UUID] = {}
        self.causes: dict[UUID, UUID] = {}  # a supervising order → the order whose breach it is

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> list[Stream]:
        self.spawn(self.filing())
        while True:
            timer = self.due_timer(self.actors[0][0] if self.actors else None)
            if timer is not None:
                self.fire(timer)
                continue
            if not self.actors:
                break
            at, _, actor = heapq.heappop(self.actors)
            self.now = max(self.now, at)
            wake = next(actor, None)
            if wake is not None:
                self.spawn(actor, wake)
        return [self.intake, self.dispatch, *self.others]

    def spawn(self, actor: Actor, at: datetime | None = None) -> None:
        self.spawned += 1  # ties go first come, first served
        heapq.heappush(self.actors, (max(at or self.now, self.now), self.spawned, actor))

    def advance(self, at: datetime) -> None:
        """The story's clock moves on to `at`; the timers due meanwhile fire first."""
        while (timer := self.due_timer(at)) is not None:
            self.fire(timer)
        self.now = max(self.now, at)

    def due_timer(self, by: datetime | None) -> deadlines.Timer | None:
        """The case's soonest timer if it is due by `by` (whenever, if None), taken off."""
        if self.timers is None:
            self.timers = sorted(deadlines.timers(self.case), key=_timer_order, reverse=True)
        if self.timers and (by is None or self.timers[-1].fire_at <= by):
            return self.timers.pop()
        return None

    def fire(self, timer: deadlines.Timer) -> None:
        """A due timer, as dispatch's timer worker fires it (on time)."""
        assert self.case is not None
        self.now = max(self.now, timer.fire_at)
        self.decided(deadlines.fire(self.case, timer, self.now, rules()))

    def after(self, low: float, high: float) -> datetime:
        return self.now + timedelta(seconds=self.rng.uniform(low, high))

    def share(self, start: datetime, end: datetime, low: float, high: float) -> datetime:
        """A moment `low`..`high` of the way from `start` to `end` (a little after `start` when
        `end` is already past)."""
        if end <= start:
            return start + timedelta(seconds=self.rng.uniform(60, 3600))
        return start + (end - start) * self.rng.uniform(low, high)

    def uuid(self) -> UUID:
        return uuid.UUID(int=self.rng.getrandbits(128))

    # --- dispatch's decisions ---------------------------------------------------------------

    def decided(self, events: list[Event]) -> list[Event]:
        """Dispatch's events as it appends them to the case: folded, then followed up."""
        events = [self.seeded(event) for event in events]
        for event in events:
            self.case = evolve(self.case, event)
            self.dispatch.add(self.now, event)
        if events:
            self.timers = None
        for event in events:
            follow = FOLLOW_UPS.get(type(event))
            if follow is not None:
                follow(self, event)
        return events

    def seeded(self, event: Model) -> Model:
        """The event (or part) with the ids dispatch drew at random replaced by seeded ones,
        the same id by the same one wherever it appears."""
        update: dict[str, Any] = {}
        for name, part in _drawn_fields(type(event)):
            value = getattr(event, name)
            if part is not None:
                update[name] = [self.seeded(v) for v in value]
            elif value is not None and value not in self.ours:
                if value not in self.drawn:
                    self.drawn[value] = self.uuid()
                    self.ours.add(self.drawn[value])
                update[name] = self.drawn[value]
        return event.model_copy(update=update) if update else event

    def attempt(self, decide: Callable[[Case], list[Event]]) -> list[Event] | None:
        """A decision on the case now; None when dispatch refuses it (the case moved on, or the
        party may not take it)."""
        assert self.case is not None
        try:
            events = decide(self.case)
        except (IllegalTransition, NotAllowed):
            return None
        return self.decided(events)

    def act(self, decision: Callable[..., list[Event]], order_id: UUID, *args: Any) -> bool:
        """`decision(case, order, *args)` on one order now; False when dispatch refuses it."""
        return (
            self.attempt(lambda case: decision(case, self.order(order_id, case), *args)) is not None
        )

    def order(self, order_id: UUID, case: Case | None = None) -> WorkOrder:
        case = case or self.case
        assert case is not None
        order = case.order(order_id)
        assert order is not None
        return order

    def due_at(self, order_id: UUID, clock: ClockName) -> datetime:
        """When the order's `clock` runs out now (a day on when it has none)."""
        found = self.order(order_id).clock(clock)
        return found.due_at if found is not None else self.now + timedelta(days=1)

    # --- intake and notify ------------------------------------------------------------------

    def lifecycle(
        self, event_type: type[Event], status: ComplaintStatus, at: datetime, **fields: Any
    ) -> None:
        """A complaint event, and dispatch's reaction to it (services/dispatch/handlers), which
        it decides a moment later as it consumes the event."""
        self.status = status
        event = event_type(complaint_id=self.id, status=status, occurred_at=at, **fields)
        self.intake.add(at, event)
        reaction = handlers.reaction(event)
        if reaction is not None:
            self.advance(at + timedelta(seconds=self.rng.uniform(0.5, 5)))
            self.decided(reaction.decide(self.case, rules(), self.now))

    def consumed(self) -> datetime:
        """When another service has consumed what dispatch just appended."""
        return self.after(1, 60)

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
        at = self.now + timedelta(seconds=rng.uniform(0.1, 3))
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

    # --- the actors -------------------------------------------------------------------------

    def filing(self) -> Actor:
        """The resident files and intake classifies; a consultation waits for a person, who
        answers it; a duplicate is merged, a misfiled complaint reclassified. Dispatch takes
        the rest."""
        rng = self.rng
        category, area, address, text = SITUATIONS[self.index % len(SITUATIONS)]
        if rng.random() < 0.5:
            category = rng.choice(list(CATEGORIES))
            area = rng.choice(PLACES)
        kind = rng.choices([t for t, _ in TYPES], [w for _, w in TYPES])[0]
        self.kind, self.category, self.area = kind, category, area
        filed = ComplaintFiled(
            complaint_id=self.id,
            case_number=f"JS-{self.now:%Y%m%d}-{self.index:06d}",
            channel=rng.choice(list(Channel)),
            text=text,
            category=category if rng.random() < 0.3 else None,
            area_code=area,
            address=address,
            resident_ref=f"R-{self.index:020d}",
            masked_phone="138****5678",
            filed_at=self.now,
        )
        self.intake.add(self.now, filed)
        self.notify(Audience.RESIDENT, f"resident:{self.id}", "complaint_receipt")
        yield self.after(1, 60)
        consultation = kind is ComplaintType.CONSULTATION
        self.lifecycle(
            ComplaintClassified,
            S.TRIAGE if consultation else S.CLASSIFIED,
            self.now,
            type=kind,
            category=category,
            confidence=0.9,
            type_confidence=0.9,
            classified_by="auto",
            needs_triage=consultation,
            area_code=area,
        )
        if consultation:
            yield self.after(1, 60)
            self.lifecycle(
                ComplaintAnswered,
                S.ANSWERED,
                self.now,
                answer="已电话答复政策口径",
                actor="staff:hotline",
            )
            return
        if rng.random() < 0.04:
            yield self.after(600, 3 * 3600)
            self.lifecycle(
                ComplaintMerged,
                S.MERGED,
                self.now,
                into_complaint_id=self.uuid(),
                into_case_number="JS-20260101-000001",
                previous_status=self.status,
                reason="同一楼栋同一问题",
                actor="staff:hotline",
            )
        elif rng.random() < 0.03:
            yield self.after(600, 2 * 3600)
            if self.status in (S.DISPATCHED, S.SIGNED):
                previous, self.category = (
                    self.category,
                    rng.choice([c for c in CATEGORIES if c != category]),
                )
                self.lifecycle(
                    ComplaintReclassified,
                    self.status,
                    self.now,
                    type=kind,
                    category=self.category,
                    previous_type=kind,
                    previous_category=previous,
                    area_code=area,
                    reason="诉求分类有误，重新分类",
                    actor="staff:hotline",
                )

    def lead(self, order_id: UUID) -> Actor:
        """The lead unit: gives back what is not its business (退单), lets some orders lie (the
        case is still open when the history ends), signs (now and then late), contacts the
        resident, may start, may have its street call in the departments; then the case goes
        to deliberation or the unit finishes it."""
        rng = self.rng
        order = self.order(order_id)
        actor = caller(order.responder.id).actor
        if rng.random() < 0.12:  # 退单 (dispatch refuses it when the order binds the unit)
            yield self.share(order.issued_at, self.due_at(order_id, ClockName.SIGN), 0.2, 0.95)
            reason = "非本单位职责"
            if self.act(orders.return_order, order_id, reason, None, actor, self.now, rules()):
                return
        if rng.random() < 0.05:  # nobody acts: the clocks run out, the case climbs the ladder
            return
        late = rng.random() < 0.08
        sign_due = self.due_at(order_id, ClockName.SIGN)
        yield self.share(order.issued_at, sign_due, *((1.05, 3.0) if late else (0.05, 0.85)))
        if not self.act(orders.sign, order_id, actor, "已接单", self.now):
            return
        yield self.share(self.now, self.due_at(order_id, ClockName.CONTACT), 0.05, 0.7)
        if not self.act(orders.contact, order_id, actor, "已电话联系诉求人", self.now):
            return
        if rng.random() < 0.02:
            yield self.after(600, 7200)
            self.attempt(self.whistle)
        if rng.random() < 0.2:
            yield self.after(60, 3600)
            self.act(orders.start, order_id, actor, "已安排人员现场处置", self.now)
        if rng.random() < 0.05:  # many parties must agree: the community deliberates
            self.spawn(self.deliberation(order_id), self.after(60, 600))
            return
        yield from self.finish(order_id)

    def finish(self, order_id: UUID) -> Actor:
        """The lead's last steps: perhaps more time asked for, then its report, before the
        deadline or after it (when the district supervises, 督办)."""
        rng = self.rng
        actor = caller(self.order(order_id).responder.id).actor
        if rng.random() < 0.1:
            yield self.after(600, 6 * 3600)
            extra, reason = "3d", "需采购材料"
            if self.act(
                orders.request_extension, order_id, extra, reason, actor, self.now, rules()
            ):
                self.spawn(self.extension(order_id))
                yield self.after(7 * 3600, 12 * 3600)
        due = self.due_at(order_id, ClockName.FEEDBACK)
        if rng.random() < 0.06:
            self.spawn(self.supervise(due + timedelta(seconds=rng.uniform(600, 6 * 3600))))
            yield due + timedelta(seconds=rng.uniform(3600, 2 * 86400))
        else:
            yield min(self.after(3600, 100 * 3600), self.share(self.now, due, 0.1, 0.7))
        self.act(orders.resolve, order_id, "已维修完毕，居民确认", actor, self.now)

    def helping(self, order_id: UUID) -> Actor:
        """A co-responder (协办), a department the whistle called or a unit a deliberation
        assigned: signs (now and then late) and reports what it did."""
        order = self.order(order_id)
        actor = caller(order.responder.id).actor
        late = self.rng.random() < 0.05
        sign_due = self.due_at(order_id, ClockName.SIGN)
        yield self.share(order.issued_at, sign_due, *((1.05, 2.0) if late else (0.05, 0.85)))
        if not self.act(orders.sign, order_id, actor, None, self.now):
            return
        yield self.share(self.now, self.due_at(order_id, ClockName.FEEDBACK), 0.02, 0.3)
        self.act(orders.resolve, order_id, "已配合完成", actor, self.now)

    def supervising(self, order_id: UUID) -> Actor:
        """The unit a breach escalated the case to: takes it in hand, may urge the unit that
        was late (催办), and reports on its supervision."""
        order = self.order(order_id)
        actor = caller(order.responder.id).actor
        yield self.share(order.issued_at, self.due_at(order_id, ClockName.SIGN), 0.05, 0.85)
        if not self.act(orders.sign, order_id, actor, "已接督办", self.now):
            return
        cause = self.causes.get(order_id)
        if cause is not None and self.rng.random() < 0.5:
            yield self.after(60, 600)
            self.act(supervision.urge, cause, "请尽快办理", actor, self.now)
        yield self.share(self.now, self.due_at(order_id, ClockName.FEEDBACK), 0.2, 0.7)
        self.act(orders.resolve, order_id, "已督促承办单位限期办结", actor, self.now)

    def extension(self, order_id: UUID) -> Actor:
        """The area's street answers a request for more time: mostly granted."""
        yield self.after(600, 6 * 3600)
        actor = self.street().actor
        if self.rng.random() < 0.8:
            approve = supervision.approve_extension
            self.act(approve, order_id, "同意延期", actor, self.now, rules())
        else:
            self.act(supervision.refuse_extension, order_id, "请按期办结", actor, self.now)

    def supervise(self, at: datetime) -> Actor:
        """督办: the district follows up a case past its deadline (if it is still open)."""
        yield at
        district = caller(None)

        def decide(case: Case) -> list[Event]:
            supervision.must_supervise(district, case, rules().model, "督办")
            return supervision.supervise(case, "超期督办", district.actor, self.now)

        self.attempt(decide)

    def arbitrating(self, request: ArbitrationRequested) -> Actor:
        """The unit the case was put to (提请裁定) rules which of the units that gave it back
        handles it."""
        yield self.after(3600, 86400)
        assert self.case is not None
        if self.case.arbitration is None:
            return  # nothing left to rule on: the case was reclassified or cancelled meanwhile
        unit = self.rng.choice(sorted(self.case.returned_by))
        acting = caller(request.arbitrator_id)

        def decide(case: Case) -> list[Event]:
            arbitrator = supervision.arbitrator(acting, case, rules().model)
            why = "经核查属该单位职责"
            return supervision.arbitrate(
                case, arbitrator, unit, why, acting.actor, self.now, rules()
            )

        self.attempt(decide)

    def whistle(self, case: Case) -> list[Event]:
        """吹哨报到: the area's street calls in one or two departments."""
        model = rules().model
        acting = self.street()
        street = supervision.whistler(acting, case, model)
        departments = [u.id for u in model.responders.values() if u.level is Level.DEPARTMENT]
        named = self.rng.sample(departments, self.rng.choice([1, 2]))
        reason = "需多部门联合处置"
        return supervision.blow_whistle(
            case, street, named, reason, acting.actor, self.now, rules()
        )

    def street(self) -> Caller:
        """The key of the street office over the case's area (the district's, if none)."""
        assert self.case is not None
        unit = rules().model.nearest(self.case.area_code, ResponderKind.STREET_OFFICE)
        return caller(unit.id if unit else None)

    def deliberation(self, lead_id: UUID) -> Actor:
        """议事 (四方五步): the lead puts the case on its community's agenda; the committee runs
        it, up to the district's joint meeting when the community cannot agree; the decision's
        duties become work orders, and the lead finishes."""
        rng = self.rng
        model = rules().model
        lead = caller(self.order(lead_id).responder.id)
        reason = "涉及多方利益，需议事协商"
        opened: list[Event] = []

        def send(case: Case) -> list[Event]:
            item_events, case_events = agenda.open_deliberation(
                case, lead, None, reason, self.now, rules()
            )
            opened[:] = item_events
            return case_events

        if self.attempt(send) is None:
            yield from self.finish(lead_id)
            return
        item = self.opened(opened)
        committee = model.nearest(item.community_code, ResponderKind.COMMUNITY_COMMITTEE)
        acting = caller(committee.id if committee else None)
        topic, parties = f"{item.title}处置方案", ["居委会", "业委会", "物业"]
        if rng.random() < 0.4:
            yield self.after(3600, 86400)
            self.agendum(item.item_id, acting, agenda.set_topic, topic, parties)
            yield self.after(3600, 86400)
            self.agendum(item.item_id, acting, agenda.hold, parties, "意见不一", False)
            yield self.after(60, 600)
            district = agenda.district_of(item, model)
            self.agendum(item.item_id, acting, agenda.raise_to_district, district, "需多部门协调")
            acting = caller(model.government(item.community_code).id)
            parties = [*parties, "区县职能部门"]
        yield self.after(3600, 86400)
        self.agendum(item.item_id, acting, agenda.set_topic, topic, parties)
        yield self.after(3600, 86400)
        self.agendum(item.item_id, acting, agenda.hold, parties, "各方同意", True)
        yield self.after(60, 600)
        departments = [u for u in model.responders.values() if u.level is Level.DEPARTMENT]
        duties = [agenda.Duty(rng.choice(departments), "按议事决定落实")]
        decision = "各方议定分工落实"
        decided: list[Event] = []

        def assign(case: Case) -> list[Event]:
            current = self.items[item.item_id][1]
            agenda.must_run(acting, current, model)
            item_events, case_events = agenda.assign(
                current, case, decision, duties, acting.actor, self.now, rules()
            )
            decided[:] = item_events
            return case_events

        if self.attempt(assign) is not None:  # the case's orders first, as dispatch saves them
            self.on_item(item.item_id, decided)
        self.spawn(self.finish(lead_id))
        if rng.random() < 0.7:
            yield self.after(86400, 5 * 86400)
            self.agendum(item.item_id, acting, agenda.review, "已落实，居民满意", True)

    def callback(self) -> Actor:
        """回访: the resident is called back; not satisfied the first time, the case is redone."""
        rng = self.rng
        yield self.after(1, 60)
        rated_resolved = rng.random() < 0.85
        satisfied = rated_resolved and rng.random() < 0.9
        contacted = rng.random() < 0.9
        self.lifecycle(
            ComplaintCallbackRecorded,
            S.CALLED_BACK,
            self.now,
            contacted=contacted,
            resolved=rated_resolved if contacted else None,
            satisfied=satisfied if contacted else None,
            comment="满意" if satisfied else None,
            actor="staff:callback",
        )
        assert self.case is not None
        if contacted and not satisfied and self.case.round == 1 and rng.random() < 0.7:
            yield self.after(1, 60)
            self.lifecycle(
                ComplaintRedoRequested,
                S.REDO,
                self.now,
                type=self.kind,
                category=self.category,
                area_code=self.area,
                redo_count=1,
                reason="居民不满意，重办",
                actor="staff:callback",
            )
        elif rng.random() < 0.8:
            yield self.after(1, 60)
            self.lifecycle(
                ComplaintClosed, S.CLOSED, self.now, reason="回访结束", actor="staff:callback"
            )

    # --- agenda items -----------------------------------------------------------------------

    def opened(self, events: list[Event]) -> agenda.AgendaItem:
        """An item the domain opened (under its seeded id), with a stream of its own."""
        events = [self.seeded(event) for event in events]
        item: agenda.AgendaItem | None = None
        for event in events:
            item = agenda.evolve(item, event)
        assert item is not None
        stream = Stream("dispatch", f"agenda-{item.item_id}", str(self.id))
        for event in events:
            stream.add(self.now, event)
        self.others.append(stream)
        self.items[item.item_id] = (stream, item)
        return item

    def agendum(
        self, item_id: UUID, acting: Caller, decision: Callable[..., list[Event]], *args: Any
    ) -> None:
        """`decision(item, *args, actor, now)`: a step of an agenda item now, by one who runs
        its agenda (agenda.must_run)."""
        item = self.items[item_id][1]
        try:
            agenda.must_run(acting, item, rules().model)
            events = decision(item, *args, acting.actor, self.now)
        except (IllegalTransition, NotAllowed):
            return
        self.on_item(item_id, events)

    def on_item(self, item_id: UUID, events: list[Event]) -> None:
        stream, item = self.items[item_id]
        for event in events:
            event = self.seeded(event)
            item = agenda.evolve(item, event)
            stream.add(self.now, event)
        self.items[item_id] = (stream, item)

    # --- following dispatch's events (the other services and the parties who act next) ---

    def issued(self, e: WorkOrderIssued) -> None:
        self.notify(Audience.RESPONDER, e.responder_id, "work_order_issued")
        if e.role is ResponderRole.LEAD:
            if self.status in AWAITING_LEAD and e.work_order_id != self.lead_id:
                self.lead_id = e.work_order_id
                self.lifecycle(
                    ComplaintDispatched,
                    S.DISPATCHED,
                    self.consumed(),
                    work_order_id=e.work_order_id,
                    responder_id=e.responder_id,
                    responder_name=e.responder_name,
                    due_at=e.due_at,
                )
            self.spawn(self.lead(e.work_order_id))
        elif e.purpose == Purpose.ESCALATION:
            self.spawn(self.supervising(e.work_order_id))
        else:
            self.spawn(self.helping(e.work_order_id))

    def signed(self, e: WorkOrderSigned) -> None:
        if self.status is S.DISPATCHED and e.work_order_id == self.lead_id:
            self.lifecycle(
                ComplaintSigned,
                S.SIGNED,
                self.consumed(),
                work_order_id=e.work_order_id,
                responder_name=e.responder_name,
            )

    def resolved(self, e: CaseResolved) -> None:
        self.notify(Audience.RESIDENT, f"resident:{self.id}", "case_resolved")
        if self.status in (S.DISPATCHED, S.SIGNED):
            at = self.consumed()
            self.lifecycle(ComplaintResolved, S.RESOLVED, at, report=e.report)
            self.spawn(self.callback(), at)

    def escalated(self, e: CaseEscalated) -> None:
        self.causes[e.work_order_id] = e.cause_work_order_id

    def arbitration(self, e: ArbitrationRequested) -> None:
        self.spawn(self.arbitrating(e))


FOLLOW_UPS: dict[type[Event], Callable[[_Complaint, Any], None]] = {
    WorkOrderIssued: _Complaint.issued,
    WorkOrderSigned: _Complaint.signed,
    CaseResolved: _Complaint.resolved,
    CaseEscalated: _Complaint.escalated,
    ArbitrationRequested: _Complaint.arbitration,
}


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
