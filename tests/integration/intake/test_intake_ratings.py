"""Residents rate the result themselves, over real HTTP, Postgres and broker: the SMS gateway's
uplink and the lookup's signed one-time link."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.intake.adapters import wechat
from services.intake.domain import ratings
from shared import commands
from shared.topics import COMPLAINT_EVENTS
from tests.integration.conftest import IntakeServer
from tests.integration.intake.test_intake_api import (
    _facts_of,
    publish,
    unique_text,
    wait_for_status,
)
from tests.integration.kafka_helpers import read_topic
from tests.support import examples

pytestmark = pytest.mark.integration

GATEWAY = {"X-API-Key": "dev-key-sms_gateway"}


def a_phone() -> str:
    """A mobile number no other test uses: the resident is found by their phone."""
    return f"139{uuid.uuid4().int % 10**8:08d}"


async def resolved_complaint(server: IntakeServer, phone: str, index: int = 0) -> dict[str, Any]:
    filed = await server.file(index, text=unique_text("楼顶漏雨"), contact={"phone": phone})
    for fact in _facts_of(filed):
        await publish(server, fact)
    await wait_for_status(server, str(filed["complaint_id"]), "resolved")
    return filed


async def sms(
    server: IntakeServer,
    phone: str,
    text: str,
    message_id: str | None = None,
    received_at: datetime | None = None,
):
    body = {
        "message_id": message_id or uuid.uuid4().hex,
        "phone": phone,
        "text": text,
        "received_at": (received_at or commands.now()).isoformat(),
    }
    async with server.client(**GATEWAY) as client:
        return await client.post("/sms/replies", json=body)


async def events_of(server: IntakeServer, ref: object) -> list[dict[str, Any]]:
    async with server.client(**examples.STAFF_KEY) as client:
        events: list[dict[str, Any]] = (await client.get(f"/complaints/{ref}/events")).json()[
            "events"
        ]
    return events


def ratings_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == "ComplaintCallbackRecorded"]


# --- the SMS gateway's uplink ----------------------------------------------------------------


async def test_a_reply_delivered_twice_records_the_rating_once(intake_server):
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    message = uuid.uuid4().hex
    first, again = await asyncio.gather(
        sms(intake_server, phone, "１", message), sms(intake_server, phone, "１", message)
    )
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    assert first.json()["outcome"] == "recorded"
    assert first.json()["case_number"] == filed["case_number"]
    later = await sms(intake_server, phone, "3 其实不满意")  # another message, same round
    assert later.status_code == 200 and later.json()["outcome"] == "nothing_to_rate"
    [rating] = ratings_in(await events_of(intake_server, filed["complaint_id"]))
    assert rating["satisfaction"] == "satisfied" and rating["satisfied"] is True
    assert rating["rated_via"] == "sms" and rating["actor"] == "resident:sms"
    await wait_for_status(intake_server, str(filed["complaint_id"]), "called_back")


async def test_an_unsatisfied_reply_sends_the_demand_back_to_dispatch(intake_server):
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    answer = await sms(intake_server, phone, "不满意，雨后还是漏")
    assert answer.json()["outcome"] == "recorded" and answer.json()["redo"] is True
    assert "重新交办" in answer.json()["reply"]
    await wait_for_status(intake_server, str(filed["complaint_id"]), "redo")
    [rating] = ratings_in(await events_of(intake_server, filed["complaint_id"]))
    assert rating["satisfaction"] == "unsatisfied" and rating["comment"] == "雨后还是漏"
    # What dispatch consumes: the redo, on the complaint topic, keyed by the complaint.
    async with intake_server.runtime.pool.acquire() as conn:
        committed = await conn.fetchval("SELECT count(*) FROM events")
    records = await read_topic(
        intake_server.settings.kafka_bootstrap_servers, COMPLAINT_EVENTS, committed
    )
    redos = [
        json.loads(r.value)
        for r in records
        if dict(r.headers).get("ce_type") == b"ComplaintRedoRequested"
        and r.key == str(filed["complaint_id"]).encode()
    ]
    assert redos and redos[0]["redo_count"] == 1 and redos[0]["actor"] == "resident:sms"


async def test_a_resident_with_several_results_waiting_names_the_case(intake_server):
    phone = a_phone()
    first = await resolved_complaint(intake_server, phone, 0)
    second = await resolved_complaint(intake_server, phone, 1)
    unsure = await sms(intake_server, phone, "2")
    assert unsure.json()["outcome"] == "ambiguous"
    assert set(unsure.json()["case_numbers"]) == {first["case_number"], second["case_number"]}
    assert not ratings_in(await events_of(intake_server, first["complaint_id"]))
    named = await sms(intake_server, phone, f"{first['case_number']} 2")
    assert named.json()["outcome"] == "recorded"
    [rating] = ratings_in(await events_of(intake_server, first["complaint_id"]))
    assert rating["satisfaction"] == "basically_satisfied" and rating["satisfied"] is False
    # One left waiting: a bare digit now rates it.
    assert (await sms(intake_server, phone, "1")).json()["case_number"] == second["case_number"]


async def test_a_merged_duplicates_resident_rates_the_case_it_follows(intake_server, monkeypatch):
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 1000)
    survivor = await intake_server.file(
        0, text=unique_text("楼顶漏雨"), contact={"phone": a_phone()}
    )
    phone = a_phone()
    duplicate = await intake_server.file(0, text=unique_text("顶楼漏水"), contact={"phone": phone})
    async with intake_server.client(**examples.STAFF_KEY) as client:
        merged = await client.post(
            f"/complaints/{duplicate['case_number']}/merge",
            json={"into": survivor["case_number"]},
        )
    assert merged.status_code == 200, merged.text
    assert (await sms(intake_server, phone, "1")).json()["outcome"] == "nothing_to_rate"
    for fact in _facts_of(survivor):
        await publish(intake_server, fact)
    await wait_for_status(intake_server, str(survivor["complaint_id"]), "resolved")
    assert (await look_up(intake_server, duplicate, phone))["rating"] is not None
    answer = await sms(intake_server, phone, "3")
    assert answer.json()["outcome"] == "recorded", answer.text
    # Their 不满意 is recorded, not a redo of a case another resident owns: staff will call.
    assert answer.json()["redo"] is False and "重新交办" not in answer.json()["reply"]
    assert answer.json()["case_number"] == duplicate["case_number"]
    [rating] = ratings_in(await events_of(intake_server, duplicate["complaint_id"]))
    assert rating["satisfaction"] == "unsatisfied" and rating["status"] == "merged"
    assert (await look_up(intake_server, duplicate, phone))["rating"] is None
    assert not ratings_in(await events_of(intake_server, survivor["complaint_id"]))


async def test_a_reply_from_another_phone_or_not_a_rating_records_nothing(intake_server):
    filed = await resolved_complaint(intake_server, a_phone())
    stranger = await sms(intake_server, a_phone(), f"{filed['case_number']} 3")
    assert stranger.json()["outcome"] == "nothing_to_rate"
    assert not ratings_in(await events_of(intake_server, filed["complaint_id"]))
    assert (await sms(intake_server, a_phone(), "谢谢")).json()["outcome"] == "not_understood"


async def test_a_reply_sent_before_the_result_was_reported_does_not_rate_it(intake_server):
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    early = await sms(intake_server, phone, "1", received_at=commands.now() - timedelta(days=1))
    assert early.json()["outcome"] == "nothing_to_rate"
    assert not ratings_in(await events_of(intake_server, filed["complaint_id"]))


async def test_only_the_gateways_key_may_post_replies(intake_server):
    body = {"message_id": "m", "phone": a_phone(), "text": "1", "received_at": "2026-12-01T00:00Z"}
    answers = {}
    for name, headers in {
        "none": {},
        "unknown": {"X-API-Key": "js_not-a-key"},
        "staff": examples.STAFF_KEY,
        "channel": examples.channel_key("hotline"),
        "notify": examples.NOTIFY_KEY,
    }.items():
        async with intake_server.client(**headers) as client:
            answers[name] = (await client.post("/sms/replies", json=body)).status_code
    assert answers == {"none": 401, "unknown": 401, "staff": 403, "channel": 403, "notify": 403}


# --- the signed one-time link ----------------------------------------------------------------


async def look_up(server: IntakeServer, filed: dict[str, Any], phone: str) -> dict[str, Any]:
    async with server.client() as client:
        found = await client.get(
            "/lookup", params={"case_number": filed["case_number"], "phone_tail": phone[-4:]}
        )
    assert found.status_code == 200, found.text
    page: dict[str, Any] = found.json()
    return page


async def rate(client: httpx.AsyncClient, token: str, level: str) -> httpx.Response:
    return await client.post("/ratings", json={"token": token, "satisfaction": level})


async def test_the_lookups_link_rates_the_result_once(intake_server, monkeypatch):
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 1000)
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    offered = (await look_up(intake_server, filed, phone))["rating"]
    assert offered["url"] == f"{intake_server.settings.rating_page_url}#token={offered['token']}"
    assert offered["levels"]["basically_satisfied"] == "基本满意"
    async with intake_server.client() as client:
        page = await client.get("/rate")
        first = await rate(client, offered["token"], "satisfied")
        reused = await rate(client, offered["token"], "unsatisfied")
    assert page.status_code == 200 and "请您评价办理结果" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "called_back" and first.json()["satisfaction_label"] == "满意"
    assert reused.status_code == 409
    assert reused.headers["content-type"].startswith("application/problem+json")
    [rating] = ratings_in(await events_of(intake_server, filed["complaint_id"]))
    assert rating["rated_via"] == "link" and rating["satisfaction"] == "satisfied"
    assert (await look_up(intake_server, filed, phone))["rating"] is None


async def test_a_forged_an_expired_or_another_rounds_link_is_refused(intake_server, monkeypatch):
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 1000)
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    token = (await look_up(intake_server, filed, phone))["rating"]["token"]
    complaint = uuid.UUID(str(filed["complaint_id"]))
    secret = intake_server.settings.rating_link_secret
    now = commands.now()
    complaint_hex, _, expires, mac = token.split(".")
    forged = [
        f"{complaint_hex}.0.{int(expires) + 3600}.{mac}",  # a longer life, same signature
        ratings.sign(ratings.RatingGrant(complaint, 0, now + timedelta(days=1)), "guessed"),
    ]
    expired = ratings.sign(ratings.RatingGrant(complaint, 0, now - timedelta(minutes=1)), secret)
    next_round = ratings.sign(ratings.RatingGrant(complaint, 1, now + timedelta(days=1)), secret)
    async with intake_server.client() as client:
        answers = [(await rate(client, t, "unsatisfied")).status_code for t in forged]
        too_late = await rate(client, expired, "unsatisfied")
        other_round = await rate(client, next_round, "unsatisfied")
    assert answers == [403, 403]
    assert too_late.status_code == 410 and "过期" in too_late.json()["detail"]
    assert other_round.status_code == 409
    assert not ratings_in(await events_of(intake_server, filed["complaint_id"]))
    # After all that, the real link still works: refusals spent nothing.
    async with intake_server.client() as client:
        assert (await rate(client, token, "basically_satisfied")).status_code == 200


async def test_an_unsatisfied_link_rating_starts_a_round_the_old_link_cannot_rate(
    intake_server, monkeypatch
):
    monkeypatch.setattr(intake_server.settings, "lookup_rate_per_minute", 1000)
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    ref = str(filed["complaint_id"])
    old = (await look_up(intake_server, filed, phone))["rating"]["token"]
    async with intake_server.client() as client:
        assert (await rate(client, old, "unsatisfied")).json()["status"] == "redo"
    # The redo is handled and reported again: a new round, awaiting a new rating.
    for fact in _facts_of(filed):
        await publish(intake_server, fact)
    await wait_for_status(intake_server, ref, "resolved")
    new = (await look_up(intake_server, filed, phone))["rating"]["token"]
    async with intake_server.client() as client:
        stale = await rate(client, old, "satisfied")
        fresh = await rate(client, new, "satisfied")
    assert stale.status_code == 409 and "上一轮" in stale.json()["detail"]
    assert fresh.status_code == 200
    levels = [r["satisfaction"] for r in ratings_in(await events_of(intake_server, ref))]
    assert levels == ["unsatisfied", "satisfied"]


# --- WeChat ----------------------------------------------------------------------------------

WECHAT_TOKEN = "a-wechat-server-token"


def pushed(content: str, msg_id: str, openid: str = "oResident_0123456789") -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_jiesu12345]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        "<CreateTime>1764547200</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def signed(token: str = WECHAT_TOKEN, age_s: float = 0) -> dict[str, str]:
    timestamp, nonce = str(int(commands.now().timestamp() - age_s)), uuid.uuid4().hex[:10]
    return {
        "signature": wechat.signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


async def wechat_push(server: IntakeServer, body: bytes, params: dict[str, str]) -> httpx.Response:
    async with server.client() as client:
        return await client.post(
            "/wechat", params=params, content=body, headers={"content-type": "text/xml"}
        )


async def test_a_wechat_message_naming_the_case_and_tail_rates_once(intake_server, monkeypatch):
    monkeypatch.setattr(intake_server.settings, "wechat_token", WECHAT_TOKEN)
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    async with intake_server.client() as client:
        check = await client.get("/wechat", params={**signed(), "echostr": "hello-wechat"})
    assert check.status_code == 200 and check.text == "hello-wechat"
    body = pushed(f"{filed['case_number']} {phone[-4:]} ３ 楼顶还在漏", uuid.uuid4().hex[:16])
    first = await wechat_push(intake_server, body, signed())
    again = await wechat_push(intake_server, body, signed())  # WeChat pushes again if slow
    assert first.status_code == again.status_code == 200, first.text
    assert "不满意" in first.text and "<ToUserName>oResident_0123456789</ToUserName>" in first.text

    def said(reply: httpx.Response) -> str:
        return re.sub(r"<CreateTime>\d+</CreateTime>", "", reply.text)

    assert said(first) == said(again)  # the first answer, given again
    [rating] = ratings_in(await events_of(intake_server, filed["complaint_id"]))
    assert rating["rated_via"] == "wechat" and rating["satisfaction"] == "unsatisfied"
    assert rating["comment"] == "楼顶还在漏"
    await wait_for_status(intake_server, str(filed["complaint_id"]), "redo")


async def test_wechat_pushes_not_signed_or_signed_long_ago_or_with_a_wrong_tail_rate_nothing(
    intake_server, monkeypatch
):
    monkeypatch.setattr(intake_server.settings, "wechat_token", WECHAT_TOKEN)
    phone = a_phone()
    filed = await resolved_complaint(intake_server, phone)
    rating = f"{filed['case_number']} {phone[-4:]} 1"
    forged = await wechat_push(intake_server, pushed(rating, "m1"), signed(token="guessed"))
    replayed = await wechat_push(intake_server, pushed(rating, "m2"), signed(age_s=3600))
    wrong_tail = f"{filed['case_number']} {int(phone[-4:]) ^ 1:04d} 1"
    guessed = await wechat_push(intake_server, pushed(wrong_tail, uuid.uuid4().hex), signed())
    assert forged.status_code == replayed.status_code == 403
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert guessed.status_code == 200 and "手机尾号不符" in guessed.text
    assert not ratings_in(await events_of(intake_server, filed["complaint_id"]))
    # a signed URL seen once (a proxy's log) carries no other message: the signature does not
    # cover the body; WeChat's own retry of the same message is still answered
    once = signed()
    first = await wechat_push(intake_server, pushed("你好", "m4"), once)
    retried = await wechat_push(intake_server, pushed("你好", "m4"), once)
    reused = await wechat_push(intake_server, pushed(rating, "m5"), once)
    assert first.status_code == retried.status_code == 200
    assert reused.status_code == 403 and "nonce" in reused.text
    assert not ratings_in(await events_of(intake_server, filed["complaint_id"]))
    monkeypatch.setattr(intake_server.settings, "wechat_token", "")
    off = await wechat_push(intake_server, pushed(rating, "m3"), signed(token=""))
    assert off.status_code == 404  # no token configured: the door is not there
