"""Intake's SQL: complaint streams and their view, the contact vault, keys, catalogue."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError

from services.intake.catalogue import CatalogueFile, follow_changes
from services.intake.domain import Complaint, ComplaintStatus, Contact, fold
from services.intake.duplicates import Place
from shared.db import Connection, columns
from shared.envelope import Causation
from shared.events import CityModelChanged, Event, parse_event
from shared.events.area import like_patterns
from shared.eventstore import EventStore, RecordedEvent
from shared.sealing import (
    SEALINGS,
    WordsKey,
    needs_sealing,
    open_event,
    redacted,
    seal_event,
    sealed_residents,
)

log = logging.getLogger(__name__)


async def store_contacts(
    conn: Connection, master_keys: Sequence[bytes], contacts: Sequence[tuple[str, UUID, Contact]]
) -> dict[str, WordsKey]:
    """Encrypt each (resident, complaint, contact) with the resident's data key, created on
    first use: two statements for any number of filings. `master_keys`: the current one
    first (new keys are wrapped with it), then earlier ones still read during a rotation.
    Returns each resident's words key (what their filings are sealed with)."""
    master_key = master_keys[0]
    residents = sorted({resident for resident, _, _ in contacts})  # one lock order for all
    await lock_residents(conn, residents)
    # A candidate key for every resident: the statement keeps the stored one where there is
    # one (its select does not see the rows its insert adds; the insert adds nothing then).
    candidates = [
        _wrapped(master_key, resident, AESGCM.generate_key(bit_length=256))
        for resident in residents
    ]
    rows = await conn.fetch(
        """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::bytea[]) AS t(resident_ref, candidate)
        ), added AS (
            INSERT INTO resident_keys (resident_ref, wrapped_key)
            SELECT resident_ref, candidate FROM input
            ON CONFLICT (resident_ref) DO NOTHING RETURNING resident_ref, wrapped_key
        )
        SELECT i.resident_ref, coalesce(a.wrapped_key, k.wrapped_key) AS wrapped_key
        FROM input i LEFT JOIN added a USING (resident_ref) LEFT JOIN resident_keys k USING (resident_ref)
        """,
        residents,
        candidates,
    )
    wrapped = {row["resident_ref"]: row["wrapped_key"] for row in rows}
    missing = [resident for resident in residents if wrapped.get(resident) is None]
    if missing:  # another transaction added them meanwhile: it has committed by now
        rows = await conn.fetch(
            "SELECT resident_ref, wrapped_key FROM resident_keys WHERE resident_ref = ANY($1::text[])",
            missing,
        )
        wrapped.update((row["resident_ref"], row["wrapped_key"]) for row in rows)
    data_keys = {
        resident: _unwrap(master_keys, resident, wrapped[resident]) for resident in residents
    }
    sealed = []
    for resident, complaint_id, contact in contacts:
        data_key = data_keys[resident]
        nonce = os.urandom(12)
        plaintext = json.dumps(contact.model_dump(), ensure_ascii=False).encode()
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, complaint_id.bytes)
        sealed.append((complaint_id, resident, nonce, ciphertext))
    if sealed:
        await conn.execute(
            "INSERT INTO contacts (complaint_id, resident_ref, nonce, ciphertext) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[])",
            *columns(sealed),
        )
    return {resident: WordsKey.from_data_key(key) for resident, key in data_keys.items()}


async def words_keys(
    conn: Connection, master_keys: Sequence[bytes], residents: Iterable[str]
) -> dict[str, WordsKey | None]:
    """Each resident's words key, in one query; None for a resident whose key was destroyed
    (erased) or who never had one."""
    wanted = list(dict.fromkeys(residents))
    rows = await conn.fetch(
        "SELECT resident_ref, wrapped_key FROM resident_keys WHERE resident_ref = ANY($1::text[])",
        wanted,
    )
    found = {
        row["resident_ref"]: WordsKey.from_data_key(
            _unwrap(master_keys, row["resident_ref"], row["wrapped_key"])
        )
        for row in rows
    }
    return {resident: found.get(resident) for resident in wanted}


def _wrapped(master_key: bytes, resident: str, data_key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, resident.encode())


