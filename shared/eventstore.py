"""A Postgres event store: append with an expected position, read a stream, tail everything in commit order."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from uuid import UUID

import asyncpg

from shared.commands import ConcurrencyError
from shared.db import Connection
from shared.envelope import Causation, Envelope, KafkaMessage, encode_data, kafka_message
from shared.events import Event, parse_event, parse_event_json
from shared.telemetry import bind, spanning, traceparent_of

SCHEMA = Path(__file__).with_name("eventstore.sql")
NOTIFY_CHANNEL = "jiesu_events"


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A stored event as written: raw data in its stored version, parsed on demand."""

    global_position: int
    stream: str
    position: int
    type: str
    version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    id: UUID
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> RecordedEvent:
        return cls(**dict(row))

    @property
    def subject(self) -> str | None:
        subject = self.metadata.get("subject")
        return str(subject) if subject is not None else None

    def to_envelope(self) -> Envelope:
        """The event in its newest shape (upcast), with its CloudEvents attributes."""
        causation = self.metadata.get("causation_id")
        return Envelope(
            event=parse_event(self.type, self.version, self.data),
            id=self.id,
            source=self.metadata["source"],
            time=self.recorded_at,
            correlation_id=UUID(self.metadata["correlation_id"]),
            causation_id=UUID(causation) if causation else None,
            sequence=self.position,
            traceparent=self.metadata.get("traceparent"),
        )

    def to_kafka(self) -> KafkaMessage:
        fields = {
            **self.metadata,
            "id": self.id,
            "stream": self.stream,
            "position": self.position,
            "type": self.type,
            "version": self.version,
            "recorded_at": self.recorded_at,
        }
        return _published(fields, json.dumps(self.data, ensure_ascii=False).encode())


def _published(fields: Mapping[str, Any] | asyncpg.Record, data: bytes) -> KafkaMessage:
    """A stored event as published (its metadata's fields beside the row's), keyed by complaint
    id, or by stream for events about no complaint."""
    return kafka_message(
        event_id=fields["id"],
        source=fields["source"],
        event_type=fields["type"],
        version=fields["version"],
        time=fields["recorded_at"],
        subject=fields.get("subject"),
        correlation_id=fields["correlation_id"],
        causation_id=fields.get("causation_id"),
        data=data,
        key=fields.get("subject") or fields["stream"],
        sequence=fields["position"],
        traceparent=fields.get("traceparent"),
    )


_COLUMNS = "global_position, stream, position, type, version, data, metadata, id, recorded_at"

# What a reader needs of a stored event, the payload as text: parsed once, by pydantic, from
# the text (not decoded to a dict first, nor its metadata at all).
_STORED = (
    "global_position, position, type, version, data::text AS data, "
    "metadata->>'source' AS source, {ids}, id, recorded_at"
)
# For an envelope: Postgres reads the ids as uuid, and asyncpg hands over its own UUID
# (UUID(str) in Python cost a rebuild more than a microsecond an event).
ENVELOPE_COLUMNS = _STORED.format(
    ids="(metadata->>'correlation_id')::uuid AS correlation_id, "
    "nullif(metadata->>'causation_id', '')::uuid AS causation_id"
)
# For the relay: the ids as stored (one that is not a UUID goes on, for its consumers to
# dead-letter, rather than failing every read of the relay).
_PUBLISHED_COLUMNS = (
    _STORED.format(
        ids="metadata->>'correlation_id' AS correlation_id, metadata->>'causation_id' AS causation_id"
    )
    + ", metadata->>'traceparent' AS traceparent"
)


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


Folded = TypeVar("Folded", bound=_Versioned)  # a state folded from its own stream


