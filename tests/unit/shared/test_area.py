"""Area codes read from the codes themselves, checked against the demo city's declared tree."""

from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from pydantic import Field, TypeAdapter, ValidationError

from shared.events.area import (
    PATTERN,
    AreaLevel,
    enclosing,
    like_patterns,
    no_finer_than_building,
    parent,
    within,
)

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "local" / "demo_city.yaml"
AREAS: list[dict[str, Any]] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))["areas"]
CODES = [a["code"] for a in AREAS]
DECLARED_PARENT = {a["code"]: a.get("parent") for a in AREAS}
AreaCode = TypeAdapter(Annotated[str, Field(pattern=PATTERN)])


def declared_chain(code: str) -> list[str]:
    """The code and its ancestors as the demo city's file declares them, narrowest first."""
    chain: list[str] = []
    at: str | None = code
    while at is not None:
        chain.append(at)
        at = DECLARED_PARENT[at]
    return chain


def test_every_area_of_the_demo_city_has_a_code_of_the_pattern():
    for code in CODES:
        assert AreaCode.validate_python(code) == code


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "榆山",
        "37012400100",  # eleven digits
        "3701240010011",  # thirteen
        " 370124001001",
        "370124001001\n",
        "370124001001-",
        "370124001001-g01",  # local codes are upper case
        "370124001001-ABCDEFGHI",  # nine characters
        "370124001001-G01-B02-U1-R5",  # a fourth local segment
        "370124001001_G01",
        "３７０１２４００１００１",  # full-width digits
    ],
)
def test_a_malformed_area_code_is_refused(bad):
    with pytest.raises(ValidationError):
        AreaCode.validate_python(bad)


@pytest.mark.parametrize("code", CODES)
def test_a_code_s_parent_is_the_parent_the_demo_city_declares(code):
    assert parent(code) == DECLARED_PARENT[code]


@pytest.mark.parametrize("area", AREAS, ids=lambda a: a["code"])
def test_a_code_encloses_itself_at_its_declared_level_and_its_declared_ancestors(area):
    levels = enclosing(area["code"])
    assert getattr(levels, AreaLevel(area["level"]).value) == area["code"]
    assert levels.codes() == declared_chain(area["code"])


def test_levels_are_read_from_the_statistical_code_and_local_segments():
    unit = enclosing("370124001001-G01-B02-U1")
    assert (unit.district, unit.street, unit.community) == (
        "370124000000",
        "370124001000",
        "370124001001",
    )
    assert unit.grid == "370124001001-G01" and unit.building == "370124001001-G01-B02"
    assert unit.place == "370124001001-G01-B02"
    street = enclosing("370124001000")
    assert (street.street, street.community, street.grid, street.place) == (
        "370124001000",
        None,
        None,
        None,
    )
    assert enclosing("370124001002-G01").place == "370124001002-G01"
    assert enclosing("X-1").district is None and enclosing(None).place is None


def test_a_code_the_city_does_not_list_is_placed_by_its_shape():
    assert parent("370124001001-G01-B09") == "370124001001-G01"
    assert parent("370124001003") == "370124001000"
    assert parent("370124003000") == "370124000000"
    assert parent("370124000000") is None


def test_within_holds_exactly_a_code_s_enclosing_areas_in_the_demo_city():
    for scope in CODES:
        for code in CODES:
            assert within(code, scope) == (scope in enclosing(code).codes()), (code, scope)


def test_a_scope_above_the_district_covers_the_districts_below_it():
    assert like_patterns("370100000000") == ["3701%"]
    assert within("370124001001-G01", "370100000000")
    assert not within("370224001001", "370100000000")


def test_no_scope_is_everywhere_and_no_code_is_nowhere():
    assert within(None, None) and within("370124001001", None)
    assert not within(None, "370124000000") and not within("", "370124000000")


@pytest.mark.parametrize("area", AREAS, ids=lambda a: a["code"])
def test_the_public_area_of_a_code_is_its_building_at_most(area):
    code = area["code"]
    public = no_finer_than_building(code)
    if area["level"] == "unit":
        assert public == DECLARED_PARENT[code] and enclosing(public).unit is None
    else:
        assert public is code  # a building or coarser: the code itself


def test_a_unit_outside_the_city_s_list_is_cut_by_its_shape():
    assert no_finer_than_building("370124001009-G07-B12-U3") == "370124001009-G07-B12"
    assert no_finer_than_building("370124001000") == "370124001000"
