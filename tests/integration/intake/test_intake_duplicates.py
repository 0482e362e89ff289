"""Intake's duplicate search: what SQL ranks and bounds is what the exact check finds among all,
and at a hot spot (more open complaints of a category at a place than the search reads) what
it finds is still what the exact check would call a repeat."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake import store
from services.intake.domain.duplicates import Place, likely_duplicates
from services.intake.main import SCHEMA
from shared.db import apply_schema

pytestmark = pytest.mark.integration

COMMUNITY = "370124002001"
CENTRE = (36.2, 116.4)
RADIUS_M = 50.0
SINCE = datetime.now(UTC) - timedelta(days=30)


def _near(
    rng: random.Random, metres: float, origin: tuple[float, float] = CENTRE
) -> tuple[float, float]:
    """A point about `metres` from `origin`, in a random direction (1° of latitude ≈ 111 km)."""
    north, east = rng.uniform(-1, 1), rng.uniform(-1, 1)
    scale = metres / 111_000 / max(1e-9, (north**2 + east**2) ** 0.5)
    return origin[0] + north * scale, origin[1] + east * scale * 1.24


async def _open_complaints(pool, rng: random.Random) -> list[dict]:
    """Complaints around the centre: many buildings, grids and distances (some a hair either
    side of the radius), other categories, closed ones, old ones, and some with no point."""
    rows = []
    for n in range(300):
        point = _near(rng, rng.choice([5, 30, 49.9, 50.05, 60, 200, 900])) if n % 7 else None
        rows.append(
            {
                "complaint_id": uuid.uuid4(),
                "case_number": f"C{n:05d}",
                "category": rng.choice(["elevator", "elevator", "elevator", "heating"]),
                "status": rng.choice(["classified"] * 5 + ["closed", "merged"]),
                "area_code": f"{COMMUNITY}-G0{rng.randint(1, 3)}-B0{rng.randint(1, 9)}",
                "grid_code": None,
                "building_code": None,
                "latitude": point[0] if point else None,
                "longitude": point[1] if point else None,
                "filed_at": SINCE + timedelta(days=rng.choice([-3, 1, 10, 29])),
            }
        )
    for row in rows:
        grid = row["area_code"].rsplit("-", 1)[0]
        row["grid_code"], row["building_code"] = grid, row["area_code"]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO complaints (complaint_id, case_number, channel, status, category, "
            "area_code, grid_code, building_code, address, latitude, longitude, text, "
            "resident_ref, filed_at, updated_at, version) VALUES ($1, $2, 'app', $3, $4, $5, "
            "$6, $7, '', $8, $9, '', 'r', $10, $10, 1)",
            [
                (
                    r["complaint_id"],
                    r["case_number"],
                    r["status"],
                    r["category"],
                    r["area_code"],
                    r["grid_code"],
                    r["building_code"],
                    r["latitude"],
                    r["longitude"],
                    r["filed_at"],
                )
                for r in rows
            ],
        )
    return rows


async def _every_open_and_filings(
    pool,
) -> tuple[list[dict], list[Place], list[store.Nearby]]:
    await apply_schema(pool, SCHEMA)
    rng = random.Random(12)
    rows = await _open_complaints(pool, rng)
    every_open = [
        Place(
            r["complaint_id"],
            r["case_number"],
            r["category"],
            r["building_code"],
            r["grid_code"],
            r["latitude"],
            r["longitude"],
        )
        for r in rows
        if r["status"] not in ("merged", "closed") and r["filed_at"] >= SINCE
    ]
    placed = [r for r in rows if r["latitude"] is not None]
    filings: list[store.Nearby] = []
    for n in range(80):
        if n % 2:
            point = _near(rng, rng.uniform(0, 80)) if n % 5 else None
        else:  # a place with only a point, just inside or outside the radius of another
            other = rng.choice(placed)
            point = _near(rng, rng.uniform(45, 55), (other["latitude"], other["longitude"]))
        building = f"{COMMUNITY}-G0{rng.randint(1, 3)}-B0{rng.randint(1, 9)}"
        new = Place(
            uuid.uuid4(),
            "",
            rng.choice(["elevator", "heating"]),
            building if n % 3 == 1 else None,
            building.rsplit("-", 1)[0] if n % 4 == 1 else None,
            point[0] if point else None,
            point[1] if point else None,
        )
        filings.append(store.Nearby(new, COMMUNITY, SINCE, None))
    return rows, every_open, filings


async def test_the_bounded_search_finds_what_the_exact_check_finds_among_every_open_complaint(
    pool,
):
    rows, every_open, filings = await _every_open_and_filings(pool)
    # All 80 in one statement, as a group of filings is looked up: each gets its own few.
    # The search reads every candidate when a place holds no more than `scan` of them.
    async with pool.acquire() as conn:
        found = await store.sequences_and_places_near(
            conn, filings, RADIUS_M, limit=10, scan=len(rows)
        )
    # One number each, drawn together: consecutive, in the filings' order.
    sequences = [sequence for sequence, _ in found]
    assert sequences == list(range(sequences[0], sequences[0] + len(filings)))
    for filing, (_, bounded) in zip(filings, found, strict=True):
        assert likely_duplicates(filing.place, bounded, RADIUS_M) == likely_duplicates(
            filing.place, every_open, RADIUS_M
        )


async def test_at_a_hot_spot_the_search_reads_a_few_and_finds_only_true_repeats(pool):
    rows, every_open, filings = await _every_open_and_filings(pool)
    scan = 20  # fewer than the ≈ 150 open complaints of a category in the community
    async with pool.acquire() as conn:
        found = await store.sequences_and_places_near(conn, filings, RADIUS_M, 10, scan=scan)
    for filing, (_, bounded) in zip(filings, found, strict=True):
        assert len(bounded) <= 10
        everything = likely_duplicates(filing.place, every_open, RADIUS_M, limit=len(rows))
        for candidate in likely_duplicates(filing.place, bounded, RADIUS_M):
            assert candidate in everything  # the same complaint, reason and distance
    # The bound is what limits it: these filings have no box, so only the community's branch
    # reads, at most `scan` rows, though the exact check finds more for many of them.
    async with pool.acquire() as conn:
        few = await store.sequences_and_places_near(conn, filings, RADIUS_M, 10, scan=3)
    assert all(len(bounded) <= 3 for _, bounded in few)
    assert any(
        len(likely_duplicates(f.place, every_open, RADIUS_M, limit=len(rows))) > 3 for f in filings
    )
