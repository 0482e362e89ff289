"""Community governance's parts of the city model: catalogue rules a committee dispatches by
hand (业委会派单), and the units and cadres registered with a community (双报到).

A registration names a unit, or one of its cadres (a named person, with their post); no phone
numbers here: units are reached through notify's directory.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.area import AreaLevel

# Who may dispatch a compound's matters by hand; where a compound has no owners' committee
# (or it passed the matter back) the community committee does (see city.route).
DISPATCHERS = ("owners_committee", "community_committee")


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")
    community: str = Field(pattern=AREA_PATTERN, description="报到社区 The community")
    unit: str = Field(description="所在单位（承办单位 id） The home unit")
    person: str | None = Field(
        None, max_length=40, description="报到干部姓名（单位报到时为空） The cadre, if a person"
    )
    title: str | None = Field(None, max_length=40, description="职务 The cadre's post")


def governance_problems(city: Any) -> list[str]:
    """A dispatcher that is no committee; a registration with a community or unit unknown."""
    kinds = {r.id: r.kind.value for r in city.responders}
    levels = {a.code: a.level for a in city.areas}
    problems = []
    for rule in city.catalogue:
        named = rule.dispatcher
        kind = named[1:] if named and named.startswith("@") else kinds.get(named or "")
        if named and kind not in DISPATCHERS:
            problems.append(f"rule {rule.id}: dispatcher {named} is no committee")
    for reg in city.registrations:
        if levels.get(reg.community) is not AreaLevel.COMMUNITY or reg.unit not in kinds:
            problems.append(f"registration {reg.id}: unknown community or unit")
    return problems


def registration_of(city: Any, registration_id: str) -> RegistrationIn | None:
    return next((r for r in city.registrations if r.id == registration_id), None)
