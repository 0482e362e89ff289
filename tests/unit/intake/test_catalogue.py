import yaml

from deploy.local.runner import DEMO_CITY
from services.intake.catalogue import Catalogue, CatalogueFile, check_answers
from services.intake.geo import Point

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
