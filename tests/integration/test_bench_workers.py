"""The workers bench's pieces at a tiny size, so that a broken bench fails `make test`: a
backlog produced onto a fresh broker, a worker process of reporting on a copy of a template
database, drained until its group's lag is 0."""

from __future__ import annotations

import zlib
from pathlib import Path

from shared.db import apply_schema, create_pool, drop_database
from shared.eventstore import SCHEMA, EventStore
from shared.topics import EVENT_PARTITIONS
from tests.bench.backlog import Record
from tests.bench.worker_group import template_database
from tests.bench.workers import drain_run
from tests.support import histories


async def history_records(url: str, complaints: int) -> list[Record]:
    """Generated histories as the relays would publish them (keyed by complaint)."""
    history = histories.generate(complaints, seed=18, days=2)
    records = []
    for store in histories.STORES:
        pool = await create_pool(url, max_size=1)
        await apply_schema(pool, SCHEMA)
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE events")
        await pool.close()
        await histories.copy_store(url, history, store)
        pool = await create_pool(url, max_size=1)
        async with pool.acquire() as conn:
            stored = await EventStore("/t").read_all(conn, 0, limit=100_000)
        await pool.close()
        for event in stored:
            message = event.to_kafka()
            partition = zlib.crc32(message.key or b"") % EVENT_PARTITIONS
            records.append(
                Record(
                    histories.TOPIC_OF[store],
                    partition,
                    message.key,
                    message.value,
                    tuple(message.headers),
                )
            )
    return records


async def test_one_reporting_worker_drains_a_tiny_backlog(
    pg_server_url: str, database_url: str, tmp_path: Path
) -> None:
    records = await history_records(database_url, complaints=4)
    stores = {f"REPORTING_{s.upper()}_STORE_URL": database_url for s in histories.STORES}
    template = await template_database("reporting", pg_server_url, tmp_path, stores, "")
    try:
        run = await drain_run(
            "reporting", 1, template, records, tmp_path, stores, complaints=4, settle_s=1.0
        )
    finally:
        await drop_database(template)
    assert run["records"] == len(records)
    assert 0 < run["handled"] <= len(records)
    assert run["events_per_s"] > 0 and run["worker_cpu_ms_per_event"] > 0
