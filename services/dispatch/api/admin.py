"""Dispatch's admin routes: the city model (whole files, CSV sections, single items), its
versions, the holiday calendar, and the public routing preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.dispatch import auth, store
from services.dispatch.api.deps import answer, dispatch_of, runtime_of
from services.dispatch.api.schemas import (
    Calendars,
    CityChange,
    CityDocument,
    CityVersion,
    CityVersions,
    CurrentCity,
    LoadedCalendar,
    RoutingPreview,
)
from services.dispatch.auth import Caller, Role, require
from services.dispatch.domain.city import (
    CSV_COLUMNS,
    SECTIONS,
    Change,
    CityFile,
    CityModel,
    CompoundIn,
    assign_compounds,
    read_csv,
    route,
)
from services.dispatch.domain.people import PersonIn, assign_people
from shared.answers import problem, problems
from shared.apikeys import PUBLIC
from shared.db import Connection
from shared.deadlines import CalendarYear, TimeLimits
from shared.events.area import PATTERN as AREA_PATTERN
from shared.http import Problem, parse_upload

router = APIRouter()
CITY = "城市模型 City model"
NO_CITY = problem(
    404, "尚未载入城市模型，或没有这一版 No city model loaded yet, or no such version"
)
NOT_FOUND = problem(
    404, "没有这一节或这一项，或尚未载入城市模型 No such section or item, or no city yet"
)
AdminKey = Annotated[Caller, require(Role.ADMIN)]
AnyKey = Annotated[Caller, require(Role.RESPONDER, Role.SUPERVISOR)]
ChangeReason = Annotated[
    str, Query(max_length=500, description="变更原因 Why (kept with the version)")
]
DOCUMENT_TYPES = {
    "application/json": {"schema": {"type": "object"}},
    "application/yaml": {"schema": {"type": "string"}},
    "text/csv": {"schema": {"type": "string"}},
}


def _invalid(error: ValidationError | ValueError, what: str) -> Problem:
    if isinstance(error, ValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in error.errors()
        ]
    else:
        errors = [{"field": "body", "message": str(error)}]
    detail = "；".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, f"{what}有误 Invalid: {detail}", errors=errors)


def _parse(raw: bytes, content_type: str, what: str) -> Any:
    """A JSON, YAML or CSV body as data (CSV stays text for the section reader)."""
    if "csv" in content_type:
        try:
            return raw.decode("utf-8-sig")
        except ValueError as error:
            raise Problem(400, f"无法解析{what} Cannot parse it: {error}") from None
    return parse_upload(raw, content_type, what)


async def _new_version(
    request: Request, conn: Connection, caller: Caller, body: dict[str, Any], reason: str
) -> dict[str, Any]:
    try:
        result = await dispatch_of(request).new_city_version(conn, body, caller.actor, reason)
    except (ValidationError, ValueError) as error:
        raise _invalid(error, "城市模型") from None
    await _dev_keys(request, conn)
    return result


async def _dev_keys(request: Request, conn: Connection) -> None:
    settings = runtime_of(request).settings
    if settings.dev_keys:
        model = await dispatch_of(request).city.current(conn)
        await auth.create_dev_keys(conn, model, settings.dev_key_rate_per_minute)
        runtime_of(request).keys.forget()


@router.put(
    "/admin/city",
    response_model=CityChange,
    tags=[CITY],
    summary="载入城市模型 Load a whole city (JSON or YAML), or CSV sections (multipart)",
    responses=problems(400),
    description=(
        "整份文件（JSON/YAML）替换全部内容；multipart 表单按节替换：areas、responders、compounds、"
        "people（网格长、楼栋长、单元长、楼管员）、categories、catalogue 为 CSV 文件，"
        "city 为城市名，time_limits 为 YAML/JSON。每次变更成为一个新版本，"
        "变化的每一项都记为事件。 A whole file replaces everything; a multipart form replaces the "
        "sections it carries. Each change is a new version, every item changed an event."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": CityFile.model_json_schema()},
                "application/yaml": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            **{
                                name: {"type": "string", "format": "binary"} for name in CSV_COLUMNS
                            },
                            "city": {"type": "string"},
                            "time_limits": {"type": "string"},
                        },
                    }
                },
            },
        }
    },
)
async def load_city(
    request: Request, caller: AdminKey, reason: ChangeReason = "载入城市模型"
) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        if content_type.startswith("multipart/form-data"):
            body = await _sections_from_form(request, conn)
        else:
            body = _parse(await request.body(), content_type, "城市模型")
            if not isinstance(body, dict):
                raise Problem(422, "城市模型须为一个对象 The city file must be an object")
        result = await _new_version(request, conn, caller, body, reason)
    dispatch_of(request).forget()  # committed: every case from now on routes by it
    return answer(result)


async def _sections_from_form(request: Request, conn: Connection) -> dict[str, Any]:
    form = await request.form()
    latest = await store.latest_city(conn)
    body: dict[str, Any] = dict(latest["body"]) if latest else {}
    after: dict[str, str] = {}  # compounds and people, applied after the responders
    for name, value in form.multi_items():
        raw = await value.read() if hasattr(value, "read") else str(value).encode()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Problem(422, f"{name} 须为 UTF-8 文本 must be UTF-8 text", field=name) from None
        if name == "city":
            body["city"] = text.strip()
        elif name == "time_limits":
            body["time_limits"] = _parse(text.encode(), "yaml", "时限设置")
        elif name in ("compounds", "people"):
            after[name] = text  # after the responders, whatever the order of the fields
        elif name in CSV_COLUMNS:
            body = _with_section(body, name, _csv_rows(name, text))
        else:
            raise Problem(422, f"未知的表单项 {name} Unknown form field", field=name)
    for name in ("people", "compounds"):
        if name in after:
            body = _with_section(body, name, _csv_rows(name, after[name]))
    return body


def _csv_rows(section: str, text: str) -> list[dict[str, Any]]:
    try:
        return read_csv(section, text)
    except ValueError as error:
        raise _invalid(error, f"{section}.csv") from None


def _with_section(body: dict[str, Any], section: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`body` with one section replaced (compounds re-assign areas to their managers; people
    replace every head and 楼管员 among the responders)."""
    if section == "people":
        try:
            people = [PersonIn.model_validate(row) for row in rows]
            return body | {"responders": assign_people(body, people)}
        except (ValidationError, ValueError) as error:
            raise _invalid(error, "people") from None
    if section == "compounds":
        try:
            compounds = [CompoundIn.model_validate(row) for row in rows]
            return body | {"responders": assign_compounds(body.get("responders", []), compounds)}
        except (ValidationError, ValueError) as error:
            raise _invalid(error, "compounds") from None
    return body | {section: rows}


