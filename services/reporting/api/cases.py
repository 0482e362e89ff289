"""Cases: one with its Open311 fields and timeline, or a filtered page of them (or CSV)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.reporting import domain, store
from services.reporting.api import schemas
from services.reporting.api.csv import CSV_RESPONSE, csv_response
from services.reporting.api.deps import AreaCode, Config, Format, Limit, Pool, page_size
from services.reporting.api.schemas import Case, CasePage
from services.reporting.auth import READER, ApiKey
from shared.answers import problem
from shared.http import Offset, Problem

# Cases need a key and show its area only (services/reporting/auth.py).
router = APIRouter(tags=["案件 Cases"])


@router.get(
    "/cases/{complaint_id}",
    response_model=Case,
    summary="案件详情、Open311 字段与全程时间线 A case with its Open311 fields and full timeline",
    description="密钥辖区以外的案件答 404，与不存在的一样。 A case outside the key's area is a 404.",
    responses=problem(404, "不存在或尚未同步 No such case (yet)"),
)
async def get_case(complaint_id: UUID, pool: Pool, key: Annotated[ApiKey, READER]) -> Case:
    async with pool.acquire() as conn:
        row = await store.get_case(conn, complaint_id, within=key.area)
    if row is None:
        raise Problem(404, f"案件 {complaint_id} 不存在或尚未同步 No such case (yet)")
    return schemas.case(row)


@router.get(
    "/cases",
    response_model=CasePage,
    summary="案件列表 Cases, filtered and paged",
    description="只列出密钥辖区内的案件。 Lists the cases in the key's area only.",
    responses={200: CSV_RESPONSE},
)
async def list_cases(
    pool: Pool,
    config: Config,
    key: Annotated[ApiKey, READER],
    status: Annotated[domain.CaseStatus | None, Query(description="状态 Status")] = None,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    type: Annotated[str | None, Query(max_length=20, description="类型 Type")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    responder_id: Annotated[str | None, Query(max_length=60, description="主办单位")] = None,
    filed_from: Annotated[datetime | None, Query(description="受理时间起 (含)")] = None,
    filed_to: Annotated[datetime | None, Query(description="受理时间止 (不含)")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> CasePage | Response:
    case_filter = store.CaseFilter(
        status=status.value if status else None,
        area_code=area_code,
        category=category,
        type=type,
        channel=channel,
        responder_id=responder_id,
        filed_from=filed_from,
        filed_to=filed_to,
        within=key.area,
    )
    size = page_size(format, limit)
    async with pool.acquire() as conn:
        total, rows = await store.find_cases(conn, case_filter, size, offset)
    items = [schemas.case_summary(row) for row in rows]
    if format == "csv":
        return csv_response([i.model_dump() for i in items], "cases", config)
    return CasePage(items=items, total=total, limit=size, offset=offset)
