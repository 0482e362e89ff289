"""Decisions about who holds a case: routing what intake says (first dispatch, redo,
reclassification, withdrawal) and the steps of the unit holding an order — sign, contact the
resident, start, ask for more time, report back, or return it (退单) to be re-routed or
arbitrated. Pure: events out, nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from services.dispatch.domain.case import (
    CO,
    LEAD,
    PURPOSE_LABELS,
    RETURNABLE,
    WORKING,
    Case,
    OrderStatus,
    Purpose,
    WorkOrder,
    then,
)
from services.dispatch.domain.city import ResponderKind, route
from services.dispatch.domain.rules import IllegalTransition, Rules, orders_for, refuse, require
from shared.deadlines import ClockName
from shared.events import (
    ArbitrationRequested,
    CaseCancelled,
    CaseReclassified,
    CaseResolved,
    Event,
    ExtensionRequested,
    WorkOrderCancelled,
    WorkOrderContacted,
    WorkOrderResolved,
    WorkOrderReturned,
    WorkOrderSigned,
    WorkOrderStarted,
)

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
    """Route a complaint nobody is handling yet; nothing if someone already is (the member on
    duty answering a WeChat group message in public is not handling it)."""
    if case is not None and (case.handling_orders or case.arbitration or case.resolved_at):
        return []
    decision = route(rules.model, category, area_code)
    return orders_for(
        rules,
        decision,
        complaint_id=complaint_id,
        category=category,
        area_code=area_code,
        purpose=Purpose.DISPATCH if case is None or case.lead_id is None else Purpose.REROUTE,
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
    return events + orders_for(
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
    if case is None or case.lead_id is None:
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
    reason = f"诉求重新分类为「{label}」，按新类别改派 Reclassified"
    events: list[Event] = _cancel_open(case, reason, now)
    events.append(
        CaseReclassified(
            complaint_id=complaint_id,
            category=category,
            previous_category=case.category,
            area_code=area_code,
            reason=reason,
            reclassified_at=now,
        )
    )
    decision = route(rules.model, category, area_code)
    return events + orders_for(
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


def sign(case: Case, order: WorkOrder, actor: str, note: str | None, now: datetime) -> list[Event]:
    require(order, frozenset({OrderStatus.ISSUED}), "签收")
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
    require(
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
            role=order.role,
            responder_name=order.responder.name,
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
    require(order, frozenset(allowed), "开始办理", hint)
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
    require(
        order,
        WORKING,
        "申请延期",
        "须先签收。Sign first." if order.status is OrderStatus.ISSUED else "",
    )
    feedback = order.clock(ClockName.FEEDBACK)
    if feedback is None or not feedback.running:
        raise refuse(
            order, "申请延期", "它没有正在计时的办理时限。Its feedback clock is not running."
        )
    if order.extension is not None:
        raise refuse(order, "申请延期", "已有一项延期申请待审批。An extension request is pending.")
    if now >= feedback.due_at:
        raise refuse(order, "申请延期", "办理时限已过，须在到期前申请。Ask before the deadline.")
    return [
        ExtensionRequested(
            work_order_id=order.work_order_id,
            complaint_id=case.complaint_id,
            responder_id=order.responder.id,
            current_due_at=feedback.due_at,
            requested_due_at=rules.due(feedback.due_at, extra),
            reason=reason,
            actor=actor,
            requested_at=now,
        )
    ]


def resolve(case: Case, order: WorkOrder, report: str, actor: str, now: datetime) -> list[Event]:
    if order.role is LEAD:
        hint = "主办单位须先联系诉求人。The lead contacts the resident before reporting."
        require(
            order, frozenset({OrderStatus.CONTACTED, OrderStatus.IN_PROGRESS}), "办理反馈", hint
        )
    else:
        require(order, WORKING, "办理反馈", "须先签收。Sign first.")
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
    return events + completion(then(case, events), now)


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
    require(
        order,
        frozenset({OrderStatus.ISSUED, OrderStatus.SIGNED, OrderStatus.CONTACTED}),
        "退单",
        "开始办理后不能退单。An order in hand cannot be returned.",
    )
    if order.purpose not in RETURNABLE:
        raise refuse(
            order, "退单", f"「{PURPOSE_LABELS[order.purpose]}」工单不能退单。It binds the unit."
        )
    if order.responder.kind is ResponderKind.DISTRICT_GOVERNMENT:
        raise refuse(
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
            supervisor_ids=rules.model.supervisors_of(case.area_code, but=order.responder.id),
        )
    ]
    after = then(case, events)
    if order.role is not LEAD:
        return events + completion(after, now)
    return events + _after_lead_return(after, order, now, rules)


def _after_lead_return(case: Case, returned: WorkOrder, now: datetime, rules: Rules) -> list[Event]:
    limits = rules.model.time_limits
    decision = route(rules.model, case.category, case.area_code, case.returned_by)
    nobody = decision.lead.kind is ResponderKind.DISTRICT_GOVERNMENT
    if case.returns < limits.returns_before_arbitration and not nobody:
        reroute = replace(decision, reason=f"退单后改派：{decision.reason}")
        return orders_for(
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


def completion(case: Case, now: datetime) -> list[Event]:
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
