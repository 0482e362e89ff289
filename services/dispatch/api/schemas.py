"""What dispatch's routes read and answer: the command bodies, and a case or work order
shaped as the API shows it, with the time left on each clock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from services.dispatch import store
from services.dispatch.domain.case import CASE_LABELS, Case
from services.dispatch.domain.city import CityFile, RuleIn
from services.dispatch.domain.rules import Rules
from shared.commands import now
from shared.deadlines import CalendarYear, Duration, StepLimits
from shared.events import (
    AgendaAssignment,
    BallotTally,
    CityModelLoaded,
    CostShare,
    MatterKind,
)
from shared.events.area import PATTERN as AREA_PATTERN
from shared.privacy import FreeText


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CostShareIn(Body):
    payer: str = Field(min_length=1, max_length=60, description="单位 id、owners，或出资方名称")
    payer_name: str = Field(min_length=1, max_length=100, description="出资方名称")
    amount: Decimal | None = Field(None, ge=0, le=10**10, description="金额（元） Yuan")
    share: Decimal | None = Field(None, ge=0, le=1, description="比例 0–1 Share")
    note: str = Field("", max_length=300)

    def contract(self) -> CostShare:
        return CostShare(**self.model_dump())


class Note(Body):
    note: FreeText = Field(min_length=1, max_length=1000, description="说明 What was done or said")


class OptionalNote(Body):
    note: FreeText | None = Field(None, max_length=1000, description="说明 Note")


class Reason(Body):
    reason: FreeText = Field(min_length=1, max_length=1000, description="理由 Reason")


class Report(Body):
    report: FreeText = Field(
        min_length=2, max_length=4000, description="办理结果 What was done (反馈)"
    )


class GroupReply(Body):
    reply: FreeText = Field(
        min_length=2,
        max_length=2000,
        description="群内公开回复的内容 The reply as posted in the residents' WeChat group",
    )


class ReturnOrder(Body):
    reason: FreeText = Field(
        min_length=2, max_length=1000, description="退单理由 Why it is not yours"
    )
    suggested_responder_id: str | None = Field(None, description="建议承办单位 Who should take it")


class RequestExtension(Body):
    extend_by: Duration = Field(description="延长多久 How much longer, e.g. 3d, 2wd, 12h")
    reason: FreeText = Field(min_length=2, max_length=1000)


class Whistle(Body):
    departments: list[str] = Field(min_length=1, max_length=20, description="被吹哨的部门 id")
    reason: FreeText = Field(min_length=2, max_length=1000)


class HandDispatch(Body):
    lead: str = Field(
        description="主办单位 id（物业、开发建设单位等） The lead the committee chooses"
    )
    co: list[str] = Field(default_factory=list, max_length=20, description="协办单位 id")
    reason: FreeText = Field(min_length=2, max_length=1000, description="派单理由 Why them")


class CallIn(Body):
    responder_ids: list[str] = Field(
        default_factory=list, max_length=20, description="被点单的部门、街道 id Units called in"
    )
    registration_ids: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="被点单的双报到单位或干部 Registered units and cadres called in",
    )
    reason: FreeText = Field(min_length=2, max_length=1000, description="点单事由 What is needed")


class Arbitrate(Body):
    responder_id: str = Field(description="裁定的主办单位 The unit that must lead")
    reason: FreeText = Field(min_length=2, max_length=1000)


def live(order: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A stored order view with what changes by the minute: time left on each clock."""
    clocks = []
    for clock in order["clocks"]:
        running = clock["stopped_at"] is None and not clock["suspended"]
        left = (datetime.fromisoformat(clock["due_at"]) - at).total_seconds()
        clocks.append(
            clock | {"running": running, "seconds_left": round(left) if running else None}
        )
    return order | {
        "clocks": clocks,
        "overdue": any(
            c["breached"] or (c["running"] and (c["seconds_left"] or 0) < 0) for c in clocks
        ),
    }


def order_view(case: Case, work_order_id: UUID) -> dict[str, Any]:
    order = case.order(work_order_id)
    assert order is not None
    return live(store.order_json(order, case), now())


