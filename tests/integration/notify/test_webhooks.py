"""A subscriber serves itself: with its own key it subscribes, receives signed webhooks of the
public shape only, misses what is sent while its endpoint is down, sees that in its delivery
log, and replays it (since a time, after an event), in order, once per event after dedup by
id; one replay at a time, at a capped rate; no other key sees or replays its subscription;
what is older than the retention window is forgotten and cannot be asked for."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from standardwebhooks.webhooks import Webhook

from services.notify import webhook_log
from shared.events import ComplaintFiled
from shared.events.public import PUBLIC_PAYLOADS
from tests.integration.conftest import NotifyServer
from tests.integration.gateways import Behaviour
from tests.support import examples

RESIDENT = {"name": "李君", "phone": "13812345678"}
ADDRESS = "玫城丽都3号楼2单元501"
TEXT = "李君反映：玫城丽都3号楼屋顶漏水三天了，电话13812345678"


async def subscribe(server: NotifyServer, key: str, hook: str) -> dict[str, Any]:
    async with server.client(key) as client:
        made = await client.post(
            "/subscriptions", json={"url": f"{server.gateway_url}/hooks/{hook}"}
        )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def filed_in(area: str) -> ComplaintFiled:
    """A filing full of the resident's data (which no subscriber may receive)."""
    return examples.complaint_filed(
        area_code=area,
        text=TEXT,
        address=ADDRESS,
        case_number=f"JS-{uuid.uuid4().hex[:8]}",
    )


async def file_and_wait(
    server: NotifyServer, sid: str, area: str
) -> tuple[ComplaintFiled, uuid.UUID]:
    """A filing told and handled (its delivery to `sid` planned): the filing and its event id."""
    filed = filed_in(area)
    server.gateways.contacts[str(filed.complaint_id)] = RESIDENT
    [event_id] = await server.tell(filed)

    async def planned() -> bool:
        async with server.runtime.pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE event_id = $1 AND endpoint = $2",
                    event_id,
                    sid,
                )
            )

    await server.until(planned, what="the filing handled")
    return filed, event_id


async def subscribed_and_told(
    server: NotifyServer, name: str, area: str, hook: str
) -> tuple[str, str, datetime]:
    """A subscriber key of `area` subscribed at `hook`, which has received one filing: the key,
    the subscription, and a time before the filing (to replay it since)."""
    key = await server.subscriber_key(name, area, "ComplaintFiled")
    sid = (await subscribe(server, key, hook))["subscription_id"]
    since = datetime.now(UTC)
    await file_and_wait(server, sid, f"{area[:-3]}001")
    await server.until(lambda: received(server, hook), what="the live webhook")
    return key, sid, since


def received(server: NotifyServer, hook: str) -> list[dict[str, Any]]:
    """Every body the endpoint accepted (2xx), in arrival order, repeats included."""
    return [
        {**json.loads(r["body"]), "webhook-id": r["headers"]["webhook-id"]}
        for r in server.gateways.of(f"webhook:{hook}")
        if r["status"] < 300
    ]


def deduplicated(bodies: list[dict[str, Any]]) -> list[str]:
    """What a subscriber that deduplicates by the body's id keeps, in arrival order."""
    seen: list[str] = []
    for body in bodies:
        if body["id"] not in seen:
            seen.append(body["id"])
    return seen


async def replay_done(server: NotifyServer, key: str, sid: str, replay_id: str) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        async with server.client(key) as client:
            progress = (await client.get(f"/subscriptions/{sid}/replays/{replay_id}")).json()
        return progress if progress["status"] != "running" else None

    done: dict[str, Any] = await server.until(finished, what="the replay to finish")
    return done


