"""Who may read what in reporting: the public board, measures, rankings and hot spots are open
to anyone and hold no resident data; cases (with their text, address, masked phone, ratings
and timeline), their CSV export and the deliberation agendas need a key, and show only the
areas the key covers.

A staff key (社区/街道工作人员) covers one area; a supervisor key (督办: the 12345 centre, a
district or street working committee) covers one area or, without a scope, the whole city; an
admin key covers everything. Run
`python -m services.reporting.auth create --name 榆山街道督办 --role supervisor --scope 370124001000`
to issue one (and `list`, `revoke KEY_ID`); the secret is shown once and only its hash is kept.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from fastapi import Request

from shared.apikeys import (
    KeyCache,
    XApiKey,
    authenticate_service_key,
    find_active_key,
    for_audience,
    key_cli,
    new_secret,
    presented_secret,
    refuse_role,
    store_key,
)
from shared.db import Connection

SCHEMA = Path(__file__).with_name("schema") / "access.sql"


class Role(StrEnum):
    STAFF = "staff"  # 社区/街道工作人员: the cases of one area
    SUPERVISOR = "supervisor"  # 督办: an area, or the whole city
    ADMIN = "admin"  # 平台管理员: everything


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    scope: str | None  # an area code; None: the whole city
    rate_per_minute: int

    @property
    def area(self) -> str | None:
        """The area this key may read (None: everywhere)."""
        return None if self.role is Role.ADMIN else self.scope


async def create_key(
    conn: Connection,
    *,
    name: str,
    role: Role,
    scope: str | None = None,
    rate_per_minute: int = 600,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key; the secret is returned once and never stored. A staff key needs its area."""
    if role is Role.STAFF and not scope:
        raise ValueError("a staff key needs the area it covers (--scope)")
    secret = secret or new_secret()
    key_id = await store_key(conn, secret, name, role.value, rate_per_minute, scope=scope)
    return ApiKey(key_id, name, role, scope, rate_per_minute), secret


async def _find(conn: Connection, digest: str) -> ApiKey | None:
    row = await find_active_key(conn, digest)
    if row is None:
        return None
    return ApiKey(
        row["key_id"], row["name"], Role(row["role"]), row["scope"], row["rate_per_minute"]
    )


def key_ring() -> KeyCache[ApiKey]:
    return KeyCache(_find)


async def create_dev_keys(conn: Connection, rate: int) -> None:
    """`dev-key-admin` and `dev-key-supervisor` (the whole city), for local use only."""
    for role in (Role.ADMIN, Role.SUPERVISOR):
        await create_key(
            conn,
            name=f"dev {role.value}",
            role=role,
            rate_per_minute=rate,
            secret=f"dev-key-{role.value}",
        )


def require(*roles: Role) -> Any:
    """A FastAPI dependency: the caller's key, if its role is among `roles` (admin always is)."""
    audience = [r.value for r in Role if r in roles or r is Role.ADMIN]

    async def dependency(request: Request, x_api_key: XApiKey = None) -> ApiKey:
        key = await authenticate_service_key(request, presented_secret(request, x_api_key))
        assert isinstance(key, ApiKey)
        if key.role.value not in audience:
            raise refuse_role(key.name, key.role.value, audience)
        return key

    return for_audience(dependency, *audience)


READER = require(Role.STAFF, Role.SUPERVISOR)  # cases, exports, agendas: within the key's area
OPERATOR = require(Role.SUPERVISOR)  # the read models' state


async def _create_from(conn: Connection, args: argparse.Namespace) -> tuple[str, str]:
    key, secret = await create_key(
        conn, name=args.name, role=Role(args.role), scope=args.scope, rate_per_minute=args.rate
    )
    return key.key_id, secret


def main() -> None:
    from services.reporting.settings import ReportingSettings

    key_cli(
        "管理统计服务密钥 Manage reporting API keys",
        database_url=lambda: ReportingSettings().database_url,
        schema=SCHEMA,
        roles=[r.value for r in Role],
        create_arguments=lambda parser: parser.add_argument(
            "--scope", help="area code the key covers (default: the whole city)"
        ),
        create=_create_from,
        scope_of=lambda row: row["scope"] or "-",
    )


if __name__ == "__main__":
    main()
