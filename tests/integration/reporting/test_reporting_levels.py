"""小事不出门、琐事不出楼、要事不出社区: the share of matters settled in the building, the grid
and the community, by the unit whose lead order settled each, worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.reporting import measures
from services.reporting.measures import CubeFilter
from shared.db import connect
from tests.integration.reporting.test_reporting_api import Reporting, reporting
from tests.integration.reporting.test_reporting_measures import CONFIG
from tests.support.reporting_story import Story, project_all

pytestmark = pytest.mark.integration
__all__ = ["reporting"]  # the module's reporting server, seeded with the hand-worked November

HUIXIANSHAN = "370124001001"
AS_OF = datetime(2026, 12, 20, 0, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def settled(story: Story, unit: str, filed: str) -> Story:
    order = story.order(unit, at(filed))
    story.sign(order, at(filed) + timedelta(hours=1))
    story.resolve(order, at("2026-12-03T00:00"))
    story.case_resolved(order, at("2026-12-03T00:01"))
    return story


def december() -> list[Story]:
    """Five matters of 会仙山社区 settled in December, one still open:
    K and L in the building (楼栋长, 楼管员), M in the grid (网格长), N by the community after
    its unit head returned it, P by 市政 above the community; Q open at a building head."""
    k = settled(
        Story("K", "370124001001-G01-B02-U1", "sanitation", at("2026-12-01T00:00")),
        "head-meicheng-b02",
        "2026-12-01T00:01",
    )
    lift = Story("L", "370124001001-G01-B01", "elevator", at("2026-12-01T00:00"))
    lift = settled(lift, "manager-meicheng-b01", "2026-12-01T00:01")
    m = settled(
        Story("M", "370124001001-G02-B01", "sanitation", at("2026-12-01T00:00")),
        "head-huixianshan-g02",
        "2026-12-01T00:01",
    )
    n = Story("N", "370124001001-G01-B02-U1", "neighbour-dispute", at("2026-12-01T00:00"))
    n.give_back(n.order("head-meicheng-b02-u1", at("2026-12-01T00:01")), at("2026-12-01T02:00"))
    settled(n, "committee-huixianshan", "2026-12-01T02:01")
    p = settled(
        Story("P", "370124001001-G01", "road-damage", at("2026-12-01T00:00")),
        "dept-municipal",
        "2026-12-01T00:01",
    )
    q = Story("Q", "370124001001-G01-B01", "sanitation", at("2026-12-02T00:00"))
    q.order("head-meicheng-b01", at("2026-12-02T00:01"))
    return [k, lift, m, n, p, q]


async def test_the_shares_settled_in_the_building_grid_and_community(reporting: Reporting):
    conn = await connect(reporting.database_url)
    try:
        await project_all(conn, [e for story in december() for e in story.envelopes])
        [row] = await measures.cube(
            conn,
            CONFIG,
            [],
            CubeFilter(month_from="2026-12", month_to="2026-12", area_code=HUIXIANSHAN),
            AS_OF,
        )
    finally:
        await conn.close()
    counts = {name: row["counts"][name] for name in row["counts"] if name.startswith("settled")}
    assert row["counts"]["resolved_cases"] == 5  # Q is open
    assert counts == {
        "settled_in_building": 2,  # K (楼栋长), L (楼管员)
        "settled_in_grid": 1,  # M (网格长)
        "settled_in_community": 1,  # N: the community committee settled what the 单元长 returned
        "settled_within_community": 4,
    }
    expected = {
        "settled_in_building_share": 0.4,
        "settled_in_grid_share": 0.2,
        "settled_in_community_share": 0.2,
        "settled_within_community_share": 0.8,  # all but P (市政)
    }
    assert {name: row["values"][name] for name in expected} == expected

    params = {
        "group_by": "community",
        "month_from": "2026-12",
        "month_to": "2026-12",
        "area_code": HUIXIANSHAN,
        "as_of": AS_OF.isoformat(),
    }
    async with reporting.client() as client:
        page = (await client.get("/measures", params=params)).json()
        definitions = (await client.get("/measures/definitions")).json()
        board = (
            await client.get(
                "/board",
                params={"area_code": "370124001001-G01-B01", "as_of": AS_OF.isoformat()},
            )
        ).json()
    [shown] = page["items"]
    assert shown["key"]["community_name"] == "会仙山社区"
    assert {name: shown["values"][name] for name in expected} == expected
    labels = {d["name"]: d["label"] for d in definitions["measures"]}
    assert labels["settled_in_building_share"] == "琐事不出楼（楼栋办结占比）"
    assert labels["settled_in_grid_share"] == "小事不出门（网格办结占比）"
    assert labels["settled_in_community_share"] == "要事不出社区（社区一级办结占比）"
    # Q, still open, is on the board under the building head who holds it, by name
    [open_matter] = [i for i in board["items"] if i["case_number"] == "Q"]
    assert open_matter["lead_responder_name"] == "玫城丽都1号楼楼栋长"
    assert open_matter["responsible_person"] == "赵春生"
