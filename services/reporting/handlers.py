"""Reporting's live consumer: a batch's commuting upserts, merged per row and grouped by
statement, in the inbox's transaction: one multi-row statement per shape, as the rebuild
writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.reporting.projections import MODELS, Model, project
from services.reporting.upsert import JSON_TYPES, Layout, Upsert, place
from shared.consumer import BatchContext, Handler, HandlerContext, Prepare
from shared.db import Connection
from shared.envelope import Envelope
from shared.events import Event, ResidentErased
from shared.sealing import Keyring, is_sealed, open_envelopes

# Rows by layout (a table's, see upsert.Layout), then by key: each row's values, all of its
# upserts merged into them.
Grouped = dict[Layout, dict[tuple[Any, ...], list[Any]]]


def group(writes: Iterable[Upsert], into: Grouped | None = None) -> Grouped:
    """Writes by table and row. The upserts commute, so one merged row per key, and the rows
    of a table written together in any order, give the rows that running them one by one
    would."""
    grouped: Grouped = {} if into is None else into
    for write in writes:
        shape, values = write.row()
        where = place(shape)
        rows = grouped.get(where.layout)
        if rows is None:
            rows = grouped[where.layout] = {}
        key = tuple(values[: len(write.key)])
        earlier = rows.get(key)
        if earlier is None:
            rows[key] = where.row(values)
        else:
            where.merge(earlier, values)
    return grouped


# Column types by table (the same in the live tables and a rebuild's), read once.
_TYPES: dict[str, dict[str, str]] = {}


async def column_types(conn: Connection, table: str, columns: Iterable[str]) -> dict[str, str]:
    known = _TYPES.get(table, {})
    if not all(column in known for column in columns):  # first use, or a column added since
        rows = await conn.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) AS type, atthasdef "
            "FROM pg_attribute "
            "WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
            table,
        )
        # A layout's row writes NULL into a column its upserts leave out: one with a default
        # would lose it (every column an upsert writes is nullable, without a default).
        if defaulted := {row["attname"] for row in rows if row["atthasdef"]} & set(columns):
            raise ValueError(f"{table}: upserts write {sorted(defaulted)}, which have defaults")
        known = _TYPES[table] = {row["attname"]: row["type"] for row in rows}
    return known


async def write(conn: Connection, grouped: Grouped) -> None:
    for layout, rows in grouped.items():
        if not rows:
            continue
        types = await column_types(conn, layout.table, layout.columns)
        full = layout.full(rows.values())
        _, order = layout.canonical()
        if len(full) == 1:
            await conn.execute(layout.sql(), *(full[0][i] for i in order))
            continue
        columns = list(zip(*full, strict=True))
        names = [layout.columns[i] for i in order]
        arrays = [
            [None if v is None else json.dumps(v, ensure_ascii=False) for v in columns[i]]
            if types[name] in JSON_TYPES
            else columns[i]
            for name, i in zip(names, order, strict=True)
        ]
        await conn.execute(layout.sql([types[name] for name in names]), *arrays)


async def apply(conn: Connection, writes: Iterable[Upsert]) -> None:
    await write(conn, group(writes))


async def project_all(
    conn: Connection, envelopes: Sequence[Envelope], models: Mapping[str, Model] = MODELS
) -> None:
    grouped: Grouped = {}
    for envelope in envelopes:
        group(project(envelope, models), grouped)
    await write(conn, grouped)


def opener(keyring: Keyring) -> Prepare:
    """What the live consumer does before it takes a connection: a batch's sealed filings
    opened, their keys fetched from intake in one request (a resident's erasure first forgets
    theirs). Intake out of reach fails the batch, which the consumer fetches again: nothing is
    projected from an unopened filing, and no connection waits on intake."""

    async def open_batch(envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        for envelope in envelopes:
            if isinstance(envelope.event, ResidentErased):
                keyring.forget(envelope.event.resident_ref)
        return await open_envelopes(envelopes, keyring)

    return open_batch


async def handle_batch(envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
    """The live consumer's handler, on envelopes `opener` has opened."""
    await project_all(ctx.conn, envelopes)


async def handle(event: Any, ctx: HandlerContext) -> None:
    """One event, for a consumer without the batch handler (tests compare against it). It has
    no keyring: a sealed filing is refused rather than projected unopened."""
    if is_sealed(event):
        raise SealedWithoutKeys(f"a sealed {event.event_type} needs opener(keyring) before it")
    await project_all(ctx.conn, [ctx.envelope])


class SealedWithoutKeys(RuntimeError):
    pass


HANDLERS: dict[type[Event], Handler] = {
    **{event_type: handle for model in MODELS.values() for event_type in model.projections},
    ResidentErased: handle,  # its key is forgotten
}
