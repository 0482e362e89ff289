"""The public payloads of intake's events about a complaint."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.events.complaint import (
    Channel,
    ComplaintStatus,
    ComplaintType,
    RatedVia,
    Satisfaction,
)
from shared.events.public.base import (
    AreaCode,
    At,
    CaseNumber,
    Category,
    DueAt,
    Kind,
    MaybeAreaCode,
    PublicCandidate,
    PublicPayload,
    Status,
    UnitId,
    UnitName,
    WorkOrderId,
)


class ComplaintFiledPayload(PublicPayload):
    """诉求已受理 A complaint was accepted and given a case number."""

    event_type = "ComplaintFiled"
    case_number: CaseNumber
    channel: Channel = Field(description="来源渠道 Channel it came by")
    category: Category = None
    area_code: AreaCode
    status: Status = ComplaintStatus.FILED
    filed_at: At
    promised_due_at: datetime | None = Field(None, description="承诺时限 Promised by")
    time_limit: str | None = Field(None, description="办理时限，如 7d Time limit, e.g. 7d")


class ComplaintClassifiedPayload(PublicPayload):
    """已分类 Type and category were decided."""

    event_type = "ComplaintClassified"
    status: Status
    type: Kind
    category: Category
    needs_triage: bool = Field(description="是否待人工分类 Waits for a person to classify")
    area_code: AreaCode
    occurred_at: At


class ComplaintReclassifiedPayload(PublicPayload):
    """已改分类 Staff changed type or category."""

    event_type = "ComplaintReclassified"
    status: Status
    type: Kind
    category: Category
    previous_type: ComplaintType | None = Field(description="原类型 Type before")
    previous_category: Category
    area_code: AreaCode
    occurred_at: At


class ComplaintDispatchedPayload(PublicPayload):
    """已派单 The complaint went to a responding unit."""

    event_type = "ComplaintDispatched"
    status: Status
    work_order_id: WorkOrderId
    responder_id: UnitId
    responder_name: UnitName
    due_at: DueAt
    occurred_at: At


class ComplaintSignedPayload(PublicPayload):
    """已签收 The responding unit took the work order."""

    event_type = "ComplaintSigned"
    status: Status
    work_order_id: WorkOrderId
    responder_name: UnitName
    occurred_at: At


class ComplaintProgressedPayload(PublicPayload):
    """办理进展 A step of the work (its note left out)."""

    event_type = "ComplaintProgressed"
    status: Status
    step: str = Field(
        description="办理步骤 Step: contacted | started | extended | deliberating | …"
    )
    due_at: datetime | None = Field(description="新时限 The time limit now")
    occurred_at: At


class ComplaintRedoRequestedPayload(PublicPayload):
    """重办 The complaint is to be handled again."""

    event_type = "ComplaintRedoRequested"
    status: Status
    type: ComplaintType | None = Field(description="诉求类型 Complaint type")
    category: Category
    area_code: AreaCode
    redo_count: int = Field(description="第几次重办 How many times redone")
    occurred_at: At


class ComplaintMergedPayload(PublicPayload):
    """并案 The complaint was merged into another."""

    event_type = "ComplaintMerged"
    status: Status
    into_complaint_id: UUID = Field(description="并入的诉求 id The surviving complaint")
    into_case_number: CaseNumber
    previous_status: ComplaintStatus = Field(description="并案前状态 Status before")
    occurred_at: At


class ComplaintUnmergedPayload(PublicPayload):
    """撤销并案 A merge was undone."""

    event_type = "ComplaintUnmerged"
    status: Status
    from_complaint_id: UUID = Field(description="原并入的诉求 id Complaint it left")
    occurred_at: At


class DuplicateSuspectedPayload(PublicPayload):
    """疑似重复 Open complaints about the same place and category were found."""

    event_type = "DuplicateSuspected"
    status: Status
    candidates: list[PublicCandidate] = Field(description="疑似重复的诉求 The candidates")
    occurred_at: At


class _StatusOnly(PublicPayload):
    status: Status
    occurred_at: At


class ComplaintAnsweredPayload(_StatusOnly):
    """已答复 The resident was answered (the answer's wording left out)."""

    event_type = "ComplaintAnswered"


class ComplaintResolvedPayload(_StatusOnly):
    """已办结 The complaint was resolved (the report's wording left out)."""

    event_type = "ComplaintResolved"


class ComplaintClosedPayload(_StatusOnly):
    """已结案 The complaint was closed."""

    event_type = "ComplaintClosed"


class ComplaintWithdrawnPayload(_StatusOnly):
    """已撤回 The resident withdrew the complaint."""

    event_type = "ComplaintWithdrawn"


class ComplaintRedactedPayload(_StatusOnly):
    """已脱敏 The complaint's personal data was erased."""

    event_type = "ComplaintRedacted"


class DuplicateDismissedPayload(_StatusOnly):
    """非重复 Staff found it is not a duplicate."""

    event_type = "DuplicateDismissed"


class ComplaintCallbackRecordedPayload(_StatusOnly):
    """回访 The resident was called back; resolved and satisfied as they said."""

    event_type = "ComplaintCallbackRecorded"
    contacted: bool = Field(description="是否联系上 Reached")
    resolved: bool | None = Field(description="是否解决 Resolved, as they said")
    satisfied: bool | None = Field(description="是否满意 Satisfied, as they said")
    satisfaction: Satisfaction | None = Field(None, description="满意度 Three-level rating")
    rated_via: RatedVia | None = Field(None, description="评价方式 How it was rated")


class _TriageClock(_StatusOnly):
    due_at: DueAt
    area_code: MaybeAreaCode = None


class TriageWarnedPayload(_TriageClock):
    """分类时限将到 The complaint waits for a person near its triage limit."""

    event_type = "TriageWarned"


class TriageBreachedPayload(_TriageClock):
    """分类超时 The complaint waited past its triage limit."""

    event_type = "TriageBreached"


# --- onspot ---


class OnSpotFixRecordedPayload(_StatusOnly):
    """随手做 A grid worker fixed it on the spot; closed, never dispatched (what was done, and
    the photos, left out)."""

    event_type = "OnSpotFixRecorded"
    worker: str | None = Field(None, description="处置人（网格员/网格长） Who fixed it")
