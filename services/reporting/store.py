"""Reporting's database: the read models' creation, their rows written, and the queries over
them (cases, the public board, the agenda, what reports call things)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.reporting.projections import MODELS, SCHEMA_DIR
from services.reporting.upsert import JSON_TYPES, Layout, Upsert, place
from shared.db import SCHEMA_LOCK, Connection, apply_schema
from shared.events.area import like_patterns


async def prepare_models(pool: asyncpg.Pool) -> list[str]:
    """Create the read models; a model whose shape changed since it was built starts empty.
    Returns the models to fill from the event stores: those that changed, in a database that
    held read models (of any shape). A new database fills from the bus as events come."""
    await apply_schema(pool, SCHEMA_DIR / "models.sql")
    async with pool.acquire() as conn, conn.transaction():
        # Two workers starting at once: one decides, the other then finds the versions current.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        built = {
            r["name"]: r["version"]
            for r in await conn.fetch("SELECT name, version FROM read_models")
        }
        stale = [m for m in MODELS.values() if built.get(m.name) != m.version]
        had_rows: list[str] = []  # models whose tables this database already held
        for model in stale:
            for table in model.tables:
                if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                    if model.name not in had_rows:
                        had_rows.append(model.name)
                    await conn.execute(f"DROP TABLE {table} CASCADE")
            await conn.execute(
                "INSERT INTO read_models (name, version) VALUES ($1, $2) "
                "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, rebuilt_at = NULL",
                model.name,
                model.version,
            )
    await apply_schema(pool, *(model.schema for model in MODELS.values()))
    return [m.name for m in stale] if had_rows else []


async def rebuilds(conn: Connection) -> dict[str, dict[str, Any]]:
    """Each read model's version and last rebuild (its row of read_models), by name."""
    return {r["name"]: dict(r) for r in await conn.fetch("SELECT * FROM read_models")}


# --- rows written: the live consumer's and the rebuild's ----------------------------------------

# Rows by layout (a table's, see upsert.Layout), then by key: each row's values, all of its
# upserts merged into them.
Grouped = dict[Layout, dict[tuple[Any, ...], list[Any]]]


def group(writes: Iterable[Upsert], into: Grouped | None = None) -> Grouped:
    """Writes by table and row. The upserts commute, so one merged row per key, and the rows
    of a table written together in any order, give the rows that running them one by one
    would."""
    grouped: Grouped = {} if into is None else into
    for write in writes:
        shape, values = write.row()
        where = place(shape)
        rows = grouped.get(where.layout)
        if rows is None:
            rows = grouped[where.layout] = {}
        key = tuple(values[: len(write.key)])
        earlier = rows.get(key)
        if earlier is None:
            rows[key] = where.row(values)
        else:
            where.merge(earlier, values)
    return grouped


# Column types by table (the same in the live tables and a rebuild's), read once.
_TYPES: dict[str, dict[str, str]] = {}


async def column_types(conn: Connection, table: str, columns: Iterable[str]) -> dict[str, str]:
    known = _TYPES.get(table, {})
    if not all(column in known for column in columns):  # first use, or a column added since
        rows = await conn.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) AS type, atthasdef "
            "FROM pg_attribute "
            "WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
            table,
        )
        # A layout's row writes NULL into a column its upserts leave out: one with a default
        # would lose it (every column an upsert writes is nullable, without a default).
        if defaulted := {row["attname"] for row in rows if row["atthasdef"]} & set(columns):
            raise ValueError(f"{table}: upserts write {sorted(defaulted)}, which have defaults")
        known = _TYPES[table] = {row["attname"]: row["type"] for row in rows}
    return known


