"""政务事项 on the 督办墙 (seed 002: 专设民生事项督办墙、展示屏，对于低保申请、尊老金发放、独生子女费
申领等事项一律公开进度，明确专人限时办理): the read model's projection, the board's rows and the
on-time rate. Public: the events name no applicant and no place finer than the community."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from services.reporting.upsert import NO_SEQUENCE, Upsert
from shared.db import Connection
from shared.envelope import Envelope
from shared.events import (
    Event,
    MatterKind,
    MatterStatus,
    ServiceMatterBreached,
    ServiceMatterCompleted,
    ServiceMatterOpened,
    ServiceMatterProgressed,
    ServiceMatterWarned,
    labels,
)
from shared.events.area import enclosing

Project = Callable[[Any, Envelope], list[Upsert]]


def _seq(envelope: Envelope) -> int:
    return envelope.sequence if envelope.sequence is not None else NO_SEQUENCE


def _matter(matter_id: UUID, **policies: Any) -> Upsert:
    return Upsert("service_matters", {"matter_id": matter_id}, **policies)


def _matter_opened(e: ServiceMatterOpened, env: Envelope) -> list[Upsert]:
    once = {
        "kind": e.kind.value,
        "title": e.title,
        "community_code": e.community_code,
        "community_name": e.community_name,
        "street_code": enclosing(e.community_code).street,
        "responder_id": e.responder_id,
        "person": e.person,
        "time_limit": e.time_limit,
        "due_at": e.due_at,
        "opened_at": e.opened_at,
    }
    state = {"status": "open", "status_at": e.opened_at}
    return [_matter(e.matter_id, once=once, registers={"status_seq": (_seq(env), state)})]


def _matter_progressed(e: ServiceMatterProgressed, env: Envelope) -> list[Upsert]:
    state = {"status": "in_progress", "status_at": e.progressed_at, "last_step": e.note}
    return [_matter(e.matter_id, registers={"status_seq": (_seq(env), state)})]


def _matter_completed(e: ServiceMatterCompleted, env: Envelope) -> list[Upsert]:
    state = {"status": "done", "status_at": e.completed_at, "last_step": e.result}
    once = {"completed_at": e.completed_at, "on_time": e.on_time}
    return [_matter(e.matter_id, once=once, registers={"status_seq": (_seq(env), state)})]


MATTERS: dict[type[Event], Project] = {
    ServiceMatterOpened: _matter_opened,
    ServiceMatterProgressed: _matter_progressed,
    ServiceMatterCompleted: _matter_completed,
    ServiceMatterWarned: lambda e, env: [_matter(e.matter_id, least={"warned_at": e.warned_at})],
    ServiceMatterBreached: lambda e, env: [
        _matter(e.matter_id, least={"breached_at": e.breached_at})
    ],
}


# --- the board's rows and the on-time rate ----------------------------------------------------


async def board(
    conn: Connection, area: str | None, include_done: bool, as_of: datetime, limit: int
) -> list[dict[str, Any]]:
    """Matters of the area (a street or a community), overdue first, then by deadline."""
    rows = await conn.fetch(
        """
        SELECT matter_id, kind, title, community_code, community_name, street_code, person,
               time_limit, due_at, opened_at, status, status_at, completed_at, on_time,
               warned_at, breached_at,
               (status <> 'done' AND due_at < $3) AS overdue,
               extract(epoch FROM due_at - $3)::float8 AS seconds_left
        FROM service_matters
        WHERE opened_at IS NOT NULL
          AND ($1::text IS NULL OR community_code = $1 OR street_code = $1
               OR left(community_code, 6) || '000000' = $1 OR $1 LIKE community_code || '-%')
          AND ($2 OR coalesce(status, 'open') <> 'done')
        ORDER BY (status <> 'done' AND due_at < $3) DESC, due_at, matter_id
        LIMIT $4
        """,
        area,
        include_done,
        as_of,
        limit,
    )
    return [dict(row) for row in rows]


async def on_time(conn: Connection, area: str | None, as_of: datetime) -> dict[str, Any]:
    """政务事项按时办结率: done in time ÷ matters whose outcome is known (done, or past due)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE status = 'done' OR due_at <= $2) AS due,
               count(*) FILTER (WHERE status = 'done' AND on_time) AS done_on_time,
               count(*) FILTER (WHERE status = 'done') AS done,
               count(*) FILTER (WHERE status <> 'done' AND due_at < $2) AS overdue,
               count(*) FILTER (WHERE status <> 'done') AS open
        FROM service_matters
        WHERE opened_at IS NOT NULL
          AND ($1::text IS NULL OR community_code = $1 OR street_code = $1
               OR left(community_code, 6) || '000000' = $1 OR $1 LIKE community_code || '-%')
        """,
        area,
        as_of,
    )
    counts = dict(row) if row else {}
    due = counts.get("due") or 0
    rate = counts["done_on_time"] / due if due else None
    return counts | {"on_time_rate": rate}


# --- what the board answers ---------------------------------------------------------------


class BoardMatter(BaseModel):
    """A 政务事项 on the board: kind, community, named person, deadline, status (no applicant)."""

    matter_id: UUID
    kind: str
    kind_label: str = Field(description="事项类别 低保申请 | 尊老金发放 | 独生子女费申领 | 代办")
    title: str
    community_code: str
    community_name: str | None
    person: str = Field(description="专人 The named person")
    time_limit: str
    due_at: datetime
    opened_at: datetime
    status: str
    status_label: str
    completed_at: datetime | None
    on_time: bool | None
    overdue: bool
    seconds_left: float | None = Field(description="距时限秒数（办结后为空）")


class MattersOnTime(BaseModel):
    """政务事项按时办结率: done in time ÷ matters done or past their deadline."""

    due: int
    done: int
    done_on_time: int
    overdue: int
    open: int
    on_time_rate: float | None


class BoardMatters(BaseModel):
    as_of: datetime
    items: list[BoardMatter]
    measures: MattersOnTime


def board_matter(row: dict[str, Any]) -> BoardMatter:
    kind, status = MatterKind(row["kind"]), MatterStatus(row["status"] or "open")
    return BoardMatter(
        **{k: row[k] for k in ("matter_id", "kind", "title", "community_code", "community_name")},
        **{k: row[k] for k in ("person", "time_limit", "due_at", "opened_at", "status")},
        kind_label=labels.MATTER_KIND[kind],
        status_label=labels.MATTER_STATUS[status],
        completed_at=row["completed_at"],
        on_time=row["on_time"],
        overdue=bool(row["overdue"]),
        seconds_left=None if status is MatterStatus.DONE else row["seconds_left"],
    )
