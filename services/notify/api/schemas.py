"""Notify's API models: the bodies its routes take and the answers they give, and every step
from a table's rows to an answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

from services.notify.domain import Duty
from shared.events import NoticeKind
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.public import PUBLIC_PAYLOADS

# What a subscription may ask for: the events about a complaint that have a public shape.
SUBSCRIBABLE = sorted(PUBLIC_PAYLOADS)

# A moment as Python writes it (`+00:00`, where pydantic would write `Z`): the routes gave
# their rows' times so before they declared models, and clients may compare the strings.
Moment = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# --- bodies ----------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Subscription(_Body):
    url: HttpUrl = Field(description="接收地址 Where to POST (Standard Webhooks)")
    event_types: list[str] = Field(
        default_factory=list, description="事件类型，空为全部 Types; none = all"
    )
    area_code: str | None = Field(
        None, pattern=AREA_PATTERN, description="区域（含下级）Area and below"
    )
    description: str = Field("", max_length=200)
    secret: str | None = Field(
        None,
        pattern=r"^whsec_[A-Za-z0-9+/=]{24,}$",
        description="签名密钥，不填则生成 Signing secret",
    )

    def unknown_types(self) -> list[str]:
        return [t for t in self.event_types if t not in SUBSCRIBABLE]


class Entry(_Body):
    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,60}$", description="单位 id（与派单一致）Unit id"
    )
    name: str = Field(min_length=1, max_length=100)
    sms: str | None = Field(None, pattern=r"^\+?[\d\- ]{5,20}$", description="短信号码")
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    wechat_openid: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{6,64}$")
    area_code: str | None = Field(
        None, pattern=AREA_PATTERN, description="值守区域 Area on duty for"
    )
    duty: Duty | None = Field(
        None,
        description="值守职责：staff 待分类受理，supervisor 受理超时督办 What it is on duty for",
    )

    @model_validator(mode="after")
    def _duty_has_an_area(self) -> Entry:
        if (self.duty is None) != (self.area_code is None):
            raise ValueError("duty 与 area_code 须同时给出 duty and area_code go together")
        return self


class Redrive(_Body):
    notification_ids: list[UUID] | None = Field(None, max_length=1000)
    channel: str | None = Field(None, pattern=r"^[a-z_]{2,20}$")
    all: bool = False


# --- subscriptions ---------------------------------------------------------------------------


class SubscriptionView(BaseModel):
    subscription_id: str
    url: str
    secret: str | None = Field(
        None, description="签名密钥，仅在建立或替换时给出 Only in the answer that put it"
    )
    event_types: list[str]
    area_code: str | None
    description: str
    status: str = Field(description="active | paused | disabled")
    disabled_reason: str | None
    created_at: Moment
    updated_at: Moment
    owner_key_id: str | None

    @model_serializer(mode="wrap")
    def _secret_only_when_shown(self, handler: SerializerFunctionWrapHandler) -> Any:
        shown = handler(self)
        if shown.get("secret") is None:
            del shown["secret"]
        return shown


class Subscriptions(BaseModel):
    subscriptions: list[SubscriptionView]
    event_types: list[str] = Field(description="本密钥可订阅的事件类型 Types this key may ask for")


def subscription(row: dict[str, Any], secret: bool = False) -> SubscriptionView:
    """A subscription's row as its answer; the secret only to whoever just put it."""
    return SubscriptionView.model_validate(row if secret else {**row, "secret": None})


def subscriptions(rows: Sequence[dict[str, Any]], event_types: list[str]) -> Subscriptions:
    return Subscriptions(subscriptions=[subscription(r) for r in rows], event_types=event_types)


class Deleted(BaseModel):
    deleted: str


# --- a subscription's delivery log and replays ------------------------------------------------


