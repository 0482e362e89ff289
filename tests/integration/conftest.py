"""A running intake service (real HTTP server, real Postgres, real broker) for the intake tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from deploy.local.processes import free_port
from deploy.local.runner import DEMO_CITY
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.db import drop_database, with_database
from shared.runtime import ServiceRuntime
from tests import examples


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


@pytest.fixture(scope="session")
async def intake_server(pg_server_url: str, kafka_bootstrap: str) -> AsyncIterator[IntakeServer]:
    """One intake for the session, the demo city's catalogue loaded; tests use their own data."""
    database_url = with_database(pg_server_url, f"t_intake_{uuid.uuid4().hex[:10]}")
    settings = IntakeSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        port=free_port(),
        relay_poll_interval_s=0.2,
        consumer_backoff_initial_s=0.01,
        consumer_backoff_max_s=0.05,
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "intake did not start"
        await asyncio.sleep(0.05)
    running = IntakeServer(
        f"http://127.0.0.1:{settings.port}", database_url, app.state.runtime, settings
    )
    async with running.client(**examples.ADMIN_KEY) as client:
        response = await client.put(
            "/admin/catalogue",
            content=DEMO_CITY.read_bytes(),
            headers={"content-type": "application/yaml"},
        )
        assert response.status_code == 200, response.text
    yield running
    server.should_exit = True
    await serving
    await drop_database(database_url)
