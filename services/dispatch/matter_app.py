"""政务事项' get → decide → save (kept beside app.py, which would pass the 600-line limit): a
matter's events, its timers and its view written together; a staff member's step decided on
the newest state, refused as problems as every command of dispatch's is."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from services.dispatch import matter_store, store
from services.dispatch.app import Dispatch, _refusing
from services.dispatch.domain import service_matters
from services.dispatch.domain.rules import Rules
from shared.commands import causation_of
from shared.db import Connection
from shared.envelope import Causation
from shared.events import Event
from shared.eventstore import RecordedEvent
from shared.http import Problem


async def save_matter(
    dispatch: Dispatch,
    conn: Connection,
    before: service_matters.Matter | None,
    new_events: list[Event],
    causation: Causation,
) -> service_matters.Matter | None:
    """Append `new_events` after `before`; rewrite its timers and its view."""
    if not new_events:
        return before
    after = await dispatch.events.append_folded(
        conn,
        before,
        new_events,
        causation,
        service_matters.evolve,
        lambda m: matter_store.matter_stream(m.matter_id),
    )
    await store.sync_timers(conn, service_matters.timers(before), service_matters.timers(after))
    await matter_store.save_matter_view(conn, after)
    return after


async def change_matter(
    dispatch: Dispatch,
    conn: Connection,
    matter_id: UUID,
    decide: Callable[[service_matters.Matter, Rules], list[Event]],
) -> service_matters.Matter:
    """A staff member's step on a matter (404 / 403 / 409 as for a case)."""

    async def load() -> tuple[service_matters.Matter, list[RecordedEvent], Rules]:
        matter, history = await matter_store.load_matter(conn, dispatch.events, matter_id)
        if matter is None:
            raise Problem(404, f"政务事项 {matter_id} 不存在 No such matter")
        return matter, history, await dispatch.rules(conn)

    async def saved(
        loaded: tuple[service_matters.Matter, list[RecordedEvent], Rules],
        new_events: list[Event],
    ) -> service_matters.Matter:
        matter, history, _ = loaded
        after = await save_matter(dispatch, conn, matter, new_events, causation_of(history))
        assert after is not None
        return after

    changed: service_matters.Matter = await _refusing(
        conn, load, lambda loaded: decide(loaded[0], loaded[2]), saved, "政务事项"
    )
    return changed
