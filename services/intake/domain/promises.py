"""The promise at filing (办理时限承诺): the time limit that applies to a new complaint and when
it runs out, from the same time limits and working-day calendar dispatch uses.

Intake keeps no copy of its own: it follows dispatch's city-model events (the `time_limits`
setting of CityModelChanged) and CalendarLoaded into two small tables, and reads them through a
short-lived cache (services/intake/store/city.py). Dispatch sets the real deadline when it
issues the lead's order (a routing rule may give a category another tier); until then the
resident is shown this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.deadlines import (
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
