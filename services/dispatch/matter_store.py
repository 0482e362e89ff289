"""Dispatch's SQL for 政务事项 (kept beside store.py, which holds the cases' and the city's):
each matter's stream, its view row and the lists read from the views."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.dispatch.domain import service_matters
from shared.db import Connection
from shared.events import labels
from shared.eventstore import EventStore, RecordedEvent

# --- 政务事项 ------------------------------------------------------------------------------------


def matter_stream(matter_id: UUID) -> str:
    return f"matter-{matter_id}"


async def load_matter(
    conn: Connection, events: EventStore, matter_id: UUID
) -> tuple[service_matters.Matter | None, list[RecordedEvent]]:
    history = await events.read_stream(conn, matter_stream(matter_id))
    return service_matters.fold(r.to_envelope().event for r in history), history


def matter_json(matter: service_matters.Matter) -> dict[str, Any]:
    return {
        "matter_id": str(matter.matter_id),
        "kind": matter.kind.value,
        "kind_label": labels.MATTER_KIND[matter.kind],
        "title": matter.title,
        "community_code": matter.community_code,
        "community_name": matter.community_name,
        "responder_id": matter.responder_id,
        "person": matter.person,
        "time_limit": matter.time_limit,
        "due_at": matter.due_at.isoformat(),
        "warn_at": matter.warn_at.isoformat(),
        "status": matter.status.value,
        "status_label": labels.MATTER_STATUS[matter.status],
        "steps": [{"note": s.note, "at": s.at.isoformat()} for s in matter.steps],
        "warned": matter.warned,
        "breached": matter.breached,
        "result": matter.result,
        "completed_at": matter.completed_at.isoformat() if matter.completed_at else None,
        "on_time": matter.on_time,
        "opened_at": matter.opened_at.isoformat(),
        "updated_at": matter.updated_at.isoformat(),
    }


async def save_matter_view(conn: Connection, matter: service_matters.Matter) -> None:
    await conn.execute(
        """
        INSERT INTO service_matters (matter_id, community_code, responder_id, status, due_at,
                                     updated_at, data)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (matter_id) DO UPDATE SET
            status = excluded.status, updated_at = excluded.updated_at, data = excluded.data
        """,
        matter.matter_id,
        matter.community_code,
        matter.responder_id,
        matter.status.value,
        matter.due_at,
        matter.updated_at,
        matter_json(matter),
    )


async def list_matters(
    conn: Connection, *, area_patterns: list[str] | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT data FROM service_matters
        WHERE ($1::text[] IS NULL OR community_code LIKE ANY ($1::text[]))
          AND ($2::text IS NULL OR status = $2)
        ORDER BY due_at LIMIT $3
        """,
        area_patterns,
        status,
        limit,
    )
    return [row["data"] for row in rows]
