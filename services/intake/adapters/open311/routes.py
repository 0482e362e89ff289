"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over intake's catalogue and view."""

from __future__ import annotations

import functools
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.intake import domain, store
from services.intake.api import intake_of, runtime_of
from services.intake.auth import KEYS, ApiKey, Role
from services.intake.catalogue import Catalogue
from services.intake.geo import Datum, Point, to_wgs84
from shared import idempotency
from shared.apikeys import PUBLIC, for_audience, presented_secret
from shared.commands import causation_of
from shared.events import Channel, labels
from shared.http import Problem, correlation_of

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])

CHANGESET = "2026-11-23T00:00:00+08:00"  # bump when this surface changes (sortable, per spec)
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
WINDOW = timedelta(days=90)  # the spec's default and widest range of requested_datetime
PAGE_SIZE = 1000  # default and largest page_size; `page` counts from 1 (as Bloomington does)
# Open311 knows only open and closed: whatever is answered or ended is closed; redo reopens.
CLOSED = frozenset({"answered", "resolved", "called_back", "merged", "withdrawn", "closed"})
# The Spark convention: the repeated child element of each XML container (a JSON array).
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
_ATTRIBUTE = re.compile(r"attribute\[([^\]]+)\](\[\])?")
_PARAMS = {"text": "description", "address": "address_string", "name": "first_name/last_name"}
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0

# --- rendering -------------------------------------------------------------------------------


