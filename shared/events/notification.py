"""Events owned by notify, published on `notification.events`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.events.base import Event


class Audience(StrEnum):
    RESIDENT = "resident"  # 诉求人
    RESPONDER = "responder"  # 承办单位


class NotificationDelivered(Event):
    """A message reached its channel's endpoint and was accepted."""

    event_type = "NotificationDelivered"
    version = 1

    notification_id: UUID
    complaint_id: UUID
    audience: Audience
    recipient: str
    channel: str
    template: str
    attempt: int
    delivered_at: datetime


class NotificationFailed(Event):
    """One delivery attempt failed; `retry_at` says when the next one is due (None: given up)."""

    event_type = "NotificationFailed"
    version = 1

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
