"""People in the grid: 网格长, 楼栋长, 单元长 (三长制) and the property company's 楼管员.

Each is a named person and a responder of the city model, serving areas of one level; a rule
reaches them as @grid_head, @building_head, @unit_head or @building_manager, the nearest one
above the complaint's place (小事不出门、琐事不出楼). The `people` section (people.csv) lists
them all at once, apart from the other units.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events.area import AreaLevel

RESPONDER_ID = r"^[a-z0-9][a-z0-9-]{1,60}$"

# kind: (the level of the areas it serves, its Chinese name)
PEOPLE = {
    "grid_head": (AreaLevel.GRID, "网格长"),
    "building_head": (AreaLevel.BUILDING, "楼栋长"),
    "unit_head": (AreaLevel.UNIT, "单元长"),
    "building_manager": (AreaLevel.BUILDING, "楼管员"),  # works for a property company
}
PEOPLE_LABELS = {kind: label for kind, (_, label) in PEOPLE.items()}
MANAGER = "building_manager"
PROPERTY_COMPANY = "property_company"


class PersonIn(BaseModel):
    """A row of the `people` section. Without a `name`, a person already in the model keeps
    their unit's name, and a new one is named by the first area and the kind (玫城丽都2号楼 +
    楼栋长)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=RESPONDER_ID)
    kind: str = Field(
        description="grid_head 网格长 | building_head 楼栋长 | unit_head 单元长 | building_manager 楼管员"
    )
    person: str = Field(min_length=1, max_length=40, description="姓名 The person's name")
    areas: list[str] = Field(min_length=1, description="所负责的网格、楼栋或单元 Areas served")
    company: str | None = Field(
        None, pattern=RESPONDER_ID, description="楼管员所属物业 The 楼管员's property company"
    )
    name: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _is_one_of_the_people(self) -> PersonIn:
        if self.kind not in PEOPLE:
            raise ValueError(f"{self.id}: 人员类型须为 kind must be one of {', '.join(PEOPLE)}")
        return self


def _as_dict(unit: Any) -> dict[str, Any]:
    return unit.model_dump(mode="json") if isinstance(unit, BaseModel) else dict(unit)


def assign_people(body: dict[str, Any], people: list[PersonIn]) -> list[dict[str, Any]]:
    """The body's responders with every head and 楼管员 replaced by `people` (other units stay)."""
    places = {a["code"]: a["name"] for a in map(_as_dict, body.get("areas") or [])}
    given = [_as_dict(unit) for unit in body.get("responders") or []]
    named = {unit["id"]: unit["name"] for unit in given}  # a known person keeps their unit's name
    units = [unit for unit in given if unit.get("kind") not in PEOPLE]
    for p in people:
        name = (
            p.name or named.get(p.id) or places.get(p.areas[0], p.areas[0]) + PEOPLE_LABELS[p.kind]
        )
        unit = {"id": p.id, "name": name, "kind": p.kind, "areas": p.areas, "person": p.person}
        units.append(unit | ({"company": p.company} if p.company else {}))
    return units


def people_problems(levels: dict[str, AreaLevel], responders: list[dict[str, Any]]) -> list[str]:
    """Heads and 楼管员 are named, serve areas of their own level, and a 楼管员 names the
    property company it works for (no other unit names one)."""
    kinds = {r["id"]: r["kind"] for r in responders}
    problems = []
    for r in responders:
        kind, company = r["kind"], r.get("company")
        if company is not None and kind != MANAGER:
            problems.append(f"responder {r['id']}: only a {MANAGER} (楼管员) has a company")
        if kind not in PEOPLE:
            continue
        level = PEOPLE[kind][0]
        if not r.get("person"):
            problems.append(f"responder {r['id']}: a {kind} is a named person: give person")
        wrong = [code for code in r["areas"] if code in levels and levels[code] != level]
        if wrong:
            problems.append(
                f"responder {r['id']}: a {kind} serves {level.value} areas, not {', '.join(wrong)}"
            )
        if kind == MANAGER and kinds.get(company or "") != PROPERTY_COMPANY:
            problems.append(f"responder {r['id']}: company {company} is not a {PROPERTY_COMPANY}")
    return problems
