"""Reporting's live consumer: a batch's commuting upserts, grouped by statement, in the inbox's
transaction: one pipelined `executemany` per statement, as the rebuild writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.reporting.projections import MODELS, Model, project
from services.reporting.upsert import Upsert
from shared.consumer import BatchContext, Handler, HandlerContext
from shared.db import Connection
from shared.envelope import Envelope
from shared.events import Event

Grouped = dict[str, list[tuple[Any, ...]]]


def group(writes: Iterable[Upsert], into: Grouped | None = None) -> Grouped:
    """Writes by statement. The upserts commute, so running each statement's rows together
    in any order gives the rows that running them one by one would."""
    grouped: Grouped = {} if into is None else into
    for write in writes:
        grouped.setdefault(write.sql, []).append(write.args)
    return grouped


async def write(conn: Connection, grouped: Mapping[str, list[tuple[Any, ...]]]) -> None:
    for sql, rows in grouped.items():
        if len(rows) == 1:
            await conn.execute(sql, *rows[0])
        else:
            await conn.executemany(sql, rows)


async def apply(conn: Connection, writes: Iterable[Upsert]) -> None:
    await write(conn, group(writes))


async def project_all(
    conn: Connection, envelopes: Sequence[Envelope], models: Mapping[str, Model] = MODELS
) -> None:
    grouped: Grouped = {}
    for envelope in envelopes:
        group(project(envelope, models), grouped)
    await write(conn, grouped)


async def handle_batch(envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
    await project_all(ctx.conn, envelopes)


async def handle(event: Any, ctx: HandlerContext) -> None:
    await project_all(ctx.conn, [ctx.envelope])


HANDLERS: dict[type[Event], Handler] = {
    event_type: handle for model in MODELS.values() for event_type in model.projections
}
