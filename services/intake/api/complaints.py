"""A complaint's routes: filing it, reading it with its progress and its events, the staff's and
channels' commands on its life (POST /complaints/{ref}/<verb>), and the resident's own lookup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.intake import app, store
from services.intake.api import deps, schemas
from services.intake.api.deps import (
    COMPLAINTS,
    NO_CATALOGUE,
    REFUSALS,
    RESIDENTS,
    STAFF,
    ChannelKey,
    StaffKey,
    client_of,
    intake_of,
    runtime_of,
    seen_by,
    sees,
    view_of,
)
from services.intake.auth import ApiKey, Role, require
from services.intake.domain import decisions, ratings
from services.intake.domain.commands import (
    AnswerOnSpot,
    CallBack,
    FileComplaint,
    Merge,
    Reason,
    Reclassify,
)
from services.intake.domain.model import Complaint
from shared import commands, idempotency
from shared.answers import problem
from shared.apikeys import PUBLIC
from shared.commands import causation_of
from shared.events import ComplaintRedacted, ComplaintStatus, Event
from shared.http import Answer, Call, Correlation, Problem, command_route
from shared.idempotency import IdempotencyKey

router = APIRouter()

# --- filing ---------------------------------------------------------------------------------


@router.post(
    "/complaints",
    tags=[COMPLAINTS],
    status_code=201,
    summary="受理诉求 File a complaint",
    response_model=schemas.ComplaintView,
    responses={
        **REFUSALS,
        **NO_CATALOGUE,
        201: {"description": "已受理，事务已提交 Accepted and committed"},
    },
)
async def file_complaint(
    command: FileComplaint,
    request: Request,
    key: ChannelKey,
    correlation: Correlation,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if key.role is Role.CHANNEL and key.channel is not command.channel:
        raise Problem(
            403,
            f"该密钥只能用于「{key.channel}」渠道 This key files for channel {key.channel} only",
            field="channel",
        )
    door = intake_of(request).door
    scoped = idempotency.scoped(key.key_id, "file", idempotency_key)
    # Answered only after the commit that holds the complaint: a 201 is never lost.
    return await door.file(
        command,
        causation_of([], correlation),
        scoped,
        command.model_dump(mode="json") if scoped else None,
    )


@router.get(
    "/complaints/{ref}",
    tags=[COMPLAINTS],
    summary="查询诉求（含办理进度）A complaint with its progress, by id or case number",
    response_model=schemas.ComplaintProgress,
    responses=REFUSALS,
)
async def get_complaint(ref: str, request: Request, key: ChannelKey) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        complaint_id = await app.resolve_ref(conn, ref)
        view = await store.find_view(conn, complaint_id=complaint_id)
        updates = await store.updates_of(conn, complaint_id)
    assert view is not None
    if not sees(key, view):
        raise Problem(404, f"诉求 {ref} 不存在 No such complaint")
    return deps.answer(schemas.complaint_progress(view, updates))


@router.get(
    "/complaints/{ref}/events",
    tags=[STAFF],
    summary="诉求事件流 The complaint's event stream",
    response_model=schemas.ComplaintEvents,
    responses=REFUSALS,
)
async def complaint_events(ref: str, request: Request, key: StaffKey) -> JSONResponse:
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn:
        complaint_id = await seen_by(conn, key, ref)
        history = await runtime.store.read_stream(conn, store.stream_of(complaint_id))
    # After the resident's erasure the history still holds what they said: it is not shown.
    redacted = any(recorded.type == ComplaintRedacted.event_type for recorded in history)
    return deps.answer(schemas.complaint_events(complaint_id, history, redacted))


# --- the complaint's life -------------------------------------------------------------------
# (`answer` below is the command answering a consultation: the routes send theirs with
# deps.answer)


Decision = Callable[[Complaint, Call[ApiKey, Any]], Awaitable[list[Event]] | list[Event]]


def complaint_command(
    verb: str, summary: str, body: type[BaseModel], role: Role = Role.STAFF, **operation: Any
) -> Callable[[Decision], Decision]:
    """POST /complaints/{ref}/<verb> for the decorated decision on the complaint's newest
    state (by id or case number, if the key may see it); the answer is the complaint's view."""

    def register(decide: Decision) -> Decision:
        async def handle(call: Call[ApiKey, Any]) -> Answer:
            complaint_id = await seen_by(call.conn, call.caller, call.target)
            events = runtime_of(call.request).store
            await app.change(
                call.conn, events, complaint_id, lambda state: decide(state, call), call.correlation
            )
            return 200, await view_of(call.conn, complaint_id)

        command_route(
            router,
            f"/complaints/{{ref}}/{verb}",
            body,
            handle,
            caller=Annotated[ApiKey, require(role)],
            key_id=lambda key: key.key_id,
            name=decide.__name__,
            target=str,
            tags=[STAFF],
            summary=summary,
            response_model=schemas.ComplaintView,
            responses=REFUSALS,
            **operation,
        )
        return decide

    return register


@complaint_command(
    "reclassify",
    "人工分类 / 重新分类 Classify from triage or correct a classification",
    Reclassify,
)
async def reclassify(state: Complaint, call: Call[ApiKey, Reclassify]) -> list[Event]:
    catalogue = await intake_of(call.request).catalogue(call.conn)
    if call.body.category not in catalogue.categories:
        raise Problem(
            422, f"未知的诉求类别 {call.body.category} Unknown category", field="category"
        )
    return decisions.reclassify(state, call.body, call.caller.actor, commands.now())


