"""Community governance on a case: the owners' committee dispatching by hand (业委会派单), the
community calling units in (社区点单、部门响应), and the units and cadres registered with the
community (双报到) taking duties; and who may do each. Pure: events out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.dispatch.domain.agenda import committee_of
from services.dispatch.domain.case import CO, LEAD, OPEN, Case, Purpose, WorkOrder
from services.dispatch.domain.city import (
    CityModel,
    Level,
    Responder,
    ResponderKind,
)
from services.dispatch.domain.governance import RegistrationIn, registration_of
from services.dispatch.domain.rules import (
    Acting,
    IllegalTransition,
    NotAllowed,
    Rules,
    issue_on,
    open_case,
    refuse,
    require,
)
from shared.events import CaseHandDispatched, CommunityCalled, Event
from shared.events.area import AreaLevel

# ---------------------------------------------------------------------------------------------
# 业委会派单: the committee holding the case in its queue chooses who handles it
# ---------------------------------------------------------------------------------------------


def dispatch_by_hand(
    case: Case,
    order: WorkOrder,
    lead_id: str,
    co_ids: Iterable[str],
    reason: str,
    actor: str,
    now: datetime,
    rules: Rules,
) -> list[Event]:
    """居民下单、业委会派单、多方接单: the committee's queue order is done, and the lead and
    co-responders it chose get orders with the clocks catalogue dispatch would give them; the
    lead may return its order (退单), which puts the case back in the committee's queue."""
    if order.purpose is not Purpose.COMMITTEE:
        raise refuse(order, "派单", "只有业委会派单工单可以派单。Only a committee's queue order.")
    require(order, OPEN, "派单")
    open_case(case, "派单")
    committee = order.responder
    lead = _unit(rules.model, lead_id)
    co = [_unit(rules.model, unit_id) for unit_id in dict.fromkeys(co_ids) if unit_id != lead_id]
    for unit in [lead, *co]:
        if unit.id == committee.id:
            raise IllegalTransition(
                f"{unit.name}是派单人，不能派给自己 A committee does not dispatch to itself"
            )
        if unit.id in case.returned_by:
            raise IllegalTransition(
                f"{unit.name}已退回本案，请另选承办单位 It returned this case; choose another unit"
            )
        if unit.kind is ResponderKind.DISTRICT_GOVERNMENT:
            raise IllegalTransition(
                "区县政府只兜底，不接业委会派单 The district government is not dispatched to"
            )
        if not any(rules.model.within(case.area_code, a) for a in rules.model.served[unit.id]):
            raise IllegalTransition(
                f"{unit.name}不服务本案所在区域，请另选承办单位 It does not serve the case's area"
            )
    holding = {o.responder.id for o in case.open_orders if o.work_order_id != order.work_order_id}
    co = [unit for unit in co if unit.id not in holding]
    chosen = CaseHandDispatched(
        complaint_id=case.complaint_id,
        work_order_id=order.work_order_id,
        dispatcher_id=committee.id,
        dispatcher_name=committee.name,
        dispatcher_kind=committee.kind.value,
        lead_id=lead.id,
        co_ids=[unit.id for unit in co],
        reason=reason,
        actor=actor,
        dispatched_at=now,
    )
    why = f"{committee.name}派单：{reason} Dispatched by {committee.name}"
    orders = [
        issue_on(
            case, rules, responder=unit, role=role, purpose=Purpose.DISPATCH, reason=why, now=now
        )
        for role, unit in [(LEAD, lead), *((CO, unit) for unit in co)]
    ]
    return [chosen, *orders]


def must_dispatch(acting: Acting, case: Case, order: WorkOrder, model: CityModel) -> None:
    """The committee whose queue holds the case dispatches it; a supervisor of the area may
    step in (the queue's clock ran out, the committee cannot meet)."""
    if acting.holds(order.responder.id) or acting.supervises(model, case.area_code):
        return
    raise NotAllowed(
        f"只有{order.responder.name}或属地督办人员可以派单 Only {order.responder.name} dispatches it"
    )


def _unit(model: CityModel, unit_id: str) -> Responder:
    unit = model.responders.get(unit_id)
    if unit is None:
        raise IllegalTransition(f"单位 {unit_id} 不存在 Unknown responder")
    return unit


