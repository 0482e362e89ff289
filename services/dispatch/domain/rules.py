"""What every decision on a case shares: the rules it is decided by (the city model and the
calendar), the work orders it issues, and its refusals.

A command that does not fit raises `IllegalTransition` with a sentence a person understands
(HTTP 409); one that the party acting may not take raises `NotAllowed` (HTTP 403). Who acts is
`Acting`: the decisions see a key's unit and areas, not the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from services.dispatch.domain.case import (
    CASE_LABELS,
    CO,
    LEAD,
    ORDER_LABELS,
    Case,
    OrderStatus,
    Purpose,
    WorkOrder,
)
from services.dispatch.domain.city import CityModel, Responder, RoutingDecision
from services.dispatch.domain.governance import RegistrationIn
from shared import commands
from shared.deadlines import (
    STEP_CLOCKS,
    ClockName,
    PriorityTier,
    WorkCalendar,
    deadline,
    warn_time,
)
from shared.events import Event, OrderClock, ResponderRole, WorkOrderIssued


class IllegalTransition(commands.IllegalTransition):
    """The command does not apply to the case or order as it stands (HTTP 409).

    `order_status` names the work order's status when the refusal is about one order.
    """

    def __init__(self, message: str, order_status: str | None = None) -> None:
        super().__init__(message)
        self.order_status = order_status


class NotAllowed(Exception):
    """The party acting may not take this decision on this case or item (HTTP 403)."""


class Acting(Protocol):
    """Who takes a decision (services.dispatch.auth.Caller): the unit its key speaks for, if
    any, and the areas it supervises; `actor` is the name its events record."""

    @property
    def responder(self) -> Responder | None: ...

    @property
    def is_admin(self) -> bool: ...

    @property
    def actor(self) -> str: ...

    def holds(self, responder_id: str) -> bool: ...

    def supervises(self, model: CityModel, area_code: str) -> bool: ...


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
        for name in STEP_CLOCKS:
            if name is ClockName.CONTACT and role is not LEAD:
                continue  # the lead speaks to the resident (首接负责)
            limit = steps.limit(name)
            due = feedback_due if name is ClockName.FEEDBACK and feedback_due else None
            if due is None and limit is None:
                continue
            due = due or self.due(start, limit or "")
            clocks.append(
                OrderClock(
                    name=name.value, due_at=due, warn_at=warn_time(start, due, limits.warn_at)
                )
            )
        return clocks

    def clock(self, name: ClockName, start: datetime, limit: str) -> OrderClock:
        due = self.due(start, limit)
        return OrderClock(
            name=name.value,
            due_at=due,
            warn_at=warn_time(start, due, self.model.time_limits.warn_at),
        )

    def due(self, start: datetime, limit: str) -> datetime:
        """The deadline `limit` (4h, 3d, 10wd…) after `start`, counted as the city counts days."""
        return deadline(start, limit, self.calendar, self.model.time_limits.days)


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
    registration: RegistrationIn | None = None,
    clocks: list[OrderClock] | None = None,
) -> WorkOrderIssued:
    """A work order with the clocks its purpose and priority give it (or `clocks`)."""
    clocks = clocks or rules.clocks(
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
        category_name=known.name if (known := rules.model.categories.get(category or "")) else None,
        registration_id=registration.id if registration else None,
        cadre=registration.person if registration else None,
    )


def issue_on(
    case: Case,
    rules: Rules,
    *,
    responder: Responder,
    role: ResponderRole,
    purpose: Purpose,
    reason: str,
    now: datetime,
    task: str | None = None,
    feedback_due: datetime | None = None,
    registration: RegistrationIn | None = None,
) -> WorkOrderIssued:
    """Another order on a case already open: its category, area, priority and round."""
    return issue(
        rules,
        complaint_id=case.complaint_id,
        responder=responder,
        role=role,
        purpose=purpose,
        category=case.category,
        area_code=case.area_code,
        priority=PriorityTier(case.priority),
        reason=reason,
        now=now,
        round=case.round,
        task=task,
        feedback_due=feedback_due,
        registration=registration,
    )


def orders_for(
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
    if decision.by_hand:  # the committee's queue, with its own clock (业委会派单)
        purpose = Purpose.COMMITTEE
        decision = replace(decision, reason=f"由{decision.lead.name}派单：{decision.reason}")
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


# ---------------------------------------------------------------------------------------------
# Refusals every decision module uses
# ---------------------------------------------------------------------------------------------


def refuse(order: WorkOrder, action: str, hint: str = "") -> IllegalTransition:
    return IllegalTransition(
        f"工单 {order.work_order_id} 当前状态为「{ORDER_LABELS[order.status]}」，不能{action}。{hint}".rstrip(),
        order.status.value,
    )


def require(order: WorkOrder, allowed: frozenset[OrderStatus], action: str, hint: str = "") -> None:
    if order.status not in allowed:
        raise refuse(order, action, hint)


def open_case(case: Case, action: str) -> None:
    if case.cancelled or case.resolved_at:
        raise IllegalTransition(
            f"诉求 {case.complaint_id} 的派单已{CASE_LABELS[case.status]}，不能{action}。"
        )
