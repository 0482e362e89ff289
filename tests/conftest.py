"""Real infrastructure for the suite: Postgres and a Kafka-protocol broker, started when not given.

DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point the tests at existing servers; otherwise an
embedded Postgres and an embedded Tansu broker are started for the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from _pytest.nodes import NodeId
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from deploy.local.processes import (
    free_port,
    tansu_broker,
    temporary_postgres,
    wait_for_port_open,
)
from shared import telemetry
from shared.db import apply_schema, create_pool, drop_database, ensure_database, with_database
from shared.eventstore import SCHEMA

# Where the parallel test processes' port ranges lie: below Linux's default ephemeral range.
PORTS_LOW, PORTS_TOP = 10_000, 32_000


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs two processes), each process looks for free ports
    in a range of its own (deploy/local/processes.py), so two never race for one port; each
    also starts its own Postgres and broker (the session fixtures below)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and count.isdigit() and "JIESU_PORT_RANGE" not in os.environ:
        index, span = int(worker[2:]), (PORTS_TOP - PORTS_LOW) // int(count)
        low = PORTS_LOW + index * span
        # a block of ports (an e2e stack's workers) may run up to 50 past its first port
        os.environ["JIESU_PORT_RANGE"] = f"{low}-{low + span - 100}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis makes one item per API operation (`test_x[GET /path]`) but gives them all
    the test function's node id; pytest-xdist schedules by node id and would run only the first
    operation of each. Each item gets its operation in its id."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if isinstance(label, str) and not item.nodeid.endswith("]"):
            unique = f"{item.nodeid}[{label}]"
            if isinstance(getattr(item, "_id", None), NodeId):  # pytest ≥ 9.2
                item._id = NodeId.parse(unique)
            else:
                item._nodeid = unique


@pytest.fixture(scope="session")
async def pg_server_url() -> AsyncIterator[str]:
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    # Not under pytest's temporary root, which another pytest run may chmod or delete.
    async with temporary_postgres("jiesu-test-postgres-", durable=False) as (url, _):
        yield url


@pytest.fixture(scope="session")
async def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    port = free_port()
    broker = tansu_broker(port, tmp_path_factory.mktemp("broker") / "broker.log")
    broker.start()
    await wait_for_port_open(port)
    yield f"127.0.0.1:{port}"
    await broker.stop()


@pytest.fixture
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh database with the event-store schema, dropped afterwards."""
    url = with_database(pg_server_url, f"t_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    yield url
    await drop_database(url)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=30)
    await apply_schema(pool, SCHEMA)
    yield pool
    await pool.close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, its spans kept in memory (each exported as it ends)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        yield exporter
    finally:
        telemetry.uninstall()
