"""Consultations and ballots 征求意见与表决: each one's public result, and turnout 参与率 per
community and month. Public: counts of households only, never which household voted. (The
answers' models are here, beside their routes: api/schemas.py is long enough.)"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting import store
from services.reporting.api.csv import CSV_RESPONSE, csv_response
from services.reporting.api.deps import MONTH, AreaCode, Config, Format, Limit, Pool, page_size
from shared.answers import problem
from shared.apikeys import PUBLIC
from shared.events import BallotTally
from shared.events.area import no_finer_than_building
from shared.http import Offset, Problem


class BallotResult(BaseModel):
    """A consultation's or ballot's public result: how many households could vote, how many
    did and by which way, and what won. No household ids."""

    ballot_id: UUID
    item_id: UUID | None
    kind: str | None = Field(description="consultation 征求意见 | ballot 表决")
    title: str | None
    proposal: str | None
    options: list[str] | None
    quorum: str | None
    majority: str | None
    majority_of: str | None
    area_code: str | None
    community_code: str | None
    community_name: str | None
    opened_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    eligible: int | None = Field(description="有表决权的户数 Households on the roll")
    cast: int = Field(description="已投票户数 Households that voted")
    turnout: float | None = Field(description="参与率 cast ÷ eligible")
    by_method: dict[str, int] = Field(description="link 链接 / paper 纸质 / door_to_door 入户")
    tally: list[BallotTally] | None = Field(description="结束后公布 Once closed")
    quorum_met: bool | None
    carried: bool | None
    outcome: str | None


class BallotPage(BaseModel):
    items: list[BallotResult]
    total: int
    limit: int | None
    offset: int


class TurnoutRow(BaseModel):
    """参与率 per community and month: households that voted ÷ households on the rolls."""

    community_code: str | None
    community_name: str | None
    month: str
    ballots: int
    eligible: int
    cast: int
    turnout: float | None
    quorum_met: int = Field(description="达到法定参与率的次数 Ballots that met their quorum")
    carried: int = Field(description="获得通过的次数 Ballots an option won")


def ballot_result(row: dict[str, Any]) -> BallotResult:
    cast = int(row["cast_so_far"] or 0)
    eligible = row.get("eligible")
    area = row.get("area_code")
    return BallotResult.model_validate(
        {
            **row,
            # A ballot of one unit (单元) is shown at its building: nothing finer in public.
            "area_code": no_finer_than_building(area) if area else None,
            "cast": cast,
            "turnout": round(cast / eligible, 4) if eligible else None,
            "by_method": row.get("by_method") or {},
        }
    )


def turnout_row(row: dict[str, Any]) -> TurnoutRow:
    eligible, cast = int(row["eligible"] or 0), int(row["cast_count"] or 0)
    return TurnoutRow.model_validate(
        {
            **row,
            "eligible": eligible,
            "cast": cast,
            "turnout": round(cast / eligible, 4) if eligible else None,
        }
    )


router = APIRouter(tags=["征求意见与表决 Consultations and ballots"], dependencies=[PUBLIC])


@router.get(
    "/ballots",
    response_model=BallotPage,
    summary="征求意见与表决的公开结果 Ballots and their public results",
    responses={200: CSV_RESPONSE},
)
async def list_ballots(
    pool: Pool,
    config: Config,
    area_code: AreaCode = None,
    closed: Annotated[bool | None, Query(description="只看已结束 / 进行中")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> BallotPage | Response:
    size = page_size(format, limit)
    async with pool.acquire() as conn:
        total, rows = await store.ballots(conn, area_code, closed, size, offset)
    items = [ballot_result(row) for row in rows]
    if format == "csv":
        return csv_response([i.model_dump() for i in items], "ballots", config)
    return BallotPage(items=items, total=total, limit=size, offset=offset)


@router.get(
    "/ballots/turnout",
    response_model=list[TurnoutRow],
    summary="参与率：投票户数 ÷ 有表决权户数，按社区、月份 Turnout per community and month",
)
async def get_turnout(
    pool: Pool,
    config: Config,
    area_code: AreaCode = None,
    month: Annotated[str | None, Query(pattern=MONTH, description="月份 YYYY-MM")] = None,
) -> list[TurnoutRow]:
    async with pool.acquire() as conn:
        rows = await store.turnout(conn, area_code, month, config.timezone)
    return [turnout_row(row) for row in rows]


@router.get(
    "/ballots/{ballot_id}",
    response_model=BallotResult,
    summary="一次征求意见或表决的结果 One ballot's public result",
    responses=problem(404, "没有这次征求意见或表决 No such ballot"),
)
async def get_ballot(ballot_id: UUID, pool: Pool) -> BallotResult:
    async with pool.acquire() as conn:
        row = await store.ballot(conn, ballot_id)
    if row is None:
        raise Problem(404, f"表决 {ballot_id} 不存在 No such ballot")
    return ballot_result(row)
