"""Dispatch's application layer: get → decide → save for cases and agenda items, and new
versions of the city model and calendar. Shared by the HTTP routes, the handlers and the timers.

Every change appends with an expected position and rewrites the views and timers in the same
transaction; a concurrent writer makes the append fail and the command is decided again.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

from services.dispatch import meeting_store, store, store_ballots
from services.dispatch.domain import agenda, ballots, meetings
from services.dispatch.domain.case import Case, fold
from services.dispatch.domain.city import (
    Change,
    CityFile,
    apply_changes,
    changes_between,
    parts_of,
)
from services.dispatch.domain.deadlines import timers
from services.dispatch.domain.rules import IllegalTransition, NotAllowed, Rules
from services.dispatch.settings import DispatchSettings
from shared import commands
from shared.commands import ConcurrencyError, causation_of, now
from shared.db import Connection
from shared.deadlines import CalendarYear
from shared.envelope import Causation
from shared.events import (
    CalendarLoaded,
    CityChange,
    CityModelChanged,
    CityModelLoaded,
    Event,
    HouseholdsRegistered,
)
from shared.eventstore import EventStore, RecordedEvent
from shared.http import Problem
from shared.runtime import ServiceRuntime

# City-model versions are numbered one after another: loads are serialised by this lock.
_CITY_LOCK = 0x6A6965_63697479


class NoCityModel(RuntimeError):
    """No city model is loaded yet: the complaint waits (retries, then the DLQ for a redrive)."""


@dataclass(slots=True)
class CaseChange:
    """What one batch does to one case: its state when read, the appends in their order (each
    with its cause) and the state they lead to."""

    before: Case | None
    appends: list[tuple[list[Event], Causation]] = field(default_factory=list)
    after: Case | None = field(init=False)

    def __post_init__(self) -> None:
        self.after = self.before

    @property
    def complaint_id(self) -> UUID:
        assert self.after is not None
        return self.after.complaint_id

    def add(self, events: list[Event], causation: Causation) -> None:
        if events:
            self.after = fold(events, self.after)
            self.appends.append((events, causation))


@dataclass(frozen=True, slots=True)
class Dispatch:
    events: EventStore
    city: store.CityModelCache
    calendars: store.CalendarCache

    def forget(self) -> None:
        """The city model or the calendar changed here: look again (see shared.cache.Freshness). Once in
        the changing transaction, so that it reads what it wrote, and once after its commit."""
        self.city.forget()
        self.calendars.forget()

    async def rules(self, conn: Connection) -> Rules:
        model = await self.city.current(conn)
        if model is None:
            raise NoCityModel("no city model loaded: PUT /admin/city first")
        return Rules(model, await self.calendars.current(conn))

    # --- cases ------------------------------------------------------------------------------

    async def save_case(
        self,
        conn: Connection,
        before: Case | None,
        new_events: list[Event],
        causation: Causation,
    ) -> Case | None:
        """Append `new_events` after `before`; rewrite the timers and the views."""
        if not new_events:
            return before
        change = CaseChange(before)
        change.add(new_events, causation)
        await self.save_cases(conn, [change])
        return change.after

    async def save_cases(self, conn: Connection, changes: Sequence[CaseChange]) -> None:
        """Save what a batch did to many cases at once: one timer sync, one append of every
        case's events (each case at the position it was read at) and one view upsert."""
        changes = [change for change in changes if change.appends]
        if not changes:
            return
        # Timers first (they never wait, see store.sync_timers), the append after.
        await store.sync_timers(
            conn,
            set().union(*(timers(change.before) for change in changes)),
            set().union(*(timers(change.after) for change in changes)),
        )
        await self.events.append_streams(
            conn,
            [
                (store.case_stream(change.complaint_id), events, causation)
                for change in changes
                for events, causation in change.appends
            ],
            expected={
                store.case_stream(change.complaint_id): change.before.version
                if change.before
                else 0
                for change in changes
            },
        )
        await store.save_case_views(conn, [change.after for change in changes if change.after])

    async def change_case(
        self,
        conn: Connection,
        complaint_id: UUID,
        decide: Callable[[Case, Rules], list[Event]],
        correlation: UUID | None = None,
    ) -> Case:
        """A person's command on a case (shared.commands.change): 404 if there is none, 403 if
        the caller may not take it, 409 if the case refuses it or keeps changing under it."""

        async def load() -> tuple[Case, list[RecordedEvent], Rules]:
            case, history = await store.load_case(conn, self.events, complaint_id)
            if case is None:
                raise Problem(404, f"诉求 {complaint_id} 没有派单记录 No dispatch case for it")
            return case, history, await self.rules(conn)

        def decided(loaded: tuple[Case, list[RecordedEvent], Rules]) -> list[Event]:
            case, _, rules = loaded
            try:
                return decide(case, rules)
            except IllegalTransition as refusal:
                extra: dict[str, Any] = {"current_status": case.status}
                if refusal.order_status:
                    extra["order_status"] = refusal.order_status
                raise Problem(409, str(refusal), **extra) from None
            except NotAllowed as refusal:
                raise Problem(403, str(refusal)) from None

        async def saved(
            loaded: tuple[Case, list[RecordedEvent], Rules], new_events: list[Event]
        ) -> Case:
            case, history, _ = loaded
            causation = causation_of(history, correlation)
            after = await self.save_case(conn, case, new_events, causation)
            assert after is not None
            return after

        try:
            return await commands.change(conn, load, decided, saved)
        except ConcurrencyError:
            raise Problem(409, "派单正被同时修改，请重试 Changed concurrently; retry") from None

    # --- agenda items -----------------------------------------------------------------------

    async def save_item(
        self,
        conn: Connection,
        before: agenda.AgendaItem | None,
        new_events: list[Event],
        causation: Causation,
    ) -> agenda.AgendaItem:
        item = await self.events.append_folded(
            conn,
            before,
            new_events,
            causation,
            agenda.evolve,
            lambda i: store.agenda_stream(i.item_id),
        )
        await store.save_item_view(conn, item)
        return item

    async def change_item(
        self,
        conn: Connection,
        item_id: UUID,
        decide: Callable[[agenda.AgendaItem, Case, Rules], tuple[list[Event], list[Event]]],
    ) -> agenda.AgendaItem:
        """An agenda step (shared.commands.change); it may also change the case (a decision
        issues work orders). Both join the case's conversation."""

        async def load() -> tuple[agenda.AgendaItem, Case, list[RecordedEvent], Rules]:
            item = await store.load_item(conn, self.events, item_id)
            if item is None:
                raise Problem(404, f"议事项 {item_id} 不存在 No such agenda item")
            case, history = await store.load_case(conn, self.events, item.complaint_id)
            assert case is not None
            return item, case, history, await self.rules(conn)

        def decided(
            loaded: tuple[agenda.AgendaItem, Case, list[RecordedEvent], Rules],
        ) -> tuple[list[Event], list[Event]]:
            item, case, _, rules = loaded
            try:
                return decide(item, case, rules)
            except IllegalTransition as refusal:
                raise Problem(409, str(refusal), current_stage=item.stage.value) from None
            except NotAllowed as refusal:
                raise Problem(403, str(refusal)) from None

        async def saved(
            loaded: tuple[agenda.AgendaItem, Case, list[RecordedEvent], Rules],
            new_events: tuple[list[Event], list[Event]],
        ) -> agenda.AgendaItem:
            item, case, history, _ = loaded
            item_events, case_events = new_events
            causation = causation_of(history)
            await self.save_case(conn, case, case_events, causation)
            return await self.save_item(conn, item, item_events, causation)

        try:
            return await commands.change(conn, load, decided, saved)
        except ConcurrencyError:
            raise Problem(409, "议事项正被同时修改，请重试 Changed concurrently; retry") from None

    # --- the community 大党委 and its meetings (meeting) -------------------------------------

    async def change_council(
        self,
        conn: Connection,
        community_code: str,
        decide: Callable[[meetings.Council | None, Rules], list[Event]],
    ) -> meetings.Council:
        """Constitute or change a community's council (shared.commands.change)."""

        async def load() -> tuple[meetings.Council | None, list[RecordedEvent], Rules]:
            council, history = await meeting_store.load_council(conn, self.events, community_code)
            return council, history, await self.rules(conn)

        async def saved(
            loaded: tuple[meetings.Council | None, list[RecordedEvent], Rules],
            new_events: list[Event],
        ) -> meetings.Council:
            council, history, _ = loaded
            stream = meeting_store.council_stream(community_code)
            expected = council.version if council else 0
            await self.events.append(conn, stream, new_events, causation_of(history), expected)
            after = meetings.fold_council(new_events, council)
            assert after is not None
            await meeting_store.save_council_view(conn, after)
            return after

        return await _refusing(
            conn, load, lambda loaded: decide(loaded[0], loaded[2]), saved, "大党委"
        )

    async def change_meeting(
        self,
        conn: Connection,
        meeting_id: UUID | None,
        community_code: str | None,
        decide: MeetingDecision,
        case_id: Callable[[meetings.Meeting | None], UUID | None] = lambda _: None,
    ) -> meetings.Meeting:
        """A step of a meeting (a new one when `meeting_id` is None): `decide` gives the
        meeting's events and the case's (a decision's work orders), on the case `case_id`
        names (none for a matter without a case)."""

        async def load() -> MeetingLoaded:
            meeting, history = (
                await meeting_store.load_meeting(conn, self.events, meeting_id)
                if meeting_id
                else (None, [])
            )
            if meeting_id and meeting is None:
                raise Problem(404, f"会议 {meeting_id} 不存在 No such meeting")
            code = meeting.community_code if meeting else community_code
            assert code is not None
            council, _ = await meeting_store.load_council(conn, self.events, code)
            target = case_id(meeting)
            case = (await store.load_case(conn, self.events, target))[0] if target else None
            return meeting, history, council, case, await self.rules(conn)

        async def decided(loaded: MeetingLoaded) -> tuple[list[Event], list[Event]]:
            meeting, _, council, case, rules = loaded
            return await decide(meeting, council, case, rules)

        async def saved(
            loaded: MeetingLoaded, new_events: tuple[list[Event], list[Event]]
        ) -> meetings.Meeting:
            meeting, history, _, case, _ = loaded
            meeting_events, case_events = new_events
            causation = causation_of(history)
            after = meetings.fold_meeting(meeting_events, meeting)
            assert after is not None
            await self.events.append(
                conn,
                meeting_store.meeting_stream(after.meeting_id),
                meeting_events,
                causation,
                meeting.version if meeting else 0,
            )
            # The orders join the meeting's conversation.
            await self.save_case(conn, case, case_events, causation)
            await meeting_store.save_meeting_view(conn, after)
            return after

        return await _refusing(conn, load, decided, saved, "会议")

    # --- consultations and ballots (征求意见、表决) -------------------------------------------

    async def register_households(
        self, conn: Connection, area_code: str, households: list[str], actor: str
    ) -> HouseholdsRegistered:
        """户册: the area's households, replacing its last register; the event names each by its
        reference, the doors stay in dispatch's table."""
        refs = await store_ballots.save_register(conn, area_code, households, at := now())
        event = HouseholdsRegistered(
            area_code=area_code, households=refs, actor=actor, registered_at=at
        )
        await self.events.append(
            conn, store.register_stream(area_code), [event], Causation.start(), None
        )
        return event

    async def save_ballot(
        self,
        conn: Connection,
        before: ballots.Ballot | None,
        new_events: list[Event],
        causation: Causation,
    ) -> ballots.Ballot:
        ballot = await self.events.append_folded(
            conn,
            before,
            new_events,
            causation,
            ballots.evolve,
            lambda b: store.ballot_stream(b.ballot_id),
        )
        if new_events:
            await store_ballots.save_ballot_view(conn, ballot)
        return ballot

    async def change_ballot(
        self,
        conn: Connection,
        ballot_id: UUID,
        decide: Callable[[ballots.Ballot, Rules], list[Event]],
    ) -> ballots.Ballot:
        """A step of a ballot (404, 403, 409 as for cases). Its closing decides the agenda item
        it was opened for (when the item still waits for it), in the same transaction."""

        async def load() -> tuple[ballots.Ballot, list[RecordedEvent], Rules]:
            history = await self.events.read_stream(conn, store.ballot_stream(ballot_id))
            ballot = ballots.fold(r.to_envelope().event for r in history)
            if ballot is None:
                raise Problem(404, f"表决 {ballot_id} 不存在 No such ballot")
            return ballot, history, await self.rules(conn)

        async def saved(
            loaded: tuple[ballots.Ballot, list[RecordedEvent], Rules], new_events: list[Event]
        ) -> ballots.Ballot:
            ballot, history, _ = loaded
            after = await self.save_ballot(conn, ballot, new_events, causation_of(history))
            opened, closed = after.opened, after.closed
            item = None
            if closed and not ballot.closed and opened.item_id:
                item = await store.load_item(conn, self.events, opened.item_id)
            if item and closed and (held := ballots.conclude_item(item, opened, closed)):
                _, case_history = await store.load_case(conn, self.events, item.complaint_id)
                await self.save_item(conn, item, held, causation_of(case_history))
            return after

        return await _refusing(
            conn, load, lambda loaded: decide(loaded[0], loaded[2]), saved, "表决"
        )

    # --- the city model ---------------------------------------------------------------------

    async def new_city_version(
        self, conn: Connection, body: dict[str, Any], actor: str, reason: str
    ) -> dict[str, Any]:
        """Validate `body` as the whole city and record what changed as a new version."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CITY_LOCK)
        latest = await store.latest_city(conn)
        city = CityFile.model_validate(body)
        if latest is not None and latest["checksum"] == city.checksum():
            return {
                "changed": False,
                "catalogue_version": latest["version"],
                "checksum": latest["checksum"],
            }
        version = (latest["version"] if latest else 0) + 1
        changes = changes_between(latest["body"] if latest else None, city.body())
        removed = [c.key for c in changes if c.section == "responders" and c.op == "remove"]
        busy = await store.units_with_open_orders(conn, removed)
        if busy:
            raise Problem(
                409,
                f"{', '.join(busy)} 仍有在办工单，不能删除：请先办结或改派 Units still hold open "
                "work orders",
                responders=busy,
            )
        loaded = await self._append_version(conn, version, city, changes, actor, reason)
        await store.save_city(conn, version, city)
        self.forget()
        return {"changed": True, **loaded.model_dump(mode="json")}

    async def _append_version(
        self,
        conn: Connection,
        version: int,
        city: CityFile,
        changes: list[Change],
        actor: str,
        reason: str,
    ) -> CityModelLoaded:
        at = now()
        parts = parts_of(changes)
        events: list[Event] = [
            CityModelChanged(
                catalogue_version=version,
                part=index + 1,
                parts=len(parts),
                changes=[
                    CityChange(section=c.section, op=c.op, key=c.key, value=c.value) for c in part
                ],
                actor=actor,
                reason=reason,
                changed_at=at,
            )
            for index, part in enumerate(parts)
        ]
        loaded = CityModelLoaded(
            catalogue_version=version,
            checksum=city.checksum(),
            city_name=city.city,
            areas=len(city.areas),
            responders=len(city.responders),
            rules=len(city.catalogue),
            loaded_at=at,
            changes=len(changes),
            actor=actor,
            reason=reason,
        )
        await self.events.append(
            conn, store.CITY_STREAM, [*events, loaded], Causation.start(), None
        )
        return loaded

    async def record_baseline(self, conn: Connection) -> bool:
        """A model loaded before versions were recorded item by item gets its items as events,
        so that later versions' changes and explanations build on it. True if it did."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CITY_LOCK)
        latest = await store.latest_city(conn)
        if latest is None:
            return False
        recorded = await conn.fetchval(
            "SELECT 1 FROM events WHERE stream = $1 AND type = $2 "
            "AND (data->>'catalogue_version')::int = $3 LIMIT 1",
            store.CITY_STREAM,
            CityModelChanged.event_type,
            latest["version"],
        )
        if recorded:
            return False
        changes = changes_between(None, latest["body"])
        await self._append_version(
            conn,
            latest["version"],
            CityFile.model_validate(latest["body"]),
            changes,
            "system:upgrade",
            "此前载入的城市模型逐项记录 The model loaded before, item by item",
        )
        return True

    async def change_city(
        self, conn: Connection, changes: list[Change], actor: str, reason: str
    ) -> dict[str, Any]:
        """Put or remove single items (an area, a unit, a rule) as a new version."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CITY_LOCK)
        latest = await store.latest_city(conn)
        if latest is None:
            raise Problem(404, "尚未载入城市模型 No city model loaded yet")
        return await self.new_city_version(
            conn, apply_changes(latest["body"], changes), actor, reason
        )

    async def city_at(self, conn: Connection, version: int) -> dict[str, Any] | None:
        """The city model as it was at `version`, rebuilt from its change events."""
        body: dict[str, Any] | None = None
        found = False
        for recorded in await self.events.read_stream(conn, store.CITY_STREAM):
            event = recorded.to_envelope().event
            if isinstance(event, CityModelChanged) and event.catalogue_version <= version:
                body = apply_changes(
                    body, [Change(c.section, c.op, c.key, c.value) for c in event.changes]
                )
            if isinstance(event, CityModelLoaded) and event.catalogue_version == version:
                found = True
        return body if found else None

    async def city_history(self, conn: Connection) -> list[dict[str, Any]]:
        versions = []
        for recorded in await self.events.read_stream(conn, store.CITY_STREAM):
            if recorded.type == CityModelLoaded.event_type:
                versions.append(recorded.data | {"recorded_at": recorded.recorded_at.isoformat()})
        return versions

    # --- the calendar -----------------------------------------------------------------------

    async def load_calendar(self, conn: Connection, year: CalendarYear, actor: str) -> None:
        event = CalendarLoaded(
            year=year.year,
            holidays=[h.model_dump(mode="json", by_alias=True) for h in year.holidays],
            workdays=[w.model_dump(mode="json") for w in year.workdays],
            source=year.source,
            actor=actor,
            loaded_at=now(),
        )
        await self.events.append(conn, store.CALENDAR_STREAM, [event], Causation.start(), None)
        await store.save_calendar(conn, year)
        self.forget()

    async def load_missing_calendars(self, conn: Connection, files: Iterable[Path]) -> None:
        """The holiday schedules in `files` (YAML) for the years nobody has loaded yet, as the
        system's; within the caller's transaction."""
        await store.lock_calendars(conn)
        loaded = {row["year"] for row in await store.calendar_years(conn)}
        for path in files:
            year = CalendarYear.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            if year.year not in loaded:
                await self.load_calendar(conn, year, "system:packaged")


MeetingLoaded = tuple[
    "meetings.Meeting | None", list[RecordedEvent], "meetings.Council | None", "Case | None", Rules
]
MeetingDecision = Callable[
    ["meetings.Meeting | None", "meetings.Council | None", "Case | None", Rules],
    Awaitable[tuple[list[Event], list[Event]]],
]


async def _refusing(
    conn: Connection,
    load: Callable[[], Awaitable[Any]],
    decide: Callable[[Any], Any],
    save: Callable[[Any, Any], Awaitable[Any]],
    what: str,
) -> Any:
    """shared.commands.change, its refusals as problems: 409 for one that does not fit, 403
    for one the caller may not take, 409 for a stream that keeps changing."""

    async def decided(loaded: Any) -> Any:
        try:
            decision = decide(loaded)
            return await decision if inspect.isawaitable(decision) else decision
        except IllegalTransition as refusal:
            raise Problem(409, str(refusal)) from None
        except NotAllowed as refusal:
            raise Problem(403, str(refusal)) from None

    try:
        return await commands.change(conn, load, decided, save)
    except ConcurrencyError:
        raise Problem(409, f"{what}正被同时修改，请重试 Changed concurrently; retry") from None


# What dispatch's routes, event handlers and workers are given: its settings, and `app`, the Dispatch.
DispatchRuntime = ServiceRuntime[DispatchSettings, Dispatch]
