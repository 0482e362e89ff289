"""Reporting entrypoint. Run: python -m services.reporting.main (HTTP on REPORTING_PORT, default 8004)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.reporting.api import router
from services.reporting.handlers import HANDLERS
from services.reporting.settings import ReportingSettings
from shared.runtime import ServiceRuntime, configure_logging, create_service_app
from shared.topics import EVENT_TOPICS

SCHEMA = Path(__file__).with_name("schema.sql")


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    runtime = ServiceRuntime(
        settings, schema=[SCHEMA], consumes=list(EVENT_TOPICS), handlers=HANDLERS
    )
    return create_service_app(
        runtime,
        title="Jiesu 接诉 · 统计与公开 Reporting",
        description="由事件流构建读模型。Read models built from the event streams.",
        routers=[router],
    )


def main() -> None:
    settings = ReportingSettings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