def render(
    fmt: str, root: str, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """`data` as bare JSON, or as XML under `root` with each list item in its singular element."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False).encode()
    else:
        element = ET.Element(root)
        _fill(element, data)
        xml = ET.tostring(element, encoding="unicode")
        body = f'<?xml version="1.0" encoding="utf-8"?>\n{xml}'.encode()
    return Response(body, status_code=status, media_type=FORMATS[fmt], headers=headers)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            _fill(ET.SubElement(element, name), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(element, ITEMS[element.tag]), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _UNWRITABLE.sub("", str(value))


def error_response(
    fmt: str, status: int, *descriptions: str, headers: dict[str, str] | None = None
) -> Response:
    """Open311's error array (XML unless .json was asked for); middleware may use it too."""
    errors = [{"code": status, "description": d} for d in descriptions]
    return render(fmt if fmt in FORMATS else "xml", "errors", errors, status, headers)


def _bad(*descriptions: str, status: int = 400) -> Problem:
    return Problem(status, "；".join(descriptions), errors=list(descriptions))


def _answer_problem(fmt: str, problem: Problem) -> Response:
    listed = problem.extensions.get("errors") or [problem.detail]
    descriptions = [e["message"] if isinstance(e, dict) else str(e) for e in listed]
    # The native API's 422 and 409 are Open311's "anything else": 400. 429 and 503 stay.
    status = 400 if problem.status in (409, 422) else problem.status
    return error_response(fmt, status, *descriptions, headers=problem.headers)


Handler = Callable[..., Awaitable[Response]]


def _route(method: str, path: str, summary: str) -> Callable[[Handler], Handler]:
    """A route served as .json and .xml whose every failure is an Open311 error array.

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
                    client = request.client.host if request.client else "unknown"
                    limiter = runtime_of(request).limiter
                    await limiter.check(
                        f"open311:{client}", intake_of(request).settings.open311_reads_per_minute
                    )
                return await handler(request, fmt, **path)
            except Problem as problem:
                return _answer_problem(fmt, problem)

        # Reads are public; a request is filed with a channel key sent as the form's api_key.
        door = PUBLIC if method == "GET" else KEY_IN_FORM
        router.add_api_route(path, route, methods=[method], summary=summary, dependencies=[door])
        return route

    return register


async def _catalogue(request: Request) -> Catalogue:
    async with runtime_of(request).pool.acquire() as conn:
        return await intake_of(request).catalogue(conn)


# --- discovery and services ------------------------------------------------------------------


@_route("GET", "/discovery.{fmt}", "服务发现 Service discovery")
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


@_route("GET", "/services.{fmt}", "服务（诉求类别）列表 Service list")
async def services(request: Request, fmt: str) -> Response:
    listed = [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": c.description,
            "metadata": bool(c.attributes),
            "type": "realtime",  # the request is committed before we answer, id and all
            "keywords": ",".join(c.keywords) or None,
            "group": c.group,
        }
        for c in (await _catalogue(request)).categories.values()
    ]
    return render(fmt, "services", listed)


@_route("GET", "/services/{service_code}.{fmt}", "服务定义 Service definition")
async def service_definition(request: Request, fmt: str, service_code: str) -> Response:
    category = (await _catalogue(request)).categories.get(service_code)
    if category is None:
        raise _bad(f"未知的服务代码 Unknown service_code {service_code}", status=404)
    # The spec wants a unique positive order; the catalogue may leave it out (for a notice).
    spare = iter(range(max((a.order or 0 for a in category.attributes), default=0) + 1, 10**6))
    ordered = sorted(((a.order or next(spare), a) for a in category.attributes), key=lambda p: p[0])
    attributes = [
        {
            "variable": a.variable,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": a.datatype_description,
            "order": order,
            "description": a.description,
            "values": [{"key": v.key, "name": v.name} for v in a.values],
        }
        for order, a in ordered
    ]
    definition = {"service_code": category.code, "attributes": attributes}
    return render(fmt, "service_definition", definition)


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


@_route("POST", "/requests.{fmt}", "提交诉求 Create a service request")
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
        if not all(re.fullmatch(r"https?://\S{1,2000}", m) for m in media):  # domain.MEDIA_URL
            problems.append("media_url 须为 http(s) 链接 must be http(s) URLs")
        place = _place(catalogue, form, problems)
        if problems:
            raise _bad(*problems)
        try:  # email, device_id and account_id are not kept: no identifiers in events
            command = domain.FileComplaint(
                channel=Channel.OPEN311,
                text=description,
                category=service_code,  # the type is left to the classifier
                attributes=_answers(form),  # checked against the category by intake.file
                media_urls=media,
                contact=domain.Contact(name=_name(form), phone=phone or ""),
                **place,
            )
        except ValidationError as error:
            raise _bad(*_messages(error)) from None

        async def produce() -> tuple[int, dict[str, Any]]:
            filed = (await intake.file(conn, command, causation)).state
            due = filed.due_at.astimezone(domain.CHINA) if filed.due_at else None
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


@_route("GET", "/tokens/{token}.{fmt}", "凭令牌查询编号 The service_request_id for a token")
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


def _w3c(moment: datetime | None) -> str | None:
    """A W3C datetime in China's offset, whole seconds: 2026-05-01T08:00:00+08:00."""
    return moment.astimezone(domain.CHINA).replace(microsecond=0).isoformat() if moment else None


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


def _select(filters: list[tuple[str, Any]], order: str, request: Request) -> tuple[str, list[Any]]:
    """WHERE … ORDER BY … LIMIT … OFFSET … for the filters given, and the page asked for."""
    try:
        page = int(request.query_params.get("page") or 1)
        size = int(request.query_params.get("page_size") or PAGE_SIZE)
    except ValueError:
        page = size = 0
    if not 0 < page <= 1_000_000 or not 0 < size <= PAGE_SIZE:
        raise _bad(f"page 须 ≥ 1，page_size 须在 1 到 {PAGE_SIZE} 之间 page ≥ 1, page_size 1-1000")
    conditions, args = [], []
    for condition, value in filters:
        if value not in (None, []):
            args.append(value)
            conditions.append(condition.replace("?", f"${len(args)}"))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    args += [size, (page - 1) * size]
    return f"{where} ORDER BY {order} LIMIT ${len(args) - 1} OFFSET ${len(args)}", args


def _status_filter(request: Request, column: str) -> tuple[str, Any]:
    wanted = set(_listed(request, "status"))
    if wanted - {"open", "closed"}:
        raise _bad("status 须为 open、closed 或 open,closed must be open, closed or both")
    if len(wanted) != 1:
        return "", None
    operator = "= ANY" if "closed" in wanted else "<> ALL"
    return f"{column} {operator}(?::text[])", sorted(CLOSED)


def _open_or_closed(status: str) -> str:
    return "closed" if status in CLOSED else "open"


_COLUMNS = (
    "case_number, status, type, category, area_code, address, latitude, longitude, text, media_urls, "
    "lead_responder, due_at, status_note, filed_at, updated_at"
)


def _request_json(row: Any, catalogue: Catalogue, public_text: bool = False) -> dict[str, Any]:
    category = catalogue.categories.get(row["category"] or "")
    label = labels.STATUS[domain.S(row["status"])]
    # The feed is public: the place stops at the building (no unit, no room number), the
    # coordinates at about a hundred metres, and the resident's own words (which may name
    # people, doors and numbers in ways no masker catches) are shown only where the city
    # chose to publish them (INTAKE_OPEN311_PUBLIC_TEXT; phone and ID numbers were masked at
    # filing); a link is shown only if it is a web link. What a whistle-blower reported (举报)
    # is never shown.
    place_code, place = catalogue.public_place(row["area_code"])
    what = category.name if category else "诉求"
    if row["type"] == "report":
        text = "（举报内容不公开 Report details are not public）"
    elif public_text:
        text = row["text"]
    else:
        text = (
            f"{what}（{place or '地点不公开'}）：居民原话不公开 The resident's words are not public"
        )
    media = [m for m in row["media_urls"] or () if re.fullmatch(domain.MEDIA_URL, m)]
    return {
        "service_request_id": row["case_number"],
        "status": _open_or_closed(row["status"]),
        "status_notes": f"{label}：{row['status_note']}" if row["status_note"] else label,
        "service_name": category.name if category else row["category"],
        "service_code": row["category"],
        "description": text,
        "agency_responsible": row["lead_responder"],
        "service_notice": None,
        "requested_datetime": _w3c(row["filed_at"]),
        "updated_datetime": _w3c(row["updated_at"]),
        "expected_datetime": _w3c(row["due_at"]),
        "address": place,
        "address_id": place_code,
        "zipcode": None,
        "lat": _rounded(row["latitude"]),
        "long": _rounded(row["longitude"]),
        "media_url": media[0] if media else None,
    }


def _rounded(degrees: float | None) -> float | None:
    """Three decimals: about 110 m north-south, enough to find the street, not the door."""
    return None if degrees is None else round(degrees, 3)


@_route("GET", "/requests.{fmt}", "诉求列表 Service requests, newest first")
async def requests(request: Request, fmt: str) -> Response:
    ids = _listed(request, "service_request_id")
    if len(ids) > PAGE_SIZE:
        raise _bad(f"service_request_id 最多 {PAGE_SIZE} 个 at most {PAGE_SIZE} ids")
    if ids:  # "This overrides all other arguments."
        filters: list[tuple[str, Any]] = [("case_number = ANY(?::text[])", ids)]
    else:
        after, before = _when(request, "updated_after"), _when(request, "updated_before")
        # A client syncing changes asks by updated time: no default window on filing then.
        start, end = _window(request, default=after is None and before is None)
        filters = [
            ("category = ANY(?::text[])", _listed(request, "service_code")),
            _status_filter(request, "status"),
            ("filed_at >= ?", start),
            ("filed_at < ?", end),
            ("updated_at >= ?", after),
            ("updated_at < ?", before),
        ]
    page, args = _select(filters, "filed_at DESC, case_number DESC", request)
    async with runtime_of(request).pool.acquire() as conn:
        catalogue = await intake_of(request).catalogue(conn)
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM complaints{page}", *args)
    public_text = intake_of(request).settings.open311_public_text
    return render(
        fmt, "service_requests", [_request_json(row, catalogue, public_text) for row in rows]
    )


@_route("GET", "/requests/{service_request_id}.{fmt}", "单个诉求 One service request")
async def one_request(request: Request, fmt: str, service_request_id: str) -> Response:
    async with runtime_of(request).pool.acquire() as conn:
        catalogue = await intake_of(request).catalogue(conn)
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM complaints WHERE case_number = $1", service_request_id
        )
    if row is None:
        raise _bad(f"未知的诉求编号 Unknown service_request_id {service_request_id}", status=404)
    public_text = intake_of(request).settings.open311_public_text
    return render(fmt, "service_requests", [_request_json(row, catalogue, public_text)])


@_route("GET", "/servicerequestupdates.{fmt}", "办理进度 Service request updates (mySociety)")
async def updates(request: Request, fmt: str) -> Response:
    """Every step a person can read about, oldest first, so a client can resume where it was."""
    start, end = _window(request, default=True)
    filters = [
        ("u.updated_at >= ?", start),
        ("u.updated_at < ?", end),
        ("c.case_number = ANY(?::text[])", _listed(request, "service_request_id")),
    ]
    page, args = _select(filters, "u.updated_at, u.update_id", request)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT u.update_id, c.case_number, u.status, u.description, u.updated_at "
            f"FROM complaint_updates u JOIN complaints c USING (complaint_id){page}",
            *args,
        )
    listed = [
        {
            "update_id": str(row["update_id"]),
            "service_request_id": row["case_number"],
            "status": _open_or_closed(row["status"]),
            "updated_datetime": _w3c(row["updated_at"]),
            "description": row["description"],
            "media_url": "",
            "external_status_code": row["status"],  # our finer status (dispatched, signed…)
        }
        for row in rows
    ]
    return render(fmt, "service_request_updates", listed)


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
