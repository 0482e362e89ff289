"""Community governance: a committee's dispatch queue (业委会派单) and the units and cadres
registered with a community (双报到名单). The decisions themselves are POST
/work-orders/{id}/dispatch and POST /cases/{id}/call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from services.dispatch import store
from services.dispatch.api.deps import (
    REFUSALS,
    AnyCaller,
    answer,
    dispatch_of,
    runtime_of,
    seen_by,
)
from services.dispatch.api.schemas import Registrations, WorkOrderPage, live
from services.dispatch.domain.agenda import committee_of
from services.dispatch.domain.case import OPEN, Purpose
from services.dispatch.domain.community import registered_with
from shared.commands import now
from shared.events.area import PATTERN as AREA_PATTERN
from shared.http import Problem

router = APIRouter()
COMMUNITY = "社区治理 Community governance"
QUEUE_SIZE = 500


@router.get(
    "/dispatch-queue",
    tags=[COMMUNITY],
    summary="业委会派单队列 The cases waiting for this committee to dispatch them",
    response_model=WorkOrderPage,
    responses=REFUSALS,
)
async def dispatch_queue(request: Request, caller: AnyCaller) -> JSONResponse:
    """A committee's open queue orders (oldest first); supervisors see those of their areas."""
    responder_id, patterns = seen_by(caller)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.list_orders(
            conn,
            responder_id=responder_id,
            area_patterns=patterns,
            status=None,
            complaint_id=None,
            purpose=Purpose.COMMITTEE.value,
            overdue=None,
            limit=QUEUE_SIZE,
            offset=0,
        )
    at = now()
    waiting = [live(row, at) for row in reversed(rows) if row["status"] in OPEN]
    return answer({"work_orders": waiting, "limit": QUEUE_SIZE, "offset": 0})


@router.get(
    "/communities/{community_code}/registrations",
    tags=[COMMUNITY],
    summary="双报到名单 Units and cadres registered with a community",
    response_model=Registrations,
    responses=REFUSALS,
)
async def registrations(
    community_code: Annotated[str, Path(pattern=AREA_PATTERN)],
    request: Request,
    caller: AnyCaller,
) -> JSONResponse:
    """The community's committee and the supervisors of its area read it."""
    async with runtime_of(request).pool.acquire() as conn:
        model = (await dispatch_of(request).rules(conn)).model
    if not (
        caller.supervises(model, community_code) or committee_of(caller, community_code, model)
    ):
        raise Problem(404, "社区不存在，或不在你的辖区 Not found, or not yours to see")
    listed = [
        r.model_dump(mode="json")
        | {"unit_name": unit.name if (unit := model.responders.get(r.unit)) else None}
        for r in registered_with(model, community_code)
    ]
    return answer(
        {
            "community_code": community_code,
            "community_name": model.area_names.get(community_code),
            "registrations": listed,
        }
    )
