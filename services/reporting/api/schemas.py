"""Reporting's response models, and every step that shapes a read model's rows into them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting import domain
from services.reporting.api.csv import csv_response
from services.reporting.measures import COUNTS, Composite, MeasuresConfig, RankingGroup
from services.reporting.projections import Model
from shared.events import AgendaAssignment, CostShare
from shared.events.area import no_finer_than_building


def listing(
    rows: list[dict[str, Any]],
    item: type[BaseModel],
    fmt: str,
    size: int | None,
    offset: int,
    filename: str,
    config: MeasuresConfig,
) -> dict[str, Any] | Response:
    """A computed list's page as JSON fields, or every row of it as CSV."""
    page = rows[offset : offset + size if size else None]
    if fmt == "csv":
        return csv_response(page, filename, config)
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
    reason: str | None = Field(None, description="决定的理由 Why it was decided")
    rule_id: str | None = Field(None, description="派单目录规则 The catalogue rule that routed it")
    rule_version: int | None = Field(None, description="派单目录版本 The catalogue's version")
    trace_id: str | None = Field(None, description="该环节的追踪编号 The hop's trace (W3C)")


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


class OnSpot(BaseModel):
    """随手做: fixed on the spot by a grid worker or head, closed at once, never dispatched."""

    label: str = "随手做"
    done: str | None = Field(description="当场做了什么 What was done")
    worker: str | None = Field(description="处置人（网格员/网格长） Who fixed it")
    fixed_at: datetime
    photos: int = Field(0, description="照片张数 How many photos")
    patrol_id: UUID | None = Field(None, description="发现于哪次巡查 The patrol it was found on")


def on_spot(row: dict[str, Any]) -> OnSpot | None:
    if row.get("on_spot_at") is None:
        return None
    return OnSpot(
        done=row.get("on_spot_done"),
        worker=row.get("on_spot_by"),
        fixed_at=row["on_spot_at"],
        photos=row.get("on_spot_photos") or 0,
        patrol_id=row.get("patrol_id"),
    )


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
    on_spot: OnSpot | None = Field(
        None, description="随手做：当场解决，未派单 Fixed on the spot by a grid worker"
    )


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
        "on_spot": on_spot(row),
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


def case_summary(row: dict[str, Any]) -> CaseSummary:
    return CaseSummary.model_validate(_summary_fields(row))


def case(row: dict[str, Any]) -> Case:
    fields = _summary_fields(row)
    return Case.model_validate({**fields, "open311": _open311(row, fields["status"])})


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
    area_code: str | None = Field(
        description="区域代码，细至楼栋为止 Area code, no finer than the building 楼栋"
    )
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
    dispatched_by: str | None = Field(
        None,
        description="派单人：业委会派单时的业委会或社区居委会 The committee that dispatched it",
    )
    lead_purpose: str | None = Field(
        None, description="主办工单用途：committee 为待业委会派单 The lead order's purpose"
    )


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


def board_item(row: dict[str, Any]) -> BoardItem:
    stage = domain.board_stage(row)
    running = stage not in (domain.Stage.DELIBERATING, domain.Stage.REPORTED)
    seconds = row.get("seconds_left") if running else None
    area = row.get("area_code")
    return BoardItem.model_validate(
        {
            **row,
            # the public's place: no finer than the building, as webhooks and sealed filings
            "area_code": no_finer_than_building(area) if area else None,
            "stage": stage,
            "stage_label": domain.STAGE_LABELS[stage],
            "responsible_person": row.get("responsible_person") or _signer(row.get("signed_by")),
            "seconds_left": seconds,
            "time_left": domain.overdue_text(seconds) if seconds is not None else None,
            "overdue": seconds is not None and seconds < 0,
        }
    )


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


class Definition(BaseModel):
    name: str
    label: str
    en: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    count: str | None = None
    lower_is_better: bool = False
    definition: str | None = None


class RankingRules(BaseModel):
    min_volume: int
    governance_bottom: int
    list_size: int
    groups: dict[str, RankingGroup]


class Definitions(BaseModel):
    timezone: str
    measures: list[Definition]
    counts: list[Definition]
    composite: Composite
    rankings: RankingRules


def definitions(config: MeasuresConfig) -> Definitions:
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
            Definition(name=c.name, label=c.label, definition=c.definition) for c in COUNTS.values()
        ],
        composite=config.composite,
        rankings=RankingRules(
            min_volume=config.rankings.min_volume,
            governance_bottom=config.rankings.governance_bottom,
            list_size=config.rankings.list_size,
            groups=config.rankings.groups(),
        ),
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


class Evidence(BaseModel):
    case_number: str | None = Field(
        description="受理编号（巡查中仅记录的问题无编号） None: noted on patrol"
    )
    complaint_id: UUID | None
    filed_at: datetime = Field(description="受理或巡查发现时间 Filed, or found on patrol")
    on_patrol: bool = Field(False, description="巡查中发现 Found on a grid worker's patrol")


class RecurringProblem(BaseModel):
    place: str
    place_name: str | None
    community_name: str | None
    category: str
    category_name: str | None
    cases: int = Field(description="诉求与巡查发现合计 Matters and patrol findings together")
    found_on_patrol: int = Field(0, description="其中巡查发现的 Of them, found on patrol")
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
    assignments: list[AgendaAssignment] | None
    decided_at: datetime | None
    verdict: str | None
    review_satisfied: bool | None
    reviewed_at: datetime | None
    raised_at: datetime | None
    raise_reason: str | None
    held_ballot_id: UUID | None = Field(
        None, description="协商结论来自该表决 Decided by this ballot"
    )
    cost_shares: list[CostShare] | None = Field(None, description="联合出资 Who pays what")


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


# --- the read models themselves ------------------------------------------------------------


class ReadModel(BaseModel):
    name: str
    label: str
    version: int
    tables: list[str]
    rebuilt_at: datetime | None
    events: int | None
    seconds: float | None


def agenda_entry(row: dict[str, Any]) -> AgendaEntry:
    return AgendaEntry.model_validate(
        {**row, "stage_label": AGENDA_STAGES.get(row.get("stage") or "")}
    )


def read_models(models: list[Model], built: dict[str, dict[str, Any]]) -> list[ReadModel]:
    """Every read model, with its last rebuild as `built` (rows of read_models by name) has it."""
    return [
        ReadModel(
            name=m.name,
            label=m.label,
            version=m.version,
            tables=list(m.tables),
            rebuilt_at=built.get(m.name, {}).get("rebuilt_at"),
            events=built.get(m.name, {}).get("events"),
            seconds=built.get(m.name, {}).get("seconds"),
        )
        for m in models
    ]
