"""What every service's door shares: API keys stored only as hashes, a short-lived lookup cache,
a rate limit per key (shared.ratelimit), the audience every route declares, and `KeyStore`: one
service's key table (find, create, require a role, the operator's command), parameterised by
the service's roles. Each service keeps its own table, roles and policy (services/*/auth.py).

Every route names who may call it in one place, its key dependency (`require(...)` of the
service, or `PUBLIC`); `declare_audiences` copies that into the route's OpenAPI operation as
`x-audience` and refuses to build an app with a route that names nobody. A refusal for the
wrong role is a 403 carrying the `audience` it needed, so a test can tell it from any other."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Generic, Protocol, TypeVar

import asyncpg
from fastapi import Depends, FastAPI, Header, Query, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from shared.db import Connection, apply_schema, create_pool, ensure_database
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.http import Problem, problem_response
from shared.ratelimit import RateLimiter
from shared.settings import DEV_KEY_PREFIX

XApiKey = Annotated[str | None, Header(alias="X-API-Key", description="接入密钥 API key")]


class Keyed(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def rate_per_minute(self) -> int: ...


Key = TypeVar("Key", bound=Keyed)
Role = TypeVar("Role", bound=StrEnum)


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


def presented_secret(request: Request, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


_AUTHENTICATED = "jiesu.key"  # scope entry: (secret, key) once a request's key is checked


async def authenticate(
    request: Request,
    secret: str | None,
    keys: KeyCache[Key],
    limiter: RateLimiter,
    realm: str,
) -> Key:
    """The caller's key, after counting the request against its rate limit (once a request:
    `KeyFirst` may have checked it before the body was read)."""
    checked = request.scope.get(_AUTHENTICATED)
    if checked is not None and secret is not None and checked[0] == secret:
        return checked[1]
    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}"'}
    if secret is None:
        raise Problem(
            401,
            "缺少 API Key：请在 X-API-Key 请求头中提供 Missing API key (X-API-Key header)",
            headers=challenge,
        )
    runtime = request.app.state.runtime
    if secret.startswith(DEV_KEY_PREFIX) and runtime.settings.environment == "production":
        # A development key left in the table from before does not open a production door.
        raise Problem(
            401,
            "开发密钥在生产环境无效 Development keys do not work in production",
            headers=challenge,
        )
    key = await keys.find(secret, runtime.pool.acquire)
    if key is None:
        raise Problem(401, "API Key 无效或已吊销 Unknown or revoked API key", headers=challenge)
    await limiter.check(f"key:{key.key_id}", key.rate_per_minute)
    request.scope[_AUTHENTICATED] = (secret, key)
    return key


async def authenticate_service_key(request: Request, secret: str | None) -> Keyed:
    """The caller's key for the service serving `request` (its runtime's key ring and limiter)."""
    runtime = request.app.state.runtime
    return await authenticate(
        request, secret, runtime.keys, runtime.limiter, f"jiesu-{runtime.name}"
    )


# --- audiences: who each route is for --------------------------------------------------------

PUBLIC_AUDIENCE = "public"  # anyone, no key


def for_audience(
    dependency: Callable[..., object],
    *roles: str,
    key_in_body: bool = False,
    key_in_cookie: bool = False,
) -> Any:
    """`Depends(dependency)`, the dependency marked as admitting `roles` (its key's role names).

    `key_in_body`: the route reads its key from the body (Open311's `api_key` form field), so
    `KeyFirst` cannot check it first; the body limit still bounds what it reads.
    `key_in_cookie`: the route reads its key from a session cookie (the console's pages), which
    its own dependency checks; `KeyFirst` leaves it to that dependency."""
    dependency.__audience__ = tuple(roles)  # type: ignore[attr-defined]
    dependency.__key_in_body__ = key_in_body  # type: ignore[attr-defined]
    dependency.__key_in_cookie__ = key_in_cookie  # type: ignore[attr-defined]
    return Depends(dependency)


async def _anyone() -> None:
    return None


PUBLIC = for_audience(_anyone, PUBLIC_AUDIENCE)
ANY_KEY_AUDIENCE = "any-key"  # any valid key of the service, whatever its role


async def _any_key(request: Request, x_api_key: XApiKey = None) -> Keyed:
    return await authenticate_service_key(request, presented_secret(request, x_api_key))


ANY_KEY = for_audience(_any_key, ANY_KEY_AUDIENCE)


def refuse_role(name: str, role: str, audience: Sequence[str]) -> Problem:
    """The 403 for a key whose role is not among `audience`."""
    return Problem(
        403,
        f"密钥「{name}」的角色为 {role}，无权执行此操作（需要 {'、'.join(audience)}） "
        f"A {role} key may not do this ({' or '.join(audience)} required)",
        audience=list(audience),
    )


def _markers(dependant: Dependant) -> list[Callable[..., object]]:
    """The audience-marked dependencies of a route, however deep."""
    own = [dependant.call] if hasattr(dependant.call, "__audience__") else []
    return own + [m for sub in dependant.dependencies for m in _markers(sub)]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who one operation (`methods` on `path`) is for."""

    path: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    roles: frozenset[str]
    key_in_body: bool = False
    key_in_cookie: bool = False

    @property
    def public(self) -> bool:
        return PUBLIC_AUDIENCE in self.roles

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and self.pattern.match(path) is not None


class UndeclaredAudience(RuntimeError):
    pass


def declare_audiences(app: FastAPI) -> list[Audience]:
    """Each route's audience; the app's OpenAPI document then names it on every operation
    as `x-audience` (and `x-key-in: body` where the key comes in the body).

    Raises UndeclaredAudience naming every route that declares none: a new route must say
    who it is for before the service starts."""
    audiences: list[Audience] = []
    undeclared = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        markers = _markers(route.dependant)
        roles = {role for m in markers for role in m.__audience__}  # type: ignore[attr-defined]
        if not roles:
            undeclared.append(f"{','.join(sorted(route.methods or ()))} {route.path_format}")
            continue
        audiences.append(
            Audience(
                path=route.path_format or "",
                methods=frozenset(route.methods or ()),
                pattern=route.path_regex,
                roles=frozenset({PUBLIC_AUDIENCE} if PUBLIC_AUDIENCE in roles else roles),
                key_in_body=any(m.__key_in_body__ for m in markers),  # type: ignore[attr-defined]
                key_in_cookie=any(getattr(m, "__key_in_cookie__", False) for m in markers),
            )
        )
    if undeclared:
        raise UndeclaredAudience(
            "这些接口未声明调用方 These routes declare no audience: " + "; ".join(undeclared)
        )
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = build_openapi()
        if fresh:
            for audience in audiences:
                operations = document["paths"].get(audience.path, {})
                for method in audience.methods:
                    if method.lower() in operations:
                        operation = operations[method.lower()]
                        operation["x-audience"] = sorted(audience.roles)
                        if audience.key_in_body:
                            operation["x-key-in"] = "body"
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return audiences


_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class KeyFirst:
    """Checks the key of a request that carries a body before anything reads the body.

    A route that is not public answers 401 to a missing or unknown key without taking one
    byte of the upload; the route's own dependency then finds the key already checked."""

    def __init__(self, app: Any, routes: list[Audience]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in _BODYLESS and self._keyed(scope):
            request = Request(scope)
            secret = presented_secret(request, request.headers.get("x-api-key"))
            try:
                await authenticate_service_key(request, secret)
            except Problem as refused:
                response = problem_response(
                    refused.status,
                    refused.detail,
                    title=refused.title,
                    headers=refused.headers,
                    **refused.extensions,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _keyed(self, scope: Any) -> bool:
        method, path = scope["method"], scope["path"]
        for audience in self.routes:
            if audience.matches(method, path):
                return not (audience.public or audience.key_in_body or audience.key_in_cookie)
        return False


@dataclass(frozen=True, slots=True)
class StoredKey(Generic[Role]):
    """A key as its service's table holds it; a service adds its own columns (a channel, a
    unit, event types) and its policy (what the key covers) in a subclass."""

    key_id: str
    name: str
    role: Role
    rate_per_minute: int
    scope: str | None = None  # an area code (None: the whole city)

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}"

    def check(self) -> None:
        """Raises ValueError if the service would not issue this key (a column it needs is
        missing); called before a key is stored, not when one is read."""


Stored = TypeVar("Stored", bound=StoredKey[Any])


class KeyStore(Generic[Role, Stored]):
    """One service's keys: its `api_keys` table, its roles, and who may act as whom.

    `admin` may act as every role, every role as itself, and `grants` names what else a role
    may do (intake's staff file complaints as a channel does). `columns` turns the values of
    the service's own columns into the key's (None stays None). `key_in_query`: a key may also
    come as `?api_key=` (a browser's EventSource cannot send headers)."""

    def __init__(
        self,
        roles: type[Role],
        key: type[Stored],
        *,
        admin: Role,
        grants: Mapping[Role, Iterable[Role]] | None = None,
        columns: Mapping[str, Callable[[Any], object]] | None = None,
        key_in_query: bool = False,
    ) -> None:
        self.roles = roles
        self.key = key
        self.admin = admin
        self.grants = {role: frozenset(also) for role, also in (grants or {}).items()}
        self.columns = dict(columns or {})
        self.key_in_query = key_in_query
        self._fields = [f.name for f in fields(key)]

    # --- the table --------------------------------------------------------------------------

    def key_of(self, row: asyncpg.Record | Mapping[str, Any]) -> Stored:
        """The key a row of the table (or the values of a new one) describes."""
        values: dict[str, Any] = {name: row.get(name) for name in self._fields}
        values["role"] = self.roles(values["role"])
        for name, parse in self.columns.items():
            if values[name] is not None:
                values[name] = parse(values[name])
        return self.key(**values)

    async def find(self, conn: Connection, digest: str) -> Stored | None:
        """The unrevoked key whose secret hashes to `digest`."""
        row = await conn.fetchrow(
            "SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", digest
        )
        return None if row is None else self.key_of(row)

    def ring(self) -> KeyCache[Stored]:
        """A cache of this table's keys, for one running service."""
        return KeyCache(self.find)

    async def create(
        self,
        conn: Connection,
        *,
        name: str,
        role: Role,
        rate_per_minute: int = 600,
        secret: str | None = None,
        scope: str | None = None,
        **columns: object,
    ) -> tuple[Stored, str]:
        """Issue a key; the secret is returned once and never stored (only its hash). A key
        whose secret is already in the table stays as it was."""
        secret = secret or new_secret()
        values: dict[str, object] = {
            "key_id": key_id_of(secret),
            "name": name,
            "role": role.value,
            "rate_per_minute": rate_per_minute,
            "scope": scope,
            **{column: _stored(value) for column, value in columns.items()},
        }
        key = self.key_of(values)
        key.check()
        values["key_hash"] = hash_key(secret)
        await conn.execute(
            f"INSERT INTO api_keys ({', '.join(values)}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(values) + 1))}) "
            "ON CONFLICT (key_id) DO NOTHING",
            *values.values(),
        )
        return key, secret

    async def create_dev_key(
        self,
        conn: Connection,
        role: Role,
        rate_per_minute: int,
        *,
        label: str | None = None,
        name: str | None = None,
        **columns: Any,
    ) -> Stored:
        """The fixed key `dev-key-<label>` (label: the role's name) for local use only."""
        label = label or role.value
        key, _ = await self.create(
            conn,
            name=name or f"dev {label}",
            role=role,
            rate_per_minute=rate_per_minute,
            secret=f"{DEV_KEY_PREFIX}{label}",
            **columns,
        )
        return key

    # --- the door ---------------------------------------------------------------------------

    def may(self, holder: Role, role: Role) -> bool:
        """Whether a key of role `holder` may act as `role`."""
        return holder is self.admin or holder is role or role in self.grants.get(holder, ())

    def admits(self, holder: Role, roles: Iterable[Role]) -> bool:
        """Whether a key of role `holder` may act as one of `roles` (admin always may)."""
        return holder is self.admin or any(self.may(holder, role) for role in roles)

    def audience(self, *roles: Role) -> list[str]:
        """The roles whose keys may act as one of `roles`, in the roles' order."""
        return [r.value for r in self.roles if self.admits(r, roles)]

    async def authenticate(self, request: Request, secret: str | None) -> Stored:
        """The caller's key, after counting the request against its rate limit."""
        key = await authenticate_service_key(request, secret)
        assert isinstance(key, self.key)
        return key

    def require(
        self,
        *roles: Role,
        caller: Callable[[Request, Stored], Awaitable[object]] | None = None,
    ) -> params.Depends:
        """A FastAPI dependency: the authenticated key (or what `caller` makes of it) if the key
        may act as one of `roles`; else 401 (no key, unknown) or 403 naming the audience."""
        audience = self.audience(*roles)

        async def admit(request: Request, secret: str | None) -> object:
            key = await self.authenticate(request, secret)
            who = key if caller is None else await caller(request, key)
            if not self.admits(key.role, roles):
                raise refuse_role(key.name, key.role.value, audience)
            return who

        if self.key_in_query:

            async def dependency(
                request: Request,
                x_api_key: XApiKey = None,
                api_key: str | None = Query(None, include_in_schema=False),
            ) -> object:
                return await admit(request, presented_secret(request, x_api_key) or api_key)

            return for_audience(dependency, *audience)

        async def header_dependency(request: Request, x_api_key: XApiKey = None) -> object:
            return await admit(request, presented_secret(request, x_api_key))

        return for_audience(header_dependency, *audience)

    # --- the operator's command ---------------------------------------------------------------

    def cli(
        self,
        description: str,
        *,
        database_url: Callable[[], str],
        schema: Path,
        options: Mapping[str, Mapping[str, Any]],
        listed: Callable[[asyncpg.Record], str] = lambda row: row["scope"] or "-",
    ) -> None:
        """`create | list | revoke KEY_ID` on the service's key table. `options`: the `create`
        options (argparse's arguments) whose destinations are the service's own columns
        (`--scope` among them); `listed`: what `list` shows of a key's reach."""
        parser = argparse.ArgumentParser(description=description)
        commands = parser.add_subparsers(dest="command", required=True)
        creating = commands.add_parser("create")
        creating.add_argument("--name", required=True)
        creating.add_argument("--role", choices=[r.value for r in self.roles], required=True)
        creating.add_argument("--rate", type=int, default=600, help="requests per minute")
        columns = [creating.add_argument(flag, **kwargs).dest for flag, kwargs in options.items()]
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
                        key, secret = await self.create(
                            conn,
                            name=args.name,
                            role=self.roles(args.role),
                            rate_per_minute=args.rate,
                            **{column: getattr(args, column) for column in columns},
                        )
                        print(f"{key.key_id}\t{secret}\t(只显示一次 shown once)")
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
                                f"{row['key_id']}\t{row['role']}\t{listed(row)}\t"
                                f"{row['rate_per_minute']}/min\t{state}\t{row['name']}"
                            )
            finally:
                await pool.close()

        asyncio.run(run())


def _stored(value: object) -> object:
    """A column's value as the table holds it (an enum member: its value)."""
    return value.value if isinstance(value, Enum) else value
