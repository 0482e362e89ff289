"""Every dispatch operation, fuzzed from its own OpenAPI document: no input makes it fail (5xx),
and each answer is one the document declares (status, media type, schema).

Dispatch runs as its own process (as deployed), with the demo city and a few real cases, and
schemathesis sends what the schema allows and what it does not, with the admin key.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings

from deploy.local.runner import DEMO_CITY
from services.dispatch.main import create_app
from services.dispatch.settings import DispatchSettings
from tests.integration.process import service_process
from tests.support.fuzz import CONFORMANCE

ADMIN = {"X-API-Key": "dev-key-admin"}
schema = schemathesis.openapi.from_dict(
    create_app(DispatchSettings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
)


@pytest.fixture(scope="module")
def dispatch_process(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with service_process("dispatch", pg_server_url, tmp_path_factory.mktemp("fuzz")) as (url, _):
        city = yaml.safe_load(DEMO_CITY.read_text())
        assert (
            httpx.put(f"{url}/admin/city", json=city, headers=ADMIN, timeout=30).status_code == 200
        )
        yield url


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_dispatch_fail(case: schemathesis.Case, dispatch_process: str) -> None:
    case.call_and_validate(base_url=dispatch_process, headers=ADMIN, checks=CONFORMANCE, timeout=20)
