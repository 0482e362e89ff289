"""Every operation of every service declares what it answers: a success with its content and
schema, and its errors as problem+json (Open311's own error array on Open311's paths), so a
new route that declares nothing fails here before a client meets its answers."""

from __future__ import annotations

import importlib
import json
from functools import cache
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import APIRouter, Query

from shared.answers import ProblemDetails, ValidationProblem
from shared.apikeys import PUBLIC
from shared.runtime import ServiceRuntime, create_service_app
from shared.settings import ServiceSettings
from tests.unit.shared.test_skeleton import SERVICES

PROBLEM_JSON = "application/problem+json"
PROBLEMS = {f"#/components/schemas/{m.__name__}" for m in (ProblemDetails, ValidationProblem)}
OPEN311_ERROR = {"$ref": "#/components/schemas/Error"}


@cache
def document(service: str) -> dict[str, Any]:
    main = importlib.import_module(f"services.{service}.main")
    settings = SERVICES[service](database_url="postgresql://unused@127.0.0.1/unused")
    built: dict[str, Any] = main.create_app(settings).openapi()
    return built


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _success_gaps(name: str, responses: dict[str, Any]) -> list[str]:
    successes = {code: r for code, r in responses.items() if code.startswith("2")}
    if not successes:
        return [f"{name}: no 2xx answer"]
    gaps = []
    for code, response in successes.items():
        content = response.get("content") or {}
        if not content:
            gaps.append(f"{name} {code}: no media type")
        for media_type, body in content.items():
            schema = body.get("schema") or {}
            # A JSON answer is a model (a reference, properties, or a list of them), not `{}`.
            typed = '"$ref"' in json.dumps(schema) or "properties" in schema
            if not schema or (_is_json(media_type) and not typed):
                gaps.append(f"{name} {code} {media_type}: no schema")
    return gaps


def _open311_errors(content: dict[str, Any]) -> bool:
    schema = content.get("application/json", {}).get("schema", {})
    return schema.get("type") == "array" and schema.get("items") == OPEN311_ERROR


def _error_gaps(name: str, path: str, responses: dict[str, Any]) -> list[str]:
    errors = {code: r for code, r in responses.items() if code.startswith("4")}
    gaps = [] if "422" in errors else [f"{name}: no 422"]
    for code, response in errors.items():
        content = response.get("content") or {}
        problem = content.get(PROBLEM_JSON, {}).get("schema", {}).get("$ref")
        open311 = path.startswith("/open311/") and _open311_errors(content)
        if problem not in PROBLEMS and not open311:
            gaps.append(f"{name} {code}: not problem+json ({sorted(content)})")
    return gaps


def undeclared(openapi: dict[str, Any]) -> list[str]:
    """Each answer an operation of `openapi` leaves undeclared, or declares without a shape."""
    gaps = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            name = f"{method.upper()} {path}"
            responses = operation.get("responses", {})
            gaps += _success_gaps(name, responses) + _error_gaps(name, path, responses)
    return gaps


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_declares_its_success_and_its_problems(service: str) -> None:
    openapi = document(service)
    assert len(openapi["paths"]) > 10
    assert undeclared(openapi) == []


@pytest.mark.parametrize("service", SERVICES)
def test_fastapis_own_validation_error_is_never_declared(service: str) -> None:
    """The app answers a request FastAPI refuses with problem+json (shared.http), so the
    document must not promise FastAPI's default shape."""
    openapi = document(service)
    assert "HTTPValidationError" not in json.dumps(openapi)
    schemas = openapi["components"]["schemas"]
    assert {"ProblemDetails", "ValidationProblem", "InvalidField"} <= set(schemas)


def test_open311_answers_its_errors_as_its_own_array_in_json_and_xml() -> None:
    filing = document("intake")["paths"]["/open311/v2/requests.{fmt}"]["post"]["responses"]
    for code in ("400", "403", "404", "413", "422", "429", "503"):
        assert _open311_errors(filing[code]["content"])
        assert "text/xml" in filing[code]["content"]
        assert PROBLEM_JSON not in filing[code]["content"]
    assert "401" not in filing  # Open311 has no 401: a bad api_key is 403


# --- a route of a new service, declaring nothing ----------------------------------------------


def toy_service() -> Any:
    router = APIRouter()

    @router.get("/answers", dependencies=[PUBLIC])
    async def answers(limit: int = Query(ge=1)) -> dict[str, Any]:
        return {"limit": limit}

    runtime: ServiceRuntime[ServiceSettings, None] = ServiceRuntime(
        ServiceSettings(service_name="toy")
    )
    return create_service_app(runtime, title="toy", description="", routers=[router], asyncapi={})


def test_a_route_that_declares_no_model_is_named():
    gaps = undeclared(toy_service().openapi())
    assert gaps == ["GET /answers 200 application/json: no schema"]


async def test_the_declared_422_is_what_the_app_sends():
    app = toy_service()
    openapi = app.openapi()
    declared = openapi["paths"]["/answers"]["get"]["responses"]["422"]
    schema = {
        **declared["content"][PROBLEM_JSON]["schema"],
        "components": openapi["components"],
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as http:
        invalid = await http.get("/answers", params={"limit": "none"})
        unstorable = await http.get("/answers", params={"limit": "1\x00"})
    for refused in (invalid, unstorable):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == PROBLEM_JSON
        jsonschema.validate(refused.json(), schema)
    assert invalid.json()["errors"][0]["field"] == "limit"
