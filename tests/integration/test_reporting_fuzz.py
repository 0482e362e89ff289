"""Every reporting operation, fuzzed from its own OpenAPI document: no input makes it fail (5xx).

Reporting runs as its own process, its tables holding the hand-worked November (measures
tests) and two agenda items, and schemathesis sends what the schema allows and what it does not.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from deploy.local.processes import free_port, tansu_broker
from services.reporting.main import create_app
from services.reporting.settings import ReportingSettings
from shared.db import connect, with_database
from tests.integration.test_reporting_measures import november, seed
from tests.reporting_story import agenda_story, project_all

REPO = Path(__file__).resolve().parents[2]
schema = schemathesis.openapi.from_dict(
    create_app(ReportingSettings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
)


async def _seed(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        await seed(conn, november())
        await project_all(conn, agenda_story())
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def reporting_process(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz-reporting")
    broker_port, port = free_port(), free_port()
    broker = tansu_broker(broker_port, home / "broker.log")
    broker.start()
    database_url = with_database(pg_server_url, f"t_fuzz_rep_{uuid.uuid4().hex[:10]}")
    env = {
        **os.environ,
        "REPORTING_DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "REPORTING_PORT": str(port),
    }
    with open(home / "reporting.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.reporting.main"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (home / "reporting.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "reporting did not start"
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        asyncio.run(_seed(database_url))
        yield url
    finally:
        process.terminate()
        process.wait(20)
        asyncio.run(broker.stop())
    log = (home / "reporting.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_reporting_fail(case: schemathesis.Case, reporting_process: str) -> None:
    case.call_and_validate(base_url=reporting_process, checks=[not_a_server_error], timeout=20)
