"""Dispatch's SQL: city model and calendar snapshots, case and agenda views, durable timers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.dispatch.domain import agenda
from services.dispatch.domain.case import OPEN, ORDER_LABELS, PURPOSE_LABELS, Case, WorkOrder, fold
from services.dispatch.domain.city import CityFile, CityModel
from services.dispatch.domain.deadlines import Timer
from shared.cache import Freshness
from shared.db import Connection, columns
from shared.deadlines import CalendarYear, ClockName, WorkCalendar
from shared.events import labels
from shared.eventstore import EventStore, RecordedEvent

CITY_STREAM = "city-model"
CALENDAR_STREAM = "calendar"


def case_stream(complaint_id: UUID) -> str:
    return f"case-{complaint_id}"


def agenda_stream(item_id: UUID) -> str:
    return f"agenda-{item_id}"


def ballot_stream(ballot_id: UUID) -> str:
    return f"ballot-{ballot_id}"


def register_stream(area_code: str) -> str:
    return f"households-{area_code}"


# --- the city model and the calendar ---------------------------------------------------------


class CityModelCache(Freshness):
    """The newest city model, re-read only when its version changes (several workers may load)."""

    def __init__(self, max_age_s: float = 1.0) -> None:
        super().__init__(max_age_s)
        self._model: CityModel | None = None

    async def current(self, conn: Connection) -> CityModel | None:
        if self._model is not None and self.fresh():
            return self._model
        version = await conn.fetchval("SELECT max(version) FROM city_models")
        if version is None:
            return None
        if self._model is None or self._model.version != version:
            # One statement for both: a new load deletes the older body meanwhile.
            row = await conn.fetchrow(
                "SELECT version, body FROM city_models ORDER BY version DESC LIMIT 1"
            )
            assert row is not None
            self._model = CityModel(CityFile.model_validate(row["body"]), row["version"])
        self.checked()
        return self._model


class CalendarCache(Freshness):
    """The loaded years, re-read when a year is (re)loaded."""

    def __init__(self, max_age_s: float = 1.0) -> None:
        super().__init__(max_age_s)
        self._calendar = WorkCalendar()
        self._stamp: Any = None

    async def current(self, conn: Connection) -> WorkCalendar:
        if self._stamp is not None and self.fresh():
            return self._calendar
        row = await conn.fetchrow("SELECT count(*), max(loaded_at) FROM calendars")
        stamp = tuple(row) if row else None
        if stamp != self._stamp:
            rows = await conn.fetch("SELECT body FROM calendars ORDER BY year")
            self._calendar = WorkCalendar.of([CalendarYear.model_validate(r["body"]) for r in rows])
            self._stamp = stamp
        self.checked()
        return self._calendar


async def latest_city(conn: Connection) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT version, checksum, loaded_at, body FROM city_models ORDER BY version DESC LIMIT 1"
    )
    return dict(row) if row else None


async def save_city(conn: Connection, version: int, city: CityFile) -> None:
    """The new version becomes the snapshot; older bodies live on only in the events."""
    await conn.execute(
        "INSERT INTO city_models (version, checksum, body) VALUES ($1, $2, $3)",
        version,
        city.checksum(),
        city.body(),
    )
    await conn.execute("DELETE FROM city_models WHERE version < $1", version)


async def save_calendar(conn: Connection, year: CalendarYear) -> None:
    await conn.execute(
        "INSERT INTO calendars (year, body) VALUES ($1, $2) "
        "ON CONFLICT (year) DO UPDATE SET body = excluded.body, loaded_at = now()",
        year.year,
        year.model_dump(mode="json", by_alias=True),
    )


async def lock_calendars(conn: Connection) -> None:
    """Until the transaction ends, no other process loads a calendar (two workers starting at
    once)."""
    await conn.execute("LOCK TABLE calendars IN EXCLUSIVE MODE")


async def calendar_years(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT year, body, loaded_at FROM calendars ORDER BY year")
    return [dict(r) for r in rows]


# --- cases -------------------------------------------------------------------------------------


async def load_case(
    conn: Connection, events: EventStore, complaint_id: UUID
) -> tuple[Case | None, list[RecordedEvent]]:
    history = await events.read_stream(conn, case_stream(complaint_id))
    return fold(r.to_envelope().event for r in history), history


async def load_cases(
    conn: Connection, events: EventStore, complaint_ids: Iterable[UUID]
) -> dict[UUID, Case | None]:
    """Many cases in one query (None for one with no stream yet)."""
    streams = {complaint_id: case_stream(complaint_id) for complaint_id in complaint_ids}
    histories = await events.read_streams(conn, list(streams.values()))
    return {
        complaint_id: fold(r.to_envelope().event for r in histories.get(stream, []))
        for complaint_id, stream in streams.items()
    }


async def save_case_views(conn: Connection, cases: Sequence[Case]) -> None:
    """Every case's row and its work orders' rows, two statements for any number of cases."""
    if not cases:
        return
    await conn.execute(
        """
        INSERT INTO cases (complaint_id, area_code, category, status, round, level,
                           lead_responder_id, arbitrator_id, deliberation_item, updated_at, version)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[],
                             $6::text[], $7::text[], $8::text[], $9::uuid[], $10::timestamptz[],
                             $11::int[])
        ON CONFLICT (complaint_id) DO UPDATE SET
            area_code = excluded.area_code, category = excluded.category,
            status = excluded.status, round = excluded.round, level = excluded.level,
            lead_responder_id = excluded.lead_responder_id,
            arbitrator_id = excluded.arbitrator_id,
            deliberation_item = excluded.deliberation_item,
            updated_at = excluded.updated_at, version = excluded.version
        """,
        *columns(
            (
                case.complaint_id,
                case.area_code,
                case.category,
                case.status,
                case.round,
                case.level.name.lower(),
                case.lead.responder.id if case.lead else None,
                case.arbitration.arbitrator_id if case.arbitration else None,
                case.deliberation,
                case.updated_at,
                case.version,
            )
            for case in cases
        ),
    )
    orders = [(order, case) for case in cases for order in case.orders]
    if not orders:
        return
    await conn.execute(
        """
        INSERT INTO work_orders (work_order_id, complaint_id, responder_id, role, status, priority,
                                 rule_id, catalogue_version, due_at, issued_at, purpose,
                                 area_code, breached, updated_at, data)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::int[], $9::timestamptz[],
                             $10::timestamptz[], $11::text[], $12::text[], $13::bool[],
                             $14::timestamptz[], $15::jsonb[])
        ON CONFLICT (work_order_id) DO UPDATE SET
            status = excluded.status, due_at = excluded.due_at, breached = excluded.breached,
            updated_at = excluded.updated_at, data = excluded.data
        """,
        *columns(
            (
                order.work_order_id,
                case.complaint_id,
                order.responder.id,
                order.role.value,
                order.status.value,
                order.priority,
                order.rule_id,
                order.catalogue_version,
                _feedback_due(order),
                order.issued_at,
                order.purpose.value,
                order.area_code,
                order.breached,
                order.updated_at,
                order_json(order, case),
            )
            for order, case in orders
        ),
    )


def _feedback_due(order: WorkOrder) -> datetime:
    clock = order.clock(ClockName.FEEDBACK) or (order.clocks[-1] if order.clocks else None)
    return clock.due_at if clock else order.issued_at


def order_json(order: WorkOrder, case: Case) -> dict[str, Any]:
    """A work order as the responder API shows it (stored with the view row)."""
    return {
        "work_order_id": str(order.work_order_id),
        "complaint_id": str(case.complaint_id),
        "responder": {
            "id": order.responder.id,
            "name": order.responder.name,
            "kind": order.responder.kind.value,
        },
        "role": order.role.value,
        "role_label": labels.ROLE[order.role],
        "purpose": order.purpose.value,
        "purpose_label": PURPOSE_LABELS[order.purpose],
        "status": order.status.value,
        "status_label": ORDER_LABELS[order.status],
        "category": order.category,
        "area_code": order.area_code,
        "priority": order.priority,
        "task": order.task,
        "routing": {
            "rule_id": order.rule_id,
            "catalogue_version": order.catalogue_version,
            "reason": order.reason,
        },
        "clocks": [
            {
                "name": clock.name.value,
                "due_at": clock.due_at.isoformat(),
                "warn_at": clock.warn_at.isoformat(),
                "stopped_at": clock.stopped_at.isoformat() if clock.stopped_at else None,
                "suspended": clock.suspended,
                "warned": clock.warned_for is not None,
                "breached": clock.breached_for is not None,
            }
            for clock in order.clocks
        ],
        "extension": (
            {
                "requested_due_at": order.extension.requested_due_at.isoformat(),
                "reason": order.extension.reason,
                "requested_at": order.extension.requested_at.isoformat(),
            }
            if order.extension
            else None
        ),
        "extensions_granted": order.extensions_granted,
        "urged": order.urged,
        "report": order.report,
        "returned_reason": order.returned_reason,
        "registration_id": order.registration_id,
        "cadre": order.cadre,
        "round": order.round,
        "issued_at": order.issued_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


async def work_orders_of(conn: Connection, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM work_orders WHERE complaint_id = $1 ORDER BY issued_at, role DESC",
        complaint_id,
    )
    return [dict(row) for row in rows]


async def units_with_open_orders(conn: Connection, responder_ids: list[str]) -> list[str]:
    if not responder_ids:
        return []
    rows = await conn.fetch(
        "SELECT DISTINCT responder_id FROM work_orders WHERE responder_id = ANY($1) "
        "AND status = ANY($2) ORDER BY responder_id",
        responder_ids,
        [status.value for status in OPEN],
    )
    return [row["responder_id"] for row in rows]


async def find_order(conn: Connection, work_order_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM work_orders WHERE work_order_id = $1", work_order_id)
    return dict(row) if row else None


async def list_orders(
    conn: Connection,
    *,
    responder_id: str | None,
    area_patterns: list[str] | None,
    status: str | None,
    complaint_id: UUID | None,
    purpose: str | None,
    overdue: bool | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Orders one caller may see: its own (responder_id), or those in its areas (LIKE patterns)."""
    # Orders written before the case streams existed have no view data; they are not listed.
    clauses, args = ["data <> '{}'::jsonb"], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if responder_id is not None and area_patterns is not None:
        clauses.append(
            f"(responder_id = {arg(responder_id)} OR area_code LIKE ANY ({arg(area_patterns)}))"
        )
    elif responder_id is not None:
        clauses.append(f"responder_id = {arg(responder_id)}")
    elif area_patterns is not None:
        clauses.append(f"area_code LIKE ANY ({arg(area_patterns)})")
    if status is not None:
        clauses.append(f"status = {arg(status)}")
    if complaint_id is not None:
        clauses.append(f"complaint_id = {arg(complaint_id)}")
    if purpose is not None:
        clauses.append(f"purpose = {arg(purpose)}")
    if overdue is not None:
        clauses.append(f"breached = {arg(overdue)}")
    rows = await conn.fetch(
        f"SELECT data FROM work_orders WHERE {' AND '.join(clauses)} "
        f"ORDER BY issued_at DESC, work_order_id LIMIT {arg(limit)} OFFSET {arg(offset)}",
        *args,
    )
    return [row["data"] for row in rows]


