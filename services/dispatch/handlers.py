"""Dispatch's reactions to complaint events; one dict routes each event type to its handler."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial

from services.dispatch import domain, store
from shared.consumer import Handler, HandlerContext
from shared.events import (
    ComplaintClassified,
    ComplaintReclassified,
    ComplaintRedoRequested,
    ComplaintStatus,
    Event,
    ResponderRole,
    WorkOrderIssued,
)


class NoCityModel(RuntimeError):
    """No city model is loaded yet: the complaint waits (retries, then the DLQ for a redrive)."""


async def issue_work_orders(
    event: ComplaintClassified | ComplaintReclassified,
    ctx: HandlerContext,
    *,
    city: store.CityModelCache,
) -> None:
    """First dispatch, once intake has a classification nobody needs to look at again."""
    # Intake holds back what a person must look at first (low confidence, consultations);
    # re-routing a complaint that already has work orders is a later step of dispatch.
    if event.status is not ComplaintStatus.CLASSIFIED:
        return
    if await store.work_orders_of(ctx.conn, event.complaint_id):
        return
    await _route(ctx, city, event.complaint_id, event.category, event.area_code)


async def reissue_work_orders(
    event: ComplaintRedoRequested, ctx: HandlerContext, *, city: store.CityModelCache
) -> None:
    """重办: the resident was not satisfied, so the demand is routed and handled again."""
    await _route(ctx, city, event.complaint_id, event.category, event.area_code)


async def _route(
    ctx: HandlerContext,
    city: store.CityModelCache,
    complaint_id: uuid.UUID,
    category: str | None,
    area_code: str,
) -> None:
    model = await city.current(ctx.conn)
    if model is None:
        raise NoCityModel("no city model loaded: PUT /admin/city first")
    decision = domain.route(model, category, area_code)
    issued_at = datetime.now(UTC)
    assignments = [(ResponderRole.LEAD, decision.lead)]
    assignments += [(ResponderRole.CO, unit) for unit in decision.co]
    for role, responder in assignments:
        order = WorkOrderIssued(
            work_order_id=uuid.uuid4(),
            complaint_id=complaint_id,
            responder_id=responder.id,
            responder_name=responder.name,
            responder_kind=responder.kind.value,
            role=role,
            category=category,
            area_code=area_code,
            rule_id=decision.rule_id,
            catalogue_version=model.version,
            reason=decision.reason,
            priority=decision.priority.value,
            due_at=decision.due_at(issued_at),
            issued_at=issued_at,
        )
        await ctx.append(f"workorder-{order.work_order_id}", [order], 0)
        await store.insert_work_order(ctx.conn, order)


def build_handlers(city: store.CityModelCache) -> dict[type[Event], Handler]:
    first = partial(issue_work_orders, city=city)
    return {
        ComplaintClassified: first,
        ComplaintReclassified: first,
        ComplaintRedoRequested: partial(reissue_work_orders, city=city),
    }