def _unwrap(master_keys: Sequence[bytes], resident: str, wrapped: bytes) -> bytes:
    """The resident's data key, unwrapped by whichever master key wrapped it."""
    for master_key in master_keys:
        try:
            return AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], resident.encode())
        except InvalidTag:
            continue
    raise VaultKeyMissing(f"no configured master key opens the data key of {resident}")


class VaultKeyMissing(RuntimeError):
    """A resident's data key was wrapped by a master key that is no longer configured."""


async def rewrap_resident_keys(
    conn: Connection, master_keys: Sequence[bytes], batch_size: int = 1000
) -> int:
    """Wrap every resident's data key with the current master key (a rotation); returns how
    many were rewrapped. Idempotent and resumable: a key already under the current master is
    left as it is. A key no configured master opens stops it (VaultKeyMissing): nothing lost."""
    current, rewrapped, after = master_keys[0], 0, ""
    while True:
        rows = await conn.fetch(
            "SELECT resident_ref, wrapped_key FROM resident_keys WHERE resident_ref > $1 "
            "ORDER BY resident_ref LIMIT $2",
            after,
            batch_size,
        )
        if not rows:
            return rewrapped
        changed = []
        for row in rows:
            resident, wrapped = row["resident_ref"], row["wrapped_key"]
            data_key = _unwrap(master_keys, resident, wrapped)
            try:
                AESGCM(current).decrypt(wrapped[:12], wrapped[12:], resident.encode())
            except InvalidTag:
                changed.append((resident, _wrapped(current, resident, data_key)))
        if changed:
            await conn.execute(
                "UPDATE resident_keys k SET wrapped_key = c.wrapped_key "
                "FROM unnest($1::text[], $2::bytea[]) AS c(resident_ref, wrapped_key) "
                "WHERE k.resident_ref = c.resident_ref",
                *columns(changed),
            )
        rewrapped += len(changed)
        after = rows[-1]["resident_ref"]


class ContactErased(LookupError):
    """The resident's key was destroyed: the contact can no longer be read (PIPL erasure)."""


async def read_contact(
    conn: Connection, master_keys: Sequence[bytes], complaint_id: UUID
) -> Contact | None:
    found = (await read_contacts(conn, master_keys, [complaint_id])).get(complaint_id)
    if isinstance(found, ContactErased):
        raise found
    return found


async def read_contacts(
    conn: Connection, master_keys: Sequence[bytes], complaint_ids: Sequence[UUID]
) -> dict[UUID, Contact | ContactErased]:
    """The contacts of several complaints in one query: each decrypted, or ContactErased for
    those whose resident's key was destroyed; complaints without a contact are left out."""
    rows = await conn.fetch(
        "SELECT c.complaint_id, c.nonce, c.ciphertext, c.resident_ref, k.wrapped_key "
        "FROM contacts c LEFT JOIN resident_keys k USING (resident_ref) "
        "WHERE c.complaint_id = ANY($1::uuid[])",
        list(complaint_ids),
    )
    return {row["complaint_id"]: _decrypt(master_keys, row) for row in rows}


def _decrypt(master_keys: Sequence[bytes], row: asyncpg.Record) -> Contact | ContactErased:
    complaint_id: UUID = row["complaint_id"]
    wrapped = row["wrapped_key"]
    if wrapped is None:
        return ContactErased(complaint_id)
    data_key = _unwrap(master_keys, row["resident_ref"], wrapped)
    try:
        plaintext = AESGCM(data_key).decrypt(row["nonce"], row["ciphertext"], complaint_id.bytes)
    except InvalidTag:
        return ContactErased(complaint_id)
    return Contact.model_validate_json(plaintext)


