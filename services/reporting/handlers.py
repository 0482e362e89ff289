"""Reporting's live consumer: each event's commuting upserts, in the inbox's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.reporting.projections import MODELS, project
from services.reporting.upsert import Upsert
from shared.consumer import Handler, HandlerContext
from shared.db import Connection
from shared.events import Event


async def apply(conn: Connection, writes: Iterable[Upsert]) -> None:
    for write in writes:
        await conn.execute(write.sql, *write.args)


async def handle(event: Any, ctx: HandlerContext) -> None:
    await apply(ctx.conn, project(ctx.envelope))


HANDLERS: dict[type[Event], Handler] = {
    event_type: handle for model in MODELS.values() for event_type in model.projections
}
