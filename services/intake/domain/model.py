"""The complaint aggregate's state: `Complaint`, the fold of its stream (evolve ← events).

What a person reads about each step (the view's status note) is not part of the state: the
application writes it beside the state (services/intake/domain/words.describe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.events import (
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
    DuplicateCandidate,
    DuplicateDismissed,
    DuplicateSuspected,
    Event,
    OnSpotFixRecorded,
    TriageBreached,
    TriageWarned,
    labels,
)
from shared.privacy import REDACTED_TEXT


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
    # the photos of the fix are the matter's media: no resident sent any
    OnSpotFixRecorded: lambda s, e: replace(s, media_urls=tuple(e.media_urls)),
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
    status, at = _step(event)
    return replace(new, status=status, updated_at=at, version=(state.version if state else 0) + 1)


def _step(event: Event) -> tuple[ComplaintStatus, datetime]:
    """The status an event of the complaint's leaves it in, and when it happened (a filing:
    when it was filed)."""
    status = getattr(event, "status", None)
    at = (
        event.filed_at if isinstance(event, ComplaintFiled) else getattr(event, "occurred_at", None)
    )
    assert isinstance(status, ComplaintStatus) and isinstance(at, datetime), event.event_type
    return status, at


def fold(events: Iterable[Event]) -> Complaint | None:
    state: Complaint | None = None
    for event in events:
        state = evolve(state, event)
    return state
