"""Hot spots and proactive governance 未诉先办: hot spots, recurring problems, monthly topics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.reporting import insights
from services.reporting.api import schemas
from services.reporting.api.csv import CSV_RESPONSE
from services.reporting.api.deps import (
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
    Hotspot,
    HotspotPage,
    MonthlyTopic,
    MonthlyTopics,
    RecurringPage,
    RecurringProblem,
)
from services.reporting.measures import Level
from shared.apikeys import PUBLIC
from shared.http import Offset

# Public: counts by area and category hold no resident data.
router = APIRouter(
    tags=["热点与主动治理 Hot spots and proactive governance"], dependencies=[PUBLIC]
)


@router.get(
    "/hotspots",
    response_model=HotspotPage,
    summary="热点：类别 × 区域的逐周件数与趋势 Category × area counts by week, with trend",
    responses={200: CSV_RESPONSE},
)
async def get_hotspots(
    pool: Pool,
    config: Config,
    level: Annotated[Level, Query(description="区域层级 Area level")] = Level.COMMUNITY,
    weeks: Annotated[int | None, Query(ge=1, le=104)] = None,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> HotspotPage | Response:
    async with pool.acquire() as conn:
        rows = await insights.hotspots(
            conn, config, level.value, moment(as_of), weeks, area_code, category
        )
    size = page_size(format, limit)
    listing = schemas.listing(rows, Hotspot, format, size, offset, "hotspots", config)
    return listing if isinstance(listing, Response) else HotspotPage(**listing)


@router.get(
    "/proactive/recurring",
    response_model=RecurringPage,
    summary="未诉先办候选：同一楼栋或网格、同一类别反复出现或逢季必发 Recurring problems",
    responses={200: CSV_RESPONSE},
)
async def get_recurring(
    pool: Pool,
    config: Config,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> RecurringPage | Response:
    async with pool.acquire() as conn:
        rows = await insights.recurring(conn, config, moment(as_of), area_code, category)
    size = page_size(format, limit)
    listing = schemas.listing(rows, RecurringProblem, format, size, offset, "recurring", config)
    return listing if isinstance(listing, Response) else RecurringPage(**listing)


@router.get(
    "/proactive/monthly-topics",
    response_model=MonthlyTopics,
    summary="每月一题建议：本月上升最快的类别 The month's fastest-rising categories",
    responses={200: CSV_RESPONSE},
)
async def get_monthly_topics(
    pool: Pool,
    config: Config,
    month: Month,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> MonthlyTopics | Response:
    async with pool.acquire() as conn:
        rows = await insights.monthly_topics(conn, config, month)
    size = page_size(format, limit)
    listing = schemas.listing(rows, MonthlyTopic, format, size, offset, f"topics-{month}", config)
    return listing if isinstance(listing, Response) else MonthlyTopics(month=month, **listing)
