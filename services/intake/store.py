"""Intake's SQL: complaint streams and their view, the contact vault, keys, catalogue."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.intake.catalogue import CatalogueFile
from services.intake.domain import Complaint, Contact, fold
from services.intake.duplicates import Place
from shared.db import Connection
from shared.events import Event, parse_event
from shared.eventstore import EventStore, RecordedEvent


async def store_contact(
    conn: Connection,
    master_key: bytes,
    resident: str,
    complaint_id: UUID,
    contact: Contact,
) -> None:
    """Encrypt the contact with the resident's data key (created on first use)."""
    # One statement: the key as stored, or the candidate if there was none. (The select does
    # not see the row the insert adds; the insert adds nothing when one exists.)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    candidate = nonce + AESGCM(master_key).encrypt(nonce, data_key, resident.encode())
    wrapped = await conn.fetchval(
        """
        WITH added AS (
            INSERT INTO resident_keys (resident_ref, wrapped_key) VALUES ($1, $2)
            ON CONFLICT (resident_ref) DO NOTHING RETURNING wrapped_key
        )
        SELECT wrapped_key FROM added
        UNION ALL SELECT wrapped_key FROM resident_keys WHERE resident_ref = $1
        LIMIT 1
        """,
        resident,
        candidate,
    )
    if wrapped is None:  # another transaction added it meanwhile: it has committed by now
        wrapped = await conn.fetchval(
            "SELECT wrapped_key FROM resident_keys WHERE resident_ref = $1", resident
        )
    data_key = AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], resident.encode())
    nonce = os.urandom(12)
    plaintext = json.dumps(contact.model_dump(), ensure_ascii=False).encode()
    await conn.execute(
        "INSERT INTO contacts (complaint_id, resident_ref, nonce, ciphertext) "
        "VALUES ($1, $2, $3, $4)",
        complaint_id,
        resident,
        nonce,
        AESGCM(data_key).encrypt(nonce, plaintext, complaint_id.bytes),
    )


class ContactErased(LookupError):
    """The resident's key was destroyed: the contact can no longer be read (PIPL erasure)."""


async def read_contact(conn: Connection, master_key: bytes, complaint_id: UUID) -> Contact | None:
    found = (await read_contacts(conn, master_key, [complaint_id])).get(complaint_id)
    if isinstance(found, ContactErased):
        raise found
    return found


async def read_contacts(
    conn: Connection, master_key: bytes, complaint_ids: Sequence[UUID]
) -> dict[UUID, Contact | ContactErased]:
    """The contacts of several complaints in one query: each decrypted, or ContactErased for
    those whose resident's key was destroyed; complaints without a contact are left out."""
    rows = await conn.fetch(
        "SELECT c.complaint_id, c.nonce, c.ciphertext, c.resident_ref, k.wrapped_key "
        "FROM contacts c LEFT JOIN resident_keys k USING (resident_ref) "
        "WHERE c.complaint_id = ANY($1::uuid[])",
        list(complaint_ids),
    )
    return {row["complaint_id"]: _decrypt(master_key, row) for row in rows}


def _decrypt(master_key: bytes, row: asyncpg.Record) -> Contact | ContactErased:
    complaint_id: UUID = row["complaint_id"]
    wrapped = row["wrapped_key"]
    if wrapped is None:
        return ContactErased(complaint_id)
    data_key = AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], row["resident_ref"].encode())
    try:
        plaintext = AESGCM(data_key).decrypt(row["nonce"], row["ciphertext"], complaint_id.bytes)
    except InvalidTag:
        return ContactErased(complaint_id)
    return Contact.model_validate_json(plaintext)


async def erase_resident(conn: Connection, resident: str) -> int:
    """Destroy the resident's data key; returns how many contacts became unreadable."""
    await conn.execute("DELETE FROM resident_keys WHERE resident_ref = $1", resident)
    count: int = await conn.fetchval(
        "SELECT count(*) FROM contacts WHERE resident_ref = $1", resident
    )
    return count


# --- the complaint aggregate and its view -----------------------------------------------------


def stream_of(complaint_id: UUID) -> str:
    return f"complaint-{complaint_id}"


def parse(recorded: RecordedEvent) -> Event:
    return parse_event(recorded.type, recorded.version, recorded.data)