class EventStore:
    """One service's store. Every method takes the connection, so appends join the caller's transaction.

    Appends are not serialised: concurrent transactions draw global positions and commit in
    any order. Readers that tail the store in position order read only up to a `Horizon`, the
    position below which no transaction is still in flight, so they never pass a gap that a
    late commit would fill.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    async def append(
        self,
        conn: Connection,
        stream: str,
        events: Sequence[Event],
        causation: Causation,
        expected_position: int | None,
    ) -> list[RecordedEvent]:
        """Append after `expected_position` events (0 = the stream must be new; None = no check)."""
        if expected_position is None:
            return await self.append_streams(conn, [(stream, events, causation)])
        return await self.append_streams(
            conn, [(stream, events, causation)], expected={stream: expected_position}
        )

    async def append_folded(
        self,
        conn: Connection,
        before: Folded | None,
        new_events: Sequence[Event],
        causation: Causation,
        evolve: Callable[[Folded | None, Event], Folded],
        stream_of: Callable[[Folded], str],
    ) -> Folded:
        """`before` with `new_events` folded in, the events appended to its stream after
        `before`'s version (0: the stream must be new). No events: nothing is appended."""
        after = before
        for event in new_events:
            after = evolve(after, event)
        assert after is not None
        expected = before.version if before is not None else 0
        await self.append(conn, stream_of(after), new_events, causation, expected)
        return after

    async def append_streams(
        self,
        conn: Connection,
        appends: Sequence[tuple[str, Sequence[Event], Causation]],
        expected: Mapping[str, int] | None = None,
    ) -> list[RecordedEvent]:
        """Append to many streams in one statement, each at its end, e.g. a batch of outcomes.
        A stream may come several times (its appends follow each other in the given order).
        The streams `expected` names must be at those positions, or nothing is appended
        (ConcurrencyError, also when a concurrent transaction appends to one of them first);
        the others are locked for this transaction, so their appends queue instead. A stream is
        appended to either always with an expected position or always without one."""
        if not conn.is_in_transaction():
            raise RuntimeError("append must run inside a transaction")
        appends = [a for a in appends if a[1]]
        if not appends:
            return []
        with spanning(
            "events append",
            attributes={"db.system.name": "postgresql", "jiesu.streams": len(appends)},
            nested=True,
        ) as span:
            # Events keep the trace they were appended in: their cause's (a consumer span's),
            # else this append's, so the relay's publication continues it.
            traceparent = traceparent_of(span) if span is not None else None
            recorded = await self._append(conn, appends, expected or {}, traceparent)
        # What a request logs from here on names the complaint it changed (when one).
        subjects = {event.subject for _, events, _ in appends for event in events}
        if len(subjects) == 1:
            bind(appends[0][2].correlation_id, subjects.pop())
        return recorded

    async def _append(
        self,
        conn: Connection,
        appends: Sequence[tuple[str, Sequence[Event], Causation]],
        expected: Mapping[str, int],
        traceparent: str | None,
    ) -> list[RecordedEvent]:
        unchecked = sorted({stream for stream, _, _ in appends if stream not in expected})
        if unchecked:
            # Before the insert, in a statement of its own: the insert's snapshot is then
            # taken after the lock, so it sees the head the previous holder committed.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(s, 0)) FROM unnest($1::text[]) AS s",
                unchecked,
            )
        rows: dict[str, list[Any]] = {name: [] for name in _ROW_FIELDS}
        offsets: dict[str, int] = {}
        for stream, events, causation in appends:
            metadata = {
                "source": self.source,
                "correlation_id": str(causation.correlation_id),
                "causation_id": str(causation.causation_id) if causation.causation_id else None,
            }
            if causation.traceparent or traceparent:
                metadata["traceparent"] = causation.traceparent or traceparent
            for event in events:
                rows["stream"].append(stream)
                rows["nth"].append(offsets.get(stream, 0))
                offsets[stream] = offsets.get(stream, 0) + 1
                rows["type"].append(event.event_type)
                rows["version"].append(event.version)
                rows["data"].append(encode_data(event).decode())
                rows["metadata"].append(json.dumps({**metadata, "subject": event.subject}))
                rows["id"].append(uuid.uuid4())
        streams = list(offsets)
        try:
            recorded = await conn.fetch(
                _APPEND,
                *rows.values(),
                streams,
                [expected.get(stream) for stream in streams],
                NOTIFY_CHANNEL,
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != "events_stream_position_key":
                raise
            # A concurrent transaction appended to a checked stream first (it committed while
            # this insert waited on the unique index).
            stream = next(iter(expected), appends[0][0])
            raise ConcurrencyError(stream, expected.get(stream, 0), None) from None
        if not recorded:
            heads = await self._heads(conn, list(expected))
            # (One that was not where expected then; if all are by now, the first.)
            stream = next((s for s, at in expected.items() if heads[s] != at), next(iter(expected)))
            raise ConcurrencyError(stream, expected[stream], heads[stream])
        return sorted(
            (RecordedEvent.from_row(row) for row in recorded), key=lambda e: e.global_position
        )

    async def _heads(self, conn: Connection, streams: Sequence[str]) -> dict[str, int]:
        return {
            row["stream"]: row["head"]
            for row in await conn.fetch(
                f"SELECT s.stream, {_HEAD} AS head FROM unnest($1::text[]) AS s(stream)",
                list(streams),
            )
        }

    async def read_stream(self, conn: Connection, stream: str) -> list[RecordedEvent]:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream = $1 ORDER BY position", stream
        )
        return [RecordedEvent.from_row(row) for row in rows]

    async def read_streams(
        self, conn: Connection, streams: Sequence[str]
    ) -> dict[str, list[RecordedEvent]]:
        """Several streams in one query, each in order (streams with no events left out)."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream = ANY($1::text[]) "
            "ORDER BY stream, position",
            list(streams),
        )
        found: dict[str, list[RecordedEvent]] = {}
        for row in rows:
            found.setdefault(row["stream"], []).append(RecordedEvent.from_row(row))
        return found

    async def read_all(
        self, conn: Connection, after: int, limit: int = 500, until: int | None = None
    ) -> list[RecordedEvent]:
        """Events with a global position above `after` (and at most `until`), in position
        order. Tailing readers pass a Horizon's `settled` as `until`: above it, a position
        may still be taken by a transaction that commits later."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE global_position > $1 "
            "AND global_position <= coalesce($3, global_position) "
            "ORDER BY global_position LIMIT $2",
            after,
            limit,
            until,
        )
        return [RecordedEvent.from_row(row) for row in rows]

    async def read_published(
        self, conn: Connection, after: int, limit: int, until: int
    ) -> list[tuple[int, KafkaMessage]]:
        """What the relay publishes, with each event's global position: the stored JSON goes
        on as Postgres prints it, never parsed and encoded again."""
        rows = await conn.fetch(
            f"SELECT {_PUBLISHED_COLUMNS}, stream, metadata->>'subject' AS subject FROM events "
            "WHERE global_position > $1 AND global_position <= $3 "
            "ORDER BY global_position LIMIT $2",
            after,
            limit,
            until,
        )
        return [(row["global_position"], _published(row, row["data"].encode())) for row in rows]


