"""What is decided on a complaint (decide → events): filing, the people's commands on it, the
residents' own ratings and erasure, and the acceptance clock of complaints waiting for a person.

Commands are checked against the complaint's status; an illegal one raises `IllegalTransition`
with a sentence a person understands (HTTP 409). Dispatch's facts are mirrored in
services/intake/domain/mirrors.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from services.intake.domain.commands import (
    AnswerOnSpot,
    CallBack,
    ConsentToNotices,
    FileComplaint,
    Reclassify,
)
from services.intake.domain.model import Complaint, evolve
from services.intake.domain.privacy import mask_phone
from shared import commands
from shared.events import (
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintFiled,
    ComplaintMerged,
    ComplaintReclassified,
    ComplaintRedacted,
    ComplaintRedoRequested,
    ComplaintStatus,
    ComplaintType,
    ComplaintUnmerged,
    ComplaintWithdrawn,
    DuplicateCandidate,
    DuplicateDismissed,
    DuplicateSuspected,
    Event,
    NoticeConsentRecorded,
    NoticeConsentWithdrawn,
    RatedVia,
    Satisfaction,
    TriageBreached,
    TriageWarned,
)
from shared.privacy import redact_known, redact_values

S = ComplaintStatus

# Still open and not yet handled: the states in which the demand itself can still change.
IN_HAND = frozenset({S.FILED, S.TRIAGE, S.CLASSIFIED, S.DISPATCHED, S.SIGNED, S.REDO})


class IllegalTransition(commands.IllegalTransition):
    """The command does not apply to the complaint as it stands (HTTP 409)."""


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


def to_triage(
    confidence: float,
    type_confidence: float,
    known_category: bool,
    thresholds: tuple[float, float],
) -> bool:
    """Whether a person must classify a complaint (triage): the classifier was less sure of its
    category or its type than `thresholds` (category, type) ask, or the category is not one
    of the catalogue's."""
    category_threshold, type_threshold = thresholds
    return confidence < category_threshold or type_confidence < type_threshold or not known_category


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
            wechat_group=command.wechat_group,
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


# --- notices to an area (区域通知) ---


def consent_to_notices(
    homes: Mapping[str, Sequence[str]],
    resident: str,
    masked_phone: str,
    command: ConsentToNotices,
    now: datetime,
) -> list[Event]:
    """The consent to record, given the resident's current one (`homes`: each home's
    channels); nothing when they agreed to just this already."""
    channels = [c.value for c in command.channels]
    if list(homes.get(command.area_code, ())) == channels:
        return []
    return [
        NoticeConsentRecorded(
            resident_ref=resident,
            area_code=command.area_code,
            channels=command.channels,
            masked_phone=masked_phone,
            given_at=now,
        )
    ]


def withdraw_notice_consent(
    homes: Mapping[str, Sequence[str]], resident: str, area_code: str | None, now: datetime
) -> list[Event]:
    """The withdrawal of one home (or all); nothing when there is no such consent."""
    if not homes or (area_code is not None and area_code not in homes):
        return []
    return [NoticeConsentWithdrawn(resident_ref=resident, area_code=area_code, withdrawn_at=now)]
