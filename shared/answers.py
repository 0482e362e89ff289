"""What every operation declares it may answer besides its own model: RFC 9457 problem+json
errors, declared once here and added to each route by who may call it, so each OpenAPI
document describes every answer (schemathesis holds the services to it)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from shared.apikeys import ANY_KEY_AUDIENCE, Audience
from shared.http import PROBLEM_JSON, TITLES

Responses = dict[int | str, dict[str, Any]]
_SCHEMAS = "#/components/schemas/"


class ProblemDetails(BaseModel):
    """问题详情 An error, as RFC 9457 problem+json; a problem may carry more members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="问题类型 The problem's type (a URI)")
    title: str = Field(description="简短标题 A short summary, Chinese then English")
    status: int = Field(ge=400, le=599, description="HTTP 状态码 The HTTP status")
    detail: str = Field(description="具体说明 What went wrong this time")


class InvalidField(BaseModel):
    """One field a request got wrong."""

    model_config = ConfigDict(extra="allow")

    field: str = Field(description="字段名，如 address.district The field's dotted name")
    message: str
    location: str = Field("", description="body, query, path or header")
    type: str = Field("", description="校验错误类型 The kind of validation error")


class ValidationProblem(ProblemDetails):
    """请求参数有误 A request the service cannot take (422), naming each field it got wrong."""

    errors: list[InvalidField] = Field(default_factory=list)


MODELS = (ProblemDetails, InvalidField, ValidationProblem)
_DESCRIBED = {
    400: "无法读取请求体 The body cannot be read (not JSON, not UTF-8, or not the declared type)",
    401: "缺少或无效的 API Key Missing, unknown or revoked API key",
    403: "密钥无权执行 Not allowed for this key",
    413: "请求体过大 Request body over the service's limit",
    422: "请求参数有误 Invalid request: a field, a header, or a character Postgres cannot store",
    429: "请求过于频繁 Rate limited; see Retry-After",
}


def problem(status: int, description: str | None = None) -> Responses:
    """An operation's problem+json answer with `status`, for its `responses`."""
    model = ValidationProblem if status == 422 else ProblemDetails
    return {
        status: {
            "description": description or _DESCRIBED.get(status) or TITLES[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": _SCHEMAS + model.__name__}}},
        }
    }


def problems(*statuses: int) -> Responses:
    """Problem+json answers for `statuses`, each with its usual description."""
    return {status: answer for s in statuses for status, answer in problem(s).items()}


def refusals(audience: Audience | None, takes_body: bool) -> Responses:
    """What the service's own middleware and key check may answer on any route: 422 (a field,
    or a character Postgres cannot store, in any path or query); where a body is taken, 400 (it
    cannot be read) and 413; for a keyed route 401 and 429 (the key's rate), and 403 where only
    some roles may call."""
    statuses = [422]
    if takes_body:
        statuses += [400, 413]
    # A route that reads its key from the body checks the key itself, in its own words.
    if audience is not None and not audience.public and not audience.key_in_body:
        statuses += [401, 429]
        if ANY_KEY_AUDIENCE not in audience.roles:
            statuses.append(403)
    return problems(*sorted(statuses))


_FASTAPI_422 = _SCHEMAS + "HTTPValidationError"  # FastAPI's own, which this app never sends


def declare_problems(app: FastAPI, audiences: list[Audience]) -> None:
    """Adds to every operation of the app's OpenAPI document the refusals it may meet that it
    does not declare itself (a route declares its own where it answers in another dialect, as
    Open311 does), in place of FastAPI's default 422, and the problem models to its components."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = build_openapi()
        if fresh:
            for path, operations in document["paths"].items():
                for method, operation in operations.items():
                    audience = next(
                        (a for a in audiences if a.path == path and method.upper() in a.methods),
                        None,
                    )
                    refused = refusals(audience, "requestBody" in operation)
                    operation["responses"] = _with_refusals(operation["responses"], refused)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for unsent in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unsent, None)
            for model in MODELS:
                shape = model.model_json_schema(ref_template=_SCHEMAS + "{model}")
                schemas.update(shape.pop("$defs", {}))
                schemas[model.__name__] = shape
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _with_refusals(declared: dict[str, Any], refused: Responses) -> dict[str, Any]:
    """`declared` with each of `refused` it lacks (or has only as FastAPI's default), by status."""
    answers = dict(declared)
    for status, answer in refused.items():
        own = answers.get(str(status), {})
        schema = own.get("content", {}).get("application/json", {}).get("schema")
        if not own or schema == {"$ref": _FASTAPI_422}:
            answers[str(status)] = answer
    return dict(sorted(answers.items()))
