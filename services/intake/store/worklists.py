"""The staff's work lists and the clocks behind them: the triage queue and its acceptance
clock, the callback worklist, and a resident's results awaiting their own rating."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from services.intake.store.complaints import VIEW_COLUMNS, VIEW_NAMES
from shared.db import Connection
from shared.events.area import like_patterns


async def triage_queue(
    conn: Connection, limit: int, offset: int, within: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """What waits for staff, oldest first; only the area `within` names if given."""
    waiting = (
        "(status = 'triage' OR (duplicate_pending"
        " AND status NOT IN ('merged','withdrawn','closed','answered')))"
    )
    return await _queue(conn, waiting, "filed_at", within, limit, offset)


async def _queue(
    conn: Connection, condition: str, oldest: str, within: str | None, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """A staff work list: the view rows meeting `condition` in the area `within` (None:
    everywhere), the one with the smallest `oldest` first; with the total."""
    where = f"WHERE {condition} AND ($1::text[] IS NULL OR area_code LIKE ANY($1::text[]))"
    patterns = like_patterns(within) if within else None
    total: int = await conn.fetchval(f"SELECT count(*) FROM complaints {where}", patterns)
    rows = await conn.fetch(
        f"SELECT {VIEW_COLUMNS} FROM complaints {where} ORDER BY {oldest}, case_number "
        "LIMIT $2 OFFSET $3",
        patterns,
        limit,
        offset,
    )
    return total, [dict(row) for row in rows]


async def triage_due(
    conn: Connection, warn_before: datetime, breach_before: datetime, limit: int
) -> list[UUID]:
    """Complaints waiting for a person whose acceptance clock has a step due: filed before
    `warn_before` and not yet warned, or before `breach_before` and not yet breached."""
    rows = await conn.fetch(
        "SELECT complaint_id FROM complaints WHERE status = 'triage' AND ("
        "(triage_clock IS NULL AND filed_at <= $1) "
        "OR (coalesce(triage_clock, '') <> 'breached' AND filed_at <= $2)) "
        "ORDER BY filed_at LIMIT $3",
        warn_before,
        breach_before,
        limit,
    )
    return [row["complaint_id"] for row in rows]


async def next_triage_step(conn: Connection, warn_after: Any, breach_after: Any) -> datetime | None:
    """When the next acceptance clock of a waiting complaint has a step due."""
    due: datetime | None = await conn.fetchval(
        "SELECT min(CASE WHEN triage_clock IS NULL THEN filed_at + $1 ELSE filed_at + $2 END) "
        "FROM complaints WHERE status = 'triage' AND coalesce(triage_clock, '') <> 'breached'",
        warn_after,
        breach_after,
    )
    return due


_CALLBACK_COLUMNS = ", ".join(f"c.{name}" for name in VIEW_NAMES)


async def callback_worklist(
    conn: Connection, limit: int, offset: int, within: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Complaints whose unit reported and whose resident nobody has reached yet, the longest
    waiting first; only the area `within` names if given. A duplicate merged into a complaint
    that has been handled waits here too, for its own resident, until a callback reaches them
    after the survivor's latest report (`survivor_*`: the complaint it follows)."""
    where = (
        "WHERE (c.status = 'resolved' OR (c.status = 'merged'"
        " AND s.status IN ('resolved', 'called_back', 'closed')"
        " AND (c.reached_at IS NULL OR c.reached_at < s.resolved_at)))"
        " AND ($1::text[] IS NULL OR c.area_code LIKE ANY($1::text[]))"
    )
    joined = (
        "FROM complaints c LEFT JOIN complaints s"
        " ON c.status = 'merged' AND s.complaint_id = c.merged_into"
    )
    since = "coalesce(s.resolved_at, c.resolved_at, c.updated_at)"
    patterns = like_patterns(within) if within else None
    total: int = await conn.fetchval(f"SELECT count(*) {joined} {where}", patterns)
    rows = await conn.fetch(
        f"SELECT {_CALLBACK_COLUMNS}, {since} AS waiting_since,"
        " s.case_number AS survivor_case_number, s.status AS survivor_status"
        f" {joined} {where} ORDER BY {since}, c.case_number LIMIT $2 OFFSET $3",
        patterns,
        limit,
        offset,
    )
    return total, [dict(row) for row in rows]


async def awaiting_rating(
    conn: Connection, resident: str, reported_by: datetime
) -> list[dict[str, Any]]:
    """A resident's complaints whose result, reported by `reported_by`, they have not rated yet,
    the latest result first: as `domain.awaits_rating` says (a merged duplicate's result is the
    one of the complaint it follows)."""
    rows = await conn.fetch(
        "SELECT c.complaint_id, c.case_number FROM complaints c LEFT JOIN complaints s"
        " ON c.status = 'merged' AND s.complaint_id = c.merged_into"
        " WHERE c.resident_ref = $1 AND ((c.status = 'resolved' AND c.resolved_at <= $2)"
        " OR (c.status = 'merged' AND s.status IN ('resolved', 'called_back', 'closed')"
        " AND s.resolved_at <= $2 AND (c.reached_at IS NULL OR c.reached_at < s.resolved_at)))"
        " ORDER BY coalesce(s.resolved_at, c.resolved_at) DESC, c.filed_at DESC",
        resident,
        reported_by,
    )
    return [dict(row) for row in rows]
