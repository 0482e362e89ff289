from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.dispatch.domain.case import LEAD, Purpose
from services.dispatch.domain.city import CityFile, CityModel, ResponderKind, route
from services.dispatch.domain.rules import Rules
from shared.deadlines import PriorityTier

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "local" / "demo_city.yaml"


@pytest.fixture(scope="module")
def city_data():
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model(city_data):
    return CityModel(CityFile.model_validate(city_data), version=3)


def test_the_demo_city_has_every_kind_of_responder_and_at_least_eight_categories(city_data):
    city = CityFile.model_validate(city_data)
    assert {r.kind for r in city.responders} == set(ResponderKind)
    assert len({rule.category for rule in city.catalogue}) >= 8
    levels = {a.level for a in city.areas}
    assert {"district", "street", "community", "grid", "building"} <= levels


def test_a_leak_goes_to_the_compound_s_property_company_with_the_community_as_co_responder(model):
    decision = route(model, "roof-leak", "370124001001-G01-B02-U1")
    assert decision.lead.id == "property-meicheng"
    assert [unit.id for unit in decision.co] == ["committee-huixianshan"]
    assert decision.rule_id == "R01"
    assert "R01" in decision.reason and "3" in decision.reason


def test_a_narrower_rule_beats_the_district_rule(model):
    assert route(model, "parking", "370124001001-G01").rule_id == "R09"
    assert route(model, "parking", "370124002002-G01").rule_id == "R08"


def test_a_street_rule_applies_to_the_communities_below_it(model):
    decision = route(model, "parking", "370124002002")
    assert decision.co[0].id == "street-jinshui"


def test_without_a_rule_the_street_office_takes_the_complaint(model):
    decision = route(model, None, "370124002001-G01-B01")
    assert decision.lead.id == "street-jinshui"
    assert decision.rule_id is None


def test_an_unresolvable_lead_falls_back_to_the_street_office(model):
    # The old-town grid has no property company.
    assert route(model, "roof-leak", "370124001001-G02-B01").lead.id == "street-yushan"


def test_when_nobody_is_responsible_the_district_government_takes_it(model):
    decision = route(model, "road-damage", "110105001001")
    assert decision.lead.kind == ResponderKind.DISTRICT_GOVERNMENT
    assert "兜底" in decision.reason


def test_an_area_code_the_model_does_not_list_is_placed_by_its_shape(model):
    assert model.ancestors("370124001001-G01-B09")[0] == "370124001001-G01"
    assert model.ancestors("370124001099")[0] == "370124001000"
    assert route(model, "road-damage", "370124001099").lead.id == "dept-municipal"


def test_the_priority_tier_sets_the_feedback_deadline(model):
    issued = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    rules = Rules(model)

    def feedback_due(category: str, area: str) -> datetime:
        decision = route(model, category, area)
        clocks = rules.clocks(
            priority=decision.priority,
            category=category,
            purpose=Purpose.DISPATCH,
            role=LEAD,
            start=issued,
        )
        return next(c.due_at for c in clocks if c.name == "feedback")

    gas = route(model, "gas-leak", "370124001002-G01-B02")
    assert gas.priority == PriorityTier.EMERGENCY
    assert feedback_due("gas-leak", "370124001002-G01-B02") == issued + timedelta(hours=2)
    assert feedback_due("water-supply", "370124001002") == issued + timedelta(hours=24)
    # The demo city counts days as working days: 15 of them from a Monday are three weeks.
    assert feedback_due("property-certificate", "370124001001") == issued + timedelta(days=21)


def test_co_responders_that_cannot_be_found_are_left_out(model):
    # 锦水园 has no owners' committee.
    decision = route(model, "property-service", "370124002001-G01-B01")
    assert decision.lead.id == "property-jinshuiyuan"
    assert decision.co == ()


def test_a_city_file_with_dangling_references_is_refused_with_every_problem(city_data):
    broken = {
        **city_data,
        "catalogue": [
            *city_data["catalogue"],
            {"id": "R99", "category": "ufo", "scope": "1", "lead": "nobody"},
        ],
    }
    with pytest.raises(ValidationError) as error:
        CityFile.model_validate(broken)
    message = str(error.value)
    assert "unknown category ufo" in message and "unknown responder nobody" in message


def test_a_city_without_a_district_government_is_refused(city_data):
    responders = [r for r in city_data["responders"] if r["kind"] != "district_government"]
    with pytest.raises(ValidationError, match="兜底"):
        CityFile.model_validate({**city_data, "responders": responders})


def test_the_checksum_identifies_the_content(city_data):
    assert (
        CityFile.model_validate(city_data).checksum()
        == CityFile.model_validate(city_data).checksum()
    )
    renamed = {**city_data, "city": "另一个城市"}
    assert (
        CityFile.model_validate(renamed).checksum() != CityFile.model_validate(city_data).checksum()
    )
