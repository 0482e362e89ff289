"""What grid workers and grid heads file from their rounds: a matter fixed on the spot (随手做),
closed at once and never dispatched, and a patrol (巡查) with what was found on it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.intake import rounds
from services.intake.api import schemas
from services.intake.api.deps import NO_CATALOGUE, REFUSALS, ChannelKey, intake_of
from services.intake.auth import ApiKey, Role
from services.intake.domain.commands import FixOnSpot, RecordPatrol
from shared.commands import causation_of
from shared.db import Connection
from shared.events import Channel
from shared.http import Answer, Correlation, Problem, once
from shared.idempotency import IdempotencyKey

GRID = "网格巡查 Grid rounds"
router = APIRouter(tags=[GRID])


def _may_file_for(key: ApiKey, area_code: str) -> None:
    """A grid's rounds are filed by the grid patrol channel's key, or by staff in their area."""
    if key.role is Role.CHANNEL and key.channel is not Channel.GRID_PATROL:
        raise Problem(
            403,
            "只有网格巡查渠道或工作人员可以提交随手做和巡查记录"
            " Only the grid patrol channel or staff may file these",
        )
    if not key.covers(area_code):
        raise Problem(
            403, f"区域 {area_code} 不在本密钥的范围内 Outside this key's area", field="area_code"
        )


@router.post(
    "/onspot",
    status_code=201,
    summary="随手做：提交已当场解决的问题 File a matter already fixed on the spot",
    description=(
        "网格员/网格长巡查中发现并当场解决的问题：给出受理编号，立即办结，不派单。"
        " A grid worker's or head's own finding, already fixed: it gets a case number, is"
        " closed at once and is never dispatched."
    ),
    response_model=schemas.ComplaintView,
    responses={**REFUSALS, **NO_CATALOGUE},
)
async def fix_on_spot(
    command: FixOnSpot,
    request: Request,
    key: ChannelKey,
    correlation: Correlation,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    _may_file_for(key, command.area_code)

    async def produce(conn: Connection) -> Answer:
        saved = await rounds.fix_on_spot(
            intake_of(request), conn, command, key.actor, causation_of([], correlation)
        )
        return 201, schemas.complaint_view(saved.view)

    return await once(
        request, key.key_id, "onspot", idempotency_key, command.model_dump(mode="json"), produce
    )


@router.post(
    "/patrols",
    status_code=201,
    summary="记录一次巡查 Record a patrol and what was found on it",
    description=(
        "每项发现：当场解决的（给出 done）立为随手做案件并办结；已另行上报的给出其受理编号；"
        "其余记为待跟进。同一地点反复发现的问题计入热点（反复出现的地点）。"
        " Each finding fixed on the spot (with `done`) becomes a closed 随手做 case; one reported"
        " names the case filed for it; the rest are noted. A place found again and again counts"
        " toward the recurring places."
    ),
    response_model=schemas.PatrolView,
    responses={**REFUSALS, **NO_CATALOGUE},
)
async def record_patrol(
    command: RecordPatrol,
    request: Request,
    key: ChannelKey,
    correlation: Correlation,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    _may_file_for(key, command.area_code)

    async def produce(conn: Connection) -> Answer:
        patrol, _ = await rounds.record_patrol(
            intake_of(request), conn, command, key.actor, causation_of([], correlation)
        )
        return 201, schemas.patrol_view(patrol)

    return await once(
        request, key.key_id, "patrol", idempotency_key, command.model_dump(mode="json"), produce
    )
