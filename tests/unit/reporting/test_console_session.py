"""The console's session: where a sign-in may lead, and which changes it lets through."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from services.reporting.web.session import LoginNeeded, _next, _same_origin, login_needed
from shared.http import Problem


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/console/cases?q=1", "/console/cases?q=1"),
        (None, "/console"),
        ("https://evil.example/console", "/console"),
        ("//evil.example/console", "/console"),
        ("/wall", "/console"),
    ],
)
def test_after_signing_in_only_a_console_page_is_a_destination(
    asked: str | None, goes: str
) -> None:
    assert _next(asked) == goes


def _post(headers: dict[str, str]) -> Request:
    raw = [
        (k.lower().encode(), v.encode()) for k, v in {"host": "ops.example:8004", **headers}.items()
    ]
    return Request({"type": "http", "method": "POST", "path": "/console/x", "headers": raw})


def test_a_change_from_the_consoles_own_page_passes() -> None:
    _same_origin(_post({"origin": "http://ops.example:8004"}))
    _same_origin(_post({"referer": "http://ops.example:8004/console/dead-letters"}))


@pytest.mark.parametrize(
    "headers", [{}, {"origin": "http://evil.example"}, {"referer": "http://ops.example.evil:8004/"}]
)
def test_a_change_from_elsewhere_or_from_nowhere_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Problem) as refused:
        _same_origin(_post(headers))
    assert refused.value.status == 403


async def test_a_script_without_a_session_gets_a_401_problem_and_a_browser_the_login_form() -> None:
    def request(accept: str) -> Request:
        headers = [(b"host", b"ops.example"), (b"accept", accept.encode())]
        return Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/console/cases",
                "query_string": b"q=1",
                "headers": headers,
            }
        )

    answer = await login_needed(request("application/json"), LoginNeeded())
    assert answer.status_code == 401
    assert answer.media_type == "application/problem+json"
    assert json.loads(answer.body)["status"] == 401
    page = await login_needed(request("text/html,application/xhtml+xml"), LoginNeeded())
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console/cases%3Fq%3D1"
