"""Notify's SQL: delivery records, claimed by workers with leases."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import asyncpg

from services.notify.domain import Message
from shared.db import Connection
from shared.envelope import Envelope
from shared.events import NotificationDelivered, NotificationFailed

WAKE_CHANNEL = "jiesu_deliveries"


async def add_deliveries(
    conn: Connection, cause: Envelope, channel: str, messages: list[Message]
) -> None:
    for message in messages:
        await conn.execute(
            """
            INSERT INTO deliveries (notification_id, event_id, correlation_id, complaint_id,
                                    audience, recipient, channel, template, payload)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (event_id, recipient, channel) DO NOTHING
            """,
            uuid.uuid4(),
            cause.id,
            cause.correlation_id,
            message.complaint_id,
            message.audience.value,
            message.recipient,
            channel,
            message.template,
            message.data,
        )
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


async def claim_due(conn: Connection, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Take due deliveries for `lease_s` seconds; a crashed worker's claims simply expire."""
    return await conn.fetch(
        """
        UPDATE deliveries d
        SET next_attempt_at = now() + make_interval(secs => $2), attempts = d.attempts + 1
        FROM (
            SELECT notification_id FROM deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        ) due
        WHERE d.notification_id = due.notification_id
        RETURNING d.*
        """,
        limit,
        lease_s,
    )


async def record_outcome(
    conn: Connection, outcome: NotificationDelivered | NotificationFailed
) -> None:
    """Delivered; or failed, pending again at `retry_at`, or abandoned when there is none."""
    if isinstance(outcome, NotificationDelivered):
        status, error, retry_at = "delivered", None, None
    else:
        status = "pending" if outcome.retry_at else "abandoned"
        error, retry_at = outcome.error, outcome.retry_at
    await conn.execute(
        """
        UPDATE deliveries
        SET status = $2, last_error = $3, next_attempt_at = coalesce($4, next_attempt_at),
            updated_at = now()
        WHERE notification_id = $1
        """,
        outcome.notification_id,
        status,
        error,
        retry_at,
    )


async def deliveries_of(conn: Connection, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT notification_id, audience, recipient, channel, template, status, attempts, "
        "last_error, created_at, updated_at FROM deliveries WHERE complaint_id = $1 "
        "ORDER BY created_at",
        complaint_id,
    )
    return [dict(row) for row in rows]
