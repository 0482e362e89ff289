"""The board's live feed: one LISTEN connection per reporting process, fanned out in memory to
every open stream of the board's pages.

The live consumer's batch transaction notifies `store.BOARD_CHANNEL` when it wrote what the
board shows (one NOTIFY per batch). Each process listens once, whatever the number of pages
open on it, and wakes each page's stream; a page then fetches the board again. A notification
is a wake-up only: after the connection is lost and made again every stream is woken, since
what changed meanwhile was not heard."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg

from services.reporting.store import BOARD_CHANNEL
from shared.db import connect
from shared.waits import woken

log = logging.getLogger(__name__)

RETRY_S = (0.5, 10.0)  # first and longest wait before listening again after a lost connection


class Listener:
    """One stream's end of the feed: `changes()` yields once the board changed, at most once
    per `min_interval_s` (a burst of batches is one update)."""

    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._changed = asyncio.Event()
        self._last = float("-inf")

    def wake(self) -> None:
        self._changed.set()

    async def changed(self, timeout: float | None = None) -> bool:
        """True when the board changed (paced), False when `timeout` passed first."""
        if not await woken(self._changed, timeout):
            return False
        # Wait out the pace before clearing: what lands meanwhile is part of this update.
        pause = self._last + self.min_interval_s - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        self._changed.clear()
        self._last = time.monotonic()
        return True


class BoardFeed:
    def __init__(self, channel: str = BOARD_CHANNEL, min_interval_s: float = 1.0) -> None:
        self.channel = channel
        self.min_interval_s = min_interval_s
        self.listeners: set[Listener] = set()
        self.listening = asyncio.Event()  # set while the LISTEN connection is up

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[Listener]:
        """A stream's listener, woken at once (the page may have missed a change since it was
        rendered) and dropped when the stream ends (its client went away)."""
        listener = Listener(self.min_interval_s)
        listener.wake()
        self.listeners.add(listener)
        try:
            yield listener
        finally:
            self.listeners.discard(listener)

    def wake_all(self, *_: Any) -> None:
        for listener in self.listeners:
            listener.wake()

    async def run(self, database_url: str) -> None:
        """Listen until cancelled, connecting again whenever the connection is lost."""
        delay = RETRY_S[0]
        while True:
            try:
                await self._listen_once(await connect(database_url))
                delay = RETRY_S[0]
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("board feed: %s; listening again in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_S[1])

    async def _listen_once(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        try:
            await conn.add_listener(self.channel, self.wake_all)
            self.listening.set()
            self.wake_all()  # what changed while no one listened
            await lost.wait()
            log.warning("board feed: the LISTEN connection was lost; listening again")
        finally:
            self.listening.clear()
            with suppress(Exception):
                await conn.close(timeout=2)
