"""Intake's pure decisions: the complaint aggregate (decide → events, evolve ← events).

Commands are checked against the complaint's status; an illegal one raises `IllegalTransition`
with a sentence a person understands (HTTP 409). Facts mirrored from dispatch are never
refused: when they no longer apply (the resident withdrew meanwhile) they produce nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.intake.privacy import mask_phone
from shared import commands
from shared.events import (
    ArbitrationDecided,
    ArbitrationRequested,
    CaseEscalated,
    CaseResolved,
    Channel,
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintDispatched,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintProgressed,
    ComplaintReclassified,
    ComplaintRedacted,
    ComplaintRedoRequested,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintStatus,
    ComplaintType,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    DeliberationConcluded,
    DeliberationRequested,
    DuplicateCandidate,
    DuplicateDismissed,
    DuplicateSuspected,
    Event,
    ExtensionApproved,
    RatedVia,
    ResponderRole,
    Satisfaction,
    TriageBreached,
    TriageWarned,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderSigned,
    WorkOrderStarted,
    labels,
)
from shared.events.area import PATTERN as AREA_PATTERN
from shared.privacy import REDACTED_TEXT, FreeText, redact_known, redact_values

CHINA = ZoneInfo("Asia/Shanghai")
S = ComplaintStatus

CATEGORY_PATTERN = r"^[a-z][a-z0-9-]{1,40}$"
PHONE_PATTERN = r"^\+?[\d\- ]{5,20}$"
MEDIA_URL = r"^https?://\S+$"  # never javascript:, data: or file: links

# Still open and not yet handled: the states in which the demand itself can still change.
IN_HAND = frozenset({S.FILED, S.TRIAGE, S.CLASSIFIED, S.DISPATCHED, S.SIGNED, S.REDO})
# Finished, in the sense of Open311's `closed`.
FINISHED = frozenset({S.ANSWERED, S.MERGED, S.WITHDRAWN, S.CLOSED})


class IllegalTransition(commands.IllegalTransition):
    """The command does not apply to the complaint as it stands (HTTP 409)."""


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Contact(_Command):
    """Who to call back. Kept only in intake's encrypted vault."""

    name: str | None = Field(None, max_length=50, description="诉求人姓名 Resident's name")
    phone: str = Field(
        pattern=PHONE_PATTERN,
        description="联系电话，至少 5 位数字 Phone number, at least five digits",
    )
    wechat_openid: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{6,64}$",
        description="微信 openid（经微信受理时）Where WeChat progress messages go",
    )

    @field_validator("phone")
    @classmethod
    def _has_digits(cls, phone: str) -> str:
        if sum(c.isdigit() for c in phone) < 5:
            raise ValueError("联系电话至少含 5 位数字 A phone number needs at least five digits")
        return phone


class FileComplaint(_Command):
    """A resident's demand (诉求) as a channel submits it."""

    channel: Channel = Field(description="受理渠道 Channel")
    text: str = Field(min_length=2, max_length=2000, description="诉求内容 What the resident says")
    type: ComplaintType | None = Field(None, description="诉求类型 Type, if the channel knows it")
    category: str | None = Field(
        None, pattern=CATEGORY_PATTERN, description="诉求类别代码 Category code, if known"
    )
    area_code: str = Field(
        pattern=AREA_PATTERN,
        description="区划代码 Area code (community[-grid[-building[-unit]]])",
    )
    address: str = Field(min_length=1, max_length=200, description="详细地址 Address")
    latitude: float | None = Field(None, ge=-90, le=90, description="纬度 Latitude")
    longitude: float | None = Field(None, ge=-180, le=180, description="经度 Longitude")
    datum: str = Field(
        "wgs84",
        pattern="^(wgs84|gcj02|bd09)$",
        description="坐标系 Datum of the coordinates: wgs84, gcj02 (高德/腾讯) or bd09 (百度)",
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        max_length=50,
        description="附加信息 Answers to the category's questions",
    )
    media_urls: list[Annotated[str, Field(pattern=MEDIA_URL, max_length=2000)]] = Field(
        default_factory=list, max_length=9, description="图片/视频链接（http/https） Media links"
    )
    contact: Contact

    @model_validator(mode="after")
    def _both_coordinates_or_none(self) -> FileComplaint:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude must be given together (经纬度须同时提供)")
        return self


class Reclassify(_Command):
    type: ComplaintType = Field(description="诉求类型 Type")
    category: str = Field(pattern=CATEGORY_PATTERN, description="诉求类别代码 Category code")
    reason: FreeText = Field("人工分类", min_length=1, max_length=500, description="原因 Reason")


