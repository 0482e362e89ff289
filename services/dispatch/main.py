"""Dispatch entrypoint. Run: python -m services.dispatch.main (HTTP on DISPATCH_PORT, default 8002)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI

from services.dispatch import auth, store
from services.dispatch.api import routers
from services.dispatch.app import Dispatch, DispatchRuntime
from services.dispatch.handlers import build_batch_handler, build_handlers
from services.dispatch.settings import DispatchSettings
from services.dispatch.workers import run_timers
from shared.runtime import ServiceRuntime, configure_logging, create_service_app, serve
from shared.topics import CONSUMES, PUBLISHES

log = logging.getLogger(__name__)
SCHEMA = Path(__file__).with_name("schema.sql")
PACKAGED_CALENDARS = sorted(Path(__file__).with_name("data").glob("calendar-*.yaml"))


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()

    async def load_packaged_calendars(runtime: DispatchRuntime) -> None:
        """The holiday schedules shipped with the code, for years nobody has loaded yet."""
        if settings.packaged_calendars:
            async with runtime.pool.acquire() as conn, conn.transaction():
                await dispatch.load_missing_calendars(conn, PACKAGED_CALENDARS)

    async def record_city_baseline(runtime: DispatchRuntime) -> None:
        """A city model loaded by an earlier release gets its items recorded as events once."""
        async with runtime.pool.acquire() as conn, conn.transaction():
            if await dispatch.record_baseline(conn):
                log.info("recorded the city model loaded earlier, item by item")

    async def create_dev_keys(runtime: DispatchRuntime) -> None:
        """Fixed keys for local use only (the settings refuse them in production)."""
        if settings.dev_keys:
            async with runtime.pool.acquire() as conn:
                model = await dispatch.city.current(conn)
                await auth.create_dev_keys(conn, model, settings.dev_key_rate_per_minute)

    runtime: DispatchRuntime = ServiceRuntime(
        settings,
        keys=auth.KEYS.ring(),
        schema=[SCHEMA],
        publishes=PUBLISHES["dispatch"],
        consumes=CONSUMES["dispatch"],
        on_start=[load_packaged_calendars, record_city_baseline, create_dev_keys],
        workers={"timers": lambda runtime: run_timers(runtime, settings)}
        if settings.run_timers
        else {},
    )
    dispatch = Dispatch(runtime.store, store.CityModelCache(), store.CalendarCache())
    runtime.handlers = build_handlers(dispatch)
    runtime.batch_handler = build_batch_handler(dispatch)
    runtime.app = dispatch
    return create_service_app(
        runtime,
        title="Jiesu 接诉 · 派单 Dispatch",
        description=(
            "按派单目录把诉求派给承办单位，限时签收、联系、办理、反馈；退单改派或街道裁定，超期逐级升级，"
            "吹哨报到，社区议事。 Routes complaints to the units that must act and follows their work "
            "orders under time limits: returns, arbitration, escalation, the whistle and deliberation."
        ),
        routers=routers,
    )


def main() -> None:
    settings = DispatchSettings()
    configure_logging(settings)
    serve(create_app(settings))


if __name__ == "__main__":
    main()