async def lock_residents(conn: Connection, residents: Sequence[str]) -> None:
    """Filing and erasure of one resident one after the other (until the transaction ends):
    a filing still open when the erasure destroys the key would otherwise commit after it,
    sealed under the destroyed key yet in the clear in the view, and no ComplaintRedacted
    would ever reach it. `residents` sorted, so two filings never lock each other crosswise."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('resident:' || r, 0)) "
        "FROM (SELECT r FROM unnest($1::text[]) AS r ORDER BY r) AS sorted",
        list(residents),
    )


async def erase_resident(conn: Connection, resident: str) -> int:
    """Destroy the resident's data key; returns how many contacts became unreadable. Waits for
    the resident's filings still open (lock_residents), so the complaints read after it are
    all there are."""
    await lock_residents(conn, [resident])
    await conn.execute("DELETE FROM resident_keys WHERE resident_ref = $1", resident)
    count: int = await conn.fetchval(
        "SELECT count(*) FROM contacts WHERE resident_ref = $1", resident
    )
    return count


async def tail_matches(
    conn: Connection, view: Mapping[str, Any] | None, tail: str, most_misses: int
) -> bool:
    """Whether `tail` is the phone tail of the complaint `view` shows, counting each wrong one
    for its case (in its own statement: a miss stays counted whatever the caller's transaction
    does next); a case past `most_misses` wrong tails matches none any more."""
    if view is None:
        return False
    if view["tail_misses"] < most_misses and (view["masked_phone"] or "").endswith(tail):
        return True
    if view["tail_misses"] < most_misses:
        await conn.execute(
            "UPDATE complaints SET tail_misses = tail_misses + 1 WHERE complaint_id = $1",
            view["complaint_id"],
        )
    return False


async def first_push(
    conn: Connection, nonce: str, signed_at: int, msg_id: str, keep_s: int
) -> bool:
    """Whether this signed WeChat push (its nonce and timestamp) is seen for the first time, or
    again with the same message (WeChat's own retry); pushes older than `keep_s` are dropped."""
    await conn.execute(
        "DELETE FROM wechat_pushes WHERE signed_at < extract(epoch FROM now())::bigint - $1", keep_s
    )
    seen = await conn.fetchval(
        "WITH added AS (INSERT INTO wechat_pushes (nonce, signed_at, msg_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING msg_id) "
        "SELECT coalesce((SELECT msg_id FROM added), "
        "(SELECT msg_id FROM wechat_pushes WHERE nonce = $1 AND signed_at = $2))",
        nonce,
        signed_at,
        msg_id,
    )
    return bool(seen == msg_id)


async def complaints_of(conn: Connection, resident: str) -> list[UUID]:
    """The complaints a resident filed."""
    rows = await conn.fetch(
        "SELECT complaint_id FROM complaints WHERE resident_ref = $1 ORDER BY filed_at", resident
    )
    return [row["complaint_id"] for row in rows]


# --- the complaint aggregate and its view -----------------------------------------------------


def stream_of(complaint_id: UUID) -> str:
    return f"complaint-{complaint_id}"


def parse(recorded: RecordedEvent) -> Event:
    return parse_event(recorded.type, recorded.version, recorded.data)


class OpeningEventStore(EventStore):
    """Intake's event store: what a resident said (a filing's words and place, a callback's
    comment) is sealed under their words key as it is appended, and comes back opened as it
    is read (the keys read from the vault in one query for a whole append or read), or
    redacted once the resident was erased. What it stores and publishes stays sealed."""

    def __init__(self, source: str, master_keys: Sequence[bytes]) -> None:
        super().__init__(source)
        self.master_keys = tuple(master_keys)

    async def append_streams(
        self,
        conn: Connection,
        appends: Sequence[tuple[str, Sequence[Event], Causation]],
        expected: Mapping[str, int] | None = None,
    ) -> list[RecordedEvent]:
        unsealed = [e for _, events, _ in appends for e in events if needs_sealing(e)]
        if unsealed:
            residents = {e.resident_ref for e in unsealed}  # type: ignore[attr-defined]
            keys = await words_keys(conn, self.master_keys, residents)
            appends = [
                (stream, [self._sealed(e, keys) for e in events], causation)
                for stream, events, causation in appends
            ]
        return await super().append_streams(conn, appends, expected)

    @staticmethod
    def _sealed(event: Event, keys: Mapping[str, WordsKey | None]) -> Event:
        if not needs_sealing(event):
            return event
        key = keys.get(event.resident_ref)  # type: ignore[attr-defined]
        # an erased resident's words are not written down again, not even sealed
        return seal_event(event, key) if key is not None else redacted(event)

    async def read_stream(self, conn: Connection, stream: str) -> list[RecordedEvent]:
        return await self._opened(conn, await super().read_stream(conn, stream))

    async def read_streams(
        self, conn: Connection, streams: Sequence[str]
    ) -> dict[str, list[RecordedEvent]]:
        found = await super().read_streams(conn, streams)
        opened = await self._opened(conn, [r for history in found.values() for r in history])
        regrouped: dict[str, list[RecordedEvent]] = {}
        for recorded in opened:
            regrouped.setdefault(recorded.stream, []).append(recorded)
        return regrouped

    async def _opened(self, conn: Connection, history: list[RecordedEvent]) -> list[RecordedEvent]:
        sealed = {
            i: parse(r)
            for i, r in enumerate(history)
            if r.type in SEALED_TYPES and r.data.get("sealed")
        }
        if not sealed:
            return history
        keys = await words_keys(conn, self.master_keys, sealed_residents(sealed.values()))
        for i, event in sealed.items():
            opened = open_event(event, keys.get(event.resident_ref))  # type: ignore[attr-defined]
            data = opened.model_dump(mode="json", exclude={"sealed"})
            history[i] = replace(history[i], data=data)
        return history


SEALED_TYPES = frozenset(t.event_type for t in SEALINGS)


async def load(conn: Connection, events: EventStore, complaint_id: UUID) -> Complaint | None:
    return (await load_history(conn, events, complaint_id))[0]


async def load_history(
    conn: Connection, events: EventStore, complaint_id: UUID
) -> tuple[Complaint | None, list[RecordedEvent]]:
    """A complaint and the stream it was folded from."""
    history = await events.read_stream(conn, stream_of(complaint_id))
    return fold(parse(recorded) for recorded in history), history


async def survivor_of(conn: Connection, events: EventStore, state: Complaint) -> Complaint | None:
    """The complaint a merged duplicate follows (None for any other complaint)."""
    if state.status is not ComplaintStatus.MERGED or state.merged_into is None:
        return None
    return await load(conn, events, state.merged_into)


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
    "merged_into, lead_responder, due_at, status_note, filed_at, updated_at, version, "
    "resolved_at, unreached_callbacks, triage_clock, reached_at"
)


