"""What every service's door shares: API keys stored only as hashes, a short-lived lookup cache,
and a moving-window rate limit per key. Each service keeps its own key table and roles."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Annotated, Generic, Protocol, TypeVar

import asyncpg
from fastapi import Header, Request
from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from shared.db import Connection, apply_schema, create_pool, ensure_database
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.http import Problem

XApiKey = Annotated[str | None, Header(alias="X-API-Key", description="接入密钥 API key")]


class Keyed(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def rate_per_minute(self) -> int: ...


Key = TypeVar("Key", bound=Keyed)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return f"js_{secrets.token_urlsafe(32)}"


def key_id_of(secret: str) -> str:
    """A public name for a key, derived from it: safe to log and to show in lists."""
    return f"k_{hash_key(secret)[:12]}"


class KeyCache(Generic[Key]):
    """Looks keys up by hash; remembers answers briefly so a revocation takes effect within `ttl_s`."""

    def __init__(
        self,
        lookup: Callable[[Connection, str], Awaitable[Key | None]],
        ttl_s: float = 10.0,
    ) -> None:
        self.lookup = lookup
        self.ttl_s = ttl_s
        self._seen: dict[str, tuple[float, Key | None]] = {}

    def remembered(self, secret: str) -> tuple[bool, Key | None]:
        """(True, the key or None) if the answer for `secret` is fresh; else (False, None)."""
        cached = self._seen.get(hash_key(secret))
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return True, cached[1]
        return False, None

    async def find(
        self, secret: str, connection: Callable[[], AbstractAsyncContextManager[Connection]]
    ) -> Key | None:
        """The key for `secret` (None: unknown or revoked). A connection is taken from
        `connection` only when the answer is not remembered: most requests come with a key
        seen moments before. The database's answer is remembered for `ttl_s`."""
        known, key = self.remembered(secret)
        if known:
            return key
        digest = hash_key(secret)
        async with connection() as conn:
            key = await self.lookup(conn, digest)
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[digest] = (time.monotonic(), key)
        return key

    def forget(self) -> None:
        self._seen.clear()


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


def presented_secret(request: Request, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(
    request: Request,
    secret: str | None,
    keys: KeyCache[Key],
    limiter: RateLimiter,
    realm: str,
) -> Key:
    """The caller's key, after counting the request against its rate limit."""
    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}"'}
    if secret is None:
        raise Problem(
            401,
            "缺少 API Key：请在 X-API-Key 请求头中提供 Missing API key (X-API-Key header)",
            headers=challenge,
        )
    key = await keys.find(secret, request.app.state.runtime.pool.acquire)
    if key is None:
        raise Problem(401, "API Key 无效或已吊销 Unknown or revoked API key", headers=challenge)
    await limiter.check(f"key:{key.key_id}", key.rate_per_minute)
    return key


KeyCreator = Callable[[Connection, argparse.Namespace], Awaitable[tuple[str, str]]]


def key_cli(
    description: str,
    *,
    database_url: Callable[[], str],
    schema: Path,
    roles: list[str],
    create_arguments: Callable[[argparse.ArgumentParser], object],
    create: KeyCreator,
    scope_of: Callable[[asyncpg.Record], str],
) -> None:
    """The `create | list | revoke` command every service's key table gets."""
    parser = argparse.ArgumentParser(description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    creating = commands.add_parser("create")
    creating.add_argument("--name", required=True)
    creating.add_argument("--role", choices=roles, required=True)
    creating.add_argument("--rate", type=int, default=600, help="requests per minute")
    create_arguments(creating)
    commands.add_parser("list")
    revoke = commands.add_parser("revoke")
    revoke.add_argument("key_id")
    args = parser.parse_args()

    async def run() -> None:
        url = database_url()
        await ensure_database(url)
        pool = await create_pool(url, max_size=1)
        # The key table may not exist yet if the service never started against this database.
        await apply_schema(pool, EVENTSTORE_SCHEMA, schema)
        try:
            async with pool.acquire() as conn:
                if args.command == "create":
                    key_id, secret = await create(conn, args)
                    print(f"{key_id}\t{secret}\t(只显示一次 shown once)")
                elif args.command == "revoke":
                    done = await conn.execute(
                        "UPDATE api_keys SET revoked_at = now() "
                        "WHERE key_id = $1 AND revoked_at IS NULL",
                        args.key_id,
                    )
                    print("revoked" if done.endswith("1") else "no such active key")
                else:
                    for row in await conn.fetch("SELECT * FROM api_keys ORDER BY created_at"):
                        state = "revoked" if row["revoked_at"] else "active"
                        print(
                            f"{row['key_id']}\t{row['role']}\t{scope_of(row)}\t"
                            f"{row['rate_per_minute']}/min\t{state}\t{row['name']}"
                        )
        finally:
            await pool.close()

    asyncio.run(run())
