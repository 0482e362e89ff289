"""Reporting's live consumer: a batch's commuting upserts, merged per row and grouped by
statement (store.group), in the inbox's transaction: one multi-row statement per shape, as the
rebuild writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.reporting.projections import MODELS, Model, project
from services.reporting.store import Grouped, board_changed, group, touches_board, write
from shared.consumer import BatchContext, Handler, HandlerContext, Prepare
from shared.db import Connection
from shared.envelope import Envelope
from shared.events import Event, ResidentErased
from shared.sealing import Keyring, is_sealed, open_envelopes


async def project_all(
    conn: Connection, envelopes: Sequence[Envelope], models: Mapping[str, Model] = MODELS
) -> Grouped:
    grouped: Grouped = {}
    for envelope in envelopes:
        group(project(envelope, models), grouped)
    await write(conn, grouped)
    return grouped


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
    """The live consumer's handler, on envelopes `opener` has opened. A batch that wrote what
    the board shows wakes the board's live pages (one NOTIFY per batch, sent at its commit)."""
    if touches_board(await project_all(ctx.conn, envelopes)):
        await board_changed(ctx.conn)


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
