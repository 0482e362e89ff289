"""What intake's routes read and answer: the request bodies of its own routes (a complaint's
commands are domain/commands'), each answer's model, and every step from a stored row to an
answer: a complaint's view, its progress and events, the work lists, the resident's lookup."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.intake import store
from services.intake.domain import classifier, ratings
from services.intake.domain.catalogue import Catalogue, CatalogueFile
from services.intake.domain.commands import PHONE_PATTERN, Contact, NoticeContact
from services.intake.domain.decisions import to_triage
from services.intake.domain.model import Complaint
from shared.events import (
    ComplaintStatus,
    ComplaintType,
    FindingOutcome,
    PatrolRecorded,
    Satisfaction,
    labels,
)
from shared.eventstore import RecordedEvent
from shared.privacy import FreeText
from shared.sealing import FETCH_MOST, SEALINGS, WordsKey

RESIDENT_REF = r"^R-[0-9a-f]{20}$"

# --- bodies ----------------------------------------------------------------------------------


class ClassifyText(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ContactLookup(BaseModel):
    complaint_ids: list[UUID] = Field(
        min_length=1, max_length=500, description="诉求编号（UUID）Complaint ids"
    )
    purpose: str = Field(
        "发送通知 notification", min_length=2, max_length=200, description="用途 Why (recorded)"
    )


class KeysLookup(BaseModel):
    resident_refs: list[Annotated[str, Field(pattern=RESIDENT_REF)]] = Field(
        min_length=1, max_length=FETCH_MOST, description="居民匿名编号 Resident refs"
    )


class NoticeContactsLookup(BaseModel):
    resident_refs: list[Annotated[str, Field(pattern=RESIDENT_REF)]] = Field(
        min_length=1, max_length=500, description="居民匿名编号 Resident refs"
    )
    purpose: str = Field(
        "发送区域通知 area notice", min_length=2, max_length=200, description="用途 Why (recorded)"
    )


class Erasure(BaseModel):
    phone: str | None = Field(None, pattern=PHONE_PATTERN, description="诉求人电话")
    resident_ref: str | None = Field(None, pattern=RESIDENT_REF)


class SmsReply(BaseModel):
    """A resident's reply to a message, as the SMS gateway forwards it (上行短信)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    message_id: str = Field(
        min_length=1,
        max_length=128,
        description="网关的消息编号，重复投递时不变 The gateway's message id (same on redelivery)",
    )
    phone: str = Field(pattern=PHONE_PATTERN, description="发送人手机号 The sender's phone")
    text: str = Field(max_length=500, description="回复内容 What the resident replied")
    received_at: AwareDatetime = Field(
        description="网关收到的时间（含时区）When the gateway received it, with its offset"
    )


