"""Events owned by intake, published on `complaint.events`.

Every lifecycle event carries `status`, the complaint's status after it, so that a consumer
never has to re-derive intake's state machine (a merge and its undoing restore an earlier one).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.base import Event


class Channel(StrEnum):
    """Where a demand came in (受理渠道)."""

    HOTLINE = "hotline"  # 12345 热线
    WECHAT = "wechat"  # 微信群 / 公众号
    APP = "app"  # App / 网站
    WALK_IN = "walk_in"  # 社区"我来办"工作站
    GRID_PATROL = "grid_patrol"  # 网格员巡查
    PROPERTY_APP = "property_app"  # 物业 App
    OPEN311 = "open311"  # Open311 客户端


class ComplaintType(StrEnum):
    """What kind of demand it is (诉求类型)."""

    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬


class ComplaintStatus(StrEnum):
    """Where a complaint is in its life (诉求状态)."""

    FILED = "filed"  # 已受理
    TRIAGE = "triage"  # 待人工分类
    CLASSIFIED = "classified"  # 已分类，待派单
    ANSWERED = "answered"  # 直接办结
    DISPATCHED = "dispatched"  # 已派单
    SIGNED = "signed"  # 已签收
    RESOLVED = "resolved"  # 已办理反馈
    CALLED_BACK = "called_back"  # 已回访
    REDO = "redo"  # 重办
    MERGED = "merged"  # 已并案
    WITHDRAWN = "withdrawn"  # 已撤回
    CLOSED = "closed"  # 已办结


class Sealed(BaseModel):
    """Fields of an event encrypted under a resident's words key (AES-256-GCM, the complaint id
    as associated data): erasing the key shreds them in every store and topic copy at once."""

    model_config = ConfigDict(frozen=True)

    kid: str = Field(description="密钥指纹 Which key sealed it (not the key)")
    nonce: str = Field(description="base64, 12 bytes")
    ciphertext: str = Field(description="base64: the sealed fields as JSON, then the GCM tag")


class ComplaintFiled(Event):
    """A resident's demand (诉求) was accepted and given a case number."""

    event_type = "ComplaintFiled"
    version = 1

    complaint_id: UUID
    case_number: str
    channel: Channel
    # Phone and ID numbers typed into the text are masked before the event is written.
    text: str
    category: str | None = None
    area_code: str
    address: str
    latitude: float | None = None  # WGS-84, whatever datum the channel sent
    longitude: float | None = None
    # Pseudonymous: the contact itself stays in intake's vault (public topics carry no PII).
    resident_ref: str
    masked_phone: str | None = None
    filed_at: datetime
    status: ComplaintStatus = ComplaintStatus.FILED
    source_datum: str | None = None  # wgs84 | gcj02 | bd09: what the coordinates came in as
    attributes: dict[str, Any] = Field(default_factory=dict)  # Open311 attribute[CODE] answers
    media_urls: list[str] = Field(default_factory=list)
    # The promise at filing: when the lead's feedback is due under the time limit that applies
    # (`time_limit`, e.g. "7d"), until dispatch sets the order's own deadline.
    promised_due_at: datetime | None = None
    time_limit: str | None = None
    # Posted in a community's residents' WeChat group (居民微信群, seed 002; channel wechat):
    # the group's community. The member on duty must reply in the group within the hour.
    wechat_group: str | None = Field(
        None,
        description="居民微信群所属社区的区划代码 The community whose residents' group it was posted in",
    )
    # Sealed filings (shared/sealing.py) carry text, address, coordinates, attributes and media
    # here; the clear fields then hold a placeholder, the public place to the building, None,
    # {} and []. Readers open it with the resident's words key; once erased, nobody can.
    sealed: Sealed | None = None


class ComplaintClassified(Event):
    """Type and category were decided at filing, by the classifier or given by the channel."""

    event_type = "ComplaintClassified"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    type: ComplaintType
    category: str
    confidence: float
    type_confidence: float
    classified_by: str  # auto | channel
    # Below the confidence threshold: a person decides (GET /triage) before anything is dispatched.
    needs_triage: bool
    area_code: str
    occurred_at: datetime


