"""A Postgres event store: append with an expected position, read a stream, tail everything in commit order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Connection
from shared.envelope import Causation, Envelope, KafkaMessage, encode_data, kafka_message
from shared.events import Event, parse_event

SCHEMA = Path(__file__).with_name("eventstore.sql")
NOTIFY_CHANNEL = "jiesu_events"

# Appends take this transaction-scoped lock just before inserting and hold it until commit.
# Why: a bigserial value is drawn at insert time but becomes visible at commit, so two
# concurrent writers can commit out of global_position order, and a reader tailing
# "global_position > last seen" would skip the one that commits late, for ever. With the lock
# only one appending transaction is between "draw positions" and "commit" at any moment, so
# positions become visible in increasing order and tailing by position is exact. The cost is
# that appends in one service database are serialised for the length of a commit.
_APPEND_LOCK = 0x6A6965_5F617070


class ConcurrencyError(Exception):
    """The stream moved on since it was read: reload, decide again, append again."""

    def __init__(self, stream: str, expected: int, actual: int | None) -> None:
        at = "exists already" if actual is None else f"is at position {actual}"
        super().__init__(f"stream {stream!r} {at}, expected {expected}")
        self.stream = stream
        self.expected = expected
        self.actual = actual


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
        )

    def to_kafka(self) -> KafkaMessage:
        """Published as stored, keyed by complaint id (or by stream for events about no complaint)."""
        causation = self.metadata.get("causation_id")
        return kafka_message(
            event_id=self.id,
            source=self.metadata["source"],
            event_type=self.type,
            version=self.version,
            time=self.recorded_at,
            subject=self.subject,
            correlation_id=UUID(self.metadata["correlation_id"]),
            causation_id=UUID(causation) if causation else None,
            data=json.dumps(self.data, ensure_ascii=False).encode(),
            key=self.subject or self.stream,
            sequence=self.position,
        )


_COLUMNS = "global_position, stream, position, type, version, data, metadata, id, recorded_at"


class EventStore:
    """One service's store. Every method takes the connection, so appends join the caller's transaction."""

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
        if not conn.is_in_transaction():
            raise RuntimeError("append must run inside a transaction")
        if not events:
            return []
        await self._order_commits(conn)
        if expected_position == 0:
            # A new stream: no head to read; the unique (stream, position) says if it exists.
            try:
                return await self._insert(conn, [(stream, 0, events, causation)])
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name != "events_stream_position_key":
                    raise
                raise ConcurrencyError(stream, 0, None) from None
        current = await conn.fetchval(
            "SELECT coalesce(max(position) + 1, 0) FROM events WHERE stream = $1", stream
        )
        if expected_position is not None and expected_position != current:
            raise ConcurrencyError(stream, expected_position, current)
        return await self._insert(conn, [(stream, current, events, causation)])

    async def append_streams(
        self,
        conn: Connection,
        appends: Sequence[tuple[str, Sequence[Event], Causation]],
        expected: Mapping[str, int] | None = None,
    ) -> list[RecordedEvent]:
        """Append to many streams at once, each at its end: one lock, one read of the heads and
        one insert for a whole batch, e.g. a batch of outcomes. A stream may come several
        times (its appends follow each other in the given order). With `expected`, the streams
        it names must be at those positions, or nothing is appended (ConcurrencyError)."""
        if not conn.is_in_transaction():
            raise RuntimeError("append must run inside a transaction")
        appends = [a for a in appends if a[1]]
        if not appends:
            return []
        await self._order_commits(conn)
        # Each head as append reads it (max over the unique index, read backwards), not a
        # GROUP BY that would read every event of every stream named.
        heads: dict[str, int] = {
            row["stream"]: row["head"]
            for row in await conn.fetch(
                "SELECT s.stream, coalesce((SELECT max(position) + 1 FROM events e "
                "WHERE e.stream = s.stream), 0) AS head FROM unnest($1::text[]) AS s(stream)",
                list({stream for stream, _, _ in appends}),
            )
        }
        for stream, position in (expected or {}).items():
            if heads.get(stream, 0) != position:
                raise ConcurrencyError(stream, position, heads.get(stream, 0))
        rows = []
        for stream, events, causation in appends:
            rows.append((stream, heads[stream], events, causation))
            heads[stream] += len(events)
        return await self._insert(conn, rows)

    async def _insert(
        self, conn: Connection, appends: Sequence[tuple[str, int, Sequence[Event], Causation]]
    ) -> list[RecordedEvent]:
        """Insert each (stream, first position, events, causation) in one statement."""
        streams, positions, types, versions, data, metadata = [], [], [], [], [], []
        for stream, first, events, causation in appends:
            for offset, event in enumerate(events):
                streams.append(stream)
                positions.append(first + offset)
                types.append(event.event_type)
                versions.append(event.version)
                data.append(encode_data(event).decode())
                metadata.append(
                    json.dumps(
                        {
                            "source": self.source,
                            "subject": event.subject,
                            "correlation_id": str(causation.correlation_id),
                            "causation_id": (
                                str(causation.causation_id) if causation.causation_id else None
                            ),
                        }
                    )
                )
        rows = await conn.fetch(
            f"""
            INSERT INTO events (stream, position, type, version, data, metadata, id)
            SELECT stream, position, type, version, data::jsonb, metadata::jsonb, id
            FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[],
                        $7::uuid[]) WITH ORDINALITY
                 AS e(stream, position, type, version, data, metadata, id, ord)
            ORDER BY ord
            RETURNING {_COLUMNS}
            """,
            streams,
            positions,
            types,
            versions,
            data,
            metadata,
            [uuid.uuid4() for _ in streams],
        )
        return sorted(
            (RecordedEvent.from_row(row) for row in rows), key=lambda e: e.global_position
        )

    async def _order_commits(self, conn: Connection) -> None:
        """Hold the append lock until commit (see _APPEND_LOCK for why), and wake the relays
        then: a notification is delivered at commit only, a hint, never the source of truth."""
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1), pg_notify($2, '')", _APPEND_LOCK, NOTIFY_CHANNEL
        )

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

    async def read_all(self, conn: Connection, after: int, limit: int = 500) -> list[RecordedEvent]:
        """Events with a global position above `after`, in commit order."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE global_position > $1 "
            "ORDER BY global_position LIMIT $2",
            after,
            limit,
        )
        return [RecordedEvent.from_row(row) for row in rows]
