"""Several workers of a service under load: 3 of dispatch, 3 of notify, 2 of reporting share
their topics' partitions, the relays, the SLA clocks and the senders. One worker of dispatch
and one of notify are SIGKILLed mid-stream, then workers leave and join every few seconds (a
rebalance storm) while complaints keep coming. Every complaint is dispatched once, every
message delivered once, no clock fires twice, and reporting counts each complaint once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from deploy.local.runner import DEMO_CITY
from tests.e2e.conftest import RunningStack, running_stack, until
from tests.support import examples

pytestmark = pytest.mark.e2e

WORKERS = {"dispatch": 3, "notify": 3, "reporting": 2}
LOAD = 120
# Sanitation complaints get clocks of seconds, so their warnings and breaches fire while the
# workers are killed and rebalanced (the other categories keep the demo's hours).
FAST_CATEGORY = "sanitation"
FAST_CLOCKS = {"sign": "4s", "contact": "6s", "feedback": "8s"}
TERMINAL = ("delivered", "abandoned")


@pytest.fixture(scope="module")
async def stack(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory, stack_env: dict[str, str]
) -> AsyncIterator[RunningStack]:
    state_dir = tmp_path_factory.mktemp("workers")
    async with running_stack(pg_server_url, state_dir, stack_env, WORKERS) as running:
        await fast_clocks_for(running, FAST_CATEGORY)
        yield running


async def fast_clocks_for(stack: RunningStack, category: str) -> None:
    """A new city version in which `category`'s clocks run in seconds; back once every dispatch
    worker's cached model (re-read at most a second after a change) is this version."""
    city = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
    city["time_limits"].setdefault("categories", {})[category] = FAST_CLOCKS
    headers = {**examples.ADMIN_KEY, "content-type": "application/yaml"}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.put(
            stack.url("dispatch") + "/admin/city",
            content=yaml.safe_dump(city, allow_unicode=True).encode(),
            headers=headers,
        )
        assert response.status_code == 200, response.text
    await asyncio.sleep(1.5)  # the caches' freshness (store.CityModelCache max_age_s = 1)


def test_every_worker_runs_on_a_port_of_its_own_with_its_own_log(stack):
    state = stack.state()
    assert state["workers"]["dispatch"] == ["dispatch", "dispatch-2", "dispatch-3"]
    assert state["workers"]["intake"] == ["intake"]
    names = [w for workers in state["workers"].values() for w in workers]
    assert len(names) == 9
    assert len({state["urls"][name] for name in names}) == 9
    assert all(state["children"][name] for name in names)
    for name in names:
        assert (stack.state_dir / "logs" / f"{name}.log").exists(), name


async def test_the_workers_of_a_service_share_its_partitions(stack):
    """Each consuming worker holds some partitions: the group spread them over all of them."""

    async def assigned(worker: str) -> float:
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(stack.url(worker) + "/metrics")).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("jiesu_consumer_assigned_partitions{")
        )

    async def all_hold_some() -> bool:
        held = [await assigned(w) for s in WORKERS for w in stack.state()["workers"][s]]
        return all(n > 0 for n in held)

    await until(all_hold_some, 90, "every worker holds partitions")


async def file_while(
    stack: RunningStack,
    count: int,
    tag: str,
    *,
    during: Any = None,
    concurrency: int = 6,
    pause_s: float = 0.0,
) -> list[str]:
    """File `count` complaints (each retried under its Idempotency-Key until accepted), each
    filer pausing `pause_s` after each, while `during(accepted)` is told how many were
    accepted so far; their complaint ids."""
    url = stack.url("intake") + "/complaints"
    queue = list(range(count))
    accepted: list[str] = []

    async def filer(client: httpx.AsyncClient) -> None:
        while queue:
            index = queue.pop()
            key = f"{tag}-{index}"
            body = examples.complaint_request(index)
            body["address"] += f"（{key}）"  # no two alike: none is merged as a duplicate
            deadline = time.monotonic() + 120
            while True:
                try:
                    response = await client.post(
                        url, json=body, headers={"Idempotency-Key": key, **examples.STAFF_KEY}
                    )
                    if response.status_code == 201:
                        break
                    assert response.status_code >= 500, response.text
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"complaint {key} was never accepted"
                await asyncio.sleep(0.5)
            accepted.append(response.json()["complaint_id"])
            if during is not None:
                await during(len(accepted))
            await asyncio.sleep(pause_s)

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(filer(client) for _ in range(concurrency)))
    return accepted


async def fetch(stack: RunningStack, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url(service))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def fetch_together(
    stack: RunningStack, service: str, *queries: tuple[str, Any]
) -> list[list[asyncpg.Record]]:
    """Several reads of one database as of one moment (a repeatable-read transaction): a table
    and the events that record its changes are compared as they stood together, not as a
    message delivered between two reads would leave them."""
    conn = await asyncpg.connect(stack.database_url(service))
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return [await conn.fetch(query, *args) for query, *args in queries]
    finally:
        await conn.close()


