"""Every notify operation, fuzzed from its own OpenAPI document: no input makes it fail (5xx),
and each answer is one the document declares (status, media type, schema).

Notify runs as its own process (as deployed), with the demo directory loaded, and schemathesis
sends what the schema allows and what it does not, with the admin key. The live stream, which
never ends by design, is left out.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings

from deploy.local.runner import DEMO_DIRECTORY
from services.notify.main import create_app
from services.notify.settings import NotifySettings
from tests.integration.process import service_process
from tests.support import examples
from tests.support.fuzz import CONFORMANCE

schema = schemathesis.openapi.from_dict(
    create_app(NotifySettings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
).exclude(path_regex=r"/stream$")


@pytest.fixture(scope="module")
def notify_process(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz-notify")
    with service_process("notify", pg_server_url, home) as (url, _):
        directory = yaml.safe_load(DEMO_DIRECTORY.read_text())
        loaded = httpx.put(
            f"{url}/directory", json=directory, headers=examples.ADMIN_KEY, timeout=30
        )
        assert loaded.status_code == 200, loaded.text
        yield url


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_notify_fail(case: schemathesis.Case, notify_process: str) -> None:
    case.call_and_validate(
        base_url=notify_process,
        headers=examples.ADMIN_KEY,
        checks=CONFORMANCE,
        timeout=20,
    )
