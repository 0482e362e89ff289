"""Deliberation agendas 议事清单: a community's, and the district's joint meeting (or CSV)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.reporting import store
from services.reporting.api import schemas
from services.reporting.api.csv import CSV_RESPONSE, csv_response
from services.reporting.api.deps import Config, Format, Limit, Pool, page_size
from services.reporting.api.schemas import AgendaPage
from services.reporting.auth import READER, ApiKey
from shared.http import Offset

# Agendas need a key and show its area only (services/reporting/auth.py).
router = APIRouter(tags=["议事清单 Deliberation agendas"])

StageQuery = Annotated[
    Literal["collected", "topic_set", "unsettled", "deliberated", "assigned", "reviewed"] | None,
    Query(description="议事步骤"),
]


async def _agenda(
    pool: Pool,
    config: Config,
    agenda_filter: store.AgendaFilter,
    limit: int | None,
    offset: int,
    fmt: str,
    name: str,
) -> AgendaPage | Response:
    size = page_size(fmt, limit)
    async with pool.acquire() as conn:
        total, rows = await store.agenda(conn, agenda_filter, size, offset)
    items = [schemas.agenda_entry(row) for row in rows]
    if fmt == "csv":
        return csv_response([i.model_dump() for i in items], name, config)
    return AgendaPage(items=items, total=total, limit=size, offset=offset)


@router.get(
    "/agenda",
    response_model=AgendaPage,
    summary="社区议事清单（四方五步） A community's deliberation agenda",
    responses={200: CSV_RESPONSE},
)
async def get_agenda(
    pool: Pool,
    config: Config,
    key: Annotated[ApiKey, READER],
    community_code: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="社区代码")
    ] = None,
    stage: StageQuery = None,
    open: Annotated[bool | None, Query(description="只看未评审结束的 / 已结束的")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> AgendaPage | Response:
    agenda_filter = store.AgendaFilter(
        level="community", community_code=community_code, stage=stage, open=open, within=key.area
    )
    return await _agenda(pool, config, agenda_filter, limit, offset, format, "agenda")


@router.get(
    "/agenda/joint-meeting",
    response_model=AgendaPage,
    summary="区县大党委联席会议议程 The district's joint-meeting agenda",
    responses={200: CSV_RESPONSE},
)
async def get_joint_meeting(
    pool: Pool,
    config: Config,
    key: Annotated[ApiKey, READER],
    district_code: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="区县代码")
    ] = None,
    stage: StageQuery = None,
    open: Annotated[bool | None, Query()] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> AgendaPage | Response:
    agenda_filter = store.AgendaFilter(
        level="district", district_code=district_code, stage=stage, open=open, within=key.area
    )
    return await _agenda(pool, config, agenda_filter, limit, offset, format, "joint-meeting")