async def settled(stack: RunningStack, ids: list[str]) -> bool:
    """Every complaint dispatched and in reporting with all its orders, every message of it
    delivered (or given up), reporting showing each, and no clock due that has not fired."""
    orders = await fetch(
        stack,
        "dispatch",
        "SELECT data->>'complaint_id' AS complaint_id, count(*) AS n FROM events "
        "WHERE type = 'WorkOrderIssued' AND data->>'complaint_id' = ANY($1::text[]) GROUP BY 1",
        ids,
    )
    if len(orders) < len(ids):
        return False
    late = await fetch(
        stack,
        "dispatch",
        "SELECT 1 FROM timers WHERE complaint_id = ANY($1::uuid[]) "
        "AND fire_at < now() - interval '1 second' LIMIT 1",
        ids,
    )
    # What must have asked for messages by now: each first order (its unit), each breach (the
    # local sink's webhook subscription).
    asking = await fetch(
        stack,
        "dispatch",
        "SELECT id FROM events WHERE data->>'complaint_id' = ANY($1::text[]) AND "
        "((type = 'WorkOrderIssued' AND data->>'purpose' = 'dispatch') OR type = 'SlaBreached')",
        ids,
    )
    deliveries = await fetch(
        stack,
        "notify",
        "SELECT event_id, complaint_id::text AS complaint_id, audience, status FROM deliveries "
        "WHERE complaint_id = ANY($1::uuid[])",
        ids,
    )
    if (
        late
        or {r["id"] for r in asking} - {d["event_id"] for d in deliveries}
        # each resident's receipt, asked for by intake's filing, not by dispatch
        or set(ids) - {d["complaint_id"] for d in deliveries if d["audience"] == "resident"}
        or any(d["status"] not in TERMINAL for d in deliveries)
    ):
        return False
    shown = await fetch(
        stack,
        "reporting",
        "SELECT (SELECT count(*) FROM cases WHERE complaint_id = ANY($1::uuid[])) AS cases, "
        "(SELECT count(*) FROM case_work_orders WHERE complaint_id = ANY($1::uuid[])) AS orders, "
        "(SELECT count(*) FROM case_notifications WHERE complaint_id = ANY($1::uuid[]) "
        "AND status IN ('delivered', 'abandoned')) AS notices",
        ids,
    )
    return (
        shown[0]["cases"] == len(ids)
        and shown[0]["orders"] == sum(o["n"] for o in orders)
        and shown[0]["notices"] == len(deliveries)
    )


def sink_keys(stack: RunningStack) -> Counter[str]:
    """How often the gateways and the subscriber received each message (by idempotency key),
    from the local sink's log (every arrival it kept, across its restarts)."""
    log = stack.state_dir / "logs" / "messages.jsonl"
    keys: Counter[str] = Counter()
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            keys[f"{record['kind']}:{record['key']}"] += 1
    return keys


