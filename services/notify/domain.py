"""Notify's pure decisions: who hears what about an event, by which channels, in which words.

A resident is addressed by their complaint (`resident:<complaint id>`): the channel adapters
fetch the contact from intake's vault at the moment of sending, so no phone number is ever
stored here, and a resident is only ever told about their own complaint. An area notice
(区域通知) addresses the residents who consented to notices for their home by their reference
(`resident-ref:<ref>`), its contact fetched from the vault the same way.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import yaml

from shared.deadlines import limit_words
from shared.events import (
    ArbitrationRequested,
    Audience,
    CaseEscalated,
    CaseSupervised,
    ComplaintAnswered,
    ComplaintClosed,
    ComplaintDispatched,
    ComplaintRedoRequested,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintWithdrawn,
    DeliberationConcluded,
    DeliberationRequested,
    Event,
    ExtensionApproved,
    NoticeKind,
    NoticePosted,
    ResponderRole,
    SlaBreached,
    SlaWarned,
    TriageBreached,
    TriageWarned,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderReturned,
    WorkOrderUrged,
    labels,
)
from shared.events.area import like_patterns, within
from shared.events.complaint import NO_RESIDENT, ComplaintFiled, ComplaintMerged, ComplaintUnmerged

TEMPLATES = Path(__file__).with_name("templates.yaml")
CHINA = ZoneInfo("Asia/Shanghai")
# A namespace for notification ids: the same (event, recipient, channel) is always the same id,
# so an outbound call's idempotency key survives any replay.
_NOTIFICATIONS = uuid.UUID("6a696573-752d-6e6f-7469-667900000001")


@dataclass(frozen=True, slots=True)
class Facts:
    """What notify has seen of a complaint (no personal data)."""

    complaint_id: UUID
    case_number: str | None = None
    area_code: str | None = None
    intake_channel: str | None = None
    lead_work_order_id: UUID | None = None
    lead_responder_id: str | None = None
    # The complaints merged into this one (并案): their residents hear of its progress too.
    followers: tuple[UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    complaint_id: UUID
    audience: Audience
    recipient: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)


def resident(complaint_id: UUID) -> str:
    return f"resident:{complaint_id}"


def notification_id(event_id: UUID, recipient: str, channel: str) -> UUID:
    return uuid.uuid5(_NOTIFICATIONS, f"{event_id}/{recipient}/{channel}")


@cache
def templates() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))
    return loaded


def render(template: str, locale: str, data: dict[str, Any], part: str = "text") -> str:
    """A template's words in `locale` (zh-CN when it has none); a field it lacks reads as empty."""
    texts = templates()[template][part]
    text: str = texts.get(locale, texts["zh-CN"])
    return text.format_map(defaultdict(str, {k: v for k, v in data.items() if v is not None}))


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(CHINA):%Y-%m-%d %H:%M}"


def learn(facts: Facts | None, event: Event) -> Facts | None:
    """Facts after `event`; None when the event tells nothing about its complaint."""
    complaint_id: UUID | None = getattr(event, "complaint_id", None)
    if complaint_id is None:
        return facts
    known = facts or Facts(complaint_id)
    match event:
        case ComplaintFiled():
            return replace(
                known,
                case_number=event.case_number,
                area_code=event.area_code,
                intake_channel=event.channel.value,
            )
        case WorkOrderIssued(role=ResponderRole.LEAD):
            return replace(
                known,
                area_code=known.area_code or event.area_code,
                lead_work_order_id=event.work_order_id,
                lead_responder_id=event.responder_id,
            )
        case WorkOrderIssued() | TriageWarned() | TriageBreached():
            return replace(known, area_code=known.area_code or event.area_code)
    return known


def survivor_of(event: Event) -> UUID | None:
    """The complaint a merge (or its undoing) changes the followers of."""
    match event:
        case ComplaintMerged():
            return event.into_complaint_id
        case ComplaintUnmerged():
            return event.from_complaint_id
    return None