class ComplaintReclassified(Event):
    """A staff member set type and category (from triage, or correcting an earlier decision)."""

    event_type = "ComplaintReclassified"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    type: ComplaintType
    category: str
    previous_type: ComplaintType | None
    previous_category: str | None
    area_code: str
    reason: str
    actor: str
    occurred_at: datetime


class ComplaintAnswered(Event):
    """A consultation was answered directly (直接办结); nothing is dispatched."""

    event_type = "ComplaintAnswered"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    answer: str
    actor: str
    occurred_at: datetime


class DuplicateCandidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    complaint_id: UUID
    case_number: str
    reason: str  # same_building | same_grid | nearby
    distance_m: float | None = None


class DuplicateSuspected(Event):
    """Open complaints about the same place and category were found; staff merge or keep."""

    event_type = "DuplicateSuspected"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    candidates: list[DuplicateCandidate]
    occurred_at: datetime


class DuplicateDismissed(Event):
    """Staff looked at the suspected duplicates and kept the complaint on its own."""

    event_type = "DuplicateDismissed"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    reason: str
    actor: str
    occurred_at: datetime


class ComplaintMerged(Event):
    """Merged into another complaint as a duplicate (并案); the other one carries the work."""

    event_type = "ComplaintMerged"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    into_complaint_id: UUID
    into_case_number: str
    previous_status: ComplaintStatus
    reason: str
    actor: str
    occurred_at: datetime


class ComplaintUnmerged(Event):
    """A merge was undone; the complaint returns to the status it had before."""

    event_type = "ComplaintUnmerged"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    from_complaint_id: UUID
    reason: str
    actor: str
    occurred_at: datetime


class ComplaintWithdrawn(Event):
    """The resident withdrew the demand (撤回)."""

    event_type = "ComplaintWithdrawn"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    reason: str
    actor: str
    occurred_at: datetime


class ComplaintDispatched(Event):
    """Mirrored from dispatch: the lead unit has a work order (已派单)."""

    event_type = "ComplaintDispatched"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    work_order_id: UUID
    responder_id: str
    responder_name: str
    due_at: datetime
    occurred_at: datetime


class ComplaintSigned(Event):
    """Mirrored from dispatch: the lead unit signed for the work order (已签收)."""

    event_type = "ComplaintSigned"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    work_order_id: UUID
    responder_name: str
    occurred_at: datetime


class ComplaintResolved(Event):
    """Mirrored from dispatch: the lead reported and every co-responder finished (已反馈)."""

    event_type = "ComplaintResolved"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    report: str
    occurred_at: datetime


class Satisfaction(StrEnum):
    """The resident's rating of the result (办理结果评价), in the three levels cities use."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


class RatedVia(StrEnum):
    """How a rating was given: a staff callback, or the resident themselves."""

    CALLBACK = "callback"  # 工作人员回访
    SMS = "sms"  # 回复结果短信
    WECHAT = "wechat"  # 微信
    LINK = "link"  # 查询页上的一次性评价链接


class ComplaintCallbackRecorded(Event):
    """The resident was called back (回访), or rated the result themselves; `contacted` false
    records a failed attempt.

    `satisfaction` is the three-level rating where one was given (absent in older events);
    `satisfied` stays its two-level reading for older consumers: true only for 满意, the
    numerator of 满意率 ("rated satisfied ÷ rated"), so 基本满意 is rated but not satisfied.
    """

    event_type = "ComplaintCallbackRecorded"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    contacted: bool
    resolved: bool | None
    satisfied: bool | None
    comment: str | None
    actor: str
    occurred_at: datetime
    satisfaction: Satisfaction | None = None
    rated_via: RatedVia | None = None
    # The comment is the resident's words (or staff's note of them): stored and published sealed
    # under the resident's key (`resident_ref`), like a filing's text, so an erasure shreds it.
    resident_ref: str | None = None
    sealed: Sealed | None = None


class ComplaintRedoRequested(Event):
    """The resident was not satisfied: the demand is handled again (重办); dispatch re-routes it."""

    event_type = "ComplaintRedoRequested"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    type: ComplaintType | None
    category: str | None
    area_code: str
    redo_count: int
    reason: str
    actor: str
    occurred_at: datetime


class ComplaintClosed(Event):
    """The case is closed (办结)."""

    event_type = "ComplaintClosed"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    reason: str
    actor: str
    occurred_at: datetime


class ResidentErased(Event):
    """A resident's contact key was destroyed (PIPL erasure); their complaints stay, unreadable contact."""

    event_type = "ResidentErased"
    version = 1

    resident_ref: str
    complaints: int
    erased_at: datetime


