import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.dispatch.domain.city import (
    LEVEL_OF_KIND,
    Change,
    CityFile,
    CityModel,
    CompoundIn,
    Level,
    Responder,
    ResponderIn,
    ResponderKind,
    apply_changes,
    assign_compounds,
    changes_between,
    parts_of,
    read_csv,
    route,
)
from shared.deadlines import PriorityTier
from shared.events.area import AreaLevel, like_patterns

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "local" / "demo_city.yaml"

LEAK_UNIT = "370124001001-G01-B02-U1"  # 玫城丽都2号楼1单元, managed by property-meicheng

AREAS_CSV = """code,name,level,parent
370124000000,平阴县,district,
370124001000,榆山街道,street,370124000000
370124001001,会仙山社区,community,370124001000
370124001001-G01,会仙山社区第一网格,grid,370124001001
"""
RESPONDERS_CSV = """id,name,kind,areas
gov-pingyin,平阴县人民政府,district_government,370124000000
street-yushan,榆山街道办事处,street_office,370124001000
dept-urban,平阴县城市管理局,department,370124000000
property-meicheng,玫城丽都物业服务中心,property_company,370124001001-G01
committee-huixianshan,会仙山社区居委会,community_committee,370124001001
"""
CATEGORIES_CSV = """code,name,priority
roof-leak,房屋漏水,general
gas-leak,燃气泄漏,emergency
"""
CATALOGUE_CSV = """id,category,scope,lead,co,priority,escalate_to
R01,roof-leak,370124000000,@property_company,@community_committee,,dept-urban
"""
SMALL_CITY_YAML = """
city: 小城
areas:
  - {code: "370124000000", name: 平阴县, level: district}
  - {code: "370124001000", name: 榆山街道, level: street, parent: "370124000000"}
  - {code: "370124001001", name: 会仙山社区, level: community, parent: "370124001000"}
  - {code: "370124001001-G01", name: 会仙山社区第一网格, level: grid, parent: "370124001001"}
responders:
  - {id: gov-pingyin, name: 平阴县人民政府, kind: district_government, areas: ["370124000000"]}
  - {id: street-yushan, name: 榆山街道办事处, kind: street_office, areas: ["370124001000"]}
  - {id: dept-urban, name: 平阴县城市管理局, kind: department, areas: ["370124000000"]}
  - {id: property-meicheng, name: 玫城丽都物业服务中心, kind: property_company, areas: ["370124001001-G01"]}
  - {id: committee-huixianshan, name: 会仙山社区居委会, kind: community_committee, areas: ["370124001001"]}
categories:
  - {code: roof-leak, name: 房屋漏水, priority: general}
  - {code: gas-leak, name: 燃气泄漏, priority: emergency}
catalogue:
  - {id: R01, category: roof-leak, scope: "370124000000", lead: "@property_company", co: ["@community_committee"], escalate_to: dept-urban}
"""


@pytest.fixture(scope="module")
def city_data():
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model(city_data):
    return CityModel(CityFile.model_validate(city_data), version=3)


@pytest.fixture
def body(city_data):
    return CityFile.model_validate(city_data).body()


def small_city_from_csv() -> CityFile:
    return CityFile.model_validate(
        {
            "city": "小城",
            "areas": read_csv("areas", AREAS_CSV),
            "responders": read_csv("responders", RESPONDERS_CSV),
            "categories": read_csv("categories", CATEGORIES_CSV),
            "catalogue": read_csv("catalogue", CATALOGUE_CSV),
        }
    )