async def write(conn: Connection, grouped: Grouped) -> None:
    """One multi-row statement per layout."""
    for layout, rows in grouped.items():
        if not rows:
            continue
        types = await column_types(conn, layout.table, layout.columns)
        full = layout.full(rows.values())
        _, order = layout.canonical()
        if len(full) == 1:
            await conn.execute(layout.sql(), *(full[0][i] for i in order))
            continue
        columns = list(zip(*full, strict=True))
        names = [layout.columns[i] for i in order]
        arrays = [
            [None if v is None else json.dumps(v, ensure_ascii=False) for v in columns[i]]
            if types[name] in JSON_TYPES
            else columns[i]
            for name, i in zip(names, order, strict=True)
        ]
        await conn.execute(layout.sql([types[name] for name in names]), *arrays)


async def apply(conn: Connection, writes: Iterable[Upsert]) -> None:
    await write(conn, group(writes))


# --- what reports call things ------------------------------------------------------------------
# Areas, units and categories by the city model's names, else by what their work orders
# carried (a unit or category the model does not list yet).


async def _lookup(conn: Connection, sql: str, keys: Iterable[str]) -> dict[str, str]:
    wanted = sorted({k for k in keys if k})
    if not wanted:
        return {}
    return {r[0]: r[1] for r in await conn.fetch(sql, wanted)}


async def area_names(conn: Connection, codes: Iterable[str]) -> dict[str, str]:
    return await _lookup(conn, "SELECT code, name FROM areas WHERE code = ANY($1::text[])", codes)


async def responder_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    ids = set(ids)
    names = await _lookup(conn, "SELECT id, name FROM responders WHERE id = ANY($1::text[])", ids)
    names.update(
        await _lookup(
            conn,
            "SELECT DISTINCT ON (responder_id) responder_id, responder_name FROM case_work_orders "
            "WHERE responder_id = ANY($1::text[]) AND responder_name IS NOT NULL",
            ids - names.keys(),
        )
    )
    return names


async def category_names(conn: Connection, codes: Iterable[str]) -> dict[str, str]:
    codes = set(codes)
    names = await _lookup(
        conn, "SELECT code, name FROM categories WHERE code = ANY($1::text[])", codes
    )
    names.update(
        await _lookup(
            conn,
            "SELECT DISTINCT ON (category) category, category_name FROM cases "
            "WHERE category = ANY($1::text[]) AND category_name IS NOT NULL "
            "ORDER BY category, lead_seq DESC",
            codes - names.keys(),
        )
    )
    return names


# --- queries: cases --------------------------------------------------------------------------


def sql_within(param: str, alias: str = "c") -> str:
    """SQL: the case (a row of `cases` as `alias`) lies in the area `param` names, at whatever
    level it is, or below a finer local code."""
    c = alias
    return (
        f"({param} IN ({c}.district_code, {c}.street_code, {c}.community_code, {c}.grid_code,"
        f" {c}.place_code) OR {c}.area_code = {param} OR {c}.area_code LIKE {param} || '-%')"
    )


class Where:
    """A WHERE clause built from optional filters, with numbered parameters."""

    def __init__(self, *fixed: str, args: list[Any] | None = None) -> None:
        self.clauses = list(fixed)
        self.args: list[Any] = list(args or [])

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, sql: str, value: Any) -> None:
        """`sql` with `{}` where the value goes; nothing when the value is None or empty."""
        if value is None or value == "":
            return
        self.clauses.append(sql.format(self.param(value)))

    def within(self, area: str | None) -> None:
        if area:
            self.clauses.append(sql_within(self.param(area)))

    @property
    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""

    def page(self, limit: int | None, offset: int) -> str:
        limit_sql = f" LIMIT {self.param(limit)}" if limit is not None else ""
        return f"{limit_sql} OFFSET {self.param(offset)}"


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    area_code: str | None = None
    category: str | None = None
    type: str | None = None
    channel: str | None = None
    responder_id: str | None = None
    filed_from: datetime | None = None
    filed_to: datetime | None = None
    case_number: str | None = None
    phone_tail: str | None = None  # the masked phone's last digits (console keys only)
    within: str | None = None  # the caller's area (None: everywhere)

    def where(self) -> Where:
        where = Where()
        where.within(self.within)
        where.add("c.case_number = {}", self.case_number)
        where.add("c.masked_phone LIKE '%' || {}", self.phone_tail)
        if self.status == "pending":
            where.clauses.append(
                "c.status IS NULL AND c.filed_at IS NULL AND c.lead_responder_id IS NULL"
            )
        elif self.status == "dispatched":
            where.clauses.append(
                "c.lead_responder_id IS NOT NULL AND coalesce(c.status, 'dispatched') "
                "IN ('filed', 'triage', 'classified', 'dispatched')"
            )
        elif self.status in ("filed", "triage", "classified"):
            where.add("c.status = {} AND c.lead_responder_id IS NULL", self.status)
        else:
            where.add("c.status = {}", self.status)
        where.within(self.area_code)
        where.add("c.category = {}", self.category)
        where.add("c.type = {}", self.type)
        where.add("c.channel = {}", self.channel)
        where.add("c.lead_responder_id = {}", self.responder_id)
        where.add("c.filed_at >= {}", self.filed_from)
        where.add("c.filed_at < {}", self.filed_to)
        return where


