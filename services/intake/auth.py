"""Who may knock on intake's door: per-channel and staff API keys, and a rate limit per key.

Keys are random secrets shown once; only their SHA-256 is stored. Run
`python -m services.intake.auth create --name 12345热线 --role channel --channel hotline`
to issue one (`--role staff --scope 370124001000` for a street's staff; `--role notify` for the
notification service; `--role reporting` for reporting, which opens sealed filings;
`--role sms_gateway` for the SMS gateway's uplink; `list`, `revoke KEY_ID`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fastapi import Request

from shared.apikeys import (
    KeyCache,
    XApiKey,
    authenticate,
    find_active_key,
    for_audience,
    key_cli,
    new_secret,
    presented_secret,
    refuse_role,
    store_key,
)
from shared.areas import within
from shared.db import Connection
from shared.events import Channel


class Role(StrEnum):
    CHANNEL = "channel"  # 受理渠道: files complaints for its channel, withdraws them
    STAFF = "staff"  # 话务/社区工作人员: triage, merge, call back, close, erasure (in its area)
    NOTIFY = "notify"  # 通知服务: reads residents' contacts in batches to send their messages
    REPORTING = "reporting"  # 统计服务: fetches residents' words keys to open sealed filings
    SMS_GATEWAY = "sms_gateway"  # 短信网关: forwards residents' replies (their ratings)
    ADMIN = "admin"  # 平台管理员: catalogue and keys


# What each role may also do: staff can do what a channel does; admin can do everything.
_GRANTS: dict[Role, frozenset[Role]] = {
    Role.CHANNEL: frozenset({Role.CHANNEL}),
    Role.STAFF: frozenset({Role.CHANNEL, Role.STAFF}),
    Role.NOTIFY: frozenset({Role.NOTIFY}),
    Role.REPORTING: frozenset({Role.REPORTING}),
    Role.SMS_GATEWAY: frozenset({Role.SMS_GATEWAY}),
    Role.ADMIN: frozenset(Role),
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    channel: Channel | None
    rate_per_minute: int
    scope: str | None = None  # a staff key's area (None: the whole city)

    def may(self, role: Role) -> bool:
        return role in _GRANTS[self.role]

    def covers(self, area_code: str | None) -> bool:
        """Whether a complaint at `area_code` is this key's to see (a staff key: its area)."""
        return self.role is not Role.STAFF or within(area_code, self.scope)

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}"


async def create_key(
    conn: Connection,
    *,
    name: str,
    role: Role,
    channel: Channel | None,
    rate_per_minute: int,
    secret: str | None = None,
    scope: str | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key; the secret is returned once and never stored."""
    if role is Role.CHANNEL and channel is None:
        raise ValueError("a channel key needs its channel")
    secret = secret or new_secret()
    key_id = await store_key(
        conn,
        secret,
        name,
        role.value,
        rate_per_minute,
        channel=channel.value if channel else None,
        scope=scope,
    )
    return ApiKey(key_id, name, role, channel, rate_per_minute, scope), secret


async def _find(conn: Connection, digest: str) -> ApiKey | None:
    row = await find_active_key(conn, digest)
    if row is None:
        return None
    return ApiKey(
        row["key_id"],
        row["name"],
        Role(row["role"]),
        Channel(row["channel"]) if row["channel"] else None,
        row["rate_per_minute"],
        row["scope"],
    )


def key_ring() -> KeyCache[ApiKey]:
    return KeyCache(_find)


async def authenticate_key(request: Request, secret: str | None) -> ApiKey:
    """The caller's intake key, after counting the request against its rate limit."""
    state = request.app.state.runtime.state
    return await authenticate(request, secret, state["keys"], state["limiter"], "jiesu-intake")


def require(*roles: Role) -> object:
    """A FastAPI dependency: an authenticated key allowed to act as one of `roles`."""
    audience = sorted({r for role in roles for r in audience_of(role)})

    async def dependency(request: Request, x_api_key: XApiKey = None) -> ApiKey:
        key = await authenticate_key(request, presented_secret(request, x_api_key))
        if not any(key.may(role) for role in roles):
            raise refuse_role(key.name, key.role.value, audience)
        return key

    return for_audience(dependency, *audience)


def audience_of(role: Role) -> list[str]:
    """The roles whose keys may act as `role`."""
    return [r.value for r in Role if role in _GRANTS[r]]


async def _create_from(conn: Connection, args: argparse.Namespace) -> tuple[str, str]:
    key, secret = await create_key(
        conn,
        name=args.name,
        role=Role(args.role),
        channel=Channel(args.channel) if args.channel else None,
        rate_per_minute=args.rate,
        scope=args.scope,
    )
    return key.key_id, secret


def _create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", choices=[c.value for c in Channel])
    parser.add_argument("--scope", help="area code a staff key covers (default: the whole city)")


def main() -> None:
    from services.intake.settings import IntakeSettings

    key_cli(
        "管理接入密钥 Manage intake API keys",
        database_url=lambda: IntakeSettings().database_url,
        schema=Path(__file__).with_name("schema.sql"),
        roles=[r.value for r in Role],
        create_arguments=_create_arguments,
        create=_create_from,
        scope_of=lambda row: row["channel"] or row["scope"] or "-",
    )


if __name__ == "__main__":
    main()
