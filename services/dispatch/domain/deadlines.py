"""Dispatch's clocks: the durable timers a case needs, and what a due timer decides — a warning
or a breach, once, and a breach climbing the escalation ladder. Pure: events out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.dispatch.domain.case import CO, LEAD, Case, Purpose, WorkOrder, then
from services.dispatch.domain.rules import Rules, issue_on
from shared.deadlines import ClockName
from shared.events import CaseEscalated, Event, SlaBreached, SlaWarned, labels


@dataclass(frozen=True, slots=True)
class Timer:
    """A durable timer row: when to look at one clock of one order again."""

    complaint_id: UUID
    work_order_id: UUID
    clock: ClockName
    kind: str  # warning | breach
    due_at: datetime  # the deadline it is about: with the three above, what a timer is
    # When to look: derived from the deadline, and put off after a failure, so not identity.
    fire_at: datetime = field(compare=False)


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
    supervisors = rules.model.supervisors_of(case.area_code, but=order.responder.id)
    breached: list[Event] = [SlaBreached(**common, breached_at=now, supervisor_ids=supervisors)]
    return breached + _escalate(then(case, breached), order, timer.clock, now, rules)


def _escalate(
    case: Case, order: WorkOrder, clock: ClockName, now: datetime, rules: Rules
) -> list[Event]:
    """A breach by the lead or by a supervising unit moves the case one rung up the ladder."""
    if order.role is not LEAD and order.purpose is not Purpose.ESCALATION:
        return []
    if case.resolved_at or case.cancelled:
        return []
    above = max(case.level, order.responder.level)
    target = rules.model.escalation_target(case.area_code, case.rule_id, above)
    if target is None:
        return []  # the top of the ladder: the breach stands on record for the supervisors
    level, unit = target
    supervising = issue_on(
        case,
        rules,
        responder=unit,
        role=CO,
        purpose=Purpose.ESCALATION,
        reason=(
            f"{order.responder.name}{labels.CLOCK[clock]}超期，升级至{level.label}（{unit.name}）督办 "
            f"Breach of the {clock.value} limit: escalated to the {level.name.lower()} level"
        ),
        now=now,
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
            from_responder_id=order.responder.id,
        ),
        supervising,
    ]
