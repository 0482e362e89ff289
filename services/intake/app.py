"""Intake's application: get → decide → save on shared.commands, shared by the HTTP routes,
the Open311 and WeChat adapters, the handlers and the triage clock; filing (prepare a Filing,
then decide) and its front door, which files complaints arriving together in one transaction.

Every change appends the complaint's new events with an expected position and rewrites its
view row (with what a person reads about its latest step, domain/words) in the same
transaction; a concurrent writer makes the append fail, and the command is decided again on
the fresh state.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

import asyncpg
from fastapi.responses import JSONResponse
from prometheus_client import Histogram

from services.intake import store
from services.intake.domain import decisions
from services.intake.domain.catalogue import Catalogue, check_answers
from services.intake.domain.classifier import Classifier, load_examples, load_keywords
from services.intake.domain.commands import FileComplaint
from services.intake.domain.duplicates import Place, likely_duplicates
from services.intake.domain.geo import Datum, Point, to_wgs84
from services.intake.domain.model import Complaint, evolve
from services.intake.domain.privacy import resident_ref
from services.intake.domain.promises import PromiseRules
from services.intake.domain.words import case_number, describe
from services.intake.settings import IntakeSettings
from shared import commands, idempotency
from shared.commands import ConcurrencyError, IllegalTransition, causation_of
from shared.db import Connection
from shared.envelope import Causation
from shared.events import (
    ComplaintFiled,
    ComplaintType,
    Event,
    RatedVia,
    Satisfaction,
    complaint_of,
)
from shared.eventstore import EventStore, RecordedEvent
from shared.http import Problem
from shared.idempotency import request_hash
from shared.runtime import ServiceRuntime
from shared.sealing import WordsKey, seal_event

log = logging.getLogger(__name__)
FILED_TOGETHER = Histogram(
    "jiesu_intake_filings_per_commit",
    "Complaints filed in one transaction at the front door",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
Decision = Callable[[Complaint], Awaitable[list[Event]] | list[Event]]
DUPLICATES_KEPT = 5  # likely duplicates a new complaint names at most


@cache
def classifier_for(keywords: tuple[tuple[str, tuple[str, ...]], ...]) -> Classifier:
    """Trained on the packaged labelled set plus the city's keywords; one per keyword set."""
    merged = load_keywords()
    for code, words in keywords:
        merged[code] = sorted({*merged.get(code, []), *words})
    return Classifier.train((e for e in load_examples() if e.split == "train"), keywords=merged)


def catalogue_classifier(catalogue: Catalogue) -> Classifier:
    return classifier_for(tuple(sorted((k, tuple(v)) for k, v in catalogue.keywords().items())))


@dataclass(frozen=True, slots=True)
class Saved:
    """A complaint after a change, and its view row as stored."""

    state: Complaint
    view: dict[str, Any]


async def save(
    conn: Connection,
    events_store: EventStore,
    state: Complaint | None,
    new_events: list[Event],
    causation: Causation,
) -> Saved | None:
    """Append `new_events` after `state` and rewrite the view; None when there was nothing to do.
    The view's status note and each update are what a person reads about the step (describe)."""
    if not new_events:
        return None
    complaint_id = complaint_of(new_events[0])
    assert complaint_id is not None
    recorded = await events_store.append(
        conn, store.stream_of(complaint_id), new_events, causation, state.version if state else 0
    )
    after = state
    for event in new_events:
        after = evolve(after, event)
    assert after is not None
    notes = [describe(event) for event in new_events]
    view = await store.save_view(conn, after, notes[-1])
    await store.add_updates(conn, complaint_id, recorded, notes)
    return Saved(after, view)


async def resolve_ref(conn: Connection, ref: str) -> UUID:
    """A complaint named by its id or its case number."""
    try:
        complaint_id: UUID | None = UUID(ref)
        case = None
    except ValueError:
        complaint_id, case = None, ref
    view = await store.find_view(conn, complaint_id=complaint_id, case_number=case)
    if view is None:
        raise Problem(404, f"诉求 {ref} 不存在 No such complaint")
    found: UUID = view["complaint_id"]
    return found


