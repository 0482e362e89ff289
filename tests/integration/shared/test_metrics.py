"""The operational metrics against real Postgres and a real broker: consumer lag as each engine
sees it, the relay's distance behind its store, dispatch's due timers, notify's backlog, and a
running service's /metrics after some traffic."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from services.dispatch import store as dispatch_store
from services.dispatch.workers import show_outlook
from services.notify.workers import sample_backlog
from shared.consumer import BatchConsumer, DependencyUnavailable, HandlerContext, IdempotentConsumer
from shared.db import apply_schema
from shared.envelope import Causation
from shared.events import ComplaintFiled
from shared.eventstore import EventStore
from shared.faust_engine import attach_consumer, make_faust_app
from shared.relay import OutboxRelay
from tests.integration.conftest import IntakeServer, until
from tests.integration.kafka_helpers import new_topic, read_topic, settings_for
from tests.integration.shared.test_consumer import RecordingDeadLetters, _record
from tests.support import examples

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for _ in range(count):
            message = _record(examples.complaint_filed(), topic)
            await producer.send_and_wait(
                topic, message.value, key=b"one-key", headers=message.headers, partition=0
            )
    finally:
        await producer.stop()


def consumer_on(pool: Any, name: str, handler: Any) -> IdempotentConsumer:
    return IdempotentConsumer(
        name=name,
        pool=pool,
        store=EventStore("/jiesu/test"),
        handlers={ComplaintFiled: handler},
        dead_letters=RecordingDeadLetters(),
    )


async def test_consumer_lag_rises_while_a_batch_cannot_be_handled_and_falls_once_it_can(
    pool, database_url, kafka_bootstrap
):
    topic = await new_topic(kafka_bootstrap, partitions=1)
    name = f"lag-{uuid.uuid4().hex[:6]}"
    unavailable = asyncio.Event()
    unavailable.set()

    async def needs_another_service(event: ComplaintFiled, ctx: HandlerContext) -> None:
        if unavailable.is_set():
            raise DependencyUnavailable("intake does not answer")

    settings = settings_for(database_url, kafka_bootstrap)
    batches = BatchConsumer(
        consumer_on(pool, name, needs_another_service), [topic], settings, group_id=name
    )
    await produce(kafka_bootstrap, topic, 3)
    await batches.start()
    try:
        lag = {"consumer": name, "topic": topic, "partition": "0"}
        await until(
            lambda: sample("jiesu_consumer_lag", **lag) == 3, what="the lag of 3 stuck records"
        )
        await produce(kafka_bootstrap, topic, 2)
        await until(lambda: sample("jiesu_consumer_lag", **lag) == 5, what="the lag to grow to 5")
        unavailable.clear()
        await until(lambda: sample("jiesu_consumer_lag", **lag) == 0, what="the lag to fall to 0")
        handled = sample("jiesu_handler_duration_seconds_count", consumer=name)
        assert handled is not None and handled >= 2  # the failing batches are timed too
    finally:
        await batches.stop()


async def test_the_faust_engine_reports_lag_and_handler_time(pool, database_url, kafka_bootstrap):
    topic = await new_topic(kafka_bootstrap, partitions=1)
    name = f"faust-lag-{uuid.uuid4().hex[:6]}"

    async def nothing(event: ComplaintFiled, ctx: HandlerContext) -> None:
        return None

    app = make_faust_app(name, settings_for(database_url, kafka_bootstrap))
    attach_consumer(app, consumer_on(pool, name, nothing), [topic])
    await produce(kafka_bootstrap, topic, 4)
    await app.start()
    try:
        lag = {"consumer": name, "topic": topic, "partition": "0"}
        await until(lambda: sample("jiesu_consumer_lag", **lag) == 0, what="faust's lag to reach 0")
        assert (sample("jiesu_handler_duration_seconds_count", consumer=name) or 0) >= 1
    finally:
        await app.stop()


async def test_the_relay_reports_how_far_behind_its_store_it_is(
    pool, database_url, kafka_bootstrap
):
    store = EventStore("/jiesu/test")
    topic = await new_topic(kafka_bootstrap)
    name = f"relay-{uuid.uuid4().hex[:6]}"
    relay = OutboxRelay(
        name=name,
        pool=pool,
        store=store,
        topic=topic,
        settings=settings_for(database_url, kafka_bootstrap),
    )
    async with pool.acquire() as conn:
        for _ in range(4):
            event = examples.complaint_filed()
            async with conn.transaction():
                await store.append(
                    conn, f"complaint-{event.complaint_id}", [event], Causation.start(), 0
                )
        await asyncio.sleep(0.05)  # the oldest event is that old at least
        await relay.sample(conn)
    assert sample("jiesu_relay_behind_events", relay=name) == 4
    assert (sample("jiesu_relay_delay_seconds", relay=name) or 0) >= 0.05

    task = asyncio.create_task(relay.run())
    try:
        await read_topic(kafka_bootstrap, topic, expected=4)

        async def caught_up() -> bool:
            async with pool.acquire() as conn:
                await relay.sample(conn)
            return sample("jiesu_relay_behind_events", relay=name) == 0

        await until(caught_up, what="the relay to catch up")
        assert sample("jiesu_relay_delay_seconds", relay=name) == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_due_timers_are_counted_by_clock_and_the_oldest_ones_lateness_grows(pool):
    await apply_schema(pool, REPO / "services" / "dispatch" / "schema.sql")
    now = datetime.now(UTC)
    rows = [("sign", now - timedelta(minutes=10)), ("sign", now - timedelta(minutes=1))]
    rows += [("feedback", now + timedelta(days=3))]
    async with pool.acquire() as conn:
        for clock, fire_at in rows:
            await conn.execute(
                "INSERT INTO timers (work_order_id, clock, kind, due_at, fire_at, complaint_id) "
                "VALUES ($1, $2, 'breach', $3, $3, $4)",
                uuid.uuid4(),
                clock,
                fire_at,
                uuid.uuid4(),
            )
        first, due = await dispatch_store.timer_outlook(conn, now)
    assert first == rows[0][1] and due == {"sign": 2}
    show_outlook(first, due)
    assert sample("jiesu_timers_due", clock="sign") == 2
    assert sample("jiesu_timers_due", clock="feedback") == 0
    late = sample("jiesu_timers_late_seconds")
    assert late is not None and 600 <= late < 660
    show_outlook(rows[2][1], {})
    assert (
        sample("jiesu_timers_late_seconds") == 0 and sample("jiesu_timers_due", clock="sign") == 0
    )


async def test_notify_backlog_shows_each_channel_and_state_and_zero_once_emptied(pool):
    await apply_schema(pool, REPO / "services" / "notify" / "schema.sql")
    channel = f"sms-{uuid.uuid4().hex[:4]}"  # a channel of this test's own
    async with pool.acquire() as conn:
        for status in ("pending", "pending", "sending", "abandoned", "delivered"):
            await conn.execute(
                "INSERT INTO deliveries (notification_id, event_id, complaint_id, audience, "
                "recipient, channel, template, payload, status) "
                "VALUES ($1, $2, $3, 'resident', 'r', $4, 't', '{}', $5)",
                uuid.uuid4(),
                uuid.uuid4(),
                uuid.uuid4(),
                channel,
                status,
            )
        await sample_backlog(conn)
        shown = {
            state: sample("jiesu_notify_backlog", channel=channel, state=state)
            for state in ("pending", "sending", "abandoned", "delivered")
        }
        assert shown == {"pending": 2, "sending": 1, "abandoned": 1, "delivered": None}
        await conn.execute("UPDATE deliveries SET status = 'delivered' WHERE channel = $1", channel)
        await sample_backlog(conn)
    assert sample("jiesu_notify_backlog", channel=channel, state="pending") == 0
    assert sample("jiesu_notify_backlog", channel=channel, state="abandoned") == 0


def families(text: str) -> dict[str, list[Any]]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_a_running_services_metrics_show_its_requests_lag_and_relay(
    intake_server: IntakeServer,
):
    filed = await intake_server.file()
    async with intake_server.client(**examples.STAFF_KEY) as client:
        response = await client.get(f"/complaints/{filed['case_number']}")
        assert response.status_code == 200

        async def relay_caught_up() -> dict[str, list[Any]] | None:
            found = families((await client.get("/metrics")).text)
            behind = [
                s.value
                for s in found.get("jiesu_relay_behind_events", [])
                if s.labels["relay"] == "intake-relay"
            ]
            return found if behind == [0] else None

        found = await until(relay_caught_up, what="intake's relay to publish the filing")
    delays = [s for s in found["jiesu_relay_delay_seconds"] if s.labels["relay"] == "intake-relay"]
    assert [s.value for s in delays] == [0]
    requests = [s for s in found["jiesu_http_requests"] if s.name.endswith("_total")]
    routes = {s.labels["route"] for s in requests}
    assert {"/complaints", "/complaints/{ref}"} <= routes
    assert not [route for route in routes if str(filed["case_number"]) in route]
    assert any(
        s.labels == {"method": "POST", "route": "/complaints", "status": "201"} and s.value >= 1
        for s in requests
    )
    buckets = [
        s
        for s in found["jiesu_http_request_duration_seconds"]
        if s.name.endswith("_bucket") and s.labels["route"] == "/complaints/{ref}"
    ]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value >= 1
    lags = [s for s in found["jiesu_consumer_lag"] if s.labels["consumer"] == "intake"]
    assert {s.labels["topic"] for s in lags} == {"dispatch.events"}
    assert all(s.value >= 0 for s in lags)
