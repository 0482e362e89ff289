"""The city's areas and category catalogue as intake uses them: to validate, classify and ask.

Dispatch owns the city model: a city loads its file there (PUT /admin/city), dispatch
validates it and publishes each version's changes as `CityModelChanged`. Intake projects the
changes to the city's name, `areas` and `categories` into its own table (so it answers while
dispatch is down) and ignores the rest. A category may carry classifier keywords and the
questions (Open311 attributes) residents answer when they file under it. The projection's
table and its cache are services/intake/store/city.py's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.intake.domain.commands import CATEGORY_PATTERN
from services.intake.domain.geo import Point, distance_m
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.area import AreaLevel
from shared.events.dispatch import CityChange

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
LEVELS = list(AreaLevel)  # broadest first

log = logging.getLogger(__name__)


class AttributeValue(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    key: str = Field(min_length=1, max_length=60)
    name: str = Field(min_length=1, max_length=200)


class Attribute(BaseModel):
    """A question asked when filing under a category (Open311 service definition attribute)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    variable: bool = True
    datatype: Datatype
    required: bool = False
    datatype_description: str | None = None
    order: int | None = None
    description: str = Field(min_length=1, max_length=500)
    values: list[AttributeValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _lists_have_values(self) -> Attribute:
        if self.datatype.endswith("valuelist") and not self.values:
            raise ValueError(f"attribute {self.code}: a {self.datatype} needs values")
        return self


class Area(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(pattern=AREA_PATTERN)
    name: str = Field(min_length=1)
    level: AreaLevel
    parent: str | None = None
    # An optional centre (WGS-84): lets a client that sends only coordinates be placed.
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)

    def aliases(self) -> list[str]:
        """The name, and the name inside or before brackets: 第一网格（玫城丽都小区） → 玫城丽都小区."""
        names = {self.name}
        if "（" in self.name:
            before, _, inside = self.name.partition("（")
            names |= {before, inside.rstrip("）")}
        return [n for n in names if len(n) >= 2]


class Category(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(pattern=CATEGORY_PATTERN)
    name: str = Field(min_length=1)
    priority: str = "general"
    group: str | None = None
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_question_per_code(self) -> Category:
        codes = [a.code for a in self.attributes]
        if len(set(codes)) != len(codes):
            raise ValueError(f"category {self.code}: attribute codes must be unique")
        return self


class CatalogueFile(BaseModel):
    """Intake's part of one version of the city model; responders and dispatch rules are
    dispatch's business (dispatch validated the whole before publishing it)."""

    model_config = ConfigDict(extra="ignore")
    city: str = Field(min_length=1)
    areas: list[Area] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)

    def checksum(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


# The sections of dispatch's city model that intake keeps, each item keyed by its code.
SECTIONS: dict[str, type[BaseModel]] = {"areas": Area, "categories": Category}


def follow_changes(body: dict[str, Any] | None, changes: list[CityChange]) -> dict[str, Any]:
    """Intake's part of the city after one part of a version's changes: the city's name, and
    the areas and categories put, removed or reordered; every other change is dispatch's.
    An item intake cannot use (a question it cannot ask) is left out and logged."""
    body = body or {}
    city = body.get("city")
    items = {s: {item["code"]: item for item in body.get(s, [])} for s in SECTIONS}
    for change in changes:
        if change.section == "settings":
            if change.key == "city" and change.op == "put":
                city = change.value
        elif change.section in items:
            present = items[change.section]
            if change.op == "put":
                try:
                    item = SECTIONS[change.section].model_validate(change.value)
                except ValidationError as error:
                    log.warning("city model %s %s left out: %s", change.section, change.key, error)
                    present.pop(change.key, None)
                else:
                    present[change.key] = item.model_dump(mode="json")
            elif change.op == "order":
                present = {k: present[k] for k in change.value if k in present} | present
                items[change.section] = present
            elif change.op == "remove":
                present.pop(change.key, None)
    return {"city": city, **{s: list(present.values()) for s, present in items.items()}}


@dataclass(frozen=True)
class Catalogue:
    """One loaded version, indexed for lookups."""

    file: CatalogueFile
    version: int
    areas: dict[str, Area] = field(init=False)
    categories: dict[str, Category] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "areas", {a.code: a for a in self.file.areas})
        object.__setattr__(self, "categories", {c.code: c for c in self.file.categories})

    def keywords(self) -> dict[str, list[str]]:
        return {c.code: c.keywords for c in self.file.categories if c.keywords}

    def place(self, area_code: str, level: str) -> str | None:
        """The area at `level` containing `area_code` (its grid, its building), if it is that deep."""
        area: Area | None = self.areas.get(area_code)
        while area is not None:
            if area.level == level:
                return area.code
            area = self.areas.get(area.parent) if area.parent else None
        return None

    def locate(
        self,
        *,
        address_id: str | None = None,
        address: str | None = None,
        point: Point | None = None,
        within_m: float = 2000.0,
    ) -> str | None:
        """The narrowest known area for an area code, an address naming a place, or a point."""
        if address_id:
            return address_id if address_id in self.areas else None
        if address:
            named = [
                (LEVELS.index(area.level), len(alias), area.code)
                for area in self.file.areas
                for alias in area.aliases()
                if alias in address
            ]
            if named:
                return max(named)[2]
        if point is not None:
            placed = [
                (distance_m(point, Point(area.latitude, area.longitude)), area.code)
                for area in self.file.areas
                if area.latitude is not None and area.longitude is not None
            ]
            if placed and (nearest := min(placed))[0] <= within_m:
                return nearest[1]
        return None

    def public_place(self, area_code: str) -> tuple[str, str]:
        """Where a complaint is, as far as the public may know: down to the building, no unit or room."""
        chain = [a for a in self.lineage(area_code) if a.level not in ("unit", "district")]
        if not chain:
            return area_code, area_code
        if chain[0].level == "building":
            chain = [a for a in chain if a.level != "grid"]  # 玫城丽都2号楼 already says where
        names = [_short(a) for a in reversed(chain)]
        return chain[0].code, "".join(names)

    def lineage(self, area_code: str) -> list[Area]:
        """The area and everything above it, narrowest first."""
        chain: list[Area] = []
        area = self.areas.get(area_code)
        while area is not None:
            chain.append(area)
            area = self.areas.get(area.parent) if area.parent else None
        return chain


def _short(area: Area) -> str:
    """第一网格（玫城丽都小区） → 玫城丽都小区: the name residents use."""
    inside = area.name.partition("（")[2].rstrip("）")
    return inside or area.name


def check_answers(category: Category, answers: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Answers to a category's questions, normalised, and what is wrong with them."""
    known = {a.code: a for a in category.attributes}
    problems = [
        f"attribute[{code}]: 此类别没有该问题 unknown for this service"
        for code in answers
        if code not in known
    ]
    clean: dict[str, Any] = {}
    for attribute in category.attributes:
        value = answers.get(attribute.code)
        if value in (None, "", []):
            if attribute.required and attribute.variable:
                problems.append(
                    f"attribute[{attribute.code}]: 必填 is required ({attribute.description})"
                )
            continue
        try:
            clean[attribute.code] = _normalise(attribute, value)
        except ValueError as error:
            problems.append(f"attribute[{attribute.code}]: {error}")
    return clean, problems


def _normalise(attribute: Attribute, value: Any) -> Any:
    keys = {v.key for v in attribute.values}
    match attribute.datatype:
        case "number":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ValueError("须为数字 must be a number") from None
        case "datetime":
            try:
                return datetime.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise ValueError("须为 ISO 8601 时间 must be an ISO 8601 datetime") from None
        case "singlevaluelist":
            if isinstance(value, list):
                if len(value) != 1:
                    raise ValueError("只能选择一项 exactly one value")
                value = value[0]
            if str(value) not in keys:
                raise ValueError(f"须为 {sorted(keys)} 之一 must be one of them")
            return str(value)
        case "multivaluelist":
            chosen = [str(v) for v in (value if isinstance(value, list) else [value])]
            if unknown := [v for v in chosen if v not in keys]:
                raise ValueError(f"未知选项 unknown values {unknown}")
            return chosen
        case _:
            text = str(value)
            limit = 2000 if attribute.datatype == "text" else 200
            if len(text) > limit:
                raise ValueError(f"最长 {limit} 字 at most {limit} characters")
            return text
