"""Reporting's background loops: the rebuild of read models whose shape changed, and the
periodic consistency check."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.reporting import consistency, rebuild
from services.reporting.settings import ReportingSettings

log = logging.getLogger(__name__)


async def backfill(settings: ReportingSettings, names: list[str]) -> None:
    """Rebuild `names` (the models whose shape changed at start) from the stores, in place."""
    if not names or not settings.backfill_on_start:
        return
    log.warning("reporting: read models %s changed shape; rebuilding them from the stores", names)
    try:
        result = await rebuild.rebuild(
            settings.database_url,
            settings.store_urls(),
            names,
            batch_size=settings.replay_batch_size,
            in_place=True,
            workers=settings.rebuild_workers(),
            keys=settings.intake_keys(),
        )
    except rebuild.RebuildRunning:
        log.warning("reporting: a rebuild is already running; it will fill %s", names)
        return
    log.warning(
        "reporting: rebuilt %s from %d events in %.1f s", names, result.events, result.seconds
    )


async def check_consistency(settings: ReportingSettings) -> None:
    """The check every REPORTING_CONSISTENCY_INTERVAL_S, into the gauges."""
    if settings.consistency_interval_s <= 0:
        return
    sources = consistency.Sources.of(settings)
    while True:
        await asyncio.sleep(settings.consistency_interval_s)  # the services start meanwhile
        try:
            report = await consistency.check(
                sources, settings.consistency_grace_s, settings.consistency_confirm_after_s
            )
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("consistency check failed: %s", error)
        else:
            consistency.publish(report)
            if report.drifts:
                log.warning("consistency check: %d drifts %s", len(report.drifts), report.by_kind())
