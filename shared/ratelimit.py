"""A moving one-minute window per identity (a key, or a client address for public reads)."""

from __future__ import annotations

import math
import time
from collections import deque

from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from shared.http import Problem


class LocalWindow:
    """A moving one-minute window per identity, in this process's memory.

    limits' in-memory storage keeps the same window but, on every hit, schedules an expiry
    pass that hops to a worker thread (the async storage) or starts a timer thread (the sync
    one): measured at about a tenth of intake's CPU under load. Here a hit drops what left the
    window and counts what is left: a few microseconds, no thread."""

    WINDOW_S = 60.0
    CROWD = 10_000  # identities before the idle ones are forgotten

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._swept_at = float("-inf")

    def hit(self, identity: str, per_minute: int, now: float) -> float | None:
        """None if the hit is allowed (and counted); else the seconds until one is."""
        hits = self._hits.get(identity)
        if hits is None:
            # At most one sweep a second: a crowd of active callers (many client addresses)
            # must not make every newcomer walk the whole table.
            if len(self._hits) >= self.CROWD and now - self._swept_at >= 1.0:
                self._swept_at = now
                self._forget_idle(now)
            hits = self._hits[identity] = deque()
        while hits and hits[0] <= now - self.WINDOW_S:
            hits.popleft()
        if len(hits) < per_minute:
            hits.append(now)
            return None
        return hits[0] + self.WINDOW_S - now

    def _forget_idle(self, now: float) -> None:
        for identity in [i for i, h in self._hits.items() if not h or h[-1] <= now - self.WINDOW_S]:
            del self._hits[identity]


class RateLimiter:
    """A moving one-minute window per identity (a key, or a client address for public reads).

    In memory by default, so each replica counts on its own; a redis:// storage URI shares the
    count across replicas (through limits).
    """

    def __init__(self, storage: Storage | None = None) -> None:
        self._shared = MovingWindowRateLimiter(storage) if storage is not None else None
        self._local = LocalWindow()

    @classmethod
    def from_uri(cls, uri: str) -> RateLimiter:
        if uri.startswith("memory://"):
            return cls()
        storage = storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
        assert isinstance(storage, Storage)
        return cls(storage)

    async def check(self, identity: str, per_minute: int) -> None:
        if self._shared is None:
            wait = self._local.hit(identity, per_minute, time.monotonic())
            if wait is None:
                return
            retry_after = max(1, math.ceil(wait))
        else:
            item = RateLimitItemPerMinute(per_minute)
            if await self._shared.hit(item, identity):
                return
            stats = await self._shared.get_window_stats(item, identity)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise Problem(
            429,
            f"请求过于频繁，请 {retry_after} 秒后再试 Rate limit of {per_minute}/min exceeded; "
            f"retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
