"""One service's key table and door: keys stored as hashes, found by their secret, required by role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Request

from shared.apikeys import KeyStore, StoredKey, hash_key, key_id_of
from shared.runtime import ServiceRuntime, create_service_app
from shared.settings import ServiceSettings


class Role(StrEnum):
    CHANNEL = "channel"
    STAFF = "staff"
    ADMIN = "admin"


class Channel(StrEnum):
    HOTLINE = "hotline"
    WECHAT = "wechat"


@dataclass(frozen=True, slots=True)
class Key(StoredKey[Role]):
    channel: Channel | None = None

    def check(self) -> None:
        if self.role is Role.CHANNEL and self.channel is None:
            raise ValueError("a channel key needs its channel")


KEYS = KeyStore(
    Role, Key, admin=Role.ADMIN, grants={Role.STAFF: {Role.CHANNEL}}, columns={"channel": Channel}
)


class Table:
    """Enough of a connection for one `api_keys` table: the store's insert and lookup."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def execute(self, sql: str, *values: Any) -> str:
        assert sql.startswith("INSERT INTO api_keys (") and "ON CONFLICT (key_id) DO NOTHING" in sql
        columns = sql[sql.index("(") + 1 : sql.index(")")].split(", ")
        row = dict(zip(columns, values, strict=True))
        self.rows.setdefault(row["key_id"], {"revoked_at": None, **row})
        return "INSERT 0 1"

    async def fetchrow(self, sql: str, digest: str) -> dict[str, Any] | None:
        assert "key_hash = $1 AND revoked_at IS NULL" in sql
        found = [r for r in self.rows.values() if r["key_hash"] == digest and not r["revoked_at"]]
        return found[0] if found else None

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Table]:
        yield self


async def test_a_created_key_is_found_by_its_secret_and_only_its_hash_is_stored():
    table = Table()
    key, secret = await KEYS.create(
        table, name="微信公众号", role=Role.CHANNEL, channel=Channel.WECHAT, rate_per_minute=60
    )
    assert key == Key(key_id_of(secret), "微信公众号", Role.CHANNEL, 60, None, Channel.WECHAT)
    assert secret.startswith("js_")
    [row] = table.rows.values()
    assert secret not in row.values() and row["key_hash"] == hash_key(secret)
    assert row["role"] == "channel" and row["channel"] == "wechat"  # values, not enum members
    assert await KEYS.find(table, hash_key(secret)) == key
    assert await KEYS.find(table, hash_key("js_another")) is None
    row["revoked_at"] = "now"
    assert await KEYS.find(table, hash_key(secret)) is None


async def test_a_key_the_service_would_not_issue_is_refused_before_it_is_stored():
    table = Table()
    with pytest.raises(ValueError, match="needs its channel"):
        await KEYS.create(table, name="无渠道", role=Role.CHANNEL)
    assert table.rows == {}


async def test_a_development_key_is_fixed_and_issuing_it_again_changes_nothing():
    table = Table()
    first = await KEYS.create_dev_key(table, Role.STAFF, 6000)
    again = await KEYS.create_dev_key(table, Role.STAFF, 10, name="another name")
    hotline = await KEYS.create_dev_key(
        table, Role.CHANNEL, 6000, label="hotline", channel=Channel.HOTLINE
    )
    assert first.key_id == again.key_id == key_id_of("dev-key-staff")
    assert first.name == "dev staff" and hotline.name == "dev hotline"
    assert await KEYS.find(table, hash_key("dev-key-staff")) == first  # the first one stays
    assert await KEYS.find(table, hash_key("dev-key-hotline")) == hotline
    assert len(table.rows) == 2


def test_admin_acts_as_every_role_and_a_grant_lets_one_role_act_as_another():
    assert KEYS.may(Role.ADMIN, Role.CHANNEL) and KEYS.may(Role.ADMIN, Role.STAFF)
    assert KEYS.may(Role.STAFF, Role.CHANNEL) and not KEYS.may(Role.CHANNEL, Role.STAFF)
    assert KEYS.audience(Role.CHANNEL) == ["channel", "staff", "admin"]
    assert KEYS.audience(Role.STAFF) == ["staff", "admin"]
    assert KEYS.audience() == ["admin"]


def door(keys: KeyStore[Role, Key], table: Table, router: APIRouter) -> httpx.AsyncClient:
    runtime: ServiceRuntime[ServiceSettings, None] = ServiceRuntime(
        ServiceSettings(service_name="door"), keys=keys.ring()
    )
    runtime._pool = table  # type: ignore[assignment]
    app = create_service_app(runtime, title="door", description="", routers=[router])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://door")


async def test_a_route_requiring_a_role_admits_its_audience_and_refuses_the_rest():
    router = APIRouter()

    @router.post("/triage")
    async def triage(key: Annotated[Key, KEYS.require(Role.STAFF)]) -> dict[str, str]:
        return {"actor": key.actor}

    @router.post("/complaints")
    async def file(key: Annotated[Key, KEYS.require(Role.CHANNEL)]) -> dict[str, str]:
        return {"actor": key.actor}

    table = Table()
    _, channel = await KEYS.create(table, name="热线", role=Role.CHANNEL, channel=Channel.HOTLINE)
    _, staff = await KEYS.create(table, name="榆山街道", role=Role.STAFF, scope="370124001000")
    _, admin = await KEYS.create(table, name="平台", role=Role.ADMIN)
    async with door(KEYS, table, router) as http:
        nobody = await http.post("/triage")
        refused = await http.post("/triage", headers={"X-API-Key": channel})
        by_staff = await http.post("/triage", headers={"Authorization": f"Bearer {staff}"})
        by_admin = await http.post("/triage", headers={"X-API-Key": admin})
        filed = await http.post("/complaints", headers={"X-API-Key": staff})
        in_query = await http.post("/triage", params={"api_key": staff})
    assert nobody.status_code == 401 and nobody.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.status_code == 403 and refused.json()["audience"] == ["staff", "admin"]
    assert "热线" in refused.json()["detail"]
    assert by_staff.json() == {"actor": "staff:榆山街道"}
    assert by_admin.json() == {"actor": "admin:平台"}
    assert filed.json() == {"actor": "staff:榆山街道"}  # staff may file as a channel does
    assert in_query.status_code == 401  # this store takes keys from headers only


async def test_a_caller_is_made_of_the_key_and_a_key_may_come_in_the_query_where_allowed():
    streaming = KeyStore(Role, Key, admin=Role.ADMIN, key_in_query=True)

    async def caller(request: Request, key: Key) -> str:
        return f"{key.name} at {request.url.path}"

    router = APIRouter()

    @router.get("/stream")
    async def stream(who: str = streaming.require(Role.STAFF, caller=caller)) -> str:
        # A default, not an Annotated type: the store is local, and annotations are strings here.
        return who

    table = Table()
    _, staff = await streaming.create(table, name="大屏", role=Role.STAFF)
    _, channel = await streaming.create(
        table, name="热线", role=Role.CHANNEL, channel=Channel.HOTLINE
    )
    async with door(streaming, table, router) as http:
        watching = await http.get("/stream", params={"api_key": staff})
        refused = await http.get("/stream", params={"api_key": channel})
    assert watching.json() == "大屏 at /stream"
    assert refused.status_code == 403 and refused.json()["audience"] == ["staff", "admin"]
