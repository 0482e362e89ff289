"""Dispatch's pure decisions: the city model, the dispatch catalogue (派单目录) and routing."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

AREA_CODE = r"^\d{12}(-[A-Z0-9]{1,8}){0,3}$"


class AreaLevel(StrEnum):
    DISTRICT = "district"  # 区/县
    STREET = "street"  # 街道/镇
    COMMUNITY = "community"  # 社区
    GRID = "grid"  # 网格
    BUILDING = "building"  # 楼栋
    UNIT = "unit"  # 单元


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


class PriorityTier(StrEnum):
    EMERGENCY = "emergency"  # 紧急 / 危及生命财产: 2 h
    UTILITY = "utility"  # 水电气热: 24 h
    GENERAL = "general"  # 一般: 7 d
    COMPLEX = "complex"  # 复杂: 15 d


FEEDBACK_LIMITS = {
    PriorityTier.EMERGENCY: timedelta(hours=2),
    PriorityTier.UTILITY: timedelta(hours=24),
    PriorityTier.GENERAL: timedelta(days=7),
    PriorityTier.COMPLEX: timedelta(days=15),
}

# A rule's lead may name a unit, or a kind of unit found by walking up from the complaint's area.
PLACEHOLDER = re.compile(r"^@(" + "|".join(kind.value for kind in ResponderKind) + r")$")


class AreaIn(BaseModel):
    # An area may also carry its centre for intake's use; dispatch routes by code alone.
    model_config = ConfigDict(extra="ignore")
    code: str = Field(pattern=AREA_CODE)
    name: str = Field(min_length=1)
    level: AreaLevel
    parent: str | None = None


class ResponderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")
    name: str = Field(min_length=1)
    kind: ResponderKind
    areas: list[str] = Field(min_length=1, description="Areas this unit serves")


class CategoryIn(BaseModel):
    # A category also carries intake's parts (keywords, Open311 questions); dispatch ignores them.
    model_config = ConfigDict(extra="ignore")
    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    name: str = Field(min_length=1)
    priority: PriorityTier = PriorityTier.GENERAL


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    category: str
    scope: str = Field(description="Area code the rule covers, with everything below it")
    lead: str = Field(description="Responder id, or @kind for the nearest unit of that kind")
    co: list[str] = Field(default_factory=list)
    priority: PriorityTier | None = None


class CityFile(BaseModel):
    """A city's model as it supplies it (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid")
    city: str = Field(min_length=1)
    areas: list[AreaIn] = Field(min_length=1)
    responders: list[ResponderIn] = Field(min_length=1)
    categories: list[CategoryIn] = Field(min_length=1)
    catalogue: list[RuleIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> CityFile:
        codes = {area.code for area in self.areas}
        problems = [
            f"area {a.code}: unknown parent {a.parent}"
            for a in self.areas
            if a.parent is not None and a.parent not in codes
        ]
        responders = {r.id for r in self.responders}
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
        if not any(r.kind == ResponderKind.DISTRICT_GOVERNMENT for r in self.responders):
            problems.append("a district_government responder is required (兜底)")
        if len({r.id for r in self.catalogue}) != len(self.catalogue):
            problems.append("rule ids must be unique")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def checksum(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Responder:
    id: str
    name: str
    kind: ResponderKind


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    lead: Responder
    co: tuple[Responder, ...]
    rule_id: str | None
    priority: PriorityTier
    reason: str

    def due_at(self, issued_at: datetime) -> datetime:
        return issued_at + FEEDBACK_LIMITS[self.priority]


class CityModel:
    """The loaded model, indexed for routing."""

    def __init__(self, city: CityFile, version: int) -> None:
        self.version = version
        self.name = city.city
        self.parents = {a.code: a.parent for a in city.areas}
        self.area_names = {a.code: a.name for a in city.areas}
        self.responders = {r.id: Responder(r.id, r.name, r.kind) for r in city.responders}
        self.serving: dict[tuple[str, ResponderKind], list[Responder]] = {}
        for r in city.responders:
            for code in r.areas:
                self.serving.setdefault((code, r.kind), []).append(self.responders[r.id])
        self.rules = {(rule.category, rule.scope): rule for rule in city.catalogue}
        self.categories = {c.code: c for c in city.categories}

    def ancestors(self, area_code: str) -> list[str]:
        """The area and every area above it, narrowest first.

        A code the model does not list (a new building, a grid not yet loaded) is placed by its
        own shape: local suffixes are dropped, then the community, street and district parts.
        """
        code: str | None = area_code
        while code is not None and code not in self.parents:
            code = _enclosing_code(code)
        chain = []
        while code is not None:
            chain.append(code)
            code = self.parents.get(code)
        return chain

    def nearest(self, area_code: str, kind: ResponderKind) -> Responder | None:
        for code in self.ancestors(area_code):
            units = self.serving.get((code, kind))
            if units:
                return units[0]
        return None

    def resolve(self, unit: str, area_code: str) -> Responder | None:
        match = PLACEHOLDER.match(unit)
        if match:
            return self.nearest(area_code, ResponderKind(match.group(1)))
        return self.responders.get(unit)


def _enclosing_code(code: str) -> str | None:
    if "-" in code:
        return code.rsplit("-", 1)[0]
    if len(code) == 12 and code.isdigit():
        if code[9:] != "000":
            return code[:9] + "000"
        if code[6:9] != "000":
            return code[:6] + "000000"
    return None


def route(model: CityModel, category: str | None, area_code: str) -> RoutingDecision:
    """Category × area → lead and co-responders. The narrowest matching rule wins.

    No rule (or an unresolvable lead) → the street office; no street office → the district
    government (兜底), so no complaint is ever left without an owner.
    """
    known_category = model.categories.get(category) if category else None
    priority = known_category.priority if known_category else PriorityTier.GENERAL
    if known_category is not None:
        for code in model.ancestors(area_code):
            rule = model.rules.get((known_category.code, code))
            if rule is None:
                continue
            lead = model.resolve(rule.lead, area_code)
            if lead is None:
                break
            co = tuple(
                unit
                for unit in (model.resolve(u, area_code) for u in rule.co)
                if unit is not None and unit != lead
            )
            return RoutingDecision(
                lead=lead,
                co=co,
                rule_id=rule.id,
                priority=rule.priority or priority,
                reason=(
                    f"派单目录规则 {rule.id}（{known_category.name} @ "
                    f"{model.area_names.get(code, code)}），目录版本 {model.version} "
                    f"Catalogue rule {rule.id}, version {model.version}"
                ),
            )
    street = model.nearest(area_code, ResponderKind.STREET_OFFICE)
    if street is not None:
        return RoutingDecision(
            lead=street,
            co=(),
            rule_id=None,
            priority=priority,
            reason="无匹配派单规则，派至属地街道 No catalogue rule: sent to the street office",
        )
    government = next(
        r for r in model.responders.values() if r.kind == ResponderKind.DISTRICT_GOVERNMENT
    )
    return RoutingDecision(
        lead=government,
        co=(),
        rule_id=None,
        priority=priority,
        reason="无责任单位，由区县政府兜底 Nobody responsible: the district government takes it",
    )
