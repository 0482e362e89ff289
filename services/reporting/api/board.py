"""The public board 督办墙: every open matter's lead unit, responsible person and time left."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.reporting import matters, store
from services.reporting.api import schemas
from services.reporting.api.csv import CSV_RESPONSE, csv_response
from services.reporting.api.deps import (
    AreaCode,
    AsOf,
    Config,
    Format,
    Limit,
    Pool,
    moment,
    page_size,
)
from services.reporting.api.schemas import BoardPage
from services.reporting.matters import BoardMatters, MattersOnTime
from shared.apikeys import PUBLIC
from shared.http import Offset

# Public: the board holds no resident data.
router = APIRouter(tags=["督办墙 Public board"], dependencies=[PUBLIC])


@router.get(
    "/board",
    response_model=BoardPage,
    summary="督办墙：每件未办结诉求的主办单位、责任人、时限与剩余时间 The public progress board",
    description=(
        "公开展示，不含诉求人信息与门牌地址。超期的排在最前，其余按时限先后。"
        "Public: no resident data or street address. Overdue matters first, then by deadline."
    ),
    responses={200: CSV_RESPONSE},
)
async def get_board(
    pool: Pool,
    config: Config,
    area_code: AreaCode = None,
    responder_id: Annotated[str | None, Query(max_length=60, description="主办单位")] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    overdue: Annotated[bool | None, Query(description="只看超期 / 未超期")] = None,
    escalated: Annotated[bool | None, Query(description="只看已升级督办 / 未升级")] = None,
    include_reported: Annotated[bool, Query(description="含已反馈待回访的诉求")] = False,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> BoardPage | Response:
    when = moment(as_of)
    board_filter = store.BoardFilter(
        area=area_code,
        responder_id=responder_id,
        category=category,
        overdue=overdue,
        escalated=escalated,
        reported=include_reported,
    )
    size = page_size(format, limit)
    async with pool.acquire() as conn:
        total, rows = await store.board(conn, board_filter, when, size, offset)
    items = [schemas.board_item(row) for row in rows]
    if format == "csv":
        return csv_response([i.model_dump() for i in items], "board", config)
    return BoardPage(
        as_of=when,
        items=items,
        total=total,
        overdue_on_page=sum(i.overdue for i in items),
        limit=size,
        offset=offset,
    )


@router.get(
    "/board/matters",
    response_model=BoardMatters,
    summary="督办墙·政务事项：低保申请、尊老金发放、独生子女费申领、代办的专人、时限与进度 The "
    "administrative matters on the board, with their on-time rate",
    description=(
        "公开展示，不含申请人信息，地点只到社区。超期的排在最前，其余按时限先后。"
        "Public: no applicant data, no place finer than the community. Overdue first."
    ),
)
async def get_board_matters(
    pool: Pool,
    area_code: AreaCode = None,
    include_done: Annotated[bool, Query(description="含已办结事项")] = False,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> BoardMatters:
    when = moment(as_of)
    async with pool.acquire() as conn:
        rows = await matters.board(conn, area_code, include_done, when, limit)
        counts = await matters.on_time(conn, area_code, when)
    return BoardMatters(
        as_of=when,
        items=[matters.board_matter(row) for row in rows],
        measures=MattersOnTime(**counts),
    )