async def load(conn: Connection, events: EventStore, complaint_id: UUID) -> Complaint | None:
    history = await events.read_stream(conn, stream_of(complaint_id))
    return fold(parse(recorded) for recorded in history)


async def load_all(
    conn: Connection, events: EventStore, complaint_ids: Iterable[UUID]
) -> dict[UUID, Complaint]:
    """Several complaints in one read (those with no stream here are left out)."""
    names = {stream_of(cid): cid for cid in complaint_ids}
    states: dict[UUID, Complaint] = {}
    for stream, history in (await events.read_streams(conn, list(names))).items():
        state = fold(parse(recorded) for recorded in history)
        if state is not None:
            states[names[stream]] = state
    return states


_VIEW_COLUMNS = (
    "complaint_id, case_number, channel, status, type, category, confidence, needs_triage, "
    "area_code, grid_code, building_code, address, latitude, longitude, text, attributes, "
    "media_urls, resident_ref, masked_phone, duplicate_pending, duplicate_candidates, "
    "merged_into, lead_responder, due_at, status_note, filed_at, updated_at, version"
)


_VIEW_UPSERT = (
    f"INSERT INTO complaints ({_VIEW_COLUMNS}) VALUES "
    "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,"
    "$24,$25,$26,$27,$28) "
    "ON CONFLICT (complaint_id) DO UPDATE SET status = EXCLUDED.status, type = EXCLUDED.type, "
    "category = EXCLUDED.category, confidence = EXCLUDED.confidence, "
    "needs_triage = EXCLUDED.needs_triage, duplicate_pending = EXCLUDED.duplicate_pending, "
    "duplicate_candidates = EXCLUDED.duplicate_candidates, merged_into = EXCLUDED.merged_into, "
    "lead_responder = EXCLUDED.lead_responder, due_at = EXCLUDED.due_at, "
    "status_note = EXCLUDED.status_note, updated_at = EXCLUDED.updated_at, "
    "version = EXCLUDED.version"
)


def _view_args(
    state: Complaint, grid: str | None = None, building: str | None = None
) -> tuple[Any, ...]:
    return (
        state.complaint_id,
        state.case_number,
        state.channel.value,
        state.status.value,
        state.type.value if state.type else None,
        state.category,
        state.confidence,
        state.needs_triage,
        state.area_code,
        grid,
        building,
        state.address,
        state.latitude,
        state.longitude,
        state.text,
        state.attributes,
        list(state.media_urls),
        state.resident_ref,
        state.masked_phone,
        state.duplicate_pending,
        [c.model_dump(mode="json") for c in state.duplicate_candidates],
        state.merged_into,
        state.lead_responder,
        state.due_at,
        state.note,
        state.filed_at,
        state.updated_at,
        state.version,
    )


async def save_view(
    conn: Connection, state: Complaint, grid: str | None = None, building: str | None = None
) -> dict[str, Any]:
    """Write the complaint's view row and return it as stored (what the API shows)."""
    row = await conn.fetchrow(
        f"{_VIEW_UPSERT} RETURNING {_VIEW_COLUMNS}", *_view_args(state, grid, building)
    )
    assert row is not None
    return dict(row)


async def save_views(conn: Connection, states: Iterable[Complaint]) -> None:
    """Rewrite the view rows of complaints that exist already (their place stays as filed)."""
    await conn.executemany(_VIEW_UPSERT, [_view_args(state) for state in states])


async def add_updates(
    conn: Connection, complaint_id: UUID, recorded: list[RecordedEvent], notes: list[str]
) -> None:
    await add_all_updates(
        conn, [(complaint_id, r, note) for r, note in zip(recorded, notes, strict=True)]
    )


async def add_all_updates(
    conn: Connection, updates: Sequence[tuple[UUID, RecordedEvent, str]]
) -> None:
    """What residents see of each recorded event: (its complaint, the event, its note)."""
    await conn.executemany(
        "INSERT INTO complaint_updates (event_id, complaint_id, event_type, status, description, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        [
            (r.id, complaint_id, r.type, r.data["status"], note, r.recorded_at)
            for complaint_id, r, note in updates
        ],
    )


async def find_view(
    conn: Connection, *, complaint_id: UUID | None = None, case_number: str | None = None
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_VIEW_COLUMNS} FROM complaints WHERE complaint_id = $1 OR case_number = $2",
        complaint_id,
        case_number,
    )
    return dict(row) if row else None