class ComplaintProgressed(Event):
    """A step of dispatch's the resident should see, mirrored on the complaint: the lead unit
    reached the resident or began the work, the lead's deadline extended, the case gone to
    deliberation or to arbitration (its clock paused) and back, or escalated. `due_at` is the
    deadline the resident is shown from now on (None while paused)."""

    event_type = "ComplaintProgressed"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    step: str = Field(
        description="contacted | started | extended | deliberating | deliberated | escalated"
        " | arbitrating | arbitrated"
    )
    due_at: datetime | None
    note: str
    occurred_at: datetime


class TriageWarned(Event):
    """A complaint waiting for a person (triage) nears its acceptance limit (受理时限)."""

    event_type = "TriageWarned"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    due_at: datetime
    occurred_at: datetime
    # The complaint's area, so notify can tell who is on duty there (older events lack it).
    area_code: str | None = None


class TriageBreached(Event):
    """A complaint waited for a person (triage) beyond its acceptance limit."""

    event_type = "TriageBreached"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    due_at: datetime
    occurred_at: datetime
    # The complaint's area, so notify can tell who is on duty there (older events lack it).
    area_code: str | None = None


class ComplaintRedacted(Event):
    """The resident asked to be erased (PIPL): this complaint's free text, the address below its
    public place, coordinates, answers and links are gone from every read model. Only what
    counts it stays: where (to the building), what category, which steps, when."""

    event_type = "ComplaintRedacted"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus
    public_place: str | None = Field(description="公开地点（到楼栋） The place kept")
    occurred_at: datetime


class ContactsAccessed(Event):
    """Residents' decrypted contacts were read: who read them, when and why (an audit record;
    it names the complaints, or the residents for area notices, never the contacts)."""

    event_type = "ContactsAccessed"
    version = 1

    complaint_ids: list[UUID]
    actor: str  # role:key name
    key_id: str
    purpose: str
    read_at: datetime
    # The residents whose contacts for area notices were read (by their reference).
    resident_refs: list[str] = Field(
        default_factory=list,
        description="读取了其通知联系方式的居民假名编号 Residents whose notice contacts were read",
    )


class IntakeCatalogueLoaded(Event):
    """Intake loaded the city's areas and category catalogue (what it validates and classifies by).

    No longer published: intake follows dispatch's `CityModelChanged`. Kept so that the loads
    already recorded still read."""

    event_type = "IntakeCatalogueLoaded"
    version = 1

    catalogue_version: int
    checksum: str
    city_name: str
    areas: int
    categories: int
    loaded_at: datetime


# --- notices ---


class NoticeChannel(StrEnum):
    """How a resident asked to receive the notices of their home area (接收通知的方式)."""

    SMS = "sms"  # 短信
    WECHAT = "wechat"  # 微信公众号
    EMAIL = "email"  # 电子邮件


