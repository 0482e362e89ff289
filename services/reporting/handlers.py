"""Reporting's projections: one small block per event, each also adding the event to the timeline."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.reporting import domain, store
from shared.consumer import Handler, HandlerContext
from shared.events import (
    REGISTRY,
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintDispatched,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintReclassified,
    ComplaintRedoRequested,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    DuplicateDismissed,
    DuplicateSuspected,
    Event,
    NotificationDelivered,
    NotificationFailed,
    WorkOrderIssued,
)


async def _timeline(ctx: HandlerContext, complaint_id: UUID, summary: str) -> None:
    envelope = ctx.envelope
    await store.add_timeline(
        ctx.conn, envelope.id, complaint_id, envelope.type, envelope.time, envelope.source, summary
    )


async def project_filed(event: ComplaintFiled, ctx: HandlerContext) -> None:
    await store.record_filed(ctx.conn, event)
    await _timeline(ctx, event.complaint_id, domain.summarise_filed(event))


async def project_work_order(event: WorkOrderIssued, ctx: HandlerContext) -> None:
    await store.record_work_order(ctx.conn, event)
    await _timeline(ctx, event.complaint_id, domain.summarise_issued(event))


async def project_delivered(event: NotificationDelivered, ctx: HandlerContext) -> None:
    await store.record_notification(ctx.conn, event)
    await _timeline(ctx, event.complaint_id, domain.summarise_delivered(event))


async def project_failed(event: NotificationFailed, ctx: HandlerContext) -> None:
    await store.record_notification(ctx.conn, event)
    await _timeline(ctx, event.complaint_id, domain.summarise_failed(event))


async def project_dispatch_step(event: Any, ctx: HandlerContext) -> None:
    await _timeline(ctx, event.complaint_id, domain.summarise_dispatch(event))


async def project_lifecycle(event: Any, ctx: HandlerContext) -> None:
    summary = domain.summarise_lifecycle(event.event_type, event.status.value)
    await _timeline(ctx, event.complaint_id, summary)


LIFECYCLE: tuple[type[Event], ...] = (
    ComplaintClassified,
    ComplaintReclassified,
    ComplaintAnswered,
    DuplicateSuspected,
    DuplicateDismissed,
    ComplaintMerged,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    ComplaintDispatched,
    ComplaintSigned,
    ComplaintResolved,
    ComplaintCallbackRecorded,
    ComplaintRedoRequested,
    ComplaintClosed,
)

HANDLERS: dict[type[Event], Handler] = {
    **dict.fromkeys(LIFECYCLE, project_lifecycle),
    **{REGISTRY[name]: project_dispatch_step for name in domain.DISPATCH_LABELS},
    ComplaintFiled: project_filed,
    WorkOrderIssued: project_work_order,
    NotificationDelivered: project_delivered,
    NotificationFailed: project_failed,
}
