"""Which open complaints a new one probably repeats: same place (building, grid or nearby), same category."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from services.intake.domain.geo import Point, distance_m
from shared.events import DuplicateCandidate


@dataclass(frozen=True, slots=True)
class Place:
    """Where a complaint is, as precisely as it was given."""

    complaint_id: UUID
    case_number: str
    category: str | None
    building: str | None
    grid: str | None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def point(self) -> Point | None:
        if self.latitude is None or self.longitude is None:
            return None
        return Point(self.latitude, self.longitude)


def likely_duplicates(
    new: Place, earlier: Iterable[Place], radius_m: float, limit: int = 5
) -> list[DuplicateCandidate]:
    """Earlier complaints of the same category at the same building or grid, or within `radius_m`.

    The closest match reason wins; a bare community code is too coarse to call anything a repeat.
    """
    found: list[tuple[int, float, DuplicateCandidate]] = []
    for other in earlier:
        if other.complaint_id == new.complaint_id or other.category != new.category:
            continue
        distance = distance_m(new.point, other.point) if new.point and other.point else None
        if new.building is not None and new.building == other.building:
            rank, reason = 0, "same_building"
        elif distance is not None and distance <= radius_m:
            rank, reason = 1, "nearby"
        elif new.grid is not None and new.grid == other.grid:
            rank, reason = 2, "same_grid"
        else:
            continue
        candidate = DuplicateCandidate(
            complaint_id=other.complaint_id,
            case_number=other.case_number,
            reason=reason,
            distance_m=round(distance, 1) if distance is not None else None,
        )
        found.append((rank, distance if distance is not None else 0.0, candidate))
    found.sort(key=lambda item: (item[0], item[1], item[2].case_number))
    return [candidate for _, _, candidate in found[:limit]]
