"""Do the services agree on every open case? (intake's status and deadline, dispatch's case,
reporting's row). Run: python -m services.reporting.cli consistency [--grace-s N] [--confirm-after-s N]

It reads each service's own tables directly, read-only (every connection is opened with
default_transaction_read_only): intake's `complaints` view, dispatch's `cases` and
`work_orders`, reporting's `cases` and `case_work_orders`, on the databases the replay reads
(REPORTING_INTAKE_STORE_URL, REPORTING_DISPATCH_STORE_URL, REPORTING_DATABASE_URL). No service
is asked anything over HTTP and nothing is written.

A case is open when intake has not finished it (closed, withdrawn, answered, merged) or
dispatch has not (new, open, arbitration, deliberation). Events in flight make services
disagree for a moment, so a drift counts only when (1) the case's last change in intake and in
dispatch is older than the grace, and (2) it is still there, of the same kind, when the check
looks again after `confirm_after_s`. Kinds:

- missing_in_intake / missing_in_dispatch / missing_in_reporting: a service has no row;
- status: intake's status and dispatch's case disagree (e.g. intake dispatched, dispatch
  resolved);
- deadline: the deadline intake shows is not the lead order's (or dispatch pauses the case,
  deliberation or arbitration, while intake shows one);
- reporting_status: reporting's status is not intake's, or its dispatch state not dispatch's;
- reporting_deadline: reporting's lead order or its deadline is not dispatch's.

Reporting runs the check every REPORTING_CONSISTENCY_INTERVAL_S (0: never; the first one
an interval after it starts) and sets the gauges
jiesu_consistency_drift_cases{kind} and jiesu_consistency_checked_cases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from prometheus_client import Gauge

from services.reporting.settings import ReportingSettings

KINDS = (
    "missing_in_intake",
    "missing_in_dispatch",
    "missing_in_reporting",
    "status",
    "deadline",
    "reporting_status",
    "reporting_deadline",
)
DRIFT_CASES = Gauge(
    "jiesu_consistency_drift_cases",
    "Open cases on which the services disagree beyond the grace, by kind of drift",
    ["kind"],
)
CHECKED_CASES = Gauge(
    "jiesu_consistency_checked_cases", "Open cases the last consistency check compared"
)

FINISHED = ("closed", "withdrawn", "answered", "merged")  # intake's
DISPATCH_OPEN = ("new", "open", "arbitration", "deliberation")
PAUSED = frozenset({"arbitration", "deliberation"})  # no deadline runs
# The dispatch case states each intake status agrees with (no row: None).
AGREES: dict[str, frozenset[str | None]] = {
    "filed": frozenset({None, "new"}),
    "triage": frozenset({None, "new"}),
    "classified": frozenset({None, "new"}),
    "dispatched": frozenset({"open", "arbitration", "deliberation"}),
    "signed": frozenset({"open", "arbitration", "deliberation"}),
    "resolved": frozenset({"resolved"}),
    "called_back": frozenset({"resolved"}),
    "closed": frozenset({"resolved", "cancelled", None}),
    "withdrawn": frozenset({"cancelled", None}),
    "answered": frozenset({None, "cancelled"}),
    "merged": frozenset({None, "cancelled"}),
    # a redo lasts until dispatch issues the new round's lead (then intake is dispatched again)
    "redo": frozenset(),
}
EVERY_STATUS = tuple(AGREES)
WITH_LEAD = frozenset({"dispatched", "signed"})  # intake shows the lead's deadline
SLACK = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Drift:
    complaint_id: UUID
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class Report:
    checked: int
    drifts: list[Drift]

    def by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for kind in {(d.complaint_id, d.kind) for d in self.drifts}:
            counts[kind[1]] += 1
        return counts


async def connect_read_only(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, server_settings={"default_transaction_read_only": "on"})


async def _fetch(url: str, query: str, *args: Any) -> dict[UUID, asyncpg.Record]:
    conn = await connect_read_only(url)
    try:
        return {row["complaint_id"]: row for row in await conn.fetch(query, *args)}
    finally:
        await conn.close()


INTAKE_OPEN = (
    "SELECT complaint_id, status, due_at, updated_at FROM complaints "
    "WHERE status <> ALL($1::text[]) OR complaint_id = ANY($2::uuid[])"
)
DISPATCH_CASES = (
    "SELECT c.complaint_id, c.status, c.updated_at, lead.work_order_id, lead.due_at "
    "FROM cases c LEFT JOIN LATERAL (SELECT w.work_order_id, w.due_at FROM work_orders w "
    "  WHERE w.complaint_id = c.complaint_id AND w.role = 'lead' "
    "  ORDER BY w.issued_at DESC LIMIT 1) lead ON true "
    "WHERE c.status = ANY($1::text[]) OR c.complaint_id = ANY($2::uuid[])"
)
REPORTING_CASES = (
    "SELECT c.complaint_id, c.status, c.dispatch_state, c.lead_work_order_id, w.due_at "
    "FROM cases c LEFT JOIN case_work_orders w ON w.work_order_id = c.lead_work_order_id "
    "WHERE c.complaint_id = ANY($1::uuid[])"
)


@dataclass(frozen=True, slots=True)
class Sources:
    intake: str
    dispatch: str
    reporting: str

    @classmethod
    def of(cls, settings: ReportingSettings) -> Sources:
        return cls(settings.intake_store_url, settings.dispatch_store_url, settings.database_url)


async def _rows(
    sources: Sources, only: Sequence[UUID] | None
) -> tuple[dict[UUID, Any], dict[UUID, Any], dict[UUID, Any]]:
    ids = list(only or [])
    # with `only`, just those cases (a second look); else every open one in either service
    finished = list(EVERY_STATUS) if only else list(FINISHED)
    intake = await _fetch(sources.intake, INTAKE_OPEN, finished, ids)
    open_states = [] if only else list(DISPATCH_OPEN)
    dispatch = await _fetch(sources.dispatch, DISPATCH_CASES, open_states, list({*ids, *intake}))
    if not only:
        # a complaint intake finished while dispatch still holds it open: read intake's row
        others = [cid for cid in dispatch if cid not in intake]
        intake |= await _fetch(sources.intake, INTAKE_OPEN, list(EVERY_STATUS), others)
    reporting = await _fetch(sources.reporting, REPORTING_CASES, list({*intake, *dispatch}))
    return intake, dispatch, reporting


def _differ(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is not b
    return abs(a - b) > SLACK


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "—"


def compare(
    complaint_id: UUID,
    intake: Mapping[str, Any] | None,
    dispatch: Mapping[str, Any] | None,
    reporting: Mapping[str, Any] | None,
) -> list[Drift]:
    """How the three rows of one case disagree ([] when they agree)."""
    drifts: list[Drift] = []

    def drift(kind: str, detail: str) -> None:
        drifts.append(Drift(complaint_id, kind, detail))

    if intake is None:
        drift("missing_in_intake", f"dispatch {dispatch['status'] if dispatch else '—'}")
        return drifts
    status = intake["status"]
    state = dispatch["status"] if dispatch else None
    if reporting is None:
        drift("missing_in_reporting", f"intake {status}")
    if dispatch is None and None not in AGREES[status]:
        drift("missing_in_dispatch", f"intake {status}")
    elif state not in AGREES[status]:
        drift("status", f"intake {status}, dispatch {state}")
    elif dispatch is not None and status in WITH_LEAD:
        expected = None if state in PAUSED else dispatch["due_at"]
        if _differ(intake["due_at"], expected):
            drift("deadline", f"intake {_when(intake['due_at'])}, dispatch {_when(expected)}")
    if reporting is not None:
        shown = reporting["dispatch_state"]
        expected_state = None if state in {None, "new"} else state
        if expected_state in PAUSED:
            expected_state = "open"
        if reporting["status"] != status or shown != expected_state:
            drift(
                "reporting_status",
                f"reporting {reporting['status']}/{shown}, intake {status}, dispatch {state}",
            )
        elif dispatch is not None and (
            reporting["lead_work_order_id"] != dispatch["work_order_id"]
            or _differ(reporting["due_at"], dispatch["due_at"])
        ):
            drift(
                "reporting_deadline",
                f"reporting {_when(reporting['due_at'])}, dispatch {_when(dispatch['due_at'])}",
            )
    return drifts


def _settled(rows: Iterable[Mapping[str, Any] | None], before: datetime) -> bool:
    return all(row is None or row["updated_at"] <= before for row in rows)


async def look(sources: Sources, grace_s: float, only: Sequence[UUID] | None = None) -> Report:
    """One look: every open case (or `only` those) whose last change is older than the grace."""
    intake, dispatch, reporting = await _rows(sources, only)
    before = datetime.now(UTC) - timedelta(seconds=grace_s)
    checked = 0
    drifts: list[Drift] = []
    for complaint_id in dict.fromkeys([*intake, *dispatch]):
        i, d = intake.get(complaint_id), dispatch.get(complaint_id)
        if not _settled((i, d), before):
            continue  # still moving: events may be in flight
        checked += 1
        drifts += compare(complaint_id, i, d, reporting.get(complaint_id))
    return Report(checked, drifts)


async def check(sources: Sources, grace_s: float, confirm_after_s: float) -> Report:
    """The drifts that are still there, of the same kind, on a second look after a pause."""
    first = await look(sources, grace_s)
    if not first.drifts:
        return first
    await asyncio.sleep(confirm_after_s)
    suspects = list(dict.fromkeys(d.complaint_id for d in first.drifts))
    again = await look(sources, grace_s, suspects)
    seen = {(d.complaint_id, d.kind) for d in first.drifts}
    return Report(first.checked, [d for d in again.drifts if (d.complaint_id, d.kind) in seen])


def publish(report: Report) -> None:
    CHECKED_CASES.set(report.checked)
    for kind, count in report.by_kind().items():
        DRIFT_CASES.labels(kind=kind).set(count)
