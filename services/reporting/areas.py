"""An area code's enclosing levels, read from the code itself.

Codes follow the 统计用区划代码 down to the community (12 digits: county 6, street/town 3,
community 3) and local segments below it: `<community>-G01` a grid 网格, `-B02` a building 楼栋,
`-U1` a unit 单元 (deploy/local/demo_city.yaml). Reading the levels from the code, not from the
city model, keeps a case's levels independent of when the city model's events arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Level(StrEnum):
    DISTRICT = "district"  # 区/县
    STREET = "street"  # 街道/镇
    COMMUNITY = "community"  # 社区
    GRID = "grid"  # 网格


LEVEL_LABELS = {
    Level.DISTRICT: "区县",
    Level.STREET: "街道（乡镇）",
    Level.COMMUNITY: "社区",
    Level.GRID: "网格",
}


@dataclass(frozen=True, slots=True)
class Enclosing:
    district: str | None
    street: str | None
    community: str | None
    grid: str | None
    place: str | None  # the building, else the grid, else the community: where a problem recurs


@lru_cache(maxsize=65536)  # a city has far fewer places than events: each is parsed once
def enclosing(code: str | None) -> Enclosing:
    if not code:
        return Enclosing(None, None, None, None, None)
    base, *local = code.split("-")
    district = street = community = None
    if len(base) == 12 and base.isdigit():
        district = base[:6] + "000000"
        if base[6:9] != "000":
            street = base[:9] + "000"
            if base[9:] != "000":
                community = base
    grid = f"{base}-{local[0]}" if local else None
    building = f"{base}-{local[0]}-{local[1]}" if len(local) >= 2 else None
    return Enclosing(district, street, community, grid, building or grid or community)


def sql_within(param: str, alias: str = "c") -> str:
    """SQL: the case (a row of `cases` as `alias`) lies in the area `param` names, at whatever
    level it is, or below a finer local code."""
    c = alias
    return (
        f"({param} IN ({c}.district_code, {c}.street_code, {c}.community_code, {c}.grid_code,"
        f" {c}.place_code) OR {c}.area_code = {param} OR {c}.area_code LIKE {param} || '-%')"
    )
