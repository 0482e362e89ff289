"""What one subscriber key may cost the platform, and how a replay ends early: a key holds at
most NOTIFY_SUBSCRIPTIONS_PER_KEY subscriptions and runs at most NOTIFY_REPLAYS_PER_KEY
replays at once (an admin is not capped); its subscriber cancels a replay, and pausing,
enabling or deleting the subscription cancels it too, stopping a driver asleep between
retries at once; a driver whose lease was taken over records nothing, and progress never goes
back; finished replays, their sends and deleted subscriptions' deliveries are forgotten past
the retention window."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import pytest

from services.notify import webhook_log
from tests.integration.conftest import NotifyServer
from tests.integration.gateways import Behaviour
from tests.integration.notify.test_webhooks import (
    file_and_wait,
    received,
    replay_done,
    subscribe,
    subscribed_and_told,
)

AREA = "370124008000"


async def test_a_key_holds_so_many_subscriptions_an_admin_any_number(
    notify_server: NotifyServer, monkeypatch: pytest.MonkeyPatch
):
    server = notify_server
    monkeypatch.setattr(server.runtime.settings, "subscriptions_per_key", 2)
    key = await server.subscriber_key("物业系统", AREA, "ComplaintFiled")
    made = [await subscribe(server, key, f"cap-{n}") for n in range(2)]
    async with server.client(key) as client:
        third = await client.post("/subscriptions", json={"url": f"{server.gateway_url}/hooks/x"})
        assert third.status_code == 409, third.text
        assert third.headers["content-type"].startswith("application/problem+json")
        assert "2" in third.json()["detail"]
        await client.delete(f"/subscriptions/{made[0]['subscription_id']}")
        again = await client.post("/subscriptions", json={"url": f"{server.gateway_url}/hooks/x"})
        assert again.status_code == 201, again.text
    async with server.client() as admin:
        for n in range(3):
            url = f"{server.gateway_url}/hooks/admin-{n}"
            assert (await admin.post("/subscriptions", json={"url": url})).status_code == 201


async def test_one_replay_per_key_at_a_time_and_its_subscriber_cancels_it(
    notify_server: NotifyServer,
):
    server = notify_server
    key = await server.subscriber_key("区大屏", AREA, "ComplaintFiled")
    other = await server.subscriber_key("档案系统", AREA, "ComplaintFiled")
    first, second = [(await subscribe(server, key, h))["subscription_id"] for h in ("p1", "p2")]
    since = datetime.now(UTC)
    await file_and_wait(server, first, "370124008001")
    await server.until(lambda: received(server, "p1") and received(server, "p2"), what="live")
    hold = asyncio.Event()  # the first's replay is held in its first message
    server.gateways.behaviour["webhook:p1"] = Behaviour(hold=hold, held_after=1)
    try:
        async with server.client(key) as client:
            asked = await client.post(
                f"/subscriptions/{first}/replay", json={"since": since.isoformat()}
            )
            assert asked.status_code == 202, asked.text
            rid = asked.json()["replay_id"]
            beyond = await client.post(
                f"/subscriptions/{second}/replay", json={"since": since.isoformat()}
            )
            assert beyond.status_code == 409, beyond.text
            assert beyond.json()["running_replay_id"] == rid
            assert rid in beyond.json()["detail"] and first in beyond.json()["detail"]
            async with server.client(other) as stranger:
                assert (
                    await stranger.delete(f"/subscriptions/{first}/replays/{rid}")
                ).status_code == 404
            cancelled = await client.delete(f"/subscriptions/{first}/replays/{rid}")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"
            assert cancelled.json()["finished_at"] is not None
            now = await client.post(
                f"/subscriptions/{second}/replay", json={"since": since.isoformat()}
            )
            assert now.status_code == 202, now.text
    finally:
        hold.set()
    done = await replay_done(server, key, second, now.json()["replay_id"])
    assert done["status"] == "done"
    async with server.client(key) as client:  # a finished one is left as it is
        gone = await client.delete(f"/subscriptions/{second}/replays/{now.json()['replay_id']}")
    assert gone.status_code == 200 and gone.json()["status"] == "done"


@pytest.mark.parametrize("change", ["pause", "enable", "delete"])
async def test_pausing_enabling_or_deleting_ends_a_replay_asleep_between_retries(
    notify_server: NotifyServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    change: str,
):
    server, hook = notify_server, f"asleep-{change}"
    # the replay's first message fails, and the next attempt is an hour away
    monkeypatch.setattr(server.runtime.settings, "retry_schedule", "1h")
    key, sid, since = await subscribed_and_told(server, "城市数据平台", AREA, hook)
    server.gateways.behaviour[f"webhook:{hook}"] = Behaviour(status=503)
    caplog.set_level(logging.INFO, logger="services.notify.replays")
    async with server.client(key) as client:
        asked = await client.post(f"/subscriptions/{sid}/replay", json={"since": since.isoformat()})
        rid = asked.json()["replay_id"]

        async def asleep() -> bool:
            async with server.runtime.pool.acquire() as conn:
                return bool(
                    await conn.fetchval(
                        "SELECT attempts FROM replay_sends WHERE replay_id = $1", uuid.UUID(rid)
                    )
                )

        await server.until(asleep, what="the first attempt recorded, the retry an hour away")
        if change == "delete":
            assert (await client.delete(f"/subscriptions/{sid}")).status_code == 200
        else:
            assert (await client.post(f"/subscriptions/{sid}/{change}")).status_code == 200
    await server.until(
        lambda: f"replay {rid} cancelled" in caplog.text, 5, "the sleeping driver stopped"
    )
    async with server.runtime.pool.acquire() as conn:
        ended = await conn.fetchrow(
            "SELECT status, last_error, lease_until FROM replays WHERE replay_id = $1",
            uuid.UUID(rid),
        )
    assert ended["status"] == "cancelled" and ended["lease_until"] is None, dict(ended)
    assert "订阅" in ended["last_error"]
    if change == "enable":  # active again: a new replay may run at once
        async with server.client(key) as client:
            again = await client.post(
                f"/subscriptions/{sid}/replay", json={"since": since.isoformat()}
            )
            assert again.status_code == 202, again.text
            await client.post(f"/subscriptions/{sid}/pause")  # and it ends too


async def test_a_driver_whose_lease_was_taken_over_records_nothing_and_progress_never_goes_back(
    notify_server: NotifyServer,
):
    event = {"event_id": uuid.uuid4(), "event_type": "ComplaintFiled"}
    rid, send = uuid.uuid4(), webhook_log.record_send
    async with notify_server.runtime.pool.acquire() as conn:
        undone = conn.transaction()  # what the test writes is rolled back at its end
        await undone.start()
        try:
            # held by a driver A (epoch 1)
            await conn.execute(
                "INSERT INTO replays (replay_id, subscription_id, after_position, upto_position, "
                "sent_position, total, lease_until, lease_epoch) "
                "VALUES ($1, 'sub_fenced', 0, 10, 0, 10, now() + interval '1 hour', 1)",
                rid,
            )
            a = {"replay_id": rid, "subscription_id": "sub_fenced", "lease_epoch": 1}
            delivered = (uuid.uuid4(), "delivered", None, 60)
            assert await send(conn, a, {**event, "position": 5}, *delivered) == "running"
            # A's lease runs out, and B takes the replay over
            await conn.execute(
                "UPDATE replays SET lease_until = now() - interval '1 s' WHERE replay_id = $1", rid
            )
            taken = await webhook_log.take_replays(conn, 60, [])
            [b] = [r for r in taken if r["replay_id"] == rid]
            assert b["lease_epoch"] == 2
            late = await send(conn, a, {**event, "position": 6}, *delivered)
            assert late is None, "A's lease was taken over: it records nothing more"
            # B's line for an earlier position (sent again) leaves the progress where it was
            assert await send(conn, b, {**event, "position": 3}, *delivered) == "running"
            row = await conn.fetchrow(
                "SELECT sent_position, sent, status FROM replays WHERE replay_id = $1", rid
            )
            assert (row["sent_position"], row["sent"]) == (5, 1)
            lines = "SELECT count(*) FROM replay_sends WHERE replay_id = $1"
            assert await conn.fetchval(lines, rid) == 2
            await webhook_log.finish_replay(conn, a, "done")  # nor can A end it
            status = "SELECT status FROM replays WHERE replay_id = $1"
            assert await conn.fetchval(status, rid) == "running"
        finally:
            await undone.rollback()


async def test_finished_replays_and_deleted_subscriptions_deliveries_are_forgotten(
    notify_server: NotifyServer,
):
    server = notify_server
    key = await server.subscriber_key("旧平台", AREA, "ComplaintFiled")
    kept, deleted = [(await subscribe(server, key, h))["subscription_id"] for h in ("k", "d")]
    await file_and_wait(server, deleted, "370124008001")

    async def delivered() -> bool:
        async with server.runtime.pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE endpoint = $1 AND status = 'delivered'",
                    deleted,
                )
            )

    await server.until(delivered, what="the deleted one's delivery")
    async with server.client(key) as client:
        assert (await client.delete(f"/subscriptions/{deleted}")).status_code == 200
    old, recent, running, of_deleted = (uuid.uuid4() for _ in range(4))
    async with server.runtime.pool.acquire() as conn:
        for rid, sid, status, age in [
            (old, kept, "done", "31 days"),
            (recent, kept, "failed", "1 day"),
            (running, kept, "running", "40 days"),
            (of_deleted, deleted, "done", "1 hour"),
        ]:
            await conn.execute(
                "INSERT INTO replays (replay_id, subscription_id, after_position, upto_position, "
                "sent_position, total, status, created_at, finished_at, lease_until) "
                "VALUES ($1, $2, 0, 1, 0, 1, $3, now() - $4::text::interval, "
                "CASE WHEN $3 <> 'running' THEN now() - $4::text::interval END, "
                "now() + interval '1 hour')",
                rid,
                sid,
                status,
                age,
            )
            await conn.execute(
                "INSERT INTO replay_sends (replay_id, position, subscription_id, event_id, "
                "event_type, webhook_id, status) VALUES ($1, 1, $2, $3, 'ComplaintFiled', $3, "
                "'delivered')",
                rid,
                sid,
                uuid.uuid4(),
            )
        await conn.execute(
            "UPDATE deliveries SET updated_at = now() - interval '31 days' WHERE endpoint = $1",
            deleted,
        )
        ends = await webhook_log.prune(conn, 30)
        replays = {r["replay_id"] for r in await conn.fetch("SELECT replay_id FROM replays")}
        sends = {r["replay_id"] for r in await conn.fetch("SELECT replay_id FROM replay_sends")}
        left = await conn.fetchval("SELECT count(*) FROM deliveries WHERE endpoint = $1", deleted)
        await conn.execute("DELETE FROM replays WHERE replay_id = $1", running)
    assert {recent, running} <= replays and not {old, of_deleted} & replays
    assert {recent, running} <= sends and not {old, of_deleted} & sends
    assert left == 0, "a deleted subscription's deliveries past the window are forgotten"
    assert ends is not None and (ends - datetime.now(UTC)).days >= 28  # the failed one's end
