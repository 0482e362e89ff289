"""Area codes (区划代码): their shape, the areas enclosing them, and what lies within them.

Codes follow the 统计用区划代码 down to the community (12 digits: 省2 市2 县2 乡镇3 村居3), then
up to three local segments: `<community>-G01` a grid 网格, `-B02` a building 楼栋, `-U1` a unit
单元 (deploy/local/demo_city.yaml). Everything here is read from the code itself, not from a city
model, so an area's levels do not depend on when the city model's events arrive. A scope (an
area a key or a subscription covers) holds itself and every code below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

# [0-9], not \d: the validators read \d as any Unicode digit, and a code in full-width digits
# (３７０１…) would be accepted, then match no area of the city.
PATTERN = r"^[0-9]{12}(-[A-Z0-9]{1,8}){0,3}$"


class AreaLevel(StrEnum):
    DISTRICT = "district"  # 区/县
    STREET = "street"  # 街道/镇
    COMMUNITY = "community"  # 社区
    GRID = "grid"  # 网格
    BUILDING = "building"  # 楼栋
    UNIT = "unit"  # 单元


@dataclass(frozen=True, slots=True)
class Enclosing:
    """The areas a code lies in, one per level; None where the code does not name that level."""

    district: str | None
    street: str | None
    community: str | None
    grid: str | None
    building: str | None
    unit: str | None

    @property
    def place(self) -> str | None:
        """Where a problem recurs: the building, else the grid, else the community."""
        return self.building or self.grid or self.community

    def codes(self) -> list[str]:
        """The enclosing codes, narrowest first."""
        levels = (self.unit, self.building, self.grid, self.community, self.street, self.district)
        return [code for code in levels if code is not None]


_NOWHERE = Enclosing(None, None, None, None, None, None)


@lru_cache(maxsize=65536)  # a city has far fewer places than events: each is parsed once
def enclosing(code: str | None) -> Enclosing:
    """The code and every area above it, by level.

    A street or district code names no community (370124001000 is the street itself), so its
    finer levels are None.
    """
    if not code:
        return _NOWHERE
    base, *local = code.split("-")
    district = street = community = None
    if len(base) == 12 and base.isdigit():
        district = base[:6] + "000000"
        if base[6:9] != "000":
            street = base[:9] + "000"
            if base[9:] != "000":
                community = base
    grid = f"{base}-{local[0]}" if local else None
    building = f"{grid}-{local[1]}" if len(local) >= 2 else None
    unit = f"{building}-{local[2]}" if len(local) >= 3 else None
    return Enclosing(district, street, community, grid, building, unit)


def parent(code: str) -> str | None:
    """The area directly above `code` (a unit's building, a community's street), None above a
    district: 370124001001-G01 → 370124001001 → 370124001000 → 370124000000 → None."""
    return next((above for above in enclosing(code).codes() if above != code), None)


def like_patterns(scope: str) -> list[str]:
    """SQL LIKE patterns matching `scope` and every code below it.

    Division codes nest by digit groups, so a street's communities share its code without the
    trailing zero groups: 370124001000 → 370124001%. A city or province scope works the same
    way (370100000000 → 3701%).
    """
    if "-" in scope:
        return [scope, scope + "-%"]
    stem = scope
    for width in (3, 3, 2, 2):
        if len(stem) > width and stem.endswith("0" * width):
            stem = stem[:-width]
        else:
            break
    return [stem + "%"]


def within(code: str | None, scope: str | None) -> bool:
    """Whether `code` is `scope` or lies below it (a None scope: everywhere)."""
    if scope is None:
        return True
    if not code:
        return False
    return any(
        code == pattern or (pattern.endswith("%") and code.startswith(pattern[:-1]))
        for pattern in like_patterns(scope)
    )


def no_finer_than_building(code: str) -> str:
    """`code` as far as the public may know it: a unit's building (370124001001-G01-B02-U1 →
    370124001001-G01-B02); a building or anything coarser is returned as it is."""
    place = enclosing(code)
    return place.building if place.unit and place.building else code
