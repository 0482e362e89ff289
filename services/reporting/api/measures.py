"""Measures and rankings: the measures cube, its definitions, the monthly rankings (or CSV)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.reporting import measures
from services.reporting.api import schemas
from services.reporting.api.csv import CSV_RESPONSE
from services.reporting.api.deps import (
    MONTH,
    AreaCode,
    AsOf,
    Config,
    Format,
    Limit,
    Month,
    Pool,
    moment,
    page_size,
)
from services.reporting.api.schemas import (
    Definitions,
    MeasurePage,
    MeasureRow,
    Ranking,
    RankingEntry,
)
from services.reporting.measures import DIMENSIONS
from shared.answers import problem
from shared.apikeys import PUBLIC
from shared.http import Offset, Problem

# Public: measures and rankings hold no resident data.
router = APIRouter(tags=["统计指标与排名 Measures and rankings"], dependencies=[PUBLIC])


def _dimensions(group_by: str) -> list[str]:
    wanted = [d.strip() for d in group_by.split(",") if d.strip()]
    unknown = [d for d in wanted if d not in DIMENSIONS]
    if unknown or len(set(wanted)) != len(wanted):
        raise Problem(
            422,
            f"group_by 只能是 {', '.join(DIMENSIONS)} 中不重复的几项 "
            f"group_by must list distinct dimensions among {', '.join(DIMENSIONS)}",
        )
    return wanted


@router.get(
    "/measures",
    response_model=MeasurePage,
    summary="统计指标：诉求量、响应率、解决率、满意率等，按区域层级/单位/类别/类型/月份分组 The measures cube",
    responses={200: CSV_RESPONSE},
)
async def get_measures(
    pool: Pool,
    config: Config,
    group_by: Annotated[
        str,
        Query(
            max_length=200,
            description="逗号分隔：district, street, community, grid, responder, category, type, channel, month",
        ),
    ] = "month",
    month_from: Annotated[str | None, Query(pattern=MONTH, description="起始月份（含）")] = None,
    month_to: Annotated[str | None, Query(pattern=MONTH, description="截止月份（含）")] = None,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    type: Annotated[str | None, Query(max_length=20)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    responder_id: Annotated[str | None, Query(max_length=60)] = None,
    responder_kind: Annotated[
        str | None, Query(max_length=40, description="单位类型，如 department")
    ] = None,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> MeasurePage | Response:
    dims = _dimensions(group_by)
    where = measures.CubeFilter(
        month_from=month_from,
        month_to=month_to,
        area_code=area_code,
        category=category,
        type=type,
        channel=channel,
        responder_id=responder_id,
        responder_kinds=(responder_kind,) if responder_kind else None,
    )
    when = moment(as_of)
    async with pool.acquire() as conn:
        rows = await measures.cube(conn, config, dims, where, when)
    size = page_size(format, limit)
    listing = schemas.listing(rows, MeasureRow, format, size, offset, "measures", config)
    if isinstance(listing, Response):
        return listing
    return MeasurePage(group_by=dims, as_of=when, **listing)


@router.get(
    "/measures/definitions",
    response_model=Definitions,
    summary="统计口径：各指标的公式、计数定义与综合得分权重 Formulas, counts and weights",
)
async def get_definitions(config: Config) -> Definitions:
    return schemas.definitions(config)


@router.get(
    "/rankings/{group}",
    response_model=Ranking,
    summary="月度排名（按综合得分；末位为治理类，前后各 5 名为红黑榜） The monthly ranking",
    responses={200: CSV_RESPONSE, **problem(404, "没有这个排名 No such ranking")},
)
async def get_ranking(
    pool: Pool,
    config: Config,
    group: str,
    month: Month,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> Ranking | Response:
    groups = config.rankings.groups()
    if group not in groups:
        raise Problem(404, f"没有排名 {group}；可选 {', '.join(groups)} (no such ranking)")
    async with pool.acquire() as conn:
        result = await measures.ranking(conn, config, group, month, moment(as_of))
    size = page_size(format, limit)
    listing = schemas.listing(
        result["entries"], RankingEntry, format, size, offset, f"ranking-{group}-{month}", config
    )
    if isinstance(listing, Response):
        return listing
    entries = listing.pop("items")
    return Ranking.model_validate({**result, **listing, "entries": entries})