async def updates_of(conn: Connection, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT update_id, event_type, status, description, updated_at FROM complaint_updates "
        "WHERE complaint_id = $1 ORDER BY update_id",
        complaint_id,
    )
    return [dict(row) for row in rows]


# The haversine distance of services.intake.geo.distance_m, in SQL, from ($8, $9) to a row.
_DISTANCE = (
    "CASE WHEN $8::float8 IS NOT NULL AND c.latitude IS NOT NULL THEN "
    "2 * 6371008.8 * asin(least(1, sqrt(sin(radians(c.latitude - $8) / 2) ^ 2 "
    "+ cos(radians($8)) * cos(radians(c.latitude)) * sin(radians(c.longitude - $9) / 2) ^ 2))) END"
)


async def sequence_and_places_near(
    conn: Connection,
    new: Place,
    community: str,
    since: datetime,
    box: tuple[float, float, float, float] | None,
    radius_m: float,
    limit: int,
) -> tuple[int, list[Place]]:
    """The next case sequence number, and the open complaints of the new one's category filed
    since `since` in the community or inside `box` that may repeat it (same building, within
    `radius_m`, same grid), the likeliest `limit` of them, ranked as `likely_duplicates` ranks
    them (which then decides, on these few): one statement for both."""
    rows = await conn.fetch(
        f"""
        SELECT one.sequence, p.* FROM (SELECT nextval('case_number_seq') AS sequence) AS one
        LEFT JOIN LATERAL (
            SELECT c.complaint_id, c.case_number, c.category, c.building_code, c.grid_code,
                   c.latitude, c.longitude
            FROM complaints c
            CROSS JOIN LATERAL (SELECT {_DISTANCE} AS d) AS dist
            CROSS JOIN LATERAL (
                SELECT CASE WHEN c.building_code = $10 THEN 0
                            WHEN dist.d <= $12 + 0.01 THEN 1
                            WHEN c.grid_code = $11 THEN 2 END AS rank
            ) AS r
            WHERE c.category = $1 AND c.filed_at >= $2
              AND c.status NOT IN ('merged', 'withdrawn', 'closed', 'answered')
              AND (substr(c.area_code, 1, 12) = $3 OR ($4::float8 IS NOT NULL
                   AND c.latitude BETWEEN $4 AND $5 AND c.longitude BETWEEN $6 AND $7))
              AND r.rank IS NOT NULL
            ORDER BY r.rank, coalesce(dist.d, 0), c.case_number
            LIMIT $13
        ) AS p ON true
        """,
        new.category,
        since,
        community,
        *(box or (None, None, None, None)),
        new.latitude,
        new.longitude,
        new.building,
        new.grid,
        radius_m,
        limit,
    )
    return rows[0]["sequence"], [
        Place(
            complaint_id=row["complaint_id"],
            case_number=row["case_number"],
            category=row["category"],
            building=row["building_code"],
            grid=row["grid_code"],
            latitude=row["latitude"],
            longitude=row["longitude"],
        )
        for row in rows
        if row["complaint_id"] is not None
    ]


async def merged_into_count(conn: Connection, complaint_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM complaints WHERE merged_into = $1 AND status = 'merged'", complaint_id
    )
    return count


async def triage_queue(
    conn: Connection, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    where = "WHERE status = 'triage' OR (duplicate_pending AND status NOT IN ('merged','withdrawn','closed','answered'))"
    total: int = await conn.fetchval(f"SELECT count(*) FROM complaints {where}")
    rows = await conn.fetch(
        f"SELECT {_VIEW_COLUMNS} FROM complaints {where} ORDER BY filed_at, case_number "
        "LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    return total, [dict(row) for row in rows]


# --- the catalogue -------------------------------------------------------------------------------


async def latest_catalogue(conn: Connection) -> Any:
    return await conn.fetchrow(
        "SELECT version, checksum, loaded_at FROM catalogues ORDER BY version DESC LIMIT 1"
    )


async def save_catalogue(conn: Connection, catalogue: CatalogueFile) -> int:
    version: int = await conn.fetchval(
        "INSERT INTO catalogues (checksum, body) VALUES ($1, $2) RETURNING version",
        catalogue.checksum(),
        catalogue.model_dump(mode="json"),
    )
    return version
