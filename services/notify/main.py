"""Notify entrypoint. Run: python -m services.notify.main (HTTP on NOTIFY_PORT, default 8003)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.notify.api import router
from services.notify.delivery import run_deliveries
from services.notify.handlers import HANDLERS
from services.notify.settings import NotifySettings
from shared.runtime import ServiceRuntime, configure_logging, create_service_app
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS, NOTIFICATION_EVENTS

SCHEMA = Path(__file__).with_name("schema.sql")


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    runtime = ServiceRuntime(
        settings,
        schema=[SCHEMA],
        publishes=NOTIFICATION_EVENTS,
        consumes=[COMPLAINT_EVENTS, DISPATCH_EVENTS],
        handlers=HANDLERS,
        workers={"deliveries": run_deliveries},
    )
    return create_service_app(
        runtime,
        title="Jiesu 接诉 · 通知 Notify",
        description="向居民、承办单位和订阅方推送进展。Pushes status updates to residents, responders and subscribers.",
        routers=[router],
    )


def main() -> None:
    settings = NotifySettings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