# ---------------------------------------------------------------------------------------------
# 社区点单、部门响应, and 双报到 units and cadres taking duties
# ---------------------------------------------------------------------------------------------

# Who a community may call in: departments and public utilities, and the street offices.
CALLABLE = frozenset({Level.STREET, Level.DEPARTMENT})


def community_of(model: CityModel, area_code: str) -> str:
    community = model.enclosing(area_code, AreaLevel.COMMUNITY)
    if community is None:
        raise IllegalTransition("该诉求所在区域不属于任何社区 No community here")
    return community


def registration(model: CityModel, registration_id: str, area_code: str) -> RegistrationIn:
    """A 双报到 registration of the case's community, or a refusal naming why not."""
    found = registration_of(model.file, registration_id)
    if found is None:
        raise IllegalTransition(f"双报到登记 {registration_id} 不存在 Unknown registration")
    if found.community != community_of(model, area_code):
        raise IllegalTransition(
            f"{found.person or found.unit} 未在本社区报到 Not registered with this community"
        )
    return found


def duty_of(reg: RegistrationIn, task: str) -> str:
    """The task as the registered cadre's home unit reads it (the cadre named, no phone)."""
    who = (
        f"报到干部{reg.person}" + (f"（{reg.title}）" if reg.title else "")
        if reg.person
        else "报到单位"
    )
    return f"{who}：{task}"


def call_in(
    case: Case,
    committee: Responder,
    responder_ids: list[str],
    registration_ids: list[str],
    reason: str,
    actor: str,
    now: datetime,
    rules: Rules,
) -> list[Event]:
    """社区点单: each unit called in, and the home unit of each registered cadre or unit, gets
    an order it must sign (respond to) and report on within the community-call limit."""
    open_case(case, "点单")
    model = rules.model
    community = community_of(model, case.area_code)
    holding = {o.responder.id for o in case.open_orders}
    units: list[Responder] = []
    for unit_id in dict.fromkeys(responder_ids):
        unit = _unit(model, unit_id)
        if unit.level not in CALLABLE:
            raise IllegalTransition(
                f"{unit.name} 不是街道、区县部门或公用事业单位，不能点单 Only streets and departments are called in"
            )
        if unit.id in holding:
            raise IllegalTransition(
                f"{unit.name} 已有本案在办工单 Already holds an open order here"
            )
        units.append(unit)
    registered = [registration(model, r, case.area_code) for r in dict.fromkeys(registration_ids)]
    if not units and not registered:
        raise IllegalTransition("请至少点一个单位或报到干部 Name at least one unit or cadre")
    events: list[Event] = [
        CommunityCalled(
            complaint_id=case.complaint_id,
            committee_id=committee.id,
            community_code=community,
            responder_ids=[u.id for u in units],
            registration_ids=[r.id for r in registered],
            reason=reason,
            actor=actor,
            called_at=now,
        )
    ]
    why = f"{committee.name}点单：{reason}（社区点单、部门响应） Called in by {committee.name}"
    for unit in units:
        events.append(
            issue_on(
                case,
                rules,
                responder=unit,
                role=CO,
                purpose=Purpose.COMMUNITY_CALL,
                reason=why,
                now=now,
            )
        )
    for reg in registered:
        events.append(
            issue_on(
                case,
                rules,
                responder=model.responders[reg.unit],
                role=CO,
                purpose=Purpose.COMMUNITY_CALL,
                reason=why,
                now=now,
                task=duty_of(reg, reason),
                registration=reg,
            )
        )
    return events


def caller_committee(acting: Acting, case: Case, model: CityModel) -> Responder:
    """The community committee that calls units in: the committee serving the case's area, or
    for a supervisor of the area the committee of the case's community."""
    unit = acting.responder
    if unit is not None and committee_of(acting, case.area_code, model):
        return unit
    if not acting.supervises(model, case.area_code):
        raise NotAllowed("只有本社区居委会或属地督办人员可以点单 The community's committee only")
    found = model.nearest(case.area_code, ResponderKind.COMMUNITY_COMMITTEE)
    if found is None:
        raise IllegalTransition("该社区没有居委会，无法点单 No community committee here")
    return found


def registered_with(model: CityModel, community: str) -> list[RegistrationIn]:
    """双报到名单: the units and cadres registered with a community."""
    return [r for r in model.file.registrations if r.community == community]
