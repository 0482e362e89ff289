"""The case aggregate: every transition of a work order, returns, arbitration, clocks, the
escalation ladder, the whistle, deliberation, redo and cancellation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain import agenda, orders, supervision
from services.dispatch.domain.case import CO, LEAD, Case, OrderStatus, Purpose, WorkOrder
from services.dispatch.domain.city import Level, ResponderKind
from services.dispatch.domain.deadlines import Timer, fire, timers
from services.dispatch.domain.rules import IllegalTransition
from shared.deadlines import ClockName
from shared.events import (
    REGISTRY,
    ArbitrationRequested,
    CaseCancelled,
    CaseEscalated,
    CaseResolved,
    ExtensionRequested,
    SlaBreached,
    SlaWarned,
    WorkOrderCancelled,
    WorkOrderIssued,
)
from shared.topics import DISPATCH_EVENTS, topic_of
from tests.support.dispatch_builders import AREA, NOW, apply, dispatched, rules_for

RULES = rules_for()
OLD_TOWN = "370124001001-G02-B01"  # no property company: roof leaks go to the street


def lead_of(case: Case) -> WorkOrder:
    assert case.lead is not None
    return case.lead


def co_of(case: Case) -> WorkOrder:
    return next(o for o in case.open_orders if o.role is CO)


def handled(case: Case, order: WorkOrder, at: datetime = NOW) -> Case:
    """Sign, contact (the lead), start and report."""
    case = apply(case, orders.sign(case, order, "responder:x", None, at))
    order = case.order(order.work_order_id)
    assert order is not None
    if order.role is LEAD:
        case = apply(case, orders.contact(case, order, "responder:x", "电话联系李女士", at))
        order = case.order(order.work_order_id)
        assert order is not None
    case = apply(case, orders.start(case, order, "responder:x", "已到现场", at))
    order = case.order(order.work_order_id)
    assert order is not None
    return apply(case, orders.resolve(case, order, "屋面已做防水", "responder:x", at))


# --- first dispatch -----------------------------------------------------------------------------


def test_a_leak_is_dispatched_to_the_property_company_with_three_clocks_and_the_committee_with_two():
    case = dispatched()
    lead = lead_of(case)
    assert lead.responder.id == "property-meicheng" and lead.purpose is Purpose.DISPATCH
    assert [c.name for c in lead.clocks] == [ClockName.SIGN, ClockName.CONTACT, ClockName.FEEDBACK]
    assert lead.clock(ClockName.FEEDBACK).due_at == NOW + timedelta(days=7)  # type: ignore[union-attr]
    co = co_of(case)
    assert co.responder.id == "committee-huixianshan"
    assert [c.name for c in co.clocks] == [ClockName.SIGN, ClockName.FEEDBACK]
    assert case.level is Level.COMMUNITY and case.status == "open"


def test_a_second_classification_does_not_dispatch_again():
    case = dispatched()
    assert orders.first_dispatch(case, case.complaint_id, "roof-leak", AREA, RULES, NOW) == []


def test_each_clock_warns_before_it_runs_out():
    case = dispatched()
    sign = lead_of(case).clock(ClockName.SIGN)
    assert sign is not None
    assert sign.due_at == NOW + timedelta(hours=2)
    assert sign.warn_at == NOW + timedelta(minutes=96)  # 80 % of two hours


# --- the life of a work order ------------------------------------------------------------------


def test_the_case_is_resolved_only_when_the_lead_reported_and_every_co_responder_finished():
    case = dispatched()
    case = handled(case, lead_of(case))
    assert lead_of(case).status is OrderStatus.RESOLVED
    assert case.resolved_at is None, "the community committee has not finished"
    co = co_of(case)
    case = apply(case, orders.sign(case, co, "responder:committee", None, NOW))
    events = orders.resolve(
        case, case.order(co.work_order_id), "已协调业主", "responder:committee", NOW
    )  # type: ignore[arg-type]
    assert [type(e) for e in events] == [type(events[0]), CaseResolved]
    case = apply(case, events)
    assert case.status == "resolved" and timers(case) == set()


@pytest.mark.parametrize(
    ("prepare", "action", "message"),
    [
        ([], lambda c, o: orders.contact(c, o, "x", "n", NOW), "须先签收"),
        ([], lambda c, o: orders.resolve(c, o, "报告内容", "x", NOW), "先联系诉求人"),
        (["sign"], lambda c, o: orders.sign(c, o, "x", None, NOW), "已签收"),
        (["sign"], lambda c, o: orders.start(c, o, "x", "n", NOW), "先联系诉求人"),
        (["sign"], lambda c, o: orders.resolve(c, o, "报告内容", "x", NOW), "先联系诉求人"),
        (["sign", "contact", "start"], lambda c, o: orders.contact(c, o, "x", "n", NOW), "办理中"),
        (
            ["sign", "contact", "start"],
            lambda c, o: orders.return_order(c, o, "不归我管", None, "x", NOW, RULES),
            "开始办理后不能退单",
        ),
    ],
)
def test_a_step_out_of_order_is_refused_with_a_sentence(prepare, action, message):
    case = dispatched()
    steps = {
        "sign": lambda c, o: orders.sign(c, o, "x", None, NOW),
        "contact": lambda c, o: orders.contact(c, o, "x", "电话联系", NOW),
        "start": lambda c, o: orders.start(c, o, "x", "到场", NOW),
    }
    for step in prepare:
        case = apply(case, steps[step](case, lead_of(case)))
    with pytest.raises(IllegalTransition, match=message):
        action(case, lead_of(case))


def test_a_co_responder_may_start_and_report_without_contacting_the_resident():
    case = dispatched()
    co = co_of(case)
    case = apply(case, orders.sign(case, co, "x", None, NOW))
    case = apply(case, orders.start(case, case.order(co.work_order_id), "x", "协调中", NOW))  # type: ignore[arg-type]
    assert case.order(co.work_order_id).status is OrderStatus.IN_PROGRESS  # type: ignore[union-attr]


# --- returns, re-routing and arbitration ------------------------------------------------------


def test_a_returned_lead_is_rerouted_by_the_catalogue_passing_over_the_unit_that_returned():
    case = dispatched()
    events = orders.return_order(
        case, lead_of(case), "屋面属开发商保修", "dept-housing", "x", NOW, RULES
    )
    returned, reissued = events
    assert returned.event_type == "WorkOrderReturned"
    assert isinstance(reissued, WorkOrderIssued)
    assert reissued.role is LEAD and reissued.purpose == "reroute"
    assert reissued.responder_id == "street-yushan", "no other property company: the street"
    assert "退单后改派" in reissued.reason and "已排除退单单位" in reissued.reason
    case = apply(case, events)
    assert case.returned_by == {"property-meicheng"} and case.returns == 1
    assert co_of(case).responder.id == "committee-huixianshan", "co-responders keep their orders"


def test_after_too_many_returns_the_case_goes_to_arbitration_and_the_ruling_binds():
    case = dispatched()
    case = apply(
        case, orders.return_order(case, lead_of(case), "非物业职责", None, "x", NOW, RULES)
    )
    events = orders.return_order(
        case, lead_of(case), "应由住建局办理", "dept-housing", "x", NOW, RULES
    )
    assert isinstance(events[-1], ArbitrationRequested)
    # The street itself returned it: the district government arbitrates.
    assert events[-1].arbitrator_id == "gov-pingyin"
    case = apply(case, events)
    assert case.status == "arbitration"
    assert {t.work_order_id for t in timers(case)} == {co_of(case).work_order_id}
    arbitrator = RULES.model.responders["gov-pingyin"]
    ruled = supervision.arbitrate(
        case, arbitrator, "dept-housing", "屋面维修基金由住建局协调", "x", NOW, RULES
    )
    case = apply(case, ruled)
    lead = lead_of(case)
    assert lead.responder.id == "dept-housing" and lead.purpose is Purpose.ARBITRATION
    assert case.status == "open"
    with pytest.raises(IllegalTransition, match="街道裁定"):
        orders.return_order(case, lead, "还是不归我们", None, "x", NOW, RULES)


def test_arbitration_cannot_be_asked_for_when_nothing_was_returned():
    case = dispatched()
    with pytest.raises(IllegalTransition, match="没有待裁定"):
        supervision.arbitrate(
            case, RULES.model.responders["street-yushan"], "dept-housing", "x", "x", NOW, RULES
        )


def test_the_district_government_cannot_return_what_it_takes_as_the_last_resort():
    case = dispatched("road-damage", "110105001001")  # outside the city: 兜底
    lead = lead_of(case)
    assert lead.responder.kind is ResponderKind.DISTRICT_GOVERNMENT
    with pytest.raises(IllegalTransition, match="兜底"):
        orders.return_order(case, lead, "不归我管", None, "x", NOW, RULES)


def test_a_co_responder_s_return_is_recorded_and_the_case_can_still_resolve():
    case = dispatched()
    case = apply(
        case, orders.return_order(case, co_of(case), "非居委会职责", None, "x", NOW, RULES)
    )
    assert case.returns == 0, "only the lead's returns count towards arbitration"
    events = orders.resolve(*_contacted_lead(case), report="已修复", actor="x", now=NOW)
    assert isinstance(events[-1], CaseResolved)


def _contacted_lead(case: Case) -> tuple[Case, WorkOrder]:
    case = apply(case, orders.sign(case, lead_of(case), "x", None, NOW))
    case = apply(case, orders.contact(case, lead_of(case), "x", "电话联系", NOW))
    return case, lead_of(case)


def test_a_suggested_unit_must_exist():
    case = dispatched()
    with pytest.raises(IllegalTransition, match="不存在"):
        orders.return_order(case, lead_of(case), "不归我管", "nobody-here", "x", NOW, RULES)


# --- extensions -----------------------------------------------------------------------------


def test_an_extension_is_asked_for_once_and_approval_moves_the_feedback_deadline():
    case = dispatched()
    with pytest.raises(IllegalTransition, match="须先签收"):
        orders.request_extension(case, lead_of(case), "3d", "等待材料", "x", NOW, RULES)
    case = apply(case, orders.sign(case, lead_of(case), "x", None, NOW))
    [asked] = orders.request_extension(case, lead_of(case), "3d", "需业主大会表决", "x", NOW, RULES)
    assert isinstance(asked, ExtensionRequested)
    assert asked.requested_due_at == asked.current_due_at + timedelta(days=3)
    case = apply(case, [asked])
    with pytest.raises(IllegalTransition, match="待审批"):
        orders.request_extension(case, lead_of(case), "1d", "再延一天", "x", NOW, RULES)
    case = apply(case, supervision.approve_extension(case, lead_of(case), "同意", "x", NOW, RULES))
    feedback = lead_of(case).clock(ClockName.FEEDBACK)
    assert feedback is not None and feedback.due_at == asked.requested_due_at
    assert lead_of(case).extensions_granted == 1
    lead_id = lead_of(case).work_order_id
    breach = [
        t
        for t in timers(case)
        if t.work_order_id == lead_id and t.clock is ClockName.FEEDBACK and t.kind == "breach"
    ]
    assert [t.fire_at for t in breach] == [asked.requested_due_at]


def test_a_refused_extension_leaves_the_deadline_and_a_late_one_cannot_be_asked():
    case = dispatched()
    case = apply(case, orders.sign(case, lead_of(case), "x", None, NOW))
    due = lead_of(case).clock(ClockName.FEEDBACK).due_at  # type: ignore[union-attr]
    case = apply(case, orders.request_extension(case, lead_of(case), "2wd", "x", "x", NOW, RULES))
    case = apply(case, supervision.refuse_extension(case, lead_of(case), "理由不充分", "x", NOW))
    assert lead_of(case).clock(ClockName.FEEDBACK).due_at == due  # type: ignore[union-attr]
    assert lead_of(case).extension is None
    with pytest.raises(IllegalTransition, match="到期前"):
        orders.request_extension(
            case, lead_of(case), "1d", "x", "x", due + timedelta(seconds=1), RULES
        )
    with pytest.raises(IllegalTransition, match="没有待审批"):
        supervision.approve_extension(case, lead_of(case), "x", "x", NOW, RULES)


# --- clocks and the escalation ladder -------------------------------------------------------


def _timer(case: Case, order: WorkOrder, clock: ClockName, kind: str) -> Timer:
    return next(
        t
        for t in timers(case)
        if t.work_order_id == order.work_order_id and t.clock is clock and t.kind == kind
    )


def test_a_warning_fires_once_and_a_stopped_clock_fires_nothing():
    case = dispatched()
    warning = _timer(case, lead_of(case), ClockName.SIGN, "warning")
    [warned] = fire(case, warning, warning.fire_at, RULES)
    assert isinstance(warned, SlaWarned) and warned.clock == "sign"
    case = apply(case, [warned])
    assert fire(case, warning, warning.fire_at, RULES) == []
    breach = _timer(case, lead_of(case), ClockName.SIGN, "breach")
    case = apply(case, orders.sign(case, lead_of(case), "x", None, NOW))
    assert fire(case, breach, breach.fire_at, RULES) == []
    assert all(
        t.clock is not ClockName.SIGN
        for t in timers(case)
        if t.work_order_id == lead_of(case).work_order_id
    )


def test_breaches_climb_the_ladder_from_the_community_to_the_street_to_the_district():
    case = dispatched()
    breach = _timer(case, lead_of(case), ClockName.SIGN, "breach")
    events = fire(case, breach, breach.fire_at, RULES)
    assert [type(e) for e in events] == [SlaBreached, CaseEscalated, WorkOrderIssued]
    escalated, supervising = events[1], events[2]
    assert escalated.to_level == "street" and escalated.responder_id == "street-yushan"  # type: ignore[attr-defined]
    assert supervising.purpose == "escalation" and supervising.role is CO  # type: ignore[attr-defined]
    case = apply(case, events)
    assert case.level is Level.STREET
    # The street office does not take it in hand either: the district government.
    street_order = case.order(supervising.work_order_id)  # type: ignore[attr-defined]
    assert street_order is not None
    breach = _timer(case, street_order, ClockName.SIGN, "breach")
    events = fire(case, breach, breach.fire_at, RULES)
    assert events[1].to_level == "district" and events[1].responder_id == "gov-pingyin"  # type: ignore[attr-defined]
    case = apply(case, events)
    # The top of the ladder: a further breach is recorded, nothing climbs.
    contact = _timer(case, lead_of(case), ClockName.CONTACT, "breach")
    assert [type(e) for e in fire(case, contact, contact.fire_at, RULES)] == [SlaBreached]


def test_a_rule_s_escalation_department_is_the_rung_between_the_street_and_the_government():
    rules = rules_for(escalate={"R01": "dept-housing"})
    case = dispatched(rules=rules)
    case = apply(
        case,
        fire(case, _timer(case, lead_of(case), ClockName.SIGN, "breach"), NOW, rules),
    )
    street_order = next(o for o in case.open_orders if o.purpose is Purpose.ESCALATION)
    events = fire(case, _timer(case, street_order, ClockName.SIGN, "breach"), NOW, rules)
    assert events[1].to_level == "department" and events[1].responder_id == "dept-housing"  # type: ignore[attr-defined]


def test_a_co_responder_s_breach_is_recorded_without_escalating():
    case = dispatched()
    breach = _timer(case, co_of(case), ClockName.SIGN, "breach")
    assert [type(e) for e in fire(case, breach, breach.fire_at, RULES)] == [SlaBreached]


def test_resolving_the_case_closes_the_supervising_orders():
    case = dispatched()
    case = apply(
        case,
        fire(case, _timer(case, lead_of(case), ClockName.SIGN, "breach"), NOW, RULES),
    )
    case = apply(case, orders.return_order(case, co_of(case), "不归居委会", None, "x", NOW, RULES))
    case, lead = _contacted_lead(case)
    events = orders.resolve(case, lead, "已修复", "x", NOW)
    assert isinstance(events[1], CaseResolved)
    assert [type(e) for e in events[2:]] == [WorkOrderCancelled]
    assert timers(apply(case, events)) == set()


# --- the whistle --------------------------------------------------------------------------------


def test_a_whistle_gives_each_department_an_order_to_sign_within_thirty_minutes():
    case = dispatched()
    street = RULES.model.responders["street-yushan"]
    events = supervision.blow_whistle(
        case, street, ["dept-housing", "dept-urban"], "楼顶违建致漏水", "x", NOW, RULES
    )
    whistled = [e for e in events if isinstance(e, WorkOrderIssued)]
    assert [o.responder_id for o in whistled] == ["dept-housing", "dept-urban"]
    assert all(o.purpose == "whistle" and o.role is CO for o in whistled)
    sign = next(c for c in whistled[0].clocks if c.name == "sign")
    assert sign.due_at == NOW + timedelta(minutes=30)
    case = apply(case, events)
    case, lead = _contacted_lead(case)
    case = apply(case, orders.return_order(case, co_of(case), "x", None, "x", NOW, RULES))
    resolved = orders.resolve(case, lead, "已修复", "x", NOW)
    assert not any(isinstance(e, CaseResolved) for e in resolved), (
        "the departments have not reported"
    )


@pytest.mark.parametrize(
    ("departments", "message"),
    [(["property-meicheng"], "不是区县职能部门"), (["nobody"], "不存在")],
)
def test_only_departments_answer_a_whistle(departments, message):
    case = dispatched()
    with pytest.raises(IllegalTransition, match=message):
        supervision.blow_whistle(
            case, RULES.model.responders["street-yushan"], departments, "x", "x", NOW, RULES
        )


def test_a_department_already_on_the_case_is_not_whistled_twice():
    case = dispatched("gas-leak", "370124001002-G01-B02")  # util-gas leads, dept-fire co
    with pytest.raises(IllegalTransition, match="已有本案在办工单"):
        supervision.blow_whistle(
            case, RULES.model.responders["street-yushan"], ["dept-fire"], "x", "x", NOW, RULES
        )


# --- what intake tells dispatch -------------------------------------------------------------


def test_a_new_category_after_dispatch_cancels_the_open_orders_and_routes_again():
    case = dispatched()
    events = orders.reclassified(case, case.complaint_id, "parking", AREA, RULES, NOW)
    cancelled = [e for e in events if isinstance(e, WorkOrderCancelled)]
    issued = [e for e in events if isinstance(e, WorkOrderIssued)]
    assert len(cancelled) == 2 and issued[0].rule_id == "R09" and issued[0].purpose == "reroute"
    assert (
        orders.reclassified(apply(case, events), case.complaint_id, "parking", AREA, RULES, NOW)
        == []
    )


def test_withdrawing_stops_every_order_and_every_clock():
    case = dispatched()
    events = orders.cancel(case, "诉求人撤回", NOW)
    assert isinstance(events[-1], CaseCancelled)
    case = apply(case, events)
    assert case.status == "cancelled" and timers(case) == set()
    assert orders.cancel(case, "again", NOW) == []


def test_a_redo_starts_a_new_round_from_the_catalogue():
    case = dispatched()
    case = apply(case, orders.return_order(case, lead_of(case), "x", None, "x", NOW, RULES))
    events = orders.redo(case, case.complaint_id, "roof-leak", AREA, RULES, NOW)
    case = apply(case, events)
    assert case.round == 2 and case.returned_by == frozenset() and case.level is Level.COMMUNITY
    assert (
        lead_of(case).purpose is Purpose.REDO and lead_of(case).responder.id == "property-meicheng"
    )
    assert len(case.open_orders) == 2, "the earlier round's orders were closed"


# --- deliberation ---------------------------------------------------------------------------


def test_deliberation_pauses_the_lead_s_feedback_clock_and_its_decision_assigns_work_orders():
    case = dispatched()
    case, lead = _contacted_lead(case)
    item = uuid.uuid4()
    case = apply(
        case, agenda.send_to_deliberation(case, item, "370124001001", "需业主共同出资", "x", NOW)
    )
    assert case.status == "deliberation"
    assert not any(
        t.clock is ClockName.FEEDBACK and t.work_order_id == lead.work_order_id
        for t in timers(case)
    )
    with pytest.raises(IllegalTransition, match="已在议事中"):
        agenda.send_to_deliberation(case, uuid.uuid4(), "370124001001", "x", "x", NOW)
    later = NOW + timedelta(days=20)
    duty = agenda.Duty(
        RULES.model.responders["owners-meicheng"],
        "召开业主大会表决维修资金",
        later + timedelta(days=10),
    )
    events = agenda.conclude_deliberation(case, item, "维修资金由业主分摊", [duty], later, RULES)
    order = events[0]
    assert isinstance(order, WorkOrderIssued) and order.purpose == "deliberation"
    assert order.task == "召开业主大会表决维修资金" and order.due_at == later + timedelta(days=10)
    case = apply(case, events)
    feedback = lead_of(case).clock(ClockName.FEEDBACK)
    assert (
        feedback is not None and feedback.running and feedback.due_at == later + timedelta(days=7)
    )
    resolved = orders.resolve(case, lead_of(case), "已修复", "x", later)
    assert not any(isinstance(e, CaseResolved) for e in resolved), (
        "the owners' committee must finish"
    )


def test_every_dispatch_event_names_when_it_happened_in_its_last_time_field():
    for event_class in REGISTRY.values():
        if topic_of(event_class) != DISPATCH_EVENTS:
            continue
        times = [n for n in event_class.model_fields if n.endswith("_at")]
        assert times, event_class.event_type
        assert not times[-1].endswith(("due_at", "warn_at")), event_class.event_type


def test_an_order_issued_at_any_time_is_due_in_china_time_when_days_are_working_days():
    rules = rules_for(days="working")
    friday_evening = datetime(2026, 9, 30, 7, 0, tzinfo=UTC)  # 15:00 in China, before 国庆
    case = dispatched(rules=rules, at=friday_evening)
    feedback = lead_of(case).clock(ClockName.FEEDBACK)
    assert feedback is not None
    # 7 working days: 8, 9, 10 (the make-up Saturday), 12, 13, 14, 15 October.
    assert feedback.due_at == datetime(2026, 10, 15, 7, 0, tzinfo=UTC)


# --- what the review found (each failed before its mend) -------------------------------------


def _two_returns(case: Case) -> Case:
    case = apply(
        case, orders.return_order(case, lead_of(case), "非物业职责", None, "x", NOW, RULES)
    )
    return apply(
        case, orders.return_order(case, lead_of(case), "非街道职责", None, "x", NOW, RULES)
    )


def test_a_new_category_while_arbitration_waits_routes_afresh_and_the_case_can_resolve():
    case = _two_returns(dispatched())
    assert case.status == "arbitration"
    case = apply(case, orders.reclassified(case, case.complaint_id, "parking", AREA, RULES, NOW))
    assert case.arbitration is None and case.returns == 0 and case.returned_by == frozenset()
    for order in list(case.open_orders):
        case = handled(case, case.order(order.work_order_id))  # type: ignore[arg-type]
    assert case.status == "resolved"


def test_a_new_category_starts_the_ladder_again():
    case = dispatched()
    breach = _timer(case, lead_of(case), ClockName.SIGN, "breach")
    case = apply(case, fire(case, breach, NOW, RULES))
    assert case.level is Level.STREET
    case = apply(case, orders.reclassified(case, case.complaint_id, "parking", AREA, RULES, NOW))
    assert case.level is Level.COMMUNITY
    breach = _timer(case, lead_of(case), ClockName.SIGN, "breach")
    events = fire(case, breach, NOW, RULES)
    assert [type(e) for e in events] == [SlaBreached, CaseEscalated, WorkOrderIssued]


def test_an_extension_is_not_approved_while_the_clock_waits_for_deliberation_nor_after_it():
    case = dispatched()
    case, lead = _contacted_lead(case)
    case = apply(case, orders.request_extension(case, lead, "3d", "需业主表决", "x", NOW, RULES))
    item = uuid.uuid4()
    case = apply(case, agenda.send_to_deliberation(case, item, "370124001001", "x", "x", NOW))
    with pytest.raises(IllegalTransition, match="暂停"):
        supervision.approve_extension(case, lead_of(case), "同意", "x", NOW, RULES)
    case = apply(case, agenda.conclude_deliberation(case, item, "先维修后分摊", [], NOW, RULES))
    assert lead_of(case).extension is None, "the restarted clock supersedes the request"
    assert lead_of(case).clock(ClockName.FEEDBACK).running  # type: ignore[union-attr]


def test_a_lead_that_takes_over_during_deliberation_waits_for_the_decision_too():
    case = dispatched()
    case = apply(
        case, agenda.send_to_deliberation(case, uuid.uuid4(), "370124001001", "x", "x", NOW)
    )
    case = apply(
        case, orders.return_order(case, lead_of(case), "非物业职责", None, "x", NOW, RULES)
    )
    feedback = lead_of(case).clock(ClockName.FEEDBACK)
    assert lead_of(case).responder.id == "street-yushan"
    assert feedback is not None and feedback.suspended


def test_an_arbitrated_lead_still_escalates_by_the_rule_s_department():
    rules = rules_for(escalate={"R01": "dept-housing"})
    case = _two_returns(dispatched(rules=rules))
    ruled = supervision.arbitrate(
        case, rules.model.responders["gov-pingyin"], "street-yushan", "由街道办理", "x", NOW, rules
    )
    case = apply(case, ruled)
    breach = _timer(case, lead_of(case), ClockName.SIGN, "breach")
    events = fire(case, breach, NOW, rules)
    assert events[1].to_level == "department" and events[1].responder_id == "dept-housing"  # type: ignore[attr-defined]


def test_a_timer_is_the_same_timer_whenever_it_is_looked_at():
    case = dispatched()
    timer = _timer(case, lead_of(case), ClockName.SIGN, "breach")
    later = Timer(
        timer.complaint_id,
        timer.work_order_id,
        timer.clock,
        timer.kind,
        timer.due_at,
        NOW + timedelta(hours=9),
    )
    assert later in timers(case), "a timer put off after a failure still fires"
    assert fire(case, later, NOW, RULES)
