"""Every route says who it is for, and a keyed route checks the key before it reads a body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request

from shared.apikeys import (
    PUBLIC,
    KeyCache,
    UndeclaredAudience,
    XApiKey,
    authenticate_service_key,
    for_audience,
    hash_key,
    presented_secret,
)
from shared.runtime import ServiceRuntime, create_service_app
from shared.settings import ServiceSettings

SECRET = "js_the-one-key"


@dataclass(frozen=True)
class Key:
    key_id: str
    rate_per_minute: int = 600


class Pool:
    """Enough of a pool for the key cache: the lookup below never touches the connection."""

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        yield None


async def lookup(_: Any, digest: str) -> Key | None:
    return Key("k_one") if digest == hash_key(SECRET) else None


async def keyed(request: Request, x_api_key: XApiKey = None) -> Any:
    return await authenticate_service_key(request, presented_secret(request, x_api_key))


def service(*routers: APIRouter, max_body_bytes: int = 1000) -> Any:
    runtime: ServiceRuntime[ServiceSettings, None] = ServiceRuntime(
        ServiceSettings(service_name="door", max_body_bytes=max_body_bytes), keys=KeyCache(lookup)
    )
    runtime._pool = Pool()  # type: ignore[assignment]
    return create_service_app(runtime, title="door", description="", routers=list(routers))


def routes() -> APIRouter:
    router = APIRouter()

    @router.post("/uploads", dependencies=[for_audience(keyed, "staff", "admin")])
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @router.post("/suggestions", dependencies=[PUBLIC])
    async def suggest(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return router


class Upload:
    """A streamed body that counts the chunks the server took."""

    def __init__(self, chunks: int, size: int = 100) -> None:
        self.chunks, self.size, self.taken = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.taken += 1
            yield b"x" * self.size


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://door")


def test_a_route_that_names_no_audience_stops_the_service_from_being_built():
    router = routes()

    @router.get("/forgotten")
    async def forgotten() -> None:
        return None

    with pytest.raises(UndeclaredAudience, match="GET /forgotten"):
        service(router)


def test_each_operation_names_its_audience_in_the_openapi_document():
    paths = service(routes()).openapi()["paths"]
    assert paths["/uploads"]["post"]["x-audience"] == ["admin", "staff"]
    assert paths["/suggestions"]["post"]["x-audience"] == ["public"]
    assert paths["/healthz"]["get"]["x-audience"] == ["public"]


async def test_a_keyed_route_refuses_a_missing_or_unknown_key_before_reading_the_body():
    app = service(routes())
    async with client(app) as http:
        nobody = Upload(chunks=50)
        unknown = Upload(chunks=50)
        refused = await http.post("/uploads", content=nobody)
        refused_too = await http.post("/uploads", content=unknown, headers={"X-API-Key": "js_no"})
        accepted = await http.post("/uploads", content=b"x" * 500, headers={"X-API-Key": SECRET})
    assert refused.status_code == refused_too.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert nobody.taken <= 1 and unknown.taken <= 1  # (the transport may start the first)
    assert accepted.status_code == 200 and accepted.json() == {"bytes": 500}


async def test_bodies_over_the_limit_are_refused_declared_or_streamed():
    app = service(routes(), max_body_bytes=1000)
    async with client(app) as http:
        declared = await http.post("/suggestions", content=b"x" * 1001)
        streamed = Upload(chunks=1000)  # 100 kB with no Content-Length
        refused = await http.post("/suggestions", content=streamed)
        keyed = await http.post(
            "/uploads", content=Upload(chunks=30), headers={"X-API-Key": SECRET}
        )
        within = await http.post("/suggestions", content=b"x" * 1000)
    assert declared.status_code == refused.status_code == keyed.status_code == 413
    assert streamed.taken < 20  # it stopped reading soon after the limit
    assert within.status_code == 200


async def test_a_development_key_left_in_the_table_opens_nothing_in_production():
    async def dev_lookup(_: Any, digest: str) -> Key | None:
        return Key("k_dev") if digest == hash_key("dev-key-admin") else None

    answers = {}
    for environment in ("development", "production"):
        app = service(routes())
        runtime = app.state.runtime
        runtime.settings.environment = environment
        runtime.keys = KeyCache(dev_lookup)
        async with client(app) as http:
            answers[environment] = await http.post(
                "/uploads", content=b"{}", headers={"X-API-Key": "dev-key-admin"}
            )
    assert answers["development"].status_code == 200
    assert answers["production"].status_code == 401
    assert "production" in answers["production"].json()["detail"]


async def test_in_production_the_documents_and_metrics_need_a_key_and_probes_do_not():
    settings = ServiceSettings(service_name="door", environment="production")
    runtime: ServiceRuntime[ServiceSettings, None] = ServiceRuntime(settings, keys=KeyCache(lookup))
    runtime._pool = Pool()  # type: ignore[assignment]
    app = create_service_app(runtime, title="door", description="", routers=[routes()])
    paths = ["/openapi.json", "/docs", "/redoc", "/metrics"]
    async with client(app) as http:
        closed = [(await http.get(path)).status_code for path in paths]
        opened = [
            (await http.get(path, headers={"X-API-Key": SECRET})).status_code for path in paths
        ]
        alive = (await http.get("/healthz")).status_code
        document = (await http.get("/openapi.json", headers={"X-API-Key": SECRET})).json()
    assert closed == [401] * 4
    assert opened == [200] * 4
    assert alive == 200
    assert document["paths"]["/metrics"]["get"]["x-audience"] == ["any-key"]
    assert document["paths"]["/uploads"]["post"]["x-audience"] == ["admin", "staff"]
