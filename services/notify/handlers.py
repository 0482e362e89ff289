"""Notify's reactions: each event becomes delivery records, committed with the inbox row."""

from __future__ import annotations

from services.notify import domain, store
from shared.consumer import Handler, HandlerContext
from shared.events import ComplaintFiled, Event, WorkOrderIssued

WEBHOOK = "webhook"


async def send_receipt(event: ComplaintFiled, ctx: HandlerContext) -> None:
    await store.add_deliveries(ctx.conn, ctx.envelope, WEBHOOK, domain.receipt_for_resident(event))


async def send_work_order_notice(event: WorkOrderIssued, ctx: HandlerContext) -> None:
    await store.add_deliveries(ctx.conn, ctx.envelope, WEBHOOK, domain.notice_for_responder(event))


HANDLERS: dict[type[Event], Handler] = {
    ComplaintFiled: send_receipt,
    WorkOrderIssued: send_work_order_notice,
}
