"""Dispatch entrypoint. Run: python -m services.dispatch.main (HTTP on DISPATCH_PORT, default 8002)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.dispatch.api import router
from services.dispatch.handlers import build_handlers
from services.dispatch.settings import DispatchSettings
from services.dispatch.store import CityModelCache
from shared.runtime import ServiceRuntime, configure_logging, create_service_app
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS

SCHEMA = Path(__file__).with_name("schema.sql")


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()
    city = CityModelCache()
    runtime = ServiceRuntime(
        settings,
        schema=[SCHEMA],
        publishes=DISPATCH_EVENTS,
        consumes=[COMPLAINT_EVENTS],
        handlers=build_handlers(city),
    )
    runtime.state["city"] = city
    return create_service_app(
        runtime,
        title="Jiesu 接诉 · 派单 Dispatch",
        description="按派单目录把诉求派给承办单位。Routes complaints to the units that must act.",
        routers=[router],
    )


def main() -> None:
    settings = DispatchSettings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
