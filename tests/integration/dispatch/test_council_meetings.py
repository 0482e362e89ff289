"""Seed 004 through dispatch over HTTP and reporting on the same broker: 会仙山社区's 大党委 with
县委书记 as 包挂领导, a quarterly meeting whose agenda is prepared with 玫城丽都's property
certificate case (不动产权证, overdue and escalated), minutes and attendance, a decision giving
住建局 and 不动产登记中心 a duty within 3 months, the duties done and counted; an ad hoc meeting
on residents' suggestions (征集) that opens a case of its own; the quarterly due warning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from deploy.local.runner import DEMO_CITY
from services.dispatch.domain.meetings import add_months
from tests.integration.conftest import DispatchServer, until
from tests.integration.dispatch.test_dispatch_api import act, routed
from tests.support.examples import READER

pytestmark = pytest.mark.integration

HUIXIANSHAN = "370124001001"  # 榆山街道会仙山社区
DONGGUAN = "370124001002"
MEICHENG_B02 = "370124001001-G01-B02"  # 玫城丽都2号楼
COMMITTEE = "dev-key-committee-huixianshan"

CITY = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
# The registry centre does not sign the certificate case within two seconds: it breaches and
# the case is escalated to 住建局 (the catalogue's escalate_to), as the seed's years-long wait.
CITY["time_limits"]["categories"]["property-certificate"] = {"sign": "2s"}

MEMBERS = [
    {"name": "中共平阴县委", "kind": "leader", "person": "杨旭东", "post": "县委书记（包挂领导）"},
    {"name": "平阴县住房和城乡建设局", "kind": "department", "responder_id": "dept-housing"},
    {
        "name": "平阴县不动产登记中心",
        "kind": "department",
        "responder_id": "dept-property-registry",
    },
    {"name": "平阴县公安局榆山派出所", "kind": "police", "responder_id": "police-yushan"},
    {"name": "国网平阴县供电公司党委", "kind": "resident_unit", "post": "社区兼职委员"},
    {
        "name": "玫城丽都小区业主委员会",
        "kind": "owners_committee",
        "responder_id": "owners-meicheng",
    },
    {
        "name": "玫城丽都物业服务中心",
        "kind": "property_company",
        "responder_id": "property-meicheng",
    },
]
MINUTES = (
    "8月24日召开榆山街道会仙山社区“大党委”联席会议。包挂领导、县委书记杨旭东带领住建局、"
    "不动产中心等单位现场办公，针对玫城丽都小区居民反映的不动产权证办理问题，"
    "承诺3个月内办理完相关手续。"
)


async def get(server: DispatchServer, key: str, path: str, **params: Any) -> Any:
    async with server.client(key) as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def reporting_url(reporting_beside_dispatch: str) -> str:
    return reporting_beside_dispatch


async def test_the_quarterly_meeting_takes_up_the_property_certificates_and_its_duties_are_done(
    dispatch_server: DispatchServer, reporting_url: str
):
    server = dispatch_server
    case = await routed(server, "property-certificate", MEICHENG_B02)
    complaint_id = case["complaint_id"]
    await server.wait_for_case(
        uuid.UUID(complaint_id),
        lambda c: any(o["purpose"] == "escalation" for o in c["work_orders"]),
        timeout=30,
    )

    # 大党委: the leader in charge by name, departments, resident units, the compound's parties.
    async with server.client(COMMITTEE) as client:
        council = await client.put(f"/councils/{HUIXIANSHAN}", json={"members": MEMBERS})
        outsider = await client.put(f"/councils/{DONGGUAN}", json={"members": MEMBERS})
    assert council.status_code == 200, council.text
    assert outsider.status_code == 403, "the committee runs its own community's council only"
    body = council.json()
    leader = body["members"][0]
    assert leader["person"] == "杨旭东" and leader["kind_label"] == "包挂领导"
    assert body["cadence_months"] == 3 and body["overdue"] is False

    # A quarterly meeting, held on 24 August (here: a hundred days ago); its agenda prepared.
    held_at = datetime.now(UTC) - timedelta(days=100)
    meeting = await act(
        server,
        COMMITTEE,
        f"/councils/{HUIXIANSHAN}/meetings",
        {"kind": "quarterly", "scheduled_for": held_at.isoformat()},
        expect=201,
    )
    path = f"/meetings/{meeting['meeting_id']}"
    assert meeting["title"] == "会仙山社区“大党委”联席会议（季度例会）"
    found = {i["key"]: i for i in meeting["items"]}
    certificate = found[f"case:{complaint_id}"]
    assert certificate["source"] == "escalated" and certificate["source_label"] == "已升级督办"
    assert "已超期" in certificate["detail"] and "不动产权证办理" in certificate["title"]

    # The community edits it: residents' suggestions (征集) and a patrol's finding, one removed.
    edited = await act(
        server,
        COMMITTEE,
        f"{path}/agenda",
        {
            "add": [
                {
                    "source": "collected",
                    "title": "居民建议：北门增设非机动车棚",
                    "detail": "征集12条",
                },
                {"source": "patrol", "title": "巡查发现：2号楼外墙空鼓", "area_code": MEICHENG_B02},
            ]
        },
    )
    patrol = next(i for i in edited["items"] if i["source"] == "patrol")
    edited = await act(server, COMMITTEE, f"{path}/agenda", {"remove": [patrol["key"]]})
    assert [i["source"] for i in edited["items"]].count("patrol") == 0
    assert any(i["source"] == "collected" for i in edited["items"])

    premature = await act(
        server,
        COMMITTEE,
        f"{path}/decisions",
        {
            "item_key": certificate["key"],
            "decision": "三个月内办结",
            "duties": [{"responder_id": "dept-housing", "task": "办理手续", "months": 3}],
        },
        expect=409,
    )
    assert "尚未召开" in premature["detail"]

    held = await act(
        server,
        COMMITTEE,
        f"{path}/held",
        {
            "held_at": held_at.isoformat(),
            "attendance": [
                "杨旭东（县委书记、包挂领导）",
                "平阴县住房和城乡建设局",
                "平阴县不动产登记中心",
            ],
            "absent": ["国网平阴县供电公司党委"],
            "minutes": MINUTES,
        },
    )
    assert held["status"] == "held" and held["absent"] == ["国网平阴县供电公司党委"]

    not_a_member = await act(
        server,
        COMMITTEE,
        f"{path}/decisions",
        {
            "item_key": certificate["key"],
            "decision": "城管局配合",
            "duties": [{"responder_id": "dept-urban", "task": "配合", "within": "10d"}],
        },
        expect=409,
    )
    assert "不是会仙山社区大党委成员单位" in not_a_member["detail"]

    decided = await act(
        server,
        COMMITTEE,
        f"{path}/decisions",
        {
            "item_key": certificate["key"],
            "decision": "住建局、不动产登记中心3个月内为玫城丽都小区办理完不动产权证相关手续",
            "duties": [
                {"responder_id": "dept-housing", "task": "协调开发商补齐资料", "months": 3},
                {"responder_id": "dept-property-registry", "task": "办理首次登记", "months": 3},
            ],
        },
    )
    [decision] = decided["decisions"]
    assert decision["case_id"] == complaint_id and decision["opened_case"] is False
    for duty in decision["duties"]:
        due = datetime.fromisoformat(duty["due_at"])
        assert timedelta(days=88) < due - datetime.now(UTC) < timedelta(days=93)

    # The duties are work orders on the case: signed and resolved by the departments.
    case = await server.wait_for_case(uuid.UUID(complaint_id))
    for duty in decision["duties"]:
        order = next(o for o in case["work_orders"] if o["work_order_id"] == duty["work_order_id"])
        assert (
            order["purpose"] == "deliberation"
            and "大党委联席会议决定" in order["routing"]["reason"]
        )
        key = f"dev-key-{duty['responder_id']}"
        await act(server, key, f"/work-orders/{duty['work_order_id']}/sign")
        await act(
            server, key, f"/work-orders/{duty['work_order_id']}/resolve", {"report": "手续已办结"}
        )

    # A hundred days after the meeting, the next quarterly one is overdue: the community is warned.
    council = await get(server, COMMITTEE, f"/councils/{HUIXIANSHAN}")
    assert council["overdue"] is True
    assert datetime.fromisoformat(council["last_held_at"]) == held_at
    assert datetime.fromisoformat(council["next_due_at"]) == add_months(held_at, 3)
    street = await get(server, "dev-key-street-yushan", "/councils", overdue="true")
    assert [c["community_code"] for c in street["items"]] == [HUIXIANSHAN]

    # Reporting reads the meeting and counts the duties resolved before their deadline.
    async with httpx.AsyncClient(base_url=reporting_url, headers=READER, timeout=30) as client:

        async def counted() -> Any:
            page = (await client.get("/meetings", params={"community_code": HUIXIANSHAN})).json()
            done = [d for m in page["items"] for d in m["duties"] if d["resolved_at"]]
            return page if len(done) == 2 else None

        page = await until(counted, what="reporting has both duties resolved")
    [entry] = [m for m in page["items"] if m["meeting_id"] == meeting["meeting_id"]]
    assert entry["minutes"] == MINUTES and entry["kind"] == "quarterly"
    assert entry["members"][0]["person"] == "杨旭东"
    assert {d["responder_id"] for d in entry["duties"]} == {
        "dept-housing",
        "dept-property-registry",
    }
    assert all(d["on_time"] for d in entry["duties"])
    assert page["decisions_on_time"] == {"due": 2, "on_time": 2, "rate": 1.0}


async def test_an_ad_hoc_meeting_opens_a_case_for_a_matter_without_one(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    async with server.client("dev-key-street-yushan") as client:
        response = await client.put(
            f"/councils/{DONGGUAN}",
            json={
                "members": [
                    {"name": "鲁润物业东关小区服务处", "kind": "property_company",
                     "responder_id": "property-dongguan"},
                    {"name": "平阴县城市管理局", "kind": "department", "responder_id": "dept-urban"},
                ]
            },
        )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["overdue"] is False, "a council just set up is not yet due"

    meeting = await act(
        server,
        "dev-key-committee-dongguan",
        f"/councils/{DONGGUAN}/meetings",
        {
            "kind": "ad_hoc",
            "scheduled_for": datetime.now(UTC).isoformat(),
            "title": "东关小区停车议题临时会议",
        },
        expect=201,
    )
    assert meeting["kind_label"] == "临时会议"
    path = f"/meetings/{meeting['meeting_id']}"
    edited = await act(
        server,
        "dev-key-committee-dongguan",
        f"{path}/agenda",
        {
            "add": [
                {"source": "collected", "title": "居民建议：规划夜间停车位", "detail": "征集意见"}
            ]
        },
    )
    item = next(i for i in edited["items"] if i["source"] == "collected")
    await act(
        server,
        "dev-key-committee-dongguan",
        f"{path}/held",
        {
            "held_at": datetime.now(UTC).isoformat(),
            "attendance": ["鲁润物业", "城管局"],
            "minutes": "议定施划车位",
        },
    )
    decided = await act(
        server,
        "dev-key-committee-dongguan",
        f"{path}/decisions",
        {
            "item_key": item["key"],
            "decision": "物业施划夜间停车位，城管局指导",
            "duties": [
                {"responder_id": "property-dongguan", "task": "施划车位", "within": "10d"},
                {"responder_id": "dept-urban", "task": "现场指导", "within": "10d"},
            ],
        },
    )
    [decision] = decided["decisions"]
    assert decision["opened_case"] is True
    case = await server.wait_for_case(uuid.UUID(decision["case_id"]))
    lead = next(o for o in case["work_orders"] if o["work_order_id"] == case["lead_work_order_id"])
    assert lead["responder"]["id"] == "property-dongguan" and case["area_code"] == DONGGUAN
    assert len(case["work_orders"]) == 2

    again = await act(
        server,
        "dev-key-committee-dongguan",
        f"{path}/held",
        {"held_at": datetime.now(UTC).isoformat(), "attendance": ["x"], "minutes": "再次"},
        expect=409,
    )
    assert "已召开" in again["detail"]
    listed = await get(server, "dev-key-committee-dongguan", f"/councils/{DONGGUAN}/meetings")
    assert [m["meeting_id"] for m in listed["items"]] == [meeting["meeting_id"]]
    council = await get(server, "dev-key-committee-dongguan", f"/councils/{DONGGUAN}")
    assert council["last_held_at"] is None, "an ad hoc meeting is not the regular one"
    async with server.client("dev-key-committee-huixianshan") as client:
        assert (await client.get(path)).status_code == 404, "another community's meeting"
