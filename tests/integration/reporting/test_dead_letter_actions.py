"""What operators did with dead letters is not a read model: neither a rebuild of every model
nor a model whose shape changed at start (store.prepare_models) loses it."""

from __future__ import annotations

import uuid

import pytest

from services.reporting import operations, store
from services.reporting.settings import SOURCES
from shared.db import apply_schema, create_pool, drop_database, ensure_database, with_database
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from tests.integration.cli import run_cli

pytestmark = pytest.mark.integration


async def test_a_rebuild_and_a_changed_model_keep_the_dead_letters_actions(
    pg_server_url: str,
) -> None:
    urls = {
        name: with_database(pg_server_url, f"t_{name}_{uuid.uuid4().hex[:8]}")
        for name in ("reporting", *SOURCES)
    }
    for url in urls.values():
        await ensure_database(url)
    pool = await create_pool(urls["reporting"])
    try:
        for source in SOURCES:
            source_pool = await create_pool(urls[source])
            await apply_schema(source_pool, EVENTSTORE_SCHEMA)
            await source_pool.close()
        await apply_schema(pool, EVENTSTORE_SCHEMA, operations.LETTERS_SCHEMA)
        await store.prepare_models(pool)
        async with pool.acquire() as conn:
            await operations.record_letter_actions(
                conn,
                "park",
                "榆山街道督办",
                "重复投递 duplicate",
                [("kafka:complaint.events.dlq:0:7", "complaint.events", "ComplaintFiled")],
            )

        env = {
            "REPORTING_DATABASE_URL": urls["reporting"],
            **{f"REPORTING_{s.upper()}_STORE_URL": urls[s] for s in SOURCES},
        }
        out = await run_cli(
            "services.reporting.cli", "replay", "rebuild", "--all", "--workers", "1", env=env
        )
        assert "重建完成" in out, out
        async with pool.acquire() as conn:  # every model's shape "changed": all dropped
            await conn.execute("UPDATE read_models SET version = version - 1")
        assert await store.prepare_models(pool)

        async with pool.acquire() as conn:
            kept = await operations.letter_actions(conn, 10)
        assert [(a["letter_id"], a["action"], a["actor"], a["reason"]) for a in kept] == [
            ("kafka:complaint.events.dlq:0:7", "park", "榆山街道督办", "重复投递 duplicate")
        ]
    finally:
        await pool.close()
        for url in urls.values():
            await drop_database(url)