class AnswerOnSpot(_Command):
    answer: FreeText = Field(min_length=2, max_length=2000, description="答复内容 The answer given")


class Merge(_Command):
    into: str = Field(
        min_length=1, max_length=64, description="主诉求的编号或 ID Case number or id to merge into"
    )
    reason: FreeText = Field("重复诉求并案", min_length=1, max_length=500)


class Reason(_Command):
    reason: FreeText = Field(min_length=1, max_length=500, description="原因 Reason")


class CallBack(_Command):
    contacted: bool = Field(description="是否联系上诉求人 Was the resident reached?")
    resolved: bool | None = Field(None, description="问题是否解决 Resolved?")
    satisfied: bool | None = Field(
        None, description="是否满意（两级；给出 satisfaction 时可省略）Satisfied? (two levels)"
    )
    satisfaction: Satisfaction | None = Field(
        None, description="满意度（满意/基本满意/不满意）The three-level rating"
    )
    comment: FreeText | None = Field(None, max_length=1000, description="回访记录 Notes")

    @model_validator(mode="after")
    def _answers_when_contacted(self) -> CallBack:
        if self.satisfaction is not None:
            counts = self.satisfaction is Satisfaction.SATISFIED
            if self.satisfied is not None and self.satisfied is not counts:
                raise ValueError(
                    "satisfied 与 satisfaction 不一致（只有「满意」计为 satisfied）"
                    " satisfied contradicts satisfaction"
                )
            self.satisfied = counts
        if self.contacted and (self.resolved is None or self.satisfied is None):
            raise ValueError(
                "联系上诉求人时须填写 resolved 与 satisfaction (required when contacted)"
            )
        if not self.contacted and (self.resolved is not None or self.satisfied is not None):
            raise ValueError("未联系上时不能填写评价 (no ratings without contact)")
        return self


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Complaint:
    """A complaint as intake knows it: the fold of its stream, also what the view table holds."""

    complaint_id: UUID
    case_number: str
    status: ComplaintStatus
    channel: Channel
    text: str
    area_code: str
    address: str
    latitude: float | None
    longitude: float | None
    resident_ref: str
    masked_phone: str | None
    filed_at: datetime
    updated_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)
    media_urls: tuple[str, ...] = ()
    type: ComplaintType | None = None
    category: str | None = None
    confidence: float | None = None
    needs_triage: bool = False
    duplicate_candidates: tuple[DuplicateCandidate, ...] = ()
    duplicate_pending: bool = False
    merged_into: UUID | None = None
    status_before_merge: ComplaintStatus | None = None
    lead_work_order_id: UUID | None = None
    lead_responder: str | None = None
    due_at: datetime | None = None
    triage_clock: str | None = None  # warned | breached: the acceptance limit's clock
    callback_attempts: int = 0
    unreached_callbacks: int = 0  # callbacks that reached nobody since the unit last reported
    resolved_at: datetime | None = None
    reached_at: datetime | None = None  # when a callback last reached the resident
    last_callback: ComplaintCallbackRecorded | None = None
    redo_count: int = 0
    # the steps of dispatch's mirrored for the current lead (contacted, started, arbitrating…):
    # each at most once per lead, whatever the redeliveries
    lead_steps: frozenset[str] = frozenset()
    redacted: bool = False  # the resident was erased (ComplaintRedacted)
    note: str = ""
    version: int = 0

    @property
    def label(self) -> str:
        return labels.STATUS[self.status]


def _filed(_: Complaint | None, e: ComplaintFiled) -> Complaint:
    return Complaint(
        complaint_id=e.complaint_id,
        case_number=e.case_number,
        status=e.status,
        channel=e.channel,
        text=e.text,
        area_code=e.area_code,
        address=e.address,
        latitude=e.latitude,
        longitude=e.longitude,
        resident_ref=e.resident_ref,
        masked_phone=e.masked_phone,
        filed_at=e.filed_at,
        updated_at=e.filed_at,
        due_at=e.promised_due_at,
        attributes=dict(e.attributes),
        media_urls=tuple(e.media_urls),
        category=e.category,
    )


def _classified(s: Complaint, e: ComplaintClassified) -> Complaint:
    return replace(
        s, type=e.type, category=e.category, confidence=e.confidence, needs_triage=e.needs_triage
    )


def _reclassified(s: Complaint, e: ComplaintReclassified) -> Complaint:
    return replace(s, type=e.type, category=e.category, confidence=1.0, needs_triage=False)