async def change(
    conn: Connection,
    events_store: EventStore,
    complaint_id: UUID,
    decide: Decision,
    correlation: UUID | None = None,
) -> Complaint:
    """A command on one complaint (shared.commands.change): 404 if there is none, 409 if the
    complaint refuses it or keeps changing under it."""

    async def load() -> tuple[Complaint, list[RecordedEvent]]:
        state, history = await store.load_history(conn, events_store, complaint_id)
        if state is None:
            raise Problem(404, f"诉求 {complaint_id} 不存在 No such complaint")
        return state, history

    async def decided(loaded: tuple[Complaint, list[RecordedEvent]]) -> list[Event]:
        state, _ = loaded
        try:
            new_events = decide(state)
            return await new_events if not isinstance(new_events, list) else new_events
        except IllegalTransition as refusal:
            raise Problem(409, str(refusal), current_status=state.status.value) from None

    async def saved(
        loaded: tuple[Complaint, list[RecordedEvent]], new_events: list[Event]
    ) -> Complaint:
        state, history = loaded
        after = await save(
            conn, events_store, state, new_events, causation_of(history, correlation)
        )
        return after.state if after else state

    try:
        return await commands.change(conn, load, decided, saved)
    except ConcurrencyError:
        raise Problem(409, "诉求正被同时修改，请重试 Changed concurrently; retry") from None


