"""Complaint streams and their views: the event store that seals and opens residents' words,
loading a complaint (one or many), its view row and the updates residents read of each step."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from services.intake.domain.model import Complaint, fold
from services.intake.store.vault import words_keys
from shared.db import Connection
from shared.envelope import Causation
from shared.events import ComplaintStatus, Event, parse_event
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
            residents = {resident for e in unsealed if (resident := _resident_of(e))}
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
        resident = _resident_of(event)
        key = keys.get(resident) if resident else None
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
            resident = _resident_of(event)
            opened = open_event(event, keys.get(resident) if resident else None)
            data = opened.model_dump(mode="json", exclude={"sealed"})
            history[i] = replace(history[i], data=data)
        return history


SEALED_TYPES = frozenset(t.event_type for t in SEALINGS)


def _resident_of(event: Event) -> str | None:
    """Whose words an event of a sealed type holds (a filing's, a callback's resident)."""
    resident = getattr(event, "resident_ref", None)
    return resident if isinstance(resident, str) else None


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


VIEW_COLUMNS = (
    "complaint_id, case_number, channel, status, type, category, confidence, needs_triage, "
    "area_code, grid_code, building_code, address, latitude, longitude, text, attributes, "
    "media_urls, resident_ref, masked_phone, duplicate_pending, duplicate_candidates, "
    "merged_into, lead_responder, due_at, status_note, filed_at, updated_at, version, "
    "resolved_at, unreached_callbacks, triage_clock, reached_at"
)


_VIEW_UPSERT = (
    f"INSERT INTO complaints ({VIEW_COLUMNS}) VALUES "
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
    state: Complaint, note: str, grid: str | None = None, building: str | None = None
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
        note,
        state.filed_at,
        state.updated_at,
        state.version,
        state.resolved_at,
        state.unreached_callbacks,
        state.triage_clock,
        state.reached_at,
    )


async def save_view(conn: Connection, state: Complaint, note: str) -> dict[str, Any]:
    """Rewrite an existing complaint's view row with `note`, what a person reads about its
    latest step (its place stays as filed), and return it as stored (what the API shows)."""
    row = await conn.fetchrow(f"{_VIEW_UPSERT} RETURNING {VIEW_COLUMNS}", *_view_args(state, note))
    assert row is not None
    return dict(row)


VIEW_NAMES = tuple(name.strip() for name in VIEW_COLUMNS.split(","))


async def save_new_views(
    conn: Connection, placed: Sequence[tuple[Complaint, str, str | None, str | None]]
) -> list[dict[str, Any]]:
    """Write the view rows of complaints just filed (each with its note, grid and building)
    and return them as stored: a new row holds exactly what was written."""
    rows = [_view_args(state, note, grid, building) for state, note, grid, building in placed]
    await conn.executemany(_VIEW_UPSERT, rows)
    return [dict(zip(VIEW_NAMES, row, strict=True)) for row in rows]


async def save_views(conn: Connection, states: Iterable[tuple[Complaint, str]]) -> None:
    """Rewrite the view rows of complaints that exist already, each with its note (their place
    stays as filed)."""
    await conn.executemany(_VIEW_UPSERT, [_view_args(state, note) for state, note in states])


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
        f"SELECT {VIEW_COLUMNS}, tail_misses FROM complaints "
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


async def complaints_of(conn: Connection, resident: str) -> list[UUID]:
    """The complaints a resident filed."""
    rows = await conn.fetch(
        "SELECT complaint_id FROM complaints WHERE resident_ref = $1 ORDER BY filed_at", resident
    )
    return [row["complaint_id"] for row in rows]


async def merged_into_count(conn: Connection, complaint_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM complaints WHERE merged_into = $1 AND status = 'merged'", complaint_id
    )
    return count


async def next_case_sequence(conn: Connection) -> int:
    """The next case sequence number (for a filing that looks for no duplicates: 随手做)."""
    sequence: int = await conn.fetchval("SELECT nextval('case_number_seq')")
    return sequence


def patrol_stream(patrol_id: UUID) -> str:
    return f"patrol-{patrol_id}"