def _suspected(s: Complaint, e: DuplicateSuspected) -> Complaint:
    return replace(s, duplicate_candidates=tuple(e.candidates), duplicate_pending=True)


def _merged(s: Complaint, e: ComplaintMerged) -> Complaint:
    return replace(
        s,
        merged_into=e.into_complaint_id,
        status_before_merge=e.previous_status,
        duplicate_pending=False,
    )


def _unmerged(s: Complaint, e: ComplaintUnmerged) -> Complaint:
    return replace(s, merged_into=None, status_before_merge=None)


def _dispatched(s: Complaint, e: ComplaintDispatched) -> Complaint:
    return replace(
        s,
        lead_work_order_id=e.work_order_id,
        lead_responder=e.responder_name,
        due_at=e.due_at,
        lead_steps=frozenset(),
    )


def _called_back(s: Complaint, e: ComplaintCallbackRecorded) -> Complaint:
    unreached = 0 if e.contacted else s.unreached_callbacks + 1
    return replace(
        s,
        callback_attempts=s.callback_attempts + 1,
        unreached_callbacks=unreached,
        reached_at=e.occurred_at if e.contacted else s.reached_at,
        last_callback=e,
    )


def _resolved(s: Complaint, e: ComplaintResolved) -> Complaint:
    return replace(s, resolved_at=e.occurred_at, unreached_callbacks=0)


def _progress(s: Complaint, e: ComplaintProgressed) -> Complaint:
    return replace(s, due_at=e.due_at, lead_steps=s.lead_steps | {e.step})


def _redo(s: Complaint, e: ComplaintRedoRequested) -> Complaint:
    return replace(s, redo_count=e.redo_count, last_callback=None, due_at=None, resolved_at=None)


def _unchanged(s: Complaint, _: Event) -> Complaint:
    return s


def _redacted(s: Complaint, e: ComplaintRedacted) -> Complaint:
    return replace(
        s,
        text=REDACTED_TEXT,
        redacted=True,
        address=e.public_place or "",
        latitude=None,
        longitude=None,
        attributes={},
        media_urls=(),
        last_callback=None,
        masked_phone=None,  # seven of the eleven digits: the lookup by phone tail ends with it
    )


_EVOLVE: dict[type[Event], Callable[[Any, Any], Complaint]] = {
    ComplaintFiled: _filed,
    ComplaintClassified: _classified,
    ComplaintReclassified: _reclassified,
    DuplicateSuspected: _suspected,
    DuplicateDismissed: lambda s, e: replace(s, duplicate_pending=False),
    ComplaintMerged: _merged,
    ComplaintUnmerged: _unmerged,
    ComplaintAnswered: _unchanged,
    ComplaintWithdrawn: _unchanged,
    ComplaintDispatched: _dispatched,
    ComplaintSigned: _unchanged,
    ComplaintResolved: _resolved,
    ComplaintCallbackRecorded: _called_back,
    ComplaintRedoRequested: _redo,
    ComplaintClosed: _unchanged,
    ComplaintRedacted: _redacted,
    ComplaintProgressed: _progress,
    TriageWarned: lambda s, e: replace(s, triage_clock="warned"),
    TriageBreached: lambda s, e: replace(s, triage_clock="breached"),
}


def evolve(state: Complaint | None, event: Event) -> Complaint:
    if state is None and not isinstance(event, ComplaintFiled):
        raise ValueError(
            f"a complaint stream must start with ComplaintFiled, not {event.event_type}"
        )
    new = _EVOLVE[type(event)](state, event)
    at: datetime = getattr(event, "occurred_at", None) or event.filed_at  # type: ignore[attr-defined]
    return replace(
        new,
        status=event.status,  # type: ignore[attr-defined]
        updated_at=at,
        note=describe(event),
        version=(state.version if state else 0) + 1,
    )


def fold(events: Iterable[Event]) -> Complaint | None:
    state: Complaint | None = None
    for event in events:
        state = evolve(state, event)
    return state


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------


def _refuse(state: Complaint, action: str, hint: str = "") -> IllegalTransition:
    return IllegalTransition(
        f"诉求 {state.case_number} 当前状态为「{state.label}」，不能{action}。{hint}".rstrip()
    )


def _require(state: Complaint, allowed: frozenset[ComplaintStatus], action: str) -> None:
    if state.status not in allowed:
        raise _refuse(state, action)


