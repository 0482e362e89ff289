"""Intake's reactions to dispatch's facts: the complaint's status mirrors its lead work order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from services.intake import app, store
from services.intake.domain import mirrors
from services.intake.domain.model import Complaint, evolve
from services.intake.domain.words import describe
from shared.consumer import BatchContext, Handler, HandlerContext
from shared.deadlines import CalendarYear
from shared.envelope import Causation, Envelope
from shared.events import (
    ArbitrationDecided,
    ArbitrationRequested,
    CalendarLoaded,
    CaseEscalated,
    CaseResolved,
    CityModelChanged,
    DeliberationConcluded,
    DeliberationRequested,
    Event,
    ExtensionApproved,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderSigned,
    WorkOrderStarted,
    complaint_of,
)

Decide = Callable[[Complaint, Any], list[Event]]

DECISIONS: dict[type[Event], Decide] = {
    WorkOrderIssued: mirrors.mirror_issued,
    WorkOrderSigned: mirrors.mirror_signed,
    CaseResolved: mirrors.mirror_resolved,
    # what the resident's view must show as it happens: the deadline that applies now
    ExtensionApproved: mirrors.mirror_extended,
    DeliberationRequested: mirrors.mirror_deliberating,
    DeliberationConcluded: mirrors.mirror_deliberated,
    CaseEscalated: mirrors.mirror_escalated,
    WorkOrderContacted: mirrors.mirror_contacted,
    WorkOrderStarted: mirrors.mirror_started,
    ArbitrationRequested: mirrors.mirror_arbitrating,
    ArbitrationDecided: mirrors.mirror_arbitrated,
}


async def _follow(conn: Any, event: Event) -> None:
    """Dispatch's city model, as intake's catalogue (services/intake/domain/catalogue), and its
    time limits and calendar, for the promise at filing (services/intake/domain/promises)."""
    if isinstance(event, CityModelChanged):
        await store.follow_city(conn, event)
        for change in event.changes:
            if (change.section, change.key, change.op) == ("settings", "time_limits", "put"):
                await store.follow_time_limits(conn, event.catalogue_version, change.value)
    elif isinstance(event, CalendarLoaded):
        year = CalendarYear.model_validate(
            {
                "year": event.year,
                "holidays": event.holidays,
                "workdays": event.workdays,
                "source": event.source,
            }
        )
        await store.follow_calendar(conn, year)


async def follow(event: Any, ctx: HandlerContext) -> None:
    await _follow(ctx.conn, event)


CITY_FACTS = (CityModelChanged, CalendarLoaded)


def _mirror(decide: Decide) -> Handler:
    async def mirror(event: Any, ctx: HandlerContext) -> None:
        state = await store.load(ctx.conn, ctx.store, event.complaint_id)
        if state is None:
            return  # not a complaint of ours (another intake's, or a test's): nothing to mirror
        await app.save(ctx.conn, ctx.store, state, decide(state, event), ctx.envelope.follow())

    mirror.__name__ = f"mirror_{decide.__name__}"
    return mirror


async def mirror_batch(envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
    """A batch's facts with a few statements for the whole batch: its complaints loaded in one
    read, every new event appended in one append that checks each stream is where it was read
    (a concurrent change makes the batch go one by one, each retried on fresh state), the
    changed views rewritten and the residents' updates inserted together. Dispatch's city
    model, time limits and calendar are followed first."""
    for envelope in envelopes:
        if isinstance(envelope.event, CITY_FACTS):
            await _follow(ctx.conn, envelope.event)
    envelopes = [e for e in envelopes if not isinstance(e.event, CITY_FACTS)]
    if not envelopes:
        return
    about = [(complaint_of(e.event), e) for e in envelopes]
    complaint_ids = list(dict.fromkeys(cid for cid, _ in about if cid is not None))
    states = await store.load_all(ctx.conn, ctx.store, complaint_ids)
    loaded = {cid: state.version for cid, state in states.items()}
    appends: list[tuple[str, list[Event], Causation]] = []
    updates: list[tuple[UUID, str]] = []
    # each changed complaint, and what a person reads about its latest step (its view's note)
    changed: dict[UUID, tuple[Complaint, str]] = {}
    for complaint_id, envelope in about:
        state = states.get(complaint_id) if complaint_id is not None else None
        if complaint_id is None or state is None:
            continue  # not a complaint of ours
        new_events = DECISIONS[type(envelope.event)](state, envelope.event)
        for event in new_events:
            state = evolve(state, event)
            updates.append((complaint_id, describe(event)))
        if new_events:
            states[complaint_id] = state
            changed[complaint_id] = (state, describe(new_events[-1]))
            appends.append((store.stream_of(complaint_id), new_events, envelope.follow()))
    if not appends:
        return
    recorded = await ctx.store.append_streams(
        ctx.conn, appends, expected={store.stream_of(cid): loaded[cid] for cid in changed}
    )
    await store.save_views(ctx.conn, changed.values())
    await store.add_all_updates(
        ctx.conn,
        [(cid, r, note) for (cid, note), r in zip(updates, recorded, strict=True)],
    )


HANDLERS: dict[type[Event], Handler] = {
    **{event_type: _mirror(decide) for event_type, decide in DECISIONS.items()},
    CityModelChanged: follow,
    CalendarLoaded: follow,
}
