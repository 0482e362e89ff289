"""Reporting's HTTP routes: every read model with paging, filters and CSV export (`format=csv`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting import domain, insights, measures, store
from services.reporting.api.csv import csv_response
from services.reporting.areas import Level
from services.reporting.auth import OPERATOR, READER, ApiKey
from services.reporting.measures import DIMENSIONS, MeasuresConfig
from services.reporting.projections import MODELS
from shared.apikeys import PUBLIC
from shared.http import Offset, Problem
from shared.runtime import ServiceRuntime

Format = Annotated[
    Literal["json", "csv"],
    Query(description="json，或 csv 导出全部符合条件的行 csv exports every matching row"),
]
Limit = Annotated[
    int | None,
    Query(ge=1, le=100_000, description="每页条数（JSON 默认 50） Page size (JSON default 50)"),
]
AsOf = Annotated[
    datetime | None,
    Query(
        description="计算时点（默认现在），用于判断超期 The moment time left and overdue are judged at"
    ),
]
AreaCode = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9A-Za-z-]{1,40}$",
        description="区域代码，任意层级（区县/街道/社区/网格/楼栋） An area at any level",
    ),
]
MONTH = r"^(19[7-9]\d|2[01]\d\d)-(0[1-9]|1[0-2])$"  # 1970-01 … 2199-12
Month = Annotated[str, Query(pattern=MONTH, description="月份 YYYY-MM")]
CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV（format=csv）"}

# Public: the board, measures, rankings and hot spots hold no resident data. Cases and agendas
# need a key and show its area only (services/reporting/auth.py).
cases_router = APIRouter(tags=["案件 Cases"])
board_router = APIRouter(tags=["督办墙 Public board"], dependencies=[PUBLIC])
measures_router = APIRouter(tags=["统计指标与排名 Measures and rankings"], dependencies=[PUBLIC])
insights_router = APIRouter(
    tags=["热点与主动治理 Hot spots and proactive governance"], dependencies=[PUBLIC]
)
agenda_router = APIRouter(tags=["议事清单 Deliberation agendas"])
models_router = APIRouter(tags=["读模型 Read models"])

NOT_SEEN: dict[int | str, dict[str, Any]] = {
    401: {"description": "缺少或无效的密钥 Missing or unknown key"},
    403: {"description": "密钥角色不符 The key's role may not read this"},
}


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _config(request: Request) -> MeasuresConfig:
    config: MeasuresConfig = _runtime(request).state["measures"]
    return config


def _as_of(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if not 1970 <= value.year <= 2199:
        raise Problem(422, "as_of 须在 1970 至 2199 年之间 as_of must lie between 1970 and 2199")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _page(fmt: str, limit: int | None) -> int | None:
    """CSV takes every matching row unless a limit is given; JSON pages by 50."""
    if fmt == "csv":
        return limit
    return limit or 50


def _listing(
    request: Request,
    rows: list[dict[str, Any]],
    item: type[BaseModel],
    fmt: str,
    limit: int | None,
    offset: int,
    filename: str,
) -> dict[str, Any] | Response:
    """A computed list's page as JSON fields, or every row of it as CSV."""
    size = _page(fmt, limit)
    page = rows[offset : offset + size if size else None]
    if fmt == "csv":
        return csv_response(page, filename, _config(request))
    return {
        "items": [item.model_validate(r) for r in page],
        "total": len(rows),
        "limit": size,
        "offset": offset,
    }


# --- cases ---------------------------------------------------------------------------------


class Responder(BaseModel):
    id: str
    name: str | None


class TimelineEntry(BaseModel):
    event_id: UUID
    type: str
    occurred_at: datetime
    projected_at: datetime
    source: str
    summary: str


