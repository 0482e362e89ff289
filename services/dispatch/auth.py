"""Who may act in dispatch: each unit on its own work orders, supervisors within their areas.

A responder key belongs to one unit of the city model: it sees and acts on that unit's orders
only. A street office (街道) or district government key also supervises the areas the unit
serves (approves extensions, urges, blows the whistle, arbitrates); a supervisor key (the
12345 centre, a party working committee) supervises an area scope, or the whole city; an admin
key loads the city model. Run
`python -m services.dispatch.auth create --name 玫城丽都物业 --role responder --responder property-meicheng`
to issue one (and `list`, `revoke KEY_ID`); the secret is shown once and only its hash is kept.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fastapi import Request

from services.dispatch.city import CityModel, Responder, ResponderKind
from shared.apikeys import (
    KeyCache,
    XApiKey,
    authenticate,
    for_audience,
    hash_key,
    key_cli,
    key_id_of,
    new_secret,
    presented_secret,
    refuse_role,
)
from shared.areas import like_patterns
from shared.db import Connection
from shared.http import Problem


class Role(StrEnum):
    RESPONDER = "responder"  # 承办单位: its own work orders
    SUPERVISOR = "supervisor"  # 督办: an area scope (12345 中心, 街道党工委…)
    ADMIN = "admin"  # 平台管理员: the city model, calendar and everything else


# Units whose key also supervises the areas they serve.
SUPERVISING_KINDS = frozenset({ResponderKind.STREET_OFFICE, ResponderKind.DISTRICT_GOVERNMENT})


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    responder_id: str | None
    scope: str | None
    rate_per_minute: int


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated key, with the unit it speaks for and the areas it supervises."""

    key: ApiKey
    responder: Responder | None
    scopes: tuple[str, ...] | None  # None: everywhere; (): nowhere

    @property
    def is_admin(self) -> bool:
        return self.key.role is Role.ADMIN

    @property
    def actor(self) -> str:
        return f"{self.key.role.value}:{self.key.name}"

    def holds(self, responder_id: str) -> bool:
        return self.is_admin or (self.responder is not None and self.responder.id == responder_id)

    def supervises(self, model: CityModel, area_code: str) -> bool:
        if self.scopes is None:
            return True
        return any(model.within(area_code, scope) for scope in self.scopes)

    def area_patterns(self) -> list[str] | None:
        """LIKE patterns for the areas supervised (None: everywhere)."""
        if self.scopes is None:
            return None
        return [p for scope in self.scopes for p in like_patterns(scope)]


def caller_for(key: ApiKey, model: CityModel | None) -> Caller:
    if key.role is Role.ADMIN:
        return Caller(key, None, None)
    if key.role is Role.SUPERVISOR:
        return Caller(key, None, (key.scope,) if key.scope else None)
    unit = model.responders.get(key.responder_id or "") if model else None
    if unit is None or model is None:
        raise Problem(
            403,
            f"密钥「{key.name}」所属单位 {key.responder_id} 不在当前城市模型中 "
            "The key's unit is not in the city model",
        )
    scopes = model.served[unit.id] if unit.kind in SUPERVISING_KINDS else ()
    return Caller(key, unit, tuple(scopes))


async def create_key(
    conn: Connection,
    *,
    name: str,
    role: Role,
    responder_id: str | None = None,
    scope: str | None = None,
    rate_per_minute: int = 600,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key; the secret is returned once and never stored."""
    if role is Role.RESPONDER and not responder_id:
        raise ValueError("a responder key needs its responder id")
    secret = secret or new_secret()
    key = ApiKey(key_id_of(secret), name, role, responder_id, scope, rate_per_minute)
    await conn.execute(
        "INSERT INTO api_keys (key_id, key_hash, name, role, responder_id, scope, rate_per_minute) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key_id) DO NOTHING",
        key.key_id,
        hash_key(secret),
        name,
        role.value,
        responder_id,
        scope,
        rate_per_minute,
    )
    return key, secret


async def _find(conn: Connection, digest: str) -> ApiKey | None:
    row = await conn.fetchrow(
        "SELECT key_id, name, role, responder_id, scope, rate_per_minute FROM api_keys "
        "WHERE key_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    if row is None:
        return None
    return ApiKey(
        row["key_id"],
        row["name"],
        Role(row["role"]),
        row["responder_id"],
        row["scope"],
        row["rate_per_minute"],
    )


def key_ring() -> KeyCache[ApiKey]:
    return KeyCache(_find)


async def create_dev_keys(conn: Connection, model: CityModel | None, rate: int) -> None:
    """`dev-key-admin`, `dev-key-supervisor` and `dev-key-<unit id>` for every unit (development only)."""
    await create_key(
        conn, name="dev admin", role=Role.ADMIN, rate_per_minute=rate, secret="dev-key-admin"
    )
    await create_key(
        conn,
        name="dev supervisor",
        role=Role.SUPERVISOR,
        rate_per_minute=rate,
        secret="dev-key-supervisor",
    )
    for unit in model.responders.values() if model else ():
        await create_key(
            conn,
            name=unit.name,
            role=Role.RESPONDER,
            responder_id=unit.id,
            rate_per_minute=rate,
            secret=f"dev-key-{unit.id}",
        )


async def authenticate_caller(request: Request, secret: str | None) -> Caller:
    runtime = request.app.state.runtime
    state = runtime.state
    key = await authenticate(request, secret, state["keys"], state["limiter"], "jiesu-dispatch")
    async with runtime.pool.acquire() as conn:
        model = await state["dispatch"].city.current(conn)
    return caller_for(key, model)


def require(*roles: Role) -> object:
    """A FastAPI dependency: the authenticated caller, if its key has one of `roles`."""

    audience = [r.value for r in Role if r in roles or r is Role.ADMIN]

    async def dependency(request: Request, x_api_key: XApiKey = None) -> Caller:
        caller = await authenticate_caller(request, presented_secret(request, x_api_key))
        if caller.key.role not in roles and not caller.is_admin:
            raise refuse_role(caller.key.name, caller.key.role.value, audience)
        return caller

    return for_audience(dependency, *audience)


async def _create_from(conn: Connection, args: argparse.Namespace) -> tuple[str, str]:
    key, secret = await create_key(
        conn,
        name=args.name,
        role=Role(args.role),
        responder_id=args.responder,
        scope=args.scope,
        rate_per_minute=args.rate,
    )
    return key.key_id, secret


def _create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--responder", help="unit id (responder keys)")
    parser.add_argument("--scope", help="area code a supervisor key covers (default: the city)")


def main() -> None:
    from services.dispatch.settings import DispatchSettings

    key_cli(
        "管理派单密钥 Manage dispatch API keys",
        database_url=lambda: DispatchSettings().database_url,
        schema=Path(__file__).with_name("schema.sql"),
        roles=[r.value for r in Role],
        create_arguments=_create_arguments,
        create=_create_from,
        scope_of=lambda row: row["responder_id"] or row["scope"] or "-",
    )


if __name__ == "__main__":
    main()
