"""Notify's HTTP routes: notifications, webhook subscriptions, the directory, dead letters and
the live stream (SSE)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator
from sse_starlette.sse import EventSourceResponse

from services.notify import delivery, store
from services.notify.auth import ApiKey, Role, require
from services.notify.delivery import webhook_targets
from services.notify.domain import Duty
from services.notify.live import LiveFeed
from services.notify.settings import NotifySettings
from shared.db import Connection
from shared.events import REGISTRY
from shared.http import Offset, Problem, parse_upload
from shared.runtime import ServiceRuntime

router = APIRouter()
NOTIFICATIONS = "通知 Notifications"
SUBSCRIPTIONS = "订阅 Webhook subscriptions"
DIRECTORY = "通讯录 Directory"
OpsKey = Annotated[ApiKey, require(Role.OPS)]
AdminKey = Annotated[ApiKey, require()]
# An admin, or a subscriber managing its own subscriptions.
SubscriberKey = Annotated[ApiKey, require(Role.SUBSCRIBER)]
AREA = r"^\d{12}(-[A-Z0-9]{1,8}){0,3}$"
# What a subscription may ask for: the events that are about a complaint.
SUBSCRIBABLE = sorted(
    name
    for name, event_class in REGISTRY.items()
    if event_class.__module__ in ("shared.events.complaint", "shared.events.dispatch")
    and "complaint_id" in event_class.model_fields
)


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Subscription(_Body):
    url: HttpUrl = Field(description="接收地址 Where to POST (Standard Webhooks)")
    event_types: list[str] = Field(
        default_factory=list, description="事件类型，空为全部 Types; none = all"
    )
    area_code: str | None = Field(None, pattern=AREA, description="区域（含下级）Area and below")
    description: str = Field("", max_length=200)
    secret: str | None = Field(
        None,
        pattern=r"^whsec_[A-Za-z0-9+/=]{24,}$",
        description="签名密钥，不填则生成 Signing secret",
    )

    def unknown_types(self) -> list[str]:
        return [t for t in self.event_types if t not in SUBSCRIBABLE]


def _public(row: dict[str, Any], secret: bool = False) -> dict[str, Any]:
    shown = {k: v for k, v in row.items() if k != "secret" or secret}
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in shown.items()}


def _owner(key: ApiKey) -> str | None:
    """Whose subscriptions a key sees and changes: a subscriber its own; an admin all (None)."""
    return key.key_id if key.role is Role.SUBSCRIBER else None


def _within_key(body: Subscription, key: ApiKey) -> Subscription:
    """A subscriber's subscription within its key: its area and types when none are given;
    a 403 for one wider than the key's."""
    if key.role is not Role.SUBSCRIBER:
        return body
    area = body.area_code or key.scope
    types = body.event_types or list(key.event_types or ())
    if not key.covers(area):
        raise Problem(
            403,
            f"订阅区域超出本密钥的区域 {key.scope} The area is outside this key's",
            errors=[{"field": "area_code", "message": f"within {key.scope}"}],
        )
    if not key.allows(types):
        allowed = ", ".join(key.event_types or ())
        raise Problem(
            403,
            f"订阅的事件类型超出本密钥的类型 The event types are beyond this key's: {allowed}",
            errors=[{"field": "event_types", "message": f"among {allowed}"}],
        )
    return body.model_copy(update={"area_code": area, "event_types": types})


async def _put_subscription(
    request: Request, subscription_id: str, body: Subscription, key: ApiKey
) -> dict[str, Any]:
    body = _within_key(body, key)
    unknown = body.unknown_types()
    if unknown:
        raise Problem(
            422,
            f"未知的事件类型 Unknown event types: {', '.join(unknown)}",
            errors=[{"field": "event_types", "message": f"one of {', '.join(SUBSCRIBABLE)}"}],
        )
    settings: NotifySettings = _runtime(request).settings  # type: ignore[assignment]
    refusal = await webhook_targets(settings).refusal(str(body.url))
    if refusal is not None:
        raise Problem(422, refusal, errors=[{"field": "url", "message": refusal}])
    async with _runtime(request).pool.acquire() as conn:
        row = await store.put_subscription(
            conn,
            subscription_id,
            str(body.url),
            body.secret or store.new_secret(),
            body.event_types,
            body.area_code,
            body.description,
            _owner(key),
        )
    return _public(row, secret=True)


@router.post(
    "/subscriptions",
    tags=[SUBSCRIPTIONS],
    status_code=201,
    summary="新建订阅 Subscribe a downstream system (the secret is shown once)",
)
async def create_subscription(
    body: Subscription, request: Request, key: SubscriberKey
) -> dict[str, Any]:
    return await _put_subscription(request, f"sub_{uuid.uuid4().hex[:12]}", body, key)


