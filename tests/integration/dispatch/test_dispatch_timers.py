"""SLA timers fire exactly once with two dispatch workers running, one of them killed mid-way
and started again: every warning and breach of every clock is on record once, every case
climbed the ladder once per rung."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from deploy.local.processes import free_port, tansu_broker, wait_for_port_open
from deploy.local.runner import DEMO_CITY
from services.dispatch import store
from services.dispatch.app import Dispatch
from services.dispatch.domain import orders
from services.dispatch.domain.deadlines import Timer
from services.dispatch.main import SCHEMA
from services.dispatch.workers import TimerAlarm, fire_due
from shared import telemetry
from shared.commands import now
from shared.db import (
    apply_schema,
    connect,
    create_pool,
    drop_database,
    ensure_database,
    with_database,
)
from shared.deadlines import ClockName
from shared.envelope import Causation
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.eventstore import EventStore
from tests.integration.conftest import BROKER_STOP_S
from tests.integration.process import REPO

CASES = 60
# (category, area, rungs climbed): a community unit's breaches reach the street, then the
# district; a department's reach the district government only.
KINDS = [("roof-leak", "370124001001-G01-B02-U1", 2), ("road-damage", "370124002001-G01", 1)]
DRILL = {
    "warn_at": 0.5,
    "tiers": {"general": {"sign": "3s", "contact": "5s", "feedback": "7s"}},
    "escalation": {"sign": "3s", "feedback": "5s"},
}


class Worker:
    """One dispatch process (HTTP, consumer, relay and the timer poller), as deployed."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, free_port()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.dispatch.main"],
                cwd=REPO,
                env=env | {"DISPATCH_PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "worker did not start"
                try:
                    if (
                        await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    ).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
async def drill(pg_server_url, tmp_path):
    port = free_port()
    broker = tansu_broker(port, tmp_path / "broker.log")
    broker.start()
    await wait_for_port_open(port)
    database_url = with_database(pg_server_url, f"t_timers_{uuid.uuid4().hex[:10]}")
    await ensure_database(database_url)
    pool = await create_pool(database_url, max_size=5)
    await apply_schema(pool, EVENTSTORE_SCHEMA, SCHEMA)
    dispatch = Dispatch(
        EventStore("/jiesu/dispatch"), store.CityModelCache(), store.CalendarCache()
    )
    city = yaml.safe_load(DEMO_CITY.read_text()) | {"time_limits": DRILL}
    async with pool.acquire() as conn, conn.transaction():
        await dispatch.new_city_version(conn, city, "test", "drill timescale")
    env = {
        **os.environ,
        "DISPATCH_DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "DISPATCH_TIMER_POLL_INTERVAL_S": "0.1",
        "DISPATCH_TIMER_BATCH_SIZE": "20",
        "DISPATCH_DEV_KEYS": "false",
    }
    yield dispatch, pool, env
    await pool.close()
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(database_url)


async def fired(pool) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type IN ('SlaWarned', 'SlaBreached')"
        )
        return count


async def test_timers_fire_exactly_once_across_two_workers_and_a_kill(drill, tmp_path):
    dispatch, pool, env = drill
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [Worker(env, log) for log in logs]
    try:
        await asyncio.gather(*(w.ready() for w in workers))
        complaints = []
        async with pool.acquire() as conn:
            rules = await dispatch.rules(conn)
            for index in range(CASES):
                category, area, _ = KINDS[index % len(KINDS)]
                complaint_id = uuid.uuid4()
                events = orders.first_dispatch(None, complaint_id, category, area, rules, now())
                async with conn.transaction():
                    await dispatch.save_case(conn, None, events, Causation.start())
                complaints.append((complaint_id, KINDS[index % len(KINDS)][2]))
                await asyncio.sleep(0.02)  # spread the deadlines over a second or so

        # Kill one worker while the clocks are firing, then start it again.
        deadline = time.monotonic() + 30
        while await fired(pool) < CASES * 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        before_kill = await fired(pool)
        workers[0].kill()
        await asyncio.sleep(1.0)
        workers[0] = Worker(env, logs[0])
        await workers[0].ready()

        deadline = time.monotonic() + 90
        async with pool.acquire() as conn:
            while await conn.fetchval("SELECT count(*) FROM timers") > 0:
                assert time.monotonic() < deadline, "timers still waiting"
                await asyncio.sleep(0.2)
        total = await fired(pool)
        assert 0 < before_kill < total, "the kill happened while the clocks were firing"
    finally:
        for worker in workers:
            worker.stop()

    async with pool.acquire() as conn:
        for complaint_id, rungs in complaints:
            case, history = await store.load_case(conn, dispatch.events, complaint_id)
            assert case is not None
            firings = Counter(
                (r.type, r.data["work_order_id"], r.data["clock"], r.data["due_at"])
                for r in history
                if r.type in ("SlaWarned", "SlaBreached")
            )
            assert firings and max(firings.values()) == 1, f"a clock fired twice: {firings}"
            for order in case.orders:
                for clock in order.clocks:
                    assert clock.warned and clock.breached, (order.responder.id, clock.name)
            climbed = [r.data["to_level"] for r in history if r.type == "CaseEscalated"]
            assert len(climbed) == len(set(climbed)) == rungs, climbed
    for log in logs:
        assert "settled" in log.read_text(errors="replace"), f"{log.name} fired nothing"


