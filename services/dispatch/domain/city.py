"""The city model: areas, responders, categories, the dispatch catalogue (派单目录) and time limits.

Pure: parsing (YAML/JSON documents and CSV sections), validation, the changes between two
versions (each version is recorded as events), and the index used for routing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.dispatch.domain.city_csv import CSV_COLUMNS as CSV_COLUMNS  # re-exported
from services.dispatch.domain.city_csv import read_csv as read_csv  # re-exported
from services.dispatch.domain.duty import DutyShiftIn, Rota, rota_problems
from services.dispatch.domain.governance import RegistrationIn, governance_problems
from services.dispatch.domain.people import (
    PEOPLE_LABELS,
    PersonIn,
    assign_people,
    people_problems,
)
from shared.deadlines import PriorityTier, TimeLimits
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.area import AreaLevel
from shared.events.area import parent as parent_area
from shared.events.labels import ESCALATION_LEVEL

RESPONDER_ID = r"^[a-z0-9][a-z0-9-]{1,60}$"
CATEGORY_CODE = r"^[a-z][a-z0-9-]{1,40}$"


class ResponderKind(StrEnum):
    DISTRICT_GOVERNMENT = "district_government"  # 区县政府 (兜底)
    STREET_OFFICE = "street_office"  # 街道办事处
    DEPARTMENT = "department"  # 区县职能部门
    UTILITY = "utility"  # 供水/供电/燃气/供热
    PROPERTY_COMPANY = "property_company"  # 物业
    OWNERS_COMMITTEE = "owners_committee"  # 业委会
    COMMUNITY_COMMITTEE = "community_committee"  # 社区两委/居委会
    GRID_WORKER = "grid_worker"  # 网格员
    SOCIAL_ORGANISATION = "social_organisation"  # 志愿者/社会组织
    # --- people ---  named people of the grid (三长制) and the property's 楼管员
    GRID_HEAD = "grid_head"  # 网格长
    BUILDING_HEAD = "building_head"  # 楼栋长
    UNIT_HEAD = "unit_head"  # 单元长
    BUILDING_MANAGER = "building_manager"  # 物业楼管员
    DEVELOPER = "developer"  # 开发建设单位 (保修期内的房屋质量问题)
    COMMITTEE_MEMBER = "committee_member"  # 社区“两委”成员: 值班、专人办理


KIND_LABELS = {
    ResponderKind.DISTRICT_GOVERNMENT: "区县政府",
    ResponderKind.STREET_OFFICE: "街道办事处",
    ResponderKind.DEPARTMENT: "区县职能部门",
    ResponderKind.UTILITY: "公用事业单位",
    ResponderKind.PROPERTY_COMPANY: "物业服务企业",
    ResponderKind.OWNERS_COMMITTEE: "业主委员会",
    ResponderKind.COMMUNITY_COMMITTEE: "社区居委会",
    ResponderKind.GRID_WORKER: "网格员",
    ResponderKind.SOCIAL_ORGANISATION: "社会组织",
    # --- people ---
    **{ResponderKind(kind): label for kind, label in PEOPLE_LABELS.items()},
    ResponderKind.DEVELOPER: "开发建设单位",
    ResponderKind.COMMITTEE_MEMBER: "社区两委成员",
}


class Level(IntEnum):
    """The escalation ladder: a breach moves a case one rung up (社区 → 街道 → 区县部门 → 区县政府)."""

    COMMUNITY = 0
    STREET = 1
    DEPARTMENT = 2
    DISTRICT = 3

    @property
    def label(self) -> str:
        return ESCALATION_LEVEL[self.name.lower()]


LEVEL_OF_KIND = {
    ResponderKind.DISTRICT_GOVERNMENT: Level.DISTRICT,
    ResponderKind.STREET_OFFICE: Level.STREET,
    ResponderKind.DEPARTMENT: Level.DEPARTMENT,
    ResponderKind.UTILITY: Level.DEPARTMENT,
}  # every other kind works at the community level

# A rule's lead may name a unit, or a kind of unit found by walking up from the complaint's area.
PLACEHOLDER = re.compile(r"^@(" + "|".join(kind.value for kind in ResponderKind) + r")$")


class AreaIn(BaseModel):
    # An area may also carry its centre for intake's use: kept (and exported), not routed on.
    model_config = ConfigDict(extra="allow")
    code: str = Field(
        pattern=AREA_PATTERN, description="区划代码 12-digit code[-grid[-building[-unit]]]"
    )
    name: str = Field(min_length=1)
    level: AreaLevel
    parent: str | None = None


class ResponderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=RESPONDER_ID)
    name: str = Field(min_length=1)
    kind: ResponderKind
    areas: list[str] = Field(min_length=1, description="所服务的区域 Areas this unit serves")
    person: str | None = Field(
        None,
        max_length=40,
        description="责任人，在督办墙上公示 The unit's named head, shown on the public board",
    )
    # (left out when empty: other units keep the shape they were recorded with before it)
    company: str | None = Field(
        None,
        pattern=RESPONDER_ID,
        exclude_if=lambda company: company is None,
        description="楼管员所属的物业服务企业 The property company a 楼管员 works for",
    )


class CategoryIn(BaseModel):
    # A category also carries intake's parts (keywords, Open311 questions): kept and exported
    # with the model so one city file serves both services, but not used for routing.
    model_config = ConfigDict(extra="allow")
    code: str = Field(pattern=CATEGORY_CODE)
    name: str = Field(min_length=1)
    priority: PriorityTier = PriorityTier.GENERAL


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=40)
    category: str
    scope: str = Field(
        description="规则覆盖的区域（含其下级）Area the rule covers, with everything below"
    )
    lead: str = Field(description="主办单位 id，或 @kind 取最近的该类单位 Responder id or @kind")
    co: list[str] = Field(default_factory=list, description="协办单位 Co-responders")
    priority: PriorityTier | None = None
    escalate_to: str | None = Field(
        None, description="超期升级到的区县部门 Department a breach escalates to"
    )
    dispatcher: str | None = None  # 派单人: @owners_committee 业委会派单


class CompoundIn(BaseModel):
    """Who manages a residential compound (小区): its property company and owners' committee."""

    model_config = ConfigDict(extra="forbid")
    area: str = Field(pattern=AREA_PATTERN)
    property_company: str | None = None
    owners_committee: str | None = None
    developer: str | None = Field(None, description="开发建设单位 The compound's developer")


SECTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "areas": ("code", AreaIn),
    "responders": ("id", ResponderIn),
    "categories": ("code", CategoryIn),
    "catalogue": ("id", RuleIn),
    "registrations": ("id", RegistrationIn),
    "duty_rota": ("id", DutyShiftIn),
}
SETTINGS = ("city", "time_limits")


class CityFile(BaseModel):
    """A city's model as it supplies it (YAML or JSON), or as dispatch holds one version of it."""

    model_config = ConfigDict(extra="forbid")
    city: str = Field(min_length=1)
    areas: list[AreaIn] = Field(min_length=1)
    responders: list[ResponderIn] = Field(min_length=1)
    categories: list[CategoryIn] = Field(min_length=1)
    catalogue: list[RuleIn] = Field(default_factory=list)
    registrations: list[RegistrationIn] = Field(default_factory=list)  # 双报到
    duty_rota: list[DutyShiftIn] = Field(default_factory=list)  # 居民微信群值班表 (duty.py)
    time_limits: TimeLimits = Field(default_factory=TimeLimits)

    @model_validator(mode="before")
    @classmethod
    def _compounds_name_their_managers(cls, data: Any) -> Any:
        """A `compounds` list is another way of saying which units serve which compound."""
        if isinstance(data, dict) and "compounds" in data:
            data = dict(data)
            data["responders"] = assign_compounds(
                data.get("responders") or [],
                [CompoundIn.model_validate(c) for c in data.pop("compounds") or []],
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _people_are_responders(cls, data: Any) -> Any:
        """A `people` list names every head and 楼管员, each one a responder of its kind."""
        if isinstance(data, dict) and "people" in data:
            data = dict(data)
            people = [PersonIn.model_validate(p) for p in data.pop("people") or []]
            data["responders"] = assign_people(data, people)
        return data

    @model_validator(mode="after")
    def _references_resolve(self) -> CityFile:
        problems = []
        for section, (key, _) in SECTIONS.items():
            keys = [getattr(item, key) for item in getattr(self, section)]
            if len(set(keys)) != len(keys):
                twice = sorted({k for k in keys if keys.count(k) > 1})
                problems.append(f"{section}: duplicate {key} {', '.join(twice)}")
        codes = {area.code for area in self.areas}
        problems += [
            f"area {a.code}: unknown parent {a.parent}"
            for a in self.areas
            if a.parent is not None and a.parent not in codes
        ]
        responders = {r.id: r for r in self.responders}
        categories = {c.code for c in self.categories}
        for r in self.responders:
            problems += [f"responder {r.id}: unknown area {c}" for c in r.areas if c not in codes]
        for rule in self.catalogue:
            if rule.category not in categories:
                problems.append(f"rule {rule.id}: unknown category {rule.category}")
            if rule.scope not in codes:
                problems.append(f"rule {rule.id}: unknown scope area {rule.scope}")
            for unit in [rule.lead, *rule.co]:
                if unit not in responders and not PLACEHOLDER.match(unit):
                    problems.append(f"rule {rule.id}: unknown responder {unit}")
            target = responders.get(rule.escalate_to or "")
            if rule.escalate_to and (
                target is None or LEVEL_OF_KIND.get(target.kind) is not Level.DEPARTMENT
            ):
                problems.append(
                    f"rule {rule.id}: escalate_to {rule.escalate_to} is not a department"
                )
        problems += rota_problems(self.duty_rota, codes, {r.id: r.areas for r in self.responders})
        for code in self.time_limits.categories:
            if code not in categories:
                problems.append(f"time_limits: unknown category {code}")
        problems += governance_problems(self)
        problems += people_problems(
            {a.code: a.level for a in self.areas},
            [r.model_dump(mode="json") for r in self.responders],
        )
        if not any(r.kind == ResponderKind.DISTRICT_GOVERNMENT for r in self.responders):
            problems.append("a district_government responder is required (兜底)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def checksum(self) -> str:
        canonical = json.dumps(self.body(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def assign_compounds(responders: list[Any], compounds: list[CompoundIn]) -> list[dict[str, Any]]:
    """Each compound's area goes to the named property company / owners' committee, and leaves
    any other unit of that kind (物业更换: a compound has one property company at a time)."""
    units = [ResponderIn.model_validate(r).model_dump(mode="json") for r in responders]
    by_id = {unit["id"]: unit for unit in units}
    # Each unit's areas as an ordered set, and who holds each (kind, area): a city lists tens
    # of thousands of compounds, and a scan of every unit for each of them is quadratic.
    areas_of = {unit["id"]: dict.fromkeys(unit["areas"]) for unit in units}
    holders: dict[tuple[str, str], list[str]] = {}
    for unit in units:
        for area in unit["areas"]:
            holders.setdefault((unit["kind"], area), []).append(unit["id"])
    for compound in compounds:
        for kind, unit_id in (
            (ResponderKind.PROPERTY_COMPANY, compound.property_company),
            (ResponderKind.OWNERS_COMMITTEE, compound.owners_committee),
            (ResponderKind.DEVELOPER, compound.developer),
        ):
            if unit_id is None:
                continue
            if unit_id not in by_id:
                raise ValueError(f"compound {compound.area}: unknown responder {unit_id}")
            if by_id[unit_id]["kind"] != kind.value:
                raise ValueError(f"compound {compound.area}: {unit_id} is not a {kind.value}")
            for other in holders.get((kind.value, compound.area), []):
                if other != unit_id:
                    areas_of[other].pop(compound.area, None)
            areas_of[unit_id].setdefault(compound.area)
            holders[(kind.value, compound.area)] = [unit_id]
    for unit in units:
        unit["areas"] = list(areas_of[unit["id"]])
    left = [unit["id"] for unit in units if not unit["areas"]]
    if left:
        raise ValueError(
            f"{', '.join(left)} 将不再服务任何区域：请另行指定或删除该单位 would serve no area; "
            "give it another area or remove it"
        )
    return units


# ---------------------------------------------------------------------------------------------
# Versions as changes: what a new version changes, and a version rebuilt from its changes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    section: str  # areas | responders | categories | catalogue | settings
    op: str  # put | remove | order (value: the section's keys in their new order)
    key: str
    value: Any = None


CITY_PART_SIZE = 500  # changes in one CityModelChanged, at most
CITY_PART_BYTES = 400_000  # and about this much JSON (UTF-8 Chinese names take 3 bytes a char)
ORDER_PIECE = 2000  # keys in one piece of a section's new order


def changes_between(old: dict[str, Any] | None, new: dict[str, Any]) -> list[Change]:
    """Every item that differs between two bodies, in a stable order, and a section's new order
    when it moved (the order matters: the first unit of a kind serving an area is chosen)."""
    old = old or {}
    changes = [
        Change("settings", "put", name, new[name])
        for name in SETTINGS
        if old.get(name) != new.get(name)
    ]
    for section, (key, _) in SECTIONS.items():
        before = {item[key]: item for item in old.get(section, [])}
        after = {item[key]: item for item in new.get(section, [])}
        changes += [
            Change(section, "put", k, item) for k, item in after.items() if before.get(k) != item
        ]
        changes += [Change(section, "remove", k) for k in before if k not in after]
        as_applied = [k for k in before if k in after] + [k for k in after if k not in before]
        if as_applied != list(after):
            # In pieces, last first: each puts its keys before the rest, so the first piece
            # ends up first (apply_changes). One list of a large city's 70,000 unit ids would
            # not fit one broker message.
            order = list(after)
            pieces = [order[i : i + ORDER_PIECE] for i in range(0, len(order), ORDER_PIECE)]
            changes += [Change(section, "order", section, piece) for piece in reversed(pieces)]
    return changes


def parts_of(changes: list[Change]) -> list[list[Change]]:
    """The changes in parts (one `CityModelChanged` each) of at most CITY_PART_SIZE changes and
    about CITY_PART_BYTES of JSON: a broker takes messages of 1 MB at most."""
    parts: list[list[Change]] = []
    part: list[Change] = []
    size = 0
    for change in changes:
        weight = len(json.dumps(change.value, ensure_ascii=False)) + len(change.key) + 40
        if part and (len(part) == CITY_PART_SIZE or size + weight > CITY_PART_BYTES):
            parts.append(part)
            part, size = [], 0
        part.append(change)
        size += weight
    return [*parts, part] if part else parts


def apply_changes(body: dict[str, Any] | None, changes: list[Change]) -> dict[str, Any]:
    """The body after `changes` (not validated: the caller validates the result)."""
    result: dict[str, Any] = {name: (body or {}).get(name) for name in SETTINGS}
    items = {
        section: {item[key]: item for item in (body or {}).get(section, [])}
        for section, (key, _) in SECTIONS.items()
    }
    for change in changes:
        if change.section == "settings":
            result[change.key] = change.value
        elif change.op == "put":
            items[change.section][change.key] = change.value
        elif change.op == "order":
            present = items[change.section]
            items[change.section] = {k: present[k] for k in change.value if k in present} | present
        else:
            items[change.section].pop(change.key, None)
    for section in SECTIONS:
        result[section] = list(items[section].values())
    return {k: v for k, v in result.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# The loaded model, indexed for routing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Responder:
    id: str
    name: str
    kind: ResponderKind

    @property
    def level(self) -> Level:
        return LEVEL_OF_KIND.get(self.kind, Level.COMMUNITY)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    lead: Responder
    co: tuple[Responder, ...]
    rule_id: str | None
    priority: PriorityTier
    reason: str
    by_hand: bool = False  # the lead is a committee that dispatches by hand (业委会派单)


class CityModel:
    """One version of the model, indexed for routing."""

    def __init__(self, city: CityFile, version: int) -> None:
        self.version = version
        self.file = city
        self.name = city.city
        self.time_limits = city.time_limits
        self.parents = {a.code: a.parent for a in city.areas}
        self.area_names = {a.code: a.name for a in city.areas}
        self.area_levels = {a.code: a.level for a in city.areas}
        self.responders = {r.id: Responder(r.id, r.name, r.kind) for r in city.responders}
        self.served = {r.id: tuple(r.areas) for r in city.responders}
        self.serving: dict[tuple[str, ResponderKind], list[Responder]] = {}
        for r in city.responders:
            for code in r.areas:
                self.serving.setdefault((code, r.kind), []).append(self.responders[r.id])
        self.rules = {(rule.category, rule.scope): rule for rule in city.catalogue}
        self.rules_by_id = {rule.id: rule for rule in city.catalogue}
        self.categories = {c.code: c for c in city.categories}
        self.rota = Rota(city.duty_rota)

    def ancestors(self, area_code: str) -> list[str]:
        """The area and every area above it, narrowest first.

        A code the model does not list (a new building, a grid not yet loaded) is placed by its
        own shape: local suffixes are dropped, then the community, street and district parts.
        """
        code: str | None = area_code
        while code is not None and code not in self.parents:
            code = parent_area(code)
        chain = []
        while code is not None:
            chain.append(code)
            code = self.parents.get(code)
        return chain

    def within(self, area_code: str, scope: str) -> bool:
        """Whether `area_code` is `scope` or lies below it."""
        return scope in self.ancestors(area_code) or area_code.startswith(scope + "-")

    def enclosing(self, area_code: str, level: AreaLevel) -> str | None:
        return next(
            (c for c in self.ancestors(area_code) if self.area_levels.get(c) == level), None
        )

    def nearest(
        self, area_code: str, kind: ResponderKind, exclude: frozenset[str] = frozenset()
    ) -> Responder | None:
        for code in self.ancestors(area_code):
            for unit in self.serving.get((code, kind), ()):
                if unit.id not in exclude:
                    return unit
        return None

    def resolve(
        self, unit: str, area_code: str, exclude: frozenset[str] = frozenset()
    ) -> Responder | None:
        match = PLACEHOLDER.match(unit)
        if match:
            return self.nearest(area_code, ResponderKind(match.group(1)), exclude)
        found = self.responders.get(unit)
        return found if found is not None and found.id not in exclude else None

    def government(self, area_code: str) -> Responder:
        """The district government over the area (兜底), or the model's first one."""
        return self.nearest(area_code, ResponderKind.DISTRICT_GOVERNMENT) or next(
            r for r in self.responders.values() if r.kind == ResponderKind.DISTRICT_GOVERNMENT
        )

    def supervisors_of(self, area_code: str, but: str) -> list[str]:
        """Who supervises the area (its street office, then the district government)."""
        street = self.nearest(area_code, ResponderKind.STREET_OFFICE)
        units = [street.id] if street else []
        units.append(self.government(area_code).id)
        return [unit for unit in dict.fromkeys(units) if unit != but]

    def priority_of(self, category: str | None) -> PriorityTier:
        known = self.categories.get(category or "")
        return known.priority if known else PriorityTier.GENERAL

    def escalation_target(
        self, area_code: str, rule_id: str | None, above: Level
    ) -> tuple[Level, Responder] | None:
        """The first rung above `above` that has a unit: the street office, the rule's
        department (escalate_to), the district government. None at the top of the ladder."""
        rule = self.rules_by_id.get(rule_id or "")
        for level in Level:
            if level <= above:
                continue
            unit: Responder | None = None
            if level is Level.STREET:
                unit = self.nearest(area_code, ResponderKind.STREET_OFFICE)
            elif level is Level.DEPARTMENT and rule is not None and rule.escalate_to:
                unit = self.responders.get(rule.escalate_to)
            elif level is Level.DISTRICT:
                unit = self.government(area_code)
            if unit is not None:
                return level, unit
        return None


def route(
    model: CityModel,
    category: str | None,
    area_code: str,
    exclude: frozenset[str] = frozenset(),
) -> RoutingDecision:
    """Category × area → lead and co-responders. The narrowest rule whose lead can be found wins.

    `exclude` holds units that returned the case (退单): they are passed over. No rule (or no
    lead to be found) → the street office; no street office → the district government (兜底),
    so no complaint is ever left without an owner.
    """
    known = model.categories.get(category) if category else None
    priority = model.priority_of(category)
    passed_over = "，已排除退单单位" if exclude else ""
    if known is not None:
        for code in model.ancestors(area_code):
            rule = model.rules.get((known.code, code))
            if rule is None:
                continue
            by_hand = model.resolve(rule.dispatcher or "", area_code, exclude)  # 业委会派单
            if by_hand is None and rule.dispatcher == "@owners_committee":
                by_hand = model.nearest(area_code, ResponderKind.COMMUNITY_COMMITTEE, exclude)
            lead = by_hand or model.resolve(rule.lead, area_code, exclude)
            if lead is None:
                continue  # a broader rule may still name someone
            co = tuple(
                dict.fromkeys(
                    unit
                    for unit in (model.resolve(u, area_code) for u in rule.co)
                    if unit is not None and unit != lead
                )
            )
            return RoutingDecision(
                lead=lead,
                co=() if by_hand else co,
                rule_id=rule.id,
                priority=rule.priority or priority,
                reason=(
                    f"派单目录规则 {rule.id}（{known.name} @ "
                    f"{model.area_names.get(code, code)}），目录版本 {model.version}{passed_over} "
                    f"Catalogue rule {rule.id}, version {model.version}"
                ),
                by_hand=by_hand is not None,
            )
    street = model.nearest(area_code, ResponderKind.STREET_OFFICE, exclude)
    if street is not None:
        return RoutingDecision(
            lead=street,
            co=(),
            rule_id=None,
            priority=priority,
            reason=(
                f"无匹配派单规则，派至属地街道{passed_over}（目录版本 {model.version}） "
                "No catalogue rule: sent to the street office"
            ),
        )
    return RoutingDecision(
        lead=model.government(area_code),
        co=(),
        rule_id=None,
        priority=priority,
        reason=(
            f"无责任单位，由区县政府兜底（目录版本 {model.version}） "
            "Nobody responsible: the district government takes it"
        ),
    )