def case_json(case: Case, rules: Rules) -> dict[str, Any]:
    model = rules.model
    at = now()
    return {
        "complaint_id": str(case.complaint_id),
        "status": case.status,
        "status_label": CASE_LABELS[case.status],
        "area_code": case.area_code,
        "area_name": model.area_names.get(case.area_code),
        "category": case.category,
        "priority": case.priority,
        "round": case.round,
        "level": case.level.name.lower(),
        "level_label": case.level.label,
        "lead_work_order_id": str(case.lead_id) if case.lead_id else None,
        "returned_by": sorted(case.returned_by),
        "arbitration": (
            {
                "arbitrator_id": case.arbitration.arbitrator_id,
                "arbitrator_name": case.arbitration.arbitrator_name,
                "reason": case.arbitration.reason,
                "requested_at": case.arbitration.requested_at.isoformat(),
            }
            if case.arbitration
            else None
        ),
        "deliberation_item_id": str(case.deliberation) if case.deliberation else None,
        "supervised": case.supervised,
        "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None,
        "cancelled": case.cancelled,
        "work_orders": [live(store.order_json(o, case), at) for o in case.orders],
        "updated_at": case.updated_at.isoformat() if case.updated_at else None,
        "version": case.version,
    }


# --- the answers, as the routes document them ---------------------------------------------------
# The routes answer the JSON they build (views stored with each change, shaped by store.py and
# the functions above) as it is: these models describe it in the OpenAPI document and are not
# used to re-validate it. Times are ISO 8601 strings.


class Described(BaseModel):
    model_config = ConfigDict(extra="allow")


class Unit(Described):
    id: str
    name: str
    kind: str


class Routing(Described):
    rule_id: str | None
    catalogue_version: int | None
    reason: str | None


class Clock(Described):
    name: str
    due_at: str
    warn_at: str
    stopped_at: str | None
    suspended: bool
    warned: bool
    breached: bool
    running: bool
    seconds_left: int | None = Field(description="距期限秒数（停止时为空） Seconds to the due time")


class Extension(Described):
    requested_due_at: str
    reason: str
    requested_at: str


class WorkOrder(Described):
    """A work order with its clocks, as its unit and the supervisors see it."""

    work_order_id: UUID
    complaint_id: UUID
    responder: Unit
    role: str
    role_label: str
    purpose: str
    purpose_label: str
    status: str
    status_label: str
    category: str | None
    area_code: str
    priority: str
    task: str | None
    routing: Routing
    clocks: list[Clock]
    extension: Extension | None
    extensions_granted: int
    urged: int
    report: str | None
    returned_reason: str | None
    round: int
    issued_at: str
    updated_at: str
    overdue: bool


class WorkOrderPage(Described):
    work_orders: list[WorkOrder]
    limit: int
    offset: int


class Explanation(Described):
    """Why a work order went to its unit: the catalogue rule as it stood in that version."""

    work_order_id: UUID
    responder: Unit
    purpose: str
    rule_id: str | None
    catalogue_version: int | None
    reason: str | None
    rule: RuleIn | None = Field(description="派单规则（当时版本）The rule as it stood then")
    city: str | None


class Registration(Described):
    """双报到: a unit, or one of its cadres, registered with a community."""

    id: str
    community: str
    unit: str
    unit_name: str | None
    person: str | None
    title: str | None


class Registrations(Described):
    community_code: str
    community_name: str | None
    registrations: list[Registration]


class Arbitration(Described):
    arbitrator_id: str
    arbitrator_name: str
    reason: str
    requested_at: str


class DispatchCase(Described):
    """A case with every work order, clock and step."""

    complaint_id: UUID
    status: str
    status_label: str
    area_code: str
    area_name: str | None
    category: str | None
    priority: str
    round: int
    level: str
    level_label: str
    lead_work_order_id: UUID | None
    returned_by: list[str]
    arbitration: Arbitration | None
    deliberation_item_id: UUID | None
    supervised: bool
    resolved_at: str | None
    cancelled: bool
    work_orders: list[WorkOrder]
    updated_at: str | None
    version: int


class CaseEvent(Described):
    id: UUID
    type: str
    position: int
    recorded_at: str
    data: dict[str, Any]


class CaseEvents(Described):
    complaint_id: UUID
    events: list[CaseEvent]


class PendingArbitration(Described):
    complaint_id: UUID
    area_code: str
    category: str | None
    arbitrator_id: str
    updated_at: str


class ArbitrationQueue(Described):
    cases: list[PendingArbitration]


class Meeting(Described):
    level: str
    held_at: str
    participants: list[str]
    minutes: str
    settled: bool
    ballot_id: UUID | None = Field(None, description="由该表决得出 Decided by this ballot")


class AgendaStep(Described):
    level: str
    stage: str
    label: str
    at: str


class AgendaItem(Described):
    """A case on a community's agenda (or raised to the district's joint meeting)."""

    item_id: UUID
    complaint_id: UUID
    community_code: str
    community_name: str | None
    district_code: str | None
    level: str
    level_label: str
    stage: str
    stage_label: str
    title: str
    reason: str
    topic: str | None
    parties: list[str]
    meetings: list[Meeting]
    decision: str | None
    assignments: list[AgendaAssignment]
    cost_shares: list[CostShare] = Field(default_factory=list, description="联合出资 Who pays what")
    verdict: str | None
    satisfied: bool | None
    history: list[AgendaStep]
    opened_at: str
    updated_at: str