async def pending_arbitrations(
    conn: Connection, arbitrator_id: str | None, area_patterns: list[str] | None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM cases WHERE arbitrator_id IS NOT NULL AND ("
        "($1::text IS NULL AND $2::text[] IS NULL) "
        "OR arbitrator_id = $1 OR area_code LIKE ANY ($2::text[])) "
        "ORDER BY updated_at",
        arbitrator_id,
        area_patterns,
    )
    return [dict(r) for r in rows]


# --- durable timers -------------------------------------------------------------------------

# Where sync_timers announces the earliest fire time (seconds since the epoch) of rows it added.
TIMERS_CHANNEL = "jiesu_dispatch_timers"


async def sync_timers(conn: Connection, before: set[Timer], after: set[Timer]) -> None:
    """Add the timers a change needs and drop those it ended.

    Neither statement ever waits for a timer poller: the delete skips rows a poller holds
    (the poller finds them stale when it looks and drops them itself), and the insert only
    adds rows that did not exist before this change. That keeps a command from queueing
    behind a poller that is firing timers.
    """
    gone, new = before - after, after - before
    if gone:
        await conn.execute(
            """
            DELETE FROM timers WHERE ctid IN (
                SELECT t.ctid FROM timers t
                JOIN unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
                     AS g(work_order_id, clock, kind, due_at) USING (work_order_id, clock, kind, due_at)
                FOR UPDATE OF t SKIP LOCKED)
            """,
            *_columns(gone),
        )
    if new:
        rows = list(new)
        # The earliest new row is announced on TIMERS_CHANNEL (delivered at commit, never for
        # a rollback), so that timer loops sleeping past it wake for it.
        await conn.execute(
            """
            WITH added AS (
                INSERT INTO timers (work_order_id, clock, kind, due_at, fire_at, complaint_id)
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                     $5::timestamptz[], $6::uuid[])
                ON CONFLICT DO NOTHING
                RETURNING fire_at)
            SELECT pg_notify($7, extract(epoch FROM min(fire_at))::text)
            FROM added HAVING count(*) > 0
            """,
            *_columns(rows),
            [t.fire_at for t in rows],
            [t.complaint_id for t in rows],
            TIMERS_CHANNEL,
        )


def _columns(timers: Iterable[Timer]) -> tuple[list[Any], ...]:
    rows = list(timers)
    return (
        [t.work_order_id for t in rows],
        [t.clock.value for t in rows],
        [t.kind for t in rows],
        [t.due_at for t in rows],
    )


async def own_case_for_now(conn: Connection, complaint_id: UUID) -> bool:
    """Whether this transaction may fire the case's clocks: no other poller's does (a lock on
    the case until the transaction ends, taken without waiting)."""
    owned: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('timers:' || $1::uuid, 0))",
        complaint_id,
    )
    return owned