@dataclass(frozen=True, slots=True)
class Filing:
    """What intake knows when a complaint is filed, besides the command itself."""

    complaint_id: UUID
    case_number: str
    resident_ref: str
    filed_at: datetime
    type: ComplaintType
    type_confidence: float
    category: str
    confidence: float
    classified_by: str
    needs_triage: bool
    latitude: float | None = None
    longitude: float | None = None
    duplicates: tuple[DuplicateCandidate, ...] = ()
    promised_due_at: datetime | None = None
    time_limit: str | None = None


def file_complaint(command: FileComplaint, filing: Filing) -> list[Event]:
    # Consultations wait for a person too: they are answered on the spot or reclassified.
    to_triage = filing.needs_triage or filing.type is ComplaintType.CONSULTATION
    status = S.TRIAGE if to_triage else S.CLASSIFIED
    # The resident's own name, typed into what they say, is masked as numbers are.
    names = [command.contact.name] if command.contact.name else []
    events: list[Event] = [
        ComplaintFiled(
            complaint_id=filing.complaint_id,
            case_number=filing.case_number,
            channel=command.channel,
            text=redact_known(command.text, names),
            category=command.category,
            area_code=command.area_code,
            address=redact_known(command.address, names),
            latitude=filing.latitude,
            longitude=filing.longitude,
            source_datum=command.datum if command.latitude is not None else None,
            resident_ref=filing.resident_ref,
            masked_phone=mask_phone(command.contact.phone),
            filed_at=filing.filed_at,
            attributes=redact_values(command.attributes, names),
            media_urls=command.media_urls,
            promised_due_at=filing.promised_due_at,
            time_limit=filing.time_limit,
        ),
        ComplaintClassified(
            complaint_id=filing.complaint_id,
            status=status,
            type=filing.type,
            category=filing.category,
            confidence=round(filing.confidence, 4),
            type_confidence=round(filing.type_confidence, 4),
            classified_by=filing.classified_by,
            needs_triage=to_triage,
            area_code=command.area_code,
            occurred_at=filing.filed_at,
        ),
    ]
    if filing.duplicates:
        events.append(
            DuplicateSuspected(
                complaint_id=filing.complaint_id,
                status=status,
                candidates=list(filing.duplicates),
                occurred_at=filing.filed_at,
            )
        )
    return events


def reclassify(state: Complaint, command: Reclassify, actor: str, now: datetime) -> list[Event]:
    _require(state, IN_HAND, "重新分类")
    status: ComplaintStatus = S.CLASSIFIED if state.status in {S.FILED, S.TRIAGE} else state.status
    if command.type is ComplaintType.CONSULTATION and status is S.CLASSIFIED:
        status = S.TRIAGE  # a consultation stays with the operator until answered
    return [
        ComplaintReclassified(
            complaint_id=state.complaint_id,
            status=status,
            type=command.type,
            category=command.category,
            previous_type=state.type,
            previous_category=state.category,
            area_code=state.area_code,
            reason=command.reason,
            actor=actor,
            occurred_at=now,
        )
    ]


def answer_on_spot(
    state: Complaint, command: AnswerOnSpot, actor: str, now: datetime
) -> list[Event]:
    _require(state, frozenset({S.TRIAGE, S.CLASSIFIED}), "直接办结")
    if state.type is not ComplaintType.CONSULTATION:
        raise _refuse(
            state,
            "直接办结",
            "只有咨询类诉求可以直接办结；如确属咨询，请先重新分类。"
            " Only consultations can be answered on the spot.",
        )
    return [
        ComplaintAnswered(
            complaint_id=state.complaint_id,
            status=S.ANSWERED,
            answer=command.answer,
            actor=actor,
            occurred_at=now,
        )
    ]


def merge(
    state: Complaint,
    target: Complaint,
    merged_into_this: int,
    reason: str,
    actor: str,
    now: datetime,
) -> list[Event]:
    _require(state, IN_HAND, "并案")
    if target.complaint_id == state.complaint_id:
        raise IllegalTransition(
            f"诉求 {state.case_number} 不能并入自身。A complaint cannot be merged into itself."
        )
    if target.status in {S.MERGED, S.WITHDRAWN, S.CLOSED, S.ANSWERED}:
        raise IllegalTransition(
            f"目标诉求 {target.case_number} 当前状态为「{target.label}」，不能再并入其他诉求。"
            " The target complaint is no longer open."
        )
    if merged_into_this:
        raise _refuse(
            state,
            "并案",
            f"已有 {merged_into_this} 件诉求并入本诉求，请将它们直接并入 {target.case_number}。",
        )
    return [
        ComplaintMerged(
            complaint_id=state.complaint_id,
            status=S.MERGED,
            into_complaint_id=target.complaint_id,
            into_case_number=target.case_number,
            previous_status=state.status,
            reason=reason,
            actor=actor,
            occurred_at=now,
        )
    ]


