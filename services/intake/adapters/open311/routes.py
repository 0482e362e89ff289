"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over intake's catalogue and view:
discovery, services and their definitions, filing a request, and the public feed of requests
and their updates. The documents themselves are documents.py's."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.intake import store
from services.intake.adapters.open311 import documents
from services.intake.adapters.open311.documents import FORMATS, error_response, render
from services.intake.api.deps import catalogue_of, client_of, intake_of, runtime_of
from services.intake.auth import KEYS, ApiKey, Role
from services.intake.domain.catalogue import Catalogue
from services.intake.domain.commands import Contact, FileComplaint
from services.intake.domain.geo import Datum, Point, to_wgs84
from services.intake.domain.words import CHINA
from shared import idempotency
from shared.apikeys import PUBLIC, for_audience, presented_secret
from shared.commands import causation_of
from shared.events import Channel
from shared.http import Problem, correlation_of

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])

CHANGESET = "2026-11-23T00:00:00+08:00"  # bump when this surface changes (sortable, per spec)
WINDOW = timedelta(days=90)  # the spec's default and widest range of requested_datetime
PAGE_SIZE = 1000  # default and largest page_size; `page` counts from 1 (as Bloomington does)
_ATTRIBUTE = re.compile(r"attribute\[([^\]]+)\](\[\])?")
_PARAMS = {"text": "description", "address": "address_string", "name": "first_name/last_name"}


def _bad(*descriptions: str, status: int = 400) -> Problem:
    return Problem(status, "；".join(descriptions), errors=list(descriptions))


def _answer_problem(fmt: str, problem: Problem) -> Response:
    listed = problem.extensions.get("errors") or [problem.detail]
    descriptions = [e["message"] if isinstance(e, dict) else str(e) for e in listed]
    # The native API's 422 and 409 are Open311's "anything else": 400. 429 and 503 stay.
    status = 400 if problem.status in (409, 422) else problem.status
    return error_response(fmt, status, *descriptions, headers=problem.headers)


Handler = Callable[..., Awaitable[Response]]


def _route(method: str, path: str, summary: str, answers: Any) -> Callable[[Handler], Handler]:
    """A route served as .json and .xml whose every failure is an Open311 error array; its
    answer is `answers` (a model of documents.py's, as the OpenAPI document shows it).

    Handlers take only `str` path parameters and read the query and form themselves, so
    FastAPI's 422 problem+json can never answer on an Open311 path.
    """

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def route(request: Request, fmt: str, **path: str) -> Response:
            try:
                if fmt not in FORMATS:
                    raise _bad("格式须为 .json 或 .xml Use the .json or .xml suffix", status=404)
                if method == "GET":
                    limiter = runtime_of(request).limiter
                    await limiter.check(
                        f"open311:{client_of(request)}",
                        intake_of(request).settings.open311_reads_per_minute,
                    )
                return await handler(request, fmt, **path)
            except Problem as problem:
                return _answer_problem(fmt, problem)

        # Reads are public; a request is filed with a channel key sent as the form's api_key.
        door = PUBLIC if method == "GET" else KEY_IN_FORM
        router.add_api_route(
            path,
            route,
            methods=[method],
            summary=summary,
            dependencies=[door],
            **documents.documented(answers),
        )
        return route

    return register


# --- discovery and services ------------------------------------------------------------------


@_route("GET", "/discovery.{fmt}", "服务发现 Service discovery", documents.Discovery)
async def discovery(request: Request, fmt: str) -> Response:
    production = runtime_of(request).settings.environment == "production"
    endpoint = {
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": str(request.base_url).rstrip("/") + router.prefix,
        "changeset": CHANGESET,
        "type": "production" if production else "test",
        "formats": ["text/xml", "application/json"],
    }
    found = {
        "changeset": CHANGESET,
        "contact": "接诉即办平台运维 Jiesu platform operations (12345 热线)",
        "key_service": "向平台管理员申请 open311 渠道密钥，提交时作为 api_key 参数。"
        " Ask the platform administrator for an open311 channel key; send it as api_key.",
        "endpoints": [endpoint],
    }
    return render(fmt, "discovery", found)


@_route("GET", "/services.{fmt}", "服务（诉求类别）列表 Service list", list[documents.Service])
async def services(request: Request, fmt: str) -> Response:
    catalogue = await catalogue_of(request)
    return render(fmt, "services", [documents.service(c) for c in catalogue.categories.values()])


@_route(
    "GET",
    "/services/{service_code}.{fmt}",
    "服务定义 Service definition",
    documents.ServiceDefinition,
)
async def service_definition(request: Request, fmt: str, service_code: str) -> Response:
    category = (await catalogue_of(request)).categories.get(service_code)
    if category is None:
        raise _bad(f"未知的服务代码 Unknown service_code {service_code}", status=404)
    return render(fmt, "service_definition", documents.definition(category))


