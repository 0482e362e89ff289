"""The work-in-flight page's reads of the other services: a key's area only, and a service that
does not answer named rather than failing the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.reporting.adapters.upstream import Upstream, UpstreamError
from services.reporting.auth import ApiKey, Role
from services.reporting.web import flight

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class FakeUpstream(Upstream):
    """The services' answers by (service, path); any other request finds the service down."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        super().__init__(services={})
        self.answers = answers

    async def get(self, service: str, path: str, **params: Any) -> Any:
        answer = self.answers.get((service, path))
        if answer is None:
            raise UpstreamError(service, "ConnectError: connection refused")
        return answer


def key(area: str | None) -> ApiKey:
    role = Role.STAFF if area else Role.SUPERVISOR
    return ApiKey(key_id="k", name="榆山街道工作人员", role=role, scope=area, rate_per_minute=60)


def waiting(case_number: str, area_code: str, age: timedelta) -> dict[str, Any]:
    return {"case_number": case_number, "area_code": area_code, "filed_at": (NOW - age).isoformat()}


async def test_the_triage_queue_keeps_the_keys_area_oldest_first_with_each_age() -> None:
    upstream = FakeUpstream(
        {
            ("intake", "/triage"): {
                "total": 3,
                "items": [
                    waiting("JS-1", "370124001001-G01", timedelta(hours=5)),
                    waiting("JS-2", "370124002001", timedelta(hours=3)),
                    waiting("JS-3", "370124001002", timedelta(minutes=10)),
                ],
            }
        }
    )
    queue = await flight._triage(upstream, key("370124001000"), NOW)
    assert [i["case_number"] for i in queue["items"]] == ["JS-1", "JS-3"]
    assert [i["age_s"] for i in queue["items"]] == [5 * 3600, 600]
    everywhere = await flight._triage(upstream, key(None), NOW)
    assert everywhere["shown"] == 3


async def test_a_service_that_does_not_answer_is_named_and_its_section_left_empty() -> None:
    upstream = FakeUpstream({})
    failed: dict[str, str] = {}
    backlog = await flight._answer("notify", lambda: flight._backlog(upstream), failed)
    assert backlog is None
    assert failed == {"notify": "ConnectError: connection refused"}