def like(code: str, pattern: str) -> bool:
    """SQL LIKE, as Postgres reads the patterns: % is any run, _ any one character."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, code) is not None


def matches(code: str, scope: str) -> bool:
    return any(like(code, pattern) for pattern in like_patterns(scope))


def problems_of(data) -> str:
    with pytest.raises(ValidationError) as error:
        CityFile.model_validate(data)
    return str(error.value)


# --- CSV sections ------------------------------------------------------------------------------


def test_an_areas_csv_gives_one_row_per_area_leaving_out_empty_cells():
    rows = read_csv("areas", AREAS_CSV)
    assert rows[0] == {"code": "370124000000", "name": "平阴县", "level": "district"}
    assert rows[1] == {
        "code": "370124001000",
        "name": "榆山街道",
        "level": "street",
        "parent": "370124000000",
    }
    assert len(rows) == 4


def test_a_responder_s_areas_are_split_on_semicolons_bars_and_spaces():
    text = "id,name,kind,areas\nstreet-yushan,榆山街道办事处,street_office, a;b|c  d ;; e\n"
    assert read_csv("responders", text) == [
        {
            "id": "street-yushan",
            "name": "榆山街道办事处",
            "kind": "street_office",
            "areas": ["a", "b", "c", "d", "e"],
        }
    ]


def test_a_responder_serving_one_area_still_has_a_list_of_areas():
    rows = read_csv("responders", RESPONDERS_CSV)
    assert rows[0]["areas"] == ["370124000000"]


def test_a_compounds_csv_names_each_compound_s_managers():
    text = (
        "area,property_company,owners_committee\n"
        "370124001001-G01,property-dongguan,owners-meicheng\n"
        "370124002002-G01,property-cuiping,\n"
    )
    assert read_csv("compounds", text) == [
        {
            "area": "370124001001-G01",
            "property_company": "property-dongguan",
            "owners_committee": "owners-meicheng",
        },
        {"area": "370124002002-G01", "property_company": "property-cuiping"},
    ]


def test_a_categories_csv_keeps_the_priority_as_text_and_other_cells_as_they_are():
    assert read_csv("categories", CATEGORIES_CSV) == [
        {"code": "roof-leak", "name": "房屋漏水", "priority": "general"},
        {"code": "gas-leak", "name": "燃气泄漏", "priority": "emergency"},
    ]


def test_a_catalogue_csv_splits_co_responders_and_leaves_out_empty_cells():
    text = (
        "id,category,scope,lead,co,priority,escalate_to\n"
        "R04,gas-leak,370124000000,util-gas,dept-fire;@street_office,emergency,\n"
        "R06,road-damage,370124000000,dept-municipal,,,dept-urban\n"
    )
    assert read_csv("catalogue", text) == [
        {
            "id": "R04",
            "category": "gas-leak",
            "scope": "370124000000",
            "lead": "util-gas",
            "co": ["dept-fire", "@street_office"],
            "priority": "emergency",
        },
        {
            "id": "R06",
            "category": "road-damage",
            "scope": "370124000000",
            "lead": "dept-municipal",
            "escalate_to": "dept-urban",
        },
    ]


def test_only_responder_areas_and_catalogue_co_are_lists():
    # An area's name with a space in it stays one value.
    rows = read_csv("areas", "code,name,level\n370124000000,Pingyin County,district\n")
    assert rows[0]["name"] == "Pingyin County"


def test_a_byte_order_mark_at_the_start_is_tolerated():
    rows = read_csv("categories", "\ufeff" + CATEGORIES_CSV)
    assert rows[0]["code"] == "roof-leak"
    assert all("\ufeffcode" not in row for row in rows)


def test_cells_are_trimmed_and_blank_rows_are_skipped():
    text = "code,name,priority\n  roof-leak ,  房屋漏水 , general \n,,\n   ,  ,\n"
    assert read_csv("categories", text) == [
        {"code": "roof-leak", "name": "房屋漏水", "priority": "general"}
    ]


def test_a_header_of_only_the_required_columns_is_enough():
    assert read_csv("categories", "code,name\nother,其他\n") == [{"code": "other", "name": "其他"}]


def test_a_missing_required_column_is_refused_with_the_column_named():
    with pytest.raises(ValueError, match=r"areas\.csv .*missing columns: name$"):
        read_csv("areas", "code,level,parent\n370124000000,district,\n")


def test_every_missing_required_column_is_named():
    with pytest.raises(ValueError, match="missing columns: id, name"):
        read_csv("responders", "kind,areas\ndepartment,370124000000\n")


def test_an_empty_csv_is_refused_for_its_missing_columns():
    with pytest.raises(ValueError, match="missing columns: code, name"):
        read_csv("categories", "")


def test_an_unknown_section_is_refused_and_the_known_ones_listed():
    with pytest.raises(ValueError, match="Unknown section") as error:
        read_csv("buildings", "code,name\n")
    assert "areas" in str(error.value) and "compounds" in str(error.value)


def test_header_names_padded_with_spaces_are_tolerated():
    # The rows' column names are trimmed, so a header written "code, name" should do too.
    rows = read_csv("categories", "code, name, priority\nother, 其他, general\n")
    assert rows == [{"code": "other", "name": "其他", "priority": "general"}]


def test_a_compounds_csv_of_owners_committees_only_is_accepted():
    # A compound's property company is optional (CompoundIn), so the column is too.
    rows = read_csv("compounds", "area,owners_committee\n370124001001-G01,owners-meicheng\n")
    assert rows == [{"area": "370124001001-G01", "owners_committee": "owners-meicheng"}]


# --- a city built from CSV ---------------------------------------------------------------------


def test_a_city_from_csv_sections_is_the_city_its_yaml_describes():
    from_csv = small_city_from_csv()
    from_yaml = CityFile.model_validate(yaml.safe_load(SMALL_CITY_YAML))
    assert from_csv.body() == from_yaml.body()
    assert from_csv.checksum() == from_yaml.checksum()


def test_a_city_from_csv_routes_by_its_catalogue():
    city = small_city_from_csv()
    decision = route(CityModel(city, version=1), "roof-leak", "370124001001-G01")
    assert decision.lead.id == "property-meicheng"
    assert [unit.id for unit in decision.co] == ["committee-huixianshan"]
    assert decision.rule_id == "R01"
    assert decision.priority == PriorityTier.GENERAL


def test_a_city_from_csv_sends_an_uncatalogued_category_to_the_street_office():
    decision = route(CityModel(small_city_from_csv(), version=1), "gas-leak", "370124001001-G01")
    assert decision.lead.id == "street-yushan"
    assert decision.rule_id is None
    assert decision.priority == PriorityTier.EMERGENCY


def test_a_city_from_csv_escalates_to_the_rule_s_department():
    model = CityModel(small_city_from_csv(), version=1)
    assert model.escalation_target("370124001001-G01", "R01", Level.STREET) == (
        Level.DEPARTMENT,
        model.responders["dept-urban"],
    )


def test_a_csv_row_with_a_bad_value_is_refused_when_the_city_is_validated():
    rows = read_csv("areas", AREAS_CSV.replace("grid,", "village,"))
    with pytest.raises(ValidationError):
        CityFile.model_validate(
            {
                "city": "小城",
                "areas": rows,
                "responders": read_csv("responders", RESPONDERS_CSV),
                "categories": read_csv("categories", CATEGORIES_CSV),
            }
        )


# --- compounds (小区) and their managers -------------------------------------------------------


def _meicheng_also_serves_the_old_town(city_data):
    responders = copy.deepcopy(city_data["responders"])
    for unit in responders:
        if unit["id"] == "property-meicheng":
            unit["areas"] = [*unit["areas"], "370124001001-G02"]
    return {**city_data, "responders": responders}


def test_a_compound_given_to_a_new_property_company_leaves_the_old_one(city_data):
    compounds = [{"area": "370124001001-G01", "property_company": "property-dongguan"}]
    city = CityFile.model_validate(
        {**_meicheng_also_serves_the_old_town(city_data), "compounds": compounds}
    )
    served = {r.id: r.areas for r in city.responders}
    assert served["property-dongguan"] == ["370124001002-G01", "370124001001-G01"]
    assert served["property-meicheng"] == ["370124001001-G02"]


def test_a_unit_a_compound_change_would_leave_without_any_area_is_not_dropped_silently(city_data):
    compounds = [{"area": "370124001001-G01", "property_company": "property-dongguan"}]
    with pytest.raises(ValidationError, match=r"property-meicheng.*would serve no area"):
        CityFile.model_validate({**city_data, "compounds": compounds})


def test_after_a_change_of_property_company_a_leak_goes_to_the_new_one(city_data):
    compounds = [{"area": "370124001001-G01", "property_company": "property-dongguan"}]
    body = {**_meicheng_also_serves_the_old_town(city_data), "compounds": compounds}
    model = CityModel(CityFile.model_validate(body), version=4)
    decision = route(model, "roof-leak", LEAK_UNIT)
    assert decision.lead.id == "property-dongguan"
    assert decision.rule_id == "R01"


def test_a_compound_s_owners_committee_replaces_the_old_one(city_data):
    compounds = [{"area": "370124001001-G01", "owners_committee": "owners-cuiping"}]
    responders = [r for r in city_data["responders"] if r["id"] != "owners-meicheng"]
    body = {**city_data, "responders": responders, "compounds": compounds}
    model = CityModel(CityFile.model_validate(body), version=4)
    decision = route(model, "property-service", LEAK_UNIT)
    assert decision.lead.id == "property-meicheng"  # the property company is left alone
    assert [unit.id for unit in decision.co] == ["owners-cuiping"]
    assert "owners-meicheng" not in model.responders


def test_a_compound_its_company_already_serves_changes_nothing(city_data):
    compounds = [{"area": "370124001001-G01", "property_company": "property-meicheng"}]
    city = CityFile.model_validate({**city_data, "compounds": compounds})
    assert city.body() == CityFile.model_validate(city_data).body()


def test_a_compound_naming_an_unknown_responder_is_refused(city_data):
    compounds = [{"area": "370124001001-G01", "property_company": "property-nobody"}]
    message = problems_of({**city_data, "compounds": compounds})
    assert "compound 370124001001-G01: unknown responder property-nobody" in message


def test_a_compound_with_a_malformed_area_code_is_refused(city_data):
    compounds = [{"area": "玫城丽都", "property_company": "property-meicheng"}]
    with pytest.raises(ValidationError):
        CityFile.model_validate({**city_data, "compounds": compounds})


def test_a_compound_whose_area_the_city_does_not_list_is_refused(city_data):
    compounds = [{"area": "370124001001-G09", "property_company": "property-meicheng"}]
    message = problems_of({**city_data, "compounds": compounds})
    assert "responder property-meicheng: unknown area 370124001001-G09" in message


def test_a_compound_s_property_company_must_be_a_property_company(city_data):
    # Naming the street office as the property company would silently hand it the compound
    # and take the compound away from its real property company.
    compounds = [{"area": "370124001001-G01", "property_company": "street-yushan"}]
    with pytest.raises(ValidationError):
        CityFile.model_validate({**city_data, "compounds": compounds})


def test_assigning_compounds_leaves_the_given_responders_untouched(city_data):
    given = _meicheng_also_serves_the_old_town(city_data)["responders"]
    responders = copy.deepcopy(given)
    assign_compounds(
        responders, [CompoundIn(area="370124001001-G01", property_company="property-dongguan")]
    )
    assert responders == given


def test_assigning_compounds_accepts_validated_responders():
    responders = [
        ResponderIn(id="property-a", name="甲物业", kind="property_company", areas=["1-G01", "1"]),
        ResponderIn(id="property-b", name="乙物业", kind="property_company", areas=["2"]),
        ResponderIn(id="committee-a", name="甲社区", kind="community_committee", areas=["1-G01"]),
    ]
    units = assign_compounds(
        responders, [CompoundIn(area="370124001001-G01", property_company="property-b")]
    )
    assert [u["areas"] for u in units] == [["1-G01", "1"], ["2", "370124001001-G01"], ["1-G01"]]


def test_a_compound_leaves_only_units_of_the_kind_it_names():
    g01 = "370124001001-G01"
    responders = [
        {"id": "property-a", "name": "甲", "kind": "property_company", "areas": [g01, "9"]},
        {"id": "property-b", "name": "乙", "kind": "property_company", "areas": ["2"]},
        {"id": "grid-a", "name": "网格员", "kind": "grid_worker", "areas": [g01]},
    ]
    compound = CompoundIn(area=g01, property_company="property-b")
    units = {u["id"]: u["areas"] for u in assign_compounds(responders, [compound])}
    assert units == {"property-a": ["9"], "property-b": ["2", g01], "grid-a": [g01]}


# --- validation of the whole city --------------------------------------------------------------


def test_a_duplicate_responder_id_is_refused(city_data):
    twice = {**city_data, "responders": [*city_data["responders"], city_data["responders"][1]]}
    assert "responders: duplicate id street-yushan" in problems_of(twice)


def test_a_duplicate_area_code_is_refused(city_data):
    twice = {**city_data, "areas": [*city_data["areas"], city_data["areas"][0]]}
    assert "areas: duplicate code 370124000000" in problems_of(twice)


def test_duplicate_rule_ids_are_refused_with_every_duplicate_named(city_data):
    catalogue = [*city_data["catalogue"], city_data["catalogue"][2], city_data["catalogue"][0]]
    assert "catalogue: duplicate id R01, R03" in problems_of({**city_data, "catalogue": catalogue})


def test_a_duplicate_category_code_is_refused(city_data):
    categories = [*city_data["categories"], {"code": "other", "name": "其他2"}]
    assert "categories: duplicate code other" in problems_of(
        {**city_data, "categories": categories}
    )


def _with_r06(city_data, **changes):
    catalogue = [dict(r, **changes) if r["id"] == "R06" else r for r in city_data["catalogue"]]
    return {**city_data, "catalogue": catalogue}


def test_escalating_to_a_street_office_is_refused(city_data):
    message = problems_of(_with_r06(city_data, escalate_to="street-yushan"))
    assert "rule R06: escalate_to street-yushan is not a department" in message


def test_escalating_to_an_unknown_unit_is_refused(city_data):
    message = problems_of(_with_r06(city_data, escalate_to="dept-nobody"))
    assert "rule R06: escalate_to dept-nobody is not a department" in message


def test_escalating_to_the_district_government_is_refused(city_data):
    message = problems_of(_with_r06(city_data, escalate_to="gov-pingyin"))
    assert "escalate_to gov-pingyin is not a department" in message


def test_escalating_to_a_department_or_a_utility_is_accepted(city_data):
    CityFile.model_validate(_with_r06(city_data, escalate_to="dept-urban"))
    CityFile.model_validate(_with_r06(city_data, escalate_to="util-water"))


def test_time_limits_for_a_category_the_city_does_not_have_are_refused(city_data):
    limits = {"categories": {"ufo-sighting": {"feedback": "1h"}}}
    message = problems_of({**city_data, "time_limits": limits})
    assert "time_limits: unknown category ufo-sighting" in message


def test_time_limits_for_a_known_category_are_accepted(city_data):
    limits = {"categories": {"elevator": {"feedback": "4h"}}}
    city = CityFile.model_validate({**city_data, "time_limits": limits})
    assert city.time_limits.for_order(PriorityTier.UTILITY, "elevator", "dispatch").feedback == (
        "4h"
    )


def test_an_area_with_an_unknown_parent_and_a_unit_serving_an_unknown_area_are_refused(city_data):
    areas = [
        *city_data["areas"],
        {"code": "370124003000", "name": "X", "level": "street", "parent": "370124999000"},
    ]
    responders = [
        *city_data["responders"],
        {"id": "street-x", "name": "X街道", "kind": "street_office", "areas": ["370124004000"]},
    ]
    message = problems_of({**city_data, "areas": areas, "responders": responders})
    assert "area 370124003000: unknown parent 370124999000" in message
    assert "responder street-x: unknown area 370124004000" in message


def test_a_rule_whose_scope_the_city_does_not_list_is_refused(city_data):
    message = problems_of(_with_r06(city_data, scope="370124009000"))
    assert "rule R06: unknown scope area 370124009000" in message


def test_a_placeholder_must_name_a_kind_of_responder(city_data):
    message = problems_of(_with_r06(city_data, lead="@mayor"))
    assert "rule R06: unknown responder @mayor" in message


def test_a_city_needs_at_least_one_area_responder_and_category(city_data):
    for section in ("areas", "responders", "categories"):
        with pytest.raises(ValidationError):
            CityFile.model_validate({**city_data, section: []})


def test_a_city_without_a_catalogue_is_valid_and_sends_everything_to_the_street(city_data):
    model = CityModel(CityFile.model_validate({**city_data, "catalogue": []}), version=1)
    assert route(model, "roof-leak", LEAK_UNIT).lead.id == "street-yushan"


# --- versions as changes -----------------------------------------------------------------------


def test_identical_bodies_have_no_changes(body):
    assert changes_between(body, copy.deepcopy(body)) == []


def test_a_renamed_area_is_one_put_of_that_area(body):
    new = copy.deepcopy(body)
    new["areas"][1]["name"] = "榆山街道（新）"
    assert changes_between(body, new) == [Change("areas", "put", "370124001000", new["areas"][1])]


def test_an_added_responder_is_one_put_of_it(body):
    unit = {"id": "dept-water", "name": "水务局", "kind": "department", "areas": ["370124000000"]}
    new = copy.deepcopy(body)
    new["responders"].append(unit)
    assert changes_between(body, new) == [Change("responders", "put", "dept-water", unit)]


def test_a_removed_rule_is_one_remove_without_a_value(body):
    new = copy.deepcopy(body)
    new["catalogue"] = [r for r in new["catalogue"] if r["id"] != "R17"]
    assert changes_between(body, new) == [Change("catalogue", "remove", "R17")]
    assert changes_between(body, new)[0].value is None


def test_a_renamed_city_is_one_settings_change(body):
    new = {**copy.deepcopy(body), "city": "济南市平阴县（新）"}
    assert changes_between(body, new) == [Change("settings", "put", "city", "济南市平阴县（新）")]


def test_changed_time_limits_are_one_settings_change_with_the_whole_settings(body):
    new = CityFile.model_validate({**body, "time_limits": {"warn_at": 0.9}}).body()
    changes = changes_between(body, new)
    assert changes == [Change("settings", "put", "time_limits", new["time_limits"])]
    assert changes[0].value["warn_at"] == 0.9


def test_changes_come_settings_first_then_section_by_section_puts_before_removes(body):
    new = copy.deepcopy(body)
    new["city"] = "新城"
    new["catalogue"] = [r for r in new["catalogue"] if r["id"] != "R01"]
    new["catalogue"].append({**body["catalogue"][0], "id": "R99"})
    new["areas"][0]["name"] = "平阴"
    assert [(c.section, c.op, c.key) for c in changes_between(body, new)] == [
        ("settings", "put", "city"),
        ("areas", "put", "370124000000"),
        ("catalogue", "put", "R99"),
        ("catalogue", "remove", "R01"),
    ]


def test_a_first_version_is_every_item_put(body):
    changes = changes_between(None, body)
    assert {c.op for c in changes} == {"put"}
    assert len(changes) == 2 + sum(
        len(body[s])
        for s in ("areas", "responders", "categories", "catalogue", "registrations", "duty_rota")
    )


def test_a_first_version_is_rebuilt_from_its_changes(body):
    assert apply_changes(None, changes_between(None, body)) == body


def _edits(body):
    """Several new versions of `body`, each validated and normalised."""
    removed_rule = copy.deepcopy(body)
    removed_rule["catalogue"] = [r for r in removed_rule["catalogue"] if r["id"] != "R12"]

    removed_category = copy.deepcopy(body)
    removed_category["categories"] = [
        c for c in removed_category["categories"] if c["code"] != "street-lights"
    ]
    removed_category["catalogue"] = [
        r for r in removed_category["catalogue"] if r["category"] != "street-lights"
    ]

    added_unit = copy.deepcopy(body)
    added_unit["responders"].append(
        {"id": "dept-water", "name": "水务局", "kind": "department", "areas": ["370124000000"]}
    )
    added_unit["catalogue"][5]["escalate_to"] = "dept-water"

    renamed = copy.deepcopy(body)
    renamed["city"] = "平阴县"
    renamed["areas"][3]["name"] = "会仙山"
    renamed["time_limits"] = {"days": "working", "warn_at": 0.75}

    removed_area = copy.deepcopy(body)
    removed_area["areas"] = [
        a for a in removed_area["areas"] if a["code"] != "370124002002-G02-B01"
    ]

    return [
        CityFile.model_validate(edit).body()
        for edit in (removed_rule, removed_category, added_unit, renamed, removed_area)
    ]


def test_each_edited_version_is_rebuilt_from_the_old_one_and_its_changes(body):
    for new in _edits(body):
        assert apply_changes(body, changes_between(body, new)) == new


def test_a_chain_of_versions_is_rebuilt_from_the_chain_of_changes(body):
    def edited(previous, edit):
        new = copy.deepcopy(previous)
        edit(new)
        return CityFile.model_validate(new).body()

    v2 = edited(body, lambda b: b.update(catalogue=[r for r in b["catalogue"] if r["id"] != "R12"]))
    v3 = edited(v2, lambda b: b.update(city="平阴县", time_limits={"days": "working"}))
    v4 = edited(
        v3,
        lambda b: b["responders"].append(
            {"id": "dept-water", "name": "水务局", "kind": "department", "areas": ["370124000000"]}
        ),
    )
    v5 = edited(v4, lambda b: b["areas"][2].update(name="锦水"))
    rebuilt = None
    for new in (body, v2, v3, v4, v5):
        rebuilt = apply_changes(rebuilt, changes_between(rebuilt, new))
        assert rebuilt == new


def test_a_rebuilt_version_validates_to_the_same_checksum(body):
    for new in _edits(body):
        rebuilt = apply_changes(body, changes_between(body, new))
        assert (
            CityFile.model_validate(rebuilt).checksum() == CityFile.model_validate(new).checksum()
        )


def test_applying_changes_leaves_the_old_body_untouched(body):
    before = copy.deepcopy(body)
    for new in _edits(body):
        apply_changes(body, changes_between(body, new))
    assert body == before


def test_a_responder_inserted_among_the_others_is_rebuilt_in_its_place(body):
    # Order matters: `nearest` takes the first unit of a kind serving an area and the checksum
    # covers the order, so a version rebuilt from its change events (city_at) must keep it.
    new = copy.deepcopy(body)
    at = next(i for i, r in enumerate(new["responders"]) if r["id"] == "property-meicheng")
    new["responders"].insert(
        at,
        {
            "id": "property-newco",
            "name": "新物业",
            "kind": "property_company",
            "areas": ["370124001001-G01"],
        },
    )
    new = CityFile.model_validate(new).body()
    rebuilt = CityFile.model_validate(apply_changes(body, changes_between(body, new)))
    assert route(CityModel(rebuilt, 2), "roof-leak", LEAK_UNIT).lead.id == (
        route(CityModel(CityFile.model_validate(new), 2), "roof-leak", LEAK_UNIT).lead.id
    )
    assert rebuilt.checksum() == CityFile.model_validate(new).checksum()


def test_a_removal_of_an_item_that_is_not_there_is_ignored(body):
    assert apply_changes(body, [Change("catalogue", "remove", "R404")]) == body


# --- area codes as SQL LIKE patterns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "patterns"),
    [
        ("370124000000", ["370124%"]),
        ("370124001000", ["370124001%"]),
        ("370124001001", ["370124001001%"]),
        ("370124001001-G01", ["370124001001-G01", "370124001001-G01-%"]),
        ("370124001001-G01-B02", ["370124001001-G01-B02", "370124001001-G01-B02-%"]),
        ("370100000000", ["3701%"]),
        ("370000000000", ["37%"]),
        ("370124010000", ["370124010%"]),
    ],
)
def test_an_area_code_becomes_the_like_patterns_of_it_and_everything_below(scope, patterns):
    assert like_patterns(scope) == patterns


def test_a_street_s_pattern_matches_its_communities_and_their_grids_but_not_another_street():
    street = "370124001000"
    assert matches("370124001000", street)
    assert matches("370124001001", street)
    assert matches("370124001002-G01-B01", street)
    assert not matches("370124002001", street)
    assert not matches("370124002000", street)


def test_a_district_s_pattern_matches_both_streets_but_not_another_district():
    assert matches("370124001001-G01", "370124000000")
    assert matches("370124002002", "370124000000")
    assert not matches("370125001001", "370124000000")


def test_a_community_s_pattern_matches_its_grids_but_not_its_neighbour():
    assert matches("370124001001-G02-B01", "370124001001")
    assert not matches("370124001002", "370124001001")


def test_a_grid_s_patterns_match_its_buildings_but_not_a_grid_whose_code_starts_the_same():
    grid = "370124001001-G01"
    assert matches(grid, grid)
    assert matches("370124001001-G01-B02-U1", grid)
    assert not matches("370124001001-G010", grid)
    assert not matches("370124001001-G02-B01", grid)
    assert not matches("370124001001", grid)


def test_the_like_patterns_agree_with_the_model_s_idea_of_within(model):
    codes = list(model.parents)
    for scope in codes:
        for code in codes:
            assert matches(code, scope) == model.within(code, scope), (code, scope)


# --- the model's areas and units ---------------------------------------------------------------


def test_an_area_is_within_itself_and_everything_above_it(model):
    assert model.within(LEAK_UNIT, LEAK_UNIT)
    assert model.within(LEAK_UNIT, "370124001001-G01")
    assert model.within(LEAK_UNIT, "370124001000")
    assert model.within(LEAK_UNIT, "370124000000")


def test_an_area_is_not_within_a_sibling_or_below_it(model):
    assert not model.within(LEAK_UNIT, "370124002000")
    assert not model.within(LEAK_UNIT, "370124001001-G02")
    assert not model.within("370124001000", "370124001001")


def test_an_unlisted_code_is_within_the_areas_its_shape_places_it_in(model):
    assert model.within("370124001001-G01-B09", "370124001001-G01")
    assert model.within("370124001099", "370124001000")
    assert not model.within("370124001099", "370124002000")


def test_the_enclosing_community_and_district_of_a_unit(model):
    assert model.enclosing(LEAK_UNIT, AreaLevel.COMMUNITY) == "370124001001"
    assert model.enclosing(LEAK_UNIT, AreaLevel.STREET) == "370124001000"
    assert model.enclosing(LEAK_UNIT, AreaLevel.DISTRICT) == "370124000000"
    assert model.enclosing(LEAK_UNIT, AreaLevel.UNIT) == LEAK_UNIT


def test_an_area_above_the_level_asked_for_has_no_enclosing_area_of_it(model):
    assert model.enclosing("370124001000", AreaLevel.COMMUNITY) is None
    assert model.enclosing("370124000000", AreaLevel.DISTRICT) == "370124000000"


def test_an_area_outside_the_city_has_no_enclosing_area(model):
    assert model.enclosing("110105001001", AreaLevel.DISTRICT) is None


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        (ResponderKind.DISTRICT_GOVERNMENT, Level.DISTRICT),
        (ResponderKind.STREET_OFFICE, Level.STREET),
        (ResponderKind.DEPARTMENT, Level.DEPARTMENT),
        (ResponderKind.UTILITY, Level.DEPARTMENT),
        (ResponderKind.PROPERTY_COMPANY, Level.COMMUNITY),
        (ResponderKind.OWNERS_COMMITTEE, Level.COMMUNITY),
        (ResponderKind.COMMUNITY_COMMITTEE, Level.COMMUNITY),
        (ResponderKind.GRID_WORKER, Level.COMMUNITY),
        (ResponderKind.SOCIAL_ORGANISATION, Level.COMMUNITY),
    ],
)
def test_each_kind_of_unit_works_at_its_rung_of_the_ladder(kind, level):
    assert Responder("x", "X", kind).level is level
    assert LEVEL_OF_KIND.get(kind, Level.COMMUNITY) is level


def test_the_demo_city_s_units_stand_on_the_expected_rungs(model):
    assert model.responders["gov-pingyin"].level is Level.DISTRICT
    assert model.responders["street-jinshui"].level is Level.STREET
    assert model.responders["util-gas"].level is Level.DEPARTMENT
    assert model.responders["grid-cuiping-2"].level is Level.COMMUNITY


def test_the_rungs_are_labelled_in_chinese():
    assert [level.label for level in Level] == ["社区", "街道", "区县部门", "区县政府"]


# --- escalation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def escalating(city_data):
    """The demo city with R01 (roof leaks) escalating to the housing bureau."""
    catalogue = [
        dict(r, escalate_to="dept-housing") if r["id"] == "R01" else r
        for r in city_data["catalogue"]
    ]
    return CityModel(CityFile.model_validate({**city_data, "catalogue": catalogue}), version=4)


def test_a_breach_at_the_community_escalates_to_the_street_office(escalating):
    assert escalating.escalation_target(LEAK_UNIT, "R01", Level.COMMUNITY) == (
        Level.STREET,
        escalating.responders["street-yushan"],
    )


def test_a_breach_at_the_street_escalates_to_the_rule_s_department(escalating):
    assert escalating.escalation_target(LEAK_UNIT, "R01", Level.STREET) == (
        Level.DEPARTMENT,
        escalating.responders["dept-housing"],
    )


def test_without_an_escalation_department_the_street_s_breach_goes_to_the_district_government(
    model,
):
    target = model.escalation_target(LEAK_UNIT, "R01", Level.STREET)
    assert target == (Level.DISTRICT, model.responders["gov-pingyin"])
    assert model.escalation_target(LEAK_UNIT, None, Level.STREET) == target
    assert model.escalation_target(LEAK_UNIT, "R404", Level.STREET) == target


def test_a_department_s_breach_goes_to_the_district_government(escalating):
    assert escalating.escalation_target(LEAK_UNIT, "R01", Level.DEPARTMENT) == (
        Level.DISTRICT,
        escalating.responders["gov-pingyin"],
    )


def test_there_is_nothing_above_the_district_government(escalating):
    assert escalating.escalation_target(LEAK_UNIT, "R01", Level.DISTRICT) is None


def test_the_street_office_escalated_to_is_the_area_s_own(model):
    level, unit = model.escalation_target("370124002002-G01", None, Level.COMMUNITY)
    assert (level, unit.id) == (Level.STREET, "street-jinshui")


def test_an_area_without_a_street_office_escalates_from_the_community_to_the_government(model):
    assert model.escalation_target("110105001001", None, Level.COMMUNITY) == (
        Level.DISTRICT,
        model.responders["gov-pingyin"],
    )


# --- routing around units that returned the case (退单) ----------------------------------------


def test_without_exclusions_the_reason_does_not_mention_returns(model):
    assert "已排除退单单位" not in route(model, "roof-leak", LEAK_UNIT).reason


def test_excluding_the_property_company_falls_back_to_the_street_office(model):
    decision = route(model, "roof-leak", LEAK_UNIT, exclude=frozenset({"property-meicheng"}))
    assert decision.lead.id == "street-yushan"
    assert decision.rule_id is None
    assert decision.co == ()
    assert "已排除退单单位" in decision.reason


def test_excluding_the_property_company_and_the_street_office_falls_to_the_government(model):
    decision = route(
        model, "roof-leak", LEAK_UNIT, exclude=frozenset({"property-meicheng", "street-yushan"})
    )
    assert decision.lead.id == "gov-pingyin"
    assert decision.lead.kind is ResponderKind.DISTRICT_GOVERNMENT
    assert "兜底" in decision.reason


def test_excluding_a_narrow_rule_s_lead_falls_back_to_the_broader_rule(model):
    decision = route(model, "parking", "370124001001-G01", exclude=frozenset({"property-meicheng"}))
    assert decision.rule_id == "R08"
    assert decision.lead.id == "dept-urban"
    assert [unit.id for unit in decision.co] == ["street-yushan"]
    assert "已排除退单单位" in decision.reason


def test_excluding_a_unit_the_rule_names_outright_falls_back_to_the_street_office(model):
    decision = route(model, "water-supply", "370124002001", exclude=frozenset({"util-water"}))
    assert decision.lead.id == "street-jinshui"
    assert "已排除退单单位" in decision.reason


def test_excluding_a_unit_that_is_not_the_lead_changes_nothing_but_the_reason(model):
    plain = route(model, "roof-leak", LEAK_UNIT)
    passed = route(model, "roof-leak", LEAK_UNIT, exclude=frozenset({"dept-fire"}))
    assert (passed.lead, passed.co, passed.rule_id) == (plain.lead, plain.co, plain.rule_id)


# --- a large city's versions as parts ----------------------------------------------------------


def test_a_long_new_order_travels_in_pieces_that_apply_in_the_order_given():
    units = [{"id": f"u{i:05d}", "kind": "grid_worker"} for i in range(5000)]
    before = {"responders": units}
    after = {"responders": [units[-1], *units[:-1]]}  # the last unit moves to the front
    changes = changes_between(before, after)
    pieces = [c for c in changes if c.op == "order"]
    assert len(pieces) == 3 and all(len(c.value) <= 2000 for c in pieces)
    assert [u["id"] for u in apply_changes(before, changes)["responders"]] == [
        u["id"] for u in after["responders"]
    ]


def test_parts_stay_under_the_broker_s_message_size():
    names = [{"code": f"1101010{i:05d}", "name": "很长的社区名称" * 40} for i in range(1000)]
    changes = changes_between(None, {"areas": names})
    parts = parts_of(changes)
    assert len(parts) > 1 and [c for part in parts for c in part] == changes
    for part in parts:
        assert len(json.dumps([c.value for c in part], ensure_ascii=False).encode()) < 1_000_000
    assert all(len(part) <= 500 for part in parts_of(changes * 20))
