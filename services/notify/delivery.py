"""The delivery worker and the webhook channel (Standard Webhooks signatures)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from services.notify import domain, store
from services.notify.settings import NotifySettings
from shared.db import connect
from shared.envelope import Causation
from shared.events import Audience, NotificationDelivered, NotificationFailed
from shared.runtime import ServiceRuntime

log = logging.getLogger(__name__)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` as the Standard Webhooks scheme says."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookChannel:
    name = "webhook"

    def __init__(self, client: httpx.AsyncClient, url: str, secret: str) -> None:
        self.client = client
        self.url = url
        self.secret = secret

    async def send(self, notification_id: UUID, payload: dict[str, Any]) -> None:
        """Raises on anything but a 2xx. The notification id is the receiver's idempotency key."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": str(notification_id),
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, str(notification_id), timestamp, body),
        }
        response = await self.client.post(self.url, content=body, headers=headers)
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code} from {self.url}")


def backoff(settings: NotifySettings, attempt: int) -> timedelta:
    seconds = settings.delivery_backoff_initial_s * 2 ** (attempt - 1)
    return timedelta(seconds=min(seconds, settings.delivery_backoff_max_s))


async def deliver_one(
    runtime: ServiceRuntime, channel: WebhookChannel, row: asyncpg.Record
) -> None:
    settings: NotifySettings = runtime.settings  # type: ignore[assignment]
    audience = Audience(row["audience"])
    payload = {
        "notification_id": str(row["notification_id"]),
        "complaint_id": str(row["complaint_id"]),
        "audience": audience.value,
        "recipient": row["recipient"],
        "template": row["template"],
        "locale": settings.locale,
        "message": domain.render(row["template"], settings.locale, row["payload"]),
        "data": row["payload"],
    }
    common = {
        "notification_id": row["notification_id"],
        "complaint_id": row["complaint_id"],
        "audience": audience,
        "recipient": row["recipient"],
        "channel": channel.name,
        "template": row["template"],
        "attempt": row["attempts"],
    }
    outcome: NotificationDelivered | NotificationFailed
    try:
        await channel.send(row["notification_id"], payload)
        outcome = NotificationDelivered(**common, delivered_at=datetime.now(UTC))
    except Exception as error:
        now = datetime.now(UTC)
        message = f"{type(error).__name__}: {error}"[:500]
        log.warning(
            "notification %s attempt %d failed: %s",
            row["notification_id"],
            row["attempts"],
            message,
        )
        more = row["attempts"] < settings.delivery_max_attempts
        outcome = NotificationFailed(
            **common,
            error=message,
            retry_at=now + backoff(settings, row["attempts"]) if more else None,
            failed_at=now,
        )
    # The outcome follows the event that asked for the message: same conversation, caused by it.
    causation = Causation(row["correlation_id"] or row["event_id"], row["event_id"])
    async with runtime.pool.acquire() as conn, conn.transaction():
        await store.record_outcome(conn, outcome)
        await runtime.store.append(
            conn, f"notification-{row['notification_id']}", [outcome], causation, None
        )


async def run_deliveries(runtime: ServiceRuntime) -> None:
    """Claims due deliveries and sends them, woken by new deliveries and by a poll."""
    settings: NotifySettings = runtime.settings  # type: ignore[assignment]
    wake = asyncio.Event()
    limit = asyncio.Semaphore(settings.delivery_concurrency)
    listener = await connect(settings.database_url)
    await listener.add_listener(store.WAKE_CHANNEL, lambda *_: wake.set())
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_s) as client:
        channel = WebhookChannel(client, settings.webhook_url, settings.webhook_secret)

        async def bounded(row: asyncpg.Record) -> None:
            async with limit:
                await deliver_one(runtime, channel, row)

        try:
            while True:
                wake.clear()
                async with runtime.pool.acquire() as conn:
                    due = await store.claim_due(
                        conn, settings.delivery_batch, settings.delivery_lease_s
                    )
                if due:
                    await asyncio.gather(*(bounded(row) for row in due))
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), settings.delivery_poll_interval_s)
        finally:
            await listener.close()
