"""Reporting entrypoint. Run: python -m services.reporting.main (HTTP on REPORTING_PORT, default 8004)."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.reporting import auth
from services.reporting.api import routers
from services.reporting.handlers import HANDLERS, handle_batch, opener
from services.reporting.measures import load_config
from services.reporting.projections import MODELS, SCHEMA_DIR
from services.reporting.settings import ReportingSettings
from services.reporting.workers import backfill, check_consistency
from shared.apikeys import RateLimiter
from shared.db import SCHEMA_LOCK, apply_schema
from shared.runtime import ServiceRuntime, configure_logging, create_service_app, serve
from shared.sealing import Keyring
from shared.topics import EVENT_TOPICS

log = logging.getLogger(__name__)


async def prepare_models(runtime: ServiceRuntime) -> None:
    """Create the read models; a model whose shape changed since it was built starts empty and
    is rebuilt from the event stores in the background (`backfill`)."""
    await apply_schema(runtime.pool, SCHEMA_DIR / "models.sql")
    async with runtime.pool.acquire() as conn, conn.transaction():
        # Two workers starting at once: one decides, the other then finds the versions current.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        built = {
            r["name"]: r["version"]
            for r in await conn.fetch("SELECT name, version FROM read_models")
        }
        stale = [m for m in MODELS.values() if built.get(m.name) != m.version]
        had_rows: list[str] = []  # models whose tables this database already held
        for model in stale:
            for table in model.tables:
                if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                    if model.name not in had_rows:
                        had_rows.append(model.name)
                    await conn.execute(f"DROP TABLE {table} CASCADE")
            await conn.execute(
                "INSERT INTO read_models (name, version) VALUES ($1, $2) "
                "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, rebuilt_at = NULL",
                model.name,
                model.version,
            )
    await apply_schema(runtime.pool, *(model.schema for model in MODELS.values()))
    # A database that held read models (of any shape) is not new: every model that changed is
    # filled from the stores. A new database fills from the bus as events come.
    runtime.state["backfill"] = [m.name for m in stale] if had_rows else []
    runtime.state["measures"] = load_config(runtime.settings.measures_file)  # type: ignore[attr-defined]


async def create_dev_keys(runtime: ServiceRuntime) -> None:
    """Fixed keys for local use only (the settings refuse them in production)."""
    settings: ReportingSettings = runtime.settings  # type: ignore[assignment]
    if settings.dev_keys:
        async with runtime.pool.acquire() as conn:
            await auth.create_dev_keys(conn, settings.dev_key_rate_per_minute)


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    keyring = Keyring(settings.intake_keys(), most=settings.intake_keys_cached)
    runtime = ServiceRuntime(
        settings,
        schema=[auth.SCHEMA],
        consumes=list(EVENT_TOPICS),
        handlers=HANDLERS,
        batch_handler=handle_batch,
        prepare=opener(keyring),
        on_start=[prepare_models, create_dev_keys],
        workers={
            "backfill": lambda runtime: backfill(settings, runtime.state["backfill"]),
            "consistency": lambda runtime: check_consistency(settings),
        },
        # Everything in reporting's database but its keys can be rebuilt from the stores
        # (python -m services.reporting.cli replay rebuild); keys are issued by a command of
        # their own, which waits for the disk as usual.
        rebuildable=True,
    )
    runtime.state["keys"] = auth.key_ring()
    runtime.state["limiter"] = RateLimiter.from_uri(settings.rate_limit_storage)
    app = create_service_app(
        runtime,
        title="Jiesu 接诉 · 统计与公开 Reporting",
        description=(
            "由事件流构建的读模型：督办墙、案件、统计指标、月度排名、热点与未诉先办、议事清单。"
            "Read models built from the event streams: the public board, cases, measures, "
            "monthly rankings, hot spots and proactive governance, deliberation agendas."
        ),
        routers=routers,
    )
    return app


def main() -> None:
    settings = ReportingSettings()
    configure_logging(settings.log_level)
    serve(create_app(settings))


if __name__ == "__main__":
    main()
