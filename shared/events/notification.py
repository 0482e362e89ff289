"""Events owned by notify, published on `notification.events`: each attempt and its outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

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


# v1 knew two audiences; their data is valid v2 data as it stands.
def _same(data: dict[str, Any]) -> dict[str, Any]:
    return data


upcaster(NotificationDelivered, from_version=1)(_same)
upcaster(NotificationFailed, from_version=1)(_same)