def follow(survivor: Facts | None, event: ComplaintMerged | ComplaintUnmerged) -> Facts:
    """The survivor's facts after a complaint was merged into it (one follower more) or the
    merge was undone (one fewer); seen twice, the same."""
    survivor_id = survivor_of(event)
    assert survivor_id is not None
    known = survivor or Facts(survivor_id)
    others = tuple(f for f in known.followers if f != event.complaint_id)
    joined = (event.complaint_id,) if isinstance(event, ComplaintMerged) else ()
    return replace(known, followers=others + joined)


# What a follower is not told of the survivor: its filing, and what ends it without handling
# (a withdrawal is the survivor's resident's own; the follower's matter is not settled by it).
# Nor that a unit contacted the resident: that was the survivor's resident, not them.
NOT_FOLLOWED = frozenset(
    {
        "complaint_receipt",
        "complaint_receipt_promised",
        "complaint_merged",
        "complaint_withdrawn",
        "complaint_contacted",
    }
)
# What units and staff wrote about the survivor's case (its flat, its resident's words) is not
# the follower's to read: they get a neutral sentence in its place.
FOLLOWER_NEUTRAL = {
    "report": "与您反映的同一事项已由承办单位办理",
    "reason": "详情可凭受理编号查询",
    "decision": "详情可凭受理编号查询",
    "answer": "详情可凭受理编号查询",
    "note": "详情可凭受理编号查询",
}


def to_followers(
    messages: Sequence[Message], facts: Facts, followers: dict[UUID, Facts]
) -> list[Message]:
    """What the survivor's resident is told, told to each follower's resident too, about their
    own complaint (their case number, their contact); a follower unknown here is skipped."""
    told = []
    for message in messages:
        if message.recipient != resident(facts.complaint_id) or message.template in NOT_FOLLOWED:
            continue
        for follower_id in facts.followers:
            follower = followers.get(follower_id)
            if follower is None:
                continue
            data = {
                **message.data,
                **{k: v for k, v in FOLLOWER_NEUTRAL.items() if k in message.data},
                "case_number": follower.case_number,
            }
            told.append(
                Message(
                    follower_id, Audience.RESIDENT, resident(follower_id), message.template, data
                )
            )
    return told


# --- who hears what ----------------------------------------------------------------------------


def _resident(
    template: str, **fields: Callable[[Any], Any]
) -> Callable[[Any, Facts], list[Message]]:
    def decide(e: Any, f: Facts) -> list[Message]:
        data = {"case_number": f.case_number, **{name: get(e) for name, get in fields.items()}}
        return [
            Message(e.complaint_id, Audience.RESIDENT, resident(e.complaint_id), template, data)
        ]

    return decide


def _issued(e: WorkOrderIssued, f: Facts) -> list[Message]:
    special = ("whistle", "escalation", "deliberation", "committee", "community_call")
    template = f"{e.purpose}_order" if e.purpose in special else "work_order_issued"
    sign = next((c.due_at for c in e.clocks if c.name == "sign"), None)
    data = {
        "case_number": f.case_number,
        "complaint_id": str(e.complaint_id),
        "work_order_id": str(e.work_order_id),
        "responder_name": e.responder_name,
        "role_label": labels.ROLE[e.role],
        "category_label": e.category_name or e.category or "未分类",
        "due_at": _when(e.due_at),
        "sign_due_at": _when(sign) if sign else "",
        "reason": e.reason,
        "task": e.task,
    }
    return [Message(e.complaint_id, Audience.RESPONDER, e.responder_id, template, data)]


def _contacted(e: WorkOrderContacted, f: Facts) -> list[Message]:
    is_lead = e.role is ResponderRole.LEAD or (
        e.role is None and e.work_order_id == f.lead_work_order_id
    )
    if not is_lead:
        return []
    return _resident(
        "complaint_contacted", responder_name=lambda e: e.responder_name or "承办单位"
    )(e, f)


def _clock(e: SlaWarned | SlaBreached) -> dict[str, Any]:
    return {
        "complaint_id": str(e.complaint_id),
        "responder_name": e.responder_name,
        "clock_label": labels.label_of(labels.CLOCK, e.clock) or e.clock,
        "due_at": _when(e.due_at),
    }


def _warned(e: SlaWarned, f: Facts) -> list[Message]:
    data = {"case_number": f.case_number, **_clock(e)}
    return [Message(e.complaint_id, Audience.RESPONDER, e.responder_id, "deadline_warning", data)]