def unmerge(state: Complaint, reason: str, actor: str, now: datetime) -> list[Event]:
    _require(state, frozenset({S.MERGED}), "取消并案")
    assert state.merged_into is not None and state.status_before_merge is not None
    return [
        ComplaintUnmerged(
            complaint_id=state.complaint_id,
            status=state.status_before_merge,
            from_complaint_id=state.merged_into,
            reason=reason,
            actor=actor,
            occurred_at=now,
        )
    ]


def keep_separate(state: Complaint, reason: str, actor: str, now: datetime) -> list[Event]:
    _require(state, IN_HAND, "确认非重复")
    if not state.duplicate_pending:
        raise _refuse(
            state,
            "确认非重复",
            "它没有待确认的疑似重复。It has no suspected duplicates to decide on.",
        )
    return [
        DuplicateDismissed(
            complaint_id=state.complaint_id,
            status=state.status,
            reason=reason,
            actor=actor,
            occurred_at=now,
        )
    ]


def withdraw(state: Complaint, reason: str, actor: str, now: datetime) -> list[Event]:
    _require(state, IN_HAND, "撤回")
    return [
        ComplaintWithdrawn(
            complaint_id=state.complaint_id,
            status=S.WITHDRAWN,
            reason=reason,
            actor=actor,
            occurred_at=now,
        )
    ]


# What the complaint a duplicate was merged into has come to when its resident, too, is called.
SURVIVOR_HANDLED = frozenset({S.RESOLVED, S.CALLED_BACK, S.CLOSED})


def call_back(
    state: Complaint,
    command: CallBack,
    actor: str,
    now: datetime,
    max_unreached: int | None = None,
    survivor: Complaint | None = None,
) -> list[Event]:
    """Record a callback. The `max_unreached`-th callback in a row that reaches nobody closes
    a resolved complaint (按规定多次回访未接通视为办结): it must not wait for ever.

    A duplicate merged into `survivor` is called back once the survivor has been handled: the
    rating is its own resident's, recorded on its own complaint, which stays merged."""
    if state.status is S.MERGED:
        if survivor is None or survivor.status not in SURVIVOR_HANDLED:
            raise _refuse(
                state,
                "回访",
                "并入的诉求尚未办理反馈，办理后再回访。"
                " The complaint it was merged into has not been handled yet.",
            )
    else:
        _require(state, frozenset({S.RESOLVED, S.ANSWERED, S.CALLED_BACK}), "回访")
    status = S.CALLED_BACK if command.contacted and state.status is not S.MERGED else state.status
    recorded = ComplaintCallbackRecorded(
        complaint_id=state.complaint_id,
        status=status,
        contacted=command.contacted,
        resolved=command.resolved,
        satisfied=command.satisfied,
        comment=command.comment,
        actor=actor,
        occurred_at=now,
        satisfaction=command.satisfaction,
        rated_via=RatedVia.CALLBACK if command.contacted else None,
        resident_ref=state.resident_ref,
    )
    unreached = state.unreached_callbacks + 1
    if command.contacted or state.status is not S.RESOLVED or not max_unreached:
        return [recorded]
    if unreached < max_unreached:
        return [recorded]
    return [
        recorded,
        ComplaintClosed(
            complaint_id=state.complaint_id,
            status=S.CLOSED,
            reason=f"{unreached} 次回访均未联系上诉求人，按规定办结 "
            f"Closed after {unreached} callbacks that reached nobody",
            actor="system:callbacks",
            occurred_at=now,
        ),
    ]


def awaits_rating(state: Complaint, survivor: Complaint | None = None) -> bool:
    """Whether the resident may rate a result now: their complaint's is reported and not rated
    in this round; a merged duplicate's, once the complaint it follows (`survivor`) has been
    handled, until a rating or a callback reaches them after the survivor's latest report."""
    if state.status is S.RESOLVED:
        return True
    return (
        state.status is S.MERGED
        and survivor is not None
        and survivor.status in SURVIVOR_HANDLED
        and survivor.resolved_at is not None
        and (state.reached_at is None or state.reached_at < survivor.resolved_at)
    )


def rating_round(state: Complaint, survivor: Complaint | None = None) -> int:
    """Which round's result is rated: the redo count of the complaint that was handled."""
    handled = survivor if state.status is S.MERGED and survivor is not None else state
    return handled.redo_count


