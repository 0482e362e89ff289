"""Who may use notify's API: admin keys manage subscriptions, the directory and dead letters;
ops keys read notifications and watch the live stream; a subscriber key (a downstream system)
manages its own webhook subscriptions, within its area and event types. Run
`python -m services.notify.auth create --name 运维大屏 --role ops` to issue one (and `list`,
`revoke KEY_ID`); the secret is shown once and only its hash is kept.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fastapi import Query, Request

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


class Role(StrEnum):
    OPS = "ops"  # 运维/指挥中心：看通知、看实时流（全市，或一个区域）
    ADMIN = "admin"  # 平台管理员：订阅、通讯录、死信
    SUBSCRIBER = "subscriber"  # 订阅方（下游系统）：只管自己的订阅，限其区域与事件类型


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    rate_per_minute: int
    scope: str | None = None  # an ops or subscriber key's area (None: the whole city)
    # A subscriber key's event types (None: any it may subscribe to).
    event_types: tuple[str, ...] | None = None

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}"

    @property
    def area(self) -> str | None:
        """The area this key may watch (None: everywhere)."""
        return None if self.role is Role.ADMIN else self.scope

    def covers(self, area_code: str | None) -> bool:
        return within(area_code, self.area)

    def allows(self, event_types: list[str]) -> bool:
        """Whether a subscription to `event_types` (none: every type) is within this key's."""
        if self.role is Role.ADMIN or self.event_types is None:
            return True
        return bool(event_types) and set(event_types) <= set(self.event_types)


async def create_key(
    conn: Connection,
    *,
    name: str,
    role: Role,
    rate_per_minute: int = 600,
    secret: str | None = None,
    scope: str | None = None,
    event_types: list[str] | None = None,
) -> tuple[ApiKey, str]:
    secret = secret or new_secret()
    key_id = await store_key(
        conn, secret, name, role.value, rate_per_minute, scope=scope, event_types=event_types
    )
    types = tuple(event_types) if event_types is not None else None
    return ApiKey(key_id, name, role, rate_per_minute, scope, types), secret


async def _find(conn: Connection, digest: str) -> ApiKey | None:
    row = await find_active_key(conn, digest)
    if row is None:
        return None
    types = row["event_types"]
    return ApiKey(
        row["key_id"],
        row["name"],
        Role(row["role"]),
        row["rate_per_minute"],
        row["scope"],
        tuple(types) if types is not None else None,
    )


def key_ring() -> KeyCache[ApiKey]:
    return KeyCache(_find)


def require(*roles: Role) -> object:
    """The caller's key (header, bearer token, or `api_key` for a browser's EventSource), if
    its role is among `roles` or admin."""
    admitted = {Role.ADMIN, *roles}
    audience = [r.value for r in Role if r in admitted]

    async def dependency(
        request: Request,
        x_api_key: XApiKey = None,
        api_key: str | None = Query(None, include_in_schema=False),
    ) -> ApiKey:
        state = request.app.state.runtime.state
        secret = presented_secret(request, x_api_key) or api_key
        key = await authenticate(request, secret, state["keys"], state["limiter"], "jiesu-notify")
        if key.role not in admitted:
            raise refuse_role(key.name, key.role.value, audience)
        return key

    return for_audience(dependency, *audience)


async def _create_from(conn: Connection, args: argparse.Namespace) -> tuple[str, str]:
    types = [t for t in (args.event_types or "").split(",") if t] or None
    key, secret = await create_key(
        conn,
        name=args.name,
        role=Role(args.role),
        rate_per_minute=args.rate,
        scope=args.scope,
        event_types=types,
    )
    return key.key_id, secret


def _create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scope", help="area code an ops or subscriber key covers (default: the whole city)"
    )
    parser.add_argument(
        "--event-types",
        help="a subscriber key's event types, comma-separated (default: any subscribable)",
    )


def main() -> None:
    from services.notify.settings import NotifySettings

    key_cli(
        "管理通知服务密钥 Manage notify API keys",
        database_url=lambda: NotifySettings().database_url,
        schema=Path(__file__).with_name("schema.sql"),
        roles=[r.value for r in Role],
        create_arguments=_create_arguments,
        create=_create_from,
        scope_of=lambda row: (
            (row["scope"] or "-")
            + (f" {','.join(row['event_types'])}" if row["event_types"] else "")
        ),
    )


if __name__ == "__main__":
    main()
