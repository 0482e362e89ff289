"""The grid's rounds in public: the matters grid workers fixed on the spot (随手做公示), beside
the board 督办墙 (which shows what is still open), and their patrols (巡查记录). The answers'
models live here: the API's schemas module is at the size a reader takes in at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting import round_lists
from services.reporting.api.csv import CSV_RESPONSE, csv_response
from services.reporting.api.deps import AreaCode, Config, Format, Limit, Pool, page_size
from shared.apikeys import PUBLIC
from shared.events.area import no_finer_than_building
from shared.http import Offset

# Public: a 随手做 holds no resident's data (no resident filed it).
router = APIRouter(tags=["督办墙 Public board"], dependencies=[PUBLIC])


class OnSpotItem(BaseModel):
    """A matter fixed on the spot (随手做) as the public sees it: what, where (no finer than
    the building), what was done and by which grid worker; nothing of any resident's."""

    complaint_id: UUID
    case_number: str | None
    category: str | None
    category_name: str | None
    place_name: str | None = Field(description="地点（区域名称，不含门牌） The place's name")
    community_name: str | None
    area_code: str | None = Field(
        description="区域代码，细至楼栋为止 Area code, no finer than the building 楼栋"
    )
    done: str | None = Field(description="当场做了什么 What was done")
    worker: str | None = Field(description="处置人（网格员/网格长） Who fixed it")
    fixed_at: datetime
    on_patrol: bool = Field(description="巡查中发现 Found on a patrol")


class OnSpotPage(BaseModel):
    items: list[OnSpotItem]
    total: int
    limit: int | None
    offset: int


def on_spot_item(row: dict[str, Any]) -> OnSpotItem:
    area = row.get("area_code")
    return OnSpotItem.model_validate(
        {
            **row,
            "area_code": no_finer_than_building(area) if area else None,
            "done": row.get("on_spot_done"),
            "worker": row.get("on_spot_by"),
            "fixed_at": row["on_spot_at"],
            "on_patrol": row.get("patrol_id") is not None,
        }
    )


@router.get(
    "/board/onspot",
    response_model=OnSpotPage,
    summary="随手做公示：网格员当场解决的问题 Matters fixed on the spot by grid workers",
    description=(
        "公开展示：问题类别、地点（细至楼栋）、做了什么、处置人（网格员）、时间；不含任何居民信息。"
        "按时间倒序。 Public: category, place (no finer than the building), what was done, by"
        " which grid worker, when; nothing of any resident's. The latest first."
    ),
    responses={200: CSV_RESPONSE},
)
async def get_on_spot(
    pool: Pool,
    config: Config,
    area_code: AreaCode = None,
    since: Annotated[datetime | None, Query(description="起始时间（含） Fixed at or after")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> OnSpotPage | Response:
    size = page_size(format, limit)
    async with pool.acquire() as conn:
        total, rows = await round_lists.on_spot(conn, area_code, since, size, offset)
    items = [on_spot_item(row) for row in rows]
    if format == "csv":
        return csv_response([i.model_dump() for i in items], "onspot", config)
    return OnSpotPage(items=items, total=total, limit=size, offset=offset)


class PatrolItem(BaseModel):
    """A patrol (巡查) as the public sees it: who walked which grid when, how much was found
    and fixed there (what was found stays with intake and the recurring places)."""

    patrol_id: UUID
    area_code: str | None = Field(description="巡查的网格或社区 The grid (or community) walked")
    area_name: str | None
    community_name: str | None
    patroller: str | None = Field(description="巡查人（网格员/网格长） Who walked it")
    started_at: datetime
    ended_at: datetime | None
    findings: int = Field(description="发现问题数 Matters found")
    fixed_on_spot: int = Field(description="当场解决数（随手做） Fixed on the spot")


class PatrolPage(BaseModel):
    items: list[PatrolItem]
    total: int
    limit: int | None
    offset: int


@router.get(
    "/patrols",
    response_model=PatrolPage,
    summary="巡查记录：网格员每日巡 Grid workers' patrols",
    description=(
        "公开展示：巡查人、网格、时间、发现与当场解决的问题数。按开始时间倒序。"
        " Public: who walked which grid when, how many matters were found and fixed there."
        " The latest first."
    ),
    responses={200: CSV_RESPONSE},
)
async def get_patrols(
    pool: Pool,
    config: Config,
    area_code: AreaCode = None,
    since: Annotated[datetime | None, Query(description="起始时间（含） Began at or after")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> PatrolPage | Response:
    size = page_size(format, limit)
    async with pool.acquire() as conn:
        total, rows = await round_lists.patrols(conn, area_code, since, size, offset)
    items = [
        PatrolItem.model_validate(
            {
                **row,
                "area_code": no_finer_than_building(row["area_code"]) if row["area_code"] else None,
            }
        )
        for row in rows
    ]
    if format == "csv":
        return csv_response([i.model_dump() for i in items], "patrols", config)
    return PatrolPage(items=items, total=total, limit=size, offset=offset)