class AgendaPage(Described):
    items: list[AgendaItem]
    limit: int
    offset: int


class CityDocument(CityFile):
    """The city model as loaded: city, areas, responders (compounds assigned to their
    managers), categories, catalogue, time_limits; PUT /admin/city takes it back."""


class CurrentCity(Described):
    catalogue_version: int
    checksum: str
    loaded_at: str
    city: CityDocument


class CityVersion(Described):
    catalogue_version: int
    city: CityDocument


# One version of the city model: what it holds, when, by whom, why (its CityModelLoaded, as
# recorded), so its shape follows the event's.
_LOADED: dict[str, Any] = {n: (f.annotation, f) for n, f in CityModelLoaded.model_fields.items()}
VersionLoaded = create_model(
    "VersionLoaded", __base__=Described, recorded_at=(datetime, ...), **_LOADED
)


class CityVersions(Described):
    versions: list[VersionLoaded]


class CityChange(Described):
    """A load or change of the city model: whether it made a new version, and which."""

    changed: bool
    catalogue_version: int


class LoadedYear(CalendarYear):
    loaded_at: datetime


class Calendars(Described):
    years: list[LoadedYear]
    note: str


class LoadedCalendar(Described):
    year: int


class RoutingPreview(Described):
    lead: Unit
    co: list[Unit]
    rule_id: str | None
    priority: str
    reason: str
    catalogue_version: int
    time_limits: StepLimits


# --- ballot: consultations and ballots (征求意见、表决) ---------------------------------------


class HouseholdRegister(Described):
    area_code: str
    households: int = Field(description="户数 Households registered in the area")
    registered_at: str | None


class BallotView(Described):
    """A consultation or ballot as its organisers see it: the roll's size, the votes so far by
    way of voting, and the result once closed (household ids only in `voted`)."""

    ballot_id: UUID
    kind: str
    kind_label: str
    item_id: UUID | None
    area_code: str
    community_code: str
    title: str
    proposal: str
    options: list[str]
    quorum: str
    majority: str
    majority_of: str
    majority_at_least: bool
    cost_shares: list[CostShare]
    opens_at: str
    closes_at: str
    status: str = Field(description="open 进行中 | closed 已结束")
    eligible: int
    cast: int
    by_method: dict[str, int]
    links_issued: int
    tally: list[BallotTally] | None = Field(description="结束后公布 Published once closed")
    quorum_met: bool | None
    carried: bool | None
    outcome: str | None
    closed_at: str | None
    closed_by: str | None


class VotingLink(Described):
    household_id: str
    token: str = Field(description="投票凭证，只显示这一次 The secret, shown once")


class VotingLinks(Described):
    ballot_id: UUID
    links: list[VotingLink]


class VoteAccepted(Described):
    ballot_id: UUID
    title: str
    choice: str
    cast_at: str


# --- 政务事项 ------------------------------------------------------------------------------------


class OpenMatter(Body):
    kind: MatterKind = Field(
        description="事项类别 低保申请 | 尊老金发放 | 独生子女费申领 | 代办 | 其他"
    )
    title: FreeText = Field(
        min_length=2,
        max_length=80,
        description="公开标题，勿含申请人姓名、证件号、门牌 Public title: no applicant data",
    )
    area_code: str = Field(pattern=AREA_PATTERN, description="所属社区（或更细，只公示到社区）")
    responder_id: str | None = Field(
        None, description="专人（承办人员编号），缺省为本人 The staff member; the caller by default"
    )
    person: str | None = Field(
        None, max_length=40, description="专人姓名（缺省取其登记的责任人）The named person"
    )


class MatterResult(Body):
    result: FreeText = Field(min_length=2, max_length=1000, description="办理结果 What was done")


class MatterStep(BaseModel):
    note: str
    at: datetime


class ServiceMatter(BaseModel):
    """A 政务事项 as dispatch shows it to staff (the board shows the same, without the steps' words)."""

    matter_id: UUID
    kind: MatterKind
    kind_label: str
    title: str
    community_code: str
    community_name: str
    responder_id: str
    person: str
    time_limit: str
    due_at: datetime
    warn_at: datetime
    status: str
    status_label: str
    steps: list[MatterStep]
    warned: bool
    breached: bool
    result: str | None
    completed_at: datetime | None
    on_time: bool | None
    opened_at: datetime
    updated_at: datetime


class ServiceMatterPage(BaseModel):
    matters: list[ServiceMatter]