class LinkRating(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    token: str = Field(
        min_length=1, max_length=200, description="查询结果中的评价令牌 The token from the lookup"
    )
    satisfaction: Satisfaction = Field(description="满意/基本满意/不满意 The rating")
    comment: FreeText | None = Field(None, max_length=500, description="意见（可选）Comments")


# --- the answers -----------------------------------------------------------------------------
# The routes answer the JSON the functions below build, as it is (api.deps.answer): the models
# describe it in the OpenAPI document and are not used to re-validate it. Times are ISO 8601
# strings.


class Described(BaseModel):
    model_config = ConfigDict(extra="allow")


class Candidate(Described):
    complaint_id: UUID
    case_number: str
    reason: str = Field(description="same_building | same_grid | nearby")
    distance_m: float | None = None


class ComplaintView(Described):
    """A complaint as channels and staff see it."""

    complaint_id: UUID
    case_number: str
    status: ComplaintStatus
    status_label: str
    status_note: str = Field(description="最近一步的说明 What a person reads about the last step")
    channel: str
    type: ComplaintType | None
    category: str | None
    confidence: float | None
    needs_triage: bool
    area_code: str
    address: str
    latitude: float | None
    longitude: float | None
    text: str
    attributes: dict[str, Any]
    media_urls: list[str]
    resident_ref: str
    masked_phone: str | None
    likely_duplicates: list[Candidate] = Field(
        description="待确认的疑似重复 Suspected duplicates still to decide on"
    )
    merged_into: UUID | None
    lead_responder: str | None
    due_at: str | None
    filed_at: str
    updated_at: str
    version: int


def complaint_view(view: Mapping[str, Any]) -> dict[str, Any]:
    """A view row as the API shows it to channels and staff."""
    return {
        "complaint_id": str(view["complaint_id"]),
        "case_number": view["case_number"],
        "status": view["status"],
        "status_label": labels.STATUS[ComplaintStatus(view["status"])],
        "status_note": view["status_note"],
        "channel": view["channel"],
        "type": view["type"],
        "category": view["category"],
        "confidence": view["confidence"],
        "needs_triage": view["needs_triage"],
        "area_code": view["area_code"],
        "address": view["address"],
        "latitude": view["latitude"],
        "longitude": view["longitude"],
        "text": view["text"],
        "attributes": view["attributes"],
        "media_urls": view["media_urls"],
        "resident_ref": view["resident_ref"],
        "masked_phone": view["masked_phone"],
        "likely_duplicates": view["duplicate_candidates"] if view["duplicate_pending"] else [],
        "merged_into": str(view["merged_into"]) if view["merged_into"] else None,
        "lead_responder": view["lead_responder"],
        "due_at": view["due_at"].isoformat() if view["due_at"] else None,
        "filed_at": view["filed_at"].isoformat(),
        "updated_at": view["updated_at"].isoformat(),
        "version": view["version"],
    }


class ProgressEntry(Described):
    """One step of the complaint, as the resident reads it."""

    status: ComplaintStatus
    status_label: str
    description: str
    at: str


def progress_entry(update: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": update["status"],
        "status_label": labels.STATUS[ComplaintStatus(update["status"])],
        "description": update["description"],
        "at": update["updated_at"].isoformat(),
    }


class ComplaintProgress(ComplaintView):
    """A complaint with every step it has been through, oldest first."""

    progress: list[ProgressEntry]


def complaint_progress(
    view: Mapping[str, Any], updates: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    return {**complaint_view(view), "progress": [progress_entry(u) for u in updates]}


class RecordedStep(Described):
    id: UUID
    type: str
    position: int
    recorded_at: str
    data: dict[str, Any]


class ComplaintEvents(Described):
    """The complaint's stream as recorded (what the resident said left out once erased)."""

    complaint_id: UUID
    events: list[RecordedStep]


# What the resident said or showed, and where exactly: not shown once they are erased.
# (the fields each sealed event type seals: a filing's words, place and masked phone, a
# callback's comment)
PERSONAL_FIELDS = frozenset(name for sealing in SEALINGS.values() for name in sealing.fields)


def complaint_events(
    complaint_id: UUID, history: Sequence[RecordedEvent], redacted: bool
) -> dict[str, Any]:
    return {
        "complaint_id": str(complaint_id),
        "events": [
            {
                "id": str(recorded.id),
                "type": recorded.type,
                "position": recorded.position,
                "recorded_at": recorded.recorded_at.isoformat(),
                "data": _without_personal(recorded.data) if redacted else recorded.data,
            }
            for recorded in history
        ],
    }


def _without_personal(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in PERSONAL_FIELDS}


class CallbackItem(ComplaintView):
    resolved_at: str = Field(description="办理反馈的时间 When the unit reported")
    callback_due_at: str
    overdue: bool
    unreached_callbacks: int
    follows_case_number: str | None = Field(
        description="并案时所随的主诉求编号 The complaint a merged duplicate follows"
    )


class CallbackWorklist(Described):
    total: int
    limit: int
    offset: int
    items: list[CallbackItem]


def callback_item(row: Mapping[str, Any], within: timedelta, now: datetime) -> dict[str, Any]:
    since = row["waiting_since"]
    due = since + within
    return {
        **complaint_view(row),
        "resolved_at": since.isoformat(),
        "callback_due_at": due.isoformat(),
        "overdue": due < now,
        "unreached_callbacks": row["unreached_callbacks"],
        # a merged duplicate: its resident is called about the case it follows
        "follows_case_number": row["survivor_case_number"],
    }


class TriageItem(ComplaintView):
    accept_due_at: str | None = Field(
        None, description="受理时限（仅待人工分类）The acceptance limit (status triage only)"
    )
    overdue: bool | None = Field(None, description="已超受理时限（仅待人工分类）(triage only)")
    reasons: list[str] = Field(description="low_confidence | consultation | likely_duplicate")


class TriageQueue(Described):
    total: int
    limit: int
    offset: int
    items: list[TriageItem]


def triage_item(row: Mapping[str, Any], accept_within: timedelta, now: datetime) -> dict[str, Any]:
    item = complaint_view(row)
    if row["status"] == "triage":  # the acceptance clock (受理时限)
        item["accept_due_at"] = (row["filed_at"] + accept_within).isoformat()
        item["overdue"] = row["filed_at"] + accept_within < now
    item["reasons"] = [
        reason
        for reason, applies in (
            ("low_confidence", row["status"] == "triage" and row["type"] != "consultation"),
            ("consultation", row["status"] == "triage" and row["type"] == "consultation"),
            ("likely_duplicate", row["duplicate_pending"]),
        )
        if applies
    ]
    return item


def page(total: int, limit: int, offset: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"total": total, "limit": limit, "offset": offset, "items": items}


class Alternative(Described):
    category: str
    confidence: float


class Classification(Described):
    """What the classifier makes of a text, and whether a person would have to decide."""

    type: ComplaintType
    type_label: str
    type_confidence: float
    category: str
    category_name: str | None
    confidence: float
    alternatives: list[Alternative]
    needs_triage: bool


def classification(
    result: classifier.Classification, catalogue: Catalogue, thresholds: tuple[float, float]
) -> dict[str, Any]:
    return {
        "type": result.type.value,
        "type_label": labels.TYPE[result.type],
        "type_confidence": round(result.type_confidence, 4),
        "category": result.category,
        "category_name": catalogue.categories[result.category].name
        if result.category in catalogue.categories
        else None,
        "confidence": round(result.confidence, 4),
        "alternatives": [
            {"category": c, "confidence": round(p, 4)} for c, p in result.alternatives
        ],
        # (the category is the classifier's own: whether the catalogue knows it is not asked)
        "needs_triage": to_triage(result.confidence, result.type_confidence, True, thresholds),
    }


class Contacts(Described):
    contacts: dict[str, Contact] = Field(description="按诉求 ID By complaint id")
    erased: list[UUID] = Field(description="已删除 Erased at the resident's request")
    missing: list[UUID] = Field(description="没有联系方式 No contact stored")


def contacts(
    found: Mapping[UUID, Contact | store.ContactErased], asked: Sequence[UUID]
) -> dict[str, Any]:
    return {
        "contacts": {
            str(cid): c.model_dump() for cid, c in found.items() if not isinstance(c, Exception)
        },
        "erased": [str(cid) for cid, c in found.items() if isinstance(c, store.ContactErased)],
        "missing": [str(cid) for cid in dict.fromkeys(asked) if cid not in found],
    }


class NoticeContacts(Described):
    contacts: dict[str, NoticeContact] = Field(description="按居民匿名编号 By resident ref")
    erased: list[str] = Field(description="已删除 Erased at the resident's request")
    missing: list[str] = Field(description="没有通知联系方式 No contact for notices stored")


def notice_contacts(
    found: Mapping[str, NoticeContact | store.ContactErased], asked: Sequence[str]
) -> dict[str, Any]:
    return {
        "contacts": {
            ref: c.model_dump() for ref, c in found.items() if not isinstance(c, Exception)
        },
        "erased": [ref for ref, c in found.items() if isinstance(c, store.ContactErased)],
        "missing": [ref for ref in dict.fromkeys(asked) if ref not in found],
    }


class NoticeConsent(Described):
    """A resident's consent to area notices as it stands after the request."""

    resident_ref: str = Field(description="居民匿名编号 The resident's reference")
    changed: bool = Field(description="是否有变化（重复同意则否） Whether anything changed")
    homes: dict[str, list[str]] = Field(
        description="住处 → 接收方式 Each home the resident gets notices for, with its channels"
    )


def notice_consent(resident: str, changed: bool, homes: Mapping[str, list[str]]) -> dict[str, Any]:
    return {"resident_ref": resident, "changed": changed, "homes": dict(homes)}


class WordsKeys(Described):
    keys: dict[str, str | None] = Field(
        description="居民匿名编号 → 密钥（base64），已删除为 null Resident ref → key, or null"
    )


def words_keys(found: Mapping[str, WordsKey | None]) -> dict[str, Any]:
    return {
        "keys": {
            ref: base64.b64encode(k.secret).decode() if k is not None else None
            for ref, k in found.items()
        }
    }


class Erased(Described):
    resident_ref: str
    contacts_erased: int


def erased(resident: str, count: int) -> dict[str, Any]:
    return {"resident_ref": resident, "contacts_erased": count}


class CurrentCatalogue(CatalogueFile):
    """The catalogue as followed from dispatch's city model: its version, city, areas and
    categories."""

    model_config = ConfigDict(extra="allow")
    catalogue_version: int


def current_catalogue(catalogue: Catalogue) -> dict[str, Any]:
    return {"catalogue_version": catalogue.version, **catalogue.file.model_dump(mode="json")}


class RatingOffer(Described):
    """The one-time link a resident rates a result with, signed for this round."""

    token: str
    url: str = Field(description="评价页面，令牌在 # 之后 The page, the token after #")
    expires_at: str
    levels: dict[str, str] = Field(description="满意度及其名称 The levels and their words")


def rating_offer(grant: ratings.RatingGrant, secret: str, page_url: str) -> dict[str, Any]:
    """What the resident's lookup shows of a result awaiting their rating: the link and levels."""
    token = ratings.sign(grant, secret)
    return {
        "token": token,
        # In the fragment: the browser never sends it, so no access log or referrer holds it.
        "url": f"{page_url}#{urlencode({'token': token})}",
        "expires_at": grant.expires_at.isoformat(),
        "levels": {level.value: label for level, label in labels.SATISFACTION.items()},
    }


class Lookup(Described):
    """What a resident who proved the case number and phone tail may read."""

    case_number: str
    status: ComplaintStatus
    status_label: str
    status_note: str
    type_label: str | None
    category: str | None
    community: str | None
    lead_responder: str | None
    due_at: str | None
    filed_at: str
    progress: list[ProgressEntry]
    rating: RatingOffer | None = Field(
        description="待评价时的一次性评价链接，否则为 null The rating link, while one is due"
    )


def lookup(
    view: Mapping[str, Any],
    updates: Iterable[Mapping[str, Any]],
    catalogue: Catalogue,
    rating: dict[str, Any] | None,
) -> dict[str, Any]:
    category = catalogue.categories.get(view["category"] or "")
    areas = catalogue.lineage(view["area_code"])
    community = next((a.name for a in areas if a.level == "community"), None)
    return {
        "case_number": view["case_number"],
        "status": view["status"],
        "status_label": labels.STATUS[ComplaintStatus(view["status"])],
        "status_note": view["status_note"],
        "type_label": labels.TYPE[ComplaintType(view["type"])] if view["type"] else None,
        "category": category.name if category else None,
        "community": community,
        "lead_responder": view["lead_responder"],
        "due_at": view["due_at"].isoformat() if view["due_at"] else None,
        "filed_at": view["filed_at"].isoformat(),
        "progress": [progress_entry(u) for u in updates],
        "rating": rating,
    }


class SmsOutcome(Described):
    """What became of a resident's SMS reply, and a sentence to send back."""

    outcome: str = Field(description="recorded | not_understood | nothing_to_rate | ambiguous")
    reply: str = Field(description="可回复居民的短信 What the gateway may send back")
    case_numbers: list[str] | None = Field(None, description="ambiguous: 待评价的诉求")
    complaint_id: UUID | None = Field(None, description="recorded")
    case_number: str | None = Field(None, description="recorded")
    satisfaction: Satisfaction | None = Field(None, description="recorded")
    redo: bool | None = Field(None, description="recorded: 已重新交办 sent back to be redone")


class RatingRecorded(Described):
    case_number: str
    satisfaction: Satisfaction
    satisfaction_label: str
    status: ComplaintStatus
    status_label: str
    message: str = Field(description="给居民的答复 What the resident is told")


def rating_recorded(state: Complaint, level: Satisfaction) -> dict[str, Any]:
    redone = state.status is ComplaintStatus.REDO
    return {
        "case_number": state.case_number,
        "satisfaction": level.value,
        "satisfaction_label": labels.SATISFACTION[level],
        "status": state.status.value,
        "status_label": state.label,
        "message": ratings.thanks(state.case_number, level, redone),
    }


class PatrolFindingView(BaseModel):
    finding_id: UUID
    area_code: str
    category: str | None
    text: str
    outcome: FindingOutcome = Field(description="随手做 / 已上报 / 已记录 What became of it")
    outcome_label: str
    complaint_id: UUID | None
    case_number: str | None


class PatrolView(BaseModel):
    """A patrol as recorded (巡查记录), with the 随手做 cases it made."""

    patrol_id: UUID
    area_code: str
    patroller: str
    started_at: datetime
    ended_at: datetime
    note: str | None
    findings: list[PatrolFindingView]
    fixed_on_spot: int = Field(description="当场解决（随手做）件数 Matters fixed on the spot")
    recorded_at: datetime


def patrol_view(patrol: PatrolRecorded) -> dict[str, Any]:
    findings = [
        {
            **f.model_dump(mode="json"),
            "outcome_label": labels.FINDING_OUTCOME[f.outcome],
        }
        for f in patrol.findings
    ]
    return {
        **patrol.model_dump(mode="json", include=set(PatrolView.model_fields) - {"findings"}),
        "findings": findings,
        "fixed_on_spot": sum(f.outcome is FindingOutcome.FIXED_ON_SPOT for f in patrol.findings),
    }
