"""Area notices (区域通知) through the real intake and notify on one broker: residents consent
through intake (their contact in its vault), notify follows the consents, staff post a notice
to an area and each consenting resident within it gets it once per channel, through the local
SMS/WeChat gateways and SMTP server, fetched from intake at send time by resident reference;
a withdrawn or erased resident gets nothing; a redelivered consent and a retried post send
nothing twice; the sender reads the delivery status with masked recipients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.local.processes import free_port
from services.intake.main import create_app as create_intake_app
from services.intake.settings import IntakeSettings
from services.notify import auth as notify_auth
from shared.db import connect, drop_database, with_database
from shared.events import NoticeConsentRecorded
from shared.topics import COMPLAINT_EVENTS
from tests.integration.conftest import (
    FAST,
    NotifyServer,
    load_demo_catalogue,
    notify_running,
    serving,
)
from tests.integration.kafka_helpers import publish_events
from tests.support import examples

pytestmark = pytest.mark.integration

# 会仙山社区 玫城丽都小区 (grid G01): building 2 (B02, its unit 1 U1) and building 1 (B01).
B02 = "370124001001-G01-B02"
B01 = "370124001001-G01-B01"
# 东关社区 东关小区 (grid G01) with its buildings 3 and 5.
DONGGUAN = "370124001002-G01"
# 锦水园小区8号楼.
JINSHUI_B01 = "370124002001-G01-B01"
WECHAT = {"X-API-Key": "dev-key-wechat"}  # the official account's channel key (公众号)


@dataclass
class Stack:
    notify: NotifyServer
    intake_url: str
    intake_database_url: str

    def intake(self, headers: dict[str, str] = WECHAT) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.intake_url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
async def stack(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Notify and intake on a broker of their own, notify asking this intake for contacts."""
    intake_port = free_port()
    intake_url = f"http://127.0.0.1:{intake_port}"
    async with notify_running(pg_server_url, tmp_path_factory, intake_url=intake_url) as notify:
        database_url = with_database(pg_server_url, f"t_intake_{uuid.uuid4().hex[:10]}")
        settings = IntakeSettings(
            database_url=database_url,
            kafka_bootstrap_servers=notify.bootstrap,
            port=intake_port,
            **FAST,
        )
        async with serving(create_intake_app(settings), intake_port):
            await load_demo_catalogue(intake_url, notify.bootstrap)
            yield Stack(notify, intake_url, database_url)
        await drop_database(database_url)


def phone(n: int) -> str:
    return f"1390531{n:04d}"


async def consent(stack: Stack, n: int, home: str, *channels: str, **contact: str) -> str:
    """Resident `n` agrees to the notices for `home`; returns their resident ref once notify
    has the consent."""
    async with stack.intake() as client:
        response = await client.post(
            "/residents/notice-consent",
            json={
                "contact": {"phone": phone(n), **contact},
                "area_code": home,
                "channels": list(channels or ["sms"]),
            },
        )
    assert response.status_code == 200, response.text
    ref: str = response.json()["resident_ref"]
    await stack.notify.until(
        lambda: consented(stack, ref, home), what=f"notify following {ref}'s consent"
    )
    return ref


async def consented(stack: Stack, ref: str, home: str) -> bool:
    async with stack.notify.runtime.pool.acquire() as conn:
        found: bool = await conn.fetchval(
            "SELECT count(*) > 0 FROM notice_consents WHERE resident_ref = $1 AND area_code = $2",
            ref,
            home,
        )
    return found


async def staff_key(stack: Stack, name: str, scope: str) -> str:
    """A notify staff key for `scope`, as an admin issues one."""
    async with stack.notify.runtime.pool.acquire() as conn:
        _, secret = await notify_auth.KEYS.create(
            conn, name=name, role=notify_auth.Role.STAFF, scope=scope
        )
    return secret


