"""A Beijing-size city model, generated from a seed: its sections as rows (the CSV sections
the admin API takes, lists as Python lists).

Shape at scale 1.0 (the counts of a run are in `shape()`): 16 districts, 343 streets and towns
(街道/镇/乡), ≈ 7,000 communities (社区/村), ≈ 50,000 grids. Of the grids, those of a 社区 are
mostly compounds (小区) with 1–3 buildings; one building in ten has units. That is ≈ 45,000
buildings and ≈ 9,000 units: enough buildings to route on @property_company and building
heads, while the model (≈ 110,000 areas, ≈ 65,000 units of responders) stays loadable in a few
hundred MB (README: "A Beijing-size city"). Scale shrinks the number of streets and keeps the
shape of each street (communities per street, grids per community), so `--scale 0.01` is three
streets that look like the full city's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from deploy.citygen.names import DISTRICTS, Names, ordinal
from deploy.citygen.taxonomy import DEPARTMENTS, TAXONOMY, UTILITIES

CITY = "北京市"
STREETS = sum(d[3] for d in DISTRICTS)  # 343
COMMUNITIES_PER_STREET = (14, 27)  # ≈ 20.5 → ≈ 7,000
GRIDS_PER_COMMUNITY = (4, 10)  # ≈ 7 → ≈ 50,000
COMPOUND_SHARE = 0.7  # of a 社区's grids
BUILDINGS_PER_COMPOUND = (1, 3)
UNITS_SHARE = 0.1  # of buildings, with 2–3 units each
COMPOUNDS_PER_COMPANY = 8  # a property company manages several compounds of a district
OWNERS_COMMITTEE_SHARE = 0.3  # of compounds
POLICE_CATEGORIES = {"治安", "养犬管理"}  # 二级 whose street rule leads to the street's 派出所


@dataclass
class City:
    name: str
    areas: list[dict[str, Any]] = field(default_factory=list)
    responders: list[dict[str, Any]] = field(default_factory=list)
    compounds: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    catalogue: list[dict[str, Any]] = field(default_factory=list)

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "areas": self.areas,
            "responders": self.responders,
            "compounds": self.compounds,
            "categories": self.categories,
            "catalogue": self.catalogue,
        }

    def shape(self) -> dict[str, int]:
        """How many of each level, kind and section the city has."""
        counts: dict[str, int] = {}
        for area in self.areas:
            counts[area["level"]] = counts.get(area["level"], 0) + 1
        for unit in self.responders:
            counts[unit["kind"]] = counts.get(unit["kind"], 0) + 1
        return counts | {
            "areas": len(self.areas),
            "responders": len(self.responders),
            "compounds": len(self.compounds),
            "categories": len(self.categories),
            "catalogue": len(self.catalogue),
        }


def streets_per_district(scale: float) -> list[int]:
    """The 343 streets scaled, shared among the districts by their real shares (largest
    remainder); at least two streets in all."""
    total = max(2, round(STREETS * scale))
    exact = [d[3] * total / STREETS for d in DISTRICTS]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(DISTRICTS)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def generate(seed: int = 1, scale: float = 1.0) -> City:
    rng = random.Random(seed)
    names = Names(rng)
    city = City(CITY)
    for district, streets in zip(DISTRICTS, streets_per_district(scale), strict=True):
        if streets:
            _district(city, rng, names, district, streets)
    for key, (unit_id, unit_name) in UTILITIES.items():
        districts = [a["code"] for a in city.areas if a["level"] == "district"]
        city.responders.append(_unit(unit_id, unit_name, "utility", districts, names))
        del key
    _categories(city)
    _catalogue(city)
    return city


def _unit(
    unit_id: str, name: str, kind: str, areas: list[str], names: Names | None = None
) -> dict[str, Any]:
    unit: dict[str, Any] = {"id": unit_id, "name": name, "kind": kind, "areas": areas}
    if names is not None:
        unit["person"] = names.person()
    return unit


def _centre(rng: random.Random, lat: float, lon: float, spread: float) -> tuple[float, float]:
    return round(rng.gauss(lat, spread), 5), round(rng.gauss(lon, spread), 5)


def _district(
    city: City,
    rng: random.Random,
    names: Names,
    district: tuple[str, str, str, int, tuple[float, float], bool],
    streets: int,
) -> None:
    prefix, name, slug, _, (lat, lon), urban = district
    code = prefix + "000000"
    city.areas.append({"code": code, "name": name, "level": "district"})
    city.responders.append(
        _unit(f"gov-{slug}", f"{name}人民政府", "district_government", [code], names)
    )
    for key, dept in DEPARTMENTS.items():
        city.responders.append(
            _unit(f"dept-{slug}-{key}", name + dept, "department", [code], names)
        )
    companies: list[dict[str, Any]] = []
    numbers = {"街道": 1, "镇": 100, "乡": 200}
    for index in range(streets):
        kind = "街道" if urban or index < streets // 3 else ("镇" if index < streets - 2 else "乡")
        street_code = f"{prefix}{numbers[kind]:03d}000"
        numbers[kind] += 1
        street_name = names.place(kind)
        city.areas.append(
            {"code": street_code, "name": street_name, "level": "street", "parent": code}
        )
        office = f"{street_name}办事处" if kind == "街道" else f"{street_name}人民政府"
        short = street_code[:9]
        city.responders.append(
            _unit(f"street-{short}", office, "street_office", [street_code], names)
        )
        city.responders.append(
            _unit(
                f"police-{short}",
                f"北京市公安局{name[:-1]}分局{street_name[:-2] if kind == '街道' else street_name[:-1]}派出所",
                "department",
                [street_code],
            )
        )
        _street(city, rng, names, street_code, kind, (lat, lon), urban, slug, companies)


def _street(
    city: City,
    rng: random.Random,
    names: Names,
    street_code: str,
    kind: str,
    centre: tuple[float, float],
    urban: bool,
    slug: str,
    companies: list[dict[str, Any]],
) -> None:
    spread = 0.04 if urban else 0.12
    village_share = {"街道": 0.0, "镇": 0.7, "乡": 1.0}[kind]
    communities = rng.randint(*COMMUNITIES_PER_STREET)
    neighbourhoods, villages = 1, 200
    for _ in range(communities):
        village = rng.random() < village_share
        number = villages if village else neighbourhoods
        if village:
            villages += 1
        else:
            neighbourhoods += 1
        code = street_code[:9] + f"{number:03d}"
        name = names.place("村" if village else "社区")
        lat, lon = _centre(rng, *centre, spread)
        city.areas.append(
            {
                "code": code,
                "name": name,
                "level": "community",
                "parent": street_code,
                "latitude": lat,
                "longitude": lon,
            }
        )
        committee = f"{name}村民委员会" if village else f"{name}居委会"
        city.responders.append(
            _unit(f"committee-{code}", committee, "community_committee", [code], names)
        )
        for g in range(1, rng.randint(*GRIDS_PER_COMMUNITY) + 1):
            _grid(city, rng, names, code, name, g, (lat, lon), not village, slug, companies)


def _grid(
    city: City,
    rng: random.Random,
    names: Names,
    community: str,
    community_name: str,
    number: int,
    centre: tuple[float, float],
    may_be_compound: bool,
    slug: str,
    companies: list[dict[str, Any]],
) -> None:
    code = f"{community}-G{number:02d}"
    lat, lon = _centre(rng, *centre, 0.003)
    compound = may_be_compound and rng.random() < COMPOUND_SHARE
    estate = (
        names.place(rng.choice(("小区", "家园", "花园", "嘉园", "苑", "里"))) if compound else ""
    )
    name = f"{community_name}第{ordinal(number)}网格" + (f"（{estate}）" if compound else "")
    city.areas.append(
        {
            "code": code,
            "name": name,
            "level": "grid",
            "parent": community,
            "latitude": lat,
            "longitude": lon,
        }
    )
    city.responders.append(
        _unit(f"grid-{code.lower()}", f"{name.split('（')[0]}网格员", "grid_worker", [code], names)
    )
    if not compound:
        return
    for b in range(1, rng.randint(*BUILDINGS_PER_COMPOUND) + 1):
        building = f"{code}-B{b:02d}"
        city.areas.append(
            {"code": building, "name": f"{estate}{b}号楼", "level": "building", "parent": code}
        )
        if rng.random() < UNITS_SHARE:
            for u in range(1, rng.randint(2, 3) + 1):
                city.areas.append(
                    {
                        "code": f"{building}-U{u}",
                        "name": f"{estate}{b}号楼{u}单元",
                        "level": "unit",
                        "parent": building,
                    }
                )
    if not companies or len(companies[-1]["areas"]) >= COMPOUNDS_PER_COMPANY:
        company_name = names.place("物业管理有限公司")
        companies.append(
            _unit(
                f"property-{slug}-{len(companies) + 1:03d}",
                company_name,
                "property_company",
                [code],
                names,
            )
        )
        city.responders.append(companies[-1])
    else:
        companies[-1]["areas"].append(code)
    row: dict[str, Any] = {"area": code, "property_company": companies[-1]["id"]}
    if rng.random() < OWNERS_COMMITTEE_SHARE:
        owners = f"owners-{code.lower()}"
        city.responders.append(
            _unit(owners, f"{estate}业主委员会", "owners_committee", [code], names)
        )
        row["owners_committee"] = owners
    city.compounds.append(row)


def _categories(city: City) -> None:
    for slug, group, subgroups in TAXONOMY:
        for i, (subgroup, _, _, priority, leaves) in enumerate(subgroups, 1):
            for k, leaf in enumerate(leaves.split(), 1):
                city.categories.append(
                    {
                        "code": f"{slug}-{i:02d}-{k:02d}",
                        "name": leaf,
                        "priority": priority,
                        "group": group,
                        "subgroup": subgroup,
                        "keywords": [leaf],
                    }
                )


def _catalogue(city: City) -> None:
    """A district-wide rule for every category in every district; a street rule to the street's
    police station for the 二级 it handles (治安, 养犬管理)."""
    districts = [(a["code"], a["code"][:6]) for a in city.areas if a["level"] == "district"]
    slugs = {d[0]: d[2] for d in DISTRICTS}
    streets = [a["code"] for a in city.areas if a["level"] == "street"]
    for slug, _, subgroups in TAXONOMY:
        for i, (subgroup, handler, escalate, _, leaves) in enumerate(subgroups, 1):
            for k in range(1, len(leaves.split()) + 1):
                category = f"{slug}-{i:02d}-{k:02d}"
                for code, prefix in districts:
                    dslug = slugs[prefix]
                    rule: dict[str, Any] = {
                        "id": f"d{prefix}-{category}",
                        "category": category,
                        "scope": code,
                        "lead": _lead(handler, dslug),
                    }
                    if handler == "@property_company":
                        rule["co"] = ["@community_committee"]
                    elif handler == "urban" and slug == "environment":
                        rule["co"] = ["@grid_worker"]
                    if escalate:
                        rule["escalate_to"] = f"dept-{dslug}-{escalate}"
                    if handler == "@community_committee" and subgroup == "业主自治":
                        rule["dispatcher"] = "@owners_committee"
                    city.catalogue.append(rule)
                if subgroup in POLICE_CATEGORIES:
                    for street in streets:
                        city.catalogue.append(
                            {
                                "id": f"s{street[:9]}-{category}",
                                "category": category,
                                "scope": street,
                                "lead": f"police-{street[:9]}",
                                "co": ["@community_committee"],
                            }
                        )


def _lead(handler: str, district_slug: str) -> str:
    if handler.startswith("@"):
        return handler
    if handler.startswith("util:"):
        return UTILITIES[handler[5:]][0]
    return f"dept-{district_slug}-{handler}"