def _breached(e: SlaBreached, f: Facts) -> list[Message]:
    data = {"case_number": f.case_number, **_clock(e)}
    to_unit = Message(e.complaint_id, Audience.RESPONDER, e.responder_id, "deadline_breached", data)
    return [to_unit] + [
        Message(e.complaint_id, Audience.SUPERVISOR, unit, "breach_for_supervisor", data)
        for unit in e.supervisor_ids
    ]


def _escalated(e: CaseEscalated, f: Facts) -> list[Message]:
    """The resident hears who supervises now; the unit whose breach climbed the ladder too."""
    told = _resident("complaint_escalated", responder_name=lambda e: e.responder_name)(e, f)
    if not e.from_responder_id:
        return told
    data = {
        "case_number": f.case_number,
        "complaint_id": str(e.complaint_id),
        "to_level": labels.ESCALATION_LEVEL.get(e.to_level, e.to_level),
        "responder_name": e.responder_name,
        "clock_label": labels.label_of(labels.CLOCK, e.clock) or e.clock,
    }
    return [
        *told,
        Message(e.complaint_id, Audience.RESPONDER, e.from_responder_id, "escalated", data),
    ]


def _extended(e: ExtensionApproved, f: Facts) -> list[Message]:
    """The resident hears of the lead's new deadline (a co-unit's extension is not theirs)."""
    if e.work_order_id != f.lead_work_order_id:
        return []
    return _resident(
        "complaint_extended", due_at=lambda e: _when(e.clock.due_at), reason=lambda e: e.reason
    )(e, f)


def _returned(e: WorkOrderReturned, f: Facts) -> list[Message]:
    data = {
        "case_number": f.case_number,
        "complaint_id": str(e.complaint_id),
        "responder_name": e.responder_name,
        "reason": e.reason,
    }
    return [
        Message(e.complaint_id, Audience.SUPERVISOR, unit, "order_returned", data)
        for unit in e.supervisor_ids
    ]


def _arbitration(e: ArbitrationRequested, f: Facts) -> list[Message]:
    data = {"case_number": f.case_number, "complaint_id": str(e.complaint_id), "reason": e.reason}
    return [
        Message(e.complaint_id, Audience.SUPERVISOR, e.arbitrator_id, "arbitration_needed", data)
    ]


def _urged(e: WorkOrderUrged, f: Facts) -> list[Message]:
    data = {"case_number": f.case_number, "complaint_id": str(e.complaint_id), "note": e.note}
    return [Message(e.complaint_id, Audience.RESPONDER, e.responder_id, "urged", data)]


def _supervised(e: CaseSupervised, f: Facts) -> list[Message]:
    if f.lead_responder_id is None:
        return []
    data = {"case_number": f.case_number, "complaint_id": str(e.complaint_id), "note": e.note}
    return [Message(e.complaint_id, Audience.RESPONDER, f.lead_responder_id, "supervised", data)]


def _receipt(e: ComplaintFiled, f: Facts) -> list[Message]:
    """The receipt, with the promise (the time limit and when it runs out) when intake made one."""
    if e.resident_ref == NO_RESIDENT:  # 随手做: a grid worker's own fix, no resident to tell
        return []
    if e.promised_due_at is None or e.time_limit is None:
        return _resident("complaint_receipt")(e, f)
    return _resident(
        "complaint_receipt_promised",
        due_at=lambda e: _when(e.promised_due_at),
        time_limit=lambda e: limit_words(e.time_limit),
        time_limit_en=lambda e: limit_words(e.time_limit, "en"),
    )(e, f)


# --- who is on duty for an area -----------------------------------------------------------------


class Duty(StrEnum):
    """What a directory entry is on duty for in its area (besides being addressed by its id)."""

    STAFF = "staff"  # 值班受理人员：待人工分类的诉求
    SUPERVISOR = "supervisor"  # 督办：本区域的超时


@dataclass(frozen=True, slots=True)
class OnDuty:
    recipient: str
    area_code: str
    duty: Duty


def _depth(area_code: str) -> int:
    return len(like_patterns(area_code)[0].rstrip("%"))


