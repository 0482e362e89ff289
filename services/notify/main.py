"""Notify entrypoint. Run: python -m services.notify.main (HTTP on NOTIFY_PORT, default 8003)."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import FastAPI

from services.notify import auth
from services.notify.api import routers
from services.notify.app import Handoff, Notify, NotifyRuntime
from services.notify.handlers import HANDLERS, on_batch
from services.notify.live import LiveFeed
from services.notify.replays import run_replays
from services.notify.settings import NotifySettings
from services.notify.workers import run_deliveries, run_live_feed, sample_backlog
from shared.runtime import ServiceRuntime, configure_logging, create_service_app, serve
from shared.topics import CONSUMES, PUBLISHES

SCHEMA = Path(__file__).with_name("schema.sql")


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    handoff = Handoff(room=4 * settings.channel_concurrency, lease_s=settings.delivery_lease_s)
    feed = LiveFeed(queue_size=settings.live_queue_size)

    async def create_dev_keys(runtime: NotifyRuntime) -> None:
        """Fixed keys for local use only (the settings refuse them in production)."""
        if settings.dev_keys:
            async with runtime.pool.acquire() as conn:
                await auth.create_dev_keys(conn, settings.dev_key_rate_per_minute)

    runtime: NotifyRuntime = ServiceRuntime(
        settings,
        keys=auth.KEYS.ring(),
        schema=[SCHEMA],
        publishes=PUBLISHES["notify"],
        consumes=CONSUMES["notify"],
        handlers=HANDLERS,
        batch_handler=functools.partial(on_batch, handoff=handoff),
        workers={
            "deliveries": lambda runtime: run_deliveries(runtime, settings, handoff),
            "replays": lambda runtime: run_replays(runtime, settings),
            "live": lambda runtime: run_live_feed(
                feed, runtime.pool, settings.database_url, settings.live_poll_interval_s
            ),
        },
        on_start=[create_dev_keys],
        samplers=[sample_backlog],
    )
    runtime.app = Notify(handoff, feed)
    return create_service_app(
        runtime,
        title="Jiesu 接诉 · 通知 Notify",
        description=(
            "向居民、承办单位、督办和订阅方推送进展：短信、微信模板消息、邮件、Webhook 与实时流。"
            " Pushes status updates to residents, units, supervisors and subscribers: SMS,"
            " WeChat template messages, email, Standard Webhooks and a live SSE stream."
        ),
        routers=routers,
        asyncapi={"/asyncapi": "notify", "/asyncapi/webhooks": "webhooks"},
    )


def main() -> None:
    settings = NotifySettings()
    configure_logging(settings)
    serve(create_app(settings))


if __name__ == "__main__":
    main()
