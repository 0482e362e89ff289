"""What the subscriber has handled, kept in one SQLite file: the `ce_id` of every event it
handled and what it learned from them (its own small table of cases), written in one
transaction, so an event redelivered after a crash or a rebalance is recognised and its effect
is not applied twice."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handled (
    ce_id TEXT PRIMARY KEY,
    ce_type TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    handled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS cases (
    complaint_id TEXT PRIMARY KEY,
    case_number TEXT,
    area_code TEXT,
    status TEXT,
    status_position INTEGER
);
"""


@dataclass(frozen=True)
class Case:
    """What the subscriber knows of one complaint."""

    case_number: str | None = None
    area_code: str | None = None
    status: str | None = None
    status_position: int | None = None  # the `ce_streamposition` the status came with

    def learn(self, payload: dict[str, Any], position: int | None) -> Case:
        """This case after an event with `payload`. A status (and the area beside it) replaces
        one from an earlier position in the complaint's stream only: the latest is decided by
        `ce_streamposition`, never by arrival (a redelivery can bring an old event late)."""
        case = replace(self, case_number=self.case_number or payload.get("case_number"))
        status = payload.get("status")
        if status is None or (
            self.status_position is not None and (position or 0) < self.status_position
        ):
            return replace(case, area_code=case.area_code or payload.get("area_code"))
        return replace(
            case,
            status=status,
            status_position=position,
            area_code=payload.get("area_code") or case.area_code,
        )


class Inbox:
    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def handle(
        self,
        *,
        ce_id: str,
        ce_type: str,
        topic: str,
        partition: int,
        offset: int,
        complaint_id: str | None,
        position: int | None,
        payload: dict[str, Any],
    ) -> Case | None:
        """Record the event and apply its effect, together; None when `ce_id` was handled
        before (nothing is applied again). Otherwise what is now known of its complaint."""
        with self._db:  # one transaction: the id and the effect, or neither
            inserted = self._db.execute(
                'INSERT INTO handled (ce_id, ce_type, topic, partition, "offset") '
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ce_id) DO NOTHING",
                (ce_id, ce_type, topic, partition, offset),
            ).rowcount
            if not inserted:
                return None
            if complaint_id is None:
                return Case()
            row = self._db.execute(
                "SELECT case_number, area_code, status, status_position FROM cases "
                "WHERE complaint_id = ?",
                (complaint_id,),
            ).fetchone()
            case = (Case(*row) if row else Case()).learn(payload, position)
            self._db.execute(
                "INSERT OR REPLACE INTO cases "
                "(complaint_id, case_number, area_code, status, status_position) "
                "VALUES (?, ?, ?, ?, ?)",
                (complaint_id, case.case_number, case.area_code, case.status, case.status_position),
            )
        return case