def on_duty(roster: Sequence[OnDuty], area_code: str | None, duty: Duty) -> list[str]:
    """Who is on `duty` for a complaint in `area_code`: the entries of the nearest area above
    it (or it) that has any, so a street's own desk is told and the district's only where the
    street has none."""
    covering = [
        entry for entry in roster if entry.duty is duty and within(area_code, entry.area_code)
    ]
    if not covering:
        return []
    nearest = max(_depth(entry.area_code) for entry in covering)
    return sorted({e.recipient for e in covering if _depth(e.area_code) == nearest})


def _triage(e: TriageWarned | TriageBreached, f: Facts) -> dict[str, Any]:
    return {
        "case_number": f.case_number,
        "complaint_id": str(e.complaint_id),
        "due_at": _when(e.due_at),
    }


def _triage_warned(e: TriageWarned, f: Facts, roster: Sequence[OnDuty]) -> list[Message]:
    data = _triage(e, f)
    return [
        Message(e.complaint_id, Audience.RESPONDER, staff, "triage_warning", data)
        for staff in on_duty(roster, f.area_code, Duty.STAFF)
    ]


def _triage_breached(e: TriageBreached, f: Facts, roster: Sequence[OnDuty]) -> list[Message]:
    """The area's desk hears it is late; the area's supervisor hears it too."""
    data = _triage(e, f)
    staff = on_duty(roster, f.area_code, Duty.STAFF)
    return [
        Message(e.complaint_id, Audience.RESPONDER, desk, "triage_breached", data) for desk in staff
    ] + [
        Message(e.complaint_id, Audience.SUPERVISOR, unit, "triage_breach_for_supervisor", data)
        for unit in on_duty(roster, f.area_code, Duty.SUPERVISOR)
        if unit not in staff
    ]


# Decisions that need to know who is on duty where (the directory's roster).
DUTY_DECISIONS: dict[type[Event], Callable[[Any, Facts, Sequence[OnDuty]], list[Message]]] = {
    TriageWarned: _triage_warned,
    TriageBreached: _triage_breached,
}


DECISIONS: dict[type[Event], Callable[[Any, Facts], list[Message]]] = {
    ComplaintFiled: _receipt,
    ComplaintDispatched: _resident(
        "complaint_dispatched",
        responder_name=lambda e: e.responder_name,
        due_at=lambda e: _when(e.due_at),
    ),
    ComplaintSigned: _resident("complaint_signed", responder_name=lambda e: e.responder_name),
    WorkOrderContacted: _contacted,
    ComplaintResolved: _resident("complaint_resolved", report=lambda e: e.report),
    ComplaintRedoRequested: _resident("complaint_redo", redo_count=lambda e: e.redo_count),
    ComplaintAnswered: _resident("complaint_answered", answer=lambda e: e.answer),
    ComplaintMerged: _resident("complaint_merged", into_case_number=lambda e: e.into_case_number),
    ComplaintWithdrawn: _resident("complaint_withdrawn", reason=lambda e: e.reason),
    ComplaintClosed: _resident("complaint_closed"),
    ExtensionApproved: _extended,
    DeliberationRequested: _resident("complaint_deliberating"),
    DeliberationConcluded: _resident("complaint_deliberated", decision=lambda e: e.decision),
    WorkOrderIssued: _issued,
    SlaWarned: _warned,
    SlaBreached: _breached,
    CaseEscalated: _escalated,
    WorkOrderReturned: _returned,
    ArbitrationRequested: _arbitration,
    WorkOrderUrged: _urged,
    CaseSupervised: _supervised,
}


def messages_for(event: Event, facts: Facts, roster: Sequence[OnDuty] = ()) -> list[Message]:
    on_duty_decide = DUTY_DECISIONS.get(type(event))
    if on_duty_decide is not None:
        return on_duty_decide(event, facts, roster)
    decide = DECISIONS.get(type(event))
    return decide(event, facts) if decide else []


# --- by which channels ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """A unit's entry in the directory (通讯录)."""

    sms: str | None = None
    email: str | None = None
    wechat_openid: str | None = None


UNADDRESSED = "unaddressed"  # a unit with no channel in the directory: kept for an operator


