"""Community governance as pure decisions: routing to a committee's queue (业委会派单), its
choice, the community's call (社区点单) and the duties of 双报到 cadres."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.dispatch.domain import community, orders
from services.dispatch.domain.case import CO, LEAD, OrderStatus, Purpose
from services.dispatch.domain.city import CityFile, route
from services.dispatch.domain.rules import IllegalTransition
from shared.deadlines import ClockName
from shared.events import CaseHandDispatched, CommunityCalled, WorkOrderIssued
from tests.support.dispatch_builders import NOW, apply, demo_city, dispatched, rules_for

MEICHENG = "370124001001-G01-B02"
DONGGUAN = "370124001002-G01-B01"


def test_a_compound_matter_waits_in_its_owners_committees_queue_with_a_clock_of_its_own():
    case = dispatched("common-parts", MEICHENG)
    queue = case.lead
    assert queue is not None and queue.responder.id == "owners-meicheng"
    assert queue.purpose is Purpose.COMMITTEE and queue.rule_id == "R23"
    feedback = queue.clock(ClockName.FEEDBACK)
    assert feedback is not None and feedback.due_at == NOW + timedelta(hours=24)
    assert queue.clock(ClockName.CONTACT) is None, "the committee chooses; the lead contacts"


def test_without_an_owners_committee_the_community_committee_dispatches_and_else_the_lead():
    model = rules_for().model
    assert route(model, "common-parts", DONGGUAN).lead.id == "committee-dongguan"
    passed_back = route(model, "common-parts", MEICHENG, frozenset({"owners-meicheng"}))
    assert passed_back.lead.id == "committee-huixianshan" and passed_back.by_hand
    nobody = route(
        model, "common-parts", MEICHENG, frozenset({"owners-meicheng", "committee-huixianshan"})
    )
    assert nobody.lead.id == "property-meicheng" and not nobody.by_hand


def test_the_committee_chooses_a_lead_and_its_return_goes_back_to_the_queue():
    rules = rules_for()
    case = dispatched("common-parts", MEICHENG, rules)
    queue = case.lead
    assert queue is not None
    events = community.dispatch_by_hand(
        case, queue, "developer-meicheng", ["property-meicheng"], "保修期内", "业委会", NOW, rules
    )
    assert isinstance(events[0], CaseHandDispatched)
    issued = [e for e in events if isinstance(e, WorkOrderIssued)]
    assert [(e.responder_id, e.role, e.purpose) for e in issued] == [
        ("developer-meicheng", LEAD, "dispatch"),
        ("property-meicheng", CO, "dispatch"),
    ]
    case = apply(case, events)
    assert case.order(queue.work_order_id).status is OrderStatus.RESOLVED
    developer = case.lead
    assert developer is not None and developer.responder.id == "developer-meicheng"
    back = orders.return_order(case, developer, "已过保修期", None, "开发商", NOW, rules)
    requeued = apply(case, back).lead
    assert requeued is not None and requeued.purpose is Purpose.COMMITTEE
    assert requeued.responder.id == "owners-meicheng"
    with pytest.raises(IllegalTransition, match="已退回本案"):
        community.dispatch_by_hand(
            apply(case, back), requeued, "developer-meicheng", [], "再派", "业委会", NOW, rules
        )


def test_a_community_calls_streets_and_departments_and_its_registered_cadres_only():
    rules = rules_for()
    case = dispatched("road-damage", MEICHENG, rules)
    committee = rules.model.responders["committee-huixianshan"]
    events = community.call_in(
        case, committee, ["dept-housing"], ["cadre-housing-sun"], "路面破损", "居委会", NOW, rules
    )
    assert isinstance(events[0], CommunityCalled) and events[0].community_code == "370124001001"
    cadre = events[-1]
    assert isinstance(cadre, WorkOrderIssued) and cadre.purpose == "community_call"
    assert (cadre.responder_id, cadre.registration_id, cadre.cadre) == (
        "dept-housing",
        "cadre-housing-sun",
        "孙立新",
    )
    with pytest.raises(IllegalTransition, match="不能点单"):
        community.call_in(case, committee, ["property-meicheng"], [], "x", "居委会", NOW, rules)
    with pytest.raises(IllegalTransition, match="未在本社区报到"):
        community.call_in(case, committee, [], ["cadre-urban-zhao"], "x", "居委会", NOW, rules)


def test_a_dispatcher_must_be_a_committee_and_a_registration_a_known_community_and_unit():
    body = dict(demo_city())
    wrong = [r | {"dispatcher": "dept-urban"} if r["id"] == "R23" else r for r in body["catalogue"]]
    with pytest.raises(ValidationError, match="dispatcher dept-urban is no committee"):
        CityFile.model_validate(body | {"catalogue": wrong})
    stray = [*body["registrations"], {"id": "cadre-x", "community": "370124001000", "unit": "x"}]
    with pytest.raises(ValidationError, match="registration cadre-x"):
        CityFile.model_validate(body | {"registrations": stray})
