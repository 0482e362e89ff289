"""Hot spots, 未诉先办 candidates and 每月一题 suggestions on examples worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.reporting import insights
from tests.integration.reporting.test_reporting_measures import CONFIG, at
from tests.integration.reporting.test_reporting_replay import prepare_reporting
from tests.support.reporting_story import Story, city, project_all

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday; weeks start on Monday
CUIPING_A = "370124002002-G01-B01"  # 翠屏花园A座
MEICHENG_2 = "370124001001-G01-B02"  # 玫城丽都2号楼


def matters() -> list[Story]:
    def filed(n: int, area: str, category: str, when: str) -> Story:
        return Story(f"{category}-{n}", area, category, at(when))

    stories = [
        # e-bikes charged in 翠屏花园A座's stairwell: 1, 0, 2, 3 a week over the last four weeks,
        # and once in September
        filed(1, CUIPING_A, "ebike-charging", "2026-11-03T02:00"),
        filed(2, CUIPING_A, "ebike-charging", "2026-11-17T02:00"),
        filed(3, CUIPING_A, "ebike-charging", "2026-11-18T02:00"),
        filed(4, CUIPING_A, "ebike-charging", "2026-11-24T02:00"),
        filed(5, CUIPING_A, "ebike-charging", "2026-11-25T02:00"),
        filed(6, CUIPING_A, "ebike-charging", "2026-11-26T02:00"),
        filed(7, CUIPING_A, "ebike-charging", "2026-09-10T02:00"),
        filed(1, "370124001002-G01", "sanitation", "2026-11-10T02:00"),
        # the roof of 玫城丽都2号楼 leaks every rainy season
        filed(1, MEICHENG_2, "roof-leak", "2025-07-10T02:00"),
        filed(2, MEICHENG_2, "roof-leak", "2026-07-05T02:00"),
        filed(3, MEICHENG_2, "roof-leak", "2026-08-20T02:00"),
        # heating twice in one heating season: not recurring
        filed(1, "370124002001-G01-B01", "heating", "2025-12-10T02:00"),
        filed(2, "370124002001-G01-B01", "heating", "2026-01-15T02:00"),
    ]
    # street lights: three a month, as before — no rise
    for month in ("08", "09", "10", "11"):
        for day in ("05", "12", "19"):
            stories.append(
                filed(int(day), "370124002002-G02", "street-lights", f"2026-{month}-{day}T02:00")
            )
    return stories


@pytest.fixture
async def conn(pool):
    await prepare_reporting(pool)
    async with pool.acquire() as conn:
        await project_all(
            conn, [*city(at("2025-01-01T00:00")), *(e for s in matters() for e in s.envelopes)]
        )
        yield conn


async def test_hot_spots_count_each_category_and_area_by_week_with_its_trend(conn):
    spots = await insights.hotspots(conn, CONFIG, "community", AS_OF, weeks=4)
    first = spots[0]
    assert (first["area_name"], first["category_name"]) == ("翠屏社区", "电动车充电")
    assert first["weekly"] == [1, 0, 2, 3] and first["weeks_from"] == "2026-11-02"
    assert (first["total"], first["this_week"]) == (6, 3)
    assert first["trend"] == 0.8  # least squares over (0,1) (1,0) (2,2) (3,3)
    assert first["change_vs_average"] == 2.0  # 3 against the average of 1, 0 and 2
    sanitation = next(s for s in spots if s["category"] == "sanitation")
    assert sanitation["weekly"] == [0, 1, 0, 0] and sanitation["area"] == "370124001002"
    within = await insights.hotspots(conn, CONFIG, "grid", AS_OF, weeks=4, area="370124001000")
    assert [(s["area"], s["category"]) for s in within] == [("370124001002-G01", "sanitation")]


async def test_recurring_places_are_listed_as_act_before_complaint_candidates_with_evidence(conn):
    found = await insights.recurring(conn, CONFIG, AS_OF)
    assert [(r["place"], r["category"]) for r in found] == [
        ("370124002002-G02", "street-lights"),  # a grid: those matters named no building
        (CUIPING_A, "ebike-charging"),
        (MEICHENG_2, "roof-leak"),
    ]
    roof = found[2]
    assert roof["place_name"] == "玫城丽都2号楼" and roof["community_name"] == "会仙山社区"
    assert roof["months"] == ["2025-07", "2026-07", "2026-08"]
    assert roof["reasons"] == ["3 个月内反复出现 3 次", "连续2年雨季出现（2025、2026）"]
    assert [e["case_number"] for e in roof["evidence"]] == [
        "roof-leak-1",
        "roof-leak-2",
        "roof-leak-3",
    ]
    assert "未诉先办" in roof["suggestion"] and "房屋漏水" in roof["suggestion"]
    ebike = found[1]
    assert ebike["cases"] == 7 and ebike["reasons"] == ["2 个月内反复出现 7 次"]
    assert found[0]["reasons"] == ["4 个月内反复出现 12 次"]
    # twice in one heating season (Dec and Jan) is neither often enough nor two seasons
    assert all(r["category"] != "heating" for r in found)


async def test_the_fastest_rising_categories_are_the_months_topic_suggestions(conn):
    topics = await insights.monthly_topics(conn, CONFIG, "2026-11")
    # e-bike charging: 6 in November against 1 in Aug–Oct (a third a month);
    # street lights hold at three a month; sanitation is below the minimum of three.
    assert [(t["category"], t["cases"], t["baseline"], t["rise"]) for t in topics] == [
        ("ebike-charging", 6, 0.33, 5.67)
    ]
    assert topics[0]["growth"] == 17.0 and topics[0]["category_name"] == "电动车充电"
    assert topics[0]["areas"] == [{"street": "370124002000", "street_name": "锦水街道", "cases": 6}]
    # October: street lights rose from two a month (Jul–Sep) to three
    october = await insights.monthly_topics(conn, CONFIG, "2026-10")
    assert [(t["category"], t["cases"], t["baseline"], t["rise"]) for t in october] == [
        ("street-lights", 3, 2.0, 1.0)
    ]
