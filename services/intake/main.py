"""Intake entrypoint. Run: python -m services.intake.main (HTTP on INTAKE_PORT, default 8001)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from services.intake import auth, store
from services.intake.adapters import open311, wechat
from services.intake.api import routers, schemas
from services.intake.app import Intake, IntakeRuntime, catalogue_classifier
from services.intake.handlers import HANDLERS, mirror_batch
from services.intake.settings import IntakeSettings
from services.intake.workers import run_triage_clock
from shared.http import problem_refusal
from shared.runtime import ServiceRuntime, configure_logging, create_service_app, serve
from shared.topics import CONSUMES, PUBLISHES

SCHEMA = Path(__file__).with_name("schema.sql")


def refuse(scope: Any, status: int, detail: str) -> Response:
    """Open311's error array on Open311's paths, problem+json elsewhere."""
    path: str = scope["path"]
    if path.startswith(open311.router.prefix + "/"):
        return open311.error_response("json" if path.endswith(".json") else "xml", status, detail)
    return problem_refusal(scope, status, detail)


async def create_dev_keys(runtime: IntakeRuntime) -> None:
    """Fixed keys for local use only (the settings refuse them in production)."""
    settings = runtime.settings
    if settings.dev_keys:
        async with runtime.pool.acquire() as conn:
            await auth.create_dev_keys(conn, settings.dev_key_rate_per_minute)


async def warm_classifier(runtime: IntakeRuntime) -> None:
    """Train before the first complaint arrives, not while it waits."""
    intake = runtime.app
    async with runtime.pool.acquire() as conn:
        catalogue = await intake.catalogues.current(conn)
    if catalogue is not None:
        await asyncio.to_thread(catalogue_classifier, catalogue)


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime: IntakeRuntime = ServiceRuntime(
        settings,
        keys=auth.KEYS.ring(),
        schema=[SCHEMA],
        publishes=PUBLISHES["intake"],
        consumes=CONSUMES["intake"],
        handlers=HANDLERS,
        batch_handler=mirror_batch,
        on_start=[create_dev_keys, warm_classifier],
        workers={"triage_clock": run_triage_clock},
        store=store.OpeningEventStore(f"/jiesu/{settings.service_name}", settings.master_keys),
    )
    runtime.app = Intake(
        settings,
        store.CatalogueCache(),
        runtime.store,
        lambda: runtime.pool,
        shown=schemas.complaint_view,
    )
    app = create_service_app(
        runtime,
        title="Jiesu 接诉 · 诉求受理 Intake",
        description="受理各渠道诉求，分类、查重、保护个人信息，发布诉求事件；兼容 Open311 GeoReport v2。"
        " Takes in residents' demands, classifies them, finds duplicates, protects personal data,"
        " and publishes complaint events; speaks Open311 GeoReport v2.",
        routers=[*routers, wechat.router, open311.router],
        refuse=refuse,
    )
    return app


def main() -> None:
    settings = IntakeSettings()
    configure_logging(settings)
    serve(create_app(settings))


if __name__ == "__main__":
    main()
