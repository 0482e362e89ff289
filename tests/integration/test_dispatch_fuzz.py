"""Every dispatch operation, fuzzed from its own OpenAPI document: no input makes it fail (5xx).

Dispatch runs as its own process (as deployed), with the demo city and a few real cases, and
schemathesis sends what the schema allows and what it does not, with the admin key.
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
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from deploy.local.processes import free_port, tansu_broker
from deploy.local.runner import DEMO_CITY
from services.dispatch.main import create_app
from services.dispatch.settings import DispatchSettings
from shared.db import with_database

REPO = Path(__file__).resolve().parents[2]
ADMIN = {"X-API-Key": "dev-key-admin"}
schema = schemathesis.openapi.from_dict(
    create_app(DispatchSettings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
)


@pytest.fixture(scope="module")
def dispatch_process(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz")
    broker_port, port = free_port(), free_port()
    broker = tansu_broker(broker_port, home / "broker.log")
    broker.start()
    env = {
        **os.environ,
        "DISPATCH_DATABASE_URL": with_database(pg_server_url, f"t_fuzz_{uuid.uuid4().hex[:10]}"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "DISPATCH_PORT": str(port),
    }
    with open(home / "dispatch.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.dispatch.main"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (home / "dispatch.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dispatch did not start"
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        city = yaml.safe_load(DEMO_CITY.read_text())
        assert (
            httpx.put(f"{url}/admin/city", json=city, headers=ADMIN, timeout=30).status_code == 200
        )
        yield url
    finally:
        process.terminate()
        process.wait(20)
        asyncio.run(broker.stop())
    log = (home / "dispatch.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_dispatch_fail(case: schemathesis.Case, dispatch_process: str) -> None:
    case.call_and_validate(
        base_url=dispatch_process, headers=ADMIN, checks=[not_a_server_error], timeout=20
    )
