"""The public payloads of dispatch's events about a complaint."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.events.dispatch import ResponderRole
from shared.events.public.base import (
    AreaCode,
    At,
    Category,
    Clock,
    DueAt,
    ItemId,
    Level,
    OfAgenda,
    OfWorkOrder,
    PublicAssignment,
    PublicClock,
    PublicPayload,
    Role,
    UnitId,
    UnitIds,
    UnitName,
    WorkOrderId,
)


class WorkOrderIssuedPayload(OfWorkOrder):
    """已派单 A work order went to a unit (the routing reason and task left out)."""

    event_type = "WorkOrderIssued"
    responder_name: UnitName
    responder_kind: str = Field(description="单位类别 Kind of unit")
    role: Role
    category: Category
    category_name: str | None = Field(None, description="分类名称 Category's name")
    area_code: AreaCode
    priority: str = Field(description="紧急程度 Priority")
    purpose: str = Field("dispatch", description="派单目的 Purpose (dispatch, redo, …)")
    round: int = Field(1, description="第几轮 Round")
    clocks: list[PublicClock] = Field(default_factory=list, description="时限 Its clocks")
    due_at: DueAt
    issued_at: At


class WorkOrderSignedPayload(OfWorkOrder):
    """已签收 The unit took the work order."""

    event_type = "WorkOrderSigned"
    responder_name: UnitName
    role: Role
    signed_at: At


class WorkOrderContactedPayload(OfWorkOrder):
    """已联系 The unit reached the resident (the note left out)."""

    event_type = "WorkOrderContacted"
    responder_name: str | None = Field(None, description="承办单位名称 Unit's name")
    role: ResponderRole | None = Field(None, description="主办或协办 Lead or co")
    contacted_at: At


class WorkOrderStartedPayload(OfWorkOrder):
    """开始办理 The unit started the work."""

    event_type = "WorkOrderStarted"
    started_at: At


class WorkOrderUrgedPayload(OfWorkOrder):
    """催办 The unit was urged."""

    event_type = "WorkOrderUrged"
    urged_at: At


class WorkOrderResolvedPayload(OfWorkOrder):
    """单位办结 The unit finished its part (the report left out)."""

    event_type = "WorkOrderResolved"
    responder_name: UnitName
    role: Role
    resolved_at: At


class WorkOrderReturnedPayload(OfWorkOrder):
    """退单 The unit returned the work order (its reason left out)."""

    event_type = "WorkOrderReturned"
    responder_name: UnitName
    role: Role
    suggested_responder_id: str | None = Field(description="建议改派单位 Suggested unit")
    supervisor_ids: UnitIds = Field(default_factory=list)
    returned_at: At


class WorkOrderCancelledPayload(OfWorkOrder):
    """工单取消 The work order was cancelled."""

    event_type = "WorkOrderCancelled"
    cancelled_at: At


class _SlaClock(OfWorkOrder):
    responder_name: UnitName
    role: Role
    clock: Clock
    due_at: DueAt


class SlaWarnedPayload(_SlaClock):
    """时限预警 A work order's clock is near its limit."""

    event_type = "SlaWarned"
    warned_at: At


class SlaBreachedPayload(_SlaClock):
    """超期 A work order's clock ran out."""

    event_type = "SlaBreached"
    breached_at: At
    supervisor_ids: UnitIds = Field(default_factory=list)


class ExtensionRequestedPayload(OfWorkOrder):
    """申请延期 The unit asked for more time."""

    event_type = "ExtensionRequested"
    current_due_at: DueAt
    requested_due_at: datetime = Field(description="申请的时限 Asked-for limit")
    requested_at: At


class ExtensionApprovedPayload(OfWorkOrder):
    """延期获批 More time was given."""

    event_type = "ExtensionApproved"
    previous_due_at: datetime = Field(description="原时限 The limit before")
    clock: PublicClock = Field(description="延期后的时限 The clock as extended")
    approved_at: At


class ExtensionRefusedPayload(OfWorkOrder):
    """延期被拒 More time was refused."""

    event_type = "ExtensionRefused"
    refused_at: At


class CaseEscalatedPayload(PublicPayload):
    """升级督办 The case went up a level."""

    event_type = "CaseEscalated"
    from_level: Level
    to_level: Level
    work_order_id: WorkOrderId
    cause_work_order_id: UUID = Field(description="引起升级的工单 Order that caused it")
    responder_id: UnitId
    responder_name: UnitName
    from_responder_id: str | None = Field(None, description="原承办单位 id Unit before")
    clock: Clock
    escalated_at: At


