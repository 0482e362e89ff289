"""The console's queries beside the read models': what to search by, work in flight (clocks
due, cases at risk, agendas by stage), and what operators did with dead letters (a table of its
own, schema/letters.sql, which no rebuild touches)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from services.reporting.projections import SCHEMA_DIR
from services.reporting.store import OPEN_MATTER, Where, agenda_within
from shared.db import Connection
from shared.events.area import like_patterns

# --- the console: what to search by, and work in flight -------------------------------------


async def area_choices(conn: Connection, within: str | None) -> list[dict[str, Any]]:
    """The streets and communities in `within` (None: the city), to search and filter by."""
    rows = await conn.fetch(
        "SELECT code, name, level FROM areas WHERE level IN ('street', 'community') "
        "AND NOT coalesce(removed, false) AND ($1::text[] IS NULL OR code LIKE ANY($1::text[])) "
        "ORDER BY code",
        like_patterns(within) if within else None,
    )
    return [dict(row) for row in rows]


async def responder_choices(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, name FROM responders WHERE NOT coalesce(removed, false) ORDER BY kind, name"
    )
    return [dict(row) for row in rows]


async def case_numbers(conn: Connection, ids: Iterable[UUID]) -> dict[UUID, dict[str, Any]]:
    """Case number and place of each case, by id (the console names another service's items)."""
    rows = await conn.fetch(
        "SELECT complaint_id, case_number, area_code FROM cases WHERE complaint_id = ANY($1)",
        list(set(ids)),
    )
    return {row["complaint_id"]: dict(row) for row in rows}


# An open order's next clock: signing until signed, then contacting, then the feedback.
_NEXT_CLOCK = (
    "CASE WHEN w.signed_at IS NULL AND w.sign_due_at IS NOT NULL THEN {sign} "
    "WHEN w.contacted_at IS NULL AND w.contact_due_at IS NOT NULL THEN {contact} "
    "ELSE {feedback} END"
)
_OPEN_ORDER = (
    "w.issued_at IS NOT NULL AND w.resolved_at IS NULL AND w.cancelled_at IS NULL "
    "AND w.returned_at IS NULL AND NOT coalesce(c.deliberating, false) "
    "AND coalesce(c.dispatch_state, 'open') = 'open'"
)


async def clocks_due(
    conn: Connection, within: str | None, as_of: datetime, horizon_s: float, limit: int
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Open orders whose next clock (签收, 联系, 反馈) runs out before `as_of` + `horizon_s`,
    soonest (most overdue) first; with the counts of those late and those due in the horizon.
    Deliberation pauses the clocks: those cases are left out."""
    where = Where(_OPEN_ORDER)
    now = where.param(as_of)
    where.within(within)
    clock = _NEXT_CLOCK.format(sign="'sign'", contact="'contact'", feedback="'feedback'")
    due = _NEXT_CLOCK.format(sign="w.sign_due_at", contact="w.contact_due_at", feedback="w.due_at")
    horizon = where.param(horizon_s)
    inner = (
        f"SELECT c.complaint_id, c.case_number, c.category_name, c.street_code, c.area_code, "
        f"w.work_order_id, w.responder_name, w.role, {clock} AS clock, {due} AS clock_due_at "
        f"FROM case_work_orders w JOIN cases c USING (complaint_id){where.sql}"
    )
    soon = f"d.clock_due_at < {now}::timestamptz + make_interval(secs => {horizon})"
    counts = await conn.fetchrow(
        f"SELECT count(*) FILTER (WHERE d.clock_due_at < {now}) AS late, "
        f"count(*) FILTER (WHERE d.clock_due_at >= {now} AND {soon}) AS due "
        f"FROM ({inner}) d",
        *where.args,
    )
    rows = await conn.fetch(
        f"SELECT d.*, extract(epoch FROM d.clock_due_at - {now})::float8 AS seconds_left "
        f"FROM ({inner}) d WHERE {soon} ORDER BY d.clock_due_at, d.work_order_id "
        f"LIMIT {where.param(limit)}",
        *where.args,
    )
    assert counts is not None  # an aggregate always answers one row
    return {"late": counts["late"], "due": counts["due"]}, [dict(row) for row in rows]


async def cases_at_risk(
    conn: Connection, within: str | None, limit: int
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Open matters that were escalated, breached a clock, or were warned (the worst first),
    with the count at each level."""
    where = Where(OPEN_MATTER)
    where.within(within)
    risk = (
        "CASE WHEN c.escalation_level IS NOT NULL THEN 'escalated' "
        "WHEN EXISTS (SELECT 1 FROM case_work_orders b WHERE b.complaint_id = c.complaint_id "
        "AND b.first_breached_at IS NOT NULL AND b.resolved_at IS NULL AND b.cancelled_at IS NULL "
        "AND b.returned_at IS NULL) THEN 'breached' "
        "WHEN EXISTS (SELECT 1 FROM case_timeline t WHERE t.complaint_id = c.complaint_id "
        "AND t.type = 'SlaWarned') THEN 'warned' END"
    )
    inner = (
        f"SELECT c.complaint_id, c.case_number, c.category_name, c.lead_responder_name, "
        f"c.escalation_level, c.escalated_to, c.area_code, w.due_at, {risk} AS risk "
        f"FROM cases c LEFT JOIN case_work_orders w ON w.work_order_id = c.lead_work_order_id"
        f"{where.sql}"
    )
    counts = {
        row["risk"]: row["n"]
        for row in await conn.fetch(
            f"SELECT r.risk, count(*) AS n FROM ({inner}) r WHERE r.risk IS NOT NULL "
            "GROUP BY r.risk",
            *where.args,
        )
    }
    rows = await conn.fetch(
        f"SELECT r.* FROM ({inner}) r WHERE r.risk IS NOT NULL "
        "ORDER BY array_position(ARRAY['escalated', 'breached', 'warned'], r.risk), "
        f"r.due_at NULLS LAST, r.complaint_id LIMIT {where.param(limit)}",
        *where.args,
    )
    return counts, [dict(row) for row in rows]


async def agenda_stages(conn: Connection, within: str | None) -> list[dict[str, Any]]:
    """Agenda items by level and stage (议事清单, where each stands)."""
    where = Where("i.opened_at IS NOT NULL")
    if within:
        where.clauses.append(agenda_within(where.param(within)))
    rows = await conn.fetch(
        f"SELECT i.level, i.stage, count(*) AS n FROM agenda_items i{where.sql} "
        "GROUP BY i.level, i.stage ORDER BY i.level, i.stage",
        *where.args,
    )
    return [dict(row) for row in rows]


# --- what operators did with dead letters (schema/letters.sql; not a read model) ---------------

LETTERS_SCHEMA = SCHEMA_DIR / "letters.sql"


async def last_letter_actions(conn: Connection, letter_ids: list[str]) -> dict[str, datetime]:
    """When each of `letter_ids` was last redriven or parked (those never acted on left out)."""
    rows = await conn.fetch(
        "SELECT letter_id, max(acted_at) AS acted_at FROM dead_letter_actions "
        "WHERE letter_id = ANY($1::text[]) GROUP BY letter_id",
        letter_ids,
    )
    return {row["letter_id"]: row["acted_at"] for row in rows}


async def record_letter_actions(
    conn: Connection,
    action: str,
    actor: str,
    reason: str,
    letters: Iterable[tuple[str, str, str | None]],
) -> None:
    """One row per letter (id, topic, event type) that was redriven or parked."""
    await conn.executemany(
        "INSERT INTO dead_letter_actions (letter_id, action, actor, reason, topic, event_type) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(letter_id, action, actor, reason, topic, kind) for letter_id, topic, kind in letters],
    )


async def letter_actions(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest actions, newest first."""
    rows = await conn.fetch(
        "SELECT * FROM dead_letter_actions ORDER BY acted_at DESC, action_id DESC LIMIT $1", limit
    )
    return [dict(row) for row in rows]
