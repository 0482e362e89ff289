"""The grid's rounds as public lists: the matters fixed on the spot (随手做) and the patrols
(巡查), each with the names of its places (SQL over the read models "cases" and "patrols")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.reporting.store import Where
from shared.db import Connection


async def on_spot(
    conn: Connection, area: str | None, since: datetime | None, limit: int | None, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """The matters fixed on the spot (随手做) since `since`, the latest first, for the public."""
    where = Where("c.on_spot_at IS NOT NULL")
    where.within(area)
    where.add("c.on_spot_at >= {}", since)
    base = (
        "FROM cases c LEFT JOIN areas a ON a.code = c.area_code "
        "LEFT JOIN areas p ON p.code = c.place_code "
        "LEFT JOIN areas m ON m.code = c.community_code "
        "LEFT JOIN categories k ON k.code = c.category"
    )
    total: int = await conn.fetchval(f"SELECT count(*) {base}{where.sql}", *where.args)
    page = where.page(limit, offset)
    rows = await conn.fetch(
        f"""
        SELECT c.complaint_id, c.case_number, c.category, coalesce(k.name, c.category) AS category_name,
               c.area_code, coalesce(p.name, a.name, m.name) AS place_name,
               m.name AS community_name, c.on_spot_at, c.on_spot_done, c.on_spot_by, c.patrol_id
        {base}{where.sql}
        ORDER BY c.on_spot_at DESC, c.complaint_id{page}
        """,
        *where.args,
    )
    return total, [dict(row) for row in rows]


async def patrols(
    conn: Connection, area: str | None, since: datetime | None, limit: int | None, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """The grid workers' patrols, the latest first."""
    where = Where()
    where.within(area)
    where.add("c.started_at >= {}", since)
    base = (
        "FROM patrols c LEFT JOIN areas a ON a.code = c.area_code "
        "LEFT JOIN areas m ON m.code = c.community_code"
    )
    total: int = await conn.fetchval(f"SELECT count(*) {base}{where.sql}", *where.args)
    page = where.page(limit, offset)
    rows = await conn.fetch(
        f"""
        SELECT c.patrol_id, c.area_code, a.name AS area_name, m.name AS community_name,
               c.patroller, c.started_at, c.ended_at, c.findings, c.fixed_on_spot
        {base}{where.sql}
        ORDER BY c.started_at DESC, c.patrol_id{page}
        """,
        *where.args,
    )
    return total, [dict(row) for row in rows]
