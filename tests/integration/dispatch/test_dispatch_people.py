"""People in the grid over HTTP (三长 and 楼管员): the catalogue sends a matter to the building
head first, who signs and settles it with their own key; a unit head's return goes on to the
community; people.csv replaces the heads in one version; notify reaches a head's own phone."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from deploy.local.runner import DEMO_CITY, DEMO_DIRECTORY
from shared.events import WorkOrderIssued
from tests.integration.conftest import DispatchServer, NotifyServer
from tests.integration.dispatch.test_dispatch_api import act, lead, order_of, routed

UNIT = "370124001001-G01-B02-U1"  # 玫城丽都2号楼1单元
CITY = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
DIRECTORY = {e["id"]: e for e in yaml.safe_load(DEMO_DIRECTORY.read_text(encoding="utf-8"))}


async def test_a_building_head_gets_the_corridor_mess_first_and_settles_it_with_their_key(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    case = await routed(server, "sanitation", UNIT)
    head = lead(case)
    assert head["responder"] == {
        "id": "head-meicheng-b02",
        "name": "玫城丽都2号楼楼栋长",
        "kind": "building_head",
    }
    assert head["routing"]["rule_id"] == "R19"
    manager = order_of(case, "manager-meicheng-b02")  # the property's 楼管员 of the building
    assert manager["role"] == "co"
    path = f"/work-orders/{head['work_order_id']}"
    async with server.client("dev-key-head-meicheng-b01") as client:  # the next building's head
        assert (await client.get(path)).status_code == 404
    key = "dev-key-head-meicheng-b02"
    for step, body in [
        ("sign", {"note": "楼栋长已接单"}),
        ("contact", {"note": "已上门与反映的住户沟通"}),
        ("resolve", {"report": "组织楼内住户清理楼道堆物，楼道已畅通"}),
    ]:
        await act(server, key, f"{path}/{step}", body)
    co = f"/work-orders/{manager['work_order_id']}"
    await act(server, "dev-key-manager-meicheng-b02", f"{co}/sign")
    await act(server, "dev-key-manager-meicheng-b02", f"{co}/resolve", {"report": "保洁已清运"})
    case = await server.wait_for_case(
        uuid.UUID(case["complaint_id"]), lambda c: c["status"] == "resolved"
    )
    assert lead(case)["status"] == "resolved" and case["level"] == "community"


async def test_a_unit_head_who_returns_a_dispute_hands_it_on_to_the_community(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    case = await routed(server, "neighbour-dispute", UNIT)
    first = lead(case)
    assert first["responder"]["id"] == "head-meicheng-b02-u1"
    assert first["routing"]["rule_id"] == "R21"
    await act(
        server,
        "dev-key-head-meicheng-b02-u1",
        f"/work-orders/{first['work_order_id']}/return",
        {"reason": "双方分属两个单元，单元长调解不了，请社区出面"},
    )
    case = await server.wait_for_case(
        uuid.UUID(case["complaint_id"]),
        lambda c: lead(c)["work_order_id"] != first["work_order_id"],
    )
    rerouted = lead(case)
    assert rerouted["responder"]["id"] == "committee-huixianshan"
    assert rerouted["purpose"] == "reroute" and rerouted["routing"]["rule_id"] == "R16"
    # Where no unit head serves, the dispute goes to the community as before.
    elsewhere = await routed(server, "neighbour-dispute", "370124001001-G02-B01")
    assert lead(elsewhere)["responder"]["id"] == "committee-huixianshan"


async def test_notify_sends_a_heads_order_to_their_own_phone(
    dispatch_server: DispatchServer, notify_server: NotifyServer
):
    case = await routed(dispatch_server, "sanitation", "370124001001-G02-B01")  # 会仙山路12号楼
    assert lead(case)["responder"]["id"] == "head-huixianshan-g02"  # no building rule: the grid
    async with dispatch_server.client() as client:
        events = (await client.get(f"/cases/{case['complaint_id']}/events")).json()["events"]
    issued = [
        WorkOrderIssued.model_validate(e["data"]) for e in events if e["type"] == "WorkOrderIssued"
    ]
    async with notify_server.client() as client:
        loaded = await client.put("/directory", json=list(DIRECTORY.values()))
        assert loaded.status_code == 200, loaded.text
    complaint = uuid.UUID(case["complaint_id"])
    await notify_server.tell(*issued)  # as notify hears them from dispatch
    phone = DIRECTORY["head-huixianshan-g02"]["sms"]

    def to_the_head() -> list[dict[str, Any]]:
        return [
            r
            for r in notify_server.gateways.accepted("sms")
            if r["json"]["to"] == phone and str(complaint) in r["body"].decode()
        ]

    [sms] = await notify_server.until(to_the_head, what="the grid head's order notice")
    assert "新工单（主办）" in sms["json"]["text"] and "环境卫生" in sms["json"]["text"]
    assert lead(case)["work_order_id"] in sms["json"]["text"]


async def test_people_csv_replaces_the_heads_in_one_version_and_routes_at_once(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    rows = [
        "id,kind,person,areas,company",
        "head-huixianshan-g01,grid_head,孟庆华,370124001001-G01,",
        "head-huixianshan-g02,grid_head,刘玉梅,370124001001-G02,",
        "head-meicheng-b01,building_head,赵春生,370124001001-G01-B01,",
        "head-meicheng-b02,building_head,王秀英,370124001001-G01-B02,",
        "head-huixianshanlu-12,building_head,李德山,370124001001-G02-B01,",
        # 换届: 2号楼1单元 has a new unit head
        "head-meicheng-b02-u1-2027,unit_head,周淑芬,370124001001-G01-B02-U1,",
        "manager-meicheng-b01,building_manager,陈磊,370124001001-G01-B01,property-meicheng",
        "manager-meicheng-b02,building_manager,高峰,370124001001-G01-B02,property-meicheng",
    ]
    async with server.client() as client:
        before = (await client.get("/admin/city")).json()["catalogue_version"]
        wrong = await client.put(
            "/admin/city/people",
            content="id,kind,person,areas\nhead-x,building_head,某某,370124001001-G01-B02-U1\n",
            headers={"content-type": "text/csv"},
        )
        assert wrong.status_code == 422 and "building areas" in wrong.json()["detail"]
        loaded = await client.put(
            "/admin/city/people",
            content="\n".join(rows),
            headers={"content-type": "text/csv"},
            params={"reason": "单元长换届"},
        )
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["catalogue_version"] == before + 1
        city = (await client.get("/admin/city")).json()["city"]
        versions = (await client.get("/admin/city/versions")).json()["versions"]
    units = {r["id"]: r for r in city["responders"]}
    assert "head-meicheng-b02-u1" not in units
    assert units["head-meicheng-b02-u1-2027"] == {
        "id": "head-meicheng-b02-u1-2027",
        "name": "玫城丽都2号楼1单元单元长",
        "kind": "unit_head",
        "areas": ["370124001001-G01-B02-U1"],
        "person": "周淑芬",
    }
    assert units["manager-meicheng-b02"]["company"] == "property-meicheng"
    assert units["property-meicheng"]["areas"] == ["370124001001-G01"], "other units stay"
    assert (
        versions[-1]["reason"] == "单元长换届" and versions[-1]["changes"] == 3
    )  # put, remove, order
    case = await routed(server, "neighbour-dispute", UNIT)
    assert lead(case)["responder"]["id"] == "head-meicheng-b02-u1-2027"
    signed = await act(
        server,
        "dev-key-head-meicheng-b02-u1-2027",
        f"/work-orders/{lead(case)['work_order_id']}/sign",
    )
    assert signed["status"] == "signed"


async def test_one_head_is_put_by_the_item_route_and_a_nameless_one_is_refused(
    dispatch_server: DispatchServer,
):
    head = {
        "name": "东关小区3号楼楼栋长",
        "kind": "building_head",
        "areas": ["370124001002-G01-B01"],
    }
    async with dispatch_server.client() as client:
        nameless = await client.put("/admin/city/responders/head-dongguan-b01", json=head)
        assert nameless.status_code == 422
        assert "building_head is a named person" in nameless.json()["detail"]
        put = await client.put(
            "/admin/city/responders/head-dongguan-b01",
            json=head | {"person": "孙玉兰"},
            params={"reason": "东关小区3号楼选出楼栋长"},
        )
        assert put.status_code == 200 and put.json()["changes"] == 1, put.text
    async with dispatch_server.client("dev-key-head-dongguan-b01") as client:
        assert (await client.get("/work-orders")).status_code == 200, "the new head has a key"
