"""The AsyncAPI documents over HTTP: `/asyncapi.json`, `/asyncapi.yaml` and a readable page at
`/asyncapi`, rendered on the server from the same document (no script, no outside asset)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from shared import asyncapi

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)


def type_of(schema: dict[str, Any] | None) -> Markup:
    """A schema in a few words: its type, format and constraints, references as links."""
    if not schema:
        return Markup("任意 any")
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    for combinator, joiner in (("anyOf", " | "), ("oneOf", " | "), ("allOf", " & ")):
        if combinator in schema:
            return Markup(joiner).join(type_of(option) for option in schema[combinator])
    if "const" in schema:
        return Markup("<code>{}</code>").format(schema["const"])
    if "enum" in schema:
        return Markup(", ").join(Markup("<code>{}</code>").format(v) for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return Markup("array of ") + type_of(schema.get("items"))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("object of ") + type_of(schema["additionalProperties"])
    text = escape(kind)
    if "format" in schema:
        text += Markup(" <span class='muted'>({})</span>").format(schema["format"])
    if "pattern" in schema:
        text += Markup(" <code>{}</code>").format(schema["pattern"])
    return Markup(text)


@cache
def page(name: str, base: str) -> str:
    return _PAGES.get_template("asyncapi.html").render(
        doc=asyncapi.document(name), base=base, type_of=type_of
    )


def asyncapi_router(names: dict[str, str], door: Any) -> APIRouter:
    """`names`: the path prefix of each document this service serves (e.g.
    {"/asyncapi": "notify", "/asyncapi/webhooks": "webhooks"}), behind `door`."""
    router = APIRouter(tags=["契约 Contracts"], dependencies=[door])
    for prefix, name in names.items():
        _serve(router, prefix, name)
    return router


# What /asyncapi.json answers, as the OpenAPI document says it (the rest is AsyncAPI's); the
# YAML is the same document, and a client that reads YAML reads this object from it.
_DOCUMENT_SCHEMA = {
    "type": "object",
    "required": ["asyncapi", "info", "channels", "operations", "components"],
    "properties": {
        "asyncapi": {"type": "string", "const": asyncapi.ASYNCAPI_VERSION},
        "id": {"type": "string"},
        "info": {"type": "object"},
        "channels": {"type": "object"},
        "operations": {"type": "object"},
        "components": {"type": "object"},
    },
}
_FORMATS = (
    ("json", "application/json", asyncapi.as_json, _DOCUMENT_SCHEMA),
    ("yaml", "application/yaml", asyncapi.as_yaml, _DOCUMENT_SCHEMA),
)


def _serve(router: APIRouter, prefix: str, name: str) -> None:
    title = asyncapi.title(name)
    for suffix, media_type, render, schema in _FORMATS:
        _serve_as(router, f"{prefix}.{suffix}", name, media_type, render, schema)

    @router.get(
        prefix,
        summary=f"AsyncAPI 文档（网页）{title} (HTML)",
        response_class=HTMLResponse,
        name=f"asyncapi-{name}-html",
    )
    async def as_page() -> HTMLResponse:
        return HTMLResponse(page(name, prefix))


def _serve_as(
    router: APIRouter,
    path: str,
    name: str,
    media_type: str,
    render: Callable[[dict[str, Any]], str],
    schema: dict[str, Any],
) -> None:
    @router.get(
        path,
        summary=f"AsyncAPI 文档 {asyncapi.title(name)} ({media_type})",
        response_class=Response,
        responses={200: {"content": {media_type: {"schema": schema}}}},
        name=f"asyncapi-{name}-{path.rsplit('.', 1)[-1]}",
    )
    async def document() -> Response:
        return Response(render(asyncapi.document(name)), media_type=media_type)
