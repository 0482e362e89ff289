"""The SQL of the community 大党委 and its meetings: their streams and views, and what the
agenda is prepared from (dispatch's record of the community). Beside store.py, which is at
its length; same role."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.dispatch.domain import meetings
from services.dispatch.domain.case import OPEN
from shared.db import Connection
from shared.events.area import like_patterns
from shared.eventstore import EventStore, RecordedEvent


def council_stream(community_code: str) -> str:
    return f"council-{community_code}"


def meeting_stream(meeting_id: UUID) -> str:
    return f"meeting-{meeting_id}"


async def load_council(
    conn: Connection, events: EventStore, community_code: str
) -> tuple[meetings.Council | None, list[RecordedEvent]]:
    history = await events.read_stream(conn, council_stream(community_code))
    return meetings.fold_council(r.to_envelope().event for r in history), history


async def load_meeting(
    conn: Connection, events: EventStore, meeting_id: UUID
) -> tuple[meetings.Meeting | None, list[RecordedEvent]]:
    history = await events.read_stream(conn, meeting_stream(meeting_id))
    return meetings.fold_meeting(r.to_envelope().event for r in history), history


def council_json(council: meetings.Council) -> dict[str, Any]:
    return {
        "community_code": council.community_code,
        "community_name": council.community_name,
        "members": [
            m.model_dump(mode="json") | {"kind_label": meetings.MEMBER_KINDS[m.kind]}
            for m in council.members
        ],
        "cadence_months": council.cadence_months,
        "constituted_at": council.constituted_at.isoformat(),
    }


def meeting_json(meeting: meetings.Meeting) -> dict[str, Any]:
    return {
        "meeting_id": str(meeting.meeting_id),
        "community_code": meeting.community_code,
        "community_name": meeting.community_name,
        "kind": meeting.kind.value,
        "kind_label": meetings.KIND_LABELS[meeting.kind],
        "title": meeting.title,
        "status": meeting.status,
        "status_label": meetings.STATUS_LABELS[meeting.status],
        "scheduled_for": meeting.scheduled_for.isoformat(),
        "items": [
            i.model_dump(mode="json") | {"source_label": meetings.SOURCE_LABELS[i.source]}
            for i in meeting.items
        ],
        "prepared_at": meeting.prepared_at.isoformat() if meeting.prepared_at else None,
        "held_at": meeting.held_at.isoformat() if meeting.held_at else None,
        "attendance": list(meeting.attendance),
        "absent": list(meeting.absent),
        "minutes": meeting.minutes,
        "decisions": [
            d.model_dump(mode="json", exclude={"community_code", "meeting_id"})
            for d in meeting.decisions
        ],
        "updated_at": meeting.updated_at.isoformat() if meeting.updated_at else None,
    }


async def save_council_view(conn: Connection, council: meetings.Council) -> None:
    await conn.execute(
        """
        INSERT INTO councils (community_code, updated_at, data) VALUES ($1, now(), $2)
        ON CONFLICT (community_code) DO UPDATE SET updated_at = now(), data = excluded.data
        """,
        council.community_code,
        council_json(council),
    )


async def save_meeting_view(conn: Connection, meeting: meetings.Meeting) -> None:
    await conn.execute(
        """
        INSERT INTO council_meetings (meeting_id, community_code, kind, status, scheduled_for,
                                      held_at, updated_at, data)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (meeting_id) DO UPDATE SET
            status = excluded.status, held_at = excluded.held_at,
            updated_at = excluded.updated_at, data = excluded.data
        """,
        meeting.meeting_id,
        meeting.community_code,
        meeting.kind.value,
        meeting.status,
        meeting.scheduled_for,
        meeting.held_at,
        meeting.updated_at,
        meeting_json(meeting),
    )


async def councils(conn: Connection, scope_patterns: list[str] | None) -> list[dict[str, Any]]:
    """Every council within `scope_patterns` (None: all), with when its last regular meeting
    met and when its next one is scheduled."""
    rows = await conn.fetch(
        """
        SELECT c.data,
               (SELECT max(held_at) FROM council_meetings m
                 WHERE m.community_code = c.community_code AND m.kind = 'quarterly')
                   AS last_held,
               (SELECT min(scheduled_for) FROM council_meetings m
                 WHERE m.community_code = c.community_code AND m.status = 'scheduled')
                   AS next_scheduled
        FROM councils c
        WHERE $1::text[] IS NULL OR c.community_code LIKE ANY ($1::text[])
        ORDER BY c.community_code
        """,
        scope_patterns,
    )
    return [dict(row) for row in rows]


async def meetings_of(conn: Connection, community_code: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT data FROM council_meetings WHERE community_code = $1 ORDER BY scheduled_for DESC",
        community_code,
    )
    return [row["data"] for row in rows]


# --- what the agenda is prepared from ---------------------------------------------------------


async def unsettled_items(conn: Connection, community_code: str) -> list[meetings.Unsettled]:
    rows = await conn.fetch(
        """
        SELECT item_id, complaint_id, data->>'title' AS title FROM agenda_items
        WHERE community_code = $1 AND level = 'community' AND stage = 'unsettled'
        ORDER BY updated_at
        """,
        community_code,
    )
    return [meetings.Unsettled(r["item_id"], r["complaint_id"], r["title"]) for r in rows]


async def open_cases(conn: Connection, community_code: str) -> list[meetings.OpenCase]:
    """The community's open cases with an open supervising order or a breached open order."""
    rows = await conn.fetch(
        """
        SELECT c.complaint_id, c.area_code, c.category,
               bool_or(w.purpose = 'escalation' AND w.status = ANY ($2::text[])) AS escalated,
               bool_or(w.breached AND w.status = ANY ($2::text[])) AS overdue
        FROM cases c JOIN work_orders w USING (complaint_id)
        WHERE c.area_code LIKE ANY ($1::text[]) AND c.status NOT IN ('resolved', 'cancelled')
        GROUP BY c.complaint_id, c.area_code, c.category
        ORDER BY min(w.issued_at)
        """,
        like_patterns(community_code),
        [s.value for s in OPEN],
    )
    return [
        meetings.OpenCase(
            r["complaint_id"], r["area_code"], r["category"], r["escalated"], r["overdue"]
        )
        for r in rows
    ]


async def recent_cases(
    conn: Connection, community_code: str, now: datetime
) -> list[meetings.RecentCase]:
    """Each case of the community first dispatched in the last RECENT_DAYS."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (w.complaint_id) w.complaint_id, w.area_code, c.category, w.issued_at
        FROM work_orders w JOIN cases c USING (complaint_id)
        WHERE w.area_code LIKE ANY ($1::text[]) AND w.role = 'lead' AND w.issued_at > $2
        ORDER BY w.complaint_id, w.issued_at
        """,
        like_patterns(community_code),
        now - timedelta(days=meetings.RECENT_DAYS),
    )
    return [
        meetings.RecentCase(r["complaint_id"], r["area_code"], r["category"], r["issued_at"])
        for r in rows
    ]