# --- filing ----------------------------------------------------------------------------------


def _one(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return (value.strip() or None) if isinstance(value, str) else None


def _answers(form: FormData) -> dict[str, Any]:
    """attribute[CODE]=v, and attribute[CODE][]=v1&attribute[CODE][]=v2 for a multivaluelist."""
    found: dict[str, tuple[bool, list[str]]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and (match := _ATTRIBUTE.fullmatch(name)):
            listed, values = found.get(match[1], (False, []))
            found[match[1]] = (listed or bool(match[2]), [*values, value.strip()])
    return {
        code: [v for v in values if v] if listed or len(values) > 1 else values[0]
        for code, (listed, values) in found.items()
    }


def _place(catalogue: Catalogue, form: FormData, problems: list[str]) -> dict[str, Any]:
    """The area and address from address_id, address_string or lat/long (most precise wins)."""
    lat, long, datum = _one(form, "lat"), _one(form, "long"), _one(form, "datum") or "wgs84"
    address_id, address = _one(form, "address_id"), _one(form, "address_string")
    place: dict[str, Any] = {"datum": datum}
    point = None
    if datum not in set(Datum):
        problems.append(f"datum 须为 wgs84、gcj02 或 bd09 must be one of them, not {datum}")
    elif lat or long:
        try:
            point = Point(float(lat or "x"), float(long or "x"))
        except ValueError:
            problems.append("lat 与 long 须同时提供且为数字 lat and long must both be numbers")
            return place
        if not (-90 <= point.latitude <= 90 and -180 <= point.longitude <= 180):
            problems.append("lat/long 超出范围 lat/long out of range")
            return place
        place |= {"latitude": point.latitude, "longitude": point.longitude}
        point = to_wgs84(point, Datum(datum))  # intake.file converts the stored copy itself
    if point is None and not address_id and not address:
        problems.append(
            "须提供位置 A location is required: lat+long, address_string 或 or address_id"
        )
        return place
    # Several forms may come together (the spec's own example sends lat/long and an address).
    area = catalogue.locate(address_id=address_id, address=address, point=point)
    if area is None:
        problems.append(
            f"未知的区划代码 address_id {address_id} is not one of our area codes"
            if address_id
            else "无法确定诉求所在的社区或网格，请提供本市的地址、address_id 或市内坐标。"
            " The place is in no area we know: send an address, address_id or coordinates"
            " within the city."
        )
        return place
    named: list[str] = []
    for each in reversed(catalogue.lineage(area)):
        if named and each.name.startswith(named[-1]):
            named.pop()  # 锦水园社区, then 锦水园社区第一网格: say it once
        named.append(each.name)
    return place | {"area_code": area, "address": address or "".join(named)}


def _name(form: FormData) -> str | None:
    first, last = _one(form, "first_name") or "", _one(form, "last_name") or ""
    # A Chinese name runs family name first, without a space.
    return (f"{first} {last}".strip() if (first + last).isascii() else last + first) or None


async def _key_in_form() -> None:
    """The audience of filing through Open311; `_key` checks the key once the form is read."""


KEY_IN_FORM = for_audience(_key_in_form, *KEYS.audience(Role.CHANNEL), key_in_body=True)


async def _key(request: Request, form: FormData) -> ApiKey:
    """A channel key for open311, or a staff key; Open311 has no 401, so a bad key is 403."""
    secret = _one(form, "api_key") or request.query_params.get("api_key") or None
    secret = secret or presented_secret(request, request.headers.get("X-API-Key"))
    if secret is None:
        raise _bad("缺少 api_key Missing api_key -- can't proceed with create_request", status=403)
    try:
        key = await KEYS.authenticate(request, secret)  # counts against the key's rate (429)
    except Problem as problem:
        if problem.status != 401:
            raise
        raise _bad("api_key 无效或已吊销 Invalid api_key received", status=403) from None
    if not key.may(Role.STAFF) and key.channel is not Channel.OPEN311:
        raise _bad(f"该密钥属于「{key.channel}」渠道 Not an open311 key", status=403)
    return key


@_route("POST", "/requests.{fmt}", "提交诉求 Create a service request", list[documents.Filed])
async def create_request(request: Request, fmt: str) -> Response:
    try:
        form = await request.form()
    except StarletteHTTPException as error:
        raise _bad(f"无法解析表单 Cannot parse the form: {error.detail}") from None
    key = await _key(request, form)
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
        raise _bad("Idempotency-Key 须为 1-200 个字符 must be 1-200 characters")
    service_code = _one(form, "service_code")
    if service_code is None:
        raise _bad("service_code 必填 is required")
    runtime, intake = runtime_of(request), intake_of(request)
    causation = causation_of([], correlation_of(request))  # a filing starts a conversation
    async with runtime.pool.acquire() as conn, conn.transaction():
        catalogue = await intake.catalogue(conn)
        if service_code not in catalogue.categories:  # the spec lists 404 for this one
            raise _bad(f"未知的服务代码 Unknown service_code {service_code}", status=404)
        problems: list[str] = []
        description, phone = _one(form, "description"), _one(form, "phone")
        if description is None:
            problems.append("description 必填：请描述诉求 is required")
        elif len(description) > 2000:  # Open311 allows 4000; our complaints hold 2000
            problems.append("description 最长 2000 字 at most 2000 characters here")
        if phone is None:
            problems.append("phone 必填，用于回访 is required: we call the resident back")
        media = [m.strip() for m in form.getlist("media_url") if isinstance(m, str) and m.strip()]
        if not all(
            re.fullmatch(r"https?://\S{1,2000}", m) for m in media
        ):  # domain/commands.MEDIA_URL
            problems.append("media_url 须为 http(s) 链接 must be http(s) URLs")
        place = _place(catalogue, form, problems)
        if problems:
            raise _bad(*problems)
        try:  # email, device_id and account_id are not kept: no identifiers in events
            command = FileComplaint(
                channel=Channel.OPEN311,
                text=description,
                category=service_code,  # the type is left to the classifier
                attributes=_answers(form),  # checked against the category by intake.file
                media_urls=media,
                contact=Contact(name=_name(form), phone=phone or ""),
                **place,
            )
        except ValidationError as error:
            raise _bad(*_messages(error)) from None

        async def produce() -> tuple[int, dict[str, Any]]:
            filed = (await intake.file(conn, command, causation)).state
            due = filed.due_at.astimezone(CHINA) if filed.due_at else None
            return 200, {
                "case_number": filed.case_number,
                "label": filed.label,
                "due_at": f"{due:%Y-%m-%d %H:%M}" if due else None,
            }

        fields = [[k, v] for k, v in form.multi_items() if k != "api_key" and isinstance(v, str)]
        scoped = idempotency.scoped(key.key_id, "open311", idempotency_key)
        answer = await idempotency.idempotent(conn, scoped, sorted(fields), produce)
    body = json.loads(bytes(answer.body))
    case, notice = body["case_number"], f"诉求已受理，受理编号 {body['case_number']}"
    notice += f"，当前状态：{body['label']}"
    if body.get("due_at"):  # the promise: when the time limit that applies runs out
        notice += f"，将于 {body['due_at']} 前办理反馈。Due by {body['due_at']} (UTC+8)"
    notice += f"。Filed as {case}."
    if any(not isinstance(v, str) for _, v in form.multi_items()):  # no media store (yet)
        notice += (
            " 上传的文件未保存，请改用 media_url。Uploaded files are not kept; send media_url."
        )
    filed = [{"service_request_id": case, "service_notice": notice, "account_id": None}]
    replayed = {k: v for k, v in answer.headers.items() if k == "idempotent-replayed"}
    return render(fmt, "service_requests", filed, headers=replayed)


def _messages(error: ValidationError) -> list[str]:
    located = ((".".join(map(str, e["loc"])), e["msg"]) for e in error.errors())
    return [f"{_PARAMS.get(where, where)}: {message}" for where, message in located]


@_route(
    "GET",
    "/tokens/{token}.{fmt}",
    "凭令牌查询编号 The service_request_id for a token",
    list[documents.Token],
)
async def token(request: Request, fmt: str, token: str) -> Response:
    # A token is the complaint id of the native API; POST answers with the id straight away.
    try:
        complaint_id = uuid.UUID(token)
    except ValueError:
        raise _bad(f"未知的令牌 Unknown token {token}", status=404) from None
    async with runtime_of(request).pool.acquire() as conn:
        view = await store.find_view(conn, complaint_id=complaint_id)
    if view is None:
        raise _bad(f"未知的令牌 Unknown token {token}", status=404)
    found = [{"service_request_id": view["case_number"], "token": token}]
    return render(fmt, "service_requests", found)


# --- reading requests and their updates ------------------------------------------------------


def _when(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name, "").strip().replace(" ", "+")  # an unencoded "+08:00"
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:  # the spec makes the zone mandatory
            raise ValueError(raw)
    except ValueError:
        raise _bad(
            f"{name} 须为带时区的 W3C 时间 must be a W3C datetime with a time zone,"
            " e.g. 2026-05-01T00:00:00+08:00"
        ) from None
    return moment


def _window(request: Request, *, default: bool) -> tuple[datetime | None, datetime | None]:
    """start_date (inclusive) to end_date (exclusive): at most 90 days, the last 90 by default."""
    start, end = _when(request, "start_date"), _when(request, "end_date")
    try:  # one end given: the 90 days from or up to it
        if end is None:
            if start is None:
                return (datetime.now(UTC) - WINDOW, None) if default else (None, None)
            end = start + WINDOW
        start = start or end - WINDOW
    except OverflowError:
        raise _bad("日期超出范围 Date out of range") from None
    if end <= start:
        raise _bad("end_date 须晚于 start_date must be after start_date")
    if end - start > WINDOW:
        raise _bad("start_date 至 end_date 不能超过 90 天 The range may not span more than 90 days")
    return start, end


def _listed(request: Request, name: str) -> list[str]:
    return [v.strip() for v in request.query_params.get(name, "").split(",") if v.strip()]


def _page(request: Request) -> store.Page:
    """The page asked for: `page` (from 1) of `page_size` rows."""
    try:
        number = int(request.query_params.get("page") or 1)
        size = int(request.query_params.get("page_size") or PAGE_SIZE)
    except ValueError:
        number = size = 0
    if not 0 < number <= 1_000_000 or not 0 < size <= PAGE_SIZE:
        raise _bad(f"page 须 ≥ 1，page_size 须在 1 到 {PAGE_SIZE} 之间 page ≥ 1, page_size 1-1000")
    return store.Page(number, size)


def _statuses(request: Request) -> dict[str, list[str]]:
    """The statuses `status=open|closed` asks for (as store.service_requests takes them)."""
    wanted = set(_listed(request, "status"))
    if wanted - {"open", "closed"}:
        raise _bad("status 须为 open、closed 或 open,closed must be open, closed or both")
    if len(wanted) != 1:
        return {}
    return {"status_in" if "closed" in wanted else "status_not_in": sorted(documents.CLOSED)}


@_route(
    "GET",
    "/requests.{fmt}",
    "诉求列表 Service requests, newest first",
    list[documents.ServiceRequest],
)
async def requests(request: Request, fmt: str) -> Response:
    ids = _listed(request, "service_request_id")
    if len(ids) > PAGE_SIZE:
        raise _bad(f"service_request_id 最多 {PAGE_SIZE} 个 at most {PAGE_SIZE} ids")
    if ids:  # "This overrides all other arguments."
        filters: dict[str, Any] = {"case_numbers": ids}
    else:
        after, before = _when(request, "updated_after"), _when(request, "updated_before")
        # A client syncing changes asks by updated time: no default window on filing then.
        start, end = _window(request, default=after is None and before is None)
        filters = {
            "categories": _listed(request, "service_code"),
            **_statuses(request),
            "filed_from": start,
            "filed_before": end,
            "updated_from": after,
            "updated_before": before,
        }
    page = _page(request)
    async with runtime_of(request).pool.acquire() as conn:
        catalogue = await intake_of(request).catalogue(conn)
        rows = await store.service_requests(conn, page, **filters)
    public_text = intake_of(request).settings.open311_public_text
    listed = [documents.request(row, catalogue, public_text) for row in rows]
    return render(fmt, "service_requests", listed)


@_route(
    "GET",
    "/requests/{service_request_id}.{fmt}",
    "单个诉求 One service request",
    list[documents.ServiceRequest],
)
async def one_request(request: Request, fmt: str, service_request_id: str) -> Response:
    async with runtime_of(request).pool.acquire() as conn:
        catalogue = await intake_of(request).catalogue(conn)
        row = await store.service_request(conn, service_request_id)
    if row is None:
        raise _bad(f"未知的诉求编号 Unknown service_request_id {service_request_id}", status=404)
    public_text = intake_of(request).settings.open311_public_text
    return render(fmt, "service_requests", [documents.request(row, catalogue, public_text)])


@_route(
    "GET",
    "/servicerequestupdates.{fmt}",
    "办理进度 Service request updates (mySociety)",
    list[documents.RequestUpdate],
)
async def updates(request: Request, fmt: str) -> Response:
    """Every step a person can read about, oldest first, so a client can resume where it was."""
    start, end = _window(request, default=True)
    ids = _listed(request, "service_request_id")
    page = _page(request)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.request_updates(conn, page, since=start, before=end, case_numbers=ids)
    return render(fmt, "service_request_updates", [documents.update(row) for row in rows])


@router.api_route(
    "/{anything:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
    dependencies=[PUBLIC],
)
async def unknown(request: Request, anything: str) -> Response:
    """Anything else under /open311/v2 is still answered in Open311's words, not problem+json."""
    fmt = "json" if anything.endswith(".json") else "xml"
    others = (r for r in router.routes if getattr(r, "endpoint", None) is not unknown)
    if any(r.matches(request.scope)[0] is Match.PARTIAL for r in others):
        return error_response(fmt, 405, f"不支持 {request.method} Method not allowed")
    name = anything.removesuffix(f".{fmt}")
    return error_response(fmt, 404, f"没有这个资源 No such resource: {name}")
