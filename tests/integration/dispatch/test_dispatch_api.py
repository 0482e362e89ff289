"""Dispatch over HTTP, with intake's events arriving on a real broker: a unit's orders and only
its own, the whole life of a case, returns, arbitration, the whistle, extensions, deliberation."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from deploy.local.runner import DEMO_CITY
from shared.events import ComplaintReclassified, ComplaintStatus, ComplaintType, ComplaintWithdrawn
from shared.topics import DISPATCH_EVENTS
from tests.integration.cli import run_cli
from tests.integration.conftest import DispatchServer
from tests.integration.kafka_helpers import read_topic
from tests.support import examples

AREA = "370124001001-G01-B02-U1"  # 玫城丽都2号楼1单元 (榆山街道会仙山社区)

CITY = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
# Roof leaks on a drill timescale, so a breach and its escalation happen within the test.
CITY["time_limits"] = {
    "categories": {"roof-leak": {"sign": "4s", "contact": "60s", "feedback": "120s"}}
}


def lead(case: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in case["work_orders"] if o["work_order_id"] == case["lead_work_order_id"])


def order_of(case: dict[str, Any], responder_id: str, purpose: str | None = None) -> dict[str, Any]:
    return next(
        o
        for o in case["work_orders"]
        if o["responder"]["id"] == responder_id and (purpose is None or o["purpose"] == purpose)
    )


async def routed(server: DispatchServer, category: str, area: str) -> dict[str, Any]:
    complaint_id = uuid.uuid4()
    await server.tell(examples.complaint_classified(complaint_id, category, area))
    return await server.wait_for_case(complaint_id, lambda c: bool(c["work_orders"]))


async def act(
    server: DispatchServer,
    key: str,
    path: str,
    body: dict[str, Any] | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    async with server.client(key) as client:
        response = await client.post(path, json=body or {})
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_case_is_routed_signed_returned_rerouted_escalated_and_resolved(dispatch_server):
    server = dispatch_server
    case = await routed(server, "roof-leak", AREA)
    first = lead(case)
    assert first["responder"]["id"] == "property-meicheng" and first["routing"]["rule_id"] == "R01"
    order = f"/work-orders/{first['work_order_id']}"

    signed = await act(server, "dev-key-property-meicheng", f"{order}/sign", {"note": "已接单"})
    assert signed["status"] == "signed" and signed["clocks"][0]["running"] is False
    refused = await act(server, "dev-key-property-meicheng", f"{order}/sign", expect=409)
    assert "已签收" in refused["detail"] and refused["order_status"] == "signed"
    assert refused["current_status"] == "open", "the case is still being handled"

    returned = await act(
        server,
        "dev-key-property-meicheng",
        f"{order}/return",
        {
            "reason": "屋面防水属开发商保修范围，非物业职责",
            "suggested_responder_id": "dept-housing",
        },
    )
    assert returned["status"] == "returned"
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    street = lead(case)
    assert street["responder"]["id"] == "street-yushan" and street["purpose"] == "reroute"
    assert "退单后改派" in street["routing"]["reason"]

    # Nobody at the street signs within four seconds: the case climbs to the district.
    case = await server.wait_for_case(
        uuid.UUID(case["complaint_id"]), lambda c: c["level"] == "district", timeout=20
    )
    supervising = order_of(case, "gov-pingyin", "escalation")
    assert "超期" in supervising["routing"]["reason"]
    assert any(c["breached"] for c in lead(case)["clocks"] if c["name"] == "sign")

    street_order = f"/work-orders/{street['work_order_id']}"
    for step, body in [
        ("sign", {}),
        ("contact", {"note": "电话联系李女士，约定明早查看"}),
        ("start", {"note": "已到现场查看漏点"}),
        ("resolve", {"report": "协调住建局维修基金，屋面防水已重做"}),
    ]:
        await act(server, "dev-key-street-yushan", f"{street_order}/{step}", body)
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    assert case["status"] == "open", "the community committee has not finished"
    committee = order_of(case, "committee-huixianshan")
    await act(
        server, "dev-key-committee-huixianshan", f"/work-orders/{committee['work_order_id']}/sign"
    )
    await act(
        server,
        "dev-key-committee-huixianshan",
        f"/work-orders/{committee['work_order_id']}/resolve",
        {"report": "已向居民说明维修安排"},
    )
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    assert case["status"] == "resolved"
    assert order_of(case, "gov-pingyin", "escalation")["status"] == "cancelled"

    async with server.client() as client:
        stream = (await client.get(f"/cases/{case['complaint_id']}/events")).json()["events"]
    types = [e["type"] for e in stream]
    for expected in ("WorkOrderReturned", "SlaBreached", "CaseEscalated", "CaseResolved"):
        assert expected in types
    published = await read_topic(server.bootstrap, DISPATCH_EVENTS, expected=len(stream) + 2)
    ours = {
        dict(r.headers)["ce_type"].decode()
        for r in published
        if dict(r.headers).get("ce_subject", b"").decode() == case["complaint_id"]
    }
    assert set(types) <= ours, "every step of the case reached the bus"


async def test_a_unit_sees_and_acts_on_its_own_orders_only(dispatch_server):
    server = dispatch_server
    case = await routed(server, "parking", "370124001001-G01")
    own = lead(case)
    assert own["responder"]["id"] == "property-meicheng"
    async with server.client("dev-key-dept-urban") as client:
        assert (await client.get(f"/work-orders/{own['work_order_id']}")).status_code == 404
        assert (await client.get(f"/cases/{case['complaint_id']}")).status_code == 404
        mine = (
            await client.get("/work-orders", params={"complaint_id": case["complaint_id"]})
        ).json()
        assert mine["work_orders"] == []
        response = await client.post(f"/work-orders/{own['work_order_id']}/sign", json={})
        assert response.status_code == 404
    async with server.client("dev-key-police-yushan") as client:  # the co-responder sees the case
        assert (await client.get(f"/cases/{case['complaint_id']}")).status_code == 200
        response = await client.post(f"/work-orders/{own['work_order_id']}/sign", json={})
        assert response.status_code == 403 and "只有" in response.json()["detail"]
    async with server.client("dev-key-property-meicheng") as client:
        listed = (
            await client.get("/work-orders", params={"complaint_id": case["complaint_id"]})
        ).json()
        assert [o["responder"]["id"] for o in listed["work_orders"]] == ["property-meicheng"]
    async with server.client("dev-key-street-yushan") as client:  # its street's cases, all orders
        listed = (
            await client.get("/work-orders", params={"complaint_id": case["complaint_id"]})
        ).json()
        assert len(listed["work_orders"]) == 2
    async with server.client("dev-key-street-jinshui") as client:  # not its neighbour's
        assert (await client.get(f"/cases/{case['complaint_id']}")).status_code == 404
    async with server.client("no-such-key") as client:
        assert (await client.get("/work-orders")).status_code == 401


async def test_the_same_idempotency_key_signs_once_and_answers_the_same(dispatch_server):
    server = dispatch_server
    case = await routed(server, "elevator", "370124002001-G01-B01")
    path = f"/work-orders/{lead(case)['work_order_id']}/sign"
    async with server.client("dev-key-property-jinshuiyuan") as client:
        first = await client.post(path, json={}, headers={"Idempotency-Key": "sign-1"})
        again = await client.post(path, json={}, headers={"Idempotency-Key": "sign-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    async with server.client() as client:
        events = (await client.get(f"/cases/{case['complaint_id']}/events")).json()["events"]
    assert [e["type"] for e in events].count("WorkOrderSigned") == 1


async def test_an_extension_is_asked_by_the_unit_and_decided_by_its_street(dispatch_server):
    server = dispatch_server
    case = await routed(server, "property-service", "370124002002-G01-B01")
    order = lead(case)
    assert order["responder"]["id"] == "property-cuiping"
    path = f"/work-orders/{order['work_order_id']}"
    await act(server, "dev-key-property-cuiping", f"{path}/sign")
    asked = await act(
        server,
        "dev-key-property-cuiping",
        f"{path}/extension",
        {"extend_by": "3d", "reason": "需业主大会表决"},
    )
    assert asked["extension"]["reason"] == "需业主大会表决"
    await act(
        server, "dev-key-property-cuiping", f"{path}/extension/approve", {"reason": "x"}, expect=403
    )
    await act(
        server, "dev-key-street-yushan", f"{path}/extension/approve", {"reason": "x"}, expect=404
    )
    approved = await act(
        server, "dev-key-street-jinshui", f"{path}/extension/approve", {"reason": "同意延期"}
    )
    feedback = next(c for c in approved["clocks"] if c["name"] == "feedback")
    assert feedback["due_at"] == asked["extension"]["requested_due_at"]
    assert approved["extension"] is None and approved["extensions_granted"] == 1
    bad = await act(
        server,
        "dev-key-property-cuiping",
        f"{path}/extension",
        {"extend_by": "3 days", "reason": "xx"},
        expect=422,
    )
    assert "extend_by" in bad["detail"]


async def test_a_street_blows_the_whistle_and_the_departments_must_report_within_thirty_minutes(
    dispatch_server,
):
    server = dispatch_server
    case = await routed(server, "parking", "370124001001-G01")
    path = f"/cases/{case['complaint_id']}/whistle"
    body = {
        "departments": ["dept-urban", "dept-natural-resources"],
        "reason": "北门违建占道，需多部门联合执法",
    }
    await act(server, "dev-key-street-jinshui", path, body, expect=404)
    await act(server, "dev-key-property-meicheng", path, body, expect=403)
    case = await act(server, "dev-key-street-yushan", path, body)
    whistled = [o for o in case["work_orders"] if o["purpose"] == "whistle"]
    assert {o["responder"]["id"] for o in whistled} == {"dept-urban", "dept-natural-resources"}
    sign = next(c for c in whistled[0]["clocks"] if c["name"] == "sign")
    assert 1790 <= sign["seconds_left"] <= 1800
    async with server.client("dev-key-dept-urban") as client:
        mine = (await client.get("/work-orders", params={"purpose": "whistle"})).json()[
            "work_orders"
        ]
    assert any(o["complaint_id"] == case["complaint_id"] for o in mine)
    again = await act(server, "dev-key-street-yushan", path, body, expect=409)
    assert "已有本案在办工单" in again["detail"]


async def test_after_two_returns_the_case_is_arbitrated_and_the_ruling_cannot_be_returned(
    dispatch_server,
):
    server = dispatch_server
    case = await routed(server, "sanitation", "370124001002-G01-B01")
    complaint = uuid.UUID(case["complaint_id"])
    await act(
        server,
        "dev-key-dept-urban",
        f"/work-orders/{lead(case)['work_order_id']}/return",
        {"reason": "属小区内部保洁"},
    )
    case = await server.wait_for_case(complaint)
    assert lead(case)["responder"]["id"] == "street-yushan"
    await act(
        server,
        "dev-key-street-yushan",
        f"/work-orders/{lead(case)['work_order_id']}/return",
        {"reason": "应由物业负责"},
    )
    case = await server.wait_for_case(complaint)
    assert case["status"] == "arbitration" and case["arbitration"]["arbitrator_id"] == "gov-pingyin"
    async with server.client("dev-key-gov-pingyin") as client:
        queue = (await client.get("/arbitration")).json()["cases"]
    assert str(complaint) in [c["complaint_id"] for c in queue]
    ruling = {"responder_id": "property-dongguan", "reason": "小区内垃圾清运由物业负责"}
    await act(server, "dev-key-street-jinshui", f"/cases/{complaint}/arbitrate", ruling, expect=404)
    case = await act(server, "dev-key-gov-pingyin", f"/cases/{complaint}/arbitrate", ruling)
    ruled = lead(case)
    assert ruled["responder"]["id"] == "property-dongguan" and ruled["purpose"] == "arbitration"
    refused = await act(
        server,
        "dev-key-property-dongguan",
        f"/work-orders/{ruled['work_order_id']}/return",
        {"reason": "不服"},
        expect=409,
    )
    assert "街道裁定" in refused["detail"]


async def test_a_case_goes_to_the_community_agenda_and_up_to_the_district_joint_meeting(
    dispatch_server,
):
    server = dispatch_server
    case = await routed(server, "property-certificate", "370124001001")  # 玫城丽都办证难
    complaint = case["complaint_id"]
    item = await act(
        server,
        "dev-key-committee-huixianshan",
        f"/cases/{complaint}/deliberation",
        {"reason": "交房多年未办证，涉及开发商与多个部门"},
        expect=201,
    )
    assert item["stage"] == "collected" and item["community_code"] == "370124001001"
    path = f"/agenda/{item['item_id']}"
    key = "dev-key-committee-huixianshan"
    await act(
        server,
        key,
        f"{path}/topic",
        {"topic": "玫城丽都不动产权证办理", "parties": ["开发商", "居民代表"]},
    )
    await act(
        server,
        key,
        f"{path}/meetings",
        {"participants": ["社区", "开发商"], "minutes": "社区层面无法协调", "settled": False},
    )
    raised = await act(server, key, f"{path}/raise", {"reason": "需县级部门协调"})
    assert raised["level"] == "district" and raised["district_code"] == "370124000000"
    await act(server, key, f"{path}/topic", {"topic": "社区想继续议", "parties": []}, expect=403)
    gov = "dev-key-gov-pingyin"
    await act(
        server,
        gov,
        f"{path}/topic",
        {"topic": "玫城丽都办证", "parties": ["住建局", "不动产登记中心"]},
    )
    await act(
        server,
        gov,
        f"{path}/meetings",
        {
            "participants": ["县委书记", "住建局", "不动产登记中心"],
            "minutes": "承诺3个月内办理完相关手续",
            "settled": True,
        },
    )
    decided = await act(
        server,
        gov,
        f"{path}/decision",
        {
            "decision": "住建局、不动产中心克服历史遗留问题，3个月内办结",
            "assignments": [
                {"responder_id": "dept-housing", "task": "补齐竣工验收手续", "within": "90d"}
            ],
        },
    )
    assert decided["stage"] == "assigned"
    [duty] = decided["assignments"]
    case = await server.wait_for_case(uuid.UUID(complaint))
    order = next(o for o in case["work_orders"] if o["work_order_id"] == duty["work_order_id"])
    assert order["purpose"] == "deliberation" and order["task"] == "补齐竣工验收手续"
    assert case["deliberation_item_id"] is None and case["status"] == "open"
    async with server.client() as client:
        district = (
            await client.get("/agenda", params={"level": "district", "area_code": "370124000000"})
        ).json()
    assert item["item_id"] in [i["item_id"] for i in district["items"]]


async def test_a_new_category_reroutes_and_a_withdrawal_stops_everything(dispatch_server):
    server = dispatch_server
    case = await routed(server, "street-lights", "370124002002-G02")
    complaint = uuid.UUID(case["complaint_id"])
    assert lead(case)["responder"]["id"] == "dept-municipal"
    await server.tell(
        ComplaintReclassified(
            complaint_id=complaint,
            status=ComplaintStatus.DISPATCHED,
            type=ComplaintType.COMPLAINT,
            category="power-supply",
            previous_type=ComplaintType.HELP,
            previous_category="street-lights",
            area_code="370124002002-G02",
            reason="实为停电",
            actor="staff:王",
            occurred_at=examples.datetime.now(examples.UTC),
        )
    )
    case = await server.wait_for_case(
        complaint, lambda c: lead(c)["responder"]["id"] == "util-power"
    )
    assert order_of(case, "dept-municipal")["status"] == "cancelled"
    await server.tell(
        ComplaintWithdrawn(
            complaint_id=complaint,
            status=ComplaintStatus.WITHDRAWN,
            reason="已自行恢复",
            actor="channel:app",
            occurred_at=examples.datetime.now(examples.UTC),
        )
    )
    case = await server.wait_for_case(complaint, lambda c: c["status"] == "cancelled")
    assert all(o["status"] == "cancelled" for o in case["work_orders"])
    async with server.runtime.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM timers WHERE complaint_id = $1", complaint)
            == 0
        )


async def test_a_unit_key_issued_on_the_command_line_acts_for_that_unit_until_revoked(
    dispatch_server,
):
    server = dispatch_server
    env = {"DISPATCH_DATABASE_URL": server.database_url}

    async def cli(*args: str) -> str:
        return await run_cli("services.dispatch.auth", *args, env=env)

    key_id, secret, _ = (
        await cli(
            "create",
            "--name",
            "东关物业",
            "--role",
            "responder",
            "--responder",
            "property-dongguan",
        )
    ).split("\t")
    case = await routed(server, "elevator", "370124001002-G01-B02")
    async with server.client(secret) as client:
        listed = (
            await client.get("/work-orders", params={"complaint_id": case["complaint_id"]})
        ).json()
        assert [o["responder"]["id"] for o in listed["work_orders"]] == ["property-dongguan"]
    assert "property-dongguan" in await cli("list")
    assert "revoked" in await cli("revoke", key_id)
    server.runtime.keys.forget()  # a revocation applies within the key cache's TTL
    async with server.client(secret) as client:
        assert (await client.get("/work-orders")).status_code == 401


async def test_supervisors_urge_and_supervise_in_their_own_areas(dispatch_server):
    server = dispatch_server
    case = await routed(server, "neighbour-dispute", "370124002001-G01-B02")  # 锦水街道
    order = lead(case)
    assert order["responder"]["id"] == "committee-jinshuiyuan"
    urge = f"/work-orders/{order['work_order_id']}/urge"
    await act(server, "dev-key-street-yushan", urge, {"note": "请尽快处理"}, expect=404)
    await act(server, "dev-key-committee-jinshuiyuan", urge, {"note": "自己催自己"}, expect=403)
    urged = await act(server, "dev-key-street-jinshui", urge, {"note": "居民多次来电，请今日联系"})
    assert urged["urged"] == 1
    supervised = await act(
        server,
        "dev-key-supervisor",
        f"/cases/{case['complaint_id']}/supervise",
        {"note": "列为督办件"},
    )
    assert supervised["supervised"] == 1
    await act(
        server,
        "dev-key-grid-jinshuiyuan-1",
        f"/cases/{case['complaint_id']}/supervise",
        {"note": "x"},
        expect=403,
    )


async def test_a_street_that_returned_a_case_does_not_rule_on_it(dispatch_server):
    server = dispatch_server
    case = await routed(server, "sanitation", "370124001002-G01-B02")
    complaint = uuid.UUID(case["complaint_id"])
    await act(
        server,
        "dev-key-dept-urban",
        f"/work-orders/{lead(case)['work_order_id']}/return",
        {"reason": "属小区内部保洁"},
    )
    case = await server.wait_for_case(complaint)
    await act(
        server,
        "dev-key-street-yushan",
        f"/work-orders/{lead(case)['work_order_id']}/return",
        {"reason": "应由物业负责"},
    )
    case = await server.wait_for_case(complaint, lambda c: c["status"] == "arbitration")
    ruling = {"responder_id": "dept-urban", "reason": "仍由城管办理"}
    refused = await act(
        server, "dev-key-street-yushan", f"/cases/{complaint}/arbitrate", ruling, expect=403
    )
    assert "已退单" in refused["detail"]
    # A unit that returned its order is no longer part of the case.
    async with server.client("dev-key-dept-urban") as client:
        assert (await client.get(f"/cases/{complaint}")).status_code == 404


async def test_an_agenda_is_read_by_its_community_and_supervisors_only(dispatch_server):
    server = dispatch_server
    case = await routed(server, "neighbour-dispute", "370124001001-G02-B01")
    item = await act(
        server,
        "dev-key-committee-huixianshan",
        f"/cases/{case['complaint_id']}/deliberation",
        {"reason": "楼上楼下噪音纠纷，需邻里协商"},
        expect=201,
    )
    for key, expected in [
        ("dev-key-committee-huixianshan", 200),
        ("dev-key-street-yushan", 200),
        ("dev-key-supervisor", 200),
        ("dev-key-committee-jinshuiyuan", 404),
        ("dev-key-property-jinshuiyuan", 404),
    ]:
        async with server.client(key) as client:
            got = await client.get(f"/agenda/{item['item_id']}")
            listed = (await client.get("/agenda", params={"area_code": "370124001001"})).json()[
                "items"
            ]
        assert got.status_code == expected, key
        assert (item["item_id"] in [i["item_id"] for i in listed]) is (expected == 200), key


async def test_a_nul_character_is_refused_before_it_reaches_the_database(dispatch_server):
    server = dispatch_server
    case = await routed(server, "elevator", "370124002001-G01-B02")
    path = f"/work-orders/{lead(case)['work_order_id']}/contact"
    async with server.client("dev-key-property-jinshuiyuan") as client:
        await client.post(f"/work-orders/{lead(case)['work_order_id']}/sign", json={})
        body = await client.post(
            path, content=b'{"note": "ok\\u0000"}', headers={"content-type": "application/json"}
        )
        query = await client.get("/work-orders", params={"status": "issued\x00"})
    assert body.status_code == query.status_code == 422
    assert "NUL" in body.json()["detail"]
