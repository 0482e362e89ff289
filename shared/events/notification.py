"""Events owned by notify, published on `notification.events`: what came of each attempt.

Since `NotificationsRecorded`, the outcomes of a complaint's messages that finish together
travel as one event (one record instead of one per message; most of a complaint's records
were these). The per-message events before it stay readable: history holds them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.base import Event, upcaster


class Audience(StrEnum):
    RESIDENT = "resident"  # 诉求人
    RESPONDER = "responder"  # 承办单位
    SUPERVISOR = "supervisor"  # 督办（街道、区县政府）
    SUBSCRIBER = "subscriber"  # 订阅方（下游系统）


class NotificationDelivered(Event):
    """A message reached its channel's endpoint and was accepted."""

    event_type = "NotificationDelivered"
    version = 2  # v2: audiences supervisor and subscriber

    notification_id: UUID
    complaint_id: UUID
    audience: Audience
    recipient: str
    channel: str
    template: str
    attempt: int
    delivered_at: datetime


class NotificationFailed(Event):
    """One delivery attempt failed; `retry_at` says when the next one is due."""

    event_type = "NotificationFailed"
    version = 2  # v2: audiences supervisor and subscriber

    notification_id: UUID
    complaint_id: UUID
    audience: Audience
    recipient: str
    channel: str
    template: str
    attempt: int
    error: str
    retry_at: datetime | None
    failed_at: datetime


class NotificationAbandoned(Event):
    """Notify gave up on a message (attempts used up, endpoint gone, no address): it waits in
    the dead-letter list for an operator to redrive it."""

    event_type = "NotificationAbandoned"
    version = 1

    notification_id: UUID
    complaint_id: UUID
    audience: Audience
    recipient: str
    channel: str
    template: str
    attempts: int
    reason: str
    abandoned_at: datetime


class NotificationRedriven(Event):
    """An operator sent an abandoned message back to be tried again."""

    event_type = "NotificationRedriven"
    version = 1

    notification_id: UUID
    complaint_id: UUID
    channel: str
    actor: str
    redriven_at: datetime


class NotificationOutcome(BaseModel):
    """One message's outcome: delivered; failed (tried again at `retry_at`); abandoned (kept
    for an operator, `error` says why); redriven (an operator sent it back, `actor`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    notification_id: UUID
    outcome: Literal["delivered", "failed", "abandoned", "redriven"]
    audience: Audience
    recipient: str
    channel: str
    template: str
    attempt: int
    error: str | None = None
    retry_at: datetime | None = None
    actor: str | None = None
    at: datetime
    # The event that asked for the message (a complaint's outcomes recorded together may
    # answer several; the envelope's causation names one only when they all answer it).
    requested_by: UUID | None = None


class NotificationsRecorded(Event):
    """What came of some of a complaint's messages, recorded together: one event per
    complaint and recording batch (messages that finish within moments of each other), in the
    complaint's own stream (`notifications-<id>`), so a
    message's outcomes are in order in its complaint's. Replaces the per-message events
    `NotificationDelivered`, `NotificationFailed`, `NotificationAbandoned` and
    `NotificationRedriven`, which notify no longer writes."""

    event_type = "NotificationsRecorded"
    version = 1

    complaint_id: UUID
    outcomes: list[NotificationOutcome]


# v1 knew two audiences; their data is valid v2 data as it stands.
def _same(data: dict[str, Any]) -> dict[str, Any]:
    return data


upcaster(NotificationDelivered, from_version=1)(_same)
upcaster(NotificationFailed, from_version=1)(_same)


# --- notices ---


class NoticeKind(StrEnum):
    """What a notice to an area is about (通知类别)."""

    OUTAGE = "outage"  # 停水停电等计划停运
    MEETING = "meeting"  # 会议通知
    CONSULTATION = "consultation"  # 征求意见
    OTHER = "other"  # 其他


class NoticePosted(Event):
    """Staff of an area (the community committee, the street, a compound's property company)
    posted a notice to every resident who consented to notices for a home within `area_code`:
    one message per resident (however many of their homes lie in the area) by each of their
    channels, planned with this event and sent from `send_at` (None: at once)."""

    event_type = "NoticePosted"
    version = 1

    notice_id: UUID
    area_code: str = Field(pattern=AREA_PATTERN, description="通知范围 The area the notice is for")
    kind: NoticeKind
    title: str = Field(description="通知标题 The notice's title")
    body: str = Field(description="通知正文 What the notice says")
    sender_name: str = Field(description="发布单位 Who the notice is from, as residents read it")
    actor: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    send_at: datetime | None = None
    recipients: int = Field(description="通知的居民人数 How many residents it goes to")
    posted_at: datetime

    @property
    def subject(self) -> str:
        return str(self.notice_id)


class NoticeDeliveriesRecorded(Event):
    """What came of some of a notice's messages, recorded together, in the notice's own stream
    (as `NotificationsRecorded` does for a complaint's). Recipients are residents' references,
    never their contacts."""

    event_type = "NoticeDeliveriesRecorded"
    version = 1

    notice_id: UUID
    outcomes: list[NotificationOutcome]

    @property
    def subject(self) -> str:
        return str(self.notice_id)