@router.put(
    "/subscriptions/{subscription_id}",
    tags=[SUBSCRIPTIONS],
    summary="建立或替换订阅 Put a subscription under a chosen id (re-enables it)",
)
async def put_subscription(
    subscription_id: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{1,60}$")],
    body: Subscription,
    request: Request,
    key: AdminKey,
) -> dict[str, Any]:
    return await _put_subscription(request, subscription_id, body, key)


@router.get(
    "/subscriptions",
    tags=[SUBSCRIPTIONS],
    summary="订阅列表（订阅方只见自己的）Subscriptions (a subscriber sees its own)",
)
async def list_subscriptions(request: Request, key: SubscriberKey) -> dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn:
        rows = await store.subscriptions(conn, _owner(key))
    types = [t for t in SUBSCRIBABLE if key.allows([t])]
    return {"subscriptions": [_public(r) for r in rows], "event_types": types}


def _no_such(subscription_id: str) -> Problem:
    return Problem(404, f"没有订阅 {subscription_id} No such subscription")


@router.delete(
    "/subscriptions/{subscription_id}",
    tags=[SUBSCRIPTIONS],
    summary="删除订阅（订阅方只能删自己的）Unsubscribe (a subscriber its own only)",
)
async def delete_subscription(
    subscription_id: str, request: Request, key: SubscriberKey
) -> dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn:
        if not await store.delete_subscription(conn, subscription_id, _owner(key)):
            raise _no_such(subscription_id)
    return {"deleted": subscription_id}


async def _set_status(
    request: Request, subscription_id: str, key: ApiKey, status: str, reason: str | None
) -> dict[str, Any]:
    owner = _owner(key)
    async with _runtime(request).pool.acquire() as conn:
        if not await store.set_subscription_status(conn, subscription_id, status, reason, owner):
            raise _no_such(subscription_id)
        row = await store.subscription(conn, subscription_id, owner)
    assert row is not None
    return _public(row)


@router.post(
    "/subscriptions/{subscription_id}/pause",
    tags=[SUBSCRIPTIONS],
    summary="暂停订阅（订阅方只能停自己的）Pause: nothing is sent until enabled again",
)
async def pause_subscription(
    subscription_id: str, request: Request, key: SubscriberKey
) -> dict[str, Any]:
    return await _set_status(request, subscription_id, key, "paused", f"paused by {key.actor}")


@router.post(
    "/subscriptions/{subscription_id}/enable",
    tags=[SUBSCRIPTIONS],
    summary="重新启用 Enable again (after a pause, or after the endpoint answered 410 Gone)",
)
async def enable_subscription(
    subscription_id: str, request: Request, key: SubscriberKey
) -> dict[str, Any]:
    return await _set_status(request, subscription_id, key, "active", None)


# --- the directory (通讯录) ---------------------------------------------------------------------


class Entry(_Body):
    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,60}$", description="单位 id（与派单一致）Unit id"
    )
    name: str = Field(min_length=1, max_length=100)
    sms: str | None = Field(None, pattern=r"^\+?[\d\- ]{5,20}$", description="短信号码")
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    wechat_openid: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{6,64}$")
    area_code: str | None = Field(None, pattern=AREA, description="值守区域 Area on duty for")
    duty: Duty | None = Field(
        None,
        description="值守职责：staff 待分类受理，supervisor 受理超时督办 What it is on duty for",
    )

    @model_validator(mode="after")
    def _duty_has_an_area(self) -> Entry:
        if (self.duty is None) != (self.area_code is None):
            raise ValueError("duty 与 area_code 须同时给出 duty and area_code go together")
        return self

    def save(self, conn: Connection) -> Awaitable[None]:
        return store.put_address(
            conn,
            self.id,
            self.name,
            self.sms,
            self.email,
            self.wechat_openid,
            self.area_code,
            self.duty,
        )


@router.put(
    "/directory",
    tags=[DIRECTORY],
    summary="载入通讯录 Load the directory (JSON or YAML list: id, name, sms, email, wechat_openid, area_code, duty)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": Entry.model_json_schema()}
                },
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def load_directory(request: Request, _: AdminKey) -> dict[str, Any]:
    raw = await request.body()
    data = parse_upload(raw, request.headers.get("content-type", ""), "通讯录")
    if not isinstance(data, list):
        raise Problem(422, "通讯录须为列表 The directory is a list of entries")
    try:
        entries = [Entry.model_validate(item) for item in data]
    except ValidationError as error:
        raise Problem(422, f"通讯录有误 Invalid entry: {error.errors()[0]['msg']}") from None
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        for entry in entries:
            await entry.save(conn)
    return {"loaded": len(entries)}


