"""At rest a service wakes only when something is due: its HTTP server's loop, its consumer's
offset committer and its consumer's heartbeats."""

from __future__ import annotations

import asyncio
import time

import uvicorn
from aiokafka import TopicPartition
from fastapi import FastAPI

from shared.consumer import BatchConsumer, heartbeat_ms
from shared.runtime import QuietServer
from shared.settings import ServiceSettings


def quiet_server() -> QuietServer:
    return QuietServer(uvicorn.Config(FastAPI(), log_level="warning"))


async def test_the_http_server_looks_once_a_second_at_rest() -> None:
    """uvicorn's own loop looks ten times a second; this one when the Date header changes (a
    new wall-clock second), and once more when told to stop. In 2.5 s that is at most the
    first look, three new seconds and the stop: 5, against uvicorn's 25. Load can only make
    it look less often. (It once asserted three looks span 1.9 s, but the first gap is only
    the way to the next whole second, 0 to 1 s: a check that failed by chance.)"""
    server = quiet_server()
    looks: list[float] = []
    on_tick = server.on_tick

    async def tick(counter: int) -> bool:
        looks.append(time.monotonic())
        assert counter % 10 == 0, "every look renews the Date header"
        return await on_tick(counter)

    server.on_tick = tick  # type: ignore[method-assign]
    loop = asyncio.create_task(server.main_loop())
    await asyncio.sleep(2.5)
    server.should_exit = True
    await asyncio.wait_for(loop, 30)
    assert 1 <= len(looks) <= 5, looks


async def test_stopping_the_http_server_wakes_it_at_once() -> None:
    """Setting should_exit (a signal, or the test fixtures' `serving`) ends the loop without
    waiting for its next look: here the next look would be an hour away."""
    server = quiet_server()
    server.tick_s = 3600.0
    looked = asyncio.Event()
    on_tick = server.on_tick

    async def tick(counter: int) -> bool:
        looked.set()
        return await on_tick(counter)

    server.on_tick = tick  # type: ignore[method-assign]
    loop = asyncio.create_task(server.main_loop())
    await asyncio.wait_for(looked.wait(), 30)
    server.should_exit = True
    await asyncio.wait_for(loop, 30)  # an hour without the wake-up
    assert server.started is False and server.should_exit


def settings(**overrides: object) -> ServiceSettings:
    return ServiceSettings(service_name="idle", kafka_bootstrap_servers="127.0.0.1:1", **overrides)


async def test_the_offset_committer_sleeps_until_a_batch_is_handled() -> None:
    """Nothing handled: no commit round, however often the interval passes. A handled batch
    is committed one interval later."""

    class Counting(BatchConsumer):
        rounds = 0

        async def commit(self) -> None:
            self.rounds += 1

    batches = Counting(
        None,  # type: ignore[arg-type]  # never handles here
        ["idle.topic"],
        settings(),
        group_id="idle",
        commit_interval_s=0.001,
    )
    committer = asyncio.create_task(batches._commit_often())
    try:
        await asyncio.sleep(0.3)  # three hundred intervals with nothing handled
        assert batches.rounds == 0
        batches.handled[TopicPartition("idle.topic", 0)] = 5
        batches._handled_more.set()  # what _run does after a handled batch
        deadline = time.monotonic() + 30
        while batches.rounds == 0:
            assert time.monotonic() < deadline, "the handled batch was never committed"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert batches.rounds == 1, "one round per wake-up, then asleep again"
    finally:
        committer.cancel()
        await asyncio.gather(committer, return_exceptions=True)
        await batches.kafka.stop()


async def test_heartbeats_every_two_seconds_and_never_past_a_third_of_the_session() -> None:
    assert heartbeat_ms(settings()) == 2000
    assert heartbeat_ms(settings(kafka_heartbeat_interval_s=10.0)) == 2000  # session 6 s
    assert heartbeat_ms(settings(kafka_heartbeat_interval_s=0.5)) == 500
    batches = BatchConsumer(
        None,  # type: ignore[arg-type]
        ["idle.topic"],
        settings(),
        group_id="idle",
    )
    assert batches.kafka._heartbeat_interval_ms == 2000
    await batches.kafka.stop()
