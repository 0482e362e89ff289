"""Who may take a decision on a case or an agenda item: the supervisors of the area, the street
for its whistle, the unit a ruling was put to, the lead and the community for deliberation."""

from __future__ import annotations

import pytest

from services.dispatch.auth import ApiKey, Caller, Role, caller_for
from services.dispatch.domain import agenda, orders, supervision
from services.dispatch.domain.case import Case
from services.dispatch.domain.rules import IllegalTransition, NotAllowed
from shared.events import AgendaItemOpened, DeliberationRequested, WorkOrderIssued
from tests.support.dispatch_builders import NOW, apply, dispatched, rules_for

RULES = rules_for()
MODEL = RULES.model
OUTSIDE = "110105001001"  # outside the city: no street, no community


def unit(responder_id: str) -> Caller:
    key = ApiKey("k", responder_id, Role.RESPONDER, 60, responder_id=responder_id)
    return caller_for(key, MODEL)


def supervisor(scope: str | None = None) -> Caller:
    return caller_for(ApiKey("k", "12345", Role.SUPERVISOR, 60, scope=scope), MODEL)


def arbitrating() -> Case:
    """Returned by the property company, then by the street: the district government rules."""
    case = dispatched()
    for _ in range(2):
        assert case.lead is not None
        case = apply(
            case, orders.return_order(case, case.lead, "非本单位职责", None, "x", NOW, RULES)
        )
    assert case.arbitration is not None and case.arbitration.arbitrator_id == "gov-pingyin"
    return case


# --- the whistle --------------------------------------------------------------------------------


def test_a_street_whistles_for_its_own_cases_only():
    case = dispatched()
    assert supervision.whistler(unit("street-yushan"), case, MODEL).id == "street-yushan"
    with pytest.raises(NotAllowed, match="只能为本街道的案件吹哨"):
        supervision.whistler(unit("street-jinshui"), case, MODEL)


def test_another_supervisor_of_the_area_calls_in_the_nearest_street():
    case = dispatched()
    assert supervision.whistler(supervisor(), case, MODEL).id == "street-yushan"
    assert supervision.whistler(unit("gov-pingyin"), case, MODEL).id == "street-yushan"
    with pytest.raises(NotAllowed, match="可以吹哨"):
        supervision.whistler(unit("property-meicheng"), case, MODEL)
    with pytest.raises(NotAllowed, match="可以吹哨"):
        supervision.whistler(supervisor("370124002000"), case, MODEL)


def test_a_case_with_no_street_above_it_cannot_be_whistled():
    case = dispatched("road-damage", OUTSIDE)
    with pytest.raises(IllegalTransition, match="没有街道办事处"):
        supervision.whistler(supervisor(), case, MODEL)


# --- arbitration and supervision ------------------------------------------------------------------


def test_the_unit_a_ruling_was_put_to_rules_and_so_do_the_supervisors_of_the_area():
    case = arbitrating()
    assert supervision.arbitrator(unit("gov-pingyin"), case, MODEL).id == "gov-pingyin"
    assert supervision.arbitrator(supervisor(), case, MODEL).id == "gov-pingyin", (
        "the ruling is recorded under the unit it was put to"
    )


def test_a_unit_that_returned_the_case_does_not_rule_on_it():
    case = arbitrating()
    with pytest.raises(NotAllowed, match="已退单，由平阴县"):
        supervision.arbitrator(unit("street-yushan"), case, MODEL)


def test_a_unit_the_ruling_was_not_put_to_does_not_rule():
    case = arbitrating()
    with pytest.raises(NotAllowed, match="Not this key's ruling"):
        supervision.arbitrator(unit("dept-housing"), case, MODEL)
    with pytest.raises(NotAllowed, match="可以裁定"):
        supervision.arbitrator(supervisor("370124002000"), case, MODEL)


def test_only_supervisors_of_the_area_supervise():
    case = dispatched()
    supervision.must_supervise(unit("street-yushan"), case, MODEL, "督办")
    with pytest.raises(NotAllowed, match="可以督办"):
        supervision.must_supervise(unit("property-meicheng"), case, MODEL, "督办")


# --- deliberation ---------------------------------------------------------------------------------


def test_the_community_committee_opens_an_item_and_sends_the_case_to_it():
    case = dispatched()
    opened, sent = agenda.open_deliberation(
        case, unit("committee-huixianshan"), None, "需业主共同出资", NOW, RULES
    )
    [item] = opened
    [request] = sent
    assert isinstance(item, AgendaItemOpened) and isinstance(request, DeliberationRequested)
    assert item.community_code == request.community_code == "370124001001"
    assert item.item_id == request.item_id and item.actor == "responder:committee-huixianshan"
    assert item.title == MODEL.categories["roof-leak"].name, "the category names the item"


def test_the_lead_and_supervisors_may_send_a_case_to_deliberation_but_no_other_community():
    case = dispatched()
    for acting in (unit("property-meicheng"), unit("street-yushan"), supervisor()):
        opened, _ = agenda.open_deliberation(case, acting, "北门拓宽", "x", NOW, RULES)
        assert opened[0].title == "北门拓宽"
    with pytest.raises(NotAllowed, match="可以提交议事"):
        agenda.open_deliberation(case, unit("committee-dongguan"), None, "x", NOW, RULES)


def test_a_case_in_no_community_has_no_agenda():
    case = dispatched("road-damage", OUTSIDE)
    with pytest.raises(IllegalTransition, match="不属于任何社区"):
        agenda.open_deliberation(case, supervisor(), None, "x", NOW, RULES)


def test_the_community_runs_its_agenda_and_the_district_takes_over_a_raised_item():
    case = dispatched()
    opened, _ = agenda.open_deliberation(case, supervisor(), None, "x", NOW, RULES)
    item = agenda.fold(opened)
    assert item is not None
    agenda.must_run(unit("committee-huixianshan"), item, MODEL)
    with pytest.raises(NotAllowed, match="会仙山社区居委会"):
        agenda.must_run(unit("committee-dongguan"), item, MODEL)
    district = agenda.district_of(item, MODEL)
    assert district == "370124000000"
    raised = agenda.evolve(item, agenda.raise_to_district(item, district, "x", "x", NOW)[0])
    agenda.must_run(unit("gov-pingyin"), raised, MODEL)
    with pytest.raises(NotAllowed):
        agenda.must_run(unit("committee-huixianshan"), raised, MODEL)


def test_an_assignment_names_the_work_order_each_duty_became():
    case = dispatched()
    opened, sent = agenda.open_deliberation(case, supervisor(), None, "x", NOW, RULES)
    case = apply(case, sent)
    item = agenda.fold(opened)
    assert item is not None
    item = agenda.evolve(item, agenda.set_topic(item, "维修资金", [], "x", NOW)[0])
    item = agenda.evolve(item, agenda.hold(item, ["业委会"], "同意", True, "x", NOW)[0])
    duty = agenda.Duty(MODEL.responders["owners-meicheng"], "召开业主大会")
    decided, case_events = agenda.assign(item, case, "业主分摊", [duty], "x", NOW, RULES)
    [order] = [e for e in case_events if isinstance(e, WorkOrderIssued)]
    [assignment] = decided[0].assignments
    assert assignment.work_order_id == order.work_order_id
    assert (assignment.responder_id, assignment.task) == ("owners-meicheng", "召开业主大会")
