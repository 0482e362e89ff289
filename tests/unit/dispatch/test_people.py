"""People in the grid: 网格长, 楼栋长, 单元长 and 楼管员 in the city model and in routing."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.dispatch.domain.city import (
    KIND_LABELS,
    CityFile,
    CityModel,
    ResponderIn,
    ResponderKind,
    read_csv,
    route,
)
from services.dispatch.domain.people import PEOPLE, PersonIn, assign_people

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "local" / "demo_city.yaml"
UNIT = "370124001001-G01-B02-U1"  # 玫城丽都2号楼1单元
B02 = "370124001001-G01-B02"


@pytest.fixture
def city_data() -> dict:
    data: dict = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def model(city_data) -> CityModel:
    return CityModel(CityFile.model_validate(city_data), version=1)


def problems_of(data) -> str:
    with pytest.raises(ValidationError) as error:
        CityFile.model_validate(data)
    return str(error.value)


def with_unit(city_data: dict, **unit) -> dict:
    return {**city_data, "responders": [*city_data["responders"], unit]}


def test_every_person_is_a_responder_kind_with_its_chinese_name():
    assert {KIND_LABELS[ResponderKind(kind)] for kind in PEOPLE} == {
        "网格长",
        "楼栋长",
        "单元长",
        "楼管员",
    }


# --- routing: 琐事不出楼、小事不出门 ------------------------------------------------------------


def test_corridor_sanitation_goes_to_the_building_head_with_the_building_s_manager(model):
    decision = route(model, "sanitation", UNIT)
    assert (decision.lead.id, decision.lead.kind) == ("head-meicheng-b02", "building_head")
    assert [unit.id for unit in decision.co] == ["manager-meicheng-b02"]
    assert decision.rule_id == "R19"


def test_a_place_above_every_building_has_no_building_head_and_takes_the_broader_rule(model):
    decision = route(model, "sanitation", "370124001001-G01")  # the compound, no building named
    assert (decision.lead.id, decision.rule_id) == ("dept-urban", "R14")


def test_the_old_town_s_grid_head_is_the_nearest_above_its_buildings(model):
    for place in ("370124001001-G02-B01", "370124001001-G02"):
        decision = route(model, "sanitation", place)
        assert (decision.lead.id, decision.rule_id) == ("head-huixianshan-g02", "R22")


def test_a_lift_goes_to_the_building_s_manager_with_the_property_company_beside(model):
    decision = route(model, "elevator", "370124001001-G01-B01")
    assert decision.lead.id == "manager-meicheng-b01" and decision.rule_id == "R20"
    assert [unit.id for unit in decision.co] == ["property-meicheng"]


def test_a_dispute_goes_to_the_unit_head_and_once_returned_to_the_community(model):
    assert route(model, "neighbour-dispute", UNIT).lead.id == "head-meicheng-b02-u1"
    returned = route(model, "neighbour-dispute", UNIT, frozenset({"head-meicheng-b02-u1"}))
    assert (returned.lead.id, returned.rule_id) == ("committee-huixianshan", "R16")
    assert "已排除退单单位" in returned.reason
    # a building with no unit head in another grid: the community as before
    elsewhere = route(model, "neighbour-dispute", "370124001001-G02-B01")
    assert elsewhere.lead.id == "committee-huixianshan"


def test_other_communities_route_as_before(model):
    assert route(model, "sanitation", "370124001002-G01-B01").lead.id == "dept-urban"
    assert route(model, "neighbour-dispute", "370124002001-G01-B02").lead.id == (
        "committee-jinshuiyuan"
    )
    assert route(model, "roof-leak", UNIT).lead.id == "property-meicheng"


# --- validation ---------------------------------------------------------------------------------


def test_a_head_is_a_named_person(city_data):
    data = with_unit(city_data, id="head-x", name="某楼栋长", kind="building_head", areas=[B02])
    assert "responder head-x: a building_head is a named person" in problems_of(data)


def test_a_head_serves_areas_of_its_own_level(city_data):
    data = with_unit(
        city_data, id="head-x", name="某", kind="building_head", areas=[UNIT], person="甲"
    )
    assert f"a building_head serves building areas, not {UNIT}" in problems_of(data)
    data = with_unit(city_data, id="head-y", name="某", kind="grid_head", areas=[B02], person="乙")
    assert f"a grid_head serves grid areas, not {B02}" in problems_of(data)


def test_a_building_manager_works_for_a_property_company(city_data):
    unit = {"id": "manager-x", "name": "楼管员", "kind": "building_manager", "areas": [B02]}
    assert "company None is not a property_company" in problems_of(
        with_unit(city_data, **unit, person="丙")
    )
    assert "company street-yushan is not a property_company" in problems_of(
        with_unit(city_data, **unit, person="丙", company="street-yushan")
    )
    assert CityFile.model_validate(
        with_unit(city_data, **unit, person="丙", company="property-dongguan")
    )


def test_only_a_building_manager_names_a_company(city_data):
    data = with_unit(
        city_data,
        id="grid-x",
        name="网格员",
        kind="grid_worker",
        areas=[B02],
        company="property-meicheng",
    )
    assert "only a building_manager (楼管员) has a company" in problems_of(data)


def test_a_unit_without_a_company_keeps_the_shape_it_was_recorded_with():
    unit = ResponderIn(id="street-yushan", name="榆山街道办事处", kind="street_office", areas=["1"])
    assert "company" not in unit.model_dump(mode="json")
    manager = ResponderIn(
        id="manager-x", name="楼管员", kind="building_manager", areas=["1"], company="property-a"
    )
    assert manager.model_dump(mode="json")["company"] == "property-a"


# --- the people section -------------------------------------------------------------------------

PEOPLE_CSV = """id,kind,person,areas,company
head-meicheng-b02,building_head,王秀英,370124001001-G01-B02,
head-meicheng-b01-u2,unit_head,周淑芬,370124001001-G01-B02-U1,
manager-meicheng-b02,building_manager,高峰,370124001001-G01-B02,property-meicheng
"""


def test_the_people_section_replaces_every_head_and_manager_and_leaves_other_units(city_data):
    rows = read_csv("people", PEOPLE_CSV)
    units = assign_people(city_data, [PersonIn.model_validate(row) for row in rows])
    people = {u["id"]: u for u in units if u["kind"] in PEOPLE}
    assert set(people) == {"head-meicheng-b02", "head-meicheng-b01-u2", "manager-meicheng-b02"}
    assert people["head-meicheng-b02"]["name"] == "玫城丽都2号楼楼栋长", (
        "a known person's name stays"
    )
    assert people["head-meicheng-b01-u2"]["name"] == "玫城丽都2号楼1单元单元长", (
        "named by its place"
    )
    assert people["manager-meicheng-b02"]["company"] == "property-meicheng"
    others = [u["id"] for u in units if u["kind"] not in PEOPLE]
    assert others == [u["id"] for u in city_data["responders"] if u["kind"] not in PEOPLE]


def test_a_city_file_may_list_its_people_apart(city_data):
    data = {
        **city_data,
        "people": [
            {
                "id": "head-cuiping-a",
                "kind": "building_head",
                "person": "吴",
                "areas": ["370124002002-G01-B01"],
            }
        ],
    }
    city = CityFile.model_validate(data)
    heads = [r for r in city.responders if r.kind in PEOPLE]
    assert [(r.id, r.name, r.person) for r in heads] == [
        ("head-cuiping-a", "翠屏花园A座楼栋长", "吴")
    ]


def test_a_people_row_must_be_one_of_the_people():
    with pytest.raises(ValidationError, match="kind must be one of"):
        PersonIn(id="street-x", kind="street_office", person="王", areas=["1"])
