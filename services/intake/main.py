"""Intake entrypoint. Run: python -m services.intake.main (HTTP on INTAKE_PORT, default 8001)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.intake.api import router
from services.intake.settings import IntakeSettings
from shared.runtime import ServiceRuntime, configure_logging, create_service_app
from shared.topics import COMPLAINT_EVENTS

SCHEMA = Path(__file__).with_name("schema.sql")


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(settings, schema=[SCHEMA], publishes=COMPLAINT_EVENTS)
    return create_service_app(
        runtime,
        title="Jiesu 接诉 · 诉求受理 Intake",
        description="受理各渠道诉求，发布诉求事件。Takes in residents' demands and publishes complaint events.",
        routers=[router],
    )


def main() -> None:
    settings = IntakeSettings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
