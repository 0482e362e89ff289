"""Dispatch's city as intake follows it: its areas and categories as intake's catalogue, its
time limits and working-day calendar for the promise at filing; each kept in intake's own
tables (so intake answers while dispatch is down) and read through a short-lived cache."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError

from services.intake.domain.catalogue import Catalogue, CatalogueFile, follow_changes
from services.intake.domain.promises import PromiseRules
from shared.cache import Freshness
from shared.db import Connection
from shared.deadlines import CalendarYear, TimeLimits, WorkCalendar
from shared.events import CityModelChanged
from shared.events.dispatch import CityChange

log = logging.getLogger(__name__)


# A version whose last part made an unusable catalogue is kept without a checksum, and is not
# used (CatalogueCache): the next version builds on it.
UNFINISHED = ""


async def follow_city(conn: Connection, event: CityModelChanged) -> None:
    """One part of a version of dispatch's city model. The parts before the last are kept as
    they come; the last applies them all, in order, to the newest version below it, as the
    version's row of intake's catalogue. A part of a version already followed changes nothing
    (redelivered after the version was whole)."""
    version = event.catalogue_version
    if await conn.fetchval("SELECT 1 FROM catalogues WHERE version = $1", version):
        return
    if event.part < event.parts:
        await conn.execute(
            "INSERT INTO catalogue_parts (version, part, changes) VALUES ($1, $2, $3) "
            "ON CONFLICT (version, part) DO NOTHING",
            version,
            event.part,
            [change.model_dump(mode="json") for change in event.changes],
        )
        return
    base = await conn.fetchval(
        "SELECT body FROM catalogues WHERE version < $1 ORDER BY version DESC LIMIT 1", version
    )
    earlier = await conn.fetch(
        "SELECT changes FROM catalogue_parts WHERE version = $1 AND part < $2 ORDER BY part",
        version,
        event.part,
    )
    changes = [CityChange.model_validate(c) for row in earlier for c in row["changes"]]
    body = follow_changes(base, [*changes, *event.changes])
    checksum = UNFINISHED
    try:
        checksum = CatalogueFile.model_validate(body).checksum()
    except ValidationError as error:
        log.error("city model version %s not usable: %s", version, error)
    await conn.execute(
        "INSERT INTO catalogues (version, checksum, body) VALUES ($1, $2, $3)",
        version,
        checksum,
        body,
    )
    await conn.execute("DELETE FROM catalogue_parts WHERE version <= $1", version)


class CatalogueCache(Freshness):
    """The newest catalogue, re-read only when its version changes (several replicas may load),
    its version looked up at most every `max_age_s` (Freshness)."""

    def __init__(self, max_age_s: float = 1.0) -> None:
        super().__init__(max_age_s)
        self._catalogue: Catalogue | None = None

    async def current(self, conn: Connection) -> Catalogue | None:
        if self._catalogue is not None and self.fresh():
            return self._catalogue
        version = await conn.fetchval(
            "SELECT max(version) FROM catalogues WHERE checksum <> ''"  # whole versions only
        )
        if version is None:
            return None
        if self._catalogue is None or self._catalogue.version != version:
            body = await conn.fetchval("SELECT body FROM catalogues WHERE version = $1", version)
            self._catalogue = Catalogue(CatalogueFile.model_validate(body), version)
        self.checked()
        return self._catalogue


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