@dataclass(frozen=True, slots=True)
class Intake:
    """What filing needs besides the request: settings, the catalogue and the event store;
    and the front door that files complaints arriving together in one transaction. `shown` is
    how the API shows a complaint's view row, what the door answers a filing with (the API's
    schemas shape every answer: main.py passes api/schemas.complaint_view)."""

    settings: IntakeSettings
    catalogues: store.CatalogueCache
    events: EventStore
    pool: Callable[[], asyncpg.Pool]
    shown: Callable[[Mapping[str, Any]], dict[str, Any]]
    promises: store.PromiseCache = field(default_factory=store.PromiseCache)
    door: FilingDoor = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "door", FilingDoor(self, self.pool))

    async def catalogue(self, conn: Connection) -> Catalogue:
        catalogue = await self.catalogues.current(conn)
        if catalogue is None:
            raise Problem(
                503,
                "城市目录尚未载入，暂不能受理 No catalogue yet: load the city into dispatch (PUT /admin/city)",
            )
        return catalogue

    async def consent(
        self,
        conn: Connection,
        resident: str,
        decide: Callable[[dict[str, list[str]]], list[Event]],
        correlation: UUID | None,
    ) -> list[Event]:
        """Decide on a resident's consents to area notices as they stand (their homes and
        channels) and record what was decided: one stream a resident's, kept in order by the
        lock homes_of takes."""
        events = decide(await store.homes_of(conn, resident))
        stream = f"notice-consent-{resident}"
        await self.events.append(conn, stream, events, causation_of([], correlation), None)
        await store.save_consents(conn, events)
        return events

    async def file(self, conn: Connection, command: FileComplaint, causation: Causation) -> Saved:
        """Validate against the catalogue, classify, look for duplicates, and record it all."""
        catalogue = await self.catalogue(conn)
        rules = await self.promises.current(conn)
        [saved] = await self.file_all(conn, [(self.prepare(catalogue, command, rules), causation)])
        return saved

    def prepare(
        self,
        catalogue: Catalogue,
        command: FileComplaint,
        rules: PromiseRules | None = None,
    ) -> Prepared:
        """What filing decides before it looks at the store: the command checked against the
        catalogue (Problem 422 if it fails), classified, placed."""
        if command.area_code not in catalogue.areas:
            raise Problem(
                422,
                f"未知的区划代码 {command.area_code} Unknown area code",
                errors=[{"field": "area_code", "message": "unknown area code 未知区划代码"}],
            )
        attributes = command.attributes
        if command.category is not None:
            category = catalogue.categories.get(command.category)
            if category is None:
                raise Problem(
                    422,
                    f"未知的诉求类别 {command.category} Unknown category",
                    errors=[{"field": "category", "message": "unknown category 未知类别"}],
                )
            attributes, problems = check_answers(category, command.attributes)
            if problems:
                raise Problem(
                    422,
                    "附加信息有误 Invalid attributes: " + "；".join(problems),
                    errors=[{"field": "attributes", "message": p} for p in problems],
                )
        command = command.model_copy(update={"attributes": attributes})
        now = datetime.now(UTC)
        point = None
        if command.latitude is not None and command.longitude is not None:
            point = to_wgs84(Point(command.latitude, command.longitude), Datum(command.datum))
        # The classifier runs only when the channel left the category or the type open (it is
        # about a tenth of intake's CPU for a complaint when it runs).
        if command.category and command.type:
            category_code, confidence = command.category, 1.0
            complaint_type, type_confidence = command.type, 1.0
        else:
            guess = catalogue_classifier(catalogue).classify(command.text)
            category_code = command.category or guess.category
            confidence = 1.0 if command.category else guess.confidence
            complaint_type = command.type or guess.type
            type_confidence = 1.0 if command.type else guess.type_confidence
        needs_triage = decisions.to_triage(
            confidence,
            type_confidence,
            category_code in catalogue.categories,
            (self.settings.classify_threshold, self.settings.type_threshold),
        )
        grid = catalogue.place(command.area_code, "grid")
        building = catalogue.place(command.area_code, "building")
        place = Place(
            uuid.uuid4(),
            "",
            category_code,
            building,
            grid,
            point.latitude if point else None,
            point.longitude if point else None,
        )
        filing = decisions.Filing(
            complaint_id=place.complaint_id,
            case_number="",  # numbered when it is recorded
            resident_ref=resident_ref(command.contact.phone, self.settings.resident_pepper),
            filed_at=now,
            type=complaint_type,
            type_confidence=type_confidence,
            category=category_code,
            confidence=confidence,
            classified_by="channel" if command.category else "auto",
            needs_triage=needs_triage,
            latitude=place.latitude,
            longitude=place.longitude,
        )
        category = catalogue.categories.get(category_code)
        promise = (
            rules.promise(category_code, category.priority, now)
            if rules is not None
            and category is not None
            and complaint_type is not ComplaintType.CONSULTATION
            else None
        )
        if promise is not None:
            filing = replace(filing, promised_due_at=promise.due_at, time_limit=promise.limit)
        nearby = store.Nearby(
            place,
            command.area_code[:12],
            now - timedelta(days=self.settings.duplicate_window_days),
            box_around(point, self.settings.duplicate_radius_m),
        )
        # A sealed filing names its place in the clear only as far as the public may know it.
        public_place = catalogue.public_place(command.area_code)[1]
        return Prepared(command, filing, nearby, public_place)

    async def file_all(
        self, conn: Connection, prepared: Sequence[tuple[Prepared, Causation]]
    ) -> list[Saved]:
        """Record several prepared filings in the caller's transaction, numbered in the given
        order, with a handful of statements however many there are. Each names the likely
        duplicates among the open complaints and the filings before it here, as it would
        have had they been filed one after another."""
        radius = self.settings.duplicate_radius_m
        # SQL finds and ranks the few likeliest (a hair past the radius, and a few more than
        # are kept); likely_duplicates decides on those exactly.
        numbered = await store.sequences_and_places_near(
            conn, [p.nearby for p, _ in prepared], radius, limit=DUPLICATES_KEPT + 5
        )
        filings: list[tuple[FileComplaint, decisions.Filing]] = []
        placed: list[Place] = []
        for (p, _), (sequence, earlier) in zip(prepared, numbered, strict=True):
            place = p.nearby.place
            duplicates = likely_duplicates(place, [*earlier, *placed], radius, DUPLICATES_KEPT)
            number = case_number(sequence, p.filing.filed_at)
            placed.append(replace(place, case_number=number))
            filing = replace(p.filing, case_number=number, duplicates=tuple(duplicates))
            filings.append((p.command, filing))
        keys = await store.store_contacts(
            conn,
            self.settings.master_keys,
            [(f.resident_ref, f.complaint_id, c.contact) for c, f in filings],
        )
        appends = [
            (store.stream_of(f.complaint_id), decisions.file_complaint(c, f), causation)
            for (c, f), (_, causation) in zip(filings, prepared, strict=True)
        ]
        # Stored and published sealed; this state and the view are made from the clear ones.
        sealed = [
            (stream, [_sealed(e, keys, p.public_place) for e in new_events], causation)
            for (stream, new_events, causation), (p, _) in zip(appends, prepared, strict=True)
        ]
        recorded = await self.events.append_streams(
            conn, sealed, expected={stream: 0 for stream, _, _ in appends}
        )
        by_stream: dict[str, list[RecordedEvent]] = {}
        for stored in recorded:
            by_stream.setdefault(stored.stream, []).append(stored)
        states: list[tuple[Complaint, str]] = []
        updates: list[tuple[UUID, RecordedEvent, str]] = []
        for (stream, new_events, _), (_, filing) in zip(appends, filings, strict=True):
            state = None
            for event, stored in zip(new_events, by_stream[stream], strict=True):
                state = evolve(state, event)
                updates.append((filing.complaint_id, stored, describe(event)))
            assert state is not None
            states.append((state, describe(new_events[-1])))
        views = await store.save_new_views(
            conn,
            [
                (state, note, p.nearby.place.grid, p.nearby.place.building)
                for (state, note), (p, _) in zip(states, prepared, strict=True)
            ],
        )
        await store.add_all_updates(conn, updates)
        return [Saved(state, view) for (state, _), view in zip(states, views, strict=True)]

    async def rate(
        self,
        conn: Connection,
        complaint_id: UUID,
        level: Satisfaction,
        via: RatedVia,
        comment: str | None,
        correlation: UUID | None,
        resolution_round: int | None = None,
    ) -> Complaint:
        """The resident's own rating of a result (an SMS reply, WeChat, the signed link), decided
        on the complaint's newest state (and, for a merged duplicate, the newest state of the
        complaint it follows): 409 if it awaits no rating now."""

        async def decide(state: Complaint) -> list[Event]:
            survivor = await store.survivor_of(conn, self.events, state)
            return decisions.rate(
                state, level, via, comment, commands.now(), resolution_round, survivor
            )

        return await change(conn, self.events, complaint_id, decide, correlation)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A filing decided as far as it can be before the store is read."""

    command: FileComplaint
    filing: decisions.Filing
    nearby: store.Nearby
    public_place: str | None = None  # down to the building: what a sealed filing shows


def _sealed(event: Event, keys: dict[str, WordsKey], public_place: str | None) -> Event:
    """A filing sealed under its resident's words key; every other event as it is."""
    if isinstance(event, ComplaintFiled):
        return seal_event(event, keys[event.resident_ref], public_place)
    return event