async def find_cases(
    conn: Connection, case_filter: CaseFilter, limit: int | None, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    where = case_filter.where()
    total: int = await conn.fetchval(f"SELECT count(*) FROM cases c{where.sql}", *where.args)
    page = where.page(limit, offset)
    rows = await conn.fetch(
        f"SELECT c.*, w.due_at AS lead_due_at FROM cases c "
        f"LEFT JOIN case_work_orders w ON w.work_order_id = c.lead_work_order_id{where.sql} "
        f"ORDER BY c.filed_at DESC NULLS LAST, c.complaint_id{page}",
        *where.args,
    )
    return total, [dict(row) for row in rows]


async def get_case(
    conn: Connection, complaint_id: UUID, within: str | None = None
) -> dict[str, Any] | None:
    """The case with its orders, notices and timeline; None if unknown or outside `within`."""
    where = Where("c.complaint_id = $1", args=[complaint_id])
    where.within(within)
    row = await conn.fetchrow(
        "SELECT c.*, w.due_at AS lead_due_at FROM cases c LEFT JOIN case_work_orders w "
        f"ON w.work_order_id = c.lead_work_order_id{where.sql}",
        *where.args,
    )
    if row is None:
        return None
    case = dict(row)
    case["work_orders"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT * FROM case_work_orders WHERE complaint_id = $1 "
            "ORDER BY issued_at NULLS LAST, role DESC, work_order_id",
            complaint_id,
        )
    ]
    case["notifications"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT * FROM case_notifications WHERE complaint_id = $1 "
            "ORDER BY updated_at, notification_id",
            complaint_id,
        )
    ]
    case["timeline"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT event_id, type, occurred_at, projected_at, source, summary, reason, rule_id, "
            "rule_version, trace_id FROM case_timeline "
            "WHERE complaint_id = $1 ORDER BY occurred_at, event_id",
            complaint_id,
        )
    ]
    return case


# --- the public board 督办墙 ---------------------------------------------------------------

# Open: not ended at intake (answered, merged, withdrawn, closed) and not stopped by dispatch.
OPEN_MATTER = (
    "c.filed_at IS NOT NULL AND coalesce(c.status, '') NOT IN ('answered', 'merged', 'withdrawn', 'closed')"
    " AND coalesce(c.dispatch_state, '') <> 'cancelled'"
)


@dataclass(frozen=True, slots=True)
class BoardFilter:
    area: str | None = None
    responder_id: str | None = None
    category: str | None = None
    overdue: bool | None = None
    escalated: bool | None = None
    reported: bool | None = None  # include matters reported and waiting for the callback
    by_place: bool = False  # street by street, community by community (the wall), then urgency