async def test_a_case_that_cannot_be_decided_does_not_hold_up_the_other_clocks(pool):
    await apply_schema(pool, SCHEMA)
    dispatch = Dispatch(
        EventStore("/jiesu/dispatch"), store.CityModelCache(), store.CalendarCache()
    )
    async with pool.acquire() as conn, conn.transaction():
        await dispatch.new_city_version(conn, yaml.safe_load(DEMO_CITY.read_text()), "test", "")
    past = now() - timedelta(days=10)
    broken, healthy = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        rules = await dispatch.rules(conn)
        for complaint_id in (broken, healthy):
            events = orders.first_dispatch(
                None, complaint_id, "roof-leak", KINDS[0][1], rules, past
            )
            async with conn.transaction():
                await dispatch.save_case(conn, None, events, Causation.start())
        # A record this build cannot read (say, written by a newer release) in one case.
        await conn.execute(
            "INSERT INTO events (stream, position, type, version, data, metadata, id) "
            "VALUES ($1, 99, 'SomethingFromTheFuture', 1, '{}', '{}', $2)",
            store.case_stream(broken),
            uuid.uuid4(),
        )
        while await fire_due(conn, dispatch, batch=100):
            pass
        fired = await conn.fetch(
            "SELECT DISTINCT data->>'complaint_id' AS complaint FROM events WHERE type = 'SlaBreached'"
        )
        waiting = await conn.fetchval(
            "SELECT min(fire_at) - now() FROM timers WHERE complaint_id = $1", broken
        )
    assert [row["complaint"] for row in fired] == [str(healthy)]
    assert waiting is not None and waiting > timedelta(seconds=30), "the broken case is put off"


async def test_a_timer_added_due_sooner_wakes_a_loop_sleeping_past_it(pool, database_url):
    """A worker sleeps to its next due row, at most DISPATCH_TIMER_POLL_INTERVAL_S (here an
    hour); a row committed meanwhile that is due sooner wakes it for that row's time, and a
    rolled-back one announces nothing."""
    await apply_schema(pool, SCHEMA)
    alarm = TimerAlarm()
    listener = await connect(database_url)
    await listener.add_listener(store.TIMERS_CHANNEL, alarm.heard)
    sleeping = asyncio.create_task(alarm.sleep(time.time() + 3600))
    try:

        def timer(fire_at: datetime) -> Timer:
            return Timer(uuid.uuid4(), uuid.uuid4(), ClockName.SIGN, "breach", fire_at, fire_at)

        sooner, soon = now() + timedelta(seconds=0.5), now() + timedelta(seconds=1.5)
        async with pool.acquire() as conn:
            rolled_back = conn.transaction()
            await rolled_back.start()
            await store.sync_timers(conn, set(), {timer(sooner)})
            await rolled_back.rollback()
            async with conn.transaction():
                await store.sync_timers(conn, set(), {timer(soon)})
        await asyncio.wait_for(sleeping, 30)  # an hour without the announcement
        assert time.time() >= soon.timestamp(), "it slept until the row was due"
        assert alarm.earliest == pytest.approx(soon.timestamp()), "the rollback announced nothing"
    finally:
        sleeping.cancel()
        await listener.close()


async def test_a_firing_clock_starts_a_trace_of_its_own_linked_to_the_issuing(pool, spans):
    await apply_schema(pool, SCHEMA)
    dispatch = Dispatch(
        EventStore("/jiesu/dispatch"), store.CityModelCache(), store.CalendarCache()
    )
    async with pool.acquire() as conn, conn.transaction():
        await dispatch.new_city_version(conn, yaml.safe_load(DEMO_CITY.read_text()), "test", "")
    complaint_id = uuid.uuid4()
    async with pool.acquire() as conn:
        rules = await dispatch.rules(conn)
        events = orders.first_dispatch(
            None, complaint_id, "roof-leak", KINDS[0][1], rules, now() - timedelta(days=10)
        )
        with telemetry.spanning("issuing") as issuing:
            async with conn.transaction():
                await dispatch.save_case(conn, None, events, Causation.start())
        while await fire_due(conn, dispatch, batch=100):
            pass
        stored = await conn.fetch(
            "SELECT type, metadata->>'traceparent' AS traceparent FROM events "
            "WHERE stream = $1 ORDER BY position",
            store.case_stream(complaint_id),
        )
    assert issuing is not None
    issued = issuing.get_span_context()
    # One firing per work order, each a root linked to the trace that issued the orders.
    firings = [s for s in spans.get_finished_spans() if s.name == "dispatch timers fire"]
    assert firings and all(f.parent is None for f in firings)
    assert all([link.context.trace_id for link in f.links] == [issued.trace_id] for f in firings)
    traces = {f.context.trace_id for f in firings}
    assert issued.trace_id not in traces
    breached = [row for row in stored if row["type"] == "SlaBreached"]
    assert breached
    assert all(telemetry.span_context(row["traceparent"]).trace_id in traces for row in breached)
