"""Every reporting operation, fuzzed from its own OpenAPI document: no input makes it fail (5xx),
and each answer is one the document declares (status, media type, schema).

Reporting runs as its own process, its tables holding the hand-worked November (measures
tests) and two agenda items, and schemathesis sends what the schema allows and what it does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.reporting.main import create_app
from services.reporting.settings import ReportingSettings
from shared.db import connect
from tests.integration.process import service_process
from tests.integration.reporting.test_reporting_measures import november, seed
from tests.support.examples import READER
from tests.support.fuzz import CONFORMANCE
from tests.support.reporting_story import agenda_story, project_all

schema = schemathesis.openapi.from_dict(
    create_app(ReportingSettings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
)


async def _seed(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        await seed(conn, november(), shuffle=False)  # (no random inside hypothesis)
        await project_all(conn, agenda_story())
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def reporting_process(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz-reporting")
    with service_process("reporting", pg_server_url, home) as (url, database_url):
        asyncio.run(_seed(database_url))
        yield url


# Other fixtures' background tasks in this process (the session's brokers and consumers, and
# asyncpg when it connects) draw from `random`; hypothesis would take that for this test's own.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_reporting_fail(case: schemathesis.Case, reporting_process: str) -> None:
    case.call_and_validate(
        base_url=reporting_process,
        headers=READER,  # deep enough to reach the queries behind the key check
        checks=CONFORMANCE,
        timeout=20,
    )
