"""Reporting's background loops: the rebuild of read models whose shape changed, the periodic
consistency check, and the sampler of the console's Streams page."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import asyncpg
from aiokafka.errors import KafkaError

from services.reporting import consistency, rebuild
from services.reporting.adapters.broker import BrokerView
from services.reporting.app import ReportingRuntime
from services.reporting.settings import ReportingSettings
from services.reporting.streams import Sample, relay_states
from shared.topics import dlq

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


async def sample_streams(runtime: ReportingRuntime) -> None:
    """Every REPORTING_STREAMS_INTERVAL_S: the broker's offsets, the relays' figures and the
    DLQs' open letters, into the Streams page's history and the gauges (0: never)."""
    monitor, letters = runtime.app.streams, runtime.app.letters
    if monitor.interval_s <= 0:
        return
    broker = letters.broker
    try:
        while True:
            started = time.monotonic()
            try:
                if not broker.started:
                    await broker.start()
                view = await broker.view()
                relays = await relay_states(runtime.app.upstream)
                monitor.record(Sample(time.time(), view, relays))
                await letters.refresh(dlq_ends(view, letters.topics))
                async with runtime.pool.acquire() as conn:
                    monitor.set_dlq_depth(await letters.depth(conn))
            except (OSError, KafkaError, asyncpg.PostgresError) as error:
                log.warning("streams sampler: %r", error)
                monitor.failed(f"{type(error).__name__}: {error}")
                await broker.close()  # started afresh next time (the broker may have restarted)
            await asyncio.sleep(max(monitor.interval_s - (time.monotonic() - started), 0.1))
    finally:
        await broker.close()


def dlq_ends(view: BrokerView, topics: Iterable[str]) -> dict[str, int]:
    """Each DLQ's end offset (summed over its partitions), by original topic."""
    return {
        topic: sum(end for tp, end in view.ends.items() if tp.topic == dlq(topic))
        for topic in topics
    }
