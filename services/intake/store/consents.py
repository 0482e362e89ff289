"""Residents' consents to area notices (区域通知): the homes each resident agreed to be sent
notices for, and by which channels (no personal data: the contact is in the vault)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.db import Connection
from shared.events import Event, NoticeConsentRecorded, NoticeConsentWithdrawn


async def homes_of(conn: Connection, resident: str) -> dict[str, list[str]]:
    """The resident's homes with their channels, locked until the transaction ends (two
    consents of one resident decide one after the other)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"notice-consent:{resident}"
    )
    rows = await conn.fetch(
        "SELECT area_code, channels FROM notice_consents WHERE resident_ref = $1", resident
    )
    return {row["area_code"]: list(row["channels"]) for row in rows}


async def save_consents(conn: Connection, events: Sequence[Event]) -> None:
    """The consents as these events leave them."""
    for event in events:
        match event:
            case NoticeConsentRecorded():
                await conn.execute(
                    "INSERT INTO notice_consents (resident_ref, area_code, channels, given_at) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (resident_ref, area_code) DO UPDATE "
                    "SET channels = excluded.channels, given_at = excluded.given_at",
                    event.resident_ref,
                    event.area_code,
                    [c.value for c in event.channels],
                    event.given_at,
                )
            case NoticeConsentWithdrawn():
                await conn.execute(
                    "DELETE FROM notice_consents WHERE resident_ref = $1 "
                    "AND ($2::text IS NULL OR area_code = $2)",
                    event.resident_ref,
                    event.area_code,
                )
