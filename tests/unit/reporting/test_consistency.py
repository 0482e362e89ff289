"""The consistency check's judgement of one case's three rows (intake, dispatch, reporting)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reporting import consistency
from services.reporting.cli import table
from services.reporting.consistency import Drift, Report, Sources, compare

CASE = uuid.uuid4()
ORDER = uuid.uuid4()
DUE = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
LATER = DUE + timedelta(days=1)


def rows(
    status: str = "signed",
    due: datetime | None = DUE,
    state: str = "open",
    lead_due: datetime = DUE,
    reported: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    intake = {"status": status, "due_at": due}
    dispatch = {"status": state, "work_order_id": ORDER, "due_at": lead_due}
    shown = "open" if state in {"open", "arbitration", "deliberation"} else state
    reporting = {
        "status": reported or status,
        "dispatch_state": shown,
        "lead_work_order_id": ORDER,
        "due_at": lead_due,
    }
    return intake, dispatch, reporting


def reporting_with(**changes: Any) -> tuple[Any, Any, Any]:
    intake, dispatch, reporting = rows()
    return intake, dispatch, {**reporting, **changes}


def kinds(intake: Any, dispatch: Any, reporting: Any) -> list[str]:
    return [d.kind for d in compare(CASE, intake, dispatch, reporting)]


def test_three_rows_that_agree_are_no_drift():
    assert kinds(*rows()) == []
    assert kinds(*rows(status="resolved", state="resolved")) == []
    # paused: no deadline runs, and intake shows none
    assert kinds(*rows(due=None, state="deliberation")) == []
    assert kinds(*rows(due=None, state="arbitration")) == []
    # not dispatched yet: dispatch may not know the case at all
    intake, _, reporting = rows(status="classified", due=LATER)
    assert kinds(intake, None, {**reporting, "dispatch_state": None}) == []


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (rows(due=LATER), ["deadline"]),
        (rows(state="arbitration"), ["deadline"]),  # intake shows a deadline while paused
        (rows(state="resolved"), ["status"]),  # reporting follows each faithfully
        (rows(reported="dispatched"), ["reporting_status"]),
        (reporting_with(due_at=LATER), ["reporting_deadline"]),
        (reporting_with(lead_work_order_id=uuid.uuid4()), ["reporting_deadline"]),
        ((rows()[0], None, rows()[2]), ["missing_in_dispatch", "reporting_status"]),
        ((*rows()[:2], None), ["missing_in_reporting"]),
        ((None, rows()[1], None), ["missing_in_intake"]),
        (rows(status="redo", due=None), ["status"]),  # a redo dispatch never took up
    ],
    ids=[
        "deadline",
        "paused",
        "status",
        "reporting-status",
        "reporting-deadline",
        "reporting-lead",
        "no-dispatch",
        "no-reporting",
        "no-intake",
        "redo",
    ],
)
def test_each_kind_of_drift_is_named(case, expected):
    assert kinds(*case) == expected


def test_the_table_lists_each_drift_and_counts_cases_per_kind():
    other = uuid.uuid4()
    report = Report(
        checked=3,
        drifts=[
            Drift(CASE, "deadline", "intake a, dispatch b"),
            Drift(other, "deadline", "intake c, dispatch d"),
            Drift(other, "reporting_status", "x"),
        ],
    )
    assert report.by_kind()["deadline"] == 2 and report.by_kind()["status"] == 0
    printed = table(report)
    assert f"deadline               {CASE}" in printed
    assert printed.endswith("偏差 drifts: deadline 2, reporting_status 1")
    assert table(Report(3, [])).endswith("无偏差 no drift")


async def test_a_drift_counts_only_when_a_second_look_finds_it_again_of_the_same_kind(
    monkeypatch,
):
    moved, healed, changed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    looks = [
        Report(
            5,
            [
                Drift(moved, "deadline", "a"),
                Drift(healed, "status", "b"),
                Drift(changed, "status", "c"),
            ],
        ),
        Report(3, [Drift(moved, "deadline", "a"), Drift(changed, "deadline", "c")]),
    ]
    asked: list[Any] = []

    async def look(sources, grace_s, only=None):
        asked.append((grace_s, only))
        return looks[len(asked) - 1]

    monkeypatch.setattr(consistency, "look", look)
    report = await consistency.check(Sources("i", "d", "r"), grace_s=30, confirm_after_s=0)
    assert report.checked == 5
    assert [(d.complaint_id, d.kind) for d in report.drifts] == [(moved, "deadline")]
    assert asked == [(30, None), (30, [moved, healed, changed])]  # only the suspects again
