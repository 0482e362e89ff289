"""The clocks of community governance on a drill timescale: a committee that does not dispatch
in time is escalated like any lead, and a unit a community called in that does not respond
breaches its own limit (社区点单、部门响应)."""

from __future__ import annotations

import uuid

import yaml

from deploy.local.runner import DEMO_CITY
from tests.integration.conftest import DispatchServer
from tests.integration.dispatch.test_community_governance import MEICHENG, events_of
from tests.integration.dispatch.test_dispatch_api import act, lead, order_of, routed

CITY = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
CITY["time_limits"] = {
    "committee_dispatch": {"sign": "2s", "feedback": "120s"},
    "community_call": {"sign": "2s", "feedback": "120s"},
}


async def test_a_committee_that_does_not_take_up_its_queue_is_escalated_to_the_street(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    case = await routed(server, "common-parts", MEICHENG)
    assert lead(case)["responder"]["id"] == "owners-meicheng"
    case = await server.wait_for_case(
        uuid.UUID(case["complaint_id"]), lambda c: c["level"] == "street", timeout=20
    )
    street = order_of(case, "street-yushan", "escalation")
    assert "玫城丽都小区业主委员会签收超期" in street["routing"]["reason"]
    breached = [e for e in await events_of(server, case) if e["type"] == "SlaBreached"]
    assert breached[0]["data"]["responder_id"] == "owners-meicheng"
    # Late, the committee still dispatches; the street's supervising order ends with the case.
    await act(
        server,
        "dev-key-owners-meicheng",
        f"/work-orders/{lead(case)['work_order_id']}/dispatch",
        {"lead": "property-meicheng", "reason": "石桌松动，由物业加固"},
    )
    case = await server.wait_for_case(uuid.UUID(case["complaint_id"]))
    assert lead(case)["responder"]["id"] == "property-meicheng"


async def test_a_unit_called_in_that_does_not_respond_breaches_its_limit(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    case = await routed(server, "road-damage", MEICHENG)
    case = await act(
        server,
        "dev-key-committee-huixianshan",
        f"/cases/{case['complaint_id']}/call",
        {"responder_ids": ["dept-urban"], "reason": "路面坑洼，请城管局到现场"},
    )
    called = order_of(case, "dept-urban", "community_call")
    case = await server.wait_for_case(
        uuid.UUID(case["complaint_id"]),
        lambda c: any(
            clock["breached"]
            for clock in order_of(c, "dept-urban", "community_call")["clocks"]
            if clock["name"] == "sign"
        ),
        timeout=20,
    )
    assert order_of(case, "dept-urban", "community_call")["status"] == "issued"
    steps = await events_of(server, case)
    assert "CaseEscalated" not in [e["type"] for e in steps], "on record, not escalated"
    breached = [e for e in steps if e["type"] == "SlaBreached"]
    assert [e["data"]["work_order_id"] for e in breached] == [called["work_order_id"]]
