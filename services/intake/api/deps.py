"""What intake's routes (and its adapters) take: the runtime and the application of a request,
the callers' keys by role, the refusals every keyed route may give, which complaints a key may
see, and how an answer is sent."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.intake import app, store
from services.intake.api import schemas
from services.intake.app import Intake, IntakeRuntime
from services.intake.auth import ApiKey, Role, require
from services.intake.domain.catalogue import Catalogue
from shared.answers import problem
from shared.db import Connection
from shared.http import Problem

COMPLAINTS = "诉求受理 Complaints"
STAFF = "工作人员 Staff"
RESIDENTS = "居民查询 Residents"

ChannelKey = Annotated[ApiKey, require(Role.CHANNEL)]
StaffKey = Annotated[ApiKey, require(Role.STAFF)]
ContactReader = Annotated[ApiKey, require(Role.STAFF, Role.NOTIFY)]
NotifyKey = Annotated[ApiKey, require(Role.NOTIFY)]
ReportingKey = Annotated[ApiKey, require(Role.REPORTING)]
SmsGatewayKey = Annotated[ApiKey, require(Role.SMS_GATEWAY)]
# Beyond what every keyed route may refuse (shared.answers): no such complaint (or not the
# key's to see), or not in a status that allows it.
REFUSALS = {
    **problem(404, "未找到 Not found, or not yours to see"),
    **problem(409, "当前状态不允许 Not allowed in the current status"),
}
NO_CATALOGUE = problem(503, "城市目录尚未载入 No catalogue yet: load the city into dispatch")


def runtime_of(request: Request) -> IntakeRuntime:
    runtime: IntakeRuntime = request.app.state.runtime
    return runtime


def intake_of(request: Request) -> Intake:
    return runtime_of(request).app


async def catalogue_of(request: Request) -> Catalogue:
    async with runtime_of(request).pool.acquire() as conn:
        return await intake_of(request).catalogue(conn)


def client_of(request: Request) -> str:
    """The caller's address, as the rate limits count it (shared.runtime.http_server)."""
    return request.client.host if request.client else "unknown"


def answer(body: Any, status_code: int = 200) -> JSONResponse:
    """`body` sent as it was built, as FastAPI sends a route's value that has no response model:
    the route's response model documents the answer and does not re-validate it."""
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


async def seen_by(conn: Connection, key: ApiKey, ref: str) -> UUID:
    """The complaint `ref` names, if `key` may see it: a channel its own channel's, a staff key
    those in its area; any other is a 404, as one that does not exist."""
    complaint_id = await app.resolve_ref(conn, ref)
    if key.role is Role.CHANNEL or key.scope is not None:
        view = await store.find_view(conn, complaint_id=complaint_id)
        if view is None or not sees(key, view):
            raise Problem(404, f"诉求 {ref} 不存在 No such complaint")
    return complaint_id


def sees(key: ApiKey, view: dict[str, Any]) -> bool:
    """Whether `key` may see the complaint `view` shows: a channel key its own channel's, a
    staff key those in its area."""
    return not (key.role is Role.CHANNEL and view["channel"] != key.channel) and key.covers(
        view["area_code"]
    )


async def view_of(conn: Connection, complaint_id: UUID) -> dict[str, Any]:
    """The complaint's view, as the API shows it."""
    view = await store.find_view(conn, complaint_id=complaint_id)
    assert view is not None
    return schemas.complaint_view(view)