@router.put(
    "/directory/{recipient_id}", tags=[DIRECTORY], summary="新增或修改一个单位 Put one entry"
)
async def put_entry(
    recipient_id: str, entry: Entry, request: Request, _: AdminKey
) -> dict[str, Any]:
    if entry.id != recipient_id:
        raise Problem(422, "路径与内容中的 id 不一致 Path and body disagree", field="id")
    async with _runtime(request).pool.acquire() as conn:
        await entry.save(conn)
    return entry.model_dump()


@router.get("/directory", tags=[DIRECTORY], summary="通讯录 The directory")
async def list_directory(request: Request, _: AdminKey) -> dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn:
        return {"entries": [_public(r) for r in await store.directory(conn)]}


@router.delete(
    "/directory/{recipient_id}", tags=[DIRECTORY], summary="删除一个单位 Remove an entry"
)
async def delete_entry(recipient_id: str, request: Request, _: AdminKey) -> dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn:
        if not await store.delete_address(conn, recipient_id):
            raise Problem(404, f"通讯录中没有 {recipient_id} Not in the directory")
    return {"deleted": recipient_id}


# --- notifications and dead letters ---------------------------------------------------------------


@router.get(
    "/notifications", tags=[NOTIFICATIONS], summary="某诉求的通知 Notifications of a complaint"
)
async def list_notifications(
    request: Request, complaint_id: UUID, key: OpsKey
) -> list[dict[str, Any]]:
    async with _runtime(request).pool.acquire() as conn:
        if key.area is not None:
            facts = await store.facts_of(conn, {complaint_id})
            known = facts.get(complaint_id)
            if known is None or not key.covers(known.area_code):
                raise Problem(404, f"诉求 {complaint_id} 不在本密钥的区域 No such complaint here")
        return await store.deliveries_of(conn, complaint_id)


@router.get("/backlog", tags=[NOTIFICATIONS], summary="待发送与死信数 What waits, by channel")
async def backlog(request: Request, _: OpsKey) -> dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn:
        return {"channels": await store.backlog(conn)}


@router.get("/dead-letters", tags=[NOTIFICATIONS], summary="死信 Abandoned messages")
async def list_dead_letters(
    request: Request,
    key: OpsKey,
    channel: Annotated[str | None, Query(pattern=r"^[a-z_]{2,20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn:
        rows = await store.dead_letters(conn, channel, limit, offset, within=key.area)
    return {"dead_letters": rows, "limit": limit, "offset": offset}


class Redrive(_Body):
    notification_ids: list[UUID] | None = Field(None, max_length=1000)
    channel: str | None = Field(None, pattern=r"^[a-z_]{2,20}$")
    all: bool = False


@router.post(
    "/dead-letters/redrive", tags=[NOTIFICATIONS], summary="重发死信 Send abandoned messages again"
)
async def redrive(body: Redrive, request: Request, key: AdminKey) -> dict[str, Any]:
    if not (body.notification_ids or body.channel or body.all):
        raise Problem(422, "请指定 notification_ids、channel 或 all Name what to redrive")
    runtime = _runtime(request)
    async with runtime.pool.acquire() as conn, conn.transaction():
        count = await delivery.redrive(
            conn, runtime.store, body.notification_ids, body.channel, key.actor
        )
    return {"redriven": count}


# --- the live stream --------------------------------------------------------------------------


@router.get(
    "/stream",
    tags=[NOTIFICATIONS],
    summary="实时状态流 Live status changes (Server-Sent Events), by area and type",
    response_class=EventSourceResponse,
)
async def stream(
    request: Request,
    key: OpsKey,
    area_code: Annotated[str | None, Query(pattern=AREA, description="区域（含下级）Area")] = None,
    types: Annotated[
        str | None, Query(max_length=2000, description="事件类型，逗号分隔 Types")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    if key.area is not None:  # a key for one area watches that area, or a part of it
        if area_code is None:
            area_code = key.area
        elif not key.covers(area_code):
            raise Problem(404, f"区域 {area_code} 不在本密钥的区域 Not this key's area")
    feed: LiveFeed = _runtime(request).state["live"]
    wanted = frozenset(t for t in (types or "").split(",") if t)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None

    async def events() -> Any:
        async for entry in feed.stream(area_code, wanted, after):
            yield {
                "id": str(entry["id"]),
                "event": entry["type"],
                "data": json.dumps(entry, ensure_ascii=False),
            }

    return EventSourceResponse(events(), ping=15)