_VIEW_UPSERT = (
    f"INSERT INTO complaints ({_VIEW_COLUMNS}) VALUES "
    "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,"
    "$24,$25,$26,$27,$28,$29,$30,$31,$32) "
    "ON CONFLICT (complaint_id) DO UPDATE SET status = EXCLUDED.status, type = EXCLUDED.type, "
    "category = EXCLUDED.category, confidence = EXCLUDED.confidence, "
    "needs_triage = EXCLUDED.needs_triage, duplicate_pending = EXCLUDED.duplicate_pending, "
    "duplicate_candidates = EXCLUDED.duplicate_candidates, merged_into = EXCLUDED.merged_into, "
    "lead_responder = EXCLUDED.lead_responder, due_at = EXCLUDED.due_at, "
    "status_note = EXCLUDED.status_note, updated_at = EXCLUDED.updated_at, "
    "version = EXCLUDED.version, "
    # set at filing; an erasure (ComplaintRedacted) blanks them
    "text = EXCLUDED.text, address = EXCLUDED.address, latitude = EXCLUDED.latitude, "
    "longitude = EXCLUDED.longitude, attributes = EXCLUDED.attributes, "
    "media_urls = EXCLUDED.media_urls, masked_phone = EXCLUDED.masked_phone, "
    "resolved_at = EXCLUDED.resolved_at, "
    "unreached_callbacks = EXCLUDED.unreached_callbacks, triage_clock = EXCLUDED.triage_clock, "
    "reached_at = EXCLUDED.reached_at"
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
        state.resolved_at,
        state.unreached_callbacks,
        state.triage_clock,
        state.reached_at,
    )


async def save_view(conn: Connection, state: Complaint) -> dict[str, Any]:
    """Rewrite an existing complaint's view row (its place stays as filed) and return it as
    stored (what the API shows)."""
    row = await conn.fetchrow(f"{_VIEW_UPSERT} RETURNING {_VIEW_COLUMNS}", *_view_args(state))
    assert row is not None
    return dict(row)


_VIEW_NAMES = tuple(name.strip() for name in _VIEW_COLUMNS.split(","))