@router.get(
    "/admin/city",
    tags=[CITY],
    summary="当前城市模型 The current city model",
    responses=NO_CITY,
    response_model=CurrentCity,
)
async def current_city(request: Request, _: AnyKey) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        latest = await store.latest_city(conn)
    if latest is None:
        raise Problem(404, "尚未载入城市模型 No city model loaded yet")
    return answer(
        {
            "catalogue_version": latest["version"],
            "checksum": latest["checksum"],
            "loaded_at": latest["loaded_at"].isoformat(),
            "city": latest["body"],
        }
    )


@router.get(
    "/admin/city/export",
    response_model=CityDocument,
    tags=[CITY],
    summary="导出城市文件 The current model as one city file (PUT /admin/city takes it back)",
    responses=NO_CITY,
)
async def export_city(request: Request, _: AnyKey) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        latest = await store.latest_city(conn)
    if latest is None:
        raise Problem(404, "尚未载入城市模型 No city model loaded yet")
    body: dict[str, Any] = latest["body"]
    return answer(body)


@router.get(
    "/admin/city/versions",
    tags=[CITY],
    summary="版本历史 Every version: when, by whom, why",
    response_model=CityVersions,
)
async def city_versions(request: Request, _: AnyKey) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        return answer({"versions": await dispatch_of(request).city_history(conn)})


