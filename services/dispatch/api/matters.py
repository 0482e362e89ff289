"""政务事项 (seed 002: 低保申请、尊老金发放、独生子女费申领等事项一律公开进度，明确专人限时办理):
community staff open a matter with a named person and a time limit, record its progress and
its completion; the public board shows it (reporting). No applicant data is taken."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.dispatch import matter_app, matter_store
from services.dispatch.api.deps import (
    REFUSALS,
    AnyCaller,
    answer,
    dispatch_of,
    register_command,
    runtime_of,
)
from services.dispatch.api.schemas import (
    MatterResult,
    Note,
    OpenMatter,
    ServiceMatter,
    ServiceMatterPage,
)
from services.dispatch.auth import Caller
from services.dispatch.domain import service_matters
from services.dispatch.domain.city import CityModel
from services.dispatch.domain.rules import IllegalTransition, NotAllowed, Rules
from shared.commands import now
from shared.db import Connection
from shared.envelope import Causation
from shared.events import Event
from shared.events.area import AreaLevel
from shared.http import Answer, Call, Problem, once
from shared.idempotency import IdempotencyKey

router = APIRouter()
MATTERS = "政务事项 Administrative matters (督办墙)"


def _staff_of(caller: Caller, model: CityModel, community: str) -> bool:
    """Staff of the community (a unit or person serving it), its supervisors, or an admin."""
    if caller.is_admin or (caller.responder is None and caller.supervises(model, community)):
        return True
    if caller.responder is not None:
        served = model.served.get(caller.responder.id, ())
        return community in served or caller.supervises(model, community)
    return False


def _allowed(caller: Caller, matter: service_matters.Matter, rules: Rules) -> None:
    if caller.holds(matter.responder_id) or _staff_of(caller, rules.model, matter.community_code):
        return
    raise NotAllowed(
        f"只有{matter.community_name}的工作人员或督办单位可以办理 Staff of the community only"
    )


@router.post(
    "/matters",
    status_code=201,
    response_model=ServiceMatter,
    tags=[MATTERS],
    summary="受理政务事项 Open an administrative matter with a named person and a time limit",
    responses=REFUSALS,
)
async def open_matter(
    command: OpenMatter,
    request: Request,
    caller: AnyCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An `Idempotency-Key` makes a retried opening the same matter (one row on the wall)."""
    dispatch = dispatch_of(request)
    responder_id = command.responder_id or (caller.responder.id if caller.responder else None)
    if responder_id is None:
        raise Problem(422, "请指明专人 responder_id Name the staff member", field="responder_id")

    async def produce(conn: Connection) -> Answer:
        rules = await dispatch.rules(conn)
        community = rules.model.enclosing(command.area_code, AreaLevel.COMMUNITY)
        if community is None or not _staff_of(caller, rules.model, community):
            raise Problem(403, "只有本社区工作人员或督办单位可以受理 Staff of the community only")
        try:
            opened = service_matters.open_matter(
                rules,
                kind=command.kind,
                title=command.title,
                area_code=command.area_code,
                responder_id=responder_id,
                person=command.person,
                actor=caller.actor,
                now=now(),
            )
        except IllegalTransition as refusal:
            raise Problem(422, str(refusal)) from None
        matter = await matter_app.save_matter(dispatch, conn, None, [opened], Causation.start())
        assert matter is not None
        return 201, jsonable_encoder(matter_store.matter_json(matter))

    return await once(
        request,
        caller.key.key_id,
        "matter",
        idempotency_key,
        command.model_dump(mode="json"),
        produce,
    )


def _change(
    call: Call[Caller, Any], decide: Callable[[service_matters.Matter], list[Event]]
) -> Awaitable[service_matters.Matter]:
    def checked(matter: service_matters.Matter, rules: Rules) -> list[Event]:
        _allowed(call.caller, matter, rules)
        return decide(matter)

    return matter_app.change_matter(dispatch_of(call.request), call.conn, call.target, checked)


async def progress_matter(call: Call[Caller, Note]) -> Answer:
    caller, note = call.caller, call.body.note
    matter = await _change(call, lambda m: service_matters.progress(m, note, caller.actor, now()))
    return 200, jsonable_encoder(matter_store.matter_json(matter))


register_command(
    router,
    "/matters/{matter_id}/progress",
    Note,
    progress_matter,
    name="progress_matter",
    tags=[MATTERS],
    summary="公开进度 Record a step of the matter (材料已收齐、已报审…)",
    response_model=ServiceMatter,
)


async def complete_matter(call: Call[Caller, MatterResult]) -> Answer:
    caller, result = call.caller, call.body.result
    matter = await _change(call, lambda m: service_matters.complete(m, result, caller.actor, now()))
    return 200, jsonable_encoder(matter_store.matter_json(matter))


register_command(
    router,
    "/matters/{matter_id}/complete",
    MatterResult,
    complete_matter,
    name="complete_matter",
    tags=[MATTERS],
    summary="办结 The matter is done",
    response_model=ServiceMatter,
)


@router.get(
    "/matters",
    response_model=ServiceMatterPage,
    tags=[MATTERS],
    summary="政务事项清单 The matters of the caller's communities",
)
async def list_matters(
    request: Request,
    caller: AnyCaller,
    status: Annotated[str | None, Query(pattern="^(open|in_progress|done)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    patterns = caller.area_patterns()
    if caller.responder is not None and not caller.is_admin:
        async with runtime_of(request).pool.acquire() as conn:
            model = await dispatch_of(request).city.current(conn)
        served = model.served.get(caller.responder.id, ()) if model else ()
        patterns = [*(patterns or []), *(f"{code}%" for code in served)]
    async with runtime_of(request).pool.acquire() as conn:
        rows = await matter_store.list_matters(
            conn, area_patterns=patterns, status=status, limit=limit
        )
    return answer({"matters": rows})
