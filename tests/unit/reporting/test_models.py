"""Reporting's pure parts: the upserts' SQL, the board's words."""

from __future__ import annotations

import pytest

from services.reporting import domain
from services.reporting.measures import COUNTS, load_config
from services.reporting.settings import ReportingSettings
from services.reporting.store import group
from services.reporting.upsert import Upsert


def test_an_upsert_takes_a_register_only_from_a_later_position():
    write = Upsert(
        "cases",
        {"complaint_id": 1},
        once={"case_number": "A"},
        greatest={"redo_count": 1},
        registers={"status_seq": (4, {"status": "signed", "status_at": 2})},
    )
    assert write.args == [1, "A", 1, "signed", 2, 4]
    sql = write.sql
    assert sql.startswith(
        "INSERT INTO cases (complaint_id, case_number, redo_count, status, status_at, status_seq)"
    )
    assert "case_number = coalesce(cases.case_number, EXCLUDED.case_number)" in sql
    assert "redo_count = greatest(cases.redo_count, EXCLUDED.redo_count)" in sql
    assert (
        "status = CASE WHEN (cases.status_seq IS NULL OR EXCLUDED.status_seq > cases.status_seq) "
        "THEN EXCLUDED.status ELSE cases.status END" in sql
    )
    assert Upsert("t", {"k": 1}).sql.endswith("ON CONFLICT (k) DO NOTHING")


def merged(*writes: Upsert) -> dict[str, object]:
    """The one row a batch of `writes` to one row writes, by column."""
    [(layout, rows)] = group(writes).items()
    [row] = layout.full(rows.values())
    return {c: value for c, value in zip(layout.columns, row, strict=True) if value is not None}


def test_two_writes_to_one_row_merge_as_each_policy_applies_them():
    def write(number, first, last, seq, status):
        return Upsert(
            "cases",
            {"complaint_id": 1},
            once={"case_number": number},
            least={"dispatched_at": first},
            greatest={"redo_count": last},
            registers={"status_seq": (seq, {"status": status})},
        )

    early, late = write(None, 5, None, 3, "signed"), write("A", None, 2, 7, "resolved")
    both = merged(early, late)
    assert both == {
        "complaint_id": 1,
        "case_number": "A",
        "dispatched_at": 5,
        "redo_count": 2,
        "status": "resolved",
        "status_seq": 7,
    }
    assert merged(late, early) == both, "in either order"
    assert merged(write("A", 1, 1, 4, "x"), write("B", 2, 0, 4, "y")) == {
        "complaint_id": 1,
        "case_number": "A",
        "dispatched_at": 1,
        "redo_count": 1,
        "status": "x",
        "status_seq": 4,
    }, "once: the first; a register at the same position stays"
    types = {
        "complaint_id": "uuid",
        "case_number": "text",
        "dispatched_at": "timestamptz",
        "redo_count": "integer",
        "status": "text",
        "status_seq": "integer",
    }
    assert early.sql_for_rows(types).startswith(
        "INSERT INTO cases (complaint_id, case_number, dispatched_at, redo_count, status, "
        "status_seq) SELECT c1, c2, c3, c4, c5, c6 FROM unnest($1::uuid[], $2::text[], "
        "$3::timestamptz[], $4::integer[], $5::text[], $6::integer[]) AS r(c1, c2, c3, c4, c5, c6) "
        "ON CONFLICT (complaint_id) DO UPDATE"
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (3 * 86400 + 13 * 3600 + 60, "剩余3天13小时"),
        (-(11 * 86400 + 2 * 3600 + 59 * 60), "超期11天2小时"),
        (59 * 60, "剩余59分钟"),
        (-30, "超期0分钟"),
    ],
)
def test_the_board_says_how_long_is_left_or_how_long_overdue(seconds, words):
    assert domain.overdue_text(seconds) == words


def test_a_matter_stands_at_the_stage_its_facts_say():
    assert domain.board_stage({}) is domain.Stage.WAITING
    assert domain.board_stage({"lead_work_order_id": 1}) is domain.Stage.TO_SIGN
    assert domain.board_stage({"lead_work_order_id": 1, "signed_at": 1}) is domain.Stage.HANDLING
    assert (
        domain.board_stage({"lead_work_order_id": 1, "deliberating": True})
        is domain.Stage.DELIBERATING
    )
    assert (
        domain.board_stage({"lead_work_order_id": 1, "dispatch_state": "resolved"})
        is domain.Stage.REPORTED
    )
    assert domain.board_stage({"lead_work_order_id": 1, "status": "redo"}) is domain.Stage.REDO


def test_the_shipped_measures_name_only_known_counts_and_weigh_the_three_rates():
    config = load_config(ReportingSettings().measures_file)
    for measure in config.measures.values():
        for count in (measure.count, measure.numerator, measure.denominator):
            assert count is None or count in COUNTS
    assert config.composite.weights == {
        "response_rate": 0.3,
        "resolution_rate": 0.35,
        "satisfaction_rate": 0.35,
    }
    assert set(config.rankings.groups()) == {"streets", "departments"}


def test_a_measures_file_naming_an_unknown_count_is_refused(tmp_path):
    bad = tmp_path / "measures.yaml"
    bad.write_text(
        "measures: {x: {name: 某率, en: x, numerator: nothing, denominator: orders}}\n"
        "composite: {weights: {x: 1}}\nrankings: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="unknown counts"):
        load_config(bad)


def test_writes_of_other_columns_to_a_row_make_one_row_unless_a_column_s_policy_differs():
    filed = Upsert("layouts", {"id": 1}, once={"number": "A"})
    moved = Upsert(
        "layouts", {"id": 1}, greatest={"moves": 2}, registers={"at_seq": (3, {"at": "x"})}
    )
    other = Upsert("layouts", {"id": 2}, registers={"at_seq": (1, {"at": "y"})})
    odd = Upsert("layouts", {"id": 1}, greatest={"number": "B"})  # `number` is written once
    grouped = group([filed, moved, other, odd])
    [(layout, rows), (own, odd_rows)] = grouped.items()
    full = dict(zip(rows, layout.full(rows.values()), strict=True))
    assert {k: dict(zip(layout.columns, row, strict=True)) for k, row in full.items()} == {
        (1,): {"id": 1, "number": "A", "moves": 2, "at": "x", "at_seq": 3},
        (2,): {"id": 2, "number": None, "moves": None, "at": "y", "at_seq": 1},
    }
    assert list(odd_rows.values()) == [[1, "B"]] and own is not layout
    # a row may leave a register out: its NULL seq changes nothing
    assert "CASE WHEN (EXCLUDED.at_seq IS NOT NULL AND (layouts.at_seq IS NULL OR" in layout.sql()
