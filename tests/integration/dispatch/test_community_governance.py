"""Community governance through dispatch's HTTP API, with intake's events on a real broker:
the owners' committee dispatching by hand (业委会派单, seed 001), the developer as a responder
(seed 000), the community calling units and 双报到 cadres in (社区点单, seeds 002 and 004), and a
registered cadre given a duty by a deliberation decision."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.conftest import DispatchServer
from tests.integration.dispatch.test_dispatch_api import act, lead, order_of, routed

MEICHENG = "370124001001-G01-B02"  # 玫城丽都2号楼 (会仙山社区, owners' committee: 业委会)
DONGGUAN = "370124001002-G01-B01"  # 东关小区3号楼 (东关社区, no owners' committee)
OWNERS = "dev-key-owners-meicheng"


async def events_of(server: DispatchServer, case: dict[str, Any]) -> list[dict[str, Any]]:
    async with server.client() as client:
        response = await client.get(f"/cases/{case['complaint_id']}/events")
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def test_the_owners_committee_dispatches_by_hand_and_a_return_comes_back_to_its_queue(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    case = await routed(server, "common-parts", MEICHENG)
    queue = lead(case)
    assert queue["responder"]["id"] == "owners-meicheng" and queue["purpose"] == "committee"
    assert "玫城丽都小区业主委员会派单" in queue["routing"]["reason"]
    assert {c["name"] for c in queue["clocks"]} == {"sign", "feedback"}, "its own clock"

    async with server.client(OWNERS) as client:
        listed = (await client.get("/dispatch-queue")).json()["work_orders"]
    assert queue["work_order_id"] in {o["work_order_id"] for o in listed}
    async with server.client("dev-key-owners-cuiping") as client:
        listed = (await client.get("/dispatch-queue")).json()["work_orders"]
    assert queue["work_order_id"] not in {o["work_order_id"] for o in listed}, "not its compound"

    path = f"/work-orders/{queue['work_order_id']}/dispatch"
    choice = {
        "lead": "developer-meicheng",
        "co": ["property-meicheng"],
        "reason": "屋面防水在保修期内，由开发商维修，物业配合",
    }
    await act(server, "dev-key-property-meicheng", path, choice, expect=404)
    await act(server, OWNERS, path, choice | {"lead": "owners-meicheng"}, expect=409)
    done = await act(server, OWNERS, path, choice)
    assert done["status"] == "resolved" and done["report"] == choice["reason"]

    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    developer = lead(case)
    assert developer["responder"] == {
        "id": "developer-meicheng",
        "name": "平阴玫城置业有限公司",
        "kind": "developer",
    }
    assert (
        developer["purpose"] == "dispatch"
        and "玫城丽都小区业主委员会派单" in (developer["routing"]["reason"])
    )
    assert {c["name"] for c in developer["clocks"]} == {"sign", "contact", "feedback"}
    assert order_of(case, "property-meicheng")["role"] == "co"
    assert "CaseHandDispatched" in [e["type"] for e in await events_of(server, case)]

    # 退单: the developer says it is not its matter; the case goes back to the committee.
    await act(
        server,
        "dev-key-developer-meicheng",
        f"/work-orders/{developer['work_order_id']}/return",
        {"reason": "已过保修期，应由物业维修"},
    )
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    again = lead(case)
    assert again["responder"]["id"] == "owners-meicheng" and again["purpose"] == "committee"
    assert "退单后改派" in again["routing"]["reason"]
    refused = await act(
        server,
        OWNERS,
        f"/work-orders/{again['work_order_id']}/dispatch",
        choice,
        expect=409,
    )
    assert "已退回本案" in refused["detail"]
    await act(
        server,
        OWNERS,
        f"/work-orders/{again['work_order_id']}/dispatch",
        {"lead": "property-meicheng", "reason": "已过保修期，由物业维修"},
    )
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    assert lead(case)["responder"]["id"] == "property-meicheng"


async def test_the_community_committee_dispatches_where_a_compound_has_no_owners_committee(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    case = await routed(server, "common-parts", DONGGUAN)
    queue = lead(case)
    assert queue["responder"]["id"] == "committee-dongguan" and queue["purpose"] == "committee"
    await act(
        server,
        "dev-key-committee-dongguan",
        f"/work-orders/{queue['work_order_id']}/dispatch",
        {"lead": "property-dongguan", "reason": "小区围栏破损，由物业修复"},
    )
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    assert lead(case)["responder"]["id"] == "property-dongguan"

    # An owners' committee that passes the matter back leaves it to the community committee.
    case = await routed(server, "common-parts", MEICHENG)
    await act(
        server,
        OWNERS,
        f"/work-orders/{lead(case)['work_order_id']}/return",
        {"reason": "涉及相邻小区共用围墙，请社区协调"},
    )
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    assert lead(case)["responder"]["id"] == "committee-huixianshan"
    assert lead(case)["purpose"] == "committee"


async def test_the_community_calls_departments_and_a_registered_cadre_in(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    case = await routed(server, "road-damage", MEICHENG)  # the committee has no order here
    path = f"/cases/{case['complaint_id']}/call"
    call = {
        "responder_ids": ["dept-housing"],
        "registration_ids": ["cadre-registry-wang"],
        "reason": "小区路面破损、井盖塌陷，请住建局和不动产中心到现场",
    }
    await act(server, "dev-key-committee-dongguan", path, call, expect=404)
    bad = await act(
        server,
        "dev-key-committee-huixianshan",
        path,
        call | {"responder_ids": ["property-meicheng"]},
        expect=409,
    )
    assert "不能点单" in bad["detail"]
    elsewhere = call | {"registration_ids": ["cadre-urban-zhao"]}  # registered with 东关社区
    await act(server, "dev-key-committee-huixianshan", path, elsewhere, expect=409)

    case = await act(server, "dev-key-committee-huixianshan", path, call)
    housing = order_of(case, "dept-housing", "community_call")
    cadre = order_of(case, "dept-property-registry", "community_call")
    assert "会仙山社区居委会点单" in housing["routing"]["reason"]
    assert cadre["registration_id"] == "cadre-registry-wang" and cadre["cadre"] == "王海燕"
    assert cadre["task"].startswith("报到干部王海燕（登记科科长）")
    assert {c["name"] for c in housing["clocks"]} == {"sign", "feedback"}
    signed = await act(
        server, "dev-key-dept-housing", f"/work-orders/{housing['work_order_id']}/sign"
    )
    assert signed["status"] == "signed"
    refused = await act(
        server,
        "dev-key-dept-housing",
        f"/work-orders/{housing['work_order_id']}/return",
        {"reason": "不是我们的事"},
        expect=409,
    )
    assert "社区点单" in refused["detail"], "a community's call binds the unit, like a whistle"
    called = [e for e in await events_of(server, case) if e["type"] == "CommunityCalled"]
    assert called[0]["data"]["responder_ids"] == ["dept-housing"]
    assert called[0]["data"]["registration_ids"] == ["cadre-registry-wang"]


async def test_a_deliberation_gives_a_registered_cadre_a_duty(dispatch_server: DispatchServer):
    server = dispatch_server
    committee = "dev-key-committee-huixianshan"
    async with server.client(committee) as client:
        listed = (await client.get("/communities/370124001001/registrations")).json()
    assert {r["id"]: r["person"] for r in listed["registrations"]} == {
        "unit-housing-huixianshan": None,
        "cadre-housing-sun": "孙立新",
        "cadre-registry-wang": "王海燕",
    }
    assert all("phone" not in str(r) for r in listed["registrations"])
    async with server.client("dev-key-committee-dongguan") as client:
        assert (await client.get("/communities/370124001001/registrations")).status_code == 404

    case = await routed(server, "property-certificate", MEICHENG)
    item = await act(
        server,
        committee,
        f"/cases/{case['complaint_id']}/deliberation",
        {"reason": "玫城丽都居民普遍关心不动产权证办理", "title": "玫城丽都不动产权证办理"},
        expect=201,
    )
    steps = [
        ("topic", {"topic": "不动产权证办理", "parties": ["住建局", "不动产中心", "居民代表"]}),
        (
            "meetings",
            {"participants": ["孙立新", "居民代表"], "minutes": "承诺3个月内办结", "settled": True},
        ),
    ]
    for verb, body in steps:
        await act(server, committee, f"/agenda/{item['item_id']}/{verb}", body)
    decided = await act(
        server,
        committee,
        f"/agenda/{item['item_id']}/decision",
        {
            "decision": "住建局牵头，3个月内办理完相关手续",
            "assignments": [
                {
                    "registration_id": "cadre-housing-sun",
                    "task": "牵头办理不动产权证手续",
                    "within": "30d",
                }
            ],
        },
    )
    assert decided["assignments"][0]["responder_id"] == "dept-housing"
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    duty = order_of(case, "dept-housing", "deliberation")
    assert duty["registration_id"] == "cadre-housing-sun" and duty["cadre"] == "孙立新"
    assert duty["task"] == "报到干部孙立新（副局长）：牵头办理不动产权证手续"
    both = await act(
        server,
        committee,
        f"/agenda/{item['item_id']}/decision",
        {"decision": "x" * 3, "assignments": [{"task": "无人", "registration_id": None}]},
        expect=422,
    )
    assert "responder_id" in str(both)