def channels_for(message: Message, facts: Facts, address: Address | None) -> list[str]:
    """Residents get an SMS (and a WeChat message when they came in by WeChat); units get every
    channel their directory entry names."""
    if message.audience is Audience.RESIDENT:
        return ["sms", "wechat"] if facts.intake_channel == "wechat" else ["sms"]
    found = [
        name
        for name, value in (
            ("sms", address and address.sms),
            ("email", address and address.email),
            ("wechat", address and address.wechat_openid),
        )
        if value
    ]
    return found or [UNADDRESSED]


# --- what subscribers and the live stream see ----------------------------------------------------


def matches(
    event_types: list[str], area_code: str | None, event_type: str, event_area: str | None
) -> bool:
    """A subscription's filters: no types means every type; an area covers everything below it."""
    if event_types and event_type not in event_types:
        return False
    return within(event_area, area_code) if area_code else True


def live_entry(event: Event, facts: Facts) -> dict[str, Any]:
    """One status change as a dashboard shows it."""
    status = getattr(event, "status", None)
    return {
        "complaint_id": str(facts.complaint_id),
        "case_number": facts.case_number,
        "area_code": facts.area_code,
        "type": event.event_type,
        "status": status.value if status is not None else None,
        "responder_id": getattr(event, "responder_id", None),
        "responder_name": getattr(event, "responder_name", None),
    }


# --- notices to an area (区域通知) -------------------------------------------------------------

NOTICE_TEMPLATE = "area_notice"
_NEIGHBOUR = "resident-ref:"
NOTICE_KIND_EN = {
    NoticeKind.OUTAGE: "Planned outage",
    NoticeKind.MEETING: "Meeting",
    NoticeKind.CONSULTATION: "Consultation",
    NoticeKind.OTHER: "Notice",
}


def neighbour(resident_ref: str) -> str:
    """A resident addressed by their reference (an area notice), not by a complaint."""
    return f"{_NEIGHBOUR}{resident_ref}"


def resident_ref_of(recipient: str) -> str | None:
    """The resident reference a notice's recipient names; None for any other recipient."""
    return recipient.removeprefix(_NEIGHBOUR) if recipient.startswith(_NEIGHBOUR) else None


@dataclass(frozen=True, slots=True)
class Consent:
    """A resident's consent to the notices for one home (from intake's events)."""

    resident_ref: str
    area_code: str
    channels: tuple[str, ...]
    masked_phone: str | None = None


def notice_recipients(consents: Sequence[Consent], area_code: str) -> list[Consent]:
    """Who a notice to `area_code` goes to: each resident with a home within it, once, by every
    channel any of those homes names (two flats in the area, or one consented twice, still
    make one resident), in a stable order."""
    joined: dict[str, Consent] = {}
    for consent in consents:
        if not within(consent.area_code, area_code):
            continue
        known = joined.get(consent.resident_ref)
        channels = (known.channels if known else ()) + consent.channels
        joined[consent.resident_ref] = Consent(
            consent.resident_ref,
            known.area_code if known else consent.area_code,
            tuple(sorted(set(channels))),
            (known.masked_phone if known else None) or consent.masked_phone,
        )
    return [joined[ref] for ref in sorted(joined)]


def _window(notice: NoticePosted, sep: str, until: str) -> str:
    if notice.starts_at is None:
        return ""
    span = _when(notice.starts_at)
    if notice.ends_at is not None:
        span += f"{until}{_when(notice.ends_at)}"
    return f"{sep}{span}"


def notice_messages(notice: NoticePosted, recipients: Sequence[Consent]) -> list[Message]:
    """The notice's message to each recipient (its channels are the recipient's own)."""
    data = {
        "notice_id": str(notice.notice_id),
        "sender_name": notice.sender_name,
        "kind_label": labels.NOTICE_KIND[notice.kind],
        "kind_en": NOTICE_KIND_EN[notice.kind],
        "title": notice.title,
        "body": notice.body,
        "when": _window(notice, "（时间：", " 至 ") + ("）" if notice.starts_at else ""),
        "when_en": _window(notice, " (When: ", " to ") + (")" if notice.starts_at else ""),
    }
    return [
        Message(
            notice.notice_id,
            Audience.RESIDENT,
            neighbour(recipient.resident_ref),
            NOTICE_TEMPLATE,
            data,
        )
        for recipient in recipients
    ]
