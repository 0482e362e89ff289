"""Dispatch's reactions to complaint events: one dict says what each event type decides about
its case, and a batch of events is decided and saved together.

A batch reads every case it touches in one query, decides its events in order (an event sees
what the ones before it decided), and saves all the cases with one timer sync, one append and
one view upsert (`Dispatch.save_cases`). A concurrent change to one of its cases (a person's
command, a timer) fails the batch; the consumer then takes its events one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from services.dispatch import store
from services.dispatch.app import CaseChange, Dispatch, NoCityModel
from services.dispatch.domain import orders, rota
from services.dispatch.domain.case import Case
from services.dispatch.domain.rules import Rules
from shared.commands import now
from shared.consumer import BatchContext, BatchHandler, Handler, HandlerContext
from shared.envelope import Envelope
from shared.events import (
    ComplaintClassified,
    ComplaintClosed,
    ComplaintFiled,
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

# What an event decides about its case, given the case so far, the routing rules (None when no
# city model is loaded: a decision that routes raises NoCityModel, and the event is retried,
# then kept in the DLQ for a redrive) and the moment it is decided: passed in, so that the
# reactions stay pure (tests/support/histories.py replays them at a story's own times).
Decide = Callable[[Case | None, Rules | None, datetime], list[Event]]


@dataclass(frozen=True, slots=True)
class Reaction:
    complaint_id: UUID
    decide: Decide


def _routing(rules: Rules | None) -> Rules:
    if rules is None:
        raise NoCityModel("no city model loaded: PUT /admin/city first")
    return rules


def _classified(e: ComplaintClassified) -> Reaction | None:
    # Intake holds back what a person must look at first (low confidence, consultations).
    if e.status is not S.CLASSIFIED:
        return None
    return Reaction(
        e.complaint_id,
        lambda case, rules, at: orders.first_dispatch(
            case, e.complaint_id, e.category, e.area_code, _routing(rules), at
        ),
    )


def _filed(e: ComplaintFiled) -> Reaction | None:
    """A message in a community's residents' WeChat group: the member on duty must reply in
    the group within the hour (its handling is routed when it is classified, as any other)."""
    group = e.wechat_group
    if group is None:
        return None
    # The rota is the group's community's, wherever in it the resident says the matter is.
    area = e.area_code if e.area_code.startswith(group) else group
    return Reaction(
        e.complaint_id,
        lambda case, rules, at: rota.group_message(
            case, e.complaint_id, area, e.filed_at, _routing(rules), at
        ),
    )


def _reclassified(e: ComplaintReclassified) -> Reaction | None:
    """From triage it is the first dispatch; after dispatch, the case follows its new category."""
    if e.status not in IN_HAND:
        return None
    return Reaction(
        e.complaint_id,
        lambda case, rules, at: orders.reclassified(
            case, e.complaint_id, e.category, e.area_code, _routing(rules), at
        ),
    )


def _redo(e: ComplaintRedoRequested) -> Reaction:
    return Reaction(
        e.complaint_id,
        lambda case, rules, at: orders.redo(
            case, e.complaint_id, e.category, e.area_code, _routing(rules), at
        ),
    )


def _unmerged(e: ComplaintUnmerged) -> Reaction | None:
    """Its own again: routed anew if nobody holds it (its orders stopped at the merge)."""
    if e.status not in IN_HAND:
        return None

    def decide(case: Case | None, rules: Rules | None, at: datetime) -> list[Event]:
        if case is None:
            return []  # never routed (its classification waits in the DLQ for a city model)
        return orders.first_dispatch(
            case, case.complaint_id, case.category, case.area_code, _routing(rules), at
        )

    return Reaction(e.complaint_id, decide)


def _stop(reason: Callable[[Any], str]) -> Callable[[Any], Reaction]:
    def stopped(e: Any) -> Reaction:
        return Reaction(e.complaint_id, lambda case, rules, at: orders.cancel(case, reason(e), at))

    return stopped


# What each complaint event type means for its case (None: nothing, as the event stands).
REACTIONS: dict[type[Event], Callable[[Any], Reaction | None]] = {
    ComplaintFiled: _filed,
    ComplaintClassified: _classified,
    ComplaintReclassified: _reclassified,
    ComplaintRedoRequested: _redo,
    ComplaintWithdrawn: _stop(lambda e: "诉求人已撤回诉求 The resident withdrew it"),
    ComplaintMerged: _stop(
        lambda e: f"已并入诉求 {e.into_case_number} 办理 Merged into {e.into_case_number}"
    ),
    ComplaintClosed: _stop(lambda e: "诉求已办结 The complaint is closed"),
    ComplaintUnmerged: _unmerged,
}


def reaction(event: Event) -> Reaction | None:
    react = REACTIONS.get(type(event))
    return react(event) if react else None


async def on_batch(dispatch: Dispatch, envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
    todo = [(envelope, r) for envelope in envelopes if (r := reaction(envelope.event))]
    if not todo:
        return
    cases = await store.load_cases(ctx.conn, ctx.store, {r.complaint_id for _, r in todo})
    changes = {complaint_id: CaseChange(case) for complaint_id, case in cases.items()}
    try:
        rules: Rules | None = await dispatch.rules(ctx.conn)
    except NoCityModel:
        rules = None
    for envelope, r in todo:
        change = changes[r.complaint_id]
        change.add(r.decide(change.after, rules, now()), envelope.follow())
    await dispatch.save_cases(ctx.conn, list(changes.values()))


def build_batch_handler(dispatch: Dispatch) -> BatchHandler:
    async def handle(envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
        await on_batch(dispatch, envelopes, ctx)

    return handle


def build_handlers(dispatch: Dispatch) -> dict[type[Event], Handler]:
    """One event at a time (what the consumer routes on; the batch handler does the work)."""

    async def handle(event: Event, ctx: HandlerContext) -> None:
        await on_batch(dispatch, [ctx.envelope], BatchContext(ctx.conn, ctx.store))

    return dict.fromkeys(REACTIONS, handle)
