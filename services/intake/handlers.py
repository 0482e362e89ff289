"""Intake's reactions to dispatch's facts: the complaint's status mirrors its lead work order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.intake import domain, service, store
from shared.consumer import Handler, HandlerContext
from shared.events import CaseResolved, Event, WorkOrderIssued, WorkOrderSigned


def _mirror(decide: Callable[[domain.Complaint, Any], list[Event]]) -> Handler:
    async def mirror(event: Any, ctx: HandlerContext) -> None:
        state = await store.load(ctx.conn, ctx.store, event.complaint_id)
        if state is None:
            return  # not a complaint of ours (another intake's, or a test's): nothing to mirror
        await service.save(ctx.conn, ctx.store, state, decide(state, event), ctx.envelope.follow())

    mirror.__name__ = f"mirror_{decide.__name__}"
    return mirror


HANDLERS: dict[type[Event], Handler] = {
    WorkOrderIssued: _mirror(domain.mirror_issued),
    WorkOrderSigned: _mirror(domain.mirror_signed),
    CaseResolved: _mirror(domain.mirror_resolved),
}
