"""The public board 督办墙 as a page: open matters street by street and community by community,
the month's 三率 and the streets' ranking as charts, and a display mode for a 展示屏 that turns
its pages by itself and updates live (Server-Sent Events woken by the consumer's NOTIFY).

Public: it shows what the JSON board shows (api/board.py), never a resident's words, name,
phone or street address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import groupby
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from services.reporting import matters, measures, store
from services.reporting.adapters.board_feed import BoardFeed
from services.reporting.api import schemas
from services.reporting.api.deps import Config, Pool
from services.reporting.measures import MeasuresConfig
from services.reporting.web.pages import render
from shared.apikeys import PUBLIC
from shared.db import Connection
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.labels import ESCALATION_LEVEL

router = APIRouter(include_in_schema=False, dependencies=[PUBLIC])

MOST_ROWS = 500  # the most urgent matters a page lists (a wall, not an export)
RATES = ("response_rate", "resolution_rate", "satisfaction_rate")  # 三率

# A form's empty choice comes as an empty value: no filter.
AreaFilter = Annotated[str | None, Query(pattern=f"^$|{AREA_PATTERN}")]
CategoryFilter = Annotated[str | None, Query(max_length=40)]


class Filters:
    """The wall's filters, as the query string gives them (an empty choice is no filter)."""

    def __init__(self, street: str | None, community: str | None, category: str | None):
        self.street = street or None
        self.community = community or None
        self.category = category or None

    @property
    def area(self) -> str | None:
        return self.community or self.street

    def query(self) -> dict[str, str]:
        given = {"street": self.street, "community": self.community, "category": self.category}
        return {name: value for name, value in given.items() if value}


def _filters(
    street: AreaFilter = None, community: AreaFilter = None, category: CategoryFilter = None
) -> Filters:
    return Filters(street, community, category)


WallFilters = Annotated[Filters, Depends(_filters)]


def board_feed(request: Request) -> BoardFeed:
    feed: BoardFeed = request.app.state.runtime.app.board_feed
    return feed


async def _board(conn: Connection, filters: Filters) -> dict[str, Any]:
    """The open matters in groups of one community (or one street, for a matter filed to the
    street itself), each group most urgent first."""
    board_filter = store.BoardFilter(area=filters.area, category=filters.category, by_place=True)
    now = datetime.now(UTC)
    total, rows = await store.board(conn, board_filter, now, MOST_ROWS, 0)
    items = [schemas.board_item(row) for row in rows]
    groups = [
        {"street": street, "community": community, "items": list(matters)}
        for (street, community), matters in groupby(
            items, key=lambda i: (i.street_name, i.community_name)
        )
    ]
    matter_rows = await matters.board(conn, filters.area, False, now, MOST_ROWS)
    return {
        "as_of": now,
        "matters": [matters.board_matter(row) for row in matter_rows],
        "total": total,
        "shown": len(items),
        "overdue": sum(i.overdue for i in items),
        "escalated": sum(i.escalation_level is not None for i in items),
        "groups": groups,
    }


def _month(config: MeasuresConfig) -> str:
    return datetime.now(ZoneInfo(config.timezone)).strftime("%Y-%m")


async def _charts(conn: Connection, config: MeasuresConfig, filters: Filters) -> dict[str, Any]:
    """This month's 三率 within the filters, and the month's ranking of the streets."""
    month = _month(config)
    now = datetime.now(UTC)
    scope = measures.CubeFilter(
        month_from=month, month_to=month, area_code=filters.area, category=filters.category
    )
    [total] = await measures.cube(conn, config, [], scope, now)
    rates = [
        {"name": config.measures[r].name, "en": config.measures[r].en, "value": total["values"][r]}
        for r in RATES
        if r in config.measures
    ]
    by_street = [name for name, g in config.rankings.groups().items() if g.by == "street"]
    ranking = await measures.ranking(conn, config, by_street[0], month, now) if by_street else None
    entries = [
        {"unit": e["unit_name"], "score": e["composite_score"]}
        for e in (ranking["entries"] if ranking else [])
    ]
    return {"month": month, "rates": rates, "ranking": entries}


@router.get("/wall")
async def wall(
    request: Request,
    pool: Pool,
    config: Config,
    filters: WallFilters,
    display: bool = False,
    rotate: Annotated[int, Query(ge=3, le=600, description="展示屏翻页秒数")] = 15,
    rows: Annotated[
        int | None, Query(ge=1, le=50, description="展示屏每页条数（默认按屏幕高度）")
    ] = None,
) -> Response:
    async with pool.acquire() as conn:
        board = await _board(conn, filters)
        charts = await _charts(conn, config, filters)
        choices = await store.board_choices(conn)
    return render(
        request,
        "wall/page.html",
        board=board,
        charts=charts,
        choices=choices,
        filters=filters,
        display=display,
        rotate=rotate,
        rows=rows,
        escalation=ESCALATION_LEVEL,
    )


@router.get("/wall/board")
async def wall_board(request: Request, pool: Pool, filters: WallFilters) -> Response:
    """The board's rows alone: what a live page swaps in when the board changed."""
    async with pool.acquire() as conn:
        board = await _board(conn, filters)
    return render(request, "wall/board.html", board=board, escalation=ESCALATION_LEVEL)


@router.get("/wall/charts")
async def wall_charts(pool: Pool, config: Config, filters: WallFilters) -> dict[str, Any]:
    """The charts' figures, which a live page fetches again at most once a minute."""
    async with pool.acquire() as conn:
        return await _charts(conn, config, filters)


@router.get("/wall/stream")
async def wall_stream(feed: Annotated[BoardFeed, Depends(board_feed)]) -> EventSourceResponse:
    """Server-Sent Events: `changed` once the board changed (at most once a second), and once
    on connecting (the page may have missed a change since it was rendered)."""

    async def changes() -> AsyncIterator[dict[str, str]]:
        async with feed.listen() as listener:
            while True:
                await listener.changed()
                yield {"data": '{"changed": "board"}'}

    return EventSourceResponse(changes(), ping=15)