async def save_new_views(
    conn: Connection, placed: Sequence[tuple[Complaint, str | None, str | None]]
) -> list[dict[str, Any]]:
    """Write the view rows of complaints just filed (each with its grid and building) and
    return them as stored: a new row holds exactly what was written."""
    rows = [_view_args(state, grid, building) for state, grid, building in placed]
    await conn.executemany(_VIEW_UPSERT, rows)
    return [dict(zip(_VIEW_NAMES, row, strict=True)) for row in rows]


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
    if not updates:
        return
    await conn.execute(
        "INSERT INTO complaint_updates (event_id, complaint_id, event_type, status, description, "
        "updated_at) SELECT u.event_id, u.complaint_id, u.event_type, u.status, u.description, "
        "u.updated_at FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], "
        "$6::timestamptz[]) WITH ORDINALITY AS u(event_id, complaint_id, event_type, status, "
        "description, updated_at, n) ORDER BY u.n ON CONFLICT (event_id) DO NOTHING",
        [r.id for _, r, _ in updates],
        [complaint_id for complaint_id, _, _ in updates],
        [r.type for _, r, _ in updates],
        [r.data["status"] for _, r, _ in updates],
        [note for _, _, note in updates],
        [r.recorded_at for _, r, _ in updates],
    )


async def find_view(
    conn: Connection, *, complaint_id: UUID | None = None, case_number: str | None = None
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_VIEW_COLUMNS}, tail_misses FROM complaints "
        "WHERE complaint_id = $1 OR case_number = $2",
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


# The haversine distance of services.intake.geo.distance_m, in SQL, from a filing (q) to a row.
_DISTANCE = (
    "CASE WHEN q.latitude IS NOT NULL AND c.latitude IS NOT NULL THEN "
    "2 * 6371008.8 * asin(least(1, sqrt(sin(radians(c.latitude - q.latitude) / 2) ^ 2 "
    "+ cos(radians(q.latitude)) * cos(radians(c.latitude)) "
    "* sin(radians(c.longitude - q.longitude) / 2) ^ 2))) END"
)


_PLACE_COLUMNS = (
    "complaint_id, case_number, category, building_code, grid_code, latitude, longitude"
)
_OPEN = "status NOT IN ('merged', 'withdrawn', 'closed', 'answered')"


@dataclass(frozen=True, slots=True)
class Nearby:
    """Where to look for a new complaint's likely duplicates: its place, its community, the
    earliest filing time that counts, and a latitude/longitude box around its point."""

    place: Place
    community: str
    since: datetime
    box: tuple[float, float, float, float] | None