@complaint_command("merge", "并案 Merge into another complaint as a duplicate", Merge)
async def merge(state: Complaint, call: Call[ApiKey, Merge]) -> list[Event]:
    target_id = await app.resolve_ref(call.conn, call.body.into)
    target = await store.load(call.conn, runtime_of(call.request).store, target_id)
    merged_in = await store.merged_into_count(call.conn, state.complaint_id)
    assert target is not None
    return decisions.merge(
        state, target, merged_in, call.body.reason, call.caller.actor, commands.now()
    )


@complaint_command("answer", "直接办结（咨询类）Answer a consultation on the spot", AnswerOnSpot)
def answer(state: Complaint, call: Call[ApiKey, AnswerOnSpot]) -> list[Event]:
    return decisions.answer_on_spot(state, call.body, call.caller.actor, commands.now())


@complaint_command("unmerge", "取消并案 Undo a merge", Reason)
def unmerge(state: Complaint, call: Call[ApiKey, Reason]) -> list[Event]:
    return decisions.unmerge(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command("keep", "确认非重复 Keep a suspected duplicate as its own complaint", Reason)
def keep(state: Complaint, call: Call[ApiKey, Reason]) -> list[Event]:
    return decisions.keep_separate(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command(
    "withdraw",
    "撤回诉求 Withdraw (by the resident's channel or staff)",
    Reason,
    Role.CHANNEL,
)
def withdraw(state: Complaint, call: Call[ApiKey, Reason]) -> list[Event]:
    return decisions.withdraw(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command("redo", "重办 Handle again after an unsatisfied callback", Reason)
def redo(state: Complaint, call: Call[ApiKey, Reason]) -> list[Event]:
    return decisions.request_redo(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command("close", "办结 Close the case", Reason)
def close(state: Complaint, call: Call[ApiKey, Reason]) -> list[Event]:
    return decisions.close(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command(
    "callback",
    "回访 Record a callback to the resident",
    CallBack,
    description=(
        "连续多次（INTAKE_CALLBACK_MAX_UNREACHED）未联系上诉求人的，按规定自动办结。"
        " After INTAKE_CALLBACK_MAX_UNREACHED callbacks in a row that reach nobody, a resolved"
        " complaint is closed."
    ),
)
async def callback(state: Complaint, call: Call[ApiKey, CallBack]) -> list[Event]:
    most = intake_of(call.request).settings.callback_max_unreached
    # A merged duplicate's resident is called once the complaint it follows is handled.
    survivor = await store.survivor_of(call.conn, runtime_of(call.request).store, state)
    return decisions.call_back(state, call.body, call.caller.actor, commands.now(), most, survivor)


# --- the resident's own view ----------------------------------------------------------------


@router.get(
    "/lookup",
    dependencies=[PUBLIC],
    tags=[RESIDENTS],
    summary="居民凭受理编号和手机尾号查询办理进度 Look up progress by case number and phone tail",
    description=(
        "办理结果待评价时，`rating` 给出本轮专用的一次性评价链接（POST /ratings）。"
        " While the result awaits the resident's rating, `rating` holds a one-time link signed"
        " for this round (POST /ratings); otherwise it is null."
    ),
    response_model=schemas.Lookup,
    responses={
        **problem(404, "编号或尾号不符 No match"),
        **problem(429, "查询过于频繁（每个地址、每个编号） Rate limited; see Retry-After"),
        **NO_CATALOGUE,
    },
)
async def lookup(
    request: Request,
    case_number: Annotated[str, Query(pattern=r"^JS-\d{8}-\d{6,}$", description="受理编号")],
    phone_tail: Annotated[str, Query(pattern=r"^\d{4}$", description="手机号后四位")],
) -> JSONResponse:
    runtime = runtime_of(request)
    settings = runtime.settings
    # Four digits are guessable: each address gets a few tries a minute, whatever the case,
    # and each case a few tries a minute, whoever asks (many addresses cannot share out a sweep).
    limiter = runtime.limiter
    await limiter.check(f"lookup:{client_of(request)}", settings.lookup_rate_per_minute)
    await limiter.check(f"lookup-case:{case_number}", settings.lookup_rate_per_case_per_minute)
    async with runtime.pool.acquire() as conn:
        view = await store.find_view(conn, case_number=case_number)
        matches = await store.tail_matches(conn, view, phone_tail, settings.lookup_max_misses)
        if not matches or view is None:
            raise Problem(404, "未找到该编号，或手机尾号不符 No complaint matches")
        updates = await store.updates_of(conn, view["complaint_id"])
        catalogue = await intake_of(request).catalogue(conn)
        # The resident proved the case number and phone tail: a result awaiting their rating
        # comes with a link signed for this round only.
        rating = None
        if view["status"] in (ComplaintStatus.RESOLVED, ComplaintStatus.MERGED):
            state = await store.load(conn, runtime.store, view["complaint_id"])
            assert state is not None
            survivor = await store.survivor_of(conn, runtime.store, state)
            if decisions.awaits_rating(state, survivor):
                grant = ratings.RatingGrant(
                    state.complaint_id,
                    decisions.rating_round(state, survivor),
                    commands.now() + timedelta(hours=settings.rating_link_valid_h),
                )
                rating = schemas.rating_offer(
                    grant, settings.rating_link_secret, settings.rating_page_url
                )
    return deps.answer(schemas.lookup(view, updates, catalogue, rating))