def rate(
    state: Complaint,
    satisfaction: Satisfaction,
    via: RatedVia,
    comment: str | None,
    now: datetime,
    resolution_round: int | None = None,
    survivor: Complaint | None = None,
) -> list[Event]:
    """The resident rates the result themselves (SMS reply, WeChat, a signed link): once per
    resolution round, while the complaint awaits its rating. 不满意 sends it back to be handled
    again at once (重办): no staff callback stands between the resident and the redo.

    A merged duplicate's resident rates the result of the complaint it follows on their own
    complaint, which stays merged; their 不满意 is recorded, and whether the survivor is handled
    again stays with staff (its own resident may be content)."""
    if resolution_round is not None and resolution_round != rating_round(state, survivor):
        raise _refuse(
            state,
            "按此链接评价",
            "诉求已重新办理，此链接属于上一轮办理结果。The link rates an earlier round.",
        )
    if not awaits_rating(state, survivor):
        hint = "本轮办理结果已评价。This round was rated already." if state.last_callback else ""
        raise _refuse(state, "评价", hint)
    actor = f"resident:{via.value}"
    follower = state.status is S.MERGED
    recorded = ComplaintCallbackRecorded(
        complaint_id=state.complaint_id,
        status=S.MERGED if follower else S.CALLED_BACK,
        contacted=True,
        resolved=None,  # the resident rates the result; whether it is solved is a callback's
        satisfied=satisfaction is Satisfaction.SATISFIED,
        comment=comment,
        actor=actor,
        occurred_at=now,
        satisfaction=satisfaction,
        rated_via=via,
        resident_ref=state.resident_ref,
    )
    if satisfaction is not Satisfaction.UNSATISFIED or follower:
        return [recorded]
    reason = "诉求人评价不满意 The resident rated the result unsatisfactory"
    return [recorded, *request_redo(evolve(state, recorded), reason, actor, now)]


def request_redo(state: Complaint, reason: str, actor: str, now: datetime) -> list[Event]:
    _require(state, frozenset({S.CALLED_BACK}), "重办")
    callback = state.last_callback
    if callback is not None and callback.resolved and callback.satisfied:
        raise _refuse(state, "重办", "回访结果为已解决且满意。The resident was satisfied.")
    return [
        ComplaintRedoRequested(
            complaint_id=state.complaint_id,
            status=S.REDO,
            type=state.type,
            category=state.category,
            area_code=state.area_code,
            redo_count=state.redo_count + 1,
            reason=reason,
            actor=actor,
            occurred_at=now,
        )
    ]


def close(state: Complaint, reason: str, actor: str, now: datetime) -> list[Event]:
    _require(state, frozenset({S.RESOLVED, S.ANSWERED, S.CALLED_BACK}), "办结")
    if state.status is S.RESOLVED and state.callback_attempts == 0:
        raise _refuse(state, "办结", "办结前须先回访诉求人。Call the resident back before closing.")
    return [
        ComplaintClosed(
            complaint_id=state.complaint_id,
            status=S.CLOSED,
            reason=reason,
            actor=actor,
            occurred_at=now,
        )
    ]


def redact(state: Complaint, public_place: str | None, now: datetime) -> list[Event]:
    """Erase what the resident said and where exactly (their erasure); once is enough."""
    if state.redacted:  # (a sealed filing whose key is gone reads as redacted already)
        return []
    return [
        ComplaintRedacted(
            complaint_id=state.complaint_id,
            status=state.status,
            public_place=public_place,
            occurred_at=now,
        )
    ]


# Mirrors of dispatch's facts: [] when they no longer apply, never an error.


def mirror_issued(state: Complaint, order: WorkOrderIssued) -> list[Event]:
    """A new lead: the first dispatch, a redo, or a re-route (after a return, an arbitration
    or a reclassification) while the complaint is already dispatched."""
    waiting = {S.CLASSIFIED, S.REDO, S.TRIAGE, S.DISPATCHED, S.SIGNED}
    if order.role is not ResponderRole.LEAD or state.status not in waiting:
        return []
    if order.work_order_id == state.lead_work_order_id:
        return []
    return [
        ComplaintDispatched(
            complaint_id=state.complaint_id,
            status=S.DISPATCHED,
            work_order_id=order.work_order_id,
            responder_id=order.responder_id,
            responder_name=order.responder_name,
            due_at=order.due_at,
            occurred_at=order.issued_at,
        )
    ]