async def claim_due_timers(conn: Connection, now: datetime, limit: int) -> list[Timer]:
    """Due timers no other worker holds, locked until the caller's transaction ends."""
    rows = await conn.fetch(
        "SELECT * FROM timers WHERE fire_at <= $1 ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [
        Timer(
            r["complaint_id"],
            r["work_order_id"],
            ClockName(r["clock"]),
            r["kind"],
            r["due_at"],
            r["fire_at"],
        )
        for r in rows
    ]


async def drop_timers(conn: Connection, timers: Iterable[Timer]) -> None:
    rows = list(timers)
    if rows:
        await conn.execute(
            "DELETE FROM timers WHERE (work_order_id, clock, kind, due_at) IN "
            "(SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]))",
            *_columns(rows),
        )


async def postpone_timers(conn: Connection, timers: Iterable[Timer], seconds: float) -> None:
    rows = list(timers)
    await conn.execute(
        "UPDATE timers SET fire_at = now() + make_interval(secs => $5) "
        "WHERE (work_order_id, clock, kind, due_at) IN "
        "(SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]))",
        *_columns(rows),
        seconds,
    )


async def timer_outlook(conn: Connection, now: datetime) -> tuple[datetime | None, dict[str, int]]:
    """The earliest row's fire time, and the rows due at `now` by clock: what the poller
    sleeps until, and what is due and not fired (one statement, both from the fire_at index)."""
    rows = await conn.fetch(
        "SELECT NULL AS clock, min(fire_at) AS first, 0 AS due FROM timers "
        "UNION ALL "
        "SELECT clock, NULL, count(*) FROM timers WHERE fire_at <= $1 GROUP BY clock",
        now,
    )
    first = next((r["first"] for r in rows if r["clock"] is None), None)
    return first, {r["clock"]: r["due"] for r in rows if r["clock"] is not None}


