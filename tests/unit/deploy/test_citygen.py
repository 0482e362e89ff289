"""The city generator (deploy/citygen): deterministic for a seed, Beijing's shape, and a city
the admin API's CSV reader and dispatch's validation accept and route on."""

from __future__ import annotations

import re

import pytest

from deploy.citygen.model import generate, streets_per_district
from deploy.citygen.names import DISTRICTS
from deploy.citygen.write import csv_sections, form_fields
from services.dispatch.domain.city import CityFile, CityModel, read_csv, route
from services.dispatch.domain.city_csv import CSV_COLUMNS


@pytest.fixture(scope="module")
def small():
    return generate(seed=1, scale=0.01)


def test_the_same_seed_gives_the_same_city_and_another_seed_another(small):
    assert csv_sections(generate(seed=1, scale=0.01)) == csv_sections(small)
    assert csv_sections(generate(seed=2, scale=0.01)) != csv_sections(small)


def test_at_full_scale_the_city_has_beijing_s_streets_in_its_16_districts():
    assert sum(streets_per_district(1.0)) == 343
    assert streets_per_district(1.0) == [d[3] for d in DISTRICTS]
    assert {d[1] for d in DISTRICTS} >= {"东城区", "西城区", "朝阳区", "海淀区", "延庆区"}
    assert len(DISTRICTS) == 16


def test_a_small_city_keeps_the_shape_of_each_street(small):
    shape = small.shape()
    assert shape["street"] == 3 and shape["street_office"] == 3
    assert 14 * 3 <= shape["community"] <= 27 * 3  # communities per street as at full size
    assert 4 <= shape["grid"] / shape["community"] <= 10
    assert shape["building"] > 0 and shape["unit"] > 0 and shape["compounds"] > 0
    assert shape["categories"] == 300  # the classification does not scale
    assert shape["catalogue"] == 300 * shape["district"] + 10 * shape["street"]


def test_codes_are_shaped_like_division_codes(small):
    for area in small.areas:
        base = area["code"].split("-")[0]
        assert re.fullmatch(r"11[0-9]{10}", base), area
        if area.get("parent"):
            assert area["code"] != area["parent"]
            assert area["code"].startswith(area["parent"].rstrip("0")[:6])


def test_categories_form_three_levels(small):
    leaves = small.categories
    assert len({c["group"] for c in leaves}) == 12  # 一级
    assert len({(c["group"], c["subgroup"]) for c in leaves}) == 60  # 二级
    for category in leaves:
        first, second, third = category["code"].rsplit("-", 2)[0], *category["code"].split("-")[-2:]
        assert first.isalpha() and second.isdigit() and third.isdigit()
        assert category["keywords"] == [category["name"]]


def test_the_csv_sections_load_as_one_valid_city_that_routes(small):
    sections = csv_sections(small)
    assert set(sections) <= set(CSV_COLUMNS)
    body: dict = {"city": form_fields(small)["city"]}
    for name, text in sections.items():
        body[name] = read_csv(name, text)
    city = CityFile.model_validate(body)
    assert len(city.areas) == len(small.areas)
    assert city.categories[0].model_extra == {
        "group": "房屋住建",
        "subgroup": "房屋质量",
        "keywords": ["屋面渗漏"],
    }
    model = CityModel(city, 1)
    building = next(a["code"] for a in small.areas if a["level"] == "building")
    compound = next(c for c in small.compounds if building.startswith(c["area"]))
    leak = route(model, "housing-01-01", building)  # 屋面渗漏 → the compound's property company
    assert leak.lead.id == compound["property_company"]
    assert leak.co[0].id == f"committee-{building[:12]}"
    theft = route(model, "society-02-03", building)  # 盗窃 → the street's police station
    assert theft.lead.id == f"police-{building[:9]}"
