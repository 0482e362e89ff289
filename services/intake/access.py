"""Who may knock on intake's door: per-channel and staff API keys, and a rate limit per key.

Keys are random secrets shown once; only their SHA-256 is stored. Run
`python -m services.intake.access create --name 12345热线 --role channel --channel hotline`
to issue one (and `list`, `revoke KEY_ID`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fastapi import Depends, Request

from shared.apikeys import (
    KeyCache,
    XApiKey,
    authenticate,
    hash_key,
    key_cli,
    key_id_of,
    new_secret,
    presented_secret,
)
from shared.db import Connection
from shared.events import Channel
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
    secret = secret or new_secret()
    key_id = key_id_of(secret)
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


async def _find(conn: Connection, digest: str) -> ApiKey | None:
    row = await conn.fetchrow(
        "SELECT key_id, name, role, channel, rate_per_minute FROM api_keys "
        "WHERE key_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    if row is None:
        return None
    return ApiKey(
        row["key_id"],
        row["name"],
        Role(row["role"]),
        Channel(row["channel"]) if row["channel"] else None,
        row["rate_per_minute"],
    )


def key_ring() -> KeyCache[ApiKey]:
    return KeyCache(_find)


async def authenticate_key(request: Request, secret: str | None) -> ApiKey:
    """The caller's intake key, after counting the request against its rate limit."""
    state = request.app.state.runtime.state
    return await authenticate(request, secret, state["keys"], state["limiter"], "jiesu-intake")


def require(role: Role) -> object:
    """A FastAPI dependency: an authenticated key allowed to act as `role`."""

    async def dependency(request: Request, x_api_key: XApiKey = None) -> ApiKey:
        key = await authenticate_key(request, presented_secret(request, x_api_key))
        if not key.may(role):
            raise Problem(
                403,
                f"密钥「{key.name}」的角色为 {key.role.value}，无权执行此操作 "
                f"A {key.role.value} key may not do this ({role.value} required)",
            )
        return key

    return Depends(dependency)


async def _create_from(conn: Connection, args: argparse.Namespace) -> tuple[str, str]:
    key, secret = await create_key(
        conn,
        name=args.name,
        role=Role(args.role),
        channel=Channel(args.channel) if args.channel else None,
        rate_per_minute=args.rate,
    )
    return key.key_id, secret


def main() -> None:
    from services.intake.settings import IntakeSettings

    key_cli(
        "管理接入密钥 Manage intake API keys",
        database_url=lambda: IntakeSettings().database_url,
        schema=Path(__file__).with_name("schema.sql"),
        roles=[r.value for r in Role],
        create_arguments=lambda p: p.add_argument("--channel", choices=[c.value for c in Channel]),
        create=_create_from,
        scope_of=lambda row: row["channel"] or "-",
    )


if __name__ == "__main__":
    main()
