import yaml

from deploy.local.runner import DEMO_CITY
from services.dispatch.domain.city import CityFile, changes_between
from services.intake.domain.catalogue import Catalogue, CatalogueFile, check_answers, follow_changes
from services.intake.domain.geo import Point
from shared.events import CityChange

CATALOGUE = Catalogue(CatalogueFile.model_validate(yaml.safe_load(DEMO_CITY.read_text())), 1)


def test_the_demo_city_asks_questions_of_all_six_open311_datatypes():
    datatypes = {a.datatype for c in CATALOGUE.file.categories for a in c.attributes}
    assert datatypes == {
        "string",
        "number",
        "datetime",
        "text",
        "singlevaluelist",
        "multivaluelist",
    }


def test_answers_are_checked_and_normalised():
    roof = CATALOGUE.categories["roof-leak"]
    clean, problems = check_answers(
        roof, {"floor": "6", "leak_location": "roof", "rooms": ["bedroom", "kitchen"]}
    )
    assert problems == [] and clean["floor"] == 6.0 and clean["rooms"] == ["bedroom", "kitchen"]
    _, problems = check_answers(roof, {"floor": "六楼", "rooms": ["garage"], "colour": "red"})
    joined = " ".join(problems)
    assert "attribute[floor]" in joined and "attribute[rooms]" in joined
    assert "attribute[colour]" in joined and "attribute[leak_location]" in joined  # required


def test_a_place_is_found_by_code_by_name_or_by_coordinates():
    assert CATALOGUE.locate(address_id="370124001002-G01-B02") == "370124001002-G01-B02"
    assert CATALOGUE.locate(address_id="370124999999") is None
    assert CATALOGUE.locate(address="平阴县玫城丽都2号楼1单元602") == "370124001001-G01-B02-U1"
    assert CATALOGUE.locate(address="东关小区北门") == "370124001002-G01"
    assert CATALOGUE.locate(point=Point(36.28505, 116.46895)) == "370124002002-G01"
    assert CATALOGUE.locate(point=Point(39.9, 116.4)) is None  # Beijing is not in this county


def test_grid_and_building_of_an_address_deep_in_the_tree():
    code = "370124001001-G01-B02-U1"
    assert CATALOGUE.place(code, "building") == "370124001001-G01-B02"
    assert CATALOGUE.place(code, "grid") == "370124001001-G01"
    assert CATALOGUE.place("370124001001", "grid") is None


def demo_changes(old: dict | None = None, new: dict | None = None) -> list[CityChange]:
    """The changes dispatch publishes between two bodies of its city model."""
    new = new or CityFile.model_validate(yaml.safe_load(DEMO_CITY.read_text())).body()
    return [
        CityChange(section=c.section, op=c.op, key=c.key, value=c.value)
        for c in changes_between(old, new)
    ]


def test_the_catalogue_followed_from_dispatchs_changes_is_the_city_files():
    followed = CatalogueFile.model_validate(follow_changes(None, demo_changes()))
    assert followed == CATALOGUE.file


def test_a_later_version_puts_removes_and_reorders_only_areas_and_categories():
    old = CityFile.model_validate(yaml.safe_load(DEMO_CITY.read_text())).body()
    new = {**old, "city": "平阴县（新）"}
    new["categories"] = [
        {**c, "keywords": ["积水"]} if c["code"] == "roof-leak" else c
        for c in reversed(old["categories"])
        if c["code"] != "street-lights"
    ]
    new["responders"] = old["responders"][1:]
    body = follow_changes(follow_changes(None, demo_changes()), demo_changes(old, new))
    assert body["city"] == "平阴县（新）"
    assert [c["code"] for c in body["categories"]] == [c["code"] for c in new["categories"]]
    roof = next(c for c in body["categories"] if c["code"] == "roof-leak")
    assert roof["keywords"] == ["积水"]
    assert set(body) == {"city", "areas", "categories"}


def test_a_category_intake_cannot_ask_is_left_out():
    broken = {
        "code": "odd",
        "name": "奇怪",
        "attributes": [{"code": "q", "datatype": "singlevaluelist", "description": "?"}],
    }
    question = {"code": "q", "datatype": "string", "description": "?"}
    twice = {"code": "twice", "name": "两问", "attributes": [question, question]}
    changes = [
        *demo_changes(),
        CityChange(section="categories", op="put", key="odd", value=broken),
        CityChange(section="categories", op="put", key="twice", value=twice),
    ]
    codes = {c["code"] for c in follow_changes(None, changes)["categories"]}
    assert "odd" not in codes and "twice" not in codes and "roof-leak" in codes