# --- the deliberation agenda ------------------------------------------------------------------


async def load_item(
    conn: Connection, events: EventStore, item_id: UUID
) -> agenda.AgendaItem | None:
    history = await events.read_stream(conn, agenda_stream(item_id))
    return agenda.fold(r.to_envelope().event for r in history)


def item_json(item: agenda.AgendaItem) -> dict[str, Any]:
    return {
        "item_id": str(item.item_id),
        "complaint_id": str(item.complaint_id),
        "community_code": item.community_code,
        "community_name": item.community_name,
        "district_code": item.district_code,
        "level": item.level.value,
        "level_label": agenda.LEVEL_LABELS[item.level],
        "stage": item.stage.value,
        "stage_label": agenda.STAGE_LABELS[item.stage],
        "title": item.title,
        "reason": item.reason,
        "topic": item.topic,
        "parties": list(item.parties),
        "meetings": [
            {
                "level": m.level,
                "held_at": m.held_at.isoformat(),
                "participants": m.participants,
                "minutes": m.minutes,
                "settled": m.settled,
                "ballot_id": str(m.ballot_id) if m.ballot_id else None,
            }
            for m in item.meetings
        ],
        "decision": item.decision,
        "assignments": [a.model_dump(mode="json") for a in item.assignments],
        "cost_shares": [c.model_dump(mode="json") for c in item.cost_shares],
        "verdict": item.verdict,
        "satisfied": item.satisfied,
        "history": [
            {
                "level": level,
                "stage": stage,
                "label": agenda.STAGE_LABELS[agenda.Stage(stage)],
                "at": at.isoformat(),
            }
            for level, stage, at in item.history
        ],
        "opened_at": item.opened_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }


