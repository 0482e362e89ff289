"""Reporting entrypoint. Run: python -m services.reporting.main (HTTP on REPORTING_PORT, default 8004)."""

from __future__ import annotations

from fastapi import FastAPI

from services.reporting import auth, operations, store, web
from services.reporting.adapters.broker import Broker
from services.reporting.adapters.upstream import Upstream
from services.reporting.api import routers
from services.reporting.app import Reporting, ReportingRuntime
from services.reporting.handlers import HANDLERS, handle_batch, opener
from services.reporting.letters import DeadLetterBox
from services.reporting.measures import load_config
from services.reporting.settings import ReportingSettings
from services.reporting.streams import Monitor
from services.reporting.workers import backfill, check_consistency, sample_streams
from shared.runtime import ServiceRuntime, configure_logging, create_service_app, serve
from shared.sealing import Keyring
from shared.topics import CONSUMES, consumer_groups


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    keyring = Keyring(settings.intake_keys(), most=settings.intake_keys_cached)

    async def prepare_models(runtime: ReportingRuntime) -> None:
        # A model whose shape changed starts empty and is filled in the background (backfill).
        runtime.app.backfill = await store.prepare_models(runtime.pool)

    async def create_dev_keys(runtime: ReportingRuntime) -> None:
        """Fixed keys for local use only (the settings refuse them in production)."""
        if settings.dev_keys:
            async with runtime.pool.acquire() as conn:
                await auth.create_dev_keys(conn, settings.dev_key_rate_per_minute)

    async def close_upstream(runtime: ReportingRuntime) -> None:
        """The console's connections to the other services."""
        await runtime.app.upstream.close()

    runtime: ReportingRuntime = ServiceRuntime(
        settings,
        keys=auth.KEYS.ring(),
        schema=[auth.SCHEMA, operations.LETTERS_SCHEMA],
        consumes=CONSUMES["reporting"],
        handlers=HANDLERS,
        batch_handler=handle_batch,
        prepare=opener(keyring),
        on_start=[prepare_models, create_dev_keys],
        on_stop=[close_upstream],
        workers={
            "backfill": lambda runtime: backfill(settings, runtime.app.backfill),
            "consistency": lambda runtime: check_consistency(settings),
            "streams": sample_streams,
            "board-feed": lambda runtime: runtime.app.board_feed.run(settings.database_url),
        },
        # Everything in reporting's database but its keys and the operators' actions on dead
        # letters can be rebuilt from the stores (python -m services.reporting.cli replay
        # rebuild); keys are issued by a command of their own, which waits for the disk as usual.
        rebuildable=True,
    )
    upstream = Upstream(settings.upstreams())
    runtime.app = Reporting(
        measures=load_config(settings.measures_file),
        upstream=upstream,
        streams=Monitor(
            settings.streams_interval_s, settings.streams_history_s, settings.streams_alarm_after_s
        ),
        letters=DeadLetterBox(
            Broker(settings.kafka_bootstrap_servers, wiring=consumer_groups()), upstream
        ),
    )
    app = create_service_app(
        runtime,
        title="Jiesu 接诉 · 统计与公开 Reporting",
        description=(
            "由事件流构建的读模型：督办墙、案件、统计指标、月度排名、热点与未诉先办、议事清单。"
            "Read models built from the event streams: the public board, cases, measures, "
            "monthly rankings, hot spots and proactive governance, deliberation agendas."
        ),
        routers=[*routers, *web.routers],
    )
    web.mount_static(app)
    app.add_exception_handler(web.session.LoginNeeded, web.session.login_needed)
    return app


def main() -> None:
    settings = ReportingSettings()
    configure_logging(settings)
    serve(create_app(settings))


if __name__ == "__main__":
    main()
