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

from pydantic import BaseModel, ConfigDict

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