async def save_item_view(conn: Connection, item: agenda.AgendaItem) -> None:
    await conn.execute(
        """
        INSERT INTO agenda_items (item_id, complaint_id, community_code, district_code, level,
                                  stage, updated_at, data)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (item_id) DO UPDATE SET
            district_code = excluded.district_code, level = excluded.level,
            stage = excluded.stage, updated_at = excluded.updated_at, data = excluded.data
        """,
        item.item_id,
        item.complaint_id,
        item.community_code,
        item.district_code,
        item.level.value,
        item.stage.value,
        item.updated_at,
        item_json(item),
    )


async def list_items(
    conn: Connection,
    *,
    level: str | None,
    area_patterns: list[str] | None,
    scope_patterns: list[str] | None,
    stage: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Items at `area_patterns` (the filter asked for) within `scope_patterns` (what the caller
    may read); None is no restriction."""
    rows = await conn.fetch(
        """
        SELECT data FROM agenda_items
        WHERE ($1::text IS NULL OR level = $1)
          AND ($2::text[] IS NULL OR community_code LIKE ANY ($2::text[])
               OR district_code LIKE ANY ($2::text[]))
          AND ($3::text[] IS NULL OR community_code LIKE ANY ($3::text[])
               OR district_code LIKE ANY ($3::text[]))
          AND ($4::text IS NULL OR stage = $4)
        ORDER BY updated_at DESC LIMIT $5 OFFSET $6
        """,
        level,
        area_patterns,
        scope_patterns,
        stage,
        limit,
        offset,
    )
    return [row["data"] for row in rows]
