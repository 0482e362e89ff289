"""Notify's SQL: delivery records, claimed by workers with leases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.notify.domain import Message
from shared.db import Connection

WAKE_CHANNEL = "jiesu_deliveries"


async def add_deliveries(
    conn: Connection, event_id: UUID, channel: str, messages: list[Message]
) -> None:
    for message in messages:
        await conn.execute(
            """
            INSERT INTO deliveries (notification_id, event_id, complaint_id, audience, recipient,
                                    channel, template, payload)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (event_id, recipient, channel) DO NOTHING
            """,
            uuid.uuid4(),
            event_id,
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


async def mark_delivered(conn: Connection, notification_id: UUID) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'delivered', last_error = NULL, updated_at = now() "
        "WHERE notification_id = $1",
        notification_id,
    )


async def mark_failed(
    conn: Connection, notification_id: UUID, error: str, retry_at: datetime | None
) -> None:
    await conn.execute(
        """
        UPDATE deliveries
        SET status = CASE WHEN $3::timestamptz IS NULL THEN 'abandoned' ELSE 'pending' END,
            next_attempt_at = coalesce($3, next_attempt_at), last_error = $2, updated_at = now()
        WHERE notification_id = $1
        """,
        notification_id,
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
