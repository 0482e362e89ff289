"""Notify stops within seconds whatever is in flight: a webhook to a subscriber that never
answers, one to a host whose name never resolves (its lookup blocked in a thread), a dashboard
on the live stream, and a channel's worker woken at the very moment it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import NotifyServer, notify_running, until
from tests.support import examples
from tests.support.tasks import running_code_under

REPO = Path(__file__).resolve().parents[3]
UNRESOLVABLE = "dns-never-answers.example"
STOPS_WITHIN_S = 8.0  # notify's stop, its gateways', its broker's and its database's drop


@dataclass
class Lookups:
    begun: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def unanswered_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lookups]:
    """Looking UNRESOLVABLE up blocks its thread until the test ends, as a DNS server that does
    not answer would (for as long as the resolver's timeouts and attempts add up to)."""
    lookups, answer = Lookups(), threading.Event()
    lookup = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != UNRESOLVABLE:
            return lookup(host, *args, **kwargs)
        lookups.begun.set()
        answer.wait()
        lookups.answered.set()
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        yield lookups
    finally:
        answer.set()


@contextlib.asynccontextmanager
async def silent_subscriber() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A subscriber's URL that takes requests and never answers (until the client hangs up),
    and an event set once a request has come."""
    reached = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.set()
        await reader.read()  # until notify closes the connection
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook", reached


async def watch_live(server: NotifyServer, opened: asyncio.Event) -> None:
    """A dashboard on the live stream until the server ends it."""
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", f"{server.url}/stream", headers={"X-API-Key": "dev-key-ops"}) as live,
    ):
        assert live.status_code == 200
        opened.set()
        with contextlib.suppress(httpx.RemoteProtocolError, httpx.ReadError):
            async for _ in live.aiter_lines():
                pass


async def test_notify_stops_within_seconds_while_webhooks_hang_and_a_dashboard_watches(
    pg_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    unanswered_lookups: Lookups,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with silent_subscriber() as (silent_url, reached):
        async with notify_running(
            pg_server_url,
            tmp_path_factory,
            gateway_timeout_s=600,
            webhook_allowed_hosts=f"127.0.0.1,{UNRESOLVABLE}",
        ) as server:
            async with server.client() as client:
                for name, url in (("silent", silent_url), ("nowhere", f"http://{UNRESOLVABLE}/h")):
                    made = await client.put(f"/subscriptions/{name}", json={"url": url})
                    assert made.status_code == 200, made.text
            opened = asyncio.Event()
            dashboard = asyncio.create_task(watch_live(server, opened))
            await server.tell(examples.complaint_filed())
            await until(reached.is_set, what="the silent subscriber to be asked")
            await until(
                unanswered_lookups.begun.is_set, what="the subscriber's name to be looked up"
            )
            await until(opened.is_set, what="the dashboard to be watching")

            # A sender finishing, or an outcome's commit (its NOTIFY wakes the relay), as the
            # stop comes wakes a worker in the same turn of the loop as it is cancelled: it
            # must stop all the same. (On Python 3.11 `asyncio.wait_for` lost that cancel.)
            runtime = server.runtime
            relay, stop = runtime.relay, runtime.stop
            assert relay is not None

            async def stop_as_a_sender_finishes() -> None:
                relay.wake()
                for wake in runtime.app.handoff.wakes.values():
                    wake.set()
                await stop()

            monkeypatch.setattr(runtime, "stop", stop_as_a_sender_finishes)
            stopping = time.monotonic()
        took = time.monotonic() - stopping
    assert took < STOPS_WITHIN_S, f"notify took {took:.1f} s to stop"
    assert dashboard.done() and dashboard.exception() is None, "the server ended the live stream"
    # (other modules' services may share this session's loop: only notify's tasks count)
    assert running_code_under(REPO / "services" / "notify") == [], "nothing of notify's runs on"
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(("notify:", "notify-"))]
    assert not unanswered_lookups.answered.is_set(), "it stopped without waiting for the lookup"