async def sequences_and_places_near(
    conn: Connection, filings: Sequence[Nearby], radius_m: float, limit: int, scan: int = 50
) -> list[tuple[int, list[Place]]]:
    """For each filing, in order: its case sequence number (increasing in that order), and the
    open complaints of its category filed since `since` in its community or inside its box
    that may repeat it (same building, within `radius_m`, same grid), the likeliest `limit` of
    them, ranked as `likely_duplicates` ranks them (which then decides, on these few): one
    statement for any number of filings. Where a place holds more than `scan` such
    complaints, the likeliest are sought among the community's `scan` newest and `scan` of
    those inside the box."""
    boxes = [f.box or (None, None, None, None) for f in filings]
    rows = await conn.fetch(
        f"""
        SELECT q.i, q.sequence, p.* FROM (
            SELECT u.*, nextval('case_number_seq') AS sequence
            FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::float8[], $5::float8[],
                        $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::text[],
                        $11::text[]) WITH ORDINALITY
                 AS u(category, since, community, lat0, lat1, lon0, lon1, latitude, longitude,
                      building, grid, i)
        ) AS q
        LEFT JOIN LATERAL (
            SELECT c.complaint_id, c.case_number, c.category, c.building_code, c.grid_code,
                   c.latitude, c.longitude
            FROM (
                -- Two branches, each on an index of its own: an OR of them could use neither
                -- and would read every open complaint of the category in the city. Each reads
                -- at most $14 rows (the community's newest first), so that a hot spot (a
                -- burst pipe: hundreds of open complaints of one category in one community)
                -- costs a filing no more than a quiet place does.
                (SELECT {_PLACE_COLUMNS} FROM complaints
                 WHERE category = q.category AND substr(area_code, 1, 12) = q.community
                   AND filed_at >= q.since AND {_OPEN}
                 ORDER BY filed_at DESC LIMIT $14)
                UNION
                (SELECT {_PLACE_COLUMNS} FROM complaints
                 WHERE q.lat0 IS NOT NULL AND category = q.category
                   AND latitude BETWEEN q.lat0 AND q.lat1 AND longitude BETWEEN q.lon0 AND q.lon1
                   AND filed_at >= q.since AND {_OPEN}
                 LIMIT $14)
            ) AS c
            CROSS JOIN LATERAL (SELECT {_DISTANCE} AS d) AS dist
            CROSS JOIN LATERAL (
                SELECT CASE WHEN c.building_code = q.building THEN 0
                            WHEN dist.d <= $12 + 0.01 THEN 1
                            WHEN c.grid_code = q.grid THEN 2 END AS rank
            ) AS r
            WHERE r.rank IS NOT NULL
            ORDER BY r.rank, coalesce(dist.d, 0), c.case_number
            LIMIT $13
        ) AS p ON true
        """,
        [f.place.category for f in filings],
        [f.since for f in filings],
        [f.community for f in filings],
        [b[0] for b in boxes],
        [b[1] for b in boxes],
        [b[2] for b in boxes],
        [b[3] for b in boxes],
        [f.place.latitude for f in filings],
        [f.place.longitude for f in filings],
        [f.place.building for f in filings],
        [f.place.grid for f in filings],
        radius_m,
        limit,
        scan,
    )
    sequences: dict[int, int] = {}
    near: dict[int, list[Place]] = {i: [] for i in range(1, len(filings) + 1)}
    for row in rows:
        sequences[row["i"]] = row["sequence"]
        if row["complaint_id"] is not None:
            near[row["i"]].append(
                Place(
                    complaint_id=row["complaint_id"],
                    case_number=row["case_number"],
                    category=row["category"],
                    building=row["building_code"],
                    grid=row["grid_code"],
                    latitude=row["latitude"],
                    longitude=row["longitude"],
                )
            )
    # Case numbers follow the filings' order whatever order the rows were numbered in.
    return list(zip(sorted(sequences.values()), (near[i] for i in sorted(near)), strict=True))


async def merged_into_count(conn: Connection, complaint_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM complaints WHERE merged_into = $1 AND status = 'merged'", complaint_id
    )
    return count


