"""A service's HTTP server stops though a client keeps a response open: a stream that never
ends by itself is cancelled after SHUTDOWN_GRACE_S, not waited for (uvicorn's default)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from deploy.local.processes import free_port
from shared.settings import ServiceSettings
from tests.integration.conftest import serving, until

GRACE_S = 1


def endless_app() -> FastAPI:
    app = FastAPI()
    # What http_server reads of a service: its settings.
    app.state.runtime = SimpleNamespace(settings=ServiceSettings(shutdown_grace_s=GRACE_S))

    @app.get("/endless")
    async def endless() -> StreamingResponse:
        async def ticks() -> AsyncIterator[bytes]:
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.05)

        return StreamingResponse(ticks(), media_type="text/plain")

    return app


async def read_on(url: str, reading: asyncio.Event) -> None:
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", f"{url}/endless") as response,
    ):
        with contextlib.suppress(httpx.RemoteProtocolError, httpx.ReadError):
            async for _ in response.aiter_lines():
                reading.set()


async def test_a_response_that_never_ends_holds_the_stop_for_the_grace_only() -> None:
    reading = asyncio.Event()
    async with serving(endless_app(), free_port()) as url:
        client = asyncio.create_task(read_on(url, reading))
        await until(reading.is_set, what="the stream to flow")
        stopping = time.monotonic()
    took = time.monotonic() - stopping
    assert GRACE_S <= took < GRACE_S + 3, f"stopped after {took:.1f} s"
    await until(client.done, what="the client to see the stream end")
    assert client.exception() is None
