"""Every formula on hand-computed examples: the measures cube, the monthly ranking, the board.

Eight matters, most filed in November 2026 (China time), worked out by hand below."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from services.reporting import measures, store
from services.reporting.measures import CubeFilter, load_config
from services.reporting.settings import ReportingSettings
from shared.events import (
    CaseHandDispatched,
    ComplaintStatus,
    ComplaintType,
    RatedVia,
    ResponderRole,
    Satisfaction,
)
from tests.integration.reporting.test_reporting_replay import prepare_reporting
from tests.support.reporting_story import Story, city, project_all

pytestmark = pytest.mark.integration

CONFIG = load_config(ReportingSettings().measures_file)
AS_OF = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
YUSHAN, JINSHUI = "370124001000", "370124002000"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def november() -> list[Story]:
    # A — 榆山 · 玫城丽都2号楼 · roof leak. Filed 01:30 on 1 Nov China time (17:30 UTC on 31 Oct).
    # Lead and co-responder sign, contact and report on time; rated resolved and satisfied.
    a = Story("A", "370124001001-G01-B02", "roof-leak", at("2026-10-31T17:30"))
    lead = a.order("property-meicheng", at("2026-10-31T17:31"))
    co = a.order("committee-huixianshan", at("2026-10-31T17:31"), role=ResponderRole.CO)
    a.sign(lead, at("2026-10-31T17:50"))
    a.sign(co, at("2026-10-31T18:00"))
    a.contact(lead, at("2026-11-01T01:00"))
    a.resolve(co, at("2026-11-01T10:00"))
    a.resolve(lead, at("2026-11-02T17:00"))
    a.case_resolved(lead, at("2026-11-02T17:31"))  # 48 h after dispatch
    a.callback(at("2026-11-03T02:00"), resolved=True, satisfied=True)

    # B — 榆山 · 玫城丽都 grid · parking. Signed an hour late, reported three days late;
    # rated resolved but not satisfied, so redone.
    b = Story("B", "370124001001-G01", "parking", at("2026-11-05T09:59"), ComplaintType.COMPLAINT)
    lead = b.order("dept-urban", at("2026-11-05T10:00"))
    b.sign(lead, at("2026-11-05T13:00"))  # sign due 12:00
    b.contact(lead, at("2026-11-05T14:00"))
    b.resolve(lead, at("2026-11-15T09:00"))  # due 12 Nov 10:00
    b.case_resolved(lead, at("2026-11-15T10:00"))  # 240 h after dispatch
    b.callback(at("2026-11-16T02:00"), resolved=True, satisfied=False)
    b.redo(at("2026-11-16T02:05"))

    # C — 榆山 · 东关小区3号楼 · sanitation. 城管局 returns it unsigned; the street takes it,
    # signs and contacts on time, and is past its deadline (17 Nov) on 28 Nov.
    c = Story("C", "370124001002-G01-B01", "sanitation", at("2026-11-10T08:00"))
    first = c.order("dept-urban", at("2026-11-10T08:01"))
    c.give_back(first, at("2026-11-10T09:00"))
    lead = c.order("street-yushan", at("2026-11-10T09:01"), purpose="reroute")
    c.sign(lead, at("2026-11-10T10:00"), actor="responder:榆山街道值班员")
    c.contact(lead, at("2026-11-10T12:00"))

    # D — a consultation answered on the spot; E — a duplicate merged: in no denominator.
    d = Story(
        "D",
        "370124001001",
        "property-certificate",
        at("2026-11-12T01:00"),
        ComplaintType.CONSULTATION,
    )
    d.answer(at("2026-11-12T01:05"))
    e = Story("E", "370124001001-G01", "parking", at("2026-11-13T01:00"))
    e.merge(at("2026-11-13T01:10"))

    # F — 锦水 · 锦水园小区 · road damage. Contacted a day late, reported on time; rated
    # neither resolved nor satisfied.
    f = Story("F", "370124002001-G01", "road-damage", at("2026-11-08T06:00"))
    lead = f.order("dept-municipal", at("2026-11-08T06:01"))
    f.sign(lead, at("2026-11-08T07:00"))
    f.contact(lead, at("2026-11-09T08:00"))  # contact due 8 Nov 18:01
    f.resolve(lead, at("2026-11-10T05:00"))
    f.case_resolved(lead, at("2026-11-10T06:01"))  # 48 h
    f.callback(at("2026-11-11T02:00"), resolved=False, satisfied=False)

    # G — 锦水 · 翠屏巷 · street lights. The water company (no named head) signs and contacts on
    # time; its deadline, 2 Dec 01:01, is still ahead on 28 Nov.
    g = Story("G", "370124002002-G02", "street-lights", at("2026-11-25T01:00"))
    lead = g.order("util-water", at("2026-11-25T01:01"))
    g.sign(lead, at("2026-11-25T02:00"), actor="responder:供水张师傅")
    g.contact(lead, at("2026-11-25T03:00"))

    # H — filed at 23:00 on 31 Oct China time: October's, not November's.
    h = Story("H", "370124001001", "roof-leak", at("2026-10-31T15:00"))
    h.order("property-meicheng", at("2026-10-31T15:01"))
    return [a, b, c, d, e, f, g, h]


async def seed(conn, stories: list[Story], shuffle: bool = True) -> None:
    envelopes = [*city(at("2026-10-01T00:00")), *(e for s in stories for e in s.envelopes)]
    if shuffle:  # the answer may not depend on arrival order
        random.Random(1).shuffle(envelopes)
    await project_all(conn, envelopes)


# Worked out by hand from the stories above.
YUSHAN_COUNTS = {
    "filed": 5, "valid": 3, "consultations": 1, "invalid": 1,
    "rated": 2, "rated_resolved": 2, "rated_satisfaction": 2, "rated_satisfied": 1,
    "rated_basically_satisfied": 0, "rated_content": 1,
    "resolved_cases": 2, "redone": 1, "handling_hours": 288.0, "handled": 2,
    # A settled by 玫城丽都's property company (the community), B by 城管局 (above it)
    "settled_in_building": 0, "settled_in_grid": 0, "settled_in_community": 1,
    "settled_within_community": 1,
    # orders: A lead, A co, B lead, C's returned first order, C's street order
    "orders": 5, "orders_to_sign": 5, "signed_on_time": 3, "returned": 1, "lead_orders": 3, "responded": 2,
    "orders_kept": 4, "orders_due": 4, "completed_on_time": 2, "overdue_orders": 2,
    # community governance: none of these matters was dispatched by a committee or called in
    "committee_dispatches": 0, "community_calls": 0, "community_calls_answered": 0,
    "community_call_response_hours": 0.0, "registered_duties": 0,
    # no grid worker's fix or patrol among the stories
    "fixed_on_spot": 0, "patrols": 0, "patrol_findings": 0, "patrol_fixed": 0,
    "group_replies_due": 0, "group_replied_on_time": 0,  # no message came by a residents' group
}  # fmt: skip
NO_GOVERNANCE = {
    "committee_dispatches": 0,
    "community_call_response_hours": None,
    "registered_duties": 0,
}
YUSHAN_VALUES = {
    "volume": 5,
    "response_rate": 0.6667,  # A and C's street order; B signed late
    "resolution_rate": 1.0,
    "satisfaction_rate": 0.5,
    "on_time_sign_rate": 0.6,
    "on_time_completion_rate": 0.5,  # A's two orders on time; B late, C past due
    "return_rate": 0.2,
    "redo_rate": 0.5,
    "overdue_rate": 0.5,  # B (signed late) and C (past due) of four kept orders
    "avg_handling_hours": 144.0,
    "settled_in_building_share": 0.0,
    "settled_in_grid_share": 0.0,
    "settled_in_community_share": 0.5,  # A of A and B
    "settled_within_community_share": 0.5,
    **NO_GOVERNANCE,
    "on_spot": 0,
    "patrols": 0,
    "patrol_findings": 0,
    "group_reply_on_time_rate": None,
}
JINSHUI_VALUES = {
    "volume": 2,
    "response_rate": 0.5,  # F contacted late
    "resolution_rate": 0.0,
    "satisfaction_rate": 0.0,
    "on_time_sign_rate": 1.0,
    "on_time_completion_rate": 1.0,  # G is not due yet
    "return_rate": 0.0,
    "redo_rate": 0.0,
    "overdue_rate": 0.5,
    "avg_handling_hours": 48.0,
    "settled_in_building_share": 0.0,  # F was settled by 市政 (above the community)
    "settled_in_grid_share": 0.0,
    "settled_in_community_share": 0.0,
    "settled_within_community_share": 0.0,
    **NO_GOVERNANCE,
    "on_spot": 0,
    "patrols": 0,
    "patrol_findings": 0,
    "group_reply_on_time_rate": None,
}


async def test_the_measures_of_each_street_are_the_ones_worked_out_by_hand(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        await seed(conn, november())
        rows = await measures.cube(
            conn, CONFIG, ["street"], CubeFilter(month_from="2026-11", month_to="2026-11"), AS_OF
        )
    by_street = {r["key"]["street"]: r for r in rows}
    assert set(by_street) == {YUSHAN, JINSHUI}
    assert by_street[YUSHAN]["key"]["street_name"] == "榆山街道"
    assert by_street[YUSHAN]["counts"] == YUSHAN_COUNTS
    assert by_street[YUSHAN]["values"] == YUSHAN_VALUES
    assert by_street[JINSHUI]["values"] == JINSHUI_VALUES
    # 100 × (0.30 × 0.6667 + 0.35 × 1.0 + 0.35 × 0.5) and 100 × (0.30 × 0.5)
    assert by_street[YUSHAN]["composite_score"] == 72.5
    assert by_street[JINSHUI]["composite_score"] == 15.0


async def test_the_three_levels_count_in_the_satisfaction_rate_as_domain_md_says(pool):
    """满意率 is "rated satisfied ÷ rated" (DOMAIN.md): 基本满意 is rated but not satisfied, and
    counted apart so that a city whose 口径 counts it can say so in measures.yaml."""
    await prepare_reporting(pool)
    levels = {
        "P": (Satisfaction.SATISFIED, RatedVia.SMS),
        "Q": (Satisfaction.BASICALLY_SATISFIED, RatedVia.LINK),
        "R": (Satisfaction.UNSATISFIED, RatedVia.SMS),
        "S": (Satisfaction.BASICALLY_SATISFIED, RatedVia.CALLBACK),
    }
    stories = []
    for name, (level, via) in levels.items():
        story = Story(name, "370124002001-G01", "road-damage", at("2026-12-02T01:00"))
        lead = story.order("dept-municipal", at("2026-12-02T01:01"))
        story.sign(lead, at("2026-12-02T02:00"))
        story.contact(lead, at("2026-12-02T03:00"))
        story.resolve(lead, at("2026-12-03T01:00"))
        story.case_resolved(lead, at("2026-12-03T01:01"))
        story.rate(at("2026-12-03T05:00"), level, via)
        stories.append(story)
    async with pool.acquire() as conn:
        await seed(conn, stories)
        [row] = await measures.cube(
            conn, CONFIG, ["street"], CubeFilter(month_from="2026-12", month_to="2026-12"), AS_OF
        )
        shown = {s.case_number: await store.get_case(conn, s.id) for s in stories}
    counts = row["counts"]
    assert (counts["rated_satisfaction"], counts["rated_satisfied"]) == (4, 1)
    assert (counts["rated_basically_satisfied"], counts["rated_content"]) == (2, 3)
    assert row["values"]["satisfaction_rate"] == 0.25
    # The resident rated the result, not whether it was solved: 解决率 is not touched.
    assert counts["rated"] == 0 and row["values"]["resolution_rate"] is None
    assert {n: (c["rated_satisfaction"], c["rated_via"]) for n, c in shown.items() if c} == {
        n: (level.value, via.value) for n, (level, via) in levels.items()
    }


async def test_a_residents_erasure_takes_their_rating_comment_and_keeps_the_rating(pool):
    await prepare_reporting(pool)
    story = Story("T", "370124002001-G01", "road-damage", at("2026-12-02T01:00"))
    lead = story.order("dept-municipal", at("2026-12-02T01:01"))
    story.case_resolved(lead, at("2026-12-03T01:01"))
    story.rate(at("2026-12-03T05:00"), Satisfaction.UNSATISFIED, comment="我家3单元门口还是黑的")
    story.erase(at("2026-12-04T00:00"), ComplaintStatus.REDO)
    for order in (False, True):  # the erasure arriving first or last: the same row
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM cases")
            envelopes = story.envelopes if order else list(reversed(story.envelopes))
            await project_all(conn, envelopes)
            case = await store.get_case(conn, story.id)
        assert case is not None and case["rating_comment"] is None
        assert (case["rated_satisfaction"], case["rated_via"]) == ("unsatisfied", "sms")


async def test_months_are_china_time_and_every_dimension_splits_the_same_totals(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        await seed(conn, november())
        by_month = await measures.cube(conn, CONFIG, ["month"], CubeFilter(), AS_OF)
        totals = {}
        for dim in ("district", "community", "grid", "responder", "category", "type", "channel"):
            rows = await measures.cube(conn, CONFIG, [dim], CubeFilter(month_from="2026-11"), AS_OF)
            totals[dim] = sum(r["counts"]["filed"] for r in rows)
        by_type = await measures.cube(
            conn, CONFIG, ["type"], CubeFilter(month_from="2026-11"), AS_OF
        )
        by_grid = await measures.cube(
            conn,
            CONFIG,
            ["grid"],
            CubeFilter(month_from="2026-11", area_code="370124001001"),
            AS_OF,
        )
    assert {r["key"]["month"]: r["counts"]["filed"] for r in by_month} == {
        "2026-10": 1,
        "2026-11": 7,
    }
    assert totals == {
        "district": 7,
        "community": 7,
        "grid": 7,
        "responder": 7,
        "category": 7,
        "type": 7,
        "channel": 7,
    }
    consultations = next(r for r in by_type if r["key"]["type"] == "consultation")
    assert (
        consultations["counts"]["valid"] == 0 and consultations["values"]["response_rate"] is None
    )
    # 会仙山社区's grids: A's building lies in G01, B and E are on G01, D has no grid
    assert {r["key"]["grid"]: r["counts"]["filed"] for r in by_grid} == {
        "370124001001-G01": 3,
        None: 1,
    }


async def test_the_monthly_ranking_marks_governance_and_the_red_and_black_lists(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        await seed(conn, november())
        streets = await measures.ranking(conn, CONFIG, "streets", "2026-11", AS_OF)
        departments = await measures.ranking(conn, CONFIG, "departments", "2026-11", AS_OF)
        october = await measures.ranking(conn, CONFIG, "streets", "2026-10", AS_OF)
    assert [(e["rank"], e["unit_name"], e["composite_score"]) for e in streets["entries"]] == [
        (1, "榆山街道", 72.5),
        (2, "锦水街道", 15.0),
    ]
    flags = [(e["governance"], e["red_list"], e["black_list"]) for e in streets["entries"]]
    assert flags == [(False, True, False), (True, False, True)]
    # Departments and utilities, by the orders they received and the cases they led:
    # 供水 responded on time to its one order (no rating yet: the response rate alone counts);
    # 城管局 let B's signing slip and returned C, but B was rated resolved: 100 × 0.35;
    # 市政 contacted F late and F was rated unresolved and unsatisfied: 0.
    assert [(e["unit"], e["composite_score"]) for e in departments["entries"]] == [
        ("util-water", 100.0),
        ("dept-urban", 35.0),
        ("dept-municipal", 0.0),
    ]
    assert [e["unit"] for e in departments["entries"] if e["governance"]] == ["dept-municipal"]
    assert departments["entries"][1]["values"]["response_rate"] == 0.0
    assert departments["entries"][1]["values"]["return_rate"] == 0.5
    # October has H only: not rated, not signed — its response rate is 0 and it is ranked alone
    assert [(e["unit"], e["composite_score"]) for e in october["entries"]] == [(YUSHAN, 0.0)]


async def test_the_weights_are_configuration(pool):
    await prepare_reporting(pool)
    config = CONFIG.model_copy(deep=True)
    config.composite.weights = {"satisfaction_rate": 1.0, "return_rate": 1.0}
    async with pool.acquire() as conn:
        await seed(conn, november())
        rows = await measures.cube(
            conn, config, ["street"], CubeFilter(month_from="2026-11"), AS_OF
        )
    scores = {r["key"]["street"]: r["composite_score"] for r in rows}
    # a lower-is-better rate counts as 1 − rate: 榆山 (0.5 + 0.8) / 2, 锦水 (0.0 + 1.0) / 2
    assert scores == {YUSHAN: 65.0, JINSHUI: 50.0}


async def test_the_board_shows_open_matters_with_their_unit_person_and_time_left(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        await seed(conn, november())
        total, rows = await store.board(conn, store.BoardFilter(), AS_OF, 50, 0)
        by_area = {
            area: [
                r["case_number"]
                for r in (await store.board(conn, store.BoardFilter(area=area), AS_OF, 50, 0))[1]
            ]
            for area in (
                "370124000000",
                YUSHAN,
                JINSHUI,
                "370124001002",
                "370124001002-G01",
                "370124002002-G02",
            )
        }
        overdue = (await store.board(conn, store.BoardFilter(overdue=True), AS_OF, 50, 0))[1]
        reported = (await store.board(conn, store.BoardFilter(reported=True), AS_OF, 50, 0))[1]
    # Open and in work: H (never signed, due 7 Nov) and C (due 17 Nov) are overdue and come
    # first, by deadline; then G. A, B and F have reported back; D and E are not open.
    assert total == 3
    assert [r["case_number"] for r in rows] == ["H", "C", "G"]
    h, c, g = rows
    assert c["lead_responder_name"] == "榆山街道办事处" and c["responsible_person"] == "王晓东"
    assert c["seconds_left"] == pytest.approx(-(AS_OF - at("2026-11-17T09:01")).total_seconds())
    assert g["responsible_person"] is None and g["signed_by"] == "responder:供水张师傅"
    assert g["seconds_left"] == pytest.approx((at("2026-12-02T01:01") - AS_OF).total_seconds())
    assert g["place_name"] == "翠屏社区第二网格（平房片区）" and g["street_name"] == "锦水街道"
    assert by_area == {
        "370124000000": ["H", "C", "G"],
        YUSHAN: ["H", "C"],
        JINSHUI: ["G"],
        "370124001002": ["C"],
        "370124001002-G01": ["C"],
        "370124002002-G02": ["G"],
    }
    assert [r["case_number"] for r in overdue] == ["H", "C"]
    assert {r["case_number"] for r in reported} == {"A", "B", "C", "F", "G", "H"}
    assert h["seconds_left"] < 0 and h["signed_at"] is None


async def test_reporting_rates_count_a_late_open_order_as_overdue_only_once_due(pool):
    await prepare_reporting(pool)
    stories = november()
    async with pool.acquire() as conn:
        await seed(conn, stories)
        before = await measures.cube(
            conn, CONFIG, [], CubeFilter(area_code=JINSHUI), at("2026-11-26T00:00")
        )
        after = await measures.cube(
            conn, CONFIG, [], CubeFilter(area_code=JINSHUI), at("2026-12-03T00:00")
        )
    # G is due on 2 Dec: not due (nor overdue) on 26 Nov, both a week later
    assert (before[0]["counts"]["orders_due"], before[0]["counts"]["overdue_orders"]) == (1, 1)
    assert (after[0]["counts"]["orders_due"], after[0]["counts"]["overdue_orders"]) == (2, 2)
    assert after[0]["values"]["on_time_completion_rate"] == 0.5


async def test_an_order_still_within_its_limits_is_in_no_rate_yet(pool):
    """Filed half an hour before AS_OF, not signed yet (sign due in 2 h): it counts as
    dispatched, but neither as signed late nor as a missed response."""
    await prepare_reporting(pool)
    fresh = Story("I", "370124002001-G01", "road-damage", at("2026-11-28T11:30"))
    fresh.order("dept-municipal", at("2026-11-28T11:31"))
    async with pool.acquire() as conn:
        await seed(conn, [*november(), fresh])
        [row] = await measures.cube(conn, CONFIG, [], CubeFilter(area_code=JINSHUI), AS_OF)
        [later] = await measures.cube(
            conn, CONFIG, [], CubeFilter(area_code=JINSHUI), at("2026-11-28T14:00")
        )
    counts = row["counts"]
    assert (counts["orders"], counts["orders_to_sign"], counts["lead_orders"]) == (3, 2, 2)
    assert row["values"]["on_time_sign_rate"] == 1.0 and row["values"]["response_rate"] == 0.5
    # two hours later its signing time is up: now it is late, and a missed response
    assert (later["counts"]["orders_to_sign"], later["counts"]["lead_orders"]) == (3, 3)
    assert later["values"]["on_time_sign_rate"] == 0.6667
    assert later["values"]["response_rate"] == 0.3333


async def test_a_merged_duplicate_s_resident_is_rated_once_on_their_own_complaint(pool):
    """Two residents, one matter: the survivor's resident satisfied, the duplicate's (called
    back on their own complaint, which stays merged) not. Two ratings, none twice, none lost;
    the duplicate stays out of every other denominator."""
    await prepare_reporting(pool)
    area = "370124003001-G01"  # a street of its own: the November stories are not in it
    survivor = Story("S", area, "parking", at("2026-11-05T01:00"))
    lead = survivor.order("dept-urban", at("2026-11-05T01:01"))
    survivor.sign(lead, at("2026-11-05T02:00"))
    survivor.resolve(lead, at("2026-11-06T02:00"))
    survivor.case_resolved(lead, at("2026-11-06T02:01"))
    survivor.callback(at("2026-11-07T02:00"), resolved=True, satisfied=True)
    duplicate = Story("S2", area, "parking", at("2026-11-05T03:00"))
    duplicate.merge(at("2026-11-05T03:10"))
    duplicate.callback(
        at("2026-11-07T03:00"), resolved=True, satisfied=False, status=ComplaintStatus.MERGED
    )
    async with pool.acquire() as conn:
        await seed(conn, [survivor, duplicate])
        [row] = await measures.cube(conn, CONFIG, [], CubeFilter(area_code="370124003000"), AS_OF)
    counts = row["counts"]
    assert (counts["filed"], counts["valid"], counts["invalid"]) == (2, 1, 1)
    assert (counts["rated_satisfaction"], counts["rated_satisfied"]) == (2, 1)
    assert (counts["rated"], counts["rated_resolved"]) == (2, 2)
    assert row["values"]["satisfaction_rate"] == 0.5


async def test_a_communitys_calls_are_answered_in_hours_and_registered_cadres_duties_count(pool):
    """社区点单、部门响应: the response time runs from the call to each unit's signing; 报到处置
    counts the duties registered units and cadres took (seed 002: 联动各级部门启动响应182次，
    机关党员到社区报到处置411人次), per community."""
    await prepare_reporting(pool)
    called = at("2026-12-07T01:00")
    story = Story("K", "370124001001-G01-B02", "road-damage", at("2026-12-07T00:30"))
    story.order("dept-municipal", at("2026-12-07T00:31"))
    housing = story.order("dept-housing", called, role=ResponderRole.CO, purpose="community_call")
    cadre = story.order(
        "dept-property-registry",
        called,
        role=ResponderRole.CO,
        purpose="community_call",
        registration_id="cadre-registry-wang",
        cadre="王海燕",
    )
    story.sign(housing, at("2026-12-07T02:30"))  # 1.5 h after the call
    story.sign(cadre, at("2026-12-07T01:30"))  # 0.5 h
    unanswered = Story("L", "370124001001-G02", "road-damage", at("2026-12-08T00:30"))
    unanswered.order("dept-municipal", at("2026-12-08T00:31"))
    unanswered.order(
        "dept-urban", at("2026-12-08T01:00"), role=ResponderRole.CO, purpose="community_call"
    )
    other = Story("M", "370124001002-G01-B01", "sanitation", at("2026-12-08T00:30"))
    other.order("dept-urban", at("2026-12-08T00:31"))
    other.order(
        "dept-urban",
        at("2026-12-09T00:31"),
        role=ResponderRole.CO,
        purpose="deliberation",
        registration_id="cadre-urban-zhao",
        cadre="赵国强",
    )
    async with pool.acquire() as conn:
        await seed(conn, [story, unanswered, other])
        rows = await measures.cube(
            conn,
            CONFIG,
            ["community"],
            CubeFilter(month_from="2026-12", month_to="2026-12"),
            AS_OF.replace(month=12, day=10),
        )
    by_community = {r["key"]["community"]: r for r in rows}
    huixianshan, dongguan = by_community["370124001001"], by_community["370124001002"]
    assert huixianshan["counts"]["community_calls"] == 3
    assert huixianshan["counts"]["community_calls_answered"] == 2
    assert huixianshan["values"]["community_call_response_hours"] == 1.0  # (1.5 + 0.5) / 2
    assert huixianshan["values"]["registered_duties"] == 1
    assert dongguan["values"]["registered_duties"] == 1
    assert dongguan["values"]["community_call_response_hours"] is None, "nobody was called"


async def test_the_board_and_the_timeline_show_who_a_committee_dispatched_to(pool):
    """业委会派单 on the board: while the case waits in the owners' committee's queue the board
    names the committee and its clock; once it dispatched, the unit it chose and by whom."""
    await prepare_reporting(pool)
    story = Story("N", "370124001001-G01-B02", "common-parts", at("2026-11-27T01:00"))
    queue = story.order("owners-meicheng", at("2026-11-27T01:01"), purpose="committee")
    async with pool.acquire() as conn:
        await seed(conn, [story], shuffle=False)
        [waiting] = (await store.board(conn, store.BoardFilter(), AS_OF, 50, 0))[1]
        assert waiting["lead_responder_name"] == "玫城丽都小区业主委员会"
        assert waiting["lead_purpose"] == "committee" and waiting["dispatched_by"] is None
        dispatched = at("2026-11-27T03:00")
        story.envelopes.clear()
        story.emit(
            "dispatch",
            CaseHandDispatched(
                complaint_id=story.id,
                work_order_id=queue.id,
                dispatcher_id="owners-meicheng",
                dispatcher_name="玫城丽都小区业主委员会",
                dispatcher_kind="owners_committee",
                lead_id="developer-meicheng",
                reason="屋面在保修期内，由开发商维修",
                actor="responder:业委会主任",
                dispatched_at=dispatched,
            ),
            dispatched,
        )
        story.order("developer-meicheng", dispatched)
        await project_all(conn, story.envelopes)
        [row] = (await store.board(conn, store.BoardFilter(), AS_OF, 50, 0))[1]
        shown = await store.get_case(conn, story.id)
    assert (
        row["lead_responder_name"] == "平阴玫城置业有限公司" and row["lead_purpose"] == "dispatch"
    )
    assert row["dispatched_by"] == "玫城丽都小区业主委员会"
    assert any(
        line["summary"] == "业委会派单（玫城丽都小区业主委员会）：屋面在保修期内，由开发商维修"
        for line in shown["timeline"]
    )
