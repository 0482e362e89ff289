"""What filing reads: each new complaint's case sequence number, and the open complaints near
it that it may repeat (the few likeliest, found and ranked in SQL; domain/duplicates decides)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.intake.domain.duplicates import Place
from shared.db import Connection

# The haversine distance of domain/geo.distance_m, in SQL, from a filing (q) to a row.
_DISTANCE = (
    "CASE WHEN q.latitude IS NOT NULL AND c.latitude IS NOT NULL THEN "
    "2 * 6371008.8 * asin(least(1, sqrt(sin(radians(c.latitude - q.latitude) / 2) ^ 2 "
    "+ cos(radians(q.latitude)) * cos(radians(c.latitude)) "
    "* sin(radians(c.longitude - q.longitude) / 2) ^ 2))) END"
)


_PLACE_COLUMNS = (
    "complaint_id, case_number, category, building_code, grid_code, latitude, longitude"
)


_OPEN = "status NOT IN ('merged', 'withdrawn', 'closed', 'answered')"


@dataclass(frozen=True, slots=True)
class Nearby:
    """Where to look for a new complaint's likely duplicates: its place, its community, the
    earliest filing time that counts, and a latitude/longitude box around its point."""

    place: Place
    community: str
    since: datetime
    box: tuple[float, float, float, float] | None


async def sequences_and_places_near(
    conn: Connection, filings: Sequence[Nearby], radius_m: float, limit: int, scan: int = 50
) -> list[tuple[int, list[Place]]]:
    """For each filing, in order: its case sequence number (increasing in that order), and the
    open complaints of its category filed since `since` in its community or inside its box
    that may repeat it (same building, within `radius_m`, same grid), the likeliest `limit` of
    them, ranked as `likely_duplicates` ranks them (which then decides, on these few): one
    statement for any number of filings. Where a place holds more than `scan` such
    complaints, the likeliest are sought among the community's `scan` newest and `scan` of
    those inside the box."""
    boxes = [f.box or (None, None, None, None) for f in filings]
    rows = await conn.fetch(
        f"""
        SELECT q.i, q.sequence, p.* FROM (
            SELECT u.*, nextval('case_number_seq') AS sequence
            FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::float8[], $5::float8[],
                        $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::text[],
                        $11::text[]) WITH ORDINALITY
                 AS u(category, since, community, lat0, lat1, lon0, lon1, latitude, longitude,
                      building, grid, i)
        ) AS q
        LEFT JOIN LATERAL (
            SELECT c.complaint_id, c.case_number, c.category, c.building_code, c.grid_code,
                   c.latitude, c.longitude
            FROM (
                -- Two branches, each on an index of its own: an OR of them could use neither
                -- and would read every open complaint of the category in the city. Each reads
                -- at most $14 rows (the community's newest first), so that a hot spot (a
                -- burst pipe: hundreds of open complaints of one category in one community)
                -- costs a filing no more than a quiet place does.
                (SELECT {_PLACE_COLUMNS} FROM complaints
                 WHERE category = q.category AND substr(area_code, 1, 12) = q.community
                   AND filed_at >= q.since AND {_OPEN}
                 ORDER BY filed_at DESC LIMIT $14)
                UNION
                (SELECT {_PLACE_COLUMNS} FROM complaints
                 WHERE q.lat0 IS NOT NULL AND category = q.category
                   AND latitude BETWEEN q.lat0 AND q.lat1 AND longitude BETWEEN q.lon0 AND q.lon1
                   AND filed_at >= q.since AND {_OPEN}
                 LIMIT $14)
            ) AS c
            CROSS JOIN LATERAL (SELECT {_DISTANCE} AS d) AS dist
            CROSS JOIN LATERAL (
                SELECT CASE WHEN c.building_code = q.building THEN 0
                            WHEN dist.d <= $12 + 0.01 THEN 1
                            WHEN c.grid_code = q.grid THEN 2 END AS rank
            ) AS r
            WHERE r.rank IS NOT NULL
            ORDER BY r.rank, coalesce(dist.d, 0), c.case_number
            LIMIT $13
        ) AS p ON true
        """,
        [f.place.category for f in filings],
        [f.since for f in filings],
        [f.community for f in filings],
        [b[0] for b in boxes],
        [b[1] for b in boxes],
        [b[2] for b in boxes],
        [b[3] for b in boxes],
        [f.place.latitude for f in filings],
        [f.place.longitude for f in filings],
        [f.place.building for f in filings],
        [f.place.grid for f in filings],
        radius_m,
        limit,
        scan,
    )
    sequences: dict[int, int] = {}
    near: dict[int, list[Place]] = {i: [] for i in range(1, len(filings) + 1)}
    for row in rows:
        sequences[row["i"]] = row["sequence"]
        if row["complaint_id"] is not None:
            near[row["i"]].append(
                Place(
                    complaint_id=row["complaint_id"],
                    case_number=row["case_number"],
                    category=row["category"],
                    building=row["building_code"],
                    grid=row["grid_code"],
                    latitude=row["latitude"],
                    longitude=row["longitude"],
                )
            )
    # Case numbers follow the filings' order whatever order the rows were numbered in.
    return list(zip(sorted(sequences.values()), (near[i] for i in sorted(near)), strict=True))