class WorkOrder(BaseModel):
    work_order_id: UUID
    responder_id: str | None
    responder_name: str | None
    responder_kind: str | None
    role: str | None
    purpose: str | None
    round: int | None
    priority: str | None
    rule_id: str | None
    reason: str | None
    task: str | None
    issued_at: datetime | None
    sign_due_at: datetime | None
    contact_due_at: datetime | None
    due_at: datetime | None
    extended: bool | None
    signed_at: datetime | None
    signed_by: str | None
    contacted_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    report: str | None
    returned_at: datetime | None
    return_reason: str | None
    cancelled_at: datetime | None
    first_breached_at: datetime | None


class Notification(BaseModel):
    notification_id: UUID
    audience: str | None
    recipient: str | None
    channel: str | None
    template: str | None
    status: str | None
    attempts: int | None
    last_error: str | None
    updated_at: datetime | None


class Open311(BaseModel):
    """The case as Open311 GeoReport v2 names it (service request fields)."""

    service_request_id: str | None
    status: Literal["open", "closed"]
    status_notes: str
    service_code: str | None
    service_name: str | None
    description: str | None
    agency_responsible: str | None
    requested_datetime: datetime | None
    updated_datetime: datetime | None
    expected_datetime: datetime | None
    address: str | None
    lat: float | None
    long: float | None


class CaseSummary(BaseModel):
    complaint_id: UUID
    case_number: str | None
    status: domain.CaseStatus
    status_label: str
    channel: str | None
    type: str | None
    category: str | None
    category_name: str | None
    area_code: str | None
    street_code: str | None
    community_code: str | None
    address: str | None
    filed_at: datetime | None
    dispatched_at: datetime | None
    lead_responder: Responder | None
    deadline: datetime | None = Field(description="主办单位办理时限 The lead's feedback deadline")
    escalation_level: str | None
    redo_count: int | None
    rated_resolved: bool | None
    rated_satisfied: bool | None
    rated_satisfaction: str | None = Field(
        None, description="满意/基本满意/不满意 satisfied | basically_satisfied | unsatisfied"
    )
    rated_via: str | None = Field(None, description="评价方式 callback | sms | wechat | link")


class Case(CaseSummary):
    masked_phone: str | None
    text: str | None
    open311: Open311
    work_orders: list[WorkOrder]
    notifications: list[Notification]
    timeline: list[TimelineEntry]


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int | None
    offset: int


def _summary_fields(row: dict[str, Any]) -> dict[str, Any]:
    status = domain.case_status(row)
    lead = (
        Responder(id=row["lead_responder_id"], name=row.get("lead_responder_name"))
        if row.get("lead_responder_id")
        else None
    )
    return {
        **row,
        "status": status,
        "status_label": domain.STATUS_LABELS[status],
        "lead_responder": lead,
        "deadline": row.get("lead_due_at"),
    }


def _open311(row: dict[str, Any], status: domain.CaseStatus) -> Open311:
    timeline = row.get("timeline") or []
    updated = [t for t in (row.get("status_at"), row.get("dispatch_state_at")) if t]
    return Open311(
        service_request_id=row.get("case_number"),
        status="closed" if status.value in domain.CLOSED else "open",
        status_notes=timeline[-1]["summary"] if timeline else domain.STATUS_LABELS[status],
        service_code=row.get("category"),
        service_name=row.get("category_name"),
        description=row.get("text"),
        agency_responsible=row.get("lead_responder_name"),
        requested_datetime=row.get("filed_at"),
        updated_datetime=max(updated) if updated else row.get("filed_at"),
        expected_datetime=row.get("lead_due_at"),
        address=row.get("address"),
        lat=row.get("latitude"),
        long=row.get("longitude"),
    )


@cases_router.get(
    "/cases/{complaint_id}",
    response_model=Case,
    summary="案件详情、Open311 字段与全程时间线 A case with its Open311 fields and full timeline",
    description="密钥辖区以外的案件答 404，与不存在的一样。 A case outside the key's area is a 404.",
    responses={404: {"description": "未找到 Not found"}, **NOT_SEEN},
)
async def get_case(complaint_id: UUID, request: Request, key: Annotated[ApiKey, READER]) -> Case:
    async with _runtime(request).pool.acquire() as conn:
        row = await store.get_case(conn, complaint_id, within=key.area)
    if row is None:
        raise Problem(404, f"案件 {complaint_id} 不存在或尚未同步 No such case (yet)")
    fields = _summary_fields(row)
    return Case.model_validate({**fields, "open311": _open311(row, fields["status"])})