def envelope_of(row: asyncpg.Record) -> Envelope:
    """The envelope of a row read with ENVELOPE_COLUMNS, its event in its newest shape."""
    return Envelope(
        event=parse_event_json(row["type"], row["version"], row["data"]),
        id=row["id"],
        source=row["source"],
        time=row["recorded_at"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        sequence=row["position"],
    )


_ROW_FIELDS = ("stream", "nth", "type", "version", "data", "metadata", "id")

# A stream's next position as the statement's snapshot sees it: max over the unique index,
# read backwards, not a GROUP BY that would read every event of the stream.
_HEAD = "coalesce((SELECT max(x.position) + 1 FROM events x WHERE x.stream = s.stream), 0)"

# One statement appends a whole batch. Each stream's head is read in it; if any checked stream
# is not where its caller read it, nothing is inserted (no rows come back). `ok` gives the
# transaction its id before any position is drawn (positions are drawn as the joined rows are
# inserted, and no row joins before `ok` is known; the id is used in the filter, or the planner
# drops it): so a transaction holding a position always shows in the list of running
# transactions a Horizon reads. pg_notify wakes the relays at commit: a hint, never the source
# of truth.
_APPEND = f"""
WITH heads AS (
    SELECT s.stream, s.expected, {_HEAD} AS head
    FROM unnest($8::text[], $9::int[]) AS s(stream, expected)
), ok AS (
    SELECT bool_and(expected IS NULL OR expected = head) AS ok,
           pg_current_xact_id() AS xid, pg_notify($10, '') AS woken
    FROM heads
)
INSERT INTO events (stream, position, type, version, data, metadata, id)
SELECT e.stream, h.head + e.nth, e.type, e.version, e.data::jsonb, e.metadata::jsonb, e.id
FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[], $7::uuid[])
     WITH ORDINALITY AS e(stream, nth, type, version, data, metadata, id, ord)
JOIN heads h ON h.stream = e.stream
CROSS JOIN ok
WHERE ok.ok AND ok.xid IS NOT NULL
ORDER BY e.ord
RETURNING {_COLUMNS}
"""

# The newest position a reader can see, and the transactions of this database that hold an id
# now (the reader's own left out). A position at or below `top` that the reader cannot see yet
# belongs to one of them (see _APPEND). Backends' ids are readable for sessions of the same
# role, or with pg_read_all_stats.
_PROBE = """
SELECT (SELECT coalesce(max({column}), 0) FROM {table}) AS top,
       array(SELECT a.backend_xid::text FROM pg_stat_get_activity(NULL) AS a
             WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()) AS running
"""


@dataclass(slots=True)
class Horizon:
    """How far a reader can tail a store by position without skipping a late commit.

    Works for any table whose positions come from a sequence, if each inserting transaction
    has its id before it draws one (pg_current_xact_id() in an earlier statement or, as in
    _APPEND, in the same statement ahead of the rows). Each probe notes the newest visible
    position and the transactions in flight. Once all of
    those have ended (committed or rolled back), every position up to that newest one is final:
    `settled` moves there. A probe settles a later probe's earlier ones, so a reader that
    probes each time it reads needs one statement more per read, and waits only for the
    transactions that were in flight when it looked.
    """

    table: str = "events"
    column: str = "global_position"  # drawn from a sequence by a transaction that has an id
    settled: int = 0
    seen: int = 0  # the newest position the last probe saw
    pending: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    max_pending: int = 16
    # How soon to look again while transactions seen in flight may still end.
    settle_s: float = 0.01

    async def advance(self, conn: Connection) -> int:
        """Probe once; the settled position after it."""
        row = await conn.fetchrow(_PROBE.format(table=self.table, column=self.column))
        assert row is not None
        running = frozenset(row["running"])
        self.seen = row["top"]
        still = []
        for top, holders in [*self.pending, (row["top"], running)]:
            if holders.isdisjoint(running):
                self.settled = max(self.settled, top)
            elif top > self.settled:
                still.append((top, holders))
        # Enough to settle on: dropping the newest probes only makes the reader wait longer.
        self.pending = still[: self.max_pending]
        return self.settled

    def next_look(self, poll_s: float) -> float:
        """How long a tailer may sleep before it probes again: soon while a probe waits for
        transactions that may end without notifying (not every transaction appends), else
        until its poll (a commit's notification wakes it before)."""
        return self.settle_s if self.pending else poll_s

    async def reach(self, conn: Connection, pause_s: float = 0.005) -> int:
        """Settle everything visible now: probe until the first probe's transactions ended."""
        await self.advance(conn)
        target = self.seen
        while self.settled < target:
            await asyncio.sleep(pause_s)
            await self.advance(conn)
        return self.settled