class CaseReclassifiedPayload(PublicPayload):
    """案件改分类 Dispatch changed the category or area."""

    event_type = "CaseReclassified"
    category: Category
    previous_category: Category
    area_code: AreaCode
    reclassified_at: At


class CaseResolvedPayload(PublicPayload):
    """案件办结 Every unit's part is done (the report left out)."""

    event_type = "CaseResolved"
    lead_work_order_id: WorkOrderId
    lead_responder_id: UnitId
    resolved_at: At


class CaseSupervisedPayload(PublicPayload):
    """督办 A supervisor followed up the case (the note left out)."""

    event_type = "CaseSupervised"
    supervised_at: At


class CaseCancelledPayload(PublicPayload):
    """案件取消 The case was cancelled."""

    event_type = "CaseCancelled"
    cancelled_at: At


class ArbitrationRequestedPayload(PublicPayload):
    """提请裁定 Who handles it is to be decided."""

    event_type = "ArbitrationRequested"
    arbitrator_id: UnitId
    arbitrator_name: UnitName
    returned_work_order_id: WorkOrderId
    requested_at: At


class ArbitrationDecidedPayload(PublicPayload):
    """已裁定 Who handles it was decided."""

    event_type = "ArbitrationDecided"
    arbitrator_id: UnitId
    responder_id: UnitId
    decided_at: At


class WhistleBlownPayload(PublicPayload):
    """吹哨报到 A street called departments in."""

    event_type = "WhistleBlown"
    street_id: UnitId
    department_ids: UnitIds
    blown_at: At


class DeliberationRequestedPayload(PublicPayload):
    """提请议事 The case went to a community's agenda."""

    event_type = "DeliberationRequested"
    item_id: ItemId
    community_code: AreaCode
    sent_at: At


class DeliberationConcludedPayload(PublicPayload):
    """议事结束 The agenda decided; the lead's clock runs again."""

    event_type = "DeliberationConcluded"
    item_id: ItemId
    lead_work_order_id: UUID | None = Field(description="主办工单 id Lead work order")
    clock: PublicClock | None = Field(description="重新起算的时限 The clock that runs again")
    concluded_at: At


class AgendaItemOpenedPayload(OfAgenda):
    """收集问题 A matter went on a community's agenda (title and reason left out)."""

    event_type = "AgendaItemOpened"
    community_code: AreaCode
    community_name: str = Field(description="社区名称 Community's name")
    opened_at: At


class AgendaTopicSetPayload(OfAgenda):
    """确定议题 The matter became a topic."""

    event_type = "AgendaTopicSet"
    level: Level
    set_at: At


class DeliberationHeldPayload(OfAgenda):
    """协商议事 The parties met (who and the minutes left out)."""

    event_type = "DeliberationHeld"
    level: Level
    settled: bool = Field(description="是否达成一致 Whether they agreed")
    held_at: At


class AgendaDecidedPayload(OfAgenda):
    """分流落实 The decision's work orders, one per unit."""

    event_type = "AgendaDecided"
    level: Level
    assignments: list[PublicAssignment] = Field(description="分派 The units' duties")
    decided_at: At


class AgendaReviewedPayload(OfAgenda):
    """监督评审 What was done was reviewed."""

    event_type = "AgendaReviewed"
    level: Level
    satisfied: bool = Field(description="是否满意 Satisfied")
    reviewed_at: At


class AgendaItemRaisedPayload(OfAgenda):
    """上报 The matter went up a level."""

    event_type = "AgendaItemRaised"
    from_level: Level
    to_level: Level
    district_code: AreaCode
    raised_at: At


# --- committee ---


class CaseHandDispatchedPayload(PublicPayload):
    """业委会派单 A committee chose who handles the case (its reason left out)."""

    event_type = "CaseHandDispatched"
    work_order_id: WorkOrderId
    dispatcher_id: UnitId
    dispatcher_name: UnitName
    dispatcher_kind: str = Field(description="派单人类别 Kind of committee")
    lead_id: UnitId
    co_ids: UnitIds
    dispatched_at: At


class CommunityCalledPayload(PublicPayload):
    """社区点单 A community called units in (its reason and the cadres left out)."""

    event_type = "CommunityCalled"
    committee_id: UnitId
    community_code: AreaCode
    responder_ids: UnitIds
    called_at: At


# --- rota ---


class GroupReplyPostedPayload(OfWorkOrder):
    """群内已回复 The member on duty replied in the residents' WeChat group (the reply's
    wording left out, as a report's is)."""

    event_type = "GroupReplyPosted"
    responder_name: UnitName
    community_code: AreaCode
    replied_at: At
