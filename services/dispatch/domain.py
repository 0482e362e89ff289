"""Dispatch's pure decisions: the case (派单案件) aggregate — decide → events, evolve ← events.

A case is one complaint as dispatch follows it: its work orders (lead, co-responders, whistled
departments, supervising units, units a deliberation assigns), their clocks, returns and
arbitration, escalation and deliberation. A command that does not fit raises
`IllegalTransition` with a sentence a person understands (HTTP 409).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any
from uuid import UUID, uuid4

from services.dispatch.city import (
    CityModel,
    Level,
    Responder,
    ResponderKind,
    RoutingDecision,
    route,
)
from services.dispatch.deadlines import (
    CLOCK_LABELS,
    ClockName,
    PriorityTier,
    WorkCalendar,
    deadline,
    warn_time,
)
from shared.events import (
    ArbitrationDecided,
    ArbitrationRequested,
    CaseCancelled,
    CaseEscalated,
    CaseResolved,
    CaseSupervised,
    DeliberationConcluded,
    DeliberationRequested,
    Event,
    ExtensionApproved,
    ExtensionRefused,
    ExtensionRequested,
    OrderClock,
    ResponderRole,
    SlaBreached,
    SlaWarned,
    WhistleBlown,
    WorkOrderCancelled,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderResolved,
    WorkOrderReturned,
    WorkOrderSigned,
    WorkOrderStarted,
    WorkOrderUrged,
)

LEAD, CO = ResponderRole.LEAD, ResponderRole.CO


class IllegalTransition(Exception):
    """The command does not apply to the case or order as it stands (HTTP 409)."""


class OrderStatus(StrEnum):
    ISSUED = "issued"  # 待签收
    SIGNED = "signed"  # 已签收
    CONTACTED = "contacted"  # 已联系诉求人
    IN_PROGRESS = "in_progress"  # 办理中
    RESOLVED = "resolved"  # 已反馈
    RETURNED = "returned"  # 已退单
    CANCELLED = "cancelled"  # 已撤销


ORDER_LABELS = {
    OrderStatus.ISSUED: "待签收",
    OrderStatus.SIGNED: "已签收",
    OrderStatus.CONTACTED: "已联系诉求人",
    OrderStatus.IN_PROGRESS: "办理中",
    OrderStatus.RESOLVED: "已反馈",
    OrderStatus.RETURNED: "已退单",
    OrderStatus.CANCELLED: "已撤销",
}
OPEN = frozenset(
    {OrderStatus.ISSUED, OrderStatus.SIGNED, OrderStatus.CONTACTED, OrderStatus.IN_PROGRESS}
)
WORKING = frozenset({OrderStatus.SIGNED, OrderStatus.CONTACTED, OrderStatus.IN_PROGRESS})


class Purpose(StrEnum):
    """Why a work order exists."""

    DISPATCH = "dispatch"  # 派单
    REDO = "redo"  # 重办
    REROUTE = "reroute"  # 改派（退单、重新分类）
    ARBITRATION = "arbitration"  # 街道裁定
    ESCALATION = "escalation"  # 超期升级督办
    WHISTLE = "whistle"  # 吹哨报到
    DELIBERATION = "deliberation"  # 议事分流


PURPOSE_LABELS = {
    Purpose.DISPATCH: "派单",
    Purpose.REDO: "重办",
    Purpose.REROUTE: "改派",
    Purpose.ARBITRATION: "街道裁定",
    Purpose.ESCALATION: "升级督办",
    Purpose.WHISTLE: "吹哨报到",
    Purpose.DELIBERATION: "议事分流",
}
# Only what the catalogue chose may be returned: a street's ruling, a whistle, a supervising
# order and a deliberation's decision bind the unit (and the district government takes all).
RETURNABLE = frozenset({Purpose.DISPATCH, Purpose.REDO, Purpose.REROUTE})


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clock:
    name: ClockName
    due_at: datetime
    warn_at: datetime
    stopped_at: datetime | None = None
    suspended: bool = False
    # The deadline a warning / breach was recorded for: a new deadline (延期) warns afresh.
    warned_for: datetime | None = None
    breached_for: datetime | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None and not self.suspended

    @property
    def warned(self) -> bool:
        return self.warned_for == self.due_at

    @property
    def breached(self) -> bool:
        return self.breached_for == self.due_at


@dataclass(frozen=True, slots=True)
class WorkOrder:
    work_order_id: UUID
    responder: Responder
    role: ResponderRole
    purpose: Purpose
    status: OrderStatus
    priority: str
    category: str | None
    area_code: str
    rule_id: str | None
    catalogue_version: int
    reason: str
    round: int
    issued_at: datetime
    updated_at: datetime
    clocks: tuple[Clock, ...] = ()
    task: str | None = None
    extension: ExtensionRequested | None = None
    extensions_granted: int = 0
    urged: int = 0
    report: str | None = None
    returned_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def clock(self, name: ClockName) -> Clock | None:
        return next((c for c in self.clocks if c.name is name), None)

    @property
    def breached(self) -> bool:
        return any(c.breached_for is not None for c in self.clocks)


@dataclass(frozen=True, slots=True)
class Case:
    complaint_id: UUID
    area_code: str
    category: str | None
    priority: str
    round: int = 1
    orders: tuple[WorkOrder, ...] = ()
    lead_id: UUID | None = None
    returned_by: frozenset[str] = frozenset()
    returns: int = 0
    arbitration: ArbitrationRequested | None = None
    level: Level = Level.COMMUNITY
    deliberation: UUID | None = None
    resolved_at: datetime | None = None
    cancelled: str | None = None
    supervised: int = 0
    updated_at: datetime | None = None
    version: int = 0

    def order(self, work_order_id: UUID) -> WorkOrder | None:
        return next((o for o in self.orders if o.work_order_id == work_order_id), None)

    @property
    def lead(self) -> WorkOrder | None:
        return self.order(self.lead_id) if self.lead_id else None

    @property
    def open_orders(self) -> list[WorkOrder]:
        return [o for o in self.orders if o.is_open]

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.resolved_at:
            return "resolved"
        if self.arbitration:
            return "arbitration"
        if self.deliberation:
            return "deliberation"
        return "open" if self.orders else "new"


CASE_LABELS = {
    "new": "待派单",
    "open": "办理中",
    "arbitration": "待街道裁定",
    "deliberation": "议事中",
    "resolved": "已办结反馈",
    "cancelled": "已撤销",
}


def _with_order(case: Case, order: WorkOrder) -> Case:
    return replace(
        case,
        orders=tuple(order if o.work_order_id == order.work_order_id else o for o in case.orders),
    )


def _on_order(
    change: Callable[[WorkOrder, Any], WorkOrder],
) -> Callable[[Case, Any], Case]:
    def evolve_case(case: Case, event: Any) -> Case:
        order = case.order(event.work_order_id)
        assert order is not None, f"{event.event_type} for an unknown order"
        return _with_order(case, change(order, event))

    return evolve_case


def _stop(order: WorkOrder, names: Iterable[ClockName], at: datetime) -> tuple[Clock, ...]:
    names = set(names)
    return tuple(
        replace(c, stopped_at=at) if c.name in names and c.stopped_at is None else c
        for c in order.clocks
    )


def _replace_clock(
    order: WorkOrder, clock: OrderClock, suspended: bool = False
) -> tuple[Clock, ...]:
    name = ClockName(clock.name)
    fresh = Clock(name, clock.due_at, clock.warn_at, suspended=suspended)
    kept = [c for c in order.clocks if c.name is not name]
    return (*kept, fresh)


def _issued(case: Case | None, e: WorkOrderIssued) -> Case:
    if case is None:
        case = Case(e.complaint_id, e.area_code, e.category, e.priority, round=e.round)
    if e.round > case.round:  # 重办: a new round of handling starts from a clean slate
        case = replace(
            case,
            round=e.round,
            returned_by=frozenset(),
            returns=0,
            arbitration=None,
            level=Level.COMMUNITY,
            resolved_at=None,
        )
    responder = Responder(e.responder_id, e.responder_name, ResponderKind(e.responder_kind))
    order = WorkOrder(
        work_order_id=e.work_order_id,
        responder=responder,
        role=e.role,
        purpose=Purpose(e.purpose),
        status=OrderStatus.ISSUED,
        priority=e.priority,
        category=e.category,
        area_code=e.area_code,
        rule_id=e.rule_id,
        catalogue_version=e.catalogue_version,
        reason=e.reason,
        round=e.round,
        issued_at=e.issued_at,
        updated_at=e.issued_at,
        clocks=tuple(Clock(ClockName(c.name), c.due_at, c.warn_at) for c in e.clocks),
        task=e.task,
    )
    case = replace(case, orders=(*case.orders, order), cancelled=None)
    if e.role is LEAD:
        case = replace(
            case,
            lead_id=e.work_order_id,
            category=e.category,
            area_code=e.area_code,
            priority=e.priority,
            level=max(case.level, responder.level),
        )
    return case


def _signed(o: WorkOrder, e: WorkOrderSigned) -> WorkOrder:
    return replace(
        o,
        status=OrderStatus.SIGNED,
        clocks=_stop(o, [ClockName.SIGN], e.signed_at),
        updated_at=e.signed_at,
    )


def _contacted(o: WorkOrder, e: WorkOrderContacted) -> WorkOrder:
    return replace(
        o,
        status=OrderStatus.CONTACTED,
        clocks=_stop(o, [ClockName.CONTACT], e.contacted_at),
        updated_at=e.contacted_at,
    )


def _started(o: WorkOrder, e: WorkOrderStarted) -> WorkOrder:
    return replace(o, status=OrderStatus.IN_PROGRESS, updated_at=e.started_at)


def _finished(status: OrderStatus, at: str) -> Callable[[WorkOrder, Any], WorkOrder]:
    def finish(o: WorkOrder, e: Any) -> WorkOrder:
        moment: datetime = getattr(e, at)
        return replace(
            o,
            status=status,
            clocks=_stop(o, list(ClockName), moment),
            extension=None,
            updated_at=moment,
            report=getattr(e, "report", o.report),
            returned_reason=e.reason if isinstance(e, WorkOrderReturned) else o.returned_reason,
        )

    return finish


def _returned(case: Case, e: WorkOrderReturned) -> Case:
    case = _on_order(_finished(OrderStatus.RETURNED, "returned_at"))(case, e)
    if e.role is LEAD:
        case = replace(
            case, returned_by=case.returned_by | {e.responder_id}, returns=case.returns + 1
        )
    return case


def _extension_approved(o: WorkOrder, e: ExtensionApproved) -> WorkOrder:
    return replace(
        o,
        clocks=_replace_clock(o, e.clock),
        extension=None,
        extensions_granted=o.extensions_granted + 1,
        updated_at=e.approved_at,
    )


def _clock_marked(attribute: str) -> Callable[[WorkOrder, Any], WorkOrder]:
    def mark(o: WorkOrder, e: Any) -> WorkOrder:
        clocks = tuple(
            replace(c, **{attribute: e.due_at}) if c.name.value == e.clock else c for c in o.clocks
        )
        return replace(o, clocks=clocks)

    return mark


def _deliberation_requested(case: Case, e: DeliberationRequested) -> Case:
    case = replace(case, deliberation=e.item_id)
    lead = case.lead
    if lead is None:
        return case
    clocks = tuple(
        replace(c, suspended=True) if c.name is ClockName.FEEDBACK else c for c in lead.clocks
    )
    return _with_order(case, replace(lead, clocks=clocks))


def _deliberation_concluded(case: Case, e: DeliberationConcluded) -> Case:
    case = replace(case, deliberation=None)
    lead = case.order(e.lead_work_order_id) if e.lead_work_order_id else None
    if lead is None or e.clock is None:
        return case
    return _with_order(case, replace(lead, clocks=_replace_clock(lead, e.clock)))


_EVOLVE: dict[type[Event], Callable[[Any, Any], Case]] = {
    WorkOrderIssued: _issued,
    WorkOrderSigned: _on_order(_signed),
    WorkOrderContacted: _on_order(_contacted),
    WorkOrderStarted: _on_order(_started),
    ExtensionRequested: _on_order(lambda o, e: replace(o, extension=e)),
    ExtensionApproved: _on_order(_extension_approved),
    ExtensionRefused: _on_order(lambda o, e: replace(o, extension=None)),
    WorkOrderResolved: _on_order(_finished(OrderStatus.RESOLVED, "resolved_at")),
    WorkOrderReturned: _returned,
    WorkOrderCancelled: _on_order(_finished(OrderStatus.CANCELLED, "cancelled_at")),
    WorkOrderUrged: _on_order(lambda o, e: replace(o, urged=o.urged + 1)),
    SlaWarned: _on_order(_clock_marked("warned_for")),
    SlaBreached: _on_order(_clock_marked("breached_for")),
    CaseResolved: lambda c, e: replace(c, resolved_at=e.resolved_at),
    CaseCancelled: lambda c, e: replace(c, cancelled=e.reason, arbitration=None, deliberation=None),
    ArbitrationRequested: lambda c, e: replace(c, arbitration=e),
    ArbitrationDecided: lambda c, e: replace(c, arbitration=None),
    CaseEscalated: lambda c, e: replace(c, level=Level[e.to_level.upper()]),
    WhistleBlown: lambda c, e: c,
    CaseSupervised: lambda c, e: replace(c, supervised=c.supervised + 1),
    DeliberationRequested: _deliberation_requested,
    DeliberationConcluded: _deliberation_concluded,
}

CASE_EVENTS = tuple(_EVOLVE)


def evolve(case: Case | None, event: Event) -> Case:
    if case is None and not isinstance(event, WorkOrderIssued):
        raise ValueError(f"a case stream starts with WorkOrderIssued, not {event.event_type}")
    after = _EVOLVE[type(event)](case, event)
    return replace(after, version=(case.version if case else 0) + 1, updated_at=occurred_at(event))


def fold(events: Iterable[Event], case: Case | None = None) -> Case | None:
    for event in events:
        case = evolve(case, event)
    return case


@cache
def _time_field(event_class: type[Event]) -> str:
    # Every contract names when it happened in its last *_at field (deadlines come before it).
    return [name for name in event_class.model_fields if name.endswith("_at")][-1]


def occurred_at(event: Event) -> datetime:
    moment: datetime = getattr(event, _time_field(type(event)))
    return moment


# ---------------------------------------------------------------------------------------------
# What decisions need besides the case: the city model and the calendar
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rules:
    model: CityModel
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    def clocks(
        self,
        *,
        priority: PriorityTier,
        category: str | None,
        purpose: Purpose,
        role: ResponderRole,
        start: datetime,
        feedback_due: datetime | None = None,
    ) -> list[OrderClock]:
        limits = self.model.time_limits
        steps = limits.for_order(priority, category, purpose.value)
        clocks = []
        for name in ClockName:
            if name is ClockName.CONTACT and role is not LEAD:
                continue  # the lead speaks to the resident (首接负责)
            limit = steps.limit(name)
            due = feedback_due if name is ClockName.FEEDBACK and feedback_due else None
            if due is None and limit is None:
                continue
            due = due or deadline(start, limit or "", self.calendar, limits.days)
            clocks.append(
                OrderClock(
                    name=name.value, due_at=due, warn_at=warn_time(start, due, limits.warn_at)
                )
            )
        return clocks

    def clock(self, name: ClockName, start: datetime, limit: str) -> OrderClock:
        limits = self.model.time_limits
        due = deadline(start, limit, self.calendar, limits.days)
        return OrderClock(
            name=name.value, due_at=due, warn_at=warn_time(start, due, limits.warn_at)
        )


def issue(
    rules: Rules,
    *,
    complaint_id: UUID,
    responder: Responder,
    role: ResponderRole,
    purpose: Purpose,
    category: str | None,
    area_code: str,
    priority: PriorityTier,
    reason: str,
    now: datetime,
    round: int,
    rule_id: str | None = None,
    task: str | None = None,
    feedback_due: datetime | None = None,
) -> WorkOrderIssued:
    clocks = rules.clocks(
        priority=priority,
        category=category,
        purpose=purpose,
        role=role,
        start=now,
        feedback_due=feedback_due,
    )
    feedback = next((c for c in clocks if c.name == ClockName.FEEDBACK), None) or clocks[-1]
    return WorkOrderIssued(
        work_order_id=uuid4(),
        complaint_id=complaint_id,
        responder_id=responder.id,
        responder_name=responder.name,
        responder_kind=responder.kind.value,
        role=role,
        category=category,
        area_code=area_code,
        rule_id=rule_id,
        catalogue_version=rules.model.version,
        reason=reason,
        priority=priority.value,
        due_at=feedback.due_at,
        issued_at=now,
        purpose=purpose.value,
        clocks=clocks,
        round=round,
        task=task,
    )


def _orders_for(
    rules: Rules,
    decision: RoutingDecision,
    *,
    complaint_id: UUID,
    category: str | None,
    area_code: str,
    purpose: Purpose,
    now: datetime,
    round: int,
    with_co: bool = True,
) -> list[Event]:
    assignments = [(LEAD, decision.lead)] + (
        [(CO, unit) for unit in decision.co] if with_co else []
    )
    return [
        issue(
            rules,
            complaint_id=complaint_id,
            responder=unit,
            role=role,
            purpose=purpose,
            category=category,
            area_code=area_code,
            priority=decision.priority,
            reason=decision.reason,
            now=now,
            round=round,
            rule_id=decision.rule_id,
        )
        for role, unit in assignments
    ]


def _then(case: Case | None, events: list[Event]) -> Case:
    after = fold(events, case)
    assert after is not None
    return after


# ---------------------------------------------------------------------------------------------
# Decisions on complaint events (what intake tells dispatch)
# ---------------------------------------------------------------------------------------------


def first_dispatch(
    case: Case | None,
    complaint_id: UUID,
    category: str | None,
    area_code: str,
    rules: Rules,
    now: datetime,
) -> list[Event]:
    """Route a complaint nobody is handling yet; nothing if someone already is."""
    if case is not None and (case.open_orders or case.arbitration or case.resolved_at):
        return []
    decision = route(rules.model, category, area_code)
    return _orders_for(
        rules,
        decision,
        complaint_id=complaint_id,
        category=category,
        area_code=area_code,
        purpose=Purpose.DISPATCH if case is None else Purpose.REROUTE,
        now=now,
        round=case.round if case else 1,
    )


def redo(
    case: Case | None,
    complaint_id: UUID,
    category: str | None,
    area_code: str,
    rules: Rules,
    now: datetime,
) -> list[Event]:
    """重办: the resident was not satisfied; a new round is routed and handled again."""
    events: list[Event] = (
        _cancel_open(case, "诉求重办，上一轮工单关闭 Redo: the earlier round closes", now)
        if case
        else []
    )
    decision = route(rules.model, category, area_code)
    return events + _orders_for(
        rules,
        decision,
        complaint_id=complaint_id,
        category=category,
        area_code=area_code,
        purpose=Purpose.REDO,
        now=now,
        round=(case.round + 1) if case else 1,
    )


def reclassified(
    case: Case | None,
    complaint_id: UUID,
    category: str | None,
    area_code: str,
    rules: Rules,
    now: datetime,
) -> list[Event]:
    """A new category after dispatch sends the case to whoever the catalogue names for it."""
    if case is None or not case.orders:
        return first_dispatch(case, complaint_id, category, area_code, rules, now)
    if (
        case.resolved_at
        or case.cancelled
        or (category == case.category and area_code == case.area_code)
    ):
        return []
    label = (
        rules.model.categories[category].name if category in rules.model.categories else category
    )
    events = _cancel_open(case, f"诉求重新分类为「{label}」，按新类别改派 Reclassified", now)
    decision = route(rules.model, category, area_code)
    return events + _orders_for(
        rules,
        decision,
        complaint_id=complaint_id,
        category=category,
        area_code=area_code,
        purpose=Purpose.REROUTE,
        now=now,
        round=case.round,
    )


def cancel(case: Case | None, reason: str, now: datetime) -> list[Event]:
    """The complaint was withdrawn or merged: every open order (and arbitration) stops."""
    if case is None or case.cancelled:
        return []
    events = _cancel_open(case, reason, now)
    if events or case.arbitration or case.deliberation:
        events.append(
            CaseCancelled(complaint_id=case.complaint_id, reason=reason, cancelled_at=now)
        )
    return events


def _cancel_open(case: Case, reason: str, now: datetime) -> list[Event]:
    return [
        WorkOrderCancelled(
            work_order_id=o.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=o.responder.id,
            reason=reason,
            cancelled_at=now,
        )
        for o in case.open_orders
    ]


# ---------------------------------------------------------------------------------------------
# Decisions of the unit holding a work order
# ---------------------------------------------------------------------------------------------


def _refuse(order: WorkOrder, action: str, hint: str = "") -> IllegalTransition:
    return IllegalTransition(
        f"工单 {order.work_order_id} 当前状态为「{ORDER_LABELS[order.status]}」，不能{action}。{hint}".rstrip()
    )


def _require(
    order: WorkOrder, allowed: frozenset[OrderStatus], action: str, hint: str = ""
) -> None:
    if order.status not in allowed:
        raise _refuse(order, action, hint)


def sign(case: Case, order: WorkOrder, actor: str, note: str | None, now: datetime) -> list[Event]:
    _require(order, frozenset({OrderStatus.ISSUED}), "签收")
    return [
        WorkOrderSigned(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            responder_name=order.responder.name,
            role=order.role,
            signed_at=now,
            actor=actor,
            note=note,
        )
    ]


def contact(case: Case, order: WorkOrder, actor: str, note: str, now: datetime) -> list[Event]:
    _require(
        order,
        frozenset({OrderStatus.SIGNED}),
        "联系诉求人",
        "须先签收。Sign first." if order.status is OrderStatus.ISSUED else "",
    )
    return [
        WorkOrderContacted(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            note=note,
            actor=actor,
            contacted_at=now,
        )
    ]


def start(case: Case, order: WorkOrder, actor: str, note: str, now: datetime) -> list[Event]:
    allowed = (
        {OrderStatus.CONTACTED}
        if order.role is LEAD
        else {OrderStatus.SIGNED, OrderStatus.CONTACTED}
    )
    hint = (
        "主办单位须先联系诉求人。The lead contacts the resident first."
        if order.role is LEAD
        else "须先签收。Sign first."
    )
    _require(order, frozenset(allowed), "开始办理", hint)
    return [
        WorkOrderStarted(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            note=note,
            actor=actor,
            started_at=now,
        )
    ]


def request_extension(
    case: Case, order: WorkOrder, extra: str, reason: str, actor: str, now: datetime, rules: Rules
) -> list[Event]:
    _require(
        order,
        WORKING,
        "申请延期",
        "须先签收。Sign first." if order.status is OrderStatus.ISSUED else "",
    )
    feedback = order.clock(ClockName.FEEDBACK)
    if feedback is None or not feedback.running:
        raise _refuse(
            order, "申请延期", "它没有正在计时的办理时限。Its feedback clock is not running."
        )
    if order.extension is not None:
        raise _refuse(order, "申请延期", "已有一项延期申请待审批。An extension request is pending.")
    if now >= feedback.due_at:
        raise _refuse(order, "申请延期", "办理时限已过，须在到期前申请。Ask before the deadline.")
    limits = rules.model.time_limits
    return [
        ExtensionRequested(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            current_due_at=feedback.due_at,
            requested_due_at=deadline(feedback.due_at, extra, rules.calendar, limits.days),
            reason=reason,
            actor=actor,
            requested_at=now,
        )
    ]


def resolve(case: Case, order: WorkOrder, report: str, actor: str, now: datetime) -> list[Event]:
    if order.role is LEAD:
        hint = "主办单位须先联系诉求人。The lead contacts the resident before reporting."
        _require(
            order, frozenset({OrderStatus.CONTACTED, OrderStatus.IN_PROGRESS}), "办理反馈", hint
        )
    else:
        _require(order, WORKING, "办理反馈", "须先签收。Sign first.")
    events: list[Event] = [
        WorkOrderResolved(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            responder_name=order.responder.name,
            role=order.role,
            report=report,
            actor=actor,
            resolved_at=now,
        )
    ]
    return events + _completion(_then(case, events), now)


def return_order(
    case: Case,
    order: WorkOrder,
    reason: str,
    suggested: str | None,
    actor: str,
    now: datetime,
    rules: Rules,
) -> list[Event]:
    """退单: not this unit's business. The lead's return is re-routed by the catalogue (passing
    over every unit that returned it) or, after too many returns, arbitrated by the street."""
    _require(
        order,
        frozenset({OrderStatus.ISSUED, OrderStatus.SIGNED, OrderStatus.CONTACTED}),
        "退单",
        "开始办理后不能退单。An order in hand cannot be returned.",
    )
    if order.purpose not in RETURNABLE:
        raise _refuse(
            order, "退单", f"「{PURPOSE_LABELS[order.purpose]}」工单不能退单。It binds the unit."
        )
    if order.responder.kind is ResponderKind.DISTRICT_GOVERNMENT:
        raise _refuse(
            order,
            "退单",
            "区县政府兜底，不能退单。The district government takes what nobody else does.",
        )
    if suggested is not None and suggested not in rules.model.responders:
        raise IllegalTransition(f"建议的承办单位 {suggested} 不存在 Unknown responder")
    events: list[Event] = [
        WorkOrderReturned(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            responder_name=order.responder.name,
            role=order.role,
            reason=reason,
            suggested_responder_id=suggested,
            actor=actor,
            returned_at=now,
        )
    ]
    after = _then(case, events)
    if order.role is not LEAD:
        return events + _completion(after, now)
    return events + _after_lead_return(after, order, now, rules)


def _after_lead_return(case: Case, returned: WorkOrder, now: datetime, rules: Rules) -> list[Event]:
    limits = rules.model.time_limits
    decision = route(rules.model, case.category, case.area_code, case.returned_by)
    nobody = decision.lead.kind is ResponderKind.DISTRICT_GOVERNMENT
    if case.returns < limits.returns_before_arbitration and not nobody:
        reroute = replace(decision, reason=f"退单后改派：{decision.reason}")
        return _orders_for(
            rules,
            reroute,
            complaint_id=case.complaint_id,
            category=case.category,
            area_code=case.area_code,
            purpose=Purpose.REROUTE,
            now=now,
            round=case.round,
            with_co=False,  # the co-responders already have their orders
        )
    street = rules.model.nearest(case.area_code, ResponderKind.STREET_OFFICE, case.returned_by)
    arbitrator = street or rules.model.government(case.area_code)
    why = (
        "多次退单"
        if case.returns >= limits.returns_before_arbitration
        else "派单目录无其他责任单位"
    )
    return [
        ArbitrationRequested(
            complaint_id=case.complaint_id,
            arbitrator_id=arbitrator.id,
            arbitrator_name=arbitrator.name,
            returned_work_order_id=returned.work_order_id,
            reason=f"{why}，提请{arbitrator.name}裁定 {'Returned too often' if case.returns >= limits.returns_before_arbitration else 'Nobody else in the catalogue'}: arbitration",
            requested_at=now,
        )
    ]


def _completion(case: Case, now: datetime) -> list[Event]:
    """CaseResolved once the lead reported and every other unit that must act has finished."""
    lead = case.lead
    if case.resolved_at or case.cancelled or case.arbitration or case.deliberation:
        return []
    if lead is None or lead.status is not OrderStatus.RESOLVED:
        return []
    waiting = [o for o in case.open_orders if o.role is CO and o.purpose is not Purpose.ESCALATION]
    if waiting:
        return []
    closing = [
        WorkOrderCancelled(
            work_order_id=o.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=o.responder.id,
            reason="诉求已办理反馈，督办单随之关闭 The case is resolved",
            cancelled_at=now,
        )
        for o in case.open_orders
    ]
    return [
        CaseResolved(
            complaint_id=case.complaint_id,
            lead_work_order_id=lead.work_order_id,
            lead_responder_id=lead.responder.id,
            report=lead.report or "",
            resolved_at=now,
        ),
        *closing,
    ]


# ---------------------------------------------------------------------------------------------
# Decisions of supervisors: extensions, urging, supervision, the whistle, arbitration
# ---------------------------------------------------------------------------------------------


def _open_case(case: Case, action: str) -> None:
    if case.cancelled or case.resolved_at:
        raise IllegalTransition(
            f"诉求 {case.complaint_id} 的派单已{CASE_LABELS[case.status]}，不能{action}。"
        )


def approve_extension(
    case: Case, order: WorkOrder, reason: str, actor: str, now: datetime, rules: Rules
) -> list[Event]:
    request = order.extension
    if request is None or not order.is_open:
        raise _refuse(order, "批准延期", "没有待审批的延期申请。No extension request is pending.")
    limits = rules.model.time_limits
    return [
        ExtensionApproved(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            previous_due_at=request.current_due_at,
            clock=OrderClock(
                name=ClockName.FEEDBACK.value,
                due_at=request.requested_due_at,
                warn_at=warn_time(now, request.requested_due_at, limits.warn_at),
            ),
            reason=reason,
            actor=actor,
            approved_at=now,
        )
    ]


def refuse_extension(
    case: Case, order: WorkOrder, reason: str, actor: str, now: datetime
) -> list[Event]:
    if order.extension is None or not order.is_open:
        raise _refuse(order, "驳回延期", "没有待审批的延期申请。No extension request is pending.")
    return [
        ExtensionRefused(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            reason=reason,
            actor=actor,
            refused_at=now,
        )
    ]


def urge(case: Case, order: WorkOrder, note: str, actor: str, now: datetime) -> list[Event]:
    if not order.is_open:
        raise _refuse(order, "催办")
    return [
        WorkOrderUrged(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            note=note,
            actor=actor,
            urged_at=now,
        )
    ]


def supervise(case: Case, note: str, actor: str, now: datetime) -> list[Event]:
    _open_case(case, "督办")
    return [
        CaseSupervised(complaint_id=case.complaint_id, note=note, actor=actor, supervised_at=now)
    ]


def blow_whistle(
    case: Case,
    street: Responder,
    departments: list[str],
    reason: str,
    actor: str,
    now: datetime,
    rules: Rules,
) -> list[Event]:
    """吹哨报到: each department named gets an order it must sign (report) within the limit."""
    _open_case(case, "吹哨")
    holding = {o.responder.id for o in case.open_orders}
    units = []
    for department in dict.fromkeys(departments):
        unit = rules.model.responders.get(department)
        if unit is None:
            raise IllegalTransition(f"单位 {department} 不存在 Unknown responder")
        if unit.level is not Level.DEPARTMENT:
            raise IllegalTransition(
                f"{unit.name} 不是区县职能部门或公用事业单位，不能被吹哨 Only departments answer a whistle"
            )
        if unit.id in holding:
            raise IllegalTransition(
                f"{unit.name} 已有本案在办工单 Already holds an open order here"
            )
        units.append(unit)
    events: list[Event] = [
        WhistleBlown(
            complaint_id=case.complaint_id,
            street_id=street.id,
            department_ids=[u.id for u in units],
            reason=reason,
            actor=actor,
            blown_at=now,
        )
    ]
    for unit in units:
        events.append(
            issue(
                rules,
                complaint_id=case.complaint_id,
                responder=unit,
                role=CO,
                purpose=Purpose.WHISTLE,
                category=case.category,
                area_code=case.area_code,
                priority=PriorityTier(case.priority),
                reason=f"{street.name}吹哨：{reason}（街呼县应，限时报到） Whistle by {street.name}",
                now=now,
                round=case.round,
            )
        )
    return events


def arbitrate(
    case: Case,
    arbitrator: Responder,
    responder_id: str,
    reason: str,
    actor: str,
    now: datetime,
    rules: Rules,
) -> list[Event]:
    if case.arbitration is None:
        raise IllegalTransition(f"诉求 {case.complaint_id} 没有待裁定的退单 Nothing to arbitrate")
    unit = rules.model.responders.get(responder_id)
    if unit is None:
        raise IllegalTransition(f"单位 {responder_id} 不存在 Unknown responder")
    decided = ArbitrationDecided(
        complaint_id=case.complaint_id,
        arbitrator_id=arbitrator.id,
        responder_id=unit.id,
        reason=reason,
        actor=actor,
        decided_at=now,
    )
    order = issue(
        rules,
        complaint_id=case.complaint_id,
        responder=unit,
        role=LEAD,
        purpose=Purpose.ARBITRATION,
        category=case.category,
        area_code=case.area_code,
        priority=PriorityTier(case.priority),
        reason=f"{arbitrator.name}裁定：{reason} Arbitrated by {arbitrator.name}",
        now=now,
        round=case.round,
    )
    return [decided, order]


# ---------------------------------------------------------------------------------------------
# Clocks: a due timer becomes a warning or a breach, once; a breach climbs the ladder
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timer:
    """A durable timer row: when to look at one clock of one order again."""

    complaint_id: UUID
    work_order_id: UUID
    clock: ClockName
    kind: str  # warning | breach
    due_at: datetime  # the deadline it is about
    fire_at: datetime


def timers(case: Case | None) -> set[Timer]:
    """The timers the case needs: a warning and a breach for every running clock not yet past them."""
    if case is None:
        return set()
    wanted = set()
    for order in case.open_orders:
        for clock in order.clocks:
            if not clock.running:
                continue
            if not clock.warned and clock.warn_at < clock.due_at:
                wanted.add(
                    Timer(
                        case.complaint_id,
                        order.work_order_id,
                        clock.name,
                        "warning",
                        clock.due_at,
                        clock.warn_at,
                    )
                )
            if not clock.breached:
                wanted.add(
                    Timer(
                        case.complaint_id,
                        order.work_order_id,
                        clock.name,
                        "breach",
                        clock.due_at,
                        clock.due_at,
                    )
                )
    return wanted


def fire(case: Case, timer: Timer, now: datetime, rules: Rules) -> list[Event]:
    """What a due timer means now; nothing if the step was done or the deadline moved meanwhile."""
    if timer not in timers(case):
        return []
    order = case.order(timer.work_order_id)
    assert order is not None
    common: dict[str, Any] = {
        "work_order_id": order.work_order_id,
        "complaint_id": case.complaint_id,
        "responder_id": order.responder.id,
        "responder_name": order.responder.name,
        "role": order.role,
        "clock": timer.clock.value,
        "due_at": timer.due_at,
    }
    if timer.kind == "warning":
        return [SlaWarned(**common, warned_at=now)]
    breached: list[Event] = [SlaBreached(**common, breached_at=now)]
    return breached + _escalate(_then(case, breached), order, timer.clock, now, rules)


def _escalate(
    case: Case, order: WorkOrder, clock: ClockName, now: datetime, rules: Rules
) -> list[Event]:
    """A breach by the lead or by a supervising unit moves the case one rung up the ladder."""
    if order.role is not LEAD and order.purpose is not Purpose.ESCALATION:
        return []
    if case.resolved_at or case.cancelled:
        return []
    above = max(case.level, order.responder.level)
    lead = case.lead
    target = rules.model.escalation_target(case.area_code, lead.rule_id if lead else None, above)
    if target is None:
        return []  # the top of the ladder: the breach stands on record for the supervisors
    level, unit = target
    supervising = issue(
        rules,
        complaint_id=case.complaint_id,
        responder=unit,
        role=CO,
        purpose=Purpose.ESCALATION,
        category=case.category,
        area_code=case.area_code,
        priority=PriorityTier(case.priority),
        reason=(
            f"{order.responder.name}{CLOCK_LABELS[clock]}超期，升级至{level.label}（{unit.name}）督办 "
            f"Breach of the {clock.value} limit: escalated to the {level.name.lower()} level"
        ),
        now=now,
        round=case.round,
    )
    return [
        CaseEscalated(
            complaint_id=case.complaint_id,
            from_level=above.name.lower(),
            to_level=level.name.lower(),
            responder_id=unit.id,
            responder_name=unit.name,
            work_order_id=supervising.work_order_id,
            cause_work_order_id=order.work_order_id,
            clock=clock.value,
            escalated_at=now,
        ),
        supervising,
    ]


# ---------------------------------------------------------------------------------------------
# Deliberation (议事) as the case sees it
# ---------------------------------------------------------------------------------------------


def send_to_deliberation(
    case: Case, item_id: UUID, community_code: str, reason: str, actor: str, now: datetime
) -> list[Event]:
    _open_case(case, "提交议事")
    if case.deliberation is not None:
        raise IllegalTransition(f"诉求 {case.complaint_id} 已在议事中 Already on an agenda")
    return [
        DeliberationRequested(
            complaint_id=case.complaint_id,
            item_id=item_id,
            community_code=community_code,
            reason=reason,
            actor=actor,
            sent_at=now,
        )
    ]


@dataclass(frozen=True, slots=True)
class Duty:
    """What a deliberation decision asks of one unit."""

    responder: Responder
    task: str
    due_at: datetime | None = None


def conclude_deliberation(
    case: Case, item_id: UUID, decision: str, duties: list[Duty], now: datetime, rules: Rules
) -> list[Event]:
    """议事清单 → 履职清单: each duty becomes a work order; the lead's clock runs again."""
    if case.deliberation != item_id:
        raise IllegalTransition(f"诉求 {case.complaint_id} 不在该议事项中 Not on this agenda item")
    orders: list[Event] = [
        issue(
            rules,
            complaint_id=case.complaint_id,
            responder=duty.responder,
            role=CO,
            purpose=Purpose.DELIBERATION,
            category=case.category,
            area_code=case.area_code,
            priority=PriorityTier(case.priority),
            reason=f"议事决定：{decision} Assigned by the deliberation",
            now=now,
            round=case.round,
            task=duty.task,
            feedback_due=duty.due_at,
        )
        for duty in duties
    ]
    lead = case.lead if case.lead and case.lead.is_open else None
    feedback = None
    if lead is not None:
        steps = rules.model.time_limits.for_order(
            PriorityTier(case.priority), case.category, lead.purpose.value
        )
        if steps.feedback:
            feedback = rules.clock(ClockName.FEEDBACK, now, steps.feedback)
    concluded = DeliberationConcluded(
        complaint_id=case.complaint_id,
        item_id=item_id,
        decision=decision,
        lead_work_order_id=lead.work_order_id if lead else None,
        clock=feedback,
        concluded_at=now,
    )
    events = [*orders, concluded]
    return events + _completion(_then(case, events), now)
