"""Every intake operation, fuzzed from its own OpenAPI document: no input makes it fail (5xx),
and each answer is one the document declares (status, media type, schema).

Intake runs as its own process (as deployed), with the demo city's catalogue and a few filed
complaints, and schemathesis sends what the schema allows and what it does not, with the
admin key (deep enough to pass every key check). Open311's form-encoded routes are fuzzed
too: their documents describe only the path, so what reaches them is the path and the query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.intake import store
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.db import connect
from tests.integration.conftest import demo_city_changed
from tests.integration.process import service_process
from tests.support import examples
from tests.support.fuzz import CONFORMANCE

schema = schemathesis.openapi.from_dict(
    create_app(IntakeSettings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
)


async def follow_demo_city(database_url: str) -> None:
    """The demo city in intake's catalogue, as if followed from dispatch's event."""
    conn = await connect(database_url)
    try:
        await store.follow_city(conn, demo_city_changed())
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def intake_process(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz-intake")
    with service_process("intake", pg_server_url, home) as (url, database_url):
        asyncio.run(follow_demo_city(database_url))
        with httpx.Client(base_url=url, timeout=30) as client:
            for index in range(4):
                filed = client.post(
                    "/complaints",
                    json=examples.complaint_request(index),
                    headers=examples.STAFF_KEY,
                )
                assert filed.status_code == 201, filed.text
        yield url


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_intake_fail(case: schemathesis.Case, intake_process: str) -> None:
    case.call_and_validate(
        base_url=intake_process,
        headers=examples.ADMIN_KEY,
        checks=CONFORMANCE,
        timeout=20,
    )
