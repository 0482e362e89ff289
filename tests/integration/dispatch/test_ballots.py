"""Consultations and ballots through dispatch over HTTP (seed 001): 玫城丽都's households vote on
removing the rockery (假山) by link, on paper and door to door, one vote per household; the
result decides the agenda item, whose decision names who pays what (联合出资); a ballot short of
its quorum closes by the timer and carries nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.topics import DISPATCH_EVENTS
from tests.integration.conftest import DispatchServer, until
from tests.integration.dispatch.test_dispatch_api import act, routed
from tests.integration.kafka_helpers import read_topic
from tests.support.examples import READER

pytestmark = pytest.mark.integration

COMPOUND = "370124001001-G01"  # 会仙山社区第一网格（玫城丽都小区）
COMMITTEE = "dev-key-committee-huixianshan"
COMMITTEE_ACTOR = "responder:会仙山社区居委会"
# 玫城丽都: six households of two buildings (door numbers under unit codes, no names).
REGISTER = "\n".join(
    [
        "unit_code,door",
        "370124001001-G01-B02-U1,602",
        "370124001001-G01-B02-U1,502",
        "370124001001-G01-B02-U1,402",
        "370124001001-G01-B01-U1,301",
        "370124001001-G01-B01-U1,201",
        "370124001001-G01-B01-U1,101",
        "370124001001-G01-B01-U1,101",  # listed twice: still one household
    ]
)


@pytest.fixture(scope="module")
async def reporting(reporting_beside_dispatch: str) -> str:
    """Reporting reading dispatch's topic: the ballots' public results and their turnout."""
    return reporting_beside_dispatch


async def reported(url: str, path: str, ready: Any, headers: dict[str, str] | None = None) -> Any:
    """What reporting answers at `path` once `ready(answer)` holds."""

    async def look() -> Any:
        async with httpx.AsyncClient(base_url=url, headers=headers or {}, timeout=30) as client:
            response = await client.get(path)
        return response.json() if response.status_code == 200 and ready(response.json()) else None

    return await until(look, timeout=30, what=f"reporting's {path}")


def household(unit: str, door: str) -> str:
    return f"{COMPOUND}-{unit}/{door}"


async def get(server: DispatchServer, key: str, path: str) -> Any:
    async with server.client(key) as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def vote(server: DispatchServer, token: str, choice: str, expect: int = 200) -> Any:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:  # no key
        response = await client.post("/vote", json={"token": token, "choice": choice})
    assert response.status_code == expect, response.text
    return response.json()


async def register(server: DispatchServer) -> None:
    async with server.client(COMMITTEE) as client:
        response = await client.put(f"/households/{COMPOUND}", json={"csv": REGISTER})
    assert response.status_code == 200, response.text
    assert response.json()["households"] == 6


async def test_the_rockery_is_removed_by_a_ballot_of_the_households_and_paid_for_jointly(
    dispatch_server, reporting
):
    server = dispatch_server
    await register(server)
    # 小区居民向业委会反映 → the community puts it on its agenda and sets the topic.
    case = await routed(server, "sanitation", COMPOUND)
    item = await act(
        server,
        COMMITTEE,
        f"/cases/{case['complaint_id']}/deliberation",
        {"title": "广场假山拆除", "reason": "假山年久失修，水池积污，小孩攀爬存在安全隐患"},
        expect=201,
    )
    path = f"/agenda/{item['item_id']}"
    await act(
        server,
        COMMITTEE,
        f"{path}/topic",
        {"topic": "是否拆除广场假山并改建休闲场地", "parties": ["业委会", "物业公司", "居民代表"]},
    )
    # 张贴征求意见告知书: a ballot of the compound's households, two thirds must vote.
    ballot = await act(
        server,
        COMMITTEE,
        "/ballots",
        {
            "kind": "consultation",
            "area_code": COMPOUND,
            "title": "拆除广场假山",
            "proposal": "拆除广场假山及水池，安装休闲座椅、乒乓球台，重新铺设地面",
            "options": ["同意", "不同意"],
            "quorum": "2/3",
            "majority": "1/2",
            "within": "7d",
            "item_id": item["item_id"],
            "cost_shares": [
                {
                    "payer": "property-meicheng",
                    "payer_name": "玫城丽都物业服务中心",
                    "share": "0.6",
                },
                {"payer": "owners", "payer_name": "全体业主（公共维修资金）", "share": "0.4"},
            ],
        },
        expect=201,
    )
    assert ballot["eligible"] == 6 and ballot["status"] == "open" and ballot["tally"] is None
    ballot_path = f"/ballots/{ballot['ballot_id']}"

    b02 = [household("B02-U1", door) for door in ("602", "502", "402")]
    issued = await act(server, COMMITTEE, f"{ballot_path}/links", {"households": b02})
    tokens = {link["household_id"]: link["token"] for link in issued["links"]}
    assert set(tokens) == set(b02)

    # By link: three households of 2号楼.
    for home, choice in zip(b02, ["同意", "同意", "不同意"], strict=True):
        accepted = await vote(server, tokens[home], choice)
        assert accepted["title"] == "拆除广场假山" and "household_id" not in accepted
    # The same link again, and a made-up one.
    again = await vote(server, tokens[b02[0]], "不同意", expect=409)
    assert "一户一票" in again["detail"]
    await vote(server, "x" * 32, "同意", expect=404)

    # The register reloaded while the ballot is open: each household keeps its reference, so the
    # roll still knows the doors entered below.
    await register(server)

    # On paper, entered by the committee; a household that voted by link cannot vote on paper.
    votes = f"{ballot_path}/votes"
    paper = {"household_id": household("B01-U1", "301"), "choice": "同意", "method": "paper"}
    await act(server, COMMITTEE, votes, paper)
    twice = {"household_id": b02[1], "choice": "不同意", "method": "paper"}
    refused = await act(server, COMMITTEE, votes, twice, expect=409)
    assert "已于" in refused["detail"] and "链接投票" in refused["detail"]
    # Door to door by the grid's worker (楼栋长 / 网格员 of the compound), not by another grid's.
    door = {"household_id": household("B01-U1", "201"), "choice": "同意", "method": "door_to_door"}
    await act(server, "dev-key-grid-cuiping-1", votes, door, expect=404)
    await act(server, "dev-key-grid-huixianshan-1", votes, {**door, "method": "paper"}, expect=403)
    counted = await act(server, "dev-key-grid-huixianshan-1", votes, door)
    assert counted["cast"] == 5
    assert counted["by_method"] == {"link": 3, "paper": 1, "door_to_door": 1}
    not_on_roll = {"household_id": household("B02-U1", "999"), "choice": "同意", "method": "paper"}
    await act(server, COMMITTEE, votes, not_on_roll, expect=409)

    closed = await act(server, COMMITTEE, f"{ballot_path}/close")
    assert closed["status"] == "closed" and closed["quorum_met"] is True
    assert closed["carried"] is True and closed["outcome"] == "同意"
    assert closed["tally"] == [{"option": "同意", "votes": 4}, {"option": "不同意", "votes": 1}]
    late = {"household_id": household("B01-U1", "101"), "choice": "同意", "method": "paper"}
    await act(server, COMMITTEE, votes, late, expect=409)

    # The result is the item's deliberation; its decision names who pays what.
    deliberated = await get(server, COMMITTEE, path)
    assert deliberated["stage"] == "deliberated"
    [meeting] = deliberated["meetings"]
    assert meeting["ballot_id"] == ballot["ballot_id"] and meeting["settled"] is True
    assert "5/6 户参与" in meeting["minutes"] and "表决结果：同意" in meeting["minutes"]
    decided = await act(
        server,
        COMMITTEE,
        f"{path}/decision",
        {
            "decision": "由物业公司安排人员拆除假山，安装休闲座椅、乒乓球台",
            "assignments": [
                {"responder_id": "property-meicheng", "task": "拆除假山并重新铺设", "within": "10d"}
            ],
            "cost_shares": [
                {
                    "payer": "property-meicheng",
                    "payer_name": "玫城丽都物业服务中心",
                    "amount": "18000",
                },
                {
                    "payer": "owners",
                    "payer_name": "全体业主",
                    "amount": "12000",
                    "note": "从公共维修资金列支",
                },
            ],
        },
    )
    assert decided["stage"] == "assigned"
    assert [(c["payer"], c["amount"]) for c in decided["cost_shares"]] == [
        ("property-meicheng", "18000"),
        ("owners", "12000"),
    ]

    # On the bus: the votes name households, never a person; the closing carries the result.
    # (The relay publishes after the answer: read until the decision is there.)
    async def published() -> list[tuple[str, Any]]:
        records = await read_topic(server.bootstrap, DISPATCH_EVENTS, 1, to_end=True)
        mine = [
            (dict(r.headers)["ce_type"].decode(), json.loads(r.value))
            for r in records
            if ballot["ballot_id"] in r.value.decode() or item["item_id"] in r.value.decode()
        ]
        return mine if any(t == "AgendaDecided" for t, _ in mine) else []

    mine = await until(published, timeout=30, what="the decision on dispatch.events")
    types = [t for t, _ in mine]
    assert types.count("HouseholdVoted") == 5 and "BallotClosed" in types
    # …and never their doors: a vote names the household's reference, the doors stay in dispatch.
    votes = [d for t, d in mine if t == "HouseholdVoted"]
    assert all("/h" in v["household_ref"] and "/602" not in json.dumps(v) for v in votes)
    [(_, decided_event)] = [(t, d) for t, d in mine if t == "AgendaDecided"]
    assert decided_event["cost_shares"][1]["note"] == "从公共维修资金列支"
    [(_, closed_event)] = [(t, d) for t, d in mine if t == "BallotClosed"]
    assert "household_id" not in json.dumps(closed_event) and closed_event["cast"] == 5

    # Reporting: the public result (no household ids) and the item with who pays what.
    public = await reported(
        reporting, f"/ballots/{ballot['ballot_id']}", lambda b: b["closed_at"] is not None
    )
    assert public["eligible"] == 6 and public["cast"] == 5 and public["turnout"] == 0.8333
    assert public["by_method"] == {"link": 3, "paper": 1, "door_to_door": 1}
    assert public["outcome"] == "同意" and public["community_name"] in (None, "会仙山社区")
    assert "370124001001-G01-B" not in json.dumps(public)
    agenda = await reported(
        reporting,
        "/agenda?community_code=370124001001",
        lambda page: any(
            i["item_id"] == item["item_id"] and i["cost_shares"] for i in page["items"]
        ),
        READER,
    )
    [row] = [i for i in agenda["items"] if i["item_id"] == item["item_id"]]
    assert row["held_ballot_id"] == ballot["ballot_id"] and row["stage"] == "assigned"
    assert [c["payer_name"] for c in row["cost_shares"]] == ["玫城丽都物业服务中心", "全体业主"]


async def test_a_ballot_short_of_its_quorum_carries_nothing_and_the_timer_closes_the_unanswered(
    dispatch_server, reporting
):
    server = dispatch_server
    await register(server)
    ballot = await act(
        server,
        COMMITTEE,
        "/ballots",
        {
            "kind": "ballot",
            "area_code": COMPOUND,
            "title": "选聘新物业服务企业",
            "proposal": "选聘物业服务企业（业主大会双三分之二）",
            "options": ["甲物业", "乙物业"],
            "quorum": "2/3",
            "majority": "2/3",
            "majority_of": "households",
            "majority_at_least": True,
            "within": "30d",
        },
        expect=201,
    )
    links = await act(server, COMMITTEE, f"/ballots/{ballot['ballot_id']}/links")
    assert len(links["links"]) == 6
    first, second = links["links"][:2]
    await vote(server, first["token"], "甲物业")
    # A new link for a household replaces its old one.
    again = await act(
        server,
        COMMITTEE,
        f"/ballots/{ballot['ballot_id']}/links",
        {"households": [second["household_id"]]},
    )
    await vote(server, second["token"], "甲物业", expect=404)
    await vote(server, again["links"][0]["token"], "乙物业")

    result = await act(server, COMMITTEE, f"/ballots/{ballot['ballot_id']}/close")
    assert result["cast"] == 2 and result["closed_by"] == COMMITTEE_ACTOR
    assert result["quorum_met"] is False and result["carried"] is False
    assert result["outcome"] is None
    # Nobody votes after the close, not even with a link never used.
    await vote(server, links["links"][3]["token"], "甲物业", expect=409)

    # A consultation of 2号楼 nobody answers closes by the timer at its closing time.
    quiet = await act(
        server,
        COMMITTEE,
        "/ballots",
        {
            "kind": "consultation",
            "area_code": f"{COMPOUND}-B02",
            "title": "2号楼外墙保温改造意见",
            "proposal": "是否同意2号楼外墙保温改造",
            # Opened a minute ago: however long the request takes, it closes after it opened.
            "opens_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "closes_at": (datetime.now(UTC) + timedelta(seconds=2)).isoformat(),
        },
        expect=201,
    )
    assert quiet["eligible"] == 3

    async def closed() -> Any:
        seen = await get(server, COMMITTEE, f"/ballots/{quiet['ballot_id']}")
        return seen if seen["status"] == "closed" else None

    by_timer = await until(closed, timeout=20, what="the consultation closed by the timer")
    assert by_timer["closed_by"] == "timer" and by_timer["cast"] == 0
    assert by_timer["quorum_met"] is False and by_timer["outcome"] is None
    listed = await get(server, COMMITTEE, "/ballots?status=closed")
    assert {ballot["ballot_id"], quiet["ballot_id"]} <= {b["ballot_id"] for b in listed}

    # Turnout per community and month: every closed ballot of the compound, summed.
    public = await reported(
        reporting, f"/ballots/{ballot['ballot_id']}", lambda b: b["closed_at"] is not None
    )
    assert public["turnout"] == round(2 / 6, 4) and public["quorum_met"] is False
    closed_here = await reported(
        reporting, f"/ballots?area_code={COMPOUND}&closed=true", lambda page: page["total"] > 0
    )
    month = public["closed_at"][:7]  # UTC; the test does not run at a Shanghai month's edge
    [row] = await reported(
        reporting,
        f"/ballots/turnout?area_code={COMPOUND}",
        lambda rows: len(rows) == 1 and rows[0]["ballots"] == closed_here["total"],
    )
    assert row["community_code"] == "370124001001" and row["month"] == month
    assert row["eligible"] == sum(b["eligible"] for b in closed_here["items"])
    assert row["cast"] == sum(b["cast"] for b in closed_here["items"])
    assert row["turnout"] == round(row["cast"] / row["eligible"], 4)


async def test_only_the_community_or_its_supervisors_open_a_ballot_and_only_with_a_register(
    dispatch_server,
):
    server = dispatch_server
    body = {
        "area_code": "370124002002-G02",  # 翠屏社区平房片区: no register loaded
        "title": "平房片区改造",
        "proposal": "是否同意平房片区整体改造",
        "within": "3d",
    }
    await act(server, COMMITTEE, "/ballots", body, expect=403)
    refused = await act(server, "dev-key-committee-cuiping", "/ballots", body, expect=409)
    assert "户册" in refused["detail"]
    async with server.client(COMMITTEE) as client:
        bad = await client.put(
            f"/households/{COMPOUND}", json={"csv": "unit_code,door\n370124002002-G01-B01,1"}
        )
    assert bad.status_code == 422 and "不在" in bad.json()["detail"]
    unknown = uuid.uuid4()
    async with server.client(COMMITTEE) as client:
        missing = await client.post(f"/ballots/{unknown}/close", json={})
    assert missing.status_code == 404
