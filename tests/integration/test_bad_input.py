"""Input that Postgres cannot store, or that a parser cannot follow, is a 4xx on every door,
never a 500: each of these answered 500 before."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.conftest import DispatchServer, IntakeServer, NotifyServer
from tests.integration.intake.test_open311 import BASE, request_fields
from tests.support import examples

pytestmark = pytest.mark.integration

DEEP_JSON = b"[" * 10_000 + b"]" * 10_000  # (within every body limit)
DEEP_YAML = b"a: " + b"[" * 10_000 + b"]" * 10_000


async def test_uploads_nested_too_deeply_are_400(
    dispatch_server: DispatchServer, notify_server: NotifyServer
):
    answers = []
    async with dispatch_server.client() as client:
        for body, kind in ((DEEP_JSON, "application/json"), (DEEP_YAML, "application/yaml")):
            answers.append(
                await client.put("/admin/city", content=body, headers={"content-type": kind})
            )
    async with notify_server.client() as client:
        answers.append(
            await client.put(
                "/directory", content=DEEP_JSON, headers={"content-type": "application/json"}
            )
        )
    assert [a.status_code for a in answers] == [400] * 3, [a.text[:200] for a in answers]
    assert all("nested too deeply" in a.json()["detail"] for a in answers)


async def test_a_nul_in_an_open311_form_is_an_open311_422(intake_server: IntakeServer):
    fields = request_fields("nul", description="顶楼漏水%00")  # sent as %2500: a literal %00
    async with intake_server.client() as client:
        literal = await client.post(f"{BASE}/requests.json", data=fields)
        encoded = await client.post(
            f"{BASE}/requests.json",
            content=b"api_key=dev-key-open311&service_code=roof-leak&description=%E6%BC%8F%00",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert literal.status_code == 200, literal.text  # the three characters "%00" are text
    assert encoded.status_code == 422
    assert encoded.json()[0]["code"] == 422 and "NUL" in encoded.json()[0]["description"]


async def test_a_lone_surrogate_in_the_answers_is_422(intake_server: IntakeServer):
    """(pydantic refuses one in a `str` field; the answers are free-form JSON.)"""
    body = examples.complaint_request(0)
    raw = (
        json.dumps(
            {**body, "attributes": {"floor": 6, "leak_location": "roof", "details": "PLACEHOLDER"}},
            ensure_ascii=False,
        )
        .replace("PLACEHOLDER", "\\ud800")
        .encode()
    )
    paired = raw.replace(b"\\ud800", b"\\ud83d\\ude00")  # 😀, a pair: stored as it is
    async with intake_server.client(**examples.STAFF_KEY) as client:
        lone = await client.post(
            "/complaints", content=raw, headers={"content-type": "application/json"}
        )
        pair = await client.post(
            "/complaints", content=paired, headers={"content-type": "application/json"}
        )
    assert lone.status_code == 422 and "surrogate" in lone.json()["detail"]
    assert pair.status_code != 500 and pair.status_code < 500


async def test_malformed_json_and_wrong_content_types_are_4xx_problems_on_every_door(
    intake_server: IntakeServer, dispatch_server: DispatchServer, notify_server: NotifyServer
):
    """One JSON route of each service that takes a body (reporting takes none)."""
    doors = [
        (intake_server.client(**examples.STAFF_KEY), "/complaints"),
        (dispatch_server.client(), f"/work-orders/{uuid.uuid4()}/resolve"),
        (notify_server.client(), "/subscriptions"),
    ]
    bodies = [
        (b'{"text": "unfinished', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (json.dumps(examples.complaint_request(0)).encode(), "text/plain"),
        (b"<xml/>", "application/xml"),
        (b"\xff\xfe\x00\x01", "application/octet-stream"),
    ]
    answers = []
    for client, path in doors:
        async with client:
            for body, kind in bodies:
                answer = await client.post(path, content=body, headers={"content-type": kind})
                answers.append((path, kind, answer.status_code, answer.headers["content-type"]))
    assert all(400 <= status < 500 for _, _, status, _ in answers), answers
    assert all(kind == "application/problem+json" for *_, kind in answers), answers
