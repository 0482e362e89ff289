"""Reporting's HTTP routes: the case read model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from services.reporting import domain, store
from shared.http import Offset, Problem
from shared.runtime import ServiceRuntime

router = APIRouter(tags=["案件 Cases"])


class Responder(BaseModel):
    id: str
    name: str


class TimelineEntry(BaseModel):
    event_id: UUID
    type: str
    occurred_at: datetime
    projected_at: datetime
    source: str
    summary: str


class WorkOrder(BaseModel):
    work_order_id: UUID
    responder_id: str
    responder_name: str
    responder_kind: str
    role: str
    priority: str
    rule_id: str | None
    reason: str
    due_at: datetime
    issued_at: datetime


class Notification(BaseModel):
    notification_id: UUID
    audience: str
    recipient: str
    channel: str
    template: str
    status: str
    attempts: int
    last_error: str | None
    updated_at: datetime


class CaseSummary(BaseModel):
    complaint_id: UUID
    case_number: str | None
    status: domain.CaseStatus
    status_label: str
    channel: str | None
    category: str | None
    area_code: str | None
    address: str | None
    filed_at: datetime | None
    dispatched_at: datetime | None
    lead_responder: Responder | None


class Case(CaseSummary):
    masked_phone: str | None
    work_orders: list[WorkOrder]
    notifications: list[Notification]
    timeline: list[TimelineEntry]


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


def _summary_fields(row: dict[str, Any]) -> dict[str, Any]:
    status = domain.case_status(row)
    lead = (
        Responder(id=row["lead_responder_id"], name=row["lead_responder_name"])
        if row.get("lead_responder_id")
        else None
    )
    return {
        **row,
        "status": status,
        "status_label": domain.STATUS_LABELS[status],
        "lead_responder": lead,
    }


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


@router.get(
    "/cases/{complaint_id}",
    response_model=Case,
    summary="案件详情与全程时间线 A case with its full timeline",
    responses={404: {"description": "未找到 Not found"}},
)
async def get_case(complaint_id: UUID, request: Request) -> Case:
    async with _runtime(request).pool.acquire() as conn:
        row = await store.get_case(conn, complaint_id)
    if row is None:
        raise Problem(404, f"案件 {complaint_id} 不存在或尚未同步 No such case (yet)")
    return Case.model_validate(_summary_fields(row))


@router.get("/cases", response_model=CasePage, summary="案件列表 Cases, filtered and paged")
async def list_cases(
    request: Request,
    status: Annotated[domain.CaseStatus | None, Query(description="状态 Status")] = None,
    area_code: Annotated[
        str | None, Query(pattern=r"^[0-9A-Z-]{1,40}$", description="区划代码前缀 Area code prefix")
    ] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    responder_id: Annotated[str | None, Query(max_length=60, description="主办单位")] = None,
    filed_from: Annotated[datetime | None, Query(description="受理时间起 (含)")] = None,
    filed_to: Annotated[datetime | None, Query(description="受理时间止 (不含)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> CasePage:
    case_filter = store.CaseFilter(
        status=status.value if status else None,
        area_code=area_code,
        category=category,
        channel=channel,
        responder_id=responder_id,
        filed_from=filed_from,
        filed_to=filed_to,
    )
    async with _runtime(request).pool.acquire() as conn:
        total, rows = await store.find_cases(conn, case_filter, limit, offset)
    return CasePage(
        items=[CaseSummary.model_validate(_summary_fields(row)) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