def box_around(point: Point | None, radius_m: float) -> tuple[float, float, float, float] | None:
    """A latitude/longitude box around `point` a little larger than the radius (pre-filter only)."""
    if point is None:
        return None
    import math

    dlat = radius_m / 111_000 * 1.2
    dlon = dlat / max(0.1, math.cos(math.radians(point.latitude)))
    return (
        point.latitude - dlat,
        point.latitude + dlat,
        point.longitude - dlon,
        point.longitude + dlon,
    )


@dataclass(eq=False, slots=True)
class _Ticket:
    """A filing at the door: the request, its scoped Idempotency-Key, and where its answer goes."""

    command: FileComplaint
    causation: Causation
    key: str | None
    digest: str
    answer: asyncio.Future[JSONResponse]


class FilingDoor:
    """Intake's front door: complaints that arrive while a transaction is committing wait and
    are filed together in the next one (group commit), a handful of statements and one WAL
    flush for all of them. Alone, a complaint goes straight in. Each caller's answer comes
    only after the transaction that holds its complaint has committed, so a 201 is never lost.

    Under load the door is where a queue forms (every hop behind it takes batches already),
    so this is where waiting turns into bigger batches instead of more transactions.
    """

    def __init__(self, intake: Intake, pool: Callable[[], asyncpg.Pool], most: int = 64) -> None:
        self.intake = intake
        self.pool = pool
        self.most = most
        self.waiting: list[_Ticket] = []
        self.draining: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed, for the tests and the bench

    async def file(
        self,
        command: FileComplaint,
        causation: Causation,
        key: str | None = None,
        payload: Any = None,
    ) -> JSONResponse:
        """File one complaint; the answer is what the route returns (201, or the earlier
        answer to the same Idempotency-Key). Refusals are raised as Problem."""
        digest = request_hash(payload) if key is not None else ""
        answer: asyncio.Future[JSONResponse] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Ticket(command, causation, key, digest, answer))
        if self.draining is None:
            self.draining = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self.waiting:
                await self._commit(self._next_group())
        finally:
            self.draining = None

    def _next_group(self) -> list[_Ticket]:
        """The oldest waiting filings, at most `most`; one per Idempotency-Key (a repeat waits
        for the next group, where it finds the first one's answer)."""
        group: list[_Ticket] = []
        keys: set[str] = set()
        later: list[_Ticket] = []
        for ticket in self.waiting:
            if ticket.answer.done():  # its caller went away before it was filed
                continue
            if len(group) == self.most or (ticket.key is not None and ticket.key in keys):
                later.append(ticket)
                continue
            group.append(ticket)
            if ticket.key is not None:
                keys.add(ticket.key)
        self.waiting = later
        return group

    async def _commit(self, group: list[_Ticket]) -> None:
        if not group:
            return
        try:
            async with self.pool().acquire() as conn, conn.transaction():
                answers = await self._file(conn, group)
        except Problem as refusal:  # one for the whole group (no catalogue): each gets it
            for ticket in group:
                _settle(ticket, refusal)
            return
        except Exception as error:
            if len(group) == 1:
                _settle(group[0], error)
                return
            # Each on its own, so that whatever failed fails only its own request.
            log.warning("filing %d complaints together failed (%r); one by one", len(group), error)
            for ticket in group:
                await self._commit([ticket])
            return
        self.groups += 1
        FILED_TOGETHER.observe(len(group))
        for ticket, answer in answers.items():
            _settle(ticket, answer)

    async def _file(
        self, conn: Connection, group: list[_Ticket]
    ) -> dict[_Ticket, JSONResponse | Exception]:
        answers: dict[_Ticket, JSONResponse | Exception] = {}
        # Keys first: a request made again gets its first answer even if the catalogue has
        # changed since (it is not checked again).
        keyed = {t.key: t for t in group if t.key is not None}
        earlier = await idempotency.claim_all(conn, {k: t.digest for k, t in keyed.items()})
        for key, stored in earlier.items():
            ticket = keyed.pop(key)
            try:
                answers[ticket] = _located(
                    idempotency.replay(stored, ticket.digest), stored.response
                )
            except Problem as refusal:
                answers[ticket] = refusal
        catalogue = await self.intake.catalogue(conn)
        rules = await self.intake.promises.current(conn)
        prepared: dict[_Ticket, Prepared] = {}
        for ticket in group:
            if ticket in answers:
                continue
            try:
                prepared[ticket] = self.intake.prepare(catalogue, ticket.command, rules)
            except Problem as refusal:
                answers[ticket] = refusal
        refused = [key for key, ticket in keyed.items() if ticket not in prepared]
        if refused:
            await idempotency.release_all(conn, refused)
        filed = await self.intake.file_all(
            conn, [(p, ticket.causation) for ticket, p in prepared.items()]
        )
        records: list[tuple[str, int, dict[str, Any]]] = []
        for ticket, saved in zip(prepared, filed, strict=True):
            body = self.intake.shown(saved.view)
            answers[ticket] = _located(JSONResponse(body, status_code=201), body)
            if ticket.key is not None:
                records.append((ticket.key, 201, body))
        await idempotency.record_all(conn, records)
        return answers


def _located(response: JSONResponse, body: dict[str, Any]) -> JSONResponse:
    """A filing's 201, first or replayed, says where the complaint is."""
    if response.status_code == 201:
        response.headers["Location"] = f"/complaints/{body['complaint_id']}"
    return response


def _settle(ticket: _Ticket, answer: JSONResponse | BaseException) -> None:
    if ticket.answer.done():
        return
    if isinstance(answer, BaseException):
        ticket.answer.set_exception(answer)
    else:
        ticket.answer.set_result(answer)


# What intake's routes, handlers and workers are given: its settings, and `app`, the Intake.
IntakeRuntime = ServiceRuntime[IntakeSettings, Intake]
