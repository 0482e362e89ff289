"""The community 大党委's joint meetings as reporting reads them: each meeting with its agenda,
attendance, minutes and decisions, each decision's duties with how their work orders stand,
and the measure "meeting decisions done on time" (会议决定按时办结率)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.reporting import store
from services.reporting.api.deps import AsOf, Pool, moment
from services.reporting.auth import READER, ApiKey

# Meetings need a key and show its area only (services/reporting/auth.py), as agendas do.
router = APIRouter(tags=["社区大党委联席会议 Community council meetings"])


class Duty(BaseModel):
    work_order_id: UUID
    decision_id: UUID
    item_key: str
    case_id: UUID
    decision: str
    responder_id: str
    responder_name: str
    task: str
    due_at: datetime = Field(description="限期（含延期） The deadline, extensions included")
    signed_at: datetime | None
    resolved_at: datetime | None
    on_time: bool | None = Field(description="按期办结；未到期未办结为空 None while it may")


class MeetingEntry(BaseModel):
    meeting_id: UUID
    community_code: str
    community_name: str | None
    kind: str | None = Field(description="quarterly 季度例会 | ad_hoc 临时会议")
    title: str | None
    scheduled_for: datetime
    held_at: datetime | None
    items: list[dict[str, Any]] = Field(description="议程事项 The agenda")
    attendance: list[str]
    absent: list[str]
    minutes: str | None
    members: list[dict[str, Any]] = Field(description="大党委成员 The council's members")
    duties: list[Duty]


class OnTime(BaseModel):
    due: int = Field(description="已到期或已办结的交办事项 Duties due (or already resolved)")
    on_time: int = Field(description="按期办结 Resolved by their deadline")
    rate: float | None = Field(description="会议决定按时办结率 on_time ÷ due")


class MeetingsPage(BaseModel):
    items: list[MeetingEntry]
    decisions_on_time: OnTime


def _duty(row: dict[str, Any], at: datetime) -> Duty:
    resolved, due = row["resolved_at"], row["due"]
    on_time = resolved <= due if resolved else (False if due < at else None)
    return Duty(**{**row, "due_at": due, "on_time": on_time})


@router.get(
    "/meetings",
    response_model=MeetingsPage,
    summary="社区大党委联席会议及其决定的办理 A community's joint meetings and their duties",
)
async def get_meetings(
    pool: Pool,
    key: Annotated[ApiKey, READER],
    community_code: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="社区代码")
    ] = None,
    as_of: AsOf = None,
) -> MeetingsPage:
    at = moment(as_of)
    async with pool.acquire() as conn:
        rows = await store.council_meetings(conn, community_code, key.area)
        due, on_time = await store.decisions_on_time(conn, community_code, key.area, at)
    items = [
        MeetingEntry(
            **{
                **row,
                "items": row["items"] or [],
                "attendance": row["attendance"] or [],
                "absent": row["absent"] or [],
                "members": row["members"] or [],
                "duties": [_duty(d, at) for d in row["duties"]],
            }
        )
        for row in rows
    ]
    rate = round(on_time / due, 4) if due else None
    return MeetingsPage(items=items, decisions_on_time=OnTime(due=due, on_time=on_time, rate=rate))
