"""What every service's door shares: API keys stored only as hashes, a short-lived lookup cache,
a moving-window rate limit per key, and the audience every route declares. Each service keeps
its own key table and roles.

Every route names who may call it in one place, its key dependency (`require(...)` of the
service, or `PUBLIC`); `declare_audiences` copies that into the route's OpenAPI operation as
`x-audience` and refuses to build an app with a route that names nobody. A refusal for the
wrong role is a 403 carrying the `audience` it needed, so a test can tell it from any other."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Protocol, TypeVar

import asyncpg
from fastapi import Depends, FastAPI, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from shared.db import Connection, apply_schema, create_pool, ensure_database
from shared.eventstore import SCHEMA as EVENTSTORE_SCHEMA
from shared.http import Problem, problem_response
from shared.settings import DEV_KEY_PREFIX

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
    state = runtime.state
    return await authenticate(
        request, secret, state["keys"], state["limiter"], f"jiesu-{runtime.name}"
    )


# --- audiences: who each route is for --------------------------------------------------------

PUBLIC_AUDIENCE = "public"  # anyone, no key


def for_audience(dependency: Callable[..., object], *roles: str, key_in_body: bool = False) -> Any:
    """`Depends(dependency)`, the dependency marked as admitting `roles` (its key's role names).

    `key_in_body`: the route reads its key from the body (Open311's `api_key` form field), so
    `KeyFirst` cannot check it first; the body limit still bounds what it reads."""
    dependency.__audience__ = tuple(roles)  # type: ignore[attr-defined]
    dependency.__key_in_body__ = key_in_body  # type: ignore[attr-defined]
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
                return not (audience.public or audience.key_in_body)
        return False


async def store_key(
    conn: Connection, secret: str, name: str, role: str, rate_per_minute: int, **scope: object
) -> str:
    """Add a key to the service's `api_keys` table (its hash only; `scope`: the table's own
    columns, such as an area); an existing key stays as it was. Returns the key's id."""
    key_id = key_id_of(secret)
    columns = ["key_id", "key_hash", "name", "role", "rate_per_minute", *scope]
    values = [key_id, hash_key(secret), name, role, rate_per_minute, *scope.values()]
    await conn.execute(
        f"INSERT INTO api_keys ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'${i}' for i in range(1, len(values) + 1))}) "
        "ON CONFLICT (key_id) DO NOTHING",
        *values,
    )
    return key_id


async def find_active_key(conn: Connection, digest: str) -> asyncpg.Record | None:
    """The `api_keys` row of an unrevoked key by its hash."""
    return await conn.fetchrow(
        "SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", digest
    )


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