async def post(
    stack: Stack, key: str, area: str, idempotency_key: str | None = None, **fields: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    async with stack.notify.client(key) as client:
        return await client.post(
            "/notices",
            json={
                "area_code": area,
                "kind": "outage",
                "title": "2号楼停水通知",
                "body": "因更换二次供水管道，明日8:00至18:00停水，请提前储水。",
                **fields,
            },
            headers=headers,
        )


def sent(stack: Stack, notice_id: str) -> list[tuple[str, str]]:
    """(channel, address) of every message of the notice that a gateway accepted, once per
    idempotency key (a message sent again after its sender's lease ran out is the same
    message: a real gateway sends it on once)."""
    gateways = stack.notify.gateways
    messages = [
        (kind, r["json"]["to" if kind == "sms" else "touser"])
        for kind in ("sms", "wechat")
        for r in gateways.accepted(kind)
        if r["json"]["reference"]["complaint_id"] == notice_id
    ]
    emails = {
        m["message_id"]: m["to"][0] for m in gateways.emails if m["complaint_id"] == notice_id
    }
    return sorted(messages + [("email", to) for to in emails.values()])


def raw(stack: Stack) -> list[tuple[str, int, str]]:
    """Every request the gateways took (kind, status, idempotency key), to show a failure."""
    gateways = stack.notify.gateways
    return [(r["kind"], r["status"], r["key"]) for r in gateways.requests] + [
        ("email", 250, m["message_id"]) for m in gateways.emails
    ]


async def status(stack: Stack, key: str, notice_id: str) -> dict[str, Any]:
    async with stack.notify.client(key) as client:
        response = await client.get(f"/notices/{notice_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(stack: Stack, key: str, notice_id: str) -> dict[str, Any] | None:
    """The notice's status once none of its messages waits any more."""
    body = await status(stack, key, notice_id)
    return body if set(body["messages"]) <= {"delivered", "abandoned"} else None


async def test_a_notice_to_a_building_reaches_each_consenting_resident_there_once(stack: Stack):
    one = await consent(stack, 1, f"{B02}-U1")
    # The first resident also has the flat below in the same building: still one message.
    await consent(stack, 1, f"{B02}-U2")
    two = await consent(stack, 2, f"{B02}-U2", "sms", "wechat", wechat_openid="oRESIDENT0002")
    three = await consent(stack, 3, B02, "email", email="resident3@example.cn")
    await consent(stack, 4, B01)  # the building next door
    # The same consent given again records nothing new.
    async with stack.intake() as client:
        again = await client.post(
            "/residents/notice-consent",
            json={
                "contact": {"phone": phone(2), "wechat_openid": "oRESIDENT0002"},
                "area_code": f"{B02}-U2",
                "channels": ["sms", "wechat"],
            },
        )
    assert again.status_code == 200 and again.json()["changed"] is False
    key = await staff_key(stack, "会仙山社区居委会", "370124001001")

    response = await post(stack, key, B02)
    assert response.status_code == 201, response.text
    notice = response.json()
    assert notice["recipients"] == 3 and notice["sender_name"] == "会仙山社区居委会"
    notice_id = notice["notice_id"]

    done = await stack.notify.until(lambda: settled(stack, key, notice_id), what="all sent")
    assert done["messages"] == {"delivered": 4}
    assert done["residents_reached"] == 3
    # Posted, then what came of each message, in the notice's own streams (never a complaint's).
    async with stack.notify.runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT type, data FROM events WHERE stream = ANY($1::text[]) ORDER BY global_position",
            [f"notice-{notice_id}", f"notice-outcomes-{notice_id}"],
        )
    assert rows[0]["type"] == "NoticePosted" and rows[0]["data"]["recipients"] == 3
    assert {row["type"] for row in rows[1:]} == {"NoticeDeliveriesRecorded"}
    outcomes = [o for row in rows[1:] for o in row["data"]["outcomes"]]
    assert len({o["notification_id"] for o in outcomes if o["outcome"] == "delivered"}) == 4
    assert sent(stack, notice_id) == [
        ("email", "resident3@example.cn"),
        ("sms", phone(1)),
        ("sms", phone(2)),
        ("wechat", "oRESIDENT0002"),
    ], raw(stack)
    # The sender sees each message with its resident masked, never a phone or a reference.
    shown = sorted((d["recipient"], d["channel"]) for d in done["deliveries"])
    assert shown == [
        ("139****0001", "sms"),
        ("139****0002", "sms"),
        ("139****0002", "wechat"),
        ("139****0003", "email"),
    ]
    assert not any(r in str(done) for r in (one, two, three, phone(1)))
    [sms] = [r for r in stack.notify.gateways.accepted("sms") if r["json"]["to"] == phone(1)]
    assert sms["json"]["text"].startswith("【会仙山社区居委会】停水停电：2号楼停水通知。")
    # Intake recorded who read the residents' contacts, and why.
    readings = await intake_events(stack, "ContactsAccessed")
    assert {one, two, three} <= {ref for e in readings for ref in e["resident_refs"]}


async def intake_events(stack: Stack, event_type: str) -> list[dict[str, Any]]:
    """The data of intake's stored events of a type (what its relay publishes)."""
    conn = await connect(stack.intake_database_url)
    try:
        rows = await conn.fetch("SELECT id, data FROM events WHERE type = $1", event_type)
    finally:
        await conn.close()
    return [{**row["data"], "_id": row["id"]} for row in rows]


async def test_a_resident_who_withdrew_or_was_erased_gets_nothing(stack: Stack):
    stays = await consent(stack, 11, f"{DONGGUAN}-B01")
    withdraws = await consent(
        stack, 12, f"{DONGGUAN}-B02", "sms", "wechat", wechat_openid="oRESIDENT0012"
    )
    erased = await consent(stack, 13, f"{DONGGUAN}-B01")
    async with stack.intake() as client:
        response = await client.post(
            "/residents/notice-consent/withdrawal", json={"phone": phone(12)}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"resident_ref": withdraws, "changed": True, "homes": {}}
    async with stack.intake(examples.STAFF_KEY) as client:
        response = await client.post("/residents/erasure", json={"phone": phone(13)})
        assert response.status_code == 200, response.text
    for gone in (withdraws, erased):
        await stack.notify.until(
            lambda gone=gone: gone_from_notify(stack, gone), what=f"{gone}'s consent gone"
        )
    # The compound's property company posts to its compound; a key of another area may not.
    key = await staff_key(stack, "东关小区物业", DONGGUAN)
    elsewhere = await staff_key(stack, "锦水园小区物业", "370124002001-G01")
    assert (await post(stack, elsewhere, DONGGUAN)).status_code == 404
    response = await post(
        stack,
        key,
        DONGGUAN,
        kind="meeting",
        title="业主议事会",
        body="周六上午9点在石榴籽长廊召开共商议事会，商议假山拆除事宜。",
    )
    assert response.status_code == 201, response.text
    notice_id = response.json()["notice_id"]
    assert response.json()["recipients"] == 1

    done = await stack.notify.until(lambda: settled(stack, key, notice_id), what="all sent")
    assert done["messages"] == {"delivered": 1} and done["residents_reached"] == 1
    assert sent(stack, notice_id) == [("sms", phone(11))]
    assert stays
    # Its sender reads it; a key of another area cannot.
    async with stack.notify.client(elsewhere) as client:
        assert (await client.get(f"/notices/{notice_id}")).status_code == 404


async def gone_from_notify(stack: Stack, ref: str) -> bool:
    async with stack.notify.runtime.pool.acquire() as conn:
        left: int = await conn.fetchval(
            "SELECT count(*) FROM notice_consents WHERE resident_ref = $1", ref
        )
    return left == 0


async def test_a_redelivered_consent_and_a_retried_post_send_nothing_twice(stack: Stack):
    ref = await consent(stack, 21, JINSHUI_B01)
    [given] = [
        e for e in await intake_events(stack, "NoticeConsentRecorded") if e["resident_ref"] == ref
    ]
    event = NoticeConsentRecorded.model_validate(given)
    # The same event again (a redelivery), and again with notify's inbox row forgotten.
    await publish_events(
        stack.notify.bootstrap, COMPLAINT_EVENTS, [event], "/jiesu/intake", ids=[given["_id"]]
    )
    async with stack.notify.runtime.pool.acquire() as conn:
        await conn.execute("DELETE FROM inbox WHERE event_id = $1", given["_id"])
    await publish_events(
        stack.notify.bootstrap, COMPLAINT_EVENTS, [event], "/jiesu/intake", ids=[given["_id"]]
    )
    await stack.notify.until(lambda: handled_again(stack, given["_id"]), what="handled again")
    key = await staff_key(stack, "锦水园社区居委会", "370124002001")
    send_at = datetime.now(UTC) + timedelta(seconds=1)
    first = await post(stack, key, JINSHUI_B01, "notice-jinshui-1", send_at=send_at.isoformat())
    again = await post(stack, key, JINSHUI_B01, "notice-jinshui-1", send_at=send_at.isoformat())
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    notice_id = first.json()["notice_id"]
    done = await stack.notify.until(lambda: settled(stack, key, notice_id), what="sent")
    assert done["messages"] == {"delivered": 1}
    assert sent(stack, notice_id) == [("sms", phone(21))]
    [sms] = [
        r
        for r in stack.notify.gateways.accepted("sms")
        if r["json"]["reference"]["complaint_id"] == notice_id
    ]
    assert sms["at"] >= send_at
    async with stack.notify.client(key) as client:
        listed = (await client.get("/notices")).json()["notices"]
    assert [n["notice_id"] for n in listed] == [notice_id]


async def handled_again(stack: Stack, event_id: uuid.UUID) -> bool:
    async with stack.notify.runtime.pool.acquire() as conn:
        seen: bool = await conn.fetchval(
            "SELECT count(*) > 0 FROM inbox WHERE event_id = $1", event_id
        )
    return seen