async def test_a_subscriber_gets_signed_public_webhooks_and_replays_what_it_missed_in_order(
    notify_server: NotifyServer,
):
    server, hook, area = notify_server, "city-data", "370124003000"
    key = await server.subscriber_key("城市数据平台", area, "ComplaintFiled")
    made = await subscribe(server, key, hook)
    sid, secret = made["subscription_id"], made["secret"]

    # a filing in a stairwell of the street: a signed webhook of the public shape, nothing of
    # the resident's in it, the place no finer than the building (the subscription's area is
    # matched by the full code)
    first, first_id = await file_and_wait(server, sid, "370124003001-G02-B03-U1")
    await server.until(lambda: received(server, hook), what="the first webhook")
    [request] = [r for r in server.gateways.of(f"webhook:{hook}") if r["status"] < 300]
    verified = Webhook(secret).verify(request["body"], request["headers"])
    assert verified["id"] == str(first_id) and verified["type"] == "ComplaintFiled"
    assert verified["subject"] == str(first.complaint_id) and verified["dataversion"] == 1
    assert set(verified["data"]) <= set(PUBLIC_PAYLOADS["ComplaintFiled"].model_fields)
    assert verified["data"]["case_number"] == first.case_number
    assert verified["data"]["area_code"] == "370124003001-G02-B03"
    sent = request["body"].decode()
    for personal in (TEXT, ADDRESS, first.resident_ref, "李君", "13812345678", "漏水"):
        assert personal not in sent

    # the endpoint goes down: two filings are missed (every attempt fails, then abandoned)
    server.gateways.behaviour[f"webhook:{hook}"] = Behaviour(status=503)
    down_since = datetime.now(UTC)
    missed = [await file_and_wait(server, sid, "370124003002") for _ in range(2)]
    missed_ids = {str(event_id) for _, event_id in missed}

    async def abandoned() -> list[dict[str, Any]] | None:
        async with server.client(key) as client:
            log = (await client.get(f"/subscriptions/{sid}/deliveries")).json()["deliveries"]
        gave_up = [d for d in log if d["event_id"] in missed_ids and d["status"] == "abandoned"]
        return log if len(gave_up) == 2 else None

    log = await server.until(abandoned, what="the missed deliveries abandoned")
    assert [d["event_id"] for d in log[:2]] == [str(e) for _, e in reversed(missed)]
    assert all(d["attempts"] > 1 and "503" in d["last_error"] for d in log[:2])
    assert log[-1]["event_id"] == str(first_id) and log[-1]["status"] == "delivered"
    assert not any(d["replayed"] for d in log)

    # it comes back: a later filing arrives live; then a replay since it went down
    server.gateways.behaviour[f"webhook:{hook}"] = Behaviour()
    _, later_id = await file_and_wait(server, sid, "370124003001")
    await server.until(
        lambda: str(later_id) in deduplicated(received(server, hook)), what="the later webhook"
    )
    live_later = next(b for b in received(server, hook) if b["id"] == str(later_id))
    before = len(received(server, hook))
    async with server.client(key) as client:
        asked = await client.post(
            f"/subscriptions/{sid}/replay", json={"since": down_since.isoformat()}
        )
    assert asked.status_code == 202, asked.text
    assert asked.json()["total"] == 3  # the two missed and the later one
    done = await replay_done(server, key, sid, asked.json()["replay_id"])
    assert done["status"] == "done" and done["sent"] == 3
    replayed = received(server, hook)[before:]
    in_order = [str(e) for _, e in missed] + [str(later_id)]
    assert [b["id"] for b in replayed] == in_order, "the replay sends in the original order"
    again = next(b for b in replayed if b["id"] == str(later_id))
    assert again["webhook-id"] == live_later["webhook-id"], "same webhook-id live and replayed"
    assert deduplicated(received(server, hook)) == [str(first_id), str(later_id), *in_order[:2]]
    for r in server.gateways.of(f"webhook:{hook}")[-3:]:  # replayed ones are signed too
        assert Webhook(secret).verify(r["body"], r["headers"])["id"] in in_order

    # the delivery log says which were replayed
    async with server.client(key) as client:
        log = (await client.get(f"/subscriptions/{sid}/deliveries", params={"limit": 3})).json()
    assert [d["replayed"] for d in log["deliveries"]] == [True, True, True]
    assert {d["status"] for d in log["deliveries"]} == {"delivered"}

    # after an event: what followed it
    async with server.client(key) as client:
        asked = await client.post(
            f"/subscriptions/{sid}/replay", json={"after_event_id": in_order[0]}
        )
    assert asked.status_code == 202 and asked.json()["total"] == 2, asked.text
    await replay_done(server, key, sid, asked.json()["replay_id"])
    assert [b["id"] for b in received(server, hook)[before + 3 :]] == in_order[1:]