@router.get(
    "/admin/city/versions/{version}",
    response_model=CityVersion,
    tags=[CITY],
    summary="某一版本的城市模型 The model as it was at a version (rebuilt from its events)",
    responses=NO_CITY,
)
async def city_version(version: int, request: Request, _: AnyKey) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        body = await dispatch_of(request).city_at(conn, version)
    if body is None:
        raise Problem(404, f"没有第 {version} 版 No such version")
    return answer({"catalogue_version": version, "city": body})


@router.put(
    "/admin/city/{section}",
    response_model=CityChange,
    tags=[CITY],
    summary="替换一节 Replace one section (CSV or a JSON/YAML list; time_limits as an object)",
    responses={**problems(400), **NOT_FOUND},
    openapi_extra={"requestBody": {"required": True, "content": DOCUMENT_TYPES}},
)
async def replace_section(
    section: str,
    request: Request,
    caller: AdminKey,
    reason: ChangeReason = "更新城市模型",
) -> JSONResponse:
    if section not in (*CSV_COLUMNS, "time_limits"):
        raise Problem(
            404,
            f"没有名为 {section} 的一节 No such section; one of {', '.join((*CSV_COLUMNS, 'time_limits'))}",
        )
    data = _parse(await request.body(), request.headers.get("content-type", ""), section)
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        latest = await store.latest_city(conn)
        if latest is None:
            raise Problem(404, "尚未载入城市模型：请先整份载入 Load a whole city first")
        body = dict(latest["body"])
        if section == "time_limits":
            try:
                body["time_limits"] = TimeLimits.model_validate(data).model_dump(mode="json")
            except ValidationError as error:
                raise _invalid(error, "时限设置") from None
        else:
            rows = _csv_rows(section, data) if isinstance(data, str) else data
            if not isinstance(rows, list):
                raise Problem(422, f"{section} 须为列表或 CSV A list or CSV, please")
            body = _with_section(body, section, rows)
        result = await _new_version(request, conn, caller, body, reason)
    dispatch_of(request).forget()
    return answer(result)


@router.put(
    "/admin/city/{section}/{key}",
    response_model=CityChange,
    tags=[CITY],
    summary="新增或修改一项 Put one area, unit, category or rule",
    responses=NOT_FOUND,
)
async def put_item(
    section: str,
    key: str,
    item: dict[str, Any],
    request: Request,
    caller: AdminKey,
    reason: ChangeReason = "更新一项",
) -> JSONResponse:
    field = _section_key(section)
    if str(item.get(field, key)) != key:
        raise Problem(
            422, f"路径中的 {key} 与内容中的 {field} 不一致 Path and body disagree", field=field
        )
    try:
        value = SECTIONS[section][1].model_validate(item | {field: key}).model_dump(mode="json")
    except ValidationError as error:
        raise _invalid(error, section) from None
    return answer(await _change(request, caller, [Change(section, "put", key, value)], reason))


@router.delete(
    "/admin/city/{section}/{key}",
    tags=[CITY],
    summary="删除一项 Remove one item",
    responses=NOT_FOUND,
    response_model=CityChange,
)
async def remove_item(
    section: str, key: str, request: Request, caller: AdminKey, reason: ChangeReason = "删除一项"
) -> JSONResponse:
    _section_key(section)
    async with runtime_of(request).pool.acquire() as conn:
        latest = await store.latest_city(conn)
    field = SECTIONS[section][0]
    if latest is None or not any(i[field] == key for i in latest["body"].get(section, [])):
        raise Problem(404, f"{section} 中没有 {key} Not found")
    return answer(await _change(request, caller, [Change(section, "remove", key)], reason))


