"""The residents' WeChat group on a duty rota and the 政务事项 of the 督办墙, through dispatch's
HTTP API with intake's events arriving on a real broker (seed 002: 居民微信群安排“两委”班子成员
24小时轮班值守…1小时内在群内公开回复群众诉求; 低保申请、尊老金发放…明确专人限时办理)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import yaml

from deploy.local.runner import DEMO_CITY
from shared.deadlines import CHINA
from shared.events import Channel
from tests.integration.conftest import DispatchServer, until
from tests.integration.dispatch.test_dispatch_api import act, lead
from tests.support import examples

AREA = "370124001001-G01-B02-U1"  # 玫城丽都2号楼1单元 (会仙山社区)

CITY = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
# The group's one-hour reply on a drill timescale: it warns and breaches within the test.
# A 代办 too, so that a matter's clock warns and breaches within the test.
CITY["time_limits"] = CITY["time_limits"] | {
    "group_reply": "4s",
    "matters": CITY["time_limits"]["matters"] | {"proxy": "4s"},
}


def two_in_the_morning() -> datetime:
    """Today's 02:00 in China: the night shift (18:00–08:00) of the demo rota."""
    today = datetime.now(CHINA).date()
    return datetime(today.year, today.month, today.day, 2, 0, tzinfo=CHINA)


def reply_order(case: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in case["work_orders"] if o["purpose"] == "group_reply")


