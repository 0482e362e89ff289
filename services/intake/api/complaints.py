"""Intake's HTTP routes: filing, the complaint's life, triage, privacy, the catalogue and lookup."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.intake import domain, ratings, service, store
from services.intake.auth import ApiKey, Role, require
from services.intake.catalogue import Catalogue
from services.intake.privacy import resident_ref
from shared import commands, idempotency
from shared.apikeys import PUBLIC
from shared.commands import causation_of
from shared.db import Connection
from shared.events import (
    ComplaintRedacted,
    ContactsAccessed,
    Event,
    ResidentErased,
    labels,
)
from shared.http import (
    Answer,
    Call,
    Correlation,
    Offset,
    Problem,
    command_route,
    correlation_of,
    once,
)
from shared.idempotency import IdempotencyKey
from shared.sealing import FETCH_MOST, SEALINGS

router = APIRouter()
COMPLAINTS = "诉求受理 Complaints"
STAFF = "工作人员 Staff"

ChannelKey = Annotated[ApiKey, require(Role.CHANNEL)]
StaffKey = Annotated[ApiKey, require(Role.STAFF)]
ContactReader = Annotated[ApiKey, require(Role.STAFF, Role.NOTIFY)]
NotifyKey = Annotated[ApiKey, require(Role.NOTIFY)]
ReportingKey = Annotated[ApiKey, require(Role.REPORTING)]
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "缺少或无效的 API Key (problem+json)"},
    403: {"description": "无权执行 Not allowed for this key (problem+json)"},
    404: {"description": "未找到 Not found (problem+json)"},
    409: {"description": "当前状态不允许 Not allowed in the current status (problem+json)"},
    422: {"description": "请求参数有误 Invalid request (problem+json)"},
    429: {"description": "请求过于频繁 Rate limited; see Retry-After (problem+json)"},
}


def runtime_of(request: Request) -> service.IntakeRuntime:
    runtime: service.IntakeRuntime = request.app.state.runtime
    return runtime


def intake_of(request: Request) -> service.Intake:
    intake = runtime_of(request).app
    return intake


async def _catalogue(request: Request) -> Catalogue:
    async with runtime_of(request).pool.acquire() as conn:
        return await intake_of(request).catalogue(conn)


async def _view(conn: Connection, complaint_id: uuid.UUID) -> dict[str, Any]:
    view = await store.find_view(conn, complaint_id=complaint_id)
    assert view is not None
    return service.view_json(view)


# --- filing ---------------------------------------------------------------------------------


@router.post(
    "/complaints",
    tags=[COMPLAINTS],
    status_code=201,
    summary="受理诉求 File a complaint",
    responses={**REFUSALS, 201: {"description": "已受理，事务已提交 Accepted and committed"}},
)
async def file_complaint(
    command: domain.FileComplaint,
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
    door = runtime_of(request).app.door
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
    responses=REFUSALS,
)
async def get_complaint(ref: str, request: Request, key: ChannelKey) -> dict[str, Any]:
    async with runtime_of(request).pool.acquire() as conn:
        complaint_id = await service.resolve_ref(conn, ref)
        view = await _view(conn, complaint_id)
        updates = await store.updates_of(conn, complaint_id)
    if (key.role is Role.CHANNEL and view["channel"] != key.channel) or not key.covers(
        view["area_code"]
    ):
        raise Problem(404, f"诉求 {ref} 不存在 No such complaint")
    return {**view, "progress": [_update_json(u) for u in updates]}


def _update_json(update: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": update["status"],
        "status_label": labels.STATUS[domain.S(update["status"])],
        "description": update["description"],
        "at": update["updated_at"].isoformat(),
    }


@router.get(
    "/complaints/{ref}/events",
    tags=[STAFF],
    summary="诉求事件流 The complaint's event stream",
    responses=REFUSALS,
)
async def complaint_events(ref: str, request: Request, key: StaffKey) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn:
        complaint_id = await _seen_by(conn, key, ref)
        history = await runtime.store.read_stream(conn, store.stream_of(complaint_id))
    # After the resident's erasure the history still holds what they said: it is not shown.
    redacted = any(recorded.type == ComplaintRedacted.event_type for recorded in history)
    return {
        "complaint_id": str(complaint_id),
        "events": [
            {
                "id": str(recorded.id),
                "type": recorded.type,
                "position": recorded.position,
                "recorded_at": recorded.recorded_at.isoformat(),
                "data": _without_personal(recorded.data) if redacted else recorded.data,
            }
            for recorded in history
        ],
    }


# What the resident said or showed, and where exactly: not shown once they are erased.
# (the fields each sealed event type seals: a filing's words, place and masked phone, a
# callback's comment)
PERSONAL_FIELDS = frozenset(name for sealing in SEALINGS.values() for name in sealing.fields)


def _without_personal(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in PERSONAL_FIELDS}


# --- the complaint's life -------------------------------------------------------------------


Decision = Callable[[domain.Complaint, Call[ApiKey, Any]], Awaitable[list[Event]] | list[Event]]


def complaint_command(
    verb: str, summary: str, body: type[BaseModel], role: Role = Role.STAFF, **operation: Any
) -> Callable[[Decision], Decision]:
    """POST /complaints/{ref}/<verb> for the decorated decision on the complaint's newest
    state (by id or case number, if the key may see it); the answer is the complaint's view."""

    def register(decide: Decision) -> Decision:
        async def handle(call: Call[ApiKey, Any]) -> Answer:
            complaint_id = await _seen_by(call.conn, call.caller, call.target)
            events = runtime_of(call.request).store
            await service.change(
                call.conn, events, complaint_id, lambda state: decide(state, call), call.correlation
            )
            return 200, await _view(call.conn, complaint_id)

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
            responses=REFUSALS,
            **operation,
        )
        return decide

    return register