async def triage_queue(
    conn: Connection, limit: int, offset: int, within: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """What waits for staff, oldest first; only the area `within` names if given."""
    waiting = (
        "(status = 'triage' OR (duplicate_pending"
        " AND status NOT IN ('merged','withdrawn','closed','answered')))"
    )
    return await _queue(conn, waiting, "filed_at", within, limit, offset)


async def _queue(
    conn: Connection, condition: str, oldest: str, within: str | None, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """A staff work list: the view rows meeting `condition` in the area `within` (None:
    everywhere), the one with the smallest `oldest` first; with the total."""
    where = f"WHERE {condition} AND ($1::text[] IS NULL OR area_code LIKE ANY($1::text[]))"
    patterns = like_patterns(within) if within else None
    total: int = await conn.fetchval(f"SELECT count(*) FROM complaints {where}", patterns)
    rows = await conn.fetch(
        f"SELECT {_VIEW_COLUMNS} FROM complaints {where} ORDER BY {oldest}, case_number "
        "LIMIT $2 OFFSET $3",
        patterns,
        limit,
        offset,
    )
    return total, [dict(row) for row in rows]


async def triage_due(
    conn: Connection, warn_before: datetime, breach_before: datetime, limit: int
) -> list[UUID]:
    """Complaints waiting for a person whose acceptance clock has a step due: filed before
    `warn_before` and not yet warned, or before `breach_before` and not yet breached."""
    rows = await conn.fetch(
        "SELECT complaint_id FROM complaints WHERE status = 'triage' AND ("
        "(triage_clock IS NULL AND filed_at <= $1) "
        "OR (coalesce(triage_clock, '') <> 'breached' AND filed_at <= $2)) "
        "ORDER BY filed_at LIMIT $3",
        warn_before,
        breach_before,
        limit,
    )
    return [row["complaint_id"] for row in rows]


async def next_triage_step(conn: Connection, warn_after: Any, breach_after: Any) -> datetime | None:
    """When the next acceptance clock of a waiting complaint has a step due."""
    due: datetime | None = await conn.fetchval(
        "SELECT min(CASE WHEN triage_clock IS NULL THEN filed_at + $1 ELSE filed_at + $2 END) "
        "FROM complaints WHERE status = 'triage' AND coalesce(triage_clock, '') <> 'breached'",
        warn_after,
        breach_after,
    )
    return due


_CALLBACK_COLUMNS = ", ".join(f"c.{name}" for name in _VIEW_NAMES)


async def callback_worklist(
    conn: Connection, limit: int, offset: int, within: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Complaints whose unit reported and whose resident nobody has reached yet, the longest
    waiting first; only the area `within` names if given. A duplicate merged into a complaint
    that has been handled waits here too, for its own resident, until a callback reaches them
    after the survivor's latest report (`survivor_*`: the complaint it follows)."""
    where = (
        "WHERE (c.status = 'resolved' OR (c.status = 'merged'"
        " AND s.status IN ('resolved', 'called_back', 'closed')"
        " AND (c.reached_at IS NULL OR c.reached_at < s.resolved_at)))"
        " AND ($1::text[] IS NULL OR c.area_code LIKE ANY($1::text[]))"
    )
    joined = (
        "FROM complaints c LEFT JOIN complaints s"
        " ON c.status = 'merged' AND s.complaint_id = c.merged_into"
    )
    since = "coalesce(s.resolved_at, c.resolved_at, c.updated_at)"
    patterns = like_patterns(within) if within else None
    total: int = await conn.fetchval(f"SELECT count(*) {joined} {where}", patterns)
    rows = await conn.fetch(
        f"SELECT {_CALLBACK_COLUMNS}, {since} AS waiting_since,"
        " s.case_number AS survivor_case_number, s.status AS survivor_status"
        f" {joined} {where} ORDER BY {since}, c.case_number LIMIT $2 OFFSET $3",
        patterns,
        limit,
        offset,
    )
    return total, [dict(row) for row in rows]


async def awaiting_rating(
    conn: Connection, resident: str, reported_by: datetime
) -> list[dict[str, Any]]:
    """A resident's complaints whose result, reported by `reported_by`, they have not rated yet,
    the latest result first: as `domain.awaits_rating` says (a merged duplicate's result is the
    one of the complaint it follows)."""
    rows = await conn.fetch(
        "SELECT c.complaint_id, c.case_number FROM complaints c LEFT JOIN complaints s"
        " ON c.status = 'merged' AND s.complaint_id = c.merged_into"
        " WHERE c.resident_ref = $1 AND ((c.status = 'resolved' AND c.resolved_at <= $2)"
        " OR (c.status = 'merged' AND s.status IN ('resolved', 'called_back', 'closed')"
        " AND s.resolved_at <= $2 AND (c.reached_at IS NULL OR c.reached_at < s.resolved_at)))"
        " ORDER BY coalesce(s.resolved_at, c.resolved_at) DESC, c.filed_at DESC",
        resident,
        reported_by,
    )
    return [dict(row) for row in rows]


# --- the catalogue -------------------------------------------------------------------------------


# A version whose parts have not all arrived is kept (its next part builds on it) without a
# checksum, and is not used until its last part makes it whole (CatalogueCache).
UNFINISHED = ""


async def follow_city(conn: Connection, event: CityModelChanged) -> None:
    """One part of a version of dispatch's city model, projected onto intake's catalogue: the
    version's row, built on the newest row at or below it (repeats change nothing)."""
    base = await conn.fetchval(
        "SELECT body FROM catalogues WHERE version <= $1 ORDER BY version DESC LIMIT 1",
        event.catalogue_version,
    )
    body = follow_changes(base, event.changes)
    checksum = UNFINISHED
    if event.part == event.parts:
        try:
            checksum = CatalogueFile.model_validate(body).checksum()
        except ValidationError as error:
            log.error("city model version %s not usable: %s", event.catalogue_version, error)
    await conn.execute(
        "INSERT INTO catalogues (version, checksum, body) VALUES ($1, $2, $3) "
        "ON CONFLICT (version) DO UPDATE "
        "SET checksum = EXCLUDED.checksum, body = EXCLUDED.body, loaded_at = now()",
        event.catalogue_version,
        checksum,
        body,
    )