async def test_a_group_message_at_two_goes_to_the_night_shift_whose_hour_warns_and_breaches(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    filed = examples.complaint_filed(
        channel=Channel.WECHAT,
        wechat_group="370124001001",
        area_code=AREA,
        text="楼道灯坏了好几天，晚上回家摸黑上楼，老人差点摔倒",
        filed_at=two_in_the_morning(),
    )
    await server.tell(filed)
    case = await server.wait_for_case(filed.complaint_id, lambda c: bool(c["work_orders"]))
    order = reply_order(case)
    assert order["responder"]["id"] == "member-huixianshan-wang", "王强 has the night shift"
    assert order["role"] == "co" and "huixianshan-night" in order["routing"]["reason"]
    assert [c["name"] for c in order["clocks"]] == ["group_reply"]

    # Nobody replies within the (drill) hour: a warning, then a breach, each recorded once.
    case = await server.wait_for_case(
        filed.complaint_id,
        lambda c: any(k["breached"] for k in reply_order(c)["clocks"]),
        timeout=20,
    )
    async with server.client() as client:
        events = (await client.get(f"/cases/{filed.complaint_id}/events")).json()["events"]
    types = [e["type"] for e in events]
    assert types.count("SlaWarned") == 1 and types.count("SlaBreached") == 1
    breach = next(e for e in events if e["type"] == "SlaBreached")
    assert breach["data"]["clock"] == "group_reply"
    assert "street-yushan" in breach["data"]["supervisor_ids"]

    # The demand itself is routed by the catalogue when it is classified, as any other.
    await server.tell(examples.complaint_classified(filed.complaint_id, "street-lights", AREA))
    case = await server.wait_for_case(
        filed.complaint_id, lambda c: c.get("lead_work_order_id") is not None
    )
    assert lead(case)["responder"]["id"] == "dept-municipal"
    assert lead(case)["purpose"] == "dispatch"

    # Another member may not reply for him; he replies in the group, late but on record.
    path = f"/work-orders/{order['work_order_id']}/reply"
    body = {"reply": "已收到，已联系县市政工程服务中心，明天上午来修楼道灯，请大家注意安全"}
    async with server.client("dev-key-member-huixianshan-zhang") as client:
        assert (await client.post(path, json=body)).status_code in (403, 404)
    replied = await act(server, "dev-key-member-huixianshan-wang", path, body)
    assert replied["status"] == "resolved" and replied["report"] == body["reply"]
    again = await act(server, "dev-key-member-huixianshan-wang", path, body, expect=409)
    assert "已反馈" in again["detail"]
    async with server.client() as client:
        events = (await client.get(f"/cases/{filed.complaint_id}/events")).json()["events"]
    posted = next(e for e in events if e["type"] == "GroupReplyPosted")
    assert posted["data"]["community_code"] == "370124001001"
    case = await server.wait_for_case(filed.complaint_id)
    assert case["status"] == "open", "the lamp is still to be mended"


async def test_a_message_in_the_day_goes_to_the_day_shift_and_a_hotline_call_to_nobody_on_duty(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    # A Monday at 10:00 in China: 张丽's weekday day shift.
    monday = datetime.now(CHINA).date()
    monday -= timedelta(days=monday.weekday())
    at = datetime(monday.year, monday.month, monday.day, 10, 0, tzinfo=CHINA)
    filed = examples.complaint_filed(
        channel=Channel.WECHAT, wechat_group="370124001001", area_code=AREA, filed_at=at
    )
    hotline = examples.complaint_filed(area_code=AREA, filed_at=at)
    await server.tell(filed, hotline)
    case = await server.wait_for_case(filed.complaint_id, lambda c: bool(c["work_orders"]))
    assert reply_order(case)["responder"]["id"] == "member-huixianshan-zhang"
    async with server.client() as client:
        response = await client.get(f"/cases/{hotline.complaint_id}")
    assert response.status_code == 404, "a hotline filing waits for its classification"


async def test_an_elderly_allowance_is_opened_with_a_named_person_progressed_and_done_on_time(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    key = "dev-key-member-huixianshan-zhang"
    body = {
        "kind": "elderly_allowance",
        "title": "尊老金发放（80周岁以上老人）",
        "area_code": "370124001001-G01-B02",
    }
    opened = await act(server, key, "/matters", body, expect=201)
    assert opened["person"] == "张丽" and opened["community_code"] == "370124001001"
    assert opened["kind_label"] == "尊老金发放" and opened["time_limit"] == "10wd"
    assert opened["status"] == "open"
    await act(server, "dev-key-committee-cuiping", "/matters", body, expect=403)
    path = f"/matters/{opened['matter_id']}"
    await act(server, "dev-key-committee-cuiping", f"{path}/progress", {"note": "x"}, expect=403)
    progressed = await act(server, key, f"{path}/progress", {"note": "材料已收齐，已报街道审核"})
    assert progressed["status"] == "in_progress" and progressed["steps"][0]["note"]
    done = await act(server, key, f"{path}/complete", {"result": "尊老金已发放到账"})
    assert done["status"] == "done" and done["on_time"] is True
    await act(server, key, f"{path}/complete", {"result": "再办一次"}, expect=409)
    async with server.client(key) as client:
        listed = (await client.get("/matters", params={"status": "done"})).json()["matters"]
    assert opened["matter_id"] in [m["matter_id"] for m in listed]


async def test_a_proxy_matter_left_undone_warns_breaches_once_and_is_done_late(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    key = "dev-key-committee-huixianshan"
    body = {
        "kind": "proxy",
        "title": "代办残疾人证年审",
        "area_code": "370124001001",
        "responder_id": "member-huixianshan-liu",
    }
    opened = await act(server, key, "/matters", body, expect=201)
    assert opened["person"] == "刘洋" and opened["responder_id"] == "member-huixianshan-liu"
    stranger = dict(body, responder_id="committee-cuiping")
    refused = await act(server, key, "/matters", stranger, expect=422)
    assert "不是会仙山社区的工作人员" in refused["detail"]
    path = f"/matters/{opened['matter_id']}"

    async def breached() -> dict[str, Any] | None:
        async with server.client(key) as client:
            seen = (await client.get("/matters")).json()["matters"]
        matter = next(m for m in seen if m["matter_id"] == opened["matter_id"])
        return matter if matter["breached"] else None

    matter = await until(breached, what="the 代办 matter's breach")
    assert matter["warned"] and matter["breached"]
    late = await act(
        server, "dev-key-member-huixianshan-liu", f"{path}/complete", {"result": "已办"}
    )
    assert late["on_time"] is False
