"""The live stream of status changes for dashboards (Server-Sent Events), filterable by area.

One tailer per process (workers.run_live_feed) reads `live_updates` in id order, up to its
horizon (no id a transaction still open may commit later), and hands each row to the clients
that want it. A client's queue is bounded: one that falls too far behind is told to reconnect,
and picks up where it left off with `Last-Event-ID`, read from the table, so a slow dashboard
never grows the process's memory and never misses a change.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.notify import domain, store
from shared.eventstore import Horizon

_REPLAY_LIMIT = 1000


@dataclass(eq=False)
class Listener:
    area_code: str | None
    types: frozenset[str]
    queue: asyncio.Queue[dict[str, Any]]
    overflowed: bool = False

    def wants(self, row: dict[str, Any]) -> bool:
        return domain.matches(
            sorted(self.types), self.area_code, row["type"], row["area_code"] or None
        )


@dataclass
class LiveFeed:
    """The clients watching, and how far the table is settled (the tailer, in workers.py,
    advances it and hands out what it reads)."""

    queue_size: int
    listeners: set[Listener] = field(default_factory=set)
    horizon: Horizon = field(default_factory=lambda: Horizon(*store.LIVE_HORIZON))

    def hand_out(self, entry: dict[str, Any]) -> None:
        for listener in self.listeners:
            if listener.overflowed or not listener.wants(entry):
                continue
            try:
                listener.queue.put_nowait(entry)
            except asyncio.QueueFull:
                listener.overflowed = True  # it reconnects and catches up from the table

    async def stream(
        self,
        pool: asyncpg.Pool,
        area_code: str | None,
        types: frozenset[str],
        last_event_id: int | None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Entries for one client: what it missed since `last_event_id`, then what comes."""
        listener = Listener(area_code, types, asyncio.Queue(self.queue_size))
        self.listeners.add(listener)
        seen = 0
        try:
            if last_event_id is not None:
                async with pool.acquire() as conn:
                    missed = await store.live_since(
                        conn, last_event_id, self.horizon.settled, _REPLAY_LIMIT
                    )
                seen = last_event_id
                for row in missed:
                    entry = as_entry(row)
                    if listener.wants(entry):
                        yield entry
                    seen = row["id"]
            while not listener.overflowed:
                entry = await listener.queue.get()
                # What the tailer hands out after a replay may repeat it: skip that.
                if entry["id"] > seen:
                    seen = entry["id"]
                    yield entry
        finally:
            self.listeners.discard(listener)


def as_entry(row: asyncpg.Record) -> dict[str, Any]:
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
    return {
        "id": row["id"],
        "at": row["at"].isoformat(),
        **data,
        "area_code": row["area_code"] or None,
    }
