"""HTTP conventions of every service: RFC 9457 problem+json errors, the ops endpoints, and the
command routes (POST /<resource>/{id}/<verb>) with their Idempotency-Key and X-Correlation-ID."""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import yaml
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared import idempotency  # the module, not its names: it imports this one too
from shared.db import Connection
from shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from shared.telemetry import bind

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Paging: Postgres takes a bigint OFFSET, but nobody pages past two billion rows.
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="跳过的条数 Rows to skip")]

TITLES = {
    400: "请求有误 Bad request",
    401: "未认证 Unauthenticated",
    403: "无权访问 Forbidden",
    404: "未找到 Not found",
    405: "方法不允许 Method not allowed",
    409: "状态冲突 Conflict",
    413: "请求过大 Payload too large",
    415: "不支持的媒体类型 Unsupported media type",
    422: "请求参数有误 Invalid request",
    429: "请求过于频繁 Too many requests",
    500: "服务器内部错误 Internal server error",
    503: "服务暂不可用 Service unavailable",
}


class Problem(Exception):
    """Raise from a route to answer with problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.headers = headers
        self.status = status
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, error: Problem) -> JSONResponse:
        return problem_response(
            error.status,
            error.detail,
            title=error.title,
            headers=error.headers,
            **error.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_name(tuple(item.get("loc", ()))),
                "location": str(item.get("loc", ("body",))[0]),
                "message": item.get("msg", ""),
                "type": item.get("type", ""),
            }
            for item in error.errors()
        ]
        detail = "；".join(f"字段 {e['field']}: {e['message']}" for e in errors)
        return problem_response(422, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            error.status_code, str(error.detail), headers=getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "服务器内部错误，请稍后重试 An internal error occurred")


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # every path no route takes: a scanner's guesses are one series


def route_of(scope: Any, arrived: tuple[str, str] | None = None) -> str:
    """The template of the route that took the request (`/complaints/{ref}`), never its raw path:
    label values must stay as few as the routes. A request refused before routing (413, 401,
    422), or taken by a mount (which leaves no route in the scope), is matched here against
    the path and root path it `arrived` with; one that no route takes is UNMATCHED."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        if arrived is not None:  # a mount has moved the path into root_path meanwhile
            scope = {**scope, "path": arrived[0], "root_path": arrived[1]}
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class HttpMetrics:
    """Counts each HTTP response by method, route template and status, and observes the time
    to its start. Outermost of the service's middleware, so refusals count too; an error that
    escapes the app is counted as the 500 it becomes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _observe(self, scope: Any, arrived: tuple[str, str], status: int, started: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        key = (method, route_of(scope, arrived), status)
        series = self._series.get(key)
        if series is None:  # the label lookups, once per (method, route, status)
            series = (
                HTTP_REQUESTS.labels(method, key[1], str(status)),
                HTTP_DURATION.labels(method, key[1]),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(time.perf_counter() - started)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        arrived = (scope["path"], scope.get("root_path", ""))
        answered = False

        async def observed_send(message: Any) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                self._observe(scope, arrived, message["status"], started)
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            if not answered:
                self._observe(scope, arrived, 500, started)
            raise


Document = TypeVar("Document", bound=BaseModel)


def parse_upload(raw: bytes, content_type: str, what: str) -> Any:
    """A YAML or JSON upload as data: 400 if unreadable or nested too deeply to read."""
    try:
        return yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
    except (yaml.YAMLError, ValueError) as error:
        raise Problem(400, f"无法解析{what} Cannot parse it: {error}") from None
    except RecursionError:
        raise Problem(400, f"{what}嵌套过深 It is nested too deeply") from None


def parse_document(raw: bytes, content_type: str, model: type[Document], what: str) -> Document:
    """A YAML or JSON upload (a city file, say) as `model`: 400 if unreadable, 422 naming each field."""
    body = parse_upload(raw, content_type, what)
    try:
        return model.model_validate(body)
    except RecursionError:
        raise Problem(400, f"{what}嵌套过深 It is nested too deeply") from None
    except ValidationError as error:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in error.errors()
        ]
        raise Problem(
            422,
            f"{what}有误 The file is invalid: "
            + "；".join(f"{e['field']}: {e['message']}" for e in errors),
            errors=errors,
        ) from None


Refusal = Callable[[Any, int, str], Response]  # (scope, status, detail) → the answer


def problem_refusal(scope: Any, status: int, detail: str) -> Response:
    return problem_response(status, detail)


# A JSON escape of a UTF-16 surrogate: paired it is one character, alone it cannot be stored.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _unstorable(body: bytes, content_type: str) -> str | None:
    """Why Postgres could not store what `body` says, if it could not."""
    if b"\x00" in body or b"\\u0000" in body:
        return "请求中含有空字符 (NUL)，无法保存 The request holds a NUL character"
    if "form-urlencoded" in content_type and b"%00" in body:
        return "表单中含有空字符 (NUL)，无法保存 The form holds a NUL character"
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "请求中含有不成对的代理字符 The request holds a lone UTF-16 surrogate"
        except ValueError:
            return None  # not JSON: the route says so itself
    return None


class RefuseNul:
    """Refuses (422) a request whose path, query or body Postgres could not store: a NUL
    character (raw, `\\u0000`, or `%00` in a path, query or form) or a lone UTF-16 surrogate in
    JSON. Such input would otherwise fail deep inside a transaction as a 500. The body is read
    whole before the app sees it (so this runs inside the body limit and the key check).
    """

    def __init__(self, app: Any, refuse: Refusal = problem_refusal) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[dict[str, Any]] = []
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in chunks)
        target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        if b"%00" in target or b"\x00" in target:
            why: str | None = "请求中含有空字符 (NUL)，无法保存 The request holds a NUL character"
        else:
            why = _unstorable(body, content_type)
        if why is not None:
            await self.refuse(scope, 422, why)(scope, receive, send)
            return
        replay = iter(chunks)

        async def replayed() -> Any:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)


class _TooLarge(Exception):
    pass


def too_large(limit: int) -> str:
    return f"请求体超过 {limit} 字节 Request body over {limit} bytes"


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, whether or not it declares its length.

    `refuse` answers in the route's own dialect (Open311 clients read error arrays)."""

    def __init__(self, app: Any, limit: int, refuse: Refusal = problem_refusal) -> None:
        self.app = app
        self.limit = limit
        self.refuse = refuse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self.refuse(scope, 413, too_large(self.limit))(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self.refuse(scope, 413, too_large(self.limit))(scope, receive, send)


# --- commands: POST /<resource>/{id}/<verb> ---------------------------------------------------


def correlation_of(request: Request) -> UUID | None:
    """The conversation the caller names in X-Correlation-ID, if it names one (422 if that is
    not a UUID). What it is used for is shared.commands.causation_of's rule."""
    named = request.headers.get("X-Correlation-ID")
    if not named:
        return None
    try:
        correlation = UUID(named)
    except ValueError:
        raise Problem(
            422, "X-Correlation-ID 须为 UUID must be a UUID", field="X-Correlation-ID"
        ) from None
    bind(correlation=correlation)
    return correlation


# (read from the request, not declared as a header: it stays out of the OpenAPI documents)
Correlation = Annotated[UUID | None, Depends(correlation_of)]
Answer = tuple[int, dict[str, Any]]  # a status and its JSON body
CallerT = TypeVar("CallerT")
BodyT = TypeVar("BodyT", bound=BaseModel)


async def once(
    request: Request,
    key_id: str,
    scope: str,
    idempotency_key: str | None,
    payload: Any,
    produce: Callable[[Connection], Awaitable[Answer]],
) -> JSONResponse:
    """`produce` in one transaction, once per (API key, scope, Idempotency-Key): a retry gets
    the first answer, and the answer commits with the change. `payload` (JSON) is what a retry
    must repeat."""
    stored_as = idempotency.scoped(key_id, scope, idempotency_key)
    async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
        return await idempotency.idempotent(conn, stored_as, payload, lambda: produce(conn))


@dataclass(frozen=True, slots=True)
class Call(Generic[CallerT, BodyT]):
    """A command as its route hands it on: the id in the path, the validated body, who calls,
    the conversation they name, and the connection whose transaction the answer commits in."""

    target: Any
    body: BodyT
    caller: CallerT
    correlation: UUID | None
    request: Request
    conn: Connection


def command_route(
    router: APIRouter,
    path: str,
    body: type[BodyT],
    handle: Callable[[Call[CallerT, BodyT]], Awaitable[Answer]],
    *,
    caller: Any,
    key_id: Callable[[CallerT], str],
    name: str,
    scope: str | None = None,
    target: type = UUID,
    **operation: Any,
) -> None:
    """Register POST `path`, "/<resource>/{id}/<verb>": `body` is the request body, `caller`
    the dependency that authenticates (an `Annotated` type), `target` the id's type. `handle`
    runs in one transaction, once per (the caller's key, `scope` (default: the verb) and the id,
    Idempotency-Key). `name` names the operation; `operation` goes to the router as it is
    (tags, summary, responses, status_code, description)."""
    [id_name] = re.findall(r"{(\w+)}", path)
    verb = scope or path.rsplit("}/", 1)[1]

    async def endpoint(**given: Any) -> JSONResponse:
        who = given["caller"]

        async def produce(conn: Connection) -> Answer:
            call = Call(
                given[id_name], given["command"], who, given["correlation"], given["request"], conn
            )
            return await handle(call)

        scoped = f"{verb}:{given[id_name]}"
        payload = given["command"].model_dump(mode="json")
        return await once(
            given["request"], key_id(who), scoped, given["idempotency_key"], payload, produce
        )

    # FastAPI reads the parameters from the signature: the id's name is the path's.
    parameter = inspect.Parameter
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            parameter(id_name, parameter.POSITIONAL_OR_KEYWORD, annotation=target),
            parameter("command", parameter.POSITIONAL_OR_KEYWORD, annotation=body),
            parameter("request", parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            parameter("caller", parameter.POSITIONAL_OR_KEYWORD, annotation=caller),
            parameter("correlation", parameter.POSITIONAL_OR_KEYWORD, annotation=Correlation),
            parameter(
                "idempotency_key",
                parameter.POSITIONAL_OR_KEYWORD,
                annotation=idempotency.IdempotencyKey,
                default=None,
            ),
        ],
        return_annotation=JSONResponse,
    )
    router.post(path, name=name, **operation)(endpoint)
