"""The case (派单案件) aggregate: its state and evolve ← events.

A case is one complaint as dispatch follows it: its work orders (lead, co-responders, whistled
departments, supervising units, units a deliberation assigns), their clocks, returns and
arbitration, escalation and deliberation. What a decision needs besides the case (the city
model, the calendar) and the refusals every decision shares are in `rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any
from uuid import UUID

from services.dispatch.domain.city import Level, Responder, ResponderKind
from shared.deadlines import ClockName
from shared.events import (
    ArbitrationDecided,
    ArbitrationRequested,
    CaseCancelled,
    CaseEscalated,
    CaseHandDispatched,
    CaseReclassified,
    CaseResolved,
    CaseSupervised,
    CommunityCalled,
    DeliberationConcluded,
    DeliberationRequested,
    Event,
    ExtensionApproved,
    ExtensionRefused,
    ExtensionRequested,
    GroupReplyPosted,
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
    COMMITTEE = "committee"  # 业委会派单: the committee's queue, until it dispatches by hand
    COMMUNITY_CALL = "community_call"  # 社区点单、部门响应
    GROUP_REPLY = "group_reply"  # 居民微信群值班回复


PURPOSE_LABELS = {
    Purpose.DISPATCH: "派单",
    Purpose.REDO: "重办",
    Purpose.REROUTE: "改派",
    Purpose.ARBITRATION: "街道裁定",
    Purpose.ESCALATION: "升级督办",
    Purpose.WHISTLE: "吹哨报到",
    Purpose.DELIBERATION: "议事分流",
    Purpose.COMMITTEE: "业委会派单",
    Purpose.COMMUNITY_CALL: "社区点单",
    Purpose.GROUP_REPLY: "微信群值班回复",
}
# Only what the catalogue chose may be returned: a street's ruling, a whistle, a supervising
# order, a deliberation's decision and a community's call bind the unit (and the district
# government takes all). A committee may pass a matter that is not its compound's back.
RETURNABLE = frozenset({Purpose.DISPATCH, Purpose.REDO, Purpose.REROUTE, Purpose.COMMITTEE})


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
    registration_id: str | None = None  # 双报到: the registered unit or cadre taking the duty
    cadre: str | None = None

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
    rule_id: str | None = None  # the catalogue rule of this round's routing (its escalate_to)
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
    def handling_orders(self) -> list[WorkOrder]:
        """Open orders that handle the demand (a group reply answers it in public only)."""
        return [o for o in self.open_orders if o.purpose is not Purpose.GROUP_REPLY]

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
    order: WorkOrder, clock: OrderClock, suspended: bool | None = None
) -> tuple[Clock, ...]:
    """The order with one clock set anew (its pause kept unless `suspended` says otherwise)."""
    name = ClockName(clock.name)
    previous = order.clock(name)
    if suspended is None:
        suspended = previous.suspended if previous else False
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
            rule_id=None,
            resolved_at=None,
        )
    responder = Responder(e.responder_id, e.responder_name, ResponderKind(e.responder_kind))
    clocks = tuple(
        # A lead who takes over while the case is on an agenda waits for its decision too.
        Clock(
            ClockName(c.name),
            c.due_at,
            c.warn_at,
            suspended=bool(case.deliberation) and e.role is LEAD and c.name == ClockName.FEEDBACK,
        )
        for c in e.clocks
    )
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
        clocks=clocks,
        task=e.task,
        registration_id=e.registration_id,
        cadre=e.cadre,
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
            rule_id=e.rule_id or case.rule_id,
        )
    return case


def _case_reclassified(case: Case, e: CaseReclassified) -> Case:
    return replace(
        case,
        category=e.category,
        area_code=e.area_code,
        returned_by=frozenset(),
        returns=0,
        arbitration=None,
        level=Level.COMMUNITY,
        rule_id=None,
    )


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
            report=getattr(e, "report", getattr(e, "reply", o.report)),
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
    # The clock restarts from the decision: an extension asked for the old deadline lapses.
    restarted = replace(lead, clocks=_replace_clock(lead, e.clock, suspended=False), extension=None)
    return _with_order(case, restarted)


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
    GroupReplyPosted: _on_order(_finished(OrderStatus.RESOLVED, "replied_at")),
    SlaWarned: _on_order(_clock_marked("warned_for")),
    SlaBreached: _on_order(_clock_marked("breached_for")),
    CaseResolved: lambda c, e: replace(c, resolved_at=e.resolved_at),
    CaseCancelled: lambda c, e: replace(c, cancelled=e.reason, arbitration=None, deliberation=None),
    CaseReclassified: _case_reclassified,
    ArbitrationRequested: lambda c, e: replace(c, arbitration=e),
    ArbitrationDecided: lambda c, e: replace(c, arbitration=None),
    CaseEscalated: lambda c, e: replace(c, level=Level[e.to_level.upper()]),
    WhistleBlown: lambda c, e: c,
    CaseSupervised: lambda c, e: replace(c, supervised=c.supervised + 1),
    DeliberationRequested: _deliberation_requested,
    DeliberationConcluded: _deliberation_concluded,
    # The committee's queue order is done once it dispatched (its choice is the report).
    CaseHandDispatched: _on_order(
        lambda o, e: replace(
            _finished(OrderStatus.RESOLVED, "dispatched_at")(o, e), report=e.reason
        )
    ),
    CommunityCalled: lambda c, e: c,
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


def then(case: Case | None, events: list[Event]) -> Case:
    """The case after `events`: what a decision that follows another one decides on."""
    after = fold(events, case)
    assert after is not None
    return after