async def assert_once_each(stack: RunningStack, ids: list[str]) -> dict[str, int]:
    """Nothing lost, nothing doubled, from the stores and the sink; returns what was counted."""
    filed = await fetch(
        stack,
        "intake",
        "SELECT data->>'complaint_id' AS complaint_id FROM events "
        "WHERE type = 'ComplaintFiled' AND data->>'complaint_id' = ANY($1::text[])",
        ids,
    )
    assert sorted(r["complaint_id"] for r in filed) == sorted(ids), "one filing per complaint"

    events = await fetch(
        stack,
        "dispatch",
        "SELECT type, data FROM events WHERE data->>'complaint_id' = ANY($1::text[]) "
        "AND type IN ('WorkOrderIssued', 'SlaWarned', 'SlaBreached', 'CaseEscalated')",
        ids,
    )
    data = [(e["type"], json.loads(e["data"])) for e in events]
    issued = [d for t, d in data if t == "WorkOrderIssued"]
    assert {d["complaint_id"] for d in issued} == set(ids), "every complaint dispatched"
    orders = Counter(d["work_order_id"] for d in issued)
    assert max(orders.values()) == 1, "an order issued twice"
    per_unit = Counter(
        (d["complaint_id"], d["responder_id"], d["purpose"], d["round"]) for d in issued
    )
    assert max(per_unit.values()) == 1, f"a unit got two orders: {per_unit.most_common(1)}"
    clocks = Counter(
        (t, d["work_order_id"], d["clock"], d["due_at"])
        for t, d in data
        if t in ("SlaWarned", "SlaBreached")
    )
    assert not clocks or max(clocks.values()) == 1, f"a clock fired twice: {clocks.most_common(1)}"
    climbs = Counter((d["complaint_id"], d["to_level"]) for t, d in data if t == "CaseEscalated")
    assert not climbs or max(climbs.values()) == 1, "a case climbed a rung twice"

    deliveries, outcomes = await fetch_together(
        stack,
        "notify",
        (
            "SELECT notification_id::text AS id, event_id::text AS event_id, complaint_id::text "
            "AS complaint_id, audience, template, channel, status FROM deliveries "
            "WHERE complaint_id = ANY($1::uuid[])",
            ids,
        ),
        (
            "SELECT o->>'notification_id' AS id, o->>'attempt' AS attempt, o->>'at' AS at, "
            "global_position FROM events, jsonb_array_elements(data->'outcomes') o "
            "WHERE type = 'NotificationsRecorded' AND data->>'complaint_id' = ANY($1::text[]) "
            "AND o->>'outcome' = 'delivered'",
            ids,
        ),
    )
    recorded = Counter(o["id"] for o in outcomes)
    delivered = {d["id"] for d in deliveries if d["status"] == "delivered"}
    assert set(recorded) == delivered, "every delivery recorded"
    twice = [dict(o) for o in outcomes if recorded[o["id"]] > 1]
    assert not twice, f"a delivery recorded twice: {twice}"
    # (One message per event, recipient and channel is the deliveries table's own constraint:
    # a doubled message can only come of a doubled event, which the checks above catch.)
    # Every resident told; every unit told of the order it was first given.
    assert {d["complaint_id"] for d in deliveries if d["audience"] == "resident"} == set(ids)
    first_orders = await fetch(
        stack,
        "dispatch",
        "SELECT id::text AS id FROM events WHERE type = 'WorkOrderIssued' "
        "AND data->>'purpose' = 'dispatch' AND data->>'complaint_id' = ANY($1::text[])",
        ids,
    )
    told = {d["event_id"] for d in deliveries if d["audience"] == "responder"}
    assert {r["id"] for r in first_orders} <= told, "a unit was not told of its order"
    # Every message recorded delivered reached its gateway or subscriber: the sink keeps one
    # arrival per idempotency key, as a real gateway does, and logs each.
    received = sink_keys(stack)
    sent = [d for d in deliveries if d["status"] == "delivered" and d["channel"] != "email"]
    for d in sent:
        kind = d["channel"] if d["channel"] in ("sms", "wechat") else "webhook"
        assert received[f"{kind}:{d['id']}"] == 1, (d, received[f"{kind}:{d['id']}"])
    return {
        "complaints": len(ids),
        "orders": len(issued),
        "clock events": len(clocks),
        "deliveries": len(deliveries),
    }


def kill_midway(stack: RunningStack, victims: list[str], after: int) -> tuple[list[int], Any]:
    """A progress callback that SIGKILLs `victims` once `after` complaints were accepted."""
    killed: list[int] = []

    async def during(accepted: int) -> None:
        if accepted >= after and not killed:
            for victim in victims:
                pid = stack.pid(victim)
                killed.append(pid)
                os.kill(pid, signal.SIGKILL)

    return killed, during


async def test_nothing_is_lost_or_doubled_when_a_dispatch_and_a_notify_worker_are_killed(stack):
    killed, during = kill_midway(stack, ["dispatch-2", "notify-2"], after=LOAD // 3)
    ids = await file_while(stack, LOAD, "kill", during=during)
    assert len(killed) == 2
    await until(lambda: settled(stack, ids), 180, "every complaint settled")
    counted = await assert_once_each(stack, ids)
    assert counted["clock events"] > 0, "the fast clocks fired"
    restarts = stack.state()["service_restarts"]
    assert restarts["dispatch-2"] >= 1 and restarts["notify-2"] >= 1


async def test_nothing_is_lost_or_doubled_in_a_rebalance_storm(stack):
    """Workers leave (SIGTERM: they leave the group; SIGKILL: the group waits out their session)
    and the runner starts them again, one every few seconds, while complaints keep coming."""
    victims = ["dispatch-3", "notify-3", "reporting-2", "dispatch-2", "notify-2", "dispatch-3"]
    before = dict(stack.state()["service_restarts"])
    storm_over = asyncio.Event()

    async def storm() -> None:
        for round_, victim in enumerate(victims):
            # The last leaves by SIGTERM: the group need not wait out a dead member's session
            # before the last complaints can settle.
            os.kill(stack.pid(victim), signal.SIGKILL if round_ % 3 == 1 else signal.SIGTERM)
            await asyncio.sleep(3.0)
        storm_over.set()

    async def keep_filing_through_the_storm(accepted: int) -> None:
        if accepted >= LOAD - 10:
            await storm_over.wait()  # the last complaints come after the storm

    storming = asyncio.create_task(storm())
    ids = await file_while(stack, LOAD, "storm", during=keep_filing_through_the_storm, pause_s=0.4)
    await storming
    await until(lambda: settled(stack, ids), 180, "every complaint settled after the storm")
    await assert_once_each(stack, ids)
    after = stack.state()["service_restarts"]
    for victim in set(victims):
        assert after[victim] >= before[victim] + victims.count(victim), victim
