"""Area notices' SQL (区域通知): the residents' consents notify follows from intake's events,
the notices posted, and their deliveries (rows of `deliveries`, as store.py keeps them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.notify import domain
from services.notify.store import WAKE_CHANNEL, Planned
from shared.db import Connection
from shared.events import (
    Event,
    NoticeConsentRecorded,
    NoticeConsentWithdrawn,
    NoticePosted,
    ResidentErased,
)
from shared.events.area import like_patterns


async def follow_consents(conn: Connection, events: Sequence[Event]) -> None:
    """Residents' consents to notices as intake's events leave them, in their order: a consent
    kept (a newer one for the same home replaces it), withdrawn (one home, or all), or gone
    with the resident's erasure."""
    for event in events:
        match event:
            case NoticeConsentRecorded():
                await conn.execute(
                    "INSERT INTO notice_consents (resident_ref, area_code, channels, masked_phone) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (resident_ref, area_code) DO UPDATE "
                    "SET channels = excluded.channels, masked_phone = excluded.masked_phone",
                    event.resident_ref,
                    event.area_code,
                    [c.value for c in event.channels],
                    event.masked_phone,
                )
            case NoticeConsentWithdrawn():
                await conn.execute(
                    "DELETE FROM notice_consents WHERE resident_ref = $1 "
                    "AND ($2::text IS NULL OR area_code = $2)",
                    event.resident_ref,
                    event.area_code,
                )
            case ResidentErased():
                await conn.execute(
                    "DELETE FROM notice_consents WHERE resident_ref = $1", event.resident_ref
                )


async def consents_within(conn: Connection, area_code: str) -> list[domain.Consent]:
    """The consents for homes within `area_code`."""
    rows = await conn.fetch(
        "SELECT resident_ref, area_code, channels, masked_phone FROM notice_consents "
        "WHERE area_code LIKE ANY($1::text[]) ORDER BY resident_ref, area_code",
        like_patterns(area_code),
    )
    return [
        domain.Consent(r["resident_ref"], r["area_code"], tuple(r["channels"]), r["masked_phone"])
        for r in rows
    ]


async def save_notice(conn: Connection, notice: NoticePosted, key_id: str) -> None:
    await conn.execute(
        """
        INSERT INTO notices (notice_id, area_code, kind, title, body, sender_name, actor, key_id,
                             starts_at, ends_at, send_at, recipients, posted_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        notice.notice_id,
        notice.area_code,
        notice.kind.value,
        notice.title,
        notice.body,
        notice.sender_name,
        notice.actor,
        key_id,
        notice.starts_at,
        notice.ends_at,
        notice.send_at,
        notice.recipients,
        notice.posted_at,
    )


async def add_notice_deliveries(
    conn: Connection,
    notice_id: UUID,
    event_id: UUID,
    correlation_id: UUID,
    planned: Sequence[tuple[Planned, str | None]],
    due_at: datetime | None,
) -> int:
    """A notice's messages (each with the recipient's masked phone), due at `due_at` (None: now),
    one row per (notice event, recipient, channel): planned twice, inserted once."""
    if not planned:
        return 0
    rows = await conn.fetch(
        """
        INSERT INTO deliveries (notification_id, event_id, correlation_id, complaint_id, notice_id,
                                audience, recipient, channel, template, payload,
                                masked_recipient, next_attempt_at)
        SELECT n, $2, $3, $1, $1, a, r, ch, t, p, m, coalesce($4, now())
        FROM unnest($5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[],
                    $11::text[]) AS u(n, a, r, ch, t, p, m)
        ON CONFLICT (event_id, recipient, channel) DO NOTHING
        RETURNING channel
        """,
        notice_id,
        event_id,
        correlation_id,
        due_at,
        [domain.notification_id(event_id, p.message.recipient, p.channel) for p, _ in planned],
        [p.message.audience.value for p, _ in planned],
        [p.message.recipient for p, _ in planned],
        [p.channel for p, _ in planned],
        [p.message.template for p, _ in planned],
        [p.message.data for p, _ in planned],
        [masked for _, masked in planned],
    )
    waiting = sorted({row["channel"] for row in rows})
    if waiting:
        await conn.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, ",".join(waiting))
    return len(rows)


async def notice(conn: Connection, notice_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM notices WHERE notice_id = $1", notice_id)
    return dict(row) if row else None


async def notices(
    conn: Connection, within: str | None, key_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Notices newest first: in the area `within` (None: all), or posted by `key_id`."""
    rows = await conn.fetch(
        "SELECT * FROM notices WHERE ($1::text[] IS NULL OR area_code LIKE ANY($1::text[]) "
        "OR key_id = $2) ORDER BY posted_at DESC LIMIT $3 OFFSET $4",
        like_patterns(within) if within else None,
        key_id,
        limit,
        offset,
    )
    return [dict(row) for row in rows]


async def notice_deliveries(conn: Connection, notice_id: UUID) -> list[dict[str, Any]]:
    """A notice's messages, by recipient and channel (the recipient shown masked)."""
    rows = await conn.fetch(
        "SELECT notification_id, recipient, masked_recipient, channel, status, attempts, "
        "last_error, next_attempt_at, updated_at FROM deliveries WHERE notice_id = $1 "
        "ORDER BY recipient, channel",
        notice_id,
    )
    return [dict(row) for row in rows]
