"""Intake's reactions to dispatch's facts: the complaint's status mirrors its lead work order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from services.intake import domain, promises, service, store
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
)

Decide = Callable[[domain.Complaint, Any], list[Event]]

DECISIONS: dict[type[Event], Decide] = {
    WorkOrderIssued: domain.mirror_issued,
    WorkOrderSigned: domain.mirror_signed,
    CaseResolved: domain.mirror_resolved,
    # what the resident's view must show as it happens: the deadline that applies now
    ExtensionApproved: domain.mirror_extended,
    DeliberationRequested: domain.mirror_deliberating,
    DeliberationConcluded: domain.mirror_deliberated,
    CaseEscalated: domain.mirror_escalated,
    WorkOrderContacted: domain.mirror_contacted,
    WorkOrderStarted: domain.mirror_started,
    ArbitrationRequested: domain.mirror_arbitrating,
    ArbitrationDecided: domain.mirror_arbitrated,
}


async def _follow(conn: Any, event: Event) -> None:
    """Dispatch's city model, as intake's catalogue (services/intake/catalogue), and its time
    limits and calendar, for the promise at filing (services/intake/promises)."""
    if isinstance(event, CityModelChanged):
        await store.follow_city(conn, event)
        for change in event.changes:
            if (change.section, change.key, change.op) == ("settings", "time_limits", "put"):
                await promises.follow_time_limits(conn, event.catalogue_version, change.value)
    elif isinstance(event, CalendarLoaded):
        year = CalendarYear.model_validate(
            {
                "year": event.year,
                "holidays": event.holidays,
                "workdays": event.workdays,
                "source": event.source,
            }
        )
        await promises.follow_calendar(conn, year)


async def follow(event: Any, ctx: HandlerContext) -> None:
    await _follow(ctx.conn, event)


CITY_FACTS = (CityModelChanged, CalendarLoaded)


def _mirror(decide: Decide) -> Handler:
    async def mirror(event: Any, ctx: HandlerContext) -> None:
        state = await store.load(ctx.conn, ctx.store, event.complaint_id)
        if state is None:
            return  # not a complaint of ours (another intake's, or a test's): nothing to mirror
        await service.save(ctx.conn, ctx.store, state, decide(state, event), ctx.envelope.follow())

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
    complaint_ids = list(dict.fromkeys(e.event.complaint_id for e in envelopes))  # type: ignore[attr-defined]
    states = await store.load_all(ctx.conn, ctx.store, complaint_ids)
    loaded = {cid: state.version for cid, state in states.items()}
    appends: list[tuple[str, list[Event], Causation]] = []
    updates: list[tuple[UUID, str]] = []
    changed: dict[UUID, domain.Complaint] = {}
    for envelope in envelopes:
        complaint_id: UUID = envelope.event.complaint_id  # type: ignore[attr-defined]
        state = states.get(complaint_id)
        if state is None:
            continue  # not a complaint of ours
        new_events = DECISIONS[type(envelope.event)](state, envelope.event)
        for event in new_events:
            state = domain.evolve(state, event)
            updates.append((complaint_id, state.note))
        if new_events:
            states[complaint_id] = changed[complaint_id] = state
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
