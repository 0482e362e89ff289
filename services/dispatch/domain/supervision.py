"""Decisions of supervisors: extensions granted or refused, urging (催办), supervision (督办),
the whistle (吹哨报到) and arbitration (裁定), and who may take the last three. Pure: events out."""

from __future__ import annotations

from datetime import datetime

from services.dispatch.domain.case import CO, LEAD, Case, Purpose, WorkOrder
from services.dispatch.domain.city import CityModel, Level, Responder, ResponderKind
from services.dispatch.domain.rules import (
    Acting,
    IllegalTransition,
    NotAllowed,
    Rules,
    issue_on,
    open_case,
    refuse,
)
from shared.deadlines import ClockName, warn_time
from shared.events import (
    ArbitrationDecided,
    CaseSupervised,
    Event,
    ExtensionApproved,
    ExtensionRefused,
    OrderClock,
    WhistleBlown,
    WorkOrderUrged,
)

# ---------------------------------------------------------------------------------------------
# Decisions of supervisors: extensions, urging, supervision, the whistle, arbitration
# ---------------------------------------------------------------------------------------------


def approve_extension(
    case: Case, order: WorkOrder, reason: str, actor: str, now: datetime, rules: Rules
) -> list[Event]:
    request = order.extension
    if request is None or not order.is_open:
        raise refuse(order, "批准延期", "没有待审批的延期申请。No extension request is pending.")
    feedback = order.clock(ClockName.FEEDBACK)
    if feedback is None or not feedback.running:
        raise refuse(
            order, "批准延期", "办理时限已暂停（议事中）。The clock is paused for deliberation."
        )
    if feedback.due_at != request.current_due_at:
        raise refuse(
            order, "批准延期", "办理时限已变更，请重新申请。The deadline moved; ask again."
        )
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
        raise refuse(order, "驳回延期", "没有待审批的延期申请。No extension request is pending.")
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
        raise refuse(order, "催办")
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
    open_case(case, "督办")
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
    open_case(case, "吹哨")
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
            issue_on(
                case,
                rules,
                responder=unit,
                role=CO,
                purpose=Purpose.WHISTLE,
                reason=f"{street.name}吹哨：{reason}（街呼县应，限时报到） Whistle by {street.name}",
                now=now,
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
    order = issue_on(
        case,
        rules,
        responder=unit,
        role=LEAD,
        purpose=Purpose.ARBITRATION,
        reason=f"{arbitrator.name}裁定：{reason} Arbitrated by {arbitrator.name}",
        now=now,
    )
    return [decided, order]


# ---------------------------------------------------------------------------------------------
# Who may supervise, blow the whistle and arbitrate
# ---------------------------------------------------------------------------------------------


def must_supervise(acting: Acting, case: Case, model: CityModel, action: str) -> None:
    """Only a supervisor of the case's area: its street, its district government or a
    supervisor key whose scope covers it."""
    if not acting.supervises(model, case.area_code):
        raise NotAllowed(
            f"只有属地街道、区县政府或督办人员可以{action} Supervisors of the area only"
        )


def whistler(acting: Acting, case: Case, model: CityModel) -> Responder:
    """The street that blows the whistle (街呼县应): a street office for the cases of its own
    streets; any other supervisor of the area calls in the street office nearest the case."""
    street = acting.responder
    if street is not None and street.kind is ResponderKind.STREET_OFFICE:
        if not acting.supervises(model, case.area_code):
            raise NotAllowed(
                f"{street.name}只能为本街道的案件吹哨 A street whistles for its own cases"
            )
        return street
    must_supervise(acting, case, model, "吹哨")
    nearest = model.nearest(case.area_code, ResponderKind.STREET_OFFICE)
    if nearest is None:
        raise IllegalTransition("该区域没有街道办事处，无法吹哨 No street office for this area")
    return nearest


def arbitrator(acting: Acting, case: Case, model: CityModel) -> Responder:
    """The unit a ruling is recorded under, if `acting` may rule: the unit the case was put to
    (提请裁定), or above it the district government or a supervisor of the area."""
    pending = case.arbitration
    unit = acting.responder
    named = pending is not None and unit is not None and unit.id == pending.arbitrator_id
    # A unit that returned the case does not rule on it, even if it supervises the area
    # (a street that returned it leaves the ruling to the district).
    if not named and (unit is not None and unit.id in case.returned_by):
        raise NotAllowed(
            f"{unit.name}已退单，由{pending.arbitrator_name if pending else '上级'}裁定"
        )
    if not named and not (
        acting.is_admin or (unit is None or unit.kind is ResponderKind.DISTRICT_GOVERNMENT)
    ):
        raise NotAllowed("只有被提请裁定的单位、区县政府或督办人员可以裁定 Not this key's ruling")
    if not named:
        must_supervise(acting, case, model, "裁定")
    return (model.responders.get(pending.arbitrator_id) if pending else None) or model.government(
        case.area_code
    )