class NoticeConsentRecorded(Event):
    """A resident agreed to receive the notices for their home (停水停电、会议通知、征求意见…)
    by these channels. Their contact stays in intake's vault under `resident_ref`, erasable like
    the rest; given again for the same home, the newer channels stand. Keyed by the resident,
    so that one resident's consents and withdrawals stay in order."""

    event_type = "NoticeConsentRecorded"
    version = 1

    resident_ref: str
    area_code: str = Field(
        pattern=AREA_PATTERN,
        description="居民住处（楼栋或单元） The resident's home: a building or a unit",
    )
    channels: list[NoticeChannel] = Field(
        min_length=1, description="接收通知的方式 The channels the notices go by"
    )
    masked_phone: str | None = None
    given_at: datetime

    @property
    def subject(self) -> str:
        return self.resident_ref


class NoticeConsentWithdrawn(Event):
    """A resident no longer wants notices for a home (`area_code`), or for any (None)."""

    event_type = "NoticeConsentWithdrawn"
    version = 1

    resident_ref: str
    area_code: str | None = Field(
        None,
        pattern=AREA_PATTERN,
        description="撤回的住处；为空则全部撤回 The home withdrawn; none: every home",
    )
    withdrawn_at: datetime

    @property
    def subject(self) -> str:
        return self.resident_ref


# --- onspot ---

# The resident reference of a matter no resident filed (随手做: a grid worker's own finding,
# fixed on the spot): nobody to send a receipt to, call back or erase, nothing to seal.
NO_RESIDENT = "-"


class OnSpotFixRecorded(Event):
    """A grid worker or grid head fixed the matter on the spot (随手做) and filed it already
    done: the fix is recorded, the case closed at once and never dispatched. The filing
    before it names no resident (`resident_ref` is NO_RESIDENT)."""

    event_type = "OnSpotFixRecorded"
    version = 1

    complaint_id: UUID
    status: ComplaintStatus = Field(description="办结 Closed: nothing is left to do")
    done: str = Field(
        description="当场做了什么 What was done on the spot",
        examples=["已清理楼道堆放的杂物，并提醒住户不要在楼道内给电动车充电"],
    )
    media_urls: list[str] = Field(
        default_factory=list, description="处置前后照片链接 Photos of before and after"
    )
    worker: str | None = Field(
        None, description="处置人（网格员/网格长）姓名 Who fixed it", examples=["李网格"]
    )
    patrol_id: UUID | None = Field(None, description="发现于哪次巡查 The patrol it was found on")
    actor: str
    occurred_at: datetime


class FindingOutcome(StrEnum):
    """What became of a matter found on patrol (巡查发现)."""

    FIXED_ON_SPOT = "fixed_on_spot"  # 随手做：当场解决，立案即办结
    REPORTED = "reported"  # 已上报：另行受理、派单办理（见 case_number）
    NOTED = "noted"  # 已记录：待跟进（及时记）


class PatrolFinding(BaseModel):
    """One matter found on a patrol: where, what, and what became of it."""

    model_config = ConfigDict(frozen=True)

    finding_id: UUID
    area_code: str = Field(description="发现地点的区划代码 Where it was found (to the building)")
    category: str | None = Field(None, description="诉求类别代码 Category code")
    text: str = Field(description="发现的问题 What was found")
    outcome: FindingOutcome
    complaint_id: UUID | None = Field(
        None, description="随手做或上报的诉求 The case it became (fixed on spot or reported)"
    )
    case_number: str | None = None


class PatrolRecorded(Event):
    """A grid worker's or grid head's patrol (巡查: 每日巡、及时记) was recorded: who walked
    where and when, and every matter found on the way with what became of it. A matter found
    again and again on patrol is a recurring place even when no resident complained."""

    event_type = "PatrolRecorded"
    version = 1

    patrol_id: UUID
    area_code: str = Field(description="巡查的网格或社区 The grid (or community) walked")
    patroller: str = Field(description="巡查人姓名 Who walked it", examples=["李网格"])
    started_at: datetime
    ended_at: datetime
    note: str | None = Field(None, description="巡查记录 Notes of the walk")
    findings: list[PatrolFinding] = Field(default_factory=list)
    actor: str
    recorded_at: datetime