def mirror_signed(state: Complaint, signed: WorkOrderSigned) -> list[Event]:
    if state.status is not S.DISPATCHED or signed.work_order_id != state.lead_work_order_id:
        return []
    return [
        ComplaintSigned(
            complaint_id=state.complaint_id,
            status=S.SIGNED,
            work_order_id=signed.work_order_id,
            responder_name=signed.responder_name,
            occurred_at=signed.signed_at,
        )
    ]


def _progressed(
    state: Complaint, step: str, due_at: datetime | None, note: str, at: datetime
) -> list[Event]:
    if state.status not in {S.DISPATCHED, S.SIGNED}:
        return []
    return [
        ComplaintProgressed(
            complaint_id=state.complaint_id,
            status=state.status,
            step=step,
            due_at=due_at,
            note=note,
            occurred_at=at,
        )
    ]


def triage_clock(
    state: Complaint, accept_within: timedelta, warn_at: float, now: datetime
) -> list[Event]:
    """A complaint waiting for a person: warned once when `warn_at` of its acceptance limit has
    run, breached once when all of it has (each at most once, whatever the pollers)."""
    if state.status is not S.TRIAGE or state.triage_clock == "breached":
        return []
    due = state.filed_at + accept_within
    if now >= due:
        return [
            TriageBreached(
                complaint_id=state.complaint_id,
                status=S.TRIAGE,
                due_at=due,
                occurred_at=now,
                area_code=state.area_code,
            )
        ]
    if state.triage_clock is None and now >= state.filed_at + accept_within * warn_at:
        return [
            TriageWarned(
                complaint_id=state.complaint_id,
                status=S.TRIAGE,
                due_at=due,
                occurred_at=now,
                area_code=state.area_code,
            )
        ]
    return []


def _at(moment: datetime) -> str:
    return f"{moment.astimezone(CHINA):%Y-%m-%d %H:%M}"


def mirror_extended(state: Complaint, e: ExtensionApproved) -> list[Event]:
    """The lead's deadline moved: the resident's view shows the new one (a co-unit's is not it)."""
    if e.work_order_id != state.lead_work_order_id or e.clock.name != "feedback":
        return []
    note = f"经批准延期办理，新的办理时限 {_at(e.clock.due_at)}"
    return _progressed(state, "extended", e.clock.due_at, note, e.approved_at)


def mirror_deliberating(state: Complaint, e: DeliberationRequested) -> list[Event]:
    note = "已提交社区议事协商，议事期间办理时限暂停"
    return _progressed(state, "deliberating", None, note, e.sent_at)


def mirror_deliberated(state: Complaint, e: DeliberationConcluded) -> list[Event]:
    due = e.clock.due_at if e.clock else state.due_at
    note = f"议事已议定：{e.decision}" + (f"，办理时限 {_at(due)}" if due else "")
    return _progressed(state, "deliberated", due, note, e.concluded_at)


def mirror_escalated(state: Complaint, e: CaseEscalated) -> list[Event]:
    note = f"未按时办理，已升级由{e.responder_name}督办"
    return _progressed(state, "escalated", state.due_at, note, e.escalated_at)


def _once_for_lead(state: Complaint, work_order_id: UUID, step: str) -> bool:
    """A step of the lead's the resident has not been shown yet (a co-unit's is not theirs)."""
    return work_order_id == state.lead_work_order_id and step not in state.lead_steps


def mirror_contacted(state: Complaint, e: WorkOrderContacted) -> list[Event]:
    """The lead unit reached the resident (联系诉求人); the deadline stays the lead's."""
    if not _once_for_lead(state, e.work_order_id, "contacted"):
        return []
    unit = e.responder_name or state.lead_responder or "承办单位"
    note = f"{unit}已与您联系，了解诉求详情" + (
        f"，办理时限 {_at(state.due_at)}" if state.due_at else ""
    )
    return _progressed(state, "contacted", state.due_at, note, e.contacted_at)


def mirror_started(state: Complaint, e: WorkOrderStarted) -> list[Event]:
    """The lead unit began the work (开始办理)."""
    if not _once_for_lead(state, e.work_order_id, "started"):
        return []
    unit = state.lead_responder or "承办单位"
    note = f"{unit}已开始办理" + (f"，办理时限 {_at(state.due_at)}" if state.due_at else "")
    return _progressed(state, "started", state.due_at, note, e.started_at)


