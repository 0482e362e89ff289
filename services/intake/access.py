"""Who may knock on intake's door: per-channel and staff API keys, and a rate limit per key.

Keys are random secrets shown once; only their SHA-256 is stored. Run
`python -m services.intake.access create --name 12345热线 --role channel --channel hotline`
to issue one (and `list`, `revoke KEY_ID`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, Request
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from shared.db import Connection, apply_schema, create_pool, ensure_database
from shared.events import Channel
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.http import Problem


class Role(StrEnum):
    CHANNEL = "channel"  # 受理渠道: files complaints for its channel, withdraws them
    STAFF = "staff"  # 话务/社区工作人员: triage, merge, call back, close, erasure
    ADMIN = "admin"  # 平台管理员: catalogue and keys


# What each role may also do: staff can do what a channel does; admin can do everything.
_GRANTS: dict[Role, frozenset[Role]] = {
    Role.CHANNEL: frozenset({Role.CHANNEL}),
    Role.STAFF: frozenset({Role.CHANNEL, Role.STAFF}),
    Role.ADMIN: frozenset({Role.CHANNEL, Role.STAFF, Role.ADMIN}),
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    channel: Channel | None
    rate_per_minute: int

    def may(self, role: Role) -> bool:
        return role in _GRANTS[self.role]


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    conn: Connection,
    *,
    name: str,
    role: Role,
    channel: Channel | None,
    rate_per_minute: int,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key; the secret is returned once and never stored."""
    if role is Role.CHANNEL and channel is None:
        raise ValueError("a channel key needs its channel")
    secret = secret or f"js_{secrets.token_urlsafe(32)}"
    key_id = f"k_{hash_key(secret)[:12]}"
    await conn.execute(
        "INSERT INTO api_keys (key_id, key_hash, name, role, channel, rate_per_minute) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id) DO NOTHING",
        key_id,
        hash_key(secret),
        name,
        role.value,
        channel.value if channel else None,
        rate_per_minute,
    )
    return ApiKey(key_id, name, role, channel, rate_per_minute), secret


class KeyRing:
    """Looks keys up by hash; remembers answers briefly so a revocation takes effect within `ttl_s`."""

    def __init__(self, ttl_s: float = 10.0) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[str, tuple[float, ApiKey | None]] = {}

    async def find(self, conn: Connection, secret: str) -> ApiKey | None:
        digest = hash_key(secret)
        cached = self._seen.get(digest)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        row = await conn.fetchrow(
            "SELECT key_id, name, role, channel, rate_per_minute FROM api_keys "
            "WHERE key_hash = $1 AND revoked_at IS NULL",
            digest,
        )
        key = (
            ApiKey(
                row["key_id"],
                row["name"],
                Role(row["role"]),
                Channel(row["channel"]) if row["channel"] else None,
                row["rate_per_minute"],
            )
            if row
            else None
        )
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[digest] = (time.monotonic(), key)
        return key


class RateLimiter:
    """A moving one-minute window per key (and per client for the public lookup).

    In memory by default, so each intake replica counts on its own; point
    INTAKE_RATE_LIMIT_STORAGE at redis:// to share the count across replicas.
    """

    def __init__(self, storage: Storage | None = None) -> None:
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())

    @classmethod
    def from_uri(cls, uri: str) -> RateLimiter:
        storage = storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
        assert isinstance(storage, Storage)
        return cls(storage)

    async def check(self, identity: str, per_minute: int) -> None:
        item = RateLimitItemPerMinute(per_minute)
        if await self._limiter.hit(item, identity):
            return
        stats = await self._limiter.get_window_stats(item, identity)
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


async def authenticate(request: Request, secret: str | None) -> ApiKey:
    """The caller's key, after counting the request against its rate limit."""
    runtime = request.app.state.runtime
    if secret is None:
        raise Problem(
            401,
            "缺少 API Key：请在 X-API-Key 请求头中提供 Missing API key (X-API-Key header)",
            headers={"WWW-Authenticate": 'Bearer realm="jiesu-intake"'},
        )
    async with runtime.pool.acquire() as conn:
        key = await runtime.state["keys"].find(conn, secret)
    if key is None:
        raise Problem(
            401,
            "API Key 无效或已吊销 Unknown or revoked API key",
            headers={"WWW-Authenticate": 'Bearer realm="jiesu-intake"'},
        )
    await runtime.state["limiter"].check(f"key:{key.key_id}", key.rate_per_minute)
    return key


def require(role: Role) -> object:
    """A FastAPI dependency: an authenticated key allowed to act as `role`."""

    async def dependency(
        request: Request,
        x_api_key: Annotated[
            str | None, Header(alias="X-API-Key", description="接入密钥 API key")
        ] = None,
    ) -> ApiKey:
        key = await authenticate(request, presented_secret(request, x_api_key))
        if not key.may(role):
            raise Problem(
                403,
                f"密钥「{key.name}」的角色为 {key.role.value}，无权执行此操作 "
                f"A {key.role.value} key may not do this ({role.value} required)",
            )
        return key

    return Depends(dependency)


async def _cli(args: argparse.Namespace) -> None:
    from services.intake.settings import IntakeSettings

    database_url = IntakeSettings().database_url
    await ensure_database(database_url)
    pool = await create_pool(database_url, max_size=1)
    # The key table may not exist yet if intake never started against this database.
    await apply_schema(pool, EVENTSTORE_SCHEMA, Path(__file__).with_name("schema.sql"))
    try:
        async with pool.acquire() as conn:
            if args.command == "create":
                key, secret = await create_key(
                    conn,
                    name=args.name,
                    role=Role(args.role),
                    channel=Channel(args.channel) if args.channel else None,
                    rate_per_minute=args.rate,
                )
                print(f"{key.key_id}\t{secret}\t(只显示一次 shown once)")
            elif args.command == "revoke":
                done = await conn.execute(
                    "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
                    args.key_id,
                )
                print("revoked" if done.endswith("1") else "no such active key")
            else:
                for row in await conn.fetch("SELECT * FROM api_keys ORDER BY created_at"):
                    state = "revoked" if row["revoked_at"] else "active"
                    print(
                        f"{row['key_id']}\t{row['role']}\t{row['channel'] or '-'}\t"
                        f"{row['rate_per_minute']}/min\t{state}\t{row['name']}"
                    )
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="管理接入密钥 Manage intake API keys")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--role", choices=[r.value for r in Role], required=True)
    create.add_argument("--channel", choices=[c.value for c in Channel])
    create.add_argument("--rate", type=int, default=600, help="requests per minute")
    commands.add_parser("list")
    revoke = commands.add_parser("revoke")
    revoke.add_argument("key_id")
    asyncio.run(_cli(parser.parse_args()))


if __name__ == "__main__":
    main()