class ReplayAsked(_Body):
    since: datetime | None = Field(
        None, description="重发此时刻及以后的事件 Send again the events from this time on"
    )
    after_event_id: UUID | None = Field(
        None, description="重发此事件之后的事件 Send again the events after this one"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ReplayAsked:
        if (self.since is None) == (self.after_event_id is None):
            raise ValueError("since 与 after_event_id 须给出且只给出一个 Give one of the two")
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("since 须带时区 since needs a time zone, e.g. 2026-12-04T08:00:00Z")
        return self


class ReplayView(BaseModel):
    replay_id: UUID
    subscription_id: str
    status: str = Field(description="running 进行中 | done 完成 | failed 失败 | cancelled 已取消")
    since: Moment | None
    after_event_id: UUID | None
    total: int = Field(description="要重发的事件数 Events it sends")
    sent: int = Field(description="已送达 Delivered so far")
    last_error: str | None
    created_at: Moment
    finished_at: Moment | None


class DeliveryLogEntry(BaseModel):
    webhook_id: UUID = Field(description="webhook-id 头（同一订阅同一事件不变）The webhook-id")
    event_id: UUID = Field(description="事件 id（即消息体的 id）The body's id")
    event_type: str | None
    status: str = Field(description="pending | sending | delivered | abandoned | redriven")
    attempts: int
    last_error: str | None
    created_at: Moment
    updated_at: Moment
    delivered_at: Moment | None
    replay_id: UUID | None = Field(description="重发批次（实时推送为空）The replay that sent it")
    replayed: bool = Field(description="是否重发 Sent by a replay")


class DeliveryLog(BaseModel):
    deliveries: list[DeliveryLogEntry] = Field(description="新的在前 Newest first")
    limit: int
    offset: int


def delivery_log(rows: Sequence[dict[str, Any]], limit: int, offset: int) -> DeliveryLog:
    return DeliveryLog(
        deliveries=[
            DeliveryLogEntry.model_validate({**r, "replayed": r["replay_id"] is not None})
            for r in rows
        ],
        limit=limit,
        offset=offset,
    )


# --- the directory (通讯录) --------------------------------------------------------------------


class DirectoryEntry(BaseModel):
    recipient_id: str
    name: str
    sms: str | None
    email: str | None
    wechat_openid: str | None
    updated_at: Moment
    area_code: str | None
    duty: str | None


class Directory(BaseModel):
    entries: list[DirectoryEntry]


def directory(rows: Sequence[dict[str, Any]]) -> Directory:
    return Directory(entries=[DirectoryEntry.model_validate(r) for r in rows])


class Loaded(BaseModel):
    loaded: int


# --- notifications and dead letters ----------------------------------------------------------


class Notification(BaseModel):
    notification_id: UUID
    audience: str
    recipient: str
    channel: str
    endpoint: str
    template: str
    status: str = Field(description="pending | sending | delivered | abandoned | redriven")
    attempts: int
    last_error: str | None
    created_at: Moment
    updated_at: Moment


def notifications(rows: Sequence[dict[str, Any]]) -> list[Notification]:
    return [Notification.model_validate(r) for r in rows]


class Backlog(BaseModel):
    channels: dict[str, dict[str, int]] = Field(
        description="渠道 → 状态 → 条数 Channel → status → count (delivered ones left out)"
    )


class DeadLetter(BaseModel):
    notification_id: UUID
    event_id: UUID
    complaint_id: UUID
    audience: str
    recipient: str
    channel: str
    endpoint: str
    template: str
    attempts: int
    last_error: str | None
    updated_at: Moment


class DeadLetters(BaseModel):
    dead_letters: list[DeadLetter]
    limit: int
    offset: int


def dead_letters(rows: Sequence[dict[str, Any]], limit: int, offset: int) -> DeadLetters:
    return DeadLetters(
        dead_letters=[DeadLetter.model_validate(r) for r in rows], limit=limit, offset=offset
    )


class Redriven(BaseModel):
    redriven: int


# --- the live stream -------------------------------------------------------------------------

# What /stream declares: Server-Sent Events, each a status change as JSON in `data`.
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "实时状态流 Server-Sent Events: id, event (the type), data (JSON)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def stream_entry(entry: dict[str, Any]) -> dict[str, str]:
    """A live entry as one Server-Sent Event."""
    return {
        "id": str(entry["id"]),
        "event": entry["type"],
        "data": json.dumps(entry, ensure_ascii=False),
    }


# --- area notices (区域通知) --------------------------------------------------------------------


class PostNotice(_Body):
    """A notice to every resident who consented to notices for a home within `area_code`."""

    area_code: str = Field(
        pattern=AREA_PATTERN,
        description="通知范围：社区、网格（小区）、楼栋或单元 The area: a community, a grid "
        "(compound), a building or a unit",
    )
    kind: NoticeKind = Field(
        description="类别：outage 停水停电，meeting 会议，consultation 征求意见，other 其他"
    )
    title: str = Field(min_length=2, max_length=60, description="标题 Title")
    body: str = Field(min_length=2, max_length=500, description="正文 What it says")
    sender_name: str | None = Field(
        None,
        min_length=2,
        max_length=40,
        description="落款，如「会仙山社区居委会」（默认密钥名称） Signed as (default: the key's name)",
    )
    starts_at: datetime | None = Field(None, description="开始时间 When it begins")
    ends_at: datetime | None = Field(None, description="结束时间 When it ends")
    send_at: datetime | None = Field(None, description="定时发送（默认立即） When to send it")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> PostNotice:
        for moment in (self.starts_at, self.ends_at, self.send_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("时间须带时区 Times need a time zone")
        if self.ends_at is not None and (self.starts_at is None or self.ends_at < self.starts_at):
            raise ValueError("结束时间须在开始时间之后 ends_at needs a starts_at before it")
        return self


class NoticeView(BaseModel):
    notice_id: UUID
    area_code: str
    kind: NoticeKind
    title: str
    body: str
    sender_name: str
    actor: str
    starts_at: Moment | None
    ends_at: Moment | None
    send_at: Moment | None
    recipients: int = Field(description="通知的居民人数 Residents it goes to")
    posted_at: Moment


class NoticeDelivery(BaseModel):
    """One message of a notice: to whom (masked), by which channel, and how it went."""

    recipient: str = Field(description="收件人（脱敏手机号） The resident, masked")
    channel: str
    status: str = Field(
        description="pending 待发, sending 发送中, delivered 已送达, abandoned 放弃"
    )
    attempts: int
    last_error: str | None
    updated_at: Moment


class NoticeStatus(NoticeView):
    """A notice with how its delivery stands: messages by status, residents reached (by at
    least one channel), and every message with its recipient masked."""

    messages: dict[str, int] = Field(description="按状态的消息数 Messages by status")
    residents_reached: int = Field(description="已送达的居民人数 Residents reached")
    deliveries: list[NoticeDelivery]


class Notices(BaseModel):
    notices: list[NoticeView]
    limit: int
    offset: int


def notice_view(row: dict[str, Any]) -> NoticeView:
    return NoticeView.model_validate({k: row[k] for k in NoticeView.model_fields})


def notice_status(row: dict[str, Any], deliveries: Sequence[dict[str, Any]]) -> NoticeStatus:
    counts: dict[str, int] = {}
    for d in deliveries:
        counts[d["status"]] = counts.get(d["status"], 0) + 1
    reached = {d["recipient"] for d in deliveries if d["status"] == "delivered"}
    return NoticeStatus(
        **notice_view(row).model_dump(),
        messages=counts,
        residents_reached=len(reached),
        deliveries=[
            NoticeDelivery(
                recipient=d["masked_recipient"] or "****",
                channel=d["channel"],
                status=d["status"],
                attempts=d["attempts"],
                last_error=d["last_error"],
                updated_at=d["updated_at"],
            )
            for d in deliveries
        ],
    )