def mirror_arbitrating(state: Complaint, e: ArbitrationRequested) -> list[Event]:
    """The lead unit returned the case and nobody else is due to take it: a street (or the
    district) decides who will (裁定). No deadline runs until a unit is named."""
    if not _once_for_lead(state, e.returned_work_order_id, "arbitrating"):
        return []
    note = f"承办单位认为不属于其职责，已提请{e.arbitrator_name}裁定承办单位，裁定前办理时限暂停"
    return _progressed(state, "arbitrating", None, note, e.requested_at)


def mirror_arbitrated(state: Complaint, e: ArbitrationDecided) -> list[Event]:
    """The arbitrator named the unit. The decision carries no deadline: dispatch issues that
    unit a new lead order in the same append, and its mirror (a ComplaintDispatched) brings the
    unit's name and the new deadline; until then none runs."""
    if "arbitrating" not in state.lead_steps or "arbitrated" in state.lead_steps:
        return []
    note = f"已裁定承办单位（{e.reason}），重新派单后按新的办理时限办理"
    return _progressed(state, "arbitrated", None, note, e.decided_at)


def mirror_resolved(state: Complaint, resolved: CaseResolved) -> list[Event]:
    if state.status not in {S.DISPATCHED, S.SIGNED}:
        return []
    return [
        ComplaintResolved(
            complaint_id=state.complaint_id,
            status=S.RESOLVED,
            report=resolved.report,
            occurred_at=resolved.resolved_at,
        )
    ]


# ---------------------------------------------------------------------------------------------
# What a person reads about each step (status notes, the resident's progress page)
# ---------------------------------------------------------------------------------------------


def describe(event: Event) -> str:
    match event:
        case ComplaintFiled(promised_due_at=None):
            return f"诉求已受理，编号 {event.case_number}"
        case ComplaintFiled():
            due = event.promised_due_at.astimezone(CHINA)  # type: ignore[union-attr]
            return f"诉求已受理，编号 {event.case_number}，将于 {due:%Y-%m-%d %H:%M} 前办理反馈"
        case ComplaintClassified(needs_triage=True):
            return "已受理，等待工作人员分类"
        case ComplaintClassified():
            return f"已分类为「{labels.TYPE[event.type]}」，等待派单"
        case ComplaintReclassified():
            return f"工作人员已分类为「{labels.TYPE[event.type]}」"
        case ComplaintAnswered():
            return f"已直接答复：{event.answer}"
        case DuplicateSuspected():
            numbers = "、".join(c.case_number for c in event.candidates)
            return f"疑似与 {numbers} 重复，待工作人员确认"
        case DuplicateDismissed():
            return "经确认不属于重复诉求"
        case ComplaintMerged():
            return f"已与诉求 {event.into_case_number} 并案办理"
        case ComplaintUnmerged():
            return "已取消并案，单独办理"
        case ComplaintWithdrawn():
            return "诉求人已撤回诉求"
        case ComplaintDispatched():
            due = event.due_at.astimezone(CHINA)
            return f"已派单至{event.responder_name}，办理时限 {due:%Y-%m-%d %H:%M}"
        case ComplaintSigned():
            return f"{event.responder_name}已签收，正在办理"
        case ComplaintResolved():
            return f"承办单位已办理反馈：{event.report}"
        case ComplaintCallbackRecorded(contacted=False):
            return "回访未能联系上诉求人"
        case ComplaintCallbackRecorded(rated_via=RatedVia.SMS | RatedVia.WECHAT | RatedVia.LINK):
            assert event.satisfaction is not None
            return f"诉求人已评价办理结果：{labels.SATISFACTION[event.satisfaction]}"
        case ComplaintCallbackRecorded():
            if event.satisfaction is not None:
                verdict = labels.SATISFACTION[event.satisfaction]
            else:
                verdict = "满意" if event.satisfied else "不满意"
            solved = "已解决" if event.resolved else "未解决"
            return f"已回访：{solved}，{verdict}"
        case ComplaintRedoRequested():
            return f"诉求人不满意，已重新办理（第 {event.redo_count} 次重办）"
        case ComplaintClosed():
            return "诉求已办结"
        case ComplaintRedacted():
            return "诉求人已要求删除个人信息"
        case ComplaintProgressed():
            return event.note
        case TriageWarned():
            return f"待人工受理，受理时限 {_at(event.due_at)} 将至"
        case TriageBreached():
            return f"已超过受理时限（{_at(event.due_at)}），待人工受理"
    return event.event_type


def case_number(sequence: int, filed_at: datetime) -> str:
    """Human-readable and unique: JS-<date in China>-<sequence>."""
    return f"JS-{filed_at.astimezone(CHINA):%Y%m%d}-{sequence:06d}"
