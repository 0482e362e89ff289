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

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fastapi import Request, params

from services.dispatch.domain.city import CityModel, Responder, ResponderKind
from shared.apikeys import KeyStore, StoredKey
from shared.db import Connection
from shared.events.area import like_patterns
from shared.http import Problem


class Role(StrEnum):
    RESPONDER = "responder"  # 承办单位: its own work orders
    SUPERVISOR = "supervisor"  # 督办: an area scope (12345 中心, 街道党工委…)
    ADMIN = "admin"  # 平台管理员: the city model, calendar and everything else


# Units whose key also supervises the areas they serve.
SUPERVISING_KINDS = frozenset({ResponderKind.STREET_OFFICE, ResponderKind.DISTRICT_GOVERNMENT})


@dataclass(frozen=True, slots=True)
class ApiKey(StoredKey[Role]):
    """A dispatch key; a supervisor key's `scope` is its area (None: the whole city)."""

    responder_id: str | None = None  # a responder key's unit

    def check(self) -> None:
        if self.role is Role.RESPONDER and not self.responder_id:
            raise ValueError("a responder key needs its responder id")


KEYS = KeyStore(Role, ApiKey, admin=Role.ADMIN)


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
        return self.key.actor

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


async def create_dev_keys(conn: Connection, model: CityModel | None, rate: int) -> None:
    """`dev-key-admin`, `dev-key-supervisor` and `dev-key-<unit id>` for every unit (development only)."""
    await KEYS.create_dev_key(conn, Role.ADMIN, rate)
    await KEYS.create_dev_key(conn, Role.SUPERVISOR, rate)
    for unit in model.responders.values() if model else ():
        await KEYS.create_dev_key(
            conn, Role.RESPONDER, rate, label=unit.id, name=unit.name, responder_id=unit.id
        )


async def _caller(request: Request, key: ApiKey) -> Caller:
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        model = await runtime.app.city.current(conn)
    return caller_for(key, model)


def require(*roles: Role) -> params.Depends:
    """A FastAPI dependency: the authenticated caller, if its key has one of `roles`."""
    return KEYS.require(*roles, caller=_caller)


def main() -> None:
    from services.dispatch.settings import DispatchSettings

    KEYS.cli(
        "管理派单密钥 Manage dispatch API keys",
        database_url=lambda: DispatchSettings().database_url,
        schema=Path(__file__).with_name("schema.sql"),
        options={
            "--responder": {
                "dest": "responder_id",
                "metavar": "RESPONDER",
                "help": "unit id (responder keys)",
            },
            "--scope": {"help": "area code a supervisor key covers (default: the city)"},
        },
        listed=lambda row: row["responder_id"] or row["scope"] or "-",
    )


if __name__ == "__main__":
    main()