async def test_one_replay_at_a_time_at_a_capped_rate_and_no_other_key_sees_it(
    notify_server: NotifyServer, monkeypatch: Any
):
    server, hook, area = notify_server, "district-board", "370124004000"
    monkeypatch.setattr(server.runtime.settings, "replay_rate_per_s", 10.0)
    key = await server.subscriber_key("区大屏", area, "ComplaintFiled")
    other = await server.subscriber_key("物业系统", area, "ComplaintFiled")
    sid = (await subscribe(server, key, hook))["subscription_id"]
    since = datetime.now(UTC)
    for _ in range(5):
        await file_and_wait(server, sid, "370124004001")
    await server.until(lambda: len(received(server, hook)) == 5, what="five live webhooks")

    # the endpoint takes the replay's first message and does not answer: the replay is running
    # for as long as the test holds it, however slow the requests below are
    hold = asyncio.Event()
    kind = f"webhook:{hook}"
    server.gateways.behaviour[kind] = Behaviour(hold=hold, held_after=server.gateways.arrived[kind])
    started = []

    async def start_replay(*args: Any) -> Any:
        started.append(args)
        return await start(*args)

    start = webhook_log.start_replay
    monkeypatch.setattr(webhook_log, "start_replay", start_replay)
    try:
        async with server.client(key) as client:
            first = await client.post(
                f"/subscriptions/{sid}/replay", json={"since": since.isoformat()}
            )
            second = await client.post(
                f"/subscriptions/{sid}/replay", json={"since": since.isoformat()}
            )
            neither = await client.post(f"/subscriptions/{sid}/replay", json={})
            both = await client.post(
                f"/subscriptions/{sid}/replay",
                json={"since": since.isoformat(), "after_event_id": str(uuid.uuid4())},
            )
        assert first.status_code == 202 and first.json()["total"] == 5
        assert second.status_code == 409
        assert second.headers["content-type"].startswith("application/problem+json")
        rid = first.json()["replay_id"]
        assert second.json()["running_replay_id"] == rid and rid in second.json()["detail"]
        assert len(started) == 1, "the second is refused before any work on the log"
        assert neither.status_code == 422 and both.status_code == 422

        # another subscriber's key: no log, no replay, no progress of this subscription
        async with server.client(other) as client:
            refused = [
                await client.get(f"/subscriptions/{sid}/deliveries"),
                await client.post(
                    f"/subscriptions/{sid}/replay", json={"since": since.isoformat()}
                ),
                await client.get(f"/subscriptions/{sid}/replays/{rid}"),
                await client.delete(f"/subscriptions/{sid}/replays/{rid}"),
            ]
        assert [r.status_code for r in refused] == [404, 404, 404, 404]
    finally:
        hold.set()  # a failure above leaves no request held
    done = await replay_done(server, key, sid, rid)
    assert done["status"] == "done" and done["sent"] == 5
    assert len([r for r in server.gateways.of(kind) if r["status"] < 300]) == 10
    async with server.client(key) as client:  # once it is done, another may run
        again = await client.post(f"/subscriptions/{sid}/replay", json={"since": since.isoformat()})
    assert again.status_code == 202
    await replay_done(server, key, sid, again.json()["replay_id"])
    # At 10/s the sends begin 0.1 s apart at least; each is recorded delivered before the
    # next begins, so the first's record and the fifth's are 3 gaps apart at least.
    async with server.runtime.pool.acquire() as conn:
        times = await conn.fetch(
            "SELECT delivered_at FROM replay_sends WHERE replay_id = $1 ORDER BY position",
            uuid.UUID(again.json()["replay_id"]),
        )
    spread = (times[-1]["delivered_at"] - times[0]["delivered_at"]).total_seconds()
    assert spread >= 0.3, f"five messages at 10/s are 0.3 s apart at least, took {spread:.2f}"


async def test_events_past_the_retention_window_are_forgotten_and_not_asked_for(
    notify_server: NotifyServer,
):
    server, hook, area = notify_server, "retention", "370124006000"
    key = await server.subscriber_key("档案系统", area, "ComplaintFiled")
    sid = (await subscribe(server, key, hook))["subscription_id"]
    _, old_id = await file_and_wait(server, sid, "370124006001")
    _, new_id = await file_and_wait(server, sid, "370124006001")
    async with server.runtime.pool.acquire() as conn:
        await conn.execute(
            "UPDATE webhook_events SET logged_at = now() - interval '31 days' WHERE event_id = $1",
            old_id,
        )
        expires = await webhook_log.prune(conn, 30)
        kept = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM webhook_events")}
    assert old_id not in kept and new_id in kept
    assert expires is not None and expires > datetime.now(UTC) + timedelta(days=29)
    long_ago = datetime.now(UTC) - timedelta(days=31)
    async with server.client(key) as client:
        too_old = await client.post(
            f"/subscriptions/{sid}/replay", json={"since": long_ago.isoformat()}
        )
        forgotten = await client.post(
            f"/subscriptions/{sid}/replay", json={"after_event_id": str(old_id)}
        )
    assert too_old.status_code == 422 and "30" in too_old.json()["detail"]
    assert forgotten.status_code == 422


async def test_a_revoked_key_s_subscription_receives_nothing_more_not_even_a_replay(
    notify_server: NotifyServer,
):
    server, hook = notify_server, "revoked"
    key, sid, since = await subscribed_and_told(server, "已停用的平台", "370124007000", hook)

    # a replay under way, its first message failing and to be retried
    server.gateways.behaviour[f"webhook:{hook}"] = Behaviour(status=503)
    async with server.client(key) as client:
        asked = await client.post(f"/subscriptions/{sid}/replay", json={"since": since.isoformat()})
    assert asked.status_code == 202 and asked.json()["total"] == 1, asked.text
    await server.until(
        lambda: len(server.gateways.of(f"webhook:{hook}")) > 1, what="the replay's first try"
    )

    # the key is revoked; then the endpoint would accept again
    async with server.runtime.pool.acquire() as conn:
        await conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = "
            "(SELECT owner_key_id FROM subscriptions WHERE subscription_id = $1)",
            sid,
        )
    server.gateways.behaviour[f"webhook:{hook}"] = Behaviour()
    accepted_before = len(received(server, hook))

    async def ended() -> asyncpg.Record | None:
        async with server.runtime.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT status, last_error FROM replays WHERE replay_id = $1 "
                "AND status <> 'running'",
                uuid.UUID(asked.json()["replay_id"]),
            )

    replay = await server.until(ended, what="the replay to end")
    assert replay["status"] == "failed", dict(replay)
    assert len(received(server, hook)) == accepted_before, "nothing sent after the revocation"
