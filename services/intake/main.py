"""Intake entrypoint. Run: python -m services.intake.main (HTTP on INTAKE_PORT, default 8001)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake import access
from services.intake.api import router
from services.intake.catalogue import CatalogueCache
from services.intake.handlers import HANDLERS, mirror_batch
from services.intake.open311 import error_response as open311_error
from services.intake.open311 import router as open311_router
from services.intake.service import FilingDoor, Intake, catalogue_classifier
from services.intake.settings import IntakeSettings
from shared.apikeys import RateLimiter
from shared.events import Channel
from shared.http import RefuseNul, problem_response
from shared.runtime import ServiceRuntime, configure_logging, create_service_app
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS

SCHEMA = Path(__file__).with_name("schema.sql")


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, whether or not it declares its length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"请求体超过 {self.limit} 字节 Request body over {self.limit} bytes"
        path: str = scope["path"]
        response: Response
        if path.startswith(open311_router.prefix + "/"):  # Open311 clients read error arrays
            response = open311_error("json" if path.endswith(".json") else "xml", 413, detail)
        else:
            response = problem_response(413, detail)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


async def create_dev_keys(runtime: ServiceRuntime) -> None:
    """Fixed keys for local use only (the settings refuse them in production)."""
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    if not settings.dev_keys:
        return
    rate = settings.dev_key_rate_per_minute
    async with runtime.pool.acquire() as conn:
        for channel in Channel:
            await access.create_key(
                conn,
                name=f"dev {channel.value}",
                role=access.Role.CHANNEL,
                channel=channel,
                rate_per_minute=rate,
                secret=f"dev-key-{channel.value}",
            )
        for role in (access.Role.STAFF, access.Role.ADMIN):
            await access.create_key(
                conn,
                name=f"dev {role.value}",
                role=role,
                channel=None,
                rate_per_minute=rate,
                secret=f"dev-key-{role.value}",
            )


async def warm_classifier(runtime: ServiceRuntime) -> None:
    """Train before the first complaint arrives, not while it waits."""
    intake: Intake = runtime.state["intake"]
    async with runtime.pool.acquire() as conn:
        catalogue = await intake.catalogues.current(conn)
    if catalogue is not None:
        await asyncio.to_thread(catalogue_classifier, catalogue)


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(
        settings,
        schema=[SCHEMA],
        publishes=COMPLAINT_EVENTS,
        consumes=[DISPATCH_EVENTS],
        handlers=HANDLERS,
        batch_handler=mirror_batch,
        on_start=[create_dev_keys, warm_classifier],
    )
    catalogues = CatalogueCache()
    intake = Intake(settings, catalogues, runtime.store)
    runtime.state["intake"] = intake
    runtime.state["filing"] = FilingDoor(intake, lambda: runtime.pool)
    runtime.state["keys"] = access.key_ring()
    runtime.state["limiter"] = RateLimiter.from_uri(settings.rate_limit_storage)
    app = create_service_app(
        runtime,
        title="Jiesu 接诉 · 诉求受理 Intake",
        description="受理各渠道诉求，分类、查重、保护个人信息，发布诉求事件；兼容 Open311 GeoReport v2。"
        " Takes in residents' demands, classifies them, finds duplicates, protects personal data,"
        " and publishes complaint events; speaks Open311 GeoReport v2.",
        routers=[router, open311_router],
    )
    app.add_middleware(RefuseNul)  # (inside the body limit: it reads the whole body)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def main() -> None:
    settings = IntakeSettings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