async def board(
    conn: Connection, board_filter: BoardFilter, as_of: datetime, limit: int | None, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    where = Where(OPEN_MATTER)
    now = where.param(as_of)
    where.clauses.append(f"{now}::timestamptz IS NOT NULL")  # the count names it too
    where.within(board_filter.area)
    where.add("c.lead_responder_id = {}", board_filter.responder_id)
    where.add("c.category = {}", board_filter.category)
    waiting_callback = "(c.dispatch_state = 'resolved' OR c.status IN ('resolved', 'called_back'))"
    if not board_filter.reported:
        where.clauses.append(f"NOT {waiting_callback}")
    late = f"(w.due_at < {now} AND NOT coalesce(c.deliberating, false) AND NOT {waiting_callback})"
    if board_filter.overdue is not None:
        where.clauses.append(late if board_filter.overdue else f"NOT coalesce({late}, false)")
    if board_filter.escalated is not None:
        where.clauses.append(
            "c.escalation_level IS NOT NULL"
            if board_filter.escalated
            else "c.escalation_level IS NULL"
        )
    base = (
        "FROM cases c LEFT JOIN case_work_orders w ON w.work_order_id = c.lead_work_order_id "
        "LEFT JOIN responders r ON r.id = c.lead_responder_id "
        "LEFT JOIN areas a ON a.code = c.area_code "
        "LEFT JOIN areas p ON p.code = c.place_code "
        "LEFT JOIN areas s ON s.code = c.street_code "
        "LEFT JOIN areas m ON m.code = c.community_code "
        "LEFT JOIN categories k ON k.code = c.category"
    )
    total: int = await conn.fetchval(f"SELECT count(*) {base}{where.sql}", *where.args)
    page = where.page(limit, offset)
    places = (
        "c.street_code NULLS LAST, c.community_code NULLS LAST, " if board_filter.by_place else ""
    )
    rows = await conn.fetch(
        f"""
        SELECT c.complaint_id, c.case_number, c.category, coalesce(k.name, c.category_name) AS category_name,
               c.status, c.dispatch_state, c.filed_at, c.area_code, c.street_code, c.community_code,
               coalesce(p.name, a.name, m.name) AS place_name, s.name AS street_name,
               m.name AS community_name, c.lead_work_order_id, c.lead_responder_id,
               c.lead_responder_name, c.lead_responder_kind, r.person AS responsible_person,
               w.signed_by, w.signed_at, w.issued_at AS dispatched_at, w.due_at, w.extended,
               c.escalation_level, c.escalated_to, c.deliberating, c.redo_count,
               c.last_urged_at, c.last_supervised_at, w.purpose AS lead_purpose,
               (SELECT q.responder_name FROM case_work_orders q
                 WHERE q.complaint_id = c.complaint_id AND q.purpose = 'committee'
                   AND q.resolved_at IS NOT NULL
                 ORDER BY q.resolved_at DESC LIMIT 1) AS dispatched_by,
               extract(epoch FROM w.due_at - {now})::float8 AS seconds_left
        {base}{where.sql}
        ORDER BY {places}coalesce({late}, false) DESC, w.due_at NULLS LAST, c.filed_at,
                 c.complaint_id{page}
        """,
        *where.args,
    )
    return total, [dict(row) for row in rows]


# The board's wake-up: the live consumer's batch transaction notifies this channel when it
# wrote a table the board reads (delivered at commit, once per batch, never on a rollback).
BOARD_CHANNEL = "jiesu_board"
BOARD_TABLES = frozenset({"cases", "case_work_orders", "areas", "responders", "categories"})


def touches_board(grouped: Grouped) -> bool:
    return any(layout.table in BOARD_TABLES for layout, rows in grouped.items() if rows)


async def board_changed(conn: Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", BOARD_CHANNEL)


async def board_choices(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """What the board's filters offer: the city's streets and communities, and its categories."""
    areas = await conn.fetch(
        "SELECT code, name, level, parent FROM areas WHERE level IN ('street', 'community') "
        "AND NOT coalesce(removed, false) ORDER BY code"
    )
    categories = await conn.fetch(
        "SELECT code, name FROM categories WHERE NOT coalesce(removed, false) ORDER BY code"
    )
    return {
        "streets": [dict(a) for a in areas if a["level"] == "street"],
        "communities": [dict(a) for a in areas if a["level"] == "community"],
        "categories": [dict(c) for c in categories],
    }


# --- the agenda 议事清单 --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgendaFilter:
    level: str | None = None
    community_code: str | None = None
    district_code: str | None = None
    stage: str | None = None
    open: bool | None = None
    within: str | None = None  # the caller's area (None: everywhere)


def agenda_within(param: str) -> str:
    """SQL: the agenda item (`i`) lies in the area `param` names: its district, its community,
    or the community's street."""
    return (
        f"({param} IN (i.district_code, i.community_code)"
        f" OR {param} = left(i.community_code, 9) || '000')"
    )


async def agenda(
    conn: Connection, agenda_filter: AgendaFilter, limit: int | None, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    where = Where("i.opened_at IS NOT NULL")
    where.add("i.level = {}", agenda_filter.level)
    where.add("i.community_code = {}", agenda_filter.community_code)
    where.add("i.district_code = {}", agenda_filter.district_code)
    where.add("i.stage = {}", agenda_filter.stage)
    if agenda_filter.within:
        where.clauses.append(agenda_within(where.param(agenda_filter.within)))
    if agenda_filter.open is not None:
        where.clauses.append(
            "i.stage <> 'reviewed'" if agenda_filter.open else "i.stage = 'reviewed'"
        )
    total: int = await conn.fetchval(f"SELECT count(*) FROM agenda_items i{where.sql}", *where.args)
    page = where.page(limit, offset)
    rows = await conn.fetch(
        f"SELECT i.*, c.case_number, d.name AS district_name FROM agenda_items i "
        f"LEFT JOIN cases c USING (complaint_id) LEFT JOIN areas d ON d.code = i.district_code"
        f"{where.sql} ORDER BY i.stage = 'reviewed', i.stage_at DESC, i.item_id{page}",
        *where.args,
    )
    return total, [dict(row) for row in rows]


# --- the community 大党委 and its joint meetings ------------------------------------------------


def _in_area(column: str, param: str) -> str:
    """SQL: `column` (a community code) matches one of the LIKE patterns `param` holds (NULL:
    anywhere); see `_patterns`."""
    return f"({param}::text[] IS NULL OR {column} LIKE ANY ({param}::text[]))"


def _patterns(within: str | None) -> list[str] | None:
    return like_patterns(within) if within else None


async def council_meetings(
    conn: Connection, community_code: str | None, within: str | None
) -> list[dict[str, Any]]:
    """The meetings (newest first) with their council's members, each with its duties and how
    each stands (its work order's steps)."""
    rows = await conn.fetch(
        "SELECT m.*, c.members, c.cadence_months FROM council_meetings m "
        "LEFT JOIN councils c USING (community_code) "
        "WHERE m.scheduled_for IS NOT NULL AND ($1::text IS NULL OR m.community_code = $1) "
        f"AND {_in_area('m.community_code', '$2')} ORDER BY m.scheduled_for DESC",
        community_code,
        _patterns(within),
    )
    duties = await conn.fetch(
        "SELECT d.*, coalesce(w.due_at, d.due_at) AS due, w.signed_at, w.resolved_at, "
        "w.cancelled_at, w.returned_at FROM council_duties d "
        "LEFT JOIN case_work_orders w USING (work_order_id) "
        "WHERE d.meeting_id = ANY ($1::uuid[]) ORDER BY d.decided_at, d.responder_id",
        [row["meeting_id"] for row in rows],
    )
    meetings = [dict(row) | {"duties": []} for row in rows]
    by_id = {m["meeting_id"]: m for m in meetings}
    for duty in duties:
        by_id[duty["meeting_id"]]["duties"].append(dict(duty))
    return meetings


async def decisions_on_time(
    conn: Connection, community_code: str | None, within: str | None, as_of: datetime
) -> tuple[int, int]:
    """(duties due, duties resolved by their deadline): a duty counts once its deadline has
    passed or it was resolved; one cancelled or returned counts in neither."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE coalesce(w.due_at, d.due_at) <= $3 "
        "                         OR w.resolved_at IS NOT NULL) AS due, "
        "       count(*) FILTER (WHERE w.resolved_at <= coalesce(w.due_at, d.due_at)) AS on_time "
        "FROM council_duties d LEFT JOIN case_work_orders w USING (work_order_id) "
        "WHERE d.due_at IS NOT NULL AND w.cancelled_at IS NULL AND w.returned_at IS NULL "
        "AND ($1::text IS NULL OR d.community_code = $1) "
        f"AND {_in_area('d.community_code', '$2')}",
        community_code,
        _patterns(within),
        as_of,
    )
    assert row is not None
    return row["due"], row["on_time"]


# --- consultations and ballots (征求意见、表决) ------------------------------------------------

# A ballot's votes so far: the closing's count once closed, else the vote rows.
_CAST = (
    "coalesce(b.cast_count, (SELECT count(*) FROM ballot_votes v WHERE v.ballot_id = b.ballot_id))"
)


def _ballots_within(where: Where, area: str | None) -> None:
    """The ballots (`b`) for `area` or any area below it."""
    if area:
        where.clauses.append(f"b.area_code LIKE ANY ({where.param(like_patterns(area))}::text[])")


async def ballots(
    conn: Connection, area: str | None, closed: bool | None, limit: int | None, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    where = Where("b.opened_at IS NOT NULL")
    _ballots_within(where, area)
    if closed is not None:
        where.clauses.append("b.closed_at IS NOT NULL" if closed else "b.closed_at IS NULL")
    total: int = await conn.fetchval(f"SELECT count(*) FROM ballots b{where.sql}", *where.args)
    page = where.page(limit, offset)
    rows = await conn.fetch(
        f"SELECT b.*, {_CAST} AS cast_so_far, a.name AS community_name, "
        "(SELECT jsonb_object_agg(method, n) FROM (SELECT method, count(*) AS n "
        " FROM ballot_votes v WHERE v.ballot_id = b.ballot_id GROUP BY method) m) AS by_method "
        f"FROM ballots b LEFT JOIN areas a ON a.code = b.community_code{where.sql} "
        f"ORDER BY b.closes_at DESC, b.ballot_id{page}",
        *where.args,
    )
    return total, [dict(row) for row in rows]


async def ballot(conn: Connection, ballot_id: Any) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT b.*, {_CAST} AS cast_so_far, a.name AS community_name, "
        "(SELECT jsonb_object_agg(method, n) FROM (SELECT method, count(*) AS n "
        " FROM ballot_votes v WHERE v.ballot_id = b.ballot_id GROUP BY method) m) AS by_method "
        "FROM ballots b LEFT JOIN areas a ON a.code = b.community_code "
        "WHERE b.ballot_id = $1 AND b.opened_at IS NOT NULL",
        ballot_id,
    )
    return dict(row) if row else None


async def turnout(
    conn: Connection, area: str | None, month: str | None, timezone: str
) -> list[dict[str, Any]]:
    """Consultation turnout 参与率 per community and month (of closing): households that voted
    ÷ households on the rolls, over the closed ballots."""
    where = Where("b.closed_at IS NOT NULL", args=[timezone])
    _ballots_within(where, area)
    where.add("to_char(b.closed_at AT TIME ZONE $1, 'YYYY-MM') = {}", month)
    rows = await conn.fetch(
        "SELECT b.community_code, a.name AS community_name,"
        " to_char(b.closed_at AT TIME ZONE $1, 'YYYY-MM') AS month,"
        " count(*) AS ballots, sum(b.eligible) AS eligible, sum(b.cast_count) AS cast_count,"
        " count(*) FILTER (WHERE b.quorum_met) AS quorum_met,"
        " count(*) FILTER (WHERE b.carried) AS carried "
        f"FROM ballots b LEFT JOIN areas a ON a.code = b.community_code{where.sql} "
        "GROUP BY 1, 2, 3 ORDER BY 3 DESC, 1",
        *where.args,
    )
    return [dict(row) for row in rows]
