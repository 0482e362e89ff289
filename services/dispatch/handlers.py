"""Dispatch's reactions to complaint events; one dict routes each event type to its handler."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from services.dispatch import domain, orders, store
from services.dispatch.service import Dispatch, now
from shared.consumer import Handler, HandlerContext
from shared.events import (
    ComplaintClassified,
    ComplaintClosed,
    ComplaintMerged,
    ComplaintReclassified,
    ComplaintRedoRequested,
    ComplaintStatus,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    Event,
)

S = ComplaintStatus
# Statuses in which intake expects someone to be handling the complaint.
IN_HAND = frozenset({S.CLASSIFIED, S.DISPATCHED, S.SIGNED, S.REDO})

Decide = Callable[[domain.Case | None, domain.Rules], list[Event]]


async def _on_case(
    ctx: HandlerContext, dispatch: Dispatch, complaint_id: UUID, decide: Decide
) -> None:
    case, _ = await store.load_case(ctx.conn, dispatch.events, complaint_id)
    rules = await dispatch.rules(ctx.conn)  # NoCityModel: retried, then the DLQ for a redrive
    await dispatch.save_case(ctx.conn, case, decide(case, rules), ctx.envelope.follow())


def build_handlers(dispatch: Dispatch) -> dict[type[Event], Handler]:
    async def classified(event: ComplaintClassified, ctx: HandlerContext) -> None:
        # Intake holds back what a person must look at first (low confidence, consultations).
        if event.status is S.CLASSIFIED:
            await _on_case(
                ctx,
                dispatch,
                event.complaint_id,
                lambda case, rules: orders.first_dispatch(
                    case, event.complaint_id, event.category, event.area_code, rules, now()
                ),
            )

    async def reclassified(event: ComplaintReclassified, ctx: HandlerContext) -> None:
        """From triage it is the first dispatch; after dispatch, the case follows its new category."""
        if event.status in IN_HAND:
            await _on_case(
                ctx,
                dispatch,
                event.complaint_id,
                lambda case, rules: orders.reclassified(
                    case, event.complaint_id, event.category, event.area_code, rules, now()
                ),
            )

    async def redo(event: ComplaintRedoRequested, ctx: HandlerContext) -> None:
        await _on_case(
            ctx,
            dispatch,
            event.complaint_id,
            lambda case, rules: orders.redo(
                case, event.complaint_id, event.category, event.area_code, rules, now()
            ),
        )

    def stop(reason: Callable[[Event], str]) -> Handler:
        async def cancel(event: Event, ctx: HandlerContext) -> None:
            case, _ = await store.load_case(ctx.conn, dispatch.events, event.complaint_id)  # type: ignore[attr-defined]
            await dispatch.save_case(
                ctx.conn, case, orders.cancel(case, reason(event), now()), ctx.envelope.follow()
            )

        return cancel

    async def unmerged(event: ComplaintUnmerged, ctx: HandlerContext) -> None:
        """Its own again: routed anew if nobody holds it (its orders stopped at the merge)."""
        if event.status in IN_HAND:
            case, _ = await store.load_case(ctx.conn, dispatch.events, event.complaint_id)
            if case is None:
                return  # never routed (its classification waits in the DLQ for a city model)
            rules = await dispatch.rules(ctx.conn)
            first = orders.first_dispatch(
                case, case.complaint_id, case.category, case.area_code, rules, now()
            )
            await dispatch.save_case(ctx.conn, case, first, ctx.envelope.follow())

    return {
        ComplaintClassified: classified,
        ComplaintReclassified: reclassified,
        ComplaintRedoRequested: redo,
        ComplaintWithdrawn: stop(lambda e: "诉求人已撤回诉求 The resident withdrew it"),
        ComplaintMerged: stop(
            lambda e: f"已并入诉求 {e.into_case_number} 办理 Merged into {e.into_case_number}"  # type: ignore[attr-defined]
        ),
        ComplaintClosed: stop(lambda e: "诉求已办结 The complaint is closed"),
        ComplaintUnmerged: unmerged,
    }