@cases_router.get(
    "/cases",
    response_model=CasePage,
    summary="案件列表 Cases, filtered and paged",
    description="只列出密钥辖区内的案件。 Lists the cases in the key's area only.",
    responses={200: CSV, **NOT_SEEN},
)
async def list_cases(
    request: Request,
    key: Annotated[ApiKey, READER],
    status: Annotated[domain.CaseStatus | None, Query(description="状态 Status")] = None,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    type: Annotated[str | None, Query(max_length=20, description="类型 Type")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    responder_id: Annotated[str | None, Query(max_length=60, description="主办单位")] = None,
    filed_from: Annotated[datetime | None, Query(description="受理时间起 (含)")] = None,
    filed_to: Annotated[datetime | None, Query(description="受理时间止 (不含)")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> CasePage | Response:
    case_filter = store.CaseFilter(
        status=status.value if status else None,
        area_code=area_code,
        category=category,
        type=type,
        channel=channel,
        responder_id=responder_id,
        filed_from=filed_from,
        filed_to=filed_to,
        within=key.area,
    )
    async with _runtime(request).pool.acquire() as conn:
        total, rows = await store.find_cases(conn, case_filter, _page(format, limit), offset)
    items = [CaseSummary.model_validate(_summary_fields(row)) for row in rows]
    if format == "csv":
        return csv_response([i.model_dump() for i in items], "cases", _config(request))
    return CasePage(items=items, total=total, limit=_page(format, limit), offset=offset)


# --- the public board 督办墙 ---------------------------------------------------------------


class BoardItem(BaseModel):
    complaint_id: UUID
    case_number: str | None
    category: str | None
    category_name: str | None
    stage: domain.Stage
    stage_label: str
    place_name: str | None = Field(description="地点（区域名称，不含门牌与个人信息）")
    street_name: str | None
    community_name: str | None
    area_code: str | None
    filed_at: datetime | None
    lead_responder_id: str | None
    lead_responder_name: str | None
    responsible_person: str | None = Field(description="责任人：单位负责人，或签收人")
    dispatched_at: datetime | None
    due_at: datetime | None
    extended: bool | None
    seconds_left: float | None = Field(description="距时限秒数，负数为已超期")
    time_left: str | None = Field(description="剩余/超期时间 Time left, or overdue by")
    overdue: bool
    escalation_level: str | None
    escalated_to: str | None
    redo_count: int | None
    last_urged_at: datetime | None
    last_supervised_at: datetime | None


class BoardPage(BaseModel):
    as_of: datetime
    items: list[BoardItem]
    total: int
    overdue_on_page: int
    limit: int | None
    offset: int


def _signer(signed_by: str | None) -> str | None:
    """Key names read `role:name`; the board shows the name."""
    return signed_by.split(":", 1)[-1] if signed_by else None


def _board_item(row: dict[str, Any]) -> BoardItem:
    stage = domain.board_stage(row)
    running = stage not in (domain.Stage.DELIBERATING, domain.Stage.REPORTED)
    seconds = row.get("seconds_left") if running else None
    return BoardItem.model_validate(
        {
            **row,
            "stage": stage,
            "stage_label": domain.STAGE_LABELS[stage],
            "responsible_person": row.get("responsible_person") or _signer(row.get("signed_by")),
            "seconds_left": seconds,
            "time_left": domain.overdue_text(seconds) if seconds is not None else None,
            "overdue": seconds is not None and seconds < 0,
        }
    )


@board_router.get(
    "/board",
    response_model=BoardPage,
    summary="督办墙：每件未办结诉求的主办单位、责任人、时限与剩余时间 The public progress board",
    description=(
        "公开展示，不含诉求人信息与门牌地址。超期的排在最前，其余按时限先后。"
        "Public: no resident data or street address. Overdue matters first, then by deadline."
    ),
    responses={200: CSV},
)
async def get_board(
    request: Request,
    area_code: AreaCode = None,
    responder_id: Annotated[str | None, Query(max_length=60, description="主办单位")] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    overdue: Annotated[bool | None, Query(description="只看超期 / 未超期")] = None,
    escalated: Annotated[bool | None, Query(description="只看已升级督办 / 未升级")] = None,
    include_reported: Annotated[bool, Query(description="含已反馈待回访的诉求")] = False,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> BoardPage | Response:
    when = _as_of(as_of)
    board_filter = store.BoardFilter(
        area=area_code,
        responder_id=responder_id,
        category=category,
        overdue=overdue,
        escalated=escalated,
        reported=include_reported,
    )
    async with _runtime(request).pool.acquire() as conn:
        total, rows = await store.board(conn, board_filter, when, _page(format, limit), offset)
    items = [_board_item(row) for row in rows]
    if format == "csv":
        return csv_response([i.model_dump() for i in items], "board", _config(request))
    return BoardPage(
        as_of=when,
        items=items,
        total=total,
        overdue_on_page=sum(i.overdue for i in items),
        limit=_page(format, limit),
        offset=offset,
    )


# --- measures and rankings -------------------------------------------------------------------


class MeasureRow(BaseModel):
    key: dict[str, str | None] = Field(
        description="分组维度及名称 The group's dimensions and names"
    )
    values: dict[str, float | int | None] = Field(
        description="各项指标（比率为 0–1） Measures (rates 0–1)"
    )
    composite_score: float | None = Field(description="综合得分 Composite score")
    counts: dict[str, float | int] = Field(
        description="分子分母计数 The counts behind the measures"
    )


class MeasurePage(BaseModel):
    group_by: list[str]
    as_of: datetime
    items: list[MeasureRow]
    total: int
    limit: int | None
    offset: int


def _dimensions(group_by: str) -> list[str]:
    wanted = [d.strip() for d in group_by.split(",") if d.strip()]
    unknown = [d for d in wanted if d not in DIMENSIONS]
    if unknown or len(set(wanted)) != len(wanted):
        raise Problem(
            422,
            f"group_by 只能是 {', '.join(DIMENSIONS)} 中不重复的几项 "
            f"group_by must list distinct dimensions among {', '.join(DIMENSIONS)}",
        )
    return wanted


@measures_router.get(
    "/measures",
    response_model=MeasurePage,
    summary="统计指标：诉求量、响应率、解决率、满意率等，按区域层级/单位/类别/类型/月份分组 The measures cube",
    responses={200: CSV},
)
async def get_measures(
    request: Request,
    group_by: Annotated[
        str,
        Query(
            max_length=200,
            description="逗号分隔：district, street, community, grid, responder, category, type, channel, month",
        ),
    ] = "month",
    month_from: Annotated[str | None, Query(pattern=MONTH, description="起始月份（含）")] = None,
    month_to: Annotated[str | None, Query(pattern=MONTH, description="截止月份（含）")] = None,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    type: Annotated[str | None, Query(max_length=20)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    responder_id: Annotated[str | None, Query(max_length=60)] = None,
    responder_kind: Annotated[
        str | None, Query(max_length=40, description="单位类型，如 department")
    ] = None,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> MeasurePage | Response:
    dims = _dimensions(group_by)
    where = measures.CubeFilter(
        month_from=month_from,
        month_to=month_to,
        area_code=area_code,
        category=category,
        type=type,
        channel=channel,
        responder_id=responder_id,
        responder_kinds=(responder_kind,) if responder_kind else None,
    )
    when = _as_of(as_of)
    async with _runtime(request).pool.acquire() as conn:
        rows = await measures.cube(conn, _config(request), dims, where, when)
    listing = _listing(request, rows, MeasureRow, format, limit, offset, "measures")
    if isinstance(listing, Response):
        return listing
    return MeasurePage(group_by=dims, as_of=when, **listing)


class Definition(BaseModel):
    name: str
    label: str
    en: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    count: str | None = None
    lower_is_better: bool = False
    definition: str | None = None


class Definitions(BaseModel):
    timezone: str
    measures: list[Definition]
    counts: list[Definition]
    composite: dict[str, Any]
    rankings: dict[str, Any]


@measures_router.get(
    "/measures/definitions",
    response_model=Definitions,
    summary="统计口径：各指标的公式、计数定义与综合得分权重 Formulas, counts and weights",
)
async def get_definitions(request: Request) -> Definitions:
    config = _config(request)
    return Definitions(
        timezone=config.timezone,
        measures=[
            Definition(
                name=name,
                label=m.name,
                en=m.en,
                numerator=m.numerator,
                denominator=m.denominator,
                count=m.count,
                lower_is_better=m.lower_is_better,
            )
            for name, m in config.measures.items()
        ],
        counts=[
            Definition(name=c.name, label=c.label, definition=c.definition)
            for c in measures.COUNTS.values()
        ],
        composite=config.composite.model_dump(),
        rankings={
            "min_volume": config.rankings.min_volume,
            "governance_bottom": config.rankings.governance_bottom,
            "list_size": config.rankings.list_size,
            "groups": {k: v.model_dump() for k, v in config.rankings.groups().items()},
        },
    )


class RankingEntry(BaseModel):
    rank: int
    unit: str
    unit_name: str
    composite_score: float | None
    values: dict[str, float | int | None]
    counts: dict[str, float | int]
    governance: bool = Field(description="治理类（排名末位，重点整治）")
    red_list: bool = Field(description="红榜（前列）")
    black_list: bool = Field(description="黑榜（末位）")


class Unranked(BaseModel):
    unit: str
    unit_name: str
    valid: int


class Ranking(BaseModel):
    group: str
    group_name: str
    month: str
    weights: dict[str, float]
    entries: list[RankingEntry]
    unranked: list[Unranked] = Field(description="有效诉求不足或无可评指标，不参与排名")
    total: int
    limit: int | None
    offset: int


@measures_router.get(
    "/rankings/{group}",
    response_model=Ranking,
    summary="月度排名（按综合得分；末位为治理类，前后各 5 名为红黑榜） The monthly ranking",
    responses={200: CSV, 404: {"description": "没有这个排名 No such ranking"}},
)
async def get_ranking(
    request: Request,
    group: str,
    month: Month,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> Ranking | Response:
    config = _config(request)
    groups = config.rankings.groups()
    if group not in groups:
        raise Problem(404, f"没有排名 {group}；可选 {', '.join(groups)} (no such ranking)")
    async with _runtime(request).pool.acquire() as conn:
        result = await measures.ranking(conn, config, group, month, _as_of(as_of))
    listing = _listing(
        request, result["entries"], RankingEntry, format, limit, offset, f"ranking-{group}-{month}"
    )
    if isinstance(listing, Response):
        return listing
    entries = listing.pop("items")
    return Ranking.model_validate({**result, **listing, "entries": entries})


# --- hot spots and proactive governance ------------------------------------------------------


class Hotspot(BaseModel):
    area: str
    area_name: str | None
    level: str
    category: str
    category_name: str | None
    total: int
    this_week: int
    weekly: list[int] = Field(description="逐周件数，最早一周在前 Weekly counts, oldest first")
    weeks_from: str
    trend: float = Field(description="每周变化（最小二乘斜率） Change per week (least squares)")
    change_vs_average: float


class HotspotPage(BaseModel):
    items: list[Hotspot]
    total: int
    limit: int | None
    offset: int


@insights_router.get(
    "/hotspots",
    response_model=HotspotPage,
    summary="热点：类别 × 区域的逐周件数与趋势 Category × area counts by week, with trend",
    responses={200: CSV},
)
async def get_hotspots(
    request: Request,
    level: Annotated[Level, Query(description="区域层级 Area level")] = Level.COMMUNITY,
    weeks: Annotated[int | None, Query(ge=1, le=104)] = None,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> HotspotPage | Response:
    async with _runtime(request).pool.acquire() as conn:
        rows = await insights.hotspots(
            conn, _config(request), level.value, _as_of(as_of), weeks, area_code, category
        )
    listing = _listing(request, rows, Hotspot, format, limit, offset, "hotspots")
    return listing if isinstance(listing, Response) else HotspotPage(**listing)


class Evidence(BaseModel):
    case_number: str | None
    complaint_id: UUID
    filed_at: datetime


class RecurringProblem(BaseModel):
    place: str
    place_name: str | None
    community_name: str | None
    category: str
    category_name: str | None
    cases: int
    months: list[str]
    first_at: datetime
    last_at: datetime
    reasons: list[str] = Field(description="为何列为未诉先办候选 Why it is a candidate")
    suggestion: str
    evidence: list[Evidence] = Field(
        description="最近的诉求（至多 20 件） The latest matters (up to 20)"
    )


class RecurringPage(BaseModel):
    items: list[RecurringProblem]
    total: int
    limit: int | None
    offset: int


@insights_router.get(
    "/proactive/recurring",
    response_model=RecurringPage,
    summary="未诉先办候选：同一楼栋或网格、同一类别反复出现或逢季必发 Recurring problems",
    responses={200: CSV},
)
async def get_recurring(
    request: Request,
    area_code: AreaCode = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> RecurringPage | Response:
    async with _runtime(request).pool.acquire() as conn:
        rows = await insights.recurring(conn, _config(request), _as_of(as_of), area_code, category)
    listing = _listing(request, rows, RecurringProblem, format, limit, offset, "recurring")
    return listing if isinstance(listing, Response) else RecurringPage(**listing)


class TopicArea(BaseModel):
    street: str
    street_name: str | None
    cases: int


class MonthlyTopic(BaseModel):
    category: str
    category_name: str | None
    month: str
    cases: int
    baseline: float = Field(description="此前几个月的月均件数 Monthly average before")
    rise: float
    growth: float | None
    streets: int
    areas: list[TopicArea] = Field(description="件数最多的街道 The streets with the most")


class MonthlyTopics(BaseModel):
    month: str
    items: list[MonthlyTopic]
    total: int
    limit: int | None
    offset: int


@insights_router.get(
    "/proactive/monthly-topics",
    response_model=MonthlyTopics,
    summary="每月一题建议：本月上升最快的类别 The month's fastest-rising categories",
    responses={200: CSV},
)
async def get_monthly_topics(
    request: Request,
    month: Month,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> MonthlyTopics | Response:
    async with _runtime(request).pool.acquire() as conn:
        rows = await insights.monthly_topics(conn, _config(request), month)
    listing = _listing(request, rows, MonthlyTopic, format, limit, offset, f"topics-{month}")
    return listing if isinstance(listing, Response) else MonthlyTopics(month=month, **listing)


# --- deliberation agendas ----------------------------------------------------------------------


class AgendaEntry(BaseModel):
    item_id: UUID
    complaint_id: UUID | None
    case_number: str | None
    community_code: str | None
    community_name: str | None
    district_code: str | None
    district_name: str | None
    level: str | None = Field(description="community 社区议事会 | district 区县大党委联席会议")
    stage: str | None
    stage_label: str | None
    stage_at: datetime | None
    title: str | None
    reason: str | None
    opened_at: datetime | None
    topic: str | None
    parties: list[str] | None
    minutes: str | None
    settled: bool | None
    held_at: datetime | None
    decision: str | None
    assignments: list[dict[str, Any]] | None
    decided_at: datetime | None
    verdict: str | None
    review_satisfied: bool | None
    reviewed_at: datetime | None
    raised_at: datetime | None
    raise_reason: str | None


class AgendaPage(BaseModel):
    items: list[AgendaEntry]
    total: int
    limit: int | None
    offset: int


AGENDA_STAGES = {
    "collected": "收集问题",
    "topic_set": "确定议题",
    "unsettled": "协商未果",
    "deliberated": "协商议事",
    "assigned": "分流落实",
    "reviewed": "监督评审",
}


async def _agenda(
    request: Request,
    agenda_filter: store.AgendaFilter,
    limit: int | None,
    offset: int,
    fmt: str,
    name: str,
) -> AgendaPage | Response:
    async with _runtime(request).pool.acquire() as conn:
        total, rows = await store.agenda(conn, agenda_filter, _page(fmt, limit), offset)
    items = [
        AgendaEntry.model_validate({**r, "stage_label": AGENDA_STAGES.get(r.get("stage") or "")})
        for r in rows
    ]
    if fmt == "csv":
        return csv_response([i.model_dump() for i in items], name, _config(request))
    return AgendaPage(items=items, total=total, limit=_page(fmt, limit), offset=offset)


StageQuery = Annotated[
    Literal["collected", "topic_set", "unsettled", "deliberated", "assigned", "reviewed"] | None,
    Query(description="议事步骤"),
]


@agenda_router.get(
    "/agenda",
    response_model=AgendaPage,
    summary="社区议事清单（四方五步） A community's deliberation agenda",
    responses={200: CSV, **NOT_SEEN},
)
async def get_agenda(
    request: Request,
    key: Annotated[ApiKey, READER],
    community_code: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="社区代码")
    ] = None,
    stage: StageQuery = None,
    open: Annotated[bool | None, Query(description="只看未评审结束的 / 已结束的")] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> AgendaPage | Response:
    agenda_filter = store.AgendaFilter(
        level="community", community_code=community_code, stage=stage, open=open, within=key.area
    )
    return await _agenda(request, agenda_filter, limit, offset, format, "agenda")


@agenda_router.get(
    "/agenda/joint-meeting",
    response_model=AgendaPage,
    summary="区县大党委联席会议议程 The district's joint-meeting agenda",
    responses={200: CSV, **NOT_SEEN},
)
async def get_joint_meeting(
    request: Request,
    key: Annotated[ApiKey, READER],
    district_code: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="区县代码")
    ] = None,
    stage: StageQuery = None,
    open: Annotated[bool | None, Query()] = None,
    limit: Limit = None,
    offset: Offset = 0,
    format: Format = "json",
) -> AgendaPage | Response:
    agenda_filter = store.AgendaFilter(
        level="district", district_code=district_code, stage=stage, open=open, within=key.area
    )
    return await _agenda(request, agenda_filter, limit, offset, format, "joint-meeting")


# --- the read models themselves ------------------------------------------------------------


class ReadModel(BaseModel):
    name: str
    label: str
    version: int
    tables: list[str]
    rebuilt_at: datetime | None
    events: int | None
    seconds: float | None


@models_router.get(
    "/read-models",
    response_model=list[ReadModel],
    summary="读模型及最近一次重建 The read models and their last rebuild",
    dependencies=[OPERATOR],
    responses=NOT_SEEN,
)
async def get_read_models(request: Request) -> list[ReadModel]:
    async with _runtime(request).pool.acquire() as conn:
        rows = {r["name"]: dict(r) for r in await conn.fetch("SELECT * FROM read_models")}
    return [
        ReadModel(
            name=m.name,
            label=m.label,
            version=m.version,
            tables=list(m.tables),
            rebuilt_at=rows.get(m.name, {}).get("rebuilt_at"),
            events=rows.get(m.name, {}).get("events"),
            seconds=rows.get(m.name, {}).get("seconds"),
        )
        for m in MODELS.values()
    ]


routers = [
    board_router,
    cases_router,
    measures_router,
    insights_router,
    agenda_router,
    models_router,
]