async def _seen_by(conn: Connection, key: ApiKey, ref: str) -> uuid.UUID:
    """The complaint `ref` names, if `key` may see it: a channel its own channel's, a staff key
    those in its area; any other is a 404, as one that does not exist."""
    complaint_id = await service.resolve_ref(conn, ref)
    if key.role is Role.CHANNEL or key.scope is not None:
        view = await store.find_view(conn, complaint_id=complaint_id)
        if (
            view is None
            or (key.role is Role.CHANNEL and view["channel"] != key.channel)
            or not key.covers(view["area_code"])
        ):
            raise Problem(404, f"诉求 {ref} 不存在 No such complaint")
    return complaint_id


@complaint_command(
    "reclassify",
    "人工分类 / 重新分类 Classify from triage or correct a classification",
    domain.Reclassify,
)
async def reclassify(state: domain.Complaint, call: Call[ApiKey, domain.Reclassify]) -> list[Event]:
    catalogue = await intake_of(call.request).catalogue(call.conn)
    if call.body.category not in catalogue.categories:
        raise Problem(
            422, f"未知的诉求类别 {call.body.category} Unknown category", field="category"
        )
    return domain.reclassify(state, call.body, call.caller.actor, commands.now())


@complaint_command("merge", "并案 Merge into another complaint as a duplicate", domain.Merge)
async def merge(state: domain.Complaint, call: Call[ApiKey, domain.Merge]) -> list[Event]:
    target_id = await service.resolve_ref(call.conn, call.body.into)
    target = await store.load(call.conn, runtime_of(call.request).store, target_id)
    merged_in = await store.merged_into_count(call.conn, state.complaint_id)
    assert target is not None
    return domain.merge(
        state, target, merged_in, call.body.reason, call.caller.actor, commands.now()
    )


@complaint_command(
    "answer", "直接办结（咨询类）Answer a consultation on the spot", domain.AnswerOnSpot
)
def answer(state: domain.Complaint, call: Call[ApiKey, domain.AnswerOnSpot]) -> list[Event]:
    return domain.answer_on_spot(state, call.body, call.caller.actor, commands.now())


