"""The board's live feed: the consumer's batch notifies once when it changed the board, each
reporting process listens on one connection and wakes every open stream, and a stream whose
client went away is dropped."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from deploy.local.processes import free_port
from services.reporting.adapters.board_feed import BoardFeed, Listener
from services.reporting.handlers import handle_batch
from services.reporting.store import BOARD_CHANNEL
from services.reporting.web import wall
from shared.consumer import BatchContext
from shared.envelope import Envelope
from shared.events import Event
from shared.eventstore import EventStore
from tests.integration.conftest import serving
from tests.integration.reporting.test_reporting_replay import prepare_reporting
from tests.support import examples

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
QUIET_S = 0.5  # how long a listener that must stay asleep is watched


def _envelopes(*events: Event) -> list[Envelope]:
    return [
        Envelope(event=e, id=uuid.uuid4(), source="/test", time=T0, correlation_id=None, sequence=i)
        for i, e in enumerate(events)
    ]


async def _batch(pool: asyncpg.Pool, envelopes: Sequence[Envelope], commit: bool = True) -> None:
    """`envelopes` through the live consumer's handler, in one transaction as the consumer runs
    it (rolled back when `commit` is False)."""

    class RolledBack(Exception):
        pass

    try:
        async with pool.acquire() as conn, conn.transaction():
            await handle_batch(envelopes, BatchContext(conn, EventStore(source="/test")))
            if not commit:
                raise RolledBack
    except RolledBack:
        pass


@asynccontextmanager
async def running(database_url: str) -> AsyncIterator[BoardFeed]:
    """A reporting process's feed, listening on the database."""
    feed = BoardFeed(min_interval_s=0.05)
    task = asyncio.create_task(feed.run(database_url))
    try:
        await asyncio.wait_for(feed.listening.wait(), 10)
        yield feed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def feed(pool: asyncpg.Pool, database_url: str) -> AsyncIterator[BoardFeed]:
    """A feed listening on the test's database, whose read models are ready."""
    await prepare_reporting(pool)
    async with running(database_url) as feed:
        yield feed


@asynccontextmanager
async def settled(feed: BoardFeed) -> AsyncIterator[Listener]:
    """A listener past the wake-up every listener gets when it starts listening."""
    async with feed.listen() as listener:
        assert await listener.changed(timeout=5)
        yield listener


async def test_a_batch_that_changes_the_board_wakes_every_listener_of_every_process_once(
    feed: BoardFeed, pool: asyncpg.Pool, database_url: str
) -> None:
    async with (
        running(database_url) as other_process,
        settled(feed) as one,
        settled(feed) as two,
        settled(other_process) as three,
    ):
        filed = examples.complaint_filed(filed_at=T0)
        issued = examples.work_order_issued(filed.complaint_id, issued_at=T0)
        await _batch(pool, _envelopes(filed, issued))
        for listener in (one, two, three):
            assert await listener.changed(timeout=5)
        # one batch, one notification: nothing more is on its way
        assert not await one.changed(timeout=QUIET_S)


async def test_a_batch_the_board_does_not_show_or_that_rolls_back_wakes_no_one(
    feed: BoardFeed, pool: asyncpg.Pool
) -> None:
    async with settled(feed) as listener:
        cid = uuid.uuid4()
        await _batch(pool, _envelopes(examples.notification_delivered(cid)))
        await _batch(pool, _envelopes(examples.complaint_filed()), commit=False)
        assert not await listener.changed(timeout=QUIET_S)
        await _batch(pool, _envelopes(examples.complaint_filed()))  # the control
        assert await listener.changed(timeout=5)


async def test_a_burst_of_changes_is_one_update_per_interval() -> None:
    feed = BoardFeed(min_interval_s=0.3)
    async with settled(feed) as listener:
        started = time.monotonic()
        for _ in range(20):
            feed.wake_all()
        assert await listener.changed(timeout=5)
        assert time.monotonic() - started >= 0.25  # paced after the update before it
        assert not await listener.changed(timeout=QUIET_S)


async def test_the_feed_listens_again_after_losing_its_connection_and_wakes_everyone(
    feed: BoardFeed, pool: asyncpg.Pool
) -> None:
    async with settled(feed) as listener:
        async with pool.acquire() as conn:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE $1 AND datname = current_database()",
                f"LISTEN%{BOARD_CHANNEL}%",
            )
        assert killed == 1
        assert await listener.changed(timeout=10)  # woken on listening again
        await asyncio.wait_for(feed.listening.wait(), 10)
        await _batch(pool, _envelopes(examples.complaint_filed()))
        assert await listener.changed(timeout=5)


async def test_a_stream_whose_client_disconnects_is_dropped() -> None:
    feed = BoardFeed(min_interval_s=0.05)
    app = FastAPI()
    app.include_router(wall.router)
    app.dependency_overrides[wall.board_feed] = lambda: feed
    port = free_port()
    async with serving(app, port) as url, httpx.AsyncClient(base_url=url) as client:
        async with client.stream("GET", "/wall/stream", timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == 'data: {"changed": "board"}'  # on connecting
            assert len(feed.listeners) == 1
            feed.wake_all()
            assert await anext(lines) == ""
            assert await anext(lines) == 'data: {"changed": "board"}'
        deadline = time.monotonic() + 10
        while feed.listeners:
            assert time.monotonic() < deadline, "the closed stream's listener was kept"
            await asyncio.sleep(0.02)
