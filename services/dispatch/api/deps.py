"""What dispatch's routes take: the caller's key, the application and the runtime, the
command registrar, and who may see which case."""

from __future__ import annotations

import functools
from typing import Annotated, Any
from uuid import UUID

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.dispatch import store
from services.dispatch.app import Dispatch, DispatchRuntime
from services.dispatch.auth import Caller, Role, require
from services.dispatch.domain.case import Case, OrderStatus
from services.dispatch.domain.rules import Rules
from shared.answers import problem
from shared.http import Problem, command_route

ORDERS = "工单 Work orders"
CASES = "案件与督办 Cases and supervision"

AnyCaller = Annotated[Caller, require(Role.RESPONDER, Role.SUPERVISOR)]
# Beyond what every keyed route may refuse (shared.answers): not found or not the caller's
# to see, or not allowed in the current state.
REFUSALS = {
    **problem(404, "不存在或无权查看 Not found, or not yours to see"),
    **problem(409, "当前状态不允许 Not allowed in the current state"),
}


def dispatch_of(request: Request) -> Dispatch:
    return runtime_of(request).app


def runtime_of(request: Request) -> DispatchRuntime:
    runtime: DispatchRuntime = request.app.state.runtime
    return runtime


def answer(body: Any) -> JSONResponse:
    """`body` sent as it was built, as FastAPI sends a route's value that has no response model:
    the route's response model documents the answer and does not re-validate it (the views
    hold the JSON of their time)."""
    return JSONResponse(jsonable_encoder(body))


def _key_id(caller: Caller) -> str:
    return caller.key.key_id


# POST /<resource>/{id}/<verb> on a router of dispatch's, by any caller with a key; each key's
# Idempotency-Keys are its own.
register_command = functools.partial(
    command_route, caller=AnyCaller, key_id=_key_id, responses=REFUSALS
)


# A unit that returned its order, or whose order was withdrawn, is no longer part of the case.
_GONE = frozenset({OrderStatus.RETURNED, OrderStatus.CANCELLED})


def visible(caller: Caller, case: Case, rules: Rules) -> bool:
    """Supervisors of the area see the case; units see it while they have a part in it."""
    return caller.supervises(rules.model, case.area_code) or any(
        caller.holds(o.responder.id) and o.status not in _GONE for o in case.orders
    )


def hidden(what: str) -> Problem:
    return Problem(404, f"{what}不存在，或不属于你单位 Not found, or not yours to see")


def seen_by(caller: Caller) -> tuple[str | None, list[str] | None]:
    """(unit, area patterns) a caller's lists cover; (None, None) is everything."""
    if caller.is_admin:
        return None, None
    if caller.responder is None:
        return None, caller.area_patterns()  # a supervisor: its scope, or the city
    return caller.responder.id, caller.area_patterns() or None  # a unit, and a street's areas


async def visible_case(request: Request, caller: Caller, complaint_id: UUID) -> tuple[Case, Rules]:
    """The case and the rules it is judged by, or a 404 if the caller may not see it."""
    dispatch = dispatch_of(request)
    async with runtime_of(request).pool.acquire() as conn:
        case, _ = await store.load_case(conn, dispatch.events, complaint_id)
        rules = await dispatch.rules(conn)
    if case is None or not visible(caller, case, rules):
        raise hidden("派单案件")
    return case, rules