def _section_key(section: str) -> str:
    if section not in SECTIONS:
        raise Problem(404, f"没有名为 {section} 的一节 One of {', '.join(SECTIONS)}")
    return SECTIONS[section][0]


async def _change(
    request: Request, caller: Caller, changes: list[Change], reason: str
) -> dict[str, Any]:
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        try:
            result = await dispatch_of(request).change_city(conn, changes, caller.actor, reason)
        except (ValidationError, ValueError) as error:
            raise _invalid(error, "城市模型") from None
        await _dev_keys(request, conn)
    dispatch_of(request).forget()
    return result


# --- the calendar -------------------------------------------------------------------------------


@router.get(
    "/admin/calendar",
    tags=[CITY],
    summary="节假日安排 Loaded holiday calendars",
    response_model=Calendars,
)
async def calendars(request: Request, _: AnyKey) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        years = await store.calendar_years(conn)
    return answer(
        {
            "years": [row["body"] | {"loaded_at": row["loaded_at"].isoformat()} for row in years],
            "note": "未载入的年份只按周一至周五计工作日 Years not loaded count Monday–Friday only",
        }
    )


@router.put(
    "/admin/calendar/{year}",
    response_model=LoadedCalendar,
    tags=[CITY],
    summary="载入某年节假日与调休 Load a year's holidays and make-up workdays (YAML, JSON or CSV)",
    responses=problems(400),
    openapi_extra={"requestBody": {"required": True, "content": DOCUMENT_TYPES}},
)
async def load_calendar(
    year: Annotated[int, Path(ge=2000, le=2100)], request: Request, caller: AdminKey
) -> JSONResponse:
    data = _parse(await request.body(), request.headers.get("content-type", ""), "节假日安排")
    if not isinstance(data, str | dict):
        raise Problem(422, "节假日安排须为一个对象或 CSV An object or CSV, please")
    try:
        if isinstance(data, str):
            calendar = CalendarYear.from_csv(data, year)
        else:
            calendar = CalendarYear.model_validate({"year": year} | data)
    except (ValidationError, ValueError) as error:
        raise _invalid(error, "节假日安排") from None
    if calendar.year != year:
        raise Problem(
            422, f"文件中的年份 {calendar.year} 与路径 {year} 不一致 Year mismatch", field="year"
        )
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        await dispatch_of(request).load_calendar(conn, calendar, caller.actor)
    dispatch_of(request).forget()
    return answer(calendar.model_dump(mode="json", by_alias=True))


# --- the public routing preview ---------------------------------------------------------------


@router.get(
    "/routing",
    response_model=RoutingPreview,
    dependencies=[PUBLIC],  # the 派单目录 is public: which unit answers for what, where
    tags=["派单 Routing"],
    summary="派单预览：某类别某区域会派给谁 Where would a complaint be routed, and why",
    responses=NO_CITY,
)
async def preview_routing(
    request: Request,
    area_code: str = Query(pattern=AREA_PATTERN, description="区划代码 Area code"),
    category: str | None = Query(None, description="类别代码 Category code"),
) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        model: CityModel | None = await dispatch_of(request).city.current(conn)
    if model is None:
        raise Problem(404, "尚未载入城市模型 No city model loaded yet")
    decision = route(model, category, area_code)
    return answer(
        {
            "lead": {
                "id": decision.lead.id,
                "name": decision.lead.name,
                "kind": decision.lead.kind,
            },
            "co": [{"id": r.id, "name": r.name, "kind": r.kind} for r in decision.co],
            "rule_id": decision.rule_id,
            "priority": decision.priority,
            "reason": decision.reason,
            "catalogue_version": model.version,
            "time_limits": model.time_limits.for_order(
                decision.priority, category, "dispatch"
            ).model_dump(),
        }
    )
