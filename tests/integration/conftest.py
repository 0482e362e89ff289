"""Running services for the integration tests: real HTTP servers, real Postgres, real brokers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI

from deploy.local.processes import free_port, tansu_broker, wait_for_port_open
from deploy.local.runner import DEMO_CITY
from services.dispatch.domain.city import CityFile, changes_between
from services.dispatch.main import create_app as create_dispatch_app
from services.dispatch.settings import DispatchSettings
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from services.notify import auth as notify_auth
from services.notify.main import create_app as create_notify_app
from services.notify.settings import NotifySettings
from services.reporting.main import create_app as create_reporting_app
from services.reporting.settings import ReportingSettings
from shared.db import drop_database, with_database
from shared.events import CityChange, CityModelChanged, Event
from shared.runtime import ServiceRuntime, http_server
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS, topic_of
from tests.integration.gateways import Gateways, smtp_server
from tests.integration.gateways import create_app as create_gateways
from tests.integration.kafka_helpers import publish_events
from tests.support import examples
from tests.support.tasks import all_stacks


@dataclass
class IntakeServer:
    url: str
    database_url: str
    runtime: ServiceRuntime
    settings: IntakeSettings

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def file(self, index: int = 0, **overrides: object) -> dict[str, object]:
        """File one example complaint as staff; returns the 201 body."""
        async with self.client(**examples.STAFF_KEY) as client:
            response = await client.post(
                "/complaints", json=examples.complaint_request(index, **overrides)
            )
        assert response.status_code == 201, response.text
        body: dict[str, object] = response.json()
        return body


# The embedded broker completes a consumer group's join half a session timeout after it
# began (waiting for other members), and evicts a killed member after a whole one: with the
# default 6 s every service start in a test waited 3 s for its consumer. 2 s here (heartbeats
# every 0.67 s); a member that misses them only re-joins, its records redelivered and skipped.
GROUP_SESSION_S = 2.0

FAST = {
    "relay_poll_interval_s": 0.2,
    "consumer_backoff_initial_s": 0.01,
    "consumer_backoff_max_s": 0.05,
    "kafka_session_timeout_s": GROUP_SESSION_S,
}


@pytest.fixture(scope="package", autouse=True)
def short_group_sessions() -> Iterator[None]:
    """GROUP_SESSION_S for every service these tests start, in this process or as a child
    (unit tests keep the default: they check it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KAFKA_SESSION_TIMEOUT_S", str(GROUP_SESSION_S))
        yield


# The tests' brokers keep nothing (memory only). Asked to stop, Tansu now and then takes 5 s
# to go (a wait of its own, with or without clients); after this it is killed instead.
BROKER_STOP_S = 0.5

# A server stops in about a second (its consumer leaves the group, its pools close); one that
# takes this long is stuck, and what its tasks wait on is shown rather than waited out.
STOP_WITHIN_S = 20.0


@asynccontextmanager
async def serving(app: FastAPI, port: int) -> AsyncIterator[str]:
    """The app on a real HTTP server in this process (its lifespan starts the runtime)."""
    server = (
        http_server(app, port)
        if hasattr(app.state, "runtime")
        else uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the service did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await stopped(server, task)


async def stopped(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """`task` (the server's) once it has finished, or, after STOP_WITHIN_S, a failure that
    shows what every task waits on (the server is then forced to exit, not waited for)."""
    await asyncio.wait({task}, timeout=STOP_WITHIN_S)
    if not task.done():
        stacks = all_stacks()
        server.force_exit = True
        task.cancel()
        raise AssertionError(
            f"the server on port {server.config.port} did not stop within {STOP_WITHIN_S} s;"
            f" its loop's tasks:\n{stacks}"
        )
    task.result()


def demo_city_changed() -> CityModelChanged:
    """The demo city's first version as dispatch publishes it (in one part), without its time
    limits: an intake that heard them promises a date at filing (test_intake_promise)."""
    body = CityFile.model_validate(yaml.safe_load(DEMO_CITY.read_text())).body()
    return CityModelChanged(
        catalogue_version=1,
        part=1,
        parts=1,
        changes=[
            CityChange(section=c.section, op=c.op, key=c.key, value=c.value)
            for c in changes_between(None, body)
            if c.key != "time_limits"
        ],
        actor="admin:demo",
        reason="demo",
        changed_at=datetime.now(UTC),
    )


async def load_demo_catalogue(intake_url: str, bootstrap: str) -> None:
    """The demo city, published on `bootstrap`'s dispatch.events as dispatch would, and
    waited for until the intake at `intake_url` has it as its catalogue."""
    await publish_events(bootstrap, DISPATCH_EVENTS, [demo_city_changed()])
    async with httpx.AsyncClient(base_url=intake_url, headers=examples.ADMIN_KEY) as client:
        for _ in range(300):
            response = await client.get("/admin/catalogue")
            if response.status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"intake did not follow the demo city: {response.text}")


@pytest.fixture(scope="session")
async def intake_server(pg_server_url: str, kafka_bootstrap: str) -> AsyncIterator[IntakeServer]:
    """One intake for the session, the demo city's catalogue loaded; tests use their own data."""
    database_url = with_database(pg_server_url, f"t_intake_{uuid.uuid4().hex[:10]}")
    settings = IntakeSettings(
        database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap, port=free_port(), **FAST
    )
    app = create_app(settings)
    async with serving(app, settings.port) as url:
        running = IntakeServer(url, database_url, app.state.runtime, settings)
        await load_demo_catalogue(url, kafka_bootstrap)
        yield running
    await drop_database(database_url)


@dataclass
class DispatchServer:
    """A dispatch service on its own broker (so its work orders reach no other test's intake)."""

    url: str
    database_url: str
    bootstrap: str
    runtime: ServiceRuntime

    def client(self, key: str = "dev-key-admin") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"X-API-Key": key}, timeout=30)

    async def tell(self, *events: Event) -> None:
        """Publish complaint events as intake's relay would."""
        await publish_events(self.bootstrap, COMPLAINT_EVENTS, events, source="/jiesu/intake")

    async def wait_for_case(
        self,
        complaint_id: uuid.UUID,
        until: Callable[[dict[str, Any]], bool] = lambda case: True,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        async with self.client() as client:
            while time.monotonic() < deadline:
                response = await client.get(f"/cases/{complaint_id}")
                if response.status_code == 200:
                    last = response.json()
                    if until(last):
                        return last
                await asyncio.sleep(0.1)
        raise AssertionError(f"case {complaint_id} never got there; last seen: {last}")


@pytest.fixture(scope="module")
async def dispatch_server(
    request: pytest.FixtureRequest, pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DispatchServer]:
    """One dispatch per test module, with the module's CITY (default: the demo city) loaded."""
    port = free_port()
    broker = tansu_broker(port, tmp_path_factory.mktemp("dispatch-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(port)
    bootstrap = f"127.0.0.1:{port}"
    database_url = with_database(pg_server_url, f"t_dispatch_{uuid.uuid4().hex[:10]}")
    settings = DispatchSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        port=free_port(),
        timer_poll_interval_s=0.2,
        **FAST,
    )
    app = create_dispatch_app(settings)
    async with serving(app, settings.port) as url:
        running = DispatchServer(url, database_url, bootstrap, app.state.runtime)
        city = getattr(request.module, "CITY", None) or yaml.safe_load(DEMO_CITY.read_text())
        async with running.client() as client:
            response = await client.put("/admin/city", json=city)
            assert response.status_code == 200, response.text
        yield running
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(database_url)


@pytest.fixture(scope="module")
async def reporting_beside_dispatch(
    dispatch_server: DispatchServer, pg_server_url: str
) -> AsyncIterator[str]:
    """Reporting consuming the module's broker: dispatch's events reach it as they are relayed."""
    database_url = with_database(pg_server_url, f"t_reporting_{uuid.uuid4().hex[:8]}")
    settings = ReportingSettings(
        database_url=database_url,
        kafka_bootstrap_servers=dispatch_server.bootstrap,
        port=free_port(),
        **FAST,
    )
    async with serving(create_reporting_app(settings), settings.port) as url:
        yield url
    await drop_database(database_url)


@dataclass
class NotifyServer:
    """Notify on its own broker, sending to real local gateways, subscribers and SMTP."""

    url: str
    database_url: str
    bootstrap: str
    runtime: ServiceRuntime
    gateways: Gateways
    gateway_url: str

    def client(self, key: str = "dev-key-admin") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"X-API-Key": key}, timeout=30)

    async def tell(self, *events: Event) -> list[uuid.UUID]:
        """Publish events as intake's or dispatch's relay would; returns their envelope ids."""
        ids = []
        for event in events:
            topic = topic_of(type(event))
            assert topic is not None, f"{event.event_type} travels on no topic"
            ids += await publish_events(self.bootstrap, topic, [event], source="/jiesu/test")
        return ids

    async def until(self, check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
        return await until(check, timeout, what)

    async def subscriber_key(self, name: str, scope: str, *types: str) -> str:
        """A subscriber key for `scope` and `types` (none: any), as an admin issues one."""
        async with self.runtime.pool.acquire() as conn:
            _, secret = await notify_auth.KEYS.create(
                conn,
                name=name,
                role=notify_auth.Role.SUBSCRIBER,
                scope=scope,
                event_types=list(types) or None,
            )
        return secret


async def until(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """What `check` returns (awaited if a coroutine), once it is true; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def notify_running(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory, **overrides: Any
) -> AsyncIterator[NotifyServer]:
    """Notify on its own broker, its gateways and SMTP server beside it (`overrides`: settings)."""
    port = free_port()
    broker = tansu_broker(port, tmp_path_factory.mktemp("notify-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(port)
    gateways = Gateways()
    smtp_port = free_port()
    smtp = smtp_server(gateways, smtp_port)
    gateway_port = free_port()
    database_url = with_database(pg_server_url, f"t_notify_{uuid.uuid4().hex[:10]}")
    async with serving(create_gateways(gateways), gateway_port) as gateway_url:
        settings = NotifySettings(
            **{
                "database_url": database_url,
                "kafka_bootstrap_servers": f"127.0.0.1:{port}",
                "port": free_port(),
                "intake_url": gateway_url,
                "sms_gateway_url": f"{gateway_url}/sms",
                "wechat_gateway_url": f"{gateway_url}/wechat",
                "smtp_port": smtp_port,
                "retry_schedule": "0.2s,0.4s,0.8s,1s,1s,1s",
                "delivery_lease_s": 3,
                "delivery_poll_interval_s": 0.2,
                "channel_concurrency": 4,
                "endpoint_concurrency": 2,
                "live_poll_interval_s": 0.1,
                **FAST,
                **overrides,
            }
        )
        app = create_notify_app(settings)
        async with serving(app, settings.port) as url:
            yield NotifyServer(
                url, database_url, f"127.0.0.1:{port}", app.state.runtime, gateways, gateway_url
            )
    smtp.stop()
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(database_url)


@pytest.fixture(scope="module")
async def notify_server(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[NotifyServer]:
    async with notify_running(pg_server_url, tmp_path_factory) as server:
        yield server
