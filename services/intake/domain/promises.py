"""The promise at filing (办理时限承诺): the time limit that applies to a new complaint and when
it runs out, from the same time limits and working-day calendar dispatch uses.

Intake keeps no copy of its own: it follows dispatch's city-model events (the `time_limits`
setting of CityModelChanged) and CalendarLoaded into two small tables, and reads them through a
short-lived cache. Dispatch sets the real deadline when it issues the lead's order (a routing
rule may give a category another tier); until then the resident is shown this one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Connection
from shared.deadlines import (
    CalendarYear,
    ClockName,
    PriorityTier,
    TimeLimits,
    WorkCalendar,
    deadline,
    limit_words,
)


@dataclass(frozen=True, slots=True)
class Promise:
    due_at: datetime
    limit: str  # e.g. "7d", "24h"

    @property
    def words(self) -> str:
        """7个工作日 / 24小时: the limit as a resident reads it."""
        return limit_words(self.limit)


@dataclass(frozen=True, slots=True)
class PromiseRules:
    limits: TimeLimits
    calendar: WorkCalendar

    def promise(self, category: str | None, priority: str, filed_at: datetime) -> Promise | None:
        """The lead's feedback limit for a complaint of `category` at `priority`."""
        try:
            tier = PriorityTier(priority)
        except ValueError:
            tier = PriorityTier.GENERAL
        limit = self.limits.for_order(tier, category, "").limit(ClockName.FEEDBACK)
        if limit is None:
            return None
        days = "working" if self.limits.days == "working" else "calendar"
        return Promise(deadline(filed_at, limit, self.calendar, days), limit)


class PromiseCache:
    """Dispatch's limits and calendar as last followed, read again at most every `ttl_s`."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._read_at = float("-inf")
        self._rules: PromiseRules | None = None

    async def current(self, conn: Connection) -> PromiseRules | None:
        if time.monotonic() - self._read_at < self.ttl_s:
            return self._rules
        # (the pool decodes jsonb)
        body = await conn.fetchval("SELECT body FROM dispatch_time_limits WHERE id = 1")
        years = [
            CalendarYear.model_validate(row["body"])
            for row in await conn.fetch("SELECT body FROM dispatch_calendar")
        ]
        self._rules = (
            PromiseRules(TimeLimits.model_validate(body), WorkCalendar.of(years))
            if body is not None
            else None
        )
        self._read_at = time.monotonic()
        return self._rules


async def follow_time_limits(conn: Connection, version: int, limits: Any) -> None:
    """Dispatch's `time_limits` of city-model version `version` (a later version wins)."""
    await conn.execute(
        "INSERT INTO dispatch_time_limits (id, body, catalogue_version) VALUES (1, $1, $2) "
        "ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, "
        "catalogue_version = EXCLUDED.catalogue_version "
        "WHERE dispatch_time_limits.catalogue_version <= EXCLUDED.catalogue_version",
        limits,
        version,
    )


async def follow_calendar(conn: Connection, year: CalendarYear) -> None:
    await conn.execute(
        "INSERT INTO dispatch_calendar (year, body) VALUES ($1, $2) "
        "ON CONFLICT (year) DO UPDATE SET body = EXCLUDED.body",
        year.year,
        year.model_dump(mode="json", by_alias=True),
    )