@complaint_command("unmerge", "取消并案 Undo a merge", domain.Reason)
def unmerge(state: domain.Complaint, call: Call[ApiKey, domain.Reason]) -> list[Event]:
    return domain.unmerge(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command(
    "keep", "确认非重复 Keep a suspected duplicate as its own complaint", domain.Reason
)
def keep(state: domain.Complaint, call: Call[ApiKey, domain.Reason]) -> list[Event]:
    return domain.keep_separate(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command(
    "withdraw",
    "撤回诉求 Withdraw (by the resident's channel or staff)",
    domain.Reason,
    Role.CHANNEL,
)
def withdraw(state: domain.Complaint, call: Call[ApiKey, domain.Reason]) -> list[Event]:
    return domain.withdraw(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command("redo", "重办 Handle again after an unsatisfied callback", domain.Reason)
def redo(state: domain.Complaint, call: Call[ApiKey, domain.Reason]) -> list[Event]:
    return domain.request_redo(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command("close", "办结 Close the case", domain.Reason)
def close(state: domain.Complaint, call: Call[ApiKey, domain.Reason]) -> list[Event]:
    return domain.close(state, call.body.reason, call.caller.actor, commands.now())


@complaint_command(
    "callback",
    "回访 Record a callback to the resident",
    domain.CallBack,
    description=(
        "连续多次（INTAKE_CALLBACK_MAX_UNREACHED）未联系上诉求人的，按规定自动办结。"
        " After INTAKE_CALLBACK_MAX_UNREACHED callbacks in a row that reach nobody, a resolved"
        " complaint is closed."
    ),
)
async def callback(state: domain.Complaint, call: Call[ApiKey, domain.CallBack]) -> list[Event]:
    most = intake_of(call.request).settings.callback_max_unreached
    # A merged duplicate's resident is called once the complaint it follows is handled.
    survivor = await store.survivor_of(call.conn, runtime_of(call.request).store, state)
    return domain.call_back(state, call.body, call.caller.actor, commands.now(), most, survivor)


@router.get(
    "/callbacks",
    tags=[STAFF],
    summary="回访工作清单：已反馈待回访的诉求，等得最久的在前 The callback worklist",
    description=(
        "并案的诉求（已并入另一诉求）在主诉求办理反馈后也列入，由其本人回访、记在其本诉求上"
        "（`follows_case_number` 为主诉求编号）。"
        " A duplicate merged into a complaint that has been handled is listed too, for its own"
        " resident's callback, recorded on its own complaint (`follows_case_number`: the survivor)."
    ),
    responses=REFUSALS,
)
async def callbacks(
    request: Request,
    key: StaffKey,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    settings = intake_of(request).settings
    within = timedelta(hours=settings.callback_within_h)
    now = commands.now()
    async with runtime_of(request).pool.acquire() as conn:
        total, rows = await store.callback_worklist(conn, limit, offset, within=key.scope)
    items = []
    for row in rows:
        since = row["waiting_since"]
        due = since + within
        items.append(
            {
                **service.view_json(row),
                "resolved_at": since.isoformat(),
                "callback_due_at": due.isoformat(),
                "overdue": due < now,
                "unreached_callbacks": row["unreached_callbacks"],
                # a merged duplicate: its resident is called about the case it follows
                "follows_case_number": row["survivor_case_number"],
            }
        )
    return {"total": total, "limit": limit, "offset": offset, "items": items}


# --- triage ---------------------------------------------------------------------------------


@router.get(
    "/triage",
    tags=[STAFF],
    summary="待人工处理队列：低置信度分类、咨询与疑似重复 Triage queue",
    responses=REFUSALS,
)
async def triage(
    request: Request,
    key: StaffKey,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    async with runtime_of(request).pool.acquire() as conn:
        total, rows = await store.triage_queue(conn, limit, offset, within=key.scope)
    accept_within = timedelta(hours=intake_of(request).settings.triage_accept_within_h)
    now = commands.now()
    items = []
    for row in rows:
        item = service.view_json(row)
        if row["status"] == "triage":  # the acceptance clock (受理时限)
            item["accept_due_at"] = (row["filed_at"] + accept_within).isoformat()
            item["overdue"] = row["filed_at"] + accept_within < now
        item["reasons"] = [
            reason
            for reason, applies in (
                ("low_confidence", row["status"] == "triage" and row["type"] != "consultation"),
                ("consultation", row["status"] == "triage" and row["type"] == "consultation"),
                ("likely_duplicate", row["duplicate_pending"]),
            )
            if applies
        ]
        items.append(item)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


class ClassifyText(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


@router.post(
    "/classify",
    tags=[STAFF],
    summary="试分类（不受理）Classify a text without filing it",
    responses=REFUSALS,
)
async def classify(command: ClassifyText, request: Request, _: StaffKey) -> dict[str, Any]:
    intake = intake_of(request)
    catalogue = await _catalogue(request)
    result = service.catalogue_classifier(catalogue).classify(command.text)
    settings = intake.settings
    return {
        "type": result.type.value,
        "type_label": labels.TYPE[result.type],
        "type_confidence": round(result.type_confidence, 4),
        "category": result.category,
        "category_name": catalogue.categories[result.category].name
        if result.category in catalogue.categories
        else None,
        "confidence": round(result.confidence, 4),
        "alternatives": [
            {"category": c, "confidence": round(p, 4)} for c, p in result.alternatives
        ],
        "needs_triage": result.confidence < settings.classify_threshold
        or result.type_confidence < settings.type_threshold,
    }


# --- privacy --------------------------------------------------------------------------------


@router.get(
    "/complaints/{ref}/contact",
    tags=[STAFF],
    summary="查看诉求人联系方式（解密）The resident's contact, decrypted",
    responses={**REFUSALS, 410: {"description": "已按居民请求删除 Erased"}},
)
async def contact(
    ref: str,
    request: Request,
    key: ContactReader,
    purpose: Annotated[
        str,
        Query(
            min_length=2, max_length=200, description="用途，如「回访」 Why it is read (recorded)"
        ),
    ],
) -> dict[str, Any]:
    runtime = runtime_of(request)
    settings = runtime.settings
    if key.role is not Role.NOTIFY:  # a person reads a few; walking case numbers is refused
        await runtime.limiter.check(f"contact:{key.key_id}", settings.contact_reads_per_minute)
    async with runtime.pool.acquire() as conn, conn.transaction():
        complaint_id = await _seen_by(conn, key, ref)
        try:
            found = await store.read_contact(conn, settings.master_keys, complaint_id)
        except store.ContactErased:
            raise Problem(
                410, "诉求人已要求删除个人信息，联系方式不可再读取 The contact was erased"
            ) from None
        if found is not None:
            await _record_reading(request, conn, key, [complaint_id], purpose)
    if found is None:
        raise Problem(404, f"诉求 {ref} 没有联系方式 No contact stored")
    return found.model_dump()


class ContactLookup(BaseModel):
    complaint_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=500, description="诉求编号（UUID）Complaint ids"
    )
    purpose: str = Field(
        "发送通知 notification", min_length=2, max_length=200, description="用途 Why (recorded)"
    )


async def _record_reading(
    request: Request, conn: Connection, key: ApiKey, complaint_ids: list[uuid.UUID], purpose: str
) -> None:
    """Record who read which residents' contacts, when and why (`ContactsAccessed`), in the same
    transaction as the reading: no contact leaves intake unrecorded."""
    event = ContactsAccessed(
        complaint_ids=complaint_ids,
        actor=key.actor,
        key_id=key.key_id,
        purpose=purpose,
        read_at=datetime.now(UTC),
    )
    stream = f"contacts-read-{uuid.uuid4()}"  # one stream a reading: readings never contend
    causation = causation_of([], correlation_of(request))
    await runtime_of(request).store.append(conn, stream, [event], causation, None)


@router.post(
    "/contacts/lookup",
    tags=[STAFF],
    summary="批量查看诉求人联系方式（解密）Several residents' contacts, decrypted, at once",
    description=(
        "通知服务按批发送时一次取回本批诉求人的联系方式。"
        " What the notification service asks once per batch of messages: `contacts` by complaint"
        " id, and the ids whose contact was `erased` or is `missing`."
    ),
    responses=REFUSALS,
)
async def contacts(lookup: ContactLookup, request: Request, key: NotifyKey) -> dict[str, Any]:
    runtime = runtime_of(request)
    settings = runtime.settings
    async with runtime.pool.acquire() as conn, conn.transaction():
        found = await store.read_contacts(conn, settings.master_keys, lookup.complaint_ids)
        read = [cid for cid, c in found.items() if not isinstance(c, Exception)]
        if read:
            await _record_reading(request, conn, key, read, lookup.purpose)
    return {
        "contacts": {
            str(cid): c.model_dump() for cid, c in found.items() if not isinstance(c, Exception)
        },
        "erased": [str(cid) for cid, c in found.items() if isinstance(c, store.ContactErased)],
        "missing": [str(cid) for cid in dict.fromkeys(lookup.complaint_ids) if cid not in found],
    }


class KeysLookup(BaseModel):
    resident_refs: list[Annotated[str, Field(pattern=r"^R-[0-9a-f]{20}$")]] = Field(
        min_length=1, max_length=FETCH_MOST, description="居民匿名编号 Resident refs"
    )


@router.post(
    "/residents/keys",
    tags=[STAFF],
    summary="批量取回居民诉求内容密钥 Residents' words keys, to open sealed filings",
    description=(
        "统计服务按批取回密钥，以解开 ComplaintFiled 中加密的诉求内容与详细地址；"
        "居民已删除个人信息的为 null。"
        " What reporting asks once per batch of events: each resident's words key (base64), or"
        " null once the resident was erased. A words key opens what the resident said in their"
        " filings, never their contact."
    ),
    responses=REFUSALS,
)
async def words_keys(
    lookup: KeysLookup, request: Request, response: Response, key: ReportingKey
) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"  # keys: never kept by a cache on the way
    runtime = runtime_of(request)
    settings = runtime.settings
    async with runtime.pool.acquire() as conn:
        found = await store.words_keys(conn, settings.master_keys, lookup.resident_refs)
    return {
        "keys": {
            ref: base64.b64encode(k.secret).decode() if k is not None else None
            for ref, k in found.items()
        }
    }


class Erasure(BaseModel):
    phone: str | None = Field(None, pattern=domain.PHONE_PATTERN, description="诉求人电话")
    resident_ref: str | None = Field(None, pattern=r"^R-[0-9a-f]{20}$")


@router.post(
    "/residents/erasure",
    tags=[STAFF],
    summary="删除居民个人信息（加密粉碎）Erase a resident's contact (crypto-shredding)",
    responses=REFUSALS,
)
async def erase(
    command: Erasure,
    request: Request,
    key: StaffKey,
    correlation: Correlation,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    runtime = runtime_of(request)
    settings = runtime.settings
    if (command.phone is None) == (command.resident_ref is None):
        raise Problem(422, "须且只能提供 phone 或 resident_ref 之一 Give phone or resident_ref")
    resident = command.resident_ref or resident_ref(command.phone or "", settings.resident_pepper)

    async def produce(conn: Connection) -> Answer:
        count = await store.erase_resident(conn, resident)
        now = datetime.now(UTC)
        event = ResidentErased(resident_ref=resident, complaints=count, erased_at=now)
        causation = causation_of([], correlation)  # an erasure starts its own conversation
        await runtime.store.append(conn, f"resident-{resident}", [event], causation, None)
        # Each complaint forgets what the resident said and where exactly (ComplaintRedacted:
        # every service's read model follows), and the answers kept for retried writes go.
        catalogue = await intake_of(request).catalogue(conn)
        complaint_ids = await store.complaints_of(conn, resident)
        for complaint_id in complaint_ids:
            await service.change(
                conn,
                runtime.store,
                complaint_id,
                lambda state: domain.redact(state, catalogue.public_place(state.area_code)[1], now),
                correlation,
            )
        await idempotency.forget_answers_about(conn, complaint_ids)
        return 200, {"resident_ref": resident, "contacts_erased": count}

    return await once(
        request, key.key_id, "erase", idempotency_key, {"resident": resident}, produce
    )


# --- the catalogue --------------------------------------------------------------------------


@router.get(
    "/admin/catalogue",
    tags=["城市目录 Catalogue"],
    summary="当前目录 The current catalogue, as followed from dispatch's city model",
    responses=REFUSALS,
)
async def current_catalogue(request: Request, _: ChannelKey) -> dict[str, Any]:
    catalogue = await _catalogue(request)
    return {"catalogue_version": catalogue.version, **catalogue.file.model_dump(mode="json")}


# --- the resident's own view ----------------------------------------------------------------


@router.get(
    "/lookup",
    dependencies=[PUBLIC],
    tags=["居民查询 Residents"],
    summary="居民凭受理编号和手机尾号查询办理进度 Look up progress by case number and phone tail",
    description=(
        "办理结果待评价时，`rating` 给出本轮专用的一次性评价链接（POST /ratings）。"
        " While the result awaits the resident's rating, `rating` holds a one-time link signed"
        " for this round (POST /ratings); otherwise it is null."
    ),
    responses={
        404: {"description": "编号或尾号不符 No match (problem+json)"},
        429: {"description": "查询过于频繁（每个地址、每个编号） Rate limited; see Retry-After"},
    },
)
async def lookup(
    request: Request,
    case_number: Annotated[str, Query(pattern=r"^JS-\d{8}-\d{6,}$", description="受理编号")],
    phone_tail: Annotated[str, Query(pattern=r"^\d{4}$", description="手机号后四位")],
) -> dict[str, Any]:
    runtime = runtime_of(request)
    settings = runtime.settings
    client = request.client.host if request.client else "unknown"
    # Four digits are guessable: each address gets a few tries a minute, whatever the case,
    # and each case a few tries a minute, whoever asks (many addresses cannot share out a sweep).
    limiter = runtime.limiter
    await limiter.check(f"lookup:{client}", settings.lookup_rate_per_minute)
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
        if view["status"] in (domain.S.RESOLVED, domain.S.MERGED):
            state = await store.load(conn, runtime.store, view["complaint_id"])
            assert state is not None
            survivor = await store.survivor_of(conn, runtime.store, state)
            if domain.awaits_rating(state, survivor):
                grant = ratings.RatingGrant(
                    state.complaint_id,
                    domain.rating_round(state, survivor),
                    commands.now() + timedelta(hours=settings.rating_link_valid_h),
                )
                rating = ratings.offer(grant, settings.rating_link_secret, settings.rating_page_url)
    category = catalogue.categories.get(view["category"] or "")
    areas = catalogue.lineage(view["area_code"])
    community = next((a.name for a in areas if a.level == "community"), None)
    return {
        "case_number": view["case_number"],
        "status": view["status"],
        "status_label": labels.STATUS[domain.S(view["status"])],
        "status_note": view["status_note"],
        "type_label": labels.TYPE[domain.ComplaintType(view["type"])] if view["type"] else None,
        "category": category.name if category else None,
        "community": community,
        "lead_responder": view["lead_responder"],
        "due_at": view["due_at"].isoformat() if view["due_at"] else None,
        "filed_at": view["filed_at"].isoformat(),
        "progress": [_update_json(u) for u in updates],
        "rating": rating,
    }
