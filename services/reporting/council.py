"""Read model "meetings": the community 大党委 and its joint meetings, projected as every
model is (projections.py, which names the model): commuting upserts, no reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from services.reporting.upsert import NO_SEQUENCE, Upsert
from shared.envelope import Envelope
from shared.events import (
    CommunityCouncilConstituted,
    CouncilAgendaEdited,
    CouncilAgendaPrepared,
    CouncilMatterDecided,
    CouncilMeetingHeld,
    CouncilMeetingScheduled,
    Event,
)

Project = Callable[[Any, Envelope], list[Upsert]]


def _seq(envelope: Envelope) -> int:
    return envelope.sequence if envelope.sequence is not None else NO_SEQUENCE


def _council(e: CommunityCouncilConstituted, env: Envelope) -> list[Upsert]:
    members = [m.model_dump(mode="json") for m in e.members]
    columns = {
        "community_name": e.community_name,
        "members": members,
        "cadence_months": e.cadence_months,
    }
    return [
        Upsert(
            "councils",
            {"community_code": e.community_code},
            least={"constituted_at": e.constituted_at},
            registers={"members_seq": (_seq(env), columns)},
        )
    ]


def _meeting(meeting_id: UUID, **policies: Any) -> Upsert:
    return Upsert("council_meetings", {"meeting_id": meeting_id}, **policies)


def _scheduled(e: CouncilMeetingScheduled, env: Envelope) -> list[Upsert]:
    once = {
        "community_code": e.community_code,
        "community_name": e.community_name,
        "kind": e.kind,
        "title": e.title,
        "scheduled_for": e.scheduled_for,
        "scheduled_at": e.scheduled_at,
    }
    return [_meeting(e.meeting_id, once=once)]


def _agenda_items(e: CouncilAgendaPrepared | CouncilAgendaEdited, env: Envelope) -> list[Upsert]:
    at = e.prepared_at if isinstance(e, CouncilAgendaPrepared) else e.edited_at
    items = [i.model_dump(mode="json") for i in e.items]
    return [
        _meeting(
            e.meeting_id,
            once={"community_code": e.community_code},
            registers={"items_seq": (_seq(env), {"items": items, "items_at": at})},
        )
    ]


def _held(e: CouncilMeetingHeld, env: Envelope) -> list[Upsert]:
    once = {
        "community_code": e.community_code,
        "held_at": e.held_at,
        "attendance": e.attendance,
        "absent": e.absent,
        "minutes": e.minutes,
    }
    return [_meeting(e.meeting_id, once=once)]


def _decided(e: CouncilMatterDecided, env: Envelope) -> list[Upsert]:
    return [
        Upsert(
            "council_duties",
            {"work_order_id": duty.work_order_id},
            once={
                "meeting_id": e.meeting_id,
                "decision_id": e.decision_id,
                "community_code": e.community_code,
                "item_key": e.item_key,
                "case_id": e.case_id,
                "decision": e.decision,
                "responder_id": duty.responder_id,
                "responder_name": duty.responder_name,
                "task": duty.task,
                "due_at": duty.due_at,
                "decided_at": e.decided_at,
            },
        )
        for duty in e.duties
    ]


TABLES = ("councils", "council_meetings", "council_duties")
MEETINGS: dict[type[Event], Project] = {
    CommunityCouncilConstituted: _council,
    CouncilMeetingScheduled: _scheduled,
    CouncilAgendaPrepared: _agenda_items,
    CouncilAgendaEdited: _agenda_items,
    CouncilMeetingHeld: _held,
    CouncilMatterDecided: _decided,
}
